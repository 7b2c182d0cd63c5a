//! Finalizers: the wrapper every namespaced reconciler runs under (apply while the object
//! lives, clean up before it goes), and a guarded add/remove for objects the operator only
//! marks.

use std::future::Future;
use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::finalizer::{self as kube_finalizer, Event};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::backoff::Backoff;

/// A finalizer problem that is not a Kubernetes API failure.
#[derive(Debug, thiserror::Error)]
pub enum FinalizerError {
    /// The object has no name (never for stored objects).
    #[error("the object has no name")]
    UnnamedObject,
    /// The finalizer's name is not a valid finalizer name (a programming error).
    #[error("the finalizer name is not valid")]
    InvalidFinalizer,
}

/// Runs `apply` (object alive) or `cleanup` (object being deleted) under `name`: the
/// finalizer is added before the first apply and removed only after a cleanup succeeds.
/// A success resets the object's failure backoff.
///
/// # Errors
/// The reconciler's own error, or a failure to add/remove the finalizer (as a Kubernetes
/// error, or a [`FinalizerError`]).
pub async fn run<K, E, Apply, ApplyFut, Cleanup, CleanupFut>(
    api: &Api<K>,
    name: &str,
    object: Arc<K>,
    backoff: &Backoff,
    apply: Apply,
    cleanup: Cleanup,
) -> Result<Requeue, E>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    E: From<kube::Error> + From<FinalizerError> + std::error::Error + Send + 'static,
    Apply: FnOnce(Arc<K>) -> ApplyFut,
    ApplyFut: Future<Output = Result<Requeue, E>>,
    Cleanup: FnOnce(Arc<K>) -> CleanupFut,
    CleanupFut: Future<Output = Result<Requeue, E>>,
{
    let uid = object.uid().unwrap_or_default();
    let result = kube_finalizer::finalizer(api, name, object, |event| async move {
        match event {
            Event::Apply(object) => apply(object).await,
            Event::Cleanup(object) => cleanup(object).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube_finalizer::Error::ApplyFailed(e) | kube_finalizer::Error::CleanupFailed(e) => e,
        kube_finalizer::Error::AddFinalizer(e) | kube_finalizer::Error::RemoveFinalizer(e) => E::from(e),
        kube_finalizer::Error::UnnamedObject => E::from(FinalizerError::UnnamedObject),
        kube_finalizer::Error::InvalidFinalizer => E::from(FinalizerError::InvalidFinalizer),
    });
    if result.is_ok() {
        backoff.reset(&uid);
    }
    result
}

/// Adds or removes `finalizer` on an object's metadata with a JSON merge patch of the
/// whole list (guarded by the resourceVersion), when it is not already as wanted.
///
/// # Errors
/// The Kubernetes error of the patch (a conflict when the object changed meanwhile).
pub async fn set<K>(api: &Api<K>, object: &K, finalizer: &str, present: bool) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut finalizers = object.meta().finalizers.clone().unwrap_or_default();
    if finalizers.iter().any(|f| f == finalizer) == present {
        return Ok(());
    }
    if present {
        finalizers.push(finalizer.to_string());
    } else {
        finalizers.retain(|f| f != finalizer);
    }
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": object.meta().resource_version}});
    api.patch(&object.name_any(), &PatchParams::default(), &Patch::Merge(patch)).await?;
    Ok(())
}
