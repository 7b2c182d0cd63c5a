#!/usr/bin/env bash
# Benchmark: operator memory (RSS) idle and with N products Ready; static binary size.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N="${1:-100}"
export ENVTEST_RUN="$PWD/target/envtest/bench-memory"
cargo build --release --quiet --locked -p iot-platform-emulator --bin iot-platform-emulator
cargo build --release --quiet --locked --bin iot-product-operator
eval "$(bash scripts/envtest.sh start 2>/dev/null)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; bash scripts/envtest.sh stop' EXIT
kubectl apply --server-side -k crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
log="$ENVTEST_RUN/emulator.log"
target/release/iot-platform-emulator --listen 127.0.0.1:0 --access-key bench:bench-secret:1001 --log-level warn >"$log" 2>&1 &
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
target/release/iot-product-operator run --allow-endpoint "$url" --log-level warn --metrics-addr 127.0.0.1:0 >"$ENVTEST_RUN/operator.log" 2>&1 &
op=$!
pids+=($op)
kubectl wait --for=condition=Ready platformaccount/default --timeout=60s >/dev/null
rss() { awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/$op/status; }
hwm() { awk '/VmHWM/ {print $2/1024 " MiB"}' /proc/$op/status; }
echo "idle: RSS $(rss)"
for i in $(seq 1 "$N"); do
  printf -- '---\napiVersion: iot.productoperator.dev/v1alpha1\nkind: IotProduct\nmetadata: {name: mem-%s}\nspec: {productName: Mem_%s, edition: Basic, published: true, tags: {team: bench}}\n' "$i" "$i"
done | kubectl apply -f - >/dev/null
kubectl wait --for=condition=Ready iotproducts --all --timeout=300s >/dev/null
echo "with $N products Ready: RSS $(rss), peak $(hwm)"
sleep 5
echo "with $N products, settled: RSS $(rss)"
[ -f target/static/iot-product-operator ] && echo "static binary: $(du -h target/static/iot-product-operator | cut -f1)"
