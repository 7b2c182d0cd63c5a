//! One namespace cannot take another's share of an account: a noisy namespace keeps the
//! account's read quota saturated (hundreds of products resyncing every second) while a quiet
//! namespace creates 50 products; the quiet namespace's products are Ready within about its
//! fair share of time, measured against the same 50 products created with no noise.

mod common;

use std::time::{Duration, Instant};

use common::{ACCESS_KEY_ID, ACCESS_KEY_SECRET, OperatorProcess, TestEmulator, control_plane, eventually};
use iot_product_operator::crd::IotProduct;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

const NOISY_PRODUCTS: usize = 400;
const QUIET_PRODUCTS: usize = 50;

fn product(name: &str, account: &str, product_name: &str, resync: Option<&str>) -> IotProduct {
    let annotations = resync.map(|r| json!({"iot.productoperator.dev/resync-interval": r}));
    serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
        "metadata": {"name": name, "annotations": annotations.unwrap_or(json!({}))},
        "spec": {"accountRef": {"name": account}, "productName": product_name, "published": true}
    }))
    .unwrap()
}

/// Creates `count` products in `namespace` and returns how long until all are Ready.
async fn create_and_wait(
    client: &Client,
    namespace: &str,
    account: &str,
    count: usize,
    resync: Option<&str>,
) -> Duration {
    let api: Api<IotProduct> = Api::namespaced(client.clone(), namespace);
    let tag = namespace.replace('-', "_");
    let start = Instant::now();
    for i in 0..count {
        let name = format!("p{i:04}");
        let product_name = format!("F_{}_{i:04}", &tag[tag.len() - 8..]);
        api.create(&PostParams::default(), &product(&name, account, &product_name, resync)).await.unwrap();
    }
    eventually(&format!("{count} products of {namespace} to be Ready"), Duration::from_secs(300), || async {
        let list = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let ready = list
            .items
            .iter()
            .filter(|p| {
                p.status.as_ref().is_some_and(|s| {
                    s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        && s.observed_generation == p.metadata.generation
                })
            })
            .count();
        if ready == count { Ok(()) } else { Err(format!("{ready} of {count} Ready")) }
    })
    .await;
    start.elapsed()
}

#[tokio::test]
async fn a_quiet_namespace_gets_its_share_of_an_account_a_noisy_one_saturates() {
    let plane = control_plane();
    let client = plane.admin_client().await;
    let ops = common::test_namespace(&client, "fair-ops").await;
    let alone = common::test_namespace(&client, "quiet-alone").await;
    let noisy = common::test_namespace(&client, "noisy").await;
    let beside = common::test_namespace(&client, "quiet-beside").await;
    let emulator = TestEmulator::start().await;
    let account = format!("fair-{ops}");
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "platform-credentials", "namespace": ops},
        "stringData": {"AccessKeyId": ACCESS_KEY_ID, "AccessKeySecret": ACCESS_KEY_SECRET}
    }))
    .unwrap();
    Api::namespaced(client.clone(), &ops).create(&PostParams::default(), &secret).await.unwrap();
    let account_object: iot_product_operator::crd::PlatformAccount = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
        "metadata": {"name": account, "labels": {"test": ops}},
        "spec": {"region": "cn-shanghai", "endpoint": emulator.url,
                 "credentials": {"secretRef": {"name": "platform-credentials"}},
                 "allowedNamespaces": {"names": [alone, noisy, beside]}}
    }))
    .unwrap();
    Api::all(client.clone()).create(&PostParams::default(), &account_object).await.unwrap();
    // The operator lets the noisy namespace resync every second (the floor is what prevents
    // that in production; this test measures the fairness behind it).
    let scopes = [alone.as_str(), noisy.as_str(), beside.as_str()];
    let mut extra = vec!["--resync-interval", "10m", "--log-level", "warn"];
    for scope in &scopes {
        extra.extend(["--namespace", scope]);
    }
    let operator = OperatorProcess::start(plane, &ops, &extra);

    let quiet_alone = create_and_wait(&client, &alone, &account, QUIET_PRODUCTS, None).await;
    create_and_wait(&client, &noisy, &account, NOISY_PRODUCTS, Some("1s")).await;
    // The noise: every noisy product reads the platform every second, far beyond the read quota.
    let reads = || emulator.emulator.stats().calls.get("QueryProduct").map_or(0, |c| c.values().sum::<u64>());
    let before = reads();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let read_rate = (reads() - before) as f64 / 3.0;
    assert!(read_rate > 30.0, "the noisy namespace does not saturate the read quota ({read_rate:.0}/s)");
    let quiet_beside = create_and_wait(&client, &beside, &account, QUIET_PRODUCTS, None).await;
    eprintln!(
        "fairness: {QUIET_PRODUCTS} quiet products Ready in {:.1} s alone and {:.1} s beside {NOISY_PRODUCTS} noisy \
         products resyncing every second ({read_rate:.0} QueryProduct/s while noisy)",
        quiet_alone.as_secs_f64(),
        quiet_beside.as_secs_f64()
    );
    // Two namespaces share the account: the quiet one's fair share is at least half of it,
    // so it takes at most about twice as long (plus a turn of the noisy queue). Served in
    // arrival order instead, it waits behind the whole noisy backlog on every step (measured
    // with the tenants' queues merged into one: 1.2 s alone, 14.0 s beside 400 noisy products;
    // fair: 1.3 s and 2.4 s).
    let bound = quiet_alone * 2 + Duration::from_secs(3);
    assert!(
        quiet_beside <= bound,
        "the quiet namespace took {quiet_beside:?} beside the noisy one ({quiet_alone:?} alone); bound {bound:?}; \
         operator log: {}",
        common::tail(&operator.logs())
    );
}
