//! `instantiate` at sample rates outside the library's supported range (1 kHz to 768 kHz) returns NULL
//! at once, through the real LADSPA and LV2 entry points, instead of sizing resamplers from the rate
//! (4,294,967,291 Hz once aborted the host); the ends of the range and near-48 kHz rates instantiate.
use std::ffi::c_ulong;
use std::ptr;

use dfn4_plugin::ladspa::ladspa_descriptor;
use dfn4_plugin::lv2::lv2_descriptor;

#[test]
fn instantiate_refuses_rates_outside_the_supported_range() {
    for index in [0u32, 1] {
        // SAFETY: the descriptors and their functions are used as the LADSPA and LV2 headers prescribe.
        unsafe {
            let d = &*ladspa_descriptor(index.into());
            let instantiate = d.instantiate.unwrap();
            let rates: [c_ulong; 8] = [0, 1, 128, 999, 768_001, 2_147_483_647, 4_294_967_291, !0];
            for rate_hz in rates {
                let start = std::time::Instant::now();
                assert!(
                    instantiate(d, rate_hz).is_null(),
                    "LADSPA {index} at {rate_hz} Hz"
                );
                assert!(
                    start.elapsed().as_secs_f64() < 1.0,
                    "LADSPA {rate_hz} Hz was slow"
                );
            }
            for rate_hz in [1_000, 44_101, 47_999, 48_001, 768_000] {
                let handle = instantiate(d, rate_hz);
                assert!(!handle.is_null(), "LADSPA {index} at {rate_hz} Hz");
                (d.cleanup.unwrap())(handle);
            }

            let d = &*lv2_descriptor(index);
            let instantiate = d.instantiate.unwrap();
            for rate_hz in [
                f64::NAN,
                -48_000.0,
                0.0,
                999.0,
                768_001.0,
                4_294_967_291.0,
                1e300,
            ] {
                let handle = instantiate(d, rate_hz, ptr::null(), ptr::null());
                assert!(handle.is_null(), "LV2 {index} at {rate_hz} Hz");
            }
            let handle = instantiate(d, 48_000.0, ptr::null(), ptr::null());
            assert!(!handle.is_null());
            (d.cleanup.unwrap())(handle);
        }
    }
}
