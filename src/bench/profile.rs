//! `dfn4 bench --profile`: where the time of one 10 ms hop goes. Each backend runs
//! [`Denoiser::process_frame_probed`] back to back on a test signal; the gap before each stage report
//! is that stage's time. Medians per stage over the hops, plus the median whole hop with the probes
//! and without them (their own cost: one clock read per stage), the backends taking turns in rounds so
//! that they see the same machine.
use std::sync::Arc;
use std::time::Instant;

use super::measure::test_signal;
use super::stats::percentile_sorted;
use crate::backend::{AnyBackend, Backend};
use crate::config::HOP_SIZE;
use crate::denoiser::{DenoiseParams, Denoiser};
use crate::stage::Stage;
use crate::{Error, Result};

/// Hops per turn of a backend before the next one runs.
const ROUND_HOPS: usize = 250;

/// Seed of the profiled signal.
const SIGNAL_SEED: u64 = 7;

/// One backend's profile.
#[derive(Debug, Clone)]
pub struct HopProfile {
    /// The backend's registry name.
    pub backend: &'static str,
    /// Median time of each stage, in the order the hop runs them.
    pub stages: Vec<(Stage, f64)>,
    /// Median of the per-hop sums over each [`Stage::kind`] (e.g. the scans of all Mamba layers).
    pub kinds: Vec<(Stage, f64)>,
    /// Median whole hop with the probes, µs.
    pub probed_hop_us: f64,
    /// Median whole hop of plain `process_frame`, µs.
    pub plain_hop_us: f64,
    /// Hops timed.
    pub hops: usize,
}

/// Profiles `hops` hops of each backend after `warmup` untimed ones.
pub fn profile(
    backends: &[Arc<AnyBackend>],
    hops: usize,
    warmup: usize,
) -> Result<Vec<HopProfile>> {
    if hops == 0 {
        return Err(Error::InvalidInput("at least one hop to profile".into()));
    }
    let signal = test_signal(HOP_SIZE * ROUND_HOPS, SIGNAL_SEED);
    let mut runs = backends.iter().map(Run::new).collect::<Result<Vec<_>>>()?;
    for run in &mut runs {
        for hop in signal.chunks_exact(HOP_SIZE).cycle().take(warmup) {
            run.plain(hop)?;
        }
    }
    let mut done = 0;
    while done < hops {
        let turn = ROUND_HOPS.min(hops - done);
        for run in &mut runs {
            for hop in signal.chunks_exact(HOP_SIZE).take(turn) {
                run.probed(hop)?;
            }
            for hop in signal.chunks_exact(HOP_SIZE).take(turn) {
                run.plain(hop)?;
            }
        }
        done += turn;
    }
    runs.into_iter().map(Run::summary).collect()
}

/// A backend's denoiser and its samples.
struct Run {
    name: &'static str,
    denoiser: Denoiser<AnyBackend>,
    out: [f32; HOP_SIZE],
    /// Stages in the order of the first hop; every hop reports the same sequence.
    order: Vec<Stage>,
    /// `[hop][stage]` times in µs, flattened.
    stage_us: Vec<f64>,
    probed_us: Vec<f64>,
    plain_us: Vec<f64>,
}

impl Run {
    fn new(backend: &Arc<AnyBackend>) -> Result<Self> {
        Ok(Self {
            name: backend.name(),
            denoiser: Denoiser::new(Arc::clone(backend), DenoiseParams::default())?,
            out: [0.0; HOP_SIZE],
            order: Vec::new(),
            stage_us: Vec::new(),
            probed_us: Vec::new(),
            plain_us: Vec::new(),
        })
    }

    fn plain(&mut self, hop: &[f32]) -> Result<()> {
        let hop: &[f32; HOP_SIZE] = hop.try_into().expect("whole hops");
        let start = Instant::now();
        self.denoiser.process_frame(hop, &mut self.out)?;
        self.plain_us.push(start.elapsed().as_secs_f64() * 1e6);
        Ok(())
    }

    fn probed(&mut self, hop: &[f32]) -> Result<()> {
        let hop: &[f32; HOP_SIZE] = hop.try_into().expect("whole hops");
        let first = self.order.is_empty();
        let (order, times) = (&mut self.order, &mut self.stage_us);
        let before = times.len();
        let start = Instant::now();
        let mut last = start;
        let mut probe = |stage: Stage| {
            let now = Instant::now();
            times.push((now - last).as_secs_f64() * 1e6);
            last = now;
            if first {
                order.push(stage);
            }
        };
        self.denoiser
            .process_frame_probed(hop, &mut self.out, &mut probe)?;
        self.probed_us.push(start.elapsed().as_secs_f64() * 1e6);
        if self.stage_us.len() - before != self.order.len() {
            return Err(Error::Backend(format!(
                "{}: a hop reported {} stages, the first {}",
                self.name,
                self.stage_us.len() - before,
                self.order.len()
            )));
        }
        Ok(())
    }

    fn summary(self) -> Result<HopProfile> {
        let n = self.order.len();
        let hops = self.probed_us.len();
        let column = |pick: &dyn Fn(usize) -> bool| {
            let mut v: Vec<f64> = self
                .stage_us
                .chunks_exact(n)
                .map(|hop| (0..n).filter(|&i| pick(i)).map(|i| hop[i]).sum())
                .collect();
            median(&mut v)
        };
        let stages = (0..n)
            .map(|i| (self.order[i], column(&|j| j == i)))
            .collect();
        let mut kinds: Vec<Stage> = Vec::new();
        for kind in self.order.iter().map(|s| s.kind()) {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        let kinds = kinds
            .into_iter()
            .filter(|k| self.order.iter().filter(|s| s.kind() == *k).count() > 1)
            .map(|k| (k, column(&|j| self.order[j].kind() == k)))
            .collect();
        let (mut probed, mut plain) = (self.probed_us, self.plain_us);
        Ok(HopProfile {
            backend: self.name,
            stages,
            kinds,
            probed_hop_us: median(&mut probed),
            plain_hop_us: median(&mut plain),
            hops,
        })
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile_sorted(v, 50.0)
}

/// The profiles side by side as a Markdown table: µs and share of the probed hop per backend.
pub fn render_markdown(profiles: &[HopProfile]) -> String {
    let mut rows: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    let add =
        |label: String, col: usize, value: f64, rows: &mut Vec<(String, Vec<Option<f64>>)>| {
            let row = match rows.iter().position(|(l, _)| *l == label) {
                Some(i) => i,
                None => {
                    rows.push((label, vec![None; profiles.len()]));
                    rows.len() - 1
                }
            };
            rows[row].1[col] = Some(value);
        };
    for (c, p) in profiles.iter().enumerate() {
        for (stage, us) in &p.stages {
            add(stage.label(), c, *us, &mut rows);
        }
    }
    let stage_rows = rows.len();
    for (c, p) in profiles.iter().enumerate() {
        for (kind, us) in &p.kinds {
            add(kind.kind_label(), c, *us, &mut rows);
        }
        let sum = p.stages.iter().map(|(_, us)| us).sum();
        add("sum of the stage medians".into(), c, sum, &mut rows);
        add(
            "whole hop, probed (median)".into(),
            c,
            p.probed_hop_us,
            &mut rows,
        );
        add(
            "whole hop, not probed (median)".into(),
            c,
            p.plain_hop_us,
            &mut rows,
        );
    }
    let mut text = String::from("| stage |");
    for p in profiles {
        text.push_str(&format!(" {} µs | share |", p.backend));
    }
    text.push_str("\n|---|");
    text.push_str(&"---:|---:|".repeat(profiles.len()));
    for (i, (label, values)) in rows.iter().enumerate() {
        let label = if i < stage_rows {
            label.clone()
        } else {
            format!("**{label}**")
        };
        text.push_str(&format!("\n| {label} |"));
        for (v, p) in values.iter().zip(profiles) {
            match v {
                Some(us) => text.push_str(&format!(
                    " {us:.2} | {:.1} % |",
                    100.0 * us / p.probed_hop_us
                )),
                None => text.push_str(" | |"),
            }
        }
    }
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::registry::{self, ModelSource};
    use crate::config::ModelConfig;
    use crate::model::Weights;

    #[test]
    fn every_layer_of_the_native_engine_is_reported_in_hop_order() {
        let cfg = ModelConfig::default();
        let weights = Weights::random(&cfg, 3);
        let backends =
            registry::create_many(&["native-i8", "native"], ModelSource::Weights(&weights))
                .unwrap();
        let profiles = profile(&backends, 3, 1).unwrap();
        let p = &profiles[0];
        assert_eq!((p.backend, p.hops), ("native-i8", 3));
        let order: Vec<Stage> = p.stages.iter().map(|(s, _)| *s).collect();
        assert_eq!(order[0], Stage::Analysis);
        assert_eq!(order[1..3], [Stage::EncoderConvs, Stage::EncoderFusion]);
        for l in 0..cfg.n_layers {
            let at = 3 + 5 * l;
            assert_eq!(
                order[at..at + 5],
                [
                    Stage::InProj(l),
                    Stage::Conv(l),
                    Stage::XDtProj(l),
                    Stage::ScanGate(l),
                    Stage::OutProj(l)
                ]
            );
        }
        assert_eq!(
            order[3 + 5 * cfg.n_layers..],
            [
                Stage::FinalNorm,
                Stage::ErbDecoder,
                Stage::DfDecoder,
                Stage::Lsnr,
                Stage::DeepFilter,
                Stage::Synthesis
            ]
        );
        // One kind row per Mamba stage, each the sum of its layers' (medians of sums: not exactly).
        assert_eq!(p.kinds.len(), 5);
        assert!(p.stages.iter().all(|(_, us)| *us >= 0.0));
        assert!(p.probed_hop_us > 0.0 && p.plain_hop_us > 0.0);
        let table = render_markdown(&profiles);
        assert!(
            table.contains("| stage | native-i8 µs | share | native µs | share |"),
            "{table}"
        );
        assert!(table.contains("| mamba 0: scan + gate |"), "{table}");
        assert_eq!(table.lines().count(), 2 + order.len() + 5 + 3, "{table}");
        assert!(profile(&backends, 0, 0).is_err());
    }
}
