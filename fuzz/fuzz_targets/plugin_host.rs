#![no_main]
//! The plugin driven through its C ABI as a hostile LADSPA/LV2 host would: rates in and out of range,
//! any block size, NaN/Inf/huge control values, NaN/Inf bursts in the audio, re-activation,
//! re-wiring. No panic, finite output, a sane latency port, and a bad sample costing what a zero costs.
#[path = "../plugin_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::hold_shared_backend();
    checks::plugin_host(data);
});
