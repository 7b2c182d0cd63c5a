//! Whatever the parameters, a request signed by the client (either scheme) is accepted by the
//! emulator's gateway with exactly those parameters, and the same request with one value
//! changed, signed by another secret, too old, or replayed, is refused.
#![no_main]

use arbitrary::Arbitrary;
use iot_platform_emulator::gateway::{AccessKey, Incoming, NonceCache, authenticate};
use iot_platform::Credentials;
use iot_platform::sign::{RpcRequest, SigningContext, acs3, percent_encode, rpc_v1};
use libfuzzer_sys::fuzz_target;

const NOW_MS: i64 = 1_704_067_200_000;
const COMMON: &[&str] = &[
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "RegionId",
    "SecurityToken",
    "Signature",
];

#[derive(Arbitrary, Debug)]
struct Input {
    action: String,
    params: Vec<(String, String)>,
    acs3: bool,
    post: bool,
    tamper: usize,
    wrong_secret: bool,
    stale: bool,
}

fn query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn signed(input: &Input, params: &[(String, String)], secret: &str, timestamp: &str) -> Incoming {
    let method = if input.post { "POST" } else { "GET" };
    let request = RpcRequest {
        method,
        host: "iot.cn-shanghai.aliyuncs.com",
        action: &input.action,
        version: "2018-01-20",
        region: "cn-shanghai",
        params,
        body: b"",
    };
    let credentials = Credentials::new("LTAI5tFuzzKeyId", secret, None);
    let context = SigningContext { timestamp: timestamp.into(), nonce: format!("nonce-{}", input.tamper) };
    if input.acs3 {
        let headers = acs3::sign(&request, &credentials, &context);
        Incoming::from_parts(method, Some(&query(params)), headers, Vec::new())
    } else {
        let all = rpc_v1::sign(&request, &credentials, &context);
        let headers = vec![("host".to_string(), request.host.to_string())];
        Incoming::from_parts(method, Some(&query(&all)), headers, Vec::new())
    }
}

fuzz_target!(|input: Input| {
    let valid_name = |name: &str| {
        !name.is_empty() && !COMMON.contains(&name) && !name.starts_with("x-acs-") && !name.contains('\0')
    };
    let mut names = std::collections::HashSet::new();
    if input.action.is_empty()
        || !input.action.chars().all(|c| c.is_ascii_alphanumeric())
        || !input.params.iter().all(|(k, _)| valid_name(k) && names.insert(k.clone()))
    {
        return;
    }
    let keys = [AccessKey::parse("LTAI5tFuzzKeyId:fuzz-secret:1234567890123456:owner@example.com").unwrap()];
    let mut nonces = NonceCache::default();
    let good = signed(&input, &input.params, "fuzz-secret", "2024-01-01T00:00:00Z");
    let accepted = authenticate(&good, &keys, &mut nonces, NOW_MS)
        .unwrap_or_else(|e| panic!("a correctly signed request was refused: {e:?}"));
    assert_eq!(accepted.action, input.action);
    for (name, value) in &input.params {
        assert_eq!(accepted.params.get(name), Some(value.as_str()), "parameter {name}");
    }
    assert!(authenticate(&good, &keys, &mut nonces, NOW_MS).is_err(), "a replay was accepted");

    // Tampered: one value changed after signing.
    if !input.params.is_empty() {
        let mut changed = input.params.clone();
        let i = input.tamper % changed.len();
        changed[i].1.push('x');
        let mut forged = signed(&input, &input.params, "fuzz-secret", "2024-01-01T00:00:00Z");
        let key = &changed[i].0;
        for (k, v) in &mut forged.query {
            if k == key {
                v.push('x');
            }
        }
        let mut fresh = NonceCache::default();
        assert!(authenticate(&forged, &keys, &mut fresh, NOW_MS).is_err(), "a forged request was accepted");
    }
    // Signed with another secret, or too old.
    let mut fresh = NonceCache::default();
    if input.wrong_secret {
        let forged = signed(&input, &input.params, "not-the-secret", "2024-01-01T00:00:00Z");
        assert!(authenticate(&forged, &keys, &mut fresh, NOW_MS).is_err(), "a wrong secret was accepted");
    }
    if input.stale {
        let old = signed(&input, &input.params, "fuzz-secret", "2023-12-31T23:00:00Z");
        assert!(authenticate(&old, &keys, &mut fresh, NOW_MS).is_err(), "a stale request was accepted");
    }
});
