//! What a benchmark result depends on besides the code: the machine (CPU, cores, OS), the build (rustc,
//! profile, cargo features, git revision) and the process's resident memory, read from `/proc` on Linux.
//! Anything that cannot be found is reported as "unknown" rather than guessed.
use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The machine and build a report was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// Version of the dfn4 crate.
    pub dfn4_version: String,
    /// CPU model name (`/proc/cpuinfo`).
    pub cpu_model: String,
    /// Logical CPUs this process may use.
    pub logical_cores: usize,
    /// Operating system (`/etc/os-release` PRETTY_NAME, else the target OS).
    pub os: String,
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// Target architecture.
    pub arch: String,
    /// rustc version string.
    pub rustc: String,
    /// Where `rustc` came from: "build" (recorded at compile time), "path" (the `rustc` on PATH at run
    /// time, which may differ from the compiler of this binary) or "unknown".
    pub rustc_source: String,
    /// "release" or "debug" (debug-assertion builds are far slower and not representative).
    pub profile: String,
    /// Cargo features compiled into the library.
    pub features: Vec<String>,
    /// `git rev-parse HEAD` of the source tree at run time, or "unknown".
    pub git_revision: String,
    /// Whether the source tree had uncommitted changes (None when git is unavailable).
    pub git_dirty: Option<bool>,
}

impl Environment {
    /// Probes the current machine and build.
    pub fn detect() -> Self {
        let (rustc, rustc_source) = rustc_version();
        let (git_revision, git_dirty) = git_state();
        Self {
            dfn4_version: env!("CARGO_PKG_VERSION").to_string(),
            cpu_model: cpu_model().unwrap_or_else(|| "unknown".into()),
            logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: os_name(),
            kernel: read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into()),
            arch: std::env::consts::ARCH.to_string(),
            rustc,
            rustc_source,
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .into(),
            features: enabled_features(),
            git_revision,
            git_dirty,
        }
    }
}

/// Cargo features of this build, by name.
pub fn enabled_features() -> Vec<String> {
    let mut v = Vec::new();
    if cfg!(feature = "tch") {
        v.push("tch".to_string());
    }
    if cfg!(feature = "train") {
        v.push("train".to_string());
    }
    v
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string())
}

/// The compiler version: `DFN4_RUSTC_VERSION` if the build recorded it (a build script can set it with
/// `cargo::rustc-env`), else what `rustc --version` prints now.
fn rustc_version() -> (String, String) {
    if let Some(v) = option_env!("DFN4_RUSTC_VERSION") {
        return (v.to_string(), "build".into());
    }
    match command_output(Command::new("rustc").arg("--version")) {
        Some(v) => (v, "path".into()),
        None => ("unknown".into(), "unknown".into()),
    }
}

/// Revision of the source tree this binary was built from, if that tree is still a git checkout.
fn git_state() -> (String, Option<bool>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let git = |args: &[&str]| command_output(Command::new("git").arg("-C").arg(dir).args(args));
    match git(&["rev-parse", "HEAD"]) {
        Some(rev) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .map(|s| !s.is_empty())
                .or(Some(false));
            (rev, dirty)
        }
        None => ("unknown".into(), None),
    }
}

/// Trimmed stdout of a successful command (an empty stdout counts as success: `git status` of a clean tree).
fn command_output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(std::process::Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Resident-set sizes of this process in KiB (`/proc/self/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rss {
    /// Current resident set (VmRSS).
    pub current_kib: u64,
    /// Peak resident set since start or since the last [`reset_peak_rss`] (VmHWM).
    pub peak_kib: u64,
}

/// Reads VmRSS and VmHWM; None where `/proc` is unavailable.
pub fn read_rss() -> Option<Rss> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some(Rss {
        current_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// Resets the peak RSS (VmHWM) to the current RSS, so the next peak belongs to one configuration
/// (Linux ≥ 4.0: writing "5" to `/proc/self/clear_refs`). Returns whether it worked.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_has_the_crate_version_and_cores() {
        let env = Environment::detect();
        assert_eq!(env.dfn4_version, env!("CARGO_PKG_VERSION"));
        assert!(env.logical_cores >= 1);
        assert!(!env.cpu_model.is_empty() && !env.os.is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn rss_is_read_and_peak_follows_a_large_allocation() {
        let before = read_rss().expect("linux has /proc/self/status");
        assert!(before.current_kib > 0 && before.peak_kib >= before.current_kib);
        let can_reset = reset_peak_rss();
        // Other tests run in parallel threads and allocate or free a few MiB meanwhile, so measure from
        // the RSS right after the reset and leave a wide margin: touch 256 MiB, expect at least 200.
        let mid = read_rss().unwrap();
        let big = vec![1u8; 256 << 20];
        std::hint::black_box(&big);
        let after = read_rss().unwrap();
        assert!(after.peak_kib >= mid.current_kib + 200 * 1024 || !can_reset);
        drop(big);
    }
}
