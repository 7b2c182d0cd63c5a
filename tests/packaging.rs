//! Installing and operating it: the Helm chart and the kustomize config pass a server-side
//! dry run against the real API server; their RBAC agrees; the whole product and distribution
//! life runs as the chart's ServiceAccount with the chart's rules and fails without any one
//! of them; two replicas elect one leader that a standby replaces; metrics are served.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ControlPlane, TestEmulator, control_plane, eventually, root};
use iot_product_operator::crd::{IotProduct, ProductDistribution};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde::Deserialize as _;
use serde_json::{Value, json};

const OPERATOR_NS: &str = "iot-product-operator-system";

/// The tests that run operators as the ServiceAccount share its ClusterRole: one at a time.
static RBAC: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn helm(plane: &ControlPlane, args: &[&str]) -> String {
    let output = Command::new(plane.bin_dir.join("helm")).args(args).output().expect("run helm");
    assert!(
        output.status.success(),
        "helm {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `kubectl apply --dry-run=server` of `manifests` (stdin), as admin.
fn dry_run(plane: &ControlPlane, manifests: &str) -> String {
    let mut child = Command::new(plane.bin_dir.join("kubectl"))
        .args(["apply", "--dry-run=server", "--validate=strict", "-f", "-"])
        .env("KUBECONFIG", &plane.kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(manifests.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "dry run failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn ensure_namespace(plane: &ControlPlane, name: &str) {
    let out = Command::new(plane.bin_dir.join("kubectl"))
        .args(["create", "namespace", name])
        .env("KUBECONFIG", &plane.kubeconfig)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() || text.contains("AlreadyExists"), "{text}");
}

fn chart() -> String {
    root().join("charts/iot-product-operator").display().to_string()
}

#[test]
fn the_charts_crds_are_the_generated_crds() {
    for entry in std::fs::read_dir(root().join("crds")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "kustomization.yaml" {
            continue;
        }
        let copy = root().join("charts/iot-product-operator/crds").join(&name);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            std::fs::read_to_string(&copy).unwrap_or_default(),
            "charts/iot-product-operator/crds/{name} differs from crds/{name}: copy it (make crds does)"
        );
    }
}

/// The chart's `version` and `appVersion` and the crates' version are the newest version the
/// changelog names (below `[Unreleased]`).
#[test]
fn the_charts_version_follows_the_changelog() {
    let changelog = std::fs::read_to_string(root().join("CHANGELOG.md")).unwrap();
    let newest = changelog
        .lines()
        .filter_map(|l| l.strip_prefix("## ["))
        .filter_map(|l| l.split(']').next())
        .find(|v| *v != "Unreleased")
        .expect("a released version in CHANGELOG.md");
    let chart: Value = serde_norway::from_str(
        &std::fs::read_to_string(root().join("charts/iot-product-operator/Chart.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(chart["version"].as_str(), Some(newest), "Chart.yaml version");
    assert_eq!(chart["appVersion"].as_str(), Some(newest), "Chart.yaml appVersion");
    assert_eq!(env!("CARGO_PKG_VERSION"), newest, "the workspace version");
}

/// The crates a package's production build links (normal dependencies, transitively).
fn production_dependencies(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "--offline",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(root())
        .output()
        .expect("run cargo tree");
    assert!(output.status.success(), "cargo tree: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn the_operator_cannot_import_the_emulator() {
    let operator = production_dependencies("iot-product-operator");
    assert!(
        operator.iter().any(|c| c == "iot-platform"),
        "the operator uses the platform client: {operator:?}"
    );
    assert!(
        !operator.iter().any(|c| c == "iot-platform-emulator"),
        "the operator's production build links the emulator"
    );
    let platform = production_dependencies("iot-platform");
    assert!(
        !platform.iter().any(|c| c == "iot-platform-emulator" || c == "iot-product-operator" || c == "kube"),
        "the platform client depends on neither the emulator nor Kubernetes: {platform:?}"
    );
}

fn yaml_rules(path: &Path) -> Value {
    // The first document's rules (or the file's list of rules).
    let text = std::fs::read_to_string(path).unwrap();
    let first = serde_norway::Deserializer::from_str(&text).next().expect("a YAML document");
    let value = Value::deserialize(first).unwrap();
    value.get("rules").cloned().unwrap_or(value)
}

#[test]
fn the_chart_and_the_kustomize_config_grant_the_same_rights() {
    let chart_rules = yaml_rules(&root().join("charts/iot-product-operator/files/rbac-rules.yaml"));
    let config_rules = yaml_rules(&root().join("config/rbac/cluster_role.yaml"));
    assert_eq!(chart_rules, config_rules);
    let chart_le = yaml_rules(&root().join("charts/iot-product-operator/files/leader-election-rules.yaml"));
    let config_le = yaml_rules(&root().join("config/rbac-common/leader_election_role.yaml"));
    assert_eq!(chart_le, config_le);
    for (chart_file, config_file) in [
        ("rbac-cluster-scoped-rules.yaml", "config/rbac-namespaced/cluster_role.yaml"),
        ("rbac-namespace-rules.yaml", "config/rbac-namespaced/watched_namespace_role.yaml"),
        ("rbac-credentials-rules.yaml", "config/rbac-namespaced/credentials_role.yaml"),
    ] {
        let chart = yaml_rules(&root().join("charts/iot-product-operator/files").join(chart_file));
        assert_eq!(chart, yaml_rules(&root().join(config_file)), "{chart_file} and {config_file} differ");
    }
}

#[test]
fn namespaced_rbac_grants_no_cluster_wide_secret_rights() {
    for file in ["rbac-cluster-scoped-rules.yaml", "rbac-credentials-rules.yaml"] {
        let rules = yaml_rules(&root().join("charts/iot-product-operator/files").join(file));
        let writes_secrets = rules.as_array().unwrap().iter().any(|r| {
            r["resources"].as_array().unwrap().iter().any(|x| x == "secrets")
                && r["verbs"].as_array().unwrap().iter().any(|v| v != "get" && v != "list" && v != "watch")
        });
        assert!(!writes_secrets, "{file} lets the operator write Secrets");
    }
    let cluster =
        yaml_rules(&root().join("charts/iot-product-operator/files/rbac-cluster-scoped-rules.yaml"));
    let secrets = cluster
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["resources"].as_array().unwrap().iter().any(|x| x == "secrets"));
    assert!(!secrets, "the namespaced mode's ClusterRole names Secrets");
}

#[test]
fn helm_lint_is_clean() {
    let out = helm(control_plane(), &["lint", "--strict", &chart()]);
    assert!(
        out.contains("0 chart(s) failed") && !out.contains("[WARNING]") && !out.contains("[ERROR]"),
        "{out}"
    );
}

#[test]
fn the_values_schema_refuses_wrong_values_naming_them() {
    let plane = control_plane();
    let chart = chart();
    for (set, named) in [
        ("replicaCount=abc", "replicaCount"),
        ("logFormat=yaml", "logFormat"),
        ("rbac.scope=Everything", "scope"),
        ("resyncInterval=soon", "resyncInterval"),
        ("replicaCuont=2", "replicaCuont"),
    ] {
        let output =
            Command::new(plane.bin_dir.join("helm")).args(["lint", &chart, "--set", set]).output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(!output.status.success(), "helm lint accepted {set}: {text}");
        assert!(text.contains(named), "the refusal of {set} does not name {named}: {text}");
    }
}

#[test]
fn the_chart_renders_a_disruption_budget_only_for_several_replicas() {
    let plane = control_plane();
    let chart = chart();
    let two = helm(plane, &["template", "iotop", &chart]);
    assert!(two.contains("kind: PodDisruptionBudget") && two.contains("maxUnavailable: 1"), "{two}");
    let one = helm(plane, &["template", "iotop", &chart, "--set", "replicaCount=1"]);
    assert!(!one.contains("kind: PodDisruptionBudget"));
}

#[test]
fn the_chart_with_default_values_passes_a_server_side_dry_run() {
    let plane = control_plane();
    ensure_namespace(plane, "chart-default");
    let rendered = helm(plane, &["template", "iot-product-operator", &chart(), "-n", "chart-default"]);
    let out = dry_run(plane, &rendered);
    for object in [
        "serviceaccount/iot-product-operator",
        "clusterrole.rbac.authorization.k8s.io/iot-product-operator",
        "clusterrolebinding.rbac.authorization.k8s.io/iot-product-operator",
        "role.rbac.authorization.k8s.io/iot-product-operator-leader-election",
        "rolebinding.rbac.authorization.k8s.io/iot-product-operator-leader-election",
        "deployment.apps/iot-product-operator",
    ] {
        assert!(out.contains(object), "{object} missing from: {out}");
    }
}

#[test]
fn the_chart_with_everything_switched_on_passes_a_server_side_dry_run() {
    let plane = control_plane();
    for namespace in ["chart-full", "team-a", "team-b", "iot-credentials"] {
        ensure_namespace(plane, namespace);
    }
    plane.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        &root().join("tests/fixtures/servicemonitor-crd.yaml").display().to_string(),
    ]);
    plane.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/servicemonitors.monitoring.coreos.com",
        "crd/prometheusrules.monitoring.coreos.com",
        "--timeout=60s",
    ]);
    let values = root().join("tests/fixtures/values-full.yaml").display().to_string();
    let rendered = helm(plane, &["template", "full", &chart(), "-n", "chart-full", "-f", &values]);
    let out = dry_run(plane, &rendered);
    for kind in [
        "poddisruptionbudget.policy/",
        "service/",
        "servicemonitor.monitoring.coreos.com/",
        "prometheusrule.monitoring.coreos.com/",
        "configmap/full-iot-product-operator-dashboard",
        "secret/",
        "platformaccount.iot.productoperator.dev/",
        "deployment.apps/",
    ] {
        assert!(out.contains(kind), "{kind} missing from: {out}");
    }
}

#[test]
fn the_chart_mounts_an_rrsa_token_and_makes_an_account_without_a_secret() {
    let plane = control_plane();
    ensure_namespace(plane, "chart-rrsa");
    let rendered = helm(
        plane,
        &[
            "template",
            "rrsa",
            &chart(),
            "-n",
            "chart-rrsa",
            "--set",
            "rrsa.enabled=true",
            "--set",
            "rrsa.roleArn=acs:ram::1234567890123456:role/iot-product-operator",
            "--set",
            "rrsa.oidcProviderArn=acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0ffee",
            "--set",
            "rrsa.stsEndpoint=https://sts-vpc.cn-shanghai.aliyuncs.com",
            "--set",
            "platformAccount.create=true",
            "--set",
            "platformAccount.name=rrsa-chart",
            "--set",
            "platformAccount.credentialSource=oidc",
            "--set",
            "platformAccount.allowedNamespaces.names={team-a}",
        ],
    );
    let out = dry_run(plane, &rendered);
    assert!(out.contains("platformaccount.iot.productoperator.dev/rrsa-chart"), "{out}");
    assert!(!out.contains("secret/"), "no Secret for an OIDC account: {out}");
    let documents: Vec<Value> = rendered
        .split("\n---")
        .filter_map(|d| serde_norway::from_str::<Value>(d).ok())
        .filter(|d| !d.is_null())
        .collect();
    let deployment = documents.iter().find(|d| d["kind"] == "Deployment").expect("a Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let token = &pod["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"];
    assert_eq!(token["audience"], "sts.aliyuncs.com", "{pod}");
    assert_eq!(token["path"], "token");
    let container = &pod["containers"][0];
    assert_eq!(
        container["volumeMounts"][0]["mountPath"],
        "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens"
    );
    let env: Vec<(String, String)> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?.to_string(), e["value"].as_str()?.to_string())))
        .collect();
    for (name, value) in [
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token"),
        ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1234567890123456:role/iot-product-operator"),
        ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0ffee"),
        ("ALIBABA_CLOUD_STS_ENDPOINT", "https://sts-vpc.cn-shanghai.aliyuncs.com"),
    ] {
        assert!(env.contains(&(name.to_string(), value.to_string())), "{name} missing: {env:?}");
    }
    let account = documents.iter().find(|d| d["kind"] == "PlatformAccount").unwrap();
    assert_eq!(account["spec"]["credentials"], json!({"oidc": {}}));
}

#[test]
fn the_kustomize_namespaced_overlay_passes_a_server_side_dry_run() {
    let plane = control_plane();
    let rendered = plane.kubectl(&["kustomize", &root().join("config/namespaced").display().to_string()]);
    ensure_namespace(plane, OPERATOR_NS);
    ensure_namespace(plane, "iot-apps");
    let out = dry_run(plane, &rendered);
    for object in [
        "role.rbac.authorization.k8s.io/iot-product-operator",
        "role.rbac.authorization.k8s.io/iot-product-operator-credentials",
        "clusterrole.rbac.authorization.k8s.io/iot-product-operator-namespaced",
        "deployment.apps/iot-product-operator",
    ] {
        assert!(out.contains(object), "{object} missing from: {out}");
    }
    assert!(rendered.contains("--namespace=iot-apps"), "the operator watches the namespace its Role is in");
}

#[test]
fn the_kustomize_default_overlay_passes_a_server_side_dry_run() {
    let plane = control_plane();
    let rendered = plane.kubectl(&["kustomize", &root().join("config/default").display().to_string()]);
    // The namespace must exist for the namespaced objects of a dry run.
    ensure_namespace(plane, OPERATOR_NS);
    let out = dry_run(plane, &rendered);
    assert!(
        out.contains("deployment.apps/iot-product-operator")
            && out.contains("clusterrole.rbac.authorization.k8s.io/iot-product-operator"),
        "{out}"
    );
}

/// `kubectl apply --server-side` of JSON documents, as admin.
fn apply_documents(plane: &ControlPlane, docs: &[String]) {
    let mut child = Command::new(plane.bin_dir.join("kubectl"))
        .args(["apply", "--server-side", "--force-conflicts", "-f", "-"])
        .env("KUBECONFIG", &plane.kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(docs.join("\n---\n").as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

/// Installs the chart's RBAC (rendered by helm) with `rules` instead of the chart's own.
fn install_rbac(plane: &ControlPlane, rules: &Value, leader_rules: &Value) {
    ensure_namespace(plane, OPERATOR_NS);
    let rendered = helm(plane, &["template", "iot-product-operator", &chart(), "-n", OPERATOR_NS]);
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(&rendered) {
        let mut value = Value::deserialize(doc).unwrap();
        match value["kind"].as_str() {
            Some("ClusterRole") => value["rules"] = rules.clone(),
            Some("Role") => value["rules"] = leader_rules.clone(),
            Some("ServiceAccount" | "ClusterRoleBinding" | "RoleBinding") => {}
            _ => continue,
        }
        docs.push(serde_json::to_string(&value).unwrap());
    }
    apply_documents(plane, &docs);
}

/// Installs the chart's RBAC as rendered with `args` (for example the namespaced mode).
fn install_rendered_rbac(plane: &ControlPlane, args: &[&str]) {
    ensure_namespace(plane, OPERATOR_NS);
    let chart = chart();
    let mut template = vec!["template", "iot-product-operator", chart.as_str(), "-n", OPERATOR_NS];
    template.extend_from_slice(args);
    let rendered = helm(plane, &template);
    let docs: Vec<String> = serde_norway::Deserializer::from_str(&rendered)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| {
            matches!(
                v["kind"].as_str(),
                Some("ClusterRole" | "Role" | "ServiceAccount" | "ClusterRoleBinding" | "RoleBinding")
            )
        })
        .map(|v| serde_json::to_string(&v).unwrap())
        .collect();
    apply_documents(plane, &docs);
}

/// What the chart's ServiceAccount may do, as `kubectl auth can-i` says.
fn service_account_can(plane: &ControlPlane, args: &[&str]) -> bool {
    let user = format!("system:serviceaccount:{OPERATOR_NS}:iot-product-operator");
    let output = Command::new(plane.bin_dir.join("kubectl"))
        .args(["auth", "can-i"])
        .args(args)
        .args(["--as", &user])
        .env("KUBECONFIG", &plane.kubeconfig)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "yes"
}

/// An operator process authenticated as the chart's ServiceAccount.
struct AsServiceAccount {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl AsServiceAccount {
    fn start(plane: &ControlPlane, namespace: &str, metrics: &str, lease: &str) -> Self {
        let log =
            plane.run_dir.join(format!("sa-operator-{namespace}-{}.log", uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_iot-product-operator"))
            .args([
                "run",
                "--namespace",
                namespace,
                "--account-selector",
                &format!("test={namespace}"),
                "--resync-interval",
                "10m",
                "--metrics-addr",
                metrics,
                "--leader-election",
                "--leader-election-namespace",
                OPERATOR_NS,
                "--leader-election-lease",
                lease,
                "--lease-duration-seconds",
                "4",
                "--instance-name",
                &format!("op-{}", uuid::Uuid::new_v4().simple()),
                "--credentials-namespace",
                namespace,
                "--allow-endpoint",
                "http://127.0.0.1:*",
            ])
            .env("KUBECONFIG", &plane.operator_kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Self { child, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AsServiceAccount {
    fn drop(&mut self) {
        self.kill();
    }
}

fn product_manifest(namespace: &str, name: &str, spec: Value) -> IotProduct {
    let mut full = json!({"accountRef": {"name": common::account_name(namespace)}});
    full.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
    serde_json::from_value(json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct", "metadata": {"name": name}, "spec": full})).unwrap()
}

fn ready(p: &IotProduct) -> bool {
    p.status.as_ref().is_some_and(|s| {
        s.observed_generation == p.metadata.generation
            && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
            && s.conditions.iter().any(|c| c.type_ == "Synced" && c.status == "True")
    })
}

/// Polls `check` every 100 ms until it is `Ok` or `deadline` passes.
async fn wait<F, Fut>(what: &str, deadline: Duration, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let start = tokio::time::Instant::now();
    loop {
        match check().await {
            Ok(()) => return Ok(()),
            Err(state) if start.elapsed() > deadline => return Err(format!("{what}: {state}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn condition_is(p: &IotProduct, type_: &str, status: &str, reason: &str) -> bool {
    p.status.as_ref().is_some_and(|s| {
        s.observed_generation == p.metadata.generation
            && s.conditions.iter().any(|c| c.type_ == type_ && c.status == status && c.reason == reason)
    })
}

/// The whole life, driven as admin and reconciled by the operator (with a long resync, so
/// only its watches can drive it); `Err` says where it stuck. It exercises every right the
/// chart grants: a credentials fix (Secret watch), a lost create (a fresh GET of the
/// resource), a deleted Secret (owned-Secret watch), repeated Warnings (event series), a
/// renamed Secret (delete), a distribution, deletion (finalizers).
async fn life(
    client: &Client,
    namespace: &str,
    emulator: &TestEmulator,
    deadline: Duration,
) -> Result<(), String> {
    let products: Api<IotProduct> = Api::namespaced(client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let get = |name: &'static str| {
        let products = products.clone();
        async move { products.get(name).await.map_err(|e| e.to_string()) }
    };
    // Credentials are wrong at first.
    secrets
        .patch(
            "platform-credentials",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"AccessKeySecret": "wrong"}})),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut faults = iot_platform_emulator::faults::Faults::default();
    faults.lose_next.insert("CreateProduct".into(), 1);
    emulator.emulator.set_faults(faults);
    let tsl = r#"{"properties":[{"identifier":"Power","name":"Power","accessMode":"rw","dataType":{"type":"bool"}}]}"#;
    products
        .create(&PostParams::default(), &product_manifest(namespace, "lamp", json!({"productName": "Lamp_Rbac", "tags": {"team": "a"}, "thingModel": {"tsl": tsl}, "published": true})))
        .await
        .map_err(|e| e.to_string())?;
    wait("product waits for its account", deadline, || async {
        let p = get("lamp").await?;
        if condition_is(&p, "Ready", "False", "AccountNotReady") {
            Ok(())
        } else {
            Err(format!("{:?}", p.status))
        }
    })
    .await?;
    secrets
        .patch(
            "platform-credentials",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"AccessKeySecret": common::ACCESS_KEY_SECRET}})),
        )
        .await
        .map_err(|e| e.to_string())?;
    wait("product Ready after the credentials fix and a lost create", deadline, || async {
        let p = get("lamp").await?;
        if ready(&p) { Ok(()) } else { Err(format!("{:?}", p.status)) }
    })
    .await?;
    if emulator.products().len() != 1 {
        return Err(format!("{} products after a lost create", emulator.products().len()));
    }
    secrets.delete("lamp-credentials", &DeleteParams::default()).await.map_err(|e| e.to_string())?;
    wait("deleted Secret rewritten", deadline, || async {
        secrets
            .get_opt("lamp-credentials")
            .await
            .map_err(|e| e.to_string())?
            .map(|_| ())
            .ok_or("missing".to_string())
    })
    .await?;
    // Two blocked changes: the second Warning extends the first's event series.
    for name in ["Lamp_Blocked1", "Lamp_Blocked2"] {
        products
            .patch("lamp", &PatchParams::default(), &Patch::Merge(json!({"spec": {"productName": name}})))
            .await
            .map_err(|e| e.to_string())?;
        wait("change blocked", deadline, || async {
            let p = get("lamp").await?;
            if condition_is(&p, "Synced", "False", "PublishedLocked") {
                Ok(())
            } else {
                Err(format!("{:?}", p.status))
            }
        })
        .await?;
    }
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), namespace);
    wait("Events recorded as a series", deadline, || async {
        let list = events.list(&Default::default()).await.map_err(|e| e.to_string())?;
        // One Normal Event per reconcile names every write (after the lost create the
        // product is adopted, then tagged and published).
        let created = list.items.iter().any(|ev| {
            ev.type_.as_deref() == Some("Normal")
                && ev.note.as_deref().is_some_and(|n| n.to_lowercase().contains("published product"))
        });
        let series = list.items.iter().any(|ev| {
            ev.reason.as_deref() == Some("PublishedLocked")
                && ev.series.as_ref().is_some_and(|s| s.count >= 2)
        });
        if created && series { Ok(()) } else { Err(format!("created {created}, series {series}")) }
    })
    .await?;
    // Let the change through, and rename the Secret: the old one is deleted.
    products
        .patch("lamp", &PatchParams::default(), &Patch::Merge(json!({"spec": {"publishedChangePolicy": "RevokeAndRepublish", "secretName": "lamp-renamed"}})))
        .await
        .map_err(|e| e.to_string())?;
    wait("renamed, republished, old Secret deleted", deadline, || async {
        let p = get("lamp").await?;
        let old = secrets.get_opt("lamp-credentials").await.map_err(|e| e.to_string())?;
        let new = secrets.get_opt("lamp-renamed").await.map_err(|e| e.to_string())?;
        if ready(&p) && old.is_none() && new.is_some() {
            Ok(())
        } else {
            Err(format!("ready {} old {} new {}", ready(&p), old.is_some(), new.is_some()))
        }
    })
    .await?;
    let distributions: Api<ProductDistribution> = Api::namespaced(client.clone(), namespace);
    let pd: ProductDistribution = serde_json::from_value(json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
        "metadata": {"name": "to-prod"}, "spec": {"productRef": {"name": "lamp"}, "accountRef": {"name": common::account_name(namespace)},
        "target": {"instanceId": "iot-cn-prod0001", "uid": common::ACCOUNT_UID}}})).unwrap();
    distributions.create(&PostParams::default(), &pd).await.map_err(|e| e.to_string())?;
    wait("distribution Completed", deadline, || async {
        let x = distributions.get("to-prod").await.map_err(|e| e.to_string())?;
        if x.status.as_ref().and_then(|s| s.state.as_deref()) == Some("Completed") {
            Ok(())
        } else {
            Err(format!("{:?}", x.status))
        }
    })
    .await?;
    distributions.delete("to-prod", &DeleteParams::default()).await.map_err(|e| e.to_string())?;
    products.delete("lamp", &DeleteParams::default()).await.map_err(|e| e.to_string())?;
    wait("product and distribution deleted", deadline, || async {
        let p = products.get_opt("lamp").await.map_err(|e| e.to_string())?;
        let d = distributions.get_opt("to-prod").await.map_err(|e| e.to_string())?;
        if p.is_none() && d.is_none() {
            Ok(())
        } else {
            Err(format!("product {} distribution {}", p.is_some(), d.is_some()))
        }
    })
    .await?;
    let left = emulator.products().iter().filter(|p| p.instance_id != "iot-cn-prod0001").count();
    if left != 0 {
        return Err(format!("{left} products left on the platform"));
    }
    if !emulator.emulator.snapshot().jobs.is_empty() {
        return Err("the distribution job record was not deleted".into());
    }
    Ok(())
}

/// A namespace, an emulator and an account that admits the namespace by a label, which
/// [`admit_by_label`] puts on the namespace once the operator runs (so that reading and
/// watching namespaces' labels are rights the life needs).
async fn world(plane: &ControlPlane, prefix: &str) -> (Client, String, TestEmulator) {
    let client = plane.admin_client().await;
    let ns = common::test_namespace(&client, prefix).await;
    let emulator = TestEmulator::start().await;
    common::create_account(&client, &ns, &emulator.url, common::ACCESS_KEY_SECRET).await;
    let by_label = json!({"spec": {"allowedNamespaces": {"names": null,
        "selector": {"matchLabels": {"iotop-test/tenant": ns}}}}});
    Api::<iot_product_operator::crd::PlatformAccount>::all(client.clone())
        .patch(&common::account_name(&ns), &PatchParams::default(), &Patch::Merge(by_label))
        .await
        .unwrap();
    (client, ns, emulator)
}

/// Labels `ns` so that its account admits it.
async fn admit_by_label(client: &Client, ns: &str) {
    let label = json!({"metadata": {"labels": {"iotop-test/tenant": ns}}});
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .patch(ns, &PatchParams::default(), &Patch::Merge(label))
        .await
        .unwrap();
}

fn rules() -> (Value, Value) {
    (
        yaml_rules(&root().join("charts/iot-product-operator/files/rbac-rules.yaml")),
        yaml_rules(&root().join("charts/iot-product-operator/files/leader-election-rules.yaml")),
    )
}

#[tokio::test]
async fn the_whole_life_runs_as_the_charts_service_account_and_every_right_is_needed() {
    let _serial = RBAC.lock().await;
    let plane = control_plane();
    let (rules, leader_rules) = rules();
    install_rbac(plane, &rules, &leader_rules);
    {
        let (client, ns, emulator) = world(plane, "rbac-full").await;
        let operator = AsServiceAccount::start(plane, &ns, "127.0.0.1:0", "rbac-full");
        admit_by_label(&client, &ns).await;
        let result = life(&client, &ns, &emulator, Duration::from_secs(40)).await;
        assert!(result.is_ok(), "{result:?}; operator log: {}", operator.logs());
    }
    // Without any single verb of any rule, the life does not complete.
    let mut cases = Vec::new();
    for (i, rule) in rules.as_array().unwrap().iter().enumerate() {
        for (j, verb) in rule["verbs"].as_array().unwrap().iter().enumerate() {
            let mut reduced = rules.clone();
            reduced[i]["verbs"].as_array_mut().unwrap().remove(j);
            if reduced[i]["verbs"].as_array().unwrap().is_empty() {
                reduced.as_array_mut().unwrap().remove(i);
            }
            let resources: Vec<String> = rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            let denied: Vec<String> = resources
                .iter()
                .map(|r| format!("cannot {} resource \"{r}\"", verb.as_str().unwrap()))
                .collect();
            cases.push((format!("{} {}", verb, rule["resources"]), reduced, leader_rules.clone(), denied));
        }
    }
    for (j, verb) in leader_rules[0]["verbs"].as_array().unwrap().iter().enumerate() {
        let mut reduced = leader_rules.clone();
        reduced[0]["verbs"].as_array_mut().unwrap().remove(j);
        if reduced[0]["verbs"].as_array().unwrap().is_empty() {
            reduced.as_array_mut().unwrap().clear();
        }
        let denied = vec![format!("cannot {} resource \"leases\"", verb.as_str().unwrap())];
        cases.push((format!("{verb} leases"), rules.clone(), reduced, denied));
    }
    // A right is needed when the operator tried to use it without it: the API server's
    // `forbidden` error naming the verb and resource is in its log. A life that fails without
    // such a refusal proves nothing about the right (it was slow, or broke for another
    // reason): it is run again with a longer deadline, and a second unexplained failure fails
    // the test. (A watch that lists once and then cannot follow changes lets a short life
    // pass, but its refusal is logged, so the right still counts as needed.)
    let mut unneeded = Vec::new();
    let mut unexplained = Vec::new();
    for (case, reduced, reduced_leader, denied) in cases {
        install_rbac(plane, &reduced, &reduced_leader);
        let mut outcome = None;
        for deadline in [Duration::from_secs(8), Duration::from_secs(30)] {
            let (client, ns, emulator) = world(plane, "rbac-less").await;
            let lease = format!("rbac-{}", &ns);
            let operator = AsServiceAccount::start(plane, &ns, "127.0.0.1:0", &lease);
            admit_by_label(&client, &ns).await;
            let result = life(&client, &ns, &emulator, deadline).await;
            let logs = operator.logs();
            let refused = denied
                .iter()
                .any(|d| logs.lines().any(|l| l.contains("forbidden") && l.contains(d.as_str())));
            drop(operator);
            outcome = Some((refused, result));
            if refused || outcome.as_ref().is_some_and(|(_, r)| r.is_ok()) {
                break;
            }
        }
        match outcome {
            Some((true, _)) => {}
            Some((false, Ok(()))) => unneeded.push(case),
            Some((false, Err(e))) => unexplained.push(format!("{case}: {e}")),
            None => unreachable!("each case runs at least once"),
        }
    }
    assert!(
        unexplained.is_empty(),
        "the life failed twice without a forbidden error naming the removed right: {unexplained:?}"
    );
    install_rbac(plane, &rules, &leader_rules);
    assert!(
        unneeded.is_empty(),
        "the life completed without these rights, so the chart should not grant them: {unneeded:?}"
    );
}

fn metrics_port(log: &str) -> Option<u16> {
    log.lines()
        .find(|l| l.contains("serving /metrics"))
        .and_then(|l| l.split("127.0.0.1:").nth(1))
        .and_then(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok())
}

async fn scrape(port: u16) -> Result<String, String> {
    let response =
        reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.map_err(|e| e.to_string())?;
    response.text().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_whole_life_runs_with_the_namespaced_rbac_and_no_cluster_wide_secret_rights() {
    let _serial = RBAC.lock().await;
    let plane = control_plane();
    let (client, ns, emulator) = world(plane, "rbac-ns").await;
    let watch = format!("watchNamespaces={{{ns}}}");
    let credentials = format!("credentialsNamespace={ns}");
    install_rendered_rbac(plane, &["--set", &watch, "--set", &credentials]);
    assert!(!service_account_can(plane, &["list", "secrets", "--all-namespaces"]));
    assert!(!service_account_can(plane, &["get", "secrets", "-n", "default"]));
    assert!(service_account_can(plane, &["create", "secrets", "-n", &ns]));
    let operator = AsServiceAccount::start(plane, &ns, "127.0.0.1:0", "rbac-namespaced");
    admit_by_label(&client, &ns).await;
    let result = life(&client, &ns, &emulator, Duration::from_secs(40)).await;
    assert!(result.is_ok(), "{result:?}; operator log: {}", operator.logs());
}

#[tokio::test]
async fn two_replicas_elect_one_leader_and_the_standby_takes_over_when_it_dies() {
    let _serial = RBAC.lock().await;
    let plane = control_plane();
    let (rules, leader_rules) = rules();
    install_rbac(plane, &rules, &leader_rules);
    let (client, ns, emulator) = world(plane, "leader").await;
    let lease = format!("leader-{ns}");
    let mut first = AsServiceAccount::start(plane, &ns, "127.0.0.1:0", &lease);
    let first_port = eventually("first replica serves metrics", Duration::from_secs(20), || async {
        metrics_port(&first.logs()).ok_or("not yet".to_string())
    })
    .await;
    eventually("first replica leads", Duration::from_secs(20), || async {
        let text = scrape(first_port).await?;
        if text.contains("iotop_leader 1") { Ok(()) } else { Err("not leader".to_string()) }
    })
    .await;
    let second = AsServiceAccount::start(plane, &ns, "127.0.0.1:0", &lease);
    admit_by_label(&client, &ns).await;
    let second_port = eventually("second replica serves metrics", Duration::from_secs(20), || async {
        metrics_port(&second.logs()).ok_or("not yet".to_string())
    })
    .await;
    let products: Api<IotProduct> = Api::namespaced(client.clone(), &ns);
    products
        .create(&PostParams::default(), &product_manifest(&ns, "one", json!({"productName": "Leader_One"})))
        .await
        .unwrap();
    eventually("reconciled by the leader", Duration::from_secs(30), || async {
        let p = products.get("one").await.map_err(|e| e.to_string())?;
        if ready(&p) { Ok(()) } else { Err("not ready".into()) }
    })
    .await;
    let standby = scrape(second_port).await.unwrap();
    assert!(
        standby.contains("iotop_leader 0") && !standby.contains("iotop_reconciles_total{kind=\"IotProduct\""),
        "the standby did not reconcile:\n{standby}"
    );
    let leader = scrape(first_port).await.unwrap();
    assert!(leader.contains(r#"iotop_reconciles_total{kind="IotProduct",result="Success"}"#), "{leader}");
    assert!(
        leader.lines().any(|l| l.starts_with("iotop_platform_calls_total{account=")
            && l.ends_with(r#"action="CreateProduct",code="Success"} 1"#)),
        "{leader}"
    );
    assert!(leader.contains("iotop_reconciles_waiting 0"), "nothing waits once the work is done:\n{leader}");

    // The leader dies; the standby takes over within the lease duration and finishes work.
    first.kill();
    let killed_at = tokio::time::Instant::now();
    products
        .create(&PostParams::default(), &product_manifest(&ns, "two", json!({"productName": "Leader_Two"})))
        .await
        .unwrap();
    eventually("reconciled by the new leader", Duration::from_secs(30), || async {
        let p = products.get("two").await.map_err(|e| e.to_string())?;
        if ready(&p) { Ok(()) } else { Err(format!("not ready; standby log: {}", second.logs())) }
    })
    .await;
    let failover = killed_at.elapsed();
    println!("failover: product Ready {failover:?} after the leader was killed (lease 4 s)");
    assert!(scrape(second_port).await.unwrap().contains("iotop_leader 1"));
    assert_eq!(emulator.products().len(), 2, "no duplicates across replicas");
}
