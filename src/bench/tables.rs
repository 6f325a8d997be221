//! The report as tables: latency by batch, speedup against the baseline backend, real-time factor,
//! throughput, memory, per-hop streaming and pipeline latency, training steps. Each [`Table`] renders as
//! aligned plain text for the terminal or as GitHub-flavoured Markdown.
use std::fmt::Write;

use super::report::{BatchResult, FrameResult, Memory, Report};
use super::stats::Stats;

/// A titled table of preformatted cells; the leading label columns are left-aligned, the numbers right-aligned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Heading shown above the table.
    pub title: String,
    /// Column names.
    pub headers: Vec<String>,
    /// Cells, one `Vec` per row, as long as `headers`.
    pub rows: Vec<Vec<String>>,
    /// How many leading columns hold labels (left-aligned).
    pub label_columns: usize,
}

impl Table {
    fn new(title: impl Into<String>, headers: &[&str]) -> Self {
        Self {
            title: title.into(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            label_columns: 1,
        }
    }

    /// Aligned plain text.
    pub fn to_text(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([self.headers[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (c, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                let sep = if c == 0 { "" } else { "  " };
                if c < self.label_columns {
                    let _ = write!(s, "{sep}{cell:<w$}");
                } else {
                    let _ = write!(s, "{sep}{cell:>w$}");
                }
            }
            s.trim_end().to_string()
        };
        let mut out = format!("{}\n{}\n", self.title, line(&self.headers));
        let rule: usize = widths.iter().sum::<usize>() + 2 * (widths.len().saturating_sub(1));
        out.push_str(&"-".repeat(rule));
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        out
    }

    /// A Markdown heading and pipe table.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("### {}\n\n| {} |\n|", self.title, self.headers.join(" | "));
        for c in 0..self.headers.len() {
            out.push_str(if c < self.label_columns {
                ":---|"
            } else {
                "---:|"
            });
        }
        out.push('\n');
        for r in &self.rows {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        out
    }
}

fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.1}")
    } else if x >= 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.4}")
    }
}

fn stat_cells(s: &Stats) -> Vec<String> {
    [s.median, s.mean, s.std, s.min, s.max, s.p95]
        .into_iter()
        .map(ms)
        .collect()
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn memory_cells(m: Option<&Memory>) -> Vec<String> {
    match m {
        Some(m) => vec![mib(m.peak_delta_kib), mib(m.peak_rss_kib)],
        None => vec!["n/a".into(), "n/a".into()],
    }
}

const STAT_HEADERS: [&str; 6] = [
    "median ms",
    "mean ms",
    "std ms",
    "min ms",
    "max ms",
    "p95 ms",
];

/// One row per batch size, one column per backend, `cell` formatting that backend's result.
fn by_batch(report: &Report, title: String, cell: impl Fn(&BatchResult) -> String) -> Table {
    let mut headers = vec!["batch"];
    headers.extend(report.backends.iter().map(|b| b.name.as_str()));
    let mut t = Table::new(title, &headers);
    for &batch in &report.settings.batch_sizes {
        let mut row = vec![batch.to_string()];
        for be in &report.backends {
            row.push(
                be.offline
                    .iter()
                    .find(|r| r.batch == batch)
                    .map_or("n/a".into(), &cell),
            );
        }
        t.rows.push(row);
    }
    t
}

/// All tables of `report`, in reading order.
pub fn tables(report: &Report) -> Vec<Table> {
    let frames = report.settings.seq_length_frames;
    let seconds = frames as f64 * report.settings.hop_ms / 1e3;
    let mut latency = Table::new(
        format!("Offline latency: run_sequence, B streams × {frames} frames ({seconds} s each)"),
        &[&["backend", "batch"][..], &STAT_HEADERS[..]].concat(),
    );
    let mut throughput = Table::new(
        "Offline throughput (median)",
        &["backend", "batch", "audio s / s", "samples / s"],
    );
    let mut memory = Table::new(
        "Memory: peak RSS added per configuration (MiB)",
        &["backend", "mode", "peak Δ MiB", "peak RSS MiB"],
    );
    let mut hops = Table::new(
        "Per-hop latency, one stream (10 ms of audio per hop)",
        &[
            &["backend", "mode"][..],
            &STAT_HEADERS[..],
            &["p99 ms", "RTF"][..],
        ]
        .concat(),
    );
    for be in &report.backends {
        for r in &be.offline {
            let mut row = vec![be.name.clone(), r.batch.to_string()];
            row.extend(stat_cells(&r.latency_ms));
            latency.rows.push(row);
            throughput.rows.push(vec![
                be.name.clone(),
                r.batch.to_string(),
                format!("{:.1}", r.throughput_audio_s_per_s),
                format!("{:.0}", r.throughput_samples_per_s),
            ]);
            let mut row = vec![be.name.clone(), format!("offline batch {}", r.batch)];
            row.extend(memory_cells(r.memory.as_ref()));
            memory.rows.push(row);
        }
        for (mode, f) in [
            ("streaming step", &be.streaming),
            ("full pipeline", &be.pipeline),
            ("pipeline in blocks", &be.block_pipeline),
        ] {
            hops.rows.push(hop_row(&be.name, mode, f));
            let mut row = vec![be.name.clone(), mode.to_string()];
            row.extend(memory_cells(f.memory.as_ref()));
            memory.rows.push(row);
        }
    }
    let speedup = by_batch(
        report,
        format!(
            "Speedup vs {} (baseline median / median, same batch)",
            report.baseline
        ),
        |r| {
            r.speedup_vs_baseline
                .map_or("n/a".into(), |s| format!("{s:.2}×"))
        },
    );
    let rtf = by_batch(
        report,
        "Real-time factor, offline (compute time / audio time; below 1 is faster than real time)"
            .into(),
        |r| format!("{:.4}", r.rtf),
    );
    // backend + mode are labels; the batch column stays numeric.
    hops.label_columns = 2;
    memory.label_columns = 2;
    let mut out = vec![latency, speedup, rtf, throughput, hops, memory];
    if report.settings.train_step {
        out.push(train_table(report));
    }
    out
}

fn hop_row(backend: &str, mode: &str, f: &FrameResult) -> Vec<String> {
    let mut row = vec![backend.to_string(), mode.to_string()];
    row.extend(stat_cells(&f.latency_ms));
    row.push(ms(f.latency_ms.p99));
    row.push(format!("{:.4}", f.rtf));
    row
}

fn train_table(report: &Report) -> Table {
    let mut t = Table::new(
        "Training step: forward + backward per batch",
        &[&["backend", "batch"][..], &STAT_HEADERS[..]].concat(),
    );
    for be in &report.backends {
        let Some(train) = &be.train_step else {
            continue;
        };
        if !train.available {
            let reason = train.reason.as_deref().unwrap_or("unavailable");
            let mut row = vec![
                be.name.clone(),
                "-".into(),
                format!("not available: {reason}"),
            ];
            row.resize(t.headers.len(), String::new());
            t.rows.push(row);
        }
        for r in &train.results {
            let mut row = vec![be.name.clone(), r.batch.to_string()];
            row.extend(stat_cells(&r.latency_ms));
            t.rows.push(row);
        }
    }
    t
}

/// Every table as plain text, separated by blank lines.
pub fn render_text(report: &Report) -> String {
    tables(report)
        .iter()
        .map(Table::to_text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every table as Markdown, separated by blank lines.
pub fn render_markdown(report: &Report) -> String {
    tables(report)
        .iter()
        .map(Table::to_markdown)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new("T", &["name", "value"]);
        t.rows.push(vec!["a".into(), "1.5".into()]);
        t.rows.push(vec!["long name".into(), "22".into()]);
        t
    }

    #[test]
    fn text_is_aligned() {
        let text = table().to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "T");
        assert_eq!(lines[1], "name       value");
        assert_eq!(lines[3], "a            1.5");
        assert_eq!(lines[4], "long name     22");
    }

    #[test]
    fn markdown_has_alignment_row() {
        let md = table().to_markdown();
        assert!(md.starts_with("### T\n\n| name | value |\n|:---|---:|\n| a | 1.5 |\n"));
    }
}
