//! What the C caller gets back when something goes wrong: the status codes, the thread's last error
//! message ([`dfn4_last_error`]) and the guard that keeps a Rust panic from unwinding into C.
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

/// Status codes: `DFN4_OK` (0) or a negative error. Functions return them as `int`.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub enum Dfn4Status {
    /// Success.
    DFN4_OK = 0,
    /// A required pointer (handle, input, output) was NULL.
    DFN4_ERR_NULL = -1,
    /// A size out of range: `frames × channels` samples do not fit in memory, or a pointer is not
    /// aligned for `float`.
    DFN4_ERR_SIZE = -2,
    /// A value out of range (a NaN or negative attenuation limit).
    DFN4_ERR_INVALID = -3,
    /// dfn4 panicked inside this call (a bug; the message says where). The handle is unusable from now
    /// on, except for `dfn4_denoiser_destroy`.
    DFN4_ERR_PANIC = -4,
    /// The handle panicked in an earlier call and is unusable (destroy it and create a new one).
    DFN4_ERR_POISONED = -5,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

#[cfg(test)]
thread_local! {
    static PANIC_IN_NEXT_CALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Test hook: the next entry point called on this thread panics inside its guard (as a bug in dfn4
/// would), so that the tests can check that the panic comes back as `DFN4_ERR_PANIC`.
#[cfg(test)]
pub(crate) fn panic_in_next_call() {
    PANIC_IN_NEXT_CALL.with(|p| p.set(true));
}

/// Records `message` as this thread's last error (NUL bytes inside it become spaces). Only failing
/// calls get here, so the allocation is never on a successful call's path.
pub(crate) fn set_last_error(message: String) {
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // `try_with`: a call made while the thread is being torn down simply has no message.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some(message);
        }
    });
}

/// Records `message` and returns `status` as an error.
pub(crate) fn fail<T>(status: Dfn4Status, message: String) -> Result<T, Dfn4Status> {
    set_last_error(message);
    Err(status)
}

/// Runs `body`, turning a panic into `Err(DFN4_ERR_PANIC)` with the panic's text as the thread's last
/// error (`what` names the entry point). A panic must never unwind through `extern "C"`: Rust would abort
/// the caller's whole process.
pub(crate) fn catch<T>(
    what: &str,
    body: impl FnOnce() -> Result<T, Dfn4Status>,
) -> Result<T, Dfn4Status> {
    let body = || {
        #[cfg(test)]
        if PANIC_IN_NEXT_CALL.with(|p| p.replace(false)) {
            panic!("test hook: a panic inside {what}");
        }
        body()
    };
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(no message)");
            set_last_error(format!("{what}: internal error (panic): {text}"));
            // The payload's destructor could panic too; a second unwind here would abort.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            Err(Dfn4Status::DFN4_ERR_PANIC)
        }
    }
}

/// The message of the last call that failed on this thread (NUL-terminated UTF-8), or NULL if none has.
/// The pointer stays valid until the next `dfn4_` call on this thread; copy the text to keep it.
#[no_mangle]
pub extern "C" fn dfn4_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| match slot.try_borrow().as_deref() {
            Ok(Some(message)) => message.as_ptr(),
            _ => ptr::null(),
        })
        .unwrap_or(ptr::null())
}
