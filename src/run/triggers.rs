//! What wakes a controller: which changes of an object matter (not the operator's own
//! status writes), what is trimmed before caching, and how each controller's results are
//! logged.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use kube::runtime::controller::{Action as Requeue, Error as ControllerError};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use tracing::{debug, error};

use crate::crd::{IotProduct, PlatformAccount, ProductDistribution};
use crate::reconcile::conditions;

/// A trigger filter for accounts as seen by products and distributions: only a change of
/// the spec or of the Ready condition matters to them (not every credential check).
#[must_use]
pub fn account_relevance(account: &PlatformAccount) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    account.metadata.generation.hash(&mut hasher);
    if let Some(ready) = account.status.as_ref().and_then(|s| conditions::find(&s.conditions, "Ready")) {
        ready.status.hash(&mut hasher);
        ready.reason.hash(&mut hasher);
    }
    Some(hasher.finish())
}

/// A trigger filter for distributions as seen by their product: spec, deletion and job state
/// (a completed job marks the product), not status messages — a distribution and its
/// product re-triggering each other on every status write was a retry storm while their
/// account was broken.
#[must_use]
pub fn distribution_relevance(pd: &ProductDistribution) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    pd.metadata.generation.hash(&mut hasher);
    pd.metadata.deletion_timestamp.is_some().hash(&mut hasher);
    pd.status.as_ref().and_then(|s| s.state.clone()).hash(&mut hasher);
    Some(hasher.finish())
}

/// A trigger filter for products as seen by their distributions: spec, deletion, key and
/// readiness (a distribution waits for a Ready product), not status messages.
#[must_use]
pub fn product_relevance(product: &IotProduct) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    product.metadata.generation.hash(&mut hasher);
    product.metadata.deletion_timestamp.is_some().hash(&mut hasher);
    if let Some(status) = &product.status {
        status.product_key.hash(&mut hasher);
        status.instance_id.hash(&mut hasher);
        for type_ in ["Ready", "Available"] {
            conditions::find(&status.conditions, type_).map(|c| c.status.clone()).hash(&mut hasher);
        }
    }
    Some(hasher.finish())
}

/// A trigger filter for namespaces as seen by products and distributions: only their labels
/// matter (accounts admit namespaces by label).
#[must_use]
pub fn label_relevance<K: kube::Resource>(object: &K) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    object.meta().labels.hash(&mut hasher);
    Some(hasher.finish())
}

/// A trigger filter for a resource's own events: generation (spec changes and deletion) and
/// annotations — not status writes, finalizers or the create intent (which the operator
/// writes itself, and then goes on in the same reconcile; a finalizer someone removes is put
/// back at the next resync, which does not take the fast path without it).
#[must_use]
pub fn spec_relevance<K: kube::Resource>(object: &K) -> Option<u64> {
    let meta = object.meta();
    let mut hasher = DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    for annotation in meta.annotations.iter().flatten() {
        if annotation.0 != crate::product::intent::ANNOTATION {
            annotation.hash(&mut hasher);
        }
    }
    Some(hasher.finish())
}

/// Drops `metadata.managedFields` from cached objects: the operator never reads them, and
/// they are often the largest part of an object (a third of the cache at thousands of
/// products).
pub fn strip_managed_fields<K: kube::Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

/// What a controller's stream yields per reconcile.
type ControllerResult<K, E> = Result<(ObjectRef<K>, Requeue), ControllerError<E, watcher::Error>>;

/// Logs what a controller's stream yields that the reconciler did not report itself.
pub fn log_result<K: kube::Resource, E: std::error::Error + 'static>(
    kind: &'static str,
) -> impl FnMut(ControllerResult<K, E>) -> futures::future::Ready<()>
where
    K::DynamicType: std::fmt::Debug,
{
    move |result| {
        match result {
            // A failed reconcile was logged by its error policy.
            Ok(_) | Err(ControllerError::ReconcilerFailed(_, _)) => {}
            // A retry scheduled for an object deleted meanwhile: nothing to do.
            Err(ControllerError::ObjectNotFound(object)) => {
                debug!(kind, %object, "skipped a retry of a deleted object");
            }
            Err(e) => error!(kind, error = %crate::reconcile::error_chain(&e), "controller"),
        }
        futures::future::ready(())
    }
}
