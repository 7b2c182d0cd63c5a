//! The operator end to end: a real kube-apiserver, the emulator, and the operator binary,
//! all started by the test. One test per path of the product's life.

mod common;

use std::time::Duration;

use common::{
    DEADLINE, Env, OperatorProcess, account_name, apply, condition, control_plane, env, events, eventually,
    in_process_context, patch_spec, secret_data, tail, wait_condition,
};
use iot_platform::model::{CreateProduct, CreateProductTags, DeleteProduct, ListProductTags};
use iot_platform::wire::Tag;
use iot_platform_emulator::faults::Faults;
use iot_product_operator::crd::PlatformAccount;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

/// Every version of the object `name` that `api` stores from now on (the watch starts at the
/// list's resourceVersion, so no write after this call is missed).
async fn versions_of<K>(api: Api<K>, name: &str) -> std::sync::Arc<std::sync::Mutex<Vec<String>>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    use futures::StreamExt as _;
    use kube::api::{ListParams, WatchEvent, WatchParams};
    let fields = format!("metadata.name={name}");
    let listed = api.list(&ListParams::default().fields(&fields)).await.unwrap();
    let from = listed.metadata.resource_version.unwrap_or_default();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let mut stream = api.watch(&WatchParams::default().fields(&fields), &from).await.unwrap().boxed();
    tokio::spawn(async move {
        while let Some(Ok(event)) = stream.next().await {
            if let WatchEvent::Added(object) | WatchEvent::Modified(object) = event {
                record.lock().unwrap().push(object.resource_version().unwrap_or_default());
            }
        }
    });
    seen
}

#[tokio::test]
async fn a_new_product_becomes_ready_with_its_credentials_in_a_secret() {
    let env = env("create").await;
    let product_versions = versions_of(env.products.clone(), "lamp").await;
    let secret_versions =
        versions_of(Api::<Secret>::namespaced(env.client.clone(), &env.ns), "lamp-credentials").await;
    apply(&env, "lamp", json!({"productName": "Lamp_Create", "nodeType": "Gateway", "published": true}))
        .await;
    let product = wait_condition(&env, "lamp", "Ready", "True", Some("Available")).await;
    // Five Kubernetes writes in all: the create, the patch with the finalizer and the create
    // intent, the status, the Secret and one Event (checked below).
    eventually("the product's writes seen by the watch", DEADLINE, || async {
        let seen = product_versions.lock().unwrap().clone();
        if seen.last() == product.resource_version().as_ref() { Ok(()) } else { Err(format!("{seen:?}")) }
    })
    .await;
    assert_eq!(product_versions.lock().unwrap().len(), 3, "create, finalizer + intent, status");
    assert_eq!(secret_versions.lock().unwrap().len(), 1, "the Secret written once");
    let status = product.status.unwrap();
    let platform = env.emulator.products();
    assert_eq!(platform.len(), 1);
    assert_eq!(status.product_key.as_deref(), Some(platform[0].product_key.as_str()));
    assert_eq!((platform[0].node_type, platform[0].released), (1, true));
    assert_eq!(status.published, Some(true));
    let data = secret_data(&env, "lamp-credentials").await;
    assert_eq!(data["ProductKey"], platform[0].product_key);
    assert_eq!(data["ProductSecret"], platform[0].product_secret.expose());
    assert_eq!(data["RegionId"], "cn-shanghai");
    assert_eq!(data["IotInstanceId"], "iotx-oxssharez200");
    assert!(data["MqttEndpoint"].ends_with(".iot-as-mqtt.cn-shanghai.aliyuncs.com"));
    // One reconcile, one Event naming everything it wrote.
    let said = events(&env, "lamp").await;
    assert_eq!(said.len(), 1, "{said:?}");
    let (reason, note) = &said[0];
    assert_eq!(reason, "Created", "{note}");
    assert!(
        note.starts_with("Created product Lamp_Create")
            && note.contains("; published product")
            && note.ends_with("; wrote the product's credentials to Secret lamp-credentials"),
        "{note}"
    );
    // The ProductSecret never appears in status.
    assert!(!serde_json::to_string(&status).unwrap().contains(platform[0].product_secret.expose()));
}

#[tokio::test]
async fn an_existing_product_is_adopted_by_its_key_without_creating_another() {
    let env = env("adopt").await;
    let created = env
        .emulator
        .client()
        .call(&CreateProduct { product_name: "Existing_01".into(), node_type: 0, ..CreateProduct::default() })
        .await
        .unwrap();
    let key = created.product_key.unwrap();
    apply(&env, "existing", json!({"productName": "Existing_01", "edition": "Basic", "productKey": key}))
        .await;
    let product = wait_condition(&env, "existing", "Ready", "True", None).await;
    assert_eq!(product.status.unwrap().product_key.as_deref(), Some(key.as_str()));
    assert_eq!(env.emulator.products().len(), 1);
    assert!(events(&env, "existing").await.iter().any(|(r, _)| r == "Adopted"));
}

#[tokio::test]
async fn a_name_taken_by_a_product_this_resource_did_not_create_is_a_conflict_not_a_takeover() {
    let env = env("conflict").await;
    env.emulator
        .client()
        .call(&CreateProduct { product_name: "Taken_01".into(), node_type: 0, ..CreateProduct::default() })
        .await
        .unwrap();
    apply(&env, "taken", json!({"productName": "Taken_01", "edition": "Basic"})).await;
    let product = wait_condition(&env, "taken", "Ready", "False", Some("NameConflict")).await;
    let (_, _, message) = condition(&product, "Synced").unwrap();
    assert!(message.contains("spec.productKey"), "{message}");
    assert_eq!(env.emulator.products().len(), 1);
    assert_eq!(product.status.unwrap().product_key, None);
}

#[tokio::test]
async fn name_and_description_changes_are_applied() {
    let env = env("update").await;
    apply(&env, "lamp", json!({"productName": "Lamp_Before", "description": "one"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    patch_spec(&env, "lamp", json!({"productName": "Lamp_After", "description": "two"})).await;
    wait_condition(&env, "lamp", "Synced", "True", None).await;
    let platform = env.emulator.products();
    assert_eq!(
        (platform[0].product_name.as_str(), platform[0].description.as_deref()),
        ("Lamp_After", Some("two"))
    );
}

#[tokio::test]
async fn tags_follow_the_spec_and_foreign_tags_are_left_alone() {
    let env = env("tags").await;
    apply(&env, "lamp", json!({"productName": "Lamp_Tags", "tags": {"team": "lighting", "stage": "dev"}}))
        .await;
    let product = wait_condition(&env, "lamp", "Ready", "True", None).await;
    let key = product.status.unwrap().product_key.unwrap();
    let platform = env.emulator.client();
    platform
        .call(&CreateProductTags {
            product_key: key.clone(),
            product_tag: vec![Tag { tag_key: "owner".into(), tag_value: "ops".into() }],
            ..Default::default()
        })
        .await
        .unwrap();
    patch_spec(&env, "lamp", json!({"tags": {"team": "lighting", "stage": null, "tier": "gold"}})).await;
    eventually("tags updated", DEADLINE, || async {
        let tags: Vec<(String, String)> = platform
            .call(&ListProductTags { product_key: key.clone(), ..Default::default() })
            .await
            .map_err(|e| e.to_string())?
            .data
            .unwrap_or_default()
            .product_tag
            .into_iter()
            .map(|t| (t.tag_key, t.tag_value))
            .filter(|(k, _): &(String, String)| !k.starts_with("iotop."))
            .collect();
        let want = vec![
            ("owner".into(), "ops".into()),
            ("team".into(), "lighting".into()),
            ("tier".into(), "gold".into()),
        ];
        if tags == want { Ok(()) } else { Err(format!("{tags:?}")) }
    })
    .await;
}

const TSL_V1: &str = r#"{"properties":[{"identifier":"Power","name":"Power","accessMode":"rw","dataType":{"type":"bool","specs":{"0":"off","1":"on"}}}]}"#;
const TSL_V2: &str = r#"{"properties":[{"identifier":"Power","name":"Power","accessMode":"rw","dataType":{"type":"bool","specs":{"0":"off","1":"on"}}},
    {"identifier":"Brightness","name":"Brightness","accessMode":"rw","dataType":{"type":"int","specs":{"min":"0","max":"100"}}}]}"#;

#[tokio::test]
async fn the_thing_model_is_imported_and_published_and_follows_changes() {
    let env = env("tsl").await;
    apply(
        &env,
        "lamp",
        json!({"productName": "Lamp_Tsl", "thingModel": {"tsl": TSL_V1, "versionDescription": "first"}}),
    )
    .await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    let p = &env.emulator.products()[0];
    assert_eq!(p.versions.len(), 1);
    assert!(p.tsl_draft.to_string().contains("Power"));
    patch_spec(&env, "lamp", json!({"thingModel": {"tsl": TSL_V2}})).await;
    wait_condition(&env, "lamp", "Synced", "True", None).await;
    let p = &env.emulator.products()[0];
    assert_eq!(p.versions.len(), 2);
    assert!(p.versions[0].tsl.to_string().contains("Brightness"));
}

#[tokio::test]
async fn a_thing_model_written_as_yaml_is_imported_and_its_changes_are_told_in_words() {
    let env = env("tsl-yaml").await;
    let power = json!({"identifier": "Power", "name": "Power",
                       "dataType": {"type": "bool", "values": [{"value": 0, "name": "off"}, {"value": 1, "name": "on"}]}});
    apply(&env, "lamp", json!({"productName": "Lamp_Yaml", "thingModel": {"properties": [power]}})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    let draft = env.emulator.products()[0].tsl_draft.to_string();
    assert!(draft.contains(r#""specs":{"0":"off","1":"on"}"#), "{draft}");
    // The same model as a JSON document: nothing to do.
    let imports = || {
        env.emulator.emulator.stats().calls.get("ImportThingModelTsl").map_or(0, |c| c.values().sum::<u64>())
    };
    let before = imports();
    patch_spec(&env, "lamp", json!({"thingModel": {"properties": null, "tsl": TSL_V1}})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    assert_eq!(imports(), before, "an equivalent JSON model is not imported again");
    // Power becomes an enum, Brightness is added.
    patch_spec(&env, "lamp", json!({"thingModel": {"tsl": null, "properties": [
        {"identifier": "Power", "name": "Power",
         "dataType": {"type": "enum", "values": [{"value": 0, "name": "off"}, {"value": 1, "name": "on"}, {"value": 2, "name": "auto"}]}},
        {"identifier": "Brightness", "name": "Brightness", "dataType": {"type": "int", "min": 0, "max": 100, "step": 1}}]}}))
    .await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    let said = eventually("the import Event", DEADLINE, || async {
        let events = events(&env, "lamp").await;
        events
            .into_iter()
            .map(|(_, note)| note)
            .filter(|note| note.to_lowercase().contains("imported the thing model"))
            .find(|note| note.contains("Brightness"))
            .ok_or_else(|| "no Event yet".to_string())
    })
    .await;
    assert!(
        said.contains("added property Brightness") && said.contains("changed Power from bool to enum"),
        "{said}"
    );
}

#[tokio::test]
async fn a_stale_copy_of_a_product_does_not_publish_its_thing_model_again() {
    // Found by CI: a reconcile from a cached copy older than the status that recorded the publish
    // saw the imported draft, no published model in status, and published a second version.
    let env = env("tsl-stale").await;
    apply(
        &env,
        "lamp",
        json!({"productName": "Lamp_Stale", "thingModel": {"tsl": TSL_V1, "versionDescription": "first"}}),
    )
    .await;
    let product = wait_condition(&env, "lamp", "Ready", "True", None).await;
    assert_eq!(env.emulator.products()[0].versions.len(), 1);
    let mut stale = product;
    stale.status.as_mut().unwrap().thing_model = None;
    let ctx = in_process_context(&env).await;
    iot_product_operator::product::reconcile(std::sync::Arc::new(stale), ctx)
        .await
        .expect("the reconcile of a stale copy succeeds");
    assert_eq!(env.emulator.products()[0].versions.len(), 1, "no second version published");
    let status = env.products.get("lamp").await.unwrap().status.unwrap();
    assert!(status.thing_model.is_some(), "the published model is recorded again: {status:?}");
}

#[tokio::test]
async fn publication_follows_the_spec_both_ways() {
    let env = env("publish").await;
    apply(&env, "lamp", json!({"productName": "Lamp_Publish"})).await;
    wait_condition(&env, "lamp", "Published", "False", Some("Developing")).await;
    patch_spec(&env, "lamp", json!({"published": true})).await;
    wait_condition(&env, "lamp", "Published", "True", Some("Published")).await;
    assert!(env.emulator.products()[0].released);
    patch_spec(&env, "lamp", json!({"published": false})).await;
    wait_condition(&env, "lamp", "Published", "False", Some("Developing")).await;
    assert!(!env.emulator.products()[0].released);
    assert!(events(&env, "lamp").await.iter().any(|(r, _)| r == "PublicationRevoked"));
}

#[tokio::test]
async fn change_to_published_product_is_blocked_then_applied_when_the_policy_allows() {
    let env = env("locked").await;
    apply(&env, "lamp", json!({"productName": "Lamp_Locked", "published": true})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    patch_spec(&env, "lamp", json!({"productName": "Lamp_Renamed"})).await;
    let product = wait_condition(&env, "lamp", "Synced", "False", Some("PublishedLocked")).await;
    let (_, _, message) = condition(&product, "Synced").unwrap();
    assert!(
        message.contains("spec.productName")
            && message.contains("spec.published: false")
            && message.contains("RevokeAndRepublish"),
        "{message}"
    );
    let ready = condition(&product, "Ready").unwrap();
    assert_eq!(
        (ready.0.as_str(), ready.1.as_str()),
        ("False", "PublishedLocked"),
        "not Ready: the spec is not applied"
    );
    assert_eq!(condition(&product, "Available").unwrap().0, "True", "the product itself is still available");
    assert_eq!(condition(&product, "Stalled").unwrap().1, "PublishedLocked");
    assert_eq!(env.emulator.products()[0].product_name, "Lamp_Locked");
    assert!(events(&env, "lamp").await.iter().any(|(r, _)| r == "PublishedLocked"));

    patch_spec(&env, "lamp", json!({"publishedChangePolicy": "RevokeAndRepublish"})).await;
    wait_condition(&env, "lamp", "Synced", "True", None).await;
    let p = &env.emulator.products()[0];
    assert_eq!((p.product_name.as_str(), p.released), ("Lamp_Renamed", true));
    let events = events(&env, "lamp").await;
    let revoked = events.iter().find(|(r, _)| r == "PublicationRevoked").expect("revocation announced");
    assert!(revoked.1.contains("RevokeAndRepublish"), "{revoked:?}");
}

async fn delete_and_wait(env: &Env, name: &str) {
    env.products.delete(name, &DeleteParams::default()).await.unwrap();
    eventually(&format!("{name} deleted"), DEADLINE, || async {
        match env.products.get_opt(name).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(p) => Err(format!(
                "still there: {:?}; {}",
                p.status.map(|s| s.conditions),
                tail(&env.operator.logs())
            )),
        }
    })
    .await;
}

#[tokio::test]
async fn deleting_with_the_delete_policy_deletes_the_product_on_the_platform() {
    let env = env("delete").await;
    apply(&env, "lamp", json!({"productName": "Lamp_Delete"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    delete_and_wait(&env, "lamp").await;
    assert!(env.emulator.products().is_empty());
}

#[tokio::test]
async fn deleting_with_the_orphan_policy_leaves_the_product_alone() {
    let env = env("orphan").await;
    apply(&env, "lamp", json!({"productName": "Lamp_Orphan", "deletionPolicy": "Orphan", "published": true}))
        .await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    delete_and_wait(&env, "lamp").await;
    let products = env.emulator.products();
    assert_eq!((products.len(), products[0].released), (1, true));
}

#[tokio::test]
async fn deleting_a_published_product_waits_until_the_policy_allows_revoking() {
    let env = env("delpub").await;
    apply(&env, "lamp", json!({"productName": "Lamp_DelPub", "published": true})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    env.products.delete("lamp", &DeleteParams::default()).await.unwrap();
    let product = wait_condition(&env, "lamp", "Ready", "False", Some("DeleteBlockedByPublication")).await;
    assert!(condition(&product, "Ready").unwrap().2.contains("deletionPolicy: Orphan"));
    assert_eq!(env.emulator.products().len(), 1);
    patch_spec(&env, "lamp", json!({"publishedChangePolicy": "RevokeAndRepublish"})).await;
    eventually("deleted", DEADLINE, || async {
        match env.products.get_opt("lamp").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".to_string()),
        }
    })
    .await;
    assert!(env.emulator.products().is_empty());
}

#[tokio::test]
async fn a_product_deleted_out_of_band_is_recreated_and_its_secret_updated() {
    let env = env("drift").await;
    apply(&env, "lamp", json!({"productName": "Lamp_Drift"})).await;
    let first =
        wait_condition(&env, "lamp", "Ready", "True", None).await.status.unwrap().product_key.unwrap();
    env.emulator
        .client()
        .call(&DeleteProduct { product_key: first.clone(), ..Default::default() })
        .await
        .unwrap();
    let second = eventually("recreated", DEADLINE, || async {
        let p = env.products.get("lamp").await.map_err(|e| e.to_string())?;
        match p.status.and_then(|s| s.product_key) {
            Some(key) if key != first => Ok(key),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let products = env.emulator.products();
    assert_eq!((products.len(), products[0].product_key.as_str()), (1, second.as_str()));
    eventually("secret rewritten", DEADLINE, || async {
        let data = secret_data(&env, "lamp-credentials").await;
        if data["ProductKey"] == second { Ok(()) } else { Err(data["ProductKey"].clone()) }
    })
    .await;
    assert!(events(&env, "lamp").await.iter().any(|(r, _)| r == "Recreated"));
}

#[tokio::test]
async fn a_deleted_secret_is_written_again() {
    let env = env("secret").await;
    apply(&env, "lamp", json!({"productName": "Lamp_Secret", "secretName": "lamp-device-creds"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    let secrets = Api::<Secret>::namespaced(env.client.clone(), &env.ns);
    secrets.delete("lamp-device-creds", &DeleteParams::default()).await.unwrap();
    eventually("secret rewritten", DEADLINE, || async {
        secrets
            .get_opt("lamp-device-creds")
            .await
            .map_err(|e| e.to_string())?
            .ok_or("missing".to_string())
            .map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn broken_credentials_are_reported_by_the_account_and_its_products_and_a_fix_is_picked_up() {
    let env = common::env_with_secret("creds", "wrong-secret").await;
    let client = env.client.clone();
    let ns = env.ns.clone();
    apply(&env, "lamp", json!({"productName": "Lamp_Creds"})).await;
    let accounts: Api<PlatformAccount> = Api::all(client.clone());
    eventually("account not ready", DEADLINE, || async {
        let a = accounts.get(&account_name(&ns)).await.map_err(|e| e.to_string())?;
        let ready = a.status.and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Ready"));
        match ready {
            Some(c) if c.status == "False" && c.message.contains("SignatureDoesNotMatch") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let product = wait_condition(&env, "lamp", "Ready", "False", Some("AccountNotReady")).await;
    assert!(condition(&product, "Synced").unwrap().2.contains("credentials"));
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .patch(
            "platform-credentials",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"AccessKeySecret": common::ACCESS_KEY_SECRET}})),
        )
        .await
        .unwrap();
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    assert_eq!(env.emulator.products().len(), 1);
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_and_an_operator_crash_still_leave_exactly_one_product() {
    let env = env("crash").await;
    // The create is committed but its answer lost; then every lookup fails, so the operator
    // cannot recover before it is killed.
    let mut faults = Faults::default();
    faults.lose_next.insert("CreateProduct".into(), 1);
    faults.fail_next.insert("QueryProductList".into(), 1_000_000);
    env.emulator.emulator.set_faults(faults);
    let mut env = env;
    apply(&env, "lamp", json!({"productName": "Lamp_Crash", "published": true})).await;
    // The product is created on the platform but the operator never hears back.
    eventually("the create committed", DEADLINE, || async {
        if env.emulator.emulator.stats().lost_responses == 1 { Ok(()) } else { Err("not yet".to_string()) }
    })
    .await;
    eventually("the operator tried to recover", DEADLINE, || async {
        if env.emulator.emulator.stats().injected_errors > 0 { Ok(()) } else { Err("not yet".to_string()) }
    })
    .await;
    env.operator.kill();
    let before = env.products.get("lamp").await.unwrap();
    assert!(
        before.annotations().contains_key(iot_product_operator::product::intent::ANNOTATION),
        "the intent was recorded before the create"
    );
    assert!(
        before.finalizers().iter().any(|f| f == iot_product_operator::product::FINALIZER),
        "with the finalizer, in the same patch"
    );
    let status = before.status.unwrap_or_default();
    assert_eq!(status.product_key, None, "the key was never seen");
    env.emulator.emulator.set_faults(Faults::default());
    env.operator = OperatorProcess::start(control_plane(), &env.ns, &[]);
    let product = wait_condition(&env, "lamp", "Ready", "True", None).await;
    let products = env.emulator.products();
    assert_eq!(products.len(), 1, "no duplicate");
    assert_eq!(
        product.status.as_ref().unwrap().product_key.as_deref(),
        Some(products[0].product_key.as_str())
    );
    assert!(products[0].released);
    assert_eq!(product.status.unwrap().pending_create, None);
    assert_eq!(
        env.emulator.emulator.stats().calls["CreateProduct"].values().sum::<u64>(),
        1,
        "CreateProduct was called once"
    );
}

#[tokio::test]
async fn a_request_the_platform_refuses_ends_in_a_condition_with_the_platforms_message() {
    let env = env("refused").await;
    apply(&env, "lamp", json!({"productName": "Lamp_Refused", "instanceId": "iot-cn-doesnotexist"})).await;
    let product = wait_condition(&env, "lamp", "Synced", "False", Some("PlatformRefused")).await;
    let (_, _, message) = condition(&product, "Synced").unwrap();
    assert!(message.contains("iot.system.InstanceNotFound") && message.contains("RequestId"), "{message}");
    assert!(
        events(&env, "lamp")
            .await
            .iter()
            .any(|(r, m)| r == "PlatformRefused" && m.contains("InstanceNotFound"))
    );
    // Not retried in a hot loop: a handful of attempts at most within a few seconds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let attempts: u64 =
        env.emulator.emulator.stats().calls.get("CreateProduct").map_or(0, |c| c.values().sum());
    assert!(attempts <= 3, "CreateProduct attempted {attempts} times");
    let _ = product.name_any();
}
