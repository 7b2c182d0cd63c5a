//! The custom resources this operator serves: their Rust types, schemas and CEL rules.
//!
//! Doc comments on spec and status fields become the OpenAPI descriptions that
//! `kubectl explain` shows, so they are written for the people who write manifests.
//! Validation lives in the schema first (OpenAPI + CEL `x-kubernetes-validations`), so
//! the API server itself refuses a bad manifest with a message a person understands.
//!
//! No I/O happens here.

pub mod account;
pub mod distribution;
pub mod product;
pub mod render;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use account::{PlatformAccount, PlatformAccountSpec, PlatformAccountStatus};
pub use distribution::{ProductDistribution, ProductDistributionSpec, ProductDistributionStatus};
pub use product::{IotProduct, IotProductSpec, IotProductStatus};

/// The API group of every resource this operator serves.
pub const GROUP: &str = "iot.productoperator.dev";
/// The served (and stored) API version.
pub const VERSION: &str = "v1alpha1";
/// The name of the `PlatformAccount` used when a resource names none.
pub const DEFAULT_ACCOUNT: &str = "default";

/// A reference to a cluster-scoped `PlatformAccount`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountRef {
    /// Name of the `PlatformAccount` (cluster-scoped) whose credentials and region are used.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A reference to an object in the same namespace, by name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectRef {
    /// Name of the object, in the same namespace as the referring resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The status condition type used by every resource: `Ready`, `Synced`, … with
/// `observedGeneration`, a PascalCase `reason` and a message a person can act on.
pub type Condition = k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
