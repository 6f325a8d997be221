//! The per-hop signal path in pieces: one STFT analysis frame (window + real FFT), the feature
//! computation of one frame (ERB power + complex normalisation), and one full `Denoiser::process_frame`
//! (DSP + native model). Random (untrained) weights cost the same as trained ones.
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dfn4::backend::native::NativeBackend;
use dfn4::bench::measure::test_signal;
use dfn4::config::{ModelConfig, HOP_SIZE, NB_DF, NB_ERB, NB_FREQS};
use dfn4::denoiser::{DenoiseParams, Denoiser};
use dfn4::dsp::features::FeatureState;
use dfn4::dsp::stft::Analysis;
use dfn4::dsp::Complex32;
use dfn4::model::Weights;

/// Hops of test signal cycled through, so the streaming memories see changing input.
const HOPS: usize = 100;

fn bench_pipeline(c: &mut Criterion) {
    let signal = test_signal(HOPS * HOP_SIZE, 1);
    let hops: Vec<[f32; HOP_SIZE]> = signal
        .chunks_exact(HOP_SIZE)
        .map(|h| h.try_into().expect("exact chunks"))
        .collect();
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(HOP_SIZE as u64));

    let mut analysis = Analysis::new();
    let mut spec = vec![Complex32::default(); NB_FREQS];
    let mut t = 0;
    group.bench_function("analysis_frame", |b| {
        b.iter(|| {
            analysis.process(black_box(&hops[t % HOPS]), &mut spec);
            t += 1;
            black_box(&spec);
        })
    });

    // Spectra of every hop, so the feature bench measures the features alone.
    let mut analysis = Analysis::new();
    let specs: Vec<Vec<Complex32>> = hops
        .iter()
        .map(|h| {
            let mut s = vec![Complex32::default(); NB_FREQS];
            analysis.process(h, &mut s);
            s
        })
        .collect();
    let mut features = FeatureState::new();
    let (mut erb, mut cplx) = (vec![0.0f32; NB_ERB], vec![0.0f32; 2 * NB_DF]);
    let mut t = 0;
    group.bench_function("features_frame", |b| {
        b.iter(|| {
            features.compute(black_box(&specs[t % HOPS]), &mut erb, &mut cplx);
            t += 1;
            black_box((&erb, &cplx));
        })
    });

    let weights = Weights::random(&ModelConfig::default(), 42);
    let backend = Arc::new(NativeBackend::new(&weights).expect("random weights are valid"));
    let mut denoiser =
        Denoiser::new(backend, DenoiseParams::default()).expect("default model fits");
    let mut out = [0.0f32; HOP_SIZE];
    let mut t = 0;
    group.bench_function("denoiser_process_frame", |b| {
        b.iter(|| {
            denoiser
                .process_frame(black_box(&hops[t % HOPS]), &mut out)
                .expect("sizes match");
            t += 1;
            black_box(&out);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_pipeline);
criterion_main!(benches);
