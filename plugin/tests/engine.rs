//! The plugin's own part of the processing core: the library's host glue (tests/host_glue.rs in the
//! main crate tests it at every rate and block size) under the plugin's flush-to-zero mode.
use std::path::Path;

use dfn4_plugin::engine::Channel;

fn fixture(name: &str) -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets")
        .join(name);
    let mut reader = hound::WavReader::open(path).unwrap();
    assert_eq!(reader.spec().sample_rate, 48_000);
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

/// Energy (dB) of `x` over the 10 ms frames where `clean` is quiet.
fn noise_only_db(x: &[f32], clean: &[f32], frame: usize) -> f64 {
    let (mut e, mut n) = (0.0f64, 0usize);
    for (cx, cc) in x.chunks_exact(frame).zip(clean.chunks_exact(frame)) {
        let ce: f64 = cc.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / frame as f64;
        if ce < 1e-6 {
            e += cx.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
            n += frame;
        }
    }
    assert!(n > 0, "the fixture has noise-only frames");
    10.0 * (e / n as f64).log10()
}

/// Runs `input` through `channel` in blocks of `block`.
fn run(channel: &mut Channel, input: &[f32], block: usize) -> Vec<f32> {
    let mut out = input.to_vec();
    for piece in out.chunks_mut(block) {
        channel.process(piece);
    }
    out
}

#[test]
fn the_engine_is_the_library_glue() {
    let channel: dfn4::host::HostChannel =
        Channel::new(dfn4_plugin::shared_backend().unwrap(), 48_000).unwrap();
    assert_eq!(channel.latency_samples(), 960 + 479);
    assert_eq!(
        dfn4_plugin::engine::params_for_control(100.0).atten_lim_db,
        None
    );
}

/// A muted microphone: two minutes of digital silence under the plugin's flush-to-zero mode (what `run`
/// sets), then noisy speech. The running norms decay towards zero in the silence; the output must stay
/// finite and the speech that follows must be denoised.
#[test]
fn minutes_of_digital_silence_then_speech() {
    let _flush = dfn4_plugin::ladspa::DenormalGuard::new();
    let noisy = fixture("noisy_speech.wav");
    let clean = fixture("clean_speech.wav");
    let silence_samples = 48_000 * 120;
    let mut input = vec![0.0f32; silence_samples];
    input.extend_from_slice(&noisy);
    let mut channel = Channel::new(dfn4_plugin::shared_backend().unwrap(), 48_000).unwrap();
    let lat = channel.latency_samples();
    let out = run(&mut channel, &input, 480);
    let bad = out.iter().filter(|x| !x.is_finite()).count();
    assert_eq!(bad, 0, "{bad} non-finite output samples");
    let speech_out = &out[silence_samples + lat..];
    let before = noise_only_db(&noisy, &clean, 480);
    let after = noise_only_db(speech_out, &clean, 480);
    assert!(
        after < before - 10.0,
        "noise-only frames {before:.1} dB in, {after:.1} dB out"
    );
}
