#!/usr/bin/env bash
# CI for the meter window (cargo feature `gui`): clippy with the feature, then the unit tests of
# src/gui and the headless egui_kittest tests (tests/gui_meter.rs, feature `gui-test`).
#
# Building needs no -dev package. The kittest snapshot renders with wgpu, which needs a software Vulkan
# driver when there is no GPU: Mesa's lavapipe (mesa-vulkan-drivers) with the Vulkan loader (libvulkan1).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive

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
