//! Embeds the shipped weights when `models/dfn4.safetensors` exists (sets cfg `dfn4_embedded`).
use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(dfn4_embedded)");
    println!("cargo::rerun-if-changed=models/dfn4.safetensors");
    println!("cargo::rerun-if-changed=models/dfn4.json");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let weights = Path::new(&dir).join("models/dfn4.safetensors");
    let config = Path::new(&dir).join("models/dfn4.json");
    if weights.exists() && config.exists() {
        println!("cargo::rustc-cfg=dfn4_embedded");
        println!("cargo::rustc-env=DFN4_WEIGHTS_PATH={}", weights.display());
        println!("cargo::rustc-env=DFN4_CONFIG_PATH={}", config.display());
    }
}
