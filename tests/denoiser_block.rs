//! `Denoiser::process_block` on the native engine, every precision: block by block equals hop by hop
//! sample for sample (the state carried across blocks, a final partial block), and a reserved block
//! does not allocate.
//! The embedded (trained) weights, so the deep filter and every LSNR stage see realistic outputs.
use std::sync::Arc;

use dfn4::backend::{registry, AnyBackend, ModelSource};
use dfn4::config::HOP_SIZE;
use dfn4::denoiser::{DenoiseParams, Denoiser};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::heap_events;

/// Speech-like test input: a chirp with noise, changing level so the LSNR stages change.
fn test_signal(len: usize) -> Vec<f32> {
    let mut seed = 0x1234_5678u32;
    (0..len)
        .map(|n| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            let t = n as f32 / 48_000.0;
            let level = 0.5 + 0.45 * (2.0 * std::f32::consts::PI * 1.5 * t).sin();
            level * 0.3 * (2.0 * std::f32::consts::PI * (200.0 + 800.0 * t) * t).sin()
                + 0.05 * noise
        })
        .collect()
}

fn denoiser(name: &str) -> Denoiser<AnyBackend> {
    let backend = registry::create(name, ModelSource::Embedded).unwrap();
    Denoiser::new(Arc::new(backend), DenoiseParams::shipped()).unwrap()
}

#[test]
fn blocks_equal_hops_on_every_native_precision() {
    let hops = 150;
    let x = test_signal(hops * HOP_SIZE);
    for name in ["native", "native-f16", "native-i8"] {
        let mut by_hop = denoiser(name);
        let (mut hop_in, mut hop_out) = ([0.0; HOP_SIZE], [0.0; HOP_SIZE]);
        let mut want = Vec::with_capacity(x.len());
        for chunk in x.chunks_exact(HOP_SIZE) {
            hop_in.copy_from_slice(chunk);
            by_hop.process_frame(&hop_in, &mut hop_out).unwrap();
            want.extend_from_slice(&hop_out);
        }
        let mut by_block = denoiser(name);
        let mut got = vec![0.0; x.len()];
        // Blocks of the offline path's size, one longer than the engine's piece, and a partial one.
        let mut at = 0;
        for len in [32, 32, 70, 16] {
            let n = len * HOP_SIZE;
            by_block
                .process_block(&x[at..at + n], &mut got[at..at + n])
                .unwrap();
            at += n;
        }
        assert_eq!(at, x.len());
        let peak = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.01, "{name}: the denoiser let nothing through");
        let diff = got
            .iter()
            .zip(&want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        // The engine's block runs each frame through the same arithmetic as its step (the dense
        // kernels' sums per vector do not depend on how many vectors share a call), so the samples
        // are identical: the front ends' tests compare their hop-by-hop paths with `enhance`.
        assert!(diff == 0.0, "{name}: blocks vs hops {diff}");
        assert_eq!(by_block.health(), by_hop.health());
    }
}

#[test]
fn a_reserved_block_does_not_allocate() {
    let x = test_signal(96 * HOP_SIZE);
    let mut y = vec![0.0; x.len()];
    for name in ["native", "native-i8"] {
        let mut d = denoiser(name);
        d.reserve_block(48).unwrap();
        let n = heap_events(|| {
            for (xb, yb) in x.chunks(48 * HOP_SIZE).zip(y.chunks_mut(48 * HOP_SIZE)) {
                d.process_block(xb, yb).unwrap();
            }
            // A shorter block reuses the buffers.
            d.process_block(&x[..7 * HOP_SIZE], &mut y[..7 * HOP_SIZE])
                .unwrap();
        });
        assert_eq!(n, 0, "{name}: process_block allocated or freed {n} times");
    }
}
