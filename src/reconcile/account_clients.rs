//! Reaching the platform for one `PlatformAccount`: its credentials (from its Secret), its
//! endpoints, and a client that shares the account's rate limiter.
//!
//! Handles are cached per account and rebuilt when the account or its Secret changes (the
//! account controller calls [`Accounts::reload`] on every change of either).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};

use crate::crd::platform_account::PlatformAccount;
use iot_platform::http::{Endpoints, HttpPlatform, http_client};
use iot_platform::ratelimit::LimiterRegistry;
use iot_platform::{CallObserver, Credentials, IotPlatform};

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
    /// What the handle was built from: (account resourceVersion, Secret resourceVersion).
    built_from: (String, String),
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
}

impl AccountError {
    /// A PascalCase reason for conditions.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "AccountNotFound",
            Self::ReadAccount { .. } => "AccountUnreadable",
            Self::SecretNotFound { .. } => "CredentialsSecretNotFound",
            Self::SecretKeyMissing { .. } => "CredentialsKeyMissing",
            Self::ReadSecret { .. } => "CredentialsUnreadable",
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
        }
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
        let account = match self.store.get(&ObjectRef::new(name)) {
            Some(account) => account,
            None => Arc::new(self.read_live(name).await?),
        };
        if let Some(handle) = self.handles.lock().expect("accounts lock").get(name)
            && handle.built_from.0 == account.resource_version().unwrap_or_default()
        {
            return Ok(handle.clone());
        }
        self.build(&account).await
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
        let source = &account.spec.credentials.secret_ref;
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &source.namespace);
        let secret = api
            .get_opt(&source.name)
            .await
            .map_err(|e| AccountError::ReadSecret { account: name.clone(), source: e })?
            .ok_or_else(|| AccountError::SecretNotFound {
                account: name.clone(),
                namespace: source.namespace.clone(),
                name: source.name.clone(),
            })?;
        let required = |key: &str| {
            secret_value(&secret, key).filter(|v| !v.is_empty()).ok_or_else(|| {
                AccountError::SecretKeyMissing {
                    account: name.clone(),
                    namespace: source.namespace.clone(),
                    name: source.name.clone(),
                    key: key.to_string(),
                }
            })
        };
        let credentials = Credentials::new(
            required(&source.access_key_id_key)?,
            required(&source.access_key_secret_key)?,
            secret_value(&secret, &source.security_token_key),
        );
        let built_from =
            (account.resource_version().unwrap_or_default(), secret.resource_version().unwrap_or_default());
        if let Some(existing) = self.handles.lock().expect("accounts lock").get(&name)
            && existing.built_from == built_from
        {
            return Ok(existing.clone());
        }
        let endpoints = Endpoints::new(
            &account.spec.region,
            account.spec.endpoint.as_deref(),
            account.spec.distribution_endpoint.as_deref(),
        );
        let mut client = HttpPlatform::new(
            self.http.clone(),
            endpoints.clone(),
            credentials,
            account.spec.signature_version,
            self.limiters.for_account(&name),
        );
        if let Some(observer) = &self.observer {
            client = client.with_observer(observer.clone());
        }
        let handle = Arc::new(AccountHandle {
            name: name.clone(),
            platform: Arc::new(client),
            region: account.spec.region.clone(),
            instance_id: account.spec.instance_id.clone(),
            endpoints,
            built_from,
        });
        self.handles.lock().expect("accounts lock").insert(name, handle.clone());
        Ok(handle)
    }
}
