//! The C API called as C calls it (the extern functions, raw pointers): NULLs and bad sizes give error
//! codes, failed creates give NULL and a message, the output is the library's `HostStream` output bit
//! for bit whatever the block sizes or buffer aliasing, settings and reset behave, `process` never
//! touches the heap, and a panic inside any entry point comes back as `DFN4_ERR_PANIC`.
//! (A module of the library's test build: see `[lib]` in capi/Cargo.toml.)
use std::ffi::{c_int, CStr};
use std::path::Path;
use std::ptr;
use std::sync::Arc;

use dfn4::backend::default_backend;
use dfn4::backend::registry::{self, ModelSource};
use dfn4::host::HostStream;

use crate::error::panic_in_next_call;
use crate::*;

#[path = "../../tests/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::heap_events;

const OK: c_int = Dfn4Status::DFN4_OK as c_int;
const ERR_NULL: c_int = Dfn4Status::DFN4_ERR_NULL as c_int;
const ERR_SIZE: c_int = Dfn4Status::DFN4_ERR_SIZE as c_int;
const ERR_INVALID: c_int = Dfn4Status::DFN4_ERR_INVALID as c_int;
const ERR_PANIC: c_int = Dfn4Status::DFN4_ERR_PANIC as c_int;
const ERR_POISONED: c_int = Dfn4Status::DFN4_ERR_POISONED as c_int;

/// Odd block sizes, cycled (the C example uses the same kind of pattern).
const BLOCKS: &[usize] = &[1, 7, 480, 129, 1023, 2, 4099, 313];

/// A handle that is destroyed when the test ends, even when it fails.
struct Handle(*mut Dfn4Denoiser);

impl Handle {
    fn new(backend: Option<&CStr>, rate_hz: u32, channels: u32) -> Self {
        let name = backend.map_or(ptr::null(), CStr::as_ptr);
        // SAFETY: `name` is NULL or a C string.
        let h = unsafe { dfn4_denoiser_create(name, rate_hz, channels) };
        assert!(!h.is_null(), "create failed: {}", last_error());
        Self(h)
    }

    fn process(&self, input: &[f32], output: &mut [f32], frames: usize) -> c_int {
        // SAFETY: the slices hold `frames × channels` floats (the callers pass matching lengths).
        unsafe { dfn4_denoiser_process(self.0, input.as_ptr(), output.as_mut_ptr(), frames) }
    }

    fn process_in_place(&self, io: &mut [f32], channels: usize) -> c_int {
        let frames = io.len() / channels;
        let p = io.as_mut_ptr();
        // SAFETY: `p` holds `frames × channels` floats; input == output is allowed.
        unsafe { dfn4_denoiser_process(self.0, p, p, frames) }
    }

    fn latency(&self) -> usize {
        // SAFETY: a live handle.
        let n = unsafe { dfn4_denoiser_latency_samples(self.0) };
        usize::try_from(n).expect("a latency, not an error")
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by `Handle::new`, destroyed once.
        unsafe { dfn4_denoiser_destroy(self.0) }
    }
}

fn last_error() -> String {
    let p = dfn4_last_error();
    assert!(!p.is_null(), "no error message");
    // SAFETY: a NUL-terminated string valid until the next call on this thread.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn fixture(seconds: f32) -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/noisy_speech.wav");
    let mut reader = hound::WavReader::open(path).expect("assets/noisy_speech.wav");
    let n = (48_000.0 * seconds) as usize;
    reader
        .samples::<i16>()
        .take(n)
        .map(|s| f32::from(s.expect("a sample")) / 32768.0)
        .collect()
}

/// Two channels: the fixture and the fixture reversed at 0.7 (different content per channel).
fn stereo(seconds: f32) -> Vec<f32> {
    let a = fixture(seconds);
    a.iter()
        .zip(a.iter().rev())
        .flat_map(|(&l, &r)| [l, 0.7 * r])
        .collect()
}

/// `input` through the C API in blocks cycling through [`BLOCKS`], into a separate output buffer.
fn run_c(h: &Handle, input: &[f32], channels: usize) -> Vec<f32> {
    let mut out = vec![f32::NAN; input.len()];
    let mut pos = 0;
    for &n in BLOCKS.iter().cycle() {
        if pos >= input.len() {
            break;
        }
        let end = (pos + n * channels).min(input.len());
        let frames = (end - pos) / channels;
        assert_eq!(h.process(&input[pos..end], &mut out[pos..end], frames), OK);
        pos = end;
    }
    out
}

fn reference(
    rate_hz: u32,
    channels: usize,
    input: &[f32],
    setup: impl Fn(&mut HostStream),
) -> Vec<f32> {
    let backend = Arc::new(registry::create(default_backend(), ModelSource::Embedded).unwrap());
    let mut stream = HostStream::new(backend, rate_hz, channels).unwrap();
    setup(&mut stream);
    let mut out = input.to_vec();
    stream.process_interleaved(&mut out).unwrap();
    out
}

#[test]
fn null_handles_give_err_null_and_destroy_null_is_a_no_op() {
    let x = [0.0f32; 4];
    let mut y = [0.0f32; 4];
    let null = ptr::null_mut();
    // SAFETY: NULL handles are part of the contract.
    unsafe {
        assert_eq!(
            dfn4_denoiser_process(null, x.as_ptr(), y.as_mut_ptr(), 4),
            ERR_NULL
        );
        assert!(
            last_error().contains("dfn4_denoiser_process: the handle is NULL"),
            "{}",
            last_error()
        );
        assert_eq!(dfn4_denoiser_latency_samples(null), i64::from(ERR_NULL));
        assert_eq!(dfn4_denoiser_repaired_samples(null), i64::from(ERR_NULL));
        assert_eq!(dfn4_denoiser_set_atten_lim_db(null, 12.0), ERR_NULL);
        assert_eq!(dfn4_denoiser_set_post_filter(null, true), ERR_NULL);
        assert_eq!(dfn4_denoiser_set_bypass(null, true), ERR_NULL);
        assert_eq!(dfn4_denoiser_reset(null), ERR_NULL);
        assert!(last_error().starts_with("dfn4_denoiser_reset:"));
        dfn4_denoiser_destroy(null);
    }
}

#[test]
fn null_buffers_and_bad_sizes_give_error_codes_and_leave_the_output_untouched() {
    let h = Handle::new(None, 48_000, 2);
    let x = [0.25f32; 8];
    let mut y = [7.0f32; 8];
    // SAFETY: NULL buffers, impossible sizes and misaligned pointers are refused before any access.
    unsafe {
        assert_eq!(
            dfn4_denoiser_process(h.0, ptr::null(), y.as_mut_ptr(), 4),
            ERR_NULL
        );
        assert_eq!(
            dfn4_denoiser_process(h.0, x.as_ptr(), ptr::null_mut(), 4),
            ERR_NULL
        );
        assert!(last_error().contains("input or output is NULL"));
        // 2 × (usize::MAX / 2 + 1) overflows; usize::MAX / 8 frames fit in usize but not in memory.
        for frames in [usize::MAX, usize::MAX / 2 + 1, usize::MAX / 8] {
            assert_eq!(
                dfn4_denoiser_process(h.0, x.as_ptr(), y.as_mut_ptr(), frames),
                ERR_SIZE
            );
            assert!(
                last_error().contains("too many samples"),
                "{}",
                last_error()
            );
        }
        let misaligned = y.as_mut_ptr().cast::<u8>().add(1).cast::<f32>();
        assert_eq!(
            dfn4_denoiser_process(h.0, x.as_ptr(), misaligned, 2),
            ERR_SIZE
        );
        assert!(last_error().contains("not aligned"));
    }
    assert_eq!(y, [7.0; 8], "a refused call wrote to the output");
    // Zero frames is a valid (empty) call.
    assert_eq!(h.process(&x, &mut y, 0), OK);
}

#[test]
fn failed_creates_return_null_with_the_reason() {
    let cases: &[(Option<&CStr>, u32, u32, &[&str])] = &[
        (
            Some(c"nope"),
            48_000,
            1,
            &["unknown backend \"nope\"", "native-f16"],
        ),
        (Some(c"tch-cpu"), 48_000, 1, &["tch"]),
        (None, 0, 1, &["sample rate 0 Hz"]),
        (None, 999, 1, &["sample rate 999 Hz"]),
        (None, 768_001, 1, &["sample rate 768001 Hz"]),
        (None, 48_000, 0, &["0 channels"]),
        (None, 48_000, 257, &["257 channels"]),
        (Some(c"\xff\xfe"), 48_000, 1, &["not UTF-8"]),
    ];
    for (backend, rate_hz, channels, needles) in cases {
        let name = backend.map_or(ptr::null(), CStr::as_ptr);
        // SAFETY: `name` is NULL or a C string.
        let h = unsafe { dfn4_denoiser_create(name, *rate_hz, *channels) };
        assert!(h.is_null(), "{backend:?} {rate_hz} {channels} was accepted");
        let message = last_error();
        assert!(message.starts_with("dfn4_denoiser_create: "), "{message}");
        for needle in *needles {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
    }
    // Every backend the registry lists for this build can be created by name.
    for name in registry::usable_names() {
        let name = std::ffi::CString::new(name).unwrap();
        let _ = Handle::new(Some(&name), 16_000, 1);
    }
}

#[test]
fn the_last_error_belongs_to_its_thread() {
    // SAFETY: a NULL handle is part of the contract.
    assert_eq!(unsafe { dfn4_denoiser_reset(ptr::null_mut()) }, ERR_NULL);
    std::thread::spawn(|| {
        assert!(dfn4_last_error().is_null(), "a fresh thread has no error");
        // SAFETY: as above.
        unsafe { dfn4_denoiser_set_bypass(ptr::null_mut(), true) };
        assert!(last_error().starts_with("dfn4_denoiser_set_bypass"));
    })
    .join()
    .unwrap();
    assert!(last_error().starts_with("dfn4_denoiser_reset"));
}

#[test]
fn the_output_is_the_host_streams_whatever_the_blocks_and_aliasing() {
    let input = stereo(3.0);
    let setup = |s: &mut HostStream| {
        s.set_atten_control_db(18.0);
        s.set_post_filter(true);
    };
    let expected = reference(48_000, 2, &input, setup);

    let h = Handle::new(None, 48_000, 2);
    // SAFETY: a live handle.
    unsafe {
        assert_eq!(dfn4_denoiser_set_atten_lim_db(h.0, 18.0), OK);
        assert_eq!(dfn4_denoiser_set_post_filter(h.0, true), OK);
    }
    assert_eq!(
        h.latency(),
        1439,
        "48 kHz: the plugin's and the Python package's figure"
    );
    let separate = run_c(&h, &input, 2);
    assert!(
        separate == expected,
        "separate buffers differ from HostStream"
    );
    assert!(separate != input, "not denoised");

    // After a reset the same input gives the same output again; in place this time, one call.
    // SAFETY: a live handle.
    assert_eq!(unsafe { dfn4_denoiser_reset(h.0) }, OK);
    let mut io = input.clone();
    assert_eq!(h.process_in_place(&mut io, 2), OK);
    assert!(
        io == expected,
        "in place after reset differs from HostStream"
    );
    // SAFETY: a live handle.
    assert_eq!(unsafe { dfn4_denoiser_repaired_samples(h.0) }, 0);
}

#[test]
fn other_rates_and_channel_counts_match_the_host_stream() {
    let mono = fixture(1.5);
    // 44.1 kHz (the signal is not resampled: the content does not matter, the path does), 3 channels.
    let input: Vec<f32> = mono.iter().flat_map(|&s| [s, -s, 0.5 * s]).collect();
    let expected = reference(44_100, 3, &input, |_| {});
    // The reference's backend, by name (a named backend takes the same path as NULL's default).
    let name = std::ffi::CString::new(default_backend()).unwrap();
    let h = Handle::new(Some(&name), 44_100, 3);
    assert_eq!(h.latency(), 1763);
    assert!(run_c(&h, &input, 3) == expected);
}

#[test]
fn bypass_gives_the_input_delayed_by_the_reported_latency() {
    let input = fixture(1.0);
    let h = Handle::new(None, 48_000, 1);
    // SAFETY: a live handle.
    assert_eq!(unsafe { dfn4_denoiser_set_bypass(h.0, true) }, OK);
    let out = run_c(&h, &input, 1);
    let lat = h.latency();
    // After the one-hop crossfade the output is exactly the input, `lat` samples later.
    for n in 480..input.len() - lat {
        assert_eq!(out[n + lat], input[n], "sample {n}");
    }
}

#[test]
fn bad_attenuation_limits_are_refused_and_good_ones_accepted() {
    let h = Handle::new(None, 48_000, 1);
    // SAFETY: a live handle.
    unsafe {
        for bad in [f32::NAN, -1.0, f32::NEG_INFINITY] {
            assert_eq!(
                dfn4_denoiser_set_atten_lim_db(h.0, bad),
                ERR_INVALID,
                "{bad}"
            );
            assert!(last_error().contains("is not a limit"));
        }
        for good in [0.0, 12.0, 100.0, f32::INFINITY] {
            assert_eq!(dfn4_denoiser_set_atten_lim_db(h.0, good), OK, "{good}");
        }
    }
    // A limit of 0 dB: no attenuation, the output is the delayed input (as `enhance --atten-lim-db 0`),
    // to within the STFT's reconstruction error.
    // SAFETY: a live handle.
    assert_eq!(unsafe { dfn4_denoiser_set_atten_lim_db(h.0, 0.0) }, OK);
    let input = fixture(1.0);
    let out = run_c(&h, &input, 1);
    let lat = h.latency();
    let err = (0..input.len() - lat)
        .map(|n| (out[n + lat] - input[n]).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 1e-4, "0 dB limit: max error {err}");
}

#[test]
fn process_and_the_settings_never_touch_the_heap() {
    let input = stereo(0.5);
    let h = Handle::new(None, 44_100, 2);
    let mut out = vec![0.0; input.len()];
    let mut io = input.clone();
    // Warm up once (nothing in process should need it, but a lazily initialised std internal would).
    assert_eq!(h.process(&input[..2], &mut out[..2], 1), OK);
    let events = heap_events(|| {
        let mut pos = 0;
        for &n in BLOCKS.iter().cycle() {
            if pos >= input.len() {
                break;
            }
            let end = (pos + 2 * n).min(input.len());
            assert_eq!(
                h.process(&input[pos..end], &mut out[pos..end], (end - pos) / 2),
                OK
            );
            pos = end;
        }
        assert_eq!(h.process_in_place(&mut io, 2), OK);
        // SAFETY: a live handle.
        unsafe {
            assert_eq!(dfn4_denoiser_set_atten_lim_db(h.0, 6.0), OK);
            assert_eq!(dfn4_denoiser_set_post_filter(h.0, true), OK);
            assert_eq!(dfn4_denoiser_set_bypass(h.0, true), OK);
            assert_eq!(dfn4_denoiser_reset(h.0), OK);
            assert!(dfn4_denoiser_latency_samples(h.0) > 0);
            assert_eq!(dfn4_denoiser_repaired_samples(h.0), 0);
        }
        assert_eq!(h.process_in_place(&mut io, 2), OK);
    });
    assert_eq!(events, 0, "the real-time calls allocated or freed");
}

#[test]
fn hostile_samples_are_repaired_and_counted() {
    let h = Handle::new(None, 48_000, 1);
    let mut io = vec![0.1f32; 4800];
    io[10] = f32::NAN;
    io[20] = f32::INFINITY;
    io[30] = 1e6;
    assert_eq!(h.process_in_place(&mut io, 1), OK);
    assert!(io.iter().all(|s| s.is_finite()));
    // SAFETY: a live handle.
    assert_eq!(unsafe { dfn4_denoiser_repaired_samples(h.0) }, 3);
}

#[test]
fn a_panic_in_any_entry_point_is_caught_and_poisons_only_its_handle() {
    let h = Handle::new(None, 48_000, 1);
    let other = Handle::new(None, 48_000, 1);
    let x = [0.5f32; 480];
    let mut y = [0.0f32; 480];

    panic_in_next_call();
    assert_eq!(h.process(&x, &mut y, 480), ERR_PANIC);
    let message = last_error();
    assert!(
        message.starts_with("dfn4_denoiser_process: internal error (panic): test hook"),
        "{message}"
    );
    // The handle is unusable from now on (its state may be half-updated); the other one is fine.
    assert_eq!(h.process(&x, &mut y, 480), ERR_POISONED);
    assert!(last_error().contains("destroy it"));
    // SAFETY: live handles.
    unsafe {
        assert_eq!(dfn4_denoiser_reset(h.0), ERR_POISONED);
        assert_eq!(dfn4_denoiser_latency_samples(h.0), i64::from(ERR_POISONED));
    }
    assert_eq!(other.process(&x, &mut y, 480), OK);

    // Every other entry point is guarded the same way.
    // SAFETY: a live handle, a C string.
    unsafe {
        panic_in_next_call();
        assert_eq!(dfn4_denoiser_latency_samples(other.0), i64::from(ERR_PANIC));
        assert!(last_error().starts_with("dfn4_denoiser_latency_samples: internal error (panic)"));
        let other = Handle::new(None, 48_000, 1);
        panic_in_next_call();
        assert_eq!(dfn4_denoiser_set_atten_lim_db(other.0, 12.0), ERR_PANIC);
        let other = Handle::new(None, 48_000, 1);
        panic_in_next_call();
        assert_eq!(dfn4_denoiser_set_bypass(other.0, true), ERR_PANIC);
        let other = Handle::new(None, 48_000, 1);
        panic_in_next_call();
        assert_eq!(dfn4_denoiser_set_post_filter(other.0, true), ERR_PANIC);
        let other = Handle::new(None, 48_000, 1);
        panic_in_next_call();
        assert_eq!(dfn4_denoiser_reset(other.0), ERR_PANIC);
        let other = Handle::new(None, 48_000, 1);
        panic_in_next_call();
        assert_eq!(
            dfn4_denoiser_repaired_samples(other.0),
            i64::from(ERR_PANIC)
        );

        panic_in_next_call();
        assert!(dfn4_denoiser_create(c"native".as_ptr(), 48_000, 1).is_null());
        assert!(last_error().starts_with("dfn4_denoiser_create: internal error (panic)"));
        // destroy has no status to return; it must simply not unwind.
        panic_in_next_call();
        dfn4_denoiser_destroy(ptr::null_mut());
    }
}

#[test]
fn the_version_is_the_packages() {
    // SAFETY: a static C string.
    let v = unsafe { CStr::from_ptr(dfn4_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}
