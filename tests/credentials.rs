//! Short-lived credentials: PlatformAccounts whose credentials come from STS — RRSA (the
//! operator's service-account token, minted by the real kube-apiserver's TokenRequest API,
//! exchanged through `AssumeRoleWithOIDC`, which the emulator checks against the
//! kube-apiserver's own OIDC discovery document and JWKS) and `AssumeRole` with base
//! credentials from a Secret. The emulator issues credentials that live 60 s and refuses
//! expired ones.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{
    ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_UID, DEADLINE, Env, OperatorProcess, TestEmulator,
    account_name, apply, control_plane, eventually, patch_spec, tail, test_namespace, wait_condition,
};
use iot_platform_emulator::sts::{OidcProvider, Role, StsConfig};
use iot_product_operator::crd::{PlatformAccount, ProductDistribution};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const ROLE: &str = "acs:ram::1234567890123456:role/iot-operator";
const PROVIDER: &str = "acs:ram::1234567890123456:oidc-provider/envtest";
const AUDIENCE: &str = "sts.aliyuncs.com";
const LIFETIME_SECONDS: u64 = 60;

/// The kube-apiserver's service-account issuer and its published keys, read the way an
/// OIDC relying party reads them: the discovery document, then its `jwks_uri`.
async fn issuer_and_keys(client: &Client) -> (String, Value) {
    let get = |path: &str| http::Request::get(path).body(Vec::new()).unwrap();
    let discovery: Value =
        serde_json::from_str(&client.request_text(get("/.well-known/openid-configuration")).await.unwrap())
            .unwrap();
    let issuer = discovery["issuer"].as_str().expect("an issuer").to_string();
    let jwks_path = discovery["jwks_uri"]
        .as_str()
        .and_then(|uri| uri.find("/openid/").map(|at| uri[at..].to_string()))
        .expect("a jwks_uri");
    let jwks: Value = serde_json::from_str(&client.request_text(get(&jwks_path)).await.unwrap()).unwrap();
    assert!(jwks["keys"].as_array().is_some_and(|k| !k.is_empty()), "{jwks}");
    (issuer, jwks)
}

/// STS set up as RAM would be for RRSA: the cluster's issuer registered as an OIDC
/// provider, a role that trusts it (and the base AccessKey), credentials living 60 s.
async fn configure_sts(client: &Client, emulator: &TestEmulator) {
    let (issuer, jwks) = issuer_and_keys(client).await;
    emulator.emulator.set_sts(StsConfig {
        lifetime_seconds: Some(LIFETIME_SECONDS),
        roles: vec![Role {
            arn: ROLE.into(),
            trusted_access_keys: vec![ACCESS_KEY_ID.into()],
            trusted_oidc_providers: vec![PROVIDER.into()],
            max_session_seconds: None,
            external_id: None,
        }],
        oidc_providers: vec![OidcProvider {
            arn: PROVIDER.into(),
            issuer,
            audiences: vec![AUDIENCE.into()],
            jwks,
        }],
        ..StsConfig::default()
    });
}

/// A token for the namespace's `iot-operator` ServiceAccount from the TokenRequest API (what
/// the kubelet puts into a projected volume).
async fn service_account_token(client: &Client, ns: &str, audience: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    if accounts.get_opt("iot-operator").await.unwrap().is_none() {
        let account: ServiceAccount =
            serde_json::from_value(json!({"metadata": {"name": "iot-operator"}})).unwrap();
        accounts.create(&PostParams::default(), &account).await.unwrap();
    }
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![audience.to_string()],
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let issued: TokenRequest =
        accounts.create_subresource("token", "iot-operator", &PostParams::default(), &request).await.unwrap();
    issued.status.expect("a token").token
}

/// One test's world with an account whose `spec.credentials` is `credentials`, and the
/// operator's token file holding a token for `audience`.
struct World {
    env: Env,
    token_file: PathBuf,
    _dir: tempfile::TempDir,
}

async fn world(prefix: &str, credentials: Value, audience: &str) -> World {
    let plane = control_plane();
    let client = plane.admin_client().await;
    let ns = test_namespace(&client, prefix).await;
    let emulator = TestEmulator::start().await;
    configure_sts(&client, &emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, service_account_token(&client, &ns, audience).await).unwrap();
    let base: Secret = serde_json::from_value(json!({
        "metadata": {"name": "base-credentials", "namespace": ns},
        "stringData": {"AccessKeyId": ACCESS_KEY_ID, "AccessKeySecret": ACCESS_KEY_SECRET}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns).create(&PostParams::default(), &base).await.unwrap();
    let mut credentials = credentials;
    for source in ["oidc", "assumeRole"] {
        if let Some(settings) = credentials.get_mut(source).and_then(Value::as_object_mut) {
            settings.entry("stsEndpoint").or_insert(json!(emulator.url));
        }
    }
    let account: PlatformAccount = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
        "metadata": {"name": account_name(&ns), "labels": {"test": ns}},
        "spec": {"region": "cn-shanghai", "endpoint": emulator.url, "credentials": credentials,
                 "allowedNamespaces": {"names": [ns]}}
    }))
    .unwrap();
    Api::<PlatformAccount>::all(client.clone()).create(&PostParams::default(), &account).await.unwrap();
    let token_path = token_file.display().to_string();
    let operator = OperatorProcess::start(plane, &ns, &["--oidc-token-file", &token_path]);
    let products = Api::namespaced(client.clone(), &ns);
    World { env: Env { client, ns, emulator, operator, products }, token_file, _dir: dir }
}

fn oidc() -> Value {
    json!({"oidc": {"roleArn": ROLE, "oidcProviderArn": PROVIDER}})
}

/// The account's Ready condition: (status, reason, message).
async fn account_ready(env: &Env) -> Option<(String, String, String)> {
    let account = Api::<PlatformAccount>::all(env.client.clone()).get(&account_name(&env.ns)).await.ok()?;
    account
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status, c.reason, c.message))
}

async fn wait_account(env: &Env, status: &str, reason: &str, deadline: Duration) -> String {
    eventually(&format!("the account Ready={status} {reason}"), deadline, || async {
        match account_ready(env).await {
            Some((s, r, message)) if s == status && r == reason => Ok(message),
            other => Err(format!("{other:?}; operator log tail: {}", tail(&env.operator.logs()))),
        }
    })
    .await
}

/// IoT Platform calls the emulator answered (STS calls and gateway refusals aside).
fn platform_calls(env: &Env) -> u64 {
    env.emulator
        .emulator
        .stats()
        .calls
        .iter()
        .filter(|(action, _)| !action.starts_with("AssumeRole"))
        .flat_map(|(_, outcomes)| outcomes.values())
        .sum()
}

fn metrics_port(env: &Env) -> u16 {
    env.operator
        .logs()
        .lines()
        .find(|l| l.contains("serving /metrics"))
        .and_then(|l| l.split("127.0.0.1:").nth(1))
        .and_then(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok())
        .expect("the metrics port in the log")
}

/// Sums the samples of `family` whose labels contain every one of `labels`.
async fn metric_sum(port: u16, family: &str, labels: &[&str]) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with(family) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_life_of_changes_runs_on_sixty_second_credentials_from_a_service_account_token() {
    let seconds: u64 =
        std::env::var("IOTOP_CREDENTIALS_RUN_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let world = world("rrsa-life", oidc(), AUDIENCE).await;
    let env = &world.env;
    let token = std::fs::read_to_string(&world.token_file).unwrap();
    wait_account(env, "True", "CredentialsValid", DEADLINE).await;
    for i in 0..3 {
        apply(env, &format!("lamp-{i}"), json!({"productName": format!("Lamp_{i}_{}", &env.ns[10..])})).await;
    }
    let distributions: Api<ProductDistribution> = Api::namespaced(env.client.clone(), &env.ns);
    let started = std::time::Instant::now();
    let (mut changes, mut distributed) = (0u32, 0u32);
    while started.elapsed() < Duration::from_secs(seconds) {
        let name = format!("lamp-{}", changes % 3);
        wait_condition(env, &name, "Ready", "True", None).await;
        patch_spec(env, &name, json!({"description": format!("revision {changes}")})).await;
        wait_condition(env, &name, "Ready", "True", None).await;
        changes += 1;
        if changes % 10 == 0 {
            // A new product, distributed to another instance, then deleted.
            let product = format!("moved-{distributed}");
            apply(env, &product, json!({"productName": format!("Moved_{distributed}_{}", &env.ns[10..])}))
                .await;
            wait_condition(env, &product, "Ready", "True", None).await;
            let pd: ProductDistribution = serde_json::from_value(json!({
                "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
                "metadata": {"name": product},
                "spec": {"productRef": {"name": product}, "jobRecordPolicy": "DeleteWhenDone",
                         "target": {"instanceId": "iot-cn-prod0001", "uid": ACCOUNT_UID}}
            }))
            .unwrap();
            distributions.create(&PostParams::default(), &pd).await.unwrap();
            eventually(&format!("{product} distributed"), DEADLINE, || async {
                let pd = distributions.get(&product).await.map_err(|e| e.to_string())?;
                let ready = pd.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
                match ready {
                    Some(c) if c.status == "True" => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            })
            .await;
            distributed += 1;
        }
    }
    let stats = env.emulator.emulator.stats();
    let port = metrics_port(env);
    let account = account_name(&env.ns);
    let renewed =
        metric_sum(port, "iotop_credential_renewals_total", &[&account, "result=\"Success\""]).await;
    let failed = metric_sum(port, "iotop_credential_renewals_total", &[&account]).await - renewed;
    let exchanges = stats.calls.get("AssumeRoleWithOIDC").cloned().unwrap_or_default();
    eprintln!(
        "credentials run: {seconds} s, {changes} changes, {distributed} distributions, {} platform calls, \
         {renewed} renewals ({failed} failed), STS answers {exchanges:?}, gateway refusals {:?}",
        platform_calls(env),
        stats.refused
    );
    // Every call was signed with live credentials: the gateway refused none (an expired
    // token would be InvalidSecurityToken.Expired), and no call failed for its credentials.
    assert_eq!(stats.refused_signatures, 0, "gateway refusals: {:?}", stats.refused);
    for (action, outcomes) in &stats.calls {
        for code in outcomes.keys() {
            assert!(
                !code.starts_with("InvalidSecurityToken") && !code.starts_with("InvalidAccessKeyId"),
                "{action} answered {code}"
            );
        }
    }
    assert_eq!(exchanges.keys().collect::<Vec<_>>(), ["Success"], "{exchanges:?}");
    // Renewed ahead of expiry: about every 40 s of a 60 s life, counted in the metric.
    let expected = seconds / LIFETIME_SECONDS;
    assert!(renewed >= expected as f64, "{renewed} renewals in {seconds} s");
    assert_eq!(failed, 0.0);
    assert!(changes >= 10 && distributed >= 1, "{changes} changes, {distributed} distributions");
    // The token and the temporary credentials never reach the log.
    let log = env.operator.logs();
    assert!(!log.contains(token.trim()), "the OIDC token is in the log");
    assert!(!log.contains("CAIS"), "a security token is in the log");
}

#[tokio::test]
async fn a_role_assumed_with_base_credentials_from_a_secret_manages_products() {
    let world = world(
        "assume-role",
        json!({"assumeRole": {"secretRef": {"name": "base-credentials"}, "roleArn": ROLE,
                              "roleSessionName": "iot-op-test", "externalId": "abc-123"}}),
        AUDIENCE,
    )
    .await;
    let env = &world.env;
    wait_account(env, "True", "CredentialsValid", DEADLINE).await;
    apply(env, "lamp", json!({"productName": format!("Lamp_{}", &env.ns[12..])})).await;
    wait_condition(env, "lamp", "Ready", "True", None).await;
    let stats = env.emulator.emulator.stats();
    assert_eq!(stats.calls["AssumeRole"].get("Success").copied(), Some(1), "{:?}", stats.calls);
    assert!(stats.calls["CreateProduct"].contains_key("Success"));
    let log = env.operator.logs();
    assert!(!log.contains(ACCESS_KEY_SECRET) && !log.contains("CAIS"), "a secret is in the log");
}

/// Patches the account's `spec.credentials.oidc`.
async fn patch_oidc(env: &Env, oidc: Value) {
    Api::<PlatformAccount>::all(env.client.clone())
        .patch(
            &account_name(&env.ns),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"credentials": {"oidc": oidc}}})),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn broken_credential_sources_say_why_call_nothing_and_recover_without_a_restart() {
    // 1. A token for another audience: STS refuses it; the product waits.
    let world = world("rrsa-broken", oidc(), "wrong.example.com").await;
    let env = &world.env;
    let message = wait_account(env, "False", "AssumeRoleRefused", DEADLINE).await;
    assert!(message.contains("AuthenticationFail.OIDCToken.AudienceNotMatch"), "{message}");
    apply(env, "lamp", json!({"productName": format!("Lamp_{}", &env.ns[12..])})).await;
    let product = wait_condition(env, "lamp", "Ready", "False", Some("AccountNotReady")).await;
    let (_, _, said) = common::condition(&product, "Ready").unwrap();
    assert!(said.contains("no usable credentials") && said.contains("AudienceNotMatch"), "{said}");
    assert_eq!(platform_calls(env), 0, "nothing reaches the platform without credentials");
    // The kubelet rotates the token file: the next renewal reads the right one.
    let right = service_account_token(&env.client, &env.ns, AUDIENCE).await;
    std::fs::write(&world.token_file, &right).unwrap();
    wait_account(env, "True", "CredentialsValid", Duration::from_secs(90)).await;
    wait_condition(env, "lamp", "Ready", "True", None).await;

    // 2. A role that does not exist.
    patch_oidc(env, json!({"roleArn": "acs:ram::1234567890123456:role/nonexistent"})).await;
    let message = wait_account(env, "False", "AssumeRoleRefused", DEADLINE).await;
    assert!(
        message.contains("AuthenticationFail.NoPermission") && message.contains("nonexistent"),
        "{message}"
    );
    patch_oidc(env, json!({"roleArn": ROLE})).await;
    wait_account(env, "True", "CredentialsValid", DEADLINE).await;

    // 3. An expired token (STS's clock moved past its expiry); a new session name makes
    // the operator renew at once.
    let mut sts = env.emulator.emulator.sts_config();
    sts.oidc_clock_offset_seconds = 7200;
    env.emulator.emulator.set_sts(sts.clone());
    patch_oidc(env, json!({"roleSessionName": "iot-op-renewed"})).await;
    let message = wait_account(env, "False", "AssumeRoleRefused", DEADLINE).await;
    assert!(message.contains("AuthenticationFail.OIDCToken.Expired"), "{message}");
    let calls = platform_calls(env);
    wait_condition(env, "lamp", "Ready", "False", Some("AccountNotReady")).await;
    assert_eq!(platform_calls(env), calls, "the product called the platform without credentials");
    sts.oidc_clock_offset_seconds = 0;
    env.emulator.emulator.set_sts(sts);
    wait_account(env, "True", "CredentialsValid", Duration::from_secs(90)).await;
    wait_condition(env, "lamp", "Ready", "True", None).await;

    // 4. STS unreachable: transient, retried on its own; back once the endpoint is right.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    patch_oidc(env, json!({"stsEndpoint": format!("http://{closed}")})).await;
    let message = wait_account(env, "False", "StsUnavailable", DEADLINE).await;
    assert!(message.contains("could not be reached") && !message.contains("http://"), "{message}");
    patch_oidc(env, json!({"stsEndpoint": env.emulator.url})).await;
    wait_account(env, "True", "CredentialsValid", DEADLINE).await;
    wait_condition(env, "lamp", "Ready", "True", None).await;

    // Each failure was announced once, as an Event on the account.
    let events = eventually("the account's Events", DEADLINE, || async {
        let list = Api::<k8s_openapi::api::core::v1::Event>::all(env.client.clone())
            .list(
                &kube::api::ListParams::default()
                    .fields(&format!("involvedObject.name={}", account_name(&env.ns))),
            )
            .await
            .map_err(|e| e.to_string())?;
        let reasons: Vec<String> = list.items.into_iter().filter_map(|e| e.reason).collect();
        if reasons.iter().any(|r| r == "StsUnavailable") { Ok(reasons) } else { Err(format!("{reasons:?}")) }
    })
    .await;
    assert!(events.iter().any(|r| r == "AssumeRoleRefused"), "{events:?}");
    let log = env.operator.logs();
    assert!(!log.contains(right.trim()) && !log.contains("CAIS"), "a token is in the log");
}
