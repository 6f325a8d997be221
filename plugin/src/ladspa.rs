//! The LADSPA 1.1 ABI, written by hand (the C header's structs, `ladspa_descriptor`): two plugins,
//! `dfn4_mono` (1 in, 1 out) and `dfn4_stereo` (2 in, 2 out, one denoiser per channel), each with the
//! control inputs "Attenuation limit (dB)" and "Bypass" and the control output "latency" (the delay in
//! samples at the host rate, the LADSPA convention).
//!
//! `run` copies the host's buffers through a fixed scratch (so in-place and crossed buffers are safe),
//! flushes denormals to zero for its duration, and never allocates, locks, logs or blocks.
use std::ffi::{c_char, c_int, c_ulong, c_void, CStr};
use std::ptr;

use crate::engine::Channel;
/// Flush-to-zero for `run`'s duration, the host's mode restored after (the library's host glue; also
/// what the plugin's tests and the PipeWire check measure under).
pub use dfn4::host::DenormalGuard;

/// `LADSPA_Data`.
pub type Data = f32;
pub(crate) type Handle = *mut c_void;

const PORT_INPUT: c_int = 0x1;
const PORT_OUTPUT: c_int = 0x2;
const PORT_CONTROL: c_int = 0x4;
const PORT_AUDIO: c_int = 0x8;
const HINT_BOUNDED_BELOW: c_int = 0x1;
const HINT_BOUNDED_ABOVE: c_int = 0x2;
const HINT_TOGGLED: c_int = 0x4;
const HINT_DEFAULT_MAXIMUM: c_int = 0x140;
const HINT_DEFAULT_0: c_int = 0x200;
const PROPERTY_HARD_RT_CAPABLE: c_int = 0x4;

/// Unique IDs of the two plugins (unregistered, outside the ranges listed at ladspa.org).
pub const MONO_ID: c_ulong = 0x00D4_F401;
/// See [`MONO_ID`].
pub const STEREO_ID: c_ulong = 0x00D4_F402;

/// The attenuation limit's default: 100 dB and above mean unlimited.
pub const ATTEN_DEFAULT_DB: f32 = 100.0;

/// Samples per channel copied through the scratch at a time.
const SCRATCH_SAMPLES: usize = 1024;
const MAX_CHANNELS: usize = 2;
const MAX_PORTS: usize = 2 * MAX_CHANNELS + 3;

/// `LADSPA_PortRangeHint`.
#[repr(C)]
#[derive(Debug)]
pub struct PortRangeHint {
    /// `HintDescriptor`.
    pub hint_descriptor: c_int,
    /// `LowerBound`.
    pub lower_bound: Data,
    /// `UpperBound`.
    pub upper_bound: Data,
}

/// `LADSPA_Descriptor`.
#[repr(C)]
#[derive(Debug)]
pub struct Descriptor {
    /// `UniqueID`.
    pub unique_id: c_ulong,
    /// `Label`.
    pub label: *const c_char,
    /// `Properties`.
    pub properties: c_int,
    /// `Name`.
    pub name: *const c_char,
    /// `Maker`.
    pub maker: *const c_char,
    /// `Copyright`.
    pub copyright: *const c_char,
    /// `PortCount`.
    pub port_count: c_ulong,
    /// `PortDescriptors`.
    pub port_descriptors: *const c_int,
    /// `PortNames`.
    pub port_names: *const *const c_char,
    /// `PortRangeHints`.
    pub port_range_hints: *const PortRangeHint,
    /// `ImplementationData`.
    pub implementation_data: *mut c_void,
    /// `instantiate`.
    pub instantiate: Option<unsafe extern "C" fn(*const Descriptor, c_ulong) -> Handle>,
    /// `connect_port`.
    pub connect_port: Option<unsafe extern "C" fn(Handle, c_ulong, *mut Data)>,
    /// `activate`.
    pub activate: Option<unsafe extern "C" fn(Handle)>,
    /// `run`.
    pub run: Option<unsafe extern "C" fn(Handle, c_ulong)>,
    /// `run_adding` (not provided).
    pub run_adding: Option<unsafe extern "C" fn(Handle, c_ulong)>,
    /// `set_run_adding_gain` (not provided).
    pub set_run_adding_gain: Option<unsafe extern "C" fn(Handle, Data)>,
    /// `deactivate`.
    pub deactivate: Option<unsafe extern "C" fn(Handle)>,
    /// `cleanup`.
    pub cleanup: Option<unsafe extern "C" fn(Handle)>,
}

/// Static data holding raw pointers to other static data (never written).
#[repr(transparent)]
struct Shared<T>(T);
// SAFETY: the wrapped values are immutable statics whose pointers lead only to other immutable statics.
unsafe impl<T> Sync for Shared<T> {}

const ATTEN_HINT: PortRangeHint = PortRangeHint {
    hint_descriptor: HINT_BOUNDED_BELOW | HINT_BOUNDED_ABOVE | HINT_DEFAULT_MAXIMUM,
    lower_bound: 0.0,
    upper_bound: ATTEN_DEFAULT_DB,
};
const BYPASS_HINT: PortRangeHint = PortRangeHint {
    hint_descriptor: HINT_TOGGLED | HINT_DEFAULT_0,
    lower_bound: 0.0,
    upper_bound: 1.0,
};
const LATENCY_HINT: PortRangeHint = PortRangeHint {
    hint_descriptor: HINT_BOUNDED_BELOW,
    lower_bound: 0.0,
    upper_bound: 0.0,
};
const AUDIO_HINT: PortRangeHint = PortRangeHint {
    hint_descriptor: 0,
    lower_bound: 0.0,
    upper_bound: 0.0,
};
const AUDIO_IN: c_int = PORT_INPUT | PORT_AUDIO;
const AUDIO_OUT: c_int = PORT_OUTPUT | PORT_AUDIO;
const CONTROL_IN: c_int = PORT_INPUT | PORT_CONTROL;
const CONTROL_OUT: c_int = PORT_OUTPUT | PORT_CONTROL;
const ATTEN_NAME: &CStr = c"Attenuation limit (dB)";
const BYPASS_NAME: &CStr = c"Bypass";
const LATENCY_NAME: &CStr = c"latency";

static MONO_PORTS: [c_int; 5] = [AUDIO_IN, AUDIO_OUT, CONTROL_IN, CONTROL_IN, CONTROL_OUT];
static MONO_NAMES: Shared<[*const c_char; 5]> = Shared([
    c"Input".as_ptr(),
    c"Output".as_ptr(),
    ATTEN_NAME.as_ptr(),
    BYPASS_NAME.as_ptr(),
    LATENCY_NAME.as_ptr(),
]);
static MONO_HINTS: [PortRangeHint; 5] = [
    AUDIO_HINT,
    AUDIO_HINT,
    ATTEN_HINT,
    BYPASS_HINT,
    LATENCY_HINT,
];
static STEREO_PORTS: [c_int; 7] = [
    AUDIO_IN,
    AUDIO_IN,
    AUDIO_OUT,
    AUDIO_OUT,
    CONTROL_IN,
    CONTROL_IN,
    CONTROL_OUT,
];
static STEREO_NAMES: Shared<[*const c_char; 7]> = Shared([
    c"Input L".as_ptr(),
    c"Input R".as_ptr(),
    c"Output L".as_ptr(),
    c"Output R".as_ptr(),
    ATTEN_NAME.as_ptr(),
    BYPASS_NAME.as_ptr(),
    LATENCY_NAME.as_ptr(),
]);
static STEREO_HINTS: [PortRangeHint; 7] = [
    AUDIO_HINT,
    AUDIO_HINT,
    AUDIO_HINT,
    AUDIO_HINT,
    ATTEN_HINT,
    BYPASS_HINT,
    LATENCY_HINT,
];

const fn descriptor(
    unique_id: c_ulong,
    label: &'static CStr,
    name: &'static CStr,
    ports: &'static [c_int],
    names: *const *const c_char,
    hints: &'static [PortRangeHint],
) -> Descriptor {
    Descriptor {
        unique_id,
        label: label.as_ptr(),
        properties: PROPERTY_HARD_RT_CAPABLE,
        name: name.as_ptr(),
        maker: c"dfn4".as_ptr(),
        copyright: c"MIT OR Apache-2.0".as_ptr(),
        port_count: ports.len() as c_ulong,
        port_descriptors: ports.as_ptr(),
        port_names: names,
        port_range_hints: hints.as_ptr(),
        implementation_data: ptr::null_mut(),
        instantiate: Some(instantiate),
        connect_port: Some(connect_port),
        activate: Some(activate),
        run: Some(run),
        run_adding: None,
        set_run_adding_gain: None,
        deactivate: None,
        cleanup: Some(cleanup),
    }
}

static MONO: Shared<Descriptor> = Shared(descriptor(
    MONO_ID,
    c"dfn4_mono",
    c"dfn4 speech denoiser (mono)",
    &MONO_PORTS,
    &MONO_NAMES.0 as *const [*const c_char; 5] as *const *const c_char,
    &MONO_HINTS,
));
static STEREO: Shared<Descriptor> = Shared(descriptor(
    STEREO_ID,
    c"dfn4_stereo",
    c"dfn4 speech denoiser (stereo)",
    &STEREO_PORTS,
    &STEREO_NAMES.0 as *const [*const c_char; 7] as *const *const c_char,
    &STEREO_HINTS,
));

/// The LADSPA entry point: descriptor `index` (0 = mono, 1 = stereo), null past the last.
#[unsafe(no_mangle)]
pub extern "C" fn ladspa_descriptor(index: c_ulong) -> *const Descriptor {
    match index {
        0 => &MONO.0,
        1 => &STEREO.0,
        _ => ptr::null(),
    }
}

/// One plugin instance: its channels, the host's port pointers and the scratch `run` copies through.
struct Instance {
    channels: Vec<Channel>,
    ports: [*mut Data; MAX_PORTS],
    scratch: Vec<[Data; SCRATCH_SAMPLES]>,
    latency: Data,
}

impl Instance {
    fn nb_channels(&self) -> usize {
        self.channels.len()
    }
    fn atten_port(&self) -> usize {
        2 * self.nb_channels()
    }
    fn bypass_port(&self) -> usize {
        2 * self.nb_channels() + 1
    }
    fn latency_port(&self) -> usize {
        2 * self.nb_channels() + 2
    }

    /// Called from `run` only: LADSPA and LV2 define port data only for the duration of `run`.
    fn write_latency(&self) {
        let p = self.ports[self.latency_port()];
        if !p.is_null() {
            // SAFETY: the host connected this port to a valid `LADSPA_Data` location; nothing in the
            // ABI promises it is aligned.
            unsafe { p.write_unaligned(self.latency) };
        }
    }

    fn control(&self, port: usize, default: Data) -> Data {
        let p = self.ports[port];
        if p.is_null() {
            default
        } else {
            // SAFETY: as above.
            unsafe { p.read_unaligned() }
        }
    }
}

unsafe extern "C" fn instantiate(descriptor: *const Descriptor, rate_hz: c_ulong) -> Handle {
    if descriptor.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: the host passes one of our descriptors.
    let nb_channels = match unsafe { (*descriptor).unique_id } {
        MONO_ID => 1,
        STEREO_ID => 2,
        _ => return ptr::null_mut(),
    };
    let Ok(rate_hz) = u32::try_from(rate_hz) else {
        return ptr::null_mut();
    };
    new_instance(nb_channels, rate_hz)
}

/// A new instance of `nb_channels` (1 or 2) at `rate_hz`, as a host handle (null on failure). Shared by
/// the LADSPA and LV2 entry points, which have the same ports in the same order.
pub(crate) fn new_instance(nb_channels: usize, rate_hz: u32) -> Handle {
    // Refused before anything is built (the backend, resamplers sized by the rate).
    if dfn4::config::check_format(rate_hz, nb_channels).is_err() {
        return ptr::null_mut();
    }
    let Some(backend) = crate::shared_backend() else {
        return ptr::null_mut();
    };
    let mut channels = Vec::with_capacity(nb_channels);
    for _ in 0..nb_channels {
        match Channel::new(backend.clone(), rate_hz) {
            Ok(c) => channels.push(c),
            Err(_) => return ptr::null_mut(),
        }
    }
    let latency = channels[0].latency_samples() as Data;
    let instance = Box::new(Instance {
        channels,
        ports: [ptr::null_mut(); MAX_PORTS],
        scratch: vec![[0.0; SCRATCH_SAMPLES]; nb_channels],
        latency,
    });
    Box::into_raw(instance).cast()
}

// Every entry point below does nothing on a NULL handle (a host bug, but the host's crash otherwise),
// and none can panic on host input: a panic cannot unwind through `extern "C"` and would abort the host.

pub(crate) unsafe extern "C" fn connect_port(handle: Handle, port: c_ulong, data: *mut Data) {
    // SAFETY: a non-null `handle` came from `instantiate` and the host does not call us concurrently
    // on it.
    let Some(instance) = (unsafe { handle.cast::<Instance>().as_mut() }) else {
        return;
    };
    // Only remembered: the location is written (latency) and read (controls) in `run`.
    if let Some(slot) = usize::try_from(port)
        .ok()
        .filter(|&p| p <= instance.latency_port())
        .and_then(|p| instance.ports.get_mut(p))
    {
        *slot = data;
    }
}

pub(crate) unsafe extern "C" fn activate(handle: Handle) {
    // SAFETY: as in `connect_port`.
    let Some(instance) = (unsafe { handle.cast::<Instance>().as_mut() }) else {
        return;
    };
    for c in &mut instance.channels {
        c.reset();
    }
}

pub(crate) unsafe extern "C" fn run(handle: Handle, sample_count: c_ulong) {
    // SAFETY: as in `connect_port`.
    let Some(instance) = (unsafe { handle.cast::<Instance>().as_mut() }) else {
        return;
    };
    let _denormals = DenormalGuard::new();
    let atten_db = instance.control(instance.atten_port(), ATTEN_DEFAULT_DB);
    let bypass = instance.control(instance.bypass_port(), 0.0) > 0.0;
    let nb = instance.nb_channels();
    for c in &mut instance.channels {
        c.set_controls(atten_db, bypass);
    }
    let total = usize::try_from(sample_count).unwrap_or(usize::MAX);
    let mut done = 0;
    while done < total {
        let n = SCRATCH_SAMPLES.min(total - done);
        // Every input first, then every output: safe whatever buffers the host shares.
        for (c, scratch) in instance.scratch.iter_mut().enumerate() {
            let input = instance.ports[c];
            if input.is_null() {
                scratch[..n].fill(0.0);
            } else {
                // SAFETY: the host connected `sample_count` valid samples; `done + n <= sample_count`.
                let src = unsafe { std::slice::from_raw_parts(input.add(done), n) };
                scratch[..n].copy_from_slice(src);
            }
        }
        for (c, (channel, scratch)) in instance
            .channels
            .iter_mut()
            .zip(instance.scratch.iter_mut())
            .enumerate()
        {
            channel.process(&mut scratch[..n]);
            let output = instance.ports[nb + c];
            if !output.is_null() {
                // SAFETY: as above, for the output buffer.
                let dst = unsafe { std::slice::from_raw_parts_mut(output.add(done), n) };
                dst.copy_from_slice(&scratch[..n]);
            }
        }
        done += n;
    }
    instance.write_latency();
}

pub(crate) unsafe extern "C" fn cleanup(handle: Handle) {
    if !handle.is_null() {
        // SAFETY: `handle` came from `Box::into_raw` in `instantiate` and is not used after this.
        drop(unsafe { Box::from_raw(handle.cast::<Instance>()) });
    }
}
