//! `Denoiser`: DSP state + backend state, one 10 ms frame at a time. OWNER: dsp helper (placeholder).
