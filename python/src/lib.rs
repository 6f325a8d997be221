//! `dfn4` for Python: the library's offline, streaming and file enhancement over numpy arrays.
//!
//! Every call copies its input out of the numpy array, then releases the GIL while Rust works, so other
//! Python threads run (and several `Denoiser`s in several threads use several cores). Library errors are
//! raised with the library's text: bad input, unusable parameters, an unknown backend or an unreadable
//! WAV as `ValueError`, file system errors as `OSError` (with errno and file name), anything else (a
//! backend failing) as `RuntimeError`.
//!
//! The rules shared with the command line: NaN and ±Inf samples become 0 with a warning that counts them
//! (`RuntimeWarning` here, a line on stderr there); samples beyond ±1000 are refused; the input file is
//! never the output, and an existing output is replaced only when asked (`overwrite=True`,
//! `--overwrite`). `Denoiser` streams through the library's host glue ([`HostChannel`]), the plugin's:
//! a fixed, reported latency at every rate and output on every call.
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use dfn4_core::audio_io::wav::Existing;
use dfn4_core::backend::registry::{self, ModelSource};
use dfn4_core::backend::{default_backend, AnyBackend};
use dfn4_core::config::MAX_CHANNELS;
use dfn4_core::denoiser::{DenoiseParams, ATTEN_LIM_UNLIMITED_DB};
use dfn4_core::enhance::{check_samples, Enhancer, FileOptions};
use dfn4_core::host::HostChannel;
use dfn4_core::Error;
use numpy::{PyArray1, PyArray2, PyReadonlyArrayDyn};
use pyo3::exceptions::{
    PyFileExistsError, PyOSError, PyRuntimeError, PyRuntimeWarning, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `errno` values for the checks made here (the same on Linux, macOS and the BSDs).
const EEXIST: i32 = 17;
const EISDIR: i32 = 21;

/// The library's error as the matching Python exception, with the same text.
fn py_err(e: Error) -> PyErr {
    let text = e.to_string();
    match e {
        Error::InvalidInput(_)
        | Error::UnsupportedFormat(_)
        | Error::Config(_)
        | Error::Wav(_)
        | Error::WeightMissing(_)
        | Error::WeightShape { .. } => PyValueError::new_err(text),
        Error::Io(_) => PyOSError::new_err(text),
        _ => PyRuntimeError::new_err(text),
    }
}

/// `OSError(errno, strerror, filename)` for `e` on `path` (Python picks the subclass from the errno:
/// `FileNotFoundError`, `PermissionError`, …), or `OSError(text)` naming the path when the system gave
/// no errno.
fn os_error(e: &std::io::Error, path: &Path) -> PyErr {
    let filename = path.to_string_lossy().into_owned();
    let text = e.to_string();
    match e.raw_os_error() {
        Some(errno) => {
            // Rust's text is "No such file or directory (os error 2)"; Python's strerror has no suffix.
            let strerror = text
                .rfind(" (os error ")
                .map_or(text.as_str(), |i| &text[..i]);
            PyOSError::new_err((errno, strerror.to_string(), filename))
        }
        None if e.kind() == std::io::ErrorKind::AlreadyExists => exists_error(path),
        None => PyOSError::new_err(format!("{text}: {filename:?}")),
    }
}

/// `FileExistsError` for an output that is there already.
fn exists_error(path: &Path) -> PyErr {
    PyFileExistsError::new_err((
        EEXIST,
        "File exists (pass overwrite=True to replace it)".to_string(),
        path.to_string_lossy().into_owned(),
    ))
}

/// The backend called `name`, built once per process and shared (its weights are immutable).
fn shared_backend(name: Option<&str>) -> Result<Arc<AnyBackend>, Error> {
    let name = name.unwrap_or(default_backend());
    static CACHE: Mutex<Vec<(String, Arc<AnyBackend>)>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, b)) = cache.iter().find(|(n, _)| n == name) {
        return Ok(Arc::clone(b));
    }
    let backend = Arc::new(registry::create(name, ModelSource::Embedded)?);
    cache.push((name.to_string(), Arc::clone(&backend)));
    Ok(backend)
}

/// The command line's parameters (`dfn4 enhance`: LSNR gates off) with `atten_lim_db`, validated.
fn params(atten_lim_db: Option<f32>) -> Result<DenoiseParams, Error> {
    let params = DenoiseParams {
        atten_lim_db,
        ..DenoiseParams::shipped()
    };
    params.validate()?;
    Ok(params)
}

/// An enhancer with the command line's defaults and `atten_lim_db`.
fn enhancer(backend: Option<&str>, atten_lim_db: Option<f32>) -> Result<Enhancer, Error> {
    Enhancer::new(shared_backend(backend)?, params(atten_lim_db)?)
}

/// A positive rate in the library's supported range (refused before any backend or buffer is built).
fn check_rate(sample_rate: i64) -> PyResult<u32> {
    if sample_rate <= 0 {
        return Err(PyValueError::new_err(format!(
            "sample_rate must be a positive integer in Hz, got {sample_rate}"
        )));
    }
    match u32::try_from(sample_rate) {
        Ok(rate) => dfn4_core::config::check_sample_rate(rate)
            .map(|()| rate)
            .map_err(py_err),
        // Beyond u32 is beyond the range too: the library's message, with the caller's number.
        Err(_) => Err(PyValueError::new_err(format!(
            "unsupported format: sample rate {sample_rate} Hz is outside the supported {}–{} Hz",
            dfn4_core::config::MIN_SAMPLE_RATE_HZ,
            dfn4_core::config::MAX_SAMPLE_RATE_HZ
        ))),
    }
}

/// Replaces NaN and ±Inf samples by 0, the command line's rule for files; returns how many.
fn replace_non_finite(samples: &mut [f32]) -> u64 {
    let mut count = 0;
    for x in samples.iter_mut().filter(|x| !x.is_finite()) {
        *x = 0.0;
        count += 1;
    }
    count
}

/// Warns (`RuntimeWarning`, attributed to the caller's line) that `count` NaN/Inf samples of `what`
/// were replaced by 0 — the command line's warning.
fn warn_replaced(py: Python<'_>, what: &str, count: u64) -> PyResult<()> {
    if count == 0 {
        return Ok(());
    }
    let s = if count == 1 { "" } else { "s" };
    let text = format!("{what}: replaced {count} NaN/Inf sample{s} with 0");
    let text = CString::new(text).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), &text, 1)
}

/// What a value is, for error messages: its dtype and shape when it is an array, else its type.
fn describe(value: &Bound<'_, PyAny>) -> String {
    let dtype = value.getattr("dtype").ok().map(|d| d.to_string());
    let shape = value.getattr("shape").ok().map(|s| s.to_string());
    match (dtype, shape) {
        (Some(d), Some(s)) => format!("an array of dtype {d} and shape {s}"),
        _ => match value.get_type().name() {
            Ok(n) => format!("{n}"),
            Err(_) => "an unknown object".to_string(),
        },
    }
}

/// Audio copied out of a numpy array, NaN/Inf already replaced by 0.
struct Audio {
    channels: Vec<Vec<f32>>,
    two_d: bool,
    non_finite_replaced: u64,
}

/// The channels of a float32 array `[samples]` or `[channels, samples]` (copies). A 2-D array with more
/// rows than columns, or more rows than the library's channel limit, is refused as ambiguous: it is
/// most likely `[samples, channels]` (soundfile's and scipy's layout), and taking it as thousands of
/// channels of a few samples would run for minutes and return garbage.
/// `stream`: a `Denoiser`'s chunk, which must be 1-D.
/// `audio` as float32 samples at full scale ±1: float32 as it is, float64 narrowed, int16 and int32
/// scaled by 2^-15 and 2^-31 (what soundfile and scipy return by default). `None` for anything else.
fn as_f32(audio: &Bound<'_, PyAny>) -> Option<numpy::ndarray::ArrayD<f32>> {
    if let Ok(a) = audio.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        return Some(a.as_array().to_owned());
    }
    if let Ok(a) = audio.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        return Some(a.as_array().mapv(|x| x as f32));
    }
    if let Ok(a) = audio.extract::<PyReadonlyArrayDyn<'_, i16>>() {
        return Some(a.as_array().mapv(|x| f32::from(x) / 32_768.0));
    }
    if let Ok(a) = audio.extract::<PyReadonlyArrayDyn<'_, i32>>() {
        return Some(
            a.as_array()
                .mapv(|x| (f64::from(x) / 2_147_483_648.0) as f32),
        );
    }
    None
}

fn read_audio(name: &str, audio: &Bound<'_, PyAny>, stream: bool) -> PyResult<Audio> {
    let array = as_f32(audio).ok_or_else(|| {
        PyValueError::new_err(format!(
            "{name} must be a numpy array (float32, float64, int16 or int32) of shape [samples] or \
             [channels, samples], got {}",
            describe(audio)
        ))
    })?;
    if stream && array.ndim() != 1 {
        return Err(PyValueError::new_err(format!(
            "{name} must be 1-D [samples], got shape {:?}: a Denoiser streams one channel (use one per \
             channel)",
            array.shape()
        )));
    }
    let view = array.view();
    let mut channels: Vec<Vec<f32>> = match array.ndim() {
        1 => vec![view.iter().copied().collect()],
        2 => {
            let (rows, cols) = (view.shape()[0], view.shape()[1]);
            if rows == 0 {
                return Err(PyValueError::new_err(format!(
                    "{name} has shape ({rows}, {cols}): [channels, samples] needs at least one channel"
                )));
            }
            if rows > MAX_CHANNELS || (rows > cols && cols > 0) {
                return Err(PyValueError::new_err(format!(
                    "{name} has shape ({rows}, {cols}), read as {rows} channels of {cols} samples: \
                     dfn4 takes [channels, samples] (at most {MAX_CHANNELS} channels); got \
                     ({rows}, {cols}): pass {name}.T for a [samples, channels] array"
                )));
            }
            view.outer_iter()
                .map(|row| row.iter().copied().collect())
                .collect()
        }
        n => {
            let shape = view.shape();
            let msg = format!("{name} must have 1 dimension [samples] or 2 [channels, samples]");
            return Err(PyValueError::new_err(format!(
                "{msg}, got {n} (shape {shape:?})"
            )));
        }
    };
    let non_finite_replaced = channels.iter_mut().map(|c| replace_non_finite(c)).sum();
    Ok(Audio {
        channels,
        two_d: array.ndim() == 2,
        non_finite_replaced,
    })
}

/// Enhances `audio` (numpy float32, `[samples]` or `[channels, samples]`) sampled at `sample_rate` Hz.
///
/// Returns a new float32 array of the same shape, sample-aligned with the input (the denoiser's and the
/// resamplers' delays are removed). Any rate from 1 kHz to 768 kHz works: other rates than 48 kHz are
/// resampled to 48 kHz and back. Channels (at most 256, and fewer than samples) are enhanced
/// independently, in parallel. The GIL is released while it runs.
///
/// `backend`: inference engine (`dfn4.backends()` lists those of this build; None: `dfn4.DEFAULT_BACKEND`,
/// which follows the CPU: native-i8 where its AVX2, AVX-VNNI or AVX512-VNNI kernels run, else
/// native-f16). `atten_lim_db`: limit of the noise attenuation in dB (None: unlimited; 0: the input
/// unchanged).
///
/// NaN and infinite samples are replaced by 0 with a `RuntimeWarning` giving their count (as
/// `dfn4 enhance` does for files). Raises ValueError for bad input (wrong dtype or number of
/// dimensions, a `[samples, channels]`-looking shape: more channels than samples or more than 256,
/// samples beyond ±1000, a rate outside 1 kHz to 768 kHz), a negative or NaN `atten_lim_db` or an
/// unknown backend.
#[pyfunction]
#[pyo3(signature = (audio, sample_rate, *, backend = None, atten_lim_db = None))]
fn enhance<'py>(
    py: Python<'py>,
    audio: &Bound<'py, PyAny>,
    sample_rate: i64,
    backend: Option<&str>,
    atten_lim_db: Option<f32>,
) -> PyResult<Bound<'py, PyAny>> {
    let rate = check_rate(sample_rate)?;
    let audio = read_audio("audio", audio, false)?;
    warn_replaced(py, "audio", audio.non_finite_replaced)?;
    let channels = audio.channels;
    let out = py
        .detach(|| enhancer(backend, atten_lim_db)?.enhance(&channels, rate))
        .map_err(py_err)?;
    if audio.two_d {
        Ok(PyArray2::from_vec2(py, &out)?.into_any())
    } else {
        let mono = out.into_iter().next().unwrap_or_default();
        Ok(PyArray1::from_vec(py, mono).into_any())
    }
}

/// `path` with every symlink resolved; for a path that does not exist yet, its folder's resolved path
/// joined with its name (so `out.wav` and `./sub/../out.wav` compare equal before either exists).
fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            dir.canonicalize()
                .map_or_else(|_| path.to_path_buf(), |d| d.join(name))
        }
        _ => path.to_path_buf(),
    }
}

/// Whether `a` and `b` are one file: the same resolved path, or (hard links) the same inode.
fn same_file(a: &Path, b: &Path) -> bool {
    if resolved(a) == resolved(b) {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    false
}

/// The checks `dfn4 enhance` makes before touching anything: the input is not the output, the input
/// can be opened, an existing regular output is replaced only when asked, the output's folder exists.
fn check_paths(in_path: &Path, out_path: &Path, overwrite: bool) -> PyResult<()> {
    if same_file(in_path, out_path) {
        return Err(PyValueError::new_err(format!(
            "in_path and out_path are the same file ({}): refusing to overwrite the input",
            resolved(in_path).display()
        )));
    }
    match std::fs::metadata(in_path) {
        Err(e) => return Err(os_error(&e, in_path)),
        Ok(m) if m.is_dir() => {
            return Err(os_error(
                &std::io::Error::from_raw_os_error(EISDIR),
                in_path,
            ))
        }
        Ok(_) => {}
    }
    std::fs::File::open(in_path).map_err(|e| os_error(&e, in_path))?;
    match std::fs::metadata(out_path) {
        // A device or FIFO is written in place, like the command line does.
        Ok(m) if m.is_file() && !overwrite => return Err(exists_error(out_path)),
        Ok(m) if m.is_dir() => {
            return Err(os_error(
                &std::io::Error::from_raw_os_error(EISDIR),
                out_path,
            ))
        }
        _ => {}
    }
    if let Some(dir) = out_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::metadata(dir).map_err(|e| os_error(&e, out_path))?;
    }
    Ok(())
}

/// Enhances the WAV file `in_path` into `out_path`: same rate, channels, length and sample format,
/// streamed in blocks of one second (memory stays constant); the output appears complete or not at
/// all. The GIL is released while it runs.
///
/// Like `dfn4 enhance`: `out_path` must not be `in_path` (compared after resolving symlinks; ValueError
/// even with `overwrite=True`), and an existing output file raises FileExistsError unless
/// `overwrite=True`. NaN/Inf input samples are replaced by 0, counted in the report and warned about
/// (`RuntimeWarning`).
///
/// Returns a dict: `audio_s` (duration), `processing_s`, `sample_rate`, `channels` and
/// `non_finite_replaced` (NaN/Inf input samples that were replaced by 0).
///
/// Raises ValueError for an unreadable or malformed WAV, one outside 1 kHz to 768 kHz or 256 channels,
/// bad parameters or an unknown backend; OSError (FileNotFoundError, PermissionError, …, with `errno`
/// and `filename`) when a file cannot be opened or written.
#[pyfunction]
#[pyo3(signature = (in_path, out_path, *, backend = None, atten_lim_db = None, overwrite = false))]
fn enhance_file<'py>(
    py: Python<'py>,
    in_path: PathBuf,
    out_path: PathBuf,
    backend: Option<&str>,
    atten_lim_db: Option<f32>,
    overwrite: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let options = FileOptions {
        existing: if overwrite {
            Existing::Overwrite
        } else {
            Existing::Refuse
        },
        ..FileOptions::default()
    };
    let report = py.detach(|| {
        check_paths(&in_path, &out_path, overwrite)?;
        enhancer(backend, atten_lim_db)
            .and_then(|e| e.enhance_file(&in_path, &out_path, &options, &|_, _| {}))
            .map_err(|e| match e {
                // The input opened above: an i/o error now is the output's (or, rarely, a read
                // failing midway).
                Error::Io(io) => os_error(&io, &out_path),
                e => py_err(e),
            })
    })?;
    warn_replaced(py, &in_path.to_string_lossy(), report.non_finite_replaced)?;
    let dict = PyDict::new(py);
    dict.set_item("audio_s", report.audio_s)?;
    dict.set_item("processing_s", report.processing_s)?;
    dict.set_item("sample_rate", report.sample_rate_hz)?;
    dict.set_item("channels", report.channels)?;
    dict.set_item("non_finite_replaced", report.non_finite_replaced)?;
    Ok(dict)
}

/// The names of the backends this build can run (`DEFAULT_BACKEND` is the one used when none is named).
#[pyfunction]
fn backends() -> Vec<&'static str> {
    registry::usable_names()
}

/// One stream: the library's host glue plus what aligns its output with the input.
struct Stream {
    channel: HostChannel,
    /// Output samples still to drop: the glue's first `latency_samples` are from before the stream.
    skip: usize,
    /// Samples given since the stream began (the position in error messages).
    given: u64,
}

impl Stream {
    fn new(channel: HostChannel) -> Self {
        Self {
            skip: channel.latency_samples(),
            channel,
            given: 0,
        }
    }

    /// Back to a fresh stream (the glue keeps its buffers and controls).
    fn reset(&mut self) {
        self.channel.reset();
        self.skip = self.channel.latency_samples();
        self.given = 0;
    }

    /// Runs `samples` through the glue (in place) and returns those past the skip: once the stream
    /// has had `latency_samples`, as many as were given.
    fn process(&mut self, mut samples: Vec<f32>) -> Vec<f32> {
        self.channel.process(&mut samples);
        self.given += samples.len() as u64;
        let dropped = self.skip.min(samples.len());
        self.skip -= dropped;
        samples.drain(..dropped);
        samples
    }

    /// The rest of the output (`latency_samples` of silence push it out), then a fresh stream.
    fn flush(&mut self) -> Vec<f32> {
        let tail = self.process(vec![0.0; self.channel.latency_samples()]);
        self.reset();
        tail
    }
}

/// Streaming enhancement of one channel at `sample_rate` Hz, through the library's host glue (the one
/// the LADSPA/LV2 plugin uses): any chunk size, a fixed delay at every rate.
///
/// `process(chunk)` takes any number of samples, keeps the state across calls and returns the enhanced
/// samples that are final; `flush()` returns the rest. Everything returned, concatenated, is
/// sample-aligned with the input and exactly as long. It lags the input by exactly `latency_samples`:
/// the first calls return fewer samples than given (nothing until `latency_samples` have come in),
/// and from then on every call returns as many samples as it was given (no bursts).
///
/// NaN and infinite samples are replaced by 0 with a `RuntimeWarning` (as `enhance`); samples beyond
/// ±1000 raise ValueError. After `flush()` the object starts a new stream (fresh state). Calls from
/// several threads on one object are serialised; use one `Denoiser` per thread for parallelism. The GIL
/// is released while a call works or waits for the stream's lock (no lock is ever taken while holding
/// the GIL), and `latency_samples`, fixed at construction, takes none.
#[pyclass(module = "dfn4")]
struct Denoiser {
    stream: Mutex<Stream>,
    sample_rate: u32,
    /// Fixed at construction, so reading it takes no lock.
    latency_samples: usize,
    backend: String,
    atten_lim_db: Option<f32>,
}

#[pymethods]
impl Denoiser {
    #[new]
    #[pyo3(signature = (sample_rate = 48000, backend = None, atten_lim_db = None))]
    fn new(
        py: Python<'_>,
        sample_rate: i64,
        backend: Option<&str>,
        atten_lim_db: Option<f32>,
    ) -> PyResult<Self> {
        let rate = check_rate(sample_rate)?;
        let channel = py
            .detach(|| {
                params(atten_lim_db)?;
                let mut channel = HostChannel::new(shared_backend(backend)?, rate)?;
                // The glue's control value: the limit itself, or "unlimited" (the same meaning).
                channel.set_atten_control_db(atten_lim_db.unwrap_or(ATTEN_LIM_UNLIMITED_DB));
                Ok::<_, Error>(channel)
            })
            .map_err(py_err)?;
        Ok(Self {
            latency_samples: channel.latency_samples(),
            stream: Mutex::new(Stream::new(channel)),
            sample_rate: rate,
            backend: backend.unwrap_or(default_backend()).to_string(),
            atten_lim_db,
        })
    }

    /// Enhances `chunk` (numpy float32 `[samples]`, any length) and returns the output samples that
    /// are final (float32 `[n]`; fewer than given at first, see the class).
    fn process<'py>(
        &self,
        py: Python<'py>,
        chunk: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let audio = read_audio("chunk", chunk, true)?;
        // Before any work, so that a warning turned into an error leaves the stream as it was.
        warn_replaced(py, "chunk", audio.non_finite_replaced)?;
        let samples = audio.channels.into_iter().next().unwrap_or_default();
        let out = py
            .detach(|| {
                let mut stream = self.stream.lock().unwrap_or_else(PoisonError::into_inner);
                check_samples(&samples, stream.given)?;
                Ok::<_, Error>(stream.process(samples))
            })
            .map_err(py_err)?;
        Ok(PyArray1::from_vec(py, out))
    }

    /// Ends the stream: returns the remaining output samples (float32 `[n]`), so that everything
    /// returned has exactly as many samples as were given, then starts a fresh stream.
    fn flush<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        let out = py.detach(|| {
            self.stream
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .flush()
        });
        PyArray1::from_vec(py, out)
    }

    /// Drops the stream's state and starts a new one (what was given since the last flush is lost).
    fn reset(&self, py: Python<'_>) {
        // The lock is taken with the GIL released: another thread's `process` may hold it for long.
        py.detach(|| {
            self.stream
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .reset()
        })
    }

    /// The stream's delay in samples at `sample_rate`: the returned samples lag the given ones by
    /// exactly this many (the denoiser's 20 ms, one 10 ms hop of buffering and, at other rates than
    /// 48 kHz, the resamplers: 1439 at 48 kHz, 1763 at 44.1 kHz, 639 at 16 kHz, 319 at 8 kHz; the
    /// plugin's figure at the same rate). Not a shift: the concatenated output is aligned.
    #[getter]
    fn latency_samples(&self) -> usize {
        self.latency_samples
    }

    /// The stream's sample rate in Hz.
    #[getter]
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The backend's name.
    #[getter]
    fn backend(&self) -> &str {
        &self.backend
    }

    fn __repr__(&self) -> String {
        let lim = self
            .atten_lim_db
            .map_or_else(|| "None".to_string(), |v| v.to_string());
        format!(
            "dfn4.Denoiser(sample_rate={}, backend={:?}, atten_lim_db={lim})",
            self.sample_rate, self.backend
        )
    }
}

/// dfn4: real-time speech denoising (DeepFilterNet4 in Rust) over numpy float32 arrays.
///
/// `enhance(audio, sample_rate)` for whole signals, `Denoiser(sample_rate)` for streams,
/// `enhance_file(in_path, out_path)` for WAV files, `backends()` for the engines of this build.
#[pymodule(name = "dfn4")]
fn dfn4(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(enhance, m)?)?;
    m.add_function(wrap_pyfunction!(enhance_file, m)?)?;
    m.add_function(wrap_pyfunction!(backends, m)?)?;
    m.add_class::<Denoiser>()?;
    m.add("DEFAULT_BACKEND", default_backend())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
