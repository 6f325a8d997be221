//! `--plot out.svg`: median offline latency and real-time factor against batch size, one line per
//! backend, side by side in one SVG (plotters' SVG backend only, so no font or bitmap libraries).
use std::path::Path;

use plotters::prelude::*;

use super::report::{BatchResult, Report};
use crate::{Error, Result};

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::other(format!("cannot draw the plot: {e}")))
}

/// Writes the latency and RTF charts of `report` to `path`.
pub fn write_svg(report: &Report, path: &Path) -> Result<()> {
    let root = SVGBackend::new(path, (1100, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (left, right) = root.split_horizontally(550);
    chart(
        report,
        &left,
        "Offline latency (median)",
        "ms per run",
        |r| r.latency_ms.median,
    )?;
    chart(
        report,
        &right,
        "Real-time factor (compute / audio)",
        "RTF",
        |r| r.rtf,
    )?;
    root.present().map_err(plot_error)
}

fn chart<DB: DrawingBackend>(
    report: &Report,
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_desc: &str,
    value: impl Fn(&BatchResult) -> f64,
) -> Result<()> {
    let batches = &report.settings.batch_sizes;
    let x_min = batches.iter().copied().min().unwrap_or(1) as f64;
    let x_max = batches.iter().copied().max().unwrap_or(1) as f64;
    let y_max = report
        .backends
        .iter()
        .flat_map(|b| b.offline.iter().map(&value))
        .fold(0.0f64, f64::max);
    let y_top = if y_max > 0.0 { y_max * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        // Batch sizes usually double, so a log axis spaces them evenly; the padding keeps one size visible.
        .build_cartesian_2d((x_min / 1.25..x_max * 1.25).log_scale(), 0.0..y_top)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("batch size")
        .y_desc(y_desc)
        .draw()
        .map_err(plot_error)?;
    for (i, be) in report.backends.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = be
            .offline
            .iter()
            .map(|r| (r.batch as f64, value(r)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(plot_error)?
            .label(be.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(PointSeries::of_element(points, 4, color, &|c, s, st| {
                Circle::new(c, s, st.filled())
            }))
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(plot_error)
}
