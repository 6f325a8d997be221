//! The live pipeline: audio device callbacks, lock-free rings and the worker threads that own the
//! denoisers. [`meters`] is what the pipeline publishes to displays and reads back as controls; it has
//! no dependency on an audio host, so a GUI can be built and tested without one. Everything else needs
//! the cargo feature `live` (cpal).
//!
//! ```text
//!  cpal input callback ──► ring (per worker) ──► worker: resample → Denoiser (10 ms hops) → resample
//!   (mix to mono, tap)                                 │ meters (atomics), controls
//!  cpal output callback ◄── ring (per worker) ◄────────┘
//!   (active worker → all channels, tap)
//! ```
//!
//! Using it (what `dfn4 live` does, and what a GUI does with the meters):
//! ```ignore
//! let pipeline = LivePipeline::start(LiveConfig { workers: vec![WorkerSpec { .. }], .. })?;
//! let meters = pipeline.meters();      // Arc<LiveMeters>: read levels, set bypass / atten_lim_db
//! // ... display meters; `pipeline.stop()` or `meters.running.store(false)` ends the run ...
//! let summary = pipeline.join();       // devices closed, workers joined, recordings finalised
//! ```
//!
//! Real-time rules: the callbacks ([`callbacks`]) never allocate, lock, log or block (tested with a
//! counting allocator); a full ring drops samples and an empty one plays silence, each counted in the
//! meters. Workers run with flush-to-zero and process one hop at a time.
#[cfg(feature = "live")]
pub mod callbacks;
#[cfg(feature = "live")]
pub mod clock;
#[cfg(feature = "live")]
pub mod convert;
#[cfg(feature = "live")]
pub mod devices;
pub mod meters;
#[cfg(feature = "live")]
mod open;
#[cfg(feature = "live")]
pub mod pipeline;
#[cfg(feature = "live")]
pub mod recorder;
#[cfg(feature = "live")]
pub mod stats;
#[cfg(feature = "live")]
pub mod summary;
pub mod trim;
#[cfg(feature = "live")]
pub mod worker;

#[cfg(feature = "live")]
pub use pipeline::{LiveConfig, LivePipeline, WorkerSpec};
#[cfg(feature = "live")]
pub use summary::{LiveInfo, LiveSummary, StreamInfo};
