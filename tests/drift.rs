//! Drift you can see (issue 30): a change made in the console behind the operator's back is
//! put back at the next resync and reported field by field — one `DriftCorrected` Event,
//! `status.lastDrift` — in the words `plan` uses; an observe-only resource reports the same as
//! `Drifted` without correcting; a product nobody touched produces no such Event.

mod common;

use common::{ACCOUNT_UID, DEADLINE, Env, apply, env, events, eventually, wait_condition};
use serde_json::json;

fn key_of(product: &iot_product_operator::crd::IotProduct) -> String {
    product.status.as_ref().and_then(|s| s.product_key.clone()).unwrap()
}

fn console(env: &Env, action: &str, params: &[(&str, &str)]) {
    env.emulator.emulator.console(ACCOUNT_UID, action, params).unwrap_or_else(|e| panic!("{action}: {e:?}"));
}

fn reads(env: &Env) -> u64 {
    env.emulator.emulator.stats().calls.get("QueryProduct").map_or(0, |c| c.values().sum())
}

async fn drift_event(env: &Env, name: &str, reason: &str) -> String {
    eventually(&format!("a {reason} Event for {name}"), DEADLINE, || async {
        let all = events(env, name).await;
        all.iter()
            .find(|(r, _)| r == reason)
            .map(|(_, message)| message.clone())
            .ok_or_else(|| format!("{all:?}"))
    })
    .await
}

#[tokio::test]
async fn a_console_change_is_put_back_and_told_field_by_field() {
    let env = env("drift").await;
    apply(
        &env,
        "lamp",
        json!({"productName": "Drift_01", "description": "from Git", "published": true,
               "tags": {"team": "a", "site": "b"}}),
    )
    .await;
    let key = key_of(&wait_condition(&env, "lamp", "Ready", "True", None).await);

    // Resyncs of an untouched product say nothing.
    let before = reads(&env);
    eventually("two resyncs", DEADLINE, || async {
        if reads(&env) >= before + 2 { Ok(()) } else { Err(format!("{} reads", reads(&env) - before)) }
    })
    .await;
    assert!(!events(&env, "lamp").await.iter().any(|(r, _)| r == "DriftCorrected"), "no drift, no Event");

    // Someone revokes and edits the product in the console.
    console(&env, "CancelReleaseProduct", &[("ProductKey", &key)]);
    console(
        &env,
        "UpdateProduct",
        &[("ProductKey", &key), ("ProductName", "Drift_01"), ("Description", "edited in console")],
    );
    console(
        &env,
        "UpdateProductTags",
        &[("ProductKey", &key), ("ProductTag.1.TagKey", "team"), ("ProductTag.1.TagValue", "oob")],
    );
    console(&env, "DeleteProductTags", &[("ProductKey", &key), ("ProductTagKey.1", "site")]);

    // The operator may resync between two of the person's edits: each correction is told.
    let expected = [
        r#"description: "edited in console" → "from Git""#,
        "added site=b",
        "changed team oob → a",
        "published: false → true",
    ];
    let told = eventually("every edit told in DriftCorrected Events", DEADLINE, || async {
        let told: Vec<String> = events(&env, "lamp")
            .await
            .into_iter()
            .filter(|(r, _)| r == "DriftCorrected")
            .map(|(_, m)| m)
            .collect();
        let all = told.join(" | ");
        if expected.iter().all(|words| all.contains(words)) { Ok(all) } else { Err(all) }
    })
    .await;
    assert!(told.contains("Put back what was changed on the platform"), "{told}");
    // The Event goes out before the status is written.
    let drift = eventually("status.lastDrift", DEADLINE, || async {
        let status = env.products.get("lamp").await.map_err(|e| e.to_string())?.status.unwrap_or_default();
        status.last_drift.filter(|d| !d.fields.is_empty()).ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert!(drift.corrected);
    assert!(
        drift.fields.iter().all(|f| expected.iter().any(|words| f.contains(words))),
        "only what was changed: {:?}",
        drift.fields
    );
    let product = env.emulator.products().into_iter().find(|p| p.product_key == key).unwrap();
    assert!(product.released && product.description.as_deref() == Some("from Git"), "put back");
}

#[tokio::test]
async fn an_observe_only_resource_reports_drift_without_correcting_it() {
    let env = env("drift-observe").await;
    console(
        &env,
        "CreateProduct",
        &[("ProductName", "Observed_01"), ("NodeType", "0"), ("Description", "as made")],
    );
    let key = env.emulator.products()[0].product_key.clone();
    apply(
        &env,
        "watched",
        json!({"productName": "Observed_01", "description": "as made", "productKey": key,
               "managementPolicy": "ObserveOnly", "edition": "Basic"}),
    )
    .await;
    wait_condition(&env, "watched", "Ready", "True", None).await;
    // Settled: a resync or two found it in sync before the person edits it.
    let before = reads(&env);
    eventually("two resyncs", DEADLINE, || async {
        if reads(&env) >= before + 2 { Ok(()) } else { Err(format!("{} reads", reads(&env) - before)) }
    })
    .await;
    console(
        &env,
        "UpdateProduct",
        &[("ProductKey", &key), ("ProductName", "Observed_01"), ("Description", "changed")],
    );
    let message = drift_event(&env, "watched", "Drifted").await;
    assert!(message.contains(r#"description: "changed" → "as made""#), "{message}");
    let product = env.emulator.products().into_iter().find(|p| p.product_key == key).unwrap();
    assert_eq!(product.description.as_deref(), Some("changed"), "observe-only: not corrected");
    // The Event goes out before the status is written.
    eventually("status.lastDrift", DEADLINE, || async {
        let status = env.products.get("watched").await.map_err(|e| e.to_string())?.status.unwrap_or_default();
        match status.last_drift.map(|d| d.corrected) {
            Some(false) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}
