#!/usr/bin/env bash
# Benchmark: requests per second the emulator sustains with signature checking, the
# emulator pinned to one core (taskset -c 0) and the load generator on the other.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_TO_RUN="${1:-10}"
cargo build --release --quiet --locked -p iot-platform-emulator --bin iot-platform-emulator
cargo build --release --quiet --locked --example emulator_load
log=$(mktemp)
taskset -c 0 target/release/iot-platform-emulator --listen 127.0.0.1:0 --no-rate-limit \
  --access-key bench:bench-secret --log-level warn >"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do grep -q listening "$log" && break; sleep 0.05; done
url=$(sed -nE 's/.*(http:\/\/[^ ]+).*/\1/p' "$log" | head -1)
for sig in v3 v1; do
  taskset -c 1 target/release/examples/emulator_load "$url" "$SECONDS_TO_RUN" 64 "$sig"
done
