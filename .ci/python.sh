#!/usr/bin/env bash
# CI part for the Python package (workspace member python/, package dfn4-python, module `dfn4`): clippy,
# an abi3 wheel built by maturin with zig as the linker for glibc 2.17 (manylinux2014 / manylinux_2_17,
# confirmed by auditwheel), installed without a compiler or an index into a fresh venv, and the
# pytest suite (python/tests: parity with `dfn4 enhance --out-format f32`, streaming in random chunks ==
# offline, ValueError messages, files, two threads == one at a time; test_manners.py: shapes, rates,
# help() defaults, OSError errno/filename, in == out and overwrite, NaN warnings, streaming lag at
# 8-48 kHz; examples/ray_enhance.py on a local 2-CPU Ray cluster over 20 files with corrupt ones)
# against the debug `dfn4` binary. Then the sdist: built, a wheel built from it by pip in a temporary
# folder (maturin from the index, a clean cargo build: ~1.5 min), installed and called once
# (DFN4_PY_NO_SDIST=1 skips it).
# Called by .ci/run; runnable alone from the repository root: bash .ci/python.sh
# `bash .ci/python.sh sdist [DIR]` only writes the sdist (the one to publish) to DIR (default dist/).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
build_venv="${DFN4_PY_BUILD_VENV:-$HOME/.cache/dfn4/venv-maturin}"
maturin_version=1.16.0
numpy_version=2.4.6
pytest_version=9.2.0
ray_version=2.60.0
ziglang_version=0.17.1
auditwheel_version=6.8.2
# The wheel's platform tag: glibc 2.17 is the oldest that Rust's std supports (x86_64-unknown-linux-gnu).
manylinux_tag=manylinux_2_17_x86_64

mkvenv() {
  python3 -m venv "$1" 2>/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$1"
  }
}

[ -x "$build_venv/bin/python" ] || mkvenv "$build_venv"
"$build_venv/bin/pip" install -q "maturin==$maturin_version" "numpy==$numpy_version" \
  "pytest==$pytest_version" "ziglang==$ziglang_version" "auditwheel==$auditwheel_version"

# maturin sdist + the manifest fix-up below: the sdist to publish, written to $1.
# maturin (1.16) copies the workspace root's Cargo.toml as it is when the root package is itself a path
# dependency (dfn4 here): unlike `cargo package`, it keeps `[patch.crates-io] cpal = { path =
# "vendor/cpal" }` (vendor/ is not in the sdist, so cargo cannot even read the manifest) and the [[test]]
# targets whose files the include list leaves out. Both are dropped here, as `cargo package` drops them.
make_sdist() {
  local raw
  raw=$(mktemp -d)
  (cd python && "$build_venv/bin/maturin" sdist -o "$raw")
  "$build_venv/bin/python" - "$raw"/dfn4-*.tar.gz <<'EOF'
import io, re, sys, tarfile, tomllib

sdist = sys.argv[1]
with tarfile.open(sdist) as tar:
    members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
top = members[0][0].name.split("/")[0]
files = {m.name[len(top) + 1 :] for m, _ in members}
index = next(i for i, (m, _) in enumerate(members) if m.name == f"{top}/Cargo.toml")
dirs = {"test": "tests", "bench": "benches", "example": "examples", "bin": "src/bin"}
kept, dropped = [], []
# One chunk per table, from its header line to the next header.
for chunk in re.split(r"(?m)^(?=\[)", members[index][1].decode()):
    header = re.match(r"\[\[?([^\]]+)\]", chunk)
    key = header.group(1).strip() if header else ""
    if key in dirs:
        (target,) = tomllib.loads(chunk)[key]
        name = target["name"]
        paths = [target["path"]] if "path" in target else [f"{dirs[key]}/{name}.rs", f"{dirs[key]}/{name}/main.rs"]
        if not files.intersection(paths):
            dropped.append(f"[[{key}]] {name}")
            continue
    elif key.startswith("patch."):
        deps = tomllib.loads(chunk)["patch"][key.split(".", 1)[1]]
        missing = [d for d, spec in deps.items() if "path" in spec and f"{spec['path'].rstrip('/')}/Cargo.toml" not in files]
        if missing:
            dropped.append(f"[{key}] ({', '.join(missing)})")
            continue
    kept.append(chunk)
data = "".join(kept).encode()
members[index][0].size = len(data)
members[index] = (members[index][0], data)
with tarfile.open(sdist, "w:gz") as tar:
    for m, content in members:
        tar.addfile(m, None if content is None else io.BytesIO(content))
print(f"sdist: dropped from Cargo.toml: {', '.join(dropped) or 'nothing'}")
EOF
  mkdir -p "$1"
  mv "$raw"/dfn4-*.tar.gz "$1"/
  rmdir "$raw"
}

if [ "${1:-}" = sdist ]; then
  make_sdist "$(realpath -m "${2:-dist}")"
  exit 0
fi

echo "== cargo clippy -p dfn4-python -- -D warnings"
cargo clippy -p dfn4-python -- -D warnings

target=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== maturin build --release --zig --compatibility manylinux2014 (abi3 wheel for glibc >= 2.17)"
# zig links against glibc 2.17's symbol versions; a plain build links against the builder's glibc (2.36
# here: manylinux_2_35, which older LTS distributions cannot install). Same build time (~1 min cold).
(cd python && PATH="$build_venv/bin:$PATH" "$build_venv/bin/maturin" build --release --quiet \
  --zig --compatibility manylinux2014 -o "$tmp/wheels")
wheel=$(ls "$tmp"/wheels/dfn4-*-abi3-*.whl)
echo "$wheel"
case "$wheel" in
  *"$manylinux_tag"*) ;;
  *) echo "FAIL: the wheel's name does not carry $manylinux_tag" >&2; exit 1 ;;
esac
echo "== auditwheel show: the wheel must be consistent with $manylinux_tag"
audit=$("$build_venv/bin/auditwheel" show "$wheel")
echo "$audit"
audit_flat=$(tr -s ' \n' '  ' <<<"$audit")  # auditwheel wraps its lines
if ! grep -qF "consistent with the following platform tag: \"$manylinux_tag\"" <<<"$audit_flat"; then
  echo "FAIL: auditwheel does not confirm $manylinux_tag" >&2
  exit 1
fi

echo "== cargo build --bin dfn4 (the reference for the parity test)"
cargo build --bin dfn4

echo "== fresh venv: numpy and pytest from the index, then the wheel with --no-index (no compiler involved)"
mkvenv "$tmp/venv"
# Ray Data for examples/ray_enhance.py and python/tests/test_ray.py (DFN4_PY_NO_RAY=1 skips it).
ray_pkg=()
[ -n "${DFN4_PY_NO_RAY:-}" ] || ray_pkg=("ray[data]==$ray_version")
"$tmp/venv/bin/pip" install -q "numpy==$numpy_version" "pytest==$pytest_version" "${ray_pkg[@]}"
"$tmp/venv/bin/pip" install -q --no-index "$wheel"
(cd "$tmp" && "$tmp/venv/bin/python" -c 'import dfn4; print("import dfn4:", dfn4.__version__, dfn4.backends())')

echo "== pytest python/tests"
DFN4_CLI="$target/debug/dfn4" "$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning python/tests

if [ -n "${DFN4_PY_NO_SDIST:-}" ]; then
  echo "== sdist: skipped (DFN4_PY_NO_SDIST set)"
  exit 0
fi
echo "== sdist: build it, then a wheel from it in a temporary folder (pip, maturin from the index)"
make_sdist "$tmp/sdist"
sdist=$(ls "$tmp"/sdist/dfn4-*.tar.gz)
ls -l "$sdist"
listing=$(tar tzf "$sdist")
for f in build.rs src/lib.rs models/dfn4.safetensors models/dfn4.json python/Cargo.toml python/src/lib.rs \
  python/dfn4.pyi pyproject.toml Cargo.lock; do
  grep -qx "dfn4-[^/]*/$f" <<<"$listing" || { echo "FAIL: $f missing from the sdist" >&2; exit 1; }
done
mkdir "$tmp/from-sdist"
# A target folder of its own inside the temporary folder: nothing from earlier builds is reused.
(cd "$tmp/from-sdist" && env -u CARGO_TARGET_DIR "$tmp/venv/bin/pip" wheel -q --no-deps -w wheels "$sdist")
"$tmp/venv/bin/pip" install -q --no-index --force-reinstall --no-deps "$tmp"/from-sdist/wheels/dfn4-*.whl
(cd "$tmp" && "$tmp/venv/bin/python" -c '
import numpy as np, dfn4
x = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float64)
y = dfn4.enhance(x, 16000)
assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all(), (y.shape, y.dtype)
print("wheel from the sdist: import dfn4 and enhance OK", dfn4.__file__)
')
