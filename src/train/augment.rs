//! Signal-level augmentation for training mixtures: biquad EQ (RBJ cookbook forms), FFT brick-wall
//! band-limiting, FFT convolution, coloured and hum noise, and synthetic room impulse responses.
use std::cell::RefCell;
use std::f32::consts::PI;

use rand::Rng;
use realfft::RealFftPlanner;
use rustfft::num_complex::Complex32;

use crate::config::SAMPLE_RATE_HZ;

const FS: f32 = SAMPLE_RATE_HZ as f32;

thread_local! {
    // The planner caches plans per length; one per worker thread avoids locking.
    static PLANNER: RefCell<RealFftPlanner<f32>> = RefCell::new(RealFftPlanner::new());
}

/// The smallest even length `≥ min` whose only prime factors are 2, 3 and 5, which FFTs handle about
/// as fast per point as a power of two: for a 3 s mixture (144,000 samples, itself such a length) it
/// saves up to 45 % of the points of the next power of two (262,144).
pub fn fft_len(min: usize) -> usize {
    let min = min.max(2);
    let mut best = min.next_power_of_two();
    let mut p5 = 1;
    while p5 < best {
        let mut p35 = p5;
        while p35 < best {
            // The least power of two (≥ 2, for an even length) that brings p35 up to `min`.
            let mut n = p35 * 2;
            while n < min {
                n *= 2;
            }
            best = best.min(n);
            p35 *= 3;
        }
        p5 *= 5;
    }
    best
}

/// Forward real FFT of `x` zero-padded to `n`.
fn rfft(x: &[f32], n: usize) -> Vec<Complex32> {
    let fwd = PLANNER.with(|p| p.borrow_mut().plan_fft_forward(n));
    let mut buf = vec![0.0; n];
    let m = x.len().min(n);
    buf[..m].copy_from_slice(&x[..m]);
    let mut out = fwd.make_output_vec();
    fwd.process(&mut buf, &mut out)
        .expect("buffer sizes come from the plan");
    out
}

/// Inverse real FFT (normalised by `1/n`) of a spectrum of length `n/2+1`.
fn irfft(mut spec: Vec<Complex32>, n: usize) -> Vec<f32> {
    let inv = PLANNER.with(|p| p.borrow_mut().plan_fft_inverse(n));
    // The DC and Nyquist bins of a real signal are real; drop rounding residue so realfft accepts them.
    spec[0].im = 0.0;
    if let Some(last) = spec.last_mut() {
        last.im = 0.0;
    }
    let mut out = inv.make_output_vec();
    inv.process(&mut spec, &mut out)
        .expect("buffer sizes come from the plan");
    let s = 1.0 / n as f32;
    out.iter_mut().for_each(|v| *v *= s);
    out
}

/// `x * h`, truncated to `x.len()` samples (causal, same alignment as `x`).
pub fn convolve(x: &[f32], h: &[f32]) -> Vec<f32> {
    let [y] = convolve_many(x, [h]);
    y
}

/// `x * h` for each `h` (truncated to `x.len()`), sharing the transform of `x`: a reverberant signal
/// and its early-reflection target cost four FFTs instead of six.
pub fn convolve_many<const N: usize>(x: &[f32], hs: [&[f32]; N]) -> [Vec<f32>; N] {
    let longest = hs.iter().map(|h| h.len()).max().unwrap_or(0);
    // Circular convolution of this length is the linear one on the samples kept.
    let n = fft_len(x.len() + longest);
    let xs = rfft(x, n);
    hs.map(|h| {
        let prod = xs.iter().zip(&rfft(h, n)).map(|(a, b)| a * b).collect();
        let mut y = irfft(prod, n);
        y.truncate(x.len());
        y
    })
}

/// Zeros after the signal in [`band_limit`]'s transform (100 ms).
const BAND_LIMIT_PAD_SAMPLES: usize = 4_800;

/// Removes everything above `cutoff_hz` (brick wall with a short cosine taper of 5% of the cutoff).
pub fn band_limit(x: &mut [f32], cutoff_hz: f32) {
    if cutoff_hz >= FS / 2.0 - 1.0 || x.is_empty() {
        return;
    }
    // Zero padding keeps the filter's response (a few ms: the taper is 5 % of the cutoff) from wrapping
    // the end of the signal onto its start.
    let n = fft_len(x.len() + BAND_LIMIT_PAD_SAMPLES);
    let mut s = rfft(x, n);
    let df = FS / n as f32;
    let taper_hz = 0.05 * cutoff_hz;
    for (k, v) in s.iter_mut().enumerate() {
        let f = k as f32 * df;
        let g = if f <= cutoff_hz - taper_hz {
            1.0
        } else if f >= cutoff_hz {
            0.0
        } else {
            0.5 + 0.5 * (PI * (f - cutoff_hz + taper_hz) / taper_hz).cos()
        };
        *v *= g;
    }
    let y = irfft(s, n);
    x.copy_from_slice(&y[..x.len()]);
}

/// Noise with power spectrum ∝ `f^(−exponent)`: 0 white, 1 pink, 2 brown. Unit RMS.
pub fn coloured_noise(len: usize, exponent: f32, rng: &mut impl Rng) -> Vec<f32> {
    // One period of noise with this spectrum: no padding is needed, so the length is the FFT's.
    let n = fft_len(len);
    // The spectrum of white Gaussian noise is drawn directly: independent complex Gaussian bins (real
    // at DC and Nyquist, with twice the variance of each part elsewhere), so no forward FFT is needed.
    let half = n / 2;
    let mut s: Vec<Complex32> = (0..=half)
        .map(|k| {
            if k == 0 || k == half {
                Complex32::new(std::f32::consts::SQRT_2 * gauss(rng), 0.0)
            } else {
                Complex32::new(gauss(rng), gauss(rng))
            }
        })
        .collect();
    let df = FS / n as f32;
    let slope = -exponent / 2.0;
    for (k, v) in s.iter_mut().enumerate() {
        // Below 20 Hz the slope is held flat so brown noise does not become a DC drift.
        let f = (k as f32 * df).max(20.0);
        *v *= (slope * f.ln()).exp();
    }
    let mut y = irfft(s, n);
    y.truncate(len);
    normalise_rms(&mut y);
    y
}

/// `len` samples of `amp · sin(2π f t + phase)` added into `out`, by rotating a phasor in f64 (one
/// complex multiply a sample instead of a `sin`; the drift over minutes of audio is below 1e-9).
fn add_sine(out: &mut [f32], f_hz: f64, amp: f64, phase: f64) {
    add_sines(out, [(f_hz, amp, phase)]);
}

/// [`add_sine`] for each `(f_hz, amp, phase)` in turn, in one pass: the same samples (each sine's
/// phasor and its additions are those of its own pass), but the phasors' recurrences overlap instead of
/// each one waiting on its own last multiply over the whole signal.
fn add_sines<const N: usize>(out: &mut [f32], sines: [(f64, f64, f64); N]) {
    let mut step = [(0.0f64, 0.0f64); N];
    let mut phasor = [(0.0f64, 0.0f64); N];
    for ((s, p), &(f_hz, _, phase)) in step.iter_mut().zip(&mut phasor).zip(&sines) {
        let w = 2.0 * std::f64::consts::PI * f_hz / SAMPLE_RATE_HZ as f64;
        let (step_im, step_re) = w.sin_cos();
        let (im, re) = phase.sin_cos();
        (*s, *p) = ((step_re, step_im), (re, im));
    }
    let amps = sines.map(|(_, amp, _)| amp);
    for (i, o) in out.iter_mut().enumerate() {
        for ((&(step_re, step_im), (re, im)), amp) in step.iter().zip(&mut phasor).zip(amps) {
            *o += (amp * *im) as f32;
            (*re, *im) = (*re * step_re - *im * step_im, *re * step_im + *im * step_re);
        }
        // Renormalise now and then against rounding growth.
        if i % 4096 == 4095 {
            for (re, im) in &mut phasor {
                let norm = (*re * *re + *im * *im).sqrt();
                (*re, *im) = (*re / norm, *im / norm);
            }
        }
    }
}

/// Multiplies `x` by `1 + depth · sin(2π f t + phase)` (slow amplitude modulation).
pub fn amplitude_modulate(x: &mut [f32], f_hz: f32, depth: f32, phase: f32) {
    let mut m = vec![1.0f32; x.len()];
    add_sine(&mut m, f64::from(f_hz), f64::from(depth), f64::from(phase));
    x.iter_mut().zip(&m).for_each(|(v, g)| *v *= g);
}

/// Lengths of the bursts and gaps of [`burst_envelope`] (s), drawn log-uniformly.
pub const BURST_S: (f32, f32) = (0.1, 1.5);
/// Raised-cosine ramp at the start of each burst and gap (samples: 10 ms).
const BURST_RAMP_SAMPLES: usize = 480;

/// An on/off envelope of `len` samples: stretches of 0.1–1.5 s (log-uniform) alternate between 1 (a
/// burst) and 0 (a gap), from a random phase, with 10 ms raised-cosine edges. Multiplying a noise by it
/// gives noise that comes and goes, so that clean stretches follow noisy ones within one example, as
/// with doors, keyboards or traffic (the stretches dev v3's non-stationary noises leave clean).
pub fn burst_envelope(len: usize, rng: &mut impl Rng) -> Vec<f32> {
    let mut env = Vec::with_capacity(len);
    let mut on = rng.random_bool(0.5);
    while env.len() < len {
        let stretch = (log_uniform(rng, BURST_S.0, BURST_S.1) * FS) as usize;
        let end = (env.len() + stretch).min(len);
        for k in 0..end - env.len() {
            // Ramps up at the start of a burst, down at the start of a gap.
            let r = if k < BURST_RAMP_SAMPLES {
                0.5 - 0.5 * (PI * k as f32 / BURST_RAMP_SAMPLES as f32).cos()
            } else {
                1.0
            };
            env.push(if on { r } else { 1.0 - r });
        }
        on = !on;
    }
    env
}

/// Mains hum: a 50 or 60 Hz fundamental with random harmonic amplitudes plus a little white noise. Unit RMS.
pub fn hum(len: usize, rng: &mut impl Rng) -> Vec<f32> {
    let f0 = if rng.random_bool(0.5) { 50.0 } else { 60.0 };
    let harmonics: [(f64, f64, f64); 12] = std::array::from_fn(|k| {
        let h = k + 1;
        let amp = rng.random_range(0.0..1.0f32) / h as f32;
        let phase = rng.random_range(0.0..2.0 * PI);
        (f64::from(h as f32 * f0), f64::from(amp), f64::from(phase))
    });
    let mut y: Vec<f32> = (0..len).map(|_| 0.02 * gauss(rng)).collect();
    add_sines(&mut y, harmonics);
    normalise_rms(&mut y);
    y
}

/// Synthetic room impulse response: a unit direct path followed by exponentially decaying Gaussian
/// noise (RT60 `rt60_s`), scaled to the given direct-to-reverberant ratio. Also returns the early part
/// (first 20 ms, cosine fade to 0 at 40 ms), used as the dereverberation target.
pub fn synthetic_rir(rt60_s: f32, drr_db: f32, rng: &mut impl Rng) -> (Vec<f32>, Vec<f32>) {
    let len = ((rt60_s * 1.2).min(1.2) * FS) as usize;
    let predelay = (0.002 * FS) as usize;
    let decay = 6.9078 / (rt60_s * FS); // 60 dB in rt60 seconds, amplitude ln(1000)
    let mut rir = vec![0.0f32; len.max(predelay + 2)];
    rir[0] = 1.0;
    // exp(-i·decay) by repeated multiplication (in f64: no drift over the 1.2 s).
    let step = (-f64::from(decay)).exp();
    let mut envelope = (-(predelay as f64) * f64::from(decay)).exp();
    for v in rir.iter_mut().skip(predelay) {
        *v = gauss(rng) * envelope as f32;
        envelope *= step;
    }
    let tail_energy: f32 = rir[1..].iter().map(|v| v * v).sum();
    let g = (10f32.powf(-drr_db / 10.0) / tail_energy.max(1e-12)).sqrt();
    rir[1..].iter_mut().for_each(|v| *v *= g);
    let early = early_reverb(&rir, 0);
    (rir, early)
}

/// The early part of a room response whose direct path is at index `direct`: whole for 20 ms after it,
/// then a cosine fade to 0 at 40 ms, nothing later (the dereverberation target's reverberation).
pub fn early_reverb(rir: &[f32], direct: usize) -> Vec<f32> {
    let direct = direct as f32;
    let (full, zero) = (direct + 0.020 * FS, direct + 0.040 * FS);
    rir.iter()
        .enumerate()
        .take(zero as usize)
        .map(|(i, &v)| {
            let t = i as f32;
            if t <= full {
                v
            } else {
                v * (0.5 + 0.5 * (PI * (t - full) / (zero - full)).cos())
            }
        })
        .collect()
}

/// A second-order IIR section (direct form I), coefficients normalised by `a0`.
#[derive(Debug, Clone, Copy)]
pub struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
}

impl Biquad {
    fn from_raw(b: [f32; 3], a: [f32; 3]) -> Self {
        Self {
            b: [b[0] / a[0], b[1] / a[0], b[2] / a[0]],
            a: [a[1] / a[0], a[2] / a[0]],
        }
    }
    /// Peaking EQ at `f_hz` with `gain_db` and quality `q`.
    pub fn peaking(f_hz: f32, gain_db: f32, q: f32) -> Self {
        let a = 10f32.powf(gain_db / 40.0);
        let w = 2.0 * PI * f_hz / FS;
        let alpha = w.sin() / (2.0 * q);
        let c = w.cos();
        Self::from_raw(
            [1.0 + alpha * a, -2.0 * c, 1.0 - alpha * a],
            [1.0 + alpha / a, -2.0 * c, 1.0 - alpha / a],
        )
    }
    /// Second-order high-pass at `f_hz`.
    pub fn highpass(f_hz: f32, q: f32) -> Self {
        let w = 2.0 * PI * f_hz / FS;
        let alpha = w.sin() / (2.0 * q);
        let c = w.cos();
        Self::from_raw(
            [(1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }
    /// Second-order low-pass at `f_hz`.
    pub fn lowpass(f_hz: f32, q: f32) -> Self {
        let w = 2.0 * PI * f_hz / FS;
        let alpha = w.sin() / (2.0 * q);
        let c = w.cos();
        Self::from_raw(
            [(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }
    /// Filters `x` in place from zero state.
    pub fn apply(&self, x: &mut [f32]) {
        cascade(std::slice::from_ref(self), x);
    }

    /// One sample through the filter (direct form I), `s` = `[x1, x2, y1, y2]`.
    #[inline(always)]
    fn tick(&self, s: &mut [f32; 4], v: f32) -> f32 {
        let y = self.b[0] * v + self.b[1] * s[0] + self.b[2] * s[1]
            - self.a[0] * s[2]
            - self.a[1] * s[3];
        *s = [v, s[0], y, s[2]];
        y
    }
}

/// Filters `x` in place through `filters` one after another, each from zero state: the same samples as
/// applying them one at a time, in one pass. Each filter's recurrence waits on its own last outputs, so
/// one filter at a time runs at the latency of that chain; in one pass the filters' chains overlap (the
/// next sample of the first filter does not wait for the last filter), which is most of a mixture's
/// filtering time.
pub fn cascade(filters: &[Biquad], x: &mut [f32]) {
    /// The pass for `K` filters, unrolled.
    fn pass<const K: usize>(f: &[Biquad; K], x: &mut [f32]) {
        let mut s = [[0.0f32; 4]; K];
        for v in x.iter_mut() {
            let mut y = *v;
            for (fk, sk) in f.iter().zip(s.iter_mut()) {
                y = fk.tick(sk, y);
            }
            *v = y;
        }
    }
    // Up to four at once (a random EQ has at most four, plus the telephone low-pass); longer cascades
    // in groups of four, which gives the same samples.
    for group in filters.chunks(4) {
        match group {
            [a] => pass(&[*a], x),
            [a, b] => pass(&[*a, *b], x),
            [a, b, c] => pass(&[*a, *b, *c], x),
            [a, b, c, d] => pass(&[*a, *b, *c, *d], x),
            _ => unreachable!("chunks of at most four"),
        }
    }
}

/// A random EQ: 1–3 peaking filters (±`max_db`), sometimes a high-pass.
pub fn random_eq(rng: &mut impl Rng, max_db: f32) -> Vec<Biquad> {
    let mut f = Vec::new();
    for _ in 0..rng.random_range(1..=3) {
        let fc = log_uniform(rng, 80.0, 10_000.0);
        f.push(Biquad::peaking(
            fc,
            rng.random_range(-max_db..max_db),
            rng.random_range(0.5..2.0),
        ));
    }
    if rng.random_bool(0.3) {
        f.push(Biquad::highpass(log_uniform(rng, 40.0, 250.0), 0.707));
    }
    f
}

/// Standard normal sample (ziggurat, `rand_distr`).
pub fn gauss(rng: &mut impl Rng) -> f32 {
    rng.sample(rand_distr::StandardNormal)
}

/// Log-uniform sample in `[lo, hi)`.
pub fn log_uniform(rng: &mut impl Rng, lo: f32, hi: f32) -> f32 {
    (rng.random_range(lo.ln()..hi.ln())).exp()
}

/// Mean square.
pub fn power(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    // Sixteen running sums instead of one: a single sum is a chain of dependent additions that the
    // compiler may not reorder, one addition's latency per sample; separate sums are vector lanes. They
    // also round less than one long sum.
    let mut lanes = [0.0f32; 16];
    let blocks = x.chunks_exact(16);
    let tail: f32 = blocks.remainder().iter().map(|v| v * v).sum();
    for block in blocks {
        for (acc, v) in lanes.iter_mut().zip(block) {
            *acc += v * v;
        }
    }
    (lanes.iter().sum::<f32>() + tail) / x.len() as f32
}

/// Scales `x` to unit RMS (left alone when silent).
pub fn normalise_rms(x: &mut [f32]) {
    let p = power(x);
    if p > 1e-20 {
        let g = 1.0 / p.sqrt();
        x.iter_mut().for_each(|v| *v *= g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn convolution_with_a_delta_is_identity_and_shift() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.1).sin()).collect();
        let y = convolve(&x, &[1.0]);
        assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() < 1e-4));
        let y = convolve(&x, &[0.0, 0.0, 0.5]);
        assert!((y[502] - 0.5 * x[500]).abs() < 1e-4);
        let [a, b] = convolve_many(&x, [&[0.0, 0.0, 0.5], &[1.0]]);
        assert_eq!(a, y);
        assert!(x.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-4));
    }

    #[test]
    fn band_limit_removes_high_tone_keeps_low_tone() {
        let tone = |f: f32| -> Vec<f32> {
            (0..48_000)
                .map(|i| (2.0 * PI * f * i as f32 / FS).sin())
                .collect()
        };
        let mut hi = tone(12_000.0);
        band_limit(&mut hi, 8_000.0);
        assert!(power(&hi[1000..47_000]) < 1e-6);
        let mut lo = tone(1_000.0);
        band_limit(&mut lo, 8_000.0);
        assert!((power(&lo[1000..47_000]) - 0.5).abs() < 1e-3);
    }

    #[test]
    fn power_is_the_mean_square() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(8);
        for len in [1, 15, 16, 17, 1_000, 144_000] {
            let x: Vec<f32> = (0..len).map(|_| gauss(&mut rng)).collect();
            let exact = x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / len as f64;
            let p = f64::from(power(&x));
            assert!((p - exact).abs() <= 1e-5 * exact, "{len}: {p} vs {exact}");
        }
        assert_eq!(power(&[]), 0.0);
        assert_eq!(power(&[0.5; 33]), 0.25);
    }

    #[test]
    fn sines_in_one_pass_give_the_samples_of_one_sine_at_a_time() {
        let sines = [(50.0, 0.9, 0.3), (100.0, 0.2, 4.0), (2_950.0, 0.05, 1.0)];
        let mut rng = rand::rngs::SmallRng::seed_from_u64(4);
        let base: Vec<f32> = (0..3 * 48_000).map(|_| 0.02 * gauss(&mut rng)).collect();
        let mut fused = base.clone();
        add_sines(&mut fused, sines);
        let mut reference = base;
        for (f_hz, amp, phase) in sines {
            add_sine(&mut reference, f_hz, amp, phase);
        }
        assert!(fused
            .iter()
            .zip(&reference)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn fft_lengths_are_the_least_even_5_smooth_ones() {
        let smooth = |mut n: usize| -> bool {
            for p in [2usize, 3, 5] {
                while n.is_multiple_of(p) {
                    n /= p;
                }
            }
            n == 1
        };
        // Against a search upwards from each length: even, 5-smooth, and none in between.
        for min in 0..5_000 {
            let want = (min.max(2)..)
                .find(|&n: &usize| n.is_multiple_of(2) && smooth(n))
                .unwrap();
            assert_eq!(fft_len(min), want, "{min}");
        }
        assert_eq!(fft_len(144_000), 144_000);
        assert_eq!(fft_len(144_000 + 57_600), 202_500);
        assert_eq!(fft_len(1 << 20), 1 << 20);
    }

    #[test]
    fn convolution_with_a_long_response_is_the_linear_one() {
        // Lengths whose transform is not a power of two; the direct sum as reference.
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let x: Vec<f32> = (0..3_001).map(|_| gauss(&mut rng)).collect();
        let h: Vec<f32> = (0..1_777).map(|_| gauss(&mut rng)).collect();
        let y = convolve(&x, &h);
        for (i, v) in y.iter().enumerate() {
            let direct: f64 = (0..=i.min(h.len() - 1))
                .map(|k| f64::from(h[k]) * f64::from(x[i - k]))
                .sum();
            assert!(
                (f64::from(*v) - direct).abs() < 1e-3,
                "{i}: {v} vs {direct}"
            );
        }
    }

    #[test]
    fn a_cascade_in_one_pass_gives_the_samples_of_one_filter_at_a_time() {
        // The reference: each filter over the whole signal in turn, direct form I as written out here.
        fn one_at_a_time(filters: &[Biquad], x: &mut [f32]) {
            for f in filters {
                let (mut x1, mut x2, mut y1, mut y2) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
                for v in x.iter_mut() {
                    let y = f.b[0] * *v + f.b[1] * x1 + f.b[2] * x2 - f.a[0] * y1 - f.a[1] * y2;
                    (x2, x1, y2, y1) = (x1, *v, y1, y);
                    *v = y;
                }
            }
        }
        let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
        let signal: Vec<f32> = (0..20_000).map(|_| gauss(&mut rng)).collect();
        let mut filters = Vec::new();
        for k in 0..7 {
            filters.push(match k % 3 {
                0 => Biquad::peaking(log_uniform(&mut rng, 80.0, 10_000.0), 6.0, 0.7),
                1 => Biquad::highpass(log_uniform(&mut rng, 40.0, 250.0), 0.707),
                _ => Biquad::lowpass(log_uniform(&mut rng, 3_400.0, 8_000.0), 0.707),
            });
        }
        for n in 0..=filters.len() {
            let (mut fused, mut reference) = (signal.clone(), signal.clone());
            cascade(&filters[..n], &mut fused);
            one_at_a_time(&filters[..n], &mut reference);
            assert!(
                fused
                    .iter()
                    .zip(&reference)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{n} filters"
            );
            if n == 1 {
                let mut single = signal.clone();
                filters[0].apply(&mut single);
                assert_eq!(single, reference);
            }
        }
    }

    #[test]
    fn lowpass_biquad_attenuates_above_cutoff() {
        let mut x: Vec<f32> = (0..48_000)
            .map(|i| (2.0 * PI * 10_000.0 * i as f32 / FS).sin())
            .collect();
        Biquad::lowpass(1_000.0, 0.707).apply(&mut x);
        assert!(power(&x[4800..]) < 0.5 * 0.01);
    }

    #[test]
    fn rir_has_requested_drr_and_unit_direct_path() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let (rir, early) = synthetic_rir(0.5, 3.0, &mut rng);
        assert_eq!(rir[0], 1.0);
        let tail: f32 = rir[1..].iter().map(|v| v * v).sum();
        assert!((10.0 * tail.log10() + 3.0).abs() < 1e-3);
        assert_eq!(early.len(), (0.040 * FS) as usize);
    }

    #[test]
    fn coloured_noise_slopes_down() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(2);
        let mut brown = coloured_noise(48_000, 2.0, &mut rng);
        assert!((power(&brown) - 1.0).abs() < 1e-3);
        let before = power(&brown);
        band_limit(&mut brown, 500.0);
        // Most of brown noise's power lies below 500 Hz.
        assert!(power(&brown) > 0.8 * before);
    }

    #[test]
    fn phasor_sines_match_sin_over_minutes() {
        let len = 48_000 * 180;
        for (f, ph) in [(50.0, 0.3), (660.0, 2.0), (0.25, 5.0)] {
            let mut y = vec![0.0f32; len];
            add_sine(&mut y, f, 0.7, ph);
            let worst = (0..len).step_by(997).fold(0f64, |m, i| {
                let t = i as f64 / SAMPLE_RATE_HZ as f64;
                let exact = 0.7 * (2.0 * std::f64::consts::PI * f * t + ph).sin();
                m.max((f64::from(y[i]) - exact).abs())
            });
            assert!(worst < 1e-6, "{f} Hz: {worst}");
        }
        let mut x = vec![2.0f32; 1000];
        amplitude_modulate(&mut x, 1.0, 0.5, std::f32::consts::FRAC_PI_2);
        assert!((x[0] - 3.0).abs() < 1e-6);
    }

    #[test]
    fn gauss_is_standard_normal() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let v: Vec<f32> = (0..200_000).map(|_| gauss(&mut rng)).collect();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean.abs() < 0.01 && (power(&v) - 1.0).abs() < 0.02);
        // Tails: 4.55 % beyond two standard deviations.
        let beyond = v.iter().filter(|x| x.abs() > 2.0).count() as f32 / v.len() as f32;
        assert!((beyond - 0.0455).abs() < 0.003, "{beyond}");
    }

    /// Mean power of `x` per Hz between `lo` and `hi` (one long FFT).
    fn band_density(x: &[f32], lo: f32, hi: f32) -> f32 {
        let n = x.len().next_power_of_two();
        let s = rfft(x, n);
        let df = FS / n as f32;
        let bins: Vec<f32> = s
            .iter()
            .enumerate()
            .filter(|(k, _)| (lo..hi).contains(&(*k as f32 * df)))
            .map(|(_, v)| v.norm_sqr())
            .collect();
        bins.iter().sum::<f32>() / bins.len() as f32
    }

    #[test]
    fn coloured_noise_has_the_requested_slope() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(4);
        for exponent in [0.0f32, 1.0, 2.0] {
            let x = coloured_noise(48_000 * 4, exponent, &mut rng);
            assert!((power(&x) - 1.0).abs() < 1e-3);
            // Power density falls by 2^exponent per octave (1 kHz band vs 4 kHz band: 4^exponent).
            let ratio = band_density(&x, 800.0, 1_200.0) / band_density(&x, 3_200.0, 4_800.0);
            let expected = 4f32.powf(exponent);
            assert!(
                (ratio / expected - 1.0).abs() < 0.2,
                "{exponent}: {ratio} vs {expected}"
            );
        }
    }

    #[test]
    fn burst_envelope_alternates_bursts_and_gaps_of_the_drawn_lengths() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for len in [0, 1, 479, 3 * 48_000, 6 * 48_000] {
            let env = burst_envelope(len, &mut rng);
            assert_eq!(env.len(), len);
            assert!(env.iter().all(|g| (0.0..=1.0).contains(g)));
        }
        let env = burst_envelope(60 * 48_000, &mut rng);
        // Stretches fully on and fully off, each between the shortest stretch less its ramp and the
        // longest stretch.
        let mut runs: Vec<(bool, usize)> = Vec::new();
        for &g in &env {
            let state = match g {
                1.0 => Some(true),
                0.0 => Some(false),
                _ => None,
            };
            if let Some(s) = state {
                match runs.last_mut() {
                    Some((last, n)) if *last == s => *n += 1,
                    _ => runs.push((s, 1)),
                }
            }
        }
        let inner = &runs[1..runs.len() - 1];
        assert!(inner.len() > 40, "{} stretches in 60 s", inner.len());
        assert!(inner.windows(2).all(|w| w[0].0 != w[1].0));
        let (lo, hi) = ((0.1 * 48_000.0) as usize - 480, (1.5 * 48_000.0) as usize);
        assert!(inner.iter().all(|&(_, n)| n >= lo && n <= hi), "{inner:?}");
    }

    #[test]
    fn hum_is_unit_rms_with_its_fundamental() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
        let y = hum(48_000, &mut rng);
        assert!((power(&y) - 1.0).abs() < 1e-3);
        let f0_band = band_density(&y, 45.0, 65.0);
        assert!(f0_band > 100.0 * band_density(&y, 20_000.0, 23_000.0));
    }
}
