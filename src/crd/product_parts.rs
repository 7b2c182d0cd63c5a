//! The parts of a product beyond its attributes that devices and backends depend on: its
//! custom topic categories and its data-parsing script (`IotProduct.spec.topics`,
//! `IotProduct.spec.dataParsing`).
//!
//! Limits are the platform's (CreateProductTopic, CreateThingScript); each is a schema or
//! CEL rule so that `kubectl apply` refuses what the platform would.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The most custom topic categories a product may have (the platform's limits page).
pub const MAX_TOPICS: usize = 50;

/// The longest data-parsing script the operator accepts, in bytes (CreateThingScript sends
/// it as one request parameter).
pub const MAX_SCRIPT_BYTES: usize = 128 * 1024;

/// One custom topic category of the product: the topics
/// `/${productKey}/${deviceName}/user/<name>` its devices publish or subscribe to.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.operation == 'SUB' || !self.name.matches('[+#]')").message("spec.topics: the wildcards + and # are allowed only in a topic whose operation is SUB"))]
#[x_kube(validation = Rule::new("!has(self.codec) || !self.name.matches('[+#]')").message("spec.topics: codec cannot be set on a topic with a wildcard (+ or #)"))]
#[x_kube(validation = Rule::new("!has(self.proxySubscribe) || !self.proxySubscribe || self.operation != 'PUB'").message("spec.topics: proxySubscribe is only for topics whose operation is SUB or ALL"))]
pub struct TopicSpec {
    /// The category below `/${productKey}/${deviceName}/user/`: levels of letters, digits
    /// and underscores separated by `/` (for example `telemetry` or `alerts/critical`). A
    /// `SUB` topic may use `+` for a whole level and `#` as its last level.
    #[schemars(length(min = 1, max = 100))]
    #[x_kube(validation = Rule::new("self.matches('^(([A-Za-z0-9_]+|[+])/)*([A-Za-z0-9_]+|[+#])$')").message("spec.topics name must be levels of letters, digits and underscores separated by '/', with no empty level and no leading or trailing '/' (for example telemetry or alerts/critical); a SUB topic may use + for a level and # as the last level"))]
    pub name: String,

    /// What devices may do with the topic: `PUB` (publish), `SUB` (subscribe) or `ALL`.
    pub operation: TopicOperation,

    /// A description, up to 100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub description: Option<String>,

    /// Whether the platform subscribes devices to this topic when they connect (proxy
    /// subscription). For `SUB` and `ALL` topics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_subscribe: Option<bool>,

    /// Compress or decompress the topic's data (Enterprise Standard and Premium instances):
    /// `Compress` or `Decompress`. Not with wildcards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<TopicCodec>,
}

/// What devices may do with a topic.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
pub enum TopicOperation {
    /// Publish.
    #[serde(rename = "PUB")]
    Pub,
    /// Subscribe.
    #[serde(rename = "SUB")]
    Sub,
    /// Publish and subscribe.
    #[serde(rename = "ALL")]
    All,
}

/// Data compression of a topic.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
pub enum TopicCodec {
    /// `compress`.
    Compress,
    /// `decompress`.
    Decompress,
}

/// The script that turns a `Custom` data-format product's device payloads into JSON (and
/// back).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DataParsingSpec {
    /// The script's language: `JavaScript`, `Python27` (Python 2.7) or `Php72` (PHP 7.2).
    pub language: ScriptLanguage,

    /// The script itself (for example `function rawDataToProtocol(bytes) {...}`), at most
    /// 128 KiB.
    #[schemars(length(min = 1, max = 131072))]
    pub script: String,
}

/// Language of a data-parsing script.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ScriptLanguage {
    /// `JavaScript`.
    JavaScript,
    /// `Python_27`.
    Python27,
    /// `PHP_72`.
    Php72,
}

/// What the operator applied of the product's parts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicsStatus {
    /// The topic categories the operator manages (those of `spec.topics` it created or found):
    /// a name removed from the spec is deleted from the product; topics made by others are
    /// left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed: Vec<String>,
    /// Topic categories of the spec that are on the product as specified.
    pub applied: i32,
    /// Topic categories in the spec.
    pub desired: i32,
}

/// The data-parsing script the operator last applied.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataParsingStatus {
    /// SHA-256 of the script (its language and text) last applied or found on the product.
    pub digest: String,
}

/// The product's server-side (AMQP) subscription: which of its devices' messages the platform
/// pushes to which consumer groups.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionSpec {
    /// The IotConsumerGroups (by name, in this namespace, on the product's account and
    /// instance) the messages go to; each group gets every message.
    #[schemars(length(min = 1, max = 20))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub consumer_groups: Vec<String>,

    /// The messages to push: `DeviceData` (messages devices publish), `DeviceStatusChange`
    /// (online and offline), `ThingHistory` (thing-model history), `DeviceLifeCycle`
    /// (created, deleted, disabled, enabled), `DeviceTopoLifeCycle` and `FoundDeviceList`
    /// (gateways only), `OtaEvent`, `OtaVersion`, `OtaJob` (firmware updates) and `DeviceTag`
    /// (tag changes).
    #[schemars(length(min = 1, max = 10))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub messages: Vec<MessageType>,
}

/// A kind of message a subscription pushes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum MessageType {
    /// `DeviceDataFlag`.
    DeviceData,
    /// `DeviceStatusChangeFlag`.
    DeviceStatusChange,
    /// `ThingHistoryFlag`.
    ThingHistory,
    /// `DeviceLifeCycleFlag`.
    DeviceLifeCycle,
    /// `DeviceTopoLifeCycleFlag` (gateways).
    DeviceTopoLifeCycle,
    /// `FoundDeviceListFlag` (gateways).
    FoundDeviceList,
    /// `OtaEventFlag`.
    OtaEvent,
    /// `OtaVersionFlag`.
    OtaVersion,
    /// `OtaJobFlag`.
    OtaJob,
    /// `DeviceTagFlag`.
    DeviceTag,
}

/// The subscription the operator applied.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionStatus {
    /// The consumer group ids the platform pushes to (as resolved from the spec's names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumer_group_ids: Vec<String>,
}
