//! The DfNet4 network defined once as data: every weight's PyTorch-style name and shape
//! ([`spec`]), and loading/validation of safetensors files against it ([`weights`]).
//! The forward computation is documented in `models/README.md`; each backend implements it.
pub mod embedded;
pub mod spec;
pub mod weights;

pub use spec::{weight_specs, WeightSpec};
pub use weights::Weights;
