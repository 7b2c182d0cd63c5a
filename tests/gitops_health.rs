//! How GitOps tools judge the operator's resources, with their own libraries: kstatus from
//! sigs.k8s.io/cli-utils (Flux's health checks), the Argo CD health checks shipped in
//! `config/argocd/` run by the Lua engine Argo CD embeds (tools/gitops-health), and
//! `kubectl wait --for=condition=Ready` — at the moments that matter: just applied,
//! reconciled, blocked by the publication lock, broken credentials, a paused resource, a
//! distribution that failed for good, and right after an edit.

mod common;

use common::{
    ACCESS_KEY_SECRET, DEADLINE, Env, OperatorProcess, account_name, apply, control_plane, eventually,
    manifest, patch_spec, root, wait_condition,
};
use iot_platform_emulator::faults::Faults;
use iot_product_operator::crd::{PlatformAccount, ProductDistribution};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::io::Write as _;
use std::process::{Command, Stdio};

/// What the tools say of one object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Verdict {
    kstatus: String,
    kstatus_message: String,
    argo: String,
    argo_message: String,
}

/// kstatus and Argo CD's verdict on `object` (as read from the API server).
fn judge(object: &Value) -> Verdict {
    let plane = control_plane();
    let tool = plane.bin_dir.parent().unwrap().join("gitops-health");
    let mut child = Command::new(&tool)
        .arg(root().join("config/argocd/argocd-cm.yaml"))
        .arg(root().join("config/argocd/health.lua"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {} (built by scripts/envtest.sh build): {e}", tool.display()));
    child.stdin.take().unwrap().write_all(json!([object]).to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "gitops-health failed: {}", String::from_utf8_lossy(&output.stderr));
    let mut verdicts: Vec<Verdict> = serde_json::from_slice(&output.stdout).unwrap();
    verdicts.remove(0)
}

/// Whether `kubectl wait --for=condition=Ready` returns within a second.
fn kubectl_wait_ready(kind: &str, name: &str, namespace: Option<&str>) -> bool {
    let plane = control_plane();
    let mut command = Command::new(plane.bin_dir.join("kubectl"));
    command.env("KUBECONFIG", &plane.kubeconfig).args(["wait", "--for=condition=Ready", "--timeout=1s"]);
    if let Some(ns) = namespace {
        command.args(["-n", ns]);
    }
    command.arg(format!("{kind}/{name}")).output().expect("run kubectl").status.success()
}

async fn object<K>(api: &Api<K>, name: &str) -> Value
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    serde_json::to_value(api.get(name).await.unwrap()).unwrap()
}

/// Polls until the tools say `kstatus` and `argo` of the IotProduct `name`.
async fn product_judged(env: &Env, name: &str, kstatus: &str, argo: &str) -> Verdict {
    eventually(&format!("{name}: kstatus {kstatus}, Argo CD {argo}"), DEADLINE, || async {
        let verdict = judge(&object(&env.products, name).await);
        if verdict.kstatus == kstatus && verdict.argo == argo {
            Ok(verdict)
        } else {
            Err(format!("{verdict:?}"))
        }
    })
    .await
}

#[tokio::test]
async fn tools_read_a_product_as_in_progress_until_it_matches_its_spec_and_as_failed_when_a_person_must_act()
{
    let mut env = common::env("health-product").await;
    let plane = control_plane();

    // Just applied, before the operator has seen it: in progress, not Current.
    env.operator.kill();
    apply(&env, "lamp", json!({"productName": "Lamp_Health"})).await;
    let fresh = judge(&object(&env.products, "lamp").await);
    assert_eq!((fresh.kstatus.as_str(), fresh.argo.as_str()), ("InProgress", "Progressing"), "{fresh:?}");
    assert!(!kubectl_wait_ready("iotproduct", "lamp", Some(&env.ns)));

    // Reconciled: Current, Healthy, `kubectl wait` returns.
    env.operator = OperatorProcess::start(plane, &env.ns, &[]);
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    let done = product_judged(&env, "lamp", "Current", "Healthy").await;
    assert!(done.argo_message.contains("matches the spec"), "{done:?}");
    assert!(kubectl_wait_ready("iotproduct", "lamp", Some(&env.ns)));

    // Right after an edit (the operator stopped, so the moment lasts): in progress, since
    // the observed generation is behind; `kubectl wait` does not return on the old Ready.
    env.operator.kill();
    patch_spec(&env, "lamp", json!({"description": "a lamp"})).await;
    let edited = judge(&object(&env.products, "lamp").await);
    assert_eq!((edited.kstatus.as_str(), edited.argo.as_str()), ("InProgress", "Progressing"), "{edited:?}");
    assert!(!kubectl_wait_ready("iotproduct", "lamp", Some(&env.ns)));
    env.operator = OperatorProcess::start(plane, &env.ns, &[]);
    product_judged(&env, "lamp", "Current", "Healthy").await;

    // A change the publication lock blocks: needs a person. Failed, Degraded, not Ready.
    patch_spec(&env, "lamp", json!({"published": true})).await;
    wait_condition(&env, "lamp", "Published", "True", None).await;
    patch_spec(&env, "lamp", json!({"productName": "Lamp_Renamed"})).await;
    wait_condition(&env, "lamp", "Synced", "False", Some("PublishedLocked")).await;
    let blocked = product_judged(&env, "lamp", "Failed", "Degraded").await;
    assert!(blocked.argo_message.starts_with("PublishedLocked: "), "{blocked:?}");
    assert!(blocked.kstatus_message.contains("RevokeAndRepublish"), "{blocked:?}");
    assert!(!kubectl_wait_ready("iotproduct", "lamp", Some(&env.ns)));
    let product = env.products.get("lamp").await.unwrap();
    let available = common::condition(&product, "Available").unwrap();
    assert_eq!(available.0, "True", "the product itself still exists: {available:?}");
    let status = product.status.unwrap();
    assert!(
        status.conditions.iter().all(|c| c.observed_generation == product.metadata.generation),
        "every condition is stamped with the current generation: {:?}",
        status.conditions
    );

    // The way out the message names: Current again.
    patch_spec(&env, "lamp", json!({"publishedChangePolicy": "RevokeAndRepublish"})).await;
    product_judged(&env, "lamp", "Current", "Healthy").await;
    assert!(kubectl_wait_ready("iotproduct", "lamp", Some(&env.ns)));

    // Paused: Argo CD says Suspended; kstatus (which has no such state) says Failed.
    env.products
        .patch(
            "lamp",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {iot_product_operator::crd::PAUSED_ANNOTATION: "true"}}}),
            ),
        )
        .await
        .unwrap();
    product_judged(&env, "lamp", "Failed", "Suspended").await;
}

#[tokio::test]
async fn tools_read_broken_credentials_as_failed_on_the_account_and_its_products() {
    let env = common::env_with_secret("health-creds", "wrong-secret").await;
    let client = env.client.clone();
    env.products
        .create(&PostParams::default(), &manifest(&env, "lamp", json!({"productName": "Lamp_Broken"})))
        .await
        .unwrap();

    let accounts: Api<PlatformAccount> = Api::all(client.clone());
    let account = account_name(&env.ns);
    let verdict = eventually("the account judged Failed", DEADLINE, || async {
        let verdict = judge(&object(&accounts, &account).await);
        if verdict.kstatus == "Failed" && verdict.argo == "Degraded" {
            Ok(verdict)
        } else {
            Err(format!("{verdict:?}"))
        }
    })
    .await;
    assert!(verdict.argo_message.contains("AccountNotReady"), "{verdict:?}");
    assert!(
        !verdict.argo_message.contains(ACCESS_KEY_SECRET) && !verdict.argo_message.contains("wrong-secret")
    );
    assert!(!kubectl_wait_ready("platformaccount", &account, None));
    let product = product_judged(&env, "lamp", "Failed", "Degraded").await;
    assert!(product.argo_message.starts_with("AccountNotReady: "), "{product:?}");

    // Fixed: both Current.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &env.ns);
    secrets
        .patch(
            "platform-credentials",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"AccessKeySecret": ACCESS_KEY_SECRET}})),
        )
        .await
        .unwrap();
    product_judged(&env, "lamp", "Current", "Healthy").await;
    let fixed = judge(&object(&accounts, &account).await);
    assert_eq!((fixed.kstatus.as_str(), fixed.argo.as_str()), ("Current", "Healthy"), "{fixed:?}");
    assert!(kubectl_wait_ready("platformaccount", &account, None));
}

#[tokio::test]
async fn tools_read_a_distribution_as_progressing_while_it_runs_and_failed_when_it_cannot_finish() {
    let env = common::env("health-dist").await;
    apply(&env, "lamp", json!({"productName": "Lamp_HealthDist"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    let distributions: Api<ProductDistribution> = Api::namespaced(env.client.clone(), &env.ns);
    let create = |name: &str, instance: &str| {
        serde_json::from_value::<ProductDistribution>(json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
            "metadata": {"name": name},
            "spec": {"productRef": {"name": "lamp"}, "target": {"instanceId": instance, "uid": common::ACCOUNT_UID}}
        }))
        .unwrap()
    };
    let judged = |name: &'static str, kstatus: &'static str, argo: &'static str| {
        let distributions = distributions.clone();
        async move {
            eventually(&format!("{name}: {kstatus}/{argo}"), DEADLINE, || async {
                let verdict = judge(&object(&distributions, name).await);
                if verdict.kstatus == kstatus && verdict.argo == argo {
                    Ok(verdict)
                } else {
                    Err(format!("{verdict:?}"))
                }
            })
            .await
        }
    };

    // A job that completes: in progress while it runs, then Current and Healthy.
    distributions.create(&PostParams::default(), &create("ok", "iot-cn-prod0001")).await.unwrap();
    let running = judge(&object(&distributions, "ok").await);
    assert_ne!(running.kstatus, "Failed", "{running:?}");
    judged("ok", "Current", "Healthy").await;
    assert!(kubectl_wait_ready("productdistribution", "ok", Some(&env.ns)));

    // A job the platform interrupts: terminal, Failed and Degraded with the reason.
    env.emulator.emulator.set_faults(Faults { fail_next_distributions: 1, ..Faults::default() });
    distributions.create(&PostParams::default(), &create("interrupted", "iot-cn-prod0001")).await.unwrap();
    let failed = judged("interrupted", "Failed", "Degraded").await;
    assert!(failed.argo_message.starts_with("JobInterrupted: "), "{failed:?}");
    assert!(!kubectl_wait_ready("productdistribution", "interrupted", Some(&env.ns)));
    env.emulator.emulator.set_faults(Faults::default());

    // A target instance that does not exist: refused, Failed rather than waiting for ever.
    distributions.create(&PostParams::default(), &create("nowhere", "iot-cn-missing01")).await.unwrap();
    let refused = judged("nowhere", "Failed", "Degraded").await;
    assert!(refused.argo_message.contains("iot-cn-missing01"), "{refused:?}");
}

#[tokio::test]
async fn tools_read_a_consumer_group_as_in_progress_until_it_exists_and_failed_on_a_name_conflict() {
    use iot_product_operator::crd::IotConsumerGroup;
    let mut env = common::env("health-group").await;
    let plane = control_plane();
    let groups: Api<IotConsumerGroup> = Api::namespaced(env.client.clone(), &env.ns);
    let group = |name: &str, group_name: &str| -> IotConsumerGroup {
        serde_json::from_value(json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotConsumerGroup",
            "metadata": {"name": name},
            "spec": {"groupName": group_name, "accountRef": {"name": account_name(&env.ns)}}
        }))
        .unwrap()
    };
    let judged = |name: &'static str, kstatus: &'static str, argo: &'static str| {
        let groups = groups.clone();
        async move {
            eventually(&format!("{name}: kstatus {kstatus}, Argo CD {argo}"), DEADLINE, || async {
                let verdict = judge(&object(&groups, name).await);
                if verdict.kstatus == kstatus && verdict.argo == argo {
                    Ok(verdict)
                } else {
                    Err(format!("{verdict:?}"))
                }
            })
            .await
        }
    };

    // Just applied, before the operator has seen it: in progress.
    env.operator.kill();
    groups.create(&PostParams::default(), &group("billing", "billing_backend")).await.unwrap();
    let fresh = judge(&object(&groups, "billing").await);
    assert_eq!((fresh.kstatus.as_str(), fresh.argo.as_str()), ("InProgress", "Progressing"), "{fresh:?}");
    assert!(!kubectl_wait_ready("iotconsumergroup", "billing", Some(&env.ns)));

    // Made: Current, Healthy, `kubectl wait` returns.
    env.operator = OperatorProcess::start(plane, &env.ns, &[]);
    judged("billing", "Current", "Healthy").await;
    assert!(kubectl_wait_ready("iotconsumergroup", "billing", Some(&env.ns)));

    // A second resource wanting the same name needs a person: Failed, Degraded.
    groups.create(&PostParams::default(), &group("billing-copy", "billing_backend")).await.unwrap();
    let conflict = judged("billing-copy", "Failed", "Degraded").await;
    assert!(conflict.argo_message.starts_with("NameConflict: "), "{conflict:?}");
}
