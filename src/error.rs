//! The library's one error type. The CLI wraps it with context (anyhow); the library never panics on
//! anything a user supplies.
use thiserror::Error as ThisError;

/// Everything that can go wrong in the library.
#[derive(Debug, ThisError)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A WAV file could not be read or written.
    #[error("wav error: {0}")]
    Wav(String),
    /// A model or runtime configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A weight the model needs is not in the weights file.
    #[error("missing weight {0}")]
    WeightMissing(String),
    /// A weight has the wrong shape.
    #[error("shape of {name} is {found:?}, expected {expected:?}")]
    WeightShape {
        /// PyTorch-style key of the weight.
        name: String,
        /// Shape found in the file.
        found: Vec<usize>,
        /// Shape the model definition requires.
        expected: Vec<usize>,
    },
    /// A backend failed (device missing, kernel error, ...).
    #[error("backend error: {0}")]
    Backend(String),
    /// An audio device failed.
    #[error("audio error: {0}")]
    Audio(String),
    /// The meter window could not be opened or failed while open (no display, no OpenGL, ...).
    #[error("gui error: {0}")]
    Gui(String),
    /// Training failed (corpus, checkpoint, export, a diverging loss, ...).
    #[error("training error: {0}")]
    Train(String),
    /// A sample rate or channel count outside the supported range ([`crate::config::check_format`]).
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),
    /// Input data is unusable (empty, wrong length, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Config(format!("json: {e}"))
    }
}

impl From<safetensors::SafeTensorError> for Error {
    fn from(e: safetensors::SafeTensorError) -> Self {
        Error::Config(format!("safetensors: {e}"))
    }
}

#[cfg(feature = "tch")]
impl From<tch::TchError> for Error {
    fn from(e: tch::TchError) -> Self {
        Error::Backend(format!("libtorch: {e}"))
    }
}
