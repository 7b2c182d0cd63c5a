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

/// The project root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The control plane of this test binary, started (and the CRDs installed) on first use.
pub fn control_plane() -> &'static ControlPlane {
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
    let plane = ControlPlane {
        kubeconfig: exports["KUBECONFIG"].clone().into(),
        operator_kubeconfig: exports["ENVTEST_OPERATOR_KUBECONFIG"].clone().into(),
        bin_dir: exports["ENVTEST_BIN"].clone().into(),
        run_dir,
    };
    plane.kubectl(&["apply", "--server-side", "-k", &root().join("crds").display().to_string()]);
    plane.kubectl(&["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
    plane
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
        String::from_utf8_lossy(&output.stdout).into_owned()
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
