//! The LV2 ABI (`lv2_descriptor`), written by hand: the same two plugins as [`crate::ladspa`], with the
//! same ports in the same order, described by the bundle's `dfn4.ttl` (`plugin/lv2/dfn4.lv2/`). The
//! latency port has `lv2:reportsLatency`. The instance and `run` are the LADSPA ones.
use std::ffi::{c_char, c_void, CStr};
use std::ptr;

use crate::ladspa::{self, Data, Handle};

/// URI of the mono plugin (as in `dfn4.ttl`).
pub const MONO_URI: &CStr = c"urn:dfn4:plugin:mono";
/// URI of the stereo plugin.
pub const STEREO_URI: &CStr = c"urn:dfn4:plugin:stereo";

/// `LV2_Descriptor`.
#[repr(C)]
#[derive(Debug)]
pub struct Descriptor {
    /// `URI`.
    pub uri: *const c_char,
    /// `instantiate`.
    pub instantiate: Option<
        unsafe extern "C" fn(*const Descriptor, f64, *const c_char, *const *const c_void) -> Handle,
    >,
    /// `connect_port`.
    pub connect_port: Option<unsafe extern "C" fn(Handle, u32, *mut c_void)>,
    /// `activate`.
    pub activate: Option<unsafe extern "C" fn(Handle)>,
    /// `run`.
    pub run: Option<unsafe extern "C" fn(Handle, u32)>,
    /// `deactivate` (none).
    pub deactivate: Option<unsafe extern "C" fn(Handle)>,
    /// `cleanup`.
    pub cleanup: Option<unsafe extern "C" fn(Handle)>,
    /// `extension_data`.
    pub extension_data: Option<unsafe extern "C" fn(*const c_char) -> *const c_void>,
}

#[repr(transparent)]
struct Shared(Descriptor);
// SAFETY: immutable statics pointing only to other immutable statics.
unsafe impl Sync for Shared {}

const fn descriptor(uri: &'static CStr) -> Descriptor {
    Descriptor {
        uri: uri.as_ptr(),
        instantiate: Some(instantiate),
        connect_port: Some(connect_port),
        activate: Some(ladspa::activate),
        run: Some(run),
        deactivate: None,
        cleanup: Some(ladspa::cleanup),
        extension_data: Some(extension_data),
    }
}

static MONO: Shared = Shared(descriptor(MONO_URI));
static STEREO: Shared = Shared(descriptor(STEREO_URI));

/// The LV2 entry point: descriptor `index` (0 = mono, 1 = stereo), null past the last.
#[unsafe(no_mangle)]
pub extern "C" fn lv2_descriptor(index: u32) -> *const Descriptor {
    match index {
        0 => &MONO.0,
        1 => &STEREO.0,
        _ => ptr::null(),
    }
}

unsafe extern "C" fn instantiate(
    descriptor: *const Descriptor,
    rate_hz: f64,
    _bundle_path: *const c_char,
    _features: *const *const c_void,
) -> Handle {
    let nb_channels = if ptr::eq(descriptor, &MONO.0) {
        1
    } else if ptr::eq(descriptor, &STEREO.0) {
        2
    } else {
        return ptr::null_mut();
    };
    if !(rate_hz >= 1.0 && rate_hz <= f64::from(u32::MAX)) {
        return ptr::null_mut();
    }
    ladspa::new_instance(nb_channels, rate_hz.round() as u32)
}

unsafe extern "C" fn connect_port(handle: Handle, port: u32, data: *mut c_void) {
    // SAFETY: same contract as LADSPA's connect_port.
    unsafe { ladspa::connect_port(handle, port.into(), data.cast::<Data>()) }
}

unsafe extern "C" fn run(handle: Handle, sample_count: u32) {
    // SAFETY: same contract as LADSPA's run.
    unsafe { ladspa::run(handle, sample_count.into()) }
}

unsafe extern "C" fn extension_data(_uri: *const c_char) -> *const c_void {
    ptr::null()
}
