//! The emulator's business rules, called directly (no HTTP).

use super::*;

pub(super) fn ctx() -> CallContext {
    CallContext {
        uid: "1001".into(),
        logon_id: "owner@example.com".into(),
        region: "cn-shanghai".into(),
        now_ms: 1_000_000,
        fail_distribution: false,
    }
}

pub(super) fn rules() -> Rules {
    Rules {
        instances: vec![
            Instance { id: "iot-test".into(), region: "cn-shanghai".into() },
            Instance { id: "iot-prod".into(), region: "cn-shanghai".into() },
            Instance { id: "iot-sg".into(), region: "ap-southeast-1".into() },
        ],
        ..Rules::default()
    }
}

pub(super) fn call(
    state: &mut State,
    ctx: &CallContext,
    action: &str,
    pairs: &[(&str, &str)],
) -> Result<Value, ApiError> {
    state.handle(ctx, action, &Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))))
}

pub(super) fn create(state: &mut State, name: &str) -> String {
    let out = call(
        state,
        &ctx(),
        "CreateProduct",
        &[
            ("ProductName", name),
            ("NodeType", "0"),
            ("AliyunCommodityCode", "iothub_senior"),
            ("DataFormat", "1"),
        ],
    )
    .expect("created");
    out["ProductKey"].as_str().unwrap().to_string()
}

/// A state holding one product, "Lamp", tagged team=a; returns the state and its key.
fn a_lamp_tagged_team_a() -> (State, String) {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let tag = [("ProductKey", key.as_str()), ("ProductTag.1.TagKey", "team"), ("ProductTag.1.TagValue", "a")];
    call(&mut s, &ctx(), "CreateProductTags", &tag).unwrap();
    (s, key)
}

pub(super) fn code(result: Result<Value, ApiError>) -> String {
    result.expect_err("refused").code
}

#[test]
fn names_count_chinese_characters_twice() {
    assert_eq!(weighted_length("智能灯_01"), 9);
    let mut s = State::new(rules());
    create(&mut s, &"智".repeat(15));
    let refused =
        call(&mut s, &ctx(), "CreateProduct", &[("ProductName", &"智".repeat(16)), ("NodeType", "0")]);
    assert_eq!(code(refused), "iot.prod.InvalidFormattedProductName");
    assert_eq!(
        code(call(&mut s, &ctx(), "CreateProduct", &[("ProductName", "abc"), ("NodeType", "0")])),
        "iot.prod.InvalidFormattedProductName"
    );
    assert_eq!(
        code(call(&mut s, &ctx(), "CreateProduct", &[("ProductName", "bad name"), ("NodeType", "0")])),
        "iot.prod.InvalidFormattedProductName"
    );
}

#[test]
fn a_name_is_unique_within_an_instance_but_not_across_instances() {
    let mut s = State::new(rules());
    create(&mut s, "Lamp");
    let again = call(&mut s, &ctx(), "CreateProduct", &[("ProductName", "Lamp"), ("NodeType", "0")]);
    assert_eq!(code(again), "iot.prod.AlreadyExistedProductName");
    call(
        &mut s,
        &ctx(),
        "CreateProduct",
        &[("ProductName", "Lamp"), ("NodeType", "0"), ("IotInstanceId", "iot-test")],
    )
    .expect("same name in another instance");
}

#[test]
fn an_instance_of_another_region_or_unknown_is_not_found() {
    let mut s = State::new(rules());
    for id in ["iot-sg", "iot-nope"] {
        let r = call(
            &mut s,
            &ctx(),
            "CreateProduct",
            &[("ProductName", "Lamp"), ("NodeType", "0"), ("IotInstanceId", id)],
        );
        assert_eq!(code(r), "iot.system.InstanceNotFound");
    }
}

#[test]
fn a_published_product_refuses_changes_until_revoked() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    call(&mut s, &ctx(), "ReleaseProduct", &[("ProductKey", &key)]).unwrap();
    let q = call(&mut s, &ctx(), "QueryProduct", &[("ProductKey", &key)]).unwrap();
    assert_eq!(q["Data"]["ProductStatus"], "RELEASE_STATUS");
    let tsl = r#"{"properties":[{"identifier":"A","name":"a","accessMode":"r","dataType":{"type":"int"}}]}"#;
    for (action, extra) in [
        ("UpdateProduct", vec![("ProductName", "Lamp2")]),
        ("DeleteProduct", vec![]),
        ("ImportThingModelTsl", vec![("TslStr", tsl)]),
        ("PublishThingModel", vec![]),
    ] {
        let mut pairs = vec![("ProductKey", key.as_str())];
        pairs.extend(extra);
        assert_eq!(code(call(&mut s, &ctx(), action, &pairs)), emulator_codes::PRODUCT_PUBLISHED, "{action}");
    }
    call(&mut s, &ctx(), "CancelReleaseProduct", &[("ProductKey", &key)]).unwrap();
    call(&mut s, &ctx(), "UpdateProduct", &[("ProductKey", &key), ("ProductName", "Lamp2")]).unwrap();
    call(&mut s, &ctx(), "ImportThingModelTsl", &[("ProductKey", &key), ("TslStr", tsl)]).unwrap();
    call(&mut s, &ctx(), "PublishThingModel", &[("ProductKey", &key)]).unwrap();
    call(&mut s, &ctx(), "DeleteProduct", &[("ProductKey", &key)]).unwrap();
    assert_eq!(
        code(call(&mut s, &ctx(), "QueryProduct", &[("ProductKey", &key)])),
        "iot.prod.NotExistedProduct"
    );
}

#[test]
fn in_opaque_mode_made_up_codes_are_disguised_call_by_call_and_documented_ones_kept() {
    let mut s = State::new(Rules { opaque_codes: true, ..rules() });
    let key = create(&mut s, "Lamp");
    call(&mut s, &ctx(), "ReleaseProduct", &[("ProductKey", &key)]).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let refused =
            code(call(&mut s, &ctx(), "UpdateProduct", &[("ProductKey", &key), ("ProductName", "Lamp2")]));
        assert!(!emulator_codes::INVENTED.contains(&refused.as_str()), "{refused}");
        seen.insert(refused);
    }
    assert!(seen.contains("iot.system.SystemException"), "{seen:?}");
    assert!(seen.iter().filter(|c| c.starts_with("iot.unseen.")).count() >= 2, "{seen:?}");
    let gone = code(call(&mut s, &ctx(), "QueryDeviceDistributeJob", &[("JobId", "nope")]));
    assert!(!emulator_codes::INVENTED.contains(&gone.as_str()), "{gone}");
    // Documented codes are the platform's own: kept.
    assert_eq!(
        code(call(&mut s, &ctx(), "QueryProduct", &[("ProductKey", "a1NoSuchKey")])),
        "iot.prod.NotExistedProduct"
    );
}

#[test]
fn the_lock_on_update_and_delete_can_be_relaxed() {
    let mut s = State::new(Rules { lock_published: false, ..rules() });
    let key = create(&mut s, "Lamp");
    call(&mut s, &ctx(), "ReleaseProduct", &[("ProductKey", &key)]).unwrap();
    call(&mut s, &ctx(), "UpdateProduct", &[("ProductKey", &key), ("ProductName", "Lamp2")]).unwrap();
    let tsl = r#"{"properties":[]}"#;
    assert_eq!(
        code(call(&mut s, &ctx(), "ImportThingModelTsl", &[("ProductKey", &key), ("TslStr", tsl)])),
        emulator_codes::PRODUCT_PUBLISHED,
        "the documented thing-model lock stays"
    );
}

#[test]
fn an_imported_thing_model_reads_back_with_the_platform_entries_added() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let tsl =
        r#"{"properties":[{"identifier":"Power","name":"p","accessMode":"rw","dataType":{"type":"bool"}}]}"#;
    call(&mut s, &ctx(), "ImportThingModelTsl", &[("ProductKey", &key), ("TslStr", tsl)]).unwrap();
    let out = call(&mut s, &ctx(), "GetThingModelTsl", &[("ProductKey", &key)]).unwrap();
    let text = out["Data"]["TslStr"].as_str().unwrap();
    assert!(text.contains("thing.event.property.post"));
    assert_eq!(ThingModel::parse(text).unwrap(), ThingModel::parse(tsl).unwrap());
    let bad = call(&mut s, &ctx(), "ImportThingModelTsl", &[("ProductKey", &key), ("TslStr", "{")]);
    assert_eq!(code(bad), emulator_codes::INVALID_TSL);
    call(&mut s, &ctx(), "PublishThingModel", &[("ProductKey", &key), ("ModelVersion", "2.0")]).unwrap();
    let versions = call(&mut s, &ctx(), "ListThingModelVersion", &[("ProductKey", &key)]).unwrap();
    assert_eq!(versions["Data"]["ModelVersions"][0]["ModelVersion"], "2.0");
}

#[test]
fn a_basic_product_has_no_thing_model() {
    let mut s = State::new(rules());
    let out = call(&mut s, &ctx(), "CreateProduct", &[("ProductName", "Basic1"), ("NodeType", "0")]).unwrap();
    let key = out["ProductKey"].as_str().unwrap();
    assert_eq!(
        code(call(&mut s, &ctx(), "GetThingModelTsl", &[("ProductKey", key)])),
        "iot.prod.NotSeniorProduct"
    );
}

#[test]
fn a_pro_product_needs_a_data_format() {
    let mut s = State::new(rules());
    let r = call(
        &mut s,
        &ctx(),
        "CreateProduct",
        &[("ProductName", "Pro1"), ("NodeType", "0"), ("AliyunCommodityCode", "iothub_senior")],
    );
    assert_eq!(code(r), "iot.common.InvalidFormattedParameter");
}

pub(super) fn distribute(s: &mut State, c: &CallContext, key: &str) -> Result<Value, ApiError> {
    call(
        s,
        c,
        "CreateProductDistributeJob",
        &[
            ("ProductKey", key),
            ("SourceInstanceId", "iotx-oxssharez200"),
            ("TargetInstanceId", "iot-prod"),
            ("TargetUid", "1001"),
        ],
    )
}

#[test]
fn a_distribution_job_runs_to_completion_and_locks_the_thing_model() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let job = distribute(&mut s, &ctx(), &key).unwrap()["JobId"].as_str().unwrap().to_string();
    let status = |s: &mut State, now: i64| {
        let c = CallContext { now_ms: now, ..ctx() };
        call(s, &c, "QueryDeviceDistributeJob", &[("JobId", &job)]).unwrap()["Data"]["Status"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(status(&mut s, 1_000_000), 0);
    assert_eq!(status(&mut s, 1_000_600), 1);
    assert_eq!(status(&mut s, 1_002_000), 2);
    let c = CallContext { now_ms: 1_002_000, ..ctx() };
    call(&mut s, &c, "QueryProduct", &[("ProductKey", &key), ("IotInstanceId", "iot-prod")])
        .expect("copied to the target");
    let tsl = r#"{"properties":[]}"#;
    assert_eq!(
        code(call(&mut s, &c, "ImportThingModelTsl", &[("ProductKey", &key), ("TslStr", tsl)])),
        emulator_codes::PRODUCT_DISTRIBUTED
    );
    let listed = call(
        &mut s,
        &c,
        "ListDistributedProduct",
        &[("CurrentPage", "1"), ("PageSize", "10"), ("ProductKey", &key)],
    )
    .unwrap();
    assert_eq!(listed["Data"]["Info"]["items"][0]["TargetInstanceId"], "iot-prod");
}

#[test]
fn a_job_can_end_interrupted() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let c = CallContext { fail_distribution: true, ..ctx() };
    let job = distribute(&mut s, &c, &key).unwrap()["JobId"].as_str().unwrap().to_string();
    let later = CallContext { now_ms: 1_010_000, ..ctx() };
    let out = call(&mut s, &later, "QueryDeviceDistributeJob", &[("JobId", &job)]).unwrap();
    assert_eq!(out["Data"]["Status"], 3);
}

#[test]
fn an_account_has_at_most_ten_distribution_jobs() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let mut jobs = Vec::new();
    for _ in 0..10 {
        jobs.push(distribute(&mut s, &ctx(), &key).unwrap()["JobId"].as_str().unwrap().to_string());
    }
    assert_eq!(code(distribute(&mut s, &ctx(), &key)), emulator_codes::DISTRIBUTE_JOB_LIMIT);
    call(&mut s, &ctx(), "DeleteDeviceDistributeJob", &[("JobId", &jobs[0])]).unwrap();
    distribute(&mut s, &ctx(), &key).expect("a slot was freed");
}

#[test]
fn distribution_is_served_only_at_the_shanghai_endpoint_and_within_one_account() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let singapore = CallContext { region: "ap-southeast-1".into(), ..ctx() };
    let refused = distribute(&mut s, &singapore, &key).unwrap_err();
    assert_eq!((refused.http_status, refused.code.as_str()), (404, "InvalidAction.NotFound"));
    let other = call(
        &mut s,
        &ctx(),
        "CreateProductDistributeJob",
        &[
            ("ProductKey", &key),
            ("SourceInstanceId", "iotx-oxssharez200"),
            ("TargetInstanceId", "iot-prod"),
            ("TargetUid", "9999"),
        ],
    );
    assert_eq!(code(other), "iot.system.IllegalRequest");
    let same = call(
        &mut s,
        &ctx(),
        "CreateProductDistributeJob",
        &[
            ("ProductKey", &key),
            ("SourceInstanceId", "iotx-oxssharez200"),
            ("TargetInstanceId", "iotx-oxssharez200"),
            ("TargetAliyunId", "owner@example.com"),
        ],
    );
    assert_eq!(code(same), "iot.system.InstanceIdSame");
}

#[test]
fn tags_are_validated_and_update_needs_existing_keys() {
    let (mut s, key) = a_lamp_tagged_team_a();
    let bad = call(
        &mut s,
        &ctx(),
        "CreateProductTags",
        &[("ProductKey", &key), ("ProductTag.1.TagKey", "bad key"), ("ProductTag.1.TagValue", "a")],
    )
    .unwrap_err();
    assert_eq!(bad.extra.unwrap()["InvalidProductTags"]["ProductTag"][0]["TagKey"], "bad key");
    let missing = call(
        &mut s,
        &ctx(),
        "UpdateProductTags",
        &[("ProductKey", &key), ("ProductTag.1.TagKey", "nope"), ("ProductTag.1.TagValue", "a")],
    );
    assert_eq!(code(missing), "iot.common.InvalidFormattedParameter");
    call(
        &mut s,
        &ctx(),
        "UpdateProductTags",
        &[("ProductKey", &key), ("ProductTag.1.TagKey", "team"), ("ProductTag.1.TagValue", "b")],
    )
    .unwrap();
    let found = call(
        &mut s,
        &ctx(),
        "ListProductByTags",
        &[("ProductTag.1.TagKey", "team"), ("ProductTag.1.TagValue", "b")],
    )
    .unwrap();
    assert_eq!(found["ProductInfos"]["ProductInfo"][0]["ProductKey"], key.as_str());
    call(&mut s, &ctx(), "DeleteProductTags", &[("ProductKey", &key), ("ProductTagKey.1", "team")]).unwrap();
    let listed = call(&mut s, &ctx(), "ListProductTags", &[("ProductKey", &key)]).unwrap();
    assert_eq!(listed["Data"]["ProductTag"], json!([]));
}

#[test]
fn product_lists_page_newest_first() {
    let mut s = State::new(rules());
    for i in 0..5 {
        let c = CallContext { now_ms: 1_000_000 + i, ..ctx() };
        call(&mut s, &c, "CreateProduct", &[("ProductName", &format!("Lamp{i}")), ("NodeType", "0")])
            .unwrap();
    }
    let page = call(&mut s, &ctx(), "QueryProductList", &[("CurrentPage", "2"), ("PageSize", "2")]).unwrap();
    assert_eq!(page["Data"]["Total"], 5);
    assert_eq!(page["Data"]["PageCount"], 3);
    assert_eq!(page["Data"]["List"]["ProductInfo"][0]["ProductName"], "Lamp2");
    assert_eq!(
        code(call(&mut s, &ctx(), "QueryProductList", &[("CurrentPage", "1"), ("PageSize", "201")])),
        "iot.common.InvalidPageParams"
    );
}

#[test]
fn another_accounts_products_are_invisible() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let other = CallContext { uid: "2002".into(), ..ctx() };
    assert_eq!(
        code(call(&mut s, &other, "QueryProduct", &[("ProductKey", &key)])),
        "iot.prod.NotExistedProduct"
    );
    call(&mut s, &other, "CreateProduct", &[("ProductName", "Lamp"), ("NodeType", "0")])
        .expect("names are per account");
}

#[test]
fn missing_and_mistyped_parameters_are_gateway_errors() {
    let mut s = State::new(rules());
    let missing = call(&mut s, &ctx(), "QueryProduct", &[]).unwrap_err();
    assert_eq!((missing.http_status, missing.code.as_str()), (400, "MissingProductKey"));
    let mistyped =
        call(&mut s, &ctx(), "CreateProduct", &[("ProductName", "Lamp"), ("NodeType", "x")]).unwrap_err();
    assert_eq!((mistyped.http_status, mistyped.code.as_str()), (400, "InvalidParameter"));
    let unknown = call(&mut s, &ctx(), "NoSuchAction", &[]).unwrap_err();
    assert_eq!(unknown.http_status, 404);
}

#[test]
fn a_page_far_beyond_the_end_is_empty_rather_than_a_crash() {
    // Found by the platform_calls fuzz target: (page - 1) * size overflowed for a huge page.
    let (mut s, _) = a_lamp_tagged_team_a();
    let huge = i32::MAX.to_string();
    let by_tags = call(
        &mut s,
        &ctx(),
        "ListProductByTags",
        &[("ProductTag.1.TagKey", "team"), ("CurrentPage", &huge), ("PageSize", "50")],
    )
    .unwrap();
    assert_eq!(by_tags["ProductInfos"]["ProductInfo"], json!([]));
    let products =
        call(&mut s, &ctx(), "QueryProductList", &[("CurrentPage", &huge), ("PageSize", "200")]).unwrap();
    assert_eq!(products["Data"]["Total"], 1);
    assert_eq!(products["Data"]["List"]["ProductInfo"], json!([]));
    for action in ["ListDeviceDistributeJob", "ListDistributedProduct"] {
        let answer = call(&mut s, &ctx(), action, &[("CurrentPage", &huge), ("PageSize", "200")]);
        assert!(answer.is_ok(), "{action}: {answer:?}");
    }
}

// ---- devices ----

fn register(s: &mut State, key: &str, name: Option<&str>) -> Result<Value, ApiError> {
    let mut pairs = vec![("ProductKey", key)];
    if let Some(name) = name {
        pairs.push(("DeviceName", name));
    }
    call(s, &ctx(), "RegisterDevice", &pairs)
}

fn stats(s: &mut State, pairs: &[(&str, &str)]) -> (i64, i64, i64) {
    let out = call(s, &ctx(), "QueryDeviceStatistics", pairs).expect("statistics");
    let data = &out["Data"];
    (
        data["deviceCount"].as_i64().unwrap(),
        data["activeCount"].as_i64().unwrap(),
        data["onlineCount"].as_i64().unwrap(),
    )
}

fn change(register: usize, activated: Option<usize>, online: Option<usize>) -> DeviceChange {
    DeviceChange { register, at_least: 0, activated, online }
}

#[test]
fn a_registered_device_gets_its_name_an_iot_id_and_a_secret() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let out = call(
        &mut s,
        &ctx(),
        "RegisterDevice",
        &[("ProductKey", &key), ("DeviceName", "lamp-01_a@b.c:d"), ("Nickname", "Kitchen_lamp")],
    )
    .unwrap();
    let data = &out["Data"];
    assert_eq!(data["ProductKey"], key.as_str());
    assert_eq!(data["DeviceName"], "lamp-01_a@b.c:d");
    assert_eq!(data["Nickname"], "Kitchen_lamp");
    assert_eq!(data["IotId"].as_str().unwrap().len(), 30);
    assert_eq!(data["DeviceSecret"].as_str().unwrap().len(), 32);
    for name in ["abcd", &"x".repeat(32), "a.b:"] {
        register(&mut s, &key, Some(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    for name in ["abc", &"x".repeat(33), "bad name", "lamp/1", "灯灯灯灯", "lamp#1"] {
        assert_eq!(
            code(register(&mut s, &key, Some(name))),
            "iot.device.InvalidFormattedDeviceName",
            "{name}"
        );
    }
    // No name (or an empty one): the platform makes one up, valid by its own rule.
    let mut ids = std::collections::BTreeSet::new();
    for name in [None, Some("")] {
        let out = register(&mut s, &key, name).unwrap();
        let generated = out["Data"]["DeviceName"].as_str().unwrap();
        assert!(is_valid_device_name(generated), "{generated}");
        assert_eq!(generated.len(), 20);
        ids.insert(out["Data"]["IotId"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 2, "IotIds are unique");
    let bad_alias = call(&mut s, &ctx(), "RegisterDevice", &[("ProductKey", &key), ("Nickname", "a b")]);
    assert_eq!(code(bad_alias), "iot.common.InvalidFormattedParameter");
    assert_eq!(stats(&mut s, &[("ProductKey", &key)]).0, 6);
}

#[test]
fn a_device_name_is_unique_within_its_product_only() {
    let mut s = State::new(rules());
    let lamp = create(&mut s, "Lamp");
    let fan = create(&mut s, "Fan1");
    register(&mut s, &lamp, Some("device-1")).unwrap();
    assert_eq!(code(register(&mut s, &lamp, Some("device-1"))), "iot.device.AlreadyExistedDeviceName");
    register(&mut s, &fan, Some("device-1")).expect("the same name in another product");
    assert_eq!(stats(&mut s, &[("ProductKey", &lamp)]).0, 1, "the refused device was not added");
}

#[test]
fn registering_under_a_missing_or_foreign_product_is_refused() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    assert_eq!(code(register(&mut s, "a1NoSuchKey", Some("device-1"))), "iot.prod.NotExistedProduct");
    let other = CallContext { uid: "2002".into(), ..ctx() };
    let foreign = call(&mut s, &other, "RegisterDevice", &[("ProductKey", &key)]);
    assert_eq!(code(foreign), "iot.prod.NotExistedProduct");
    let elsewhere =
        call(&mut s, &ctx(), "RegisterDevice", &[("ProductKey", &key), ("IotInstanceId", "iot-test")]);
    assert_eq!(code(elsewhere), "iot.prod.NotExistedProduct");
    let missing = call(&mut s, &ctx(), "RegisterDevice", &[("DeviceName", "device-1")]).unwrap_err();
    assert_eq!((missing.http_status, missing.code.as_str()), (400, "MissingProductKey"));
}

#[test]
fn device_statistics_count_a_product_or_the_accounts_instance() {
    let mut s = State::new(rules());
    let lamp = create(&mut s, "Lamp");
    let fan = create(&mut s, "Fan1");
    let enterprise = call(
        &mut s,
        &ctx(),
        "CreateProduct",
        &[("ProductName", "Lamp"), ("NodeType", "0"), ("IotInstanceId", "iot-test")],
    )
    .unwrap()["ProductKey"]
        .as_str()
        .unwrap()
        .to_string();
    let other = CallContext { uid: "2002".into(), ..ctx() };
    let foreign = call(&mut s, &other, "CreateProduct", &[("ProductName", "Lamp"), ("NodeType", "0")])
        .unwrap()["ProductKey"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(stats(&mut s, &[("ProductKey", &lamp)]), (0, 0, 0));
    s.set_devices(None, None, &lamp, change(5, Some(3), Some(1)), 0).unwrap();
    s.set_devices(None, None, &fan, change(2, Some(2), Some(2)), 0).unwrap();
    s.set_devices(None, None, &enterprise, change(7, None, None), 0).unwrap();
    s.set_devices(None, None, &foreign, change(11, None, None), 0).unwrap();
    assert_eq!(stats(&mut s, &[("ProductKey", &lamp)]), (5, 3, 1));
    assert_eq!(stats(&mut s, &[("ProductKey", &fan)]), (2, 2, 2));
    // Without a product: the account's devices in the instance.
    assert_eq!(stats(&mut s, &[]), (7, 5, 3));
    assert_eq!(stats(&mut s, &[("IotInstanceId", "iot-test")]), (7, 0, 0));
    assert_eq!(
        code(call(&mut s, &ctx(), "QueryDeviceStatistics", &[("ProductKey", "a1NoSuchKey")])),
        "iot.prod.NotExistedProduct"
    );
    assert_eq!(
        code(call(&mut s, &ctx(), "QueryDeviceStatistics", &[("ProductKey", &foreign)])),
        "iot.prod.NotExistedProduct"
    );
    // No device groups in the emulator: a group id names one that does not exist.
    assert_eq!(
        code(call(&mut s, &ctx(), "QueryDeviceStatistics", &[("GroupId", "g1")])),
        "iot.group.NotExistedGroup"
    );
    // The platform's keys are in lower camel case.
    let raw = call(&mut s, &ctx(), "QueryDeviceStatistics", &[("ProductKey", &lamp)]).unwrap();
    assert_eq!(raw["Data"], json!({"deviceCount": 5, "activeCount": 3, "onlineCount": 1}));
}

#[test]
fn query_product_and_the_product_list_report_the_device_count() {
    let mut s = State::new(rules());
    let lamp = create(&mut s, "Lamp");
    let q = call(&mut s, &ctx(), "QueryProduct", &[("ProductKey", &lamp)]).unwrap();
    assert_eq!(q["Data"]["DeviceCount"], 0);
    register(&mut s, &lamp, Some("device-1")).unwrap();
    s.set_devices(None, None, &lamp, change(3, None, None), 0).unwrap();
    let q = call(&mut s, &ctx(), "QueryProduct", &[("ProductKey", &lamp)]).unwrap();
    assert_eq!(q["Data"]["DeviceCount"], 4);
    let list = call(&mut s, &ctx(), "QueryProductList", &[("CurrentPage", "1"), ("PageSize", "10")]).unwrap();
    assert_eq!(list["Data"]["List"]["ProductInfo"][0]["DeviceCount"], 4);
}

#[test]
fn the_admin_side_registers_devices_and_sets_who_is_activated_and_online() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    register(&mut s, &key, Some("first")).unwrap();
    let counts = s.set_devices(Some("1001"), None, &key, change(3, Some(2), Some(1)), 0).unwrap();
    assert_eq!(
        (counts.product_key.as_str(), counts.iot_instance_id.as_str()),
        (key.as_str(), "iotx-oxssharez200")
    );
    assert_eq!(counts.statistics, m::DeviceStatistics { device_count: 4, active_count: 2, online_count: 1 });
    let devices = &s.snapshot(0).products[0].devices;
    assert_eq!(devices[0].device_name, "first", "registration order is kept");
    let flags: Vec<(bool, bool)> = devices.iter().map(|d| (d.activated, d.online)).collect();
    assert_eq!(flags, [(true, true), (true, false), (false, false), (false, false)]);
    // `at_least` never removes devices; absent counts keep the current ones.
    let same = DeviceChange { at_least: 2, ..change(0, None, None) };
    assert_eq!(s.set_devices(None, None, &key, same, 0).unwrap().statistics.device_count, 4);
    let more = DeviceChange { at_least: 10, ..change(0, None, Some(0)) };
    let counts = s.set_devices(None, None, &key, more, 0).unwrap().statistics;
    assert_eq!((counts.device_count, counts.active_count, counts.online_count), (10, 2, 0));
    // online ≤ activated ≤ devices, or nothing changes.
    for bad in [change(0, Some(1), Some(2)), change(0, Some(11), None), change(1, Some(12), Some(0))] {
        let refused = s.set_devices(None, None, &key, bad, 0).unwrap_err();
        assert_eq!((refused.http_status, refused.code.as_str()), (400, "InvalidParameter"), "{bad:?}");
    }
    assert_eq!(stats(&mut s, &[("ProductKey", &key)]), (10, 2, 0));
    assert_eq!(
        code(s.set_devices(None, None, "a1NoSuchKey", change(1, None, None), 0).map(|_| json!({}))),
        "iot.prod.NotExistedProduct"
    );
    assert_eq!(
        code(s.set_devices(Some("2002"), None, &key, change(1, None, None), 0).map(|_| json!({}))),
        "iot.prod.NotExistedProduct"
    );
}

#[test]
fn a_distributed_copy_has_no_devices_and_the_admin_side_needs_its_instance() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    s.set_devices(None, None, &key, change(3, Some(3), None), 0).unwrap();
    distribute(&mut s, &ctx(), &key).unwrap();
    let later = CallContext { now_ms: 1_000_000 + 10_000, ..ctx() };
    let copy =
        call(&mut s, &later, "QueryProduct", &[("ProductKey", &key), ("IotInstanceId", "iot-prod")]).unwrap();
    assert_eq!(copy["Data"]["DeviceCount"], 0, "a product job does not distribute devices");
    let ambiguous = s.set_devices(None, None, &key, change(1, None, None), 0).unwrap_err();
    assert_eq!(ambiguous.code, "InvalidParameter");
    let counts = s.set_devices(None, Some("iot-prod"), &key, change(1, None, None), 0).unwrap();
    assert_eq!((counts.iot_instance_id.as_str(), counts.statistics.device_count), ("iot-prod", 1));
    assert_eq!(stats(&mut s, &[("ProductKey", &key)]).0, 3, "the source keeps its own");
}

#[test]
fn deleting_a_product_with_devices_deletes_them_too_by_default() {
    assert_eq!(Rules::default().delete_product_with_devices, DeleteWithDevices::Cascade);
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let first =
        register(&mut s, &key, Some("device-1")).unwrap()["Data"]["IotId"].as_str().unwrap().to_string();
    s.set_devices(None, None, &key, change(4, Some(2), Some(1)), 0).unwrap();
    let ids: Vec<String> = s.snapshot(0).products[0].devices.iter().map(|d| d.iot_id.clone()).collect();
    call(&mut s, &ctx(), "DeleteProduct", &[("ProductKey", &key)]).unwrap();
    assert_eq!(code(register(&mut s, &key, Some("device-2"))), "iot.prod.NotExistedProduct");
    assert_eq!(
        code(call(&mut s, &ctx(), "QueryDeviceStatistics", &[("ProductKey", &key)])),
        "iot.prod.NotExistedProduct"
    );
    assert_eq!(stats(&mut s, &[]), (0, 0, 0), "the devices went with the product");
    // A product made again under the same name is another product, without devices; the old
    // IotIds stay invalid (never issued again).
    let again = create(&mut s, "Lamp");
    assert_ne!(again, key);
    assert_eq!(stats(&mut s, &[("ProductKey", &again)]), (0, 0, 0));
    register(&mut s, &again, Some("device-1")).expect("the name is free again");
    assert!(ids.contains(&first));
    assert!(ids.iter().all(|id| s.issued_iot_ids.contains(id)));
    let fresh = s.snapshot(0).products[0].devices[0].iot_id.clone();
    assert!(!ids.contains(&fresh));
}

#[test]
fn deleting_a_product_with_devices_can_be_refused() {
    let mut s = State::new(Rules { delete_product_with_devices: DeleteWithDevices::Refuse, ..rules() });
    let key = create(&mut s, "Lamp");
    register(&mut s, &key, Some("device-1")).unwrap();
    let refused = call(&mut s, &ctx(), "DeleteProduct", &[("ProductKey", &key)]).unwrap_err();
    assert_eq!((refused.http_status, refused.code.as_str()), (200, emulator_codes::PRODUCT_HAS_DEVICES));
    assert!(emulator_codes::INVENTED.contains(&emulator_codes::PRODUCT_HAS_DEVICES));
    assert_eq!(stats(&mut s, &[("ProductKey", &key)]).0, 1, "nothing was deleted");
    // The publication lock is checked first, as before.
    call(&mut s, &ctx(), "ReleaseProduct", &[("ProductKey", &key)]).unwrap();
    assert_eq!(
        code(call(&mut s, &ctx(), "DeleteProduct", &[("ProductKey", &key)])),
        emulator_codes::PRODUCT_PUBLISHED
    );
    // A product without devices is deleted as ever.
    let empty = create(&mut s, "Fan1");
    call(&mut s, &ctx(), "DeleteProduct", &[("ProductKey", &empty)]).unwrap();
    // In opaque mode the made-up code is disguised.
    let mut s = State::new(Rules {
        delete_product_with_devices: DeleteWithDevices::Refuse,
        opaque_codes: true,
        ..rules()
    });
    let key = create(&mut s, "Lamp");
    register(&mut s, &key, None).unwrap();
    assert_eq!(
        code(call(&mut s, &ctx(), "DeleteProduct", &[("ProductKey", &key)])),
        "iot.system.SystemException"
    );
}
