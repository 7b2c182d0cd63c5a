//! The controls users of the best cloud operators rely on: management policies, pause,
//! reconcile-now, per-resource resync, protected credentials, one manager per product, and
//! what `kubectl get` shows.

mod common;

use common::{
    DEADLINE, Env, apply, condition, control_plane, env, env_with, eventually, patch_spec, tail,
    wait_condition,
};
use iot_platform::model::{CreateProduct, DeleteProduct};
use iot_product_operator::crd::{IotProduct, PlatformAccount};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

fn calls(env: &Env, action: &str) -> u64 {
    env.emulator.emulator.stats().calls.get(action).map_or(0, |c| c.values().sum())
}

async fn annotate(env: &Env, name: &str, key: &str, value: Option<&str>) {
    env.products
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .unwrap();
}

async fn gone(env: &Env, name: &str) {
    eventually(&format!("{name} deleted"), DEADLINE, || async {
        match env.products.get_opt(name).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(p) => Err(format!("{:?}; {}", p.status.map(|s| s.conditions), tail(&env.operator.logs()))),
        }
    })
    .await;
}

async fn existing_product(env: &Env, name: &str) -> String {
    env.emulator
        .client()
        .call(&CreateProduct { product_name: name.into(), node_type: 0, ..CreateProduct::default() })
        .await
        .unwrap()
        .product_key
        .unwrap()
}

#[tokio::test]
async fn observe_only_reports_and_writes_the_secret_but_never_touches_the_platform() {
    let env = env("observe").await;
    let key = existing_product(&env, "Observed_01").await;
    apply(
        &env,
        "watched",
        json!({"productName": "Observed_Renamed", "edition": "Basic", "productKey": key,
        "managementPolicy": "ObserveOnly", "published": true}),
    )
    .await;
    let product = wait_condition(&env, "watched", "Synced", "False", Some("ObserveOnly")).await;
    assert_eq!(condition(&product, "Ready").unwrap().0, "False", "the live product differs from the spec");
    assert_eq!(condition(&product, "Available").unwrap().0, "True", "the observed product exists");
    let message = condition(&product, "Synced").unwrap().2;
    assert!(message.contains("UpdateProduct") && message.contains("ReleaseProduct"), "{message}");
    let secret =
        Api::<Secret>::namespaced(env.client.clone(), &env.ns).get("watched-credentials").await.unwrap();
    assert!(secret.data.unwrap().contains_key("ProductSecret"));
    for action in ["UpdateProduct", "ReleaseProduct", "CreateProductTags", "DeleteProduct"] {
        assert_eq!(calls(&env, action), 0, "{action} was called");
    }
    env.products.delete("watched", &DeleteParams::default()).await.unwrap();
    gone(&env, "watched").await;
    let platform = env.emulator.products();
    assert_eq!((platform.len(), platform[0].product_name.as_str()), (1, "Observed_01"));
    assert!(platform[0].tags.is_empty(), "no ownership tags were written");
}

#[tokio::test]
async fn no_update_creates_the_product_and_then_only_reports_differences() {
    let env = env("noupdate").await;
    apply(&env, "lamp", json!({"productName": "NoUpdate_01", "managementPolicy": "NoUpdate"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    patch_spec(&env, "lamp", json!({"productName": "NoUpdate_02"})).await;
    let product = wait_condition(&env, "lamp", "Synced", "False", Some("UpdatesDisabled")).await;
    assert!(condition(&product, "Synced").unwrap().2.contains("NoUpdate"));
    assert_eq!(env.emulator.products()[0].product_name, "NoUpdate_01");
    assert_eq!(calls(&env, "UpdateProduct"), 0);
}

#[tokio::test]
async fn no_delete_leaves_the_product_when_the_resource_is_deleted() {
    let env = env("nodelete").await;
    apply(&env, "lamp", json!({"productName": "NoDelete_01", "managementPolicy": "NoDelete"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    env.products.delete("lamp", &DeleteParams::default()).await.unwrap();
    gone(&env, "lamp").await;
    assert_eq!(env.emulator.products().len(), 1);
    assert_eq!(calls(&env, "DeleteProduct"), 0);
}

#[tokio::test]
async fn a_paused_resource_is_left_alone_but_can_still_be_deleted() {
    let env = env("pause").await;
    apply(&env, "lamp", json!({"productName": "Paused_01"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    annotate(&env, "lamp", "iot.productoperator.dev/paused", Some("true")).await;
    let product = wait_condition(&env, "lamp", "Synced", "False", Some("Paused")).await;
    assert!(condition(&product, "Synced").unwrap().2.contains("Remove the annotation"));
    patch_spec(&env, "lamp", json!({"productName": "Paused_02"})).await;
    wait_condition(&env, "lamp", "Synced", "False", Some("Paused")).await;
    assert_eq!(env.emulator.products()[0].product_name, "Paused_01", "paused: no change applied");
    // Deleting a paused resource honours its deletion policy instead of hanging.
    env.products.delete("lamp", &DeleteParams::default()).await.unwrap();
    gone(&env, "lamp").await;
    assert!(env.emulator.products().is_empty());
}

#[tokio::test]
async fn resuming_a_paused_resource_applies_what_changed() {
    let env = env("resume").await;
    apply(&env, "lamp", json!({"productName": "Resume_01"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    annotate(&env, "lamp", "iot.productoperator.dev/paused", Some("true")).await;
    wait_condition(&env, "lamp", "Synced", "False", Some("Paused")).await;
    patch_spec(&env, "lamp", json!({"productName": "Resume_02"})).await;
    annotate(&env, "lamp", "iot.productoperator.dev/paused", None).await;
    wait_condition(&env, "lamp", "Synced", "True", None).await;
    assert_eq!(env.emulator.products()[0].product_name, "Resume_02");
}

async fn recreated(env: &Env, name: &str, first: &str) -> IotProduct {
    eventually(&format!("{name} recreated"), DEADLINE, || async {
        let p = env.products.get(name).await.map_err(|e| e.to_string())?;
        match p.status.as_ref().and_then(|s| s.product_key.clone()) {
            Some(key)
                if key != first
                    && p.status.as_ref().is_some_and(|s| {
                        s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                    }) =>
            {
                Ok(p)
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

#[tokio::test]
async fn a_per_resource_resync_interval_overrides_the_operators() {
    // The operator resyncs every 10 minutes; this resource asks for every second, so an
    // out-of-band deletion is noticed and repaired within seconds.
    let env = env_with("resync", &["--resync-interval", "10m"]).await;
    apply(&env, "lamp", json!({"productName": "Resync_01"})).await;
    annotate(&env, "lamp", "iot.productoperator.dev/resync-interval", Some("1s")).await;
    let first =
        wait_condition(&env, "lamp", "Ready", "True", None).await.status.unwrap().product_key.unwrap();
    env.emulator
        .client()
        .call(&DeleteProduct { product_key: first.clone(), ..Default::default() })
        .await
        .unwrap();
    recreated(&env, "lamp", &first).await;
}

#[tokio::test]
async fn reconcile_now_is_honoured_and_echoed_in_status() {
    let env = env_with("now", &["--resync-interval", "10m"]).await;
    apply(&env, "lamp", json!({"productName": "Now_01"})).await;
    let first =
        wait_condition(&env, "lamp", "Ready", "True", None).await.status.unwrap().product_key.unwrap();
    env.emulator
        .client()
        .call(&DeleteProduct { product_key: first.clone(), ..Default::default() })
        .await
        .unwrap();
    annotate(&env, "lamp", "iot.productoperator.dev/reconcile-requested-at", Some("2026-11-23T22:00:00Z"))
        .await;
    recreated(&env, "lamp", &first).await;
    // The echo is written by the same report that marks the product Ready, or by the next
    // one; wait for it rather than assuming an order.
    eventually("reconcile request echoed", DEADLINE, || async {
        let p = env.products.get("lamp").await.map_err(|e| e.to_string())?;
        let echoed = p.status.and_then(|s| s.last_handled_reconcile_at);
        if echoed.as_deref() == Some("2026-11-23T22:00:00Z") { Ok(()) } else { Err(format!("{echoed:?}")) }
    })
    .await;
}

#[tokio::test]
async fn an_account_in_use_stays_until_its_products_are_gone_and_its_secret_is_left_unmarked() {
    let env = env("inuse").await;
    apply(&env, "lamp", json!({"productName": "InUse_01"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    let accounts: Api<PlatformAccount> = Api::all(env.client.clone());
    let account = common::account_name(&env.ns);
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    eventually("account protected", DEADLINE, || async {
        let a = accounts.get(&account).await.map_err(|e| e.to_string())?;
        let s = secrets.get("platform-credentials").await.map_err(|e| e.to_string())?;
        // The account is protected; the credentials Secret is the user's: nothing is put on it.
        let protected =
            a.metadata.finalizers.unwrap_or_default().iter().any(|f| f.contains("account-in-use"))
                && s.metadata.finalizers.unwrap_or_default().is_empty();
        if protected && a.status.and_then(|s| s.product_count) == Some(1) {
            Ok(())
        } else {
            Err("not yet".to_string())
        }
    })
    .await;
    // The account said so in an Event (cluster-scoped objects' Events are in `default`).
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(env.client.clone(), "default");
    eventually("an Event that the credentials work", DEADLINE, || async {
        let list = events.list(&kube::api::ListParams::default()).await.map_err(|e| e.to_string())?;
        let found = list.items.iter().any(|e| {
            e.reason.as_deref() == Some("CredentialsValid")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(account.as_str())
        });
        if found { Ok(()) } else { Err("no Event yet".to_string()) }
    })
    .await;
    // Deleting them in the wrong order: first the credentials, then the account.
    secrets.delete("platform-credentials", &DeleteParams::default()).await.unwrap();
    accounts.delete(&account, &DeleteParams::default()).await.unwrap();
    eventually("account reports its users", DEADLINE, || async {
        let a = accounts.get(&account).await.map_err(|e| e.to_string())?;
        let ready = a.status.unwrap_or_default().conditions.into_iter().find(|c| c.type_ == "Ready");
        match ready {
            Some(c) if c.reason == "InUse" && c.message.contains("lamp") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // The product's own cleanup still reaches the platform (with the credentials the operator
    // read before the Secret went).
    env.products.delete("lamp", &DeleteParams::default()).await.unwrap();
    gone(&env, "lamp").await;
    assert!(env.emulator.products().is_empty());
    eventually("account released", DEADLINE, || async {
        let a = accounts.get_opt(&account).await.map_err(|e| e.to_string())?;
        if a.is_none() { Ok(()) } else { Err("the account is still there".to_string()) }
    })
    .await;
    assert!(secrets.get_opt("platform-credentials").await.unwrap().is_none());
}

#[tokio::test]
async fn a_product_managed_by_another_resource_is_refused_without_naming_it_or_its_holder() {
    let env = env("twoman").await;
    apply(&env, "first", json!({"productName": "Shared_01", "edition": "Basic"})).await;
    let first = wait_condition(&env, "first", "Ready", "True", None).await;
    let key = first.status.as_ref().unwrap().product_key.clone().unwrap();
    let first_uid = first.metadata.uid.clone().unwrap();
    let tags = &env.emulator.products()[0].tags;
    assert_eq!(tags.get("iotop.owner"), Some(&first_uid));
    assert_eq!(tags.get("iotop.cluster").map(String::as_str), Some("kubernetes"));
    apply(&env, "second", json!({"productName": "Shared_01", "edition": "Basic", "productKey": key})).await;
    let second = wait_condition(&env, "second", "Ready", "False", Some("ManagedElsewhere")).await;
    // The holder may be another namespace's: neither it nor the product is named, and the
    // product is not recorded as this resource's.
    let message = condition(&second, "Ready").unwrap().2;
    assert!(!message.contains(&first_uid) && !message.contains(&key), "{message}");
    assert_eq!(second.status.as_ref().unwrap().product_key, None);
    // Deleting the refused resource never deletes the other's product.
    env.products.delete("second", &DeleteParams::default()).await.unwrap();
    gone(&env, "second").await;
    assert_eq!(env.emulator.products().len(), 1);
    assert_eq!(calls(&env, "DeleteProduct"), 0);
}

#[tokio::test]
async fn kubectl_get_shows_ready_synced_and_the_reason_for_both_kinds() {
    let env = env("columns").await;
    apply(&env, "lamp", json!({"productName": "Columns_01", "published": true})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    let products = control_plane().kubectl(&["get", "iotproducts", "-n", &env.ns]);
    let header = products.lines().next().unwrap();
    for column in ["PRODUCTKEY", "PUBLISHED", "READY", "SYNCED", "REASON", "AGE"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(products.contains("Available"), "{products}");
    let crd = control_plane().kubectl(&[
        "get",
        "crd",
        "productdistributions.iot.productoperator.dev",
        "-o",
        "jsonpath={.spec.versions[0].additionalPrinterColumns[*].name}",
    ]);
    for column in ["Ready", "Synced", "Reason"] {
        assert!(crd.contains(column), "{crd}");
    }
}

/// A JSON value that refuses an object with a key twice (serde_json keeps the last one).
struct Unique;

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Unique;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
                let mut keys = std::collections::HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !keys.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!("the key {key:?} twice")));
                    }
                    map.next_value::<Unique>()?;
                }
                Ok(Unique)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
                while seq.next_element::<Unique>()?.is_some() {}
                Ok(Unique)
            }
            fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_unit<E>(self) -> Result<Unique, E> {
                Ok(Unique)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[tokio::test]
async fn json_logs_name_each_key_once_and_readyz_turns_ready_without_leader_election() {
    let env = env_with("jsonlogs", &["--log-format", "json"]).await;
    apply(&env, "lamp", json!({"productName": "JsonLog_01"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    let logs = env.operator.logs();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.iter().any(|l| l.contains("\"span\"")), "no reconcile span logged: {logs}");
    for line in &lines {
        let parsed: Result<Unique, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "{:?} in the log line {line}", parsed.err());
    }
    // Without leader election the replica is ready once its caches are.
    let serving = lines.iter().find(|l| l.contains("serving /metrics")).expect("the metrics line");
    let bound: serde_json::Value = serde_json::from_str(serving).unwrap();
    let address = bound["bound"].as_str().expect("the bound address").to_string();
    eventually("/readyz to answer 200", DEADLINE, || async {
        let response = reqwest::get(format!("http://{address}/readyz")).await.map_err(|e| e.to_string())?;
        if response.status() == 200 { Ok(()) } else { Err(response.status().to_string()) }
    })
    .await;
    // Once ready, the managed-objects gauge follows the cache (it never did while readiness hung).
    eventually("the managed-objects gauge", DEADLINE, || async {
        let text = reqwest::get(format!("http://{address}/metrics"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let line = r#"iotop_managed_objects{kind="IotProduct"} 1"#;
        if text.contains(line) { Ok(()) } else { Err(format!("no {line}")) }
    })
    .await;
    // Asked for text/plain (or nothing), the exposition is the classic format and passes
    // client_golang's linter (what `promtool check metrics` runs); Prometheus gets OpenMetrics.
    let plain = reqwest::Client::new()
        .get(format!("http://{address}/metrics"))
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert!(plain.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = plain.text().await.unwrap();
    let promlint = common::control_plane().bin_dir.parent().unwrap().join("promlint");
    let mut lint = std::process::Command::new(&promlint)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {} (built by scripts/envtest.sh build): {e}", promlint.display()));
    std::io::Write::write_all(&mut lint.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let linted = lint.wait_with_output().unwrap();
    assert!(
        linted.status.success(),
        "promlint: {}{}\n{text}",
        String::from_utf8_lossy(&linted.stdout),
        String::from_utf8_lossy(&linted.stderr)
    );
    let openmetrics = reqwest::Client::new()
        .get(format!("http://{address}/metrics"))
        .header("accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
        .send()
        .await
        .unwrap();
    assert!(
        openmetrics.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text")
    );
    assert!(openmetrics.text().await.unwrap().ends_with("# EOF\n"));
}

#[tokio::test]
async fn the_finalizer_is_added_from_a_copy_older_than_the_stored_object() {
    use iot_product_operator::reconcile::backoff::Backoff;
    use iot_product_operator::reconcile::finalizer::{self, FinalizerError};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::ResourceExt as _;
    use kube::api::PostParams;
    use kube::runtime::controller::Action;
    use std::sync::Arc;

    #[derive(Debug, thiserror::Error)]
    enum TestError {
        #[error(transparent)]
        Kube(#[from] kube::Error),
        #[error(transparent)]
        Finalizer(#[from] FinalizerError),
    }

    let client = control_plane().admin_client().await;
    let namespace = common::test_namespace(&client, "finalizer").await;
    let maps: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let created: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "marked"}})).unwrap();
    let stale = maps.create(&PostParams::default(), &created).await.unwrap();
    // Someone else writes after the cache took its copy: the copy is behind.
    let stored = maps
        .patch("marked", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "v"}})))
        .await
        .unwrap();
    assert_ne!(stale.resource_version(), stored.resource_version());

    let seen = std::sync::Mutex::new(None);
    let result: Result<Action, TestError> = finalizer::run(
        &maps,
        "iot.productoperator.dev/test",
        finalizer::AddFinalizer::First,
        Arc::new(stale),
        &Backoff::new(std::time::Duration::from_secs(1), std::time::Duration::from_secs(60)),
        |object: Arc<ConfigMap>| {
            *seen.lock().unwrap() = Some(object);
            async { Ok(Action::await_change()) }
        },
        |_| async { Ok(Action::await_change()) },
    )
    .await;
    result.expect("the finalizer is added without a conflict");
    let applied = seen.lock().unwrap().clone().expect("apply ran in the same reconcile");
    assert_eq!(applied.finalizers(), ["iot.productoperator.dev/test"]);
    assert_eq!(
        applied.data.as_ref().and_then(|d| d.get("k")).map(String::as_str),
        Some("v"),
        "apply got the stored copy"
    );
    assert_eq!(maps.get("marked").await.unwrap().finalizers(), ["iot.productoperator.dev/test"]);

    // Another controller's finalizer is kept, and ours goes after it.
    let other: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "shared", "finalizers": ["example.com/other"]}}))
            .unwrap();
    let shared = maps.create(&PostParams::default(), &other).await.unwrap();
    let result: Result<Action, TestError> = finalizer::run(
        &maps,
        "iot.productoperator.dev/test",
        finalizer::AddFinalizer::First,
        Arc::new(shared),
        &Backoff::new(std::time::Duration::from_secs(1), std::time::Duration::from_secs(60)),
        |_| async { Ok(Action::await_change()) },
        |_| async { Ok(Action::await_change()) },
    )
    .await;
    result.expect("the finalizer is added beside another");
    assert_eq!(
        maps.get("shared").await.unwrap().finalizers(),
        ["example.com/other", "iot.productoperator.dev/test"]
    );
}
