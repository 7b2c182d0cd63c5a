//! Test fixtures shared by the product modules' unit tests: a spec as the planner reads it,
//! and a product as observing finds it.

use std::collections::BTreeMap;

use iot_platform::model::{DEVELOPMENT_STATUS, ProductDetails, RELEASE_STATUS};

use crate::crd::product::{IotProduct, IotProductSpec};

use super::desired::DesiredProduct;
use super::plan::ObservedProduct;

/// The spec `{"productName": "Lamp"}` with `spec`'s fields over it, as the planner reads it.
pub fn desired(spec: serde_json::Value) -> DesiredProduct {
    let mut base = serde_json::json!({"productName": "Lamp"});
    base.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
    let spec: IotProductSpec = serde_json::from_value(base).unwrap();
    DesiredProduct::from_resource(&IotProduct::new("lamp", spec)).unwrap()
}

/// Product `a1Key` named Lamp (Pro, JSON), published or in development, no tags or model.
pub fn exists(published: bool) -> ObservedProduct {
    ObservedProduct {
        details: ProductDetails {
            product_key: "a1Key".into(),
            product_name: "Lamp".into(),
            product_secret: "s".into(),
            node_type: 0,
            aliyun_commodity_code: Some("iothub_senior".into()),
            data_format: Some(1),
            product_status: if published { RELEASE_STATUS } else { DEVELOPMENT_STATUS }.into(),
            ..ProductDetails::default()
        },
        tags: BTreeMap::new(),
        thing_model_digest: None,
        thing_model_draft: None,
        published_thing_model_digest: None,
        devices: crate::crd::product::DeviceCounts::default(),
        topics: None,
        script: None,
        subscription: None,
    }
}
