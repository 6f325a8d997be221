//! Pure-Rust DfNet4 inference, the default backend: the forward computation of models/README.md on
//! `f32`, with weights copied into kernel-friendly layouts at load time and every buffer of the per-frame
//! path preallocated in [`NativeState`], so [`Backend::step`] never allocates.
//!
//! Layout of the work: the encoder convolutions and the decoder convolutions run frame by frame (their
//! weights are a few KB), the dense layers and Mamba projections run on `n` frames at once (a batch of
//! streams in `step`, a block of consecutive frames in `run_sequence`) so their weights are read once per
//! call, and only the Mamba conv step and selective scan walk the frames in time order.
#[macro_use]
mod simd;
mod decoder;
mod fastmath;
mod layers;
mod mamba;
mod packed;

use decoder::{DecScratch, Decoder};
use layers::{add, ConvScratch, EncMaps, Encoder};
use mamba::{Mamba, MambaScratch, MambaState, Streams};
pub use packed::WeightPrecision;
use simd::Isa;
pub use simd::{CpuFeatures, Int8Kernel};

use super::{
    check_block, check_sequence, check_step, Backend, Features, ModelOutput, SeqFeatures,
    SeqModelOutput,
};
use crate::config::ModelConfig;
use crate::model::Weights;
use crate::stage::Stage;
use crate::{Error, Result};

/// Frames per block in [`Backend::run_sequence`]: large enough to reuse each dense layer's weights many
/// times, small enough for the activations to stay in L2.
const SEQ_BLOCK_FRAMES: usize = 32;

/// The matrix kernel the dense layers of `native-i8` run with on a CPU that reports `features`: the
/// engine's own choice, as a pure function (the default backend's rule is tested with it).
pub fn int8_kernel_for(features: CpuFeatures) -> Int8Kernel {
    Isa::select(features).int8_kernel()
}

/// The matrix kernel the dense layers of `native-i8` run with on this CPU.
pub fn int8_kernel() -> Int8Kernel {
    Isa::detect().int8_kernel()
}

/// The native DfNet4 engine: immutable weights, shareable between threads.
pub struct NativeBackend {
    cfg: ModelConfig,
    precision: WeightPrecision,
    isa: Isa,
    enc: Encoder,
    mamba: Mamba,
    dec: Decoder,
}

/// Recurrent state and scratch buffers for a batch of streams.
pub struct NativeState {
    batch: usize,
    mamba: MambaState,
    scratch: Scratch,
    /// Activations for [`Backend::step_block`]'s blocks of up to `block_frames` frames (none until
    /// the first block or [`Backend::reserve_block`], so a real-time state holds only `scratch`).
    block: Option<Scratch>,
    block_frames: usize,
}

impl NativeState {
    /// The decoder's input after the last [`Backend::step`], `[batch][d_model]`: the Mamba core's
    /// normalised output, which the ERB and DF decoders and the LSNR head (`dec.lsnr_fc`) read. A view
    /// of scratch the step has already written, so reading it costs the real-time path nothing; for
    /// probing the model's features (fitting a head on them), not for the audio path.
    pub fn embedding(&self) -> &[f32] {
        &self.scratch.x
    }
}

/// Activations for up to `n` frames, plus single-frame convolution scratch.
struct Scratch {
    e0: Vec<f32>,
    e1: Vec<f32>,
    c0: Vec<f32>,
    c1: Vec<f32>,
    cat: Vec<f32>,
    x: Vec<f32>,
    g8: Vec<f32>,
    hidden: Vec<f32>,
    col: Vec<f32>,
    row: Vec<f32>,
    words: Vec<u32>,
    g16: Vec<f32>,
    g32: Vec<f32>,
    skip: Vec<f32>,
    mamba: MambaScratch,
}

/// The per-frame sizes of the activations, all from the config.
struct Sizes {
    e0: usize,
    e1: usize,
    c0: usize,
    c1: usize,
    cat: usize,
    e2: usize,
    d: usize,
    erb: usize,
    spec: usize,
    coefs: usize,
}

impl Sizes {
    fn new(cfg: &ModelConfig) -> Self {
        let c = cfg.conv_ch;
        Self {
            e0: c * cfg.nb_erb,
            e1: c * cfg.nb_erb / 2,
            c0: c * cfg.nb_df,
            c1: c * cfg.nb_df / 2,
            cat: cfg.enc_concat_dim(),
            e2: c * cfg.erb_enc_bands(),
            d: cfg.d_model,
            erb: cfg.nb_erb,
            spec: 2 * cfg.nb_df,
            coefs: cfg.df_out_dim(),
        }
    }
}

impl NativeBackend {
    /// Builds the engine from validated weights (copies them into the kernels' layouts), `f32`.
    pub fn new(weights: &Weights) -> Result<Self> {
        Self::with_precision(weights, WeightPrecision::F32)
    }

    /// Builds the engine with the dense weights stored in `precision`, and with
    /// [`WeightPrecision::I8`] the frequency convolutions in 8 bits too (the norms and SSM parameters,
    /// a few hundred KB, stay `f32`, as do the convolutions of the other precisions).
    pub fn with_precision(weights: &Weights, precision: WeightPrecision) -> Result<Self> {
        let cfg = weights.config().clone();
        cfg.validate()?;
        Ok(Self {
            isa: Isa::detect(),
            enc: Encoder::load(weights, precision)?,
            mamba: Mamba::load(weights, precision)?,
            dec: Decoder::load(weights, precision)?,
            precision,
            cfg,
        })
    }

    fn new_scratch(&self, n: usize) -> Scratch {
        let sz = Sizes::new(&self.cfg);
        let c = self.cfg.conv_ch;
        let conv = self.enc.scratch_len().max(self.dec.scratch_len());
        Scratch {
            e0: vec![0.0; n * sz.e0],
            e1: vec![0.0; n * sz.e1],
            c0: vec![0.0; n * sz.c0],
            c1: vec![0.0; n * sz.c1],
            cat: vec![0.0; n * sz.cat],
            x: vec![0.0; n * sz.d],
            g8: vec![0.0; n * self.dec.erb_fc_dim()],
            hidden: vec![0.0; n * self.cfg.df_hidden],
            col: vec![0.0; conv.col],
            row: vec![0.0; conv.row],
            words: vec![0; conv.words],
            g16: vec![0.0; c * self.cfg.nb_erb / 2],
            g32: vec![0.0; c * self.cfg.nb_erb],
            skip: vec![0.0; 2 * self.cfg.df_order * self.cfg.nb_df],
            mamba: self.mamba.new_scratch(n),
        }
    }

    /// One hop of every stream in `state` (the body of `step` and `step_probed`).
    fn step_with<P: FnMut(Stage)>(
        &self,
        feats: &Features,
        state: &mut NativeState,
        out: &mut ModelOutput,
        probe: &mut P,
    ) -> Result<()> {
        check_step(&self.cfg, feats, state.batch, out)?;
        self.forward(
            &feats.erb,
            &feats.spec,
            &mut state.mamba,
            Streams::Each,
            &mut state.scratch,
            &mut out.gains,
            &mut out.coefs,
            &mut out.lsnr_db,
            probe,
        );
        Ok(())
    }

    /// Consecutive `frames` of one stream (indices into `feats` and `out`) with the state carried, in
    /// pieces of at most `block` frames, which `scratch` must hold: the loop of `run_sequence` (per
    /// stream) and `step_block`.
    fn forward_frames(
        &self,
        feats: &SeqFeatures,
        out: &mut SeqModelOutput,
        frames: std::ops::Range<usize>,
        st: &mut MambaState,
        scratch: &mut Scratch,
        block: usize,
    ) {
        let sz = Sizes::new(&self.cfg);
        let mut f0 = frames.start;
        while f0 < frames.end {
            let f1 = (f0 + block).min(frames.end);
            self.forward(
                &feats.erb[f0 * sz.erb..f1 * sz.erb],
                &feats.spec[f0 * sz.spec..f1 * sz.spec],
                st,
                Streams::Sequential,
                scratch,
                &mut out.gains[f0 * sz.erb..f1 * sz.erb],
                &mut out.coefs[f0 * sz.coefs..f1 * sz.coefs],
                &mut out.lsnr_db[f0..f1],
                &mut |_| {},
            );
            f0 = f1;
        }
    }

    /// The network on `n = erb.len() / nb_erb` frames (`[n][..]` inputs and outputs); `mode` says
    /// whether they are one frame of each stream or consecutive frames of one stream.
    #[allow(clippy::too_many_arguments)]
    fn forward<P: FnMut(Stage)>(
        &self,
        erb: &[f32],
        spec: &[f32],
        st: &mut MambaState,
        mode: Streams,
        s: &mut Scratch,
        gains: &mut [f32],
        coefs: &mut [f32],
        lsnr_db: &mut [f32],
        probe: &mut P,
    ) {
        let (isa, sz) = (self.isa, Sizes::new(&self.cfg));
        let n = erb.len() / sz.erb;
        for j in 0..n {
            let maps = EncMaps {
                e0: &mut s.e0[j * sz.e0..][..sz.e0],
                e1: &mut s.e1[j * sz.e1..][..sz.e1],
                c0: &mut s.c0[j * sz.c0..][..sz.c0],
                c1: &mut s.c1[j * sz.c1..][..sz.c1],
                cat: &mut s.cat[j * sz.cat..][..sz.cat],
            };
            let (erb_j, spec_j) = (
                &erb[j * sz.erb..][..sz.erb],
                &spec[j * sz.spec..][..sz.spec],
            );
            let mut cs = ConvScratch {
                col: &mut s.col,
                row: &mut s.row,
                words: &mut s.words,
            };
            self.enc.convs(isa, erb_j, spec_j, &mut cs, maps);
        }
        probe(Stage::EncoderConvs);
        let x = &mut s.x[..n * sz.d];
        self.enc.fuse(isa, &s.cat[..n * sz.cat], x);
        probe(Stage::EncoderFusion);
        self.mamba.forward(isa, x, st, mode, &mut s.mamba, probe);

        let g8 = &mut s.g8[..n * sz.e2];
        self.dec.erb_fc(isa, x, g8);
        let mut ds = DecScratch {
            conv: ConvScratch {
                col: &mut s.col,
                row: &mut s.row,
                words: &mut s.words,
            },
            g16: &mut s.g16,
            g32: &mut s.g32,
            skip: &mut s.skip,
        };
        for (j, (g8j, gj)) in g8
            .chunks_exact_mut(sz.e2)
            .zip(gains.chunks_exact_mut(sz.erb))
            .enumerate()
        {
            add(g8j, &s.cat[j * sz.cat..][..sz.e2]);
            let (e1, e0) = (&s.e1[j * sz.e1..][..sz.e1], &s.e0[j * sz.e0..][..sz.e0]);
            self.dec.erb_convs(isa, g8j, e1, e0, &mut ds, gj);
        }
        probe(Stage::ErbDecoder);
        self.dec
            .df_fc(isa, x, &mut s.hidden[..n * self.cfg.df_hidden], coefs);
        for (j, cj) in coefs.chunks_exact_mut(sz.coefs).enumerate() {
            self.dec
                .df_skip(isa, &s.c0[j * sz.c0..][..sz.c0], &mut ds, cj);
        }
        probe(Stage::DfDecoder);
        self.dec.lsnr(isa, x, lsnr_db);
        probe(Stage::Lsnr);
    }
}

impl Backend for NativeBackend {
    type State = NativeState;

    fn name(&self) -> &'static str {
        super::registry::native_name(self.precision)
    }

    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn new_state(&self, batch: usize) -> Result<NativeState> {
        if batch == 0 {
            return Err(Error::InvalidInput("batch must be at least 1".into()));
        }
        Ok(NativeState {
            batch,
            mamba: self.mamba.new_state(batch),
            scratch: self.new_scratch(batch),
            block: None,
            block_frames: 0,
        })
    }

    fn reset_state(&self, state: &mut NativeState) {
        state.mamba.reset();
    }

    fn step(&self, feats: &Features, state: &mut NativeState, out: &mut ModelOutput) -> Result<()> {
        self.step_with(feats, state, out, &mut |_| {})
    }

    fn step_probed(
        &self,
        feats: &Features,
        state: &mut NativeState,
        out: &mut ModelOutput,
        probe: &mut dyn FnMut(Stage),
    ) -> Result<()> {
        self.step_with(feats, state, out, &mut |stage| probe(stage))
    }

    fn step_block(
        &self,
        feats: &SeqFeatures,
        state: &mut NativeState,
        out: &mut SeqModelOutput,
    ) -> Result<()> {
        check_block(&self.cfg, feats, out)?;
        if state.batch != 1 {
            return Err(Error::InvalidInput(format!(
                "a block is one stream, the state has {}",
                state.batch
            )));
        }
        let t = feats.frames;
        self.reserve_block(state, t)?;
        let (Some(scratch), block) = (state.block.as_mut(), state.block_frames) else {
            return Ok(());
        };
        self.forward_frames(feats, out, 0..t, &mut state.mamba, scratch, block);
        Ok(())
    }

    fn reserve_block(&self, state: &mut NativeState, frames: usize) -> Result<()> {
        // Longer blocks run in pieces of SEQ_BLOCK_FRAMES: the activations of more frames would leave
        // L2 without reading the weights fewer times per frame.
        let want = frames.min(SEQ_BLOCK_FRAMES);
        if want > state.block_frames {
            state.block = Some(self.new_scratch(want));
            state.block_frames = want;
        }
        Ok(())
    }

    fn run_sequence(&self, feats: &SeqFeatures, out: &mut SeqModelOutput) -> Result<()> {
        check_sequence(&self.cfg, feats, out)?;
        let (b, t) = (feats.batch, feats.frames);
        if t == 0 {
            return Ok(());
        }
        let block = t.min(SEQ_BLOCK_FRAMES);
        let mut st = self.mamba.new_state(1);
        let mut scratch = self.new_scratch(block);
        for stream in 0..b {
            st.reset();
            self.forward_frames(
                feats,
                out,
                stream * t..(stream + 1) * t,
                &mut st,
                &mut scratch,
                block,
            );
        }
        Ok(())
    }
}
