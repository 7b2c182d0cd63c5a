//! Devices are the stakes (issue 28): against the real API server, the emulator (with devices
//! registered and activated as real devices connecting would) and the operator binary, each
//! action that would reach activated devices — revoking publication, changing the thing
//! model, deleting the product — waits for a person's approval of the current generation;
//! the approval lets it run exactly once, a stale one does not; a product without devices is
//! not slowed down.

mod common;

use std::time::Duration;

use common::{
    ACCOUNT_UID, DEADLINE, Env, apply, condition, env, events, eventually, patch_spec, tail, wait_condition,
};
use iot_product_operator::crd::IotProduct;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

const MODEL_A: &str = r#"{"properties":[{"identifier":"Power","name":"Power","accessMode":"rw","dataType":{"type":"bool","specs":{"0":"off","1":"on"}}}]}"#;
const MODEL_B: &str = r#"{"properties":[{"identifier":"Power","name":"Power","accessMode":"rw","dataType":{"type":"bool","specs":{"0":"off","1":"on"}}},
    {"identifier":"Brightness","name":"Brightness","accessMode":"rw","dataType":{"type":"int","specs":{"min":"0","max":"100"}}}]}"#;

fn calls(env: &Env, action: &str) -> u64 {
    env.emulator.emulator.stats().calls.get(action).map_or(0, |c| c.values().sum())
}

async fn approve(env: &Env, name: &str, generation: &str) {
    env.products
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"iot.productoperator.dev/approve-impact": generation}}}),
            ),
        )
        .await
        .unwrap();
}

fn key_of(product: &IotProduct) -> String {
    product.status.as_ref().and_then(|s| s.product_key.clone()).unwrap()
}

/// For `window`, `check` must keep holding (the operator was given a reason to act and must not).
async fn stays(what: &str, window: Duration, check: impl Fn() -> bool) {
    let until = tokio::time::Instant::now() + window;
    while tokio::time::Instant::now() < until {
        assert!(check(), "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn revoking_a_product_with_activated_devices_waits_for_approval_of_that_generation() {
    let env = env("impact-revoke").await;
    apply(
        &env,
        "lamp",
        json!({"productName": "Fleet_01", "edition": "Pro", "published": true,
               "publishedChangePolicy": "RevokeAndRepublish", "thingModel": {"tsl": MODEL_A}}),
    )
    .await;
    let key = key_of(&wait_condition(&env, "lamp", "Ready", "True", None).await);
    env.emulator.emulator.set_devices(ACCOUNT_UID, &key, 10, 3, 1).unwrap();
    patch_spec(&env, "lamp", json!({"thingModel": {"tsl": MODEL_B}})).await;

    let product = wait_condition(&env, "lamp", "Synced", "False", Some("ImpactNeedsApproval")).await;
    let generation = product.metadata.generation.unwrap();
    let (_, _, message) = condition(&product, "Synced").unwrap();
    assert!(
        message.contains("revoking publication would affect 3 activated devices (1 online)"),
        "{message}"
    );
    assert!(
        message.contains(&format!("iot.productoperator.dev/approve-impact: \"{generation}\"")),
        "{message}"
    );
    assert_eq!(condition(&product, "Ready").unwrap().0, "False");
    assert_eq!(condition(&product, "Stalled").unwrap().0, "True", "a person must act");
    let devices = product.status.as_ref().unwrap().devices.clone().unwrap();
    assert_eq!((devices.total, devices.activated, devices.online), (10, 3, 1));
    assert!(events(&env, "lamp").await.iter().any(|(r, _)| r == "ImpactNeedsApproval"));
    assert_eq!(calls(&env, "CancelReleaseProduct"), 0);
    assert!(env.emulator.products()[0].released, "still published");

    // An approval of an older generation approves nothing.
    approve(&env, "lamp", &(generation - 1).to_string()).await;
    stays("a stale approval revokes nothing", Duration::from_secs(3), || {
        calls(&env, "CancelReleaseProduct") == 0
    })
    .await;

    // The approval of this generation lets the change run, once.
    approve(&env, "lamp", &generation.to_string()).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    assert_eq!(calls(&env, "CancelReleaseProduct"), 1, "revoked exactly once");
    assert!(env.emulator.products()[0].released, "published again");
}

#[tokio::test]
async fn deleting_a_product_with_devices_waits_for_approval() {
    let env = env("impact-delete").await;
    apply(&env, "lamp", json!({"productName": "Fleet_02"})).await;
    let key = key_of(&wait_condition(&env, "lamp", "Ready", "True", None).await);
    env.emulator.emulator.set_devices(ACCOUNT_UID, &key, 2, 0, 0).unwrap();
    env.products.delete("lamp", &DeleteParams::default()).await.unwrap();

    let product = wait_condition(&env, "lamp", "Ready", "False", Some("DeleteNeedsApproval")).await;
    let (_, _, message) = condition(&product, "Ready").unwrap();
    assert!(
        message.contains("for 2 devices") && message.contains("spec.deletionPolicy: Orphan"),
        "{message}"
    );
    assert_eq!(calls(&env, "DeleteProduct"), 0, "nothing called on the platform");
    assert_eq!(env.emulator.products().len(), 1);
    assert!(events(&env, "lamp").await.iter().any(|(r, _)| r == "DeleteNeedsApproval"));

    let generation = product.metadata.generation.unwrap();
    approve(&env, "lamp", &generation.to_string()).await;
    eventually("the resource gone", DEADLINE, || async {
        match env.products.get_opt("lamp").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(p) => Err(format!("{:?}; {}", p.status.map(|s| s.conditions), tail(&env.operator.logs()))),
        }
    })
    .await;
    assert!(env.emulator.products().is_empty(), "deleted after approval");
    assert_eq!(calls(&env, "DeleteProduct"), 1);
}

#[tokio::test]
async fn a_product_without_devices_is_not_slowed_down() {
    let env = env("impact-none").await;
    apply(
        &env,
        "lamp",
        json!({"productName": "Fleet_03", "edition": "Pro", "published": true,
               "publishedChangePolicy": "RevokeAndRepublish", "thingModel": {"tsl": MODEL_A}}),
    )
    .await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    patch_spec(&env, "lamp", json!({"thingModel": {"tsl": MODEL_B}})).await;
    let product = wait_condition(&env, "lamp", "Ready", "True", None).await;
    assert_eq!(calls(&env, "CancelReleaseProduct"), 1, "revoke-apply-republish without approval");
    assert_eq!(calls(&env, "QueryDeviceStatistics"), 0, "no device: QueryProduct's DeviceCount was enough");
    assert_eq!(product.status.unwrap().devices.unwrap().total, 0);
}

#[tokio::test]
async fn plan_shows_the_held_back_call_with_its_devices_and_exits_blocked() {
    let emulator = common::TestEmulator::start().await;
    let created = emulator
        .emulator
        .console(ACCOUNT_UID, "CreateProduct", &[("ProductName", "Fleet_Plan"), ("NodeType", "0")])
        .unwrap();
    let key = created["ProductKey"]
        .as_str()
        .or_else(|| created["Data"]["ProductKey"].as_str())
        .unwrap()
        .to_string();
    emulator.emulator.console(ACCOUNT_UID, "ReleaseProduct", &[("ProductKey", &key)]).unwrap();
    emulator.emulator.set_devices(ACCOUNT_UID, &key, 100, 12, 5).unwrap();
    let account = json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
        "metadata": {"name": "default"},
        "spec": {"region": "cn-shanghai", "endpoint": emulator.url,
                 "credentials": {"secretRef": {"name": "iot-platform-credentials"}},
                 "allowedNamespaces": {"names": ["default"]}, "takeOver": {"allowedNamespaces": {"names": ["default"]}}}});
    let product = json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
        "metadata": {"name": "fleet", "namespace": "default"},
        "spec": {"productName": "Fleet_Plan", "productKey": key, "edition": "Basic", "published": false}});
    let dir = tempfile::tempdir().unwrap();
    let text: Vec<String> = [account, product].iter().map(|d| serde_norway::to_string(d).unwrap()).collect();
    std::fs::write(dir.path().join("manifests.yaml"), text.join("---\n")).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_iot-product-operator"))
        .args(["plan", "-f"])
        .arg(dir.path())
        .args(["--allow-endpoint", "http://127.0.0.1:*"])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", common::ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", common::ACCESS_KEY_SECRET)
        .env("IOTOP_LOG_LEVEL", "error")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "~ CancelReleaseProduct: revoking publication would affect 12 activated devices (5 online) — needs approval"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("! blocked (ImpactNeedsApproval)"), "{stdout}");
    assert!(
        stdout.contains("0 platform calls"),
        "the held-back call is not counted as one to make: {stdout}"
    );
    assert_eq!(output.status.code(), Some(1), "blocked: {stdout}");
}
