//! Audio files for the command line and tools: WAV reading and writing with strict validation
//! ([`wav`], [`wav_format`]), compressed inputs ([`compressed`], feature `formats`), and one reader
//! for whatever a user hands in ([`source`]).
mod block;
#[cfg(feature = "formats")]
pub mod compressed;
#[cfg(feature = "formats")]
pub mod flac_write;
#[cfg(feature = "formats")]
mod metadata_guard;
#[cfg(feature = "formats")]
mod mp4_guard;
pub mod source;
pub mod wav;
pub mod wav_format;
mod wav_read;
mod wav_write;
pub mod writer;

pub use source::AudioReader;
pub use wav::{decode_wav, read_wav, write_wav_atomic, SampleFormat, WavAudio};
pub use writer::AudioWriter;
