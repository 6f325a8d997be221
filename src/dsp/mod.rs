//! Signal processing on the libDF signal path: Vorbis-windowed streaming STFT (FFT 960, hop 480), the
//! ERB filterbank, the normalised model features, and the application of the model outputs (ERB gains,
//! deep filter, LSNR gating, post-filter, attenuation limit), the one sample-rate converter
//! ([`resample`]), input repair ([`sanitize`]) and the output's optional soft clipper ([`soft_clip`]). Nothing here knows about backends or audio
//! devices; every per-frame routine works on preallocated buffers.

pub mod deep_filter;
pub mod erb;
pub mod features;
pub mod resample;
pub mod sanitize;
pub mod soft_clip;
pub mod stft;
pub mod window;

/// Complex sample type of all spectra (re-exported so callers need no direct `rustfft` dependency).
pub use rustfft::num_complex::Complex32;
