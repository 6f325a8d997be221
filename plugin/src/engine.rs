//! The processing core of one audio channel, free of any host ABI: the library's shared host glue
//! ([`dfn4::host`]), which the GStreamer element, the C API and Python's `Denoiser` use too. A host-rate
//! stream in blocks of any size in, the denoised stream out, delayed by exactly
//! [`Channel::latency_samples`]; bypass crossfaded in time; no allocation in [`Channel::process`].
//! Kept under its old names for the ABI modules and for code written against them.

pub use dfn4::host::params_for_control;
/// One channel of the plugin: the library's [`dfn4::host::HostChannel`].
pub use dfn4::host::HostChannel as Channel;
