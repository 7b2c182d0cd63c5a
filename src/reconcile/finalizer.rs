//! Finalizers: the wrapper every namespaced reconciler runs under (apply while the object
//! lives, clean up before it goes), and a guarded add/remove for objects the operator only
//! marks.

use std::future::Future;
use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
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
    /// The finalizer's name is empty (a programming error).
    #[error("the finalizer name is not valid")]
    InvalidFinalizer,
}

/// When the finalizer is added to an object that does not hold it yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddFinalizer {
    /// Before `apply` runs (its own write).
    First,
    /// By `apply` itself, with its first write to the outside world (which it must do
    /// before that write): a product's create intent carries the finalizer in the same
    /// patch, one Kubernetes write fewer per product.
    ByApply,
}

/// Runs `apply` (object alive) or `cleanup` (object being deleted) under `name`: the
/// finalizer is added before the first apply (or by it, see [`AddFinalizer`]) and removed
/// only after a cleanup succeeds. Adding it does not end the reconcile: `apply` runs at once
/// on the object the patch returned (so one reconcile does the work, and writes guarded by
/// the resourceVersion start from the stored copy, even when the cached one was behind). A
/// success resets the object's failure backoff.
///
/// # Errors
/// The reconciler's own error, or a failure to add/remove the finalizer (as a Kubernetes
/// error, or a [`FinalizerError`]).
pub async fn run<K, E, Apply, ApplyFut, Cleanup, CleanupFut>(
    api: &Api<K>,
    name: &str,
    add_finalizer: AddFinalizer,
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
    if object.meta().name.is_none() {
        return Err(E::from(FinalizerError::UnnamedObject));
    }
    if name.is_empty() {
        return Err(E::from(FinalizerError::InvalidFinalizer));
    }
    let uid = object.uid().unwrap_or_default();
    let held = object.finalizers().iter().any(|f| f == name);
    let result = match (object.meta().deletion_timestamp.is_some(), held) {
        // Being deleted and already cleaned up (or never set up): nothing to do.
        (true, false) => Ok(Requeue::await_change()),
        (true, true) => {
            let action = cleanup(object.clone()).await?;
            remove(api, object.as_ref(), name).await?;
            Ok(action)
        }
        (false, true) => apply(object).await,
        (false, false) if add_finalizer == AddFinalizer::ByApply => apply(object).await,
        (false, false) => {
            let added = add(api, object.as_ref(), name).await?;
            apply(Arc::new(added)).await
        }
    };
    if result.is_ok() {
        backoff.reset(&uid);
    }
    result
}

/// Removes `finalizer` from the object with a JSON patch that first tests the list is as
/// this copy saw it (the cleanup may have written status since, so the resourceVersion would
/// not do; a list changed meanwhile makes the patch fail and the reconcile retry).
async fn remove<K>(api: &Api<K>, object: &K, finalizer: &str) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let finalizers = object.meta().finalizers.clone().unwrap_or_default();
    let Some(index) = finalizers.iter().position(|f| f == finalizer) else { return Ok(()) };
    let path = format!("/metadata/finalizers/{index}");
    let operations = json!([
        {"op": "test", "path": path, "value": finalizer},
        {"op": "remove", "path": path},
    ]);
    match json_patch(api, object, operations).await {
        // Gone already (deleted once the last finalizer went).
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Adds `finalizer` to the object with a JSON patch that first tests the list is as this
/// copy saw it (a copy older than the stored object, with the same finalizers, still
/// succeeds; a list changed meanwhile makes the patch fail and the reconcile retry); returns
/// the object as stored after the patch.
///
/// # Errors
/// The Kubernetes error of the patch.
pub async fn add<K>(api: &Api<K>, object: &K, finalizer: &str) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let finalizers = object.meta().finalizers.clone().unwrap_or_default();
    // The API server drops an empty list: absent and empty are the same.
    let operations = if finalizers.is_empty() {
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]},
        ])
    } else {
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
            {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer},
        ])
    };
    json_patch(api, object, operations).await
}

/// Sends the JSON patch `operations` (built here, so always well formed) to the object.
async fn json_patch<K>(api: &Api<K>, object: &K, operations: serde_json::Value) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let patch: json_patch::Patch = serde_json::from_value(operations).expect("a well-formed JSON patch");
    api.patch(&object.name_any(), &PatchParams::default(), &Patch::Json::<()>(patch)).await
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
