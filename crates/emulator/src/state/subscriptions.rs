//! Server-side subscriptions (each product has at most one per type, `AMQP` or `MNS`) and
//! the consumer groups AMQP subscriptions push to (each account's instance has its own, plus
//! the default group `DEFAULT_GROUP`, which cannot be renamed or deleted).
//!
//! Rules: an AMQP subscription needs at least one consumer group of the same account and
//! instance; an MNS subscription needs a `MnsConfiguration` naming a queue, its region and
//! the role IoT Platform writes with; `SubscribeFlags` is a JSON object; Query answers every
//! flag as last set (absent flags are `false`: Update replaces them all). Group names: 4–30
//! characters of letters, digits, `_` and Chinese (counting two), unique in the instance; at
//! most [`Rules::max_consumer_groups`](super::Rules::max_consumer_groups) groups besides the
//! default one; a group a subscription still pushes to cannot be deleted. A group's status
//! (backlog, speed, clients) is what the admin side set, zero by default.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use iot_platform::error::emulator_codes;
use iot_platform::model::{self as m, Operation};
use iot_platform::quota;
use iot_platform::wire::Params;

use super::parts::{invalid, iso_millis};
use super::{ApiError, CallContext, State, body, page_offset};

/// A product's subscription of one type, as stored: every field as last set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// `AMQP` or `MNS`.
    pub subscribe_type: String,
    /// Consumer groups (AMQP).
    pub consumer_group_ids: Vec<String>,
    /// The queue (MNS), as sent.
    pub mns_configuration: Option<String>,
    /// Further flags, as sent.
    pub subscribe_flags: Option<String>,
    /// Upstream device messages.
    pub device_data_flag: bool,
    /// Device status changes.
    pub device_status_change_flag: bool,
    /// Topological relationship changes.
    pub device_topo_life_cycle_flag: bool,
    /// Sub-devices a gateway found.
    pub found_device_list_flag: bool,
    /// Historical TSL data.
    pub thing_history_flag: bool,
    /// Device lifecycle changes.
    pub device_life_cycle_flag: bool,
    /// OTA batch status.
    pub ota_event_flag: bool,
    /// OTA module versions.
    pub ota_version_flag: bool,
    /// OTA job status.
    pub ota_job_flag: bool,
    /// Device tag changes.
    pub device_tag_flag: bool,
}

/// Builds a [`Subscription`] (unchecked) from CreateSubscribeRelation or
/// UpdateSubscribeRelation, whose fields are the same.
macro_rules! subscription_of {
    ($op:expr) => {{
        let op = &$op;
        Subscription {
            subscribe_type: op.subscribe_type.clone(),
            consumer_group_ids: op.consumer_group_ids.clone(),
            mns_configuration: op.mns_configuration.clone(),
            subscribe_flags: op.subscribe_flags.clone(),
            device_data_flag: op.device_data_flag.unwrap_or(false),
            device_status_change_flag: op.device_status_change_flag.unwrap_or(false),
            device_topo_life_cycle_flag: op.device_topo_life_cycle_flag.unwrap_or(false),
            found_device_list_flag: op.found_device_list_flag.unwrap_or(false),
            thing_history_flag: op.thing_history_flag.unwrap_or(false),
            device_life_cycle_flag: op.device_life_cycle_flag.unwrap_or(false),
            ota_event_flag: op.ota_event_flag.unwrap_or(false),
            ota_version_flag: op.ota_version_flag.unwrap_or(false),
            ota_job_flag: op.ota_job_flag.unwrap_or(false),
            device_tag_flag: op.device_tag_flag.unwrap_or(false),
        }
    }};
}

impl Subscription {
    fn view(&self, product_key: &str) -> m::QuerySubscribeRelationResponse {
        m::QuerySubscribeRelationResponse {
            product_key: Some(product_key.to_string()),
            subscribe_type: Some(self.subscribe_type.clone()),
            consumer_group_ids: self.consumer_group_ids.clone(),
            mns_configuration: self.mns_configuration.clone(),
            subscribe_flags: self.subscribe_flags.clone(),
            device_data_flag: self.device_data_flag,
            device_status_change_flag: self.device_status_change_flag,
            device_topo_life_cycle_flag: self.device_topo_life_cycle_flag,
            found_device_list_flag: self.found_device_list_flag,
            thing_history_flag: self.thing_history_flag,
            device_life_cycle_flag: self.device_life_cycle_flag,
            ota_event_flag: self.ota_event_flag,
            ota_version_flag: self.ota_version_flag,
            ota_job_flag: self.ota_job_flag,
            device_tag_flag: self.device_tag_flag,
        }
    }
}

/// A consumer group as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerGroup {
    /// Owner account.
    pub uid: String,
    /// Its instance.
    pub instance_id: String,
    /// Its id (`DEFAULT_GROUP` for the default group).
    pub group_id: String,
    /// Its name.
    pub group_name: String,
    /// Created, epoch ms.
    pub create_time_ms: i64,
    /// What QueryConsumerGroupStatus reports (set from the admin side).
    pub status: GroupStatus,
}

impl ConsumerGroup {
    fn info(&self) -> m::ConsumerGroupInfo {
        m::ConsumerGroupInfo {
            group_id: self.group_id.clone(),
            group_name: self.group_name.clone(),
            create_time: iso_millis(self.create_time_ms),
        }
    }
}

/// A consumer group's status: what its AMQP clients would make it (admin side only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupStatus {
    /// Messages waiting.
    pub accumulation_count: i64,
    /// AMQP clients connected (at most 64).
    pub online_clients: usize,
    /// Messages consumed per minute.
    pub consumer_speed: i64,
    /// When the status was last set, epoch ms (the clients' online time).
    pub set_at_ms: i64,
    /// When a message was last consumed (set with a speed above zero), epoch ms.
    pub last_consumed_ms: Option<i64>,
}

/// The body of `PUT /_emulator/consumer-groups/{groupId}/status` (and the argument of
/// `Emulator::set_consumer_group_status`): an absent count keeps the current one. `uid` and
/// `iotInstanceId` pick the group when its id is in several accounts or instances (the
/// default group `DEFAULT_GROUP` is in every one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupStatusSetting {
    /// Messages waiting.
    #[serde(default)]
    pub accumulation_count: Option<i64>,
    /// AMQP clients connected (0–64).
    #[serde(default)]
    pub online_clients: Option<usize>,
    /// Messages consumed per minute.
    #[serde(default)]
    pub consumer_speed: Option<i64>,
    /// The account.
    #[serde(default)]
    pub uid: Option<String>,
    /// The instance.
    #[serde(default)]
    pub iot_instance_id: Option<String>,
}

/// A consumer group's status as the admin side reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupStatusReport {
    /// The group.
    pub group_id: String,
    /// Its account.
    pub uid: String,
    /// Its instance.
    pub iot_instance_id: String,
    /// Messages waiting.
    pub accumulation_count: i64,
    /// AMQP clients connected.
    pub online_clients: usize,
    /// Messages consumed per minute.
    pub consumer_speed: i64,
}

/// The consumer groups, by (account, instance, group id).
pub(super) type ConsumerGroups = std::collections::BTreeMap<(String, String, String), ConsumerGroup>;

/// Checks an MNS subscription's queue: a JSON object with `queueName`, `regionName` and
/// `role.roleArn`, `role.roleName` (the API pages' "Definition of the MnsConfiguration
/// parameter").
fn check_mns_configuration(text: Option<&str>) -> Result<(), ApiError> {
    let text = text.ok_or_else(|| invalid("MnsConfiguration is required for an MNS subscription."))?;
    let value: Value =
        serde_json::from_str(text).map_err(|_| invalid("MnsConfiguration must be a JSON object."))?;
    let present = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    let complete = present(&value["queueName"])
        && present(&value["regionName"])
        && present(&value["role"]["roleArn"])
        && present(&value["role"]["roleName"]);
    if !complete {
        return Err(invalid(
            "MnsConfiguration must name queueName, regionName and role (roleArn, roleName).",
        ));
    }
    Ok(())
}

fn check_type(subscribe_type: &str) -> Result<(), ApiError> {
    if subscribe_type != m::SUBSCRIBE_AMQP && subscribe_type != m::SUBSCRIBE_MNS {
        return Err(invalid("Type must be AMQP or MNS."));
    }
    Ok(())
}

fn check_group_name(name: &str) -> Result<(), ApiError> {
    // The CreateConsumerGroup reference: the product names' rule (letters, digits, `_` and
    // Chinese counting two, 4–30).
    if !iot_platform::names::is_valid_product_name(name) {
        return Err(invalid(
            "The consumer group name must be 4 to 30 characters long and may contain Chinese characters, letters, \
             digits and underscores (_); each Chinese character counts as two characters.",
        ));
    }
    Ok(())
}

fn group_not_found(group_id: &str) -> ApiError {
    ApiError::business(
        emulator_codes::CONSUMER_GROUP_NOT_FOUND,
        format!("The consumer group {group_id} does not exist."),
    )
}

fn subscription_not_found(subscribe_type: &str) -> ApiError {
    ApiError::business(
        emulator_codes::SUBSCRIPTION_NOT_FOUND,
        format!("The product has no {subscribe_type} subscription."),
    )
}

impl State {
    pub(super) fn answer_subscriptions(
        &mut self,
        ctx: &CallContext,
        action: &str,
        params: &Params,
    ) -> Option<Result<Value, ApiError>> {
        Some(match action {
            m::CreateSubscribeRelation::ACTION => {
                m::CreateSubscribeRelation::from_params(params).map_err(ApiError::from).and_then(|op| {
                    let subscription = subscription_of!(op);
                    self.put_subscription(
                        ctx,
                        op.iot_instance_id.as_deref(),
                        &op.product_key,
                        subscription,
                        false,
                    )
                })
            }
            m::UpdateSubscribeRelation::ACTION => {
                m::UpdateSubscribeRelation::from_params(params).map_err(ApiError::from).and_then(|op| {
                    let subscription = subscription_of!(op);
                    self.put_subscription(
                        ctx,
                        op.iot_instance_id.as_deref(),
                        &op.product_key,
                        subscription,
                        true,
                    )
                })
            }
            m::QuerySubscribeRelation::ACTION => {
                m::QuerySubscribeRelation::from_params(params).map_err(ApiError::from).and_then(|op| {
                    check_type(&op.subscribe_type)?;
                    let key = self.owned_product(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
                    let product = &self.products[&key];
                    let subscription = product
                        .subscriptions
                        .get(&op.subscribe_type)
                        .ok_or_else(|| subscription_not_found(&op.subscribe_type))?;
                    Ok(body(&subscription.view(&product.product_key)))
                })
            }
            m::DeleteSubscribeRelation::ACTION => {
                m::DeleteSubscribeRelation::from_params(params).map_err(ApiError::from).and_then(|op| {
                    check_type(&op.subscribe_type)?;
                    let key = self.owned_product(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
                    let product = self.products.get_mut(&key).expect("just found");
                    product
                        .subscriptions
                        .remove(&op.subscribe_type)
                        .ok_or_else(|| subscription_not_found(&op.subscribe_type))?;
                    Ok(json!({}))
                })
            }
            m::CreateConsumerGroup::ACTION => m::CreateConsumerGroup::from_params(params)
                .map_err(ApiError::from)
                .and_then(|op| self.create_group(ctx, op)),
            m::UpdateConsumerGroup::ACTION => m::UpdateConsumerGroup::from_params(params)
                .map_err(ApiError::from)
                .and_then(|op| self.rename_group(ctx, op)),
            m::DeleteConsumerGroup::ACTION => m::DeleteConsumerGroup::from_params(params)
                .map_err(ApiError::from)
                .and_then(|op| self.delete_group(ctx, op)),
            m::QueryConsumerGroupList::ACTION => m::QueryConsumerGroupList::from_params(params)
                .map_err(ApiError::from)
                .and_then(|op| self.list_groups(ctx, op)),
            m::QueryConsumerGroupByGroupId::ACTION => {
                m::QueryConsumerGroupByGroupId::from_params(params).map_err(ApiError::from).and_then(|op| {
                    let group = self.group(ctx, op.iot_instance_id.as_deref(), &op.group_id)?;
                    Ok(body(&m::QueryConsumerGroupByGroupIdResponse { data: Some(group.info()) }))
                })
            }
            m::QueryConsumerGroupStatus::ACTION => {
                m::QueryConsumerGroupStatus::from_params(params).map_err(ApiError::from).and_then(|op| {
                    let group = self.group(ctx, op.iot_instance_id.as_deref(), &op.group_id)?;
                    Ok(body(&status_view(&group)))
                })
            }
            _ => return None,
        })
    }

    /// The instance a call means, with its default consumer group in place.
    fn group_instance(&mut self, ctx: &CallContext, instance: Option<&str>) -> Result<String, ApiError> {
        let instance = self.resolve_instance(ctx, instance)?;
        self.ensure_default_group(&ctx.uid, &instance, ctx.now_ms);
        Ok(instance)
    }

    fn ensure_default_group(&mut self, uid: &str, instance: &str, now_ms: i64) {
        let id = m::DEFAULT_CONSUMER_GROUP.to_string();
        self.consumer_groups.entry((uid.to_string(), instance.to_string(), id.clone())).or_insert_with(
            || ConsumerGroup {
                uid: uid.to_string(),
                instance_id: instance.to_string(),
                group_id: id.clone(),
                group_name: id,
                create_time_ms: now_ms,
                status: GroupStatus::default(),
            },
        );
    }

    /// The caller's consumer group `group_id` in `instance`.
    fn group(
        &mut self,
        ctx: &CallContext,
        instance: Option<&str>,
        group_id: &str,
    ) -> Result<ConsumerGroup, ApiError> {
        let instance = self.group_instance(ctx, instance)?;
        self.consumer_groups
            .get(&(ctx.uid.clone(), instance, group_id.to_string()))
            .cloned()
            .ok_or_else(|| group_not_found(group_id))
    }

    fn put_subscription(
        &mut self,
        ctx: &CallContext,
        instance: Option<&str>,
        product_key: &str,
        mut subscription: Subscription,
        update: bool,
    ) -> Result<Value, ApiError> {
        check_type(&subscription.subscribe_type)?;
        if let Some(flags) = subscription.subscribe_flags.as_deref()
            && !serde_json::from_str::<Value>(flags).is_ok_and(|v| v.is_object())
        {
            return Err(invalid("SubscribeFlags must be a JSON object."));
        }
        let key = self.owned_product(ctx, instance, product_key)?;
        if subscription.subscribe_type == m::SUBSCRIBE_AMQP {
            subscription.mns_configuration = None;
            let mut ids: Vec<String> = Vec::new();
            for id in std::mem::take(&mut subscription.consumer_group_ids) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            if ids.is_empty() {
                return Err(invalid(
                    "ConsumerGroupIds must name at least one consumer group for an AMQP subscription.",
                ));
            }
            self.ensure_default_group(&ctx.uid, &key.0, ctx.now_ms);
            if let Some(missing) = ids.iter().find(|id| {
                !self.consumer_groups.contains_key(&(ctx.uid.clone(), key.0.clone(), (*id).clone()))
            }) {
                return Err(group_not_found(missing));
            }
            subscription.consumer_group_ids = ids;
        } else {
            subscription.consumer_group_ids = Vec::new();
            check_mns_configuration(subscription.mns_configuration.as_deref())?;
        }
        let product = self.products.get_mut(&key).expect("just found");
        let exists = product.subscriptions.contains_key(&subscription.subscribe_type);
        if exists && !update {
            return Err(ApiError::business(
                emulator_codes::SUBSCRIPTION_EXISTS,
                format!(
                    "The product already has an {} subscription: change it with UpdateSubscribeRelation.",
                    subscription.subscribe_type
                ),
            ));
        }
        if !exists && update {
            return Err(subscription_not_found(&subscription.subscribe_type));
        }
        product.subscriptions.insert(subscription.subscribe_type.clone(), subscription);
        Ok(json!({}))
    }

    fn create_group(&mut self, ctx: &CallContext, op: m::CreateConsumerGroup) -> Result<Value, ApiError> {
        check_group_name(&op.group_name)?;
        let instance = self.group_instance(ctx, op.iot_instance_id.as_deref())?;
        let mine: Vec<&ConsumerGroup> =
            self.consumer_groups.values().filter(|g| g.uid == ctx.uid && g.instance_id == instance).collect();
        if mine.iter().any(|g| g.group_name == op.group_name) {
            return Err(ApiError::business(
                emulator_codes::CONSUMER_GROUP_NAME_TAKEN,
                format!("A consumer group named {} already exists in this instance.", op.group_name),
            ));
        }
        let max = self.rules.max_consumer_groups;
        if mine.iter().filter(|g| g.group_id != m::DEFAULT_CONSUMER_GROUP).count() >= max {
            return Err(ApiError::business(
                emulator_codes::CONSUMER_GROUP_LIMIT,
                format!("The instance already has the maximum of {max} consumer groups."),
            ));
        }
        const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let group_id = loop {
            // The documented example's shape: 20 characters, `00`, 4 characters.
            let candidate =
                format!("{}00{}", self.random_string(20, ALPHANUMERIC), self.random_string(4, ALPHANUMERIC));
            if !self.consumer_groups.keys().any(|(_, _, id)| *id == candidate) {
                break candidate;
            }
        };
        let group = ConsumerGroup {
            uid: ctx.uid.clone(),
            instance_id: instance.clone(),
            group_id: group_id.clone(),
            group_name: op.group_name,
            create_time_ms: ctx.now_ms,
            status: GroupStatus::default(),
        };
        self.consumer_groups.insert((ctx.uid.clone(), instance, group_id.clone()), group);
        Ok(body(&m::CreateConsumerGroupResponse { group_id: Some(group_id) }))
    }

    fn rename_group(&mut self, ctx: &CallContext, op: m::UpdateConsumerGroup) -> Result<Value, ApiError> {
        check_group_name(&op.new_group_name)?;
        let group = self.group(ctx, op.iot_instance_id.as_deref(), &op.group_id)?;
        if group.group_id == m::DEFAULT_CONSUMER_GROUP {
            return Err(default_group_read_only());
        }
        let clash = self.consumer_groups.values().any(|g| {
            g.uid == group.uid
                && g.instance_id == group.instance_id
                && g.group_name == op.new_group_name
                && g.group_id != group.group_id
        });
        if clash {
            return Err(ApiError::business(
                emulator_codes::CONSUMER_GROUP_NAME_TAKEN,
                format!("A consumer group named {} already exists in this instance.", op.new_group_name),
            ));
        }
        let key = (group.uid, group.instance_id, group.group_id);
        self.consumer_groups.get_mut(&key).expect("just found").group_name = op.new_group_name;
        Ok(json!({}))
    }

    fn delete_group(&mut self, ctx: &CallContext, op: m::DeleteConsumerGroup) -> Result<Value, ApiError> {
        let group = self.group(ctx, op.iot_instance_id.as_deref(), &op.group_id)?;
        if group.group_id == m::DEFAULT_CONSUMER_GROUP {
            return Err(default_group_read_only());
        }
        let users: Vec<&str> = self
            .products
            .values()
            .filter(|p| p.uid == group.uid && p.instance_id == group.instance_id)
            .filter(|p| {
                p.subscriptions
                    .get(m::SUBSCRIBE_AMQP)
                    .is_some_and(|s| s.consumer_group_ids.contains(&group.group_id))
            })
            .map(|p| p.product_key.as_str())
            .collect();
        if !users.is_empty() {
            return Err(ApiError::business(
                emulator_codes::CONSUMER_GROUP_IN_USE,
                format!(
                    "The consumer group is used by the AMQP subscriptions of {}: remove it from them (UpdateSubscribeRelation \
                     or DeleteSubscribeRelation) first.",
                    users.join(", ")
                ),
            ));
        }
        self.consumer_groups.remove(&(group.uid, group.instance_id, group.group_id));
        Ok(json!({}))
    }

    fn list_groups(&mut self, ctx: &CallContext, op: m::QueryConsumerGroupList) -> Result<Value, ApiError> {
        if !(1..=1000).contains(&op.page_size) || op.current_page < 1 {
            return Err(ApiError::business(
                "iot.common.InvalidPageParams",
                "PageSize must be 1 to 1000 and CurrentPage at least 1.",
            ));
        }
        let fuzzy = op.fuzzy.unwrap_or(false);
        let needle = op.group_name.unwrap_or_default();
        if fuzzy && needle.is_empty() {
            return Err(invalid("GroupName is required when Fuzzy is true."));
        }
        let instance = self.group_instance(ctx, op.iot_instance_id.as_deref())?;
        let mut groups: Vec<&ConsumerGroup> = self
            .consumer_groups
            .values()
            .filter(|g| g.uid == ctx.uid && g.instance_id == instance)
            .filter(|g| !fuzzy || g.group_name.contains(&needle))
            .collect();
        groups
            .sort_by_key(|g| (g.group_id != m::DEFAULT_CONSUMER_GROUP, g.create_time_ms, g.group_id.clone()));
        let total = groups.len();
        let size = op.page_size as usize;
        let page =
            groups.into_iter().skip(page_offset(op.current_page, size)).take(size).map(ConsumerGroup::info);
        Ok(body(&m::QueryConsumerGroupListResponse {
            current_page: op.current_page,
            page_size: op.page_size,
            page_count: i32::try_from(total.div_ceil(size)).unwrap_or(i32::MAX),
            total: i32::try_from(total).unwrap_or(i32::MAX),
            data: Some(m::ConsumerGroupList { consumer_group_dto: page.collect() }),
        }))
    }

    /// Sets a consumer group's status from the admin side (what its AMQP clients would do):
    /// the group `group_id`, of account `uid` and in instance `instance` when they are given
    /// (both are needed for the default group, which every instance has).
    ///
    /// # Errors
    /// The made-up `iot.consumergroup.NotExistedGroup` for no such group; `InvalidParameter`
    /// (400) when the id names groups of several accounts or instances, for a negative count
    /// or more than 64 clients (nothing is changed then).
    pub fn set_consumer_group_status(
        &mut self,
        group_id: &str,
        setting: &GroupStatusSetting,
        now_ms: i64,
    ) -> Result<GroupStatusReport, ApiError> {
        let bad = |message: String| ApiError::gateway(400, "InvalidParameter", message);
        let uid = setting.uid.as_deref().filter(|u| !u.is_empty());
        let instance = setting.iot_instance_id.as_deref().filter(|i| !i.is_empty());
        if group_id == m::DEFAULT_CONSUMER_GROUP
            && let (Some(uid), Some(instance)) = (uid, instance)
        {
            if self.instance_region(instance).is_none() {
                return Err(bad(format!("The instance {instance} does not exist.")));
            }
            self.ensure_default_group(uid, instance, now_ms);
        }
        let matching: Vec<(String, String, String)> = self
            .consumer_groups
            .keys()
            .filter(|(u, i, id)| {
                id == group_id && uid.is_none_or(|w| w == u) && instance.is_none_or(|w| w == i)
            })
            .cloned()
            .collect();
        let key = match matching.as_slice() {
            [] => return Err(group_not_found(group_id)),
            [key] => key.clone(),
            _ => {
                return Err(bad(format!(
                    "The consumer group {group_id} exists in several accounts or instances: name the account (uid) and \
                     the instance (iotInstanceId)."
                )));
            }
        };
        let current = self.consumer_groups[&key].status;
        let accumulation_count = setting.accumulation_count.unwrap_or(current.accumulation_count);
        let online_clients = setting.online_clients.unwrap_or(current.online_clients);
        let consumer_speed = setting.consumer_speed.unwrap_or(current.consumer_speed);
        if accumulation_count < 0 || consumer_speed < 0 {
            return Err(bad("accumulationCount and consumerSpeed cannot be negative.".into()));
        }
        if online_clients > quota::MAX_CLIENTS_PER_CONSUMER_GROUP {
            return Err(bad(format!(
                "A consumer group has at most {} clients.",
                quota::MAX_CLIENTS_PER_CONSUMER_GROUP
            )));
        }
        let status = GroupStatus {
            accumulation_count,
            online_clients,
            consumer_speed,
            set_at_ms: now_ms,
            last_consumed_ms: if consumer_speed > 0 { Some(now_ms) } else { current.last_consumed_ms },
        };
        self.consumer_groups.get_mut(&key).expect("just found").status = status;
        Ok(GroupStatusReport {
            group_id: key.2,
            uid: key.0,
            iot_instance_id: key.1,
            accumulation_count,
            online_clients,
            consumer_speed,
        })
    }
}

fn default_group_read_only() -> ApiError {
    ApiError::business(
        emulator_codes::DEFAULT_CONSUMER_GROUP,
        "The default consumer group (DEFAULT_GROUP) cannot be modified or deleted.",
    )
}

/// QueryConsumerGroupStatus's answer for `group`: its clients are made up from the count the
/// admin side set.
fn status_view(group: &ConsumerGroup) -> m::QueryConsumerGroupStatusResponse {
    let status = group.status;
    let clients = status.online_clients as i64;
    let per_client = if clients > 0 { status.consumer_speed / clients } else { 0 };
    let infos = (0..status.online_clients)
        .map(|index| m::ClientConnectionInfo {
            client_id: format!("emulator-client-{}", index + 1),
            client_ip_port: Some(format!("127.0.0.1:{}", 40_000 + index)),
            online_time: status.set_at_ms,
            real_time_consume_count_per_minute: Some(per_client),
            accumulated_consume_count_per_minute: Some(0),
        })
        .collect();
    m::QueryConsumerGroupStatusResponse {
        accumulation_count: status.accumulation_count,
        consumer_speed: status.consumer_speed,
        real_time_consume_count_per_minute: Some(status.consumer_speed),
        accumulated_consume_count_per_minute: Some(0),
        last_consumer_time: status.last_consumed_ms.map(iso_millis),
        client_connection_status_list: Some(m::ClientConnectionStatusList {
            consumer_group_client_connection_info: infos,
        }),
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn mns_configurations_must_name_queue_region_and_role() {
        let good = r#"{"queueName":"q1","regionName":"cn-shanghai","role":{"roleArn":"acs:ram::1:role/aliyuniotaccessingmnsrole","roleName":"AliyunIOTAccessingMNSRole"}}"#;
        assert!(check_mns_configuration(Some(good)).is_ok());
        for bad in [None, Some("nope"), Some("{}"), Some(r#"{"queueName":"q1","regionName":"cn-shanghai"}"#)]
        {
            assert_eq!(
                check_mns_configuration(bad).unwrap_err().code,
                "iot.common.InvalidFormattedParameter"
            );
        }
    }
}
