#![no_main]
//! Arbitrary samples, rates, channel counts and chunk sizes into the library's `Denoiser`, `Enhancer`
//! and `ChannelStream` (tiny model): no panic, finite output of the right length, a NaN/Inf costing
//! what a zero costs, one-line errors for what is refused.
#[path = "../checks.rs"]
#[allow(dead_code)] // each target uses one of the checks
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::denoiser_input(data);
});
