//! Flush-to-zero for the host's thread while dfn4 runs on it: decaying filter and recurrent states must
//! never take the (very slow) subnormal path on an audio thread, and the host's floating-point mode is
//! put back afterwards. One guard for every front end that runs on a thread it does not own (the plugin's
//! `run`, the C API's `process`); the live worker, which owns its thread, keeps the mode for good.

/// Flush-to-zero (and, on x86_64, denormals-are-zero) for the guard's lifetime; the previous mode is
/// restored on drop. x86_64 (MXCSR bits 15 and 6) and aarch64 (FPCR.FZ, bit 24); elsewhere a no-op.
/// Setting and restoring are two register writes: no allocation, lock or system call.
pub struct DenormalGuard {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    saved: u64,
}

#[cfg(target_arch = "x86_64")]
const FTZ_DAZ: u32 = 0x8040;
#[cfg(target_arch = "aarch64")]
const FPCR_FZ: u64 = 1 << 24;

impl DenormalGuard {
    /// Sets the flags on the calling thread, remembering its previous mode.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let mut saved = 0u32;
            // SAFETY: reading and writing MXCSR only changes this thread's SSE rounding/denormal modes.
            unsafe {
                std::arch::asm!("stmxcsr [{}]", in(reg) &mut saved, options(nostack, preserves_flags));
                let flushed = saved | FTZ_DAZ;
                std::arch::asm!("ldmxcsr [{}]", in(reg) &flushed, options(nostack, preserves_flags));
            }
            Self {
                saved: u64::from(saved),
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            let saved: u64;
            // SAFETY: reading and writing FPCR only changes this thread's floating-point modes.
            unsafe {
                std::arch::asm!("mrs {}, fpcr", out(reg) saved, options(nomem, nostack, preserves_flags));
                std::arch::asm!("msr fpcr, {}", in(reg) saved | FPCR_FZ, options(nomem, nostack, preserves_flags));
            }
            Self { saved }
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        Self {}
    }

    /// Leaves the flags set on this thread for good (for a thread dfn4 owns, such as the live worker).
    pub fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for DenormalGuard {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: restores the mode read in `new` (the low 32 bits hold MXCSR).
        unsafe {
            let saved = self.saved as u32;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &saved, options(nostack, preserves_flags));
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: restores the mode read in `new`.
        unsafe {
            std::arch::asm!("msr fpcr, {}", in(reg) self.saved, options(nomem, nostack, preserves_flags));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Not inlined and fed through black_box, so the product is computed at run time each call (the
    /// optimiser assumes the default floating-point mode and would reuse a result).
    #[inline(never)]
    fn tiny_product() -> f32 {
        std::hint::black_box(1e-30f32) * std::hint::black_box(1e-10f32)
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn subnormals_flush_inside_the_guard_and_return_after_it() {
        std::thread::spawn(|| {
            assert!(tiny_product() > 0.0, "subnormal before");
            {
                let _outer = DenormalGuard::new();
                assert_eq!(tiny_product(), 0.0, "flushed inside");
                {
                    let _inner = DenormalGuard::new();
                    assert_eq!(tiny_product(), 0.0, "flushed in a nested guard");
                }
                assert_eq!(tiny_product(), 0.0, "still flushed after the nested guard");
            }
            assert!(
                tiny_product() > 0.0,
                "the thread's mode is back after the guard"
            );
            DenormalGuard::new().keep();
            assert_eq!(tiny_product(), 0.0, "kept");
        })
        .join()
        .unwrap();
        assert!(tiny_product() > 0.0, "other threads keep subnormals");
    }
}
