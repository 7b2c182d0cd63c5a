#!/usr/bin/env bash
# Benchmark: time from `kubectl apply` to Ready for one product at a time (median of N),
# and the platform calls per product, with the emulator at zero latency.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N="${1:-9}"
export ENVTEST_RUN="$PWD/target/envtest/bench-ready"
cargo build --release --quiet --locked -p iot-platform-emulator --bin iot-platform-emulator
cargo build --release --quiet --locked --bin iot-product-operator --example time_to_ready
eval "$(bash scripts/envtest.sh start 2>/dev/null)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; bash scripts/envtest.sh stop' EXIT
kubectl apply --server-side -k crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
log="$ENVTEST_RUN/emulator.log"
target/release/iot-platform-emulator --listen 127.0.0.1:0 --access-key bench:bench-secret:1001 --instance iot-cn-prod0001@cn-shanghai --job-duration-ms 1500 --log-level warn >"$log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q listening "$log" && break; sleep 0.05; done
url=$(sed -nE 's/.*(http:\/\/[^ ]+).*/\1/p' "$log" | head -1)
kubectl create namespace iot-product-operator-system >/dev/null
kubectl -n iot-product-operator-system create secret generic creds --from-literal=AccessKeyId=bench --from-literal=AccessKeySecret=bench-secret >/dev/null
kubectl apply -f - >/dev/null <<YAML
apiVersion: iot.productoperator.dev/v1alpha1
kind: PlatformAccount
metadata: {name: default}
spec:
  region: cn-shanghai
  endpoint: $url
  credentials: {secretRef: {name: creds}}
  allowedNamespaces: {names: [default]}
YAML
target/release/iot-product-operator run --allow-endpoint "$url" --log-level warn >"$ENVTEST_RUN/operator.log" 2>&1 &
pids+=($!)
kubectl wait --for=condition=Ready platformaccount/default --timeout=60s >/dev/null
target/release/examples/time_to_ready "$url" "$N" true
