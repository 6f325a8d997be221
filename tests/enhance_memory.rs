//! `dfn4 enhance` streams files block by block: its peak memory must not grow with the file's length.
//! Runs the binary on a 10 s and a 120 s mono 48 kHz file and compares the peak RSS of the two processes
//! (from `wait4`, per child). The release figures for 10 s vs 10 minutes come from
//! `scripts/bench/enhance_memory.sh`.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::{Command, Stdio};

fn write_tone(path: &Path, seconds: usize) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let mut seed = 1u32;
    for i in 0..seconds * 48_000 {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
        let x = 0.3 * (i as f32 * 0.0288).sin() + 0.1 * noise;
        w.write_sample((x * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// Peak resident set of one `dfn4 enhance` run, in KiB.
fn enhance_peak_kib(input: &Path, output: &Path) -> i64 {
    // Reaped by wait4 below, which (unlike Child::wait) reports the child's own peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_dfn4"))
        .arg("enhance")
        .arg("--overwrite")
        .arg(input)
        .arg(output)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 writes it through a valid pointer, for our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    // ru_maxrss is in KiB on Linux.
    usage.ru_maxrss
}

#[test]
fn peak_memory_does_not_grow_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (short, long, out) = (
        dir.path().join("short.wav"),
        dir.path().join("long.wav"),
        dir.path().join("out.wav"),
    );
    write_tone(&short, 10);
    write_tone(&long, 120);
    let short_kib = enhance_peak_kib(&short, &out);
    let long_kib = enhance_peak_kib(&long, &out);
    assert_eq!(
        hound::WavReader::open(&out).unwrap().duration(),
        120 * 48_000
    );
    // The whole 120 s file as f32 would be 22.5 MiB (the path before streaming held ~0.66 MB per second).
    assert!(
        long_kib - short_kib <= 3 * 1024,
        "peak RSS 10 s: {short_kib} KiB, 120 s: {long_kib} KiB"
    );
}
