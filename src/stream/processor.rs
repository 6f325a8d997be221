//! [`FrameProcessor`]: what a live worker needs from a denoiser, object-safe so one pipeline can run
//! workers over different backends (`--compare native,tch-cpu`) without knowing their types.
use crate::backend::Backend;
use crate::config::HOP_SIZE;
use crate::denoiser::Denoiser;
use crate::Result;

/// One mono 48 kHz stream processed one 10 ms hop at a time, with an adjustable attenuation limit.
pub trait FrameProcessor: Send {
    /// Processes one hop; returns the LSNR estimate in dB. Called on the worker thread only.
    fn process_frame(
        &mut self,
        input: &[f32; HOP_SIZE],
        output: &mut [f32; HOP_SIZE],
    ) -> Result<f32>;
    /// Delay from input to output in 48 kHz samples.
    fn latency_samples(&self) -> usize;
    /// Sets the attenuation limit (`None`: unlimited); takes effect at the next hop.
    fn set_atten_lim_db(&mut self, atten_lim_db: Option<f32>) -> Result<()>;
}

impl<B> FrameProcessor for Denoiser<B>
where
    B: Backend + Send + Sync,
{
    fn process_frame(
        &mut self,
        input: &[f32; HOP_SIZE],
        output: &mut [f32; HOP_SIZE],
    ) -> Result<f32> {
        Denoiser::process_frame(self, input, output)
    }

    fn latency_samples(&self) -> usize {
        Denoiser::latency_samples(self)
    }

    fn set_atten_lim_db(&mut self, atten_lim_db: Option<f32>) -> Result<()> {
        let mut params = *self.params();
        params.atten_lim_db = atten_lim_db;
        self.set_params(params)
    }
}

/// The attenuation limit meant by the live control value [`crate::stream::meters::LiveMeters::atten_lim_db`]:
/// 0 or less (and 100 or more, as in [`crate::denoiser::DenoiseParams`]) mean no limit.
pub fn atten_lim_from_control(control_db: f32) -> Option<f32> {
    (control_db > 0.0 && control_db < 100.0).then_some(control_db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_value_maps_to_a_limit() {
        assert_eq!(atten_lim_from_control(0.0), None);
        assert_eq!(atten_lim_from_control(-3.0), None);
        assert_eq!(atten_lim_from_control(12.5), Some(12.5));
        assert_eq!(atten_lim_from_control(100.0), None);
        assert_eq!(atten_lim_from_control(f32::NAN), None);
    }
}
