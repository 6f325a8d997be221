//! Replays the committed corpus of the `plugin_host` fuzz target (fuzz/corpus/plugin_host/) through its
//! checks (fuzz/plugin_checks.rs), so every seed and past finding stays a regression test in a plain
//! `cargo test -p dfn4-plugin`. `regenerate_plugin_host_seeds` (ignored) writes the hand-made seeds.
#[path = "../../fuzz/plugin_checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

use checks::input::Seed;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/plugin_host")
}

#[test]
fn plugin_host_corpus() {
    checks::hold_shared_backend();
    let (mut n, mut ran) = (0, 0);
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| checks::plugin_host(&bytes));
        assert!(
            result.is_ok(),
            "{} fails the plugin_host check",
            path.display()
        );
        ran += usize::from(result.unwrap());
        n += 1;
    }
    assert!(n >= 4, "only {n} inputs in the plugin_host corpus");
    assert!(ran >= 6, "{ran} inputs instantiate and run the plugin");
}

#[test]
#[ignore = "writes the initial seeds into fuzz/corpus; run by hand"]
fn regenerate_plugin_host_seeds() {
    let dir = corpus();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, seed) in seeds() {
        std::fs::write(dir.join(format!("seed-{name}")), seed.0).unwrap();
    }
}

/// Flags (bit 0 stereo, bit 1 LV2, bits 2–3 rate mode, bit 4 no activate), the rate, the controls
/// (attenuation limit, bypass), the wiring byte, then steps (see fuzz/plugin_checks.rs). Burst values
/// index `input::SPECIAL_VALUES`: 0 NaN, 1 +Inf, 2 −Inf, 3 −NaN, 5 f32::MAX, 7 1e30, 9 1000.5.
fn seeds() -> Vec<(&'static str, Seed)> {
    // COMMON_RATES indices: 0 8 kHz, 6 44.1 kHz, 7 48 kHz, 13 768 kHz, 14 1 kHz, 15 44,101, 16 47,999.
    let host = |flags: u8, rate: u8, atten: f32, bypass: f32, wiring: u8| {
        Seed::default()
            .u8(flags)
            .u8(rate)
            .control(atten)
            .control(bypass)
            .u8(wiring)
    };
    let run = |s: Seed, n: u16, bursts: &[(u8, u16, u8)]| s.u8(0).frames(n).tone(1, bursts);
    let stereo_run =
        |s: Seed, n: u16, bursts: &[(u8, u16, u8)]| s.u8(0).frames(n).tone(1, bursts).tone(1, &[]);
    let clean = |s: Seed, blocks: &[u16]| blocks.iter().fold(s, |s, &n| run(s, n, &[]));
    let clean_stereo =
        |s: Seed, blocks: &[u16]| blocks.iter().fold(s, |s, &n| stereo_run(s, n, &[]));
    vec![
        (
            "ladspa-mono-48k",
            clean(host(0, 7, 100.0, 0.0, 0), &[480; 20]),
        ),
        (
            "ladspa-mono-48k-one-nan",
            clean(
                run(
                    clean(host(0, 7, 100.0, 0.0, 0), &[256; 8]),
                    256,
                    &[(0, 100, 1)],
                ),
                &[256; 8],
            ),
        ),
        (
            "ladspa-stereo-44k1-inf-in-place",
            clean_stereo(
                stereo_run(
                    clean_stereo(host(1, 6, 12.0, 0.0, 0x10), &[0, 1, 1024, 1025]),
                    333,
                    &[(1, 0, 1), (2, 332, 1), (5, 100, 20)],
                ),
                &[4096, 7],
            ),
        ),
        (
            "lv2-stereo-47999-crossed",
            clean_stereo(
                stereo_run(
                    clean_stereo(host(3, 16, 100.0, 0.0, 0x20), &[64, 16_383]),
                    2048,
                    &[(3, 5, 32), (7, 900, 3)],
                ),
                &[2048; 3],
            ),
        ),
        (
            "ladspa-hostile-controls",
            clean(
                run(
                    clean(host(0, 7, f32::NAN, f32::NAN, 0x40), &[480; 4])
                        .u8(5)
                        .control(f32::INFINITY)
                        .control(f32::NEG_INFINITY),
                    480,
                    &[(0, 0, 32)],
                )
                .u8(5)
                .control(-1e30)
                .control(1.0),
                &[480; 6],
            )
            .u8(5)
            .control(f32::MAX)
            .control(f32::from_bits(0x7fa0_0001)),
        ),
        (
            "ladspa-bypass-with-nan",
            clean(
                run(
                    host(0, 15, 100.0, 1.0, 0),
                    1000,
                    &[(0, 10, 3), (9, 500, 30)],
                ),
                &[1000; 6],
            ),
        ),
        (
            "ladspa-reactivate-after-inf",
            clean(
                run(host(0x10, 0, 100.0, 0.0, 0), 80, &[(1, 3, 1)]).u8(6),
                &[80; 10],
            ),
        ),
        (
            "ladspa-null-ports-rewired",
            clean(
                clean(host(0, 7, 100.0, 0.0, 0x8f), &[480; 3]).u8(7).u8(0),
                &[480; 4],
            ),
        ),
        (
            "ladspa-1khz",
            clean(host(0, 14, 100.0, 0.0, 0), &[1, 10, 100, 250]),
        ),
        (
            "ladspa-768khz",
            clean(
                run(host(0, 13, 100.0, 0.0, 0), 16_383, &[(0, 8000, 1)]),
                &[16_383; 3],
            ),
        ),
        (
            "ladspa-any-rate",
            clean(
                Seed::default()
                    .u8(1 << 2)
                    .u32(12_345_678)
                    .control(100.0)
                    .control(0.0)
                    .u8(0),
                &[500; 4],
            ),
        ),
        // Refused rates: 2^32 + 48,000 (not to be truncated to 48 kHz), u64::MAX, 999 Hz, 768,001 Hz.
        (
            "ladspa-rate-2pow32-plus-48000",
            Seed::default().u8(3 << 2).u8(5),
        ),
        (
            "ladspa-rate-u64-max",
            Seed::default().u8(2 << 2).u64(u64::MAX),
        ),
        ("ladspa-rate-999", Seed::default().u8(3 << 2).u8(2)),
        ("ladspa-rate-768001", Seed::default().u8(3 << 2).u8(3)),
        // LV2 doubles: NaN, 768,000.5 (rounds out of range), 999.5 (rounds in), 44,100.25.
        ("lv2-rate-nan", Seed::default().u8(2 | 3 << 2).u8(0)),
        ("lv2-rate-768000.5", Seed::default().u8(2 | 3 << 2).u8(11)),
        (
            "lv2-rate-999.5",
            clean(
                Seed::default()
                    .u8(2 | 3 << 2)
                    .u8(9)
                    .control(100.0)
                    .control(0.0)
                    .u8(0),
                &[64; 8],
            ),
        ),
        (
            "lv2-rate-44100.25-huge-audio",
            Seed::default()
                .u8(2 | 3 << 2)
                .u8(13)
                .control(50.0)
                .control(0.0)
                .u8(0)
                .u8(0)
                .frames(4410)
                .tone(3, &[])
                .u8(0)
                .frames(4410)
                .raw(&[f32::MAX, f32::MIN, f32::NAN, 1e-45, -0.0]),
        ),
    ]
}
