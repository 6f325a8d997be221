//! The trained weights compiled into the binary (`include_bytes!`), when `models/dfn4.safetensors` exists
//! at build time. Without them the CLI asks for `--model` instead of running an untrained network.
use super::weights::{config_from_json, Weights};
use crate::{Error, Result};

/// Bytes aligned like the widest tensor element, so [`Weights`] can read the `f32` tensors in place.
#[repr(C, align(16))]
struct Aligned<B: ?Sized>(B);

#[cfg(dfn4_embedded)]
static ALIGNED: &Aligned<[u8]> = &Aligned(*include_bytes!(env!("DFN4_WEIGHTS_PATH")));
#[cfg(dfn4_embedded)]
const WEIGHTS: Option<&[u8]> = Some(&ALIGNED.0);
#[cfg(dfn4_embedded)]
const CONFIG: Option<&str> = Some(include_str!(env!("DFN4_CONFIG_PATH")));
#[cfg(not(dfn4_embedded))]
const WEIGHTS: Option<&[u8]> = None;
#[cfg(not(dfn4_embedded))]
const CONFIG: Option<&str> = None;

/// Whether this build carries trained weights.
pub fn available() -> bool {
    WEIGHTS.is_some()
}

/// The embedded trained weights, read in place (the tensors borrow the binary's bytes), or an error
/// that says how to supply a model.
pub fn load() -> Result<Weights<'static>> {
    match (WEIGHTS, CONFIG) {
        (Some(bytes), Some(cfg)) => Weights::from_safetensors_bytes(&config_from_json(cfg)?, bytes),
        _ => Err(Error::Config(
            "this build has no trained weights embedded (models/dfn4.safetensors was absent at build time); pass --model PATH".into(),
        )),
    }
}
