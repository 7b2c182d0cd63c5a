//! Attacks found by trying the operator as an attacker would (issue 26), each replayed so it
//! stays fixed, and listed in docs/tenancy.md:
//! - an endpoint the allow list read one way and the HTTP client another (`plan` behind an
//!   HTTPS proxy that records where every connection goes);
//! - a create answered with a server error, after which someone else made a product of the
//!   same name: the operator claimed it and wrote its ProductSecret into the tenant's Secret.
//!   Beside it the legitimate case (the create executed and its answer was lost: adopted
//!   exactly once) and a definitive refusal (no intent left pending);
//! - a create intent forged in the resource's annotations (whoever may edit an IotProduct
//!   may edit them) to claim a product made outside Kubernetes: ignored, a name conflict.

mod common;

use std::sync::{Arc, Mutex};

use common::{
    ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_UID, DEADLINE, Env, account_name, apply, env, eventually, tail,
    wait_condition,
};
use iot_platform_emulator::faults::Faults;
use iot_product_operator::crd::PlatformAccount;
use iot_product_operator::product::claim::CLOCK_SKEW_MS;
use iot_product_operator::product::desired::{CLUSTER_TAG, OWNER_TAG};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The account no longer lets the test's namespace take products over (as team-a's).
async fn without_take_over(env: &Env) {
    Api::<PlatformAccount>::all(env.client.clone())
        .patch(
            &account_name(&env.ns),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"takeOver": null}})),
        )
        .await
        .unwrap();
}

/// Look-ups (`QueryProductList`) are throttled until the faults are replaced: the operator
/// is held back while someone acts on the platform.
fn storm_on_lookups(mut faults: Faults) -> Faults {
    faults.throttle_until_ms = Some(jiff::Timestamp::now().as_millisecond() + 120_000);
    faults.throttle_actions = vec!["QueryProductList".into()];
    faults
}

/// Waits until the resource's pending create records the answer of its first attempt, and
/// returns when it was sent and answered (the platform's clock, epoch ms).
async fn first_attempt(env: &Env, name: &str) -> (i64, i64) {
    eventually("the create's answer recorded in status", DEADLINE, || async {
        let p = env.products.get(name).await.map_err(|e| e.to_string())?;
        let pending = p.status.and_then(|s| s.pending_create);
        pending
            .as_ref()
            .and_then(|p| p.attempts.first())
            .and_then(|a| Some((a.sent.0.as_millisecond(), a.answered.as_ref()?.0.as_millisecond())))
            .ok_or_else(|| format!("pending create: {pending:?}; log: {}", tail(&env.operator.logs())))
    })
    .await
}

#[tokio::test]
async fn a_create_answered_with_a_server_error_never_claims_a_product_someone_else_made_afterwards() {
    let env = env("claim-attack").await;
    without_take_over(&env).await;
    // The first CreateProduct is answered HTTP 500 before it is executed; look-ups are held back.
    let mut faults = Faults::default();
    faults.fail_next.insert("CreateProduct".into(), 1);
    env.emulator.emulator.set_faults(storm_on_lookups(faults));
    apply(&env, "lamp", json!({"productName": "Outside_13"})).await;
    let (sent, answered) = first_attempt(&env, "lamp").await;
    // Someone else creates a product of that name outside Kubernetes, after the 500 came back
    // (and after the skew the operator allows for has passed on the platform's clock).
    eventually("the platform's clock past the attempt's span", DEADLINE, || async {
        let now = jiff::Timestamp::now().as_millisecond();
        if now > answered + CLOCK_SKEW_MS + 200 {
            Ok(())
        } else {
            Err(format!("{} ms to go", answered + CLOCK_SKEW_MS + 200 - now))
        }
    })
    .await;
    env.emulator
        .emulator
        .console(ACCOUNT_UID, "CreateProduct", &[("ProductName", "Outside_13"), ("NodeType", "0")])
        .unwrap();
    let outside = env.emulator.products().into_iter().find(|p| p.product_name == "Outside_13").unwrap();
    env.emulator.emulator.set_faults(Faults::default());

    let product = wait_condition(&env, "lamp", "Ready", "False", Some("NameConflict")).await;
    let status = product.status.unwrap();
    assert_eq!(status.product_key, None, "the outside product's key is recorded nowhere");
    // The first attempt's intent is gone (a NameConflict clears it); a later resync may be
    // trying CreateProduct again at this moment (refused: the name is taken), never claiming.
    assert!(
        status
            .pending_create
            .as_ref()
            .is_none_or(|p| p.attempts.iter().all(|a| a.sent.0.as_millisecond() != sent)),
        "the attempt that could have made the outside product is no longer pending: {:?}",
        status.pending_create
    );
    let secret = Api::<Secret>::namespaced(env.client.clone(), &env.ns).get_opt("lamp").await.unwrap();
    assert!(secret.is_none(), "no Secret with the outside product's key: {secret:?}");
    let tags =
        &env.emulator.products().into_iter().find(|p| p.product_key == outside.product_key).unwrap().tags;
    assert!(
        !tags.contains_key(OWNER_TAG) && !tags.contains_key(CLUSTER_TAG),
        "not marked as the tenant's: {tags:?}"
    );
    let history = env.emulator.emulator.snapshot().product_history;
    assert_eq!(
        history,
        vec![(outside.product_key.clone(), "Outside_13".to_string())],
        "only the console made a product"
    );
    assert!(
        !env.operator.logs().contains(outside.product_secret.expose()),
        "the outside ProductSecret is in no log"
    );
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_adopted_exactly_once() {
    let env = env("claim-lost").await;
    without_take_over(&env).await;
    // The create is executed and its answer lost; look-ups are held back for a while.
    let mut faults = Faults::default();
    faults.lose_next.insert("CreateProduct".into(), 1);
    env.emulator.emulator.set_faults(storm_on_lookups(faults));
    apply(&env, "lamp", json!({"productName": "Inside_14"})).await;
    first_attempt(&env, "lamp").await;
    env.emulator.emulator.set_faults(Faults::default());
    let product = wait_condition(&env, "lamp", "Ready", "True", None).await;
    let products = env.emulator.products();
    assert_eq!(products.len(), 1, "no duplicate");
    assert_eq!(
        product.status.as_ref().unwrap().product_key.as_deref(),
        Some(products[0].product_key.as_str())
    );
    assert_eq!(product.status.unwrap().pending_create, None);
    assert_eq!(env.emulator.emulator.snapshot().product_history.len(), 1, "created once");
}

#[tokio::test]
async fn a_product_made_while_the_create_was_in_flight_but_held_by_another_is_a_name_conflict() {
    let env = env("claim-held").await;
    without_take_over(&env).await;
    let mut faults = Faults::default();
    faults.lose_next.insert("CreateProduct".into(), 1);
    env.emulator.emulator.set_faults(storm_on_lookups(faults));
    apply(&env, "lamp", json!({"productName": "Held_15"})).await;
    first_attempt(&env, "lamp").await;
    // Another resource's marks on the product (as if another cluster had claimed it).
    let key = env.emulator.products()[0].product_key.clone();
    env.emulator
        .emulator
        .console(
            ACCOUNT_UID,
            "CreateProductTags",
            &[
                ("ProductKey", &key),
                ("ProductTag.1.TagKey", OWNER_TAG),
                ("ProductTag.1.TagValue", "someone-else"),
            ],
        )
        .unwrap();
    env.emulator.emulator.set_faults(Faults::default());
    let product = wait_condition(&env, "lamp", "Ready", "False", Some("NameConflict")).await;
    assert_eq!(product.status.unwrap().product_key, None);
    assert!(Api::<Secret>::namespaced(env.client.clone(), &env.ns).get_opt("lamp").await.unwrap().is_none());
}

#[tokio::test]
async fn a_create_refused_definitively_leaves_no_intent_pending() {
    let env = env("claim-refused").await;
    apply(&env, "lamp", json!({"productName": "Lamp_Refused", "instanceId": "iot-cn-doesnotexist"})).await;
    wait_condition(&env, "lamp", "Synced", "False", Some("PlatformRefused")).await;
    // Each attempt records its intent before it is sent (a retry may be in flight when the
    // status is read); once refused, nothing is left to look for.
    eventually("no intent left after the refusal", DEADLINE, || async {
        let status = env.products.get("lamp").await.map_err(|e| e.to_string())?.status.unwrap_or_default();
        match status.pending_create {
            None => Ok(()),
            Some(p) => Err(format!("{p:?}")),
        }
    })
    .await;
}

#[tokio::test]
async fn a_forged_create_intent_in_the_annotations_claims_nothing() {
    let env = env("claim-forged").await;
    without_take_over(&env).await;
    // A product made in the console, unmarked: only take-over (not granted) may adopt it.
    env.emulator
        .emulator
        .console(ACCOUNT_UID, "CreateProduct", &[("ProductName", "Console_16"), ("NodeType", "0")])
        .unwrap();
    let outside = env.emulator.products().into_iter().find(|p| p.product_name == "Console_16").unwrap();
    // The tenant writes an intent whose attempt spans the product's creation, as the
    // operator's own intent would after a crash, with a made-up signature.
    let now = jiff::Timestamp::now();
    let intent = json!({
        "productName": "Console_16",
        "since": (now - jiff::SignedDuration::from_secs(60)).to_string(),
        "attempts": [{"sent": (now - jiff::SignedDuration::from_secs(60)).to_string(), "answered": (now + jiff::SignedDuration::from_secs(60)).to_string()}],
    });
    let forged = json!({"id": "forged", "intent": intent.to_string(), "mac": "00".repeat(32)});
    let mut manifest = common::manifest(&env, "lamp", json!({"productName": "Console_16"}));
    manifest.metadata.annotations =
        Some([(iot_product_operator::product::intent::ANNOTATION.to_string(), forged.to_string())].into());
    env.products.create(&Default::default(), &manifest).await.unwrap();

    let product = wait_condition(&env, "lamp", "Ready", "False", Some("NameConflict")).await;
    assert_eq!(product.status.unwrap().product_key, None, "the console's product is not claimed");
    assert!(Api::<Secret>::namespaced(env.client.clone(), &env.ns).get_opt("lamp").await.unwrap().is_none());
    let tags =
        &env.emulator.products().into_iter().find(|p| p.product_key == outside.product_key).unwrap().tags;
    assert!(!tags.contains_key(OWNER_TAG), "not marked as the tenant's: {tags:?}");
    assert!(
        !env.operator.logs().contains(outside.product_secret.expose()),
        "the console product's ProductSecret is in no log"
    );
}

/// An HTTPS proxy that records each CONNECT target and refuses to tunnel.
async fn recording_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&request).lines().next().unwrap_or_default().to_string();
                record.lock().unwrap().push(line);
                let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n").await;
            });
        }
    });
    (url, seen)
}

fn account_doc(name: &str, mut spec: Value) -> Value {
    spec["allowedNamespaces"] = json!({"names": ["default"]});
    json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
           "metadata": {"name": name}, "spec": spec})
}

fn product_doc(name: &str, account: &str) -> Value {
    json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"productName": format!("Probe_{}", name.replace('-', "_")), "accountRef": {"name": account}}})
}

#[tokio::test]
async fn plan_sends_nothing_to_a_host_off_the_allow_list_whatever_the_endpoints_spelling() {
    let (proxy, seen) = recording_proxy().await;
    let spellings = [
        "https://attacker.example\\.aliyuncs.com",
        "https://attacker.example\\@iot.cn-shanghai.aliyuncs.com",
        "https://attacker.example%5C.aliyuncs.com",
        "https://attacker.example%2F.aliyuncs.com",
        "https://iot.cn-shanghai.aliyuncs.com@attacker.example",
        "https://attacker.example#.aliyuncs.com",
        "https://attacker.example?.aliyuncs.com",
        "https://attacker.example/.aliyuncs.com",
        "https://attacker.example\t.aliyuncs.com",
        "https://attacker\u{ff0e}example.aliyuncs.com",
        "https://iot.cn-shanghai.aliyuncs.com.attacker.example",
        "https://2130706433",
        "https://[::ffff:127.0.0.1]",
    ];
    let secret_ref = json!({"name": "iot-platform-credentials"});
    let mut documents = Vec::new();
    for (i, spelling) in spellings.iter().enumerate() {
        let (regional, sts, oidc) = (format!("regional-{i}"), format!("sts-{i}"), format!("oidc-{i}"));
        documents.push(account_doc(
            &regional,
            json!({"region": "cn-shanghai", "endpoint": spelling,
            "credentials": {"secretRef": secret_ref}}),
        ));
        documents.push(account_doc(&sts, json!({"region": "cn-shanghai", "distributionEndpoint": spelling,
            "credentials": {"assumeRole": {"secretRef": secret_ref, "roleArn": "acs:ram::1:role/r", "stsEndpoint": spelling}}})));
        documents.push(account_doc(&oidc, json!({"region": "cn-shanghai",
            "credentials": {"oidc": {"roleArn": "acs:ram::1:role/r", "oidcProviderArn": "acs:ram::1:oidc-provider/p", "stsEndpoint": spelling}}})));
        for account in [regional, sts, oidc] {
            documents.push(product_doc(&format!("p-{account}"), &account));
        }
    }
    // One account at the default endpoint: its connection must go through the proxy (the
    // test sees the proxy used), to a host under aliyuncs.com.
    documents.push(account_doc(
        "plain",
        json!({"region": "cn-shanghai", "credentials": {"secretRef": secret_ref}}),
    ));
    documents.push(product_doc("p-plain", "plain"));
    let dir = tempfile::tempdir().unwrap();
    let text: Vec<String> = documents.iter().map(|d| serde_norway::to_string(d).unwrap()).collect();
    std::fs::write(dir.path().join("manifests.yaml"), text.join("---\n")).unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "header.payload.signature").unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_iot-product-operator"))
        .args(["plan", "-f"])
        .arg(dir.path().join("manifests.yaml"))
        .arg("--oidc-token-file")
        .arg(&token)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .env("HTTPS_PROXY", &proxy)
        .env("HTTP_PROXY", &proxy)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env("IOTOP_LOG_LEVEL", "error")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let connects = seen.lock().unwrap().clone();
    assert!(
        connects.iter().any(|c| c.starts_with("CONNECT iot.cn-shanghai.aliyuncs.com:443")),
        "the plain account went through the proxy: {connects:?}\n{stdout}"
    );
    for line in &connects {
        let target = line.strip_prefix("CONNECT ").and_then(|rest| rest.split_whitespace().next());
        let allowed = target.is_some_and(|t| {
            t.strip_suffix(":443")
                .is_some_and(|host| host.ends_with(".aliyuncs.com") && !host.contains(['\\', '@', '%']))
        });
        assert!(allowed, "a connection left the allow list: {line:?}");
    }
}

fn reads(env: &Env) -> u64 {
    env.emulator.emulator.stats().calls.get("QueryProduct").map_or(0, |c| c.values().sum())
}

async fn request_reconcile(env: &Env, value: &str) {
    env.products
        .patch(
            "lamp",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"iot.productoperator.dev/reconcile-requested-at": value}}})),
        )
        .await
        .unwrap();
}

async fn handled(env: &Env, value: &str) -> std::time::Instant {
    eventually(&format!("reconcile request {value} handled"), DEADLINE, || async {
        let p = env.products.get("lamp").await.map_err(|e| e.to_string())?;
        let echoed = p.status.and_then(|s| s.last_handled_reconcile_at);
        if echoed.as_deref() == Some(value) {
            Ok(std::time::Instant::now())
        } else {
            Err(format!("{echoed:?}"))
        }
    })
    .await
}

#[tokio::test]
async fn writing_reconcile_now_in_a_loop_does_not_sidestep_the_resync_floor() {
    const FLOOR: std::time::Duration = std::time::Duration::from_secs(6);
    let env =
        common::env_with("now-loop", &["--resync-interval", "10m", "--min-resync-interval", "6s"]).await;
    apply(&env, "lamp", json!({"productName": "Loop_01"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    let before = reads(&env);
    // The first request is honoured at once.
    let asked = std::time::Instant::now();
    request_reconcile(&env, "now-1").await;
    let first = handled(&env, "now-1").await;
    assert!(first - asked < FLOOR, "the first request waited {:?}", first - asked);
    assert_eq!(reads(&env), before + 1, "one look at the platform");
    // A tenant writes the annotation in a loop: one more look, no sooner than the floor.
    for i in 2..=20 {
        request_reconcile(&env, &format!("now-{i}")).await;
    }
    let last = handled(&env, "now-20").await;
    assert!(
        last - first >= FLOOR - std::time::Duration::from_millis(500),
        "honoured after {:?}",
        last - first
    );
    assert_eq!(reads(&env), before + 2, "nineteen requests within the floor made one look");
}

/// Platform calls other than the account's own probe (`QueryProductList`).
fn product_calls(env: &Env) -> u64 {
    let stats = env.emulator.emulator.stats();
    stats
        .calls
        .iter()
        .filter(|(action, _)| *action != "QueryProductList")
        .map(|(_, c)| c.values().sum::<u64>())
        .sum()
}

#[tokio::test]
async fn a_namespace_taken_out_of_an_account_is_refused_at_once_without_a_platform_call() {
    let env = common::env_with("admission", &["--resync-interval", "10m"]).await;
    apply(&env, "lamp", json!({"productName": "Admitted_01"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    let calls = product_calls(&env);
    let started = std::time::Instant::now();
    Api::<PlatformAccount>::all(env.client.clone())
        .patch(
            &account_name(&env.ns),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"allowedNamespaces": {"names": ["someone-else"]}}})),
        )
        .await
        .unwrap();
    let product = wait_condition(&env, "lamp", "Ready", "False", Some("AccountNotAllowed")).await;
    let (_, _, message) = common::condition(&product, "Ready").unwrap();
    assert!(message.contains(&env.ns), "{message}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "took {:?} (the resync is 10 minutes)",
        started.elapsed()
    );
    assert_eq!(product_calls(&env), calls, "refused without a platform call");
}

#[tokio::test]
async fn the_operator_refuses_to_start_with_a_pattern_or_sts_endpoint_it_would_read_differently() {
    for (flag, value, says) in [
        ("--allow-endpoint", "https://user@iot.example.com", "userinfo"),
        ("--allow-endpoint", "https://iot.example.com\\@attacker.example", "backslash"),
        ("--sts-endpoint", "https://sts.cn-shanghai.aliyuncs.com\\.attacker.example", "backslash"),
        ("--sts-endpoint", "https://sts.attacker.example", "not allowed"),
    ] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_iot-product-operator"))
            .args(["run", flag, value])
            // No cluster is needed to refuse: the endpoints are settled first.
            .env("KUBECONFIG", "/nonexistent")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{flag} {value:?} was accepted");
        assert!(
            stderr.contains(says) && !stderr.contains("cannot reach Kubernetes"),
            "{flag} {value:?}: {stderr}"
        );
    }
}
