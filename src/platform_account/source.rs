//! Where an account's credentials come from, decided once from its spec for every caller:
//! the controller (base credentials from the account's Secret) and `plan` / `import` (from
//! the environment). Each caller then turns the STS endpoint into a client through its own
//! endpoint allow list.
//!
//! Pure: no I/O.

use std::path::PathBuf;

use iot_platform::sts::{RoleRequest, default_endpoint};

use crate::crd::platform_account::{PlatformAccountSpec, RoleSession};

/// What a role session falls back to when the account does not say (the operator's flags, or
/// `plan`'s environment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceDefaults {
    /// The OIDC token file (`--oidc-token-file`; the operator also knows RRSA's).
    pub token_file: Option<PathBuf>,
    /// The role, when an `oidc` account names none.
    pub role_arn: Option<String>,
    /// The OIDC provider, when an `oidc` account names none.
    pub provider_arn: Option<String>,
    /// The STS endpoint, when a role session names none (else the region's).
    pub sts_endpoint: Option<String>,
}

/// How an account signs its calls.
#[derive(Debug, Clone, PartialEq)]
pub enum Source<B> {
    /// The AccessKey `B` itself.
    Static(B),
    /// A role assumed with the AccessKey `B`.
    AssumeRole {
        /// The base credentials.
        base: B,
        /// Where AssumeRole goes (not yet checked against an allow list).
        sts_endpoint: String,
        /// The role.
        role: RoleRequest,
    },
    /// A role assumed with the OIDC token.
    Oidc {
        /// Where AssumeRoleWithOIDC goes (not yet checked against an allow list).
        sts_endpoint: String,
        /// The OIDC provider's ARN.
        provider_arn: String,
        /// The token file.
        token_file: PathBuf,
        /// The role.
        role: RoleRequest,
    },
}

/// What the spec leaves out and nothing fills in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {what}: set spec.credentials.{field} or {fallback}")]
pub struct Incomplete {
    /// What is missing.
    pub what: &'static str,
    /// The spec field that would give it.
    pub field: &'static str,
    /// The default that would (a flag, an environment variable).
    pub fallback: &'static str,
}

/// The source of `spec`'s credentials, with `base` the AccessKey its Secret gives (the
/// controller) or the environment does (`plan`), if any.
///
/// # Errors
/// [`Incomplete`] when the spec names a source whose parts neither it nor `defaults` give.
pub fn credential_source<B>(
    spec: &PlatformAccountSpec,
    base: Option<B>,
    defaults: &SourceDefaults,
) -> Result<Source<B>, Incomplete> {
    let sources = &spec.credentials;
    let sts_endpoint = |session: &RoleSession| {
        session
            .sts_endpoint
            .clone()
            .or_else(|| defaults.sts_endpoint.clone())
            .unwrap_or_else(|| default_endpoint(&spec.region))
    };
    if let Some(oidc) = sources.oidc.as_ref().filter(|_| sources.secret().is_none()) {
        let role_arn = oidc.role_arn.clone().or_else(|| defaults.role_arn.clone()).ok_or(Incomplete {
            what: "role ARN",
            field: "oidc.roleArn",
            fallback: "--oidc-role-arn / ALIBABA_CLOUD_ROLE_ARN",
        })?;
        let provider_arn =
            oidc.oidc_provider_arn.clone().or_else(|| defaults.provider_arn.clone()).ok_or(Incomplete {
                what: "OIDC provider ARN",
                field: "oidc.oidcProviderArn",
                fallback: "--oidc-provider-arn / ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            })?;
        let token_file = defaults.token_file.clone().ok_or(Incomplete {
            what: "OIDC token file",
            field: "oidc",
            fallback: "--oidc-token-file",
        })?;
        return Ok(Source::Oidc {
            sts_endpoint: sts_endpoint(&oidc.session),
            provider_arn,
            token_file,
            role: role_request(&role_arn, &oidc.session, None),
        });
    }
    let base = base.ok_or(Incomplete {
        what: "AccessKey",
        field: "secretRef",
        fallback: "ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    })?;
    Ok(match &sources.assume_role {
        Some(assume) => Source::AssumeRole {
            base,
            sts_endpoint: sts_endpoint(&assume.session),
            role: role_request(&assume.role_arn, &assume.session, assume.external_id.clone()),
        },
        None => Source::Static(base),
    })
}

/// The AssumeRole request of a role session.
#[must_use]
pub fn role_request(role_arn: &str, session: &RoleSession, external_id: Option<String>) -> RoleRequest {
    RoleRequest {
        role_arn: role_arn.to_string(),
        session_name: session.role_session_name.clone(),
        duration_seconds: session.duration_seconds,
        policy: session.policy.clone(),
        external_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(credentials: serde_json::Value) -> PlatformAccountSpec {
        serde_json::from_value(serde_json::json!({"region": "cn-shanghai", "credentials": credentials}))
            .unwrap()
    }

    #[test]
    fn an_access_key_account_signs_with_its_base_credentials() {
        let spec = spec(serde_json::json!({"secretRef": {"name": "creds"}}));
        assert_eq!(
            credential_source(&spec, Some("key"), &SourceDefaults::default()),
            Ok(Source::Static("key"))
        );
        let missing = credential_source::<&str>(&spec, None, &SourceDefaults::default()).unwrap_err();
        assert_eq!(missing.field, "secretRef");
    }

    #[test]
    fn an_assumed_role_uses_the_session_endpoint_else_the_default_else_the_regions() {
        let spec = spec(serde_json::json!({"assumeRole": {
            "roleArn": "acs:ram::1:role/r", "externalId": "x", "secretRef": {"name": "creds"}}}));
        let regional = credential_source(&spec, Some("key"), &SourceDefaults::default()).unwrap();
        let Source::AssumeRole { sts_endpoint, role, .. } = regional else { panic!("{regional:?}") };
        assert_eq!(sts_endpoint, default_endpoint("cn-shanghai"));
        assert_eq!((role.role_arn.as_str(), role.external_id.as_deref()), ("acs:ram::1:role/r", Some("x")));
        let defaults = SourceDefaults {
            sts_endpoint: Some("https://sts.example.aliyuncs.com".into()),
            ..Default::default()
        };
        let Ok(Source::AssumeRole { sts_endpoint, .. }) = credential_source(&spec, Some("key"), &defaults)
        else {
            panic!()
        };
        assert_eq!(sts_endpoint, "https://sts.example.aliyuncs.com");
    }

    #[test]
    fn an_oidc_account_takes_what_it_does_not_name_from_the_defaults() {
        let spec = spec(serde_json::json!({"oidc": {"roleArn": "acs:ram::1:role/r"}}));
        let none = credential_source::<&str>(&spec, None, &SourceDefaults::default()).unwrap_err();
        assert_eq!(none.what, "OIDC provider ARN");
        let defaults = SourceDefaults {
            provider_arn: Some("acs:ram::1:oidc-provider/p".into()),
            token_file: Some("/token".into()),
            ..Default::default()
        };
        let Ok(Source::Oidc { provider_arn, token_file, role, .. }) =
            credential_source::<&str>(&spec, None, &defaults)
        else {
            panic!()
        };
        assert_eq!(
            (provider_arn.as_str(), token_file, role.role_arn.as_str()),
            ("acs:ram::1:oidc-provider/p", PathBuf::from("/token"), "acs:ram::1:role/r")
        );
        let no_file = SourceDefaults { token_file: None, ..defaults };
        assert_eq!(
            credential_source::<&str>(&spec, None, &no_file).unwrap_err().fallback,
            "--oidc-token-file"
        );
    }
}
