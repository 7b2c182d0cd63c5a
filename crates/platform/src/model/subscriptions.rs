//! Server-side subscriptions and the consumer groups AMQP subscriptions push to:
//! `CreateSubscribeRelation`, `UpdateSubscribeRelation`, `QuerySubscribeRelation`,
//! `DeleteSubscribeRelation`, `CreateConsumerGroup`, `UpdateConsumerGroup`,
//! `DeleteConsumerGroup`, `QueryConsumerGroupList`, `QueryConsumerGroupByGroupId`,
//! `QueryConsumerGroupStatus` (wire names from the official SDK's models).
//!
//! A product has at most one subscription per type (`AMQP`, `MNS`). An AMQP subscription
//! pushes to one or more consumer groups of the same instance (`ConsumerGroupIds.1`,
//! `ConsumerGroupIds.2`, …); an MNS subscription to the queue its `MnsConfiguration` names.

use serde::{Deserialize, Serialize};

use super::{EmptyResponse, Operation};
use crate::wire::{ParamError, Params, WireField};

/// `Type` of an AMQP subscription.
pub const SUBSCRIBE_AMQP: &str = "AMQP";
/// `Type` of an MNS subscription.
pub const SUBSCRIBE_MNS: &str = "MNS";
/// The consumer group every instance has (it cannot be renamed or deleted).
pub const DEFAULT_CONSUMER_GROUP: &str = "DEFAULT_GROUP";

operation! {
    /// Creates a product's subscription of one type (5 QPS per account). Not idempotent: a
    /// repeated call after a lost answer finds the subscription there.
    CreateSubscribeRelation => EmptyResponse, action = "CreateSubscribeRelation", idempotent = false {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// [`SUBSCRIBE_AMQP`] or [`SUBSCRIBE_MNS`].
        subscribe_type: String = "Type",
        /// Consumer groups to push to (AMQP; at least one).
        consumer_group_ids: Vec<String> = "ConsumerGroupIds",
        /// The queue, as JSON `{"queueName", "regionName", "role": {"roleArn", "roleName"}}` (MNS).
        mns_configuration: Option<String> = "MnsConfiguration",
        /// Upstream device messages.
        device_data_flag: Option<bool> = "DeviceDataFlag",
        /// Device status changes.
        device_status_change_flag: Option<bool> = "DeviceStatusChangeFlag",
        /// Topological relationship changes (gateways).
        device_topo_life_cycle_flag: Option<bool> = "DeviceTopoLifeCycleFlag",
        /// Sub-devices a gateway found (gateways).
        found_device_list_flag: Option<bool> = "FoundDeviceListFlag",
        /// Historical TSL data.
        thing_history_flag: Option<bool> = "ThingHistoryFlag",
        /// Device lifecycle changes.
        device_life_cycle_flag: Option<bool> = "DeviceLifeCycleFlag",
        /// OTA batch status (events).
        ota_event_flag: Option<bool> = "OtaEventFlag",
        /// OTA module versions (AMQP).
        ota_version_flag: Option<bool> = "OtaVersionFlag",
        /// OTA job status (AMQP).
        ota_job_flag: Option<bool> = "OtaJobFlag",
        /// Device tag changes (AMQP).
        device_tag_flag: Option<bool> = "DeviceTagFlag",
        /// Further flags as a JSON object, for example `{"jt808DeviceDataFlag": true}`.
        subscribe_flags: Option<String> = "SubscribeFlags",
    }
}

operation! {
    /// Replaces a product's subscription of one type (5 QPS per account): every flag takes
    /// the value sent (absent means `false`), and the consumer groups or queue are replaced.
    UpdateSubscribeRelation => EmptyResponse, action = "UpdateSubscribeRelation", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// [`SUBSCRIBE_AMQP`] or [`SUBSCRIBE_MNS`].
        subscribe_type: String = "Type",
        /// Consumer groups to push to (AMQP; at least one).
        consumer_group_ids: Vec<String> = "ConsumerGroupIds",
        /// The queue, as JSON (MNS).
        mns_configuration: Option<String> = "MnsConfiguration",
        /// Upstream device messages.
        device_data_flag: Option<bool> = "DeviceDataFlag",
        /// Device status changes.
        device_status_change_flag: Option<bool> = "DeviceStatusChangeFlag",
        /// Topological relationship changes (gateways).
        device_topo_life_cycle_flag: Option<bool> = "DeviceTopoLifeCycleFlag",
        /// Sub-devices a gateway found (gateways).
        found_device_list_flag: Option<bool> = "FoundDeviceListFlag",
        /// Historical TSL data.
        thing_history_flag: Option<bool> = "ThingHistoryFlag",
        /// Device lifecycle changes.
        device_life_cycle_flag: Option<bool> = "DeviceLifeCycleFlag",
        /// OTA batch status (events).
        ota_event_flag: Option<bool> = "OtaEventFlag",
        /// OTA module versions (AMQP).
        ota_version_flag: Option<bool> = "OtaVersionFlag",
        /// OTA job status (AMQP).
        ota_job_flag: Option<bool> = "OtaJobFlag",
        /// Device tag changes (AMQP).
        device_tag_flag: Option<bool> = "DeviceTagFlag",
        /// Further flags as a JSON object.
        subscribe_flags: Option<String> = "SubscribeFlags",
    }
}

operation! {
    /// Reads a product's subscription of one type (5 QPS per account).
    QuerySubscribeRelation => QuerySubscribeRelationResponse, action = "QuerySubscribeRelation", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// [`SUBSCRIBE_AMQP`] or [`SUBSCRIBE_MNS`].
        subscribe_type: String = "Type",
    }
}

operation! {
    /// Deletes a product's subscription of one type (5 QPS per account). Repeating it finds no
    /// subscription, which callers treat as done.
    DeleteSubscribeRelation => EmptyResponse, action = "DeleteSubscribeRelation", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
        /// [`SUBSCRIBE_AMQP`] or [`SUBSCRIBE_MNS`].
        subscribe_type: String = "Type",
    }
}

operation! {
    /// Creates a consumer group (5 QPS per account). Not idempotent: each call that succeeds
    /// is a new group; a repeated call after a lost answer finds the name taken.
    CreateConsumerGroup => CreateConsumerGroupResponse, action = "CreateConsumerGroup", idempotent = false {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// 4–30 characters of letters, digits, `_` and Chinese (counting two).
        group_name: String = "GroupName",
    }
}

operation! {
    /// Renames a consumer group (5 QPS per account; not the default group).
    UpdateConsumerGroup => EmptyResponse, action = "UpdateConsumerGroup", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The group.
        group_id: String = "GroupId",
        /// The new name (same rules as at creation).
        new_group_name: String = "NewGroupName",
    }
}

operation! {
    /// Deletes a consumer group (5 QPS per account; not the default group, not one a
    /// subscription still pushes to).
    DeleteConsumerGroup => EmptyResponse, action = "DeleteConsumerGroup", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The group.
        group_id: String = "GroupId",
    }
}

operation! {
    /// Lists the instance's consumer groups, a page at a time (5 QPS per account).
    QueryConsumerGroupList => QueryConsumerGroupListResponse, action = "QueryConsumerGroupList", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// 1-based page number.
        current_page: i32 = "CurrentPage",
        /// Page size, 1–1000.
        page_size: i32 = "PageSize",
        /// `true`: only groups whose name contains `group_name` (which is then required).
        fuzzy: Option<bool> = "Fuzzy",
        /// The name to look for (with `fuzzy`).
        group_name: Option<String> = "GroupName",
        /// A business code (the SDK lists it; the emulator ignores it).
        sub_biz_code: Option<String> = "SubBizCode",
        /// A group type (the SDK lists it; the emulator ignores it).
        group_type: Option<String> = "Type",
    }
}

operation! {
    /// Reads one consumer group (5 QPS per account).
    QueryConsumerGroupByGroupId => QueryConsumerGroupByGroupIdResponse, action = "QueryConsumerGroupByGroupId", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The group.
        group_id: String = "GroupId",
    }
}

operation! {
    /// A consumer group's backlog, speed and connected clients (5 QPS per account).
    QueryConsumerGroupStatus => QueryConsumerGroupStatusResponse, action = "QueryConsumerGroupStatus", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The group.
        group_id: String = "GroupId",
    }
}

/// QuerySubscribeRelation's response (the fields are at the top level, not under `Data`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QuerySubscribeRelationResponse {
    /// The product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_key: Option<String>,
    /// `AMQP` or `MNS`.
    #[serde(default, rename = "Type", skip_serializing_if = "Option::is_none")]
    pub subscribe_type: Option<String>,
    /// The consumer groups (AMQP).
    #[serde(default)]
    pub consumer_group_ids: Vec<String>,
    /// The queue, as JSON (MNS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mns_configuration: Option<String>,
    /// Further flags, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_flags: Option<String>,
    /// Upstream device messages.
    #[serde(default)]
    pub device_data_flag: bool,
    /// Device status changes.
    #[serde(default)]
    pub device_status_change_flag: bool,
    /// Topological relationship changes.
    #[serde(default)]
    pub device_topo_life_cycle_flag: bool,
    /// Sub-devices a gateway found.
    #[serde(default)]
    pub found_device_list_flag: bool,
    /// Historical TSL data.
    #[serde(default)]
    pub thing_history_flag: bool,
    /// Device lifecycle changes.
    #[serde(default)]
    pub device_life_cycle_flag: bool,
    /// OTA batch status.
    #[serde(default)]
    pub ota_event_flag: bool,
    /// OTA module versions.
    #[serde(default)]
    pub ota_version_flag: bool,
    /// OTA job status.
    #[serde(default)]
    pub ota_job_flag: bool,
    /// Device tag changes.
    #[serde(default)]
    pub device_tag_flag: bool,
}

/// CreateConsumerGroup's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateConsumerGroupResponse {
    /// The new group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

/// A consumer group as listed and read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConsumerGroupInfo {
    /// Its id.
    #[serde(default)]
    pub group_id: String,
    /// Its name.
    #[serde(default)]
    pub group_name: String,
    /// Created, ISO 8601 in UTC with milliseconds (`2020-05-20T00:05:20.000Z`).
    #[serde(default)]
    pub create_time: String,
}

/// QueryConsumerGroupList's response (the page fields are at the top level).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryConsumerGroupListResponse {
    /// This page's number.
    #[serde(default)]
    pub current_page: i32,
    /// Page size.
    #[serde(default)]
    pub page_size: i32,
    /// Number of pages.
    #[serde(default)]
    pub page_count: i32,
    /// Number of groups.
    #[serde(default)]
    pub total: i32,
    /// The groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ConsumerGroupList>,
}

/// The wrapper `{"ConsumerGroupDTO": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerGroupList {
    /// Groups.
    #[serde(default, rename = "ConsumerGroupDTO")]
    pub consumer_group_dto: Vec<ConsumerGroupInfo>,
}

/// QueryConsumerGroupByGroupId's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryConsumerGroupByGroupIdResponse {
    /// The group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ConsumerGroupInfo>,
}

/// QueryConsumerGroupStatus's response (at the top level).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryConsumerGroupStatusResponse {
    /// Messages waiting to be consumed.
    #[serde(default)]
    pub accumulation_count: i64,
    /// Consumption rate, messages per minute.
    #[serde(default)]
    pub consumer_speed: i64,
    /// Real-time messages consumed per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_time_consume_count_per_minute: Option<i64>,
    /// Accumulated messages consumed per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accumulated_consume_count_per_minute: Option<i64>,
    /// When a message was last consumed, ISO 8601 in UTC with milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_consumer_time: Option<String>,
    /// The connected clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_connection_status_list: Option<ClientConnectionStatusList>,
}

/// The wrapper `{"ConsumerGroupClientConnectionInfo": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientConnectionStatusList {
    /// Clients.
    #[serde(default)]
    pub consumer_group_client_connection_info: Vec<ClientConnectionInfo>,
}

/// One AMQP client of a consumer group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientConnectionInfo {
    /// The client's id.
    #[serde(default)]
    pub client_id: String,
    /// Its address and port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip_port: Option<String>,
    /// Last seen online, epoch milliseconds.
    #[serde(default)]
    pub online_time: i64,
    /// Real-time messages it consumes per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_time_consume_count_per_minute: Option<i64>,
    /// Accumulated messages it consumes per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accumulated_consume_count_per_minute: Option<i64>,
}

impl From<CreateSubscribeRelation> for UpdateSubscribeRelation {
    /// The update that makes a product's subscription what `create` would have made it.
    fn from(create: CreateSubscribeRelation) -> Self {
        Self {
            iot_instance_id: create.iot_instance_id,
            product_key: create.product_key,
            subscribe_type: create.subscribe_type,
            consumer_group_ids: create.consumer_group_ids,
            mns_configuration: create.mns_configuration,
            device_data_flag: create.device_data_flag,
            device_status_change_flag: create.device_status_change_flag,
            device_topo_life_cycle_flag: create.device_topo_life_cycle_flag,
            found_device_list_flag: create.found_device_list_flag,
            thing_history_flag: create.thing_history_flag,
            device_life_cycle_flag: create.device_life_cycle_flag,
            ota_event_flag: create.ota_event_flag,
            ota_version_flag: create.ota_version_flag,
            ota_job_flag: create.ota_job_flag,
            device_tag_flag: create.device_tag_flag,
            subscribe_flags: create.subscribe_flags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_group_ids_use_the_repeat_list_flattening_and_round_trip() {
        let create = CreateSubscribeRelation {
            product_key: "a1".into(),
            subscribe_type: SUBSCRIBE_AMQP.into(),
            consumer_group_ids: vec!["g1".into(), "DEFAULT_GROUP".into()],
            device_data_flag: Some(true),
            ota_job_flag: Some(false),
            subscribe_flags: Some(r#"{"jt808DeviceDataFlag":true}"#.into()),
            ..CreateSubscribeRelation::default()
        };
        let params = create.to_params();
        assert!(params.contains(&("ConsumerGroupIds.1".into(), "g1".into())), "{params:?}");
        assert!(params.contains(&("ConsumerGroupIds.2".into(), "DEFAULT_GROUP".into())), "{params:?}");
        assert!(params.contains(&("Type".into(), "AMQP".into())), "{params:?}");
        assert!(!params.iter().any(|(name, _)| name == "DeviceTagFlag"), "absent flags are not sent");
        assert_eq!(CreateSubscribeRelation::from_params(&Params::from_pairs(params)).unwrap(), create);

        // As the official Python SDKs send them: `True` and a list index per group.
        let sent = Params::from_pairs(
            [
                ("ProductKey", "a1"),
                ("Type", "AMQP"),
                ("ConsumerGroupIds.1", "g1"),
                ("DeviceDataFlag", "True"),
                ("DeviceTagFlag", "False"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let update = UpdateSubscribeRelation::from_params(&sent).unwrap();
        assert_eq!(update.consumer_group_ids, vec!["g1".to_string()]);
        assert_eq!((update.device_data_flag, update.device_tag_flag), (Some(true), Some(false)));
        assert_eq!(
            UpdateSubscribeRelation::from_params(&Params::from_pairs(update.to_params())).unwrap(),
            update
        );

        let empty = CreateSubscribeRelation {
            product_key: "a1".into(),
            subscribe_type: SUBSCRIBE_MNS.into(),
            mns_configuration: Some("{}".into()),
            ..CreateSubscribeRelation::default()
        };
        let params = empty.to_params();
        assert!(!params.iter().any(|(name, _)| name.starts_with("ConsumerGroupIds")), "{params:?}");
        assert_eq!(CreateSubscribeRelation::from_params(&Params::from_pairs(params)).unwrap(), empty);
    }

    #[test]
    fn consumer_group_operations_round_trip() {
        let list = QueryConsumerGroupList {
            iot_instance_id: Some("iot-1".into()),
            current_page: 2,
            page_size: 50,
            fuzzy: Some(true),
            group_name: Some("orders".into()),
            sub_biz_code: None,
            group_type: None,
        };
        assert_eq!(QueryConsumerGroupList::from_params(&Params::from_pairs(list.to_params())).unwrap(), list);
        let rename = UpdateConsumerGroup {
            iot_instance_id: None,
            group_id: "g1".into(),
            new_group_name: "orders_2".into(),
        };
        assert_eq!(
            UpdateConsumerGroup::from_params(&Params::from_pairs(rename.to_params())).unwrap(),
            rename
        );
        assert_eq!(
            QuerySubscribeRelation::from_params(&Params::from_pairs([("ProductKey".into(), "a1".into())]))
                .unwrap_err(),
            ParamError::Missing("Type".into())
        );
    }

    #[test]
    fn responses_use_the_sdks_keys() {
        let body = r#"{"ProductKey":"a1","Type":"AMQP","ConsumerGroupIds":["g1","g2"],"DeviceDataFlag":true,
            "OtaJobFlag":true,"SubscribeFlags":"{}"}"#;
        let relation: QuerySubscribeRelationResponse = serde_json::from_str(body).unwrap();
        assert_eq!(relation.consumer_group_ids, vec!["g1".to_string(), "g2".to_string()]);
        assert!(relation.device_data_flag && relation.ota_job_flag && !relation.device_tag_flag);
        assert_eq!(relation.subscribe_type.as_deref(), Some(SUBSCRIBE_AMQP));

        let page = r#"{"CurrentPage":1,"PageSize":10,"PageCount":1,"Total":1,
            "Data":{"ConsumerGroupDTO":[{"GroupId":"g1","GroupName":"orders","CreateTime":"2020-05-20T00:05:20.000Z"}]}}"#;
        let page: QueryConsumerGroupListResponse = serde_json::from_str(page).unwrap();
        assert_eq!(page.data.unwrap().consumer_group_dto[0].group_name, "orders");

        let status = r#"{"AccumulationCount":12,"ConsumerSpeed":3,"LastConsumerTime":"2020-05-20T00:05:20.000Z",
            "ClientConnectionStatusList":{"ConsumerGroupClientConnectionInfo":[{"ClientId":"c1","OnlineTime":5}]}}"#;
        let status: QueryConsumerGroupStatusResponse = serde_json::from_str(status).unwrap();
        assert_eq!((status.accumulation_count, status.consumer_speed), (12, 3));
        let clients = status.client_connection_status_list.unwrap().consumer_group_client_connection_info;
        assert_eq!((clients[0].client_id.as_str(), clients[0].online_time), ("c1", 5));
    }
}
