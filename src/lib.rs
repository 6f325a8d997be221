//! dfn4: a real-time speech denoiser, a Rust port of DeepFilterNet4 (DeepFilterNet with Mamba layers).
//!
//! Data flows one way: [`dsp`] turns 48 kHz audio into ERB and complex features, a [`backend::Backend`]
//! runs the DfNet4 network ([`model`]) on them, and [`dsp`] applies the predicted ERB gains and deep-filter
//! coefficients before the inverse STFT. [`denoiser::Denoiser`] ties the two together frame by frame;
//! [`enhance`] runs whole signals and files at any rate; [`host::HostChannel`] streams a host's buffers
//! of any size at any rate with a fixed, reported latency (the glue of the plugin and Python's
//! `Denoiser`); [`backend::registry`] is where every front end gets its backend by name.
#![deny(missing_docs)]

pub mod audio_io;
pub mod backend;
pub mod bench;
pub mod config;
pub mod denoiser;
pub mod dsp;
pub mod enhance;
pub mod error;
#[cfg(feature = "gui")]
pub mod gui;
pub mod host;
pub mod model;
pub mod stage;
pub mod stream;
#[cfg(feature = "train")]
pub mod train;

pub use error::{Error, Result};

// The README's Rust example is compiled and run as a doc test, so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
