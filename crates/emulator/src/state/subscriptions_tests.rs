//! Server-side subscriptions and consumer groups, called directly (no HTTP).

use super::tests::{call, code, create, ctx, rules};
use super::*;

const INVALID: &str = "iot.common.InvalidFormattedParameter";
const MNS: &str = r#"{"queueName":"mns-queue-1","regionName":"cn-shanghai","role":{"roleArn":"acs:ram::1001:role/aliyuniotaccessingmnsrole","roleName":"AliyunIOTAccessingMNSRole"}}"#;
const FLAGS: [&str; 10] = [
    "DeviceDataFlag",
    "DeviceStatusChangeFlag",
    "DeviceTopoLifeCycleFlag",
    "FoundDeviceListFlag",
    "ThingHistoryFlag",
    "DeviceLifeCycleFlag",
    "OtaEventFlag",
    "OtaVersionFlag",
    "OtaJobFlag",
    "DeviceTagFlag",
];

fn group(s: &mut State, name: &str) -> String {
    let out = call(s, &ctx(), "CreateConsumerGroup", &[("GroupName", name)]).expect("group created");
    out["GroupId"].as_str().expect("an id").to_string()
}

fn relation(s: &mut State, action: &str, key: &str, pairs: &[(&str, &str)]) -> Result<Value, ApiError> {
    let mut all = vec![("ProductKey", key)];
    all.extend_from_slice(pairs);
    call(s, &ctx(), action, &all)
}

fn query(s: &mut State, key: &str, subscribe_type: &str) -> Result<Value, ApiError> {
    call(s, &ctx(), "QuerySubscribeRelation", &[("ProductKey", key), ("Type", subscribe_type)])
}

#[test]
fn an_amqp_subscription_answers_every_flag_as_last_set() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let g1 = group(&mut s, "orders_1");
    let g2 = group(&mut s, "orders_2");
    let created = relation(
        &mut s,
        "CreateSubscribeRelation",
        &key,
        &[
            ("Type", "AMQP"),
            ("ConsumerGroupIds.1", &g1),
            ("DeviceDataFlag", "true"),
            ("OtaJobFlag", "True"),
            ("DeviceTagFlag", "false"),
            ("SubscribeFlags", r#"{"jt808DeviceDataFlag":true}"#),
        ],
    );
    created.expect("created");
    let out = query(&mut s, &key, "AMQP").expect("queried");
    assert_eq!((&out["ProductKey"], &out["Type"]), (&json!(key), &json!("AMQP")));
    assert_eq!(out["ConsumerGroupIds"], json!([g1]));
    assert_eq!(out["SubscribeFlags"], r#"{"jt808DeviceDataFlag":true}"#);
    assert_eq!(out.get("MnsConfiguration"), None);
    for flag in FLAGS {
        let expected = flag == "DeviceDataFlag" || flag == "OtaJobFlag";
        assert_eq!(out[flag], json!(expected), "{flag}");
    }

    let again =
        relation(&mut s, "CreateSubscribeRelation", &key, &[("Type", "AMQP"), ("ConsumerGroupIds.1", &g1)]);
    assert_eq!(code(again), emulator_codes::SUBSCRIPTION_EXISTS);

    // Update replaces everything: flags not sent are false again.
    let pairs: Vec<(&str, &str)> = FLAGS.iter().map(|f| (*f, "true")).collect();
    let mut update =
        vec![("Type", "AMQP"), ("ConsumerGroupIds.1", g2.as_str()), ("ConsumerGroupIds.2", g1.as_str())];
    update.extend(pairs);
    relation(&mut s, "UpdateSubscribeRelation", &key, &update).expect("updated");
    let out = query(&mut s, &key, "AMQP").unwrap();
    assert_eq!(out["ConsumerGroupIds"], json!([g2, g1]));
    assert!(FLAGS.iter().all(|f| out[*f] == json!(true)));
    assert_eq!(out.get("SubscribeFlags"), None);
    relation(&mut s, "UpdateSubscribeRelation", &key, &[("Type", "AMQP"), ("ConsumerGroupIds.1", &g2)])
        .unwrap();
    let out = query(&mut s, &key, "AMQP").unwrap();
    assert!(FLAGS.iter().all(|f| out[*f] == json!(false)), "{out}");

    relation(&mut s, "DeleteSubscribeRelation", &key, &[("Type", "AMQP")]).expect("deleted");
    for result in [
        query(&mut s, &key, "AMQP"),
        relation(&mut s, "DeleteSubscribeRelation", &key, &[("Type", "AMQP")]),
        relation(&mut s, "UpdateSubscribeRelation", &key, &[("Type", "AMQP"), ("ConsumerGroupIds.1", &g2)]),
    ] {
        assert_eq!(code(result), emulator_codes::SUBSCRIPTION_NOT_FOUND);
    }
}

#[test]
fn an_amqp_subscription_needs_existing_groups_of_its_instance() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let amqp = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = vec![("Type", "AMQP")];
        pairs.extend_from_slice(extra);
        pairs
    };
    assert_eq!(code(relation(&mut s, "CreateSubscribeRelation", &key, &amqp(&[]))), INVALID);
    let unknown = relation(&mut s, "CreateSubscribeRelation", &key, &amqp(&[("ConsumerGroupIds.1", "nope")]));
    assert_eq!(code(unknown), emulator_codes::CONSUMER_GROUP_NOT_FOUND);
    let elsewhere = call(
        &mut s,
        &ctx(),
        "CreateConsumerGroup",
        &[("GroupName", "elsewhere"), ("IotInstanceId", "iot-test")],
    )
    .unwrap()["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    let pairs = [("Type", "AMQP"), ("ConsumerGroupIds.1", elsewhere.as_str())];
    assert_eq!(
        code(relation(&mut s, "CreateSubscribeRelation", &key, &pairs)),
        emulator_codes::CONSUMER_GROUP_NOT_FOUND,
        "a group of another instance"
    );
    let stranger = CallContext { uid: "2002".into(), ..ctx() };
    let theirs =
        call(&mut s, &stranger, "CreateConsumerGroup", &[("GroupName", "theirs")]).unwrap()["GroupId"]
            .as_str()
            .unwrap()
            .to_string();
    let pairs = [("Type", "AMQP"), ("ConsumerGroupIds.1", theirs.as_str())];
    assert_eq!(
        code(relation(&mut s, "CreateSubscribeRelation", &key, &pairs)),
        emulator_codes::CONSUMER_GROUP_NOT_FOUND,
        "a group of another account"
    );
    relation(&mut s, "CreateSubscribeRelation", &key, &amqp(&[("ConsumerGroupIds.1", "DEFAULT_GROUP")]))
        .expect("the default group is always there");
    let pairs = [("Type", "AMQP"), ("ConsumerGroupIds.1", "DEFAULT_GROUP")];
    assert_eq!(
        code(relation(&mut s, "CreateSubscribeRelation", "a1NoSuchKey", &pairs)),
        "iot.prod.NotExistedProduct"
    );
}

#[test]
fn an_mns_subscription_needs_its_queue() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    for bad in [None, Some("not json"), Some(r#"{"queueName":"q"}"#)] {
        let mut pairs = vec![("Type", "MNS")];
        if let Some(bad) = bad {
            pairs.push(("MnsConfiguration", bad));
        }
        assert_eq!(code(relation(&mut s, "CreateSubscribeRelation", &key, &pairs)), INVALID, "{bad:?}");
    }
    let pairs = [("Type", "MNS"), ("MnsConfiguration", MNS), ("DeviceStatusChangeFlag", "true")];
    relation(&mut s, "CreateSubscribeRelation", &key, &pairs).expect("created");
    let out = query(&mut s, &key, "MNS").unwrap();
    assert_eq!((&out["MnsConfiguration"], &out["ConsumerGroupIds"]), (&json!(MNS), &json!([])));
    assert_eq!(out["DeviceStatusChangeFlag"], true);
    assert_eq!(code(query(&mut s, &key, "AMQP")), emulator_codes::SUBSCRIPTION_NOT_FOUND, "one per type");
    assert_eq!(code(query(&mut s, &key, "HTTP")), INVALID);
    let flags = [("Type", "MNS"), ("MnsConfiguration", MNS), ("SubscribeFlags", "[1]")];
    assert_eq!(code(relation(&mut s, "UpdateSubscribeRelation", &key, &flags)), INVALID);
}

#[test]
fn group_names_follow_the_product_name_rule_and_are_unique() {
    let mut s = State::new(rules());
    for bad in ["abc", &"a".repeat(31), "a-b-c", "orders 1", &"组".repeat(16)] {
        let refused = call(&mut s, &ctx(), "CreateConsumerGroup", &[("GroupName", bad)]);
        assert_eq!(code(refused), INVALID, "{bad:?}");
    }
    group(&mut s, &"组".repeat(15));
    let id = group(&mut s, "orders");
    assert_eq!(id.len(), 26);
    let taken = call(&mut s, &ctx(), "CreateConsumerGroup", &[("GroupName", "orders")]);
    assert_eq!(code(taken), emulator_codes::CONSUMER_GROUP_NAME_TAKEN);
    call(&mut s, &ctx(), "CreateConsumerGroup", &[("GroupName", "orders"), ("IotInstanceId", "iot-test")])
        .expect("unique per instance");
    let other = group(&mut s, "billing");
    let rename =
        call(&mut s, &ctx(), "UpdateConsumerGroup", &[("GroupId", &other), ("NewGroupName", "orders")]);
    assert_eq!(code(rename), emulator_codes::CONSUMER_GROUP_NAME_TAKEN);
    call(&mut s, &ctx(), "UpdateConsumerGroup", &[("GroupId", &other), ("NewGroupName", "billing_2")])
        .unwrap();
    let read = call(&mut s, &ctx(), "QueryConsumerGroupByGroupId", &[("GroupId", &other)]).unwrap();
    assert_eq!((&read["Data"]["GroupName"], &read["Data"]["GroupId"]), (&json!("billing_2"), &json!(other)));
    assert_eq!(read["Data"]["CreateTime"], "1970-01-01T00:16:40.000Z");
    let bad = call(&mut s, &ctx(), "UpdateConsumerGroup", &[("GroupId", &other), ("NewGroupName", "no")]);
    assert_eq!(code(bad), INVALID);
}

#[test]
fn an_instance_has_at_most_the_maximum_of_groups_besides_the_default_one() {
    let mut s = State::new(Rules { max_consumer_groups: 2, ..rules() });
    group(&mut s, "group_1");
    group(&mut s, "group_2");
    let refused = call(&mut s, &ctx(), "CreateConsumerGroup", &[("GroupName", "group_3")]);
    assert_eq!(code(refused), emulator_codes::CONSUMER_GROUP_LIMIT);
}

#[test]
fn the_default_group_is_listed_first_and_cannot_be_changed() {
    let mut s = State::new(rules());
    let later = |ms: i64| CallContext { now_ms: ctx().now_ms + ms, ..ctx() };
    let group_at = |s: &mut State, name: &str, ms: i64| {
        call(s, &later(ms), "CreateConsumerGroup", &[("GroupName", name)]).unwrap()["GroupId"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let a = group_at(&mut s, "alpha", 1);
    let b = group_at(&mut s, "beta_group", 2);
    let page =
        call(&mut s, &ctx(), "QueryConsumerGroupList", &[("CurrentPage", "1"), ("PageSize", "2")]).unwrap();
    assert_eq!((&page["Total"], &page["PageCount"], &page["CurrentPage"]), (&json!(3), &json!(2), &json!(1)));
    let ids: Vec<&str> = page["Data"]["ConsumerGroupDTO"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["GroupId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["DEFAULT_GROUP", a.as_str()]);
    let second =
        call(&mut s, &ctx(), "QueryConsumerGroupList", &[("CurrentPage", "2"), ("PageSize", "2")]).unwrap();
    assert_eq!(second["Data"]["ConsumerGroupDTO"][0]["GroupId"], json!(b));
    let fuzzy = [("CurrentPage", "1"), ("PageSize", "10"), ("Fuzzy", "true"), ("GroupName", "eta")];
    let found = call(&mut s, &ctx(), "QueryConsumerGroupList", &fuzzy).unwrap();
    assert_eq!(
        (&found["Total"], &found["Data"]["ConsumerGroupDTO"][0]["GroupName"]),
        (&json!(1), &json!("beta_group"))
    );
    let no_name = [("CurrentPage", "1"), ("PageSize", "10"), ("Fuzzy", "true")];
    assert_eq!(code(call(&mut s, &ctx(), "QueryConsumerGroupList", &no_name)), INVALID);
    for (page, size) in [("0", "10"), ("1", "0"), ("1", "1001")] {
        let refused =
            call(&mut s, &ctx(), "QueryConsumerGroupList", &[("CurrentPage", page), ("PageSize", size)]);
        assert_eq!(code(refused), "iot.common.InvalidPageParams", "{page} {size}");
    }
    let rename = [("GroupId", "DEFAULT_GROUP"), ("NewGroupName", "renamed")];
    assert_eq!(
        code(call(&mut s, &ctx(), "UpdateConsumerGroup", &rename)),
        emulator_codes::DEFAULT_CONSUMER_GROUP
    );
    let delete = call(&mut s, &ctx(), "DeleteConsumerGroup", &[("GroupId", "DEFAULT_GROUP")]);
    assert_eq!(code(delete), emulator_codes::DEFAULT_CONSUMER_GROUP);
}

#[test]
fn a_group_in_use_cannot_be_deleted_until_its_subscription_lets_go() {
    let mut s = State::new(Rules { lock_published: false, ..rules() });
    let key = create(&mut s, "Lamp");
    let id = group(&mut s, "orders");
    relation(&mut s, "CreateSubscribeRelation", &key, &[("Type", "AMQP"), ("ConsumerGroupIds.1", &id)])
        .unwrap();
    let refused = call(&mut s, &ctx(), "DeleteConsumerGroup", &[("GroupId", &id)]);
    assert_eq!(code(refused), emulator_codes::CONSUMER_GROUP_IN_USE);
    // Deleting the product deletes its subscriptions.
    call(&mut s, &ctx(), "DeleteProduct", &[("ProductKey", &key)]).unwrap();
    call(&mut s, &ctx(), "DeleteConsumerGroup", &[("GroupId", &id)]).expect("no longer used");
    let gone = call(&mut s, &ctx(), "QueryConsumerGroupByGroupId", &[("GroupId", &id)]);
    assert_eq!(code(gone), emulator_codes::CONSUMER_GROUP_NOT_FOUND);
    assert_eq!(
        code(call(&mut s, &ctx(), "DeleteConsumerGroup", &[("GroupId", &id)])),
        emulator_codes::CONSUMER_GROUP_NOT_FOUND
    );
}

#[test]
fn a_groups_status_is_zero_until_the_admin_side_sets_it() {
    let mut s = State::new(rules());
    let id = group(&mut s, "orders");
    let status = call(&mut s, &ctx(), "QueryConsumerGroupStatus", &[("GroupId", &id)]).unwrap();
    assert_eq!((&status["AccumulationCount"], &status["ConsumerSpeed"]), (&json!(0), &json!(0)));
    assert_eq!(status["ClientConnectionStatusList"]["ConsumerGroupClientConnectionInfo"], json!([]));
    assert_eq!(status.get("LastConsumerTime"), None);

    let setting = GroupStatusSetting {
        accumulation_count: Some(120),
        online_clients: Some(2),
        consumer_speed: Some(30),
        ..GroupStatusSetting::default()
    };
    let report = s.set_consumer_group_status(&id, &setting, 2_000_000).expect("set");
    assert_eq!((report.uid.as_str(), report.iot_instance_id.as_str()), ("1001", "iotx-oxssharez200"));
    let status = call(&mut s, &ctx(), "QueryConsumerGroupStatus", &[("GroupId", &id)]).unwrap();
    assert_eq!((&status["AccumulationCount"], &status["ConsumerSpeed"]), (&json!(120), &json!(30)));
    assert_eq!(status["LastConsumerTime"], "1970-01-01T00:33:20.000Z");
    let clients =
        status["ClientConnectionStatusList"]["ConsumerGroupClientConnectionInfo"].as_array().unwrap();
    assert_eq!(clients.len(), 2);
    assert_eq!(
        (&clients[0]["ClientId"], &clients[0]["OnlineTime"]),
        (&json!("emulator-client-1"), &json!(2_000_000))
    );

    let backlog_only = GroupStatusSetting { accumulation_count: Some(0), ..GroupStatusSetting::default() };
    let report = s.set_consumer_group_status(&id, &backlog_only, 2_000_001).unwrap();
    assert_eq!((report.online_clients, report.consumer_speed), (2, 30), "absent counts are kept");
    let too_many = GroupStatusSetting { online_clients: Some(65), ..GroupStatusSetting::default() };
    assert_eq!(s.set_consumer_group_status(&id, &too_many, 0).unwrap_err().code, "InvalidParameter");
    let negative = GroupStatusSetting { consumer_speed: Some(-1), ..GroupStatusSetting::default() };
    assert_eq!(s.set_consumer_group_status(&id, &negative, 0).unwrap_err().code, "InvalidParameter");
    assert_eq!(
        s.set_consumer_group_status("nope", &GroupStatusSetting::default(), 0).unwrap_err().code,
        emulator_codes::CONSUMER_GROUP_NOT_FOUND
    );
    let unknown_account = GroupStatusSetting { uid: Some("2002".into()), ..GroupStatusSetting::default() };
    assert_eq!(
        s.set_consumer_group_status(&id, &unknown_account, 0).unwrap_err().code,
        emulator_codes::CONSUMER_GROUP_NOT_FOUND
    );
}

#[test]
fn the_default_groups_status_needs_its_account_and_instance() {
    let mut s = State::new(rules());
    let stranger = CallContext { uid: "2002".into(), ..ctx() };
    call(&mut s, &ctx(), "QueryConsumerGroupList", &[("CurrentPage", "1"), ("PageSize", "10")]).unwrap();
    call(&mut s, &stranger, "QueryConsumerGroupList", &[("CurrentPage", "1"), ("PageSize", "10")]).unwrap();
    let vague = GroupStatusSetting { accumulation_count: Some(5), ..GroupStatusSetting::default() };
    assert_eq!(s.set_consumer_group_status("DEFAULT_GROUP", &vague, 0).unwrap_err().code, "InvalidParameter");
    let precise = GroupStatusSetting {
        uid: Some("1001".into()),
        iot_instance_id: Some("iot-test".into()),
        ..vague.clone()
    };
    s.set_consumer_group_status("DEFAULT_GROUP", &precise, 0).expect("made and set");
    let on_test = [("GroupId", "DEFAULT_GROUP"), ("IotInstanceId", "iot-test")];
    let status = call(&mut s, &ctx(), "QueryConsumerGroupStatus", &on_test).unwrap();
    assert_eq!(status["AccumulationCount"], 5);
    let public = call(&mut s, &ctx(), "QueryConsumerGroupStatus", &[("GroupId", "DEFAULT_GROUP")]).unwrap();
    assert_eq!(public["AccumulationCount"], 0, "each instance has its own default group");
    let nowhere = GroupStatusSetting { iot_instance_id: Some("iot-nope".into()), ..precise };
    assert_eq!(
        s.set_consumer_group_status("DEFAULT_GROUP", &nowhere, 0).unwrap_err().code,
        "InvalidParameter"
    );
}

#[test]
fn made_up_subscription_codes_are_disguised_in_opaque_mode() {
    let mut s = State::new(Rules { opaque_codes: true, ..rules() });
    let key = create(&mut s, "Lamp");
    let refused = code(query(&mut s, &key, "AMQP"));
    assert!(refused == "iot.system.SystemException" || refused.starts_with("iot.unseen."), "{refused}");
}
