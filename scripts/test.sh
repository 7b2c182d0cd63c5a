#!/usr/bin/env bash
# Runs every test: unit tests, integration tests against a real kube-apiserver + etcd
# (built from Go modules on first use) and the emulator, and the official-SDK conformance.
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
echo "== all tests passed in $((SECONDS - started))s"
