//! Flush-to-zero around a `process` call: decaying filter and recurrent states must never take the slow
//! denormal path on the caller's audio thread, and the caller's floating-point mode is put back after.
//! (The same guard as the plugin's `DenormalGuard`; it belongs in the library's host glue once a third
//! front end needs it.)

/// Flush-to-zero and denormals-are-zero for the guard's lifetime (x86_64; elsewhere a no-op); the
/// caller's mode is restored on drop.
pub(crate) struct DenormalGuard {
    #[cfg(target_arch = "x86_64")]
    saved_mxcsr: u32,
}

impl DenormalGuard {
    #[cfg(target_arch = "x86_64")]
    const FTZ_DAZ: u32 = 0x8040;

    /// Sets the flags, remembering the previous mode.
    pub(crate) fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let mut saved_mxcsr = 0u32;
            let flushed: u32;
            // SAFETY: reading and writing MXCSR only changes this thread's SSE rounding/denormal modes.
            unsafe {
                std::arch::asm!("stmxcsr [{}]", in(reg) &mut saved_mxcsr, options(nostack, preserves_flags));
                flushed = saved_mxcsr | Self::FTZ_DAZ;
                std::arch::asm!("ldmxcsr [{}]", in(reg) &flushed, options(nostack, preserves_flags));
            }
            Self { saved_mxcsr }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Self {}
    }
}

impl Drop for DenormalGuard {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: restores the mode read in `new`.
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &self.saved_mxcsr, options(nostack, preserves_flags));
        }
    }
}
