#!/usr/bin/env bash
# Records what a previous release leaves behind, as the upgrade test's fixtures
# (tests/fixtures/upgrade/<version>/): its CRDs and samples, every object its operator wrote
# (IotProducts, ProductDistributions, PlatformAccounts, the product Secrets, with status), and
# its emulator's products. Builds that release from the git history (needs a full clone),
# runs its own emulator and operator against a local control plane, applies its samples and
# waits until they are done. Run once per release; tests/upgrade.rs replays the result.
#   scripts/capture-upgrade-fixtures.sh [REV] [VERSION]     # default: b4ff2b4 (0.1.0)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
REV="${1:-b4ff2b4}"
VERSION="${2:-0.1.0}"
OUT="$ROOT/tests/fixtures/upgrade/$VERSION"
WORK="${TMPDIR:-/tmp}/iotop-upgrade-$VERSION"   # outside the workspace: its Cargo.toml is a workspace of its own
PORT="${CAPTURE_EMULATOR_PORT:-18097}"
step() { printf '\n== %s\n' "$*"; }

step "building $VERSION ($REV) from the git history"
if [ ! -d "$WORK/src/.git" ] && [ ! -f "$WORK/src/.git" ]; then
  rm -rf "$WORK/src"
  git worktree add --detach -f "$WORK/src" "$REV" >/dev/null
fi
(cd "$WORK/src" && git checkout -q --detach "$REV" && CARGO_TARGET_DIR="$WORK/target" cargo build --quiet --locked)
BIN="$WORK/target/debug/iot-product-operator"

export ENVTEST_RUN="$ROOT/target/envtest/upgrade-capture"
eval "$(bash scripts/envtest.sh start)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  bash scripts/envtest.sh stop
}
trap cleanup EXIT

rm -rf "$OUT" && mkdir -p "$OUT/crds" "$OUT/samples"
cp "$WORK/src/crds/"*.yaml "$OUT/crds/"
cp "$WORK/src/config/samples/"*.yaml "$OUT/samples/"

step "the $VERSION CRDs, emulator and operator"
kubectl apply --server-side -k "$OUT/crds" >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
"$BIN" emulator --listen "127.0.0.1:$PORT" \
  --access-key LTAI5tDemoAccessKeyId:demo-access-key-secret-not-real:1234567890123456:owner@example.com \
  --instance iot-cn-prod0001@cn-shanghai --log-level warn >"$ENVTEST_RUN/emulator.log" 2>&1 &
PIDS+=($!)
"$BIN" run --resync-interval 30s >"$ENVTEST_RUN/operator.log" 2>&1 &
PIDS+=($!)

step "the $VERSION samples"
kubectl create namespace iot-product-operator-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
sed -i "s|127.0.0.1:18080|127.0.0.1:$PORT|" "$WORK/src/config/samples/platformaccount.yaml"
kubectl apply -k "$WORK/src/config/samples/" >/dev/null
(cd "$WORK/src" && git checkout -q -- config/samples)
kubectl wait --for=condition=Ready iotproducts --all --timeout=180s
kubectl wait --for=condition=Ready platformaccounts --all --timeout=60s
kubectl wait --for=jsonpath='{.status.state}'=Completed productdistributions --all --timeout=180s || true
# Whatever the operator still had to write after Ready (the last Events, resyncs): let a resync pass.
sleep 35

step "recording"
strip='del(.items[].metadata.managedFields, .items[].metadata.resourceVersion, .items[].metadata.creationTimestamp, .items[].metadata.generation, .metadata)'
kubectl get platformaccounts -o json | jq "$strip" >"$OUT/platformaccounts.json"
kubectl get iotproducts -A -o json | jq "$strip" >"$OUT/iotproducts.json"
kubectl get productdistributions -A -o json | jq "$strip" >"$OUT/productdistributions.json"
kubectl get secrets -A -l app.kubernetes.io/managed-by=iot-product-operator -o json | jq "$strip" >"$OUT/secrets.json"
kubectl get secret -n iot-product-operator-system iot-platform-credentials -o json \
  | jq 'del(.metadata.managedFields, .metadata.resourceVersion, .metadata.creationTimestamp, .metadata.uid)' >"$OUT/credentials.json"
curl -s "http://127.0.0.1:$PORT/_emulator/state" | jq '.state' >"$OUT/platform.json"
echo "$REV" >"$OUT/REVISION"
ls -la "$OUT"
