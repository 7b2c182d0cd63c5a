//! The spec of an `IotProduct`, validated once into a [`DesiredProduct`]; nothing after this
//! step reads the raw spec. This is also the one place where the manifest's readable words
//! (`Gateway`, `AlinkJson`, `WiFi` …) are mapped to the platform's integers and strings.
//!
//! No I/O happens here.

use std::collections::{BTreeMap, BTreeSet};

use crate::crd::product::{
    AdoptionPolicy, AuthType, DataFormat, DeletionPolicy, Edition, IotProduct, ManagementPolicy, NetType,
    NodeType, OutOfBandDeletion, ProtocolType, PublishedChangePolicy, ValidationLevel,
};
use iot_platform::model::{CreateProduct, ProductDetails};
use iot_platform::tsl::ThingModel;

pub use crate::reconcile::ownership::{CLUSTER_TAG, OWNER_TAG, tag_value};

/// The platform's value of a node type.
#[must_use]
pub fn node_type_code(node_type: NodeType) -> i32 {
    match node_type {
        NodeType::Device => 0,
        NodeType::Gateway => 1,
    }
}

/// The platform's `AliyunCommodityCode` of an edition.
#[must_use]
pub fn edition_code(edition: Edition) -> &'static str {
    match edition {
        Edition::Basic => "iothub",
        Edition::Pro => "iothub_senior",
    }
}

/// The platform's value of a data format.
#[must_use]
pub fn data_format_code(format: DataFormat) -> i32 {
    match format {
        DataFormat::Custom => 0,
        DataFormat::AlinkJson => 1,
    }
}

/// The word CreateProduct takes for a net type.
#[must_use]
pub fn net_type_word(net: NetType) -> &'static str {
    match net {
        NetType::WiFi => "WIFI",
        NetType::Cellular => "CELLULAR",
        NetType::Ethernet => "ETHERNET",
        NetType::LoRa => "LORA",
        NetType::Other => "OTHER",
    }
}

/// The integer QueryProduct returns for a net type.
#[must_use]
pub fn net_type_code(net: NetType) -> i32 {
    match net {
        NetType::WiFi => 3,
        NetType::Cellular => 6,
        NetType::Ethernet => 7,
        NetType::Other => 8,
        NetType::LoRa => 0,
    }
}

/// The platform's word for a protocol type.
#[must_use]
pub fn protocol_type_word(protocol: ProtocolType) -> &'static str {
    match protocol {
        ProtocolType::Modbus => "modbus",
        ProtocolType::OpcUa => "opc-ua",
        ProtocolType::Customize => "customize",
        ProtocolType::Ble => "ble",
        ProtocolType::Zigbee => "zigbee",
    }
}

/// The platform's word for an auth type.
#[must_use]
pub fn auth_type_word(auth: AuthType) -> &'static str {
    match auth {
        AuthType::Secret => "secret",
        AuthType::Id2 => "id2",
        AuthType::X509 => "x509",
    }
}

/// The platform's value of a validation level.
#[must_use]
pub fn validate_type_code(level: ValidationLevel) -> i32 {
    match level {
        ValidationLevel::Weak => 1,
        ValidationLevel::None => 2,
    }
}

/// A spec the schema could not refuse but the operator must.
/// The spec's words for a product's attributes as the platform holds them: the inverse of the
/// mappings above, decided by them (no second table). `None` for a value the spec has no word
/// for.
pub mod words {
    use super::*;

    /// `spec.nodeType` of a platform node type.
    #[must_use]
    pub fn node_type(code: i32) -> Option<NodeType> {
        [NodeType::Device, NodeType::Gateway].into_iter().find(|v| node_type_code(*v) == code)
    }

    /// `spec.edition` of an `AliyunCommodityCode`.
    #[must_use]
    pub fn edition(code: &str) -> Option<Edition> {
        [Edition::Basic, Edition::Pro].into_iter().find(|v| edition_code(*v) == code)
    }

    /// `spec.dataFormat` of a platform data format.
    #[must_use]
    pub fn data_format(code: i32) -> Option<DataFormat> {
        [DataFormat::Custom, DataFormat::AlinkJson].into_iter().find(|v| data_format_code(*v) == code)
    }

    /// `spec.netType` of a platform net type.
    #[must_use]
    pub fn net_type(code: i32) -> Option<NetType> {
        [NetType::WiFi, NetType::Cellular, NetType::Ethernet, NetType::LoRa, NetType::Other]
            .into_iter()
            .find(|v| net_type_code(*v) == code)
    }

    /// `spec.protocolType` of a platform protocol type.
    #[must_use]
    pub fn protocol_type(word: &str) -> Option<ProtocolType> {
        [
            ProtocolType::Modbus,
            ProtocolType::OpcUa,
            ProtocolType::Customize,
            ProtocolType::Ble,
            ProtocolType::Zigbee,
        ]
        .into_iter()
        .find(|v| protocol_type_word(*v) == word)
    }

    /// `spec.authType` of a platform auth type.
    #[must_use]
    pub fn auth_type(word: &str) -> Option<AuthType> {
        [AuthType::Secret, AuthType::Id2, AuthType::X509].into_iter().find(|v| auth_type_word(*v) == word)
    }

    /// `spec.validationLevel` of a platform validate type.
    #[must_use]
    pub fn validation_level(code: i32) -> Option<ValidationLevel> {
        [ValidationLevel::Weak, ValidationLevel::None].into_iter().find(|v| validate_type_code(*v) == code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSpec {
    /// The thing model is not a valid TSL document.
    #[error("spec.thingModel is not a valid thing model: {0}; fix the model")]
    ThingModel(String),
    /// `spec.productKey` names a different product than the one this resource manages.
    #[error(
        "spec.productKey is {spec} but this resource already manages product {recorded}; a resource manages one product for life: create a new IotProduct to manage {spec}"
    )]
    KeyChanged {
        /// The key in the spec.
        spec: String,
        /// The key recorded in status.
        recorded: String,
    },
}

/// The thing model to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredThingModel {
    /// The validated model.
    pub model: ThingModel,
    /// Its digest (compared with the platform's).
    pub digest: String,
    /// Description for published versions.
    pub version_description: Option<String>,
}

/// Attributes fixed at creation, in the platform's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedAttributes {
    /// `0` device, `1` gateway.
    pub node_type: i32,
    /// `iothub_senior` or `iothub`.
    pub edition: &'static str,
    /// Data format (Pro only).
    pub data_format: Option<i32>,
    /// Net type word (CreateProduct) and code (QueryProduct).
    pub net_type: Option<(&'static str, i32)>,
    /// Protocol type word.
    pub protocol_type: Option<&'static str>,
    /// Auth type word.
    pub auth_type: Option<&'static str>,
    /// Category key.
    pub category_key: Option<String>,
    /// Validation level code.
    pub validate_type: Option<i32>,
    /// Resource group.
    pub resource_group_id: Option<String>,
}

/// One fixed attribute that differs between the spec and an existing product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The spec field, for example `spec.nodeType`.
    pub field: &'static str,
    /// The platform's value, readable.
    pub platform: String,
    /// The spec's value, readable.
    pub spec: String,
}

impl FixedAttributes {
    /// The attributes of `product` that differ from these (only those the platform reports).
    #[must_use]
    pub fn mismatches(&self, product: &ProductDetails) -> Vec<Mismatch> {
        let mut out = Vec::new();
        let mut check = |field: &'static str, platform: String, spec: String| {
            if platform != spec {
                out.push(Mismatch { field, platform, spec });
            }
        };
        check("spec.nodeType", node_type_name(product.node_type), node_type_name(self.node_type));
        if let Some(code) = &product.aliyun_commodity_code {
            check("spec.edition", edition_name(code), edition_name(self.edition));
        }
        if self.edition == "iothub_senior"
            && let (Some(platform), Some(spec)) = (product.data_format, self.data_format)
        {
            check("spec.dataFormat", data_format_name(platform), data_format_name(spec));
        }
        if let (Some(platform), Some((_, spec))) = (product.net_type, self.net_type) {
            check("spec.netType", net_type_name(platform), net_type_name(spec));
        }
        if let (Some(platform), Some(spec)) = (&product.protocol_type, self.protocol_type) {
            check("spec.protocolType", platform.clone(), spec.to_string());
        }
        if let (Some(platform), Some(spec)) = (&product.auth_type, self.auth_type) {
            check("spec.authType", platform.clone(), spec.to_string());
        }
        if let Some(spec) = &self.category_key {
            check("spec.categoryKey", product.category_key.clone().unwrap_or_default(), spec.clone());
        }
        if let (Some(platform), Some(spec)) = (product.validate_type, self.validate_type) {
            check("spec.validationLevel", platform.to_string(), spec.to_string());
        }
        out
    }
}

fn node_type_name(code: i32) -> String {
    match code {
        0 => "Device".into(),
        1 => "Gateway".into(),
        other => other.to_string(),
    }
}

fn edition_name(code: &str) -> String {
    match code {
        "iothub_senior" => "Pro".into(),
        "iothub" => "Basic".into(),
        other => other.into(),
    }
}

fn data_format_name(code: i32) -> String {
    match code {
        0 => "Custom".into(),
        1 => "AlinkJson".into(),
        other => other.to_string(),
    }
}

fn net_type_name(code: i32) -> String {
    match code {
        3 => "WiFi".into(),
        6 => "Cellular".into(),
        7 => "Ethernet".into(),
        8 => "Other".into(),
        0 => "LoRa".into(),
        other => other.to_string(),
    }
}

/// What the spec asks for, validated and in the platform's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredProduct {
    /// The instance named in the spec (else the account's, else the public one).
    pub instance_id: Option<String>,
    /// The product name.
    pub name: String,
    /// The description.
    pub description: Option<String>,
    /// Fixed attributes.
    pub fixed: FixedAttributes,
    /// Tags the user manages.
    pub tags: BTreeMap<String, String>,
    /// The thing model, when the spec manages it.
    pub thing_model: Option<DesiredThingModel>,
    /// The custom topic categories, when the spec manages them.
    pub topics: Option<Vec<super::parts::DesiredTopic>>,
    /// The data-parsing script, when the spec manages it.
    pub script: Option<super::parts::DesiredScript>,
    /// The AMQP subscription, when the spec has one.
    pub subscription: Option<super::parts::DesiredSubscription>,
    /// Desired publication state.
    pub published: bool,
    /// What to do with changes to a published product.
    pub change_policy: PublishedChangePolicy,
    /// What happens on deletion.
    pub deletion_policy: DeletionPolicy,
    /// A product to adopt.
    pub adopt_key: Option<String>,
    /// Whether a product found by name may be adopted.
    pub adoption: AdoptionPolicy,
    /// What to do when the product disappears from the platform.
    pub out_of_band_deletion: OutOfBandDeletion,
    /// The Secret to write.
    pub secret_name: String,
    /// What the operator may do on the platform.
    pub management: ManagementPolicy,
    /// The ownership marks (`iotop.cluster`, `iotop.owner`) this resource puts on its product;
    /// empty when it puts none (observe-only, or ownership not checked).
    pub ownership: BTreeMap<String, String>,
    /// This resource's own marks (cluster, uid), also when it puts none on the product: a
    /// product marked by anyone else is not this resource's.
    pub identity: Option<(String, String)>,
    /// Which device-affecting actions need a person's approval, and whether this generation
    /// has it (see [`super::impact`]).
    pub impact: super::impact::ImpactPolicy,
}

impl DesiredProduct {
    /// Validates the spec of `product`.
    ///
    /// # Errors
    /// [`InvalidSpec`] for what the schema cannot check: the TSL document, a productKey that
    /// contradicts the one recorded.
    pub fn from_resource(product: &IotProduct) -> Result<Self, InvalidSpec> {
        let spec = &product.spec;
        let recorded = product.status.as_ref().and_then(|s| s.product_key.as_ref());
        if let (Some(spec_key), Some(recorded)) = (&spec.product_key, recorded)
            && spec_key != recorded
        {
            return Err(InvalidSpec::KeyChanged { spec: spec_key.clone(), recorded: recorded.clone() });
        }
        let thing_model = match &spec.thing_model {
            None => None,
            Some(tm) => {
                let model = ThingModel::parse(&tm.document()).map_err(|e| InvalidSpec::ThingModel(e.0))?;
                Some(DesiredThingModel {
                    digest: model.digest(),
                    model,
                    version_description: tm.version_description.clone(),
                })
            }
        };
        let pro = spec.edition == Edition::Pro;
        let name = product.metadata.name.clone().unwrap_or_default();
        Ok(Self {
            instance_id: spec.instance_id.clone(),
            name: spec.product_name.clone(),
            description: spec.description.clone(),
            fixed: FixedAttributes {
                node_type: node_type_code(spec.node_type),
                edition: edition_code(spec.edition),
                data_format: pro.then(|| data_format_code(spec.data_format)),
                net_type: spec.net_type.map(|n| (net_type_word(n), net_type_code(n))),
                protocol_type: spec.protocol_type.map(protocol_type_word),
                auth_type: spec.auth_type.map(auth_type_word),
                category_key: spec.category_key.clone(),
                validate_type: spec.validation_level.map(validate_type_code),
                resource_group_id: spec.resource_group_id.clone(),
            },
            tags: spec.tags.clone(),
            thing_model,
            topics: super::parts::desired_topics(spec),
            script: super::parts::desired_script(spec),
            subscription: super::parts::desired_subscription(spec),
            published: spec.published,
            change_policy: spec.published_change_policy,
            deletion_policy: spec.deletion_policy,
            adopt_key: spec.product_key.clone(),
            adoption: spec.adoption_policy,
            out_of_band_deletion: spec.out_of_band_deletion,
            secret_name: spec.secret_name.clone().unwrap_or_else(|| format!("{name}-credentials")),
            management: spec.management_policy,
            ownership: BTreeMap::new(),
            identity: None,
            impact: super::impact::ImpactPolicy {
                threshold: 0,
                approved_generation: product
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(super::impact::APPROVE_IMPACT_ANNOTATION))
                    .and_then(|v| v.trim().parse().ok()),
                generation: product.metadata.generation.unwrap_or_default(),
            },
        })
    }

    /// Devices above `threshold` (the account's `spec.impactApproval.activatedDevicesAbove`)
    /// need a person's approval before an action reaches them.
    #[must_use]
    pub fn with_impact_threshold(mut self, threshold: i64) -> Self {
        self.impact.threshold = threshold;
        self
    }

    /// Marks the product as managed by the resource `uid` in cluster `cluster_id` (except for
    /// observe-only resources, which never write).
    #[must_use]
    pub fn owned_by(mut self, cluster_id: &str, uid: &str) -> Self {
        self.identity = Some((tag_value(cluster_id), tag_value(uid)));
        // Observing is not managing: an observe-only resource marks nothing.
        if self.management == ManagementPolicy::ObserveOnly {
            return self;
        }
        self.ownership =
            [(CLUSTER_TAG.to_string(), tag_value(cluster_id)), (OWNER_TAG.to_string(), tag_value(uid))]
                .into();
        self
    }

    /// The subscription's consumer groups resolved to the platform's ids, or why they cannot
    /// be (the subscription then waits, and status says why).
    #[must_use]
    pub fn with_consumer_groups(
        mut self,
        resolved: Result<BTreeSet<String>, (crate::reconcile::conditions::Reason, String)>,
    ) -> Self {
        if let Some(subscription) = &mut self.subscription {
            match resolved {
                Ok(ids) => subscription.group_ids = Some(ids),
                Err(waiting) => subscription.waiting = Some(waiting),
            }
        }
        self
    }

    /// Every tag the product should carry: the spec's and the ownership marks.
    #[must_use]
    pub fn all_tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.tags.clone();
        tags.extend(self.ownership.clone());
        tags
    }

    /// The CreateProduct request for this product in `instance` (`None`: the region's public
    /// instance).
    #[must_use]
    pub fn create_request(&self, instance: Option<&str>) -> CreateProduct {
        let pro = self.fixed.edition == "iothub_senior";
        CreateProduct {
            iot_instance_id: instance.map(str::to_string),
            product_name: self.name.clone(),
            node_type: self.fixed.node_type,
            aliyun_commodity_code: pro.then(|| self.fixed.edition.to_string()),
            data_format: self.fixed.data_format,
            description: self.description.clone(),
            protocol_type: self.fixed.protocol_type.map(str::to_string),
            net_type: self.fixed.net_type.map(|(word, _)| word.to_string()),
            auth_type: self.fixed.auth_type.map(str::to_string),
            category_key: self.fixed.category_key.clone(),
            validate_type: self.fixed.validate_type,
            resource_group_id: self.fixed.resource_group_id.clone(),
            // The operator publishes the thing model itself when the spec has one.
            publish_auto: pro.then_some(self.thing_model.is_none()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::product::{IotProductSpec, ThingModel as SpecThingModel};

    fn product(spec: serde_json::Value) -> IotProduct {
        let spec: IotProductSpec = serde_json::from_value(spec).unwrap();
        IotProduct::new("lamp", spec)
    }

    #[test]
    fn readable_words_map_to_the_platforms_values() {
        let p =
            product(serde_json::json!({"productName": "Lamp", "nodeType": "Gateway", "netType": "Cellular",
            "protocolType": "OpcUa", "authType": "X509", "validationLevel": "None", "dataFormat": "Custom"}));
        let d = DesiredProduct::from_resource(&p).unwrap();
        let req = d.create_request(Some("iot-1"));
        assert_eq!(req.node_type, 1);
        assert_eq!(req.aliyun_commodity_code.as_deref(), Some("iothub_senior"));
        assert_eq!(req.data_format, Some(0));
        assert_eq!(req.net_type.as_deref(), Some("CELLULAR"));
        assert_eq!(req.protocol_type.as_deref(), Some("opc-ua"));
        assert_eq!(req.auth_type.as_deref(), Some("x509"));
        assert_eq!(req.validate_type, Some(2));
        assert_eq!(req.publish_auto, Some(true));
        assert_eq!(d.secret_name, "lamp-credentials");
    }

    #[test]
    fn a_basic_product_sends_no_edition_or_data_format() {
        let d = DesiredProduct::from_resource(&product(
            serde_json::json!({"productName": "Lamp", "edition": "Basic"}),
        ))
        .unwrap();
        let req = d.create_request(None);
        assert_eq!((req.aliyun_commodity_code, req.data_format, req.publish_auto), (None, None, None));
    }

    #[test]
    fn an_invalid_thing_model_is_an_invalid_spec_naming_the_problem() {
        let mut p = product(serde_json::json!({"productName": "Lamp"}));
        p.spec.thing_model =
            Some(SpecThingModel { tsl: Some("{\"properties\": 3}".into()), ..SpecThingModel::default() });
        let err = DesiredProduct::from_resource(&p).unwrap_err();
        assert!(err.to_string().contains("properties must be an array"), "{err}");
    }

    #[test]
    fn mismatched_fixed_attributes_are_listed_readably() {
        let d = DesiredProduct::from_resource(&product(
            serde_json::json!({"productName": "Lamp", "netType": "WiFi"}),
        ))
        .unwrap();
        let observed = ProductDetails {
            node_type: 1,
            aliyun_commodity_code: Some("iothub".into()),
            net_type: Some(7),
            ..ProductDetails::default()
        };
        let fields: Vec<(&str, String, String)> =
            d.fixed.mismatches(&observed).into_iter().map(|m| (m.field, m.platform, m.spec)).collect();
        assert_eq!(
            fields,
            vec![
                ("spec.nodeType", "Gateway".into(), "Device".into()),
                ("spec.edition", "Basic".into(), "Pro".into()),
                ("spec.netType", "Ethernet".into(), "WiFi".into()),
            ]
        );
    }
}
