//! `run` through the real LADSPA entry points never allocates or frees: a counting global allocator
//! watches every call, at 48 and 44.1 kHz, mono and stereo, for block sizes 1…8192, in-place buffers,
//! and while the controls change.
use dfn4_plugin::ladspa::{ladspa_descriptor, Data};

// The allocator the main crate's live-callback tests use.
#[path = "../../tests/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::heap_events;

#[test]
fn run_never_allocates() {
    for (index, nb_channels) in [(0, 1usize), (1, 2)] {
        for rate_hz in [48_000u32, 44_100] {
            // SAFETY: the descriptor and its functions are used as the LADSPA header prescribes.
            unsafe {
                let d = &*ladspa_descriptor(index);
                let handle = (d.instantiate.unwrap())(d, rate_hz.into());
                assert!(!handle.is_null());
                let mut audio = vec![vec![0.0 as Data; 8192]; nb_channels];
                let mut out = vec![vec![0.0 as Data; 8192]; nb_channels];
                let mut atten: Data = 100.0;
                let mut bypass: Data = 0.0;
                let mut latency: Data = -1.0;
                let connect = d.connect_port.unwrap();
                for c in 0..nb_channels {
                    connect(handle, c as _, audio[c].as_mut_ptr());
                    // The second channel in place (output = input buffer), the first not.
                    let o = if c == 1 {
                        audio[c].as_mut_ptr()
                    } else {
                        out[c].as_mut_ptr()
                    };
                    connect(handle, (nb_channels + c) as _, o);
                }
                connect(handle, (2 * nb_channels) as _, &mut atten);
                connect(handle, (2 * nb_channels + 1) as _, &mut bypass);
                connect(handle, (2 * nb_channels + 2) as _, &mut latency);
                (d.activate.unwrap())(handle);
                let run = d.run.unwrap();
                let mut phase = 0.0f32;
                let events = heap_events(|| {
                    for (i, n) in [1usize, 7, 64, 480, 4096, 8192, 3, 1000]
                        .iter()
                        .cycle()
                        .take(64)
                        .enumerate()
                    {
                        for ch in audio.iter_mut() {
                            for x in ch[..*n].iter_mut() {
                                phase += 0.03;
                                *x = 0.2 * phase.sin();
                            }
                            // Hostile samples now and then: repairing them must not allocate either.
                            if i % 3 == 0 {
                                ch[*n / 2] =
                                    [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e9][i % 4];
                            }
                        }
                        atten = [100.0, 12.0, 0.0, 30.0][i % 4];
                        bypass = if i % 5 == 0 { 1.0 } else { 0.0 };
                        run(handle, *n as _);
                    }
                });
                assert_eq!(events, 0, "descriptor {index}, {rate_hz} Hz");
                // Written by `run` (only there).
                assert!(latency > 900.0, "latency port {latency}");
                (d.cleanup.unwrap())(handle);
            }
        }
    }
}
