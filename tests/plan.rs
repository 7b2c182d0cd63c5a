//! `iot-product-operator plan` against the emulator: the real binary reads manifests and the
//! live platform, prints what the operator would do — compared with golden outputs under
//! `tests/fixtures/plan/` (`UPDATE_GOLDEN=1` rewrites them) — and the emulator sees no write.

mod common;

use std::path::Path;

use common::{ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_UID, TestEmulator};
use iot_platform::IotPlatform;
use iot_platform::model::{
    CreateProduct, CreateProductTags, ImportThingModelTsl, PublishThingModel, ReleaseProduct,
};
use iot_platform::read_only::is_read;
use iot_platform::wire::Tag;
use iot_product_operator::crd::IotProduct;
use iot_product_operator::product::desired::DesiredProduct;
use serde_json::{Value, json};

fn account(url: &str) -> Value {
    json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
           "metadata": {"name": "default"},
           "spec": {"region": "cn-shanghai", "endpoint": url,
                    "credentials": {"secretRef": {"name": "iot-platform-credentials"}},
                    "allowedNamespaces": {"names": ["default", "team-a"]},
                    "takeOver": {"allowedNamespaces": {"names": ["team-a"]}}}})
}

fn lamp(extra: Value) -> Value {
    let mut spec = json!({
        "productName": "Lamp_Plan", "description": "Dimmable lamp", "published": true,
        "tags": {"team": "lighting"},
        "thingModel": {"properties": [
            {"identifier": "PowerSwitch", "name": "Power switch",
             "dataType": {"type": "bool", "values": [{"value": 0, "name": "off"}, {"value": 1, "name": "on"}]}}]}
    });
    for (key, value) in extra.as_object().unwrap() {
        spec[key] = value.clone();
    }
    json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
           "metadata": {"name": "smart-lamp"}, "spec": spec})
}

/// Writes `documents` as one multi-document YAML file in `dir`.
fn write(dir: &Path, documents: &[Value]) {
    let text: Vec<String> = documents.iter().map(|d| serde_norway::to_string(d).unwrap()).collect();
    std::fs::write(dir.join("manifests.yaml"), text.join("---\n")).unwrap();
}

/// Runs `plan` on `dir`; returns (exit code, stdout with product keys replaced by names).
async fn plan(emulator: &TestEmulator, dir: &Path, extra: &[&str]) -> (i32, String) {
    plan_in(emulator, dir, extra, None).await
}

/// Like [`plan`], with `KUBECONFIG` set to `kubeconfig` (for `--cluster`).
async fn plan_in(
    emulator: &TestEmulator,
    dir: &Path,
    extra: &[&str],
    kubeconfig: Option<&Path>,
) -> (i32, String) {
    // Asynchronously: the emulator serves from this test's runtime meanwhile.
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_iot-product-operator"));
    if let Some(path) = kubeconfig {
        command.env("KUBECONFIG", path);
    }
    let output = command
        .args(["plan", "-f"])
        .arg(dir)
        .args(["--allow-endpoint", "http://127.0.0.1:*"])
        .args(extra)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .env("IOTOP_LOG_LEVEL", "error")
        .output()
        .await
        .expect("run plan");
    let mut text = String::from_utf8(output.stdout).unwrap();
    for product in emulator.products() {
        text = text.replace(&product.product_key, &format!("<{}>", product.product_name));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(ACCESS_KEY_SECRET), "the secret leaked: {stderr}");
    (output.status.code().unwrap_or(-1), text)
}

/// Compares `text` with `tests/fixtures/plan/<name>.txt`.
fn golden(name: &str, text: &str) {
    let path = common::root().join(format!("tests/fixtures/plan/{name}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(text, want, "plan output for {name} differs from {}", path.display());
}

/// Writes the emulator saw, by action.
fn writes(emulator: &TestEmulator) -> Vec<(String, u64)> {
    emulator
        .emulator
        .stats()
        .calls
        .into_iter()
        .filter(|(action, _)| !is_read(action))
        .map(|(action, outcomes)| (action, outcomes.values().sum()))
        .collect()
}

/// The UID of the resource that "applied" the lamp in [`apply_for_real`].
const LAMP_UID: &str = "5f0c2c4e-0000-4000-8000-00000000a11c";

/// Makes the platform match `manifest` the way the operator would (create, tag with the
/// ownership marks, import and publish the thing model, publish the product).
async fn apply_for_real(platform: &dyn IotPlatform, manifest: &Value) -> String {
    let product: IotProduct = serde_json::from_value(manifest.clone()).unwrap();
    let desired = DesiredProduct::from_resource(&product).unwrap().owned_by("kubernetes", LAMP_UID);
    let created = platform.call(&desired.create_request(None)).await.unwrap();
    let key = created.data.unwrap().product_key;
    let tags =
        desired.all_tags().iter().map(|(k, v)| Tag { tag_key: k.clone(), tag_value: v.clone() }).collect();
    platform
        .call(&CreateProductTags { iot_instance_id: None, product_key: key.clone(), product_tag: tags })
        .await
        .unwrap();
    let model = desired.thing_model.as_ref().unwrap();
    platform
        .call(&ImportThingModelTsl {
            iot_instance_id: None,
            product_key: key.clone(),
            tsl_str: Some(model.model.import_document(&key)),
        })
        .await
        .unwrap();
    platform
        .call(&PublishThingModel {
            iot_instance_id: None,
            product_key: key.clone(),
            model_version: None,
            description: None,
        })
        .await
        .unwrap();
    platform.call(&ReleaseProduct { iot_instance_id: None, product_key: key.clone() }).await.unwrap();
    key
}

#[tokio::test]
async fn plan_says_what_the_operator_would_do_and_never_writes() {
    let emulator = TestEmulator::start().await;
    let platform = emulator.client();
    let dir = tempfile::tempdir().unwrap();
    let account = account(&emulator.url);
    let distribution = json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
        "metadata": {"name": "lamp-to-production"},
        "spec": {"productRef": {"name": "smart-lamp"}, "target": {"instanceId": "iot-cn-prod0001", "uid": ACCOUNT_UID}}});

    // Nothing on the platform yet: everything is created.
    write(dir.path(), &[account.clone(), lamp(json!({})), distribution.clone()]);
    let (code, text) = plan(&emulator, dir.path(), &[]).await;
    golden("create", &text);
    assert_eq!(code, 2);
    assert!(writes(&emulator).is_empty(), "plan wrote: {:?}", writes(&emulator));

    // The platform matches the manifests: nothing to do.
    apply_for_real(platform.as_ref(), &lamp(json!({}))).await;
    let applied = writes(&emulator);
    write(dir.path(), &[account.clone(), lamp(json!({}))]);
    let (code, text) = plan(&emulator, dir.path(), &[]).await;
    golden("no-op", &text);
    assert_eq!(code, 0, "{text}");

    // A changed description, a new property and a new tag on the published product.
    let changed = json!({"description": "Dimmable lamp with color", "tags": {"team": "lighting", "tier": "gold"},
        "thingModel": {"properties": [
            {"identifier": "PowerSwitch", "name": "Power switch",
             "dataType": {"type": "bool", "values": [{"value": 0, "name": "off"}, {"value": 1, "name": "on"}]}},
            {"identifier": "Color", "name": "Color", "accessMode": "r", "dataType": {"type": "text", "length": 16}}]}});
    write(dir.path(), &[account.clone(), lamp(changed.clone())]);
    let (code, text) = plan(&emulator, dir.path(), &[]).await;
    golden("lock-blocked", &text);
    assert_eq!(code, 1, "a blocked change stops a CI gate");
    let (code, _) = plan(&emulator, dir.path(), &["--blocked-ok"]).await;
    assert_eq!(code, 2, "--blocked-ok keeps blocked at 2");

    let mut revoke = changed.clone();
    revoke["publishedChangePolicy"] = json!("RevokeAndRepublish");
    write(dir.path(), &[account.clone(), lamp(revoke.clone())]);
    let (code, text) = plan(&emulator, dir.path(), &[]).await;
    golden("revoke-apply-republish", &text);
    assert_eq!(code, 2);

    // Removing the manifest: the product is deleted (revoked first), or held by the lock.
    let (code, text) = plan(&emulator, dir.path(), &["--delete"]).await;
    golden("delete", &text);
    assert_eq!(code, 2);

    // A product made outside Kubernetes, taken over by its key.
    let sensor = platform
        .call(&CreateProduct {
            product_name: "Sensor_Adopt".into(),
            node_type: 0,
            description: Some("made by hand".into()),
            ..CreateProduct::default()
        })
        .await
        .unwrap()
        .data
        .unwrap()
        .product_key;
    let adopt = json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
        "metadata": {"name": "sensor", "namespace": "team-a"},
        "spec": {"productName": "Sensor_Adopt", "edition": "Basic", "productKey": sensor, "description": "managed now"}});
    write(dir.path(), &[account.clone(), adopt.clone()]);
    let (code, text) = plan(&emulator, dir.path(), &[]).await;
    golden("adopt", &text);
    assert_eq!(code, 2);
    // The same from a namespace the account admits but does not let take over, and from one
    // it does not admit: the controller's tenancy rules, nothing called.
    for (namespace, refusal) in [
        ("default", "! blocked (TakeOverNotAllowed): spec.productKey takes over an existing product"),
        (
            "team-b",
            "! blocked (AccountNotAllowed): PlatformAccount \"default\" does not admit namespace team-b",
        ),
    ] {
        let mut elsewhere = adopt.clone();
        elsewhere["metadata"]["namespace"] = json!(namespace);
        write(dir.path(), &[account.clone(), elsewhere]);
        let (code, text) = plan(&emulator, dir.path(), &[]).await;
        assert_eq!(code, 1, "blocked: {text}");
        assert!(text.contains(refusal), "{text}");
        assert!(text.contains("0 platform calls"), "{text}");
    }

    // A product made by hand has the name a new resource wants: the create would be refused
    // and the controller reports the conflict (the resource neither adopts nor takes over).
    platform
        .call(&CreateProduct { product_name: "Lamp_Taken".into(), node_type: 0, ..CreateProduct::default() })
        .await
        .unwrap();
    let taken = json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
        "metadata": {"name": "taken"}, "spec": {"productName": "Lamp_Taken", "edition": "Basic"}});
    write(dir.path(), &[account.clone(), taken]);
    let (code, text) = plan(&emulator, dir.path(), &[]).await;
    golden("name-conflict", &text);
    assert_eq!(code, 1, "blocked");

    // The instance has room for one more product (3 held, a limit of 4), and two are created.
    let new = |name: &str, product: &str| {
        json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
            "metadata": {"name": name}, "spec": {"productName": product, "edition": "Basic"}})
    };
    write(dir.path(), &[account.clone(), new("one", "New_One"), new("two", "New_Two")]);
    let (code, text) = plan(&emulator, dir.path(), &["--max-products-per-instance", "4"]).await;
    golden("quota", &text);
    assert_eq!(code, 1, "over the instance's limit: blocked");

    // The controller's tenancy rules for distributions: a namespace the account does not
    // admit, and a product by key (no IotProduct of the namespace manages it) without the
    // take-over right.
    let lamp_key =
        emulator.products().iter().find(|p| p.product_name == "Lamp_Plan").unwrap().product_key.clone();
    for (namespace, spec, refusal) in [
        (
            "team-b",
            json!({"productKey": lamp_key, "target": {"instanceId": "iot-cn-prod0001", "uid": ACCOUNT_UID}}),
            "! blocked (AccountNotAllowed): PlatformAccount \"default\" does not admit namespace team-b",
        ),
        (
            "default",
            json!({"productKey": lamp_key, "target": {"instanceId": "iot-cn-prod0001", "uid": ACCOUNT_UID}}),
            "! blocked (TakeOverNotAllowed): spec.productKey names a product no IotProduct of namespace default manages",
        ),
        (
            // team-a may take over, but the lamp carries another resource's ownership mark.
            "team-a",
            json!({"productKey": lamp_key, "target": {"instanceId": "iot-cn-prod0001", "uid": ACCOUNT_UID}}),
            "! blocked (ManagedElsewhere): spec.productKey names a product that another resource manages",
        ),
    ] {
        let refused = json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
            "metadata": {"name": "by-key", "namespace": namespace}, "spec": spec});
        write(dir.path(), &[account.clone(), refused]);
        let (code, text) = plan(&emulator, dir.path(), &[]).await;
        assert_eq!(code, 1, "blocked: {text}");
        assert!(text.contains(refusal), "{text}");
        assert!(!text.contains("+ CreateProductDistributeJob"), "{text}");
    }

    // Two distributions from one namespace, the account letting a namespace hold one task: the
    // controller makes the first job and the second waits for it (its decision, counted in).
    let mut one_per_namespace = account.clone();
    one_per_namespace["spec"]["distributionTasksPerNamespace"] = json!(1);
    let mut second = distribution.clone();
    second["metadata"]["name"] = json!("smart-lamp-again");
    write(dir.path(), &[one_per_namespace, lamp(json!({})), distribution.clone(), second]);
    let (code, text) = plan(&emulator, dir.path(), &[]).await;
    assert_eq!(code, 1, "blocked: {text}");
    assert_eq!(text.matches("+ CreateProductDistributeJob").count(), 1, "{text}");
    assert!(text.contains("! blocked (NamespaceDistributionQuotaFull): the ProductDistributions of namespace default already hold 1"), "{text}");

    // A distribution of the lamp.
    write(dir.path(), &[account.clone(), lamp(json!({})), distribution]);
    let (code, text) = plan(&emulator, dir.path(), &["--output", "json"]).await;
    let document: Value = serde_json::from_str(&text).unwrap();
    golden("distribution", &serde_json::to_string_pretty(&document).unwrap());
    assert_eq!(code, 2);
    assert_eq!(document["summary"]["calls"], 1, "{document}");

    // A manifest whose account is missing is an error (exit 1), not a guess.
    write(dir.path(), &[lamp(json!({}))]);
    let (code, text) = plan(&emulator, dir.path(), &[]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("PlatformAccount \"default\" is not among the manifests"), "{text}");

    // A manifest the API server would refuse is an error (exit 1) in its words, without a
    // cluster to ask (the CRDs' own schemas and CEL rules); the valid one beside it is planned.
    let mut short = lamp(json!({"productName": "ab"}));
    short["metadata"]["name"] = json!("short-name");
    let mut wrong_type = lamp(json!({"nodeType": "Router"}));
    wrong_type["metadata"]["name"] = json!("router");
    write(dir.path(), &[account.clone(), short, wrong_type, lamp(json!({}))]);
    let (code, text) = plan(&emulator, dir.path(), &[]).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "IotProduct.iot.productoperator.dev \"short-name\" is invalid: spec.productName: Invalid value: \"ab\": \
             spec.productName must be 4 to 30 characters long"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "spec.nodeType: Unsupported value: \"Router\": supported values: \"Device\", \"Gateway\""
        ),
        "{text}"
    );
    assert!(!text.contains("+ CreateProduct Lamp_Plan (ab)") && text.contains("smart-lamp"), "{text}");

    // Every write the emulator saw was the test's own.
    let after: Vec<(String, u64)> = writes(&emulator);
    let own: u64 = applied.iter().map(|(_, n)| n).sum::<u64>() + 2;
    assert_eq!(
        after.iter().map(|(_, n)| n).sum::<u64>(),
        own,
        "plan wrote: {after:?} (the test wrote {applied:?} + 2)"
    );
}

/// With `--cluster`, `plan` reads the resources' status and UIDs: a renamed product is an
/// update of the product the resource manages (not a create), and a new resource naming
/// another resource's product is a name conflict (without the cluster `plan` says it cannot
/// tell). The account comes from the cluster.
#[tokio::test]
async fn with_the_cluster_plan_knows_which_product_is_whose() {
    let env = common::env("plan-cluster").await;
    let plane = common::control_plane();
    common::apply(&env, "lamp", json!({"productName": "Lamp_Cluster", "edition": "Basic"})).await;
    let ready = common::wait_condition(&env, "lamp", "Ready", "True", None).await;
    let key = ready.status.unwrap().product_key.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let product = |name: &str, product_name: &str| {
        serde_json::to_value(common::manifest(
            &env,
            name,
            json!({"productName": product_name, "edition": "Basic"}),
        ))
        .map(|mut v| {
            v["metadata"]["namespace"] = json!(env.ns);
            v
        })
        .unwrap()
    };

    // With the cluster, what the API server would refuse is an error in its words, before
    // anything is planned: names and descriptions the schema refuses, a changed immutable field.
    for (spec, says) in [
        (json!({"productName": "ab"}), "spec.productName"),
        (json!({"productName": "Lamp-One!"}), "spec.productName"),
        (json!({"productName": "Lamp_Cluster", "description": "d".repeat(101)}), "spec.description"),
        (json!({"productName": "Lamp_Cluster", "nodeType": "Gateway"}), "nodeType"),
    ] {
        let mut refused = product("lamp", "Lamp_Cluster");
        for (key, value) in spec.as_object().unwrap() {
            refused["spec"][key] = value.clone();
        }
        write(dir.path(), &[refused]);
        let (code, text) = plan_in(&env.emulator, dir.path(), &["--cluster"], Some(&plane.kubeconfig)).await;
        assert_eq!(code, 1, "{spec}: {text}");
        assert!(
            text.contains("✗ error: the API server refuses it: ") && text.contains(says),
            "{spec}: {text}"
        );
        assert!(!text.contains("UpdateProduct") && !text.contains("CreateProduct"), "{spec}: {text}");
    }

    // Renamed in the pull request: the cluster's status names the product.
    write(dir.path(), &[product("lamp", "Lamp_Renamed")]);
    let (code, text) = plan_in(&env.emulator, dir.path(), &["--cluster"], Some(&plane.kubeconfig)).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("<Lamp_Cluster> (found by status)"), "{text}");
    assert!(text.contains(r#"~ UpdateProduct: productName: "Lamp_Cluster" → "Lamp_Renamed""#), "{text}");
    assert!(!text.contains("CreateProduct"), "{text}");
    // Without the cluster the renamed product cannot be found: the account is not among the
    // manifests either.
    let (code, text) = plan_in(&env.emulator, dir.path(), &[], None).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("is not among the manifests; pass its manifest with -f, or use --cluster"),
        "{text}"
    );

    // A tenant's CI may read its IotProducts but neither namespaces nor the cluster's
    // accounts: those are "unknown", and the account comes from the manifests.
    let kubeconfig = tenant_kubeconfig(&env, "ci-bot", dir.path()).await;
    let account = json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
        "metadata": {"name": common::account_name(&env.ns)},
        "spec": {"region": "cn-shanghai", "endpoint": env.emulator.url,
                 "credentials": {"secretRef": {"name": "platform-credentials"}},
                 "allowedNamespaces": {"names": [env.ns]}}});
    write(dir.path(), &[account, product("lamp", "Lamp_Renamed")]);
    let (code, text) = plan_in(&env.emulator, dir.path(), &["--cluster"], Some(&kubeconfig)).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains(r#"~ UpdateProduct: productName: "Lamp_Cluster" → "Lamp_Renamed""#), "{text}");

    // A new resource wants the lamp's name: the product carries the lamp's marks.
    write(dir.path(), &[product("copycat", "Lamp_Cluster")]);
    let (code, text) = plan_in(&env.emulator, dir.path(), &["--cluster"], Some(&plane.kubeconfig)).await;
    assert_eq!(code, 1, "a name conflict is blocked: {text}");
    assert!(text.contains("! blocked (NameConflict): a product named Lamp_Cluster already exists"), "{text}");
    assert!(!text.contains("CreateProduct"), "{text}");

    // Deleting a resource that is not in the cluster deletes nothing; deleting the lamp
    // deletes its product (found by status).
    write(dir.path(), &[product("copycat", "Lamp_Cluster"), product("lamp", "Lamp_Cluster")]);
    let (code, text) =
        plan_in(&env.emulator, dir.path(), &["--cluster", "--delete"], Some(&plane.kubeconfig)).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("note: not in the cluster: removing its manifest deletes nothing"), "{text}");
    assert!(text.contains("- DeleteProduct: delete the product"), "{text}");
    assert_eq!(text.matches("DeleteProduct").count(), 1, "{text}");
    assert!(env.emulator.products().iter().any(|p| p.product_key == key), "plan deleted nothing");

    // A distribution that ran is not planned again.
    let distribution = json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
        "metadata": {"name": "lamp-out", "namespace": env.ns},
        "spec": {"productRef": {"name": "lamp"}, "accountRef": {"name": common::account_name(&env.ns)},
                 "target": {"instanceId": "iot-cn-prod0001", "uid": ACCOUNT_UID}}});
    let pds: kube::Api<iot_product_operator::crd::ProductDistribution> =
        kube::Api::namespaced(env.client.clone(), &env.ns);
    pds.create(&Default::default(), &serde_json::from_value(distribution.clone()).unwrap()).await.unwrap();
    common::eventually("the distribution to complete", common::DEADLINE, || async {
        let pd = pds.get("lamp-out").await.map_err(|e| e.to_string())?;
        let state = pd.status.as_ref().and_then(|s| s.state.clone());
        if state.as_deref() == Some("Completed") { Ok(()) } else { Err(format!("{state:?}")) }
    })
    .await;
    write(dir.path(), &[product("lamp", "Lamp_Cluster"), distribution]);
    let (code, text) = plan_in(&env.emulator, dir.path(), &["--cluster"], Some(&plane.kubeconfig)).await;
    assert!(text.contains("was made (Completed); a distribution runs once"), "{text}");
    assert!(!text.contains("CreateProductDistributeJob"), "{text}");
    assert_eq!(code, 0, "{text}");
}

/// A kubeconfig acting as `user` (impersonated by the admin), who may only read the
/// namespace's IotProducts; written outside `dir` (whose files `plan` reads).
async fn tenant_kubeconfig(env: &common::Env, user: &str, dir: &Path) -> std::path::PathBuf {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    use kube::api::{Api, PostParams};
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "plan-reader", "namespace": env.ns},
        "rules": [{"apiGroups": ["iot.productoperator.dev"], "resources": ["iotproducts"], "verbs": ["get", "list"]}]
    }))
    .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "plan-reader", "namespace": env.ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "plan-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    }))
    .unwrap();
    Api::<Role>::namespaced(env.client.clone(), &env.ns).create(&PostParams::default(), &role).await.unwrap();
    Api::<RoleBinding>::namespaced(env.client.clone(), &env.ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let mut config: Value =
        serde_norway::from_str(&std::fs::read_to_string(&common::control_plane().kubeconfig).unwrap())
            .unwrap();
    for entry in config["users"].as_array_mut().unwrap() {
        entry["user"]["as"] = json!(user);
    }
    let path = dir.parent().unwrap().join(format!("{}-{user}.kubeconfig", env.ns));
    std::fs::write(&path, serde_norway::to_string(&config).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn plan_shows_the_products_topics_script_subscription_and_its_consumer_group() {
    let emulator = TestEmulator::start().await;
    let dir = tempfile::tempdir().unwrap();
    let meter = json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
        "metadata": {"name": "water-meter"},
        "spec": {"productName": "Meter_Plan", "dataFormat": "Custom",
                 "dataParsing": {"language": "JavaScript", "script": "function rawDataToProtocol(b) { return {}; }"},
                 "topics": [{"name": "telemetry", "operation": "PUB"}, {"name": "config/+", "operation": "SUB"}],
                 "subscription": {"consumerGroups": ["billing"], "messages": ["DeviceData"]}}});
    let group = json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotConsumerGroup",
        "metadata": {"name": "billing"}, "spec": {"groupName": "billing_backend"}});
    write(dir.path(), &[account(&emulator.url), meter.clone(), group]);
    let (code, text) = plan(&emulator, dir.path(), &[]).await;
    golden("parts-create", &text);
    assert_eq!(code, 2, "{text}");
    assert!(writes(&emulator).is_empty(), "plan wrote: {:?}", writes(&emulator));

    // Without the group's manifest (and no cluster to find it in), the subscription waits, as
    // the controller's would: blocked, exit 1.
    write(dir.path(), &[account(&emulator.url), meter]);
    let (code, text) = plan(&emulator, dir.path(), &[]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("ConsumerGroupNotReady"), "{text}");
}
