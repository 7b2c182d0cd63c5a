//! Custom topic categories of a product: `CreateProductTopic`, `UpdateProductTopic`,
//! `DeleteProductTopic`, `QueryProductTopic` (wire names from the official SDK's models,
//! `alibabacloud-iot20180120` 5.1.0).
//!
//! A topic category's id is a number on the wire in CreateProductTopic's answer (`TopicId`,
//! a Long) and a string everywhere else (`TopicId` parameters, `Id` in QueryProductTopic):
//! this module exposes it as a `String` everywhere and reads either form.

use serde::{Deserialize, Serialize};

use super::{EmptyResponse, Operation};
use crate::wire::{ParamError, Params, WireField};

/// `Operation`: devices may publish to the topic.
pub const TOPIC_PUB: &str = "PUB";
/// `Operation`: devices may subscribe to the topic.
pub const TOPIC_SUB: &str = "SUB";
/// `Operation`: devices may publish and subscribe.
pub const TOPIC_ALL: &str = "ALL";

/// `Codec`: the platform compresses the topic's messages.
pub const CODEC_COMPRESS: &str = "compress";
/// `Codec`: the platform decompresses the topic's messages.
pub const CODEC_DECOMPRESS: &str = "decompress";

/// The code QueryProductTopic answers for an `Operation` sent as `PUB`/`SUB`/`ALL`:
/// `0` publish, `1` subscribe, `2` both (the SDK's docstring of `ProductTopicInfo.Operation`).
#[must_use]
pub fn topic_operation_code(operation: &str) -> Option<&'static str> {
    match operation {
        TOPIC_PUB => Some("0"),
        TOPIC_SUB => Some("1"),
        TOPIC_ALL => Some("2"),
        _ => None,
    }
}

/// The `Operation` (`PUB`/`SUB`/`ALL`) that QueryProductTopic's code stands for.
#[must_use]
pub fn topic_operation_name(code: &str) -> Option<&'static str> {
    match code {
        "0" => Some(TOPIC_PUB),
        "1" => Some(TOPIC_SUB),
        "2" => Some(TOPIC_ALL),
        _ => None,
    }
}

operation! {
    /// Creates a custom topic category (1 QPS per account). Not idempotent: a repeated call
    /// after a lost answer finds the name taken (or, on a platform that allows it, makes a
    /// second category); look the category up with QueryProductTopic first.
    CreateProductTopic => CreateProductTopicResponse, action = "CreateProductTopic", idempotent = false {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// The category below `/${productKey}/${deviceName}/user/`: levels of letters, digits
        /// and `_` separated by `/`, none empty; `+` and `#` (last level) only for `SUB`.
        topic_short_name: String = "TopicShortName",
        /// [`TOPIC_PUB`], [`TOPIC_SUB`] or [`TOPIC_ALL`].
        operation: String = "Operation",
        /// Description, up to 100 characters.
        desc: Option<String> = "Desc",
        /// Delegated subscription (`SUB` and `ALL` only).
        enable_proxy_subscribe: Option<bool> = "EnableProxySubscribe",
        /// [`CODEC_COMPRESS`] or [`CODEC_DECOMPRESS`] (Enterprise instances; not with a wildcard).
        codec: Option<String> = "Codec",
    }
}

operation! {
    /// Changes a custom topic category (50 QPS per account). The fields given replace the
    /// category's; repeating the same change is harmless.
    UpdateProductTopic => EmptyResponse, action = "UpdateProductTopic", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The category (CreateProductTopic's `TopicId`, QueryProductTopic's `Id`).
        topic_id: String = "TopicId",
        /// The new category name (same rules as at creation).
        topic_short_name: Option<String> = "TopicShortName",
        /// [`TOPIC_PUB`], [`TOPIC_SUB`] or [`TOPIC_ALL`].
        operation: Option<String> = "Operation",
        /// Description, up to 100 characters.
        desc: Option<String> = "Desc",
        /// Delegated subscription (`SUB` and `ALL` only).
        enable_proxy_subscribe: Option<bool> = "EnableProxySubscribe",
        /// [`CODEC_COMPRESS`] or [`CODEC_DECOMPRESS`].
        codec: Option<String> = "Codec",
    }
}

operation! {
    /// Deletes a custom topic category (50 QPS per account). Repeating it finds no such
    /// category, which callers treat as done.
    DeleteProductTopic => EmptyResponse, action = "DeleteProductTopic", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The category.
        topic_id: String = "TopicId",
    }
}

operation! {
    /// Lists a product's custom topic categories (3 QPS per account).
    QueryProductTopic => QueryProductTopicResponse, action = "QueryProductTopic", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
    }
}

/// CreateProductTopic's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateProductTopicResponse {
    /// The new category's id: a number on the wire (the SDK's `int`), read from a number or a
    /// string and kept as the string the other operations take.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "numeric_id")]
    pub topic_id: Option<String>,
}

/// QueryProductTopic's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryProductTopicResponse {
    /// The categories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ProductTopicList>,
}

/// The wrapper `{"ProductTopicInfo": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProductTopicList {
    /// Categories, oldest first.
    #[serde(default)]
    pub product_topic_info: Vec<ProductTopicInfo>,
}

/// A custom topic category as QueryProductTopic lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProductTopicInfo {
    /// The category's id (a string here; read from a number too).
    #[serde(default, with = "string_id")]
    pub id: String,
    /// ProductKey.
    #[serde(default)]
    pub product_key: String,
    /// The category name as set.
    #[serde(default)]
    pub topic_short_name: String,
    /// `0` publish, `1` subscribe, `2` both ([`topic_operation_name`] maps it back).
    #[serde(default)]
    pub operation: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// Delegated subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_proxy_subscribe: Option<bool>,
    /// `compress` or `decompress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
}

/// An id read from a JSON number or string.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(i64),
    Text(String),
}

impl NumberOrString {
    fn into_string(self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Text(text) => text,
        }
    }
}

/// An optional id written as a JSON number when it is one (as the platform writes
/// CreateProductTopic's `TopicId`), read from a number or a string.
mod numeric_id {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::NumberOrString;

    #[allow(clippy::ref_option, reason = "serde's `with` passes a reference to the field")]
    pub fn serialize<S: Serializer>(value: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            None => serializer.serialize_none(),
            Some(text) => match text.parse::<i64>() {
                Ok(number) => serializer.serialize_i64(number),
                Err(_) => serializer.serialize_str(text),
            },
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<NumberOrString>::deserialize(deserializer)?.map(NumberOrString::into_string))
    }
}

/// An id written as a string, read from a number or a string.
mod string_id {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::NumberOrString;

    pub fn serialize<S: Serializer>(value: &str, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        Ok(NumberOrString::deserialize(deserializer)?.into_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_operations_round_trip_through_their_wire_parameters() {
        let create = CreateProductTopic {
            iot_instance_id: Some("iot-1".into()),
            product_key: "a1".into(),
            topic_short_name: "cmd/+/set".into(),
            operation: TOPIC_SUB.into(),
            desc: Some("commands".into()),
            enable_proxy_subscribe: Some(true),
            codec: None,
        };
        let params = create.to_params();
        assert!(params.contains(&("EnableProxySubscribe".into(), "true".into())), "{params:?}");
        assert_eq!(CreateProductTopic::from_params(&Params::from_pairs(params)).unwrap(), create);
        let update = UpdateProductTopic {
            topic_id: "100001".into(),
            codec: Some(CODEC_COMPRESS.into()),
            ..UpdateProductTopic::default()
        };
        assert_eq!(UpdateProductTopic::from_params(&Params::from_pairs(update.to_params())).unwrap(), update);
        assert_eq!(
            DeleteProductTopic::from_params(&Params::default()).unwrap_err(),
            ParamError::Missing("TopicId".into())
        );
    }

    #[test]
    fn topic_ids_are_read_from_numbers_and_strings() {
        let created: CreateProductTopicResponse = serde_json::from_str(r#"{"TopicId": 821001}"#).unwrap();
        assert_eq!(created.topic_id.as_deref(), Some("821001"));
        let created: CreateProductTopicResponse = serde_json::from_str(r#"{"TopicId": "821002"}"#).unwrap();
        assert_eq!(created.topic_id.as_deref(), Some("821002"));
        let none: CreateProductTopicResponse = serde_json::from_str("{}").unwrap();
        assert_eq!(none.topic_id, None);
        // Written back as the platform writes it: a number.
        let written =
            serde_json::to_value(CreateProductTopicResponse { topic_id: Some("7".into()) }).unwrap();
        assert_eq!(written, serde_json::json!({"TopicId": 7}));

        let body = r#"{"Data":{"ProductTopicInfo":[
            {"Id":"821003","ProductKey":"a1","TopicShortName":"up","Operation":"0","Desc":"d"},
            {"Id":821004,"ProductKey":"a1","TopicShortName":"cmd/#","Operation":"1","EnableProxySubscribe":true}]}}"#;
        let listed: QueryProductTopicResponse = serde_json::from_str(body).unwrap();
        let topics = listed.data.unwrap().product_topic_info;
        assert_eq!((topics[0].id.as_str(), topics[1].id.as_str()), ("821003", "821004"));
        assert_eq!(topic_operation_name(&topics[1].operation), Some(TOPIC_SUB));
        assert_eq!(topics[1].enable_proxy_subscribe, Some(true));
        let written = serde_json::to_value(&topics[1]).unwrap();
        assert_eq!(written["Id"], "821004");
    }

    #[test]
    fn operation_codes_map_both_ways() {
        for name in [TOPIC_PUB, TOPIC_SUB, TOPIC_ALL] {
            assert_eq!(topic_operation_name(topic_operation_code(name).unwrap()), Some(name));
        }
        assert_eq!(topic_operation_code("pub"), None);
        assert_eq!(topic_operation_name("3"), None);
    }
}
