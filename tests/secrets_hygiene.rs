//! Secrets stay secret: a whole life of a product (create, thing model, publish, change,
//! distribute, broken and repaired credentials, delete) with the operator and the emulator
//! both logging at debug level for every crate, then a scan of everything they logged, and of
//! every status and Event, for the AccessKeySecret (the right one and a wrong one) and every
//! ProductSecret, in plain text and base64.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use common::{ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_UID, OperatorProcess, control_plane, eventually};
use iot_product_operator::crd::{IotProduct, PlatformAccount, ProductDistribution};
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(60);
const WRONG_SECRET: &str = "wrong-access-key-secret-9d2e";
const TSL: &str =
    r#"{"properties":[{"identifier":"Power","name":"Power","accessMode":"rw","dataType":{"type":"bool"}}]}"#;

/// The emulator binary, logging at debug level; killed when dropped.
struct EmulatorProcess {
    child: Child,
    log: PathBuf,
    url: String,
}

impl EmulatorProcess {
    async fn start(run_dir: &Path, ns: &str) -> Self {
        let log = run_dir.join(format!("emulator-{ns}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(common::emulator_binary())
            .args(["--listen", "127.0.0.1:0", "--instance", "iot-cn-prod0001@cn-shanghai"])
            .args(["--job-duration-ms", "300", "--log-level", "debug", "--access-key"])
            .arg(format!("{ACCESS_KEY_ID}:{ACCESS_KEY_SECRET}:{ACCOUNT_UID}:owner@example.com"))
            .env_remove("RUST_LOG")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("start the emulator");
        let url = eventually("the emulator to listen", DEADLINE, || async {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.split_whitespace()
                .find_map(|w| w.trim_matches('"').strip_prefix("http://").map(|a| format!("http://{a}")))
                .ok_or(text)
        })
        .await;
        Self { child, log, url }
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ready(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition], want: &str) -> bool {
    conditions.iter().any(|c| c.type_ == "Ready" && c.status == want)
}

async fn product_ready(products: &Api<IotProduct>, name: &str, operator: &OperatorProcess) -> IotProduct {
    eventually(&format!("{name} Ready"), DEADLINE, || async {
        let p = products.get(name).await.map_err(|e| e.to_string())?;
        let status = p.status.clone().unwrap_or_default();
        if ready(&status.conditions, "True") && status.observed_generation == p.metadata.generation {
            Ok(p)
        } else {
            Err(format!("{:?}; {}", status.reason, common::tail(&operator.logs())))
        }
    })
    .await
}

async fn account_ready(client: &Client, ns: &str, want: &str) {
    let accounts: Api<PlatformAccount> = Api::all(client.clone());
    eventually(&format!("account Ready={want}"), DEADLINE, || async {
        let a = accounts.get(&common::account_name(ns)).await.map_err(|e| e.to_string())?;
        let conditions = a.status.map(|s| s.conditions).unwrap_or_default();
        if ready(&conditions, want) { Ok(()) } else { Err(format!("{conditions:?}")) }
    })
    .await;
}

async fn set_access_key_secret(client: &Client, ns: &str, secret: &str) {
    Api::<Secret>::namespaced(client.clone(), ns)
        .patch(
            "platform-credentials",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"AccessKeySecret": secret}})),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_a_status_or_an_event_in_a_whole_life() {
    let plane = control_plane();
    let client = plane.admin_client().await;
    let ns = common::test_namespace(&client, "secrets").await;
    let emulator = EmulatorProcess::start(&plane.run_dir, &ns).await;
    common::create_account(&client, &ns, &emulator.url, ACCESS_KEY_SECRET).await;
    let operator = OperatorProcess::start(plane, &ns, &["--log-level", "debug"]);
    let products: Api<IotProduct> = Api::namespaced(client.clone(), &ns);
    let distributions: Api<ProductDistribution> = Api::namespaced(client.clone(), &ns);
    let account = common::account_name(&ns);

    // Create with a thing model, published; change it (revoke, apply, republish).
    let lamp: IotProduct = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
        "metadata": {"name": "lamp"},
        "spec": {"accountRef": {"name": account}, "productName": "Secret_Lamp", "published": true,
                 "publishedChangePolicy": "RevokeAndRepublish", "thingModel": {"tsl": TSL}}
    }))
    .unwrap();
    products.create(&PostParams::default(), &lamp).await.unwrap();
    product_ready(&products, "lamp", &operator).await;
    products
        .patch("lamp", &PatchParams::default(), &Patch::Merge(json!({"spec": {"description": "changed"}})))
        .await
        .unwrap();
    let lamp = product_ready(&products, "lamp", &operator).await;
    let lamp_key = lamp.status.clone().unwrap().product_key.unwrap();

    // Distribute it.
    let pd: ProductDistribution = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
        "metadata": {"name": "to-prod"},
        "spec": {"accountRef": {"name": account}, "productRef": {"name": "lamp"},
                 "target": {"instanceId": "iot-cn-prod0001", "uid": ACCOUNT_UID}}
    }))
    .unwrap();
    distributions.create(&PostParams::default(), &pd).await.unwrap();
    eventually("the distribution to complete", DEADLINE, || async {
        let pd = distributions.get("to-prod").await.map_err(|e| e.to_string())?;
        let state = pd.status.and_then(|s| s.state);
        if state.as_deref() == Some("Completed") { Ok(()) } else { Err(format!("{state:?}")) }
    })
    .await;

    // Wrong credentials (the platform refuses the signature), then the right ones again.
    set_access_key_secret(&client, &ns, WRONG_SECRET).await;
    account_ready(&client, &ns, "False").await;
    set_access_key_secret(&client, &ns, ACCESS_KEY_SECRET).await;
    account_ready(&client, &ns, "True").await;

    // A second product, created and deleted from the platform.
    let plug: IotProduct = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
        "metadata": {"name": "plug"},
        "spec": {"accountRef": {"name": account}, "productName": "Secret_Plug", "published": true,
                 "publishedChangePolicy": "RevokeAndRepublish"}
    }))
    .unwrap();
    products.create(&PostParams::default(), &plug).await.unwrap();
    product_ready(&products, "plug", &operator).await;
    // Every ProductSecret the platform ever issued (read before the deletion).
    let state: Value =
        reqwest::get(format!("{}/_emulator/state", emulator.url)).await.unwrap().json().await.unwrap();
    let product_secrets: Vec<String> = state["state"]["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["productSecret"].as_str().map(str::to_string))
        .collect();
    assert!(product_secrets.len() >= 3, "the lamp, its distributed copy and the plug: {product_secrets:?}");
    products.delete("plug", &DeleteParams::default()).await.unwrap();
    eventually("plug deleted", DEADLINE, || async {
        match products.get_opt("plug").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(p) => Err(format!("{:?}", p.status.and_then(|s| s.reason))),
        }
    })
    .await;

    // The Secret the operator wrote carries its owner and labels.
    let secret_name = lamp.status.clone().unwrap().secret_name.expect("status names the Secret");
    let secret = Api::<Secret>::namespaced(client.clone(), &ns).get(&secret_name).await.unwrap();
    let labels = secret.labels();
    assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("iot-product-operator"));
    assert_eq!(labels.get("iot.productoperator.dev/product").map(String::as_str), Some("lamp"));
    assert!(
        secret
            .owner_references()
            .iter()
            .any(|o| Some(&o.uid) == lamp.metadata.uid.as_ref() && o.controller == Some(true))
    );

    // Everything that may be read by people who must not see secrets.
    let operator_log = operator.logs();
    let emulator_log = std::fs::read_to_string(&emulator.log).unwrap();
    let statuses = json!({
        "products": products.list(&Default::default()).await.unwrap().items.iter().map(|p| &p.status).collect::<Vec<_>>(),
        "distributions": distributions.list(&Default::default()).await.unwrap().items.iter().map(|p| &p.status).collect::<Vec<_>>(),
        "account": Api::<PlatformAccount>::all(client.clone()).get(&account).await.unwrap().status,
    })
    .to_string();
    let events = Api::<Event>::namespaced(client.clone(), &ns).list(&Default::default()).await.unwrap().items;
    let events_text = events
        .iter()
        .map(|e| format!("{:?} {:?} {:?} {:?}", e.reason, e.message, e.action, e.involved_object.name))
        .collect::<Vec<_>>()
        .join("\n");

    // The scan is not vacuous: the logs are at debug level and talk about this product.
    assert!(
        operator_log.contains("DEBUG") && operator_log.contains(&lamp_key),
        "operator log at debug level"
    );
    assert!(
        emulator_log.contains("DEBUG") && emulator_log.contains("CreateProduct"),
        "emulator log at debug level"
    );
    assert!(events.len() >= 5 && statuses.contains(&lamp_key));

    let mut needles: Vec<(String, String)> = vec![
        ("AccessKeySecret".into(), ACCESS_KEY_SECRET.into()),
        ("the wrong AccessKeySecret".into(), WRONG_SECRET.into()),
    ];
    needles.extend(product_secrets.iter().map(|s| ("a ProductSecret".to_string(), s.clone())));
    let needles: Vec<(String, String)> = needles
        .into_iter()
        .flat_map(|(what, value)| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&value);
            [(what.clone(), value), (format!("{what} (base64)"), encoded)]
        })
        .collect();
    let mut hits = Vec::new();
    for (place, text) in [
        ("operator log", &operator_log),
        ("emulator log", &emulator_log),
        ("status", &statuses),
        ("events", &events_text),
    ] {
        for (what, value) in &needles {
            if text.contains(value.as_str()) {
                hits.push(format!("{what} in the {place}"));
            }
        }
    }
    eprintln!(
        "secrets scan: {} needles over {} log lines ({} operator, {} emulator), {} statuses, {} events: {} hits",
        needles.len(),
        operator_log.lines().count() + emulator_log.lines().count(),
        operator_log.lines().count(),
        emulator_log.lines().count(),
        3,
        events.len(),
        hits.len()
    );
    assert!(hits.is_empty(), "secrets leaked: {hits:?}");
}

/// An STS-style key: requests must carry its security token.
const TOKEN_KEY_ID: &str = "STS.TransportKeyId";
const TOKEN_KEY_SECRET: &str = "sts-key-secret-4b1c";
const TOKEN: &str = "sts-security-token-c0ffee";

/// With V1 signing, the request once put the AccessKeyId, the security token and the
/// signature in its URL, and a transport failure copied that URL into status, Events and
/// logs. Now parameters travel in the body and errors carry no URL: a life with V1 signing,
/// a security token, and the platform gone for a while (connections refused) leaks none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_signing_with_a_security_token_and_transport_failures_leak_nothing() {
    let plane = control_plane();
    let client = plane.admin_client().await;
    let ns = common::test_namespace(&client, "secrets-v1").await;
    let log = plane.run_dir.join(format!("emulator-{ns}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let start_emulator = || {
        Command::new(common::emulator_binary())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--log-level", "debug", "--access-key"])
            .arg(format!("{TOKEN_KEY_ID}:{TOKEN_KEY_SECRET}:{ACCOUNT_UID}:owner@example.com:{TOKEN}"))
            .env_remove("RUST_LOG")
            .stdout(file.try_clone().unwrap())
            .stderr(file.try_clone().unwrap())
            .stdin(Stdio::null())
            .spawn()
            .expect("start the emulator")
    };
    let mut emulator = start_emulator();
    let url = format!("http://127.0.0.1:{port}");
    let account = common::account_name(&ns);
    let creds: Secret = serde_json::from_value(json!({
        "metadata": {"name": "platform-credentials", "namespace": ns},
        "stringData": {"AccessKeyId": TOKEN_KEY_ID, "AccessKeySecret": TOKEN_KEY_SECRET, "SecurityToken": TOKEN}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns).create(&PostParams::default(), &creds).await.unwrap();
    let platform_account: PlatformAccount = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
        "metadata": {"name": account, "labels": {"test": ns}},
        "spec": {"region": "cn-shanghai", "endpoint": url, "signatureVersion": "V1",
                 "credentials": {"secretRef": {"name": "platform-credentials", "namespace": ns}},
                 "allowedNamespaces": {"names": [ns]}}
    }))
    .unwrap();
    Api::<PlatformAccount>::all(client.clone())
        .create(&PostParams::default(), &platform_account)
        .await
        .unwrap();
    let operator = OperatorProcess::start(plane, &ns, &["--log-level", "debug"]);
    let products: Api<IotProduct> = Api::namespaced(client.clone(), &ns);
    let lamp: IotProduct = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
        "metadata": {"name": "lamp"},
        "spec": {"accountRef": {"name": account}, "productName": "Secret_V1_Lamp", "thingModel": {"tsl": TSL}}
    }))
    .unwrap();
    products.create(&PostParams::default(), &lamp).await.unwrap();
    product_ready(&products, "lamp", &operator).await;

    // The platform goes away; a change is tried (and fails) until it is back.
    let _ = emulator.kill();
    let _ = emulator.wait();
    products
        .patch("lamp", &PatchParams::default(), &Patch::Merge(json!({"spec": {"description": "while down"}})))
        .await
        .unwrap();
    eventually("the failure reported", DEADLINE, || async {
        let p = products.get("lamp").await.map_err(|e| e.to_string())?;
        let synced = p.status.and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Synced"));
        match synced {
            Some(c) if c.reason == "PlatformUnavailable" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    emulator = start_emulator();
    product_ready(&products, "lamp", &operator).await;
    let _ = emulator.kill();
    let _ = emulator.wait();

    let operator_log = operator.logs();
    let statuses = serde_json::to_string(&products.list(&Default::default()).await.unwrap().items).unwrap();
    let events = Api::<Event>::namespaced(client.clone(), &ns).list(&Default::default()).await.unwrap().items;
    let events_text =
        events.iter().map(|e| format!("{:?} {:?}", e.reason, e.message)).collect::<Vec<_>>().join("\n");
    assert!(
        operator_log.contains("Transport") || operator_log.contains("error sending request"),
        "the scan covers transport failures: {}",
        common::tail(&operator_log)
    );
    let mut hits = Vec::new();
    for (place, text) in [("operator log", &operator_log), ("status", &statuses), ("events", &events_text)] {
        for (what, needle) in [
            ("the AccessKeySecret", TOKEN_KEY_SECRET),
            ("the security token", TOKEN),
            ("a V1 signature", "Signature="),
            ("a signed URL", "SignatureNonce"),
        ] {
            if text.contains(needle) {
                hits.push(format!("{what} in the {place}"));
            }
        }
    }
    assert!(hits.is_empty(), "secrets leaked: {hits:?}");
}
