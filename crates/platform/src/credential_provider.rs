//! Where a client's credentials come from — a static AccessKey, a role assumed with base
//! credentials, or a role assumed with an OIDC token (RRSA) — and keeping temporary ones
//! fresh.
//!
//! # Guarantees
//! - Temporary credentials are cached and renewed ahead of expiry (when a third of their
//!   life is left, at most 15 minutes ahead), by one caller at a time; the others keep using
//!   the cached ones meanwhile.
//! - Credentials with less than [`USABLE_MARGIN`] left are never handed out: a call is
//!   never signed with an expired token. Without usable credentials the caller gets a
//!   [`CredentialError`] and sends nothing.
//! - The OIDC token file is read afresh on every renewal (the kubelet rotates it).
//! - After a failed renewal STS is asked again only after a backoff (1 s doubling to 30 s),
//!   so that many callers of a broken account do not flood STS.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::credentials::Credentials;
use crate::sts::{Issued, RoleRequest, StsClient, StsError};

/// Every reason a failed credential source gives (the operator's condition reasons name them).
pub const CREDENTIAL_REASONS: [&str; 3] = ["OidcTokenUnreadable", "StsUnavailable", "AssumeRoleRefused"];

/// Credentials with less life than this left are not used.
pub const USABLE_MARGIN: Duration = Duration::from_secs(5);
/// Renewal starts at most this long before expiry (as the official SDKs do).
pub const MAX_RENEW_AHEAD: Duration = Duration::from_secs(15 * 60);
/// The longest pause between failed renewals.
pub const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30);

/// Where credentials come from.
#[derive(Debug)]
pub enum CredentialSource {
    /// A fixed AccessKey (with an optional fixed security token).
    Static(Credentials),
    /// A role assumed with base credentials (`AssumeRole`).
    AssumeRole {
        /// The STS endpoint.
        sts: StsClient,
        /// The base credentials (from a Secret).
        base: Credentials,
        /// The role.
        role: RoleRequest,
    },
    /// A role assumed with an OIDC token read from a file (`AssumeRoleWithOIDC`, RRSA).
    Oidc {
        /// The STS endpoint.
        sts: StsClient,
        /// The ARN of the OIDC identity provider registered in RAM.
        provider_arn: String,
        /// The projected service-account token file.
        token_file: PathBuf,
        /// The role.
        role: RoleRequest,
    },
}

impl CredentialSource {
    /// A short name for metrics and logs: `Static`, `AssumeRole` or `OIDC`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Static(_) => "Static",
            Self::AssumeRole { .. } => "AssumeRole",
            Self::Oidc { .. } => "OIDC",
        }
    }
}

/// Why there are no usable credentials.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    /// The OIDC token file could not be read (or is empty).
    #[error("cannot read the OIDC token file {path}: {message}")]
    TokenFile {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// STS refused or could not be reached.
    #[error("{source}")]
    Sts {
        /// The role asked for.
        role_arn: String,
        /// STS's answer.
        #[source]
        source: StsError,
    },
}

impl CredentialError {
    /// Whether it may pass without anyone acting (STS unreachable, throttled or failing).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::TokenFile { .. } => false,
            Self::Sts { source, .. } => source.is_transient(),
        }
    }

    /// A PascalCase reason for conditions (one of [`CREDENTIAL_REASONS`]).
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TokenFile { .. } => CREDENTIAL_REASONS[0],
            Self::Sts { source, .. } if source.is_transient() => CREDENTIAL_REASONS[1],
            Self::Sts { .. } => CREDENTIAL_REASONS[2],
        }
    }

    /// What to do about it, in words.
    #[must_use]
    pub fn hint(&self) -> String {
        match self {
            Self::TokenFile { .. } => "mount the service-account token (the chart's rrsa values) or set \
                 --oidc-token-file / ALIBABA_CLOUD_OIDC_TOKEN_FILE"
                .to_string(),
            Self::Sts { role_arn, source } => match source.code() {
                Some(code) if code.starts_with("AuthenticationFail.OIDCToken") => format!(
                    "the operator's service-account token was refused ({code}): check the token's audience \
                     (sts.aliyuncs.com), its expiry and the OIDC provider's issuer in RAM"
                ),
                Some(code) if code.contains("NoPermission") => format!(
                    "role {role_arn} does not let this identity assume it: check the role's ARN and its trust \
                     policy"
                ),
                _ if source.is_transient() => {
                    "STS is unreachable or failing; the operator retries on its own".to_string()
                }
                _ => format!("check the PlatformAccount's credential settings for role {role_arn}"),
            },
        }
    }
}

/// Told of every renewal attempt (metrics; the account's readiness).
pub trait RefreshObserver: Send + Sync {
    /// A renewal from `source` (`AssumeRole`, `OIDC`) gave credentials valid until the
    /// time given, or failed.
    fn refreshed(&self, source: &'static str, outcome: Result<jiff::Timestamp, &CredentialError>);
}

/// How fresh cached credentials are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Use them.
    Fresh,
    /// Use them, and renew them now.
    RenewAhead,
    /// Do not use them: renew first.
    Unusable,
}

/// How fresh credentials with `remaining` of a `lifetime` are.
#[must_use]
pub fn freshness(remaining: Duration, lifetime: Duration) -> Freshness {
    let ahead = (lifetime / 3).min(MAX_RENEW_AHEAD).max(2 * USABLE_MARGIN);
    if remaining <= USABLE_MARGIN {
        Freshness::Unusable
    } else if remaining <= ahead {
        Freshness::RenewAhead
    } else {
        Freshness::Fresh
    }
}

/// The pause after `failures` failed renewals in a row.
#[must_use]
pub fn retry_pause(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(5)).min(MAX_RETRY_PAUSE)
}

#[derive(Debug, Clone)]
struct Cached {
    credentials: Credentials,
    expiration: jiff::Timestamp,
    lifetime: Duration,
}

#[derive(Debug, Default)]
struct Renewal {
    failures: u32,
    last_error: Option<CredentialError>,
    retry_at: Option<Instant>,
}

/// The credentials of one client, from one source.
pub struct CredentialProvider {
    source: CredentialSource,
    cached: RwLock<Option<Cached>>,
    renewal: tokio::sync::Mutex<Renewal>,
    observer: Option<Arc<dyn RefreshObserver>>,
}

impl std::fmt::Debug for CredentialProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialProvider").field("source", &self.source.kind()).finish_non_exhaustive()
    }
}

impl From<Credentials> for Arc<CredentialProvider> {
    fn from(credentials: Credentials) -> Self {
        Arc::new(CredentialProvider::new(CredentialSource::Static(credentials)))
    }
}

fn remaining(expiration: jiff::Timestamp) -> Duration {
    let left = expiration.as_millisecond() - jiff::Timestamp::now().as_millisecond();
    Duration::from_millis(u64::try_from(left).unwrap_or(0))
}

impl CredentialProvider {
    /// Credentials from `source`.
    #[must_use]
    pub fn new(source: CredentialSource) -> Self {
        Self { source, cached: RwLock::new(None), renewal: tokio::sync::Mutex::default(), observer: None }
    }

    /// Tells `observer` of every renewal.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn RefreshObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The kind of source: `Static`, `AssumeRole` or `OIDC`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        self.source.kind()
    }

    /// The values no error message may carry: the cached credentials' parts (and the base
    /// AccessKey of a role assumption).
    #[must_use]
    pub fn secrets(&self) -> Vec<String> {
        let mut values = Vec::new();
        let mut push = |c: &Credentials| {
            values.push(c.access_key_id().to_string());
            values.push(c.access_key_secret().to_string());
            values.extend(c.security_token().map(str::to_string));
        };
        match &self.source {
            CredentialSource::Static(c) | CredentialSource::AssumeRole { base: c, .. } => push(c),
            CredentialSource::Oidc { .. } => {}
        }
        if let Some(cached) = self.cached.read().expect("credentials lock").as_ref() {
            push(&cached.credentials);
        }
        values
    }

    /// Usable credentials: the cached ones, or renewed ones.
    ///
    /// # Errors
    /// [`CredentialError`] when there are no usable credentials and renewing failed (now, or
    /// within the retry pause).
    pub async fn credentials(&self) -> Result<Credentials, CredentialError> {
        if let CredentialSource::Static(credentials) = &self.source {
            return Ok(credentials.clone());
        }
        let cached = self.cached.read().expect("credentials lock").clone();
        match cached.as_ref().map(|c| (c, freshness(remaining(c.expiration), c.lifetime))) {
            Some((c, Freshness::Fresh)) => Ok(c.credentials.clone()),
            Some((c, Freshness::RenewAhead)) => {
                // One caller renews; the others (and this one, if renewing fails) use the
                // cached credentials, which still have a while to live.
                if let Ok(mut renewal) = self.renewal.try_lock()
                    && renewal.retry_at.is_none_or(|at| Instant::now() >= at)
                    && let Ok(fresh) = self.renew(&mut renewal).await
                {
                    return Ok(fresh);
                }
                Ok(c.credentials.clone())
            }
            Some((_, Freshness::Unusable)) | None => {
                let mut renewal = self.renewal.lock().await;
                // Another caller may have renewed while this one waited.
                if let Some(c) = self.cached.read().expect("credentials lock").as_ref()
                    && freshness(remaining(c.expiration), c.lifetime) != Freshness::Unusable
                {
                    return Ok(c.credentials.clone());
                }
                if let (Some(at), Some(error)) = (renewal.retry_at, &renewal.last_error)
                    && Instant::now() < at
                {
                    return Err(error.clone());
                }
                self.renew(&mut renewal).await
            }
        }
    }

    async fn renew(&self, renewal: &mut Renewal) -> Result<Credentials, CredentialError> {
        let result = self.fetch().await;
        if let Some(observer) = &self.observer {
            observer.refreshed(self.kind(), result.as_ref().map(|i| i.expiration));
        }
        match result {
            Ok(issued) => {
                *renewal = Renewal::default();
                let cached = Cached {
                    credentials: issued.credentials.clone(),
                    expiration: issued.expiration,
                    lifetime: remaining(issued.expiration),
                };
                *self.cached.write().expect("credentials lock") = Some(cached);
                tracing::debug!(source = self.kind(), expiration = %issued.expiration, "credentials renewed");
                Ok(issued.credentials)
            }
            Err(error) => {
                renewal.failures += 1;
                renewal.retry_at = Some(Instant::now() + retry_pause(renewal.failures));
                renewal.last_error = Some(error.clone());
                tracing::warn!(source = self.kind(), reason = error.reason(), %error, "cannot renew credentials");
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> Result<Issued, CredentialError> {
        match &self.source {
            CredentialSource::Static(credentials) => {
                Ok(Issued { credentials: credentials.clone(), expiration: jiff::Timestamp::MAX })
            }
            CredentialSource::AssumeRole { sts, base, role } => sts
                .assume_role(base, role)
                .await
                .map_err(|source| CredentialError::Sts { role_arn: role.role_arn.clone(), source }),
            CredentialSource::Oidc { sts, provider_arn, token_file, role } => {
                let token =
                    tokio::fs::read_to_string(token_file).await.map_err(|e| CredentialError::TokenFile {
                        path: token_file.display().to_string(),
                        message: e.to_string(),
                    })?;
                let token = token.trim();
                if token.is_empty() {
                    return Err(CredentialError::TokenFile {
                        path: token_file.display().to_string(),
                        message: "the file is empty".into(),
                    });
                }
                sts.assume_role_with_oidc(provider_arn, token, role)
                    .await
                    .map_err(|source| CredentialError::Sts { role_arn: role.role_arn.clone(), source })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn credentials_are_renewed_a_third_of_their_life_ahead_at_most_fifteen_minutes() {
        assert_eq!(freshness(Duration::from_secs(41), MIN), Freshness::Fresh);
        assert_eq!(freshness(Duration::from_secs(20), MIN), Freshness::RenewAhead);
        assert_eq!(freshness(Duration::from_secs(901), HOUR), Freshness::Fresh);
        assert_eq!(freshness(Duration::from_secs(899), HOUR), Freshness::RenewAhead);
    }

    #[test]
    fn credentials_about_to_expire_are_never_used() {
        assert_eq!(freshness(USABLE_MARGIN, MIN), Freshness::Unusable);
        assert_eq!(freshness(Duration::ZERO, HOUR), Freshness::Unusable);
        // Even a very short life keeps a renewal window before the unusable margin.
        assert_eq!(freshness(Duration::from_secs(8), Duration::from_secs(9)), Freshness::RenewAhead);
    }

    #[test]
    fn failed_renewals_back_off_to_thirty_seconds() {
        let pauses: Vec<u64> = (1..=8).map(|n| retry_pause(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[tokio::test]
    async fn a_missing_token_file_is_a_reason_and_a_hint_not_a_panic() {
        let provider = CredentialProvider::new(CredentialSource::Oidc {
            sts: StsClient::new(
                crate::transport::http_client(),
                &crate::endpoint_policy::AllowedEndpoint::unchecked("http://127.0.0.1:9"),
                "cn-shanghai",
            ),
            provider_arn: "acs:ram::1:oidc-provider/p".into(),
            token_file: "/nonexistent/token".into(),
            role: RoleRequest {
                role_arn: "acs:ram::1:role/r".into(),
                session_name: "s1".into(),
                duration_seconds: 900,
                policy: None,
                external_id: None,
            },
        });
        let error = provider.credentials().await.unwrap_err();
        assert_eq!(error.reason(), "OidcTokenUnreadable");
        assert!(!error.is_transient());
        assert!(error.hint().contains("--oidc-token-file"));
        // Within the pause the same error comes back without another attempt.
        assert_eq!(provider.credentials().await.unwrap_err().reason(), "OidcTokenUnreadable");
    }
}
