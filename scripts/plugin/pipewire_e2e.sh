#!/usr/bin/env bash
# End-to-end run of the LADSPA plugin in a private, headless PipeWire: the shipped filter-chain config
# (plugin/pipewire/dfn4-source.conf, unchanged) makes the "dfn4 denoised microphone"; a null source
# (`fake_mic`) plays the noisy fixture, looped to the requested length, as the microphone; WirePlumber
# links the filter to it as it would to a real microphone; one recording client takes the microphone and
# the denoised microphone in the same graph cycles (2 channels). Then
# `plugin/examples/pipewire_check.rs` checks that the recorded output is the plugin's output on the
# recorded input, sample for sample, at the reported latency, with no discontinuity, and denoised;
# pw-top's ERR column (xruns per node) is read before and after the run.
#
# With `--host jalv` the LV2 plugin runs instead, in jalv (an LV2 host) as a JACK client of the same
# PipeWire (pw-jack), linked between the microphone and the recorder by hand. With `--host copy` the same
# filter-chain runs PipeWire's builtin `copy` node instead of dfn4: the baseline of what the server
# itself does to a stream on this machine (output = input, no latency).
#
# usage: scripts/plugin/pipewire_e2e.sh [--host filter-chain|jalv|copy] [--quantum FRAMES] [--seconds S]
#          [--bypass] [--out DIR] [--require-exact-s S] [--max-discontinuities N] [--max-xruns N]
#   --quantum   the graph's forced quantum (default 256)
#   --seconds   length of the played input (default 20)
#   --bypass    run with the plugin's Bypass on (the model still runs; the output is the input delayed):
#               every lost or repeated buffer is then found exactly, whatever the model's state
#   --out DIR   keep the recording, logs and pw-top tables there (default: a temporary folder, removed)
# Needs (Debian): pipewire pipewire-bin wireplumber dbus tmux sox (and jalv pipewire-jack for --host
# jalv); a release build of the plugin
# (cargo build --release -p dfn4-plugin --lib --example pipewire_check). Run as root for real-time
# scheduling of the graph (the daemon's module-rt; clients use client-rt.conf).
set -euo pipefail
cd "$(dirname "$0")/../.."

host=filter-chain
quantum=256
seconds=20
bypass=0
out=""
checker_args=()
max_xruns=""
while [ $# -gt 0 ]; do
  case "$1" in
    --host) host=$2; shift 2 ;;
    --quantum) quantum=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --bypass) bypass=1; checker_args+=(--bypass); shift ;;
    --out) out=$2; shift 2 ;;
    --require-exact-s|--max-discontinuities) checker_args+=("$1" "$2"); shift 2 ;;
    --max-xruns) max_xruns=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

target=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
so_dir="$target/release"
checker="$target/release/examples/pipewire_check"
for f in "$so_dir/libdfn4_plugin.so" "$checker"; do
  [ -e "$f" ] || { echo "missing $f: cargo build --release -p dfn4-plugin --lib --example pipewire_check" >&2; exit 2; }
done

tmp=$(mktemp -d)
if [ -z "$out" ]; then out="$tmp/out"; keep=0; else keep=1; fi
mkdir -p "$out"
pids=()
session_pid=""
cleanup() {
  tmux -L dfn4-e2e kill-server 2>/dev/null || true
  # WirePlumber and its D-Bus daemon are children of dbus-run-session.
  [ -z "$session_pid" ] || pkill -TERM -P "$session_pid" 2>/dev/null || true
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
  [ "$keep" = 1 ] || rm -rf "$out"
}
trap cleanup EXIT

# A private daemon: its own runtime dir, home (WirePlumber's state) and config dir.
# The daemon's config dir is its own (PIPEWIRE_CONFIG_DIR on its command line only: clients keep the
# system's client configs).
config_dir="$tmp/config"
export XDG_RUNTIME_DIR="$tmp/run" HOME="$tmp/home"
export XDG_STATE_HOME="$tmp/home/state" XDG_CONFIG_HOME="$tmp/home/config" LADSPA_PATH="$so_dir"
mkdir -p "$XDG_RUNTIME_DIR" "$HOME" "$config_dir/pipewire.conf.d"
chmod 700 "$XDG_RUNTIME_DIR"
cat > "$config_dir/pipewire.conf" <<EOF
context.properties = {
    core.daemon = true
    core.name = pipewire-0
    default.clock.rate = 48000
    default.clock.allowed-rates = [ 48000 ]
    default.clock.quantum = $quantum
    default.clock.min-quantum = 16
    default.clock.max-quantum = 8192
    mem.allow-mlock = false
}
context.spa-libs = {
    audio.convert.* = audioconvert/libspa-audioconvert
    support.*       = support/libspa-support
}
context.modules = [
    { name = libpipewire-module-rt args = { nice.level = -11 rt.prio = 88 } flags = [ ifexists nofail ] }
    { name = libpipewire-module-protocol-native }
    { name = libpipewire-module-access args = { } }
    { name = libpipewire-module-profiler }
    { name = libpipewire-module-metadata }
    { name = libpipewire-module-spa-node-factory }
    { name = libpipewire-module-client-node }
    { name = libpipewire-module-adapter }
    { name = libpipewire-module-link-factory }
]
context.objects = [
    { factory = spa-node-factory
        args = { factory.name = support.node.driver node.name = Dummy-Driver node.group = pipewire.dummy
                 priority.driver = 20000 } }
    # The "microphone": a virtual source whose input ports the player writes to.
    { factory = adapter
        args = { factory.name = support.null-audio-sink node.name = fake_mic node.description = "test microphone"
                 media.class = Audio/Source/Virtual object.linger = true audio.position = [ MONO ]
                 audio.rate = 48000 } }
]
EOF
case "$host" in
  filter-chain)
    # The shipped config, as a user installs it (only Bypass changed for --bypass).
    sed -e "s/\"Bypass\" = 0/\"Bypass\" = $bypass/" plugin/pipewire/dfn4-source.conf \
      > "$config_dir/pipewire.conf.d/dfn4-source.conf"
    ;;
  copy)
    # The shipped config with the builtin copy node in dfn4's place.
    python3 - plugin/pipewire/dfn4-source.conf > "$config_dir/pipewire.conf.d/dfn4-source.conf" <<'PY'
import re, sys
conf = open(sys.argv[1]).read()
node = re.search(r"\{\s*type\s*=\s*ladspa.*?control = \{.*?\}\s*\}", conf, re.S)
print(conf[:node.start()] + "{ type = builtin name = copy label = copy }" + conf[node.end():])
PY
    checker_args+=(--identity)
    ;;
  jalv)
    # The LV2 bundle as a user installs it: the Turtle files and the .so in one folder of LV2_PATH.
    mkdir -p "$tmp/lv2"
    cp -r plugin/lv2/dfn4.lv2 "$tmp/lv2/"
    cp "$so_dir/libdfn4_plugin.so" "$tmp/lv2/dfn4.lv2/"
    export LV2_PATH="$tmp/lv2"
    ;;
  *) echo "unknown host $host (filter-chain, jalv or copy)" >&2; exit 2 ;;
esac

# The played input and its clean speech, looped to the requested length.
loops=$(( (seconds + 9) / 10 ))
sox assets/noisy_speech.wav "$tmp/played.wav" repeat $((loops - 1))
sox assets/clean_speech.wav "$tmp/clean.wav" repeat $((loops - 1))

PIPEWIRE_CONFIG_DIR="$config_dir" pipewire > "$out/pipewire.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$XDG_RUNTIME_DIR/pipewire-0" ] && break; sleep 0.1; done
# WirePlumber (the session manager) needs a D-Bus session bus: a private one.
dbus-run-session -- wireplumber > "$out/wireplumber.log" 2>&1 &
session_pid=$!
pids+=($session_pid)

link_exists() { pw-link -l 2>/dev/null | grep -A1 "^$1\$" | grep -q -- "-> $2\$"; }
port_of() { pw-link "$1" 2>/dev/null | grep "^$2:" | head -n 1; }
wait_for() { for _ in $(seq 100); do if "$@"; then return 0; fi; sleep 0.1; done; return 1; }
has_port() { [ -n "$(port_of "$1" "$2")" ]; }

wait_for has_port -o fake_mic || { echo "the test microphone did not appear" >&2; cat "$out/pipewire.log" >&2; exit 1; }
mic_out=$(port_of -o fake_mic)
if [ "$host" != jalv ]; then
  wait_for has_port -o dfn4_source || { echo "the filter-chain source did not appear" >&2; cat "$out/pipewire.log" >&2; exit 1; }
  wait_for has_port -i capture.dfn4_source || { echo "the filter's capture ports did not appear" >&2; exit 1; }
  filter_in=$(port_of -i capture.dfn4_source)
  filter_out=$(port_of -o dfn4_source)
  # WirePlumber links the filter to the default microphone; fake_mic is the only one.
  if ! wait_for link_exists "$mic_out" "$filter_in"; then
    echo "WirePlumber did not link $mic_out to $filter_in; linking it here" >&2
    pw-link "$mic_out" "$filter_in"
  fi
else
  # jalv's console exits at the end of its standard input: give it one that stays open.
  jalv_in="$tmp/jalv.in"
  mkfifo "$jalv_in"
  pw-jack jalv -n dfn4_jalv -c "bypass=$bypass" urn:dfn4:plugin:mono < "$jalv_in" > "$out/jalv.log" 2>&1 &
  pids+=($!)
  exec 9> "$jalv_in"
  wait_for has_port -o dfn4_jalv || { echo "jalv's ports did not appear" >&2; cat "$out/jalv.log" >&2; exit 1; }
  filter_in=$(port_of -i dfn4_jalv)
  filter_out=$(port_of -o dfn4_jalv)
  pw-link "$mic_out" "$filter_in"
fi
pw-metadata -n settings 0 clock.force-quantum "$quantum" > /dev/null

# One client records the microphone (FL) and the denoised microphone (FR) in the same cycles.
PIPEWIRE_CONFIG_NAME=client-rt.conf pw-record --target 0 -P '{ node.name = dfn4_probe }' \
  --rate 48000 --channels 2 --channel-map FL,FR --format f32 "$out/recording.wav" \
  > "$out/pw-record.log" 2>&1 &
rec_pid=$!
pids+=($rec_pid)
wait_for has_port -i dfn4_probe || { echo "the recorder's ports did not appear" >&2; exit 1; }
pw-link "$mic_out" dfn4_probe:input_FL
pw-link "$filter_out" dfn4_probe:input_FR

PIPEWIRE_CONFIG_NAME=client-rt.conf pw-play --target 0 -P '{ node.name = dfn4_feed }' "$tmp/played.wav" \
  > "$out/pw-play.log" 2>&1 &
play_pid=$!
pids+=($play_pid)
wait_for has_port -o dfn4_feed || { echo "the player's port did not appear" >&2; exit 1; }
pw-link "$(port_of -o dfn4_feed)" "$(port_of -i fake_mic)"

# pw-top's table (its ERR column counts each node's xruns) shortly after the start and at the end.
top_table() {
  tmux -L dfn4-e2e new-session -d -s top -x 200 -y 40 pw-top
  sleep 3
  tmux -L dfn4-e2e capture-pane -p -t top | grep -E '^[RISC] ' > "$1" || true
  tmux -L dfn4-e2e kill-server 2>/dev/null || true
}
sleep 1
top_table "$out/pw-top-start.txt"
wait "$play_pid" || { echo "pw-play failed" >&2; cat "$out/pw-play.log" >&2; exit 1; }
sleep 1
top_table "$out/pw-top-end.txt"
kill -INT "$rec_pid"
wait "$rec_pid" 2>/dev/null || true

echo "== pw-top at the start and at the end (ERR = xruns per node; quantum $quantum)"
cat "$out/pw-top-start.txt" "$out/pw-top-end.txt"
xruns=$(python3 - "$out/pw-top-start.txt" "$out/pw-top-end.txt" <<'EOF'
import sys
def err(path):
    table = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 9 and f[8].isdigit():
            table[f[-1]] = int(f[8])
    return table
a, b = err(sys.argv[1]), err(sys.argv[2])
print(sum(max(0, b[k] - a.get(k, 0)) for k in b))
EOF
)
echo "xruns_during_run: $xruns"
echo "== pipewire_check"
status=0
"$checker" "$out/recording.wav" --played "$tmp/played.wav" --clean "$tmp/clean.wav" "${checker_args[@]}" || status=$?
if [ -n "$max_xruns" ] && [ "$xruns" -gt "$max_xruns" ]; then
  echo "result: FAIL: $xruns xruns during the run, at most $max_xruns allowed"
  status=1
fi
exit $status
