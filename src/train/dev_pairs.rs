//! A recorded dev set as validation batches: `noisy/` and `clean/` audio files of the same names (dev v3,
//! `data/devset_v3`, is one). The trainer scores it beside its mixed dev examples and, when it is given,
//! keeps its best weights by this set's SI-SDR improvement: held-out recordings are what the model is
//! judged on, and the mixed examples (corpus v2's synthetic voices) can improve while they do not.
use std::path::Path;

use super::corpus::{read_mono, resample_to_48k};
use super::mix::{batch_from_pairs, HostBatch};
use super::{train_bail, TrainContext};
use crate::config::SAMPLE_RATE_HZ;

/// The pairs of `dir` (sorted by name, resampled to 48 kHz, each cut to the shortest file of the set so
/// that they batch together) in batches of at most `batch`. An error when the set is empty, a clean file is
/// missing, or a pair's rates or lengths differ.
pub fn load(dir: &Path, batch: usize) -> crate::Result<Vec<HostBatch>> {
    let noisy_dir = dir.join("noisy");
    let mut names: Vec<_> = std::fs::read_dir(&noisy_dir)
        .ctx(|| noisy_dir.display().to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            ["wav", "flac", "ogg"].contains(&ext.to_ascii_lowercase().as_str())
        })
        .collect();
    names.sort();
    if names.is_empty() {
        train_bail!("{}: no audio files", noisy_dir.display());
    }
    let mut pairs = Vec::with_capacity(names.len());
    for noisy_path in &names {
        let clean_path = dir
            .join("clean")
            .join(noisy_path.file_name().unwrap_or_default());
        let (noisy, noisy_rate) = read_mono(noisy_path).ctx(|| noisy_path.display().to_string())?;
        let (clean, clean_rate) =
            read_mono(&clean_path).ctx(|| clean_path.display().to_string())?;
        if noisy_rate != clean_rate || noisy.len() != clean.len() {
            train_bail!(
                "{}: {} samples at {noisy_rate} Hz, its clean file {} at {clean_rate} Hz",
                noisy_path.display(),
                noisy.len(),
                clean.len()
            );
        }
        let (noisy, clean) = if noisy_rate == SAMPLE_RATE_HZ as u32 {
            (noisy, clean)
        } else {
            (
                resample_to_48k(&noisy, noisy_rate)?,
                resample_to_48k(&clean, clean_rate)?,
            )
        };
        pairs.push((noisy, clean));
    }
    let len = pairs.iter().map(|p| p.0.len()).min().unwrap_or(0);
    if len == 0 {
        train_bail!("{}: an empty file", dir.display());
    }
    let mut pairs = pairs.into_iter().map(|(mut n, mut c)| {
        n.truncate(len);
        c.truncate(len);
        (n, c)
    });
    let mut batches = Vec::new();
    loop {
        let chunk: Vec<_> = pairs.by_ref().take(batch.max(1)).collect();
        if chunk.is_empty() {
            return Ok(batches);
        }
        batches.push(batch_from_pairs(chunk));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, x: &[f32], rate_hz: u32) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate_hz,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for v in x {
            w.write_sample((v * 32767.0) as i16).unwrap();
        }
        w.finalize().unwrap();
    }

    fn tone(len: usize, hz: f32) -> Vec<f32> {
        (0..len)
            .map(|n| 0.2 * (std::f32::consts::TAU * hz * n as f32 / 48_000.0).sin())
            .collect()
    }

    #[test]
    fn pairs_load_in_name_order_cut_to_the_shortest_and_batched() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["noisy", "clean"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        // Three pairs, the middle one longer; written out of name order.
        for (name, len, hz) in [
            ("b", 9_600, 300.0),
            ("a", 4_800, 200.0),
            ("c", 4_800, 400.0),
        ] {
            let clean = tone(len, hz);
            let noisy: Vec<f32> = clean.iter().map(|v| v + 0.01).collect();
            write(
                &dir.path().join("noisy").join(format!("{name}.wav")),
                &noisy,
                48_000,
            );
            write(
                &dir.path().join("clean").join(format!("{name}.wav")),
                &clean,
                48_000,
            );
        }
        let batches = load(dir.path(), 2).unwrap();
        assert_eq!(batches.iter().map(|b| b.batch).collect::<Vec<_>>(), [2, 1]);
        assert!(batches.iter().all(|b| b.samples == 4_800));
        // Name order: a (200 Hz) first, then b, then c; the target is the clean file.
        let want_a = tone(4_800, 200.0);
        let got_a = &batches[0].clean[..4_800];
        let err = got_a
            .iter()
            .zip(&want_a)
            .map(|(g, w)| (g - w).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-4, "first pair is not a.wav: max error {err}");
        let want_c = tone(4_800, 400.0);
        assert!((batches[1].clean[100] - want_c[100]).abs() < 1e-4);
        assert_eq!(batches[0].noisy.len(), 2 * 4_800);
        assert_eq!(batches[0].frames, 4_800 / crate::config::HOP_SIZE);
    }

    #[test]
    fn a_missing_clean_file_or_an_empty_set_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("noisy")).unwrap();
        std::fs::create_dir(dir.path().join("clean")).unwrap();
        assert!(load(dir.path(), 4).is_err(), "an empty set");
        write(&dir.path().join("noisy/x.wav"), &tone(960, 100.0), 48_000);
        let e = load(dir.path(), 4).unwrap_err().to_string();
        assert!(e.contains("clean"), "{e}");
        write(&dir.path().join("clean/x.wav"), &tone(480, 100.0), 48_000);
        let e = load(dir.path(), 4).unwrap_err().to_string();
        assert!(e.contains("samples"), "{e}");
    }
}
