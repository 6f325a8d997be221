//! `include/dfn4.h` is what cbindgen makes of the sources now: a changed signature, doc comment or
//! status code without a regenerated header fails here (and so in CI). `DFN4_BLESS_HEADER=1` rewrites
//! the committed header instead.
use std::path::Path;

#[test]
fn header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen parses the sources")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8");
    let path = dir.join("include/dfn4.h");
    if std::env::var_os("DFN4_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/dfn4.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "capi/include/dfn4.h is stale: regenerate it with \
         `DFN4_BLESS_HEADER=1 cargo test -p dfn4-capi header` and commit it"
    );
}
