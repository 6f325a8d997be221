//! Streaming STFT with libDF's conventions: analysis windows the last `FFT_SIZE` samples (the memory of
//! `FFT_SIZE − HOP_SIZE` samples plus the new hop), runs a real FFT and scales by
//! [`window::analysis_norm`]; synthesis runs the inverse FFT, windows again and overlap-adds. Analysis
//! followed by synthesis reproduces the input delayed by `FFT_SIZE − HOP_SIZE` samples.
//!
//! All buffers, including the FFT scratch, are allocated in `new`, so `process` never allocates.
use std::sync::Arc;

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::window;
use super::Complex32;
use crate::config::{FFT_SIZE, HOP_SIZE, NB_FREQS};

/// Streaming analysis: one hop of samples in, one spectrum of `NB_FREQS` bins out.
pub struct Analysis {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    wnorm: f32,
    /// The last `FFT_SIZE − HOP_SIZE` input samples.
    mem: Vec<f32>,
    /// Windowed time frame handed to the FFT (the FFT uses it as work space).
    frame: Vec<f32>,
    scratch: Vec<Complex32>,
}

impl Analysis {
    /// Analysis state with zeroed memory.
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT_SIZE);
        let scratch = fft.make_scratch_vec();
        Self {
            fft,
            window: window::default_window(),
            wnorm: window::default_analysis_norm(),
            mem: vec![0.0; FFT_SIZE - HOP_SIZE],
            frame: vec![0.0; FFT_SIZE],
            scratch,
        }
    }

    /// Analyses one hop: `input` has `HOP_SIZE` samples, `spec` receives `NB_FREQS` bins.
    pub fn process(&mut self, input: &[f32], spec: &mut [Complex32]) {
        debug_assert_eq!(input.len(), HOP_SIZE);
        debug_assert_eq!(spec.len(), NB_FREQS);
        let mem_len = self.mem.len();
        let (w_old, w_new) = self.window.split_at(mem_len);
        let (f_old, f_new) = self.frame.split_at_mut(mem_len);
        for ((f, &m), &w) in f_old.iter_mut().zip(&self.mem).zip(w_old) {
            *f = m * w;
        }
        for ((f, &x), &w) in f_new.iter_mut().zip(input).zip(w_new) {
            *f = x * w;
        }
        // Keep the newest `mem_len` samples for the next frame (`mem_len >= HOP_SIZE` since the hop is
        // at most half the FFT; with exactly half this is a plain copy of the input).
        self.mem.rotate_left(HOP_SIZE);
        self.mem[mem_len - HOP_SIZE..].copy_from_slice(input);
        let res = self
            .fft
            .process_with_scratch(&mut self.frame, spec, &mut self.scratch);
        // Sizes are fixed at construction, so the FFT cannot reject its buffers.
        debug_assert!(res.is_ok(), "forward FFT failed: {res:?}");
        for x in spec.iter_mut() {
            *x *= self.wnorm;
        }
    }

    /// Clears the analysis memory (start of a new signal).
    pub fn reset(&mut self) {
        self.mem.fill(0.0);
    }
}

impl Default for Analysis {
    fn default() -> Self {
        Self::new()
    }
}

/// Streaming synthesis: one spectrum in, one hop of samples out (overlap-add).
pub struct Synthesis {
    ifft: Arc<dyn ComplexToReal<f32>>,
    window: Vec<f32>,
    /// Overlap-add memory: the tail of the previous frames, `FFT_SIZE − HOP_SIZE` samples.
    mem: Vec<f32>,
    frame: Vec<f32>,
    scratch: Vec<Complex32>,
}

impl Synthesis {
    /// Synthesis state with zeroed memory.
    pub fn new() -> Self {
        let ifft = RealFftPlanner::<f32>::new().plan_fft_inverse(FFT_SIZE);
        let scratch = ifft.make_scratch_vec();
        Self {
            ifft,
            window: window::default_window(),
            mem: vec![0.0; FFT_SIZE - HOP_SIZE],
            frame: vec![0.0; FFT_SIZE],
            scratch,
        }
    }

    /// Synthesises one hop: `spec` has `NB_FREQS` bins (used as work space and left modified),
    /// `output` receives `HOP_SIZE` samples.
    pub fn process(&mut self, spec: &mut [Complex32], output: &mut [f32]) {
        debug_assert_eq!(spec.len(), NB_FREQS);
        debug_assert_eq!(output.len(), HOP_SIZE);
        // A real signal has real DC and Nyquist bins; the inverse FFT ignores their imaginary parts
        // (libDF tolerates realfft's complaint about them). Dropping them here gives the same result
        // without the error path.
        spec[0].im = 0.0;
        spec[NB_FREQS - 1].im = 0.0;
        let res = self
            .ifft
            .process_with_scratch(spec, &mut self.frame, &mut self.scratch);
        debug_assert!(res.is_ok(), "inverse FFT failed: {res:?}");
        for (x, &w) in self.frame.iter_mut().zip(&self.window) {
            *x *= w;
        }
        let (head, tail) = self.frame.split_at(HOP_SIZE);
        for ((o, &x), &m) in output.iter_mut().zip(head).zip(&self.mem) {
            *o = x + m;
        }
        // `mem_len >= HOP_SIZE` (hop at most half the FFT). Shift out the hop just emitted, then add the
        // part that still overlaps earlier frames and overwrite the part only this frame covers.
        let overlap = self.mem.len() - HOP_SIZE;
        self.mem.rotate_left(HOP_SIZE);
        let (m_old, m_new) = self.mem.split_at_mut(overlap);
        let (t_old, t_new) = tail.split_at(overlap);
        for (m, &x) in m_old.iter_mut().zip(t_old) {
            *m += x;
        }
        m_new.copy_from_slice(t_new);
    }

    /// Clears the overlap-add memory.
    pub fn reset(&mut self) {
        self.mem.fill(0.0);
    }
}

impl Default for Synthesis {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_signal(len: usize) -> Vec<f32> {
        // Deterministic, broadband: a chirp plus a pseudo-random sequence.
        let mut seed = 12345u32;
        (0..len)
            .map(|n| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                let t = n as f32 / 48_000.0;
                0.5 * (2.0 * std::f32::consts::PI * (200.0 + 4000.0 * t) * t).sin() + 0.2 * noise
            })
            .collect()
    }

    #[test]
    fn analysis_synthesis_reconstructs_with_one_window_delay() {
        let frames = 60;
        let x = test_signal(frames * HOP_SIZE);
        let mut ana = Analysis::new();
        let mut syn = Synthesis::new();
        let mut spec = vec![Complex32::default(); NB_FREQS];
        let mut y = vec![0.0f32; x.len()];
        for (xin, yout) in x.chunks_exact(HOP_SIZE).zip(y.chunks_exact_mut(HOP_SIZE)) {
            ana.process(xin, &mut spec);
            syn.process(&mut spec, yout);
        }
        let delay = FFT_SIZE - HOP_SIZE;
        let mut max_err = 0.0f32;
        for n in delay..x.len() {
            max_err = max_err.max((y[n] - x[n - delay]).abs());
        }
        assert!(max_err < 1e-5, "max reconstruction error {max_err}");
        assert!(y[..delay].iter().all(|v| v.abs() < 1e-6));
    }

    #[test]
    fn reset_forgets_the_past() {
        let x = test_signal(4 * HOP_SIZE);
        let mut ana = Analysis::new();
        let mut first = vec![Complex32::default(); NB_FREQS];
        let mut again = vec![Complex32::default(); NB_FREQS];
        ana.process(&x[..HOP_SIZE], &mut first);
        ana.process(&x[HOP_SIZE..2 * HOP_SIZE], &mut again);
        ana.reset();
        ana.process(&x[..HOP_SIZE], &mut again);
        assert_eq!(first, again);
    }

    #[test]
    fn sine_peaks_at_its_bin_with_libdf_scale() {
        // A full-scale cosine at bin 48 (2.4 kHz) in steady state: its bin holds half the window's
        // sum, scaled by wnorm.
        let k = 48.0;
        let x: Vec<f32> = (0..4 * HOP_SIZE)
            .map(|n| (2.0 * std::f32::consts::PI * k * n as f32 / FFT_SIZE as f32).cos())
            .collect();
        let mut ana = Analysis::new();
        let mut spec = vec![Complex32::default(); NB_FREQS];
        for c in x.chunks_exact(HOP_SIZE) {
            ana.process(c, &mut spec);
        }
        let peak = (0..NB_FREQS)
            .max_by(|&a, &b| spec[a].norm().total_cmp(&spec[b].norm()))
            .unwrap();
        assert_eq!(peak, 48);
        let expected =
            0.5 * window::default_window().iter().sum::<f32>() * window::default_analysis_norm();
        assert!(
            (spec[48].norm() - expected).abs() < 1e-4 * expected,
            "{}",
            spec[48].norm()
        );
    }
}
