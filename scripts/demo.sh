#!/usr/bin/env bash
# `make demo`: the operator doing its job end to end on this machine.
#   1. a local Kubernetes control plane (etcd + kube-apiserver built from Go modules)
#   2. the IoT Platform emulator on 127.0.0.1:18080
#   3. the operator, watching the cluster
#   4. the sample manifests (config/samples), until every product is Ready
#   5. what `kubectl get` shows, and the keys (not the values) of the product Secrets
# Everything is torn down at the end; KEEP=1 leaves it running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export ENVTEST_RUN="$ROOT/target/envtest/demo"
EMULATOR_PORT="${EMULATOR_PORT:-18080}"
BIN="$ROOT/target/debug/iot-product-operator"
EMULATOR_BIN="$ROOT/target/debug/iot-platform-emulator"
PIDS=()

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    step "left running (KEEP=1): eval \"\$(ENVTEST_RUN=$ENVTEST_RUN scripts/envtest.sh env)\"; logs in $ENVTEST_RUN"
    echo "stop with: kill ${PIDS[*]}; ENVTEST_RUN=$ENVTEST_RUN scripts/envtest.sh stop"
    return
  fi
  step "tearing down"
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  bash scripts/envtest.sh stop
}

step "building the operator and the emulator"
cargo build --quiet --locked --workspace --bins

if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $EMULATOR_PORT)) != 0)"; then
  echo "port $EMULATOR_PORT is in use (another demo still running?); stop it or set EMULATOR_PORT and edit config/samples/platformaccount.yaml" >&2
  exit 1
fi

step "starting the local control plane"
eval "$(bash scripts/envtest.sh start)"
trap cleanup EXIT

step "installing the CRDs"
kubectl apply --server-side -k crds/
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null

step "starting the IoT Platform emulator on 127.0.0.1:$EMULATOR_PORT"
"$EMULATOR_BIN" --listen "127.0.0.1:$EMULATOR_PORT" \
  --access-key LTAI5tDemoAccessKeyId:demo-access-key-secret-not-real:1234567890123456:owner@example.com \
  --instance iot-cn-prod0001@cn-shanghai --log-level warn >"$ENVTEST_RUN/emulator.log" 2>&1 &
PIDS+=($!)

step "starting the operator"
"$BIN" run --resync-interval 30s --allow-endpoint "http://127.0.0.1:$EMULATOR_PORT" >"$ENVTEST_RUN/operator.log" 2>&1 &
PIDS+=($!)

step "applying the samples (config/samples)"
kubectl create namespace iot-product-operator-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -k config/samples/

step "waiting until every sample is Ready (the distribution job takes a few seconds)"
kubectl wait --for=condition=Ready platformaccounts --all --timeout=60s
kubectl wait --for=condition=Ready iotconsumergroups --all --timeout=60s
kubectl wait --for=condition=Ready iotproducts --all --timeout=120s
kubectl wait --for=condition=Ready productdistributions --all --timeout=120s

step "kubectl get"
kubectl get platformaccounts,iotproducts,iotconsumergroups,productdistributions -A

step "the product Secrets (keys only; values stay secret)"
for s in $(kubectl get secrets -l app.kubernetes.io/managed-by=iot-product-operator -o name); do
  echo "$s: $(kubectl get "$s" -o jsonpath='{.data}' | python3 -c 'import json,sys; print(", ".join(sorted(json.load(sys.stdin))))')"
done

step "events of smart-lamp"
kubectl get events --field-selector involvedObject.name=smart-lamp -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message

step "what the emulated platform holds"
curl -s "http://127.0.0.1:$EMULATOR_PORT/_emulator/state" | python3 -c '
import json, sys
state = json.load(sys.stdin)["state"]
for p in state["products"]:
    print("  %s  %-18s published=%-5s tags=%s thing-model versions=%d"
          % (p["productKey"], p["productName"], p["released"], p["tags"], len(p["versions"])))
'
