//! Custom topic categories, called directly (no HTTP).

use super::tests::{call, code, create, ctx, distribute, rules};
use super::*;

const INVALID: &str = "iot.common.InvalidFormattedParameter";

fn create_topic(
    s: &mut State,
    key: &str,
    name: &str,
    operation: &str,
    extra: &[(&str, &str)],
) -> Result<Value, ApiError> {
    let mut pairs = vec![("ProductKey", key), ("TopicShortName", name), ("Operation", operation)];
    pairs.extend_from_slice(extra);
    call(s, &ctx(), "CreateProductTopic", &pairs)
}

fn topics(s: &mut State, key: &str) -> Vec<Value> {
    let out = call(s, &ctx(), "QueryProductTopic", &[("ProductKey", key)]).expect("queried");
    out["Data"]["ProductTopicInfo"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_topic_category_is_created_listed_changed_and_deleted() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let created = create_topic(&mut s, &key, "user/update", "PUB", &[("Desc", "uplink")]).expect("created");
    let id = created["TopicId"].as_i64().expect("a number, as the platform answers").to_string();
    let listed = topics(&mut s, &key);
    assert_eq!(
        listed,
        vec![json!({"Id": id, "ProductKey": key, "TopicShortName": "user/update", "Operation": "0",
                    "Desc": "uplink", "EnableProxySubscribe": false})]
    );

    let update = [("TopicId", id.as_str()), ("Operation", "ALL"), ("EnableProxySubscribe", "true")];
    call(&mut s, &ctx(), "UpdateProductTopic", &update).expect("updated");
    let listed = topics(&mut s, &key);
    assert_eq!((&listed[0]["Operation"], &listed[0]["EnableProxySubscribe"]), (&json!("2"), &json!(true)));
    assert_eq!(listed[0]["Desc"], "uplink", "an absent field keeps its value");

    call(&mut s, &ctx(), "DeleteProductTopic", &[("TopicId", &id)]).expect("deleted");
    assert!(topics(&mut s, &key).is_empty());
    let again = call(&mut s, &ctx(), "DeleteProductTopic", &[("TopicId", &id)]);
    assert_eq!(code(again), emulator_codes::TOPIC_NOT_FOUND);
    let second = create_topic(&mut s, &key, "user/update", "PUB", &[]).unwrap();
    assert_ne!(second["TopicId"].as_i64().unwrap().to_string(), id, "ids are never reused");
}

#[test]
fn names_are_levels_of_letters_digits_and_underscores() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    assert_eq!(code(create_topic(&mut s, &key, "", "PUB", &[])), "MissingTopicShortName");
    for bad in ["a//b", "/a", "a/", "a-b", "a b", "${deviceName}/x", "温度"] {
        assert_eq!(code(create_topic(&mut s, &key, bad, "PUB", &[])), INVALID, "{bad:?}");
    }
    create_topic(&mut s, &key, "Room_1/temp2", "PUB", &[]).expect("letters, digits, _ and /");
    assert_eq!(code(create_topic(&mut s, &key, "x", "pub", &[])), INVALID, "Operation is upper case");
    assert_eq!(code(create_topic(&mut s, &key, "x", "READ", &[])), INVALID);
}

#[test]
fn wildcards_are_for_subscriptions_only_and_hash_ends_the_name() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    for operation in ["PUB", "ALL"] {
        assert_eq!(code(create_topic(&mut s, &key, "cmd/+", operation, &[])), INVALID, "{operation}");
        assert_eq!(code(create_topic(&mut s, &key, "cmd/#", operation, &[])), INVALID, "{operation}");
    }
    assert_eq!(code(create_topic(&mut s, &key, "cmd/#/x", "SUB", &[])), INVALID);
    create_topic(&mut s, &key, "cmd/+/set", "SUB", &[]).expect("+ in any level");
    create_topic(&mut s, &key, "cmd/#", "SUB", &[]).expect("# last");
    // A category with a wildcard cannot become a publish category.
    let id = topics(&mut s, &key)[0]["Id"].as_str().unwrap().to_string();
    let update = call(&mut s, &ctx(), "UpdateProductTopic", &[("TopicId", &id), ("Operation", "PUB")]);
    assert_eq!(code(update), INVALID);
}

#[test]
fn description_proxy_subscription_and_codec_are_checked() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let long = "d".repeat(101);
    assert_eq!(code(create_topic(&mut s, &key, "a", "PUB", &[("Desc", &long)])), INVALID);
    create_topic(&mut s, &key, "a", "PUB", &[("Desc", &"温".repeat(100))])
        .expect("a Chinese character counts one");
    let proxy = [("EnableProxySubscribe", "true")];
    assert_eq!(code(create_topic(&mut s, &key, "b", "PUB", &proxy)), INVALID);
    create_topic(&mut s, &key, "b", "SUB", &proxy).expect("SUB may");
    create_topic(&mut s, &key, "c", "ALL", &proxy).expect("ALL may");

    assert_eq!(
        code(create_topic(&mut s, &key, "d", "PUB", &[("Codec", "compress")])),
        "iot.common.APINotSupportedInInstance",
        "a public instance has no data compression"
    );
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
    let on = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = vec![("IotInstanceId", "iot-test")];
        pairs.extend_from_slice(extra);
        pairs
    };
    let ask = |s: &mut State, name: &str, operation: &str, extra: &[(&'static str, &'static str)]| {
        create_topic(s, &enterprise, name, operation, &on(extra))
    };
    assert_eq!(code(ask(&mut s, "d", "PUB", &[("Codec", "zip")])), INVALID);
    assert_eq!(code(ask(&mut s, "d/+", "SUB", &[("Codec", "compress")])), INVALID, "not with a wildcard");
    ask(&mut s, "d", "PUB", &[("Codec", "compress")]).expect("an Enterprise instance compresses");
    ask(&mut s, "e", "SUB", &[("Codec", "decompress")]).expect("and decompresses");
    let listed = call(
        &mut s,
        &ctx(),
        "QueryProductTopic",
        &[("ProductKey", &enterprise), ("IotInstanceId", "iot-test")],
    )
    .unwrap();
    assert_eq!(listed["Data"]["ProductTopicInfo"][0]["Codec"], "compress");
}

#[test]
fn names_are_unique_in_a_product_and_a_product_has_at_most_the_maximum() {
    let mut s = State::new(Rules { max_topics_per_product: 2, ..rules() });
    let key = create(&mut s, "Lamp");
    let other = create(&mut s, "Fan1");
    create_topic(&mut s, &key, "a", "PUB", &[]).unwrap();
    assert_eq!(code(create_topic(&mut s, &key, "a", "SUB", &[])), emulator_codes::TOPIC_EXISTS);
    create_topic(&mut s, &other, "a", "PUB", &[]).expect("another product may use the name");
    let b = create_topic(&mut s, &key, "b", "PUB", &[]).unwrap()["TopicId"].to_string();
    let rename = call(&mut s, &ctx(), "UpdateProductTopic", &[("TopicId", &b), ("TopicShortName", "a")]);
    assert_eq!(code(rename), emulator_codes::TOPIC_EXISTS);
    call(&mut s, &ctx(), "UpdateProductTopic", &[("TopicId", &b), ("TopicShortName", "b")])
        .expect("its own name");
    assert_eq!(code(create_topic(&mut s, &key, "c", "PUB", &[])), emulator_codes::TOPIC_LIMIT);
}

#[test]
fn topics_of_unknown_or_foreign_products_are_not_found() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let id = create_topic(&mut s, &key, "a", "PUB", &[]).unwrap()["TopicId"].to_string();
    assert_eq!(code(create_topic(&mut s, "a1NoSuchKey", "a", "PUB", &[])), "iot.prod.NotExistedProduct");
    let stranger = CallContext { uid: "2002".into(), ..ctx() };
    let foreign = [("ProductKey", key.as_str()), ("TopicShortName", "x"), ("Operation", "PUB")];
    assert_eq!(code(call(&mut s, &stranger, "CreateProductTopic", &foreign)), "iot.prod.NotExistedProduct");
    assert_eq!(
        code(call(&mut s, &stranger, "QueryProductTopic", &[("ProductKey", &key)])),
        "iot.prod.NotExistedProduct"
    );
    assert_eq!(
        code(call(&mut s, &stranger, "DeleteProductTopic", &[("TopicId", &id)])),
        emulator_codes::TOPIC_NOT_FOUND
    );
    assert_eq!(
        code(call(&mut s, &ctx(), "DeleteProductTopic", &[("TopicId", &id), ("IotInstanceId", "iot-test")])),
        emulator_codes::TOPIC_NOT_FOUND,
        "ids are looked up in the instance named"
    );
}

#[test]
fn publication_locks_topics_only_when_told_to() {
    for (lock, locked) in [
        (PublishedPartsLock::Unlocked, false),
        (PublishedPartsLock::Script, false),
        (PublishedPartsLock::ScriptAndTopics, true),
    ] {
        let mut s = State::new(Rules { lock_published_parts: lock, ..rules() });
        let key = create(&mut s, "Lamp");
        let id = create_topic(&mut s, &key, "a", "PUB", &[]).unwrap()["TopicId"].to_string();
        call(&mut s, &ctx(), "ReleaseProduct", &[("ProductKey", &key)]).unwrap();
        let results = [
            create_topic(&mut s, &key, "b", "PUB", &[]),
            call(&mut s, &ctx(), "UpdateProductTopic", &[("TopicId", &id), ("Desc", "x")]),
            call(&mut s, &ctx(), "DeleteProductTopic", &[("TopicId", &id)]),
        ];
        for result in results {
            match locked {
                true => assert_eq!(code(result), emulator_codes::PRODUCT_PUBLISHED, "{lock:?}"),
                false => assert!(result.is_ok(), "{lock:?}: {result:?}"),
            }
        }
    }
}

#[test]
fn distribution_copies_topics_with_new_ids_and_locks_them() {
    let mut s = State::new(rules());
    let key = create(&mut s, "Lamp");
    let id = create_topic(&mut s, &key, "a", "PUB", &[]).unwrap()["TopicId"].to_string();
    distribute(&mut s, &ctx(), &key).expect("job created");
    let later = CallContext { now_ms: ctx().now_ms + 10_000, ..ctx() };
    let copy =
        call(&mut s, &later, "QueryProductTopic", &[("ProductKey", &key), ("IotInstanceId", "iot-prod")])
            .expect("the copy has the categories");
    let copied = &copy["Data"]["ProductTopicInfo"];
    assert_eq!(copied[0]["TopicShortName"], "a");
    let copy_id = copied[0]["Id"].as_str().unwrap().to_string();
    assert_ne!(copy_id, id, "the copy's categories have their own ids");
    let refused = [
        call(
            &mut s,
            &later,
            "CreateProductTopic",
            &[("ProductKey", &key), ("TopicShortName", "b"), ("Operation", "PUB")],
        ),
        call(&mut s, &later, "DeleteProductTopic", &[("TopicId", &id)]),
        call(&mut s, &later, "DeleteProductTopic", &[("TopicId", &copy_id), ("IotInstanceId", "iot-prod")]),
    ];
    for result in refused {
        assert_eq!(code(result), emulator_codes::PRODUCT_DISTRIBUTED);
    }
}

#[test]
fn deleting_a_product_deletes_its_topics() {
    let mut s = State::new(Rules { lock_published: false, ..rules() });
    let key = create(&mut s, "Lamp");
    let id = create_topic(&mut s, &key, "a", "PUB", &[]).unwrap()["TopicId"].to_string();
    call(&mut s, &ctx(), "DeleteProduct", &[("ProductKey", &key)]).unwrap();
    assert_eq!(
        code(call(&mut s, &ctx(), "DeleteProductTopic", &[("TopicId", &id)])),
        emulator_codes::TOPIC_NOT_FOUND
    );
}

#[test]
fn made_up_topic_codes_are_disguised_in_opaque_mode() {
    let mut s = State::new(Rules { opaque_codes: true, ..rules() });
    let key = create(&mut s, "Lamp");
    create_topic(&mut s, &key, "a", "PUB", &[]).unwrap();
    let refused = code(create_topic(&mut s, &key, "a", "PUB", &[]));
    assert_ne!(refused, emulator_codes::TOPIC_EXISTS);
    assert!(refused == "iot.system.SystemException" || refused.starts_with("iot.unseen."), "{refused}");
    assert_eq!(code(create_topic(&mut s, &key, "a-b", "PUB", &[])), INVALID, "documented codes are kept");
}
