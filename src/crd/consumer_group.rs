//! `IotConsumerGroup`: one consumer group of the IoT Platform's server-side (AMQP)
//! subscriptions, declared as a namespaced resource. Products of the same namespace name it
//! in `spec.subscription.consumerGroups`; AMQP clients connect with its group id (in status).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::product::{DeletionPolicy, NAME_CHARACTERS_RULE, NAME_LENGTH_RULE};
use super::{AccountRef, Condition};

/// A consumer group that server-side subscriptions push device messages to; the AMQP
/// clients of a backend connect with its id (`status.groupId`) and share its messages.
///
/// The operator creates the group (or finds the one it created), renames it when
/// `groupName` changes, reports its health (backlog, consumption speed, connected clients),
/// and deletes it (or leaves it) when this resource is deleted.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "iot.productoperator.dev",
    version = "v1alpha1",
    kind = "IotConsumerGroup",
    plural = "iotconsumergroups",
    singular = "iotconsumergroup",
    shortname = "iotcg",
    category = "iot",
    namespaced,
    status = "IotConsumerGroupStatus",
    derive = "PartialEq",
    doc = "A consumer group of the IoT Platform's server-side (AMQP) subscriptions: created, renamed, watched for backlog and connected clients, and deleted or orphaned with this resource. IotProducts of the same namespace subscribe it by name.",
    printcolumn(
        name = "Group",
        type_ = "string",
        json_path = ".spec.groupName",
        description = "Consumer group name on the platform"
    ),
    printcolumn(
        name = "GroupId",
        type_ = "string",
        json_path = ".status.groupId",
        description = "The id AMQP clients connect with"
    ),
    printcolumn(
        name = "Backlog",
        type_ = "integer",
        json_path = ".status.health.accumulationCount",
        description = "Messages waiting to be consumed"
    ),
    printcolumn(
        name = "Clients",
        type_ = "integer",
        json_path = ".status.health.onlineClients",
        description = "AMQP clients connected"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.reason"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(validation = Rule::new("has(self.accountRef) == has(oldSelf.accountRef)").message("spec.accountRef is immutable: a consumer group cannot move between accounts; create a new IotConsumerGroup instead").field_path(".accountRef"))]
#[x_kube(validation = Rule::new("has(self.instanceId) == has(oldSelf.instanceId)").message("spec.instanceId is immutable: a consumer group cannot move between instances; create a new IotConsumerGroup instead").field_path(".instanceId"))]
#[serde(rename_all = "camelCase")]
pub struct IotConsumerGroupSpec {
    /// The `PlatformAccount` (cluster-scoped) whose credentials and region are used.
    /// Defaults to the account named `default`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.accountRef is immutable: a consumer group cannot move between accounts; create a new IotConsumerGroup instead"))]
    pub account_ref: Option<AccountRef>,

    /// The IoT Platform instance of the group. Defaults to the account's `instanceId`, else
    /// the region's public instance. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^iotx?-[0-9a-z][-0-9a-z]*$')").message("spec.instanceId must be an IoT Platform instance id such as iot-cn-2r42x0g0f01 (iotx-oxssharez200 is the cn-shanghai public instance)"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.instanceId is immutable: a consumer group cannot move between instances; create a new IotConsumerGroup instead"))]
    pub instance_id: Option<String>,

    /// The group's name on the platform: 4 to 30 characters where each Chinese character
    /// counts as two; Chinese characters, letters, digits and underscores; unique within the
    /// instance. Can be changed: the operator renames the group (its id stays).
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new(NAME_CHARACTERS_RULE).message("spec.groupName may contain only Chinese characters (CJK ideographs), letters (A-Z, a-z), digits and underscores (_)"))]
    #[x_kube(validation = Rule::new(NAME_LENGTH_RULE).message("spec.groupName must be 4 to 30 characters long, counting each Chinese character as two"))]
    pub group_name: String,

    /// What happens on the platform when this resource is deleted: `Delete` (the default:
    /// delete the group; the platform refuses while a subscription still pushes to it, and
    /// the resource waits) or `Orphan` (leave it).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// What the operator last observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IotConsumerGroupStatus {
    /// The platform's id of the group: AMQP clients connect with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,

    /// The instance the group lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,

    /// When a create of the group was started whose answer has not been seen: recorded before
    /// CreateConsumerGroup is called, so a group of this name created after it is this
    /// resource's (and no second one is created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_started: Option<Time>,

    /// The group's health as last read (every resync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<ConsumerGroupHealth>,

    /// The `metadata.generation` the status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The reason of the first condition that is not True, else Ready's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// `Ready`: the group exists with the spec's name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A consumer group's health (QueryConsumerGroupStatus).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerGroupHealth {
    /// Messages waiting to be consumed.
    pub accumulation_count: i64,
    /// Messages consumed per minute, now.
    pub consumer_speed: i64,
    /// AMQP clients connected.
    pub online_clients: i64,
    /// When a message was last consumed, as the platform says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_consumer_time: Option<String>,
    /// When the platform was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<Time>,
}

impl IotConsumerGroup {
    /// The name of the `PlatformAccount` the group uses (`default` when none is named).
    #[must_use]
    pub fn account_name(&self) -> String {
        self.spec.account_ref.as_ref().map_or_else(|| super::DEFAULT_ACCOUNT.to_string(), |a| a.name.clone())
    }
}
