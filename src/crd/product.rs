//! `IotProduct`: one product on the IoT Platform, declared as a namespaced resource.
//!
//! The readable enum words of the manifest (`Gateway`, `AlinkJson`, …) are mapped to the
//! platform's integers and strings in exactly one place: [`crate::product::desired`].

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{AccountRef, Condition};

/// The characters of a product (and consumer group) name: Chinese characters (CJK
/// ideographs, the ranges of `iot_platform::names`), letters, digits and underscores.
pub const NAME_CHARACTERS_RULE: &str = "self.matches('^[A-Za-z0-9_\\\\x{3400}-\\\\x{4DBF}\\\\x{4E00}-\\\\x{9FFF}\\\\x{F900}-\\\\x{FAFF}\\\\x{20000}-\\\\x{2FFFF}]*$')";
/// The length of a product (and consumer group) name: 4 to 30, each Chinese character
/// counting two.
pub const NAME_LENGTH_RULE: &str = "size(self) + size(self.findAll('[\\\\x{3400}-\\\\x{4DBF}\\\\x{4E00}-\\\\x{9FFF}\\\\x{F900}-\\\\x{FAFF}\\\\x{20000}-\\\\x{2FFFF}]')) >= 4 && size(self) + size(self.findAll('[\\\\x{3400}-\\\\x{4DBF}\\\\x{4E00}-\\\\x{9FFF}\\\\x{F900}-\\\\x{FAFF}\\\\x{20000}-\\\\x{2FFFF}]')) <= 30";

/// Prefix of product tag keys the operator keeps for itself (ownership marks).
pub const RESERVED_TAG_PREFIX: &str = "iotop.";

/// The desired state of a product on the Alibaba Cloud IoT Platform.
///
/// The operator creates the product (or adopts an existing one), keeps its name,
/// description, tags and thing model in line with this spec, publishes or revokes it as
/// `published` says, writes its ProductKey and ProductSecret into a Secret, and deletes it
/// (or leaves it) when this resource is deleted.
///
/// Attributes the platform fixes at creation (node type, edition, data format, network,
/// protocol, authentication, category, validation level, resource group, instance, account)
/// are immutable here too: changing them is refused by the API server.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "iot.productoperator.dev",
    version = "v1alpha1",
    kind = "IotProduct",
    plural = "iotproducts",
    singular = "iotproduct",
    shortname = "iotp",
    category = "iot",
    namespaced,
    status = "IotProductStatus",
    derive = "PartialEq",
    doc = "A product on the Alibaba Cloud IoT Platform, managed declaratively: created or adopted, updated, tagged, given a thing model, published or revoked, distributed, and deleted or orphaned with this resource. Its ProductKey and ProductSecret are written to a Secret.",
    printcolumn(name = "Product", type_ = "string", json_path = ".spec.productName", description = "Product name on the platform"),
    printcolumn(name = "ProductKey", type_ = "string", json_path = ".status.productKey", description = "The platform's id of the product"),
    printcolumn(name = "Published", type_ = "boolean", json_path = ".status.published", description = "Whether the product is published (locked) on the platform"),
    printcolumn(name = "Devices", type_ = "integer", json_path = ".status.devices.total", description = "Devices registered under the product"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Synced", type_ = "string", json_path = ".status.conditions[?(@.type==\"Synced\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.reason"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("!has(self.spec.thingModel) || self.spec.edition == 'Pro'")
        .message("spec.thingModel requires spec.edition: Pro (a Basic edition product has no thing model)")
        .field_path(".spec.thingModel"),
    validation = Rule::new("!has(self.spec.dataParsing) || self.spec.dataFormat == 'Custom'")
        .message("spec.dataParsing requires spec.dataFormat: Custom (the platform parses only custom-format data; Alink JSON needs no script)")
        .field_path(".spec.dataParsing"),
)]
#[x_kube(validation = Rule::new("has(self.instanceId) == has(oldSelf.instanceId)").message("spec.instanceId is immutable: a product cannot move between instances; create a new IotProduct (or distribute this one with a ProductDistribution)").field_path(".instanceId"))]
#[x_kube(validation = Rule::new("has(self.accountRef) == has(oldSelf.accountRef)").message("spec.accountRef is immutable: a product cannot move between accounts; create a new IotProduct instead").field_path(".accountRef"))]
#[x_kube(validation = Rule::new("has(self.netType) == has(oldSelf.netType)").message("spec.netType is immutable: the platform fixes it when the product is created; create a new IotProduct to change it").field_path(".netType"))]
#[x_kube(validation = Rule::new("has(self.protocolType) == has(oldSelf.protocolType)").message("spec.protocolType is immutable: the platform fixes it when the product is created; create a new IotProduct to change it").field_path(".protocolType"))]
#[x_kube(validation = Rule::new("has(self.authType) == has(oldSelf.authType)").message("spec.authType is immutable: the platform fixes it when the product is created; create a new IotProduct to change it").field_path(".authType"))]
#[x_kube(validation = Rule::new("has(self.categoryKey) == has(oldSelf.categoryKey)").message("spec.categoryKey is immutable: the platform fixes it when the product is created; create a new IotProduct to change it").field_path(".categoryKey"))]
#[x_kube(validation = Rule::new("has(self.validationLevel) == has(oldSelf.validationLevel)").message("spec.validationLevel is immutable: the platform fixes it when the product is created; create a new IotProduct to change it").field_path(".validationLevel"))]
#[x_kube(validation = Rule::new("has(self.resourceGroupId) == has(oldSelf.resourceGroupId)").message("spec.resourceGroupId is immutable: the platform fixes it when the product is created; create a new IotProduct to change it").field_path(".resourceGroupId"))]
#[x_kube(validation = Rule::new("self.managementPolicy != 'ObserveOnly' || has(self.productKey) || self.adoptionPolicy == 'ByName'").message("spec.managementPolicy: ObserveOnly never creates a product, so it needs one to observe: set spec.productKey, or spec.adoptionPolicy: ByName to find the product named spec.productName").field_path(".managementPolicy"))]
#[x_kube(validation = Rule::new("!has(oldSelf.productKey) || (has(self.productKey) && self.productKey == oldSelf.productKey)").message("spec.productKey cannot be changed or removed once set: this resource manages that product; create a new IotProduct to manage another").field_path(".productKey"))]
#[serde(rename_all = "camelCase")]
pub struct IotProductSpec {
    /// The `PlatformAccount` (cluster-scoped) whose credentials and region are used.
    /// Defaults to the account named `default`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.accountRef is immutable: a product cannot move between accounts; create a new IotProduct instead"))]
    pub account_ref: Option<AccountRef>,

    /// The IoT Platform instance the product lives in (for example `iot-cn-2r42x0g0f01`).
    /// Defaults to the account's `instanceId`; when neither is set, the region's public
    /// instance is used. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^iotx?-[0-9a-z][-0-9a-z]*$')").message("spec.instanceId must be an IoT Platform instance id such as iot-cn-2r42x0g0f01 (iotx-oxssharez200 is the cn-shanghai public instance)"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.instanceId is immutable: a product cannot move between instances; create a new IotProduct (or distribute this one with a ProductDistribution)"))]
    pub instance_id: Option<String>,

    /// The product name: 4 to 30 characters where each Chinese character counts as two;
    /// Chinese characters, letters, digits and underscores. Unique within the instance.
    /// Can be changed: the operator renames the product.
    /// A Chinese character is a CJK ideograph (radicals that look Han are refused); the
    /// rule is `iot_platform::names`' (the emulator's too).
    // The schema's own limit only bounds the rules' cost: a limit the API server checks
    // first would stop the rules from being evaluated and hide the product-name rule.
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new(NAME_CHARACTERS_RULE).message("spec.productName may contain only Chinese characters (CJK ideographs; radicals are not characters), letters (A-Z, a-z), digits and underscores (_)"))]
    #[x_kube(validation = Rule::new(NAME_LENGTH_RULE).message("spec.productName must be 4 to 30 characters long, counting each Chinese character as two"))]
    pub product_name: String,

    /// A description of the product, up to 100 characters. Can be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub description: Option<String>,

    /// How devices of this product connect: `Device` (directly connected, or a sub-device
    /// behind a gateway) or `Gateway`. Immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.nodeType is immutable: the platform fixes it when the product is created; create a new IotProduct to change it"))]
    pub node_type: NodeType,

    /// The product edition: `Pro` (has a thing model; the platform's `iothub_senior`) or
    /// `Basic` (no thing model; `iothub`). Immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.edition is immutable: the platform fixes it when the product is created; create a new IotProduct to change it"))]
    pub edition: Edition,

    /// The device data format: `AlinkJson` (the platform's Alink JSON) or `Custom`
    /// (passthrough, with a parsing script). Used by the Pro edition only. Immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.dataFormat is immutable: the platform fixes it when the product is created; create a new IotProduct to change it"))]
    pub data_format: DataFormat,

    /// How devices reach the network: `WiFi`, `Cellular`, `Ethernet`, `LoRa` or `Other`.
    /// For gateways and directly connected devices. Unset means the platform's default
    /// (`WiFi`). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.netType is immutable: the platform fixes it when the product is created; create a new IotProduct to change it"))]
    pub net_type: Option<NetType>,

    /// The protocol sub-devices use to talk to their gateway: `Modbus`, `OpcUa`,
    /// `Customize`, `Ble` or `Zigbee`. For Pro sub-device products. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.protocolType is immutable: the platform fixes it when the product is created; create a new IotProduct to change it"))]
    pub protocol_type: Option<ProtocolType>,

    /// How devices authenticate: `Secret` (the platform's default), `Id2` or `X509`.
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.authType is immutable: the platform fixes it when the product is created; create a new IotProduct to change it"))]
    pub auth_type: Option<AuthType>,

    /// A standard product category (from the platform's ListThingTemplates, for example
    /// `Lighting`); the product then starts with the category's thing model. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.categoryKey is immutable: the platform fixes it when the product is created; create a new IotProduct to change it"))]
    pub category_key: Option<String>,

    /// How strictly the platform checks device data against the thing model: `Weak`
    /// (the platform's default) or `None`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.validationLevel is immutable: the platform fixes it when the product is created; create a new IotProduct to change it"))]
    pub validation_level: Option<ValidationLevel>,

    /// The resource group the product belongs to (for example `rg-acfmxazb4ph6aiy`).
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.resourceGroupId is immutable: the platform fixes it when the product is created; create a new IotProduct to change it"))]
    pub resource_group_id: Option<String>,

    /// Product tags, key to value. Keys: 1 to 30 letters, digits or dots; values: 1 to 128
    /// letters, digits, underscores or hyphens; at most 90 tags. Keys starting with
    /// `iotop.` are reserved for the operator. Tags set on the platform by others are left
    /// alone; tags removed from this map are removed from the product.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 90, "additionalProperties" = {
        "type": "string",
        "maxLength": 128,
        "x-kubernetes-validations": [{
            "rule": "self.matches('^[A-Za-z0-9_-]{1,128}$')",
            "message": "spec.tags values must be 1 to 128 letters, digits, underscores or hyphens"
        }]
    }))]
    #[x_kube(validation = Rule::new("self.all(k, k.matches('^[A-Za-z0-9.]{1,30}$'))").message("spec.tags keys must be 1 to 30 letters, digits or dots"))]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('iotop.'))").message("spec.tags keys starting with 'iotop.' are reserved for the operator"))]
    #[x_kube(validation = Rule::new("!('abc' in self)").message("spec.tags key 'abc' is reserved by the platform (it silently drops it from tag queries); use another key"))]
    pub tags: BTreeMap<String, String>,

    /// The product's thing model (its properties, events and services), in the platform's
    /// TSL JSON form. When set, the operator imports it and publishes a new thing-model
    /// version whenever it changes. Pro edition only. Unset means the operator leaves the
    /// thing model alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_model: Option<ThingModel>,

    /// The product's custom topic categories (`/${productKey}/${deviceName}/user/...`), at
    /// most 50, each name once. When set, the operator creates, updates and deletes the
    /// categories it manages to match; categories made by others are left alone. Unset means
    /// the operator leaves topics alone (and does not read them). The platform allows one
    /// CreateProductTopic call per second per account, so many topics take a while: the
    /// product, its Secret and status come first, and `status.topics` shows the progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub topics: Option<Vec<super::product_parts::TopicSpec>>,

    /// The data-parsing script of a `dataFormat: Custom` product. Like the thing model, it
    /// can no longer change once the product is distributed. Unset means the operator leaves
    /// the script alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_parsing: Option<super::product_parts::DataParsingSpec>,

    /// The product's server-side (AMQP) subscription: the messages its devices' traffic
    /// produces, pushed to IotConsumerGroups of this namespace. Unset means the operator leaves
    /// the product's AMQP subscription alone; removing it deletes the subscription the
    /// operator made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<super::product_parts::SubscriptionSpec>,

    /// Whether the product should be published. A published product is locked by the
    /// platform: its attributes and thing model cannot change and it cannot be deleted
    /// until publication is revoked. Default `false`.
    #[serde(default)]
    pub published: bool,

    /// What to do with a change to a product that is published: `Block` (the default:
    /// report the change as blocked and apply nothing) or `RevokeAndRepublish` (revoke
    /// publication, apply the change, publish again; devices in the field see the product
    /// unpublished for a moment). Also governs deleting a published product.
    #[serde(default)]
    pub published_change_policy: PublishedChangePolicy,

    /// What happens on the platform when this resource is deleted: `Delete` (the default:
    /// delete the product) or `Orphan` (leave the product as it is).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// What the operator may do on the platform: `Full` (the default: create, update,
    /// publish, delete), `ObserveOnly` (never write: adopt the product named by
    /// `productKey`, report its state and write its Secret), `NoUpdate` (create it, but
    /// never change it afterwards: differences are reported), or `NoDelete` (everything but
    /// deleting: deletion leaves the product, whatever `deletionPolicy` says). Observing
    /// takes over a product this resource did not create: the account must allow it for this
    /// namespace (its `spec.takeOver`).
    #[serde(default)]
    pub management_policy: ManagementPolicy,

    /// What to do when the product disappears from the platform without this resource being
    /// deleted (someone deleted it out of band): `Recreate` (the default: create it again;
    /// it gets a new ProductKey, written to the Secret) or `Report` (do nothing; the
    /// resource shows `Ready=False` with reason `ProductMissing`). Drift is checked every
    /// resync interval.
    #[serde(default)]
    pub out_of_band_deletion: OutOfBandDeletion,

    /// The ProductKey of an existing product to adopt instead of creating one. Taking over a
    /// product needs the account's permission for this namespace (its `spec.takeOver`); a
    /// product that another cluster or resource manages (its `iotop.owner` tag) is never
    /// adopted. Once set it cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9]+$')").message("spec.productKey must be a ProductKey: letters and digits, such as a1BwAGV6xyz"))]
    pub product_key: Option<String>,

    /// Whether an existing product may be adopted by its name: `ByKeyOnly` (the default:
    /// only the product named by `productKey` is adopted; a name already taken is reported
    /// as a conflict) or `ByName` (a product with this name in the instance that no other
    /// resource manages is adopted; needs the account's `spec.takeOver` permission).
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,

    /// Name of the Secret (same namespace) the operator writes ProductKey, ProductSecret,
    /// RegionId, IotInstanceId and MqttEndpoint into. Defaults to `<name>-credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("spec.secretName must be a valid Secret name: lower-case letters, digits, '-' and '.'"))]
    pub secret_name: Option<String>,
}

/// A product's thing model: properties, events and services as YAML (checked when the
/// manifest is applied), or the TSL document exported from the console as a JSON string in
/// `tsl` — one of the two.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.tsl) != (has(self.properties) || has(self.events) || has(self.services))").message("set either spec.thingModel.tsl (a TSL document as JSON) or properties, events and services (as YAML), not both"))]
#[x_kube(validation = Rule::new("(has(self.properties) ? size(self.properties) : 0) + (has(self.events) ? size(self.events) : 0) + (has(self.services) ? size(self.services) : 0) <= 300").message("a thing model has at most 300 properties, events and services together"))]
#[x_kube(validation = Rule::new("!has(self.properties) || self.properties.all(p, (!has(self.events) || !self.events.exists(e, e.identifier == p.identifier)) && (!has(self.services) || !self.services.exists(v, v.identifier == p.identifier)))").message("identifiers must be unique among the model's properties, events and services"))]
#[x_kube(validation = Rule::new("!has(self.events) || !has(self.services) || self.events.all(e, !self.services.exists(v, v.identifier == e.identifier))").message("identifiers must be unique among the model's properties, events and services"))]
pub struct ThingModel {
    /// The TSL document as a JSON string (as the console exports it): an object with
    /// `properties`, `events` and `services` arrays (the platform's own `post`, `set` and
    /// `get` entries may be left out). At most 256 KiB. Not with `properties`, `events` or
    /// `services`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 262144))]
    pub tsl: Option<String>,

    /// The properties: states of the device that can be read (and set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 300))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["identifier"]))]
    pub properties: Vec<super::thing_model::Property>,

    /// The events: what the device reports (at most 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["identifier"]))]
    pub events: Vec<super::thing_model::Event>,

    /// The services: what the device can be asked to do (at most 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["identifier"]))]
    pub services: Vec<super::thing_model::Service>,

    /// A description for the thing-model versions the operator publishes (up to 100
    /// characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub version_description: Option<String>,
}

impl ThingModel {
    /// The TSL document (JSON text): `tsl` as given, or the structured model rendered.
    #[must_use]
    pub fn document(&self) -> String {
        match &self.tsl {
            Some(text) => text.clone(),
            None => super::thing_model::tsl_document(&self.properties, &self.events, &self.services),
        }
    }
}

/// Node type of a product.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum NodeType {
    /// A directly connected device or a sub-device (the platform's `0`).
    #[default]
    Device,
    /// A gateway that sub-devices connect through (the platform's `1`).
    Gateway,
}

/// Product edition.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum Edition {
    /// Basic edition, no thing model (`iothub`).
    Basic,
    /// Pro edition, with a thing model (`iothub_senior`).
    #[default]
    Pro,
}

/// Device data format.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum DataFormat {
    /// Alink JSON (`1`).
    #[default]
    AlinkJson,
    /// Custom / passthrough (`0`).
    Custom,
}

/// Network connection method.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum NetType {
    /// `WIFI`.
    WiFi,
    /// `CELLULAR`.
    Cellular,
    /// `ETHERNET`.
    Ethernet,
    /// `LORA`.
    LoRa,
    /// `OTHER`.
    Other,
}

/// Sub-device to gateway protocol.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ProtocolType {
    /// `modbus`.
    Modbus,
    /// `opc-ua`.
    OpcUa,
    /// `customize`.
    Customize,
    /// `ble`.
    Ble,
    /// `zigbee`.
    Zigbee,
}

/// Device authentication method.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AuthType {
    /// `secret`: device or product secret.
    Secret,
    /// `id2`: ID² (cn-shanghai only).
    Id2,
    /// `x509`: X.509 certificates.
    X509,
}

/// Data validation level.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ValidationLevel {
    /// Weak validation (`1`).
    Weak,
    /// No validation (`2`).
    None,
}

/// What to do with a change to a published (locked) product.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum PublishedChangePolicy {
    /// Report the change as blocked; change nothing on the platform.
    #[default]
    Block,
    /// Revoke publication, apply the change, and publish again.
    RevokeAndRepublish,
}

/// What happens to the platform product when the resource is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the product on the platform.
    #[default]
    Delete,
    /// Leave the product on the platform untouched.
    Orphan,
}

/// What the operator may do to the product on the platform.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ManagementPolicy {
    /// Create, update, publish and delete.
    #[default]
    Full,
    /// Never write to the platform; report and write the Secret.
    ObserveOnly,
    /// Create, but never change an existing product.
    NoUpdate,
    /// Everything but deleting the product.
    NoDelete,
}

/// What to do when the product was deleted on the platform by someone else.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum OutOfBandDeletion {
    /// Create the product again.
    #[default]
    Recreate,
    /// Report it and do nothing.
    Report,
}

/// When an existing product may be adopted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum AdoptionPolicy {
    /// Adopt only the product named by `spec.productKey`.
    #[default]
    ByKeyOnly,
    /// Also adopt a product found by its name in the instance.
    ByName,
}

/// What the operator last observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IotProductStatus {
    /// The platform's id of the product (its ProductKey). The ProductSecret is never shown
    /// here: it is in the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_key: Option<String>,

    /// The instance the product lives in, as resolved from the spec and the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,

    /// The region of the account the product lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,

    /// Whether the product is published on the platform, as last observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<bool>,

    /// The product's state on the platform as last observed: `Developing` or `Published`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_status: Option<String>,

    /// The thing model the operator last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_model: Option<ThingModelStatus>,

    /// The tag keys the operator set from `spec.tags` (so a key removed from the spec is
    /// removed from the product, while tags set by others are left alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_tag_keys: Vec<String>,

    /// The topic categories the operator manages, and how many of the spec's are applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<super::product_parts::TopicsStatus>,

    /// The data-parsing script the operator last applied or found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_parsing: Option<super::product_parts::DataParsingStatus>,

    /// The AMQP subscription the operator applied (absent: it manages none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<super::product_parts::SubscriptionStatus>,

    /// The name of the Secret holding the product's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,

    /// The product's devices, as the platform counted them at the last look (every resync,
    /// and before any action that would reach them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<DeviceCounts>,

    /// The last change made on the platform behind the operator's back (the product was in
    /// sync with this spec before): what differed, field by field, and whether it was
    /// corrected (not with `managementPolicy: ObserveOnly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drift: Option<LastDrift>,

    /// A create the operator started but has not seen the result of (an ambiguous answer:
    /// a server error, a lost answer), so the next reconcile looks the product up by this
    /// name instead of creating a second one. Before CreateProduct is sent, the intent is
    /// recorded in the signed annotation `iot.productoperator.dev/create-intent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_create: Option<PendingCreate>,

    /// The id of the last create intent (the annotation `iot.productoperator.dev/create-intent`)
    /// this status accounts for; an intent with another id was written after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_intent: Option<String>,

    /// Distributions of this product to other instances (recorded by ProductDistribution
    /// resources). A distributed product's thing model can no longer be changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distributed_to: Vec<String>,

    /// The `metadata.generation` the status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The value of the `iot.productoperator.dev/reconcile-requested-at` annotation last
    /// handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,

    /// When the operator last compared the platform with the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,

    /// The reason to look at: that of the first condition (Ready, then Synced) that is not
    /// True, else Ready's. `kubectl get` shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// `Ready`: the product exists and matches the spec, and its Secret is written.
    /// `Synced`: the last reconcile applied the spec (or says why it could not).
    /// `Published`: whether the product is published.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// The thing model the operator last imported and published.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThingModelStatus {
    /// SHA-256 of the normalised TSL last applied.
    pub digest: String,
    /// The thing-model version the operator published for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A drift found on the platform.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastDrift {
    /// When it was found.
    pub time: Time,
    /// What differed, one entry per field: `description: "edited in console" → "from Git"`.
    pub fields: Vec<String>,
    /// Whether the operator put the spec back (false when it only observes).
    pub corrected: bool,
}

/// How many devices a product has.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCounts {
    /// Devices registered.
    pub total: i64,
    /// Devices that have connected at least once (revoking or re-modelling reaches them).
    pub activated: i64,
    /// Devices connected now.
    pub online: i64,
    /// When the platform first showed these counts (a resync that finds the same counts
    /// leaves it, and writes no status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<Time>,
}

/// A create that was started.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingCreate {
    /// The product name sent to CreateProduct.
    pub product_name: String,
    /// The instance the product was created in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// When the create was started.
    pub since: Time,
    /// The CreateProduct calls whose outcome is unknown, on the platform's clock: the
    /// product one of them may have made was created while it was in flight, and only such
    /// a product is this resource's (see `docs/tenancy.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<CreateAttempt>,
}

/// One CreateProduct call of a pending create, on the platform's clock (the operator's
/// clock corrected by the `Date` header of the platform's answers).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAttempt {
    /// When the call was sent.
    pub sent: MicroTime,
    /// When its answer (an ambiguous one: a server error, a lost answer) came back; unset
    /// while the call was in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<MicroTime>,
}

impl IotProduct {
    /// The name of the `PlatformAccount` the product uses (`default` when none is named).
    #[must_use]
    pub fn account_name(&self) -> String {
        self.spec.account_ref.as_ref().map_or_else(|| super::DEFAULT_ACCOUNT.to_string(), |a| a.name.clone())
    }
}
