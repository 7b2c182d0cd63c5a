//! Upgrading from the previous release (CHANGELOG.md, "Upgrading from 0.1.0"): the cluster and
//! platform as the 0.1.0 operator left them — its CRDs, its samples, every object it wrote and
//! the products it made, recorded from a real run by `scripts/capture-upgrade-fixtures.sh`
//! (tests/fixtures/upgrade/0.1.0) — then today's CRDs and operator.
//!
//! - Before the administrator's step, every product says what to do (the account patch the
//!   changelog gives), a finished distribution (which needs nothing of the account) stays as
//!   it was, and nothing is written on the platform.
//! - After it, every resource is back in sync with the same ProductKeys and Secrets, and the
//!   only platform writes are the ones the changelog announces.
//!
//! Harness details, not upgrade steps: the products are restored in this test's emulator under
//! their recorded keys and secrets (the recorded account's access key is replaced by this
//! emulator's, and its endpoint by this emulator's address), objects are created anew (new
//! UIDs, so the Secrets' owner references are pointed at them) with the status 0.1.0 wrote.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{
    ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_UID, TestEmulator, bare_control_plane, eventually, root,
};
use iot_product_operator::crd::{IotProduct, PlatformAccount, ProductDistribution};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// How long a resource may take to reach a state (the operator resyncs every 2 s here).
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(90);

fn fixture(name: &str) -> Value {
    let path = fixtures().join(name);
    serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/upgrade/0.1.0")
}

/// A recorded object made anew: without its server-set fields (and status, written apart).
fn to_create(object: &Value) -> Value {
    let mut object = object.clone();
    let metadata = object["metadata"].as_object_mut().unwrap();
    for field in ["uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"] {
        metadata.remove(field);
    }
    object.as_object_mut().unwrap().remove("status");
    object
}

/// The products 0.1.0 made, restored under their keys and secrets: created, tagged, given
/// their thing model and published as recorded; distributed copies by a distribution job.
/// `uids` maps the recorded resources' UIDs to the restored ones' (the ownership tags name
/// the resource by UID).
fn restore_platform(emulator: &TestEmulator, uids: &BTreeMap<String, String>) {
    let platform = fixture("platform.json");
    let products = platform["products"].as_array().unwrap();
    let mut copies = Vec::new();
    for product in products {
        let key = product["productKey"].as_str().unwrap();
        let instance = product["instanceId"].as_str().unwrap();
        if products.iter().any(|p| {
            p["productKey"] == product["productKey"]
                && p["gmtCreate"].as_i64() < product["gmtCreate"].as_i64()
                && p["instanceId"] != product["instanceId"]
        }) {
            copies.push(product.clone());
            continue;
        }
        let mut params: Vec<(String, String)> = vec![
            ("ProductName".into(), product["productName"].as_str().unwrap().into()),
            ("NodeType".into(), product["nodeType"].to_string()),
            ("AliyunCommodityCode".into(), product["aliyunCommodityCode"].as_str().unwrap().into()),
            ("IotInstanceId".into(), instance.into()),
        ];
        for (param, field) in [("Description", "description"), ("ProtocolType", "protocolType")] {
            if let Some(v) = product[field].as_str() {
                params.push((param.into(), v.into()));
            }
        }
        if let Some(v) = product["dataFormat"].as_i64() {
            params.push(("DataFormat".into(), v.to_string()));
        }
        // Recorded as QueryProduct answers it; sent as CreateProduct takes it.
        let net_type = match product["netType"].as_i64() {
            Some(3) => Some("WIFI"),
            Some(6) => Some("CELLULAR"),
            Some(7) => Some("ETHERNET"),
            Some(8) => Some("OTHER"),
            Some(0) => Some("LORA"),
            _ => None,
        };
        if let Some(v) = net_type {
            params.push(("NetType".into(), v.into()));
        }
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        emulator
            .emulator
            .restore_product(ACCOUNT_UID, &pairs, key, product["productSecret"].as_str().unwrap())
            .unwrap();
        let console = |action: &str, extra: &[(&str, &str)]| {
            let mut pairs = vec![("ProductKey", key), ("IotInstanceId", instance)];
            pairs.extend_from_slice(extra);
            emulator
                .emulator
                .console(ACCOUNT_UID, action, &pairs)
                .unwrap_or_else(|e| panic!("{action}: {e:?}"));
        };
        let mut tags: BTreeMap<String, String> = serde_json::from_value(product["tags"].clone()).unwrap();
        for value in tags.values_mut() {
            if let Some(uid) = uids.get(value.as_str()) {
                value.clone_from(uid);
            }
        }
        if !tags.is_empty() {
            let mut pairs = Vec::new();
            for (i, (k, v)) in tags.iter().enumerate() {
                pairs.push((format!("ProductTag.{}.TagKey", i + 1), k.clone()));
                pairs.push((format!("ProductTag.{}.TagValue", i + 1), v.clone()));
            }
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            console("CreateProductTags", &pairs);
        }
        let empty = |tsl: &Value| {
            ["properties", "events", "services"].iter().all(|k| tsl[k].as_array().is_none_or(Vec::is_empty))
        };
        // (A Pro product's empty version 1.0 is the platform's own, made with the product.)
        for version in
            product["versions"].as_array().into_iter().flatten().rev().filter(|v| !empty(&v["tsl"]))
        {
            let tsl = serde_json::to_string(&version["tsl"]).unwrap();
            console("ImportThingModelTsl", &[("TslStr", &tsl)]);
            let description = version["description"].as_str().unwrap_or_default();
            console("PublishThingModel", &[("Description", description)]);
        }
        if !empty(&product["tslDraft"]) && product["versions"].as_array().is_none_or(Vec::is_empty) {
            let tsl = serde_json::to_string(&product["tslDraft"]).unwrap();
            console("ImportThingModelTsl", &[("TslStr", &tsl)]);
        }
        if product["released"].as_bool() == Some(true) {
            console("ReleaseProduct", &[]);
        }
    }
    for copy in copies {
        let key = copy["productKey"].as_str().unwrap();
        let source = products.iter().find(|p| p["productKey"] == copy["productKey"] && p != &&copy).unwrap();
        emulator
            .emulator
            .console(
                ACCOUNT_UID,
                "CreateProductDistributeJob",
                &[
                    ("ProductKey", key),
                    ("SourceInstanceId", source["instanceId"].as_str().unwrap()),
                    ("TargetInstanceId", copy["instanceId"].as_str().unwrap()),
                    ("TargetUid", ACCOUNT_UID),
                ],
            )
            .unwrap_or_else(|e| panic!("distribution of {key}: {e:?}"));
    }
}

/// Creates `object` (recorded) with the status it had.
async fn restore<K>(api: &Api<K>, object: &Value, adjust: impl FnOnce(&mut Value)) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let mut body = to_create(object);
    adjust(&mut body);
    let created: K =
        api.create(&PostParams::default(), &serde_json::from_value(body).unwrap()).await.unwrap();
    if let Some(status) = object.get("status") {
        api.patch_status(
            &created.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();
    }
    api.get(&created.name_any()).await.unwrap()
}

/// The cluster as 0.1.0 left it, on this control plane: the data of each product Secret, and
/// the restored resources' UIDs by the recorded ones'.
async fn restore_cluster(
    client: &Client,
    emulator: &TestEmulator,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let plane = bare_control_plane();
    plane.kubectl(&["create", "namespace", "iot-product-operator-system"]);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "iot-product-operator-system");
    let mut credentials = to_create(&fixture("credentials.json"));
    credentials["data"] = json!({});
    credentials["stringData"] = json!({"AccessKeyId": ACCESS_KEY_ID, "AccessKeySecret": ACCESS_KEY_SECRET});
    secrets.create(&PostParams::default(), &serde_json::from_value(credentials).unwrap()).await.unwrap();
    for account in fixture("platformaccounts.json")["items"].as_array().unwrap() {
        let url = emulator.url.clone();
        restore(&Api::<DynamicObject>::all_with(client.clone(), &account_resource()), account, |a| {
            a["spec"]["endpoint"] = json!(url);
            a["metadata"]["labels"]["test"] = json!("default");
        })
        .await;
    }
    let mut uids = BTreeMap::new();
    for product in fixture("iotproducts.json")["items"].as_array().unwrap() {
        let namespace = product["metadata"]["namespace"].as_str().unwrap();
        let api = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource::<IotProduct>());
        let restored = restore(&api, product, |_| {}).await;
        uids.insert(product["metadata"]["uid"].as_str().unwrap().to_string(), restored.uid().unwrap());
    }
    for distribution in fixture("productdistributions.json")["items"].as_array().unwrap() {
        let namespace = distribution["metadata"]["namespace"].as_str().unwrap();
        let api = Api::<DynamicObject>::namespaced_with(
            client.clone(),
            namespace,
            &resource::<ProductDistribution>(),
        );
        restore(&api, distribution, |_| {}).await;
    }
    let mut data = BTreeMap::new();
    for secret in fixture("secrets.json")["items"].as_array().unwrap() {
        let namespace = secret["metadata"]["namespace"].as_str().unwrap();
        let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let restored = restore(&api, secret, |s| {
            for owner in s["metadata"]["ownerReferences"].as_array_mut().into_iter().flatten() {
                owner["uid"] = json!(uids[owner["uid"].as_str().unwrap()]);
            }
        })
        .await;
        data.insert(
            format!("{namespace}/{}", restored.name_any()),
            serde_json::to_string(&restored.data).unwrap(),
        );
    }
    (data, uids)
}

fn resource<K: kube::Resource<DynamicType = ()>>() -> kube::api::ApiResource {
    kube::api::ApiResource::erase::<K>(&())
}

fn account_resource() -> kube::api::ApiResource {
    resource::<PlatformAccount>()
}

/// The data of every Secret the operator manages.
async fn secret_data(client: &Client) -> BTreeMap<String, String> {
    let secrets: Api<Secret> = Api::all(client.clone());
    let list = secrets
        .list(&kube::api::ListParams::default().labels("app.kubernetes.io/managed-by=iot-product-operator"))
        .await
        .unwrap();
    list.items
        .iter()
        .map(|s| {
            (format!("{}/{}", s.namespace().unwrap(), s.name_any()), serde_json::to_string(&s.data).unwrap())
        })
        .collect()
}

fn reason(product: &IotProduct, type_: &str) -> Option<(String, String, String)> {
    common::condition(product, type_)
}

#[tokio::test]
async fn upgrading_from_0_1_0_keeps_every_product_and_key_and_says_what_the_administrator_must_do() {
    let plane = bare_control_plane();
    let client = plane.admin_client().await;
    // 0.1.0's CRDs, and what its operator left.
    let (_, warnings) = plane.kubectl_with_warnings(&[
        "apply",
        "--server-side",
        "-k",
        &fixtures().join("crds").display().to_string(),
    ]);
    let _ = warnings;
    plane.kubectl(&["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
    let emulator = TestEmulator::start().await;
    let (secrets_before, uids) = restore_cluster(&client, &emulator).await;
    restore_platform(&emulator, &uids);
    let recorded = fixture("platform.json")["products"].as_array().unwrap().len();
    eventually("the distributed copies made", DEADLINE, || async {
        let made = emulator.products().len();
        if made == recorded { Ok(()) } else { Err(format!("{made} of {recorded}")) }
    })
    .await;
    let keys_before: BTreeMap<String, String> = emulator
        .products()
        .iter()
        .map(|p| (format!("{}/{}", p.instance_id, p.product_name), p.product_key.clone()))
        .collect();
    let writes_before = emulator.emulator.stats().writes.len();

    // The upgrade as CHANGELOG.md orders it: the new CRDs first (no warning), then the new
    // binary (its flags: the credentials namespace, the emulator's endpoint allowed) — but
    // not yet the PlatformAccount patch for `allowedNamespaces`.
    let (_, warnings) = plane.kubectl_with_warnings(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-k",
        &root().join("crds").display().to_string(),
    ]);
    assert!(!warnings.contains("Warning:"), "{warnings}");
    plane.kubectl(&["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
    let operator = common::OperatorProcess::start(
        plane,
        "default",
        &["--credentials-namespace", "iot-product-operator-system"],
    );
    let products: Api<IotProduct> = Api::namespaced(client.clone(), "default");
    let names: Vec<String> = fixture("iotproducts.json")["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    for name in &names {
        let product = eventually(&format!("{name} tells the missing upgrade step"), DEADLINE, || async {
            let product = products.get(name).await.map_err(|e| e.to_string())?;
            match reason(&product, "Ready") {
                Some((status, reason, message)) if status == "False" && reason == "AccountNotAllowed" => {
                    Ok((product, message))
                }
                other => Err(format!("{other:?}; {}", common::tail(&operator.logs()))),
            }
        })
        .await;
        assert!(product.1.contains("allowedNamespaces"), "the message says what to patch: {}", product.1);
    }
    // A finished distribution needs nothing of the account: it stays as 0.1.0 left it.
    let distributions: Api<ProductDistribution> = Api::namespaced(client.clone(), "default");
    for distribution in fixture("productdistributions.json")["items"].as_array().unwrap() {
        let name = distribution["metadata"]["name"].as_str().unwrap();
        common::wait_for(&distributions, name, "Ready", Some("True"), Some("Distributed")).await;
    }
    assert_eq!(emulator.emulator.stats().writes.len(), writes_before, "nothing written on the platform");
    assert_eq!(secret_data(&client).await, secrets_before, "every Secret as it was");

    // The administrator's step.
    plane.kubectl(&[
        "patch",
        "platformaccount",
        "default",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"allowedNamespaces":{"names":["default"]}}}"#,
    ]);
    for name in &names {
        eventually(&format!("{name} in sync again"), DEADLINE, || async {
            let product = products.get(name).await.map_err(|e| e.to_string())?;
            match reason(&product, "Synced") {
                Some((status, _, _)) if status == "True" => Ok(()),
                other => Err(format!("{other:?}; {}", common::tail(&operator.logs()))),
            }
        })
        .await;
    }
    let keys_after: BTreeMap<String, String> = emulator
        .products()
        .iter()
        .map(|p| (format!("{}/{}", p.instance_id, p.product_name), p.product_key.clone()))
        .collect();
    assert_eq!(keys_after, keys_before, "no product re-created, every key kept");
    assert_eq!(secret_data(&client).await, secrets_before, "every Secret as it was");
    let writes: Vec<String> =
        emulator.emulator.stats().writes[writes_before..].iter().map(|w| w.action.clone()).collect();
    // CHANGELOG.md announces no platform write for the upgrade: 0.1.0 marked its products.
    assert!(writes.is_empty(), "no platform write: {writes:?}");
    for name in &names {
        let product = products.get(name).await.unwrap();
        assert_eq!(reason(&product, "Ready").map(|r| r.0), Some("True".into()), "{name} Ready");
    }
    let distributions: Api<ProductDistribution> = Api::namespaced(client.clone(), "default");
    for distribution in fixture("productdistributions.json")["items"].as_array().unwrap() {
        let name = distribution["metadata"]["name"].as_str().unwrap();
        common::wait_for(&distributions, name, "Ready", Some("True"), None).await;
    }
    // The 0.1.0 finalizer on the credentials Secret is removed (CHANGELOG.md, step 8).
    let credentials: Api<Secret> = Api::namespaced(client.clone(), "iot-product-operator-system");
    eventually("the 0.1.0 finalizer off the credentials Secret", DEADLINE, || async {
        let secret = credentials.get("iot-platform-credentials").await.map_err(|e| e.to_string())?;
        if secret.finalizers().is_empty() { Ok(()) } else { Err(format!("{:?}", secret.finalizers())) }
    })
    .await;
}
