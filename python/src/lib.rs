//! `dfn4` for Python: the library's offline, streaming and file enhancement over numpy arrays.
//!
//! Every call copies its input out of the numpy array, then releases the GIL while Rust works, so other
//! Python threads run (and several `Denoiser`s in several threads use several cores). Library errors are
//! raised with the library's text: bad input, unusable parameters, an unknown backend or an unreadable
//! WAV as `ValueError`, file system errors as `OSError`, anything else (a backend failing) as
//! `RuntimeError`.
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use dfn4_core::backend::registry::{self, ModelSource};
use dfn4_core::backend::{AnyBackend, DEFAULT_BACKEND};
use dfn4_core::config::SAMPLE_RATE_HZ;
use dfn4_core::denoiser::DenoiseParams;
use dfn4_core::enhance::{ChannelStream, Enhancer, FileOptions};
use dfn4_core::Error;
use numpy::{PyArray1, PyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

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

/// The backend called `name`, built once per process and shared (its weights are immutable).
fn shared_backend(name: &str) -> Result<Arc<AnyBackend>, Error> {
    static CACHE: Mutex<Vec<(String, Arc<AnyBackend>)>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, b)) = cache.iter().find(|(n, _)| n == name) {
        return Ok(Arc::clone(b));
    }
    let backend = Arc::new(registry::create(name, ModelSource::Embedded)?);
    cache.push((name.to_string(), Arc::clone(&backend)));
    Ok(backend)
}

/// An enhancer with the command line's defaults (`dfn4 enhance`: LSNR gates off) and `atten_lim_db`.
fn enhancer(backend: &str, atten_lim_db: Option<f32>) -> Result<Enhancer, Error> {
    let params = DenoiseParams {
        atten_lim_db,
        ..DenoiseParams::shipped()
    };
    params.validate()?;
    Enhancer::new(shared_backend(backend)?, params)
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

/// Rejects NaN and infinite samples (the file reader replaces them by 0; an array is refused instead,
/// since the caller can fix it and a silent change would hide a bug upstream).
fn check_finite(name: &str, channels: &[Vec<f32>]) -> PyResult<()> {
    for (c, x) in channels.iter().enumerate() {
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            let at = if channels.len() > 1 {
                format!("channel {c}, sample {i}")
            } else {
                format!("sample {i}")
            };
            return Err(PyValueError::new_err(format!(
                "{name} contains a non-finite value ({}) at {at}",
                x[i]
            )));
        }
    }
    Ok(())
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

/// The channels of a float32 array `[samples]` or `[channels, samples]` (copies), and whether it was 2-D.
fn read_audio(name: &str, audio: &Bound<'_, PyAny>) -> PyResult<(Vec<Vec<f32>>, bool)> {
    let array: PyReadonlyArrayDyn<'_, f32> = audio.extract().map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be a numpy float32 array of shape [samples] or [channels, samples], got {}",
            describe(audio)
        ))
    })?;
    let view = array.as_array();
    let channels = match array.ndim() {
        1 => vec![view.iter().copied().collect()],
        2 => {
            if view.shape()[0] == 0 {
                return Err(PyValueError::new_err(format!(
                    "{name} has shape {:?}: [channels, samples] needs at least one channel",
                    view.shape()
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
    check_finite(name, &channels)?;
    Ok((channels, array.ndim() == 2))
}

/// Enhances `audio` (numpy float32, `[samples]` or `[channels, samples]`) sampled at `sample_rate` Hz.
///
/// Returns a new float32 array of the same shape, sample-aligned with the input (the denoiser's and the
/// resamplers' delays are removed). Any rate from 1 kHz to 768 kHz works: other rates than 48 kHz are
/// resampled to 48 kHz and back. Channels (at most 256) are enhanced independently, in parallel. The
/// GIL is released while it runs.
///
/// `backend`: inference engine (`dfn4.backends()` lists those of this build; default "native-f16").
/// `atten_lim_db`: limit of the noise attenuation in dB (None: unlimited; 0: the input unchanged).
///
/// Raises ValueError for bad input (wrong dtype or number of dimensions, NaN or infinite samples,
/// a rate outside 1 kHz to 768 kHz, more than 256 channels), a negative or NaN `atten_lim_db` or an
/// unknown backend.
#[pyfunction]
#[pyo3(signature = (audio, sample_rate, *, backend = DEFAULT_BACKEND, atten_lim_db = None))]
fn enhance<'py>(
    py: Python<'py>,
    audio: &Bound<'py, PyAny>,
    sample_rate: i64,
    backend: &str,
    atten_lim_db: Option<f32>,
) -> PyResult<Bound<'py, PyAny>> {
    let rate = check_rate(sample_rate)?;
    let (channels, two_d) = read_audio("audio", audio)?;
    let out = py
        .detach(|| enhancer(backend, atten_lim_db)?.enhance(&channels, rate))
        .map_err(py_err)?;
    if two_d {
        Ok(PyArray2::from_vec2(py, &out)?.into_any())
    } else {
        let mono = out.into_iter().next().unwrap_or_default();
        Ok(PyArray1::from_vec(py, mono).into_any())
    }
}

/// Enhances the WAV file `in_path` into `out_path`: same rate, channels, length and sample format,
/// streamed in blocks of one second (memory stays constant); the output appears complete or not at
/// all. The GIL is released while it runs.
///
/// Returns a dict: `audio_s` (duration), `processing_s`, `sample_rate`, `channels` and
/// `non_finite_replaced` (NaN/Inf input samples that were replaced by 0).
///
/// Raises ValueError for an unreadable or malformed WAV, one outside 1 kHz to 768 kHz or 256 channels,
/// bad parameters or an unknown backend, OSError when a file cannot be opened or written.
#[pyfunction]
#[pyo3(signature = (in_path, out_path, *, backend = DEFAULT_BACKEND, atten_lim_db = None))]
fn enhance_file<'py>(
    py: Python<'py>,
    in_path: PathBuf,
    out_path: PathBuf,
    backend: &str,
    atten_lim_db: Option<f32>,
) -> PyResult<Bound<'py, PyDict>> {
    let report = py
        .detach(|| {
            enhancer(backend, atten_lim_db)?.enhance_file(
                &in_path,
                &out_path,
                &FileOptions::default(),
                &|_, _| {},
            )
        })
        .map_err(py_err)?;
    let dict = PyDict::new(py);
    dict.set_item("audio_s", report.audio_s)?;
    dict.set_item("processing_s", report.processing_s)?;
    dict.set_item("sample_rate", report.sample_rate_hz)?;
    dict.set_item("channels", report.channels)?;
    dict.set_item("non_finite_replaced", report.non_finite_replaced)?;
    Ok(dict)
}

/// The names of the backends this build can run (the first is the default's family).
#[pyfunction]
fn backends() -> Vec<&'static str> {
    registry::usable_names()
}

/// Streaming enhancement of one channel at `sample_rate` Hz.
///
/// `process(chunk)` takes any number of samples, keeps the state across calls and returns the enhanced
/// samples that are final so far; `flush()` returns the rest. The concatenation of everything returned
/// is sample-aligned with the input and exactly as long: it equals `dfn4.enhance` of the whole signal.
/// Because the denoiser's delay is removed, the output lags: the first calls return fewer samples than
/// they were given (none until about `latency_samples` plus one 10 ms hop have come in).
///
/// After `flush()` the object starts a new stream (fresh state). Calls from several threads on one
/// object are serialised; use one `Denoiser` per thread for parallelism. The GIL is released while a
/// call works or waits for the stream's lock (no lock is ever taken while holding the GIL), and
/// `latency_samples`, computed once at construction, takes none.
#[pyclass(module = "dfn4")]
struct Denoiser {
    enhancer: Enhancer,
    stream: Mutex<ChannelStream<AnyBackend>>,
    sample_rate: u32,
    /// Computed once at construction (it never changes), so reading it takes no lock.
    latency_samples: usize,
    backend: String,
    atten_lim_db: Option<f32>,
}

#[pymethods]
impl Denoiser {
    #[new]
    #[pyo3(signature = (sample_rate = 48000, backend = DEFAULT_BACKEND, atten_lim_db = None))]
    fn new(
        py: Python<'_>,
        sample_rate: i64,
        backend: &str,
        atten_lim_db: Option<f32>,
    ) -> PyResult<Self> {
        let rate = check_rate(sample_rate)?;
        let (enhancer, stream) = py
            .detach(|| {
                let enhancer = enhancer(backend, atten_lim_db)?;
                let stream = enhancer.channel(rate)?;
                Ok::<_, Error>((enhancer, stream))
            })
            .map_err(py_err)?;
        let at_48k = stream.denoiser_latency_samples() as f64;
        let latency_samples = (at_48k * f64::from(rate) / SAMPLE_RATE_HZ as f64).round() as usize;
        Ok(Self {
            enhancer,
            stream: Mutex::new(stream),
            sample_rate: rate,
            latency_samples,
            backend: backend.to_string(),
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
        let (channels, two_d) = read_audio("chunk", chunk)?;
        if two_d {
            return Err(PyValueError::new_err(
                "chunk must be 1-D [samples]: a Denoiser streams one channel (use one per channel)",
            ));
        }
        let out = py
            .detach(|| {
                let mut stream = self.stream.lock().unwrap_or_else(PoisonError::into_inner);
                let mut out = Vec::with_capacity(channels[0].len() + 1024);
                stream.push(&channels[0], &mut out).map(|()| out)
            })
            .map_err(py_err)?;
        Ok(PyArray1::from_vec(py, out))
    }

    /// Ends the stream: returns the remaining output samples (float32 `[n]`), so that everything
    /// returned has exactly as many samples as were given, then starts a fresh stream.
    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let out = py
            .detach(|| {
                let mut stream = self.stream.lock().unwrap_or_else(PoisonError::into_inner);
                let mut out = Vec::new();
                stream.finish(&mut out)?;
                *stream = self.enhancer.channel(self.sample_rate)?;
                Ok::<_, Error>(out)
            })
            .map_err(py_err)?;
        Ok(PyArray1::from_vec(py, out))
    }

    /// Drops the stream's state and starts a new one (what was given since the last flush is lost).
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        // The lock is taken with the GIL released: another thread's `process` may hold it for long.
        py.detach(|| {
            let fresh = self.enhancer.channel(self.sample_rate)?;
            *self.stream.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
            Ok::<_, Error>(())
        })
        .map_err(py_err)
    }

    /// The denoiser's algorithmic delay (STFT window and look-ahead) in samples at this stream's rate:
    /// its delay at 48 kHz times `sample_rate / 48000`, rounded. `process` removes it, so it is not a
    /// shift of the output but how far the returned samples lag behind the given ones (plus up to one
    /// 10 ms hop of buffering, and the resamplers' delays at other rates than 48 kHz).
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
#[pymodule]
fn dfn4(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(enhance, m)?)?;
    m.add_function(wrap_pyfunction!(enhance_file, m)?)?;
    m.add_function(wrap_pyfunction!(backends, m)?)?;
    m.add_class::<Denoiser>()?;
    m.add("DEFAULT_BACKEND", DEFAULT_BACKEND)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
