//! Writes of the IotProduct's status (server-side apply as the operator's field manager; the
//! `distributedTo` field belongs to the distribution controller).

use kube::ResourceExt;
use kube::api::Api;

use crate::crd::IotProduct;
use crate::crd::product::IotProductStatus;
use crate::reconcile::conditions;
use crate::reconcile::context::Context;
use crate::reconcile::status::{self, FIELD_MANAGER};

/// The API of the product's namespace.
pub fn api(ctx: &Context, product: &IotProduct) -> Api<IotProduct> {
    Api::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default())
}

/// Serialises a status for server-side apply: the fields this field manager owns
/// (`distributedTo` belongs to the distribution controller).
pub fn apply_body(status: &IotProductStatus, resource_version: Option<&str>) -> serde_json::Value {
    let mut status = status.clone();
    status.distributed_to.clear();
    status::apply_body::<IotProduct, _>(&status, resource_version)
}

/// Writes `status` unless it equals the current one.
///
/// # Errors
/// The Kubernetes error of the write.
pub async fn write_status(
    ctx: &Context,
    product: &IotProduct,
    status: &IotProductStatus,
) -> Result<(), kube::Error> {
    let mut status = status.clone();
    status.reason = conditions::headline(&status.conditions);
    let status = &status;
    let mut current = product.status.clone().unwrap_or_default();
    current.distributed_to.clear();
    let mut wanted = status.clone();
    wanted.distributed_to.clear();
    if current == wanted {
        return Ok(());
    }
    status::apply_as(&api(ctx, product), &product.name_any(), FIELD_MANAGER, apply_body(status, None)).await
}
