//! The RPC signature, version 1.0: HMAC-SHA1 over the canonicalised query.
//!
//! 1. Take every parameter except `Signature` (decoded values; empty values kept).
//! 2. Sort by name (byte order), percent-encode names and values, join as `k=v&…`.
//! 3. `StringToSign = METHOD & %2F & percentEncode(canonical query)`.
//! 4. `Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))`.
//!
//! No I/O happens here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use super::{RpcRequest, SigningContext, percent_encode};
use crate::credentials::Credentials;

/// The value of `SignatureMethod`.
pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";
/// The value of `SignatureVersion`.
pub const SIGNATURE_VERSION: &str = "1.0";

/// The canonical query string: parameters sorted by name, names and values encoded.
#[must_use]
pub fn canonical_query(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(name, _)| name != "Signature").collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then_with(|| a.1.cmp(&b.1)));
    sorted
        .iter()
        .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `METHOD&%2F&percentEncode(canonical query)`.
#[must_use]
pub fn string_to_sign(method: &str, canonical_query: &str) -> String {
    format!("{method}&{}&{}", percent_encode("/"), percent_encode(canonical_query))
}

/// `Base64(HMAC-SHA1(secret + "&", string_to_sign))`.
#[must_use]
pub fn signature(access_key_secret: &str, string_to_sign: &str) -> String {
    BASE64.encode(raw_signature(access_key_secret, string_to_sign))
}

/// The raw HMAC-SHA1 bytes; used by the verifier for a constant-time comparison.
#[must_use]
pub fn raw_signature(access_key_secret: &str, string_to_sign: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{access_key_secret}&").as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Checks a received Base64 signature against the expected one in constant time.
#[must_use]
pub fn verify(access_key_secret: &str, string_to_sign: &str, provided: &str) -> bool {
    let Ok(provided) = BASE64.decode(provided.trim()) else { return false };
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{access_key_secret}&").as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&provided).is_ok()
}

/// Signs an RPC call: returns the business `params` plus every common parameter
/// (`Action`, `Version`, `Format`, `AccessKeyId`, `SignatureMethod`, `SignatureVersion`,
/// `SignatureNonce`, `Timestamp`, `RegionId`, `SecurityToken` for STS) and `Signature`,
/// ready to be sent as the query string.
#[must_use]
pub fn sign(
    request: &RpcRequest<'_>,
    credentials: &Credentials,
    context: &SigningContext,
) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = request.params.to_vec();
    let mut common = vec![
        ("Action", request.action),
        ("Version", request.version),
        ("Format", "JSON"),
        ("AccessKeyId", credentials.access_key_id()),
        ("SignatureMethod", SIGNATURE_METHOD),
        ("SignatureVersion", SIGNATURE_VERSION),
        ("SignatureNonce", context.nonce.as_str()),
        ("Timestamp", context.timestamp.as_str()),
        ("RegionId", request.region),
    ];
    if let Some(token) = credentials.security_token() {
        common.push(("SecurityToken", token));
    }
    all.extend(common.into_iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let to_sign = string_to_sign(request.method, &canonical_query(&all));
    all.push(("Signature".into(), signature(credentials.access_key_secret(), &to_sign)));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn canonical_query_sorts_by_name_and_keeps_empty_values() {
        let q = canonical_query(&pairs(&[("b", "2"), ("Signature", "x"), ("a", ""), ("B", "1 2")]));
        assert_eq!(q, "B=1%202&a=&b=2");
    }

    fn request(action: &str) -> RpcRequest<'_> {
        RpcRequest {
            method: "POST",
            host: "iot.cn-shanghai.aliyuncs.com",
            action,
            version: "2018-01-20",
            region: "cn-shanghai",
            params: &[],
            body: b"",
        }
    }

    #[test]
    fn signing_the_same_request_twice_with_a_new_nonce_gives_a_new_signature() {
        let creds = Credentials::new("id", "secret", None);
        let ctx =
            |nonce: &str| SigningContext { timestamp: "2024-01-01T00:00:00Z".into(), nonce: nonce.into() };
        let a = sign(&request("QueryProduct"), &creds, &ctx("n1"));
        let b = sign(&request("QueryProduct"), &creds, &ctx("n2"));
        let sig = |v: &Vec<(String, String)>| v.iter().find(|(k, _)| k == "Signature").unwrap().1.clone();
        assert_ne!(sig(&a), sig(&b));
    }

    #[test]
    fn security_token_is_sent_and_signed_for_sts_credentials() {
        let creds = Credentials::new("STS.id", "secret", Some("tok".into()));
        let ctx = SigningContext { timestamp: "2024-01-01T00:00:00Z".into(), nonce: "n".into() };
        let signed = sign(&request("QueryProduct"), &creds, &ctx);
        assert!(signed.iter().any(|(k, v)| k == "SecurityToken" && v == "tok"));
        let unsigned: Vec<_> = signed.iter().filter(|(k, _)| k != "Signature").cloned().collect();
        let expected = signature("secret", &string_to_sign("POST", &canonical_query(&unsigned)));
        assert!(signed.iter().any(|(k, v)| k == "Signature" && *v == expected));
    }
}
