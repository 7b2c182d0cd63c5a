//! Typed requests and responses of every operation the project uses, with the platform's
//! wire names (taken from the official SDK's models). No kube types here.
//!
//! Products, tags, thing models, distribution and devices are here; custom topic categories
//! (`topics.rs`), data-parsing scripts (`scripts.rs`), and server-side (AMQP/MNS)
//! subscriptions with their consumer groups (`subscriptions.rs`) are in submodules, all
//! re-exported from this module.
//!
//! A request is an [`Operation`]: its action name, whether it is safe to repeat, and its
//! fields with their wire names. Responses are serde types with the platform's JSON keys,
//! used by the client to decode and by the emulator to encode.
//!
//! No I/O happens here.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::wire::{ParamError, Params, Tag, WireField};

/// One platform operation.
pub trait Operation: Sized {
    /// The `Action` name.
    const ACTION: &'static str;
    /// Whether repeating the call after an ambiguous failure (the request may or may not
    /// have been executed) is harmless.
    const IDEMPOTENT: bool;
    /// The decoded response body.
    type Response: DeserializeOwned + Serialize;
    /// The operation's own parameters (common ones are added by the signer).
    fn to_params(&self) -> Vec<(String, String)>;
    /// Reads the operation back from received parameters (the emulator's side).
    ///
    /// # Errors
    /// [`ParamError`] for a missing required parameter or a mistyped one.
    fn from_params(params: &Params) -> Result<Self, ParamError>;
}

macro_rules! operation {
    (
        $(#[$doc:meta])*
        $name:ident => $response:ty, action = $action:literal, idempotent = $idempotent:literal {
            $( $(#[$fdoc:meta])* $field:ident : $ty:ty = $wire:literal ),* $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fdoc])* pub $field: $ty, )*
        }

        impl Operation for $name {
            const ACTION: &'static str = $action;
            const IDEMPOTENT: bool = $idempotent;
            type Response = $response;

            fn to_params(&self) -> Vec<(String, String)> {
                #[allow(unused_mut, reason = "operations without fields")]
                let mut out = Vec::new();
                $( WireField::write(&self.$field, $wire, &mut out); )*
                out
            }

            fn from_params(params: &Params) -> Result<Self, ParamError> {
                let _ = params;
                Ok(Self { $( $field: WireField::read($wire, params)?, )* })
            }
        }
    };
}

// Declared after the macro so that they can use it.
mod scripts;
mod subscriptions;
mod topics;

pub use scripts::*;
pub use subscriptions::*;
pub use topics::*;

// ---- products ----

operation! {
    /// Creates a product. Not idempotent: a repeated call after a lost response fails with
    /// `iot.prod.AlreadyExistedProductName` (names are unique per instance).
    CreateProduct => CreateProductResponse, action = "CreateProduct", idempotent = false {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// Name, 4–30 characters (Chinese count double).
        product_name: String = "ProductName",
        /// `0` device, `1` gateway.
        node_type: i32 = "NodeType",
        /// `iothub_senior` for a Pro product; absent for Basic.
        aliyun_commodity_code: Option<String> = "AliyunCommodityCode",
        /// `0` custom, `1` Alink JSON (Pro only).
        data_format: Option<i32> = "DataFormat",
        /// Description, up to 100 characters.
        description: Option<String> = "Description",
        /// `modbus`, `opc-ua`, `customize`, `ble`, `zigbee`.
        protocol_type: Option<String> = "ProtocolType",
        /// `WIFI`, `CELLULAR`, `ETHERNET`, `LORA`, `OTHER`.
        net_type: Option<String> = "NetType",
        /// `secret`, `id2`, `x509`.
        auth_type: Option<String> = "AuthType",
        /// A standard category key.
        category_key: Option<String> = "CategoryKey",
        /// `1` weak, `2` none.
        validate_type: Option<i32> = "ValidateType",
        /// Resource group id.
        resource_group_id: Option<String> = "ResourceGroupId",
        /// Whether to publish the initial thing model at creation (platform default true).
        publish_auto: Option<bool> = "PublishAuto",
    }
}

operation! {
    /// Renames a product and/or changes its description.
    UpdateProduct => EmptyResponse, action = "UpdateProduct", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// The (new) name; required even when unchanged.
        product_name: String = "ProductName",
        /// The (new) description.
        description: Option<String> = "Description",
    }
}

operation! {
    /// Deletes a product. Repeating it yields `iot.prod.NotExistedProduct`, which callers
    /// treat as done.
    DeleteProduct => EmptyResponse, action = "DeleteProduct", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
    }
}

operation! {
    /// Reads one product, including its ProductSecret and publication status.
    QueryProduct => QueryProductResponse, action = "QueryProduct", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
    }
}

operation! {
    /// Registers one device under a product (30 QPS per account).
    RegisterDevice => RegisterDeviceResponse, action = "RegisterDevice", idempotent = false {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// The device's name (4–32 characters of letters, digits and `-_@.:`); generated
        /// when absent.
        device_name: Option<String> = "DeviceName",
        /// An alias.
        nickname: Option<String> = "Nickname",
    }
}

operation! {
    /// The device statistics of a product (or of the account without one): how many
    /// devices, how many activated, how many online (50 QPS per account).
    QueryDeviceStatistics => QueryDeviceStatisticsResponse, action = "QueryDeviceStatistics", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: Option<String> = "ProductKey",
        /// A device group.
        group_id: Option<String> = "GroupId",
    }
}

operation! {
    /// Lists products of an instance, a page at a time (newest first).
    QueryProductList => QueryProductListResponse, action = "QueryProductList", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// 1-based page number.
        current_page: i32 = "CurrentPage",
        /// Page size, 1–200.
        page_size: i32 = "PageSize",
        /// Filter by edition (`iothub_senior` / `iothub`).
        aliyun_commodity_code: Option<String> = "AliyunCommodityCode",
        /// Filter by resource group.
        resource_group_id: Option<String> = "ResourceGroupId",
    }
}

operation! {
    /// Publishes a product (locks it).
    ReleaseProduct => EmptyResponse, action = "ReleaseProduct", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
    }
}

operation! {
    /// Revokes a product's publication (back to developing).
    CancelReleaseProduct => EmptyResponse, action = "CancelReleaseProduct", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
    }
}

// ---- tags ----

operation! {
    /// Adds tags (keys must be new).
    CreateProductTags => ProductTagsResponse, action = "CreateProductTags", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// Up to 10 tags.
        product_tag: Vec<Tag> = "ProductTag",
    }
}

operation! {
    /// Changes the values of existing tags.
    UpdateProductTags => ProductTagsResponse, action = "UpdateProductTags", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// Up to 10 tags.
        product_tag: Vec<Tag> = "ProductTag",
    }
}

operation! {
    /// Removes tags by key.
    DeleteProductTags => EmptyResponse, action = "DeleteProductTags", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// Up to 10 keys.
        product_tag_key: Vec<String> = "ProductTagKey",
    }
}

operation! {
    /// Lists a product's tags.
    ListProductTags => ListProductTagsResponse, action = "ListProductTags", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
    }
}

operation! {
    /// Finds products carrying any of the given tags.
    ListProductByTags => ListProductByTagsResponse, action = "ListProductByTags", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// Tags (ORed); a tag without a value matches any value.
        product_tag: Vec<Tag> = "ProductTag",
        /// 1-based page number.
        current_page: Option<i32> = "CurrentPage",
        /// Page size, up to 50.
        page_size: Option<i32> = "PageSize",
    }
}

// ---- thing model ----

operation! {
    /// Replaces the draft thing model with a TSL document.
    ImportThingModelTsl => EmptyResponse, action = "ImportThingModelTsl", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// The TSL JSON.
        tsl_str: Option<String> = "TslStr",
    }
}

operation! {
    /// Reads the draft thing model (or a published version) as TSL.
    GetThingModelTsl => GetThingModelTslResponse, action = "GetThingModelTsl", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// A published version; empty means the draft.
        model_version: Option<String> = "ModelVersion",
        /// Only identifiers and data types.
        simple: Option<bool> = "Simple",
    }
}

operation! {
    /// Reads a published thing model (the latest when no version is given) as TSL.
    GetThingModelTslPublished => GetThingModelTslResponse, action = "GetThingModelTslPublished", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// A published version; empty means the latest.
        model_version: Option<String> = "ModelVersion",
        /// Only identifiers and data types.
        simple: Option<bool> = "Simple",
    }
}

operation! {
    /// Publishes the draft thing model as a new version.
    PublishThingModel => EmptyResponse, action = "PublishThingModel", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// Version: 1–16 letters, digits or dots.
        model_version: Option<String> = "ModelVersion",
        /// Version description.
        description: Option<String> = "Description",
    }
}

operation! {
    /// Lists the published thing-model versions, newest first.
    ListThingModelVersion => ListThingModelVersionResponse, action = "ListThingModelVersion", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
    }
}

// ---- distribution ----

operation! {
    /// Creates a job that copies a product to another instance of the same account.
    /// Callable only at the cn-shanghai endpoint. Not idempotent: each call is a new job.
    CreateProductDistributeJob => CreateProductDistributeJobResponse, action = "CreateProductDistributeJob", idempotent = false {
        /// The product.
        product_key: String = "ProductKey",
        /// Where it is.
        source_instance_id: String = "SourceInstanceId",
        /// Where it goes.
        target_instance_id: String = "TargetInstanceId",
        /// Target account id.
        target_uid: Option<String> = "TargetUid",
        /// Target account logon name.
        target_aliyun_id: Option<String> = "TargetAliyunId",
    }
}

operation! {
    /// Reads one distribution job.
    QueryDeviceDistributeJob => QueryDeviceDistributeJobResponse, action = "QueryDeviceDistributeJob", idempotent = true {
        /// The job.
        job_id: String = "JobId",
    }
}

operation! {
    /// Lists distribution jobs.
    ListDeviceDistributeJob => ListDeviceDistributeJobResponse, action = "ListDeviceDistributeJob", idempotent = true {
        /// Page size, 1–200.
        page_size: i32 = "PageSize",
        /// 1-based page.
        current_page: Option<i32> = "CurrentPage",
        /// Continuation token (wins over CurrentPage).
        next_token: Option<String> = "NextToken",
        /// Filter by job.
        job_id: Option<String> = "JobId",
        /// Filter by product.
        product_key: Option<String> = "ProductKey",
        /// Filter by target account.
        target_uid: Option<String> = "TargetUid",
        /// Filter by status.
        status: Option<i32> = "Status",
    }
}

operation! {
    /// Deletes a distribution job record.
    DeleteDeviceDistributeJob => EmptyResponse, action = "DeleteDeviceDistributeJob", idempotent = true {
        /// The job.
        job_id: String = "JobId",
    }
}

operation! {
    /// Lists products that were distributed.
    ListDistributedProduct => ListDistributedProductResponse, action = "ListDistributedProduct", idempotent = true {
        /// 1-based page.
        current_page: i32 = "CurrentPage",
        /// Page size, up to 200.
        page_size: i32 = "PageSize",
        /// Filter by product.
        product_key: Option<String> = "ProductKey",
        /// Filter by source instance.
        source_instance_id: Option<String> = "SourceInstanceId",
        /// Filter by target instance.
        target_instance_id: Option<String> = "TargetInstanceId",
        /// Filter by target account.
        target_uid: Option<String> = "TargetUid",
    }
}

// ---- responses ----

/// The fields every response carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    /// The platform's id of the request (for support).
    #[serde(default)]
    pub request_id: String,
    /// Whether the call succeeded (business errors come back as HTTP 200 with `false`).
    #[serde(default)]
    pub success: Option<bool>,
    /// The error code when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The error message when it failed (business errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The error message of gateway errors (which use `Message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A response with nothing beyond the envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyResponse {}

/// CreateProduct's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateProductResponse {
    /// The new product's key (also in `data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_key: Option<String>,
    /// The new product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<CreatedProduct>,
}

/// The product CreateProduct returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatedProduct {
    /// ProductKey.
    pub product_key: String,
    /// ProductName.
    #[serde(default)]
    pub product_name: String,
    /// ProductSecret (a credential).
    #[serde(default)]
    pub product_secret: crate::secret::Secret,
    /// `iothub_senior` or `iothub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aliyun_commodity_code: Option<String>,
    /// Authentication type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    /// Data format (Pro only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_format: Option<i32>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// ID² enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2: Option<bool>,
    /// Node type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<i32>,
    /// Sub-device protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_type: Option<String>,
    /// Resource group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group_id: Option<String>,
}

/// RegisterDevice's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterDeviceResponse {
    /// The device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<RegisteredDevice>,
}

/// A registered device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisteredDevice {
    /// The device's globally unique id.
    #[serde(default)]
    pub iot_id: String,
    /// Its product.
    #[serde(default)]
    pub product_key: String,
    /// Its name.
    #[serde(default)]
    pub device_name: String,
    /// Its DeviceSecret (a credential).
    #[serde(default)]
    pub device_secret: crate::secret::Secret,
    /// Its alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
}

/// QueryDeviceStatistics' response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryDeviceStatisticsResponse {
    /// The counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DeviceStatistics>,
}

/// How many devices a product has (the platform spells these keys in lower camel case).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceStatistics {
    /// Every device registered.
    #[serde(default)]
    pub device_count: i64,
    /// Devices that have connected at least once.
    #[serde(default)]
    pub active_count: i64,
    /// Devices connected now.
    #[serde(default)]
    pub online_count: i64,
}

/// QueryProduct's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryProductResponse {
    /// The product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ProductDetails>,
}

/// Everything QueryProduct tells about a product.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProductDetails {
    /// ProductKey.
    pub product_key: String,
    /// ProductName.
    #[serde(default)]
    pub product_name: String,
    /// ProductSecret (a credential).
    #[serde(default)]
    pub product_secret: crate::secret::Secret,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `0` device, `1` gateway.
    #[serde(default)]
    pub node_type: i32,
    /// `0` custom, `1` Alink JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_format: Option<i32>,
    /// `iothub_senior` or `iothub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aliyun_commodity_code: Option<String>,
    /// Sub-device protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_type: Option<String>,
    /// Network type as an integer: `3` Wi-Fi, `6` cellular, `7` Ethernet, `8` other,
    /// `0` LoRa.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_type: Option<i32>,
    /// `secret`, `id2` or `x509`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    /// ID² enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2: Option<bool>,
    /// Category key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_key: Option<String>,
    /// Category name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_name: Option<String>,
    /// Devices of the product.
    #[serde(default)]
    pub device_count: i32,
    /// Created, epoch milliseconds.
    #[serde(default)]
    pub gmt_create: i64,
    /// Whether the caller owns the product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<bool>,
    /// `DEVELOPMENT_STATUS` or `RELEASE_STATUS`.
    #[serde(default)]
    pub product_status: String,
    /// `0` strong, `1` weak, `2` none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_type: Option<i32>,
}

/// `ProductStatus` of a published product.
pub const RELEASE_STATUS: &str = "RELEASE_STATUS";
/// `ProductStatus` of a product in development.
pub const DEVELOPMENT_STATUS: &str = "DEVELOPMENT_STATUS";

/// QueryProductList's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryProductListResponse {
    /// The page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ProductPage>,
}

/// A page of products.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProductPage {
    /// This page's number.
    #[serde(default)]
    pub current_page: i32,
    /// Page size.
    #[serde(default)]
    pub page_size: i32,
    /// Number of pages.
    #[serde(default)]
    pub page_count: i32,
    /// Number of products.
    #[serde(default)]
    pub total: i32,
    /// The products.
    #[serde(default)]
    pub list: ProductInfoList,
}

/// The XML-mirroring wrapper `{"ProductInfo": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProductInfoList {
    /// The products.
    #[serde(default)]
    pub product_info: Vec<ProductSummary>,
}

/// A product as listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProductSummary {
    /// ProductKey.
    pub product_key: String,
    /// ProductName.
    #[serde(default)]
    pub product_name: String,
    /// Node type.
    #[serde(default)]
    pub node_type: i32,
    /// Data format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_format: Option<i32>,
    /// Devices.
    #[serde(default)]
    pub device_count: i32,
    /// Created, epoch milliseconds.
    #[serde(default)]
    pub gmt_create: i64,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Authentication type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
}

/// CreateProductTags / UpdateProductTags response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProductTagsResponse {
    /// Tags the platform refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_product_tags: Option<TagList>,
}

/// The wrapper `{"ProductTag": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagList {
    /// Tags.
    #[serde(default)]
    pub product_tag: Vec<Tag>,
}

/// ListProductTags's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListProductTagsResponse {
    /// The tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<TagList>,
}

/// ListProductByTags's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListProductByTagsResponse {
    /// The products.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_infos: Option<TaggedProductList>,
}

/// The wrapper `{"ProductInfo": [...]}` of ListProductByTags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaggedProductList {
    /// Products.
    #[serde(default)]
    pub product_info: Vec<TaggedProduct>,
}

/// A product found by tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaggedProduct {
    /// ProductKey.
    pub product_key: String,
    /// ProductName.
    #[serde(default)]
    pub product_name: String,
    /// Node type.
    #[serde(default)]
    pub node_type: i32,
    /// Created, epoch milliseconds.
    #[serde(default)]
    pub create_time: i64,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// GetThingModelTsl's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetThingModelTslResponse {
    /// The TSL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<TslData>,
}

/// A thing model as TSL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TslData {
    /// The TSL JSON.
    #[serde(default)]
    pub tsl_str: String,
    /// A download URL of the TSL (may be empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsl_uri: Option<String>,
}

/// ListThingModelVersion's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListThingModelVersionResponse {
    /// The versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ModelVersions>,
}

/// The versions, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModelVersions {
    /// Versions.
    #[serde(default)]
    pub model_versions: Vec<ModelVersion>,
}

/// One published thing-model version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModelVersion {
    /// The version.
    pub model_version: String,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Published, epoch milliseconds.
    #[serde(default)]
    pub gmt_create: i64,
}

/// CreateProductDistributeJob's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateProductDistributeJobResponse {
    /// The new job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

/// QueryDeviceDistributeJob's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryDeviceDistributeJobResponse {
    /// The job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DistributeJob>,
}

/// Job status `0`: initializing.
pub const JOB_INITIALIZING: i32 = 0;
/// Job status `1`: running.
pub const JOB_RUNNING: i32 = 1;
/// Job status `2`: completed.
pub const JOB_COMPLETED: i32 = 2;
/// Job status `3`: interrupted.
pub const JOB_INTERRUPTED: i32 = 3;

/// A distribution job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DistributeJob {
    /// Job id.
    pub job_id: String,
    /// Product.
    #[serde(default)]
    pub product_key: String,
    /// Source instance.
    #[serde(default)]
    pub source_instance_id: String,
    /// Source account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uid: Option<String>,
    /// Target account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_uid: Option<String>,
    /// `0` initializing, `1` running, `2` completed, `3` interrupted.
    #[serde(default)]
    pub status: i32,
    /// `0` fixed instance, `1` nearest region.
    #[serde(default)]
    pub strategy: i32,
    /// Created, epoch milliseconds.
    #[serde(default)]
    pub gmt_create: i64,
    /// Devices distributed.
    #[serde(default)]
    pub total: i32,
    /// Targets.
    #[serde(default)]
    pub target_instance_configs: TargetInstanceConfigs,
}

/// The wrapper `{"targetInstanceConfigs": [...]}` (lower-case on the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInstanceConfigs {
    /// Targets.
    #[serde(default, rename = "targetInstanceConfigs")]
    pub target_instance_configs: Vec<TargetInstanceConfig>,
}

/// One target of a job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetInstanceConfig {
    /// Target instance.
    pub target_instance_id: String,
}

/// ListDeviceDistributeJob's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDeviceDistributeJobResponse {
    /// The jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<JobPage>,
}

/// A page of jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobPage {
    /// Number of jobs.
    #[serde(default)]
    pub total: i32,
    /// Continuation token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// The jobs.
    #[serde(default)]
    pub job_info: JobItems,
}

/// The wrapper `{"items": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobItems {
    /// Jobs.
    #[serde(default)]
    pub items: Vec<DistributeJob>,
}

/// ListDistributedProduct's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDistributedProductResponse {
    /// The distributed products.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DistributedPage>,
}

/// A page of distributed products.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DistributedPage {
    /// Number of entries.
    #[serde(default)]
    pub total: i32,
    /// Entries.
    #[serde(default)]
    pub info: DistributedItems,
}

/// The wrapper `{"items": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributedItems {
    /// Entries.
    #[serde(default)]
    pub items: Vec<DistributedProduct>,
}

/// A product distributed to an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DistributedProduct {
    /// Product.
    pub product_key: String,
    /// Source instance.
    #[serde(default)]
    pub source_instance_id: String,
    /// Source account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uid: Option<String>,
    /// Source region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_region: Option<String>,
    /// Target instance.
    #[serde(default)]
    pub target_instance_id: String,
    /// Target region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_region: Option<String>,
    /// Target account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_uid: Option<String>,
    /// Target logon name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_aliyun_id: Option<String>,
    /// Distributed, epoch milliseconds.
    #[serde(default)]
    pub gmt_create: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<O: Operation + PartialEq + std::fmt::Debug>(op: O) {
        let params = Params::from_pairs(op.to_params());
        assert_eq!(O::from_params(&params).expect("parses"), op);
    }

    #[test]
    fn operations_round_trip_through_their_wire_parameters() {
        round_trip(CreateProduct {
            iot_instance_id: Some("iot-1".into()),
            product_name: "智能灯_01".into(),
            node_type: 1,
            aliyun_commodity_code: Some("iothub_senior".into()),
            data_format: Some(1),
            description: Some("a b".into()),
            net_type: Some("WIFI".into()),
            publish_auto: Some(false),
            ..CreateProduct::default()
        });
        round_trip(CreateProductTags {
            product_key: "a1".into(),
            product_tag: vec![Tag { tag_key: "k".into(), tag_value: "v".into() }],
            ..CreateProductTags::default()
        });
        round_trip(DeleteProductTags {
            product_key: "a1".into(),
            product_tag_key: vec!["k1".into(), "k2".into()],
            ..DeleteProductTags::default()
        });
        round_trip(CreateProductDistributeJob {
            product_key: "a1".into(),
            source_instance_id: "s".into(),
            target_instance_id: "t".into(),
            target_uid: Some("1".into()),
            target_aliyun_id: None,
        });
    }

    #[test]
    fn a_missing_required_parameter_is_named() {
        let err = QueryProduct::from_params(&Params::default()).unwrap_err();
        assert_eq!(err, ParamError::Missing("ProductKey".into()));
    }

    #[test]
    fn responses_use_the_platforms_json_keys() {
        let body = r#"{"RequestId":"r","Success":true,"Data":{"CurrentPage":1,"PageSize":10,"PageCount":1,"Total":1,
            "List":{"ProductInfo":[{"ProductKey":"a1","ProductName":"Lamp","NodeType":0,"DeviceCount":0,"GmtCreate":1}]}}}"#;
        let page: QueryProductListResponse = serde_json::from_str(body).unwrap();
        assert_eq!(page.data.unwrap().list.product_info[0].product_key, "a1");
        let job = r#"{"Data":{"JobId":"j","Status":2,"TargetInstanceConfigs":{"targetInstanceConfigs":[{"TargetInstanceId":"t"}]}}}"#;
        let job: QueryDeviceDistributeJobResponse = serde_json::from_str(job).unwrap();
        assert_eq!(
            job.data.unwrap().target_instance_configs.target_instance_configs[0].target_instance_id,
            "t"
        );
    }
}
