//! Benchmark (not a test): N IotProducts (published) and M ProductDistributions against the
//! real control plane, the emulator with the documented QPS limits and a per-request latency,
//! and the operator (release build). Run through `scripts/bench-scale.sh N M`.
//!
//! Measures: apply→all Ready and its ratio to the quota floor (N/50 s), platform calls per
//! product by action and throttling replies, Kubernetes API writes per product, operator peak
//! RSS and CPU seconds, distributions apply→Completed, steady-state calls per minute with
//! nothing changing, and the time for a restarted operator to be in sync (with the platform
//! writes it made meanwhile, which must be zero).
//!
//! `BENCH_QPS_SCALE=0.5` makes the emulator serve half the documented quotas;
//! `BENCH_COMPETITOR_QPS=10` runs another client beside the operator on the first account
//! (CreateProduct and ReleaseProduct of its own products at that rate, a fixed pace, no
//! adaptation); `BENCH_ACCOUNTS=5` spreads the products over that many accounts (each with
//! its own quotas and product limit); `BENCH_MIX=1` makes one product in five Pro with a
//! thing model (ImportThingModelTsl and PublishThingModel: 5 QPS) and every product carry
//! user tags; `BENCH_RESYNC=60s` sets the operator's resync interval, and the steady state
//! is then measured over one interval after every product's first resync;
//! `BENCH_CONCURRENCY=256` sets the operator's `--concurrency`; `BENCH_READY_ONLY=1` stops
//! after the products are Ready; `BENCH_API_ONLY=1` starts no operator and only measures how
//! long the API server takes to accept the N creates (what this machine allows at best);
//! `BENCH_LOG=debug` sets the operator's log level (its log is in `$BENCH_RUN/operator.log`).
//!
//! The quota floor is the time the slowest quota needs for the calls a rollout cannot do
//! without (per account: CreateProduct, CreateProductTags and ReleaseProduct per product,
//! ImportThingModelTsl and PublishThingModel per thing model), less what the competitor
//! takes of CreateProduct and ReleaseProduct.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use iot_product_operator::crd::{IotProduct, ProductDistribution};
use kube::Client;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::{Value, json};

const NS: &str = "bench";
const WRITES: &[&str] = &[
    "CreateProduct",
    "UpdateProduct",
    "DeleteProduct",
    "ReleaseProduct",
    "CancelReleaseProduct",
    "CreateProductTags",
    "UpdateProductTags",
    "DeleteProductTags",
    "ImportThingModelTsl",
    "PublishThingModel",
    "CreateProductDistributeJob",
    "DeleteDeviceDistributeJob",
];

struct Args {
    products: usize,
    distributions: usize,
    latency_ms: u64,
    qps_scale: f64,
    competitor_qps: f64,
    accounts: usize,
    mix: bool,
    resync: Option<String>,
    ready_only: bool,
    api_only: bool,
    log_level: String,
    bin: PathBuf,
    emulator_bin: PathBuf,
    run_dir: PathBuf,
}

fn args() -> Args {
    let a: Vec<String> = std::env::args().collect();
    Args {
        products: a.get(1).and_then(|s| s.parse().ok()).unwrap_or(100),
        distributions: a.get(2).and_then(|s| s.parse().ok()).unwrap_or(10),
        latency_ms: a.get(3).and_then(|s| s.parse().ok()).unwrap_or(20),
        qps_scale: std::env::var("BENCH_QPS_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0),
        competitor_qps: std::env::var("BENCH_COMPETITOR_QPS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0),
        accounts: std::env::var("BENCH_ACCOUNTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1),
        mix: std::env::var("BENCH_MIX").is_ok_and(|v| v == "1"),
        resync: std::env::var("BENCH_RESYNC").ok().filter(|v| !v.is_empty()),
        ready_only: std::env::var("BENCH_READY_ONLY").is_ok_and(|v| v == "1"),
        api_only: std::env::var("BENCH_API_ONLY").is_ok_and(|v| v == "1"),
        log_level: std::env::var("BENCH_LOG")
            .unwrap_or_else(|_| "warn,iot_product_operator::metrics=info".to_string()),
        bin: std::env::var("IOTOP_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| "target/release/iot-product-operator".into()),
        emulator_bin: std::env::var("IOTOP_EMULATOR_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| "target/release/iot-platform-emulator".into()),
        run_dir: std::env::var("BENCH_RUN").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir()),
    }
}

fn spawn(bin: &PathBuf, args: &[&str], log: &PathBuf) -> Child {
    let file = std::fs::File::create(log).unwrap();
    Command::new(bin)
        .args(args)
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_for_line(log: &PathBuf, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{needle} not in {}", log.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn emulator_state(url: &str) -> Value {
    reqwest::get(format!("{url}/_emulator/state")).await.unwrap().json().await.unwrap()
}

fn calls(state: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (action, outcomes) in state["stats"]["calls"].as_object().into_iter().flatten() {
        let total: u64 =
            outcomes.as_object().into_iter().flatten().map(|(_, n)| n.as_u64().unwrap_or(0)).sum();
        out.insert(action.clone(), total);
    }
    out
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// kube-apiserver's request counters: writes by resource, and all requests.
async fn apiserver_requests(client: &Client) -> (BTreeMap<String, f64>, f64) {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client.request_text(request).await.unwrap();
    let (mut writes, mut all) = (BTreeMap::new(), 0.0);
    for line in text.lines().filter(|l| l.starts_with("apiserver_request_total{")) {
        let value: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        all += value;
        let label = |name: &str| {
            line.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        let verb = label("verb");
        if ["POST", "PATCH", "PUT", "DELETE", "APPLY"].contains(&verb.as_str()) {
            let subresource = label("subresource");
            let resource = if subresource.is_empty() {
                label("resource")
            } else {
                format!("{}/{subresource}", label("resource"))
            };
            *writes.entry(resource).or_insert(0.0) += value;
        }
    }
    (writes, all)
}

/// Writes by resource between two readings, without the API server's own lease renewals.
fn write_diff(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter(|(k, _)| k.as_str() != "leases")
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

/// The pid of a server `scripts/envtest.sh` started (`$ENVTEST_RUN/<name>.pid`).
fn envtest_pid(name: &str) -> Option<u32> {
    let run = std::env::var("ENVTEST_RUN").ok()?;
    let line = std::fs::read_to_string(format!("{run}/{name}.pid")).ok()?;
    line.split_whitespace().next()?.parse().ok()
}

/// CPU seconds so far of kube-apiserver and etcd.
fn control_plane_cpu() -> (f64, f64) {
    let cpu = |name| envtest_pid(name).map_or(0.0, |pid| process_stats(pid).1);
    (cpu("kube-apiserver"), cpu("etcd"))
}

/// How the floor run writes a product's status.
#[derive(Clone, Copy)]
enum StatusWrite {
    /// Server-side apply (what the operator does).
    Apply,
    /// A JSON merge patch.
    Merge,
}

/// The API server's own floor for a rollout: the writes the operator makes for a product
/// that reconciles in one pass (the user's create; the finalizer and create-intent patch;
/// the status; the Secret by server-side apply; one Event), sent by this benchmark alone,
/// as fast as the API server takes them ({CREATES_IN_FLIGHT} products in flight), with the
/// status written by server-side apply and by merge patch.
async fn api_floor(client: &Client, args: &Args) {
    let n = args.products;
    println!(
        "\n## The API server alone (no operator): the writes of N = {n} products that reconcile in one pass\n| status write | writes | took | writes per second | kube-apiserver CPU | etcd CPU | API-server CPU per product |\n|---|---|---|---|---|---|---|"
    );
    for (round, mode) in api_floor_order().into_iter().enumerate() {
        let namespace = format!("{NS}-floor-{round}");
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": namespace}})).unwrap(),
            )
            .await
            .expect("namespace");
        let (api_before, etcd_before) = control_plane_cpu();
        let start = Instant::now();
        futures::stream::iter(0..n)
            .map(|i| one_products_writes(client, &namespace, i, args, mode))
            .buffer_unordered(CREATES_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await
            .expect("the writes of a product");
        let took = start.elapsed().as_secs_f64();
        let (api_after, etcd_after) = control_plane_cpu();
        let writes = 5 * n;
        println!(
            "| {} | {writes} | {took:.1} s | {:.0} | {:.1} s | {:.1} s | {:.2} ms |",
            match mode {
                StatusWrite::Apply => "server-side apply",
                StatusWrite::Merge => "merge patch",
            },
            writes as f64 / took,
            api_after - api_before,
            etcd_after - etcd_before,
            1000.0 * (api_after - api_before) / n as f64,
        );
    }
}

/// The order of the two floor runs: `BENCH_STATUS_FIRST=merge` runs the merge patch first
/// (the second run meets a fuller API server; run both orders to see the bias);
/// `BENCH_STATUS_ONLY=apply` runs only what the operator does.
fn api_floor_order() -> Vec<StatusWrite> {
    if std::env::var("BENCH_STATUS_ONLY").is_ok_and(|v| v == "apply") {
        vec![StatusWrite::Apply]
    } else if std::env::var("BENCH_STATUS_FIRST").is_ok_and(|v| v == "merge") {
        vec![StatusWrite::Merge, StatusWrite::Apply]
    } else {
        vec![StatusWrite::Apply, StatusWrite::Merge]
    }
}

/// The five writes of product `i` in `namespace`, as the operator makes them.
async fn one_products_writes(
    client: &Client,
    namespace: &str,
    i: usize,
    args: &Args,
    mode: StatusWrite,
) -> Result<(), kube::Error> {
    use kube::api::{Patch, PatchParams};
    let products: Api<IotProduct> = Api::namespaced(client.clone(), namespace);
    let product: IotProduct = serde_json::from_value(product_manifest(i, args.accounts, args.mix)).unwrap();
    let created = products.create(&PostParams::default(), &product).await?;
    let name = created.metadata.name.clone().unwrap_or_default();
    let intent = json!({"id": "0123456789abcdef", "intent": "{\"productName\":\"Bench\",\"instanceId\":\"iot-cn-prod0001\",\"since\":\"2026-12-07T00:00:00Z\",\"attempts\":[{\"sent\":\"2026-12-07T00:00:00.000000Z\"}]}", "mac": "ab".repeat(32)});
    let stored = products
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {
                "resourceVersion": created.metadata.resource_version,
                "finalizers": [iot_product_operator::product::FINALIZER],
                "annotations": {iot_product_operator::product::intent::ANNOTATION: intent.to_string()},
            }})),
        )
        .await?;
    let now = "2026-12-07T00:00:01Z";
    let condition = |type_: &str, reason: &str| json!({"type": type_, "status": if type_ == "Reconciling" || type_ == "Stalled" { "False" } else { "True" }, "reason": reason, "message": "the product matches the spec", "lastTransitionTime": now, "observedGeneration": 1});
    let status = json!({
        "productKey": format!("a1{i:09}"), "instanceId": "iot-cn-prod0001", "region": "cn-shanghai",
        "published": true, "secretName": format!("{name}-credentials"), "settledIntent": "0123456789abcdef",
        "managedTagKeys": ["iotop.owner", "iotop.cluster"], "observedGeneration": 1, "lastSyncTime": now,
        "devices": {"total": 0, "activated": 0, "online": 0, "observedAt": now},
        "conditions": [condition("Ready", "Available"), condition("Synced", "Synced"), condition("Available", "Available"), condition("Reconciling", "Available"), condition("Stalled", "Available")],
        "reason": "Available",
    });
    match mode {
        StatusWrite::Apply => {
            let body = json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct", "status": status});
            products
                .patch_status(&name, &PatchParams::apply("iot-product-operator").force(), &Patch::Apply(body))
                .await?;
        }
        StatusWrite::Merge => {
            products
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": status})))
                .await?;
        }
    }
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), namespace);
    let owner = json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct", "name": name, "uid": stored.metadata.uid, "controller": true, "blockOwnerDeletion": true});
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("{name}-credentials"), "labels": {"app.kubernetes.io/managed-by": "iot-product-operator"}, "ownerReferences": [owner]},
        "type": "Opaque",
        "stringData": {"ProductKey": format!("a1{i:09}"), "ProductSecret": "s".repeat(16), "RegionId": "cn-shanghai", "IotInstanceId": "iot-cn-prod0001", "MqttEndpoint": "iot-cn-prod0001.mqtt.iothub.aliyuncs.com"},
    });
    secrets
        .patch(
            &format!("{name}-credentials"),
            &PatchParams::apply("iot-product-operator").force(),
            &Patch::Apply(secret),
        )
        .await?;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), namespace);
    let event = json!({
        "metadata": {"name": format!("{name}.{:016x}", 0x5eed_0000_u64 + i as u64)},
        "eventTime": "2026-12-07T00:00:01.000000Z", "reportingController": "iot-product-operator", "reportingInstance": "bench",
        "action": "Reconcile", "reason": "Created", "type": "Normal",
        "note": format!("Created product Bench_{i} (a1{i:09}) in instance iot-cn-prod0001; added tags; published product a1{i:09}; wrote the product's credentials to Secret {name}-credentials"),
        "regarding": {"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct", "name": name, "namespace": namespace, "uid": stored.metadata.uid},
    });
    events.create(&PostParams::default(), &serde_json::from_value(event).unwrap()).await?;
    Ok(())
}

/// (peak RSS MiB, CPU seconds) of a process.
fn process_stats(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (hwm / 1024.0, ticks / 100.0)
}

async fn operator_reconciles(port: u16) -> u64 {
    reconciles_by_result(port).await.values().sum()
}

/// The operator's IotProduct reconciles by result.
async fn reconciles_by_result(port: u16) -> BTreeMap<String, u64> {
    let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await else {
        return BTreeMap::new();
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("iotop_reconciles_total{kind=\"IotProduct\""))
        .filter_map(|l| {
            let result = l.split("result=\"").nth(1)?.split('"').next()?.to_string();
            Some((result, l.rsplit(' ').next()?.parse::<f64>().ok()? as u64))
        })
        .collect()
}

fn metrics_port(line: &str) -> u16 {
    line.split("127.0.0.1:")
        .nth(1)
        .map(|r| r.chars().take_while(char::is_ascii_digit).collect::<String>())
        .and_then(|p| p.parse().ok())
        .unwrap()
}

async fn start_operator(args: &Args, name: &str) -> (Child, u16) {
    let log = args.run_dir.join(format!("{name}.log"));
    let mut flags = vec![
        "run",
        "--metrics-addr",
        "127.0.0.1:0",
        "--log-level",
        args.log_level.as_str(),
        "--credentials-namespace",
        NS,
        "--allow-endpoint",
        "http://127.0.0.1:*",
    ];
    let concurrency = std::env::var("BENCH_CONCURRENCY").unwrap_or_default();
    if !concurrency.is_empty() {
        flags.extend(["--concurrency", concurrency.as_str()]);
    }
    if let Some(resync) = &args.resync {
        flags.extend(["--resync-interval", resync.as_str(), "--min-resync-interval", resync.as_str()]);
    }
    let child = spawn(&args.bin, &flags, &log);
    let line = wait_for_line(&log, "serving /metrics").await;
    (child, metrics_port(&line))
}

#[tokio::main]
async fn main() {
    let args = args();
    let n = args.products;
    let client = Client::try_default().await.expect("KUBECONFIG");

    // The emulator, with the documented QPS limits and a per-request latency.
    let emulator_log = args.run_dir.join("emulator.log");
    let access_keys: Vec<String> =
        (0..args.accounts).map(|a| format!("bench{a}:bench-secret-{a}:{}", 1001 + a)).collect();
    let mut emulator_flags: Vec<&str> = Vec::new();
    for key in &access_keys {
        emulator_flags.extend(["--access-key", key.as_str()]);
    }
    let mut emulator = spawn(
        &args.emulator_bin,
        &[
            emulator_flags.as_slice(),
            &[
                "--listen",
                "127.0.0.1:0",
                "--instance",
                "iot-cn-prod0001@cn-shanghai",
                "--latency-ms",
                &args.latency_ms.to_string(),
                "--qps-scale",
                &args.qps_scale.to_string(),
                "--max-products-per-instance",
                &product_limit(&args).to_string(),
                "--max-distribution-jobs",
                "100000",
                "--job-duration-ms",
                "1500",
                "--log-level",
                "warn",
            ],
        ]
        .concat(),
        &emulator_log,
    );
    let line = wait_for_line(&emulator_log, "listening").await;
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_string();

    // The account.
    let kubectl = |stdin: String| {
        let mut child = Command::new("kubectl")
            .args(["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
    };
    kubectl(format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n"));
    for a in 0..args.accounts {
        kubectl(format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: creds-{a}, namespace: {NS}}}\nstringData: {{AccessKeyId: bench{a}, AccessKeySecret: bench-secret-{a}}}\n---\napiVersion: iot.productoperator.dev/v1alpha1\nkind: PlatformAccount\nmetadata: {{name: {}}}\nspec: {{region: cn-shanghai, endpoint: \"{url}\", credentials: {{secretRef: {{name: creds-{a}}}}}, allowedNamespaces: {{names: [{NS}]}}}}\n",
            account_name(a)
        ));
    }
    if args.api_only {
        api_floor(&client, &args).await;
        emulator.kill().ok();
        emulator.wait().ok();
        return;
    }
    let (mut operator, port) = start_operator(&args, "operator").await;

    // A cache of every product, to count the Ready ones without listing.
    let products: Api<IotProduct> = Api::namespaced(client.clone(), NS);
    let (reader, writer) = reflector::store();
    tokio::spawn(
        watcher(products.clone(), watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .applied_objects()
            .for_each(|_| async {}),
    );
    let ready = |reader: &reflector::Store<IotProduct>| {
        reader
            .state()
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count()
    };

    let calls_before = calls(&emulator_state(&url).await);
    let (writes_before, _) = apiserver_requests(&client).await;
    let control_plane_before = control_plane_cpu();
    let competitor = (args.competitor_qps > 0.0).then(|| Competitor::start(&url, args.competitor_qps));
    let start = Instant::now();
    create_products(&products, &args).await;
    let applied = start.elapsed();
    while ready(&reader) < n {
        assert!(start.elapsed() < Duration::from_secs(3600), "only {} of {n} Ready", ready(&reader));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_ready = start.elapsed();
    let ready_at = Instant::now();
    let competed = match competitor {
        Some(competitor) => Some(competitor.stop().await),
        None => None,
    };
    let (writes_after, _) = apiserver_requests(&client).await;
    let control_plane_after = control_plane_cpu();
    let state = emulator_state(&url).await;
    let mut product_calls = diff(&calls(&state), &calls_before);
    let (competitor_calls, competitor_throttled) = competed.unwrap_or((0, 0));
    for action in ["CreateProduct", "ReleaseProduct"] {
        if let Some(count) = product_calls.get_mut(action) {
            *count = count.saturating_sub(competitor_calls / 2);
        }
    }
    let throttled = state["stats"]["throttled"].as_u64().unwrap_or(0).saturating_sub(competitor_throttled);
    let (peak_rss, cpu) = process_stats(operator.id());
    let rollout = Rollout {
        applied,
        all_ready,
        floor: quota_floor(&args),
        total_calls: product_calls.values().sum(),
        product_calls,
        throttled,
        competitor_calls,
        competitor_throttled,
        writes: write_diff(&writes_after, &writes_before),
        reconciles: reconciles_by_result(port).await,
        peak_rss,
        cpu,
        apiserver_cpu: control_plane_after.0 - control_plane_before.0,
        etcd_cpu: control_plane_after.1 - control_plane_before.1,
    };
    rollout.print(&args);
    if args.ready_only {
        operator.kill().ok();
        operator.wait().ok();
        emulator.kill().ok();
        emulator.wait().ok();
        return;
    }

    // Distributions.
    let m = args.distributions.min(n);
    let distributions: Api<ProductDistribution> = Api::namespaced(client.clone(), NS);
    let dist_start = Instant::now();
    for i in 0..m {
        let pd: ProductDistribution = serde_json::from_value(json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
            "metadata": {"name": format!("d{i:05}")},
            "spec": {"productRef": {"name": format!("p{i:05}")}, "target": {"instanceId": "iot-cn-prod0001", "uid": "1001"}}
        }))
        .unwrap();
        distributions.create(&PostParams::default(), &pd).await.unwrap();
    }
    loop {
        let done = distributions
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|d| d.status.as_ref().and_then(|s| s.state.as_deref()) == Some("Completed"))
            .count();
        if done >= m {
            break;
        }
        assert!(dist_start.elapsed() < Duration::from_secs(3600));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let dist_time = dist_start.elapsed();
    // Finished jobs' records are deleted afterwards (jobRecordPolicy: DeleteWhenDone); the
    // idle minute starts when that is done too.
    loop {
        let items = distributions.list(&Default::default()).await.unwrap().items;
        if items.iter().all(|d| d.status.as_ref().and_then(|s| s.job_record_deleted) == Some(true)) {
            break;
        }
        assert!(dist_start.elapsed() < Duration::from_secs(3600));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (peak_rss, cpu) = process_stats(operator.id());

    // Steady state, nothing changing: with a resync interval set, one interval after every
    // product's first resync (the first check of each is due one interval after it was
    // Ready, ±10 %); otherwise the minute after the rollout.
    let idle_window = match &args.resync {
        Some(resync) => {
            let interval = humantime::parse_duration(resync).expect("BENCH_RESYNC is a duration");
            let first_resyncs_done = ready_at + interval.mul_f64(1.1) + Duration::from_secs(5);
            tokio::time::sleep_until(first_resyncs_done.into()).await;
            interval
        }
        None => Duration::from_secs(60),
    };
    let calls_idle_before = calls(&emulator_state(&url).await);
    let (idle_writes_before, idle_all_before) = apiserver_requests(&client).await;
    tokio::time::sleep(idle_window).await;
    let idle_calls = diff(&calls(&emulator_state(&url).await), &calls_idle_before);
    let (idle_writes_after, idle_all_after) = apiserver_requests(&client).await;
    let idle_window_name = match &args.resync {
        Some(resync) => format!("{resync} after the first resync, resync interval {resync}"),
        None => "the minute after the rollout".to_string(),
    };

    // Restart with everything in sync.
    operator.kill().unwrap();
    operator.wait().unwrap();
    let restart_calls_before = calls(&emulator_state(&url).await);
    let (restart_writes_before, _) = apiserver_requests(&client).await;
    let restart_start = Instant::now();
    let (mut operator, port2) = start_operator(&args, "operator-restarted").await;
    while operator_reconciles(port2).await < n as u64 {
        assert!(restart_start.elapsed() < Duration::from_secs(600), "restart did not sync");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let in_sync = restart_start.elapsed();
    let (restart_writes_after, _) = apiserver_requests(&client).await;
    let restart_api_writes = write_diff(&restart_writes_after, &restart_writes_before);
    let restart_calls = diff(&calls(&emulator_state(&url).await), &restart_calls_before);
    let restart_writes: u64 =
        restart_calls.iter().filter(|(k, _)| WRITES.contains(&k.as_str())).map(|(_, v)| v).sum();
    let _ = port;

    println!("\n### After the rollout: M = {m} distributions, steady state, restart");
    println!("| measure | value |\n|---|---|");
    println!(
        "| {m} distributions apply → Completed | {:.1} s (2 QPS floor {:.1} s + 1.5 s job) |",
        dist_time.as_secs_f64(),
        m as f64 / 2.0
    );
    println!("| operator peak RSS / CPU seconds after the distributions | {peak_rss:.1} MiB / {cpu:.1} s |");
    println!(
        "| steady state ({idle_window_name}): platform calls | {} ({:.2} per second) |",
        if idle_calls.is_empty() { "none".to_string() } else { format!("{idle_calls:?}") },
        idle_calls.values().sum::<u64>() as f64 / idle_window.as_secs_f64()
    );
    let idle_writes = write_diff(&idle_writes_after, &idle_writes_before);
    println!(
        "| steady state: API-server requests / writes (the API server's own lease renewals excluded) | {:.0} / {} |",
        idle_all_after - idle_all_before,
        if idle_writes.is_empty() { "none".to_string() } else { format!("{idle_writes:?}") }
    );
    println!(
        "| restart → every product reconciled, in sync | {:.1} s; platform writes {restart_writes}, reads {:?}; API-server writes {} |",
        in_sync.as_secs_f64(),
        restart_calls,
        if restart_api_writes.is_empty() { "none".to_string() } else { format!("{restart_api_writes:?}") }
    );
    let (rss2, _) = process_stats(operator.id());
    println!("| restarted operator peak RSS | {rss2:.1} MiB |");
    operator.kill().ok();
    operator.wait().ok();
    emulator.kill().ok();
    emulator.wait().ok();
}

/// How many IotProduct creates the benchmark keeps in flight.
const CREATES_IN_FLIGHT: usize = 32;

/// Creates the N IotProducts, [`CREATES_IN_FLIGHT`] at a time.
async fn create_products(products: &Api<IotProduct>, args: &Args) {
    let (accounts, mix) = (args.accounts, args.mix);
    futures::stream::iter(0..args.products)
        .map(|i| {
            let products = products.clone();
            async move {
                let product: IotProduct = serde_json::from_value(product_manifest(i, accounts, mix)).unwrap();
                products.create(&PostParams::default(), &product).await.map(|_| ())
            }
        })
        .buffer_unordered(CREATES_IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .expect("create products");
}

/// The emulator's product limit per instance: the platform's own, unless one account holds
/// more than that (the one-account N = 5000 run) or the competitor adds products of its own.
fn product_limit(args: &Args) -> usize {
    let per_account = args.products.div_ceil(args.accounts);
    if per_account > iot_platform::quota::MAX_PRODUCTS_PER_INSTANCE || args.competitor_qps > 0.0 {
        100_000
    } else {
        iot_platform::quota::MAX_PRODUCTS_PER_INSTANCE
    }
}

/// The name of the `a`-th account (the first is the default one).
fn account_name(a: usize) -> String {
    if a == 0 { "default".to_string() } else { format!("account-{a}") }
}

/// Whether product `i` of the mix is Pro with a thing model (one in five).
fn has_thing_model(i: usize, mix: bool) -> bool {
    mix && i.is_multiple_of(5)
}

/// The `i`-th product: published, on account `i mod accounts`; in the mix, tagged, and one
/// in five Pro with a thing model.
fn product_manifest(i: usize, accounts: usize, mix: bool) -> Value {
    let mut spec = json!({
        "productName": format!("Bench_{i:05}"),
        "edition": "Basic",
        "published": true,
        "accountRef": {"name": account_name(i % accounts)},
    });
    if mix {
        spec["tags"] = json!({"team": "bench", "fleet": format!("f{}", i % 7)});
    }
    if has_thing_model(i, mix) {
        spec["edition"] = json!("Pro");
        spec["thingModel"] = json!({"properties": [
            {"identifier": "PowerSwitch", "name": "Power switch",
             "dataType": {"type": "bool", "values": [{"value": 0, "name": "off"}, {"value": 1, "name": "on"}]}},
            {"identifier": "Brightness", "name": "Brightness",
             "dataType": {"type": "int", "min": 0, "max": 100, "step": 1, "unit": "%"}},
            {"identifier": "Temperature", "name": "Temperature", "accessMode": "r",
             "dataType": {"type": "float", "min": -40, "max": 150, "step": 0.1}}]});
    }
    json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
        "metadata": {"name": format!("p{i:05}")},
        "spec": spec,
    })
}

/// The quota floor of the rollout: for each account, the calls it cannot do without, each
/// at its action's quota (less what the competitor takes on the first account); the slowest
/// decides.
fn quota_floor(args: &Args) -> f64 {
    let mut floor: f64 = 0.0;
    for a in 0..args.accounts {
        let products = (0..args.products).filter(|i| i % args.accounts == a);
        let count = products.clone().count() as f64;
        let models = products.filter(|i| has_thing_model(*i, args.mix)).count() as f64;
        let mut needs = vec![("CreateProduct", count), ("ReleaseProduct", count)];
        if args.mix {
            needs.extend([
                ("CreateProductTags", count),
                ("ImportThingModelTsl", models),
                ("PublishThingModel", models),
            ]);
        }
        for (action, calls) in needs {
            let mut qps = f64::from(iot_platform::quota::qps(action).unwrap_or(50)) * args.qps_scale;
            if a == 0 && matches!(action, "CreateProduct" | "ReleaseProduct") {
                qps -= args.competitor_qps / 2.0;
            }
            floor = floor.max(calls / qps);
        }
    }
    floor
}

/// What a rollout (apply → all Ready) measured.
struct Rollout {
    applied: Duration,
    all_ready: Duration,
    floor: f64,
    product_calls: BTreeMap<String, u64>,
    total_calls: u64,
    throttled: u64,
    competitor_calls: u64,
    competitor_throttled: u64,
    writes: BTreeMap<String, f64>,
    reconciles: BTreeMap<String, u64>,
    peak_rss: f64,
    cpu: f64,
    /// kube-apiserver's CPU seconds from the first create to all Ready.
    apiserver_cpu: f64,
    /// etcd's.
    etcd_cpu: f64,
}

impl Rollout {
    fn print(&self, args: &Args) {
        let n = args.products as f64;
        println!(
            "\n## N = {}{}, {} account(s), product limit {} per instance, emulator at {} × the documented quotas, latency {} ms, competitor {} calls/s",
            args.products,
            if args.mix { " (mix: tags on all, one in five Pro with a thing model)" } else { "" },
            args.accounts,
            product_limit(args),
            args.qps_scale,
            args.latency_ms,
            args.competitor_qps
        );
        println!("| measure | value |\n|---|---|");
        println!(
            "| create requests sent ({CREATES_IN_FLIGHT} concurrent) | {:.1} s |",
            self.applied.as_secs_f64()
        );
        println!(
            "| apply → all Ready | {:.1} s (quota floor {:.1} s, ratio {:.2}) |",
            self.all_ready.as_secs_f64(),
            self.floor,
            self.all_ready.as_secs_f64() / self.floor
        );
        println!(
            "| platform calls per product | {:.2}: {} |",
            self.total_calls as f64 / n,
            self.product_calls
                .iter()
                .map(|(k, v)| format!("{k} {:.2}", *v as f64 / n))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "| operator: throttling replies | {} of {} ({:.2} %) |",
            self.throttled,
            self.total_calls,
            100.0 * self.throttled as f64 / self.total_calls.max(1) as f64
        );
        if args.competitor_qps > 0.0 {
            println!(
                "| competitor: throttling replies | {} of {} ({:.2} %) |",
                self.competitor_throttled,
                self.competitor_calls,
                100.0 * self.competitor_throttled as f64 / self.competitor_calls.max(1) as f64
            );
        }
        // The benchmark's own create of each IotProduct is not the operator's.
        let mut by_operator = self.writes.clone();
        if let Some(created) = by_operator.get_mut("iotproducts") {
            *created -= n;
        }
        println!(
            "| Kubernetes API writes per product by the operator | {:.2}: {} |",
            by_operator.values().sum::<f64>() / n,
            by_operator
                .iter()
                .filter(|(_, v)| **v > 0.0)
                .map(|(k, v)| format!("{k} {:.2}", v / n))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "| reconciles per product | {:.2}: {} |",
            self.reconciles.values().sum::<u64>() as f64 / n,
            self.reconciles
                .iter()
                .map(|(k, v)| format!("{k} {:.2}", *v as f64 / n))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("| operator peak RSS / CPU seconds | {:.1} MiB / {:.1} s |", self.peak_rss, self.cpu);
        println!(
            "| kube-apiserver CPU (per product) / etcd CPU | {:.1} s ({:.2} ms) / {:.1} s |",
            self.apiserver_cpu,
            1000.0 * self.apiserver_cpu / n,
            self.etcd_cpu
        );
    }
}

/// Another client of the same account: CreateProduct then ReleaseProduct of its own products
/// at a fixed rate, without adapting to throttling (each call is sent once).
struct Competitor {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<(u64, u64)>,
}

impl Competitor {
    fn start(url: &str, qps: f64) -> Self {
        use iot_platform::http::{Endpoints, HttpPlatform, http_client};
        use iot_platform::model::{CreateProduct, ReleaseProduct};
        use iot_platform::retry::RetryPolicy;
        let platform: std::sync::Arc<dyn iot_platform::IotPlatform> = std::sync::Arc::new(
            HttpPlatform::new(
                http_client(),
                Endpoints::resolve(
                    &iot_platform::endpoint_policy::EndpointPolicy::new(["http://127.0.0.1:*"]).unwrap(),
                    "cn-shanghai",
                    Some(url),
                    None,
                )
                .unwrap(),
                iot_platform::Credentials::new("bench0", "bench-secret-0", None),
                iot_product_operator::crd::platform_account::SignatureVersion::V3,
                std::sync::Arc::new(iot_platform::ratelimit::AccountLimiter::new(10_000.0)),
            )
            .with_retry(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }),
        );
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let counts = std::sync::Arc::new(std::sync::Mutex::new((0_u64, 0_u64)));
            // Two calls per product: the interval is for the pair.
            let mut tick = tokio::time::interval(Duration::from_secs_f64(2.0 / qps));
            let mut i = 0;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                i += 1;
                let (platform, counts) = (platform.clone(), counts.clone());
                tokio::spawn(async move {
                    let count = |result: &Result<_, iot_platform::PlatformError>| {
                        let mut c = counts.lock().unwrap();
                        c.0 += 1;
                        if result
                            .as_ref()
                            .err()
                            .is_some_and(|e| e.class() == iot_platform::ErrorClass::Throttled)
                        {
                            c.1 += 1;
                        }
                    };
                    let created = platform
                        .call(&CreateProduct {
                            product_name: format!("Rival_{i:06}"),
                            node_type: 0,
                            ..CreateProduct::default()
                        })
                        .await;
                    count(&created.as_ref().map(|_| ()).map_err(Clone::clone));
                    if let Ok(created) = created
                        && let Some(key) = created.product_key
                    {
                        let released =
                            platform.call(&ReleaseProduct { iot_instance_id: None, product_key: key }).await;
                        count(&released.map(|_| ()));
                    }
                });
            }
            *counts.lock().unwrap()
        });
        Self { stop, task }
    }

    /// Stops it; returns (calls, throttling replies).
    async fn stop(self) -> (u64, u64) {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or((0, 0))
    }
}
