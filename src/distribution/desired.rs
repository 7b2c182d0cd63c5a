//! What a distribution asks for, resolved from its spec and the cached IotProducts (no
//! platform call): the product's key, the source instance, the account — or why it waits.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use crate::crd::{DEFAULT_ACCOUNT, IotProduct, PlatformAccount, ProductDistribution};
use crate::reconcile::account_clients::AccountError;
use crate::reconcile::conditions::{self, Reason};
use crate::reconcile::context::ProductStores;
use crate::reconcile::tenancy;

/// The product being distributed, resolved.
#[derive(Debug, Clone)]
pub struct Source {
    /// The product's key.
    pub key: String,
    /// The instance it is distributed from (empty: the account's default instance).
    pub instance: String,
    /// The account that distributes it.
    pub account: String,
    /// The IotProduct, when the distribution names one (or one in its namespace has the key).
    pub product: Option<Arc<IotProduct>>,
}

/// Why a distribution cannot start yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Waiting {
    /// The named IotProduct does not exist.
    #[error("IotProduct {name} does not exist in namespace {namespace}; the distribution waits for it")]
    ProductNotFound {
        /// Its name.
        name: String,
        /// The namespace.
        namespace: String,
    },
    /// The named IotProduct has no product yet.
    #[error("IotProduct {name} has no product yet (not Available); the distribution waits for it")]
    ProductNotReady {
        /// Its name.
        name: String,
    },
    /// The distribution names another account than its product's.
    #[error(
        "IotProduct {name} uses PlatformAccount {product_account:?} but this distribution names {named:?}; a \
         distribution uses its product's account: remove spec.accountRef (or name {product_account:?})"
    )]
    AccountMismatch {
        /// The product's name.
        name: String,
        /// Its account.
        product_account: String,
        /// The account the distribution names.
        named: String,
    },
}

impl Waiting {
    /// The condition reason.
    #[must_use]
    pub fn reason(&self) -> Reason {
        match self {
            Self::ProductNotFound { .. } => Reason::ProductNotFound,
            Self::ProductNotReady { .. } => Reason::ProductNotReady,
            Self::AccountMismatch { .. } => Reason::AccountMismatch,
        }
    }
}

/// Where a distribution's IotProducts are looked up: the controller's cache, or — for
/// `plan` — the manifests with the cluster's status.
pub trait ProductLookup {
    /// Every IotProduct known.
    fn all(&self) -> Vec<Arc<IotProduct>>;
    /// The IotProduct `name` of `namespace`.
    fn find(&self, namespace: &str, name: &str) -> Option<Arc<IotProduct>>;
}

impl ProductLookup for ProductStores {
    fn all(&self) -> Vec<Arc<IotProduct>> {
        self.state()
    }

    fn find(&self, namespace: &str, name: &str) -> Option<Arc<IotProduct>> {
        self.get(&ObjectRef::new(name).within(namespace))
    }
}

/// Why a distribution of a product by key, which no IotProduct of its namespace manages, is
/// refused: taking the product over is not allowed.
#[must_use]
pub fn take_over_refused_message(namespace: &str, account: &str) -> String {
    format!(
        "spec.productKey names a product no IotProduct of namespace {namespace} manages, and PlatformAccount \
         {account:?} does not let this namespace take over products; nothing was done on the platform. Name the \
         product with spec.productRef, or ask the account's administrator for spec.takeOver"
    )
}

/// What the account's tenancy rules refuse for a distribution of `namespace` from `source`
/// (`account` its PlatformAccount, `labels` the namespace's when known): the namespace not
/// admitted, or a product by key that no IotProduct of the namespace manages (a take-over)
/// when the namespace may not take over. The controller and `plan` both act on it.
#[must_use]
pub fn tenancy_refusal(
    source: &Source,
    account: &PlatformAccount,
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> Option<(Reason, String)> {
    if !tenancy::selects(account.spec.allowed_namespaces.as_ref(), namespace, labels) {
        let refused =
            AccountError::NotAllowed { account: source.account.clone(), namespace: namespace.to_string() };
        return Some((refused.reason(), refused.to_string()));
    }
    let take_over = account.spec.take_over.as_ref().map(|t| &t.allowed_namespaces);
    if source.product.is_none() && !tenancy::selects(take_over, namespace, labels) {
        return Some((Reason::TakeOverNotAllowed, take_over_refused_message(namespace, &source.account)));
    }
    None
}

/// Whether the ownership mark `holder` (read from a product's tags) names an IotProduct of
/// `namespace` among `products`: a product by key held by another resource is not distributed.
#[must_use]
pub fn held_here(holder: &str, namespace: &str, products: &dyn ProductLookup) -> bool {
    products.all().iter().any(|p| {
        p.namespace().as_deref() == Some(namespace)
            && p.uid().is_some_and(|uid| crate::reconcile::ownership::tag_value(&uid) == holder)
    })
}

/// Whether a distribution holds one of its account's distribution tasks (a job was made, or
/// its create started, and the job's record was not deleted).
#[must_use]
pub fn holds_task(pd: &ProductDistribution) -> bool {
    pd.status.as_ref().is_some_and(|status| {
        (status.job_id.is_some() || status.create_started_time.is_some())
            && status.job_record_deleted != Some(true)
    })
}

/// Resolves the product of `pd` from the IotProducts `products` knows, or says why it must
/// wait.
///
/// # Errors
/// [`Waiting`] when the named product does not exist or has no product yet.
pub fn resolve(products: &dyn ProductLookup, pd: &ProductDistribution) -> Result<Source, Waiting> {
    let spec = &pd.spec;
    let namespace = pd.namespace().unwrap_or_default();
    if let Some(key) = &spec.product_key {
        // A key of an IotProduct of this namespace is that product (and its account);
        // any other key is a take-over (checked by the caller).
        let product = products.all().into_iter().find(|p| {
            p.namespace().as_deref() == Some(namespace.as_str())
                && p.status.as_ref().and_then(|s| s.product_key.as_deref()) == Some(key.as_str())
        });
        let named = spec.account_ref.as_ref().map(|a| a.name.clone());
        let account = match &product {
            Some(p) => {
                let account = p.account_name();
                if let Some(named) = named.filter(|n| *n != account) {
                    return Err(Waiting::AccountMismatch {
                        name: p.name_any(),
                        product_account: account,
                        named,
                    });
                }
                account
            }
            None => named.unwrap_or_else(|| DEFAULT_ACCOUNT.to_string()),
        };
        let instance = spec
            .source_instance_id
            .clone()
            .or_else(|| product.as_ref().and_then(|p| p.status.as_ref()?.instance_id.clone()));
        return Ok(Source { key: key.clone(), instance: instance.unwrap_or_default(), account, product });
    }
    let name = spec.product_ref.as_ref().map(|r| r.name.clone()).unwrap_or_default();
    let Some(product) = products.find(&namespace, &name) else {
        return Err(Waiting::ProductNotFound { name, namespace });
    };
    let status = product.status.clone().unwrap_or_default();
    // Available: the product exists and its key is known (Ready also asks that the live
    // product match the spec, which a distribution does not need; Ready is read from a
    // status written before Available existed).
    let available = conditions::find(&status.conditions, "Available")
        .or_else(|| conditions::find(&status.conditions, "Ready"))
        .is_some_and(|c| c.status == "True");
    let Some(key) = status.product_key.clone().filter(|_| available) else {
        return Err(Waiting::ProductNotReady { name });
    };
    let account = product.account_name();
    if let Some(named) = spec.account_ref.as_ref().map(|a| a.name.clone()).filter(|n| *n != account) {
        return Err(Waiting::AccountMismatch { name, product_account: account, named });
    }
    let instance = spec.source_instance_id.clone().or(status.instance_id).unwrap_or_default();
    Ok(Source { key, instance, account, product: Some(product) })
}

/// The account of `pd`: its product's (when it resolves) or the one its spec names.
#[must_use]
pub fn account_name(products: &dyn ProductLookup, pd: &ProductDistribution) -> String {
    resolve(products, pd).map_or_else(
        |_| pd.spec.account_ref.as_ref().map_or_else(|| DEFAULT_ACCOUNT.to_string(), |a| a.name.clone()),
        |source| source.account,
    )
}
