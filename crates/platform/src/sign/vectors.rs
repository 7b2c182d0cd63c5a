//! The published worked examples and official-SDK signatures, one test per case.
//!
//! Each case is a folder `crates/platform/tests/fixtures/signing/<scheme>/<case>/` holding `request.json`
//! and one file per stage that is known for it (`canonical`, `string-to-sign`,
//! `hashed-canonical-request`, `signature`, `authorization`); every stage present is checked.

use std::path::PathBuf;

use serde::Deserialize;

use super::{acs3, rpc_v1};

#[derive(Deserialize)]
struct Vector {
    method: String,
    access_key_secret: String,
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    params: Vec<(String, String)>,
    #[serde(default)]
    query: Vec<(String, String)>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: String,
}

fn case_dir(scheme: &str, case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/signing").join(scheme).join(case)
}

fn stage(scheme: &str, case: &str, name: &str) -> Option<String> {
    std::fs::read_to_string(case_dir(scheme, case).join(name))
        .ok()
        .map(|s| s.trim_end_matches('\n').to_string())
}

fn load(scheme: &str, case: &str) -> Vector {
    let text = std::fs::read_to_string(case_dir(scheme, case).join("request.json")).expect("request.json");
    serde_json::from_str(&text).expect("valid request.json")
}

fn check_rpc_v1(case: &str) {
    let v = load("rpc_v1", case);
    let canonical = rpc_v1::canonical_query(&v.params);
    if let Some(expected) = stage("rpc_v1", case, "canonical") {
        assert_eq!(canonical, expected, "canonical query");
    }
    let to_sign = rpc_v1::string_to_sign(&v.method, &canonical);
    if let Some(expected) = stage("rpc_v1", case, "string-to-sign") {
        assert_eq!(to_sign, expected, "string to sign");
    }
    let expected = stage("rpc_v1", case, "signature").expect("every case has a signature");
    assert_eq!(rpc_v1::signature(&v.access_key_secret, &to_sign), expected, "signature");
}

fn check_acs3(case: &str) {
    let v = load("acs3", case);
    let payload_hash = acs3::sha256_hex(v.body.as_bytes());
    let canonical = acs3::canonical_request(&v.method, &v.query, &v.headers, &payload_hash);
    if let Some(expected) = stage("acs3", case, "canonical") {
        assert_eq!(canonical, expected, "canonical request");
    }
    if let Some(expected) = stage("acs3", case, "hashed-canonical-request") {
        assert_eq!(acs3::sha256_hex(canonical.as_bytes()), expected, "hashed canonical request");
    }
    let to_sign = acs3::string_to_sign(&canonical);
    if let Some(expected) = stage("acs3", case, "string-to-sign") {
        assert_eq!(to_sign, expected, "string to sign");
    }
    let signature = acs3::signature(&v.access_key_secret, &to_sign);
    let expected = stage("acs3", case, "signature").expect("every case has a signature");
    assert_eq!(signature, expected, "signature");
    if let Some(expected) = stage("acs3", case, "authorization") {
        let (_, names) = acs3::canonical_headers(&v.headers);
        let id = v.access_key_id.as_deref().expect("access_key_id");
        assert_eq!(
            format!("{} Credential={id},SignedHeaders={names},Signature={signature}", acs3::ALGORITHM),
            expected
        );
    }
}

macro_rules! vector_tests {
    ($check:ident: $($name:ident => $case:literal),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                $check($case);
            }
        )+
    };
}

vector_tests! { check_rpc_v1:
    rpc_v1_iot_doc_pub_get => "iot-doc-pub-get",
    rpc_v1_iot_doc_pub_post => "iot-doc-pub-post",
    rpc_v1_ecs_doc_describe_regions_get => "ecs-doc-describe-regions-get",
    rpc_v1_ecs_doc_describe_regions_post => "ecs-doc-describe-regions-post",
    rpc_v1_ecs_doc_old_timestamp_spelling => "ecs-doc-old-timestamp-spelling",
    rpc_v1_sms_doc_utf8_and_json => "sms-doc-utf8-and-json",
    rpc_v1_edge_sts_chinese_special => "edge-sts-chinese-special",
    rpc_v1_sdk_legacy_core_create_product => "sdk-legacy-core-create-product",
    rpc_v1_sdk_tea_v2_create_product => "sdk-tea-v2-create-product",
    rpc_v1_sdk_tea_v2_publish_auto => "sdk-tea-v2-publish-auto",
}

vector_tests! { check_acs3:
    acs3_v3_doc_run_instances => "v3-doc-run-instances",
    acs3_sdk_tea_v3_create_product => "sdk-tea-v3-create-product",
}

#[test]
fn every_vector_folder_has_a_test() {
    let listed = [
        "iot-doc-pub-get",
        "iot-doc-pub-post",
        "ecs-doc-describe-regions-get",
        "ecs-doc-describe-regions-post",
        "ecs-doc-old-timestamp-spelling",
        "sms-doc-utf8-and-json",
        "edge-sts-chinese-special",
        "sdk-legacy-core-create-product",
        "sdk-tea-v2-create-product",
        "sdk-tea-v2-publish-auto",
        "v3-doc-run-instances",
        "sdk-tea-v3-create-product",
    ];
    for scheme in ["rpc_v1", "acs3"] {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/signing").join(scheme);
        for entry in std::fs::read_dir(dir).expect("vector folder") {
            let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
            assert!(
                listed.contains(&name.as_str()),
                "vector {scheme}/{name} has no test: add it to vectors.rs"
            );
        }
    }
}
