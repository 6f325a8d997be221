//! The `dfn4denoise` element: the GObject type and its registration (the subclass is in [`imp`]).
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    /// Speech denoising of F32LE interleaved audio, any channel count, 8 to 192 kHz, in place; latency
    /// reported, tail drained at EOS.
    pub struct Dfn4Denoise(ObjectSubclass<imp::Dfn4Denoise>)
        @extends gst_audio::AudioFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers `dfn4denoise` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "dfn4denoise",
        gst::Rank::NONE,
        Dfn4Denoise::static_type(),
    )
}
