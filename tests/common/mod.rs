//! Shared helpers of the integration tests: one real control plane (etcd + kube-apiserver,
//! started by `scripts/envtest.sh`) per test binary, the CRDs installed into it, a fresh
//! namespace per test, and polling with a deadline.
//!
//! The control plane is stopped when the test process exits, even after a panic or a kill:
//! the script's watcher follows this process id.
#![allow(dead_code, reason = "each test binary uses a different part of the helpers")]

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// A running control plane.
#[derive(Debug)]
pub struct ControlPlane {
    /// Admin kubeconfig (system:masters).
    pub kubeconfig: PathBuf,
    /// Kubeconfig of a token user that looks like the chart's ServiceAccount.
    pub operator_kubeconfig: PathBuf,
    /// Directory of the built binaries (kube-apiserver, kubectl, helm, etcd).
    pub bin_dir: PathBuf,
    /// Run directory: logs, pki, pid files.
    pub run_dir: PathBuf,
}

static PLANE: OnceLock<ControlPlane> = OnceLock::new();

/// The `iot-platform-emulator` binary (a crate of its own, so Cargo gives this package no
/// `CARGO_BIN_EXE_` for it): built once per test process, in this test's profile, beside the
/// test executable's profile directory.
pub fn emulator_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable");
        // target/<profile>/deps/<test>-<hash>
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args([
            "build",
            "--quiet",
            "--locked",
            "-p",
            "iot-platform-emulator",
            "--bin",
            "iot-platform-emulator",
        ]);
        if release {
            build.arg("--release");
        }
        let status = build.current_dir(root()).status().expect("run cargo build for the emulator");
        assert!(status.success(), "cannot build the iot-platform-emulator binary");
        profile_dir.join("iot-platform-emulator")
    })
}

/// The project root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The control plane of this test binary, started (and the CRDs installed) on first use.
pub fn control_plane() -> &'static ControlPlane {
    PLANE.get_or_init(|| {
        let plane = start_control_plane();
        plane.kubectl(&["apply", "--server-side", "-k", &root().join("crds").display().to_string()]);
        plane.kubectl(&["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
        plane
    })
}

/// The control plane of this test binary without the CRDs (a test that installs others
/// first, such as an earlier release's); `control_plane()` then returns the same one.
pub fn bare_control_plane() -> &'static ControlPlane {
    PLANE.get_or_init(start_control_plane)
}

fn start_control_plane() -> ControlPlane {
    remove_stale_run_dirs();
    let run_dir = root().join("target/envtest/runs").join(format!("{}", std::process::id()));
    let output = Command::new("bash")
        .arg(root().join("scripts/envtest.sh"))
        .arg("start")
        .env("ENVTEST_RUN", &run_dir)
        .env("ENVTEST_WATCH_PID", std::process::id().to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run scripts/envtest.sh start");
    assert!(
        output.status.success(),
        "scripts/envtest.sh start failed (it needs Go to build the control plane; see README)"
    );
    let exports: HashMap<String, String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ControlPlane {
        kubeconfig: exports["KUBECONFIG"].clone().into(),
        operator_kubeconfig: exports["ENVTEST_OPERATOR_KUBECONFIG"].clone().into(),
        bin_dir: exports["ENVTEST_BIN"].clone().into(),
        run_dir,
    }
}

/// Removes the run directories of test processes that have exited.
fn remove_stale_run_dirs() {
    let Ok(entries) = std::fs::read_dir(root().join("target/envtest/runs")) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_ok() && !Path::new("/proc").join(&name).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl ControlPlane {
    /// Runs the control plane's kubectl as admin; panics with its output when it fails.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_with_warnings(args).0
    }

    /// Like [`ControlPlane::kubectl`], also returning what kubectl printed on stderr (the
    /// API server's warnings).
    pub fn kubectl_with_warnings(&self, args: &[&str]) -> (String, String) {
        let output = Command::new(self.bin_dir.join("kubectl"))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .expect("run kubectl");
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Restarts kube-apiserver (same port, same etcd), as an upgrade or a crash would.
    pub fn restart_apiserver(&self) {
        let status = Command::new("bash")
            .arg(root().join("scripts/envtest.sh"))
            .arg("restart-apiserver")
            .env("ENVTEST_RUN", &self.run_dir)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run scripts/envtest.sh restart-apiserver");
        assert!(status.success(), "scripts/envtest.sh restart-apiserver failed");
    }

    /// An admin client for this control plane, bound to the calling test's runtime.
    pub async fn admin_client(&self) -> Client {
        client_for(&self.kubeconfig).await
    }
}

/// A client from a kubeconfig file.
pub async fn client_for(path: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(path).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is valid");
    Client::try_from(config).expect("client")
}

/// Creates a namespace with a unique name starting with `prefix`. Namespaces are not
/// deleted: the control plane has no namespace controller, and it is thrown away anyway.
pub async fn test_namespace(client: &Client, prefix: &str) -> String {
    let name = format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
    }))
    .expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    name
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `deadline` with
/// `what` and the last value seen.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = tokio::time::Instant::now();
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(state) => state,
        };
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for {what}; last state: {last}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An emulator served in this test process on 127.0.0.1:0, with one account.
pub struct TestEmulator {
    /// The emulator (for its state and faults).
    pub emulator: std::sync::Arc<iot_platform_emulator::Emulator>,
    /// Its URL.
    pub url: String,
}

/// The access key of the emulator's account.
pub const ACCESS_KEY_ID: &str = "LTAI5tTestKeyId";
/// The access key secret (never printed by the operator: the secrecy test scans for it).
pub const ACCESS_KEY_SECRET: &str = "test-access-key-secret-6f1c";
/// The account id.
pub const ACCOUNT_UID: &str = "1234567890123456";

impl TestEmulator {
    /// Starts an emulator with an extra instance `iot-cn-prod0001` and quick jobs.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestEmulator::start`], with the rules adjusted by `adjust`. With
    /// `IOTOP_EMULATOR_OPAQUE_CODES=1` the made-up codes are disguised (see `Rules::opaque_codes`).
    pub async fn start_with(adjust: impl FnOnce(&mut iot_platform_emulator::state::Rules)) -> Self {
        use iot_platform_emulator::gateway::AccessKey;
        use iot_platform_emulator::state::{Instance, Rules};
        use iot_platform_emulator::{Emulator, EmulatorConfig};
        let mut config = EmulatorConfig {
            access_keys: vec![
                AccessKey::parse(&format!(
                    "{ACCESS_KEY_ID}:{ACCESS_KEY_SECRET}:{ACCOUNT_UID}:owner@example.com"
                ))
                .unwrap(),
            ],
            rules: Rules {
                instances: vec![Instance { id: "iot-cn-prod0001".into(), region: "cn-shanghai".into() }],
                job_duration_ms: 600,
                // CI runs the operator suites a second time with the made-up codes disguised.
                opaque_codes: std::env::var("IOTOP_EMULATOR_OPAQUE_CODES").is_ok_and(|v| v == "1"),
                ..Rules::default()
            },
            ..EmulatorConfig::default()
        };
        adjust(&mut config.rules);
        let emulator = Emulator::new(config);
        let addr = iot_platform_emulator::server::spawn(
            emulator.clone(),
            "127.0.0.1:0".parse().unwrap(),
            "cn-shanghai",
        )
        .await
        .unwrap();
        Self { emulator, url: format!("http://{addr}") }
    }

    /// The products on the emulated platform.
    pub fn products(&self) -> Vec<iot_platform_emulator::state::Product> {
        self.emulator.snapshot().products
    }

    /// A client of the emulated platform (for out-of-band changes).
    pub fn client(&self) -> std::sync::Arc<dyn iot_platform::IotPlatform> {
        use iot_platform::http::{Endpoints, HttpPlatform, http_client};
        std::sync::Arc::new(HttpPlatform::new(
            http_client(),
            Endpoints::resolve(
                &iot_platform::endpoint_policy::EndpointPolicy::new(["http://127.0.0.1:*"]).unwrap(),
                "cn-shanghai",
                Some(&self.url),
                None,
            )
            .unwrap(),
            iot_platform::Credentials::new(ACCESS_KEY_ID, ACCESS_KEY_SECRET, None),
            iot_product_operator::crd::platform_account::SignatureVersion::V3,
            std::sync::Arc::new(iot_platform::ratelimit::AccountLimiter::new(1.0)),
        ))
    }
}

/// The name of the test's PlatformAccount.
pub fn account_name(namespace: &str) -> String {
    format!("acct-{namespace}")
}

/// Creates the credentials Secret and a PlatformAccount (labelled for this test's operator)
/// pointing at `url`.
pub async fn create_account(client: &Client, namespace: &str, url: &str, secret: &str) {
    use iot_product_operator::crd::PlatformAccount;
    use k8s_openapi::api::core::v1::Secret;
    let creds: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "platform-credentials", "namespace": namespace},
        "stringData": {"AccessKeyId": ACCESS_KEY_ID, "AccessKeySecret": secret}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &creds)
        .await
        .unwrap();
    let account: PlatformAccount = serde_json::from_value(serde_json::json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
        "metadata": {"name": account_name(namespace), "labels": {"test": namespace}},
        "spec": {"region": "cn-shanghai", "endpoint": url,
                 "credentials": {"secretRef": {"name": "platform-credentials", "namespace": namespace}},
                 "allowedNamespaces": {"names": [namespace]},
                 "takeOver": {"allowedNamespaces": {"names": [namespace]}}}
    }))
    .unwrap();
    Api::<PlatformAccount>::all(client.clone()).create(&PostParams::default(), &account).await.unwrap();
}

/// An operator process (the real binary) scoped to one namespace and one account; killed
/// (SIGKILL) when dropped.
pub struct OperatorProcess {
    child: std::process::Child,
    /// Where its log goes.
    pub log: PathBuf,
}

impl OperatorProcess {
    /// Starts `iot-product-operator run` for `namespace` with a short resync.
    pub fn start(plane: &ControlPlane, namespace: &str, extra: &[&str]) -> Self {
        let log = plane.run_dir.join(format!("operator-{namespace}-{}.log", uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).unwrap();
        let selector = format!("test={namespace}");
        let mut args = vec![
            "run",
            "--namespace",
            namespace,
            "--account-selector",
            &selector,
            "--metrics-addr",
            "127.0.0.1:0",
        ];
        if !extra.contains(&"--resync-interval") {
            args.extend(["--resync-interval", "2s"]);
        }
        // The test's namespace holds its credentials; the emulator listens on loopback.
        if !extra.contains(&"--credentials-namespace") {
            args.extend(["--credentials-namespace", namespace]);
        }
        args.extend(["--allow-endpoint", "http://127.0.0.1:*"]);
        if !extra.contains(&"--min-resync-interval") {
            args.extend(["--min-resync-interval", "1s"]);
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_iot-product-operator"));
        command.args(&args).args(extra).env("KUBECONFIG", &plane.kubeconfig);
        // `--log-level` in `extra` decides alone; otherwise the operator logs at debug.
        if extra.contains(&"--log-level") {
            command.env_remove("RUST_LOG");
        } else {
            command.env("RUST_LOG", "iot_product_operator=debug,info");
        }
        let child =
            command.stdout(file.try_clone().unwrap()).stderr(file).spawn().expect("start the operator");
        Self { child, log }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

use iot_product_operator::crd::IotProduct;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};

/// How long a test waits for the operator.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// One test's world: a namespace, an emulator, an operator process.
pub struct Env {
    /// Admin client.
    pub client: Client,
    /// The namespace.
    pub ns: String,
    /// The emulator.
    pub emulator: TestEmulator,
    /// The operator.
    pub operator: OperatorProcess,
    /// IotProducts of the namespace.
    pub products: Api<IotProduct>,
}

pub async fn env(prefix: &str) -> Env {
    env_with(prefix, &[]).await
}

/// Like [`env`], with extra arguments for the operator.
pub async fn env_with(prefix: &str, extra: &[&str]) -> Env {
    env_of(prefix, ACCESS_KEY_SECRET, extra).await
}

/// Like [`env`], with the account's AccessKeySecret set to `secret` (a wrong one makes the
/// platform refuse the account's signatures).
pub async fn env_with_secret(prefix: &str, secret: &str) -> Env {
    env_of(prefix, secret, &[]).await
}

async fn env_of(prefix: &str, secret: &str, extra: &[&str]) -> Env {
    let plane = control_plane();
    let client = plane.admin_client().await;
    let ns = test_namespace(&client, prefix).await;
    let emulator = TestEmulator::start().await;
    create_account(&client, &ns, &emulator.url, secret).await;
    let operator = OperatorProcess::start(plane, &ns, extra);
    let products = Api::namespaced(client.clone(), &ns);
    Env { client, ns, emulator, operator, products }
}

pub fn manifest(env: &Env, name: &str, spec: Value) -> IotProduct {
    let mut full = json!({"accountRef": {"name": account_name(&env.ns)}});
    full.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
    serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
        "metadata": {"name": name}, "spec": full
    }))
    .unwrap()
}

pub async fn apply(env: &Env, name: &str, spec: Value) {
    env.products.create(&PostParams::default(), &manifest(env, name, spec)).await.expect("create IotProduct");
}

pub async fn patch_spec(env: &Env, name: &str, spec: Value) {
    env.products
        .patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": spec})))
        .await
        .expect("patch spec");
}

pub fn condition(product: &IotProduct, type_: &str) -> Option<(String, String, String)> {
    product
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Waits until the product's `type_` condition has `status` and (if given) `reason`, for the
/// current generation.
pub async fn wait_condition(
    env: &Env,
    name: &str,
    type_: &str,
    status: &str,
    reason: Option<&str>,
) -> IotProduct {
    let context = || format!("operator log tail: {}", tail(&env.operator.logs()));
    wait_for_with(&env.products, name, type_, Some(status), reason, context).await
}

/// The `type_` condition of any of the operator's kinds — (status, reason, message) — and
/// whether it was written for the object's current generation.
pub fn condition_of<K: serde::Serialize>(object: &K, type_: &str) -> Option<(String, String, String, bool)> {
    let value = serde_json::to_value(object).ok()?;
    let generation = value.pointer("/metadata/generation").cloned();
    let observed = value.pointer("/status/observedGeneration").cloned();
    let condition = value.pointer("/status/conditions")?.as_array()?.iter().find(|c| c["type"] == type_)?;
    let text = |k: &str| condition[k].as_str().unwrap_or_default().to_string();
    Some((text("status"), text("reason"), text("message"), generation == observed))
}

/// Waits until the object `name` of any of the operator's kinds has its `type_` condition with
/// `status` and `reason` (each when given) for its current generation; returns it.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    type_: &str,
    status: Option<&str>,
    reason: Option<&str>,
) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    wait_for_with(api, name, type_, status, reason, String::new).await
}

async fn wait_for_with<K>(
    api: &Api<K>,
    name: &str,
    type_: &str,
    status: Option<&str>,
    reason: Option<&str>,
    context: impl Fn() -> String,
) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let what = format!("{name} {type_}={status:?} {reason:?}");
    eventually(&what, DEADLINE, || async {
        let object = api.get(name).await.map_err(|e| e.to_string())?;
        match condition_of(&object, type_) {
            Some((s, r, _, true))
                if status.is_none_or(|want| want == s) && reason.is_none_or(|want| want == r) =>
            {
                Ok(object)
            }
            other => Err(format!("{other:?}; {}", context())),
        }
    })
    .await
}

pub fn tail(log: &str) -> String {
    log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ")
}

pub async fn secret_data(env: &Env, name: &str) -> std::collections::BTreeMap<String, String> {
    let secret = Api::<Secret>::namespaced(env.client.clone(), &env.ns).get(name).await.expect("secret");
    secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, String::from_utf8(v.0).unwrap())).collect()
}

pub async fn events(env: &Env, name: &str) -> Vec<(String, String)> {
    let list =
        Api::<Event>::namespaced(env.client.clone(), &env.ns).list(&ListParams::default()).await.unwrap();
    list.items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

/// An operator context in the test process, for handing a reconciler a chosen copy of an
/// object (for example a stale one a lagging cache could still hold); its account cache holds
/// the test's PlatformAccount.
pub async fn in_process_context(
    env: &Env,
) -> std::sync::Arc<iot_product_operator::reconcile::context::Context> {
    use iot_product_operator::crd::PlatformAccount;
    use iot_product_operator::reconcile::{
        account_clients::Accounts, backoff::Backoff, context::Context, context::Settings,
        events::EventPublisher,
    };
    use kube::runtime::{events::Reporter, reflector, watcher};
    let (accounts, mut writer) = reflector::store::<PlatformAccount>();
    let account = Api::<PlatformAccount>::all(env.client.clone())
        .get(&account_name(&env.ns))
        .await
        .expect("the test's PlatformAccount");
    writer.apply_watcher_event(&watcher::Event::Apply(account));
    let settings = Settings::default();
    let reporter = Reporter { controller: "in-process-test".into(), instance: None };
    std::sync::Arc::new(Context {
        client: env.client.clone(),
        accounts: Accounts::new(env.client.clone(), accounts, 1.0, None).with_tenancy(
            Default::default(),
            &env.ns,
            iot_platform::endpoint_policy::EndpointPolicy::new(["http://127.0.0.1:*"]).unwrap(),
        ),
        recorder: EventPublisher::new(env.client.clone(), reporter),
        backoff: Backoff::new(settings.backoff_base, settings.backoff_cap),
        secrets: Default::default(),
        products: Default::default(),
        consumer_groups: Default::default(),
        metrics: std::sync::Arc::new(iot_product_operator::metrics::Metrics::new()),
        checked: Default::default(),
        own_secret_writes: Default::default(),
        intent_key: iot_product_operator::product::intent::IntentKey::random(),
        settings,
    })
}
