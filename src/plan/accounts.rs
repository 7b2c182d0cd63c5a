//! The platform clients of `plan`, one per PlatformAccount among the manifests, read-only.
//!
//! Credentials come from the same sources as the operator's, decided by the same function
//! ([`credential_source`]): a `secretRef` account takes
//! its AccessKey from `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` (and
//! `ALIBABA_CLOUD_SECURITY_TOKEN`) — the Secret is in the cluster, not in Git; an
//! `assumeRole` account assumes its role with those as the base credentials; an `oidc`
//! account exchanges the OIDC token file (`--oidc-token-file`) as the operator does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use iot_platform::credential_provider::{CredentialProvider, CredentialSource};
use iot_platform::endpoint_policy::EndpointPolicy;
use iot_platform::http::{Endpoints, HttpPlatform, http_client};
use iot_platform::ratelimit::AccountLimiter;
use iot_platform::sts::StsClient;
use iot_platform::{Credentials, IotPlatform};

use crate::crd::PlatformAccount;
use crate::platform_account::source::{Source, SourceDefaults, credential_source};

/// The clients, by account name.
pub struct Clients {
    accounts: BTreeMap<String, PlatformAccount>,
    policy: EndpointPolicy,
    token_file: Option<PathBuf>,
    /// Whether accounts were also read from the cluster (for the message when one is missing).
    from_cluster: bool,
    built: std::sync::Mutex<BTreeMap<String, Arc<dyn IotPlatform>>>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_credentials() -> Result<Credentials, String> {
    match (env("ALIBABA_CLOUD_ACCESS_KEY_ID"), env("ALIBABA_CLOUD_ACCESS_KEY_SECRET")) {
        (Some(id), Some(secret)) => Ok(Credentials::new(id, secret, env("ALIBABA_CLOUD_SECURITY_TOKEN"))),
        _ => {
            Err("set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (a read-only AccessKey \
                  of the account) to plan against it"
                .into())
        }
    }
}

impl Clients {
    /// Clients for `accounts`, sending credentials only where `policy` allows.
    #[must_use]
    pub fn new(accounts: &[PlatformAccount], policy: EndpointPolicy, token_file: Option<PathBuf>) -> Self {
        Self {
            accounts: super::accounts_by_name(accounts),
            policy,
            token_file,
            from_cluster: false,
            built: std::sync::Mutex::default(),
        }
    }

    /// Adds the cluster's accounts the manifests do not contain (the manifests' win: they
    /// are what will be applied).
    #[must_use]
    pub fn with_cluster_accounts<'a>(
        mut self,
        accounts: impl IntoIterator<Item = &'a PlatformAccount>,
    ) -> Self {
        for account in accounts {
            let name = account.metadata.name.clone().unwrap_or_default();
            self.accounts.entry(name).or_insert_with(|| account.clone());
        }
        self.from_cluster = true;
        self
    }

    /// The read-only client of account `name`, and the account.
    ///
    /// # Errors
    /// A message when the account is not among the manifests, an endpoint is not allowed,
    /// or credentials are missing.
    pub fn get(&self, name: &str) -> Result<(Arc<dyn IotPlatform>, &PlatformAccount), String> {
        let account = self.accounts.get(name).ok_or_else(|| {
            if self.from_cluster {
                format!("PlatformAccount {name:?} is neither among the manifests nor readable in the cluster")
            } else {
                format!("PlatformAccount {name:?} is not among the manifests; pass its manifest with -f, or use --cluster")
            }
        })?;
        if let Some(client) = self.built.lock().expect("clients lock").get(name) {
            return Ok((client.clone(), account));
        }
        let client = self.build(account)?;
        self.built.lock().expect("clients lock").insert(name.to_string(), client.clone());
        Ok((client, account))
    }

    fn sts(&self, region: &str, url: &str) -> Result<StsClient, String> {
        let allowed = self.policy.allow(url).map_err(|e| e.to_string())?;
        Ok(StsClient::new(http_client(), &allowed, region))
    }

    fn build(&self, account: &PlatformAccount) -> Result<Arc<dyn IotPlatform>, String> {
        let spec = &account.spec;
        let endpoints = Endpoints::resolve(
            &self.policy,
            &spec.region,
            spec.endpoint.as_deref(),
            spec.distribution_endpoint.as_deref(),
        )
        .map_err(|e| e.to_string())?;
        // The controller's own decision, with the environment in place of the Secret.
        let defaults = SourceDefaults {
            token_file: self.token_file.clone(),
            role_arn: env("ALIBABA_CLOUD_ROLE_ARN"),
            provider_arn: env("ALIBABA_CLOUD_OIDC_PROVIDER_ARN"),
            sts_endpoint: env("ALIBABA_CLOUD_STS_ENDPOINT"),
        };
        let base = if spec.credentials.secret().is_some() { Some(env_credentials()?) } else { None };
        let source = match credential_source(spec, base, &defaults).map_err(|e| e.to_string())? {
            Source::Static(credentials) => CredentialSource::Static(credentials),
            Source::AssumeRole { base, sts_endpoint, role } => {
                CredentialSource::AssumeRole { sts: self.sts(&spec.region, &sts_endpoint)?, base, role }
            }
            Source::Oidc { sts_endpoint, provider_arn, token_file, role } => CredentialSource::Oidc {
                sts: self.sts(&spec.region, &sts_endpoint)?,
                provider_arn,
                token_file,
                role,
            },
        };
        let client = HttpPlatform::new(
            http_client(),
            endpoints,
            Arc::new(CredentialProvider::new(source)),
            spec.signature_version,
            // Half the documented quota: the operator may be using the account meanwhile.
            Arc::new(AccountLimiter::new(0.5)),
        );
        // Nothing `plan` (or `import`) uses may write: the read-only client refuses.
        Ok(Arc::new(iot_platform::read_only::ReadOnly::new(Arc::new(client))))
    }
}
