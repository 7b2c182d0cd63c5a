//! STS, the Security Token Service (API version 2015-04-01): temporary credentials of a RAM
//! role, obtained with base credentials (`AssumeRole`, signed) or with an OIDC token
//! (`AssumeRoleWithOIDC`, anonymous — the token is the proof; this is how ACK's RRSA gives a
//! pod the role of its service account).
//!
//! Parameters travel in a form body, as for the IoT API; answers are capped in size and
//! errors never carry the request's URL, the token or the secrets.

use serde::Deserialize;

use crate::credentials::Credentials;
use crate::endpoint_policy::AllowedEndpoint;
use crate::sign::{RpcRequest, SigningContext, rpc_v1};
use crate::transport::Endpoint;

/// The API version of every STS call.
pub const STS_VERSION: &str = "2015-04-01";

/// The role to assume, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRequest {
    /// The role's ARN, for example `acs:ram::1234567890123456:role/iot-operator`.
    pub role_arn: String,
    /// The session name recorded in the platform's audit log (2–64 of letters, digits,
    /// `.@-_`).
    pub session_name: String,
    /// How long the credentials live, seconds (900 up to the role's maximum).
    pub duration_seconds: u32,
    /// A policy that narrows the role's permissions for this session (JSON).
    pub policy: Option<String>,
    /// The external id the role's trust policy asks for (`AssumeRole` only).
    pub external_id: Option<String>,
}

/// Temporary credentials and when they stop working.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The `STS.…` AccessKey, its secret and the security token.
    pub credentials: Credentials,
    /// When they expire.
    pub expiration: jiff::Timestamp,
}

/// Why STS gave no credentials.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StsError {
    /// STS answered with an error.
    #[error("STS refused {action}: {code}: {message} (request id {request_id})")]
    Refused {
        /// `AssumeRole` or `AssumeRoleWithOIDC`.
        action: &'static str,
        /// STS's code, for example `AuthenticationFail.OIDCToken.Expired`.
        code: String,
        /// STS's message.
        message: String,
        /// STS's request id.
        request_id: String,
        /// The HTTP status.
        http_status: u16,
    },
    /// STS could not be reached, or its answer not read.
    #[error("STS could not be reached for {action}: {message}")]
    Transport {
        /// The action.
        action: &'static str,
        /// What went wrong (never the URL).
        message: String,
    },
    /// STS answered with something that is not a valid answer.
    #[error("STS answered {action} with an unexpected body: {message}")]
    Decode {
        /// The action.
        action: &'static str,
        /// What could not be read.
        message: String,
    },
}

impl StsError {
    /// Whether trying again later, unchanged, may succeed (STS unreachable, throttled, or
    /// failing on its side) — as opposed to a refusal that needs a person.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Decode { .. } => true,
            Self::Refused { code, http_status, .. } => {
                *http_status >= 500 || code.starts_with("Throttling") || code == "ServiceUnavailable"
            }
        }
    }

    /// STS's code, when it answered with one.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    fn redacted(mut self, secrets: &[&str]) -> Self {
        let message = match &mut self {
            Self::Refused { message, .. }
            | Self::Transport { message, .. }
            | Self::Decode { message, .. } => message,
        };
        for secret in secrets.iter().filter(|s| s.len() >= 4) {
            if message.contains(secret) {
                *message = message.replace(secret, "[redacted]");
            }
        }
        self
    }
}

/// A client of one STS endpoint.
#[derive(Debug, Clone)]
pub struct StsClient {
    http: reqwest::Client,
    endpoint: Endpoint,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    request_id: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    credentials: Option<AnswerCredentials>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AnswerCredentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

/// The default STS endpoint of `region` (`https://sts.<region>.aliyuncs.com`).
#[must_use]
pub fn default_endpoint(region: &str) -> String {
    format!("https://sts.{region}.aliyuncs.com")
}

impl StsClient {
    /// A client of the STS endpoint `allowed` (see [`crate::endpoint_policy`]), serving
    /// `region`.
    #[must_use]
    pub fn new(http: reqwest::Client, allowed: &AllowedEndpoint, region: &str) -> Self {
        Self { http, endpoint: Endpoint::new(allowed, region) }
    }

    /// The endpoint in use.
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `AssumeRole`: credentials of `request.role_arn` for the holder of `base` (signed with
    /// the RPC signature, as the official credentials providers sign it).
    ///
    /// # Errors
    /// [`StsError`] when STS refuses or cannot be reached.
    pub async fn assume_role(&self, base: &Credentials, request: &RoleRequest) -> Result<Issued, StsError> {
        const ACTION: &str = "AssumeRole";
        let mut params = role_params(request);
        if let Some(external_id) = &request.external_id {
            params.push(("ExternalId".into(), external_id.clone()));
        }
        let rpc = RpcRequest {
            method: "POST",
            host: &self.endpoint.host,
            action: ACTION,
            version: STS_VERSION,
            region: &self.endpoint.region,
            params: &params,
            body: b"",
        };
        let signed = rpc_v1::sign(&rpc, base, &SigningContext::now());
        let mut secrets = vec![base.access_key_id(), base.access_key_secret()];
        secrets.extend(base.security_token());
        self.send(ACTION, &signed).await.map_err(|e| e.redacted(&secrets))
    }

    /// `AssumeRoleWithOIDC`: credentials of `request.role_arn` for the bearer of `token`, an
    /// OIDC token of the identity provider `provider_arn` (anonymous: no AccessKey).
    ///
    /// # Errors
    /// [`StsError`] when STS refuses or cannot be reached.
    pub async fn assume_role_with_oidc(
        &self,
        provider_arn: &str,
        token: &str,
        request: &RoleRequest,
    ) -> Result<Issued, StsError> {
        const ACTION: &str = "AssumeRoleWithOIDC";
        let context = SigningContext::now();
        let mut params = role_params(request);
        params.extend([
            ("Action".to_string(), ACTION.to_string()),
            ("Version".to_string(), STS_VERSION.to_string()),
            ("Format".to_string(), "JSON".to_string()),
            ("Timestamp".to_string(), context.timestamp.clone()),
            ("OIDCProviderArn".to_string(), provider_arn.to_string()),
            ("OIDCToken".to_string(), token.to_string()),
        ]);
        self.send(ACTION, &params).await.map_err(|e| e.redacted(&[token]))
    }

    async fn send(&self, action: &'static str, params: &[(String, String)]) -> Result<Issued, StsError> {
        let form = crate::transport::form_encode(params);
        let response = self
            .http
            .post(self.endpoint.url.clone())
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| StsError::Transport { action, message: crate::transport::transport_message(e) })?;
        let status = response.status().as_u16();
        let body = crate::transport::read_capped(response, crate::transport::MAX_RESPONSE_BYTES)
            .await
            .map_err(|message| StsError::Transport { action, message })?;
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| StsError::Decode {
            action,
            message: format!("HTTP {status}, body is not an STS answer: {e}"),
        })?;
        match (status, answer.credentials, answer.code) {
            (200, Some(c), None) => {
                let expiration = c.expiration.parse::<jiff::Timestamp>().map_err(|e| StsError::Decode {
                    action,
                    message: format!("Expiration {:?} is not a time: {e}", c.expiration),
                })?;
                Ok(Issued {
                    credentials: Credentials::new(
                        c.access_key_id,
                        c.access_key_secret,
                        Some(c.security_token),
                    ),
                    expiration,
                })
            }
            (_, _, code) => Err(StsError::Refused {
                action,
                code: code.unwrap_or_else(|| format!("HTTP{status}")),
                message: answer.message.unwrap_or_default(),
                request_id: answer.request_id,
                http_status: status,
            }),
        }
    }
}

fn role_params(request: &RoleRequest) -> Vec<(String, String)> {
    let mut params = vec![
        ("RoleArn".to_string(), request.role_arn.clone()),
        ("RoleSessionName".to_string(), request.session_name.clone()),
        ("DurationSeconds".to_string(), request.duration_seconds.to_string()),
    ];
    if let Some(policy) = &request.policy {
        params.push(("Policy".into(), policy.clone()));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_needing_a_person_are_told_from_passing_trouble() {
        let refused = |code: &str, http_status| StsError::Refused {
            action: "AssumeRoleWithOIDC",
            code: code.into(),
            message: String::new(),
            request_id: String::new(),
            http_status,
        };
        assert!(!refused("AuthenticationFail.OIDCToken.AudienceNotMatch", 401).is_transient());
        assert!(!refused("NoPermission", 403).is_transient());
        assert!(refused("Throttling.User", 400).is_transient());
        assert!(refused("InternalError", 500).is_transient());
        assert!(StsError::Transport { action: "AssumeRole", message: "refused".into() }.is_transient());
    }

    #[test]
    fn a_token_echoed_in_an_error_is_redacted() {
        let error = StsError::Refused {
            action: "AssumeRoleWithOIDC",
            code: "AuthenticationFail.OIDCToken.Invalid".into(),
            message: "bad token eyJhbGciOiJSUzI1NiJ9.payload.sig".into(),
            request_id: "R".into(),
            http_status: 401,
        }
        .redacted(&["eyJhbGciOiJSUzI1NiJ9.payload.sig"]);
        assert!(!error.to_string().contains("payload"), "{error}");
    }
}
