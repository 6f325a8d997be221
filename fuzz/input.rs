//! A cursor over the fuzzer's bytes, shared by the checks of the host-contract targets: fixed-width
//! little-endian reads that return `None` at the end (the caller stops there) or 0 (`*_or_0`, for
//! fields inside a step), and the hostile values the targets pick from: control values, sample bursts.

/// Reads the fuzzer's bytes front to back.
pub struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.bytes.split_first_chunk::<N>()?;
        self.bytes = rest;
        Some(*head)
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    pub fn u8_or_0(&mut self) -> u8 {
        self.u8().unwrap_or(0)
    }

    pub fn u16_or_0(&mut self) -> u16 {
        self.take::<2>().map_or(0, u16::from_le_bytes)
    }

    pub fn u32_or_0(&mut self) -> u32 {
        self.take::<4>().map_or(0, u32::from_le_bytes)
    }

    pub fn u64_or_0(&mut self) -> u64 {
        self.take::<8>().map_or(0, u64::from_le_bytes)
    }

    pub fn f32_or_0(&mut self) -> f32 {
        f32::from_bits(self.u32_or_0())
    }

    /// A control value as a careless host might set it: one of [`SPECIAL_VALUES`], a small integer
    /// (0–111: the usual range of dB and toggle ports), or any bit pattern.
    pub fn control(&mut self) -> f32 {
        match self.u8_or_0() {
            s if usize::from(s) < SPECIAL_VALUES.len() => SPECIAL_VALUES[usize::from(s)],
            s if s < 128 => f32::from(s - SPECIAL_VALUES.len() as u8),
            _ => self.f32_or_0(),
        }
    }

    /// A block length from 0 to 16,383 frames, small ones most often (two bytes: the top two bits pick
    /// the range 0–63, 0–1023, 0–8191 or 0–16,383).
    pub fn block_frames(&mut self) -> usize {
        let n = self.u16_or_0();
        usize::from(match n >> 14 {
            0 => n & 0x3f,
            1 => n & 0x3ff,
            2 => n & 0x1fff,
            _ => n & 0x3fff,
        })
    }

    /// Fills `block` with one signal the bytes describe (silence, a tone, noise or raw bit patterns,
    /// at an amplitude from quiet to far beyond full scale) and then up to 15 bursts of
    /// [`SPECIAL_VALUES`] at positions taken from the bytes.
    pub fn signal(&mut self, block: &mut [f32], seed: u32) {
        let kind = self.u8_or_0();
        let amplitude = [0.05, 0.5, 1.0, 3000.0][usize::from(kind >> 2) & 3];
        match kind & 3 {
            0 => block.fill(0.0),
            1 => {
                let step = 0.001 + f32::from(self.u8_or_0()) * 0.012;
                for (t, x) in block.iter_mut().enumerate() {
                    *x = amplitude * (t as f32 * step).sin();
                }
            }
            2 => {
                let mut state = seed | 1;
                for x in block.iter_mut() {
                    // xorshift32: cheap, deterministic noise.
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    *x = amplitude * (state as f32 / u32::MAX as f32 * 2.0 - 1.0);
                }
            }
            _ => {
                let raw = usize::from(self.u8_or_0()).min(block.len());
                block.fill(0.0);
                for x in &mut block[..raw] {
                    *x = self.f32_or_0();
                }
            }
        }
        for _ in 0..kind >> 4 {
            let pos = usize::from(self.u16_or_0());
            let len = usize::from(self.u8_or_0() % 32) + 1;
            let value = SPECIAL_VALUES[usize::from(self.u8_or_0()) % SPECIAL_VALUES.len()];
            if block.is_empty() {
                continue;
            }
            let start = pos % block.len();
            let end = (start + len).min(block.len());
            block[start..end].fill(value);
        }
    }
}

/// Values a hostile host or a broken driver hands over: NaN (quiet, negative, with a payload), ±Inf,
/// the extremes of `f32`, values just beyond the library's sample bound, a subnormal, and plain ones.
pub const SPECIAL_VALUES: [f32; 16] = [
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    -f32::NAN,
    f32::from_bits(0x7fa0_0001), // a signalling NaN with a payload
    f32::MAX,
    f32::MIN,
    1e30,
    -1e30,
    1000.5,
    -1000.5,
    1e-40, // subnormal
    0.0,
    -0.0,
    1.0,
    100.0,
];

/// Writes inputs in the layout [`Input`] reads, for the hand-made seeds.
#[derive(Default)]
pub struct Seed(pub Vec<u8>);

impl Seed {
    pub fn u8(mut self, b: u8) -> Self {
        self.0.push(b);
        self
    }

    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn f32(self, v: f32) -> Self {
        self.u32(v.to_bits())
    }

    /// A control value that [`Input::control`] reads back as `v` (any bit pattern).
    pub fn control(self, v: f32) -> Self {
        self.u8(0xff).f32(v)
    }

    /// A block length that [`Input::block_frames`] reads back as `n` (< 16,384).
    pub fn frames(self, n: u16) -> Self {
        assert!(n < 1 << 14);
        self.u16(0xc000 | n)
    }

    /// A tone (full scale × `amplitude_index` of [0.05, 0.5, 1, 3000]) with `bursts` of
    /// [`SPECIAL_VALUES`] (index, position, length).
    pub fn tone(self, amplitude_index: u8, bursts: &[(u8, u16, u8)]) -> Self {
        let kind = 1 | (amplitude_index & 3) << 2 | (bursts.len() as u8) << 4;
        let mut s = self.u8(kind).u8(20);
        for &(value, pos, len) in bursts {
            s = s.u16(pos).u8(len - 1).u8(value);
        }
        s
    }

    /// Noise at `amplitude_index` (as in [`Seed::tone`]), no bursts.
    pub fn noise(self, amplitude_index: u8) -> Self {
        self.u8(2 | (amplitude_index & 3) << 2)
    }

    /// Raw samples (at most 255; the rest of the block is zeros).
    pub fn raw(self, samples: &[f32]) -> Self {
        let mut s = self.u8(3).u8(samples.len() as u8);
        for &x in samples {
            s = s.f32(x);
        }
        s
    }
}
