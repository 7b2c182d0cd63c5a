//! Data-parsing scripts, called directly (no HTTP).

use super::tests::{call, code, create, ctx, distribute, rules};
use super::*;

const JS: &str = "function transformPayload(topic, rawData) { return {}; }";

/// A Pro product with the custom data format; its key.
fn custom(s: &mut State, name: &str) -> String {
    let pairs = [
        ("ProductName", name),
        ("NodeType", "0"),
        ("AliyunCommodityCode", "iothub_senior"),
        ("DataFormat", "0"),
    ];
    call(s, &ctx(), "CreateProduct", &pairs).expect("created")["ProductKey"].as_str().unwrap().to_string()
}

fn put(s: &mut State, action: &str, key: &str, script_type: &str, content: &str) -> Result<Value, ApiError> {
    call(s, &ctx(), action, &[("ProductKey", key), ("ScriptType", script_type), ("ScriptContent", content)])
}

/// GetThingScript's answer: the type and the URL's token.
fn get(s: &mut State, c: &CallContext, key: &str) -> (String, String) {
    let out = call(s, c, "GetThingScript", &[("ProductKey", key)]).expect("read");
    let url = out["Data"]["ScriptUrl"].as_str().expect("a URL").to_string();
    let token = url.strip_prefix(SCRIPT_PATH).expect("on the emulator's listener").to_string();
    (out["Data"]["ScriptType"].as_str().unwrap().to_string(), token)
}

#[test]
fn a_script_is_created_read_through_its_url_and_replaced() {
    let mut s = State::new(rules());
    let key = custom(&mut s, "Meter");
    let none = call(&mut s, &ctx(), "GetThingScript", &[("ProductKey", &key)]).expect("no script yet");
    assert_eq!(none.get("Data"), None);

    put(&mut s, "CreateThingScript", &key, "JavaScript", JS).expect("created");
    let (script_type, token) = get(&mut s, &ctx(), &key);
    assert_eq!(script_type, "JavaScript");
    assert_eq!(token.len(), 64, "two UUIDs' worth of randomness");
    assert_eq!(s.script_download(&token, ctx().now_ms), Ok(JS.to_string()));

    put(&mut s, "UpdateThingScript", &key, "Python_27", "def transform_payload(t, d):\n    return {}\n")
        .unwrap();
    let (script_type, newer) = get(&mut s, &ctx(), &key);
    assert_eq!(script_type, "Python_27");
    assert_ne!(newer, token, "each call has its own URL");
    assert!(s.script_download(&newer, ctx().now_ms).unwrap().starts_with("def transform_payload"));
    assert_eq!(
        s.script_download(&token, ctx().now_ms),
        Ok(JS.to_string()),
        "a URL serves what it was made for"
    );
    put(&mut s, "UpdateThingScript", &key, "PHP_72", "<?php ?>").expect("PHP 7.2 too");
}

#[test]
fn a_script_url_lasts_five_minutes_and_dies_with_its_product() {
    let mut s = State::new(Rules { lock_published: false, ..rules() });
    let key = custom(&mut s, "Meter");
    put(&mut s, "CreateThingScript", &key, "JavaScript", JS).unwrap();
    let (_, token) = get(&mut s, &ctx(), &key);
    let start = ctx().now_ms;
    assert!(s.script_download(&token, start + SCRIPT_URL_TTL_MS - 1).is_ok());
    assert_eq!(s.script_download(&token, start + SCRIPT_URL_TTL_MS), Err(ScriptLinkError::Expired));
    assert_eq!(s.script_download("0123", start), Err(ScriptLinkError::Unknown));

    let (_, token) = get(&mut s, &ctx(), &key);
    call(&mut s, &ctx(), "DeleteProduct", &[("ProductKey", &key)]).unwrap();
    assert_eq!(s.script_download(&token, start), Err(ScriptLinkError::Unknown));
}

#[test]
fn only_custom_format_products_take_a_script() {
    let mut s = State::new(rules());
    let alink = create(&mut s, "Lamp");
    let basic = call(&mut s, &ctx(), "CreateProduct", &[("ProductName", "Basic1"), ("NodeType", "0")])
        .unwrap()["ProductKey"]
        .as_str()
        .unwrap()
        .to_string();
    for key in [&alink, &basic] {
        let refused = put(&mut s, "CreateThingScript", key, "JavaScript", JS);
        assert_eq!(code(refused), emulator_codes::SCRIPT_NEEDS_CUSTOM_FORMAT);
    }
    assert_eq!(
        code(put(&mut s, "CreateThingScript", "a1NoSuchKey", "JavaScript", JS)),
        "iot.prod.NotExistedProduct"
    );
}

#[test]
fn type_and_size_are_checked_and_content_is_required() {
    let mut s = State::new(rules());
    let key = custom(&mut s, "Meter");
    for bad in ["javascript", "Python", "Lua", ""] {
        let result = put(&mut s, "CreateThingScript", &key, bad, JS);
        assert!(result.is_err(), "{bad:?}");
    }
    let missing =
        call(&mut s, &ctx(), "CreateThingScript", &[("ProductKey", &key), ("ScriptType", "JavaScript")]);
    assert_eq!(
        missing.unwrap_err(),
        ApiError::gateway(400, "MissingScriptContent", "ScriptContent is mandatory for this action.")
    );
    let too_big = "x".repeat(iot_platform::quota::MAX_SCRIPT_BYTES + 1);
    assert_eq!(
        code(put(&mut s, "CreateThingScript", &key, "JavaScript", &too_big)),
        "iot.common.InvalidFormattedParameter"
    );
    let largest = "x".repeat(iot_platform::quota::MAX_SCRIPT_BYTES);
    put(&mut s, "CreateThingScript", &key, "JavaScript", &largest).expect("128 KB is allowed");
}

#[test]
fn create_needs_no_script_and_update_needs_one() {
    let mut s = State::new(rules());
    let key = custom(&mut s, "Meter");
    assert_eq!(
        code(put(&mut s, "UpdateThingScript", &key, "JavaScript", JS)),
        emulator_codes::SCRIPT_NOT_FOUND
    );
    put(&mut s, "CreateThingScript", &key, "JavaScript", JS).unwrap();
    assert_eq!(code(put(&mut s, "CreateThingScript", &key, "JavaScript", JS)), emulator_codes::SCRIPT_EXISTS);
}

#[test]
fn publication_locks_the_script_only_when_told_to() {
    for (lock, locked) in [
        (PublishedPartsLock::Unlocked, false),
        (PublishedPartsLock::Script, true),
        (PublishedPartsLock::ScriptAndTopics, true),
    ] {
        let mut s = State::new(Rules { lock_published_parts: lock, ..rules() });
        let key = custom(&mut s, "Meter");
        put(&mut s, "CreateThingScript", &key, "JavaScript", JS).unwrap();
        call(&mut s, &ctx(), "ReleaseProduct", &[("ProductKey", &key)]).unwrap();
        let result = put(&mut s, "UpdateThingScript", &key, "JavaScript", "// new");
        match locked {
            true => assert_eq!(code(result), emulator_codes::PRODUCT_PUBLISHED, "{lock:?}"),
            false => assert!(result.is_ok(), "{lock:?}: {result:?}"),
        }
        get(&mut s, &ctx(), &key);
    }
}

#[test]
fn distribution_copies_the_script_and_locks_it() {
    let mut s = State::new(rules());
    let key = custom(&mut s, "Meter");
    put(&mut s, "CreateThingScript", &key, "JavaScript", JS).unwrap();
    distribute(&mut s, &ctx(), &key).unwrap();
    let later = CallContext { now_ms: ctx().now_ms + 10_000, ..ctx() };
    let copy = call(&mut s, &later, "GetThingScript", &[("ProductKey", &key), ("IotInstanceId", "iot-prod")])
        .unwrap();
    assert_eq!(copy["Data"]["ScriptType"], "JavaScript");
    let update = [("ProductKey", key.as_str()), ("ScriptType", "JavaScript"), ("ScriptContent", "// new")];
    assert_eq!(code(call(&mut s, &later, "UpdateThingScript", &update)), emulator_codes::PRODUCT_DISTRIBUTED);
}
