//! Signal processing, libDF-compatible. OWNER: dsp helper (placeholder).
