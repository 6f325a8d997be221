//! Memory of the resamplers and of one enhancement channel is bounded by construction, whatever the
//! (supported) rate: a global allocator tracks the peak of live heap bytes while each is built and used
//! for a block. Before the bound, 2,147,483,647 Hz asked for 16 GiB and 1 Hz for gigabytes.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dfn4::backend::native::NativeBackend;
use dfn4::config::ModelConfig;
use dfn4::denoiser::DenoiseParams;
use dfn4::dsp::resample::{BlockResampler, StreamResampler};
use dfn4::enhance::ChannelStream;
use dfn4::model::Weights;

struct PeakAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(size: usize) {
    let now = LIVE.fetch_add(size, Ordering::SeqCst) + size;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

// SAFETY: forwards every call to the system allocator unchanged; the bookkeeping touches atomics only.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: PeakAlloc = PeakAlloc;

/// Peak heap bytes `f` added above what was live when it started.
fn peak_bytes(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - base
}

const MIB: usize = 1 << 20;

// One test in this binary, so no other thread allocates while it measures.
#[test]
fn resamplers_and_channels_stay_within_a_few_mib_at_every_supported_rate() {
    let mut rates: Vec<u32> = (1_000..=768_000).step_by(15_013).collect();
    rates.extend([
        1_000, 1_001, 8_000, 44_101, 47_999, 96_001, 767_999, 768_000,
    ]);
    let mut worst = (0, 0, "");
    for &rate in &rates {
        for (from, to) in [(rate, 48_000), (48_000, rate)] {
            let live = peak_bytes(|| {
                let mut r = BlockResampler::new(from, to).unwrap();
                let (i, mut o) = (vec![0.1; r.block_in()], vec![0.0; r.block_out()]);
                r.process(&i, &mut o).unwrap();
            });
            // Input and output outside the measurement: they are the caller's, not the resampler's.
            let input = vec![0.1; from as usize / 10];
            let mut out = Vec::with_capacity(to as usize / 10 + 2);
            let aligned = peak_bytes(|| {
                let mut r = StreamResampler::new(from, to).unwrap();
                r.push(&input, &mut out).unwrap();
                r.finish(&mut out).unwrap();
            });
            for (kind, bytes) in [("live", live), ("aligned", aligned)] {
                assert!(bytes < 2 * MIB, "{kind} {from} → {to}: {bytes} bytes");
                if bytes > worst.0 {
                    worst = (bytes, from.max(to), kind);
                }
            }
        }
    }
    eprintln!(
        "largest resampler: {} KiB ({} at {} Hz)",
        worst.0 / 1024,
        worst.2,
        worst.1
    );

    // One channel of `enhance` (denoiser with its offline block buffers + both resamplers), built
    // before any audio is read: with at most 256 channels that bounds a file's chains to a few
    // hundred MiB. The resamplers take up to 1.9 MiB, the block of 16 hops about 0.9 MiB.
    let backend =
        Arc::new(NativeBackend::new(&Weights::random(&ModelConfig::default(), 5)).unwrap());
    let mut worst_channel = (0, 0);
    for &rate in &rates {
        let bytes = peak_bytes(|| {
            drop(ChannelStream::new(Arc::clone(&backend), DenoiseParams::default(), rate).unwrap());
        });
        worst_channel = worst_channel.max((bytes, rate));
    }
    let worst_channel = worst_channel.0;
    eprintln!("largest channel: {} KiB", worst_channel / 1024);
    assert!(worst_channel < 3 * MIB, "{worst_channel} bytes per channel");
}
