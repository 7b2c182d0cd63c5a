//! The emulated STS (Security Token Service, API version 2015-04-01): `AssumeRole` (signed
//! with a known AccessKey) and `AssumeRoleWithOIDC` (anonymous: the OIDC token is checked
//! against its identity provider's published keys, issuer, audience, expiry and `nbf`), and
//! the temporary AccessKeys it issued, which the gateway then accepts until they expire.
//!
//! Error codes are STS's documented ones (the STS error-code reference and the STS FAQ):
//! `AuthenticationFail.NoPermission`, `AuthenticationFail.OIDCToken.{Invalid,
//! InvalidSignature,AudienceNotMatch,Expired}` (401), `NoPermission` (403),
//! `InvalidParameter.{RoleSessionName,DurationSeconds,PolicyGrammar}` (400), `Missing*`.
//!
//! No I/O happens here.

use std::collections::HashMap;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::gateway::AccessKey;
use super::state::ApiError;
use iot_platform::wire::Params;

/// The longest session a role allows unless it says otherwise, seconds.
pub const DEFAULT_MAX_SESSION_SECONDS: u64 = 3600;

/// A RAM role that can be assumed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// `acs:ram::<account uid>:role/<name>`.
    pub arn: String,
    /// AccessKey IDs whose holders may `AssumeRole` it (its trust policy).
    #[serde(default)]
    pub trusted_access_keys: Vec<String>,
    /// OIDC provider ARNs whose tokens may `AssumeRoleWithOIDC` it.
    #[serde(default)]
    pub trusted_oidc_providers: Vec<String>,
    /// The longest session, seconds (default 3600).
    #[serde(default)]
    pub max_session_seconds: Option<u64>,
    /// The `sts:ExternalId` its trust policy requires of `AssumeRole` callers (none: any
    /// or no `ExternalId` is accepted).
    #[serde(default)]
    pub external_id: Option<String>,
}

/// An OIDC identity provider registered in RAM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcProvider {
    /// `acs:ram::<account uid>:oidc-provider/<name>`.
    pub arn: String,
    /// The issuer tokens must name (`iss`).
    pub issuer: String,
    /// The audiences (client ids) accepted (`aud`).
    pub audiences: Vec<String>,
    /// The issuer's published keys (its JWKS document).
    pub jwks: Value,
}

/// How the emulated STS is set up (`PUT /_emulator/sts`, `--sts-config`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StsConfig {
    /// Issue credentials that live this long, whatever `DurationSeconds` asks (so tests
    /// can watch renewals; the real minimum is 900 s).
    #[serde(default)]
    pub lifetime_seconds: Option<u64>,
    /// Moves the clock OIDC tokens are checked against (seconds; positive is later), to
    /// test expired tokens without waiting for one.
    #[serde(default)]
    pub oidc_clock_offset_seconds: i64,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// OIDC providers.
    #[serde(default)]
    pub oidc_providers: Vec<OidcProvider>,
}

/// Temporary credentials STS issued.
#[derive(Debug, Clone)]
struct Issued {
    key: AccessKey,
    expires_ms: i64,
}

/// What STS has issued, and how it is set up.
#[derive(Debug, Default)]
pub struct Sts {
    config: StsConfig,
    issued: HashMap<String, Issued>,
    /// Credentials issued so far.
    pub issued_total: u64,
}

/// Why a temporary key was refused at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemporaryKey {
    /// Not one STS issued.
    Unknown,
    /// Issued, but expired.
    Expired,
}

fn sts_error(status: u16, code: &str, message: impl Into<String>) -> ApiError {
    ApiError::gateway(status, code, message)
}

/// `AssumeRole` of a role that does not exist or whose trust policy refuses the call.
fn assume_role_refused() -> ApiError {
    sts_error(
        403,
        "NoPermission",
        "No permission perform sts:AssumeRole on this Role. Maybe you should check the role's trust policy.",
    )
}

fn invalid_token(message: &str) -> ApiError {
    sts_error(401, "AuthenticationFail.OIDCToken.Invalid", message)
}

fn random_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// The account uid in an ARN (`acs:ram::<uid>:role/…`).
fn arn_uid(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("acs:ram::")?;
    let (uid, _) = rest.split_once(':')?;
    (!uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit())).then_some(uid)
}

/// The role's name in its ARN.
fn role_name(arn: &str) -> &str {
    arn.rsplit_once("role/").map_or(arn, |(_, name)| name)
}

fn valid_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b".@-_".contains(&b))
}

impl Sts {
    /// Replaces the setup (issued credentials stay valid).
    pub fn configure(&mut self, config: StsConfig) {
        self.config = config;
    }

    /// The setup.
    #[must_use]
    pub fn config(&self) -> &StsConfig {
        &self.config
    }

    /// The temporary key `id`, if STS issued it and it has not expired at `now_ms`.
    ///
    /// # Errors
    /// [`TemporaryKey`] when it is unknown or expired.
    pub fn key(&self, id: &str, now_ms: i64) -> Result<AccessKey, TemporaryKey> {
        let issued = self.issued.get(id).ok_or(TemporaryKey::Unknown)?;
        if issued.expires_ms <= now_ms {
            return Err(TemporaryKey::Expired);
        }
        Ok(issued.key.clone())
    }

    /// `AssumeRole` by the holder of `caller`.
    ///
    /// # Errors
    /// STS's codes for a missing or malformed parameter, and `NoPermission` when the role
    /// does not exist, does not trust the caller, or requires an `ExternalId` the call does
    /// not give.
    pub fn assume_role(
        &mut self,
        caller: &AccessKey,
        params: &Params,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        let (role, session, duration) = self.role_request(params)?;
        if !role.trusted_access_keys.contains(&caller.id) {
            return Err(assume_role_refused());
        }
        if let Some(required) = &role.external_id
            && params.get("ExternalId") != Some(required.as_str())
        {
            return Err(assume_role_refused());
        }
        Ok(self.issue(&role, &session, duration, now_ms, None))
    }

    /// `AssumeRoleWithOIDC`: anonymous; the token is the proof.
    ///
    /// # Errors
    /// STS's `AuthenticationFail.*` codes for an unknown provider, a role that does not
    /// trust it, and a token that is malformed, wrongly signed, for another audience or
    /// issuer, expired or not yet valid.
    pub fn assume_role_with_oidc(&mut self, params: &Params, now_ms: i64) -> Result<Value, ApiError> {
        let provider_arn = params.get("OIDCProviderArn").filter(|v| !v.is_empty()).ok_or_else(|| {
            sts_error(400, "MissingOIDCProviderArn", "OIDCProviderArn is mandatory for this action.")
        })?;
        let token = params.get("OIDCToken").unwrap_or_default();
        if token.is_empty() {
            return Err(invalid_token("The OIDCToken can not empty."));
        }
        let (role, session, duration) = self.role_request(params).map_err(|e| {
            if e.code == "NoPermission" {
                sts_error(401, "AuthenticationFail.NoPermission", "There is no permission")
            } else {
                e
            }
        })?;
        let provider =
            self.config.oidc_providers.iter().find(|p| p.arn == provider_arn).cloned().ok_or_else(|| {
                sts_error(401, "AuthenticationFail.NoPermission", "No such OIDC Provider registered.")
            })?;
        let claims = verify_token(&provider, token, now_ms + self.config.oidc_clock_offset_seconds * 1000)?;
        if !role.trusted_oidc_providers.contains(&provider.arn) {
            return Err(sts_error(401, "AuthenticationFail.NoPermission", "There is no permission"));
        }
        let info = json!({
            "Subject": claims.get("sub").cloned().unwrap_or(Value::Null),
            "Issuer": provider.issuer,
            "ClientIds": audiences(&claims).join(","),
            "ExpirationTime": claims.get("exp").and_then(Value::as_i64).and_then(|s| jiff::Timestamp::from_second(s).ok()).map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
            "IssuanceTime": claims.get("iat").and_then(Value::as_i64).and_then(|s| jiff::Timestamp::from_second(s).ok()).map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        });
        Ok(self.issue(&role, &session, duration, now_ms, Some(info)))
    }

    fn role_request(&self, params: &Params) -> Result<(Role, String, u64), ApiError> {
        let arn = params
            .get("RoleArn")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| sts_error(400, "MissingRoleArn", "RoleArn is mandatory for this action."))?;
        let session = params.get("RoleSessionName").filter(|v| !v.is_empty()).ok_or_else(|| {
            sts_error(400, "MissingRoleSessionName", "RoleSessionName is mandatory for this action.")
        })?;
        if !valid_session_name(session) {
            return Err(sts_error(
                400,
                "InvalidParameter.RoleSessionName",
                "The parameter RoleSessionName is wrongly formed.",
            ));
        }
        if let Some(policy) = params.get("Policy").filter(|p| !p.is_empty())
            && serde_json::from_str::<serde_json::Map<String, Value>>(policy).is_err()
        {
            return Err(sts_error(
                400,
                "InvalidParameter.PolicyGrammar",
                "The parameter Policy has not passed grammar check.",
            ));
        }
        let role =
            self.config.roles.iter().find(|r| r.arn == arn).cloned().ok_or_else(assume_role_refused)?;
        let max = role.max_session_seconds.unwrap_or(DEFAULT_MAX_SESSION_SECONDS);
        let duration = match params.get("DurationSeconds") {
            None | Some("") => 3600.min(max),
            Some(text) => text.parse::<u64>().ok().filter(|d| (900..=max).contains(d)).ok_or_else(|| {
                sts_error(
                    400,
                    "InvalidParameter.DurationSeconds",
                    format!("The Min/Max value of DurationSeconds is 15min/{max}s."),
                )
            })?,
        };
        Ok((role, session.to_string(), duration))
    }

    fn issue(
        &mut self,
        role: &Role,
        session: &str,
        duration: u64,
        now_ms: i64,
        oidc: Option<Value>,
    ) -> Value {
        self.issued.retain(|_, i| i.expires_ms > now_ms);
        let lifetime = self.config.lifetime_seconds.unwrap_or(duration);
        let expires_ms = now_ms + i64::try_from(lifetime).unwrap_or(i64::MAX / 4) * 1000;
        let uid = arn_uid(&role.arn).unwrap_or("1000000000000001").to_string();
        let id = format!("STS.{}", random_text(24));
        let key = AccessKey {
            id: id.clone(),
            secret: random_text(30),
            uid: uid.clone(),
            logon_id: format!("{}/{session}", role_name(&role.arn)),
            security_token: Some(format!("CAIS{}", random_text(120))),
        };
        self.issued.insert(id.clone(), Issued { key: key.clone(), expires_ms });
        self.issued_total += 1;
        // Expiration is given to the second, rounded down (as STS writes it).
        let expiration = jiff::Timestamp::from_second(expires_ms.div_euclid(1000))
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        let mut body = json!({
            "AssumedRoleUser": {
                "Arn": format!("{}/{session}", role.arn),
                "AssumedRoleId": format!("3{}:{session}", &uid[..uid.len().min(16)]),
            },
            "Credentials": {
                "AccessKeyId": id,
                "AccessKeySecret": key.secret,
                "SecurityToken": key.security_token,
                "Expiration": expiration,
            },
        });
        if let Some(info) = oidc {
            body["OIDCTokenInfo"] = info;
        }
        body
    }
}

fn audiences(claims: &serde_json::Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// Checks `token` against `provider` at `now_ms`: its form, its signature (by the provider's
/// keys), issuer, audience, expiry and not-before (`nbf`, optional). Returns its claims.
fn verify_token(
    provider: &OidcProvider,
    token: &str,
    now_ms: i64,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    if token.split('.').count() != 3 {
        return Err(invalid_token("The number of Jwt field should be divided into 3 parts with '.' ."));
    }
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| invalid_token("Cannot decode base64 encoded response(format invalided)."))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::ES256) {
        return Err(invalid_token(&format!(
            "The algorithm {:?} that be specified in Jwt header is unknown.",
            header.alg
        )));
    }
    let keys: JwkSet = serde_json::from_value(provider.jwks.clone())
        .map_err(|_| invalid_token("The OIDC provider's keys cannot be read."))?;
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None => keys.keys.first(),
    }
    .ok_or_else(|| {
        sts_error(
            401,
            "AuthenticationFail.OIDCToken.InvalidSignature",
            "OIDC token validate failed: invalid signature.",
        )
    })?;
    let key =
        DecodingKey::from_jwk(jwk).map_err(|_| invalid_token("The OIDC provider's keys cannot be read."))?;
    let mut validation = Validation::new(header.alg);
    // Expiry, audience and issuer are checked below, against the emulator's clock and with
    // STS's codes.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation).map_err(
        |e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => sts_error(
                401,
                "AuthenticationFail.OIDCToken.InvalidSignature",
                "OIDC token validate failed: invalid signature.",
            ),
            _ => invalid_token("The Jwt content is invalid that cannot be recognized."),
        },
    )?;
    let claims = data.claims;
    if claims.get("iss").and_then(Value::as_str) != Some(provider.issuer.as_str()) {
        return Err(invalid_token("The issuer of the Jwt does not match the OIDC provider's issuer."));
    }
    if !audiences(&claims).iter().any(|a| provider.audiences.contains(a)) {
        return Err(sts_error(401, "AuthenticationFail.OIDCToken.AudienceNotMatch", "Invalid audience."));
    }
    match claims.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp.saturating_mul(1000) > now_ms => {}
        Some(_) => {
            return Err(sts_error(
                401,
                "AuthenticationFail.OIDCToken.Expired",
                "This JsonWebToken is expired.",
            ));
        }
        None => return Err(invalid_token("The Jwt content is invalid that cannot be recognized.")),
    }
    // Valid from `nbf` on, against the same clock as `exp` and, like it, without leeway. STS
    // documents no code of its own for a token not yet valid.
    match claims.get("nbf") {
        None => Ok(claims),
        Some(nbf) => match nbf.as_i64() {
            Some(nbf) if nbf.saturating_mul(1000) <= now_ms => Ok(claims),
            Some(_) => Err(invalid_token("This JsonWebToken is not yet valid (its nbf is in the future).")),
            None => Err(invalid_token("The Jwt content is invalid that cannot be recognized.")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn sts() -> Sts {
        let mut sts = Sts::default();
        sts.configure(StsConfig {
            lifetime_seconds: Some(60),
            roles: vec![Role {
                arn: "acs:ram::1234567890123456:role/iot".into(),
                trusted_access_keys: vec!["LTAIbase".into()],
                ..Role::default()
            }],
            ..StsConfig::default()
        });
        sts
    }

    fn caller(id: &str) -> AccessKey {
        AccessKey::parse(&format!("{id}:secret")).unwrap()
    }

    const NOW: i64 = 1_704_067_200_000;

    #[test]
    fn a_trusted_caller_gets_keys_that_work_until_they_expire() {
        let mut sts = sts();
        let body = sts
            .assume_role(
                &caller("LTAIbase"),
                &params(&[("RoleArn", "acs:ram::1234567890123456:role/iot"), ("RoleSessionName", "op")]),
                NOW,
            )
            .unwrap();
        let id = body["Credentials"]["AccessKeyId"].as_str().unwrap();
        assert!(id.starts_with("STS."));
        assert_eq!(body["Credentials"]["Expiration"], "2024-01-01T00:01:00Z", "the configured 60 s life");
        let key = sts.key(id, NOW + 59_000).unwrap();
        assert_eq!(key.uid, "1234567890123456", "the role's account");
        assert_eq!(key.security_token.as_deref(), body["Credentials"]["SecurityToken"].as_str());
        assert_eq!(sts.key(id, NOW + 60_000).unwrap_err(), TemporaryKey::Expired);
        assert_eq!(sts.key("STS.unknown", NOW).unwrap_err(), TemporaryKey::Unknown);
    }

    #[test]
    fn roles_refuse_callers_they_do_not_trust_and_malformed_requests() {
        let mut sts = sts();
        let code = |sts: &mut Sts, who: &str, pairs: &[(&str, &str)]| {
            sts.assume_role(&caller(who), &params(pairs), NOW).unwrap_err().code
        };
        let role = ("RoleArn", "acs:ram::1234567890123456:role/iot");
        assert_eq!(code(&mut sts, "LTAIother", &[role, ("RoleSessionName", "op")]), "NoPermission");
        assert_eq!(
            code(&mut sts, "LTAIbase", &[("RoleArn", "acs:ram::1:role/nope"), ("RoleSessionName", "op")]),
            "NoPermission"
        );
        assert_eq!(
            code(&mut sts, "LTAIbase", &[role, ("RoleSessionName", "a")]),
            "InvalidParameter.RoleSessionName"
        );
        assert_eq!(
            code(&mut sts, "LTAIbase", &[role, ("RoleSessionName", "op"), ("DurationSeconds", "60")]),
            "InvalidParameter.DurationSeconds"
        );
        assert_eq!(
            code(&mut sts, "LTAIbase", &[role, ("RoleSessionName", "op"), ("Policy", "not json")]),
            "InvalidParameter.PolicyGrammar"
        );
        assert_eq!(code(&mut sts, "LTAIbase", &[("RoleSessionName", "op")]), "MissingRoleArn");
    }

    #[test]
    fn oidc_tokens_that_are_not_jwts_or_from_unknown_providers_are_refused() {
        let mut sts = sts();
        let mut config = sts.config().clone();
        config.oidc_providers.push(OidcProvider {
            arn: "acs:ram::1234567890123456:oidc-provider/k8s".into(),
            issuer: "https://issuer".into(),
            audiences: vec!["sts.aliyuncs.com".into()],
            jwks: json!({"keys": []}),
        });
        sts.configure(config);
        let call = |sts: &mut Sts, provider: &str, token: &str| {
            sts.assume_role_with_oidc(
                &params(&[
                    ("RoleArn", "acs:ram::1234567890123456:role/iot"),
                    ("RoleSessionName", "op"),
                    ("OIDCProviderArn", provider),
                    ("OIDCToken", token),
                ]),
                NOW,
            )
            .unwrap_err()
            .code
        };
        let provider = "acs:ram::1234567890123456:oidc-provider/k8s";
        assert_eq!(call(&mut sts, provider, ""), "AuthenticationFail.OIDCToken.Invalid");
        assert_eq!(call(&mut sts, provider, "a.b"), "AuthenticationFail.OIDCToken.Invalid");
        assert_eq!(call(&mut sts, "acs:ram::1:oidc-provider/x", "a.b.c"), "AuthenticationFail.NoPermission");
    }

    const ROLE: &str = "acs:ram::1234567890123456:role/iot";

    fn assume(sts: &mut Sts, external_id: Option<&str>) -> Result<Value, ApiError> {
        let mut pairs = vec![("RoleArn", ROLE), ("RoleSessionName", "op")];
        pairs.extend(external_id.map(|id| ("ExternalId", id)));
        sts.assume_role(&caller("LTAIbase"), &params(&pairs), NOW)
    }

    fn requiring_external_id(id: Option<&str>) -> Sts {
        let mut sts = sts();
        let mut config = sts.config().clone();
        config.roles[0].external_id = id.map(str::to_string);
        sts.configure(config);
        sts
    }

    #[test]
    fn a_role_that_requires_an_external_id_refuses_calls_without_it_or_with_another() {
        let mut sts = requiring_external_id(Some("abcd1234"));
        for given in [None, Some("other"), Some("")] {
            let e = assume(&mut sts, given).unwrap_err();
            assert_eq!((e.http_status, e.code.as_str()), (403, "NoPermission"), "{given:?}");
            assert!(e.message.contains("trust policy"), "{}", e.message);
        }
        assert_eq!(sts.issued_total, 0);
    }

    #[test]
    fn a_role_that_requires_an_external_id_accepts_the_right_one() {
        let mut sts = requiring_external_id(Some("abcd1234"));
        let body = assume(&mut sts, Some("abcd1234")).unwrap();
        let id = body["Credentials"]["AccessKeyId"].as_str().unwrap();
        assert!(sts.key(id, NOW).is_ok());
    }

    #[test]
    fn a_role_without_an_external_id_accepts_calls_with_or_without_one() {
        let mut sts = requiring_external_id(None);
        assert!(assume(&mut sts, None).is_ok());
        assert!(assume(&mut sts, Some("anything")).is_ok());
        assert_eq!(sts.issued_total, 2);
    }

    #[test]
    fn the_external_id_is_read_from_the_role_as_external_id() {
        let role: Role = serde_json::from_value(json!({"arn": ROLE, "externalId": "abcd1234"})).unwrap();
        assert_eq!(role.external_id.as_deref(), Some("abcd1234"));
        let role: Role = serde_json::from_value(json!({"arn": ROLE})).unwrap();
        assert_eq!(role.external_id, None);
    }

    // OIDC tokens signed for real. Two P-256 keys made for these tests only (`openssl genpkey
    // -algorithm EC -pkeyopt ec_paramgen_curve:P-256`, then `openssl pkcs8 -topk8 -nocrypt
    // -outform DER`, hex): the provider publishes A; B is an attacker's.
    const KEY_A: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b020101042069ea3ad238b7ae34afa4dac7ecbcd2cc75eb25d2fa81d9dbadfd8cc73c15e1aaa14403420004fb7b70476886519e2a5705c629916d514b2b1cc65637aac7dc4f2ead11c79f48e76359195290b20108264dfeddfe9936bbf05eeabaaf777288f266c03baf7dc0";
    const KEY_A_X: &str = "-3twR2iGUZ4qVwXGKZFtUUsrHMZWN6rH3E8urRHHn0g";
    const KEY_A_Y: &str = "52NZGVKQsgEIJk3-3f6ZNrvwXuq6r3dyiPJmwDuvfcA";
    const KEY_B: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420a5e50fa2542f524ba499f750b3b58821e0633be703fff4afec55e39bfa4a1b80a144034200048bad8de06976cc2e775d9a2e5ae4b337018eba4c7dd15a69fc990c794777800848a2e4490a19d06c8fc02742e9105b4205816b8dee79917ff4f0d895a4f26e38";
    const KID: &str = "key-a";
    const PROVIDER: &str = "acs:ram::1234567890123456:oidc-provider/k8s";
    const ISSUER: &str = "https://kubernetes.default.svc";
    const AUDIENCE: &str = "sts.aliyuncs.com";
    const NOW_S: i64 = NOW / 1000;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    /// STS with a role that trusts the provider, which publishes key A as `KID`.
    fn oidc_sts() -> Sts {
        let mut sts = sts();
        let mut config = sts.config().clone();
        config.roles[0].trusted_oidc_providers.push(PROVIDER.into());
        config.oidc_providers.push(OidcProvider {
            arn: PROVIDER.into(),
            issuer: ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            jwks: json!({"keys": [{
                "kty": "EC", "crv": "P-256", "kid": KID, "use": "sig", "alg": "ES256",
                "x": KEY_A_X, "y": KEY_A_Y,
            }]}),
        });
        sts.configure(config);
        sts
    }

    /// The claims of a ServiceAccount token issued a minute ago, valid for an hour.
    fn claims() -> Value {
        json!({
            "iss": ISSUER,
            "aud": [AUDIENCE],
            "sub": "system:serviceaccount:iot:iot-operator",
            "iat": NOW_S - 60,
            "nbf": NOW_S - 60,
            "exp": NOW_S + 3600,
        })
    }

    fn sign(key: &str, kid: &str, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_ec_der(&hex(key))).unwrap()
    }

    fn with(changes: Value) -> Value {
        let mut claims = claims();
        for (name, value) in changes.as_object().unwrap() {
            claims[name] = value.clone();
        }
        claims
    }

    fn oidc(sts: &mut Sts, token: &str) -> Result<Value, ApiError> {
        sts.assume_role_with_oidc(
            &params(&[
                ("RoleArn", ROLE),
                ("RoleSessionName", "op"),
                ("OIDCProviderArn", PROVIDER),
                ("OIDCToken", token),
            ]),
            NOW,
        )
    }

    /// The status and code a token is refused with.
    fn refusal(token: &str) -> (u16, String) {
        let mut sts = oidc_sts();
        let e = oidc(&mut sts, token).expect_err("refused");
        assert_eq!(sts.issued_total, 0);
        (e.http_status, e.code)
    }

    fn refused(code: &str) -> (u16, String) {
        (401, code.to_string())
    }

    #[test]
    fn a_correctly_signed_oidc_token_is_accepted() {
        let mut sts = oidc_sts();
        let body = oidc(&mut sts, &sign(KEY_A, KID, &claims())).unwrap();
        let id = body["Credentials"]["AccessKeyId"].as_str().unwrap();
        assert!(sts.key(id, NOW).is_ok());
        assert_eq!(body["OIDCTokenInfo"]["Subject"], "system:serviceaccount:iot:iot-operator");
        assert_eq!(body["OIDCTokenInfo"]["Issuer"], ISSUER);
        assert_eq!(body["OIDCTokenInfo"]["ClientIds"], AUDIENCE);
        // `nbf` is optional, and a token is valid from its `nbf` on.
        let mut without_nbf = claims();
        without_nbf.as_object_mut().unwrap().remove("nbf");
        assert!(oidc(&mut sts, &sign(KEY_A, KID, &without_nbf)).is_ok());
        assert!(oidc(&mut sts, &sign(KEY_A, KID, &with(json!({"nbf": NOW_S})))).is_ok());
    }

    #[test]
    fn an_oidc_token_signed_by_another_key_under_a_provider_kid_is_refused() {
        assert_eq!(
            refusal(&sign(KEY_B, KID, &claims())),
            refused("AuthenticationFail.OIDCToken.InvalidSignature")
        );
    }

    #[test]
    fn an_oidc_token_whose_claims_changed_after_signing_is_refused() {
        let signed = sign(KEY_A, KID, &claims());
        let (header, rest) = signed.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        // The payload of a token for another subject (its encoding, any signer's).
        let other = sign(KEY_B, KID, &with(json!({"sub": "system:serviceaccount:kube-system:admin"})));
        let payload = other.split('.').nth(1).unwrap();
        let forged = format!("{header}.{payload}.{signature}");
        assert_ne!(forged, signed);
        assert_eq!(refusal(&forged), refused("AuthenticationFail.OIDCToken.InvalidSignature"));
    }

    #[test]
    fn an_oidc_token_with_an_unknown_kid_is_refused() {
        assert_eq!(
            refusal(&sign(KEY_A, "key-z", &claims())),
            refused("AuthenticationFail.OIDCToken.InvalidSignature")
        );
    }

    #[test]
    fn an_oidc_token_with_an_algorithm_sts_does_not_accept_is_refused() {
        let payload = sign(KEY_A, KID, &claims()).split('.').nth(1).unwrap().to_string();
        // `{"alg":"none","typ":"JWT"}`, unsigned.
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(refusal(&none), refused("AuthenticationFail.OIDCToken.Invalid"));
        // HS256 under the provider's kid, keyed with its public key (the classic confusion).
        let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
        header.kid = Some(KID.into());
        let secret = format!("{KEY_A_X}{KEY_A_Y}");
        let hs256 = jsonwebtoken::encode(
            &header,
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        assert_eq!(refusal(&hs256), refused("AuthenticationFail.OIDCToken.Invalid"));
    }

    #[test]
    fn an_oidc_token_from_another_issuer_is_refused() {
        let token = sign(KEY_A, KID, &with(json!({"iss": "https://attacker.example"})));
        assert_eq!(refusal(&token), refused("AuthenticationFail.OIDCToken.Invalid"));
    }

    #[test]
    fn an_oidc_token_for_another_audience_is_refused() {
        let token = sign(KEY_A, KID, &with(json!({"aud": ["another-client"]})));
        assert_eq!(refusal(&token), refused("AuthenticationFail.OIDCToken.AudienceNotMatch"));
    }

    #[test]
    fn an_expired_oidc_token_is_refused() {
        let token = sign(KEY_A, KID, &with(json!({"iat": NOW_S - 7200, "nbf": NOW_S - 7200, "exp": NOW_S})));
        assert_eq!(refusal(&token), refused("AuthenticationFail.OIDCToken.Expired"));
    }

    #[test]
    fn an_oidc_token_not_yet_valid_is_refused_until_its_nbf() {
        let token = sign(KEY_A, KID, &with(json!({"nbf": NOW_S + 1})));
        let mut sts = oidc_sts();
        let e = oidc(&mut sts, &token).unwrap_err();
        assert_eq!((e.http_status, e.code.as_str()), (401, "AuthenticationFail.OIDCToken.Invalid"));
        assert!(e.message.contains("not yet valid"), "{}", e.message);
        // Checked against the same clock as `exp`: moved a second on, the token is valid.
        let mut config = sts.config().clone();
        config.oidc_clock_offset_seconds = 1;
        sts.configure(config);
        assert!(oidc(&mut sts, &token).is_ok());
    }
}
