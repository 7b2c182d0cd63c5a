//! `plan` is exactly what the operator does (issue 27): for each scenario, `plan --cluster`
//! runs first, then the manifests are applied and the operator reconciles; the platform writes
//! the emulator saw for each resource must be the calls `plan` listed for it — the same
//! operations, in the same order, nothing more — and the reason the resource ends with must be
//! the one `plan` said would block it. Scenarios: a create with topics, script and
//! subscription; a tag and a topic change; a change the publication lock blocks; the same with
//! revoke-apply-republish; a name conflict; a subscription waiting for its group; adopting by
//! key; a take-over the account refuses; a namespace the account does not admit;
//! distributions made (by reference, and by the key of an IotProduct not among the manifests),
//! and one by the key of a product no IotProduct manages, which the take-over rule refuses;
//! deleting.

mod common;

use std::path::Path;

use common::{ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_UID, DEADLINE, Env, eventually};
use iot_product_operator::crd::{IotConsumerGroup, IotProduct, PlatformAccount, ProductDistribution};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

/// What `plan` said of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Said {
    calls: Vec<String>,
    blocked: Option<String>,
}

/// Runs `plan --cluster -o json` over `dir`; returns (kind/name → what it said).
async fn plan(env: &Env, dir: &Path, extra: &[&str]) -> std::collections::BTreeMap<String, Said> {
    let plane = common::control_plane();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_iot-product-operator"))
        .env("KUBECONFIG", &plane.kubeconfig)
        .args(["plan", "--cluster", "--output", "json", "--namespace", &env.ns, "-f"])
        .arg(dir)
        .args(["--allow-endpoint", "http://127.0.0.1:*"])
        .args(extra)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .env("IOTOP_LOG_LEVEL", "error")
        .output()
        .await
        .expect("run plan");
    let document: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("plan's JSON: {e}: {}", String::from_utf8_lossy(&output.stdout)));
    document["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(r.get("error").is_none(), "plan could not plan {r}");
            let calls = r["calls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["operation"].as_str().unwrap().to_string())
                .collect();
            let blocked = r["blocked"].as_array().map(|b| b[0].as_str().unwrap().to_string());
            (
                format!("{}/{}", r["kind"].as_str().unwrap(), r["name"].as_str().unwrap()),
                Said { calls, blocked },
            )
        })
        .collect()
}

fn write(dir: &Path, documents: &[Value]) {
    let text: Vec<String> = documents.iter().map(|d| serde_json::to_string(d).unwrap()).collect();
    std::fs::write(dir.join("manifests.yaml"), text.join("\n---\n")).unwrap();
}

/// Applies `documents` as a person would (server-side apply).
async fn apply(env: &Env, documents: &[Value]) {
    let params = PatchParams::apply("plan-differential").force();
    for document in documents {
        let name = document["metadata"]["name"].as_str().unwrap();
        match document["kind"].as_str().unwrap() {
            "IotProduct" => {
                env.products.patch(name, &params, &Patch::Apply(document)).await.unwrap();
            }
            "IotConsumerGroup" => {
                let api: Api<IotConsumerGroup> = Api::namespaced(env.client.clone(), &env.ns);
                api.patch(name, &params, &Patch::Apply(document)).await.unwrap();
            }
            other => panic!("{other}"),
        }
    }
}

fn product(env: &Env, name: &str, spec: Value) -> Value {
    let mut full = json!({"accountRef": {"name": common::account_name(&env.ns)}});
    full.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
    json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
           "metadata": {"name": name, "namespace": env.ns}, "spec": full})
}

fn group(env: &Env, name: &str, group_name: &str) -> Value {
    json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotConsumerGroup",
           "metadata": {"name": name, "namespace": env.ns},
           "spec": {"groupName": group_name, "accountRef": {"name": common::account_name(&env.ns)}}})
}

/// Waits until the product's reconcile of its current generation has settled: Ready, not
/// Ready for a reason that waits for a person, or for the reason `plan` named (a wait such as
/// a consumer group not made yet); returns the reason.
async fn settled(env: &Env, name: &str, expected: Option<&str>) -> String {
    eventually(&format!("{name} settled"), DEADLINE, || async {
        let product: IotProduct = env.products.get(name).await.map_err(|e| e.to_string())?;
        let status = product.status.clone().unwrap_or_default();
        if status.observed_generation != product.metadata.generation {
            return Err("not yet looked at".into());
        }
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready").cloned();
        let stalled = status.conditions.iter().any(|c| c.type_ == "Stalled" && c.status == "True");
        match ready {
            Some(c) if c.status == "True" => Ok("Ready".to_string()),
            _ if stalled => Ok(status.reason.unwrap_or_default()),
            _ if expected.is_some() && status.reason.as_deref() == expected => {
                Ok(status.reason.unwrap_or_default())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// The writes since `mark` about the product `name` (its key, or its name for the create).
async fn writes_of(env: &Env, mark: usize, name: &str) -> Vec<String> {
    let product = env.products.get_opt(name).await.unwrap();
    let status = product.as_ref().and_then(|p| p.status.clone()).unwrap_or_default();
    let key = status.product_key.unwrap_or_default();
    let product_name = product.map(|p| p.spec.product_name).unwrap_or_default();
    env.emulator.emulator.stats().writes[mark..]
        .iter()
        .filter(|w| {
            (!key.is_empty() && w.subject == key)
                || (w.action == "CreateProduct" && w.subject == product_name)
        })
        .map(|w| w.action.clone())
        .collect()
}

fn mark(env: &Env) -> usize {
    env.emulator.emulator.stats().writes.len()
}

/// Plans `documents`, applies them, waits for each product to settle, and checks that the
/// writes and final reasons are what `plan` said.
async fn step(
    env: &Env,
    dir: &Path,
    what: &str,
    documents: &[Value],
) -> std::collections::BTreeMap<String, Said> {
    write(dir, documents);
    let said = plan(env, dir, &[]).await;
    let start = mark(env);
    apply(env, documents).await;
    for document in documents.iter().filter(|d| d["kind"] == "IotProduct") {
        let name = document["metadata"]["name"].as_str().unwrap();
        let planned = &said[&format!("IotProduct/{name}")];
        let reason = settled(env, name, planned.blocked.as_deref()).await;
        let done = writes_of(env, start, name).await;
        assert_eq!(done, planned.calls, "{what}: {name}: the operator wrote {done:?}, plan said {planned:?}");
        match &planned.blocked {
            Some(blocked) => assert_eq!(&reason, blocked, "{what}: {name}"),
            None => assert_eq!(reason, "Ready", "{what}: {name}"),
        }
    }
    said
}

fn distribution(env: &Env, name: &str, spec: Value) -> Value {
    let mut full = json!({"accountRef": {"name": common::account_name(&env.ns)},
                          "target": {"instanceId": "iot-cn-prod0001", "uid": ACCOUNT_UID}});
    full.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
    json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
           "metadata": {"name": name, "namespace": env.ns}, "spec": full})
}

/// Plans `documents` (a distribution `name` and the manifests it needs), applies the
/// distribution, waits until it is distributed or stopped for a reason, and checks that the
/// writes about `key` and that reason are what `plan` said; returns what it said.
async fn distribute_step(env: &Env, dir: &Path, documents: &[Value], name: &str, key: &str) -> Said {
    write(dir, documents);
    let said = plan(env, dir, &[]).await[&format!("ProductDistribution/{name}")].clone();
    let start = mark(env);
    let document = documents.iter().find(|d| d["metadata"]["name"] == name).unwrap();
    let api: Api<ProductDistribution> = Api::namespaced(env.client.clone(), &env.ns);
    api.patch(name, &PatchParams::apply("plan-differential").force(), &Patch::Apply(document)).await.unwrap();
    let reason = eventually(&format!("{name} settled"), DEADLINE, || async {
        let pd = api.get(name).await.map_err(|e| e.to_string())?;
        let status = pd.status.clone().unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready").cloned();
        match ready {
            Some(c) if c.status == "True" => Ok("Ready".to_string()),
            Some(c) if said.blocked.as_deref() == Some(c.reason.as_str()) => Ok(c.reason),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let done: Vec<String> = env.emulator.emulator.stats().writes[start..]
        .iter()
        .filter(|w| w.subject == key)
        .map(|w| w.action.clone())
        .collect();
    assert_eq!(done, said.calls, "{name}: the operator wrote {done:?}, plan said {said:?}");
    assert_eq!(Some(reason.as_str()), said.blocked.as_deref().or(Some("Ready")), "{name}");
    said
}

#[tokio::test]
async fn the_operator_writes_exactly_what_plan_said() {
    let env = common::env("plan-diff").await;
    let dir = tempfile::tempdir().unwrap();
    // A consumer group the products subscribe (made first, so that the subscription is
    // planned with its id).
    apply(&env, &[group(&env, "billing", "billing_diff")]).await;
    eventually("the group's id", DEADLINE, || async {
        let api: Api<IotConsumerGroup> = Api::namespaced(env.client.clone(), &env.ns);
        let g = api.get("billing").await.map_err(|e| e.to_string())?;
        g.status.and_then(|s| s.group_id).map(|_| ()).ok_or_else(|| "no id".to_string())
    })
    .await;

    let model = |extra: bool| {
        let mut properties = vec![json!({"identifier": "Flow", "name": "Flow", "accessMode": "r",
            "dataType": {"type": "float", "min": 0, "max": 1000}})];
        if extra {
            properties.push(json!({"identifier": "Valve", "name": "Valve",
                "dataType": {"type": "bool", "values": [{"value": 0, "name": "closed"}, {"value": 1, "name": "open"}]}}));
        }
        json!({"properties": properties})
    };
    let meter = |extra: Value| {
        let mut spec = json!({
            "productName": "Meter_Diff", "dataFormat": "Custom", "published": true,
            "tags": {"team": "water"},
            "thingModel": model(false),
            "dataParsing": {"language": "JavaScript", "script": "function rawDataToProtocol(b) { return {}; }"},
            "topics": [{"name": "telemetry", "operation": "PUB"}, {"name": "config/+", "operation": "SUB"}],
            "subscription": {"consumerGroups": ["billing"], "messages": ["DeviceData"]},
        });
        for (key, value) in extra.as_object().unwrap() {
            spec[key] = value.clone();
        }
        product(&env, "meter", spec)
    };

    // Create: the product, its marks, model, script, subscription, publication and topics.
    step(&env, dir.path(), "create", &[meter(json!({}))]).await;
    // A tag and a topic change on the published product (neither is locked).
    step(
        &env,
        dir.path(),
        "tag and topic",
        &[meter(json!({"tags": {"team": "water", "site": "north"},
                      "topics": [{"name": "telemetry", "operation": "ALL"}, {"name": "config/+", "operation": "SUB"}]}))],
    )
    .await;
    // A new property: the publication lock holds it back (nothing written).
    step(
        &env,
        dir.path(),
        "lock blocked",
        &[meter(json!({"tags": {"team": "water", "site": "north"}, "thingModel": model(true),
                      "topics": [{"name": "telemetry", "operation": "ALL"}, {"name": "config/+", "operation": "SUB"}]}))],
    )
    .await;
    // With the policy: revoke, import, publish the model, publish again.
    step(
        &env,
        dir.path(),
        "revoke-apply-republish",
        &[meter(json!({"tags": {"team": "water", "site": "north"}, "thingModel": model(true),
                      "publishedChangePolicy": "RevokeAndRepublish",
                      "topics": [{"name": "telemetry", "operation": "ALL"}, {"name": "config/+", "operation": "SUB"}]}))],
    )
    .await;
    // A second resource wanting the same name: plan and the operator both refuse it.
    step(&env, dir.path(), "name conflict", &[product(&env, "copy", json!({"productName": "Meter_Diff"}))])
        .await;
    // A product whose subscription names a group that does not exist: created, subscription
    // waiting.
    step(
        &env,
        dir.path(),
        "group missing",
        &[product(
            &env,
            "lamp",
            json!({"productName": "Lamp_Diff",
            "subscription": {"consumerGroups": ["nobody"], "messages": ["DeviceData"]}}),
        )],
    )
    .await;

    // Adopting a product made outside Kubernetes by its key (the account lets this namespace
    // take over): only the ownership marks and the spec's tag are written.
    let outside = env
        .emulator
        .emulator
        .console(ACCOUNT_UID, "CreateProduct", &[("ProductName", "Outside_Diff"), ("NodeType", "0")])
        .unwrap();
    let outside_key = outside["Data"]["ProductKey"].as_str().unwrap().to_string();
    step(
        &env,
        dir.path(),
        "adopt by key",
        &[product(
            &env,
            "outside",
            json!({"productName": "Outside_Diff", "edition": "Basic",
            "productKey": outside_key, "tags": {"team": "adopted"}}),
        )],
    )
    .await;

    // The account's tenancy rules, as both read them: a product by key while the account no
    // longer lets this namespace take over; a product while it no longer admits the namespace.
    // Nothing is written, and both end in the reason plan gave.
    let accounts: Api<PlatformAccount> = Api::all(env.client.clone());
    let account = common::account_name(&env.ns);
    let patch_account = |spec: Value| {
        let accounts = accounts.clone();
        let account = account.clone();
        async move {
            accounts
                .patch(&account, &PatchParams::default(), &Patch::Merge(json!({"spec": spec})))
                .await
                .unwrap();
        }
    };
    let another = env
        .emulator
        .emulator
        .console(ACCOUNT_UID, "CreateProduct", &[("ProductName", "Another_Diff"), ("NodeType", "0")])
        .unwrap();
    let another_key = another["Data"]["ProductKey"].as_str().unwrap().to_string();
    patch_account(json!({"takeOver": null})).await;
    let said = step(
        &env,
        dir.path(),
        "take-over refused",
        &[product(
            &env,
            "another",
            json!({"productName": "Another_Diff", "edition": "Basic", "productKey": another_key}),
        )],
    )
    .await;
    assert_eq!(said["IotProduct/another"].blocked.as_deref(), Some("TakeOverNotAllowed"));
    patch_account(json!({"allowedNamespaces": {"names": ["elsewhere"]}})).await;
    let said = step(
        &env,
        dir.path(),
        "namespace not admitted",
        &[product(&env, "stranger", json!({"productName": "Stranger_Diff"}))],
    )
    .await;
    assert_eq!(said["IotProduct/stranger"].blocked.as_deref(), Some("AccountNotAllowed"));
    patch_account(json!({"allowedNamespaces": {"names": [env.ns]}, "takeOver": {"allowedNamespaces": {"names": [env.ns]}}}))
        .await;

    // Distributions, planned with their product's manifest: one of IotProduct lamp, which the
    // operator distributes; one by the key of a product no IotProduct manages while the
    // account does not let this namespace take over, which both refuse.
    let lamp_manifest = product(
        &env,
        "lamp",
        json!({"productName": "Lamp_Diff", "subscription": {"consumerGroups": ["nobody"], "messages": ["DeviceData"]}}),
    );
    let lamp_key = env.products.get("lamp").await.unwrap().status.unwrap().product_key.unwrap();
    let to_production = distribution(&env, "lamp-to-production", json!({"productRef": {"name": "lamp"}}));
    let said = distribute_step(
        &env,
        dir.path(),
        &[lamp_manifest.clone(), to_production],
        "lamp-to-production",
        &lamp_key,
    )
    .await;
    assert_eq!(said.calls, ["CreateProductDistributeJob"], "{said:?}");
    // (IotProduct another took its product over when the account allowed it again: a
    // distribution by that key is its product's, not a take-over — plan knows this from the
    // namespace's IotProducts. A product no IotProduct manages is one.)
    let unmanaged = env
        .emulator
        .emulator
        .console(ACCOUNT_UID, "CreateProduct", &[("ProductName", "Unmanaged_Diff"), ("NodeType", "0")])
        .unwrap();
    let unmanaged_key = unmanaged["Data"]["ProductKey"].as_str().unwrap().to_string();
    patch_account(json!({"takeOver": null})).await;
    let managed = distribution(&env, "another-to-production", json!({"productKey": another_key}));
    let said = distribute_step(
        &env,
        dir.path(),
        &[lamp_manifest.clone(), managed],
        "another-to-production",
        &another_key,
    )
    .await;
    assert_eq!(said.calls, ["CreateProductDistributeJob"], "{said:?}");
    let by_key = distribution(&env, "unmanaged-to-production", json!({"productKey": unmanaged_key}));
    let said = distribute_step(
        &env,
        dir.path(),
        &[lamp_manifest, by_key],
        "unmanaged-to-production",
        &unmanaged_key,
    )
    .await;
    assert_eq!(said.blocked.as_deref(), Some("TakeOverNotAllowed"), "{said:?}");
    patch_account(json!({"takeOver": {"allowedNamespaces": {"names": [env.ns]}}})).await;

    // Delete: the published product is revoked and deleted, as plan --delete says.
    let documents = [meter(json!({"tags": {"team": "water", "site": "north"}, "thingModel": model(true),
        "publishedChangePolicy": "RevokeAndRepublish",
        "topics": [{"name": "telemetry", "operation": "ALL"}, {"name": "config/+", "operation": "SUB"}]}))];
    write(dir.path(), &documents);
    let said = plan(&env, dir.path(), &["--delete"]).await;
    let key = env.products.get("meter").await.unwrap().status.unwrap().product_key.unwrap();
    let start = mark(&env);
    env.products.delete("meter", &DeleteParams::default()).await.unwrap();
    eventually("meter gone", DEADLINE, || async {
        match env.products.get_opt("meter").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".to_string()),
        }
    })
    .await;
    let done: Vec<String> = env.emulator.emulator.stats().writes[start..]
        .iter()
        .filter(|w| w.subject == key)
        .map(|w| w.action.clone())
        .collect();
    assert_eq!(done, said["IotProduct/meter"].calls, "delete");
}
