//! CUDA graphs through dfn4's C++ shim (`csrc/cuda_graph.cpp`, a C ABI over libtorch's
//! `at::cuda::CUDAGraph`; tch has no graph API): record the kernels that a run of tch operations launches
//! once, then replay them with one launch.
//!
//! The shim links to `libtorch_cuda.so`, which a CPU-only libtorch lacks or cannot load, so it is not
//! linked into the binary. build.rs compiles it to a shared object that is embedded here and loaded
//! ([`super::shim`]) the first time a graph is wanted, which only happens on a CUDA device.
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::OnceLock;

use crate::{Error, Result};

/// `const char* dfn4_cg_last_error()`.
type LastErrorFn = unsafe extern "C" fn() -> *const c_char;
/// `int dfn4_cg_new(int device, void** out)`.
type NewFn = unsafe extern "C" fn(c_int, *mut *mut c_void) -> c_int;
/// `void f(void* graph)`.
type VoidFn = unsafe extern "C" fn(*mut c_void);
/// `int f(void* graph)`.
type StatusFn = unsafe extern "C" fn(*mut c_void) -> c_int;
/// `int dfn4_cg_end(void* graph, size_t* nodes)`.
type EndFn = unsafe extern "C" fn(*mut c_void, *mut usize) -> c_int;

/// The shim's function table, resolved once per process.
struct Shim {
    last_error: LastErrorFn,
    new: NewFn,
    free: VoidFn,
    enter: StatusFn,
    exit: StatusFn,
    begin: StatusFn,
    end: EndFn,
    abort: VoidFn,
    replay: StatusFn,
}

impl Shim {
    /// `Ok` for status 0, else the shim's message for the failed `what`.
    fn check(&self, status: c_int, what: &str) -> Result<()> {
        if status == 0 {
            return Ok(());
        }
        // SAFETY: the shim returns a pointer to its thread-local, NUL-terminated message buffer, valid
        // until its next call on this thread; it is copied out at once.
        let msg = unsafe { CStr::from_ptr((self.last_error)()) }
            .to_string_lossy()
            .into_owned();
        Err(Error::Backend(format!("CUDA graph {what} failed: {msg}")))
    }
}

static SHIM: OnceLock<std::result::Result<Shim, String>> = OnceLock::new();

fn shim() -> std::result::Result<&'static Shim, String> {
    SHIM.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// Whether CUDA graphs can be used in this process, or the one-line reason they cannot. Loads the shim
/// on the first call, which needs libtorch's CUDA libraries to load (they do not on a CPU-only install).
pub fn availability() -> std::result::Result<(), String> {
    shim().map(|_| ())
}

#[cfg(not(dfn4_cuda_graph))]
fn load() -> std::result::Result<Shim, String> {
    Err("this build has no CUDA-graph shim (libtorch without CUDA headers, or not Linux)".into())
}

/// Version of the C ABI that this file expects (`kAbiVersion` in the shim).
#[cfg(dfn4_cuda_graph)]
const ABI_VERSION: c_int = 1;

/// The shim built by build.rs for this libtorch.
#[cfg(dfn4_cuda_graph)]
static SHIM_SO: &[u8] = include_bytes!(env!("DFN4_CUDA_GRAPH_SO"));

#[cfg(dfn4_cuda_graph)]
fn load() -> std::result::Result<Shim, String> {
    let lib = super::shim::EmbeddedLib::open(c"dfn4-cuda-graph", SHIM_SO, "the CUDA-graph shim")?;
    lib.check_abi(c"dfn4_cg_abi_version", ABI_VERSION)?;
    // SAFETY (all transmutes below): each symbol is the shim's `extern "C"` function of exactly that
    // signature (csrc/cuda_graph.cpp), and the ABI version was checked above.
    unsafe {
        use std::mem::transmute;
        Ok(Shim {
            last_error: transmute::<*mut c_void, LastErrorFn>(lib.sym(c"dfn4_cg_last_error")?),
            new: transmute::<*mut c_void, NewFn>(lib.sym(c"dfn4_cg_new")?),
            free: transmute::<*mut c_void, VoidFn>(lib.sym(c"dfn4_cg_free")?),
            enter: transmute::<*mut c_void, StatusFn>(lib.sym(c"dfn4_cg_enter")?),
            exit: transmute::<*mut c_void, StatusFn>(lib.sym(c"dfn4_cg_exit")?),
            begin: transmute::<*mut c_void, StatusFn>(lib.sym(c"dfn4_cg_begin")?),
            end: transmute::<*mut c_void, EndFn>(lib.sym(c"dfn4_cg_end")?),
            abort: transmute::<*mut c_void, VoidFn>(lib.sym(c"dfn4_cg_abort")?),
            replay: transmute::<*mut c_void, StatusFn>(lib.sym(c"dfn4_cg_replay")?),
        })
    }
}

/// Where a [`CudaGraph`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Empty,
    Ready,
    /// A capture failed; the graph can only be dropped.
    Broken,
}

/// One CUDA graph and the side stream it is captured on.
///
/// Use: [`on_capture_stream`](Self::on_capture_stream) to warm up (run the ops once eagerly on that
/// stream, so that lazily created cuBLAS/cuDNN resources exist before capture), then
/// [`capture`](Self::capture) the ops once, then [`replay`](Self::replay) them. Tensors allocated during
/// capture come from the graph's private memory pool and stay valid as long as the caller holds them;
/// every replay rewrites them in place. Capture and warm-up must run on the calling thread and must not
/// synchronise with the host (no reading values back).
pub struct CudaGraph {
    raw: NonNull<c_void>,
    shim: &'static Shim,
    phase: Phase,
    nodes: usize,
}

// SAFETY: the shim object has no thread affinity: capture happens inside one call on one thread, and a
// replay launches on the calling thread's current stream.
unsafe impl Send for CudaGraph {}

impl CudaGraph {
    /// A graph to be captured on CUDA device `device_index`.
    pub fn new(device_index: usize) -> Result<Self> {
        let shim = shim().map_err(Error::Backend)?;
        let device = c_int::try_from(device_index)
            .map_err(|_| Error::InvalidInput(format!("CUDA device {device_index}")))?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer; the shim sets it on success.
        shim.check(unsafe { (shim.new)(device, &mut raw) }, "creation")?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::Backend("CUDA graph creation returned null".into()))?;
        Ok(Self {
            raw,
            shim,
            phase: Phase::Empty,
            nodes: 0,
        })
    }

    /// Runs `f` eagerly with the capture stream current (after waiting for the current stream), then
    /// waits for it and restores the previous stream. A panic in `f` (tch reports errors by panicking)
    /// becomes an error.
    pub fn on_capture_stream<R>(&mut self, f: impl FnOnce() -> R) -> Result<R> {
        let s = self.shim;
        // SAFETY: `raw` is the live shim object.
        s.check(unsafe { (s.enter)(self.raw.as_ptr()) }, "warm-up")?;
        let r = catch_unwind(AssertUnwindSafe(f));
        // SAFETY: as above; restores the stream even after a panic in `f`.
        let exited = s.check(unsafe { (s.exit)(self.raw.as_ptr()) }, "warm-up");
        let r = r.map_err(|p| panic_error("warm-up", p))?;
        exited.map(|_| r)
    }

    /// Records the kernels `f` launches (without running them) and returns what `f` returned, e.g. the
    /// output tensors that every replay will overwrite. One capture per graph; on failure the graph is
    /// unusable.
    pub fn capture<R>(&mut self, f: impl FnOnce() -> R) -> Result<R> {
        if self.phase != Phase::Empty {
            return Err(Error::Backend("CUDA graph captured twice".into()));
        }
        let s = self.shim;
        self.phase = Phase::Broken;
        // SAFETY: `raw` is the live shim object; begin cleans up after itself when it fails.
        s.check(unsafe { (s.begin)(self.raw.as_ptr()) }, "capture start")?;
        let r = match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => r,
            Err(p) => {
                // SAFETY: ends the capture that `begin` started.
                unsafe { (s.abort)(self.raw.as_ptr()) };
                return Err(panic_error("capture", p));
            }
        };
        let mut nodes = 0usize;
        // SAFETY: ends the capture that `begin` started; `nodes` is a valid out-pointer.
        s.check(
            unsafe { (s.end)(self.raw.as_ptr(), &mut nodes) },
            "capture end",
        )?;
        self.nodes = nodes;
        self.phase = Phase::Ready;
        Ok(r)
    }

    /// Launches the captured kernels on the current stream (queued; a later device-to-host copy or
    /// synchronise waits for them).
    pub fn replay(&self) -> Result<()> {
        if self.phase != Phase::Ready {
            return Err(Error::Backend(
                "CUDA graph replayed without a successful capture".into(),
            ));
        }
        // SAFETY: `raw` is the live shim object with an instantiated graph.
        self.shim
            .check(unsafe { (self.shim.replay)(self.raw.as_ptr()) }, "replay")
    }

    /// Nodes (kernels and copies) in the captured graph: what one replay launches.
    pub fn nodes(&self) -> usize {
        self.nodes
    }
}

impl Drop for CudaGraph {
    fn drop(&mut self) {
        // SAFETY: `raw` came from the shim's `new` and is freed once, here.
        unsafe { (self.shim.free)(self.raw.as_ptr()) };
    }
}

fn panic_error(what: &str, payload: Box<dyn std::any::Any + Send>) -> Error {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic");
    Error::Backend(format!("CUDA graph {what} failed: {msg}"))
}
