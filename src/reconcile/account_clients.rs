//! Reaching the platform for one `PlatformAccount`: whether a namespace may (see
//! [`super::tenancy`]), its credentials (from its Secret, only in the operator's credentials
//! namespace), its endpoints (only allow-listed ones), and a client that shares the
//! account's rate limiter fairly between namespaces.
//!
//! Handles are cached per account and rebuilt when the account or its Secret changes (the
//! account controller calls [`Accounts::reload`] on every change of either).

use crate::reconcile::conditions::Reason;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};

use super::tenancy::{self, DEFAULT_CREDENTIALS_NAMESPACE, Namespaces};
use crate::crd::platform_account::{CredentialsSecretRef, PlatformAccount};
use crate::metrics::Metrics;
use crate::platform_account::source::{Source, SourceDefaults, credential_source};
use iot_platform::credential_provider::{
    CredentialError, CredentialProvider, CredentialSource, RefreshObserver,
};
use iot_platform::endpoint_policy::{EndpointError, EndpointPolicy};
use iot_platform::http::{Endpoints, HttpPlatform, http_client};
use iot_platform::ratelimit::LimiterRegistry;
use iot_platform::sts::StsClient;
use iot_platform::{CallObserver, Credentials, ForTenant, IotPlatform};

/// Everything needed to call the platform for one account.
pub struct AccountHandle {
    /// The account's name.
    pub name: String,
    /// The client.
    pub platform: Arc<dyn IotPlatform>,
    /// The account's region.
    pub region: String,
    /// The account's default instance.
    pub instance_id: Option<String>,
    /// Where calls go.
    pub endpoints: Endpoints,
    /// Devices above this many need approval before an action reaches them.
    pub impact_threshold: i64,
    /// What the handle was built from: (account generation, Secret resourceVersion).
    built_from: (String, String),
}

impl AccountHandle {
    /// The client, with every call made for `namespace` (the account's quota is shared
    /// fairly between namespaces).
    #[must_use]
    pub fn for_tenant(&self, namespace: &str) -> Arc<dyn IotPlatform> {
        Arc::new(ForTenant::new(self.platform.clone(), namespace))
    }
}

impl std::fmt::Debug for AccountHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountHandle")
            .field("name", &self.name)
            .field("region", &self.region)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// Why an account cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// No `PlatformAccount` of that name.
    #[error(
        "PlatformAccount {0:?} does not exist; create it (or set spec.accountRef.name to an existing one)"
    )]
    NotFound(String),
    /// The account could not be read from the API server.
    #[error("cannot read PlatformAccount {account:?}: {source}")]
    ReadAccount {
        /// Account.
        account: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Its credentials Secret does not exist.
    #[error("the credentials Secret {namespace}/{name} of PlatformAccount {account:?} does not exist")]
    SecretNotFound {
        /// Account.
        account: String,
        /// Secret namespace.
        namespace: String,
        /// Secret name.
        name: String,
    },
    /// A key is missing from the Secret.
    #[error("the credentials Secret {namespace}/{name} of PlatformAccount {account:?} has no key {key:?}")]
    SecretKeyMissing {
        /// Account.
        account: String,
        /// Secret namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// The missing key.
        key: String,
    },
    /// The Secret could not be read.
    #[error("cannot read the credentials Secret of PlatformAccount {account:?}: {source}")]
    ReadSecret {
        /// Account.
        account: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The account does not admit the namespace.
    #[error(
        "PlatformAccount {account:?} does not admit namespace {namespace}; the account's administrator can add it \
         to spec.allowedNamespaces (by name, or by a label selector)"
    )]
    NotAllowed {
        /// Account.
        account: String,
        /// The namespace refused.
        namespace: String,
    },
    /// The credentials Secret is outside the operator's credentials namespace.
    #[error(
        "PlatformAccount {account:?} names a credentials Secret in namespace {namespace}; the operator reads \
         credentials only from its credentials namespace {expected}: move the Secret there and unset \
         spec.credentials.secretRef.namespace"
    )]
    CredentialsNamespace {
        /// Account.
        account: String,
        /// The namespace named.
        namespace: String,
        /// The operator's credentials namespace.
        expected: String,
    },
    /// A credential source whose parts neither the spec nor the operator's environment give
    /// (an OIDC account without a role or provider ARN).
    #[error("PlatformAccount {account:?}: {missing} (ACK's pod-identity webhook sets the OIDC ones)")]
    CredentialSourceIncomplete {
        /// Account.
        account: String,
        /// What is missing.
        missing: crate::platform_account::source::Incomplete,
    },
    /// An endpoint is not on the operator's allow list.
    #[error("PlatformAccount {account:?}: {reason}")]
    EndpointNotAllowed {
        /// Account.
        account: String,
        /// Why (names the endpoint and the allow list).
        reason: EndpointError,
    },
}

impl AccountError {
    /// A PascalCase reason for conditions.
    #[must_use]
    pub fn reason(&self) -> Reason {
        match self {
            Self::NotFound(_) => Reason::AccountNotFound,
            Self::ReadAccount { .. } => Reason::AccountUnreadable,
            Self::SecretNotFound { .. } => Reason::CredentialsSecretNotFound,
            Self::SecretKeyMissing { .. } => Reason::CredentialsKeyMissing,
            Self::ReadSecret { .. } => Reason::CredentialsUnreadable,
            Self::NotAllowed { .. } => Reason::AccountNotAllowed,
            Self::CredentialsNamespace { .. } => Reason::CredentialsNamespaceNotAllowed,
            Self::CredentialSourceIncomplete { .. } => Reason::CredentialSourceIncomplete,
            Self::EndpointNotAllowed { .. } => Reason::EndpointNotAllowed,
        }
    }
}

/// What the operator's environment gives OIDC (RRSA) accounts: ACK's pod-identity webhook
/// sets `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN` and
/// `ALIBABA_CLOUD_OIDC_TOKEN_FILE` (and sometimes `ALIBABA_CLOUD_STS_ENDPOINT`).
#[derive(Debug, Clone, Default)]
pub struct OidcDefaults {
    /// The projected service-account token file.
    pub token_file: Option<PathBuf>,
    /// The role, when the account names none.
    pub role_arn: Option<String>,
    /// The OIDC provider, when the account names none.
    pub provider_arn: Option<String>,
    /// The STS endpoint, when the account names none.
    pub sts_endpoint: Option<String>,
}

/// The token file ACK's pod-identity webhook mounts.
pub const RRSA_TOKEN_FILE: &str = "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token";

/// Reports one account's credential renewals: metrics, and a wake-up of the account's
/// reconcile when renewing starts or stops failing (so its Ready condition and Event follow
/// at once, not at the next resync).
struct RenewalReporter {
    account: String,
    metrics: Option<Arc<Metrics>>,
    wake: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    last_ok: Mutex<Option<bool>>,
}

impl RefreshObserver for RenewalReporter {
    fn refreshed(&self, source: &'static str, outcome: Result<jiff::Timestamp, &CredentialError>) {
        if let Some(metrics) = &self.metrics {
            metrics.credentials_renewed(&self.account, source, outcome);
        }
        let ok = outcome.is_ok();
        let changed = self.last_ok.lock().expect("renewal lock").replace(ok) != Some(ok);
        if changed && let Some(wake) = &self.wake {
            let _ = wake.send(self.account.clone());
        }
    }
}

/// The cache of account handles.
pub struct Accounts {
    client: Client,
    store: Store<PlatformAccount>,
    http: reqwest::Client,
    limiters: LimiterRegistry,
    observer: Option<Arc<dyn CallObserver>>,
    handles: Mutex<HashMap<String, Arc<AccountHandle>>>,
    selector: Option<String>,
    namespaces: Namespaces,
    credentials_namespace: String,
    endpoint_policy: EndpointPolicy,
    oidc: OidcDefaults,
    metrics: Option<Arc<Metrics>>,
    wake: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
}

fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    if let Some(value) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return String::from_utf8(value.0.clone()).ok().map(|s| s.trim().to_string());
    }
    secret.string_data.as_ref().and_then(|d| d.get(key)).map(|s| s.trim().to_string())
}

impl Accounts {
    /// A cache reading accounts from `store`, with limiters at `qps_share` of the quotas.
    #[must_use]
    pub fn new(
        client: Client,
        store: Store<PlatformAccount>,
        qps_share: f64,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Self {
        Self {
            client,
            store,
            http: http_client(),
            limiters: LimiterRegistry::new(qps_share),
            observer,
            handles: Mutex::default(),
            selector: None,
            namespaces: Namespaces::default(),
            credentials_namespace: DEFAULT_CREDENTIALS_NAMESPACE.to_string(),
            endpoint_policy: EndpointPolicy::default(),
            oidc: OidcDefaults::default(),
            metrics: None,
            wake: None,
        }
    }

    /// Temporary credentials: the defaults OIDC accounts take from the operator's
    /// environment, where renewals are counted, and where accounts whose renewals start or
    /// stop failing are sent (the account controller reconciles them).
    #[must_use]
    pub fn with_renewals(
        mut self,
        oidc: OidcDefaults,
        metrics: Option<Arc<Metrics>>,
        wake: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    ) -> Self {
        self.oidc = oidc;
        self.metrics = metrics;
        self.wake = wake;
        self
    }

    /// Who may use which account: the namespaces' labels, the only namespace credentials
    /// are read from, and where they may be sent.
    #[must_use]
    pub fn with_tenancy(
        mut self,
        namespaces: Namespaces,
        credentials_namespace: &str,
        endpoint_policy: EndpointPolicy,
    ) -> Self {
        self.namespaces = namespaces;
        self.credentials_namespace = credentials_namespace.to_string();
        self.endpoint_policy = endpoint_policy;
        self
    }

    /// The namespace credentials are read from.
    #[must_use]
    pub fn credentials_namespace(&self) -> &str {
        &self.credentials_namespace
    }

    /// The handle of `name` for a resource in `namespace`, if the account admits it.
    ///
    /// # Errors
    /// [`AccountError::NotAllowed`] when the account does not admit the namespace; else as
    /// [`Accounts::get`].
    pub async fn get_for(&self, name: &str, namespace: &str) -> Result<Arc<AccountHandle>, AccountError> {
        let account = self.account(name).await?;
        if !tenancy::admits(&account, namespace, &self.namespaces) {
            return Err(AccountError::NotAllowed {
                account: name.to_string(),
                namespace: namespace.to_string(),
            });
        }
        self.handle(&account).await
    }

    /// Like [`Accounts::get_for`], for cleaning up (deleting a product or a job record): when
    /// the credentials Secret is gone (deleted before the products using it), the handle
    /// built from it earlier in this process is used, so that the cleanup still reaches the
    /// platform. (The operator puts no finalizer on a Secret it does not own.)
    ///
    /// # Errors
    /// As [`Accounts::get_for`] when no earlier handle exists.
    pub async fn get_for_cleanup(
        &self,
        name: &str,
        namespace: &str,
    ) -> Result<Arc<AccountHandle>, AccountError> {
        match self.get_for(name, namespace).await {
            Err(e @ (AccountError::SecretNotFound { .. } | AccountError::SecretKeyMissing { .. })) => {
                let earlier = self.handles.lock().expect("accounts lock").get(name).cloned();
                earlier.ok_or(e)
            }
            other => other,
        }
    }

    /// Whether `account` admits `namespace` now, by the cached namespace labels (no API
    /// call: the fast path asks this before it skips a product's reconcile).
    #[must_use]
    pub fn admits(&self, account: &PlatformAccount, namespace: &str) -> bool {
        tenancy::admits(account, namespace, &self.namespaces)
    }

    /// Account `name` and the labels of `namespace` (when the cache knows it): what the
    /// tenancy rules read.
    ///
    /// # Errors
    /// [`AccountError`] when the account cannot be read.
    pub async fn tenancy_of(
        &self,
        name: &str,
        namespace: &str,
    ) -> Result<(Arc<PlatformAccount>, Option<std::collections::BTreeMap<String, String>>), AccountError>
    {
        Ok((self.account(name).await?, self.namespaces.labels(namespace)))
    }

    /// Whether account `name` lets `namespace` take over products the operator did not
    /// create (false when the account is not known).
    pub async fn may_take_over(&self, name: &str, namespace: &str) -> bool {
        self.account(name).await.is_ok_and(|a| tenancy::may_take_over(&a, namespace, &self.namespaces))
    }

    /// How many distribution tasks one namespace may hold in account `name`.
    pub async fn distribution_tasks_per_namespace(&self, name: &str) -> usize {
        self.account(name).await.map_or(1, |a| usize::from(a.spec.distribution_tasks_per_namespace.max(1)))
    }

    /// Only accounts matching this label selector are used (the operator's
    /// `--account-selector`; the store is filled by a watch with the same selector).
    #[must_use]
    pub fn with_selector(mut self, selector: Option<String>) -> Self {
        self.selector = selector;
        self
    }

    /// The account store.
    #[must_use]
    pub fn store(&self) -> &Store<PlatformAccount> {
        &self.store
    }

    /// The handle of `name`, from the cache or built.
    ///
    /// # Errors
    /// [`AccountError`] when the account, its Secret or a key is missing.
    pub async fn get(&self, name: &str) -> Result<Arc<AccountHandle>, AccountError> {
        let account = self.account(name).await?;
        self.handle(&account).await
    }

    /// The account `name`, from the cache or read live.
    async fn account(&self, name: &str) -> Result<Arc<PlatformAccount>, AccountError> {
        match self.store.get(&ObjectRef::new(name)) {
            Some(account) => Ok(account),
            None => Ok(Arc::new(self.read_live(name).await?)),
        }
    }

    /// The cached handle of `account` if it was built from this version, else a new one.
    async fn handle(&self, account: &PlatformAccount) -> Result<Arc<AccountHandle>, AccountError> {
        let name = account.name_any();
        if let Some(handle) = self.handles.lock().expect("accounts lock").get(&name)
            && handle.built_from.0 == spec_version(account)
        {
            return Ok(handle.clone());
        }
        self.build(account).await
    }

    /// Reads an account the cache does not hold (yet): one applied a moment ago, or any while
    /// the cache is still filling after a start, must not be reported missing. Honours the
    /// account selector.
    async fn read_live(&self, name: &str) -> Result<PlatformAccount, AccountError> {
        let mut params = ListParams::default().fields(&format!("metadata.name={name}"));
        if let Some(selector) = &self.selector {
            params = params.labels(selector);
        }
        Api::<PlatformAccount>::all(self.client.clone())
            .list(&params)
            .await
            .map_err(|source| AccountError::ReadAccount { account: name.to_string(), source })?
            .items
            .into_iter()
            .next()
            .ok_or_else(|| AccountError::NotFound(name.to_string()))
    }

    /// Rebuilds the handle of `account` from its current Secret (called when either changes).
    ///
    /// # Errors
    /// [`AccountError`] when the Secret or a key is missing.
    pub async fn reload(&self, account: &PlatformAccount) -> Result<Arc<AccountHandle>, AccountError> {
        self.build(account).await
    }

    /// Forgets the handle of `name` (the account was deleted).
    pub fn forget(&self, name: &str) {
        self.handles.lock().expect("accounts lock").remove(name);
    }

    async fn build(&self, account: &PlatformAccount) -> Result<Arc<AccountHandle>, AccountError> {
        let name = account.name_any();
        let endpoints = Endpoints::resolve(
            &self.endpoint_policy,
            &account.spec.region,
            account.spec.endpoint.as_deref(),
            account.spec.distribution_endpoint.as_deref(),
        )
        .map_err(|reason| AccountError::EndpointNotAllowed { account: name.clone(), reason })?;
        let sources = &account.spec.credentials;
        let secret = match sources.secret() {
            Some(reference) => Some(self.read_secret(&name, reference).await?),
            None => None,
        };
        let secret_version = secret.as_ref().map(|(s, _)| s.resource_version().unwrap_or_default());
        let built_from = (spec_version(account), secret_version.unwrap_or_default());
        if let Some(existing) = self.handles.lock().expect("accounts lock").get(&name)
            && existing.built_from == built_from
        {
            return Ok(existing.clone());
        }
        let defaults = SourceDefaults {
            token_file: Some(self.oidc.token_file.clone().unwrap_or_else(|| PathBuf::from(RRSA_TOKEN_FILE))),
            role_arn: self.oidc.role_arn.clone(),
            provider_arn: self.oidc.provider_arn.clone(),
            sts_endpoint: self.oidc.sts_endpoint.clone(),
        };
        let source = credential_source(&account.spec, secret.map(|(_, credentials)| credentials), &defaults)
            .map_err(|missing| AccountError::CredentialSourceIncomplete { account: name.clone(), missing })?;
        let sts = |url: &str| self.sts_client(&name, &account.spec.region, url);
        let source = match source {
            Source::Static(credentials) => CredentialSource::Static(credentials),
            Source::AssumeRole { base, sts_endpoint, role } => {
                CredentialSource::AssumeRole { sts: sts(&sts_endpoint)?, base, role }
            }
            Source::Oidc { sts_endpoint, provider_arn, token_file, role } => {
                CredentialSource::Oidc { sts: sts(&sts_endpoint)?, provider_arn, token_file, role }
            }
        };
        let reporter = RenewalReporter {
            account: name.clone(),
            metrics: self.metrics.clone(),
            wake: self.wake.clone(),
            last_ok: Mutex::default(),
        };
        let credentials = Arc::new(CredentialProvider::new(source).with_observer(Arc::new(reporter)));
        let mut client = HttpPlatform::new(
            self.http.clone(),
            endpoints.clone(),
            credentials,
            account.spec.signature_version,
            self.limiters.for_account(&name),
        );
        if let Some(observer) = &self.observer {
            client =
                client.with_observer(Arc::new(iot_platform::AccountObserver::new(&name, observer.clone())));
        }
        let handle = Arc::new(AccountHandle {
            name: name.clone(),
            platform: Arc::new(client),
            region: account.spec.region.clone(),
            instance_id: account.spec.instance_id.clone(),
            endpoints,
            impact_threshold: account.spec.impact_threshold(),
            built_from,
        });
        self.handles.lock().expect("accounts lock").insert(name, handle.clone());
        Ok(handle)
    }

    /// The STS client at `url` (a role session's endpoint, else the operator's, else the
    /// region's) — allow-listed like every endpoint credentials go to.
    fn sts_client(&self, account: &str, region: &str, url: &str) -> Result<StsClient, AccountError> {
        let allowed = self
            .endpoint_policy
            .allow(url)
            .map_err(|reason| AccountError::EndpointNotAllowed { account: account.to_string(), reason })?;
        Ok(StsClient::new(self.http.clone(), &allowed, region))
    }

    /// Reads the credentials Secret `reference` names (only in the credentials namespace).
    async fn read_secret(
        &self,
        account: &str,
        reference: &CredentialsSecretRef,
    ) -> Result<(Secret, Credentials), AccountError> {
        let secret_namespace =
            reference.namespace.clone().unwrap_or_else(|| self.credentials_namespace.clone());
        if secret_namespace != self.credentials_namespace {
            return Err(AccountError::CredentialsNamespace {
                account: account.to_string(),
                namespace: secret_namespace,
                expected: self.credentials_namespace.clone(),
            });
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &secret_namespace);
        let secret = api
            .get_opt(&reference.name)
            .await
            .map_err(|e| AccountError::ReadSecret { account: account.to_string(), source: e })?
            .ok_or_else(|| AccountError::SecretNotFound {
                account: account.to_string(),
                namespace: secret_namespace.clone(),
                name: reference.name.clone(),
            })?;
        let required = |key: &str| {
            secret_value(&secret, key).filter(|v| !v.is_empty()).ok_or_else(|| {
                AccountError::SecretKeyMissing {
                    account: account.to_string(),
                    namespace: secret_namespace.clone(),
                    name: reference.name.clone(),
                    key: key.to_string(),
                }
            })
        };
        let credentials = Credentials::new(
            required(&reference.access_key_id_key)?,
            required(&reference.access_key_secret_key)?,
            secret_value(&secret, &reference.security_token_key),
        );
        Ok((secret, credentials))
    }
}

/// Which version of the account's spec a handle was built from: its generation (status
/// writes do not change it, so they neither rebuild the client nor renew its temporary
/// credentials).
fn spec_version(account: &PlatformAccount) -> String {
    account.metadata.generation.unwrap_or_default().to_string()
}
