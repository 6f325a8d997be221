//! The meter window's state and layout: [`MeterApp`] samples the latency history, keeps the level
//! meters' peak hold, lays out the sections and controls, and asks for the next repaint after a fixed
//! interval, so the window refreshes at a bounded rate whatever the pipeline does.
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use eframe::egui::{self, RichText};

use super::bars::PeakHold;
use super::controls::{self, ControlState};
use super::history::{History, Sample};
use super::plot;
use super::sections;
use crate::config::{HOP_SIZE, SAMPLE_RATE_HZ};
use crate::stream::meters::LiveMeters;

/// Time between repaints (about 30 per second).
pub const REPAINT_INTERVAL: Duration = Duration::from_millis(33);

/// Shortest time between two history samples, in seconds; repaints caused by mouse movement in between
/// do not add samples, so the ring always spans the plotted window.
pub const SAMPLE_INTERVAL_S: f64 = 1.0 / 30.0;

/// Samples per history ring: the plotted window at the sample rate, plus a margin.
pub const HISTORY_CAPACITY: usize = (plot::WINDOW_S / SAMPLE_INTERVAL_S) as usize + 16;

/// The time one hop of audio lasts, in milliseconds: the compute budget per hop.
pub fn budget_ms() -> f32 {
    1000.0 * HOP_SIZE as f32 / SAMPLE_RATE_HZ as f32
}

/// The meter window: reads [`LiveMeters`], writes its controls.
pub struct MeterApp {
    meters: Arc<LiveMeters>,
    banner: Option<String>,
    histories: Vec<History>,
    holds: [PeakHold; 2],
    last_sample_s: Option<f64>,
    control_state: ControlState,
}

impl MeterApp {
    /// A window over `meters`. All history storage is allocated here, once.
    pub fn new(meters: Arc<LiveMeters>) -> Self {
        let histories = (0..meters.workers.len())
            .map(|_| History::with_capacity(HISTORY_CAPACITY))
            .collect();
        let control_state = ControlState::new(&meters);
        Self {
            meters,
            banner: None,
            histories,
            holds: [PeakHold::new(); 2],
            last_sample_s: None,
            control_state,
        }
    }

    /// Adds a line under the heading (the demo says there that its values are synthetic).
    pub fn with_banner(mut self, banner: &str) -> Self {
        self.banner = Some(banner.to_owned());
        self
    }

    /// Latency history of worker `index`.
    pub fn history(&self, index: usize) -> Option<&History> {
        self.histories.get(index)
    }

    /// Adds one history sample per worker if the last one is at least [`SAMPLE_INTERVAL_S`] old.
    fn sample_history(&mut self, now_s: f64) {
        if self
            .last_sample_s
            .is_some_and(|last_s| now_s - last_s < SAMPLE_INTERVAL_S)
        {
            return;
        }
        self.last_sample_s = Some(now_s);
        for (history, worker) in self.histories.iter_mut().zip(&self.meters.workers) {
            history.push(Sample {
                time_s: now_s,
                frame_ms: worker.frame_ms_last.load(),
            });
        }
    }

    /// Draws the whole window into `ui`. Closes the window when Stop is clicked.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let now_s = ui.input(|i| i.time);
        self.sample_history(now_s);
        let meters = Arc::clone(&self.meters);
        let budget_ms = budget_ms();

        ui.horizontal(|ui| {
            ui.heading("dfn4 meter");
            let running = meters.running.load(Relaxed);
            let (status, colour) = match (running, meters.bypass.load(Relaxed)) {
                (false, _) => ("stopped", super::bars::BAD),
                (true, true) => ("running, bypassed", super::bars::WARN),
                (true, false) => ("running", super::bars::GOOD),
            };
            ui.label(RichText::new(status).color(colour));
        });
        if let Some(banner) = &self.banner {
            ui.label(RichText::new(banner).italics());
        }
        ui.separator();

        ui.label(RichText::new(format!("Compute per {budget_ms:.0} ms hop")).strong());
        sections::latency_table(ui, &meters, budget_ms);
        plot::history_plot(ui, &self.histories, now_s, budget_ms);
        ui.separator();

        ui.columns(3, |columns| {
            columns[0].label(RichText::new("Levels").strong());
            sections::levels(&mut columns[0], &meters, &mut self.holds, now_s);
            columns[1].label(RichText::new("Latency").strong());
            sections::latency_figures(&mut columns[1], &meters);
            columns[2].label(RichText::new("Xruns").strong());
            sections::xruns(&mut columns[2], &meters);
        });
        ui.separator();

        if controls::controls(ui, &meters, &mut self.control_state) {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
        ui.ctx().request_repaint_after(REPAINT_INTERVAL);
    }
}

impl eframe::App for MeterApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default_margins().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| self.show(ui));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_one_hop() {
        assert!((budget_ms() - 10.0).abs() < 1e-6);
        assert!(HISTORY_CAPACITY as f64 * SAMPLE_INTERVAL_S > plot::WINDOW_S);
    }

    #[test]
    fn history_is_sampled_at_a_bounded_rate() {
        let meters = Arc::new(LiveMeters::new(&["native", "tch-cpu"], None));
        let mut app = MeterApp::new(Arc::clone(&meters));
        meters.workers[1].frame_ms_last.store(2.5);
        app.sample_history(1.0);
        // Repaints 10 ms apart (mouse movement) add no samples until the interval has passed.
        app.sample_history(1.01);
        app.sample_history(1.02);
        assert_eq!(app.history(1).map(History::len), Some(1));
        app.sample_history(1.05);
        let h = app.history(1).expect("second worker");
        assert_eq!(h.len(), 2);
        assert_eq!(h.last().map(|s| s.frame_ms), Some(2.5));
        assert!(app.history(2).is_none());
    }
}
