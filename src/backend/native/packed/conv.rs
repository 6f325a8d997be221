//! The frequency convolutions' layout: [`PackedConv`] (weights packed for a register-tiled product)
//! and im2col panels.
use super::super::simd::{fmadd, Isa};

/// Output channels per register tile of [`PackedConv`].
pub const CONV_OB: usize = 4;
/// Frequency bins per register tile of [`PackedConv`] (and per block of the im2col panels).
pub const CONV_FB: usize = 16;

/// Weights of a frequency convolution `[out][in·K]` packed as `[out/4][in·K][4]` (zero-padded rows),
/// the broadcast order of the register tile.
pub struct PackedConv {
    out_ch: usize,
    taps: usize,
    w: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedConv {
    /// Packs PyTorch `Conv1d` weights `[out][in][K]` (as `[out][taps]`) and bias.
    pub fn pack(w: &[f32], bias: &[f32], out_ch: usize, taps: usize) -> Self {
        let blocks = out_ch.div_ceil(CONV_OB);
        let mut pw = vec![0.0; blocks * taps * CONV_OB];
        for o in 0..out_ch {
            for j in 0..taps {
                pw[((o / CONV_OB) * taps + j) * CONV_OB + o % CONV_OB] = w[o * taps + j];
            }
        }
        let mut pb = bias.to_vec();
        pb.resize(blocks * CONV_OB, 0.0);
        Self {
            out_ch,
            taps,
            w: pw,
            bias: pb,
        }
    }
}

kernel! {
    /// `out[o][f] = act(bias[o] + Σ_j w[o][j] · col[j][f])` for `f < f_out`, where `col` holds the input
    /// taps in panels `[f_out/16][taps][16]` (see [`im2col_len`]) and `act` is ReLU if `relu`.
    /// Each 4 × 16 output tile stays in vector registers for the whole tap loop; with AVX-512 two tiles
    /// of output channels share each panel load (eight accumulators: four alone, one register each,
    /// leave the FMA units waiting on their latency). Every output is summed in the same order.
    pub fn conv_acc<FMA, WIDE>(pc: &PackedConv, col: &[f32], f_out: usize, relu: bool, out: &mut [f32]) {
        let taps = pc.taps;
        let fblocks = f_out.div_ceil(CONV_FB);
        let obs = pc.bias.len() / CONV_OB;
        let mut ob = 0;
        if WIDE {
            while ob + 2 <= obs {
                for fb in 0..fblocks {
                    let acc = conv_tile::<FMA, 2>(pc, ob, &col[fb * taps * CONV_FB..][..taps * CONV_FB]);
                    store_tile(pc, &acc, ob, fb, f_out, relu, out);
                }
                ob += 2;
            }
        }
        while ob < obs {
            for fb in 0..fblocks {
                let acc = conv_tile::<FMA, 1>(pc, ob, &col[fb * taps * CONV_FB..][..taps * CONV_FB]);
                store_tile(pc, &acc, ob, fb, f_out, relu, out);
            }
            ob += 1;
        }
    }
}

/// `P` tiles of output channels (from tile `ob`) × 16 bins over one im2col panel `panel` (`[taps][16]`):
/// bias, then the taps in order.
#[inline(always)]
fn conv_tile<const FMA: bool, const P: usize>(
    pc: &PackedConv,
    ob: usize,
    panel: &[f32],
) -> [[[f32; CONV_FB]; CONV_OB]; P] {
    let taps = pc.taps;
    let (cv, _) = panel.as_chunks::<CONV_FB>();
    let wv: [&[[f32; CONV_OB]]; P] = std::array::from_fn(|p| {
        pc.w[(ob + p) * taps * CONV_OB..][..taps * CONV_OB]
            .as_chunks()
            .0
    });
    let mut acc = [[[0f32; CONV_FB]; CONV_OB]; P];
    for (p, ap) in acc.iter_mut().enumerate() {
        for (r, a) in ap.iter_mut().enumerate() {
            *a = [pc.bias[(ob + p) * CONV_OB + r]; CONV_FB];
        }
    }
    for (j, c) in cv.iter().enumerate() {
        for (ap, w) in acc.iter_mut().zip(&wv) {
            for (a, &wr) in ap.iter_mut().zip(&w[j]) {
                for l in 0..CONV_FB {
                    a[l] = fmadd::<FMA>(wr, c[l], a[l]);
                }
            }
        }
    }
    acc
}

/// Writes the real channels and bins of the tiles [`conv_tile`] computed, with the activation.
#[inline(always)]
fn store_tile<const P: usize>(
    pc: &PackedConv,
    acc: &[[[f32; CONV_FB]; CONV_OB]; P],
    ob: usize,
    fb: usize,
    f_out: usize,
    relu: bool,
    out: &mut [f32],
) {
    let f0 = fb * CONV_FB;
    let n = CONV_FB.min(f_out - f0);
    for (p, ap) in acc.iter().enumerate() {
        for (r, a) in ap.iter().enumerate() {
            let o = (ob + p) * CONV_OB + r;
            if o < pc.out_ch {
                for (dst, &v) in out[o * f_out + f0..][..n].iter_mut().zip(a) {
                    *dst = if relu && v < 0.0 { 0.0 } else { v };
                }
            }
        }
    }
}

/// Length of the im2col panels for `taps` taps and `f_out` outputs.
pub fn im2col_len(taps: usize, f_out: usize) -> usize {
    f_out.div_ceil(CONV_FB) * CONV_FB * taps
}

/// Fills the im2col panels `col[f/16][i·K + k][f%16] = src[i][f·stride + k − K/2]` (zero outside the
/// input, and for the padding bins past `f_out`). `src` is `[in_ch][f_src]`, nearest-neighbour upsampled
/// ×2 first if `up2`. `row` is scratch for one zero-padded input row.
#[allow(clippy::too_many_arguments)]
pub fn im2col(
    src: &[f32],
    f_in: usize,
    kernel: usize,
    stride: usize,
    up2: bool,
    f_out: usize,
    row: &mut [f32],
    col: &mut [f32],
) {
    let in_ch = src.len() / f_in;
    let taps = in_ch * kernel;
    let (pad, fblocks) = (kernel / 2, f_out.div_ceil(CONV_FB));
    // Every index the panels read, padding bins included, falls inside this zero-padded row.
    let row_len = fblocks * CONV_FB * stride + kernel;
    let row = &mut row[..row_len];
    let f_src = if up2 { 2 * f_in } else { f_in };
    // Only the padding around the body needs zeros; the body is overwritten for every channel.
    row[..pad].fill(0.0);
    row[pad + f_src..].fill(0.0);
    for (i, s) in src.chunks_exact(f_in).enumerate() {
        let body = &mut row[pad..pad + f_src];
        if up2 {
            for (pair, &v) in body.chunks_exact_mut(2).zip(s) {
                pair.fill(v);
            }
        } else {
            body.copy_from_slice(s);
        }
        for k in 0..kernel {
            for fb in 0..fblocks {
                let dst = &mut col[(fb * taps + i * kernel + k) * CONV_FB..][..CONV_FB];
                let start = fb * CONV_FB * stride + k;
                if stride == 1 {
                    dst.copy_from_slice(&row[start..start + CONV_FB]);
                } else {
                    for (l, d) in dst.iter_mut().enumerate() {
                        *d = row[start + l * stride];
                    }
                }
            }
        }
    }
}

/// Length of the row scratch [`im2col`] needs.
pub fn im2col_row_len(f_out: usize, stride: usize, kernel: usize) -> usize {
    f_out.div_ceil(CONV_FB) * CONV_FB * stride + kernel
}

#[cfg(test)]
mod tests {
    use super::super::tests::pseudo;
    use super::*;

    #[test]
    fn conv_matches_naive_for_strides_upsampling_and_odd_sizes() {
        for (in_ch, out_ch, f_in, kernel, stride, up2) in [
            (3, 5, 20, 3, 1, false),
            (2, 32, 96, 3, 2, false),
            (4, 10, 7, 3, 2, false),
            (6, 3, 8, 3, 1, true),
            (32, 10, 96, 1, 1, false),
        ] {
            let taps = in_ch * kernel;
            let (w, b, x) = (
                pseudo(out_ch * taps, 5),
                pseudo(out_ch, 6),
                pseudo(in_ch * f_in, 7),
            );
            let f_src = if up2 { 2 * f_in } else { f_in };
            let f_out = f_src.div_ceil(stride);
            let mut row = vec![0.0; im2col_row_len(f_out, stride, kernel)];
            let mut col = vec![f32::NAN; im2col_len(taps, f_out)];
            im2col(&x, f_in, kernel, stride, up2, f_out, &mut row, &mut col);
            let pc = PackedConv::pack(&w, &b, out_ch, taps);
            for relu in [false, true] {
                let mut out = vec![0.0; out_ch * f_out];
                conv_acc(Isa::detect(), &pc, &col, f_out, relu, &mut out);
                for o in 0..out_ch {
                    for f in 0..f_out {
                        let mut want = b[o] as f64;
                        for i in 0..in_ch {
                            for k in 0..kernel {
                                let p = (f * stride + k) as isize - (kernel / 2) as isize;
                                if p >= 0 && (p as usize) < f_src {
                                    let v = if up2 {
                                        x[i * f_in + p as usize / 2]
                                    } else {
                                        x[i * f_in + p as usize]
                                    };
                                    want += w[(o * in_ch + i) * kernel + k] as f64 * v as f64;
                                }
                            }
                        }
                        if relu {
                            want = want.max(0.0);
                        }
                        assert!((out[o * f_out + f] as f64 - want).abs() < 1e-5);
                    }
                }
            }
        }
    }
}
