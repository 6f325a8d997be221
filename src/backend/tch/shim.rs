//! Shared objects that build.rs compiles from `csrc/` and the library embeds (the CUDA-graph shim, the
//! fused selective scan): written to an anonymous in-memory file and opened with `dlopen`, so that there
//! is nothing to install beside the binary and nothing is left behind. They link to libtorch's CUDA
//! libraries, which is why they are loaded only when wanted rather than linked.
#![cfg_attr(not(any(dfn4_cuda_graph, test)), allow(dead_code))]
use std::ffi::{c_void, CStr};

/// An embedded shared object, open for the rest of the process (its functions must stay mapped).
pub(crate) struct EmbeddedLib {
    handle: *mut c_void,
    what: &'static str,
}

// SAFETY: a dlopen handle may be used from any thread; it is never closed.
unsafe impl Send for EmbeddedLib {}
// SAFETY: as above; dlsym is thread-safe.
unsafe impl Sync for EmbeddedLib {}

impl EmbeddedLib {
    /// Loads `bytes` (a shared object) under `name`; `what` names it in errors.
    pub(crate) fn open(
        name: &CStr,
        bytes: &[u8],
        what: &'static str,
    ) -> std::result::Result<Self, String> {
        use std::io::Write;
        use std::os::fd::{AsRawFd, FromRawFd};

        // SAFETY: memfd_create with a valid NUL-terminated name; the descriptor is owned by `file` below.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(format!(
                "cannot create an in-memory file for {what}: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
        file.write_all(bytes)
            .map_err(|e| format!("cannot write {what}: {e}"))?;
        let path = std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .map_err(|e| e.to_string())?;
        // Makes CUDA register and the object's NEEDED libtorch_cuda resolvable by soname; a failure shows
        // up as the dlopen error below, which names the missing library.
        super::register_cuda();
        // SAFETY: dlopen with a valid path; the handle is kept for the process lifetime. The file may be
        // closed once the object is mapped.
        let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        drop(file);
        if handle.is_null() {
            return Err(format!("cannot load {what}: {}", dl_error()));
        }
        Ok(Self { handle, what })
    }

    /// The address of symbol `name`.
    pub(crate) fn sym(&self, name: &CStr) -> std::result::Result<*mut c_void, String> {
        // SAFETY: `handle` is a live dlopen handle and `name` is NUL-terminated.
        let p = unsafe { libc::dlsym(self.handle, name.as_ptr()) };
        if p.is_null() {
            Err(format!("{} lacks {name:?}", self.what))
        } else {
            Ok(p)
        }
    }
}

impl EmbeddedLib {
    /// Checks the object's C ABI version (`int name()`) against `expected`, so that a stale object is
    /// refused before any other symbol of it is used.
    pub(crate) fn check_abi(
        &self,
        name: &CStr,
        expected: std::ffi::c_int,
    ) -> std::result::Result<(), String> {
        type VersionFn = unsafe extern "C" fn() -> std::ffi::c_int;
        // SAFETY: every embedded object exports its version as `int name(void)`.
        let version = unsafe { std::mem::transmute::<*mut c_void, VersionFn>(self.sym(name)?)() };
        if version == expected {
            Ok(())
        } else {
            Err(format!(
                "{} ABI {version} where {expected} was expected",
                self.what
            ))
        }
    }
}

fn dl_error() -> String {
    // SAFETY: dlerror returns null or a NUL-terminated message owned by libc, copied out at once.
    let msg = unsafe { libc::dlerror() };
    if msg.is_null() {
        "unknown dlopen error".into()
    } else {
        // SAFETY: non-null, NUL-terminated (see above).
        unsafe { CStr::from_ptr(msg) }
            .to_string_lossy()
            .into_owned()
    }
}
