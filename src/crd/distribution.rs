//! `ProductDistribution`: copy a product to another instance of the same account.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{AccountRef, Condition, LocalObjectRef};

/// A one-shot distribution of a product to another IoT Platform instance (for example from
/// a test instance to production), through the platform's CreateProductDistributeJob.
///
/// The distribution job is created once and followed to its end; the spec cannot change
/// afterwards. Devices are not copied. After a distribution, the product's thing model can
/// no longer be modified. Deleting this resource does not undo the distribution.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "iot.productoperator.dev",
    version = "v1alpha1",
    kind = "ProductDistribution",
    plural = "productdistributions",
    singular = "productdistribution",
    shortname = "iotdist",
    category = "iot",
    namespaced,
    status = "ProductDistributionStatus",
    derive = "PartialEq",
    doc = "Distributes an IoT Platform product to another instance of the same account (CreateProductDistributeJob), once, and reports the job until it ends. The spec is immutable.",
    printcolumn(name = "Product", type_ = "string", json_path = ".status.productKey"),
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.target.instanceId"),
    printcolumn(name = "Job", type_ = "string", json_path = ".status.jobId"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Synced",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Synced\")].status"
    ),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.reason"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(validation = Rule::new("has(self.productRef) != has(self.productKey)").message("set exactly one of spec.productRef (an IotProduct in this namespace) or spec.productKey"))]
#[x_kube(validation = Rule::new("!has(self.sourceInstanceId) || self.sourceInstanceId != self.target.instanceId").message("spec.target.instanceId must differ from spec.sourceInstanceId: a product cannot be distributed to the instance it is in").field_path(".target.instanceId"))]
#[x_kube(validation = Rule::new("self == oldSelf").message("the spec of a ProductDistribution is immutable: a distribution is one-shot; create a new ProductDistribution instead"))]
#[serde(rename_all = "camelCase")]
pub struct ProductDistributionSpec {
    /// The IotProduct (in this namespace) to distribute. The distribution waits until it
    /// has a ProductKey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_ref: Option<LocalObjectRef>,

    /// The ProductKey of the product to distribute, when it is not managed by an IotProduct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9]+$')").message("spec.productKey must be a ProductKey: letters and digits, such as a1BwAGV6xyz"))]
    pub product_key: Option<String>,

    /// The account that owns the product. Defaults to the referenced IotProduct's account,
    /// else the account named `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_ref: Option<AccountRef>,

    /// The instance the product is in. Defaults to the referenced IotProduct's instance,
    /// else the account's instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^iotx?-[0-9a-z][-0-9a-z]*$')").message("spec.sourceInstanceId must be an IoT Platform instance id such as iot-cn-2r42x0g0f01 (iotx-oxssharez200 is the cn-shanghai public instance)"))]
    pub source_instance_id: Option<String>,

    /// Where the product goes.
    pub target: DistributionTarget,

    /// What happens to the platform's record of the job once it has ended and its outcome is
    /// in status: `DeleteWhenDone` (the default) deletes it, freeing one of the account's 10
    /// distribution tasks for the next distribution; `Keep` leaves it until this resource is
    /// deleted (the account can then run at most 10 distributions until records are deleted).
    /// The distributed product stays either way.
    #[serde(default)]
    pub job_record_policy: JobRecordPolicy,
}

/// The target of a distribution: an instance, and the account that owns it named by its
/// account ID or its logon name (exactly one).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("has(self.uid) != has(self.logonId)").message("set exactly one of spec.target.uid (the account ID) or spec.target.logonId (the logon name)"))]
#[serde(rename_all = "camelCase")]
pub struct DistributionTarget {
    /// The instance to distribute the product to.
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^iotx?-[0-9a-z][-0-9a-z]*$')").message("spec.target.instanceId must be an IoT Platform instance id such as iot-cn-2r42x0g0f01 (iotx-oxssharez200 is the cn-shanghai public instance)"))]
    pub instance_id: String,
    /// The target account's ID (the platform's TargetUid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub uid: Option<String>,
    /// The target account's logon name (the platform's TargetAliyunId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub logon_id: Option<String>,
}

/// What happens to the platform's record of a finished distribution job.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum JobRecordPolicy {
    /// Delete the record once the outcome is in status (frees the task for the next one).
    #[default]
    DeleteWhenDone,
    /// Keep the record until the ProductDistribution is deleted.
    Keep,
}

/// The distribution job and its state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductDistributionStatus {
    /// The ProductKey distributed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_key: Option<String>,
    /// The source instance, as resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_instance_id: Option<String>,
    /// The platform's distribution job id. Recorded as soon as the platform returns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The job's state: `Pending` (not created yet), `Initializing`, `Running`,
    /// `Completed` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When the operator started creating the job (recorded before the platform is called,
    /// so a restarted operator looks for that job instead of creating another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_started_time: Option<Time>,
    /// When the platform created the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the job was seen to end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Whether the platform's record of the finished job was deleted (`jobRecordPolicy:
    /// DeleteWhenDone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_record_deleted: Option<bool>,
    /// The value of the `iot.productoperator.dev/reconcile-requested-at` annotation last
    /// handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// The `metadata.generation` the status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The reason to look at: that of the first condition (Ready, then Synced) that is not
    /// True, else Ready's. `kubectl get` shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `Ready`: the job completed. A failed or waiting job says why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
