//! dfn4 as an audio plugin: the host ABI glue, ports and buffering over the dfn4 library.
//!
//! - [`engine`]: the processing core of one channel (any host rate and block size, fixed reported
//!   latency, bypass crossfade), testable without a host.
//! - [`ladspa`]: the LADSPA 1.1 ABI (`ladspa_descriptor`): a mono and a stereo plugin.
//! - [`lv2`]: the LV2 ABI (`lv2_descriptor`) for the same two plugins; the bundle's Turtle files are in
//!   `plugin/lv2/dfn4.lv2/`.
//!
//! Every instance shares one backend ([`dfn4::backend::DEFAULT_BACKEND`], the embedded weights), built
//! on the first instantiation; each channel owns its own [`dfn4::denoiser::Denoiser`].
#![deny(missing_docs)]

use std::sync::{Arc, OnceLock};

use dfn4::backend::registry::{self, ModelSource};
use dfn4::backend::{AnyBackend, DEFAULT_BACKEND};

pub mod engine;
pub mod ladspa;
pub mod lv2;

/// The backend every instance of this process shares (`None` if it could not be built).
pub fn shared_backend() -> Option<Arc<AnyBackend>> {
    static BACKEND: OnceLock<Option<Arc<AnyBackend>>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            registry::create(DEFAULT_BACKEND, ModelSource::Embedded)
                .ok()
                .map(Arc::new)
        })
        .clone()
}
