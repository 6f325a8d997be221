//! The properties the fuzz targets check, shared with the plain `cargo test` that replays the committed
//! seeds (tests/fuzz_seeds.rs), so a finding stays a regression test without nightly. The plugin's
//! host contract is in plugin_checks.rs (the main crate cannot depend on the plugin).
use std::sync::{Arc, OnceLock};

use dfn4::audio_io::wav::{decode_wav, SampleFormat, WavReader};
use dfn4::backend::registry::{self, ModelSource};
use dfn4::backend::AnyBackend;
use dfn4::config::{ModelConfig, HOP_SIZE, MAX_CHANNELS, MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ};
use dfn4::denoiser::Denoiser;
use dfn4::dsp::deep_filter::DenoiseParams;
use dfn4::dsp::sanitize::{sanitize_sample, SanitizeCounts};
use dfn4::enhance::Enhancer;
use dfn4::model::weights::{config_from_json, Weights};
use dfn4::Error;

#[path = "input.rs"]
#[allow(dead_code)] // each check uses part of the cursor, the seeds the writer
pub mod input;
use input::Input;

/// `decode_wav`, then the block reader at a block size taken from the first byte (1 to 16 frames):
/// neither may panic, they agree on success, and the block reader never returns more than asked.
pub fn wav_reader(data: &[u8]) {
    let whole = decode_wav(data);
    let block_frames = data.first().map_or(1, |b| usize::from(b % 16) + 1);
    let streamed = WavReader::from_bytes(data).and_then(|mut reader| {
        let mut all = vec![Vec::new(); reader.channels()];
        let mut block = vec![Vec::new(); reader.channels()];
        loop {
            let n = reader.read_block(block_frames, &mut block)?;
            assert!(
                n <= block_frames,
                "read_block returned {n} > {block_frames} frames"
            );
            if n == 0 {
                break;
            }
            for (a, b) in all.iter_mut().zip(&block) {
                assert_eq!(b.len(), n);
                a.extend_from_slice(b);
            }
        }
        assert_eq!(all[0].len() as u64, reader.frames());
        Ok((all, reader.non_finite_replaced()))
    });
    match (whole, streamed) {
        (Ok(w), Ok((s, replaced))) => {
            assert_eq!(w.channels.len(), s.len());
            for (a, b) in w.channels.iter().zip(&s) {
                assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
                assert_eq!(a.len(), b.len());
            }
            assert_eq!(w.non_finite_replaced as u64, replaced);
            // Integers scale into [-1, 1]; floats may exceed full scale but never stay NaN/Inf.
            let full_scale = if w.format == SampleFormat::F32 {
                f32::MAX
            } else {
                1.0
            };
            assert!(w
                .channels
                .iter()
                .flatten()
                .all(|x| x.is_finite() && x.abs() <= full_scale));
        }
        (Err(e), _) | (_, Err(e)) => assert_error_is_one_line(&e),
    }
}

/// The first two bytes (little endian) are the length of a JSON config, the rest after it is a
/// safetensors file. Invalid JSON means the default config. Parsing may fail but not panic; weights
/// that load must build the native backend and run two hops through a denoiser. Returns whether they
/// did (the replay test checks that the seeds reach the backend).
pub fn weights_loader(data: &[u8]) -> bool {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return false;
    };
    let split = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (json, safetensors) = rest.split_at(split);
    let cfg = match std::str::from_utf8(json).map(config_from_json) {
        Ok(Ok(cfg)) => cfg,
        Ok(Err(e)) => {
            assert_error_is_one_line(&e);
            ModelConfig::default()
        }
        Err(_) => ModelConfig::default(),
    };
    let weights = match Weights::from_safetensors_bytes(&cfg, safetensors) {
        Ok(w) => w,
        Err(e) => {
            assert_error_is_one_line(&e);
            return false;
        }
    };
    let backend = match registry::create("native", ModelSource::Weights(&weights)) {
        Ok(b) => b,
        Err(e) => {
            assert_error_is_one_line(&e);
            return false;
        }
    };
    let mut denoiser = Denoiser::new(Arc::new(backend), DenoiseParams::default())
        .expect("a backend built from valid weights makes a denoiser");
    let input = [0.1f32; HOP_SIZE];
    let mut output = [0.0f32; HOP_SIZE];
    for _ in 0..2 {
        denoiser.process_frame(&input, &mut output).expect("a hop");
    }
    true
}

/// The smallest model the signal path accepts (ERB bands and DF bins are fixed): a few thousand
/// parameters, so a valid weights file is a few KB, the fuzzer reaches the backend, and a hop costs
/// little more than the DSP around it.
pub fn tiny_config() -> ModelConfig {
    ModelConfig {
        conv_ch: 1,
        d_model: 2,
        n_layers: 1,
        d_state: 1,
        d_conv: 2,
        expand: 1,
        dt_rank: 1,
        df_hidden: 1,
        df_order: 2,
        df_lookahead: 1,
        ..ModelConfig::default()
    }
}

/// The native backend on seeded random weights of [`tiny_config`], built once per process.
fn tiny_backend() -> Arc<AnyBackend> {
    static BACKEND: OnceLock<Arc<AnyBackend>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let weights = Weights::random(&tiny_config(), 7);
            Arc::new(
                registry::create("native", ModelSource::Weights(&weights)).expect("tiny model"),
            )
        })
        .clone()
}

/// Hops per `denoiser_input` input (2 s of audio), so one input stays well under 0.1 s.
const MAX_HOPS: usize = 200;
/// Samples per `denoiser_input` stream input, over all channels.
const MAX_STREAM_SAMPLES: usize = 48_000;

/// Sample rates for the streaming modes: the ones in use, the range's ends and the awkward ratios near
/// 48 kHz.
const STREAM_RATES: [u32; 12] = [
    8_000, 16_000, 22_050, 44_100, 48_000, 96_000, 192_000, 1_000, 768_000, 44_101, 47_999, 48_001,
];
/// Rates just outside the range, zero and the extremes of `u32`.
const BAD_RATES: [u32; 6] = [0, 1, 999, 768_001, u32::MAX, i32::MAX as u32];
/// Channel counts: mostly a few; the bound (256 chains to build, the slowest input, so rarely), just
/// beyond it, and none.
const CHANNEL_COUNTS: [usize; 16] = [
    1,
    1,
    1,
    1,
    1,
    1,
    2,
    2,
    2,
    3,
    4,
    8,
    0,
    MAX_CHANNELS,
    MAX_CHANNELS + 1,
    32_767,
];

/// Arbitrary samples into the library's denoising API, on the tiny model. The first byte picks the
/// mode (modulo 4):
/// - 0, 1: [`Denoiser::process_frame`] hop by hop, with resets and parameter changes between hops,
///   then [`Denoiser::process_signal`] on the whole input. Every hop is `Ok` and finite, the counts of
///   repaired samples are exact, and the output is bit for bit that of a second denoiser fed the
///   input repaired by the library's rule (`sanitize_sample`): a NaN/Inf costs what a zero costs, no
///   more, from the next sample on. `set_params` refuses invalid parameters with one line and keeps
///   the old ones. `process_signal` keeps the length.
/// - 2: [`Enhancer::enhance`] at a rate and channel count from the bytes: a rate or count out of
///   range is refused with a one-line `UnsupportedFormat`, samples that are not audio with a one-line
///   `InvalidInput`; otherwise every channel keeps its length and is finite.
/// - 3: [`dfn4::enhance::ChannelStream`] in chunks of any size: a chunk with samples that are not audio
///   is refused (one line) and leaves no trace; the output has as many samples as were accepted, and
///   equals `enhance` of the accepted samples at once.
///
/// Returns whether audio went through the denoiser.
pub fn denoiser_input(data: &[u8]) -> bool {
    let mut input = Input::new(data);
    match input.u8_or_0() % 4 {
        0 | 1 => denoiser_hops(&mut input),
        2 => enhance_channels(&mut input),
        _ => stream_chunks(&mut input),
    }
}

fn repaired(x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| sanitize_sample(v)).collect()
}

fn assert_same_bits(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    if let Some(t) = (0..a.len()).find(|&t| a[t].to_bits() != b[t].to_bits()) {
        panic!(
            "{what}: sample {t} is {} where the repaired input gives {}",
            a[t], b[t]
        );
    }
}

fn denoiser_hops(input: &mut Input) -> bool {
    let backend = tiny_backend();
    let params = DenoiseParams::default();
    let mut hostile = Denoiser::new(backend.clone(), params).expect("tiny denoiser");
    let mut reference = Denoiser::new(backend, params).expect("tiny denoiser");
    let mut expected = SanitizeCounts::default();
    let mut all = Vec::new();
    let (mut hop, mut out, mut out_ref) =
        ([0.0f32; HOP_SIZE], [0.0f32; HOP_SIZE], [0.0f32; HOP_SIZE]);
    let mut hops = 0;
    while hops < MAX_HOPS {
        let Some(op) = input.u8() else { break };
        match op % 8 {
            0..=5 => {
                input.signal(&mut hop, u32::from(op) << 16 | hops as u32);
                for &x in &hop {
                    if !x.is_finite() {
                        expected.non_finite += 1;
                    } else if sanitize_sample(x) != x {
                        expected.clamped += 1;
                    }
                }
                let lsnr = hostile.process_frame(&hop, &mut out).expect("a hop");
                let hop_ref: [f32; HOP_SIZE] = repaired(&hop).try_into().unwrap();
                let lsnr_ref = reference
                    .process_frame(&hop_ref, &mut out_ref)
                    .expect("a hop");
                if let Some(t) = out.iter().position(|v| !v.is_finite()) {
                    panic!("hop {hops}: output sample {t} is {}", out[t]);
                }
                assert_same_bits(&format!("hop {hops}"), &out, &out_ref);
                assert_eq!(lsnr.to_bits(), lsnr_ref.to_bits(), "hop {hops}: LSNR");
                assert_eq!(
                    hostile.health().input,
                    expected,
                    "hop {hops}: repair counts"
                );
                assert_eq!(hostile.health().resets, reference.health().resets);
                all.extend_from_slice(&hop);
                hops += 1;
            }
            6 => {
                hostile.reset();
                reference.reset();
            }
            _ => {
                let params = DenoiseParams {
                    atten_lim_db: Some(input.control()).filter(|_| op & 0x10 != 0),
                    post_filter: op & 0x20 != 0,
                    post_filter_beta: input.control(),
                    min_db_thresh: input.control(),
                    max_db_erb_thresh: input.control(),
                    max_db_df_thresh: input.control(),
                };
                let before = *hostile.params();
                match (hostile.set_params(params), reference.set_params(params)) {
                    (Ok(()), Ok(())) => assert_eq!(*hostile.params(), params),
                    (Err(e), Err(_)) => {
                        assert_error_is_one_line(&e);
                        assert_eq!(*hostile.params(), before, "refused parameters were kept");
                    }
                    _ => unreachable!("two denoisers disagree on {params:?}"),
                }
            }
        }
    }
    // The whole input at once, cut short of a whole hop by the last byte.
    let cut = usize::from(input.u8_or_0()).min(all.len());
    let all = &all[..all.len() - cut];
    let out = hostile.process_signal(all).expect("process_signal");
    assert_eq!(out.len(), all.len(), "process_signal changed the length");
    assert!(
        out.iter().all(|v| v.is_finite()),
        "process_signal: non-finite output"
    );
    let out_ref = reference
        .process_signal(&repaired(all))
        .expect("process_signal");
    assert_same_bits("process_signal", &out, &out_ref);
    hops > 0
}

/// Bits 0–1 of the byte: a rate in use, any rate in range, any `u32`, a bad one.
fn stream_rate(input: &mut Input) -> u32 {
    let b = input.u8_or_0();
    let span = MAX_SAMPLE_RATE_HZ - MIN_SAMPLE_RATE_HZ + 1;
    match b & 3 {
        0 => STREAM_RATES[usize::from(b >> 2) % STREAM_RATES.len()],
        1 => MIN_SAMPLE_RATE_HZ + input.u32_or_0() % span,
        2 => input.u32_or_0(),
        _ => BAD_RATES[usize::from(b >> 2) % BAD_RATES.len()],
    }
}

fn rate_in_range(rate_hz: u32) -> bool {
    (MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&rate_hz)
}

/// What offline paths accept: finite, within the library's bound (NaN compares unequal).
fn is_audio(x: f32) -> bool {
    sanitize_sample(x) == x
}

fn assert_unsupported_format(e: &Error, what: &str) {
    assert!(matches!(e, Error::UnsupportedFormat(_)), "{what}: {e:?}");
    assert_error_is_one_line(e);
}

fn enhance_channels(input: &mut Input) -> bool {
    let rate_hz = stream_rate(input);
    let nb = CHANNEL_COUNTS[usize::from(input.u8_or_0()) % CHANNEL_COUNTS.len()];
    let per_channel = (MAX_STREAM_SAMPLES / nb.max(1)).min(rate_hz as usize / 4);
    let frames = usize::from(input.u16_or_0()).min(per_channel);
    let channels: Vec<Vec<f32>> = (0..nb)
        .map(|c| {
            let mut x = vec![0.0; frames];
            input.signal(&mut x, c as u32);
            x
        })
        .collect();
    let enhancer = Enhancer::new(tiny_backend(), DenoiseParams::default()).expect("tiny enhancer");
    let result = enhancer.enhance(&channels, rate_hz);
    if !rate_in_range(rate_hz) || nb > MAX_CHANNELS {
        let e = result
            .err()
            .unwrap_or_else(|| panic!("{rate_hz} Hz × {nb} channels accepted"));
        assert_unsupported_format(&e, &format!("{rate_hz} Hz × {nb} channels"));
        return false;
    }
    if !channels.iter().flatten().all(|&x| is_audio(x)) {
        let e = result.expect_err("samples that are not audio accepted");
        assert!(matches!(e, Error::InvalidInput(_)), "{e:?}");
        assert_error_is_one_line(&e);
        return false;
    }
    let out = result.unwrap_or_else(|e| panic!("{rate_hz} Hz × {nb} channels: {e}"));
    assert_eq!(out.len(), nb, "channel count");
    for (y, x) in out.iter().zip(&channels) {
        assert_eq!(y.len(), x.len(), "{rate_hz} Hz: length");
        assert!(
            y.iter().all(|v| v.is_finite()),
            "{rate_hz} Hz: non-finite output"
        );
    }
    nb > 0 && frames > 0
}

fn stream_chunks(input: &mut Input) -> bool {
    let rate_hz = stream_rate(input);
    let enhancer = Enhancer::new(tiny_backend(), DenoiseParams::default()).expect("tiny enhancer");
    let mut stream = match enhancer.channel(rate_hz) {
        Ok(s) => {
            assert!(rate_in_range(rate_hz), "{rate_hz} Hz accepted");
            s
        }
        Err(e) => {
            assert!(!rate_in_range(rate_hz), "{rate_hz} Hz refused: {e}");
            assert_unsupported_format(&e, &format!("{rate_hz} Hz"));
            return false;
        }
    };
    let max_samples = MAX_STREAM_SAMPLES.min(rate_hz as usize / 4);
    let (mut accepted, mut out, mut offered) = (Vec::new(), Vec::new(), 0usize);
    while offered < max_samples {
        let Some(b) = input.u8() else { break };
        let n = input.block_frames().min(max_samples - offered);
        offered += n.max(1);
        let mut chunk = vec![0.0; n];
        input.signal(&mut chunk, u32::from(b) << 16 | offered as u32);
        match stream.push(&chunk, &mut out) {
            Ok(()) => {
                assert!(
                    chunk.iter().all(|&x| is_audio(x)),
                    "{rate_hz} Hz: a chunk with non-audio accepted"
                );
                accepted.extend_from_slice(&chunk);
            }
            Err(e) => {
                assert!(matches!(e, Error::InvalidInput(_)), "{e:?}");
                assert_error_is_one_line(&e);
                assert!(
                    !chunk.iter().all(|&x| is_audio(x)),
                    "{rate_hz} Hz: refused {e}"
                );
            }
        }
        assert!(
            out.len() <= accepted.len(),
            "{rate_hz} Hz: more out than in"
        );
    }
    stream.finish(&mut out).expect("finish");
    assert_eq!(out.len(), accepted.len(), "{rate_hz} Hz: stream length");
    assert!(
        out.iter().all(|v| v.is_finite()),
        "{rate_hz} Hz: non-finite output"
    );
    let whole = enhancer.enhance(&[&accepted], rate_hz).expect("enhance");
    assert_same_bits(&format!("{rate_hz} Hz: chunked vs whole"), &out, &whole[0]);
    !accepted.is_empty()
}

fn assert_error_is_one_line(e: &dfn4::Error) {
    let msg = e.to_string();
    assert!(
        !msg.is_empty() && !msg.contains('\n'),
        "error text: {msg:?}"
    );
}

/// Arbitrary bytes as a compressed audio file (FLAC, Ogg Vorbis, MP3, AAC/ALAC in MP4), decoded to the
/// end in blocks of 1 to 4,096 frames (from the last byte): opening and reading may fail, with a one-line
/// error, but never panic; what is read is finite, never more frames than asked, and no more than a
/// bounded multiple of the input's size (a lying header cannot make it decode without end). Returns
/// whether the input decoded to the end (the replay test checks that the seeds reach the decoders).
pub fn audio_decoder(data: &[u8]) -> bool {
    use dfn4::audio_io::compressed::{panic_is_caught_decoder_failure, CompressedReader};
    // The reader turns a panic inside symphonia into an error; libFuzzer's hook would abort on it
    // first. Panics anywhere else still reach the previous hook (an abort under libFuzzer).
    static QUIET_DECODER_PANICS: std::sync::Once = std::sync::Once::new();
    QUIET_DECODER_PANICS.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !panic_is_caught_decoder_failure(info) {
                previous(info);
            }
        }));
    });
    let block = data.last().map_or(1, |b| 1 + usize::from(*b) * 16);
    let mut reader = match CompressedReader::from_bytes(data.to_vec()) {
        Ok(r) => r,
        Err(e) => {
            assert_error_is_one_line(&e);
            return false;
        }
    };
    assert!((1..=256).contains(&reader.channels()));
    let mut out = vec![Vec::new(); reader.channels()];
    // The most samples any codec here can produce from one byte is a few hundred (silent FLAC frames
    // of constant subframes); 4,096 per byte bounds a runaway decode.
    let limit = (data.len() as u64 + 1) * 4096;
    loop {
        match reader.read_block(block, &mut out) {
            Ok(0) => return true,
            Ok(n) => {
                assert!(n <= block, "read {n} > {block} frames");
                assert!(out.iter().all(|c| c.len() == n));
                assert!(out.iter().flatten().all(|x| x.is_finite()));
                assert!(
                    reader.frames_read() <= limit,
                    "{} frames from {} bytes",
                    reader.frames_read(),
                    data.len()
                );
            }
            Err(e) => {
                assert_error_is_one_line(&e);
                return false;
            }
        }
    }
}
