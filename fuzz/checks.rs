//! The properties the fuzz targets check, shared with the plain `cargo test` that replays the committed
//! seeds (tests/fuzz_seeds.rs), so a finding stays a regression test without nightly.
use std::sync::Arc;

use dfn4::audio_io::wav::{decode_wav, SampleFormat, WavReader};
use dfn4::backend::registry::{self, ModelSource};
use dfn4::config::{ModelConfig, HOP_SIZE};
use dfn4::denoiser::Denoiser;
use dfn4::dsp::deep_filter::DenoiseParams;
use dfn4::model::weights::{config_from_json, Weights};

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

fn assert_error_is_one_line(e: &dfn4::Error) {
    let msg = e.to_string();
    assert!(
        !msg.is_empty() && !msg.contains('\n'),
        "error text: {msg:?}"
    );
}
