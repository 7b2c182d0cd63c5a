//! The whole product in Git (issue 29): against the real API server, the emulator and the
//! operator binary, a product's custom topic categories and its data-parsing script are
//! created with it, put back when changed in the console, removed with the spec — topics made
//! by others are left alone — and many topics follow the product and its Secret at the
//! platform's pace of one CreateProductTopic call per second, with the progress in status.

mod common;

use common::{
    ACCOUNT_UID, DEADLINE, Env, apply, condition, env, events, eventually, patch_spec, wait_condition,
};
use iot_product_operator::crd::IotProduct;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::{Value, json};

const SCRIPT_A: &str = "function rawDataToProtocol(bytes) { return {method: 'thing.event.property.post'}; }";
const SCRIPT_B: &str = "function rawDataToProtocol(bytes) { return {}; } // edited in the console";

fn key_of(product: &IotProduct) -> String {
    product.status.as_ref().and_then(|s| s.product_key.clone()).unwrap()
}

fn console(env: &Env, action: &str, params: &[(&str, &str)]) -> Value {
    env.emulator.emulator.console(ACCOUNT_UID, action, params).unwrap_or_else(|e| panic!("{action}: {e:?}"))
}

fn calls(env: &Env, action: &str) -> u64 {
    env.emulator.emulator.stats().calls.get(action).map_or(0, |c| c.values().sum())
}

/// The product's topic categories on the platform: (name, operation code, id), by name.
fn topics_on_platform(env: &Env, key: &str) -> Vec<(String, String, String)> {
    let answer = console(env, "QueryProductTopic", &[("ProductKey", key)]);
    let mut topics: Vec<(String, String, String)> = answer["Data"]["ProductTopicInfo"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let id = match &t["Id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (
                t["TopicShortName"].as_str().unwrap().to_string(),
                t["Operation"].as_str().unwrap().to_string(),
                id,
            )
        })
        .collect();
    topics.sort();
    topics
}

/// The product's script on the platform, downloaded from the URL GetThingScript gives.
async fn script_on_platform(env: &Env, key: &str) -> Option<String> {
    let answer = console(env, "GetThingScript", &[("ProductKey", key)]);
    let url = answer["Data"]["ScriptUrl"].as_str().filter(|u| !u.is_empty())?.to_string();
    // Asked outside HTTP, the emulator answers with a path on its own listener.
    let url =
        if url.starts_with('/') { format!("{}{url}", env.emulator.url.trim_end_matches('/')) } else { url };
    Some(reqwest::get(url).await.unwrap().text().await.unwrap())
}

#[tokio::test]
async fn topics_and_the_parsing_script_are_applied_kept_and_removed_with_the_spec() {
    let env = env("parts").await;
    apply(
        &env,
        "meter",
        json!({"productName": "Meter_01", "dataFormat": "Custom",
               "dataParsing": {"language": "JavaScript", "script": SCRIPT_A},
               "topics": [{"name": "telemetry", "operation": "PUB", "description": "readings"},
                          {"name": "commands/+", "operation": "SUB", "proxySubscribe": true}]}),
    )
    .await;
    let product = wait_condition(&env, "meter", "Ready", "True", None).await;
    let key = key_of(&product);
    let names: Vec<(String, String)> =
        topics_on_platform(&env, &key).into_iter().map(|(n, o, _)| (n, o)).collect();
    assert_eq!(names, [("commands/+".to_string(), "1".to_string()), ("telemetry".into(), "0".into())]);
    assert_eq!(script_on_platform(&env, &key).await.as_deref(), Some(SCRIPT_A));
    let status = product.status.clone().unwrap();
    let topics = status.topics.unwrap();
    assert_eq!((topics.applied, topics.desired), (2, 2));
    assert_eq!(topics.managed, ["commands/+", "telemetry"]);
    assert!(status.data_parsing.is_some());

    // Someone adds a topic, changes one and replaces the script in the console: the change is
    // put back and told; the topic they made is theirs.
    console(
        &env,
        "CreateProductTopic",
        &[("ProductKey", &key), ("TopicShortName", "console_made"), ("Operation", "PUB")],
    );
    let telemetry_id =
        topics_on_platform(&env, &key).into_iter().find(|(n, _, _)| n == "telemetry").unwrap().2;
    console(
        &env,
        "UpdateProductTopic",
        &[
            ("TopicId", &telemetry_id),
            ("TopicShortName", "telemetry"),
            ("Operation", "ALL"),
            ("Desc", "readings"),
        ],
    );
    console(
        &env,
        "UpdateThingScript",
        &[("ProductKey", &key), ("ScriptType", "JavaScript"), ("ScriptContent", SCRIPT_B)],
    );
    let note = eventually("a DriftCorrected Event naming topics and the script", DEADLINE, || async {
        let all = events(&env, "meter").await;
        all.iter()
            .find(|(r, m)| r == "DriftCorrected" && m.contains("topics") && m.contains("dataParsing"))
            .map(|(_, m)| m.clone())
            .ok_or_else(|| format!("{all:?}"))
    })
    .await;
    assert!(note.contains("/user/telemetry (PUB) (operation: ALL → PUB)"), "{note}");
    eventually("the platform back to the spec", DEADLINE, || async {
        let names: Vec<(String, String)> =
            topics_on_platform(&env, &key).into_iter().map(|(n, o, _)| (n, o)).collect();
        let script = script_on_platform(&env, &key).await;
        let want = [
            ("commands/+".to_string(), "1".to_string()),
            ("console_made".into(), "0".into()),
            ("telemetry".into(), "0".into()),
        ];
        if names == want && script.as_deref() == Some(SCRIPT_A) {
            Ok(())
        } else {
            Err(format!("{names:?} {script:?}"))
        }
    })
    .await;

    // A topic removed from the spec is deleted; the console's stays.
    patch_spec(
        &env,
        "meter",
        json!({"topics": [{"name": "telemetry", "operation": "PUB", "description": "readings"}]}),
    )
    .await;
    eventually("commands/+ deleted", DEADLINE, || async {
        let names: Vec<String> = topics_on_platform(&env, &key).into_iter().map(|(n, _, _)| n).collect();
        if names == ["console_made", "telemetry"] { Ok(()) } else { Err(format!("{names:?}")) }
    })
    .await;
    let product = wait_condition(&env, "meter", "Ready", "True", None).await;
    assert_eq!(product.status.unwrap().topics.unwrap().managed, ["telemetry"]);
}

#[tokio::test]
async fn many_topics_follow_the_product_and_its_secret_at_the_platforms_pace() {
    let env = env("parts-paced").await;
    let topics: Vec<Value> =
        (1..=6).map(|i| json!({"name": format!("channel_{i}"), "operation": "PUB"})).collect();
    apply(&env, "hub", json!({"productName": "Hub_0001", "topics": topics})).await;

    // The product and its Secret come first; status tells the topics' progress.
    let product = wait_condition(&env, "hub", "Ready", "False", Some("ApplyingTopics")).await;
    let (available, _, _) = condition(&product, "Available").unwrap();
    assert_eq!(available, "True", "the product is usable while its topics are created");
    let (_, _, message) = condition(&product, "Ready").unwrap();
    assert!(message.contains("of 6 topic categories applied"), "{message}");
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    assert!(secrets.get("hub-credentials").await.is_ok(), "the Secret is written before the topics are done");

    let product = wait_condition(&env, "hub", "Ready", "True", None).await;
    let key = key_of(&product);
    assert_eq!(topics_on_platform(&env, &key).len(), 6);
    assert_eq!(calls(&env, "CreateProductTopic"), 6, "each topic created once");
    assert_eq!(env.emulator.emulator.stats().throttled, 0, "the operator kept to the platform's pace");
    let status = product.status.unwrap().topics.unwrap();
    assert_eq!((status.applied, status.desired), (6, 6));
}

#[tokio::test]
async fn a_script_or_a_bad_topic_is_refused_at_apply_time_with_the_field_named() {
    let env = env("parts-refused").await;
    let cases = [
        (
            json!({"productName": "Bad_0001", "dataParsing": {"language": "JavaScript", "script": SCRIPT_A}}),
            "spec.dataParsing requires spec.dataFormat: Custom",
        ),
        (
            json!({"productName": "Bad_0002", "topics": [{"name": "commands/+", "operation": "PUB"}]}),
            "wildcards + and # are allowed only in a topic whose operation is SUB",
        ),
        (
            json!({"productName": "Bad_0003", "topics": [{"name": "/telemetry", "operation": "PUB"}]}),
            "no empty level",
        ),
        (
            json!({"productName": "Bad_0004", "topics": [{"name": "a", "operation": "PUB"}, {"name": "a", "operation": "SUB"}]}),
            "Duplicate value",
        ),
    ];
    for (spec, want) in cases {
        let error = env
            .products
            .create(&kube::api::PostParams::default(), &common::manifest(&env, "bad", spec.clone()))
            .await
            .expect_err("refused");
        assert!(error.to_string().contains(want), "{spec}: {error}");
    }
}
