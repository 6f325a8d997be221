//! The [`ChannelEnhancer`] behind `dfn4 enhance`: a fresh [`Denoiser`] per channel over one shared
//! backend, with progress reported per second of audio.
use std::sync::Arc;

use anyhow::{Context, Result};

use dfn4::backend::Backend;
use dfn4::denoiser::{DenoiseParams, Denoiser};

use super::pipeline::{ChannelEnhancer, Progress};

/// Hops between two progress reports (one second of audio).
const HOPS_PER_REPORT: usize = 100;

/// Denoises channels with backend `B` and fixed run-time parameters.
pub struct DenoiserEnhancer<B: Backend> {
    backend: Arc<B>,
    params: DenoiseParams,
}

impl<B: Backend> DenoiserEnhancer<B> {
    /// Checks once that a denoiser can be built from `backend` and `params`, so a bad model or
    /// parameter fails before any file is processed.
    pub fn new(backend: Arc<B>, params: DenoiseParams) -> Result<Self> {
        Denoiser::new(Arc::clone(&backend), params).context("cannot create the denoiser")?;
        Ok(Self { backend, params })
    }
}

impl<B> ChannelEnhancer for DenoiserEnhancer<B>
where
    B: Backend + Send + Sync,
{
    fn enhance(&self, samples_48k: &[f32], progress: Progress<'_>) -> Result<Vec<f32>> {
        let mut denoiser = Denoiser::new(Arc::clone(&self.backend), self.params)?;
        // Report progress once per second of audio and once at the end, whatever the hop count.
        let (mut hops, mut reported) = (0usize, 0usize);
        let out = denoiser.process_signal_with_progress(samples_48k, |consumed| {
            hops += 1;
            if consumed > reported && (hops % HOPS_PER_REPORT == 0 || consumed == samples_48k.len())
            {
                progress((consumed - reported) as u64);
                reported = consumed;
            }
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfn4::backend::native::NativeBackend;
    use dfn4::config::ModelConfig;
    use dfn4::model::Weights;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn backend() -> Arc<NativeBackend> {
        let weights = Weights::random(&ModelConfig::default(), 11);
        Arc::new(NativeBackend::new(&weights).unwrap())
    }

    fn noise(len: usize) -> Vec<f32> {
        let mut s = 12345u32;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn equals_process_signal_and_reports_every_sample() {
        let backend = backend();
        let params = DenoiseParams::default();
        let x = noise(48_000 + 123);
        let done = AtomicU64::new(0);
        let enhancer = DenoiserEnhancer::new(Arc::clone(&backend), params).unwrap();
        let y = enhancer
            .enhance(&x, &|n| {
                done.fetch_add(n, Ordering::Relaxed);
            })
            .unwrap();
        let reference = Denoiser::new(backend, params)
            .unwrap()
            .process_signal(&x)
            .unwrap();
        assert_eq!(y, reference);
        assert_eq!(done.load(Ordering::Relaxed), x.len() as u64);
    }
}
