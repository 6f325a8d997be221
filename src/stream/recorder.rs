//! Recording taps (`--record-input`, `--record-output`): a thread per file drains a ring filled by an
//! audio callback and writes 32-bit float mono WAV. The file is created before the audio starts (a bad
//! path fails early) and finalised when the run ends, however it ends.
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringbuf::traits::Consumer;
use ringbuf::HeapCons;

use crate::{Error, Result};

/// How often the writer wakes up to drain the ring.
const POLL: Duration = Duration::from_millis(20);
/// Samples written per batch.
const BATCH_SAMPLES: usize = 4096;

/// A running WAV tap.
pub struct TapRecorder {
    path: PathBuf,
    rate_hz: u32,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<u64>>,
}

/// What a tap wrote.
#[derive(Debug, Clone)]
pub struct TapSummary {
    /// The WAV file.
    pub path: PathBuf,
    /// Samples written.
    pub samples: u64,
    /// Sample rate of the file, Hz.
    pub rate_hz: u32,
}

type Writer = hound::WavWriter<BufWriter<File>>;

impl TapRecorder {
    /// Creates `path` (mono float WAV at `rate_hz`) and starts draining `ring` into it.
    pub fn start(path: &Path, rate_hz: u32, ring: HeapCons<f32>) -> Result<Self> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate_hz,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let writer = hound::WavWriter::create(path, spec)
            .map_err(|e| Error::Wav(format!("cannot create {}: {e}", path.display())))?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = Arc::clone(&stop);
            let path = path.to_path_buf();
            std::thread::Builder::new()
                .name("dfn4-tap".into())
                .spawn(move || drain(writer, ring, &stop, &path))
                .map_err(Error::Io)?
        };
        Ok(Self {
            path: path.to_path_buf(),
            rate_hz,
            stop,
            handle,
        })
    }

    /// Writes what is left in the ring, finalises the file and returns what was written.
    pub fn finish(self) -> Result<TapSummary> {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self
            .handle
            .join()
            .map_err(|_| Error::Wav(format!("the writer of {} panicked", self.path.display())))??;
        Ok(TapSummary {
            path: self.path,
            samples,
            rate_hz: self.rate_hz,
        })
    }
}

fn drain(
    mut writer: Writer,
    mut ring: HeapCons<f32>,
    stop: &AtomicBool,
    path: &Path,
) -> Result<u64> {
    let mut batch = vec![0.0f32; BATCH_SAMPLES];
    let mut written = 0u64;
    let wav_err = |e: hound::Error| Error::Wav(format!("cannot write {}: {e}", path.display()));
    loop {
        // Read the flag before draining: samples pushed before the stop are then all written.
        let stopping = stop.load(Ordering::Relaxed);
        let n = ring.pop_slice(&mut batch);
        for &s in &batch[..n] {
            writer.write_sample(s).map_err(wav_err)?;
        }
        written += n as u64;
        if n == 0 {
            if stopping {
                break;
            }
            std::thread::sleep(POLL);
        }
    }
    writer.finalize().map_err(wav_err)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringbuf::traits::{Producer, Split};
    use ringbuf::HeapRb;

    #[test]
    fn everything_pushed_before_finish_lands_in_a_valid_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tap.wav");
        let (mut prod, cons) = HeapRb::<f32>::new(1000).split();
        let tap = TapRecorder::start(&path, 44_100, cons).unwrap();
        let mut sent = Vec::new();
        for block in 0..50 {
            let samples: Vec<f32> = (0..300).map(|i| (block * 300 + i) as f32 * 1e-5).collect();
            let mut rest = &samples[..];
            while !rest.is_empty() {
                let n = prod.push_slice(rest);
                rest = &rest[n..];
                if n == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            sent.extend(samples);
        }
        let summary = tap.finish().unwrap();
        assert_eq!(summary.samples, sent.len() as u64);
        let mut reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec().sample_rate, 44_100);
        let got: Vec<f32> = reader.samples::<f32>().map(|s| s.unwrap()).collect();
        assert_eq!(got, sent);
    }

    #[test]
    fn an_unwritable_path_fails_at_start() {
        let (_, cons) = HeapRb::<f32>::new(10).split();
        let err = TapRecorder::start(Path::new("/nonexistent/dir/x.wav"), 48_000, cons)
            .err()
            .expect("creating the file fails");
        assert!(err.to_string().contains("/nonexistent/dir/x.wav"), "{err}");
    }
}
