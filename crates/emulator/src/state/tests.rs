//! The emulator's business rules, called directly (no HTTP).

use super::*;

fn ctx() -> CallContext {
    CallContext {
        uid: "1001".into(),
        logon_id: "owner@example.com".into(),
        region: "cn-shanghai".into(),
        now_ms: 1_000_000,
        fail_distribution: false,
    }
}

fn rules() -> Rules {
    Rules {
        instances: vec![
            Instance { id: "iot-test".into(), region: "cn-shanghai".into() },
            Instance { id: "iot-prod".into(), region: "cn-shanghai".into() },
            Instance { id: "iot-sg".into(), region: "ap-southeast-1".into() },
        ],
        ..Rules::default()
    }
}

fn call(
    state: &mut State,
    ctx: &CallContext,
    action: &str,
    pairs: &[(&str, &str)],
) -> Result<Value, ApiError> {
    state.handle(ctx, action, &Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))))
}

fn create(state: &mut State, name: &str) -> String {
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

fn code(result: Result<Value, ApiError>) -> String {
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

fn distribute(s: &mut State, c: &CallContext, key: &str) -> Result<Value, ApiError> {
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
