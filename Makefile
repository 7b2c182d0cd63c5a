# The two commands a newcomer runs first:
#   make demo   # local control plane + emulator + operator + samples, end to end
#   make test   # every test: unit, integration (real kube-apiserver), SDK conformance
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help demo test lint fmt crds static bench bench-shared bench-mix bench-parts bench-accounts bench-api bench-large bench-micro fuzz soak envtest clean-envtest

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

demo: ## Run the operator end to end against a local control plane and the emulator
	@bash scripts/demo.sh

test: ## Run every test (installs what it needs: control plane, Python SDKs)
	@bash scripts/test.sh

lint: ## cargo fmt --check and clippy with -D warnings
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	cargo fmt --all

crds: ## Regenerate crds/ (and the Helm chart's copy) from the Rust types
	cargo run --quiet -- crds --out crds
	cp crds/*.iot.productoperator.dev.yaml charts/iot-product-operator/crds/

static: ## Build the static release binary the Dockerfile builds
	bash scripts/build-static.sh

BENCH_N ?= 1000
BENCH_M ?= 20
BENCH_LATENCY_MS ?= 20
bench: ## Scale benchmark: BENCH_N products + BENCH_M distributions at the platform's quotas (see BENCHMARKS.md)
	bash scripts/bench-scale.sh $(BENCH_N) $(BENCH_M) $(BENCH_LATENCY_MS)

bench-shared: ## Adaptive pacing: BENCH_N products alone at the full quota, then at half the quota beside a client calling at 10/s
	BENCH_READY_ONLY=1 bash scripts/bench-scale.sh $(BENCH_N) 0 $(BENCH_LATENCY_MS)
	BENCH_READY_ONLY=1 BENCH_QPS_SCALE=0.5 BENCH_COMPETITOR_QPS=10 bash scripts/bench-scale.sh $(BENCH_N) 0 $(BENCH_LATENCY_MS)

bench-mix: ## The mix: BENCH_N products with user tags, one in five Pro with a thing model (5 QPS quotas)
	BENCH_READY_ONLY=1 BENCH_MIX=1 bash scripts/bench-scale.sh $(BENCH_N) 0 $(BENCH_LATENCY_MS)

bench-parts: ## The whole-product mix: BENCH_N products with 3 topics and a subscription each, one in five with a script, against the topic floor (BENCH_QPS_SCALE scales every quota)
	bash scripts/bench-parts.sh $(BENCH_N) 3 $(or $(BENCH_QPS_SCALE),1)

bench-accounts: ## Five accounts side by side (5 x 1000 products) at the default resync, then again with a 60 s resync for the steady state and a restart
	BENCH_READY_ONLY=1 BENCH_ACCOUNTS=5 bash scripts/bench-scale.sh 5000 0 $(BENCH_LATENCY_MS)
	BENCH_ACCOUNTS=5 BENCH_RESYNC=60s bash scripts/bench-scale.sh 5000 0 $(BENCH_LATENCY_MS)

bench-api: ## The API server alone: the five writes of each of 5000 one-pass products, status by server-side apply and by merge patch (the floor bench-accounts is held to)
	BENCH_API_ONLY=1 BENCH_ACCOUNTS=5 bash scripts/bench-scale.sh 5000 0 $(BENCH_LATENCY_MS)

bench-large: ## 20 accounts x 1000 products (20 000) in one operator: Ready time against the API server's floor for the same writes, peak RSS, restart, steady state (not in CI)
	BENCH_API_ONLY=1 BENCH_STATUS_ONLY=apply BENCH_ACCOUNTS=20 bash scripts/bench-scale.sh 20000 0 $(BENCH_LATENCY_MS)
	BENCH_READY_ONLY=1 BENCH_ACCOUNTS=20 bash scripts/bench-scale.sh 20000 0 $(BENCH_LATENCY_MS)
	BENCH_ACCOUNTS=20 BENCH_RESYNC=60s bash scripts/bench-scale.sh 20000 0 $(BENCH_LATENCY_MS)

bench-micro: ## Small benchmarks: apply-to-Ready and distribution timing, emulator throughput
	bash scripts/bench-ready.sh
	bash scripts/bench-emulator.sh

fuzz: ## Explore every target for FUZZ_SECONDS each (default 20; random seed, growing corpus; `make test` runs a fixed-seed smoke run)
	bash scripts/fuzz.sh

soak: ## The long fault campaign (1000 products, 100 distributions, 50 crashes, 10 minutes)
	CAMPAIGN_SOAK=1 cargo test --release --locked --test fault_campaign -- --nocapture

envtest: ## Build etcd, kube-apiserver, kubectl and helm from Go modules (cached in target/envtest)
	@bash scripts/envtest.sh build

clean-envtest: ## Stop a control plane started with scripts/envtest.sh start
	@bash scripts/envtest.sh stop
