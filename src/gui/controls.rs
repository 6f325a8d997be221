//! The controls row: bypass, the attenuation limit, and Stop. Every control shows the value of its
//! atomic as loaded this repaint (so a change made elsewhere shows up too) and stores only when the
//! user changes it; the pipeline picks the new value up at its next hop.
use std::sync::atomic::Ordering::Relaxed;

use eframe::egui;

use crate::stream::meters::{LiveMeters, ATTEN_LIM_UNLIMITED_DB};

/// Label of the bypass checkbox.
pub const BYPASS_LABEL: &str = "Bypass";
/// Label of the checkbox that switches the attenuation limit on and off.
pub const LIMIT_LABEL: &str = "Limit attenuation";
/// Label of the attenuation-limit slider.
pub const LIMIT_SLIDER_LABEL: &str = "Attenuation limit";
/// Label of the Stop button.
pub const STOP_LABEL: &str = "Stop";

/// Range of the attenuation-limit slider, in dB (100 dB, the top, is no limit: the library's meaning).
pub const LIMIT_RANGE_DB: std::ops::RangeInclusive<f32> = 1.0..=100.0;

/// Limit the slider starts from when the meters begin with no limit.
pub const DEFAULT_LIMIT_DB: f32 = 12.0;

/// What the controls remember between repaints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControlState {
    /// The last limit set with the slider, restored when the limit is switched back on.
    pub limit_db: f32,
}

impl ControlState {
    /// Starts from the limit the pipeline was started with (if it has one).
    pub fn new(meters: &LiveMeters) -> Self {
        let start_db = meters.atten_lim_db.load();
        let limit_db = if start_db < ATTEN_LIM_UNLIMITED_DB {
            start_db.clamp(*LIMIT_RANGE_DB.start(), *LIMIT_RANGE_DB.end())
        } else {
            DEFAULT_LIMIT_DB
        };
        Self { limit_db }
    }
}

/// Draws the controls; returns true when Stop was clicked (the meters are already told to stop).
pub fn controls(ui: &mut egui::Ui, meters: &LiveMeters, state: &mut ControlState) -> bool {
    let mut stop = false;
    ui.horizontal(|ui| {
        let mut bypass = meters.bypass.load(Relaxed);
        if ui.checkbox(&mut bypass, BYPASS_LABEL).changed() {
            meters.bypass.store(bypass, Relaxed);
        }
        ui.separator();

        // The library's meaning: 0 dB = no attenuation, 100 dB or more = no limit. The checkbox makes
        // "no limit" explicit, so switching it off never has to drag the slider to the top.
        let atten_lim_db = meters.atten_lim_db.load();
        let mut limited = atten_lim_db < ATTEN_LIM_UNLIMITED_DB;
        if limited {
            state.limit_db = atten_lim_db.clamp(*LIMIT_RANGE_DB.start(), *LIMIT_RANGE_DB.end());
        }
        if ui.checkbox(&mut limited, LIMIT_LABEL).changed() {
            meters.atten_lim_db.store(if limited {
                state.limit_db
            } else {
                ATTEN_LIM_UNLIMITED_DB
            });
        }
        let slider = egui::Slider::new(&mut state.limit_db, LIMIT_RANGE_DB)
            .logarithmic(true)
            .suffix(" dB")
            .text(LIMIT_SLIDER_LABEL);
        if ui.add_enabled(limited, slider).changed() && limited {
            meters.atten_lim_db.store(state.limit_db);
        }
        ui.separator();

        if ui.button(STOP_LABEL).clicked() {
            meters.running.store(false, Relaxed);
            stop = true;
        }
    });
    stop
}
