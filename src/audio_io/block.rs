//! The shape checks every block reader and writer shares: one vector or slice per channel, of equal
//! length.
use crate::{Error, Result};

/// Checks that `out` has one vector per channel and clears them, ready for a block to be read into.
pub(crate) fn clear_for_read(out: &mut [Vec<f32>], channels: usize) -> Result<()> {
    if out.len() != channels {
        return Err(Error::InvalidInput(format!(
            "{} output channels for a file of {channels}",
            out.len()
        )));
    }
    out.iter_mut().for_each(Vec::clear);
    Ok(())
}

/// Frames in `block` after checking it has one slice per channel, all of the same length.
pub(crate) fn frames_to_write<S: AsRef<[f32]>>(block: &[S], channels: usize) -> Result<usize> {
    let frames = block.first().map_or(0, |c| c.as_ref().len());
    if block.len() != channels || block.iter().any(|c| c.as_ref().len() != frames) {
        return Err(Error::InvalidInput(format!(
            "a block needs {channels} channels of equal length"
        )));
    }
    Ok(frames)
}
