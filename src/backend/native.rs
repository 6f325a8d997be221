//! Pure-Rust DfNet4 inference (the default backend). OWNER: native-backend helper (placeholder).
