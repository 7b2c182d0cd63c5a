//! The Secret that holds a product's credentials for device provisioning: ProductKey,
//! ProductSecret, RegionId, IotInstanceId and the devices' MQTT endpoint. It is owned by
//! its `IotProduct` (garbage-collected with it) and labelled as the operator's.
//!
//! Building it is pure; [`super::report`] writes it. Its values are never logged.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// The label every Secret the operator writes carries.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Its value.
pub const MANAGED_BY: &str = "iot-product-operator";
/// The label naming the IotProduct a Secret belongs to.
pub const PRODUCT_LABEL: &str = "iot.productoperator.dev/product";

/// What goes into a product's Secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ProductCredentials {
    /// ProductKey.
    pub product_key: String,
    /// ProductSecret.
    pub product_secret: String,
    /// Region.
    pub region: String,
    /// Instance (the region's public instance id when none is named).
    pub instance_id: String,
}

impl std::fmt::Debug for ProductCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductCredentials")
            .field("product_key", &self.product_key)
            .field("product_secret", &"<redacted>")
            .field("region", &self.region)
            .field("instance_id", &self.instance_id)
            .finish()
    }
}

/// The MQTT endpoint devices of the product connect to: Enterprise and new public instances
/// (`iot-…`) have their own; the old public instances use one per product and region.
#[must_use]
pub fn mqtt_endpoint(credentials: &ProductCredentials) -> String {
    if credentials.instance_id.starts_with("iot-") {
        format!("{}.mqtt.iothub.aliyuncs.com", credentials.instance_id)
    } else {
        format!("{}.iot-as-mqtt.{}.aliyuncs.com", credentials.product_key, credentials.region)
    }
}

/// The data of the Secret.
#[must_use]
pub fn data(credentials: &ProductCredentials) -> BTreeMap<String, ByteString> {
    [
        ("ProductKey", credentials.product_key.clone()),
        ("ProductSecret", credentials.product_secret.clone()),
        ("RegionId", credentials.region.clone()),
        ("IotInstanceId", credentials.instance_id.clone()),
        ("MqttEndpoint", mqtt_endpoint(credentials)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.into_bytes())))
    .collect()
}

/// A fingerprint of a Secret's data (to notice edits without keeping the values).
#[must_use]
pub fn data_hash(data: &BTreeMap<String, ByteString>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (key, value) in data {
        key.hash(&mut hasher);
        value.0.hash(&mut hasher);
    }
    hasher.finish()
}

/// The whole Secret, owned by the product.
#[must_use]
pub fn build(
    name: &str,
    namespace: &str,
    owner: OwnerReference,
    product: &str,
    credentials: &ProductCredentials,
) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(
                [
                    (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
                    (PRODUCT_LABEL.to_string(), product.to_string()),
                ]
                .into(),
            ),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data(credentials)),
        ..Secret::default()
    }
}

/// Whether `existing` already holds exactly what `wanted` would write (data, labels, owner).
#[must_use]
pub fn is_current(existing: &Secret, wanted: &Secret) -> bool {
    let labels_ok = wanted
        .metadata
        .labels
        .iter()
        .flatten()
        .all(|(k, v)| existing.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v));
    let owner_ok = wanted.metadata.owner_references.iter().flatten().all(|o| {
        existing
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|e| e.uid == o.uid && e.controller == o.controller)
    });
    existing.data == wanted.data && labels_ok && owner_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(instance: &str) -> ProductCredentials {
        ProductCredentials {
            product_key: "a1Key".into(),
            product_secret: "s3cr3t".into(),
            region: "cn-shanghai".into(),
            instance_id: instance.into(),
        }
    }

    #[test]
    fn the_mqtt_endpoint_depends_on_the_kind_of_instance() {
        assert_eq!(mqtt_endpoint(&credentials("iot-cn-abc")), "iot-cn-abc.mqtt.iothub.aliyuncs.com");
        assert_eq!(
            mqtt_endpoint(&credentials("iotx-oxssharez200")),
            "a1Key.iot-as-mqtt.cn-shanghai.aliyuncs.com"
        );
    }

    #[test]
    fn debug_output_hides_the_product_secret() {
        assert!(!format!("{:?}", credentials("iot-1")).contains("s3cr3t"));
    }

    #[test]
    fn a_secret_edited_by_someone_else_is_not_current() {
        let owner = OwnerReference { uid: "u1".into(), controller: Some(true), ..OwnerReference::default() };
        let wanted = build("lamp-credentials", "ns", owner, "lamp", &credentials("iot-1"));
        assert!(is_current(&wanted, &wanted));
        let mut edited = wanted.clone();
        edited.data.as_mut().unwrap().insert("ProductSecret".into(), ByteString(b"changed".to_vec()));
        assert!(!is_current(&edited, &wanted));
        let mut unowned = wanted.clone();
        unowned.metadata.owner_references = None;
        assert!(!is_current(&unowned, &wanted));
    }
}
