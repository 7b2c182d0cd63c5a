#!/usr/bin/env bash
# A real Kubernetes control plane (etcd + kube-apiserver, no kubelet) on 127.0.0.1 for tests
# and local play, built from Go modules (no binary downloads) and cached under target/.
#
#   scripts/envtest.sh build             # compile etcd, kube-apiserver, kubectl, helm once
#   eval "$(scripts/envtest.sh start)"   # start; prints `export KUBECONFIG=...` lines
#   scripts/envtest.sh stop              # stop exactly the processes `start` started
#   scripts/envtest.sh env               # print the export lines of the running plane again
#
# Tunables (environment):
#   ENVTEST_DIR        cache of sources and binaries      (default: target/envtest)
#   ENVTEST_RUN        run directory: pki, logs, pids     (default: $ENVTEST_DIR/run)
#   ENVTEST_WATCH_PID  stop the plane when this process exits (used by the Rust test helper)
#   K8S_VERSION, ETCD_VERSION, HELM_VERSION               (defaults below)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENVTEST_DIR="${ENVTEST_DIR:-$ROOT/target/envtest}"
K8S_VERSION="${K8S_VERSION:-1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
HELM_VERSION="${HELM_VERSION:-3.21.4}"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-0.316.0}" # Go module version of Prometheus 3.16.0 (promtool)
OP_NS="${OP_NS:-iot-product-operator-system}" # identity of operator.kubeconfig: the chart's ServiceAccount
OP_SA="${OP_SA:-iot-product-operator}"
BIN="$ENVTEST_DIR/bin/k8s-$K8S_VERSION"
RUN="${ENVTEST_RUN:-$ENVTEST_DIR/run}"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

log() { echo "envtest: $*" >&2; }

# Go modules: the proxy's checksum database is used when reachable; fall back to the hashes
# the wrapper's go.sum already pins.
go_get() { go get "$@" || GOSUMDB=off go get "$@"; }

build_kube() {
  [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kubectl" ] && return 0
  local src="$ENVTEST_DIR/src/k8s-$K8S_VERSION" sv minor gomod ld p c
  mkdir -p "$src" "$BIN"
  cd "$src"
  sv="v0.${K8S_VERSION#1.}"
  minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  if [ ! -f go.sum ]; then
    rm -f go.mod
    go mod init envtest.local/k8s >/dev/null 2>&1
    # k8s's own go.mod says which staging modules to redirect and which godebug default it uses.
    gomod="$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
    sed -nE 's#^[[:space:]]*(k8s\.io/[A-Za-z0-9._-]+) => \./staging/.*#\1#p' "$gomod" |
      while read -r m; do go mod edit -replace "$m=$m@$sv"; done
    sed -nE 's#^godebug[[:space:]]+([A-Za-z0-9_.]+=[^[:space:]]+)[[:space:]]*$#\1#p' "$gomod" |
      while read -r kv; do go mod edit -godebug="$kv"; done
    go_get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" "k8s.io/kubernetes/cmd/kubectl@v$K8S_VERSION"
  fi
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld="$ld -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  for c in kube-apiserver kubectl; do
    log "building $c v$K8S_VERSION (first time: several minutes)"
    go build -trimpath -tags selinux,notest -ldflags "$ld" -o "$BIN/$c.tmp" "k8s.io/kubernetes/cmd/$c"
    mv "$BIN/$c.tmp" "$BIN/$c"
  done
}

# A Go command built from its module at a pinned version, in a throwaway module of its own
# (its go.sum pins what was resolved), cached as $ENVTEST_DIR/bin/NAME-VERSION/NAME and
# linked as LINK.
build_go_tool() { # NAME PACKAGE VERSION LINK
  local name=$1 package=$2 version=$3 link=$4
  local out="$ENVTEST_DIR/bin/$name-$version" src="$ENVTEST_DIR/src/$name-$version"
  if [ ! -x "$out/$name" ]; then
    mkdir -p "$src" "$out"
    (
      cd "$src"
      if [ ! -f go.sum ]; then
        rm -f go.mod
        go mod init "envtest.local/$name" >/dev/null 2>&1
        go_get -tool "$package@v$version"
      fi
      log "building $name v$version (first time: a few minutes)"
      go build -trimpath -ldflags "-s -w" -o "$out/$name.tmp" "$package"
      mv "$out/$name.tmp" "$out/$name"
    )
  fi
  mkdir -p "$(dirname "$link")"
  ln -sf "$out/$name" "$link"
}

build_etcd() { build_go_tool etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$BIN/etcd"; }

build_helm() {
  local out="$ENVTEST_DIR/bin/helm-$HELM_VERSION" minor
  minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  if [ ! -x "$out/helm" ]; then
    mkdir -p "$out"
    log "building helm v$HELM_VERSION"
    GOBIN="$out" go install -trimpath -ldflags "-s -w \
      -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor" \
      "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" ||
      GOSUMDB=off GOBIN="$out" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  fi
  mkdir -p "$BIN"
  ln -sf "$out/helm" "$BIN/helm"
}

# promtool, for `promtool test rules` of the chart's alerts (tests/observability.rs).
build_promtool() {
  build_go_tool promtool github.com/prometheus/prometheus/cmd/promtool "$PROMETHEUS_VERSION" "$ENVTEST_DIR/bin/promtool"
}

# tools/checks: gitops-health (kstatus and Argo CD's Lua engine, for tests/gitops_health.rs),
# promlint (client_golang's metrics linter) and dashboard (the Grafana dashboard, generated
# with Grafana's foundation SDK), for the metrics tests.
build_checks() {
  local src="$ROOT/tools/checks" tool out
  for tool in gitops-health promlint dashboard; do
    out="$ENVTEST_DIR/bin/$tool"
    if [ ! -x "$out" ] || [ -n "$(find "$src" -newer "$out" -type f | head -n 1)" ]; then
      mkdir -p "$(dirname "$out")"
      log "building $tool (tools/checks)"
      (cd "$src" && { go build -trimpath -o "$out.tmp" "./cmd/$tool" || GOSUMDB=off go build -trimpath -o "$out.tmp" "./cmd/$tool"; })
      mv "$out.tmp" "$out"
    fi
  done
}

# What a running control plane needs (`start`, and so `make demo`): etcd, kube-apiserver and
# kubectl. The tools only tests use (helm, promtool, the check tools) are built by `build`,
# which `make test` runs.
build_control_plane() {
  command -v go >/dev/null || { log "go is required (https://go.dev/dl)"; exit 1; }
  (build_etcd)
  (build_kube)
}

build() {
  build_control_plane
  (build_helm)
  (build_checks)
  (build_promtool)
}

gen_pki() { # one CA for serving and client certs, a service-account key pair, static tokens
  mkdir -p "$RUN/pki"
  (
    cd "$RUN/pki"
    key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
    key ca.key
    openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=envtest-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt 2>/dev/null
    issue() { # name subject extra-extension-lines...
      local n=$1 subj=$2
      shift 2
      key "$n.key"
      openssl req -new -key "$n.key" -subj "$subj" -out "$n.csr" 2>/dev/null
      printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" "$@" >"$n.ext"
      openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 30 \
        -extfile "$n.ext" -out "$n.crt" 2>/dev/null
    }
    issue apiserver "/CN=kube-apiserver" "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost"
    issue admin "/O=system:masters/CN=envtest-admin" "extendedKeyUsage=clientAuth"
    key sa.key && openssl pkey -in sa.key -pubout -out sa.pub
    openssl rand -hex 24 >admin.token
    openssl rand -hex 24 >operator.token
    {
      printf '%s,envtest-admin,envtest-admin,"system:masters"\n' "$(cat admin.token)"
      # Looks exactly like the chart's ServiceAccount to RBAC; the object need not exist.
      printf '%s,system:serviceaccount:%s:%s,envtest-operator,"system:serviceaccounts,system:serviceaccounts:%s"\n' \
        "$(cat operator.token)" "$OP_NS" "$OP_SA" "$OP_NS"
    } >tokens.csv
  )
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_for() { # name seconds command...
  local name=$1 deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$name not ready; last log lines:"
      tail -n 40 "$RUN/$name.log" >&2 || true
      return 1
    fi
    sleep 0.1
  done
}

write_kubeconfig() { # file port user-yaml-lines...
  local f=$1 port=$2
  shift 2
  {
    cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority: $RUN/pki/ca.crt
contexts:
- name: envtest
  context:
    cluster: envtest
    user: envtest-user
    namespace: default
current-context: envtest
users:
- name: envtest-user
  user:
EOF
    printf '%s\n' "$@"
  } >"$f"
}

start_etcd() {
  setsid "$BIN/etcd" --name envtest --data-dir "$RUN/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
    --initial-cluster "envtest=http://127.0.0.1:$PEER_PORT" --unsafe-no-fsync \
    >>"$RUN/etcd.log" 2>&1 </dev/null &
  record_pid etcd $!
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  local pki="$RUN/pki" tok
  setsid "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$API_PORT" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --cert-dir="$pki" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" \
    --service-account-issuer="https://127.0.0.1:$API_PORT" \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --authorization-mode=RBAC --disable-admission-plugins=ServiceAccount \
    --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
    >>"$RUN/kube-apiserver.log" 2>&1 </dev/null &
  record_pid kube-apiserver $!
  tok="$(cat "$pki/admin.token")"
  wait_for kube-apiserver "${ENVTEST_START_TIMEOUT:-90}" \
    curl -fsS --cacert "$pki/ca.crt" -H "Authorization: Bearer $tok" "https://127.0.0.1:$API_PORT/readyz"
  wait_for kube-apiserver 30 \
    curl -fsS --cacert "$pki/ca.crt" -H "Authorization: Bearer $tok" "https://127.0.0.1:$API_PORT/api/v1/namespaces/default"
}

# The start time (clock ticks since boot) of process $1, which tells it apart from a later
# process that reuses its id.
start_time() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  # The command name (field 2) may hold spaces: count the fields after its closing paren.
  stat="${stat##*) }"
  # shellcheck disable=SC2086
  set -- $stat
  echo "${20}"
}

# Records a started server as "PID START_TIME" in $RUN/<name>.pid.
record_pid() {
  echo "$2 $(start_time "$2")" >"$RUN/$1.pid"
}

# Stops the process recorded as "PID START_TIME" if it is still that process (same id and
# start time): TERM, then KILL after 10 s.
stop_recorded() {
  local pid=$1 started=$2
  [ -n "$pid" ] && [ -n "$started" ] || return 0
  [ "$(start_time "$pid")" = "$started" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    [ "$(start_time "$pid")" = "$started" ] || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# Stops the plane when the process $ENVTEST_WATCH_PID exits. The watcher remembers the
# recorded ids as it goes, so it stops the servers even if the run directory was removed
# meanwhile, and follows an API server restarted by restart-apiserver.
start_watcher() {
  [ -n "${ENVTEST_WATCH_PID:-}" ] || return 0
  local self="$ROOT/scripts/envtest.sh" watched="$ENVTEST_WATCH_PID"
  ENVTEST_RUN="$RUN" setsid bash -c '
    run=$1 watched=$2 self=$3 etcd="" api=""
    while kill -0 "$watched" 2>/dev/null; do
      [ -f "$run/etcd.pid" ] && etcd="$(cat "$run/etcd.pid" 2>/dev/null || echo "$etcd")"
      [ -f "$run/kube-apiserver.pid" ] && api="$(cat "$run/kube-apiserver.pid" 2>/dev/null || echo "$api")"
      sleep 0.5
    done
    # shellcheck disable=SC2086
    "$self" stop-recorded $api $etcd >/dev/null 2>&1
  ' envtest-watcher "$RUN" "$watched" "$self" >/dev/null 2>&1 </dev/null &
}

start() {
  stop >/dev/null 2>&1 || true
  build_control_plane >&2
  local started=$SECONDS
  rm -rf "$RUN"
  mkdir -p "$RUN"
  gen_pki
  ETCD_PORT="${ETCD_PORT:-$(free_port)}"
  PEER_PORT="$(free_port)"
  API_PORT="${API_PORT:-$(free_port)}"
  printf 'ETCD_PORT=%s\nPEER_PORT=%s\nAPI_PORT=%s\n' "$ETCD_PORT" "$PEER_PORT" "$API_PORT" >"$RUN/ports"
  start_watcher
  start_etcd
  start_apiserver
  write_kubeconfig "$RUN/admin.kubeconfig" "$API_PORT" \
    "    client-certificate: $RUN/pki/admin.crt" "    client-key: $RUN/pki/admin.key"
  write_kubeconfig "$RUN/operator.kubeconfig" "$API_PORT" "    token: $(cat "$RUN/pki/operator.token")"
  {
    echo "export KUBECONFIG=$RUN/admin.kubeconfig"
    echo "export ENVTEST_OPERATOR_KUBECONFIG=$RUN/operator.kubeconfig"
    echo "export ENVTEST_BIN=$BIN"
    echo "export PATH=$BIN:\$PATH"
  } >"$RUN/env"
  cat "$RUN/env"
  log "control plane (Kubernetes v$K8S_VERSION, etcd v$ETCD_VERSION) ready in $((SECONDS - started))s at https://127.0.0.1:$API_PORT"
}

# Restarts kube-apiserver only (same port, same etcd): used by fault tests.
restart_apiserver() {
  # shellcheck disable=SC1091
  . "$RUN/ports"
  stop_one kube-apiserver
  start_apiserver
}

stop_one() { # the server this script recorded, by its id and start time
  local c=$1
  [ -f "$RUN/$c.pid" ] || return 0
  # shellcheck disable=SC2046
  stop_recorded $(cat "$RUN/$c.pid")
  rm -f "$RUN/$c.pid"
}

stop() {
  stop_one kube-apiserver
  stop_one etcd
}

case "${1:-}" in
build) build ;;
start) start ;;
stop) stop ;;
stop-recorded) # PID START_TIME ... (used by the watcher)
  shift
  while [ $# -ge 2 ]; do
    stop_recorded "$1" "$2"
    shift 2
  done
  ;;
restart-apiserver) restart_apiserver ;;
env) cat "$RUN/env" ;;
*)
  echo "usage: $0 build|start|stop|restart-apiserver|env" >&2
  exit 2
  ;;
esac
