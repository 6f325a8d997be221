//! A host that loads the plugin library, instantiates, runs, cleans up and unloads it over and over
//! (as hosts scanning plugins do) keeps its memory flat: the shared backend is freed with the last
//! instance, so no copy of the weights stays behind in an unloaded library. Its own test binary, so
//! that no other test's memory moves the process's RSS.
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::PathBuf;

use dfn4_plugin::ladspa::{Data, Descriptor};

const RTLD_NOW: c_int = 2;

unsafe extern "C" {
    fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlclose(handle: *mut c_void) -> c_int;
}

/// The cdylib cargo built beside this test (`target/<profile>/libdfn4_plugin.so`).
fn plugin_so() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile_dir.join("libdfn4_plugin.so")
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// dlopen → instantiate → connect → activate → run → cleanup → dlclose, once.
fn cycle(path: &CString) {
    // SAFETY: the library is ours; its descriptor and functions are used as the LADSPA header
    // prescribes, and nothing from it is used after dlclose.
    unsafe {
        let lib = dlopen(path.as_ptr(), RTLD_NOW);
        assert!(!lib.is_null(), "dlopen {path:?}");
        let sym = dlsym(lib, c"ladspa_descriptor".as_ptr());
        assert!(!sym.is_null());
        let descriptor: unsafe extern "C" fn(std::ffi::c_ulong) -> *const Descriptor =
            std::mem::transmute(sym);
        let d = &*descriptor(0);
        let handle = (d.instantiate.unwrap())(d, 48_000);
        assert!(!handle.is_null());
        let mut buf = [0.1 as Data; 480];
        let (mut atten, mut bypass, mut latency) = (100.0 as Data, 0.0 as Data, 0.0 as Data);
        let connect = d.connect_port.unwrap();
        connect(handle, 0, buf.as_mut_ptr());
        connect(handle, 1, buf.as_mut_ptr());
        connect(handle, 2, &mut atten);
        connect(handle, 3, &mut bypass);
        connect(handle, 4, &mut latency);
        (d.activate.unwrap())(handle);
        (d.run.unwrap())(handle, 480);
        assert_eq!(latency, 1439.0);
        (d.cleanup.unwrap())(handle);
        assert_eq!(dlclose(lib), 0);
    }
}

#[test]
fn hundred_dlopen_cycles_keep_memory_flat() {
    let so = plugin_so();
    assert!(
        so.exists(),
        "{} is missing: build it first with `cargo build -p dfn4-plugin --lib`",
        so.display()
    );
    let path = CString::new(so.to_str().unwrap()).unwrap();
    // Warm-up: the allocator's arenas and the loader's caches reach their steady size.
    for _ in 0..3 {
        cycle(&path);
    }
    let before = rss_bytes();
    for _ in 0..100 {
        cycle(&path);
    }
    let after = rss_bytes();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    println!(
        "mappings of the library after the last dlclose: {}",
        maps.lines()
            .filter(|l| l.contains("libdfn4_plugin"))
            .count()
    );
    let growth_mib = (after as f64 - before as f64) / (1 << 20) as f64;
    println!(
        "RSS before 100 cycles: {:.1} MiB, after: {:.1} MiB, growth {growth_mib:.1} MiB",
        before as f64 / (1 << 20) as f64,
        after as f64 / (1 << 20) as f64
    );
    // A backend left behind per cycle would be about 5 MB each (500 MB in all).
    assert!(
        growth_mib < 32.0,
        "RSS grew {growth_mib:.1} MiB over 100 cycles"
    );
}
