//! Training data for a separate LSNR head on the shipped model's frozen features (issue 29, item 5).
//!
//! Mixes training examples from a trainer corpus exactly as `dfn4 train` does ([`make_banded_example`],
//! training split only), streams each noisy mixture through the native engine (`f32`) hop by hop and
//! writes, per frame `t`, the trainer's LSNR target of that frame ([`lsnr_target_db`]: target against
//! noisy) and the embedding the LSNR head reads at hop `t + df_lookahead` ([`NativeState::embedding`]),
//! the pairing the trainer's loss uses. A head refitted on these rows (scripts/eval/fit_lsnr_head.py) runs
//! in the engines unchanged.
//!
//! Output: `OUT.f32`, little-endian rows of `[target_db, example, embedding[d_model]]`, and `OUT.json`
//! (row width, frames, the mixing recipe). The default recipe is the shipped model's (models/dfn4.json);
//! the options move it, for balanced draws. `--bursty P` gates the noise after the trainer's mixing: in a
//! share `P` of the examples the noise (noisy − target) comes and goes in bursts ([`gate_noise`]), so
//! that clean stretches follow noisy ones within an example, as with dev v3's non-stationary noises.
//!
//! `cargo run --release --features train --example lsnr_probe -- CORPUS OUT [--model M] [--examples N]
//! [--seconds S] [--seed N] [--snr LO HI] [--clean P] [--noise-only P] [--reverb P] [--music P]
//! [--bursty P]`
use std::io::Write;
use std::path::PathBuf;

use dfn4::backend::native::NativeBackend;
use dfn4::backend::{Backend, Features, ModelOutput};
use dfn4::config::{NB_DF, NB_ERB, NB_FREQS};
use dfn4::dsp::features::{analyze_signal, lsnr_target_db};
use dfn4::model::{embedded, Weights};
use dfn4::train::augment::burst_envelope;
use dfn4::train::corpus::Corpus;
use dfn4::train::mix::{example_rng, make_banded_example, MixConfig, Split};
use rand::Rng;
use rayon::prelude::*;

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Examples mixed and run per parallel chunk (bounds the rows held in memory).
const CHUNK_EXAMPLES: u64 = 32;

/// Multiplies the noise of `noisy` (its difference from `target`) by the trainer's on/off envelope of
/// bursts and gaps ([`burst_envelope`], `--bursty-noise-prob`), starting in a random phase.
fn gate_noise(noisy: &mut [f32], target: &[f32], rng: &mut impl Rng) {
    debug_assert_eq!(noisy.len(), target.len());
    let envelope = burst_envelope(noisy.len(), rng);
    for ((y, s), g) in noisy.iter_mut().zip(target).zip(envelope) {
        *y = s + g * (*y - s);
    }
}

/// The rows of one example: for each frame with a lookahead hop, `[target_db, example, embedding..]`.
fn example_rows(
    backend: &NativeBackend,
    corpus: &Corpus,
    mix: &MixConfig,
    seed: u64,
    index: u64,
    bursty: f64,
) -> dfn4::Result<Vec<f32>> {
    let cfg = backend.config();
    let (d, lookahead) = (cfg.d_model, cfg.df_lookahead);
    let (mut noisy, target, _) =
        make_banded_example(corpus, Split::Train, mix, &mut example_rng(seed, 0, index));
    // A stream of its own, so that the mixtures stay the trainer's whatever `bursty` is.
    let mut rng = example_rng(seed, 1, index);
    if rng.random_bool(bursty) {
        gate_noise(&mut noisy, &target, &mut rng);
    }
    let (an_noisy, an_target) = (analyze_signal(&noisy), analyze_signal(&target));
    let frames = an_noisy.frames;
    let mut state = backend.new_state(1)?;
    let mut feats = Features::zeros(cfg, 1);
    let mut out = ModelOutput::zeros(cfg, 1);
    let mut embeddings = vec![0.0f32; frames * d];
    for (t, emb) in embeddings.chunks_exact_mut(d).enumerate() {
        feats
            .erb
            .copy_from_slice(&an_noisy.erb[t * NB_ERB..(t + 1) * NB_ERB]);
        feats
            .spec
            .copy_from_slice(&an_noisy.cplx[t * 2 * NB_DF..(t + 1) * 2 * NB_DF]);
        backend.step(&feats, &mut state, &mut out)?;
        emb.copy_from_slice(state.embedding());
    }
    let mut rows = Vec::with_capacity(frames.saturating_sub(lookahead) * (d + 2));
    for t in 0..frames.saturating_sub(lookahead) {
        let bins = t * NB_FREQS..(t + 1) * NB_FREQS;
        rows.push(lsnr_target_db(
            &an_target.spec[bins.clone()],
            &an_noisy.spec[bins],
        ));
        rows.push(index as f32);
        rows.extend_from_slice(&embeddings[(t + lookahead) * d..(t + lookahead + 1) * d]);
    }
    Ok(rows)
}

fn main() -> AnyResult<()> {
    let usage = "usage: lsnr_probe CORPUS OUT [--model M] [--examples N] [--seconds S] [--seed N] \
                 [--snr LO HI] [--clean P] [--noise-only P] [--reverb P] [--music P] [--bursty P]";
    let mut args = std::env::args().skip(1);
    let corpus_dir = PathBuf::from(args.next().ok_or(usage)?);
    let out = PathBuf::from(args.next().ok_or(usage)?);
    let (mut model, mut examples, mut seconds, mut seed) = (None, 512u64, 3.0f32, 7u64);
    // The shipped model's recipe (models/dfn4.json's provenance), as `dfn4 train` set it.
    let mut snr_db = (-5.0f32, 30.0f32);
    let (mut clean, mut noise_only) = (0.05f64, 0.05f64);
    let defaults = MixConfig::new(seconds);
    let (mut reverb, mut music, mut bursty) = (defaults.reverb_prob, defaults.music_prob, 0.0);
    let num = |name: &str, a: &mut dyn Iterator<Item = String>| -> AnyResult<f64> {
        Ok(a.next().ok_or(format!("{name} needs a value"))?.parse()?)
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = Some(PathBuf::from(args.next().ok_or(usage)?)),
            "--examples" => examples = num(&a, &mut args)? as u64,
            "--seconds" => seconds = num(&a, &mut args)? as f32,
            "--seed" => seed = num(&a, &mut args)? as u64,
            "--snr" => snr_db = (num(&a, &mut args)? as f32, num(&a, &mut args)? as f32),
            "--clean" => clean = num(&a, &mut args)?,
            "--noise-only" => noise_only = num(&a, &mut args)?,
            "--reverb" => reverb = num(&a, &mut args)?,
            "--music" => music = num(&a, &mut args)?,
            "--bursty" => bursty = num(&a, &mut args)?,
            _ => return Err(usage.into()),
        }
    }
    let weights = match &model {
        Some(p) => Weights::load(p)?,
        None => embedded::load()?,
    };
    let backend = NativeBackend::new(&weights)?;
    let mut mix = MixConfig::new(seconds);
    mix.snr_db = snr_db;
    mix.clean_prob = clean;
    mix.noise_only_prob = noise_only;
    mix.reverb_prob = reverb;
    mix.music_prob = music;
    mix.speech_source_exponent = Some(0.5);
    let corpus = Corpus::load(&corpus_dir)?;
    let width = backend.config().d_model + 2;
    let mut file = std::io::BufWriter::new(std::fs::File::create(out.with_extension("f32"))?);
    let mut rows_written = 0usize;
    let mut first = 0u64;
    while first < examples {
        let last = (first + CHUNK_EXAMPLES).min(examples);
        let parts: Vec<dfn4::Result<Vec<f32>>> = (first..last)
            .into_par_iter()
            .map(|i| example_rows(&backend, &corpus, &mix, seed, i, bursty))
            .collect();
        for rows in parts {
            let rows = rows?;
            rows_written += rows.len() / width;
            for v in rows {
                file.write_all(&v.to_le_bytes())?;
            }
        }
        eprintln!("{last}/{examples} examples, {rows_written} frames");
        first = last;
    }
    file.flush()?;
    let meta = serde_json::json!({
        "row": ["target_db", "example", format!("embedding[{}]", width - 2)],
        "width": width, "frames": rows_written, "examples": examples, "seed": seed,
        "model": model.map(|p| p.display().to_string()),
        "corpus": corpus_dir.display().to_string(),
        "mixing": mix.describe(),
        "noise_only_prob": noise_only, "snr_db": [snr_db.0, snr_db.1], "bursty": bursty,
    });
    std::fs::write(
        out.with_extension("json"),
        serde_json::to_string_pretty(&meta)?,
    )?;
    println!("{meta}");
    Ok(())
}
