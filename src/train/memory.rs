//! The trainer's process keeps the memory it frees (glibc's `malloc`).
//!
//! Mixing allocates and frees buffers of about a megabyte for every example (segments, spectra, FFT
//! scratch). By default glibc serves blocks above its mmap threshold with `mmap` and gives them back with
//! `munmap`, and gives the free top of a heap back to the kernel, so the next example faults the same pages
//! in again, zeroed, under the process's memory-map lock that every mixing thread shares. Profiled on one
//! thread, the kernel's page-fault and unmap paths took about a tenth of the mixing time; with the two
//! thresholds below, mixing ran 1.18× faster on one thread and 1.30× on two (docs/training.md), and the
//! shared lock suggests more on the GPU machine's sixteen.
//!
//! Elsewhere (another C library, another system) this does nothing.

/// Blocks up to this size come from the heaps, so freeing one keeps its pages (a batch of 32 mixtures of
/// 3 s is 18 MiB); larger ones are still mapped and unmapped.
pub const MMAP_THRESHOLD_BYTES: usize = 32 << 20;
/// Free memory a heap keeps at its top before giving it back.
pub const TRIM_THRESHOLD_BYTES: usize = 1 << 30;

/// Sets glibc's mmap and trim thresholds for the whole process (as `MALLOC_MMAP_THRESHOLD_` and
/// `MALLOC_TRIM_THRESHOLD_` would); returns whether the C library took them. Called at the start of
/// [`super::run`]; a process that runs the mixing itself (`examples/mix_rate.rs`) calls it too.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes the allocator's parameters; glibc takes it at any time, from
        // any thread. The values fit a C int.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES as libc::c_int) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES as libc::c_int) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
