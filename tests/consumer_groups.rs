//! Server-side subscriptions in Git (issue 29): against the real API server, the emulator and
//! the operator binary, an IotConsumerGroup is created, renamed (its id kept) and reports its
//! backlog and clients; a product's `spec.subscription` waits for its groups, then pushes the
//! listed messages to them, is put back when changed in the console and deleted with the spec;
//! a group still pushed to is kept by the platform, and its resource says why.

mod common;

use common::{
    ACCOUNT_UID, DEADLINE, Env, account_name, apply, env, events, eventually, patch_spec, wait_condition,
};
use iot_platform_emulator::state::GroupStatusSetting;
use iot_product_operator::crd::IotConsumerGroup;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn groups(env: &Env) -> Api<IotConsumerGroup> {
    Api::namespaced(env.client.clone(), &env.ns)
}

async fn apply_group(env: &Env, name: &str, group_name: &str) {
    let group: IotConsumerGroup = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotConsumerGroup",
        "metadata": {"name": name},
        "spec": {"groupName": group_name, "accountRef": {"name": account_name(&env.ns)}}
    }))
    .unwrap();
    groups(env).create(&PostParams::default(), &group).await.expect("create IotConsumerGroup");
}

/// Waits until the group is Ready (for its current generation), and returns it.
async fn ready_group(env: &Env, name: &str) -> IotConsumerGroup {
    common::wait_for(&groups(env), name, "Ready", Some("True"), None).await
}

fn console(env: &Env, action: &str, params: &[(&str, &str)]) -> Value {
    env.emulator.emulator.console(ACCOUNT_UID, action, params).unwrap_or_else(|e| panic!("{action}: {e:?}"))
}

fn group_id(group: &IotConsumerGroup) -> String {
    group.status.as_ref().and_then(|s| s.group_id.clone()).unwrap()
}

#[tokio::test]
async fn a_consumer_group_is_created_renamed_and_reports_its_health() {
    let env = env("cgroup").await;
    apply_group(&env, "billing", "billing_backend").await;
    let group = ready_group(&env, "billing").await;
    let id = group_id(&group);
    let on_platform = console(&env, "QueryConsumerGroupByGroupId", &[("GroupId", &id)]);
    assert_eq!(on_platform["Data"]["GroupName"], "billing_backend");

    // The backlog and clients the platform reports reach status (and the next resync reads them).
    env.emulator
        .emulator
        .set_consumer_group_status(
            ACCOUNT_UID,
            &id,
            GroupStatusSetting {
                accumulation_count: Some(1234),
                online_clients: Some(2),
                consumer_speed: Some(60),
                ..GroupStatusSetting::default()
            },
        )
        .unwrap();
    eventually("the backlog in status", DEADLINE, || async {
        let health = groups(&env).get("billing").await.unwrap().status.unwrap_or_default().health;
        match health {
            Some(h) if h.accumulation_count == 1234 && h.online_clients == 2 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // A new name renames the group; its id (what clients connect with) stays.
    groups(&env)
        .patch(
            "billing",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"groupName": "billing_v2"}})),
        )
        .await
        .unwrap();
    eventually("renamed", DEADLINE, || async {
        let name =
            console(&env, "QueryConsumerGroupByGroupId", &[("GroupId", &id)])["Data"]["GroupName"].clone();
        if name == "billing_v2" { Ok(()) } else { Err(format!("{name}")) }
    })
    .await;
    assert_eq!(group_id(&ready_group(&env, "billing").await), id);
    let creates =
        env.emulator.emulator.stats().calls.get("CreateConsumerGroup").map_or(0, |c| c.values().sum::<u64>());
    assert_eq!(creates, 1, "one group, created once");
}

#[tokio::test]
async fn a_products_subscription_waits_for_its_groups_follows_the_spec_and_lets_them_go() {
    let env = env("subscribe").await;
    apply(
        &env,
        "meter",
        json!({"productName": "Meter_Sub1",
               "subscription": {"consumerGroups": ["billing"], "messages": ["DeviceData", "DeviceStatusChange"]}}),
    )
    .await;
    // The product is made at once; its subscription waits for the group.
    let product = wait_condition(&env, "meter", "Ready", "False", Some("ConsumerGroupNotReady")).await;
    let key = product.status.clone().unwrap().product_key.unwrap();
    assert_eq!(
        product.status.unwrap().conditions.iter().find(|c| c.type_ == "Available").unwrap().status,
        "True"
    );

    apply_group(&env, "billing", "billing_backend").await;
    let id = group_id(&ready_group(&env, "billing").await);
    wait_condition(&env, "meter", "Ready", "True", None).await;
    let relation = console(&env, "QuerySubscribeRelation", &[("ProductKey", &key), ("Type", "AMQP")]);
    assert_eq!(relation["ConsumerGroupIds"], json!([id]));
    assert_eq!(relation["DeviceDataFlag"], true);
    assert_eq!(relation["DeviceStatusChangeFlag"], true);
    assert_eq!(relation["ThingHistoryFlag"], false);

    // Changed in the console: put back and told.
    console(
        &env,
        "UpdateSubscribeRelation",
        &[("ProductKey", &key), ("Type", "AMQP"), ("ConsumerGroupIds.1", &id), ("ThingHistoryFlag", "true")],
    );
    eventually("the subscription put back", DEADLINE, || async {
        let r = console(&env, "QuerySubscribeRelation", &[("ProductKey", &key), ("Type", "AMQP")]);
        if r["DeviceDataFlag"] == true && r["ThingHistoryFlag"] == false {
            Ok(())
        } else {
            Err(r.to_string())
        }
    })
    .await;
    eventually("a DriftCorrected Event naming the subscription", DEADLINE, || async {
        let all = events(&env, "meter").await;
        if all.iter().any(|(r, m)| r == "DriftCorrected" && m.contains("subscription")) {
            Ok(())
        } else {
            Err(format!("{all:?}"))
        }
    })
    .await;

    // The group cannot go while the product pushes to it; the resource says why.
    groups(&env).delete("billing", &DeleteParams::default()).await.unwrap();
    eventually("the group's deletion waits", DEADLINE, || async {
        let group = groups(&env).get("billing").await.map_err(|e| e.to_string())?;
        let reason = group.status.unwrap_or_default().reason.unwrap_or_default();
        if reason == "InUse" { Ok(()) } else { Err(reason) }
    })
    .await;

    // Without the subscription in the spec, it is deleted, and then the group goes too.
    patch_spec(&env, "meter", json!({"subscription": null})).await;
    eventually("the group gone", DEADLINE, || async {
        match groups(&env).get_opt("billing").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(g) => Err(format!("{:?}", g.status.map(|s| s.reason))),
        }
    })
    .await;
    let gone = env.emulator.emulator.console(
        ACCOUNT_UID,
        "QuerySubscribeRelation",
        &[("ProductKey", &key), ("Type", "AMQP")],
    );
    assert!(gone.is_err(), "no subscription left: {gone:?}");
}
