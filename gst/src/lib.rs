//! dfn4 as a GStreamer plugin (`libgstdfn4.so`, plugin `dfn4`) with one element, `dfn4denoise`: the
//! library's shared host glue ([`dfn4::host::HostStream`]) behind an in-place AudioFilter.
//!
//! - [`denoise`]: the element (caps, properties, latency, EOS drain, resets).
//! - [`shared_backend`]: one backend per registry name for all elements of a process.
//!
//! Found by GStreamer through `GST_PLUGIN_PATH` (the folder holding `libgstdfn4.so`); the tests register
//! it statically with [`plugin_register_static`].
#![deny(missing_docs)]

use std::sync::{Arc, Mutex, PoisonError, Weak};

use dfn4::backend::registry::{self, ModelSource};
use dfn4::backend::AnyBackend;
use gst::glib;

pub mod denoise;

/// The backend called `name` (a [`registry`] name, the embedded weights), shared by every element of
/// this process that uses it; an unknown name, one this build lacks or one whose device is missing is
/// the registry's one-line error.
///
/// Held weakly, as the LADSPA plugin's: the weights live while some element holds them and are built
/// again after the last one stops. Called when an element starts, never while it streams.
pub fn shared_backend(name: &str) -> dfn4::Result<Arc<AnyBackend>> {
    static BACKENDS: Mutex<Vec<(&'static str, Weak<AnyBackend>)>> = Mutex::new(Vec::new());
    let info = registry::lookup(name)?;
    let mut slots = BACKENDS.lock().unwrap_or_else(PoisonError::into_inner);
    slots.retain(|(_, weak)| weak.strong_count() > 0);
    if let Some(backend) = slots
        .iter()
        .find(|(n, _)| *n == info.name)
        .and_then(|(_, weak)| weak.upgrade())
    {
        return Ok(backend);
    }
    let backend = Arc::new(registry::create(info.name, ModelSource::Embedded)?);
    slots.push((info.name, Arc::downgrade(&backend)));
    Ok(backend)
}

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    denoise::register(plugin)
}

/// The plugin's descriptor (`gst_plugin_dfn4_get_desc`, what GStreamer loads) and
/// `plugin_register_static` (what the tests call); the macro's items carry no docs of their own.
#[allow(missing_docs)]
mod descriptor {
    use super::plugin_init;

    gst::plugin_define!(
        dfn4,
        env!("CARGO_PKG_DESCRIPTION"),
        plugin_init,
        env!("CARGO_PKG_VERSION"),
        // GStreamer knows licences by these names; the crate is MIT OR Apache-2.0.
        "MIT/X11",
        env!("CARGO_PKG_NAME"),
        "dfn4",
        "https://crates.io/crates/dfn4"
    );
}

pub use descriptor::plugin_register_static;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_shared_by_name_and_freed_with_the_last_holder() {
        let a = shared_backend("native").expect("native builds");
        let b = shared_backend("native").expect("native builds");
        assert!(Arc::ptr_eq(&a, &b));
        let weak = Arc::downgrade(&a);
        drop((a, b));
        assert!(weak.upgrade().is_none(), "the backend outlived its holders");
    }

    #[test]
    fn an_unknown_backend_is_the_registry_error() {
        let Err(err) = shared_backend("no-such") else {
            panic!("an unknown name built a backend");
        };
        let err = err.to_string();
        assert!(err.contains("unknown backend \"no-such\""), "{err}");
    }
}
