//! The 8-bit frequency convolutions of [`super::WeightPrecision::I8`]: [`PackedConvI8`] (weights
//! quantised per output channel), the per-call quantisation of the input into a layout that needs no
//! im2col, and the tile kernels (AVX512-VNNI, AVX-VNNI, AVX2, AVX-512BW for AVX-512 without VNNI,
//! portable), chosen at run time like the dense int8 kernels; all of them compute the same `i32` sums
//! and apply the scales with the same float steps, so the output is bit-identical whichever runs.
//!
//! The quantised input is one `u32` word per (group of four input channels, bin): byte `c` of the word
//! is channel `4·quad + c` as `q + 128` (unsigned, what `vpdpbusd` takes on one side; 128 is zero, and
//! the padding around the body holds it). The words are stored `[in/4][phase][m]`, one row per stride
//! phase (`phase = p mod stride`, `m = p div stride` for the position `p` in the zero-padded input), so
//! that for every tap the 16 bins of a tile are 16 consecutive words: one 64-byte load, multiplied by
//! the broadcast weights of one output channel's four input channels in one `vpdpbusd`.
#[cfg(target_arch = "x86_64")]
use super::super::simd::Level;
use super::super::simd::{Int8Kernel, Isa};
use super::int8::{quantize_i8, row_scales, scale_for_max};
use crate::{Error, Result};

/// Output channels per weight tile of [`PackedConvI8`] (eight accumulator registers in the kernels).
pub const CONV_I8_OB: usize = 8;
/// Bins per tile.
const FB: usize = 16;
/// Four bytes of 128: four input channels at zero.
const ZERO_WORD: u32 = 0x8080_8080;
/// Widest kernel [`PackedConvI8`] takes (DfNet4's are 3 and 1 taps).
const MAX_KERNEL: usize = 8;
/// Most input channels × taps [`PackedConvI8`] takes: its sums stay within `i32`.
const MAX_TAPS: usize = i32::MAX as usize / (127 * 255);

/// Weights of a frequency convolution in 8 bits for the int8 kernels: each output channel quantised
/// symmetrically with its own scale (its largest |w| maps to 127), packed `[out/8][in/4][K][8][4]`
/// (zero-padded), so that the four input channels of a group are the four bytes of one broadcast word.
pub struct PackedConvI8 {
    out_ch: usize,
    quads: usize,
    kernel: usize,
    /// `[out/8][in/4][K][8][4]`.
    w: Vec<i8>,
    /// The same weights widened to 16 bits (the AVX2 kernel's `vpmaddwd` operand).
    w16: Vec<i16>,
    /// `128 · Σ w` per output channel: what the `+128` of the input adds to the raw sums.
    comp: Vec<i32>,
    /// Weight scale per output channel.
    scale: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedConvI8 {
    /// Quantises and packs PyTorch `Conv1d` weights `[out][in][K]` and the bias. Fails on a non-finite
    /// weight.
    pub fn pack(
        w: &[f32],
        bias: &[f32],
        out_ch: usize,
        in_ch: usize,
        kernel: usize,
    ) -> Result<Self> {
        debug_assert_eq!(w.len(), out_ch * in_ch * kernel);
        debug_assert_eq!(bias.len(), out_ch);
        if kernel > MAX_KERNEL {
            return Err(Error::Config(format!(
                "a convolution of {kernel} taps is too wide for 8-bit weights (at most {MAX_KERNEL})"
            )));
        }
        let taps = in_ch * kernel;
        // Every sum, |Σ w·(x + 128)| ≤ 127 · 255 · taps, must fit an `i32`.
        if taps > MAX_TAPS {
            return Err(Error::Config(format!(
                "a convolution of {taps} inputs × taps is too wide for 8-bit weights (at most \
                 {MAX_TAPS})"
            )));
        }
        let mut scale = row_scales(w, out_ch, taps)?;
        let (blocks, quads) = (out_ch.div_ceil(CONV_I8_OB), in_ch.div_ceil(4));
        scale.truncate(blocks * CONV_I8_OB);
        let mut pw = vec![0i8; blocks * quads * kernel * CONV_I8_OB * 4];
        let mut comp = vec![0i32; blocks * CONV_I8_OB];
        for o in 0..out_ch {
            for i in 0..in_ch {
                for k in 0..kernel {
                    let q = quantize_i8(w[(o * in_ch + i) * kernel + k], scale[o]);
                    let idx = (((o / CONV_I8_OB) * quads + i / 4) * kernel + k) * CONV_I8_OB;
                    pw[(idx + o % CONV_I8_OB) * 4 + i % 4] = q;
                    comp[o] += 128 * q as i32;
                }
            }
        }
        let mut pb = bias.to_vec();
        pb.resize(blocks * CONV_I8_OB, 0.0);
        Ok(Self {
            out_ch,
            quads,
            kernel,
            w16: pw.iter().map(|&v| v as i16).collect(),
            w: pw,
            comp,
            scale,
            bias: pb,
        })
    }

    /// Words of scratch [`conv_i8`] needs for `f_out` outputs at stride 1 or 2: the quantised input,
    /// one channel group's words of up to `2 · f_out` input bins, and the integer sums.
    pub fn scratch_words(&self, f_out: usize) -> usize {
        self.quads * 2 * row_len(f_out, self.kernel) + 2 * f_out + self.out_ch * f_out
    }
}

/// Words per phase row: every position a tile reads, padding bins included (`m ≤ f0 + 15 + (K−1)/s`).
fn row_len(f_out: usize, kernel: usize) -> usize {
    f_out.div_ceil(FB) * FB + kernel
}

/// `round_ties_even(v · inv)` as `q + 128` for |v · inv| ≤ 127 (clamped there against the rounding of
/// `inv`; NaN gives 128, i.e. zero): plain float adds and integer steps, which vectorise on any target
/// (the saturating `as` cast does not) and give the same byte everywhere.
#[inline(always)]
fn quantize_u8(v: f32, inv: f32) -> u32 {
    // Adding 1.5 · 2^23 leaves the integer part in the low mantissa bits, rounded to nearest even.
    const MAGIC: f32 = 12_582_912.0;
    let p = v * inv;
    let p = if p.is_nan() {
        0.0
    } else {
        p.clamp(-127.0, 127.0)
    };
    ((p + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32 + 128) as u32
}

/// The input scale of `x`: max |x| / 127 with its inverse, NaNs skipped; (0, 0) for all zeros or a
/// non-finite maximum (the input then contributes nothing, as in the dense int8 kernels).
#[inline(always)]
fn input_scale(x: &[f32]) -> (f32, f32) {
    let (chunks, rest) = x.as_chunks::<FB>();
    let mut lanes = [0f32; FB];
    for c in chunks {
        for l in 0..FB {
            // `>` is false for NaN, so a NaN never becomes the maximum (`vmaxps`).
            let a = c[l].abs();
            lanes[l] = if a > lanes[l] { a } else { lanes[l] };
        }
    }
    let max = rest
        .iter()
        .chain(&lanes)
        .fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m });
    scale_for_max(max)
}

/// Four channels' quantised values packed in words (`out[p]`, byte `c` from `rows[c][p]`): four
/// contiguous streams in, one out, which LLVM vectorises.
#[inline(always)]
fn quad_words(rows: [&[f32]; 4], inv: f32, out: &mut [u32]) {
    let [r0, r1, r2, r3] = rows;
    // Zipped, not indexed: with indices LLVM kept the loop scalar.
    for ((((w, &a), &b), &c), &d) in out.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
        *w = quantize_u8(a, inv)
            | (quantize_u8(b, inv) << 8)
            | (quantize_u8(c, inv) << 16)
            | (quantize_u8(d, inv) << 24);
    }
}

/// Quantises the input of `a` (`[in_ch][f_in]`, nearest-neighbour upsampled ×2 first if `up2`) into
/// `layout` (the layout of the module comment for its stride and kernel, phase rows of `rl` words;
/// `tmp` holds one channel group's words before they are spread over the phases); returns the scale.
#[inline(always)]
fn quantize_input(a: &ConvArgs<'_>, rl: usize, layout: &mut [u32], tmp: &mut [u32]) -> f32 {
    let (input, f_in, kernel) = (a.input, a.f_in, a.pc.kernel);
    let (stride, up2) = (a.stride, a.up2);
    let (scale, inv) = input_scale(input);
    let pad = kernel / 2;
    let f_src = if up2 { 2 * f_in } else { f_in };
    let in_ch = input.len() / f_in;
    let quads = in_ch.div_ceil(4);
    let (layout, tmp) = (&mut layout[..quads * stride * rl], &mut tmp[..f_in]);
    for (cq, rows) in layout.chunks_exact_mut(stride * rl).enumerate() {
        // A group's missing channels repeat its last one: their weights are zero.
        let src: [&[f32]; 4] = std::array::from_fn(|c| {
            let i = (4 * cq + c).min(in_ch - 1);
            &input[i * f_in..][..f_in]
        });
        for (phase, row) in rows.chunks_exact_mut(rl).enumerate() {
            // Positions m of this phase whose source bin p = m·stride + phase − pad is in 0..f_src;
            // the rest is padding, zero.
            let m0 = pad.saturating_sub(phase).div_ceil(stride);
            let m1 = (f_src + pad - phase).div_ceil(stride);
            row[..m0].fill(ZERO_WORD);
            row[m1..].fill(ZERO_WORD);
        }
        match (stride, up2) {
            (1, false) => quad_words(src, inv, &mut rows[pad..pad + f_in]),
            (1, true) => {
                quad_words(src, inv, tmp);
                for (pair, &w) in rows[pad..pad + f_src].chunks_exact_mut(2).zip(&*tmp) {
                    pair.fill(w);
                }
            }
            _ => {
                debug_assert!(stride == 2 && !up2);
                quad_words(src, inv, tmp);
                // Even source bins p go to phase pad mod 2 at m = (p + pad) / 2, odd ones to the
                // other phase: two contiguous runs, filled pair by pair.
                let (r0, r1) = rows.split_at_mut(rl);
                let (even, odd) = if pad.is_multiple_of(2) {
                    (r0, r1)
                } else {
                    (r1, r0)
                };
                let even = &mut even[pad / 2..][..f_in.div_ceil(2)];
                let odd = &mut odd[pad.div_ceil(2)..][..f_in / 2];
                let (pairs, last) = tmp.as_chunks::<2>();
                for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(pairs) {
                    *e = pair[0];
                    *o = pair[1];
                }
                if let [v] = last {
                    even[f_in / 2] = *v;
                }
            }
        }
    }
    scale
}

/// `out[o][f] = act(bias[o] + (Σ_{i,k} w_q[o][i][k] · x_q[i][f·stride + k − K/2]) · scale_w[o] ·
/// scale_x)` for `f < f_out`, where `x_q` is `input` (`[in_ch][f_in]`, upsampled ×2 first if `up2`)
/// quantised per call with one scale, and `act` is ReLU if `relu`. `words` is scratch of at least
/// [`PackedConvI8::scratch_words`]. The kernel is the one [`Isa::int8_kernel`] names (its AVX2 kernel
/// on 512-bit registers where the level is AVX-512); all give the same bits.
#[allow(clippy::too_many_arguments)]
pub fn conv_i8(
    isa: Isa,
    pc: &PackedConvI8,
    input: &[f32],
    f_in: usize,
    stride: usize,
    up2: bool,
    f_out: usize,
    relu: bool,
    words: &mut [u32],
    out: &mut [f32],
) {
    debug_assert_eq!(input.len() / f_in, input.len().div_ceil(f_in));
    debug_assert_eq!(out.len(), pc.out_ch * f_out);
    debug_assert!(input.len().div_ceil(f_in).div_ceil(4) == pc.quads && (stride == 1 || !up2));
    let a = ConvArgs {
        pc,
        input,
        f_in,
        stride,
        up2,
        f_out,
        relu,
    };
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vnni,avx2,fma")]
    fn avx512_vnni(a: &ConvArgs<'_>, words: &mut [u32], out: &mut [f32]) {
        conv_tiles(a, words, out, |w, x, g, f0, s| {
            // SAFETY: this closure only runs inside a function compiled with AVX-512F and VNNI.
            unsafe { tile_vnni512(w, x, g, f0, s) }
        });
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,avxvnni,fma")]
    fn avx_vnni(a: &ConvArgs<'_>, words: &mut [u32], out: &mut [f32]) {
        conv_tiles(a, words, out, |w, x, g, f0, s| {
            // SAFETY: this closure only runs inside a function compiled with AVX2 and AVX-VNNI.
            unsafe { tile_vnni256(w, x, g, f0, s) }
        });
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn avx2(a: &ConvArgs<'_>, words: &mut [u32], out: &mut [f32]) {
        conv_tiles(a, words, out, |w, x, g, f0, s| {
            // SAFETY: this closure only runs inside a function compiled with AVX2.
            unsafe { tile_avx2(w, x, g, f0, s) }
        });
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
    fn avx512bw(a: &ConvArgs<'_>, words: &mut [u32], out: &mut [f32]) {
        conv_tiles(a, words, out, |w, x, g, f0, s| {
            // SAFETY: this closure only runs inside a function compiled with AVX-512F and BW.
            unsafe { tile_avx512bw(w, x, g, f0, s) }
        });
    }
    // AVX-512 CPUs without VNNI (Skylake-SP) get the AVX2 kernel's arithmetic on 512-bit registers:
    // with 256 bits it was slower than the `f32` convolutions at their AVX-512 level.
    #[cfg(target_arch = "x86_64")]
    if isa.int8_kernel() == Int8Kernel::Avx2 && isa.0 == Level::Avx512 {
        // SAFETY: `Level::Avx512` is only built by `Isa::detect` after the CPU reported AVX-512F,
        // AVX-512BW, AVX2 and FMA.
        return unsafe { avx512bw(&a, words, out) };
    }
    match isa.int8_kernel() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Avx512Vnni` comes only from `Isa(Level::Avx512, true)`, which only `Isa::detect`
        // builds, after the CPU reported AVX-512F, AVX512-VNNI, AVX2 and FMA.
        Int8Kernel::Avx512Vnni => unsafe { avx512_vnni(&a, words, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `AvxVnni` comes only from `Isa(Level::Avx2Fma, true)`, which only `Isa::detect`
        // builds, after the CPU reported AVX2, FMA and AVX-VNNI.
        Int8Kernel::AvxVnni => unsafe { avx_vnni(&a, words, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Avx2` comes only from the AVX levels, which only `Isa::detect` builds, after the
        // CPU reported AVX2 and FMA.
        Int8Kernel::Avx2 => unsafe { avx2(&a, words, out) },
        // `Portable`, the only kernel off x86_64.
        _ => conv_tiles(&a, words, out, tile_portable),
    }
}

/// The arguments of [`conv_i8`] the kernels share.
struct ConvArgs<'a> {
    pc: &'a PackedConvI8,
    input: &'a [f32],
    f_in: usize,
    stride: usize,
    up2: bool,
    f_out: usize,
    relu: bool,
}

/// Where a tile finds its input: the quad count, taps, and each tap's offset in a quad's words.
#[derive(Clone, Copy)]
struct Geometry {
    quads: usize,
    kernel: usize,
    /// Words per channel group (all its phase rows).
    quad_words: usize,
    /// Tap `k` reads phase `k mod stride` from position `k div stride` on (computed once: a division
    /// per tap in the kernels' loops cost more than the tap's multiplications).
    tap: [usize; MAX_KERNEL],
}

impl Geometry {
    fn new(quads: usize, kernel: usize, stride: usize, row_len: usize) -> Self {
        Self {
            quads,
            kernel,
            quad_words: stride * row_len,
            tap: std::array::from_fn(|k| (k % stride) * row_len + k / stride),
        }
    }

    /// Index of the first of the 16 words tap `k` of quad `cq` reads for the tile at bin `f0`.
    #[inline(always)]
    fn at(&self, cq: usize, k: usize, f0: usize) -> usize {
        cq * self.quad_words + self.tap[k] + f0
    }

    /// The words of the tile at bin `f0` from its first read on, checked once to hold every read of
    /// the tile: `at(cq, k, f0) + 16 ≤ x.len()` for all `cq`, `k` (the SIMD tiles then read by
    /// pointer, without a bounds check per tap).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn tile_words<'a>(&self, x: &'a [u32], f0: usize) -> &'a [u32] {
        let last_tap = self.tap[..self.kernel].iter().max().copied().unwrap_or(0);
        let reach = (self.quads - 1) * self.quad_words + last_tap + FB;
        &x[f0..f0 + reach]
    }

    /// For every tap in the order of the packed weights (`[in/4][K]`): its first word's offset in
    /// [`Geometry::tile_words`].
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn offsets(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.quads).flat_map(move |cq| {
            self.tap[..self.kernel]
                .iter()
                .map(move |&t| cq * self.quad_words + t)
        })
    }
}

/// The sums of one tile: 8 output channels × 16 bins, `Σ w_q · (x_q + 128)`.
type Sums = [[i32; FB]; CONV_I8_OB];

/// The body of [`conv_i8`] around a tile kernel `(weights tile, 16-bit weights tile, words,
/// geometry, f0, sums)`: quantises the input, gets the integer sums of every tile of 8 output channels
/// × 16 bins, and writes the real outputs, `(sum − 128 · Σw) · (scale_w · scale_x) + bias` (a product
/// and a sum, rounded each: no FMA, so every target gives the same bits).
#[inline(always)]
fn conv_tiles(
    a: &ConvArgs<'_>,
    words: &mut [u32],
    out: &mut [f32],
    tile: impl Fn((&[i8], &[i16]), &[u32], Geometry, usize, &mut Sums),
) {
    let pc = a.pc;
    let rl = row_len(a.f_out, pc.kernel);
    let g = Geometry::new(pc.quads, pc.kernel, a.stride, rl);
    let (x_words, rest) = words.split_at_mut(g.quads * g.quad_words);
    let (tmp, raw) = rest.split_at_mut(2 * a.f_out);
    let sx = quantize_input(a, rl, x_words, tmp);
    let (words, raw) = (&*x_words, &mut raw[..out.len()]);
    let tile_len = pc.quads * pc.kernel * CONV_I8_OB * 4;
    let f_out = a.f_out;
    let mut sums: Sums = [[0; FB]; CONV_I8_OB];
    // The sums of the real outputs first go to `raw` (`[out][f_out]`), ...
    for (ob, (wt, wt16)) in
        pc.w.chunks_exact(tile_len)
            .zip(pc.w16.chunks_exact(tile_len))
            .enumerate()
    {
        let o0 = ob * CONV_I8_OB;
        let real = CONV_I8_OB.min(pc.out_ch - o0);
        for f0 in (0..f_out).step_by(FB) {
            tile((wt, wt16), words, g, f0, &mut sums);
            let n = FB.min(f_out - f0);
            for (r, s) in sums.iter().enumerate().take(real) {
                let dst = &mut raw[(o0 + r) * f_out + f0..][..n];
                for (d, &v) in dst.iter_mut().zip(s) {
                    *d = v as u32;
                }
            }
        }
    }
    // ... then each output row is scaled in one pass (long rows vectorise; 16-lane pieces of a tile
    // did not).
    for (o, (row, sums)) in out
        .chunks_exact_mut(f_out)
        .zip(raw.chunks_exact(f_out))
        .enumerate()
    {
        let (comp, m, bias) = (pc.comp[o], pc.scale[o] * sx, pc.bias[o]);
        let scaled = |v: u32| (v as i32 - comp) as f32 * m + bias;
        if a.relu {
            for (y, &v) in row.iter_mut().zip(sums) {
                let v = scaled(v);
                *y = if v < 0.0 { 0.0 } else { v };
            }
        } else {
            for (y, &v) in row.iter_mut().zip(sums) {
                *y = scaled(v);
            }
        }
    }
}

/// The portable tile: the four byte products of each word summed in `i32`, in plain Rust that LLVM
/// vectorises for the baseline target.
#[inline(always)]
fn tile_portable((w, _): (&[i8], &[i16]), x: &[u32], g: Geometry, f0: usize, sums: &mut Sums) {
    *sums = [[0; FB]; CONV_I8_OB];
    let (wq, _) = w.as_chunks::<4>();
    for cq in 0..g.quads {
        for k in 0..g.kernel {
            let xs = &x[g.at(cq, k, f0)..][..FB];
            let xb: [[i16; 4]; FB] = std::array::from_fn(|l| xs[l].to_le_bytes().map(i16::from));
            let wk = &wq[(cq * g.kernel + k) * CONV_I8_OB..][..CONV_I8_OB];
            for (s, wo) in sums.iter_mut().zip(wk) {
                let wo = wo.map(i16::from);
                for (sl, xl) in s.iter_mut().zip(&xb) {
                    // Each product fits 16 bits (|x + 128| ≤ 255, |w| ≤ 127): the pairs of 16-bit
                    // products summed in 32 bits that SIMD instruction sets have.
                    let p = |c: usize| i32::from(xl[c] * wo[c]);
                    *sl += p(0) + p(1) + p(2) + p(3);
                }
            }
        }
    }
}

/// The tile with AVX512-VNNI: the 16 words of a tap are one register, multiplied by each output
/// channel's broadcast weight word in one `vpdpbusd` (eight independent sums).
///
/// # Safety
/// The CPU must support AVX-512F and AVX512-VNNI.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tile_vnni512(
    (w, _): (&[i8], &[i16]),
    x: &[u32],
    g: Geometry,
    f0: usize,
    sums: &mut Sums,
) {
    use std::arch::x86_64::*;
    let (wq, _) = w.as_chunks::<{ 4 * CONV_I8_OB }>();
    let xt = g.tile_words(x, f0);
    // SAFETY (all intrinsics below): the caller guarantees the features; each load reads 16 words at
    // an offset `tile_words` checked to be followed by 16 in `xt`, each store writes one row of `sums`.
    unsafe {
        let mut acc = [_mm512_setzero_si512(); CONV_I8_OB];
        for (off, wk) in g.offsets().zip(wq) {
            let xv = _mm512_loadu_si512(xt.as_ptr().add(off).cast());
            let (wk, _) = wk.as_chunks::<4>();
            for (a, wo) in acc.iter_mut().zip(wk) {
                let wb = _mm512_set1_epi32(i32::from_le_bytes(wo.map(|v| v as u8)));
                *a = _mm512_dpbusd_epi32(*a, xv, wb);
            }
        }
        for (s, a) in sums.iter_mut().zip(acc) {
            _mm512_storeu_si512(s.as_mut_ptr().cast(), a);
        }
    }
}

/// The tile with AVX-VNNI: [`tile_vnni512`] on 256-bit registers, in two halves of eight bins (eight
/// sums each, which leaves registers for the input).
///
/// # Safety
/// The CPU must support AVX2 and AVX-VNNI.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tile_vnni256(
    (w, _): (&[i8], &[i16]),
    x: &[u32],
    g: Geometry,
    f0: usize,
    sums: &mut Sums,
) {
    use std::arch::x86_64::*;
    let (wq, _) = w.as_chunks::<{ 4 * CONV_I8_OB }>();
    let xt = g.tile_words(x, f0);
    // SAFETY (all intrinsics below): the caller guarantees the features; each load reads 8 of the 16
    // words at an offset `tile_words` checked to be followed by 16 in `xt`, each store writes half a
    // row of `sums`.
    unsafe {
        for half in 0..2 {
            let mut acc = [_mm256_setzero_si256(); CONV_I8_OB];
            for (off, wk) in g.offsets().zip(wq) {
                let xv = _mm256_loadu_si256(xt.as_ptr().add(off + 8 * half).cast());
                let (wk, _) = wk.as_chunks::<4>();
                for (a, wo) in acc.iter_mut().zip(wk) {
                    let wb = _mm256_set1_epi32(i32::from_le_bytes(wo.map(|v| v as u8)));
                    *a = _mm256_dpbusd_avx_epi32(*a, xv, wb);
                }
            }
            for (s, a) in sums.iter_mut().zip(acc) {
                _mm256_storeu_si256(s[8 * half..].as_mut_ptr().cast(), a);
            }
        }
    }
}

/// The tile with AVX2 only: four bins' words zero-extended to 16 bits and multiplied by an output
/// channel's four weights with `vpmaddwd`, which sums pairs exactly in `i32` (|x + 128| ≤ 255,
/// |w| ≤ 127; `vpmaddubsw` would saturate); the two pair sums of each bin are joined at the end. In
/// quarters of four bins, so that the eight sums fit the 16 registers.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tile_avx2((_, w16): (&[i8], &[i16]), x: &[u32], g: Geometry, f0: usize, sums: &mut Sums) {
    use std::arch::x86_64::*;
    let (wq, _) = w16.as_chunks::<{ 4 * CONV_I8_OB }>();
    let xt = g.tile_words(x, f0);
    // SAFETY (all intrinsics below): the caller guarantees the features; each load reads 4 of the 16
    // words at an offset `tile_words` checked to be followed by 16 in `xt`, each store writes four
    // values of a row of `sums`.
    unsafe {
        for quarter in 0..4 {
            let mut acc = [_mm256_setzero_si256(); CONV_I8_OB];
            for (off, wk) in g.offsets().zip(wq) {
                let xp = xt.as_ptr().add(off + 4 * quarter);
                let xv = _mm256_cvtepu8_epi16(_mm_loadu_si128(xp.cast()));
                for (a, wo) in acc.iter_mut().zip(wk.as_chunks::<4>().0) {
                    // The four 16-bit weights as one 64-bit lane, broadcast.
                    let wb = _mm256_set1_epi64x(wo.as_ptr().cast::<i64>().read_unaligned());
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, wb));
                }
            }
            for (j, pair) in acc.as_chunks::<2>().0.iter().enumerate() {
                // hadd works per 128-bit lane: bins [0 1 | 0 1 | 2 3 | 2 3] of the two outputs, put
                // back in order by the 64-bit permutation.
                let both = _mm256_hadd_epi32(pair[0], pair[1]);
                let both = _mm256_permute4x64_epi64::<0b11_01_10_00>(both);
                let at = 4 * quarter;
                _mm_storeu_si128(
                    sums[2 * j][at..].as_mut_ptr().cast(),
                    _mm256_castsi256_si128(both),
                );
                _mm_storeu_si128(
                    sums[2 * j + 1][at..].as_mut_ptr().cast(),
                    _mm256_extracti128_si256::<1>(both),
                );
            }
        }
    }
}

/// [`tile_avx2`] on 512-bit registers (AVX-512BW): eight bins' words per register, in two halves;
/// the two pair sums of each bin are joined by two permutations of two outputs' sums.
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512BW.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tile_avx512bw(
    (_, w16): (&[i8], &[i16]),
    x: &[u32],
    g: Geometry,
    f0: usize,
    sums: &mut Sums,
) {
    use std::arch::x86_64::*;
    let (wq, _) = w16.as_chunks::<{ 4 * CONV_I8_OB }>();
    let xt = g.tile_words(x, f0);
    // SAFETY (all intrinsics below): the caller guarantees the features; each load reads 8 of the 16
    // words at an offset `tile_words` checked to be followed by 16 in `xt`, each store writes half a
    // row of `sums`.
    unsafe {
        // Lanes 2b and 2b + 1 hold bin b's two pair sums: the even lanes of two outputs' sums, then
        // the odd ones, give [first output's 8 bins | second output's 8 bins] when added.
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        for half in 0..2 {
            let mut acc = [_mm512_setzero_si512(); CONV_I8_OB];
            for (off, wk) in g.offsets().zip(wq) {
                let xp = xt.as_ptr().add(off + 8 * half);
                let xv = _mm512_cvtepu8_epi16(_mm256_loadu_si256(xp.cast()));
                for (a, wo) in acc.iter_mut().zip(wk.as_chunks::<4>().0) {
                    let wb = _mm512_set1_epi64(wo.as_ptr().cast::<i64>().read_unaligned());
                    *a = _mm512_add_epi32(*a, _mm512_madd_epi16(xv, wb));
                }
            }
            for (j, pair) in acc.as_chunks::<2>().0.iter().enumerate() {
                let both = _mm512_add_epi32(
                    _mm512_permutex2var_epi32(pair[0], even, pair[1]),
                    _mm512_permutex2var_epi32(pair[0], odd, pair[1]),
                );
                let at = 8 * half;
                _mm256_storeu_si256(
                    sums[2 * j][at..].as_mut_ptr().cast(),
                    _mm512_castsi512_si256(both),
                );
                _mm256_storeu_si256(
                    sums[2 * j + 1][at..].as_mut_ptr().cast(),
                    _mm512_extracti64x4_epi64::<1>(both),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::pseudo;
    use super::*;

    /// Shapes: channel counts not multiples of 4 or 8, bins not multiples of 16 (and fewer), stride
    /// 2 with odd inputs, upsampling, a 1-tap kernel.
    const SHAPES: [(usize, usize, usize, usize, usize, bool); 8] = [
        (3, 5, 20, 3, 1, false),
        (2, 32, 96, 3, 2, false),
        (4, 10, 7, 3, 2, false),
        (6, 3, 8, 3, 1, true),
        (32, 10, 96, 1, 1, false),
        (32, 32, 48, 3, 2, false),
        (1, 32, 32, 3, 1, false),
        (5, 9, 33, 5, 2, false),
    ];

    fn run(
        isa: Isa,
        shape: (usize, usize, usize, usize, usize, bool),
        seed: u32,
        relu: bool,
    ) -> Vec<f32> {
        let (in_ch, out_ch, f_in, kernel, stride, up2) = shape;
        let w = pseudo(out_ch * in_ch * kernel, seed);
        let b = pseudo(out_ch, seed + 1);
        let mut x = pseudo(in_ch * f_in, seed + 2);
        // Large activations at the edges: the padding bins must still read as zero.
        x[0] = 3.0;
        x[in_ch * f_in - 1] = -3.0;
        let pc = PackedConvI8::pack(&w, &b, out_ch, in_ch, kernel).unwrap();
        let f_src = if up2 { 2 * f_in } else { f_in };
        let f_out = f_src.div_ceil(stride);
        // Stale words from an earlier call must not matter.
        let mut words = vec![0x1234_5678; pc.scratch_words(f_out)];
        let mut out = vec![f32::NAN; out_ch * f_out];
        conv_i8(
            isa, &pc, &x, f_in, stride, up2, f_out, relu, &mut words, &mut out,
        );
        out
    }

    #[test]
    fn every_kernel_gives_the_portable_bits() {
        for isa in Isa::all_available() {
            for shape in SHAPES {
                for (seed, relu) in [(3, false), (40, true)] {
                    let want = run(Isa::baseline(), shape, seed, relu);
                    let got = run(isa, shape, seed, relu);
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "{:?} {shape:?}", isa.int8_kernel());
                }
            }
        }
    }

    #[test]
    fn int8_conv_matches_the_quantised_naive_sum_and_stays_near_f32() {
        for shape in SHAPES {
            let (in_ch, out_ch, f_in, kernel, stride, up2) = shape;
            let w = pseudo(out_ch * in_ch * kernel, 3);
            let b = pseudo(out_ch, 4);
            let mut x = pseudo(in_ch * f_in, 5);
            x[0] = 3.0;
            x[in_ch * f_in - 1] = -3.0;
            let got = run(Isa::detect(), shape, 3, false);
            let f_src = if up2 { 2 * f_in } else { f_in };
            let f_out = f_src.div_ceil(stride);
            let taps = in_ch * kernel;
            let sw = row_scales(&w, out_ch, taps).unwrap();
            let xmax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            let (sx, inv) = (xmax / 127.0, 127.0 / xmax);
            let qx: Vec<f32> = x.iter().map(|&v| (v * inv).round_ties_even()).collect();
            for o in 0..out_ch {
                let wmax = w[o * taps..][..taps]
                    .iter()
                    .fold(0f32, |m, v| m.max(v.abs()));
                for f in 0..f_out {
                    let (mut exact, mut quant, mut bound) = (b[o] as f64, 0f64, 0f64);
                    for i in 0..in_ch {
                        for k in 0..kernel {
                            let p = (f * stride + k) as isize - (kernel / 2) as isize;
                            if p < 0 || p as usize >= f_src {
                                continue;
                            }
                            let p = if up2 { p as usize / 2 } else { p as usize };
                            let wv = w[(o * in_ch + i) * kernel + k];
                            let xv = x[i * f_in + p];
                            exact += wv as f64 * xv as f64;
                            quant += quantize_i8(wv, sw[o]) as f64 * qx[i * f_in + p] as f64;
                            // Each factor at most half a step off: |Δ(w·x)| ≤ |w|·Δx + |x|·Δw + Δw·Δx.
                            let (dw, dx) = (wmax as f64 / 254.0, xmax as f64 / 254.0);
                            bound += wv.abs() as f64 * dx + xv.abs() as f64 * dw + dw * dx;
                        }
                    }
                    let prod = quant * sw[o] as f64 * sx as f64;
                    let quant = b[o] as f64 + prod;
                    let y = got[o * f_out + f] as f64;
                    // The kernel computes the quantised sum exactly, then three float roundings.
                    assert!(
                        (y - quant).abs() <= 1e-6 * (1.0 + prod.abs() + b[o].abs() as f64),
                        "{shape:?} o {o} f {f}: {y} vs {quant}"
                    );
                    assert!(
                        (y - exact).abs() <= bound * 1.001 + 1e-5,
                        "{shape:?} o {o} f {f}: {y} vs f32 {exact}, bound {bound}"
                    );
                }
            }
        }
    }

    #[test]
    fn zero_and_non_finite_inputs_contribute_nothing() {
        let (in_ch, out_ch, f_in, kernel) = (5, 9, 20, 3);
        let w = pseudo(out_ch * in_ch * kernel, 7);
        let b = pseudo(out_ch, 8);
        let pc = PackedConvI8::pack(&w, &b, out_ch, in_ch, kernel).unwrap();
        let mut words = vec![0; pc.scratch_words(f_in)];
        for fill in [0.0, f32::INFINITY, f32::NAN] {
            let x = vec![fill; in_ch * f_in];
            for isa in Isa::all_available() {
                let mut out = vec![0.0; out_ch * f_in];
                conv_i8(
                    isa, &pc, &x, f_in, 1, false, f_in, false, &mut words, &mut out,
                );
                for (o, row) in out.chunks(f_in).enumerate() {
                    assert!(row.iter().all(|&v| v == b[o]), "{fill} {isa:?}");
                }
            }
        }
        let mut bad = w.clone();
        bad[4] = f32::INFINITY;
        assert!(PackedConvI8::pack(&bad, &b, out_ch, in_ch, kernel).is_err());
    }

    #[test]
    fn quantisation_rounds_ties_to_even_and_clamps() {
        for (v, q) in [
            (0.0, 0),
            (2.5, 2),
            (3.5, 4),
            (-2.5, -2),
            (-0.5, 0),
            (126.6, 127),
            (127.4, 127),
            (-130.0, -127),
            (f32::NAN, 0),
        ] {
            assert_eq!(quantize_u8(v, 1.0) as i32 - 128, q, "{v}");
        }
    }
}
