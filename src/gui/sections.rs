//! The read-only parts of the meter window: the per-backend latency table, the level meters, the
//! pipeline's latency figures and the xrun counters. Each function loads the atomics it shows and
//! nothing else; none of them writes to the pipeline except the output-backend choice in the table.
use std::sync::atomic::Ordering::Relaxed;

use eframe::egui::{self, RichText};

use super::bars::{self, PeakHold};
use super::plot::backend_colour;
use crate::stream::meters::LiveMeters;

/// `12.34` for a finite value, `-` for one that is not (no measurement yet, or silence).
pub fn fmt_num(value: f32, decimals: usize) -> String {
    if value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        "-".to_owned()
    }
}

/// Narrowest number cell, in points.
const NUM_CELL_WIDTH: f32 = 48.0;

/// A right-aligned cell of fixed width (a right-to-left layout alone would push the last column of a
/// grid to the window's edge).
fn right_cell(ui: &mut egui::Ui, text: RichText, width: f32) {
    let size = egui::vec2(width, ui.spacing().interact_size.y);
    let layout = egui::Layout::right_to_left(egui::Align::Center);
    ui.allocate_ui_with_layout(size, layout, |ui| {
        ui.label(text);
    });
}

/// A number cell of the small tables: right-aligned monospace, so columns of numbers line up.
fn num_cell(ui: &mut egui::Ui, text: impl Into<RichText>) {
    right_cell(ui, text.into().monospace(), 1.5 * NUM_CELL_WIDTH);
}

/// Titles of the number columns of the latency table.
const NUMBER_COLUMNS: [&str; 8] = [
    "last ms", "median", "p99", "max", "RTF", "LSNR dB", "hops", "overruns",
];

/// Width of a header's text, in points.
fn text_width(ui: &egui::Ui, text: &RichText) -> f32 {
    egui::WidgetText::from(text.clone())
        .into_galley(
            ui,
            Some(egui::TextWrapMode::Extend),
            f32::INFINITY,
            egui::TextStyle::Body,
        )
        .size()
        .x
}

/// Per-backend latency (bar against `budget_ms`, last / median / p99 / max), RTF, LSNR and overruns.
/// With two or more workers the backend names are radio buttons that choose the one played.
pub fn latency_table(ui: &mut egui::Ui, meters: &LiveMeters, budget_ms: f32) {
    let choosable = meters.workers.len() >= 2;
    let active = meters.active_worker.load(Relaxed);
    let titles = NUMBER_COLUMNS.map(|title| RichText::new(title).strong());
    let widths = titles
        .each_ref()
        .map(|title| text_width(ui, title).max(NUM_CELL_WIDTH));
    egui::Grid::new("latency_table")
        .num_columns(2 + NUMBER_COLUMNS.len())
        .striped(true)
        .spacing([10.0, 4.0])
        .show(ui, |ui| {
            ui.label(RichText::new(if choosable { "output" } else { "backend" }).strong());
            ui.label(RichText::new("last vs budget").strong());
            for (title, width) in titles.into_iter().zip(widths) {
                right_cell(ui, title, width);
            }
            ui.end_row();
            for (index, worker) in meters.workers.iter().enumerate() {
                let name = RichText::new(&worker.backend).color(backend_colour(index));
                if choosable {
                    if ui.radio(active == index, name).clicked() {
                        meters.active_worker.store(index, Relaxed);
                    }
                } else {
                    ui.label(name);
                }
                let last_ms = worker.frame_ms_last.load();
                let median_ms = worker.frame_ms_median.load();
                let p99_ms = worker.frame_ms_p99.load();
                bars::latency_bar(ui, last_ms, median_ms, p99_ms, budget_ms);
                let cells = [
                    fmt_num(last_ms, 2),
                    fmt_num(median_ms, 2),
                    fmt_num(p99_ms, 2),
                    fmt_num(worker.frame_ms_max.load(), 2),
                    fmt_num(worker.rtf.load(), 3),
                    fmt_num(worker.lsnr_db.load(), 1),
                    worker.frames.load(Relaxed).to_string(),
                    worker.overruns.load(Relaxed).to_string(),
                ];
                for (text, width) in cells.into_iter().zip(widths) {
                    right_cell(ui, RichText::new(text).monospace(), width);
                }
                ui.end_row();
            }
        });
}

/// Input and output peak meters in dBFS, with peak hold advanced to `now_s`.
pub fn levels(ui: &mut egui::Ui, meters: &LiveMeters, holds: &mut [PeakHold; 2], now_s: f64) {
    egui::Grid::new("levels")
        .num_columns(3)
        .spacing([8.0, 4.0])
        .show(ui, |ui| {
            let peaks = [meters.input_peak_db.load(), meters.output_peak_db.load()];
            for ((name, peak_db), hold) in ["in", "out"].iter().zip(peaks).zip(holds) {
                ui.label(*name);
                let shown_db = hold.update(peak_db, now_s);
                bars::level_bar(ui, shown_db);
                let text = if peak_db.is_finite() {
                    format!("{peak_db:.1} dBFS")
                } else {
                    "silent".to_owned()
                };
                right_cell(ui, RichText::new(text).monospace(), 1.75 * NUM_CELL_WIDTH);
                ui.end_row();
            }
        });
}

/// The latency figures of the pipeline: algorithmic, buffering, and measured end to end.
pub fn latency_figures(ui: &mut egui::Ui, meters: &LiveMeters) {
    egui::Grid::new("latency_figures")
        .num_columns(2)
        .spacing([8.0, 4.0])
        .show(ui, |ui| {
            let rows = [
                ("algorithmic", meters.algorithmic_latency_ms.load()),
                ("buffers", meters.buffer_latency_ms.load()),
                ("measured", meters.measured_latency_ms.load()),
            ];
            for (name, ms) in rows {
                ui.label(name);
                num_cell(ui, format!("{} ms", fmt_num(ms, 1)));
                ui.end_row();
            }
        });
}

/// The xrun counters, per source and in total.
pub fn xruns(ui: &mut egui::Ui, meters: &LiveMeters) {
    let worker_overruns: u64 = meters
        .workers
        .iter()
        .map(|w| w.overruns.load(Relaxed))
        .sum();
    egui::Grid::new("xruns")
        .num_columns(2)
        .spacing([8.0, 4.0])
        .show(ui, |ui| {
            let rows = [
                ("input overruns", meters.input_overruns.load(Relaxed)),
                ("output underruns", meters.output_underruns.load(Relaxed)),
                ("host xruns", meters.host_xruns.load(Relaxed)),
                ("worker overruns", worker_overruns),
                ("total", meters.total_xruns()),
            ];
            for (name, count) in rows {
                ui.label(name);
                let text = RichText::new(count.to_string());
                num_cell(
                    ui,
                    if count > 0 {
                        text.color(bars::BAD)
                    } else {
                        text
                    },
                );
                ui.end_row();
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_without_a_value_show_a_dash() {
        assert_eq!(fmt_num(1.23456, 2), "1.23");
        assert_eq!(fmt_num(f32::NEG_INFINITY, 1), "-");
        assert_eq!(fmt_num(f32::NAN, 1), "-");
    }
}
