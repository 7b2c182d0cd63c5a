//! The custom resources this operator serves: their Rust types, schemas and CEL rules.
//!
//! Doc comments on spec and status fields become the OpenAPI descriptions that
//! `kubectl explain` shows, so they are written for the people who write manifests.
//! Validation lives in the schema first (OpenAPI + CEL `x-kubernetes-validations`), so
//! the API server itself refuses a bad manifest with a message a person understands.
//!
//! No I/O happens here.

pub mod consumer_group;
pub mod distribution;
pub mod platform_account;
pub mod product;
pub mod product_parts;
pub mod render;
pub mod thing_model;
pub mod validate;

use serde::{Deserialize, Serialize};

pub use consumer_group::{IotConsumerGroup, IotConsumerGroupSpec, IotConsumerGroupStatus};
pub use distribution::{ProductDistribution, ProductDistributionSpec, ProductDistributionStatus};
pub use platform_account::{PlatformAccount, PlatformAccountSpec, PlatformAccountStatus};
pub use product::{IotProduct, IotProductSpec, IotProductStatus};

/// The API group of every resource this operator serves.
pub const GROUP: &str = "iot.productoperator.dev";
/// The served (and stored) API version.
pub const VERSION: &str = "v1alpha1";
/// The name of the `PlatformAccount` used when a resource names none.
pub const DEFAULT_ACCOUNT: &str = "default";

/// Annotation that pauses reconciliation of one resource (value `true`). A paused resource
/// can still be deleted: its finalizer honours the deletion policy.
pub const PAUSED_ANNOTATION: &str = "iot.productoperator.dev/paused";
/// Annotation that asks for a reconcile now: set it to a new value (for example the current
/// time); the value handled last is echoed in `status.lastHandledReconcileAt`.
pub const RECONCILE_REQUESTED_ANNOTATION: &str = "iot.productoperator.dev/reconcile-requested-at";
/// Annotation that overrides the operator's resync interval for one resource (for example
/// `30s`, `1h`).
pub const RESYNC_INTERVAL_ANNOTATION: &str = "iot.productoperator.dev/resync-interval";

/// Whether a resource is paused by annotation.
#[must_use]
pub fn is_paused(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(PAUSED_ANNOTATION))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The reconcile-now request of a resource, if any.
#[must_use]
pub fn reconcile_request(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<String> {
    meta.annotations.as_ref().and_then(|a| a.get(RECONCILE_REQUESTED_ANNOTATION)).cloned()
}

/// The per-resource resync interval, if the annotation holds a valid duration.
#[must_use]
pub fn resync_override(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<std::time::Duration> {
    let text = meta.annotations.as_ref()?.get(RESYNC_INTERVAL_ANNOTATION)?;
    humantime::parse_duration(text.trim()).ok().filter(|d| *d >= std::time::Duration::from_secs(1))
}

/// A reference to a cluster-scoped `PlatformAccount`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, kube::KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountRef {
    /// Name of the `PlatformAccount` (cluster-scoped) whose credentials and region are used.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("accountRef.name must be a PlatformAccount name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"))]
    pub name: String,
}

/// A reference to an object in the same namespace, by name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, kube::KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectRef {
    /// Name of the object, in the same namespace as the referring resource.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("the name must be an object name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"))]
    pub name: String,
}

/// The status condition type used by every resource: `Ready`, `Synced`, … with
/// `observedGeneration`, a PascalCase `reason` and a message a person can act on.
pub type Condition = k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
