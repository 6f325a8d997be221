//! The host contract, tried as a careless host would (in a debug build, overflow checks on): NULL
//! handles are ignored by every entry point, the latency port is written by `run` only, control ports
//! at unaligned addresses are read and written safely, and every rate of a coarse sweep from 1 kHz to
//! 768 kHz (plus 44,101 / 47,999 / 48,001 Hz) instantiates and runs blocks of any size with finite
//! output and a sensible latency, through the LADSPA and LV2 entry points.
use std::ffi::c_void;
use std::ptr;

use dfn4_plugin::ladspa::{ladspa_descriptor, Data};
use dfn4_plugin::lv2::lv2_descriptor;

#[test]
fn null_handles_are_ignored() {
    let mut x: Data = 0.5;
    for index in [0u32, 1] {
        // SAFETY: the functions are called with NULL handles, which they must refuse without touching
        // anything; the data pointer is valid.
        unsafe {
            let d = &*ladspa_descriptor(index.into());
            (d.connect_port.unwrap())(ptr::null_mut(), 0, &mut x);
            (d.activate.unwrap())(ptr::null_mut());
            (d.run.unwrap())(ptr::null_mut(), 256);
            (d.run.unwrap())(ptr::null_mut(), !0);
            if let Some(deactivate) = d.deactivate {
                deactivate(ptr::null_mut());
            }
            (d.cleanup.unwrap())(ptr::null_mut());

            let d = &*lv2_descriptor(index);
            (d.connect_port.unwrap())(ptr::null_mut(), 0, (&mut x as *mut Data).cast::<c_void>());
            (d.activate.unwrap())(ptr::null_mut());
            (d.run.unwrap())(ptr::null_mut(), 256);
            (d.run.unwrap())(ptr::null_mut(), u32::MAX);
            if let Some(deactivate) = d.deactivate {
                deactivate(ptr::null_mut());
            }
            (d.cleanup.unwrap())(ptr::null_mut());
        }
    }
    assert_eq!(x, 0.5);
}

/// A float at an odd address inside `bytes` (never 4-aligned).
fn unaligned(bytes: &mut [u8; 16]) -> *mut Data {
    let base = bytes.as_mut_ptr();
    let offset = if (base as usize + 1).is_multiple_of(4) {
        2
    } else {
        1
    };
    // SAFETY: offset + 4 <= 16.
    unsafe { base.add(offset).cast::<Data>() }
}

#[test]
fn latency_is_written_by_run_only_and_unaligned_ports_work() {
    for index in [0u32, 1] {
        let nb_channels = index as usize + 1;
        // SAFETY: the descriptor's functions are used as the LADSPA header prescribes; the control
        // ports point into live byte buffers (unaligned, so only read/written unaligned).
        unsafe {
            let d = &*ladspa_descriptor(index.into());
            let handle = (d.instantiate.unwrap())(d, 48_000);
            assert!(!handle.is_null());
            let n = 48_000usize;
            let input: Vec<Vec<Data>> = (0..nb_channels)
                .map(|c| {
                    (0..n)
                        .map(|t| 0.3 * (0.01 * (t + 7 * c) as f32).sin())
                        .collect()
                })
                .collect();
            let mut audio = input.clone();
            let mut out = vec![vec![0.0 as Data; n]; nb_channels];
            let (mut atten_bytes, mut bypass_bytes, mut latency_bytes) =
                ([0u8; 16], [0u8; 16], [0u8; 16]);
            let (atten, bypass, latency) = (
                unaligned(&mut atten_bytes),
                unaligned(&mut bypass_bytes),
                unaligned(&mut latency_bytes),
            );
            atten.write_unaligned(100.0);
            bypass.write_unaligned(1.0);
            latency.write_unaligned(-1.0);
            let connect = d.connect_port.unwrap();
            for c in 0..nb_channels {
                connect(handle, c as _, audio[c].as_mut_ptr());
                connect(handle, (nb_channels + c) as _, out[c].as_mut_ptr());
            }
            connect(handle, (2 * nb_channels) as _, atten);
            connect(handle, (2 * nb_channels + 1) as _, bypass);
            connect(handle, (2 * nb_channels + 2) as _, latency);
            // Ports past the last are ignored.
            connect(handle, (2 * nb_channels + 3) as _, ptr::null_mut());
            connect(handle, !0, ptr::null_mut());
            assert_eq!(latency.read_unaligned(), -1.0, "written by connect_port");
            (d.activate.unwrap())(handle);
            assert_eq!(latency.read_unaligned(), -1.0, "written by activate");
            (d.run.unwrap())(handle, n as _);
            let lat = latency.read_unaligned();
            assert_eq!(lat, 1439.0, "latency port after run");
            // Bypass was read (unaligned) from the start: after the one-hop crossfade the output is the
            // input delayed by the latency, exactly.
            let lat = lat as usize;
            for c in 0..nb_channels {
                for t in lat + 480..n {
                    assert_eq!(out[c][t], input[c][t - lat], "channel {c}, sample {t}");
                }
            }
            (d.cleanup.unwrap())(handle);
        }
    }
}

type Connect = Box<dyn Fn(*mut c_void, usize, *mut Data)>;
type Run = Box<dyn Fn(*mut c_void, usize)>;

#[test]
fn every_rate_runs_any_block_size_in_debug() {
    let mut rates: Vec<u32> = vec![44_101, 47_999, 48_001];
    let mut r = 1_000f64;
    while r <= 768_000.0 {
        rates.push(r.round() as u32);
        r *= 1.6;
    }
    rates.extend([
        8_000, 11_025, 16_000, 22_050, 44_100, 48_000, 96_000, 192_000, 768_000,
    ]);
    for (i, &rate_hz) in rates.iter().enumerate() {
        // SAFETY: as in the tests above, with aligned ports.
        unsafe {
            let (handle, connect, run, cleanup) = if i % 2 == 0 {
                let d = &*ladspa_descriptor(0);
                let handle = (d.instantiate.unwrap())(d, rate_hz.into());
                let connect = d.connect_port.unwrap();
                (
                    handle,
                    Box::new(move |h, p: usize, x: *mut Data| connect(h, p as _, x)) as Connect,
                    Box::new(move |h, n: usize| (d.run.unwrap())(h, n as _)) as Run,
                    d.cleanup.unwrap(),
                )
            } else {
                let d = &*lv2_descriptor(0);
                let handle = (d.instantiate.unwrap())(d, rate_hz.into(), ptr::null(), ptr::null());
                let connect = d.connect_port.unwrap();
                (
                    handle,
                    Box::new(move |h, p: usize, x: *mut Data| connect(h, p as _, x.cast()))
                        as Connect,
                    Box::new(move |h, n: usize| (d.run.unwrap())(h, n as _)) as Run,
                    d.cleanup.unwrap(),
                )
            };
            assert!(!handle.is_null(), "{rate_hz} Hz");
            let mut buf = vec![0.0 as Data; 8192];
            let (mut atten, mut bypass, mut latency) = (100.0 as Data, 0.0 as Data, -1.0 as Data);
            connect(handle, 0, buf.as_mut_ptr());
            connect(handle, 1, buf.as_mut_ptr());
            connect(handle, 2, &mut atten);
            connect(handle, 3, &mut bypass);
            connect(handle, 4, &mut latency);
            // A quarter of a second (at least a few blocks) in blocks of odd sizes, with a NaN now and
            // then.
            let total = (rate_hz as usize / 4).max(4096);
            let (mut done, mut phase, mut k) = (0usize, 0.0f32, 0usize);
            while done < total {
                let n = [1usize, 7, 480, 4096, 0, 8192, 333][k % 7].min(total - done);
                for x in &mut buf[..n] {
                    phase += 0.05;
                    *x = 0.2 * phase.sin();
                }
                if k % 5 == 3 && n > 0 {
                    buf[n / 2] = f32::NAN;
                }
                run(handle, n);
                assert!(
                    buf[..n].iter().all(|x| x.is_finite()),
                    "{rate_hz} Hz: non-finite output"
                );
                done += n;
                k += 1;
            }
            // 20 ms algorithmic, plus resampling and buffering: within 50 ms near 48 kHz (no more seconds
            // of latency at 47,999 or 48,001 Hz), within 100 ms at the odd low rates.
            let latency_ms = f64::from(latency) * 1000.0 / f64::from(rate_hz);
            println!("{rate_hz} Hz: latency {latency} samples = {latency_ms:.1} ms");
            let bound_ms = if (44_000..=48_100).contains(&rate_hz) {
                50.0
            } else {
                100.0
            };
            assert!(
                latency > 0.0 && latency_ms < bound_ms,
                "{rate_hz} Hz: latency {latency} samples = {latency_ms:.1} ms"
            );
            cleanup(handle);
        }
    }
}
