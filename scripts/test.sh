#!/usr/bin/env bash
# Runs every test: unit tests, integration tests against a real kube-apiserver + etcd
# (built from Go modules on first use) and the emulator (the fault campaign and the secrets
# scan among them), the official-SDK conformance, and a short fuzzing run of every target.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$SECONDS
echo "== building the test control plane (cached under target/envtest)"
bash scripts/envtest.sh build

echo "== cargo test (unit + integration)"
cargo test --workspace --all-targets --locked

if [ -f scripts/conformance.sh ]; then
  echo "== official SDK conformance"
  bash scripts/conformance.sh
fi
# The smoke run is reproducible: it starts from the committed seeds only, with a fixed random
# seed and a fixed number of inputs per target (not a time, which a slower machine would
# spend on fewer inputs), so a given commit passes or fails it the same way everywhere.
# Open-ended exploration (random seed, growing corpus, FUZZ_SECONDS each) is `make fuzz`.
export FUZZ_SEED="${FUZZ_SEED:-20261124}" FUZZ_RUNS="${FUZZ_RUNS:-400000}" FUZZ_FRESH_CORPUS=1
echo "== fuzzing smoke run (scripts/fuzz.sh; $FUZZ_RUNS inputs per target, seed $FUZZ_SEED)"
bash scripts/fuzz.sh

echo "== all tests passed in $((SECONDS - started))s"
