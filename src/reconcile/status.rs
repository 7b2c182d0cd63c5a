//! Status writes: server-side apply of a status as the operator's field manager, optionally
//! guarded by the resourceVersion the decision was made from.

use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// The field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "iot-product-operator";

/// The server-side-apply body of `status` for a `K`; with `resource_version`, the write
/// fails (409) if the object changed since that version.
#[must_use]
pub fn apply_body<K, S>(status: &S, resource_version: Option<&str>) -> serde_json::Value
where
    K: Resource<DynamicType = ()>,
    S: Serialize,
{
    let mut body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    if let Some(rv) = resource_version {
        body["metadata"] = json!({"resourceVersion": rv});
    }
    body
}

/// Applies `status` to the object `name` as [`FIELD_MANAGER`] (taking over fields another
/// manager holds).
///
/// # Errors
/// The Kubernetes error of the write.
pub async fn apply<K, S>(
    api: &Api<K>,
    name: &str,
    status: &S,
    resource_version: Option<&str>,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    apply_as(api, name, FIELD_MANAGER, apply_body::<K, S>(status, resource_version)).await
}

/// Applies a ready-made status body as `field_manager`.
///
/// # Errors
/// The Kubernetes error of the write.
pub async fn apply_as<K>(
    api: &Api<K>,
    name: &str,
    field_manager: &str,
    body: serde_json::Value,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch_status(name, &PatchParams::apply(field_manager).force(), &Patch::Apply(body)).await?;
    Ok(())
}
