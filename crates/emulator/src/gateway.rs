//! The emulated API gateway: who is calling, and is the request genuine?
//!
//! Verifies both signature schemes against the configured access keys with the same stage
//! functions the client signs with, and rejects unknown keys, forged signatures, reused
//! nonces and stale timestamps with the platform's gateway codes.
//!
//! No I/O happens here.

use std::collections::{HashMap, VecDeque};

use iot_platform::http::API_VERSION;
use iot_platform::sign::{acs3, parse_timestamp, rpc_v1};
use iot_platform::sts::STS_VERSION;
use iot_platform::wire::Params;

use super::state::ApiError;

/// How far a request's time may be from the emulator's clock.
pub const MAX_CLOCK_SKEW_MS: i64 = 15 * 60 * 1000;

/// An access key the emulator accepts, and the account it belongs to.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// AccessKey ID.
    pub id: String,
    /// AccessKey secret.
    pub secret: String,
    /// The account id.
    pub uid: String,
    /// The account's logon name.
    pub logon_id: String,
    /// For STS keys: the token requests must carry.
    pub security_token: Option<String>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey").field("id", &self.id).field("uid", &self.uid).finish_non_exhaustive()
    }
}

impl AccessKey {
    /// Parses `ID:SECRET[:UID[:LOGON[:TOKEN]]]`; the account defaults to `1000000000000001`
    /// (`owner@example.com`).
    ///
    /// # Errors
    /// A message when the text has no secret.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.splitn(5, ':');
        let id = parts.next().unwrap_or_default();
        let secret = parts.next().unwrap_or_default();
        if id.is_empty() || secret.is_empty() {
            return Err(format!("access key {id:?} must be given as ID:SECRET[:UID[:LOGON[:TOKEN]]]"));
        }
        let uid = parts.next().filter(|s| !s.is_empty()).unwrap_or("1000000000000001");
        let logon = parts
            .next()
            .filter(|s| !s.is_empty())
            .map_or_else(|| format!("account{uid}@example.com"), str::to_string);
        Ok(Self {
            id: id.into(),
            secret: secret.into(),
            uid: uid.into(),
            logon_id: logon,
            security_token: parts.next().filter(|s| !s.is_empty()).map(str::to_string),
        })
    }
}

/// Remembers nonces for the skew window, to refuse replays.
#[derive(Debug, Default)]
pub struct NonceCache {
    seen: HashMap<(String, String), i64>,
    order: VecDeque<(i64, String, String)>,
}

impl NonceCache {
    /// Records `nonce` of `key_id` at `now_ms`; `false` if it was seen within the window.
    pub fn check_and_record(&mut self, key_id: &str, nonce: &str, now_ms: i64) -> bool {
        while let Some((at, _, _)) = self.order.front() {
            if now_ms - *at <= 2 * MAX_CLOCK_SKEW_MS {
                break;
            }
            let (_, k, n) = self.order.pop_front().expect("front exists");
            self.seen.remove(&(k, n));
        }
        let entry = (key_id.to_string(), nonce.to_string());
        if self.seen.contains_key(&entry) {
            return false;
        }
        self.seen.insert(entry, now_ms);
        self.order.push_back((now_ms, key_id.to_string(), nonce.to_string()));
        true
    }
}

/// A request as the gateway sees it (values decoded, header names lower case).
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// HTTP method.
    pub method: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// Form body parameters.
    pub form: Vec<(String, String)>,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Incoming {
    /// The gateway's view of a request from its parts: the query string and a form-encoded
    /// body decoded, header names lower-cased.
    #[must_use]
    pub fn from_parts(
        method: &str,
        query: Option<&str>,
        headers: impl IntoIterator<Item = (String, String)>,
        body: Vec<u8>,
    ) -> Self {
        let query =
            query.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        let headers: Vec<(String, String)> =
            headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        let is_form = headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("application/x-www-form-urlencoded"));
        let form = if is_form { form_urlencoded::parse(&body).into_owned().collect() } else { Vec::new() };
        Self { method: method.to_string(), query, form, headers, body }
    }

    /// A header's value (names are lower case).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Which scheme signed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RPC signature 1.0 (HMAC-SHA1).
    V1,
    /// ACS3-HMAC-SHA256.
    V3,
}

/// A request that passed the gateway.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The key that signed it.
    pub key: AccessKey,
    /// The action.
    pub action: String,
    /// The business parameters.
    pub params: Params,
    /// The scheme.
    pub scheme: Scheme,
    /// Whether the caller asked for XML.
    pub wants_xml: bool,
    /// The API version asked for (the IoT Platform's or STS's).
    pub version: String,
}

fn missing(name: &str) -> ApiError {
    ApiError::gateway(400, &format!("Missing{name}"), format!("{name} is mandatory for this action."))
}

fn check_time(text: &str, now_ms: i64) -> Result<(), ApiError> {
    let time = parse_timestamp(text).ok_or_else(|| {
        ApiError::gateway(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    })?;
    if (time.as_millisecond() - now_ms).abs() > MAX_CLOCK_SKEW_MS {
        return Err(ApiError::gateway(
            400,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    Ok(())
}

/// The API versions served: the IoT Platform's and STS's.
fn check_version(version: &str) -> Result<(), ApiError> {
    if version == API_VERSION || version == STS_VERSION {
        Ok(())
    } else {
        Err(ApiError::gateway(
            400,
            "InvalidVersion",
            format!("Specified parameter Version is not valid: {version}"),
        ))
    }
}

/// Where the gateway finds the AccessKey a request names.
pub trait KeyLookup {
    /// The key `id`, valid at `now_ms`.
    ///
    /// # Errors
    /// `InvalidAccessKeyId.NotFound` for an unknown key; `InvalidSecurityToken.Expired` for
    /// temporary credentials past their expiry.
    fn find(&self, id: &str, now_ms: i64) -> Result<AccessKey, ApiError>;
}

/// The error for a key no one issued.
#[must_use]
pub fn key_not_found() -> ApiError {
    ApiError::gateway(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
}

impl KeyLookup for [AccessKey] {
    fn find(&self, id: &str, _now_ms: i64) -> Result<AccessKey, ApiError> {
        self.iter().find(|k| k.id == id).cloned().ok_or_else(key_not_found)
    }
}

impl<const N: usize> KeyLookup for [AccessKey; N] {
    fn find(&self, id: &str, now_ms: i64) -> Result<AccessKey, ApiError> {
        self.as_slice().find(id, now_ms)
    }
}

impl KeyLookup for Vec<AccessKey> {
    fn find(&self, id: &str, now_ms: i64) -> Result<AccessKey, ApiError> {
        self.as_slice().find(id, now_ms)
    }
}

fn find_key(keys: &dyn KeyLookup, id: &str, now_ms: i64) -> Result<AccessKey, ApiError> {
    keys.find(id, now_ms)
}

fn check_token(key: &AccessKey, provided: Option<&str>) -> Result<(), ApiError> {
    match (&key.security_token, provided) {
        (None, _) => Ok(()),
        (Some(expected), Some(given)) if expected == given => Ok(()),
        (Some(_), None) => {
            Err(ApiError::gateway(400, "InvalidSecurityToken.Malformed", "The security token is missing."))
        }
        (Some(_), Some(_)) => Err(ApiError::gateway(
            400,
            "InvalidSecurityToken.MismatchWithAccessKey",
            "The security token does not match the access key.",
        )),
    }
}

fn signature_mismatch(string_to_sign: &str) -> ApiError {
    ApiError::gateway(
        400,
        "SignatureDoesNotMatch",
        format!(
            "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
        ),
    )
}

/// Authenticates a request.
///
/// # Errors
/// The platform's gateway errors: `Missing*`, `IncompleteSignature`,
/// `InvalidAccessKeyId.NotFound`, `SignatureDoesNotMatch`, `InvalidTimeStamp.*`,
/// `SignatureNonceUsed`, `InvalidSecurityToken.*`, `InvalidVersion`.
pub fn authenticate(
    request: &Incoming,
    keys: &dyn KeyLookup,
    nonces: &mut NonceCache,
    now_ms: i64,
) -> Result<Authenticated, ApiError> {
    match request.header("authorization") {
        Some(auth) if auth.starts_with(acs3::ALGORITHM) => {
            authenticate_v3(request, auth, keys, nonces, now_ms)
        }
        _ => authenticate_v1(request, keys, nonces, now_ms),
    }
}

fn authenticate_v1(
    request: &Incoming,
    keys: &dyn KeyLookup,
    nonces: &mut NonceCache,
    now_ms: i64,
) -> Result<Authenticated, ApiError> {
    let all: Vec<(String, String)> = request.query.iter().chain(request.form.iter()).cloned().collect();
    let params = Params::from_pairs(all.clone());
    let get = |name: &str| params.get(name).filter(|v| !v.is_empty()).ok_or_else(|| missing(name));
    let key_id = get("AccessKeyId")?;
    let signature = params.get("Signature").filter(|v| !v.is_empty()).ok_or_else(|| {
        ApiError::gateway(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        )
    })?;
    let action = get("Action")?.to_string();
    let version = get("Version")?.to_string();
    check_version(&version)?;
    if get("SignatureMethod")? != rpc_v1::SIGNATURE_METHOD {
        return Err(ApiError::gateway(
            400,
            "InvalidSignatureMethod",
            "Specified signature method is not valid.",
        ));
    }
    if get("SignatureVersion")? != rpc_v1::SIGNATURE_VERSION {
        return Err(ApiError::gateway(
            400,
            "InvalidSignatureVersion",
            "Specified signature version is not valid.",
        ));
    }
    let nonce = get("SignatureNonce")?;
    check_time(get("Timestamp")?, now_ms)?;
    let key = find_key(keys, key_id, now_ms)?;
    let string_to_sign = rpc_v1::string_to_sign(&request.method, &rpc_v1::canonical_query(&all));
    if !rpc_v1::verify(&key.secret, &string_to_sign, signature) {
        return Err(signature_mismatch(&string_to_sign));
    }
    check_token(&key, params.get("SecurityToken"))?;
    if !nonces.check_and_record(&key.id, nonce, now_ms) {
        return Err(ApiError::gateway(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    let wants_xml = match params.get("Format") {
        Some(f) => f.eq_ignore_ascii_case("xml"),
        None => !request.header("accept").unwrap_or_default().contains("json"),
    };
    Ok(Authenticated { key, action, params, scheme: Scheme::V1, wants_xml, version })
}

fn authenticate_v3(
    request: &Incoming,
    authorization: &str,
    keys: &dyn KeyLookup,
    nonces: &mut NonceCache,
    now_ms: i64,
) -> Result<Authenticated, ApiError> {
    let incomplete = |why: String| ApiError::gateway(400, "IncompleteSignature", why);
    let parsed = acs3::parse_authorization(authorization).ok_or_else(|| {
        incomplete("The Authorization header is not a valid ACS3-HMAC-SHA256 header.".into())
    })?;
    let header = |name: &str| {
        request
            .header(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| incomplete(format!("The header {name} is required.")))
    };
    let action = header("x-acs-action")?.to_string();
    let version = header("x-acs-version")?.to_string();
    check_version(&version)?;
    let date = header("x-acs-date")?;
    let nonce = header("x-acs-signature-nonce")?;
    let content_hash = header("x-acs-content-sha256")?;
    // The V3 reference: every common request header except Authorization that is present
    // must be signed — host and the x-acs-* headers. Others (content-type, which aiohttp
    // adds after the official SDK's async calls were signed; accept; user-agent) may be
    // signed or not; the signed ones are verified like any other.
    for (name, _) in &request.headers {
        let must_sign = name == "host" || name.starts_with("x-acs-");
        if must_sign && !parsed.signed_headers.contains(name) {
            return Err(incomplete(format!("The header {name} must be signed.")));
        }
    }
    if !parsed.signed_headers.iter().any(|h| h == "host") {
        return Err(incomplete("The header host must be signed.".into()));
    }
    if content_hash != acs3::sha256_hex(&request.body) {
        return Err(ApiError::gateway(
            400,
            "SignatureDoesNotMatch",
            "x-acs-content-sha256 does not match the request body.",
        ));
    }
    check_time(date, now_ms)?;
    let key = find_key(keys, &parsed.access_key_id, now_ms)?;
    let mut signed = Vec::new();
    for name in &parsed.signed_headers {
        let value = request
            .header(name)
            .ok_or_else(|| incomplete(format!("The signed header {name} is missing.")))?;
        signed.push((name.clone(), value.to_string()));
    }
    let canonical = acs3::canonical_request(&request.method, &request.query, &signed, content_hash);
    let string_to_sign = acs3::string_to_sign(&canonical);
    if !acs3::verify(&key.secret, &string_to_sign, &parsed.signature) {
        return Err(signature_mismatch(&string_to_sign.replace('\n', "\\n")));
    }
    check_token(&key, request.header("x-acs-security-token"))?;
    if !nonces.check_and_record(&key.id, nonce, now_ms) {
        return Err(ApiError::gateway(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    let params = Params::from_pairs(request.query.iter().chain(request.form.iter()).cloned());
    let wants_xml = !request.header("accept").unwrap_or("application/json").contains("json")
        && params.get("Format").is_some_and(|f| f.eq_ignore_ascii_case("xml"));
    Ok(Authenticated { key, action, params, scheme: Scheme::V3, wants_xml, version })
}

#[cfg(test)]
mod tests {
    use super::*;
    use iot_platform::Credentials;
    use iot_platform::sign::{RpcRequest, SigningContext, format_timestamp};

    const NOW: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z

    fn keys() -> Vec<AccessKey> {
        vec![AccessKey::parse("testid:testsecret:1001:owner@example.com").unwrap()]
    }

    fn context(nonce: &str, at_ms: i64) -> SigningContext {
        SigningContext {
            timestamp: format_timestamp(jiff::Timestamp::from_millisecond(at_ms).unwrap()),
            nonce: nonce.into(),
        }
    }

    fn request<'a>(params: &'a [(String, String)]) -> RpcRequest<'a> {
        RpcRequest {
            method: "POST",
            host: "iot.cn-shanghai.aliyuncs.com",
            action: "QueryProduct",
            version: API_VERSION,
            region: "cn-shanghai",
            params,
            body: b"",
        }
    }

    fn v1(secret: &str, nonce: &str, at_ms: i64) -> Incoming {
        let params = vec![("ProductKey".to_string(), "a1 b".to_string())];
        let creds = Credentials::new("testid", secret, None);
        let query = rpc_v1::sign(&request(&params), &creds, &context(nonce, at_ms));
        Incoming { method: "POST".into(), query, ..Incoming::default() }
    }

    fn v3(secret: &str, nonce: &str, at_ms: i64) -> Incoming {
        let params = vec![("ProductKey".to_string(), "a1 b".to_string())];
        let creds = Credentials::new("testid", secret, None);
        let headers = acs3::sign(&request(&params), &creds, &context(nonce, at_ms));
        Incoming { method: "POST".into(), query: params, headers, ..Incoming::default() }
    }

    fn code(result: Result<Authenticated, ApiError>) -> String {
        result.expect_err("refused").code
    }

    #[test]
    fn both_schemes_signed_by_the_client_are_accepted() {
        let mut nonces = NonceCache::default();
        let a = authenticate(&v1("testsecret", "n1", NOW), &keys(), &mut nonces, NOW).unwrap();
        assert_eq!((a.scheme, a.action.as_str(), a.key.uid.as_str()), (Scheme::V1, "QueryProduct", "1001"));
        assert_eq!(a.params.get("ProductKey"), Some("a1 b"));
        let b = authenticate(&v3("testsecret", "n2", NOW), &keys(), &mut nonces, NOW).unwrap();
        assert_eq!(b.scheme, Scheme::V3);
    }

    #[test]
    fn a_forged_signature_is_refused() {
        let mut nonces = NonceCache::default();
        assert_eq!(
            code(authenticate(&v1("wrong", "n1", NOW), &keys(), &mut nonces, NOW)),
            "SignatureDoesNotMatch"
        );
        assert_eq!(
            code(authenticate(&v3("wrong", "n2", NOW), &keys(), &mut nonces, NOW)),
            "SignatureDoesNotMatch"
        );
        let mut tampered = v1("testsecret", "n3", NOW);
        tampered.query.iter_mut().find(|(k, _)| k == "ProductKey").unwrap().1 = "other".into();
        assert_eq!(code(authenticate(&tampered, &keys(), &mut nonces, NOW)), "SignatureDoesNotMatch");
    }

    #[test]
    fn a_replayed_request_is_refused() {
        let mut nonces = NonceCache::default();
        let request = v3("testsecret", "same", NOW);
        authenticate(&request, &keys(), &mut nonces, NOW).unwrap();
        assert_eq!(code(authenticate(&request, &keys(), &mut nonces, NOW + 1000)), "SignatureNonceUsed");
    }

    #[test]
    fn a_stale_request_is_refused() {
        let mut nonces = NonceCache::default();
        let old = NOW - MAX_CLOCK_SKEW_MS - 1000;
        assert_eq!(
            code(authenticate(&v1("testsecret", "n1", old), &keys(), &mut nonces, NOW)),
            "InvalidTimeStamp.Expired"
        );
        assert_eq!(
            code(authenticate(&v3("testsecret", "n2", old), &keys(), &mut nonces, NOW)),
            "InvalidTimeStamp.Expired"
        );
    }

    #[test]
    fn an_unknown_key_is_not_found() {
        let mut nonces = NonceCache::default();
        let err = authenticate(&v1("testsecret", "n1", NOW), &Vec::new(), &mut nonces, NOW).unwrap_err();
        assert_eq!((err.http_status, err.code.as_str()), (404, "InvalidAccessKeyId.NotFound"));
    }

    #[test]
    fn an_unsigned_acs_header_is_refused() {
        let mut nonces = NonceCache::default();
        let mut request = v3("testsecret", "n1", NOW);
        request.headers.push(("x-acs-extra".into(), "1".into()));
        assert_eq!(code(authenticate(&request, &keys(), &mut nonces, NOW)), "IncompleteSignature");
    }

    #[test]
    fn an_unsigned_header_that_is_not_a_common_header_is_accepted() {
        let mut nonces = NonceCache::default();
        let mut request = v3("testsecret", "n1", NOW);
        request.headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
        assert!(authenticate(&request, &keys(), &mut nonces, NOW).is_ok());
    }

    #[test]
    fn sts_keys_need_their_token() {
        let keys = vec![AccessKey::parse("testid:testsecret:1001::tok").unwrap()];
        let mut nonces = NonceCache::default();
        assert_eq!(
            code(authenticate(&v1("testsecret", "n1", NOW), &keys, &mut nonces, NOW)),
            "InvalidSecurityToken.Malformed"
        );
    }

    #[test]
    fn nonces_are_forgotten_after_the_window() {
        let mut cache = NonceCache::default();
        assert!(cache.check_and_record("k", "n", 0));
        assert!(!cache.check_and_record("k", "n", 1));
        assert!(cache.check_and_record("k", "n", 2 * MAX_CLOCK_SKEW_MS + 10));
    }
}
