//! The IotProduct manifest of a product as the platform holds it, checked with the
//! controller's own code: the spec is read back by [`DesiredProduct::from_resource`], its fixed
//! attributes compared with [`FixedAttributes::mismatches`](crate::product::desired::FixedAttributes::mismatches),
//! and the planner asked what applying it would do — nothing but the ownership marks.
//!
//! Pure: no I/O.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::crd::IotProduct;
use crate::crd::thing_model::structured_from_tsl;
use crate::product::desired::{DesiredProduct, words};
use crate::product::plan::{self as planner, Action, Mode, Observed, ObservedProduct, Recorded};
use iot_platform::model::{ProductDetails, RELEASE_STATUS};
use iot_platform::tsl::ThingModel;

/// Tag keys the operator writes itself (its ownership marks): never imported.
pub const OPERATOR_TAG_PREFIX: &str = "iotop.";

/// One product to import, as read from the platform.
#[derive(Debug, Clone)]
pub struct PlatformProduct {
    /// QueryProduct's answer.
    pub details: ProductDetails,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Its draft thing model (TSL text), for Pro products.
    pub tsl: Option<String>,
    /// Its custom topic categories.
    pub topics: Vec<crate::product::parts::ObservedTopic>,
    /// Its data-parsing script (ScriptType, text), for custom-format products that have one.
    pub script: Option<(String, String)>,
}

/// Where the manifest goes.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// `metadata.name`.
    pub name: &'a str,
    /// `metadata.namespace`.
    pub namespace: &'a str,
    /// `spec.accountRef.name`.
    pub account: &'a str,
    /// `spec.instanceId`, when not the account's.
    pub instance_id: Option<&'a str>,
}

/// An imported product: its manifest, and what a reader should know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The IotProduct.
    pub manifest: Value,
    /// Comments for the top of its file (each a line).
    pub comments: Vec<String>,
}

/// The manifest of `product`, or why it cannot be imported as it is.
///
/// # Errors
/// A message when the controller's own code would not apply the manifest without changing
/// the product (which import must never cause).
pub fn manifest(product: &PlatformProduct, target: &Target<'_>) -> Result<Imported, String> {
    let details = &product.details;
    let key = details.product_key.as_str();
    let mut comments = vec![format!(
        "Imported from product {key} ({:?}) by `iot-product-operator import`. deletionPolicy: Orphan keeps the \
         product on the platform if this resource is deleted; set Delete once the product is managed here.",
        details.product_name
    )];
    let mut spec = Map::new();
    spec.insert("accountRef".into(), json!({"name": target.account}));
    if let Some(instance) = target.instance_id {
        spec.insert("instanceId".into(), json!(instance));
    }
    spec.insert("productKey".into(), json!(key));
    spec.insert("productName".into(), json!(details.product_name));
    if let Some(description) = details.description.as_deref().filter(|d| !d.is_empty()) {
        spec.insert("description".into(), json!(description));
    }
    let node_type = words::node_type(details.node_type)
        .ok_or_else(|| format!("node type {} has no spec.nodeType", details.node_type))?;
    spec.insert("nodeType".into(), serde_json::to_value(node_type).unwrap_or_default());
    let edition = details.aliyun_commodity_code.as_deref().and_then(words::edition);
    let pro = edition.is_none_or(|e| e == crate::crd::product::Edition::Pro);
    if let Some(edition) = edition {
        spec.insert("edition".into(), serde_json::to_value(edition).unwrap_or_default());
    }
    if pro && let Some(format) = details.data_format.and_then(words::data_format) {
        spec.insert("dataFormat".into(), serde_json::to_value(format).unwrap_or_default());
    }
    let optional: [(&str, Option<Value>); 5] = [
        ("netType", details.net_type.and_then(words::net_type).and_then(|v| serde_json::to_value(v).ok())),
        (
            "protocolType",
            details
                .protocol_type
                .as_deref()
                .and_then(words::protocol_type)
                .and_then(|v| serde_json::to_value(v).ok()),
        ),
        (
            "authType",
            details
                .auth_type
                .as_deref()
                .and_then(words::auth_type)
                .and_then(|v| serde_json::to_value(v).ok()),
        ),
        (
            "validationLevel",
            details
                .validate_type
                .and_then(words::validation_level)
                .and_then(|v| serde_json::to_value(v).ok()),
        ),
        ("categoryKey", details.category_key.clone().filter(|c| !c.is_empty()).map(Value::from)),
    ];
    for (field, value) in optional {
        if let Some(value) = value {
            spec.insert(field.into(), value);
        }
    }
    let tags: BTreeMap<&String, &String> =
        product.tags.iter().filter(|(k, _)| !k.starts_with(OPERATOR_TAG_PREFIX)).collect();
    if !tags.is_empty() {
        spec.insert("tags".into(), json!(tags));
    }
    if let Some(text) = &product.tsl {
        let model = ThingModel::parse(text).map_err(|e| format!("its thing model cannot be read: {e}"))?;
        if model.feature_count() > 0 {
            match structured_from_tsl(&model) {
                Some((properties, events, services)) => {
                    let mut structured = Map::new();
                    for (kind, list) in [
                        ("properties", serde_json::to_value(properties).unwrap_or_default()),
                        ("events", serde_json::to_value(events).unwrap_or_default()),
                        ("services", serde_json::to_value(services).unwrap_or_default()),
                    ] {
                        if list.as_array().is_some_and(|l| !l.is_empty()) {
                            structured.insert(kind.into(), list);
                        }
                    }
                    spec.insert("thingModel".into(), Value::Object(structured));
                }
                None => {
                    comments.push(
                        "The thing model is kept as TSL (spec.thingModel.tsl): its structured form cannot say all \
                         of it (a field or data type the structured schema has no place for)."
                            .into(),
                    );
                    spec.insert("thingModel".into(), json!({"tsl": model.normal_form().to_string()}));
                }
            }
        }
    }
    if !product.topics.is_empty() {
        spec.insert("topics".into(), topics_of(&product.topics)?);
    }
    if let Some((language, text)) = &product.script {
        let language = crate::product::parts::words::language(language).ok_or_else(|| {
            format!("its data-parsing script has a language the operator does not know ({language})")
        })?;
        spec.insert("dataParsing".into(), json!({"language": language, "script": text}));
    }
    spec.insert("published".into(), json!(details.product_status == RELEASE_STATUS));
    spec.insert("deletionPolicy".into(), json!("Orphan"));
    let manifest = json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1",
        "kind": "IotProduct",
        "metadata": {"name": target.name, "namespace": target.namespace},
        "spec": spec,
    });
    check(&manifest, product)?;
    Ok(Imported { manifest, comments })
}

/// `spec.topics` of the platform's topic categories, in their order.
fn topics_of(topics: &[crate::product::parts::ObservedTopic]) -> Result<Value, String> {
    use crate::product::parts::words;
    let mut out = Vec::new();
    for topic in topics {
        let operation = words::operation(&topic.operation).ok_or_else(|| {
            format!("topic {} has an operation the operator does not know ({})", topic.name, topic.operation)
        })?;
        let mut entry = json!({"name": topic.name, "operation": operation});
        if !topic.description.is_empty() {
            entry["description"] = json!(topic.description);
        }
        if topic.proxy_subscribe {
            entry["proxySubscribe"] = json!(true);
        }
        if let Some(codec) = topic.codec.as_deref() {
            let codec = words::codec(codec)
                .ok_or_else(|| format!("topic {} has an unknown codec ({codec})", topic.name))?;
            entry["codec"] = json!(codec);
        }
        out.push(entry);
    }
    Ok(Value::Array(out))
}

/// Applying `manifest` changes nothing on the platform but the ownership marks: the
/// controller's own spec reading, attribute check and planner say so.
fn check(manifest: &Value, product: &PlatformProduct) -> Result<(), String> {
    let resource: IotProduct = serde_json::from_value(manifest.clone())
        .map_err(|e| format!("the manifest is not an IotProduct: {e}"))?;
    let desired = DesiredProduct::from_resource(&resource).map_err(|e| e.to_string())?;
    let mismatches = desired.fixed.mismatches(&product.details);
    if !mismatches.is_empty() {
        let fields: Vec<&str> = mismatches.iter().map(|m| m.field).collect();
        return Err(format!("its fixed attributes do not read back ({})", fields.join(", ")));
    }
    let observed = ObservedProduct {
        details: product.details.clone(),
        tags: product.tags.clone(),
        thing_model_digest: product
            .tsl
            .as_deref()
            .and_then(|t| ThingModel::parse(t).ok())
            .map(|m| m.digest()),
        thing_model_draft: None,
        // What import exports is the draft; the product's published version is the platform's
        // business (the operator looks it up when it adopts the product).
        published_thing_model_digest: desired.thing_model.as_ref().map(|m| m.digest.clone()),
        devices: crate::crd::product::DeviceCounts::default(),
        topics: Some(product.topics.clone()),
        script: Some(match &product.script {
            None => crate::product::parts::ObservedScript::None,
            Some((language, text)) => crate::product::parts::ObservedScript::Present {
                digest: crate::product::parts::script_digest(language, text),
                language: language.clone(),
            },
        }),
        subscription: None,
    };
    let plan =
        planner::plan(&desired, &Observed::Exists(Box::new(observed)), &Recorded::default(), Mode::Apply);
    let changes: Vec<&'static str> = plan
        .actions
        .iter()
        .filter(|a| !matches!(a, Action::CreateTags(_) | Action::UpdateTags(_)))
        .map(Action::operation)
        .collect();
    if changes.is_empty() && plan.blocked.is_none() {
        Ok(())
    } else {
        Err(format!(
            "applying the manifest would not leave the product as it is ({}{})",
            changes.join(", "),
            plan.blocked.map(|b| format!("; {}", b.reason())).unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iot_platform::model::DEVELOPMENT_STATUS;

    const TSL: &str = r#"{"properties":[{"identifier":"Power","name":"Power","accessMode":"rw","required":false,
        "dataType":{"type":"bool","specs":{"0":"off","1":"on"}}}],
        "events":[{"identifier":"post","name":"post","type":"info","required":true,"method":"thing.event.property.post","outputData":[]}],
        "services":[]}"#;

    fn product(published: bool, tsl: Option<&str>) -> PlatformProduct {
        PlatformProduct {
            details: ProductDetails {
                product_key: "a1Key".into(),
                product_name: "智能灯_Lamp".into(),
                description: Some("a lamp".into()),
                node_type: 1,
                aliyun_commodity_code: Some("iothub_senior".into()),
                data_format: Some(1),
                product_status: if published { RELEASE_STATUS } else { DEVELOPMENT_STATUS }.into(),
                ..ProductDetails::default()
            },
            tags: [("team".to_string(), "a".to_string()), ("iotop.owner".to_string(), "x".to_string())]
                .into(),
            tsl: tsl.map(str::to_string),
            topics: Vec::new(),
            script: None,
        }
    }

    fn target() -> Target<'static> {
        Target { name: "lamp-a1key", namespace: "team-a", account: "default", instance_id: None }
    }

    #[test]
    fn topics_and_the_script_are_imported_and_read_back_unchanged() {
        let mut custom = product(true, None);
        custom.details.data_format = Some(0);
        custom.topics = vec![crate::product::parts::ObservedTopic {
            id: "7".into(),
            name: "commands/+".into(),
            operation: "SUB".into(),
            description: "downlink".into(),
            proxy_subscribe: true,
            codec: None,
        }];
        custom.script = Some(("Python_27".into(), "def rawDataToProtocol(b): return {}".into()));
        let spec = manifest(&custom, &target()).unwrap().manifest["spec"].clone();
        assert_eq!(
            spec["topics"],
            json!([{"name": "commands/+", "operation": "SUB", "description": "downlink", "proxySubscribe": true}])
        );
        assert_eq!(
            spec["dataParsing"],
            json!({"language": "Python27", "script": "def rawDataToProtocol(b): return {}"})
        );
    }

    #[test]
    fn a_product_becomes_a_manifest_that_applies_without_a_change() {
        let imported = manifest(&product(true, Some(TSL)), &target()).unwrap();
        let spec = &imported.manifest["spec"];
        assert_eq!(spec["productKey"], "a1Key");
        assert_eq!(spec["nodeType"], "Gateway");
        assert_eq!(spec["edition"], "Pro");
        assert_eq!(spec["dataFormat"], "AlinkJson");
        assert_eq!(spec["published"], true);
        assert_eq!(spec["deletionPolicy"], "Orphan");
        assert_eq!(spec["tags"], json!({"team": "a"}), "the operator's own marks are not imported");
        assert_eq!(spec["thingModel"]["properties"][0]["identifier"], "Power", "structured, not TSL");
        assert!(spec["thingModel"].get("tsl").is_none());
        assert_eq!(imported.manifest["metadata"], json!({"name": "lamp-a1key", "namespace": "team-a"}));
    }

    #[test]
    fn a_model_the_structured_form_cannot_say_stays_tsl_with_a_comment() {
        let odd = r#"{"services":[{"identifier":"Reboot","name":"Reboot","callType":"async","inputData":[
            {"identifier":"Delay","name":"Delay","desc":"seconds","dataType":{"type":"int","specs":{"min":"0","max":"60"}}}],
            "outputData":[]}]}"#;
        let imported = manifest(&product(false, Some(odd)), &target()).unwrap();
        assert!(imported.manifest["spec"]["thingModel"]["tsl"].is_string());
        assert!(imported.comments.iter().any(|c| c.contains("kept as TSL")), "{:?}", imported.comments);
    }

    #[test]
    fn the_same_product_gives_the_same_manifest() {
        let a = manifest(&product(true, Some(TSL)), &target()).unwrap();
        let b = manifest(&product(true, Some(TSL)), &target()).unwrap();
        assert_eq!(
            serde_norway::to_string(&a.manifest).unwrap(),
            serde_norway::to_string(&b.manifest).unwrap()
        );
    }
}
