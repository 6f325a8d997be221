#!/usr/bin/env bash
# CI for the meter window (cargo feature `gui`): clippy with the feature, then the unit tests of
# src/gui and the headless egui_kittest tests (tests/gui_meter.rs, feature `gui-test`).
#
# Building needs no -dev package and no display. The kittest snapshot renders with wgpu on a CPU
# adapter: Mesa's lavapipe (Vulkan: mesa-vulkan-drivers + libvulkan1) is preferred; Mesa's llvmpipe
# through EGL (libegl1 + libegl-mesa0 + libgl1-mesa-dri) works as well and gives the same image.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive
# Mesa's EGL probes for Wayland and complains on stderr without a runtime directory.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR=$(mktemp -d)
  export XDG_RUNTIME_DIR
  trap 'rm -rf "$XDG_RUNTIME_DIR"' EXIT
fi

if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends mesa-vulkan-drivers libvulkan1 >/dev/null) ||
    echo "warning: could not install Mesa's lavapipe; the snapshot test needs a Vulkan driver"
fi

echo "== cargo clippy --all-targets --features gui-test -- -D warnings"
cargo clippy --all-targets --features gui-test -- -D warnings

echo "== cargo test --features gui-test (gui unit tests, CLI parsing, kittest UI tests and snapshot)"
cargo test --features gui-test --lib gui::
cargo test --features gui-test --bin dfn4 gui
cargo test --features gui-test --test gui_meter
