//! dfn4 as an audio plugin: the host ABI glue, ports and buffering over the dfn4 library.
//!
//! - [`engine`]: the processing core of one channel (any host rate and block size, fixed reported
//!   latency, bypass crossfade): the library's shared host glue, [`dfn4::host::HostChannel`].
//! - [`ladspa`]: the LADSPA 1.1 ABI (`ladspa_descriptor`): a mono and a stereo plugin.
//! - [`lv2`]: the LV2 ABI (`lv2_descriptor`) for the same two plugins; the bundle's Turtle files are in
//!   `plugin/lv2/dfn4.lv2/`.
//!
//! Every instance shares one backend ([`dfn4::backend::default_backend`], the embedded weights), built
//! on the first instantiation and freed with the last instance (so a host that unloads the library
//! after `cleanup` gets its memory back); each channel owns its own [`dfn4::denoiser::Denoiser`].
#![deny(missing_docs)]

use std::sync::{Arc, Mutex, PoisonError, Weak};

use dfn4::backend::registry::{self, ModelSource};
use dfn4::backend::{default_backend, AnyBackend};

pub mod engine;
pub mod ladspa;
pub mod lv2;

/// The backend every live instance of this process shares (`None` if it could not be built).
///
/// Held weakly: it lives as long as some instance (some returned `Arc`) holds it and is built again by
/// the next call after the last one is gone. A static that owned it would never be freed, and each
/// dlopen → instantiate → cleanup → dlclose cycle of a host would leak a copy of the weights.
/// Called from `instantiate` (never from `run`): the lock and the build are not real-time safe.
pub fn shared_backend() -> Option<Arc<AnyBackend>> {
    static BACKEND: Mutex<Weak<AnyBackend>> = Mutex::new(Weak::new());
    let mut slot = BACKEND.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(backend) = slot.upgrade() {
        return Some(backend);
    }
    let backend = Arc::new(registry::create(default_backend(), ModelSource::Embedded).ok()?);
    *slot = Arc::downgrade(&backend);
    Some(backend)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfn4::backend::Backend;

    #[test]
    fn the_backend_is_shared_while_held_and_freed_with_the_last_holder() {
        let a = shared_backend().expect("the default backend builds");
        let b = shared_backend().expect("the default backend builds");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.name(), registry::default_backend());
        let weak = Arc::downgrade(&a);
        drop((a, b));
        assert!(
            weak.upgrade().is_none(),
            "the backend outlived its last holder"
        );
        assert!(shared_backend().is_some(), "built again on demand");
    }
}
