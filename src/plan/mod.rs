//! `iot-product-operator plan`: what the operator would do for a set of manifests, read from
//! the live platform without writing — for a pull request in a GitOps repository.
//!
//! It runs the controller's own code: [`DesiredProduct::from_resource`] (the spec),
//! [`observe::observe`] (the platform, through a client that refuses every write) and
//! [`plan::plan`] (the pure decision), and prints per resource the calls it would make and
//! what would block. Manifests come from files, directories or stdin (`-`), as written or
//! rendered by kustomize or Helm; the account's credentials come from the same sources as a
//! PlatformAccount's (see [`accounts`]).

pub mod accounts;
pub mod manifests;
pub mod read_only;
pub mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use iot_platform::IotPlatform;
use iot_platform::endpoint_policy::{DEFAULT_PATTERNS, EndpointPolicy};
use iot_platform::region::public_instance;

use crate::crd::{IotProduct, PlatformAccount, ProductDistribution};
use crate::product::desired::DesiredProduct;
use crate::product::observe;
use crate::product::plan::{self as decide, Mode, Observed, Recorded};
use report::{Call, Entry, Summary};

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Manifest files or directories (`*.yaml`, `*.yml`, `*.json`), or `-` for stdin
    /// (repeatable; default `-`).
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,
    /// Output: `text` for people, `json` for bots.
    #[arg(long, value_enum, default_value_t = report::Format::Text)]
    pub output: report::Format,
    /// The namespace of manifests that name none.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Also allow endpoints matching this pattern (as `run --allow-endpoint`).
    #[arg(long = "allow-endpoint", value_delimiter = ',')]
    pub allow_endpoints: Vec<String>,
    /// Plan the deletion of the manifests' resources (as when they are removed from Git)
    /// instead of applying them.
    #[arg(long)]
    pub delete: bool,
    /// The OIDC token file for `oidc` accounts (default `ALIBABA_CLOUD_OIDC_TOKEN_FILE`).
    #[arg(long, env = "ALIBABA_CLOUD_OIDC_TOKEN_FILE")]
    pub oidc_token_file: Option<PathBuf>,
}

/// Why `plan` could not run at all (per-resource problems are reported in the output).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The manifests could not be read.
    #[error(transparent)]
    Manifests(#[from] manifests::ManifestError),
    /// An `--allow-endpoint` pattern is malformed.
    #[error("--allow-endpoint: {0}")]
    EndpointPattern(#[source] iot_platform::endpoint_policy::EndpointError),
}

/// Runs `plan` and returns its exit code: 0 no changes, 2 changes (or blocked), 1 errors.
///
/// # Errors
/// [`PlanError`] when the manifests cannot be read.
pub async fn run(args: &PlanArgs) -> Result<u8, PlanError> {
    let inputs = if args.files.is_empty() { vec![PathBuf::from("-")] } else { args.files.clone() };
    let objects = manifests::read(&inputs, &args.namespace)?;
    let patterns = DEFAULT_PATTERNS.iter().copied().chain(args.allow_endpoints.iter().map(String::as_str));
    let policy = EndpointPolicy::new(patterns).map_err(PlanError::EndpointPattern)?;
    let clients = accounts::Clients::new(&objects.accounts, policy, args.oidc_token_file.clone());
    let mut entries = Vec::new();
    let mut keys = BTreeMap::new();
    let mode = if args.delete { Mode::Delete } else { Mode::Apply };
    for product in &objects.products {
        let entry = plan_product(product, &clients, mode).await;
        if let Some(key) = &entry.product_key {
            keys.insert((entry.namespace.clone(), entry.name.clone()), key.clone());
        }
        entries.push(entry);
    }
    // A distribution is one-shot: deleting its resource changes nothing on the platform.
    if mode == Mode::Apply {
        for distribution in &objects.distributions {
            entries.push(plan_distribution(distribution, &objects.products, &keys, &clients).await);
        }
    }
    let summary = Summary::of(&entries);
    print!("{}", report::render(&entries, &summary, args.output));
    Ok(summary.exit_code())
}

fn entry(kind: &'static str, namespace: String, name: String) -> Entry {
    Entry { kind, namespace, name, ..Entry::default() }
}

/// The plan of one IotProduct: found by its spec's key or by its unique name, observed,
/// decided by the controller's planner.
pub async fn plan_product(product: &IotProduct, clients: &accounts::Clients, mode: Mode) -> Entry {
    let mut out = entry(
        "IotProduct",
        product.metadata.namespace.clone().unwrap_or_default(),
        product.metadata.name.clone().unwrap_or_default(),
    );
    let desired = match DesiredProduct::from_resource(product) {
        Ok(desired) => desired,
        Err(e) => {
            out.error = Some(format!("invalid spec: {e}"));
            return out;
        }
    };
    let account_name = product.account_name();
    let (platform, account) = match clients.get(&account_name) {
        Ok(found) => found,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let instance = desired.instance_id.clone().or_else(|| account.spec.instance_id.clone());
    out.instance = Some(instance.clone().unwrap_or_else(|| public_instance(&account.spec.region)));
    out.product_name = Some(desired.name.clone());
    match observe_and_plan(platform.as_ref(), instance.as_deref(), &desired, mode).await {
        Ok((found_key, decision, observed)) => {
            out.product_key = found_key.clone();
            out.found_by = Some(match (&found_key, &desired.adopt_key) {
                (None, _) => "none",
                (Some(_), Some(_)) => "spec.productKey",
                (Some(_), None) => "name",
            });
            out.calls = report::calls(&decision, &desired, &observed, mode);
            out.blocked = decision.blocked.as_ref().map(|b| (b.reason().to_string(), b.message()));
        }
        Err(e) => out.error = Some(e.to_string()),
    }
    out
}

async fn observe_and_plan(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    desired: &DesiredProduct,
    mode: Mode,
) -> Result<(Option<String>, decide::Plan, Observed), iot_platform::PlatformError> {
    // Without the cluster's status the product is the one the spec names, else the one with
    // the spec's (unique) name.
    let key = match &desired.adopt_key {
        Some(key) => Some(key.clone()),
        None => observe::find_by_name(platform, instance, &desired.name, None).await?.map(|p| p.product_key),
    };
    let recorded = Recorded { product_key: key.clone(), ..Recorded::default() };
    let observation = observe::observe(platform, instance, desired, &recorded, None, mode).await?;
    let decision = decide::plan(desired, &observation.observed, &recorded, mode);
    let found = match &observation.observed {
        Observed::Exists(p) => Some(p.details.product_key.clone()),
        _ => None,
    };
    Ok((found, decision, observation.observed))
}

/// The plan of one ProductDistribution: the product it distributes, and whether the
/// account has a distribution task free.
pub async fn plan_distribution(
    pd: &ProductDistribution,
    products: &[IotProduct],
    keys: &BTreeMap<(String, String), String>,
    clients: &accounts::Clients,
) -> Entry {
    let namespace = pd.metadata.namespace.clone().unwrap_or_default();
    let mut out =
        entry("ProductDistribution", namespace.clone(), pd.metadata.name.clone().unwrap_or_default());
    let referenced = pd.spec.product_ref.as_ref().and_then(|r| {
        products.iter().find(|p| {
            p.metadata.name.as_deref() == Some(&r.name) && p.metadata.namespace.as_deref() == Some(&namespace)
        })
    });
    let account_name = pd
        .spec
        .account_ref
        .as_ref()
        .map(|a| a.name.clone())
        .or_else(|| referenced.map(IotProduct::account_name))
        .unwrap_or_else(|| crate::crd::DEFAULT_ACCOUNT.to_string());
    let product = match (&pd.spec.product_key, &pd.spec.product_ref) {
        (Some(key), _) => key.clone(),
        (None, Some(r)) => match (referenced, keys.get(&(namespace.clone(), r.name.clone()))) {
            (_, Some(key)) => key.clone(),
            (Some(_), None) => format!("the product of IotProduct {} (once created)", r.name),
            (None, None) => {
                out.error = Some(format!(
                    "spec.productRef names IotProduct {}, which is not among the manifests; pass it with -f",
                    r.name
                ));
                return out;
            }
        },
        (None, None) => String::new(),
    };
    let (platform, _) = match clients.get(&account_name) {
        Ok(found) => found,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let target = &pd.spec.target;
    let to = target.uid.as_deref().or(target.logon_id.as_deref()).unwrap_or_default();
    if pd.spec.product_key.is_some()
        || keys.contains_key(&(
            namespace.clone(),
            pd.spec.product_ref.as_ref().map(|r| r.name.clone()).unwrap_or_default(),
        ))
    {
        out.product_key = Some(product.clone());
    }
    out.calls.push(Call {
        operation: "CreateProductDistributeJob",
        detail: format!("distribute {product} to instance {} of account {to}", target.instance_id),
    });
    match crate::distribution::observe::count_jobs(platform.as_ref()).await {
        Ok(jobs) if jobs >= iot_platform::quota::MAX_DISTRIBUTION_JOBS => {
            out.blocked = Some((
                "DistributionQuotaFull".into(),
                format!(
                    "the account holds {jobs} of its {} distribution tasks; the distribution waits until one is \
                     freed (a finished job's record deleted)",
                    iot_platform::quota::MAX_DISTRIBUTION_JOBS
                ),
            ));
        }
        Ok(_) => {}
        Err(e) => out.error = Some(e.to_string()),
    }
    out
}

/// Whether `platform` writes: nothing `plan` uses may (the read-only client refuses).
#[must_use]
pub fn read_only(platform: Arc<dyn IotPlatform>) -> Arc<dyn IotPlatform> {
    Arc::new(read_only::ReadOnly::new(platform))
}

/// The account manifests by name (for tests and embedding).
#[must_use]
pub fn accounts_by_name(accounts: &[PlatformAccount]) -> BTreeMap<String, PlatformAccount> {
    accounts.iter().map(|a| (a.metadata.name.clone().unwrap_or_default(), a.clone())).collect()
}
