#!/usr/bin/env bash
# Benchmark: N products (published) and M distributions end to end, at the platform's
# documented QPS with a per-request latency. Appends its table to stdout.
#   scripts/bench-scale.sh 1000 20 20      # N M latency-ms
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N="${1:-100}"; M="${2:-10}"; LATENCY="${3:-20}"
export ENVTEST_RUN="$PWD/target/envtest/bench-scale"
export BENCH_RUN="$ENVTEST_RUN/logs"
cargo build --release --quiet --locked -p iot-platform-emulator --bin iot-platform-emulator
cargo build --release --quiet --locked --bin iot-product-operator --example bench_scale
eval "$(bash scripts/envtest.sh start 2>/dev/null)"
trap 'bash scripts/envtest.sh stop' EXIT
mkdir -p "$BENCH_RUN"
kubectl apply --server-side -k crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
IOTOP_BIN="$PWD/target/release/iot-product-operator" IOTOP_EMULATOR_BIN="$PWD/target/release/iot-platform-emulator" target/release/examples/bench_scale "$N" "$M" "$LATENCY"
