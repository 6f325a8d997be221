#!/usr/bin/env bash
# A scripted `dfn4 live` run with no sound card: a private PulseAudio daemon with two null sinks
# (dfn_in, dfn_out; 48 kHz mono float, as in tests/live_pulse.rs), the noisy asset played into dfn_in
# in a loop, `dfn4 live` denoising dfn_in.monitor into dfn_out for SECONDS, its JSON summary on stdout
# (xruns, measured latency, compute per hop, RTF). Used for the live targets in the README.
#
# Usage: scripts/live/null_sink.sh SECONDS [dfn4 live options...]
#   e.g. scripts/live/null_sink.sh 600 --buffer-frames 960
# Env:   DFN4  the dfn4 binary (default target/release/dfn4, built with --features live)
# Needs: pulseaudio pulseaudio-utils (apt-get), a dfn4 built with `--features live`.
set -euo pipefail
seconds=${1:?usage: live_null_sink.sh SECONDS [dfn4 live options...]}
shift
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dfn4="${DFN4:-$repo/target/release/dfn4}"
noisy="$repo/assets/noisy_speech.wav"

dir=$(mktemp -d)
export HOME="$dir/home" XDG_RUNTIME_DIR="$dir/run"
unset PULSE_SERVER
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
cat > "$dir/default.pa" <<'EOF'
load-module module-native-protocol-unix auth-anonymous=1
load-module module-null-sink sink_name=dfn_in rate=48000 channels=1 format=float32le
load-module module-null-sink sink_name=dfn_out rate=48000 channels=1 format=float32le
set-default-source dfn_in.monitor
set-default-sink dfn_out
EOF
pulseaudio -n --daemonize=no --exit-idle-time=-1 --realtime=yes --high-priority=yes \
    -F "$dir/default.pa" 2>"$dir/pulse.log" &
pulse_pid=$!
player_pid=
cleanup() {
    [ -n "$player_pid" ] && kill "$player_pid" 2>/dev/null
    kill "$pulse_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 150); do
    pactl info >/dev/null 2>&1 && break
    sleep 0.1
done
pactl info >/dev/null

# The noisy asset, over and over, for as long as the run lasts.
(while true; do paplay -d dfn_in "$noisy" || exit 0; done) &
player_pid=$!

# cpal's own PulseAudio client (ALSA's "pulse" plugin device also reaches these sinks, but failed
# here with snd_pcm_avail_delay I/O errors).
"$dfn4" live --host pulseaudio --input dfn_in.monitor --output dfn_out --duration "$seconds" --json "$@"
