#![no_main]
//! Arbitrary bytes as a WAV file: `decode_wav` and the streaming `WavReader` must never panic nor
//! allocate more than the file justifies, and both must read the same samples.
#[path = "../checks.rs"]
#[allow(dead_code)] // each target uses one of the checks
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::wav_reader(data));
