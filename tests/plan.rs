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
use iot_platform::wire::Tag;
use iot_product_operator::crd::IotProduct;
use iot_product_operator::plan::read_only::is_read;
use iot_product_operator::product::desired::DesiredProduct;
use serde_json::{Value, json};

fn account(url: &str) -> Value {
    json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
           "metadata": {"name": "default"},
           "spec": {"region": "cn-shanghai", "endpoint": url,
                    "credentials": {"secretRef": {"name": "iot-platform-credentials"}},
                    "allowedNamespaces": {"names": ["default"]}}})
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
    let text: Vec<String> = documents.iter().map(|d| serde_yaml::to_string(d).unwrap()).collect();
    std::fs::write(dir.join("manifests.yaml"), text.join("---\n")).unwrap();
}

/// Runs `plan` on `dir`; returns (exit code, stdout with product keys replaced by names).
async fn plan(emulator: &TestEmulator, dir: &Path, extra: &[&str]) -> (i32, String) {
    // Asynchronously: the emulator serves from this test's runtime meanwhile.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_iot-product-operator"))
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

/// Makes the platform match `manifest` the way the operator would (create, tag, import and
/// publish the thing model, publish the product).
async fn apply_for_real(platform: &dyn IotPlatform, manifest: &Value) -> String {
    let product: IotProduct = serde_json::from_value(manifest.clone()).unwrap();
    let desired = DesiredProduct::from_resource(&product).unwrap();
    let created = platform.call(&desired.create_request(None)).await.unwrap();
    let key = created.data.unwrap().product_key;
    let tags = desired.tags.iter().map(|(k, v)| Tag { tag_key: k.clone(), tag_value: v.clone() }).collect();
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
    assert_eq!(code, 2);

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
    write(dir.path(), &[account.clone(), adopt]);
    let (code, text) = plan(&emulator, dir.path(), &[]).await;
    golden("adopt", &text);
    assert_eq!(code, 2);

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

    // Every write the emulator saw was the test's own.
    let after: Vec<(String, u64)> = writes(&emulator);
    let own: u64 = applied.iter().map(|(_, n)| n).sum::<u64>() + 1;
    assert_eq!(
        after.iter().map(|(_, n)| n).sum::<u64>(),
        own,
        "plan wrote: {after:?} (the test wrote {applied:?} + 1)"
    );
}
