#![no_main]
//! Arbitrary bytes as a compressed audio file through dfn4's decoding glue (symphonia): no panic, one-line
//! errors, finite samples, a bounded amount of audio per input byte.
#[path = "../checks.rs"]
#[allow(dead_code)] // each target uses one of the checks
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::audio_decoder(data);
});
