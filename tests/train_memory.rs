//! `dfn4::train::memory::keep_freed_memory`: after it, a freed block of a few megabytes stays with the
//! process instead of being unmapped. Its own test binary, so that no other test allocates meanwhile
//! (glibc's counters are the whole process's).
#![cfg(all(feature = "train", target_os = "linux", target_env = "gnu"))]

use dfn4::train::memory::keep_freed_memory;

/// Bytes in blocks that glibc mapped on their own (`mallinfo2().hblkhd`) while `bytes` are held.
fn mapped_while_holding(bytes: usize) -> usize {
    let block = std::hint::black_box(vec![1u8; bytes]);
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let mapped = unsafe { libc::mallinfo2() }.hblkhd;
    drop(block);
    mapped
}

#[test]
fn blocks_of_megabytes_come_from_the_heap_once_the_trainer_has_set_the_thresholds() {
    const BYTES: usize = 8 << 20;
    // SAFETY: as above.
    let before = unsafe { libc::mallinfo2() }.hblkhd;
    // glibc's defaults: a fresh process maps such a block on its own.
    assert!(mapped_while_holding(BYTES) >= before + BYTES);
    assert!(keep_freed_memory());
    // SAFETY: as above.
    let before = unsafe { libc::mallinfo2() }.hblkhd;
    assert!(mapped_while_holding(BYTES) < before + BYTES);
}
