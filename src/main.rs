//! The `dfn4` command line. OWNER: cli helper (placeholder).
fn main() {}
