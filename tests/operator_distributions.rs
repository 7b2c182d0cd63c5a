//! ProductDistribution end to end: the real kube-apiserver, the emulator and the operator.

mod common;

use common::{
    DEADLINE, Env, OperatorProcess, apply, condition, control_plane, env, events, eventually,
    in_process_context, patch_spec, tail, wait_condition,
};
use iot_platform::model::{CreateProduct, CreateProductDistributeJob, DeleteDeviceDistributeJob};
use iot_platform_emulator::faults::Faults;
use iot_product_operator::crd::ProductDistribution;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

const TSL: &str =
    r#"{"properties":[{"identifier":"Power","name":"Power","accessMode":"rw","dataType":{"type":"bool"}}]}"#;
const TSL_CHANGED: &str = r#"{"properties":[{"identifier":"Power","name":"Power","accessMode":"rw","dataType":{"type":"bool"}},{"identifier":"Level","name":"Level","accessMode":"r","dataType":{"type":"int"}}]}"#;

fn distributions(env: &Env) -> Api<ProductDistribution> {
    Api::namespaced(env.client.clone(), &env.ns)
}

async fn distribute(env: &Env, name: &str, spec: Value) {
    let mut full = json!({"accountRef": {"name": common::account_name(&env.ns)}});
    full.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
    let pd: ProductDistribution = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
        "metadata": {"name": name}, "spec": full
    }))
    .unwrap();
    distributions(env).create(&PostParams::default(), &pd).await.expect("create ProductDistribution");
}

async fn wait_distribution(env: &Env, name: &str, state: &str, reason: &str) -> ProductDistribution {
    eventually(&format!("{name} {state}/{reason}"), DEADLINE, || async {
        let pd = distributions(env).get(name).await.map_err(|e| e.to_string())?;
        let status = pd.status.clone().unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.reason.clone());
        if status.state.as_deref() == Some(state) && ready.as_deref() == Some(reason) {
            Ok(pd)
        } else {
            Err(format!("{:?} {:?}; {}", status.state, status.conditions, tail(&env.operator.logs())))
        }
    })
    .await
}

fn jobs(env: &Env) -> usize {
    env.emulator.emulator.snapshot().jobs.len()
}

/// Creates a product directly on the platform (no IotProduct); returns its key.
async fn platform_product(env: &Env, name: &str) -> String {
    let request = CreateProduct { product_name: name.into(), node_type: 0, ..CreateProduct::default() };
    env.emulator.client().call(&request).await.unwrap().product_key.unwrap()
}

/// Distributes IotProduct `lamp` as `name` while the create's answer is lost and the lookup
/// that would find the job fails, then SIGKILLs the operator: the resource knows only that
/// a create was started. Faults are off afterwards.
async fn distribute_losing_the_answer_then_stop(env: &mut Env, name: &str, policy: &str) {
    let faults = Faults {
        lose_next: [("CreateProductDistributeJob".to_string(), 1)].into(),
        fail_after: [("ListDeviceDistributeJob".to_string(), 1)].into(),
        ..Faults::default()
    };
    env.emulator.emulator.set_faults(faults);
    distribute(env, name, json!({"productRef": {"name": "lamp"}, "jobRecordPolicy": policy, "target": {"instanceId": "iot-cn-prod0001", "uid": common::ACCOUNT_UID}})).await;
    eventually("the lookup failed", DEADLINE, || async {
        if env.emulator.emulator.stats().injected_errors > 0 {
            Ok(())
        } else {
            Err(tail(&env.operator.logs()))
        }
    })
    .await;
    env.operator.kill();
    let status = distributions(env).get(name).await.unwrap().status.unwrap_or_default();
    assert!(status.create_started_time.is_some() && status.job_id.is_none(), "{status:?}");
    env.emulator.emulator.set_faults(Faults::default());
}

/// Waits until ProductDistribution `name` is gone from the API (its finalizer done).
async fn wait_gone(env: &Env, name: &str) {
    eventually(&format!("{name} gone"), DEADLINE, || async {
        let found = distributions(env).get_opt(name).await.map_err(|e| e.to_string())?;
        found.map_or(Ok(()), |_| Err("still there".to_string()))
    })
    .await;
}

fn create_calls(env: &Env) -> u64 {
    env.emulator.emulator.stats().calls.get("CreateProductDistributeJob").map_or(0, |c| c.values().sum())
}

#[tokio::test]
async fn a_product_is_distributed_by_reference_and_its_thing_model_is_locked_afterwards() {
    let env = env("dist-ref").await;
    apply(&env, "lamp", json!({"productName": "Lamp_Dist", "thingModel": {"tsl": TSL}})).await;
    let product = wait_condition(&env, "lamp", "Ready", "True", None).await;
    let key = product.status.unwrap().product_key.unwrap();
    distribute(&env, "to-prod", json!({"productRef": {"name": "lamp"}, "target": {"instanceId": "iot-cn-prod0001", "uid": common::ACCOUNT_UID}})).await;
    let pd = wait_distribution(&env, "to-prod", "Completed", "Distributed").await;
    let status = pd.status.unwrap();
    assert_eq!(status.product_key.as_deref(), Some(key.as_str()));
    assert!(status.job_id.is_some() && status.start_time.is_some() && status.completion_time.is_some());
    assert_eq!(create_calls(&env), 1);
    // By default the finished job's record is deleted on the platform, freeing its task.
    eventually("the finished job's record deleted", DEADLINE, || async {
        let pd = distributions(&env).get("to-prod").await.map_err(|e| e.to_string())?;
        let deleted = pd.status.and_then(|s| s.job_record_deleted);
        if deleted == Some(true) && jobs(&env) == 0 {
            Ok(())
        } else {
            Err(format!("{deleted:?}, {} jobs", jobs(&env)))
        }
    })
    .await;
    let copies: Vec<String> = env
        .emulator
        .products()
        .iter()
        .filter(|p| p.product_key == key)
        .map(|p| p.instance_id.clone())
        .collect();
    assert!(copies.contains(&"iot-cn-prod0001".to_string()), "{copies:?}");

    // The product shows the lock and refuses thing-model changes without calling the platform.
    let product = wait_condition(&env, "lamp", "ThingModelLocked", "True", Some("Distributed")).await;
    assert!(condition(&product, "ThingModelLocked").unwrap().2.contains("iot-cn-prod0001"));
    let imports_before =
        env.emulator.emulator.stats().calls.get("ImportThingModelTsl").map_or(0, |c| c.values().sum::<u64>());
    patch_spec(&env, "lamp", json!({"thingModel": {"tsl": TSL_CHANGED}})).await;
    let product =
        wait_condition(&env, "lamp", "Synced", "False", Some("ThingModelLockedByDistribution")).await;
    assert!(condition(&product, "Synced").unwrap().2.contains("to-prod"));
    let imports_after =
        env.emulator.emulator.stats().calls.get("ImportThingModelTsl").map_or(0, |c| c.values().sum::<u64>());
    assert_eq!(imports_before, imports_after, "no import was attempted");
}

#[tokio::test]
async fn a_product_is_distributed_by_key_to_an_account_named_by_its_logon_id() {
    let env = env("dist-key").await;
    let key = platform_product(&env, "ByKey_01").await;
    distribute(&env, "by-key", json!({"productKey": key, "target": {"instanceId": "iot-cn-prod0001", "logonId": "owner@example.com"}})).await;
    wait_distribution(&env, "by-key", "Completed", "Distributed").await;
    assert_eq!(create_calls(&env), 1);
}

#[tokio::test]
async fn the_eleventh_distribution_waits_for_a_free_task() {
    let env = env("dist-quota").await;
    let platform = env.emulator.client();
    let key = platform
        .call(&CreateProduct { product_name: "Quota_01".into(), node_type: 0, ..CreateProduct::default() })
        .await
        .unwrap()
        .product_key
        .unwrap();
    let mut job_ids = Vec::new();
    for _ in 0..10 {
        let job = platform
            .call(&CreateProductDistributeJob {
                product_key: key.clone(),
                source_instance_id: "iotx-oxssharez200".into(),
                target_instance_id: "iot-cn-prod0001".into(),
                target_uid: Some(common::ACCOUNT_UID.into()),
                target_aliyun_id: None,
            })
            .await
            .unwrap();
        job_ids.push(job.job_id.unwrap());
    }
    distribute(
        &env,
        "eleventh",
        json!({"productKey": key, "target": {"instanceId": "iot-cn-prod0001", "uid": common::ACCOUNT_UID}}),
    )
    .await;
    let pd = wait_distribution(&env, "eleventh", "Pending", "DistributionQuotaFull").await;
    let message = pd.status.unwrap().conditions[0].message.clone();
    assert!(message.contains("maximum of 10"), "{message}");
    assert_eq!(create_calls(&env), 10, "the operator did not try to create an 11th");
    platform.call(&DeleteDeviceDistributeJob { job_id: job_ids[0].clone() }).await.unwrap();
    wait_distribution(&env, "eleventh", "Completed", "Distributed").await;
}

#[tokio::test]
async fn a_crash_after_the_job_was_created_leaves_exactly_one_job() {
    let mut env = env("dist-crash").await;
    apply(&env, "lamp", json!({"productName": "Lamp_DistCrash"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    distribute_losing_the_answer_then_stop(&mut env, "crash", "Keep").await;
    env.operator = OperatorProcess::start(control_plane(), &env.ns, &[]);
    let pd = wait_distribution(&env, "crash", "Completed", "Distributed").await;
    assert_eq!(jobs(&env), 1);
    assert_eq!(create_calls(&env), 1);
    assert_eq!(
        pd.status.unwrap().job_id,
        env.emulator.emulator.snapshot().jobs.first().map(|j| j.job_id.clone())
    );
    assert!(events(&env, "crash").await.iter().any(|(r, _)| r == "JobFound"));
}

#[tokio::test]
async fn deleting_a_distribution_whose_create_answer_was_lost_deletes_the_job_it_made() {
    let mut env = env("dist-lostdel").await;
    apply(&env, "lamp", json!({"productName": "Lamp_LostDel"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    distribute_losing_the_answer_then_stop(&mut env, "lost", "DeleteWhenDone").await;
    assert_eq!(jobs(&env), 1, "the lost create made a job");
    distributions(&env).delete("lost", &DeleteParams::default()).await.unwrap();
    env.operator = OperatorProcess::start(control_plane(), &env.ns, &[]);
    wait_gone(&env, "lost").await;
    assert_eq!(jobs(&env), 0, "the job the lost create made is not left taking a task");
    assert_eq!(create_calls(&env), 1);
}

#[tokio::test]
async fn a_job_the_platform_interrupts_is_reported_as_failed_with_the_reason() {
    let env = env("dist-fail").await;
    apply(&env, "lamp", json!({"productName": "Lamp_DistFail"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    env.emulator.emulator.set_faults(Faults { fail_next_distributions: 1, ..Faults::default() });
    distribute(&env, "fails", json!({"productRef": {"name": "lamp"}, "target": {"instanceId": "iot-cn-prod0001", "uid": common::ACCOUNT_UID}})).await;
    let pd = wait_distribution(&env, "fails", "Failed", "JobInterrupted").await;
    assert!(pd.status.unwrap().conditions[0].message.contains("create a new ProductDistribution"));
    assert!(events(&env, "fails").await.iter().any(|(r, _)| r == "JobInterrupted"));
}

#[tokio::test]
async fn a_distribution_waits_for_its_product_and_deleting_it_frees_the_task() {
    let env = env("dist-wait").await;
    distribute(&env, "early", json!({"productRef": {"name": "later"}, "jobRecordPolicy": "Keep", "target": {"instanceId": "iot-cn-prod0001", "uid": common::ACCOUNT_UID}})).await;
    wait_distribution(&env, "early", "Pending", "ProductNotFound").await;
    apply(&env, "later", json!({"productName": "Lamp_Later"})).await;
    wait_distribution(&env, "early", "Completed", "Distributed").await;
    assert_eq!(jobs(&env), 1);
    distributions(&env).delete("early", &DeleteParams::default()).await.unwrap();
    eventually("job record deleted", DEADLINE, || async {
        if jobs(&env) == 0 { Ok(()) } else { Err("still there".to_string()) }
    })
    .await;
    wait_gone(&env, "early").await;
    // The distribution itself is not undone.
    assert!(env.emulator.products().iter().any(|p| p.instance_id == "iot-cn-prod0001"));
}

/// The operator's context built in the test process, reading accounts from the API server:
/// lets a test hand the reconciler a copy of its choosing.
#[tokio::test]
async fn a_stale_copy_of_a_finished_distribution_does_not_turn_it_failed() {
    // Found by the fault campaign: a cached copy from before the outcome was recorded polls the
    // job, whose record DeleteWhenDone has just deleted; the "job vanished" verdict must come
    // from the latest copy only.
    let env = env("dist-stale").await;
    let key = platform_product(&env, "Stale_01").await;
    distribute(
        &env,
        "stale",
        json!({"productKey": key, "target": {"instanceId": "iot-cn-prod0001", "uid": common::ACCOUNT_UID}}),
    )
    .await;
    wait_distribution(&env, "stale", "Completed", "Distributed").await;
    let finished = eventually("job record deleted", DEADLINE, || async {
        let pd = distributions(&env).get("stale").await.map_err(|e| e.to_string())?;
        match pd.status.as_ref().and_then(|s| s.job_record_deleted) {
            Some(true) => Ok(pd),
            other => Err(format!("jobRecordDeleted {other:?}")),
        }
    })
    .await;
    assert_eq!(jobs(&env), 0, "the job's record is deleted");

    // The copy a lagging cache could still hold: the job running, nothing deleted yet.
    let mut stale = finished;
    let status = stale.status.as_mut().unwrap();
    status.state = Some("Running".into());
    status.job_record_deleted = None;
    let ctx = in_process_context(&env).await;
    iot_product_operator::distribution::reconcile(std::sync::Arc::new(stale), ctx)
        .await
        .expect("the reconcile of a stale copy succeeds");

    let after = distributions(&env).get("stale").await.unwrap();
    let status = after.status.unwrap();
    assert_eq!(status.state.as_deref(), Some("Completed"), "{:?}", status.conditions);
    assert_eq!(status.job_record_deleted, Some(true));
    assert!(!events(&env, "stale").await.iter().any(|(reason, _)| reason == "JobMissing"));
}

#[tokio::test]
async fn an_account_outside_the_operators_selector_is_not_used() {
    // Accounts missing from the operator's cache are read from the API server, with the
    // operator's --account-selector: an existing but unselected account stays unknown.
    use iot_product_operator::crd::PlatformAccount;
    let env = env("dist-unselected").await;
    let name = format!("unselected-{}", env.ns);
    let mut account =
        Api::<PlatformAccount>::all(env.client.clone()).get(&common::account_name(&env.ns)).await.unwrap();
    account.metadata = kube::api::ObjectMeta { name: Some(name.clone()), ..Default::default() };
    account.status = None;
    Api::<PlatformAccount>::all(env.client.clone()).create(&PostParams::default(), &account).await.unwrap();
    distribute(&env, "unselected", json!({"accountRef": {"name": name}, "productKey": "a1NoSuchKey", "target": {"instanceId": "iot-cn-prod0001", "uid": common::ACCOUNT_UID}})).await;
    let pd = eventually("AccountNotFound", DEADLINE, || async {
        let pd = distributions(&env).get("unselected").await.map_err(|e| e.to_string())?;
        let reason = pd
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.reason.clone());
        if reason.as_deref() == Some("AccountNotFound") { Ok(pd) } else { Err(format!("{reason:?}")) }
    })
    .await;
    assert!(pd.status.unwrap().conditions[0].message.contains(&name));
    Api::<PlatformAccount>::all(env.client.clone()).delete(&name, &DeleteParams::default()).await.unwrap();
}

#[tokio::test]
async fn a_broken_account_costs_a_product_and_its_distribution_only_their_backoffs_calls() {
    // A product and a distribution of it whose account breaks while the distribution's job
    // runs: each reconcile's failure is written to status, and neither kind's status churn
    // may wake the other (that was a storm: 187 refused calls in 20 s).
    let plane = control_plane();
    let client = plane.admin_client().await;
    let ns = common::test_namespace(&client, "storm").await;
    let emulator = common::TestEmulator::start_with(|rules| rules.job_duration_ms = 600_000).await;
    common::create_account(&client, &ns, &emulator.url, common::ACCESS_KEY_SECRET).await;
    let operator = OperatorProcess::start(plane, &ns, &["--resync-interval", "10m"]);
    let env = Env {
        client: client.clone(),
        ns: ns.clone(),
        emulator,
        operator,
        products: Api::namespaced(client, &ns),
    };
    apply(&env, "lamp", json!({"productName": "Storm_01"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    distribute(&env, "to-prod", json!({"productRef": {"name": "lamp"}, "target": {"instanceId": "iot-cn-prod0001", "uid": common::ACCOUNT_UID}})).await;
    eventually("the job to run", DEADLINE, || async {
        let pd = distributions(&env).get("to-prod").await.map_err(|e| e.to_string())?;
        pd.status.and_then(|s| s.job_id).ok_or_else(|| "no job yet".to_string())
    })
    .await;

    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client.clone(), &env.ns);
    let wrong = json!({"stringData": {"AccessKeySecret": "not-the-secret"}});
    secrets
        .patch("platform-credentials", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(wrong))
        .await
        .unwrap();
    let accounts: Api<iot_product_operator::crd::PlatformAccount> = Api::all(env.client.clone());
    eventually("the account to report the broken credentials", DEADLINE, || async {
        let a = accounts.get(&common::account_name(&env.ns)).await.map_err(|e| e.to_string())?;
        let ready = a.status.unwrap_or_default().conditions.into_iter().find(|c| c.type_ == "Ready");
        match ready {
            Some(c) if c.status == "False" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // A measured window (not a wait for a condition): how many calls reach the platform.
    let before = env.emulator.emulator.stats().requests;
    tokio::time::sleep(std::time::Duration::from_secs(20)).await;
    let calls = env.emulator.emulator.stats().requests - before;
    eprintln!("broken account: {calls} platform requests in 20 s");
    // The product's and the distribution's backoff (at least a minute after an auth failure)
    // allow one or two attempts each; the account's own check another.
    assert!(calls <= 8, "{calls} platform requests in 20 s; operator: {}", tail(&env.operator.logs()));
}
