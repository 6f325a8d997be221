//! The plugin's host contract as a hostile host would exercise it (the `plugin_host` fuzz target), shared
//! with the plain `cargo test` that replays the committed corpus in the plugin crate
//! (plugin/tests/fuzz_seeds.rs). Everything goes through the public C ABI: `ladspa_descriptor` or
//! `lv2_descriptor` → `instantiate` → `connect_port` → `activate` → `run` … → `cleanup`.
use std::ffi::{c_ulong, c_void};
use std::ptr;
use std::sync::{Arc, OnceLock};

use dfn4::backend::AnyBackend;

use dfn4::config::{MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ};
use dfn4::dsp::sanitize::sanitize_sample;
use dfn4_plugin::ladspa::{self, Data};
use dfn4_plugin::lv2;

#[path = "input.rs"]
#[allow(dead_code)] // each check uses part of the cursor, the seeds the writer
pub mod input;
use input::Input;

/// The largest block [`Input::block_frames`] asks for, plus one: every buffer the host connects.
const MAX_BLOCK: usize = 1 << 14;
/// Audio per input, in seconds at the host rate: tens of hops, so a run stays near 0.1 s.
const MAX_SECONDS: f64 = 0.5;
/// Steps (runs, control changes, re-activations, re-wirings) per input.
const MAX_STEPS: usize = 512;
/// The latency a host may be told, at most. Rates in use get 20–50 ms (abi_hygiene.rs). The first run
/// of this target found 101 ms at 1,499 Hz, and a sweep found up to 518 ms (1,096 Hz; 391 ms at
/// 30,261 Hz, 308 ms at 48,006 Hz): the way back approximated its ratio on its own, so the two block
/// patterns repeated rarely. With the exact inverse on the way back and a 0.2 % ratio tolerance the
/// same sweep's worst is 74 ms (7,199 Hz); 100 ms is the bound.
const MAX_LATENCY_S: f64 = 0.1;

/// Rates hosts use, and the ones near 48 kHz whose resampler ratio is awkward.
const COMMON_RATES: [u32; 18] = [
    8_000, 11_025, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 88_200, 96_000, 176_400,
    192_000, 384_000, 768_000, 1_000, 44_101, 47_999, 48_001,
];
/// LADSPA rates that must be refused or taken exactly (`c_ulong` is 64 bits: 2^32 + 48,000 must not
/// be read as 48,000).
const SPECIAL_LADSPA_RATES: [c_ulong; 10] = [
    0,
    1,
    999,
    768_001,
    u32::MAX as c_ulong,
    (1 << 32) + 48_000,
    c_ulong::MAX,
    1 << 32,
    1_000,
    768_000,
];
/// LV2 rates (a `double`): non-finite, negative, fractional at the ends of the range, beyond `u32`.
const SPECIAL_LV2_RATES: [f64; 14] = [
    f64::NAN,
    -0.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.5,
    1e300,
    4_294_967_295.0,
    4_294_967_296.0,
    999.499_9,
    999.5,
    768_000.499_9,
    768_000.5,
    -48_000.0,
    44_100.25,
];

/// The ABI an instance is driven through (same ports in the same order).
#[derive(Clone, Copy)]
enum Abi {
    Ladspa(&'static ladspa::Descriptor),
    Lv2(&'static lv2::Descriptor),
}

/// The rate handed to `instantiate`, in the ABI's own type.
#[derive(Clone, Copy, Debug)]
enum Rate {
    Ladspa(c_ulong),
    Lv2(f64),
}

impl Rate {
    /// The host rate the plugin must run at, or `None` where `instantiate` must return NULL: LADSPA
    /// takes the integer as it is, LV2 rounds the `double`; both accept the library's range only.
    fn expected_hz(self) -> Option<u32> {
        let range = u64::from(MIN_SAMPLE_RATE_HZ)..=u64::from(MAX_SAMPLE_RATE_HZ);
        let hz = match self {
            Rate::Ladspa(r) => r,
            Rate::Lv2(r) if r >= 1.0 && r <= f64::from(u32::MAX) => r.round() as u64,
            Rate::Lv2(_) => return None,
        };
        range.contains(&hz).then_some(hz as u32)
    }
}

impl Abi {
    fn new(lv2: bool, index: u32) -> Self {
        // SAFETY: both entry points return a pointer to a static descriptor for indices 0 and 1.
        unsafe {
            if lv2 {
                Abi::Lv2(&*lv2::lv2_descriptor(index))
            } else {
                Abi::Ladspa(&*ladspa::ladspa_descriptor(c_ulong::from(index)))
            }
        }
    }

    // SAFETY (every method below): called as the ABI prescribes, with a handle from `instantiate` (or
    // NULL, which the plugin must ignore) and buffers that outlive the calls that use them.

    unsafe fn instantiate(self, rate: Rate) -> *mut c_void {
        match (self, rate) {
            (Abi::Ladspa(d), Rate::Ladspa(r)) => unsafe { (d.instantiate.unwrap())(d, r) },
            (Abi::Lv2(d), Rate::Lv2(r)) => unsafe {
                (d.instantiate.unwrap())(d, r, c"/nonexistent/".as_ptr(), ptr::null())
            },
            _ => unreachable!("rate of the other ABI"),
        }
    }

    unsafe fn connect(self, handle: *mut c_void, port: u32, data: *mut Data) {
        match self {
            Abi::Ladspa(d) => unsafe { (d.connect_port.unwrap())(handle, port.into(), data) },
            Abi::Lv2(d) => unsafe { (d.connect_port.unwrap())(handle, port, data.cast()) },
        }
    }

    /// A host's re-activation: `deactivate` where the plugin has one, then `activate`.
    unsafe fn reactivate(self, handle: *mut c_void) {
        match self {
            Abi::Ladspa(d) => unsafe {
                if let Some(deactivate) = d.deactivate {
                    deactivate(handle);
                }
                (d.activate.unwrap())(handle)
            },
            Abi::Lv2(d) => unsafe {
                if let Some(deactivate) = d.deactivate {
                    deactivate(handle);
                }
                (d.activate.unwrap())(handle)
            },
        }
    }

    unsafe fn run(self, handle: *mut c_void, frames: usize) {
        match self {
            Abi::Ladspa(d) => unsafe { (d.run.unwrap())(handle, frames as c_ulong) },
            Abi::Lv2(d) => unsafe { (d.run.unwrap())(handle, frames as u32) },
        }
    }

    unsafe fn cleanup(self, handle: *mut c_void) {
        match self {
            Abi::Ladspa(d) => unsafe { (d.cleanup.unwrap())(handle) },
            Abi::Lv2(d) => unsafe { (d.cleanup.unwrap())(handle) },
        }
    }
}

/// What the host does, parsed from the bytes before anything runs (so the reference instance is only
/// built when some sample needs repair).
enum Step {
    /// `run` with these input samples (one block per channel).
    Run(Vec<Vec<f32>>),
    /// New values at the two control inputs (attenuation limit, bypass).
    Controls(f32, f32),
    /// `deactivate` (if any) and `activate`.
    Reactivate,
    /// `connect_port` again, with the wiring of [`Wiring::from_byte`].
    Rewire(u8),
}

/// How the ports are connected: some left NULL, outputs in place or crossed, a port index past the
/// last one connected to a sentinel (which the plugin must ignore).
#[derive(Clone, Copy)]
struct Wiring {
    inputs: bool,
    outputs: bool,
    controls: bool,
    latency: bool,
    /// 0: separate buffers; 1: each output on its own input; 2: output c on input `nb − 1 − c`.
    layout: u8,
    stray: bool,
}

impl Wiring {
    /// Bits 0–3 leave inputs, outputs, controls or latency NULL (each rare in practice, so all four
    /// only when the top bit is also set), bits 4–5 the layout, bit 6 the stray port.
    fn from_byte(b: u8) -> Self {
        let nulls = if b & 0x80 != 0 { b & 0xf } else { 0 };
        Self {
            inputs: nulls & 1 == 0,
            outputs: nulls & 2 == 0,
            controls: nulls & 4 == 0,
            latency: nulls & 8 == 0,
            layout: (b >> 4) & 3,
            stray: b & 0x40 != 0,
        }
    }

    /// The input buffer output `c` is written to, if not its own buffer.
    fn output_buffer(self, c: usize, nb: usize) -> Option<usize> {
        match self.layout {
            1 => Some(c),
            2 => Some(nb - 1 - c),
            _ => None,
        }
    }
}

/// One instance and every buffer its ports point to (boxed: the addresses stay put).
struct Host {
    abi: Abi,
    handle: *mut c_void,
    nb: usize,
    inputs: Vec<Box<[Data]>>,
    outputs: Vec<Box<[Data]>>,
    atten: Box<Data>,
    bypass: Box<Data>,
    latency: Box<Data>,
    stray: Box<Data>,
    wiring: Wiring,
}

const STRAY_SENTINEL: Data = -12_345.0;
const LATENCY_UNSET: Data = -1.0;

impl Host {
    fn new(abi: Abi, handle: *mut c_void, nb: usize, atten: Data, bypass: Data) -> Self {
        Self {
            abi,
            handle,
            nb,
            inputs: (0..nb).map(|_| vec![0.0; MAX_BLOCK].into()).collect(),
            outputs: (0..nb).map(|_| vec![0.0; MAX_BLOCK].into()).collect(),
            atten: Box::new(atten),
            bypass: Box::new(bypass),
            latency: Box::new(LATENCY_UNSET),
            stray: Box::new(STRAY_SENTINEL),
            wiring: Wiring::from_byte(0),
        }
    }

    fn wire(&mut self, wiring: Wiring) {
        self.wiring = wiring;
        let nb = self.nb;
        let or_null = |connected: bool, p: *mut Data| if connected { p } else { ptr::null_mut() };
        // SAFETY: see `Abi`; every buffer holds MAX_BLOCK samples and lives as long as the instance.
        unsafe {
            for c in 0..nb {
                let input = self.inputs[c].as_mut_ptr();
                self.abi
                    .connect(self.handle, c as u32, or_null(wiring.inputs, input));
                let output = match wiring.output_buffer(c, nb) {
                    Some(i) => self.inputs[i].as_mut_ptr(),
                    None => self.outputs[c].as_mut_ptr(),
                };
                self.abi.connect(
                    self.handle,
                    (nb + c) as u32,
                    or_null(wiring.outputs, output),
                );
            }
            let (atten, bypass, latency) = (
                &mut *self.atten as *mut Data,
                &mut *self.bypass as *mut Data,
                &mut *self.latency as *mut Data,
            );
            self.abi
                .connect(self.handle, 2 * nb as u32, or_null(wiring.controls, atten));
            self.abi.connect(
                self.handle,
                2 * nb as u32 + 1,
                or_null(wiring.controls, bypass),
            );
            self.abi.connect(
                self.handle,
                2 * nb as u32 + 2,
                or_null(wiring.latency, latency),
            );
            if wiring.stray {
                let stray = &mut *self.stray as *mut Data;
                self.abi.connect(self.handle, 2 * nb as u32 + 3, stray);
                self.abi.connect(self.handle, u32::MAX, stray);
            }
        }
    }

    /// Runs one block.
    fn run(&mut self, block: &[Vec<f32>]) {
        let n = block[0].len();
        for (buf, x) in self.inputs.iter_mut().zip(block) {
            buf[..n].copy_from_slice(x);
        }
        // SAFETY: see `Abi`; `n` < MAX_BLOCK.
        unsafe { self.abi.run(self.handle, n) };
        assert_eq!(
            *self.stray, STRAY_SENTINEL,
            "a port past the last was written"
        );
    }

    /// The first `n` samples of each connected output port.
    fn outputs(&self, n: usize) -> Vec<Option<&[Data]>> {
        (0..self.nb)
            .map(|c| {
                self.wiring
                    .outputs
                    .then(|| match self.wiring.output_buffer(c, self.nb) {
                        Some(i) => &self.inputs[i][..n],
                        None => &self.outputs[c][..n],
                    })
            })
            .collect()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // SAFETY: see `Abi`; the handle is not used after this.
        unsafe { self.abi.cleanup(self.handle) };
    }
}

/// Keeps the plugin's shared backend (the embedded model) alive for the rest of the process, as a
/// host with another instance open would. Without it every input parses the weights again when its
/// first instance is created and frees them with its last (the ABI contract, tested by
/// plugin/tests/dlopen_cycles.rs), which would dominate the time per input.
pub fn hold_shared_backend() {
    static HELD: OnceLock<Option<Arc<AnyBackend>>> = OnceLock::new();
    HELD.get_or_init(dfn4_plugin::shared_backend);
}

/// Drives one instance as the bytes say. The layout: a flags byte (bit 0 stereo, bit 1 LV2 instead of
/// LADSPA, bits 2–3 how the rate is picked, bit 4 no `activate` before the first `run`), the rate, the
/// initial control values and wiring, then steps until the bytes, [`MAX_STEPS`] or [`MAX_SECONDS`] of
/// audio run out.
///
/// Must hold: `instantiate` returns NULL exactly for rates outside the library's range; nothing
/// panics (an abort across `extern "C"`); every output sample is finite; the latency port, written by
/// every `run`, holds one positive whole number of samples under [`MAX_LATENCY_S`]; and when some
/// input samples are not audio (NaN, ±Inf, beyond ±1000), the output is bit for bit that of a second
/// instance fed the same input repaired by the library's rule (`sanitize_sample`): a bad sample costs
/// exactly what a zero (or a clamped sample) would, and the denoiser is back at once, not after a
/// re-activation. Returns whether an instance was created and run.
pub fn plugin_host(data: &[u8]) -> bool {
    let mut input = Input::new(data);
    let flags = input.u8_or_0();
    let nb = 1 + usize::from(flags & 1);
    let lv2 = flags & 2 != 0;
    let abi = Abi::new(lv2, nb as u32 - 1);
    let rate = pick_rate(&mut input, lv2, (flags >> 2) & 3);
    let expected_hz = rate.expected_hz();

    // SAFETY: see `Abi`.
    let handle = unsafe { abi.instantiate(rate) };
    let Some(rate_hz) = expected_hz else {
        if !handle.is_null() {
            // SAFETY: as above.
            unsafe { abi.cleanup(handle) };
            panic!("instantiate accepted {rate:?}");
        }
        return false;
    };
    assert!(!handle.is_null(), "instantiate refused {rate:?}");

    let (atten, bypass) = (input.control(), input.control());
    let wiring = input.u8_or_0();
    let max_frames = (f64::from(rate_hz) * MAX_SECONDS) as usize;
    let steps = plan(&mut input, nb, max_frames);
    let needs_repair = steps.iter().any(|s| match s {
        Step::Run(block) => block.iter().flatten().any(|&x| sanitize_sample(x) != x),
        _ => false,
    });

    let mut host = Host::new(abi, handle, nb, atten, bypass);
    // The reference: the same host, fed the repaired samples.
    let mut reference = needs_repair.then(|| {
        // SAFETY: see `Abi`.
        let handle = unsafe { abi.instantiate(rate) };
        assert!(!handle.is_null(), "a second instance at {rate:?} refused");
        Host::new(abi, handle, nb, atten, bypass)
    });
    for h in std::iter::once(&mut host).chain(reference.as_mut()) {
        h.wire(Wiring::from_byte(wiring));
        if flags & 0x10 == 0 {
            // SAFETY: see `Abi`.
            unsafe { h.abi.reactivate(h.handle) };
        }
    }

    let mut latency = None;
    let max_latency = f64::from(rate_hz) * MAX_LATENCY_S;
    for step in &steps {
        match step {
            Step::Run(block) => {
                let n = block[0].len();
                host.run(block);
                if let Some(r) = reference.as_mut() {
                    let repaired: Vec<Vec<f32>> = block
                        .iter()
                        .map(|x| x.iter().map(|&v| sanitize_sample(v)).collect())
                        .collect();
                    r.run(&repaired);
                }
                let out = host.outputs(n);
                let repaired = reference.as_ref().map(|r| (r.outputs(n), *r.latency));
                for (c, y) in out.iter().enumerate() {
                    let Some(y) = y else { continue };
                    if let Some(t) = y.iter().position(|v| !v.is_finite()) {
                        panic!(
                            "{rate_hz} Hz: output {c} sample {t} of {} is {}",
                            y.len(),
                            y[t]
                        );
                    }
                    if let Some((reference, _)) = &repaired {
                        let r = reference[c].expect("same wiring");
                        if let Some(t) = (0..y.len()).find(|&t| y[t].to_bits() != r[t].to_bits()) {
                            panic!(
                                "{rate_hz} Hz: output {c} sample {t} of {} is {} where the repaired input gives {}",
                                y.len(),
                                y[t],
                                r[t]
                            );
                        }
                    }
                }
                if host.wiring.latency {
                    let l = *host.latency;
                    assert!(
                        l.is_finite() && l > 0.0 && l.fract() == 0.0 && f64::from(l) < max_latency,
                        "{rate_hz} Hz: latency port {l}"
                    );
                    assert_eq!(
                        *latency.get_or_insert(l),
                        l,
                        "{rate_hz} Hz: latency changed"
                    );
                    if let Some((_, r)) = repaired {
                        assert_eq!(
                            r, l,
                            "{rate_hz} Hz: two instances report different latencies"
                        );
                    }
                }
            }
            &Step::Controls(atten, bypass) => {
                for h in std::iter::once(&mut host).chain(reference.as_mut()) {
                    (*h.atten, *h.bypass) = (atten, bypass);
                }
            }
            Step::Reactivate => {
                for h in std::iter::once(&mut host).chain(reference.as_mut()) {
                    // SAFETY: see `Abi`.
                    unsafe { h.abi.reactivate(h.handle) };
                }
            }
            &Step::Rewire(b) => {
                for h in std::iter::once(&mut host).chain(reference.as_mut()) {
                    h.wire(Wiring::from_byte(b));
                }
            }
        }
    }
    true
}

/// Bits 2–3 of the flags: 0 a rate hosts use, 1 any rate in the supported range (LV2: with a
/// fraction, so the range's ends round either way), 2 any bit pattern, 3 a known edge case.
fn pick_rate(input: &mut Input, lv2: bool, mode: u8) -> Rate {
    let span = MAX_SAMPLE_RATE_HZ - MIN_SAMPLE_RATE_HZ + 1;
    match (lv2, mode) {
        (false, 0) => Rate::Ladspa(pick(&COMMON_RATES, input.u8_or_0()).into()),
        (false, 1) => Rate::Ladspa((MIN_SAMPLE_RATE_HZ + input.u32_or_0() % span).into()),
        (false, 2) => Rate::Ladspa(input.u64_or_0() as c_ulong),
        (false, _) => Rate::Ladspa(pick(&SPECIAL_LADSPA_RATES, input.u8_or_0())),
        (true, 0) => Rate::Lv2(pick(&COMMON_RATES, input.u8_or_0()).into()),
        (true, 1) => Rate::Lv2(
            f64::from(MIN_SAMPLE_RATE_HZ + input.u32_or_0() % span)
                + f64::from(input.u8_or_0()) / 256.0
                - 0.5,
        ),
        (true, 2) => Rate::Lv2(f64::from_bits(input.u64_or_0())),
        (true, _) => Rate::Lv2(pick(&SPECIAL_LV2_RATES, input.u8_or_0())),
    }
}

fn pick<T: Copy>(table: &[T], b: u8) -> T {
    table[usize::from(b) % table.len()]
}

/// The steps after the set-up: each starts with a byte (0–4 run a block, 5 new control values,
/// 6 re-activate, 7 re-wire; modulo 8).
fn plan(input: &mut Input, nb: usize, max_frames: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut frames = 0usize;
    while steps.len() < MAX_STEPS && frames < max_frames {
        let Some(op) = input.u8() else { break };
        steps.push(match op % 8 {
            0..=4 => {
                let n = input.block_frames().min(max_frames - frames);
                frames += n.max(1); // empty runs count too, so the step cap is what bounds them
                let seed = u32::from(op) << 16 | steps.len() as u32;
                Step::Run(
                    (0..nb)
                        .map(|c| {
                            let mut x = vec![0.0; n];
                            input.signal(&mut x, seed ^ c as u32);
                            x
                        })
                        .collect(),
                )
            }
            5 => Step::Controls(input.control(), input.control()),
            6 => Step::Reactivate,
            _ => Step::Rewire(input.u8_or_0()),
        });
    }
    steps
}
