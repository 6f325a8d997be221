//! Native backend throughput: one `step` (a 10 ms frame) for one and for four streams, and
//! `run_sequence` over one second of frames. Random (untrained) weights cost the same as trained ones.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dfn4::backend::native::NativeBackend;
use dfn4::backend::{Backend, Features, ModelOutput, SeqFeatures, SeqModelOutput};
use dfn4::config::ModelConfig;
use dfn4::model::Weights;

/// Deterministic feature values in [-1, 1].
fn fill(v: &mut [f32], seed: usize) {
    for (i, x) in v.iter_mut().enumerate() {
        *x = ((i * 7919 + seed * 104_729) % 2001) as f32 / 1000.0 - 1.0;
    }
}

fn bench_step(c: &mut Criterion) {
    let cfg = ModelConfig::default();
    let be = NativeBackend::new(&Weights::random(&cfg, 42)).expect("random weights are valid");
    let mut group = c.benchmark_group("native");
    for batch in [1, 4] {
        let mut feats = Features::zeros(&cfg, batch);
        fill(&mut feats.erb, 1);
        fill(&mut feats.spec, 2);
        let mut state = be.new_state(batch).expect("batch > 0");
        let mut out = ModelOutput::zeros(&cfg, batch);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("step_b{batch}"), |b| {
            b.iter(|| {
                be.step(black_box(&feats), &mut state, &mut out)
                    .expect("sizes match");
                black_box(&out);
            })
        });
    }
    let frames = 100;
    let mut feats = SeqFeatures::zeros(&cfg, 1, frames);
    fill(&mut feats.erb, 3);
    fill(&mut feats.spec, 4);
    let mut out = SeqModelOutput::zeros(&cfg, 1, frames);
    group.throughput(Throughput::Elements(frames as u64));
    group.bench_function("run_sequence_t100", |b| {
        b.iter(|| {
            be.run_sequence(black_box(&feats), &mut out)
                .expect("sizes match");
            black_box(&out);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_step);
criterion_main!(benches);
