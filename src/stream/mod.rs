//! The live pipeline: audio device callbacks, lock-free rings and the worker threads that own the
//! denoisers. [`meters`] is what the pipeline publishes to displays and reads back as controls; it has
//! no dependency on an audio host, so a GUI can be built and tested without one.
pub mod meters;
