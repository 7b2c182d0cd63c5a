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
cargo test --all-targets --locked

if [ -f scripts/conformance.sh ]; then
  echo "== official SDK conformance"
  bash scripts/conformance.sh
fi
echo "== fuzzing smoke run (scripts/fuzz.sh; FUZZ_SECONDS=${FUZZ_SECONDS:-20} per target)"
bash scripts/fuzz.sh

echo "== all tests passed in $((SECONDS - started))s"
