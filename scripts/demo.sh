#!/usr/bin/env bash
# `make demo`: shows the operator doing its job end to end on this machine.
#   1. starts a local Kubernetes control plane (etcd + kube-apiserver built from Go modules)
#   2. installs the CRDs and applies the sample manifests
#   3. prints what `kubectl get` shows
# Set KEEP=1 to leave everything running afterwards (stop with `scripts/envtest.sh stop`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export ENVTEST_RUN="$ROOT/target/envtest/demo"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    step "left running (KEEP=1); use: eval \"\$(ENVTEST_RUN=$ENVTEST_RUN scripts/envtest.sh env)\"; stop with ENVTEST_RUN=$ENVTEST_RUN scripts/envtest.sh stop"
  else
    step "tearing down"
    bash scripts/envtest.sh stop
  fi
}

step "starting the local control plane"
eval "$(bash scripts/envtest.sh start)"
trap cleanup EXIT

step "installing the CRDs"
kubectl apply --server-side -k crds/
kubectl wait --for=condition=Established crd --all --timeout=60s

step "applying the samples (config/samples)"
kubectl create namespace iot-product-operator-system --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -k config/samples/

step "kubectl get"
kubectl get platformaccounts,iotproducts,productdistributions -A
