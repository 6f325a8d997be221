#![no_main]
//! Arbitrary bytes as a JSON model config plus a safetensors file: parsing must never panic nor
//! allocate in proportion to a size it was told, and weights that load must build a working backend.
#[path = "../checks.rs"]
#[allow(dead_code)] // each target uses one of the checks
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::weights_loader(data);
});
