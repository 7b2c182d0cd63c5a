#!/usr/bin/env bash
# Benchmark: the whole-product mix (issue 29) — N products, each with T topic categories and a
# server-side subscription, one in five with a data-parsing script — against the platform's
# floor for their topics (CreateProductTopic: 1 call per second per account). SCALE multiplies
# every quota of the emulator and the operator's share alike (SCALE=10: the floor of 1000 × 3
# topics is 300 s instead of 3000 s; the ratio to the floor is what is compared).
# Usage: scripts/bench-parts.sh [N] [T] [SCALE]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N="${1:-100}" T="${2:-3}" SCALE="${3:-1}"
export ENVTEST_RUN="$PWD/target/envtest/bench-parts"
cargo build --release --quiet --locked -p iot-platform-emulator --bin iot-platform-emulator
cargo build --release --quiet --locked --bin iot-product-operator --example bench_parts
eval "$(bash scripts/envtest.sh start 2>/dev/null)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; bash scripts/envtest.sh stop' EXIT
kubectl apply --server-side -k crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
log="$ENVTEST_RUN/emulator.log"
target/release/iot-platform-emulator --listen 127.0.0.1:0 --access-key bench:bench-secret:1001 \
  --qps-scale "$SCALE" --max-products-per-instance 100000 --log-level warn >"$log" 2>&1 &
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
share=$(python3 -c "print(0.9 * $SCALE)")
target/release/iot-product-operator run --allow-endpoint "$url" --qps-share "$share" --log-level warn \
  >"$ENVTEST_RUN/operator.log" 2>&1 &
operator=$!
pids+=($operator)
kubectl wait --for=condition=Ready platformaccount/default --timeout=60s >/dev/null
target/release/examples/bench_parts "$N" "$T" "$SCALE"
echo "operator peak RSS: $(awk '/VmHWM/ {print $2, $3}' "/proc/$operator/status"); CPU: $(awk '{printf "%.1f s", ($14 + $15) / 100}' "/proc/$operator/stat")"
echo "throttling replies from the emulator: $(grep -c Throttling "$ENVTEST_RUN/operator.log" || true) logged by the operator"
