//! ACS3-HMAC-SHA256, the header-based signature (Alibaba Cloud's "V3").
//!
//! ```text
//! CanonicalRequest = METHOD \n / \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n hex(SHA256(body))
//! StringToSign     = "ACS3-HMAC-SHA256" \n hex(SHA256(CanonicalRequest))
//! Signature        = hex(HMAC-SHA256(AccessKeySecret, StringToSign))
//! Authorization    = ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<names>,Signature=<hex>
//! ```
//!
//! No I/O happens here.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::{RpcRequest, SigningContext, percent_encode};
use crate::credentials::Credentials;

/// The algorithm name, the first word of the `Authorization` header.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Lower-case hex SHA-256 of `data` (`x-acs-content-sha256` and the hashed request).
#[must_use]
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The canonical query: pairs sorted by name then value, names and values encoded, empty
/// values written as `k=`.
#[must_use]
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> =
        query.iter().map(|(k, v)| (percent_encode(k), percent_encode(v))).collect();
    encoded.sort();
    encoded.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// The canonical headers block and the signed-headers list for the given headers (names
/// lower-cased, values trimmed, sorted by name).
#[must_use]
pub fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut lowered: Vec<(String, String)> =
        headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())).collect();
    lowered.sort();
    let block: String = lowered.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let names = lowered.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    (block, names)
}

/// The canonical request.
#[must_use]
pub fn canonical_request(
    method: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    payload_hash: &str,
) -> String {
    let (block, names) = canonical_headers(headers);
    format!("{method}\n/\n{}\n{block}\n{names}\n{payload_hash}", canonical_query(query))
}

/// `ACS3-HMAC-SHA256\n` + hex(SHA256(canonical request)).
#[must_use]
pub fn string_to_sign(canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// The raw HMAC-SHA256 bytes of the string to sign.
#[must_use]
pub fn raw_signature(access_key_secret: &str, string_to_sign: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(access_key_secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The hex signature of the string to sign.
#[must_use]
pub fn signature(access_key_secret: &str, string_to_sign: &str) -> String {
    hex::encode(raw_signature(access_key_secret, string_to_sign))
}

/// Checks a received hex signature against the expected one in constant time.
#[must_use]
pub fn verify(access_key_secret: &str, string_to_sign: &str, provided_hex: &str) -> bool {
    let Ok(provided) = hex::decode(provided_hex.trim()) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(access_key_secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&provided).is_ok()
}

/// Signs an RPC call with ACS3-HMAC-SHA256: returns the headers to send (all of them
/// signed, `Authorization` last). `request.params` go in the URL; a non-empty
/// `request.body` is an RPC form body, so `content-type: application/x-www-form-urlencoded`
/// is among the signed headers.
#[must_use]
pub fn sign(
    request: &RpcRequest<'_>,
    credentials: &Credentials,
    context: &SigningContext,
) -> Vec<(String, String)> {
    let payload_hash = sha256_hex(request.body);
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), request.host.into()),
        ("x-acs-action".into(), request.action.into()),
        ("x-acs-version".into(), request.version.into()),
        ("x-acs-date".into(), context.timestamp.clone()),
        ("x-acs-signature-nonce".into(), context.nonce.clone()),
        ("x-acs-content-sha256".into(), payload_hash.clone()),
    ];
    if !request.body.is_empty() {
        headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
    }
    if let Some(token) = credentials.security_token() {
        headers.push(("x-acs-security-token".into(), token.into()));
    }
    let canonical = canonical_request(request.method, request.params, &headers, &payload_hash);
    let (_, signed_names) = canonical_headers(&headers);
    let sig = signature(credentials.access_key_secret(), &string_to_sign(&canonical));
    headers.push((
        "authorization".into(),
        format!(
            "{ALGORITHM} Credential={},SignedHeaders={signed_names},Signature={sig}",
            credentials.access_key_id()
        ),
    ));
    headers
}

/// The parts of an `Authorization: ACS3-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    /// The AccessKey ID (`Credential=`).
    pub access_key_id: String,
    /// The signed header names, lower case, in the order given.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

/// Parses an `Authorization` header of this scheme; `None` if it is not one.
#[must_use]
pub fn parse_authorization(value: &str) -> Option<ParsedAuthorization> {
    let rest = value.strip_prefix(ALGORITHM)?.trim_start();
    let (mut id, mut names, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => id = Some(v.to_string()),
            "SignedHeaders" => names = Some(v.split(';').map(str::to_ascii_lowercase).collect()),
            "Signature" => sig = Some(v.to_string()),
            _ => return None,
        }
    }
    Some(ParsedAuthorization { access_key_id: id?, signed_headers: names?, signature: sig? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_header_round_trips_through_the_parser() {
        let creds = Credentials::new("id", "secret", Some("tok".into()));
        let ctx = SigningContext { timestamp: "2024-01-01T00:00:00Z".into(), nonce: "n".into() };
        let request = RpcRequest {
            method: "POST",
            host: "iot.cn-shanghai.aliyuncs.com",
            action: "QueryProduct",
            version: "2018-01-20",
            region: "cn-shanghai",
            params: &[],
            body: b"",
        };
        let headers = sign(&request, &creds, &ctx);
        let auth = &headers.iter().find(|(k, _)| k == "authorization").unwrap().1;
        let parsed = parse_authorization(auth).unwrap();
        assert_eq!(parsed.access_key_id, "id");
        assert!(parsed.signed_headers.contains(&"x-acs-security-token".to_string()));
        assert_eq!(parsed.signature.len(), 64);
    }

    #[test]
    fn parser_refuses_other_schemes_and_garbage() {
        assert!(parse_authorization("Bearer abc").is_none());
        assert!(parse_authorization("ACS3-HMAC-SHA256 Credential=a").is_none());
        assert!(
            parse_authorization("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=x,Extra=1")
                .is_none()
        );
    }
}
