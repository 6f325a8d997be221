#!/usr/bin/env bash
# CI part for the Python package (workspace member python/, package dfn4-python, module `dfn4`): clippy,
# an abi3 wheel built by maturin, installed without a compiler or an index into a fresh venv, and the
# pytest suite (python/tests: parity with `dfn4 enhance --out-format f32`, streaming in random chunks ==
# offline, ValueError messages, files, two threads == one at a time; test_manners.py: shapes, rates,
# help() defaults, OSError errno/filename, in == out and overwrite, NaN warnings, streaming lag at
# 8-48 kHz; examples/ray_enhance.py on a local 2-CPU Ray cluster over 20 files with corrupt ones)
# against the debug `dfn4` binary.
# Called by .ci/run; runnable alone from the repository root: bash .ci/python.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
build_venv="${DFN4_PY_BUILD_VENV:-$HOME/.cache/dfn4/venv-maturin}"
maturin_version=1.16.0
numpy_version=2.4.6
pytest_version=9.2.0
ray_version=2.60.0

mkvenv() {
  python3 -m venv "$1" 2>/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$1"
  }
}

[ -x "$build_venv/bin/python" ] || mkvenv "$build_venv"
"$build_venv/bin/pip" install -q "maturin==$maturin_version" "numpy==$numpy_version" \
  "pytest==$pytest_version"

echo "== cargo clippy -p dfn4-python -- -D warnings"
cargo clippy -p dfn4-python -- -D warnings

target=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== maturin build --release (abi3 wheel)"
(cd python && "$build_venv/bin/maturin" build --release --quiet -o "$tmp/wheels")
wheel=$(ls "$tmp"/wheels/dfn4-*-abi3-*.whl)
echo "$wheel"

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
