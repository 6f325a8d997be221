//! The egui meter window (cargo feature `gui`; eframe with the glow renderer).
//!
//! [`run_meter`] shows a [`LiveMeters`]: per backend the compute time per hop (last, median, p99, max)
//! against the 10 ms budget, RTF, LSNR and a latency history plot; input and output levels; the
//! pipeline's latency figures and xrun counters; and the controls (bypass, output backend, attenuation
//! limit, Stop). The window only loads and stores atomics, so it can never hold up the pipeline, and
//! it repaints about 30 times a second ([`app::REPAINT_INTERVAL`]).
//!
//! [`demo`] drives a [`LiveMeters`] with synthetic values, for `dfn4 gui --demo`.
mod app;
mod bars;
mod controls;
pub mod demo;
mod history;
mod plot;
mod sections;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

pub use app::{MeterApp, REPAINT_INTERVAL};
pub use controls::{BYPASS_LABEL, LIMIT_LABEL, LIMIT_SLIDER_LABEL, STOP_LABEL};
pub use history::{History, Sample};

use crate::stream::meters::LiveMeters;
use crate::{Error, Result};

/// Window title of [`run_meter`].
pub const TITLE: &str = "dfn4 meter";

/// Initial inner size of the window, in points.
pub const WINDOW_SIZE: [f32; 2] = [880.0, 500.0];

/// Opens the meter window on the calling thread (it must be the main thread), blocks until the window
/// is closed, then clears `meters.running` so that the pipeline stops too.
pub fn run_meter(meters: Arc<LiveMeters>) -> Result<()> {
    run_meter_with(meters, TITLE, None)
}

/// [`run_meter`] with another window title and an optional line under the heading.
pub fn run_meter_with(meters: Arc<LiveMeters>, title: &str, banner: Option<&str>) -> Result<()> {
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title(title)
            .with_inner_size(WINDOW_SIZE),
        ..Default::default()
    };
    let app_meters = Arc::clone(&meters);
    let banner = banner.map(str::to_owned);
    let result = eframe::run_native(
        "dfn4",
        options,
        Box::new(move |_cc| {
            let app = MeterApp::new(app_meters);
            let app = match &banner {
                Some(banner) => app.with_banner(banner),
                None => app,
            };
            Ok(Box::new(app))
        }),
    );
    meters.running.store(false, Relaxed);
    result.map_err(|e| Error::Gui(e.to_string()))
}
