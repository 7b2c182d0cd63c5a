//! The emulated platform's state and every business rule it enforces, as plain synchronous
//! code: a call is (account, endpoint region, action, parameters, time) → response body or
//! error. The HTTP layer ([`super::server`]) handles signatures, throttling and faults.
//!
//! Rules enforced: product name format and length (Chinese counts double), name unique per
//! instance, instance ids per region, published products refuse update, delete and
//! thing-model changes (unless relaxed), distributed products refuse thing-model changes,
//! products per instance, at most 10 distribution jobs per account, distribution only at
//! the cn-shanghai endpoint, tag formats and limits, TSL validity, page limits, device
//! names (format, unique per product) and what DeleteProduct does to a product's devices.
//! Custom topic categories ([`topics`]), data-parsing scripts ([`scripts`]), server-side
//! subscriptions and consumer groups ([`subscriptions`]) have their own modules, answered
//! through [`parts`].
//!
//! No I/O happens here.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};

use iot_platform::error::emulator_codes;
use iot_platform::model::{self as m, Operation};
use iot_platform::quota;
use iot_platform::region::public_instance;
use iot_platform::tsl::ThingModel;
use iot_platform::wire::{ParamError, Params, Tag};

mod parts;
mod scripts;
mod subscriptions;
mod topics;

pub use parts::PublishedPartsLock;
pub use scripts::{SCRIPT_PATH, SCRIPT_URL_TTL_MS, Script, ScriptLinkError};
pub use subscriptions::{ConsumerGroup, GroupStatus, GroupStatusReport, GroupStatusSetting, Subscription};
pub use topics::{Topic, check_topic};

/// An error answer: HTTP status, code, message, and extra body fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status (200 for business errors).
    pub http_status: u16,
    /// The platform's code.
    pub code: String,
    /// The message.
    pub message: String,
    /// Extra fields of the body (for example `InvalidProductTags`).
    pub extra: Option<Value>,
}

impl ApiError {
    /// A business error: HTTP 200 with `Success: false`.
    #[must_use]
    pub fn business(code: &str, message: impl Into<String>) -> Self {
        Self { http_status: 200, code: code.into(), message: message.into(), extra: None }
    }

    /// A gateway error with an HTTP error status.
    #[must_use]
    pub fn gateway(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self { http_status: status, code: code.into(), message: message.into(), extra: None }
    }

    /// Whether this is a gateway (not business) error.
    #[must_use]
    pub fn is_gateway(&self) -> bool {
        self.http_status >= 400
    }
}

impl From<ParamError> for ApiError {
    fn from(error: ParamError) -> Self {
        match &error {
            ParamError::Missing(name) => Self::gateway(400, &format!("Missing{name}"), error.to_string()),
            ParamError::Invalid { .. } => Self::gateway(400, "InvalidParameter", error.to_string()),
        }
    }
}

/// Who calls, through which endpoint, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The account's id.
    pub uid: String,
    /// The account's logon name.
    pub logon_id: String,
    /// The region of the endpoint the call arrived at.
    pub region: String,
    /// Now, epoch milliseconds.
    pub now_ms: i64,
    /// Whether a distribution job created by this call should end interrupted (a fault).
    pub fail_distribution: bool,
}

/// An Enterprise instance the emulator knows, besides each region's public instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// Instance id, for example `iot-cn-test0001`.
    pub id: String,
    /// Its region.
    pub region: String,
}

/// Rules that can be tuned.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Published products refuse UpdateProduct and DeleteProduct (the seed document's
    /// rule). The API pages only document the thing-model lock.
    pub lock_published: bool,
    /// Products per instance (the platform's default limit is 1000).
    pub max_products_per_instance: usize,
    /// Distribution jobs per account.
    pub max_distribution_jobs: usize,
    /// How long a distribution job runs, milliseconds.
    pub job_duration_ms: i64,
    /// Enterprise instances.
    pub instances: Vec<Instance>,
    /// Seed of the key generator (keys are still unique per run).
    pub seed: u64,
    /// Answer every code the emulator made up ([`emulator_codes::INVENTED`]) with, call by
    /// call, `iot.system.SystemException` or a code no one has seen: what the real platform
    /// answers there is not documented, so a client must not depend on our choice.
    pub opaque_codes: bool,
    /// What DeleteProduct does to a product that still has devices (not documented).
    pub delete_product_with_devices: DeleteWithDevices,
    /// Which parts of a published product (topic categories, script) refuse changes (not
    /// documented; distribution locks both whatever this says).
    pub lock_published_parts: PublishedPartsLock,
    /// Custom topic categories per product (not documented; 50 assumed).
    pub max_topics_per_product: usize,
    /// Consumer groups per account and instance, besides the default one (not documented;
    /// 1000 assumed).
    pub max_consumer_groups: usize,
}

/// What DeleteProduct does to a product that still has devices. The platform's pages say
/// only that "all related data is deleted"; whether devices block the deletion is not
/// documented, so the emulator offers both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeleteWithDevices {
    /// Refuse with [`emulator_codes::PRODUCT_HAS_DEVICES`] (made up).
    Refuse,
    /// Delete the product and its devices: their IotIds and DeviceSecrets become invalid
    /// (an IotId is never issued again).
    #[default]
    Cascade,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            lock_published: true,
            max_products_per_instance: iot_platform::quota::MAX_PRODUCTS_PER_INSTANCE,
            max_distribution_jobs: quota::MAX_DISTRIBUTION_JOBS,
            job_duration_ms: 1500,
            instances: Vec::new(),
            seed: 0x10_7e57,
            opaque_codes: false,
            delete_product_with_devices: DeleteWithDevices::default(),
            lock_published_parts: PublishedPartsLock::default(),
            max_topics_per_product: quota::MAX_TOPICS_PER_PRODUCT,
            max_consumer_groups: quota::MAX_CONSUMER_GROUPS,
        }
    }
}

/// A product as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// Owner account.
    pub uid: String,
    /// Instance.
    pub instance_id: String,
    /// Region of the instance.
    pub region: String,
    /// ProductKey.
    pub product_key: String,
    /// ProductSecret.
    pub product_secret: iot_platform::secret::Secret,
    /// Name.
    pub product_name: String,
    /// Description.
    pub description: Option<String>,
    /// Node type.
    pub node_type: i32,
    /// `iothub_senior` or `iothub`.
    pub aliyun_commodity_code: String,
    /// Data format.
    pub data_format: Option<i32>,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Net type, as the integer QueryProduct returns.
    pub net_type: Option<i32>,
    /// Auth type.
    pub auth_type: String,
    /// Category.
    pub category_key: Option<String>,
    /// Validation.
    pub validate_type: i32,
    /// Resource group.
    pub resource_group_id: Option<String>,
    /// Created, epoch ms.
    pub gmt_create: i64,
    /// Published.
    pub released: bool,
    /// Distributed to another instance (thing model locked).
    pub distributed: bool,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// The draft thing model, normal form.
    pub tsl_draft: Value,
    /// Published thing-model versions, newest first (at most 10 kept).
    pub versions: Vec<StoredVersion>,
    /// Its devices, in the order they were registered (a distributed copy starts with none:
    /// a product job does not distribute devices).
    pub devices: Vec<Device>,
    /// Custom topic categories, oldest first (distributed with the product, new ids).
    pub topics: Vec<Topic>,
    /// The data-parsing script (custom data format only; distributed with the product).
    pub script: Option<Script>,
    /// Server-side subscriptions by type (`AMQP`, `MNS`; not distributed).
    pub subscriptions: BTreeMap<String, Subscription>,
}

/// A device as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// DeviceName, unique within its product.
    pub device_name: String,
    /// IotId, globally unique and never issued again.
    pub iot_id: String,
    /// DeviceSecret.
    pub device_secret: iot_platform::secret::Secret,
    /// Alias.
    pub nickname: Option<String>,
    /// Registered, epoch ms.
    pub gmt_create: i64,
    /// Has connected at least once (set from the admin side only, as a real device would by
    /// connecting).
    pub activated: bool,
    /// Connected now (admin side only; an online device is activated).
    pub online: bool,
}

/// A change made to a product's devices from the emulator's admin side, standing for what
/// real devices do by registering and connecting. Counts are applied in this order:
/// register `register` more devices, then more still until the product has `at_least`;
/// then the first `activated` devices (registration order) are activated and the others
/// not, and the first `online` online and the others not. `None` keeps the current count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceChange {
    /// Devices to register, whatever the product has.
    pub register: usize,
    /// Devices the product must have at least.
    pub at_least: usize,
    /// How many devices are activated afterwards (≤ the devices).
    pub activated: Option<usize>,
    /// How many devices are online afterwards (≤ `activated`).
    pub online: Option<usize>,
}

/// A product's device counts, as the admin side reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCounts {
    /// The product.
    pub product_key: String,
    /// Its instance.
    pub iot_instance_id: String,
    /// The counts, as QueryDeviceStatistics answers them.
    #[serde(flatten)]
    pub statistics: m::DeviceStatistics,
}

/// A published thing-model version.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredVersion {
    /// Version.
    pub model_version: String,
    /// Description.
    pub description: Option<String>,
    /// Published, epoch ms.
    pub gmt_create: i64,
    /// The model, normal form.
    pub tsl: Value,
}

/// A distribution job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Job id.
    pub job_id: String,
    /// Owner account.
    pub uid: String,
    /// Product.
    pub product_key: String,
    /// Source instance.
    pub source_instance_id: String,
    /// Target instance.
    pub target_instance_id: String,
    /// Target account id.
    pub target_uid: String,
    /// Target account logon name.
    pub target_aliyun_id: Option<String>,
    /// Created, epoch ms.
    pub gmt_create: i64,
    /// `0`–`3`.
    pub status: i32,
    /// Whether it will end interrupted.
    pub will_fail: bool,
}

/// Everything the emulated platform holds.
#[derive(Debug)]
pub struct State {
    rules: Rules,
    products: BTreeMap<(String, String), Product>,
    jobs: BTreeMap<String, Job>,
    /// Every distribution job ever created (id, product key), deleted ones included.
    job_history: Vec<(String, String)>,
    /// Every product ever created (key, name at creation), deleted ones included.
    product_history: Vec<(String, String)>,
    /// Every IotId ever issued, deleted devices' included (never issued again).
    issued_iot_ids: HashSet<String>,
    rng: StdRng,
    /// Answers disguised so far (opaque-codes mode).
    disguised: u64,
    /// The next custom topic category's id (ids are never reused).
    next_topic_id: i64,
    /// Consumer groups by (account, instance, group id).
    consumer_groups: subscriptions::ConsumerGroups,
    /// GetThingScript's download URLs, by token.
    script_links: scripts::ScriptLinks,
}

/// A read-only snapshot for the admin view.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Products (secrets included: the admin view is a test tool).
    pub products: Vec<Product>,
    /// Distribution jobs.
    pub jobs: Vec<Job>,
    /// Enterprise instances.
    pub instances: Vec<Instance>,
    /// Every distribution job ever created, as (job id, product key), oldest first: deleted
    /// job records included.
    pub job_history: Vec<(String, String)>,
    /// Every product ever created (not distributed copies), as (product key, name at
    /// creation), oldest first: deleted products included.
    pub product_history: Vec<(String, String)>,
    /// Consumer groups (default groups once an account used its instance's).
    pub consumer_groups: Vec<ConsumerGroup>,
}

/// The platform's weighted name length: each Chinese character counts as two.
#[must_use]
pub fn weighted_length(name: &str) -> usize {
    iot_platform::names::product_name_units(name)
}

/// The attributes of a product to create, checked as the platform checks them.
struct CreateAttributes {
    code: String,
    senior: bool,
    data_format: Option<i32>,
    net_type: Option<i32>,
    auth_type: String,
    validate_type: i32,
}

/// Checks CreateProduct's parameters (name, description, node type, edition and the
/// attributes each edition takes), with the platform's codes.
fn check_create(op: &m::CreateProduct) -> Result<CreateAttributes, ApiError> {
    check_product_name(&op.product_name)?;
    check_description(op.description.as_deref())?;
    if op.node_type != 0 && op.node_type != 1 {
        return Err(ApiError::business(
            "iot.prod.InvalidNodeType",
            "The node type must be 0 (device) or 1 (gateway).",
        ));
    }
    let code = op.aliyun_commodity_code.clone().unwrap_or_else(|| "iothub".into());
    if code != "iothub_senior" && code != "iothub" {
        return Err(ApiError::business(
            "iot.prod.InvalidAliyunCommodityCode",
            "AliyunCommodityCode must be iothub_senior or iothub.",
        ));
    }
    let senior = code == "iothub_senior";
    let data_format = match (senior, op.data_format) {
        (true, None) => {
            return Err(ApiError::business(
                "iot.common.InvalidFormattedParameter",
                "DataFormat is required when AliyunCommodityCode is iothub_senior.",
            ));
        }
        (true, Some(f)) if f != 0 && f != 1 => {
            return Err(ApiError::business(
                "iot.common.InvalidFormattedParameter",
                "DataFormat must be 0 or 1.",
            ));
        }
        (true, f) => f,
        (false, _) => None,
    };
    let net_type = match op.net_type.as_deref() {
        None => Some(3),
        Some(t) => Some(net_type_code(t).ok_or_else(|| {
            ApiError::business(
                "iot.common.InvalidFormattedParameter",
                "NetType must be WIFI, CELLULAR, ETHERNET, LORA or OTHER.",
            )
        })?),
    };
    if let Some(p) = op.protocol_type.as_deref()
        && !["modbus", "opc-ua", "customize", "ble", "zigbee"].contains(&p)
    {
        return Err(ApiError::business(
            "iot.common.InvalidFormattedParameter",
            "ProtocolType must be modbus, opc-ua, customize, ble or zigbee.",
        ));
    }
    let auth_type = op.auth_type.clone().unwrap_or_else(|| "secret".into());
    if !["secret", "id2", "x509"].contains(&auth_type.as_str()) {
        return Err(ApiError::business(
            "iot.common.InvalidFormattedParameter",
            "AuthType must be secret, id2 or x509.",
        ));
    }
    let validate_type = op.validate_type.unwrap_or(1);
    if validate_type != 1 && validate_type != 2 {
        return Err(ApiError::business(
            "iot.common.InvalidFormattedParameter",
            "ValidateType must be 1 or 2.",
        ));
    }
    Ok(CreateAttributes { code, senior, data_format, net_type, auth_type, validate_type })
}

fn check_product_name(name: &str) -> Result<(), ApiError> {
    // The CreateProduct reference's rule (iot_platform::names), which the CRD also checks.
    if !iot_platform::names::is_valid_product_name(name) {
        return Err(ApiError::business(
            "iot.prod.InvalidFormattedProductName",
            "The product name is invalid. It must be 4 to 30 characters long and may contain Chinese characters, \
             letters, digits and underscores (_); each Chinese character counts as two characters.",
        ));
    }
    Ok(())
}

fn check_description(description: Option<&str>) -> Result<(), ApiError> {
    if description.is_some_and(|d| d.chars().count() > 100) {
        return Err(ApiError::business(
            "iot.prod.LongProductDesc",
            "The product description exceeds 100 characters.",
        ));
    }
    Ok(())
}

fn net_type_code(net_type: &str) -> Option<i32> {
    match net_type {
        "WIFI" => Some(3),
        "CELLULAR" => Some(6),
        "ETHERNET" => Some(7),
        "OTHER" => Some(8),
        "LORA" => Some(0),
        _ => None,
    }
}

fn not_found() -> ApiError {
    ApiError::business("iot.prod.NotExistedProduct", "The specified product does not exist.")
}

fn locked() -> ApiError {
    ApiError::business(
        emulator_codes::PRODUCT_PUBLISHED,
        "The product is published and cannot be modified or deleted. Cancel the release (CancelReleaseProduct) first.",
    )
}

/// A product's devices, as QueryProduct and QueryProductList report them.
fn device_count(product: &Product) -> i32 {
    i32::try_from(product.devices.len()).unwrap_or(i32::MAX)
}

/// QueryDeviceStatistics' counts of `devices`.
fn statistics<'a>(devices: impl IntoIterator<Item = &'a Device>) -> m::DeviceStatistics {
    let mut counts = m::DeviceStatistics::default();
    for device in devices {
        counts.device_count += 1;
        counts.active_count += i64::from(device.activated);
        counts.online_count += i64::from(device.online);
    }
    counts
}

/// RegisterDevice's rule: 4–32 characters, each a letter, a digit or one of `-_@.:`.
#[must_use]
pub fn is_valid_device_name(name: &str) -> bool {
    (4..=32).contains(&name.chars().count())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_@.:".contains(c))
}

fn check_device_name(name: &str) -> Result<(), ApiError> {
    if !is_valid_device_name(name) {
        return Err(ApiError::business(
            "iot.device.InvalidFormattedDeviceName",
            "The device name is invalid. It must be 4 to 32 characters long and may contain letters, digits, \
             hyphens (-), underscores (_), at signs (@), periods (.) and colons (:).",
        ));
    }
    Ok(())
}

/// The alias rule: 4–64 characters (each Chinese character counting two) of Chinese,
/// letters, digits and underscores. The SDK's docstring gives 4–64 letters, digits and
/// underscores; older pages also allow Chinese: the emulator accepts the union.
fn check_nickname(nickname: &str) -> Result<(), ApiError> {
    // The product names' character set and weighting (iot_platform::names), longer.
    let valid = iot_platform::names::product_name_characters_valid(nickname)
        && (4..=64).contains(&iot_platform::names::product_name_units(nickname));
    if !valid {
        return Err(ApiError::business(
            "iot.common.InvalidFormattedParameter",
            "Nickname must be 4 to 64 characters long (a Chinese character counts as two) and may contain \
             Chinese characters, letters, digits and underscores (_).",
        ));
    }
    Ok(())
}

fn body<T: Serialize>(response: &T) -> Value {
    serde_json::to_value(response).expect("responses serialise")
}

fn check_tag(tag: &Tag) -> bool {
    let key_ok = !tag.tag_key.is_empty()
        && tag.tag_key.len() <= 30
        && tag.tag_key.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        && tag.tag_key != "abc";
    let value_ok = !tag.tag_value.is_empty()
        && tag.tag_value.len() <= 128
        && tag.tag_value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    key_ok && value_ok
}

/// A made-up code replaced for the `n`th time: every other time `iot.system.SystemException`
/// (the platform's documented "internal error; retry later"), else a code no one has seen,
/// different each time.
fn disguise(error: ApiError, n: u64) -> ApiError {
    if n % 2 == 1 {
        ApiError::business("iot.system.SystemException", "An internal error occurred. Try again later.")
    } else {
        let code = format!("iot.unseen.E{:04X}", n.wrapping_mul(0x9E37_79B9) % 0xFFFF);
        ApiError { code, message: "The request cannot be processed.".into(), ..error }
    }
}

fn invalid_tags(tags: Vec<Tag>, message: &str) -> ApiError {
    let mut error = ApiError::business("iot.common.InvalidFormattedParameter", message);
    error.extra = Some(json!({"InvalidProductTags": {"ProductTag": tags}}));
    error
}

impl State {
    /// An empty platform with these rules.
    #[must_use]
    pub fn new(rules: Rules) -> Self {
        let rng = StdRng::seed_from_u64(rules.seed);
        Self {
            rules,
            products: BTreeMap::new(),
            jobs: BTreeMap::new(),
            job_history: Vec::new(),
            product_history: Vec::new(),
            issued_iot_ids: HashSet::new(),
            rng,
            disguised: 0,
            next_topic_id: 100_001,
            consumer_groups: BTreeMap::new(),
            script_links: scripts::ScriptLinks::new(),
        }
    }

    /// How many answers had their made-up code disguised (opaque-codes mode).
    #[must_use]
    pub fn disguised(&self) -> u64 {
        self.disguised
    }

    /// The ProductKey of the product holding the topic category `topic_id`, if any.
    #[must_use]
    pub fn product_of_topic(&self, topic_id: &str) -> Option<String> {
        self.products
            .values()
            .find(|p| p.topics.iter().any(|t| t.topic_id == topic_id))
            .map(|p| p.product_key.clone())
    }

    /// The rules in force.
    #[must_use]
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// A copy of everything, for the admin view.
    #[must_use]
    pub fn snapshot(&self, now_ms: i64) -> Snapshot {
        let mut copy = Self {
            rules: self.rules.clone(),
            products: self.products.clone(),
            jobs: self.jobs.clone(),
            job_history: Vec::new(),
            product_history: Vec::new(),
            issued_iot_ids: HashSet::new(),
            rng: self.rng.clone(),
            disguised: self.disguised,
            next_topic_id: self.next_topic_id,
            consumer_groups: BTreeMap::new(),
            script_links: scripts::ScriptLinks::new(),
        };
        copy.advance_jobs(now_ms);
        Snapshot {
            products: copy.products.into_values().collect(),
            jobs: copy.jobs.into_values().collect(),
            instances: self.rules.instances.clone(),
            job_history: self.job_history.clone(),
            product_history: self.product_history.clone(),
            consumer_groups: self.consumer_groups.values().cloned().collect(),
        }
    }

    fn random_string(&mut self, len: usize, alphabet: &[u8]) -> String {
        (0..len).map(|_| alphabet[self.rng.random_range(0..alphabet.len())] as char).collect()
    }

    fn new_product_key(&mut self) -> String {
        const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        loop {
            let key = format!("a1{}", self.random_string(9, ALPHANUMERIC));
            if !self.products.keys().any(|(_, k)| *k == key) {
                return key;
            }
        }
    }

    /// The instance a call means: the named one (which must exist in the endpoint's
    /// region) or the region's public instance.
    fn resolve_instance(&self, ctx: &CallContext, named: Option<&str>) -> Result<String, ApiError> {
        let public = public_instance(&ctx.region);
        match named {
            None | Some("") => Ok(public),
            Some(id) if id == public => Ok(public),
            Some(id) if self.rules.instances.iter().any(|i| i.id == id && i.region == ctx.region) => {
                Ok(id.to_string())
            }
            Some(id) => Err(ApiError::business(
                "iot.system.InstanceNotFound",
                format!("The instance {id} does not exist in region {}.", ctx.region),
            )),
        }
    }

    /// The region of any known instance (for distribution, which crosses regions).
    fn instance_region(&self, id: &str) -> Option<String> {
        if let Some(instance) = self.rules.instances.iter().find(|i| i.id == id) {
            return Some(instance.region.clone());
        }
        iot_platform::region::public_instance_region(id).map(str::to_string)
    }

    /// Gives product `from` of account `uid` the key `to` and the secret `secret`: a product
    /// another platform (or emulator run) made, restored under its own credentials. Only for
    /// a product with no parts yet (topics are found by key).
    ///
    /// # Errors
    /// `iot.prod.NotExistedProduct` when the account has no product `from`;
    /// `InvalidParameter` (400) when `to` is taken.
    pub fn rekey_product(&mut self, uid: &str, from: &str, to: &str, secret: &str) -> Result<(), ApiError> {
        let entry = self.products.keys().find(|(_, key)| key == from).cloned().ok_or_else(not_found)?;
        if self.products.keys().any(|(_, key)| key == to) {
            return Err(ApiError::gateway(400, "InvalidParameter", format!("the ProductKey {to} is taken")));
        }
        if self.products.get(&entry).is_none_or(|p| p.uid != uid) {
            return Err(not_found());
        }
        let mut product = self.products.remove(&entry).expect("the product was just found");
        product.product_key = to.to_string();
        product.product_secret = iot_platform::secret::Secret::new(secret);
        for (key, _) in self.product_history.iter_mut().filter(|(key, _)| key == from) {
            *key = to.to_string();
        }
        self.products.insert((entry.0, to.to_string()), product);
        Ok(())
    }

    fn product_mut(
        &mut self,
        ctx: &CallContext,
        instance: Option<&str>,
        key: &str,
    ) -> Result<&mut Product, ApiError> {
        let instance = self.resolve_instance(ctx, instance)?;
        match self.products.get_mut(&(instance, key.to_string())) {
            Some(p) if p.uid == ctx.uid => Ok(p),
            _ => Err(not_found()),
        }
    }

    fn product(&mut self, ctx: &CallContext, instance: Option<&str>, key: &str) -> Result<Product, ApiError> {
        self.product_mut(ctx, instance, key).map(|p| p.clone())
    }

    /// Brings distribution jobs up to `now_ms`: status moves 0 → 1 → 2 (or 3), and a
    /// completed job copies the product into the target instance.
    fn advance_jobs(&mut self, now_ms: i64) {
        let duration = self.rules.job_duration_ms.max(1);
        let mut completed = Vec::new();
        for job in self.jobs.values_mut() {
            if job.status >= m::JOB_COMPLETED {
                continue;
            }
            let elapsed = now_ms - job.gmt_create;
            job.status = if elapsed >= duration {
                if job.will_fail {
                    m::JOB_INTERRUPTED
                } else {
                    completed.push(job.clone());
                    m::JOB_COMPLETED
                }
            } else if elapsed >= duration / 3 {
                m::JOB_RUNNING
            } else {
                m::JOB_INITIALIZING
            };
        }
        for job in completed {
            let source = (job.source_instance_id.clone(), job.product_key.clone());
            let Some(product) = self.products.get_mut(&source) else { continue };
            product.distributed = true;
            let mut copy = product.clone();
            let target_region = self.instance_region(&job.target_instance_id).unwrap_or_default();
            copy.instance_id = job.target_instance_id.clone();
            copy.region = target_region;
            copy.released = false;
            copy.gmt_create = job.gmt_create + duration;
            // A product job does not distribute the product's devices, nor its server-side
            // subscriptions (routing of the source instance); topic categories and the script
            // go along, the categories with new ids.
            copy.devices = Vec::new();
            copy.subscriptions = BTreeMap::new();
            let mut topics = std::mem::take(&mut copy.topics);
            self.renumber_topics(&mut topics);
            copy.topics = topics;
            let clash = self.products.values().any(|p| {
                p.instance_id == copy.instance_id
                    && p.uid == copy.uid
                    && p.product_name == copy.product_name
                    && p.product_key != copy.product_key
            });
            if clash {
                if let Some(stored) = self.jobs.get_mut(&job.job_id) {
                    stored.status = m::JOB_INTERRUPTED;
                }
                continue;
            }
            self.products.entry((copy.instance_id.clone(), copy.product_key.clone())).or_insert(copy);
        }
    }

    /// Handles one call.
    ///
    /// # Errors
    /// [`ApiError`] with the platform's code for every refused call (in opaque-codes mode a
    /// made-up code is replaced, see [`Rules::opaque_codes`]).
    pub fn handle(&mut self, ctx: &CallContext, action: &str, params: &Params) -> Result<Value, ApiError> {
        let result = self.answer(ctx, action, params);
        match result {
            Err(error)
                if self.rules.opaque_codes && emulator_codes::INVENTED.contains(&error.code.as_str()) =>
            {
                self.disguised += 1;
                Err(disguise(error, self.disguised))
            }
            other => other,
        }
    }

    fn answer(&mut self, ctx: &CallContext, action: &str, params: &Params) -> Result<Value, ApiError> {
        self.advance_jobs(ctx.now_ms);
        if quota::SHANGHAI_ONLY.contains(&action) && ctx.region != quota::DISTRIBUTION_REGION {
            return Err(ApiError::gateway(
                404,
                "InvalidAction.NotFound",
                format!(
                    "Specified api is not found, please check your url and method. ({action} is served only at iot.cn-shanghai.aliyuncs.com)"
                ),
            ));
        }
        match action {
            m::CreateProduct::ACTION => self.create_product(ctx, m::CreateProduct::from_params(params)?),
            m::UpdateProduct::ACTION => self.update_product(ctx, m::UpdateProduct::from_params(params)?),
            m::DeleteProduct::ACTION => self.delete_product(ctx, m::DeleteProduct::from_params(params)?),
            m::QueryProduct::ACTION => self.query_product(ctx, m::QueryProduct::from_params(params)?),
            m::QueryProductList::ACTION => {
                self.query_product_list(ctx, m::QueryProductList::from_params(params)?)
            }
            m::ReleaseProduct::ACTION => {
                let op = m::ReleaseProduct::from_params(params)?;
                self.product_mut(ctx, op.iot_instance_id.as_deref(), &op.product_key)?.released = true;
                Ok(json!({}))
            }
            m::CancelReleaseProduct::ACTION => {
                let op = m::CancelReleaseProduct::from_params(params)?;
                self.product_mut(ctx, op.iot_instance_id.as_deref(), &op.product_key)?.released = false;
                Ok(json!({}))
            }
            m::CreateProductTags::ACTION => {
                let op = m::CreateProductTags::from_params(params)?;
                self.set_tags(ctx, op.iot_instance_id.as_deref(), &op.product_key, op.product_tag, false)
            }
            m::UpdateProductTags::ACTION => {
                let op = m::UpdateProductTags::from_params(params)?;
                self.set_tags(ctx, op.iot_instance_id.as_deref(), &op.product_key, op.product_tag, true)
            }
            m::DeleteProductTags::ACTION => self.delete_tags(ctx, m::DeleteProductTags::from_params(params)?),
            m::ListProductTags::ACTION => {
                let op = m::ListProductTags::from_params(params)?;
                let product = self.product(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
                let tags = product
                    .tags
                    .iter()
                    .map(|(k, v)| Tag { tag_key: k.clone(), tag_value: v.clone() })
                    .collect();
                Ok(body(&m::ListProductTagsResponse { data: Some(m::TagList { product_tag: tags }) }))
            }
            m::ListProductByTags::ACTION => {
                self.list_by_tags(ctx, m::ListProductByTags::from_params(params)?)
            }
            m::ImportThingModelTsl::ACTION => {
                self.import_tsl(ctx, m::ImportThingModelTsl::from_params(params)?)
            }
            m::GetThingModelTsl::ACTION => {
                let op = m::GetThingModelTsl::from_params(params)?;
                self.get_tsl(
                    ctx,
                    op.iot_instance_id.as_deref(),
                    &op.product_key,
                    op.model_version.as_deref(),
                    false,
                )
            }
            m::GetThingModelTslPublished::ACTION => {
                let op = m::GetThingModelTslPublished::from_params(params)?;
                self.get_tsl(
                    ctx,
                    op.iot_instance_id.as_deref(),
                    &op.product_key,
                    op.model_version.as_deref(),
                    true,
                )
            }
            m::PublishThingModel::ACTION => self.publish_tsl(ctx, m::PublishThingModel::from_params(params)?),
            m::ListThingModelVersion::ACTION => {
                let op = m::ListThingModelVersion::from_params(params)?;
                let product = self.product(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
                let versions = product
                    .versions
                    .iter()
                    .map(|v| m::ModelVersion {
                        model_version: v.model_version.clone(),
                        description: v.description.clone(),
                        gmt_create: v.gmt_create,
                    })
                    .collect();
                Ok(body(&m::ListThingModelVersionResponse {
                    data: Some(m::ModelVersions { model_versions: versions }),
                }))
            }
            m::CreateProductDistributeJob::ACTION => {
                self.create_distribute_job(ctx, m::CreateProductDistributeJob::from_params(params)?)
            }
            m::QueryDeviceDistributeJob::ACTION => {
                let op = m::QueryDeviceDistributeJob::from_params(params)?;
                let job = self.jobs.get(&op.job_id).filter(|j| j.uid == ctx.uid).ok_or_else(job_not_found)?;
                Ok(body(&m::QueryDeviceDistributeJobResponse { data: Some(job_view(job)) }))
            }
            m::ListDeviceDistributeJob::ACTION => {
                self.list_jobs(ctx, m::ListDeviceDistributeJob::from_params(params)?)
            }
            m::DeleteDeviceDistributeJob::ACTION => {
                let op = m::DeleteDeviceDistributeJob::from_params(params)?;
                match self.jobs.get(&op.job_id) {
                    Some(job) if job.uid == ctx.uid => {
                        self.jobs.remove(&op.job_id);
                        Ok(json!({}))
                    }
                    _ => Err(job_not_found()),
                }
            }
            m::ListDistributedProduct::ACTION => {
                self.list_distributed(ctx, m::ListDistributedProduct::from_params(params)?)
            }
            m::RegisterDevice::ACTION => self.register_device(ctx, m::RegisterDevice::from_params(params)?),
            m::QueryDeviceStatistics::ACTION => {
                self.device_statistics(ctx, m::QueryDeviceStatistics::from_params(params)?)
            }
            other => self.answer_parts(ctx, other, params).unwrap_or_else(|| {
                Err(ApiError::gateway(
                    404,
                    "InvalidAction.NotFound",
                    format!("Specified api is not found, please check your url and method. (Action {other})"),
                ))
            }),
        }
    }

    fn create_product(&mut self, ctx: &CallContext, op: m::CreateProduct) -> Result<Value, ApiError> {
        let instance = self.resolve_instance(ctx, op.iot_instance_id.as_deref())?;
        let CreateAttributes { code, senior, data_format, net_type, auth_type, validate_type } =
            check_create(&op)?;
        let in_instance: Vec<&Product> =
            self.products.values().filter(|p| p.instance_id == instance && p.uid == ctx.uid).collect();
        if in_instance.iter().any(|p| p.product_name == op.product_name) {
            return Err(ApiError::business(
                "iot.prod.AlreadyExistedProductName",
                "A product with the same name already exists in this instance.",
            ));
        }
        if in_instance.len() >= self.rules.max_products_per_instance {
            return Err(ApiError::business(
                "iot.prod.ProductCountExceedMax",
                format!(
                    "The instance already has the maximum of {} products.",
                    self.rules.max_products_per_instance
                ),
            ));
        }
        let product_key = self.new_product_key();
        let product_secret =
            self.random_string(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
        let initial = ThingModel::empty().normal_form();
        let versions = if senior && op.publish_auto.unwrap_or(true) {
            vec![StoredVersion {
                model_version: "1.0".into(),
                description: None,
                gmt_create: ctx.now_ms,
                tsl: initial.clone(),
            }]
        } else {
            Vec::new()
        };
        let product = Product {
            uid: ctx.uid.clone(),
            instance_id: instance.clone(),
            region: ctx.region.clone(),
            product_key: product_key.clone(),
            product_secret: product_secret.clone().into(),
            product_name: op.product_name.clone(),
            description: op.description.clone(),
            node_type: op.node_type,
            aliyun_commodity_code: code.clone(),
            data_format,
            protocol_type: op.protocol_type.clone(),
            net_type,
            auth_type: auth_type.clone(),
            category_key: op.category_key.clone(),
            validate_type,
            resource_group_id: op.resource_group_id.clone(),
            gmt_create: ctx.now_ms,
            released: false,
            distributed: false,
            tags: BTreeMap::new(),
            tsl_draft: initial,
            versions,
            devices: Vec::new(),
            topics: Vec::new(),
            script: None,
            subscriptions: BTreeMap::new(),
        };
        self.product_history.push((product_key.clone(), product.product_name.clone()));
        self.products.insert((instance, product_key.clone()), product);
        Ok(body(&m::CreateProductResponse {
            product_key: Some(product_key.clone()),
            data: Some(m::CreatedProduct {
                product_key,
                product_name: op.product_name,
                product_secret: product_secret.into(),
                aliyun_commodity_code: Some(code),
                auth_type: Some(auth_type),
                data_format: if senior { data_format } else { None },
                description: op.description,
                id2: Some(false),
                node_type: if senior { Some(op.node_type) } else { None },
                protocol_type: if senior { op.protocol_type } else { None },
                resource_group_id: op.resource_group_id,
            }),
        }))
    }

    fn update_product(&mut self, ctx: &CallContext, op: m::UpdateProduct) -> Result<Value, ApiError> {
        check_product_name(&op.product_name)?;
        check_description(op.description.as_deref())?;
        let lock = self.rules.lock_published;
        let current = self.product(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
        if lock && current.released {
            return Err(locked());
        }
        let clash = self.products.values().any(|p| {
            p.uid == ctx.uid
                && p.instance_id == current.instance_id
                && p.product_name == op.product_name
                && p.product_key != op.product_key
        });
        if clash {
            return Err(ApiError::business(
                "iot.prod.AlreadyExistedProductName",
                "A product with the same name already exists in this instance.",
            ));
        }
        let product = self.product_mut(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
        product.product_name = op.product_name;
        if op.description.is_some() {
            product.description = op.description;
        }
        Ok(json!({}))
    }

    fn delete_product(&mut self, ctx: &CallContext, op: m::DeleteProduct) -> Result<Value, ApiError> {
        let lock = self.rules.lock_published;
        let policy = self.rules.delete_product_with_devices;
        let product = self.product_mut(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
        if lock && product.released {
            return Err(locked());
        }
        if policy == DeleteWithDevices::Refuse && !product.devices.is_empty() {
            return Err(ApiError::business(
                emulator_codes::PRODUCT_HAS_DEVICES,
                format!(
                    "The product still has {} devices and cannot be deleted. Delete its devices first.",
                    product.devices.len()
                ),
            ));
        }
        // Cascade: the devices go with the product; their IotIds are never issued again. Its
        // topic categories, script (and download URLs) and subscriptions go too.
        let key = (product.instance_id.clone(), product.product_key.clone());
        let uid = product.uid.clone();
        self.products.remove(&key);
        self.forget_script_links(&uid, &key.0, &key.1);
        Ok(json!({}))
    }

    fn query_product(&mut self, ctx: &CallContext, op: m::QueryProduct) -> Result<Value, ApiError> {
        // Borrowed, not cloned: a product may hold many devices.
        let p = &*self.product_mut(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
        let senior = p.aliyun_commodity_code == "iothub_senior";
        Ok(body(&m::QueryProductResponse {
            data: Some(m::ProductDetails {
                product_key: p.product_key.clone(),
                product_name: p.product_name.clone(),
                product_secret: p.product_secret.clone(),
                description: p.description.clone(),
                node_type: p.node_type,
                data_format: p.data_format,
                aliyun_commodity_code: Some(p.aliyun_commodity_code.clone()),
                protocol_type: if senior { p.protocol_type.clone() } else { None },
                net_type: p.net_type,
                auth_type: Some(p.auth_type.clone()),
                id2: Some(false),
                category_key: p.category_key.clone(),
                category_name: p.category_key.clone(),
                device_count: device_count(p),
                gmt_create: p.gmt_create,
                owner: Some(true),
                product_status: if p.released { m::RELEASE_STATUS } else { m::DEVELOPMENT_STATUS }.into(),
                validate_type: Some(p.validate_type),
            }),
        }))
    }

    fn query_product_list(&mut self, ctx: &CallContext, op: m::QueryProductList) -> Result<Value, ApiError> {
        if !(1..=200).contains(&op.page_size) || op.current_page < 1 {
            return Err(ApiError::business(
                "iot.common.InvalidPageParams",
                "PageSize must be 1 to 200 and CurrentPage at least 1.",
            ));
        }
        let instance = self.resolve_instance(ctx, op.iot_instance_id.as_deref())?;
        let mut matching: Vec<&Product> = self
            .products
            .values()
            .filter(|p| p.uid == ctx.uid && p.instance_id == instance)
            .filter(|p| op.aliyun_commodity_code.as_ref().is_none_or(|c| *c == p.aliyun_commodity_code))
            .filter(|p| op.resource_group_id.is_none() || op.resource_group_id == p.resource_group_id)
            .collect();
        matching
            .sort_by(|a, b| b.gmt_create.cmp(&a.gmt_create).then_with(|| b.product_key.cmp(&a.product_key)));
        let total = matching.len();
        let size = op.page_size as usize;
        let start = page_offset(op.current_page, size);
        let page = matching
            .into_iter()
            .skip(start)
            .take(size)
            .map(|p| m::ProductSummary {
                product_key: p.product_key.clone(),
                product_name: p.product_name.clone(),
                node_type: p.node_type,
                data_format: p.data_format,
                device_count: device_count(p),
                gmt_create: p.gmt_create,
                description: p.description.clone(),
                auth_type: Some(p.auth_type.clone()),
            })
            .collect();
        Ok(body(&m::QueryProductListResponse {
            data: Some(m::ProductPage {
                current_page: op.current_page,
                page_size: op.page_size,
                page_count: total.div_ceil(size) as i32,
                total: total as i32,
                list: m::ProductInfoList { product_info: page },
            }),
        }))
    }

    fn set_tags(
        &mut self,
        ctx: &CallContext,
        instance: Option<&str>,
        key: &str,
        tags: Vec<Tag>,
        must_exist: bool,
    ) -> Result<Value, ApiError> {
        if tags.is_empty() {
            return Err(ApiError::gateway(
                400,
                "MissingProductTag",
                "ProductTag is mandatory for this action.",
            ));
        }
        if tags.len() > 10 {
            return Err(ApiError::business(
                "iot.check.ParameterIsNotLessThanMax",
                "At most 10 tags can be set per call.",
            ));
        }
        let product = self.product_mut(ctx, instance, key)?;
        let bad: Vec<Tag> = tags
            .iter()
            .filter(|t| !check_tag(t) || (must_exist && !product.tags.contains_key(&t.tag_key)))
            .cloned()
            .collect();
        if !bad.is_empty() {
            let why = if must_exist {
                "Some tags are invalid or do not exist on the product."
            } else {
                "Some tags are invalid: keys are 1-30 letters, digits or dots; values 1-128 letters, digits, _ or -."
            };
            return Err(invalid_tags(bad, why));
        }
        let new_keys: BTreeSet<&String> =
            tags.iter().map(|t| &t.tag_key).filter(|k| !product.tags.contains_key(*k)).collect();
        if product.tags.len() + new_keys.len() > 100 {
            return Err(ApiError::business(
                "iot.check.ParameterIsNotLessThanMax",
                "A product can have at most 100 tags.",
            ));
        }
        for tag in tags {
            product.tags.insert(tag.tag_key, tag.tag_value);
        }
        Ok(json!({}))
    }

    fn delete_tags(&mut self, ctx: &CallContext, op: m::DeleteProductTags) -> Result<Value, ApiError> {
        if op.product_tag_key.is_empty() {
            return Err(ApiError::gateway(
                400,
                "MissingProductTagKey",
                "ProductTagKey is mandatory for this action.",
            ));
        }
        if op.product_tag_key.len() > 10 {
            return Err(ApiError::business(
                "iot.check.ParameterIsNotLessThanMax",
                "At most 10 tags can be deleted per call.",
            ));
        }
        let product = self.product_mut(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
        for key in &op.product_tag_key {
            product.tags.remove(key);
        }
        Ok(json!({}))
    }

    fn list_by_tags(&mut self, ctx: &CallContext, op: m::ListProductByTags) -> Result<Value, ApiError> {
        if op.product_tag.is_empty() {
            return Err(ApiError::gateway(
                400,
                "MissingProductTag",
                "ProductTag is mandatory for this action.",
            ));
        }
        let size = op.page_size.unwrap_or(50);
        let page = op.current_page.unwrap_or(1);
        if !(1..=50).contains(&size) || page < 1 {
            return Err(ApiError::business("iot.common.InvalidPageParams", "PageSize must be 1 to 50."));
        }
        let instance = self.resolve_instance(ctx, op.iot_instance_id.as_deref())?;
        let infos: Vec<m::TaggedProduct> = self
            .products
            .values()
            .filter(|p| p.uid == ctx.uid && p.instance_id == instance)
            .filter(|p| {
                op.product_tag.iter().any(|t| {
                    p.tags.get(&t.tag_key).is_some_and(|v| t.tag_value.is_empty() || *v == t.tag_value)
                })
            })
            .skip(page_offset(page, size as usize))
            .take(size as usize)
            .map(|p| m::TaggedProduct {
                product_key: p.product_key.clone(),
                product_name: p.product_name.clone(),
                node_type: p.node_type,
                create_time: p.gmt_create,
                description: p.description.clone(),
            })
            .collect();
        Ok(body(&m::ListProductByTagsResponse {
            product_infos: Some(m::TaggedProductList { product_info: infos }),
        }))
    }

    fn tsl_editable(&self, product: &Product) -> Result<(), ApiError> {
        if product.aliyun_commodity_code != "iothub_senior" {
            return Err(ApiError::business(
                "iot.prod.NotSeniorProduct",
                "The product is not a Pro edition product and has no thing model.",
            ));
        }
        if product.released {
            return Err(ApiError::business(
                emulator_codes::PRODUCT_PUBLISHED,
                "The product is published: its thing model cannot be modified. Cancel the release (CancelReleaseProduct) first.",
            ));
        }
        if product.distributed {
            return Err(ApiError::business(
                emulator_codes::PRODUCT_DISTRIBUTED,
                "The product has been distributed to another instance: its thing model can no longer be modified.",
            ));
        }
        Ok(())
    }

    fn import_tsl(&mut self, ctx: &CallContext, op: m::ImportThingModelTsl) -> Result<Value, ApiError> {
        let product = self.product(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
        self.tsl_editable(&product)?;
        let text = op.tsl_str.unwrap_or_default();
        if text.is_empty() {
            return Err(ApiError::gateway(400, "MissingTslStr", "TslStr is mandatory for this action."));
        }
        let model = ThingModel::parse(&text).map_err(|e| {
            ApiError::business(emulator_codes::INVALID_TSL, format!("The TSL is invalid: {}", e.0))
        })?;
        self.product_mut(ctx, op.iot_instance_id.as_deref(), &op.product_key)?.tsl_draft =
            model.normal_form();
        Ok(json!({}))
    }

    fn get_tsl(
        &mut self,
        ctx: &CallContext,
        instance: Option<&str>,
        key: &str,
        version: Option<&str>,
        published: bool,
    ) -> Result<Value, ApiError> {
        let product = self.product(ctx, instance, key)?;
        if product.aliyun_commodity_code != "iothub_senior" {
            return Err(ApiError::business(
                "iot.prod.NotSeniorProduct",
                "The product is not a Pro edition product and has no thing model.",
            ));
        }
        let tsl = match (version.filter(|v| !v.is_empty()), published) {
            (None, false) => product.tsl_draft.clone(),
            (None, true) => match product.versions.first() {
                Some(v) => v.tsl.clone(),
                None => {
                    return Err(ApiError::business(
                        emulator_codes::THING_MODEL_NOT_PUBLISHED,
                        "The thing model has not been published.",
                    ));
                }
            },
            (Some(wanted), _) => match product.versions.iter().find(|v| v.model_version == wanted) {
                Some(v) => v.tsl.clone(),
                None => {
                    return Err(ApiError::business(
                        emulator_codes::THING_MODEL_VERSION_NOT_FOUND,
                        format!("The thing-model version {wanted} does not exist."),
                    ));
                }
            },
        };
        let model = ThingModel::from_value(&tsl).unwrap_or_else(|_| ThingModel::empty());
        Ok(body(&m::GetThingModelTslResponse {
            data: Some(m::TslData { tsl_str: model.export(&product.product_key).to_string(), tsl_uri: None }),
        }))
    }

    fn publish_tsl(&mut self, ctx: &CallContext, op: m::PublishThingModel) -> Result<Value, ApiError> {
        let product = self.product(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
        self.tsl_editable(&product)?;
        if let Some(d) = op.description.as_deref()
            && d.chars().count() > 100
        {
            return Err(ApiError::business(
                "iot.common.InvalidFormattedParameter",
                "Description exceeds 100 characters.",
            ));
        }
        let version = match op.model_version.filter(|v| !v.is_empty()) {
            Some(v) => {
                let valid = v.len() <= 16 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
                if !valid {
                    return Err(ApiError::business(
                        "iot.common.InvalidFormattedParameter",
                        "ModelVersion must be 1 to 16 letters, digits or dots.",
                    ));
                }
                if product.versions.iter().any(|s| s.model_version == v) {
                    return Err(ApiError::business(
                        "iot.common.InvalidFormattedParameter",
                        format!("The thing-model version {v} already exists."),
                    ));
                }
                v
            }
            None => {
                let mut n = product.versions.len() + 1;
                while product.versions.iter().any(|s| s.model_version == format!("{n}.0")) {
                    n += 1;
                }
                format!("{n}.0")
            }
        };
        let now = ctx.now_ms;
        let product = self.product_mut(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
        product.versions.insert(
            0,
            StoredVersion {
                model_version: version,
                description: op.description,
                gmt_create: now,
                tsl: product.tsl_draft.clone(),
            },
        );
        product.versions.truncate(10);
        Ok(json!({}))
    }

    fn create_distribute_job(
        &mut self,
        ctx: &CallContext,
        op: m::CreateProductDistributeJob,
    ) -> Result<Value, ApiError> {
        if op.target_uid.as_deref().unwrap_or_default().is_empty()
            && op.target_aliyun_id.as_deref().unwrap_or_default().is_empty()
        {
            return Err(ApiError::business(
                "iot.system.IllegalRequest",
                "TargetUid and TargetAliyunId cannot both be empty.",
            ));
        }
        let other_account = op.target_uid.as_deref().is_some_and(|u| !u.is_empty() && u != ctx.uid)
            || op.target_aliyun_id.as_deref().is_some_and(|a| !a.is_empty() && a != ctx.logon_id);
        if other_account {
            return Err(ApiError::business(
                "iot.system.IllegalRequest",
                "Products cannot be distributed across accounts: the target must be the caller's own account.",
            ));
        }
        if op.source_instance_id == op.target_instance_id {
            return Err(ApiError::business(
                "iot.system.InstanceIdSame",
                "The source and target instances are the same.",
            ));
        }
        for id in [&op.source_instance_id, &op.target_instance_id] {
            if self.instance_region(id).is_none() {
                return Err(ApiError::business(
                    "iot.system.InstanceNotFound",
                    format!("The instance {id} does not exist."),
                ));
            }
        }
        let source = (op.source_instance_id.clone(), op.product_key.clone());
        if self.products.get(&source).is_none_or(|p| p.uid != ctx.uid) {
            return Err(not_found());
        }
        let jobs = self.jobs.values().filter(|j| j.uid == ctx.uid).count();
        if jobs >= self.rules.max_distribution_jobs {
            return Err(ApiError::business(
                emulator_codes::DISTRIBUTE_JOB_LIMIT,
                format!(
                    "The account already has the maximum of {} distribution tasks. Delete finished tasks (DeleteDeviceDistributeJob) first.",
                    self.rules.max_distribution_jobs
                ),
            ));
        }
        let job_id = format!(
            "{}010001",
            self.random_string(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        );
        let job = Job {
            job_id: job_id.clone(),
            uid: ctx.uid.clone(),
            product_key: op.product_key,
            source_instance_id: op.source_instance_id,
            target_instance_id: op.target_instance_id,
            target_uid: ctx.uid.clone(),
            target_aliyun_id: op.target_aliyun_id.filter(|a| !a.is_empty()),
            gmt_create: ctx.now_ms,
            status: m::JOB_INITIALIZING,
            will_fail: ctx.fail_distribution,
        };
        self.job_history.push((job_id.clone(), job.product_key.clone()));
        self.jobs.insert(job_id.clone(), job);
        Ok(body(&m::CreateProductDistributeJobResponse { job_id: Some(job_id) }))
    }

    fn list_jobs(&mut self, ctx: &CallContext, op: m::ListDeviceDistributeJob) -> Result<Value, ApiError> {
        if !(1..=200).contains(&op.page_size) {
            return Err(ApiError::business("iot.common.InvalidPageParams", "PageSize must be 1 to 200."));
        }
        let matching: Vec<&Job> = self
            .jobs
            .values()
            .filter(|j| j.uid == ctx.uid)
            .filter(|j| op.job_id.as_ref().is_none_or(|id| *id == j.job_id))
            .filter(|j| op.product_key.as_ref().is_none_or(|k| *k == j.product_key))
            .filter(|j| op.target_uid.as_ref().is_none_or(|u| *u == j.target_uid))
            .filter(|j| op.status.is_none_or(|s| s == j.status))
            .collect();
        let size = op.page_size as usize;
        let start = match op.next_token.as_deref() {
            Some(token) if !token.is_empty() => token
                .parse::<usize>()
                .map_err(|_| ApiError::business("iot.common.InvalidPageParams", "NextToken is not valid."))?,
            _ => page_offset(op.current_page.unwrap_or(1), size),
        };
        let items: Vec<m::DistributeJob> =
            matching.iter().skip(start).take(size).map(|j| job_view(j)).collect();
        let next = (start + items.len() < matching.len()).then(|| (start + items.len()).to_string());
        Ok(body(&m::ListDeviceDistributeJobResponse {
            data: Some(m::JobPage {
                total: matching.len() as i32,
                next_token: next,
                job_info: m::JobItems { items },
            }),
        }))
    }

    fn list_distributed(
        &mut self,
        ctx: &CallContext,
        op: m::ListDistributedProduct,
    ) -> Result<Value, ApiError> {
        if !(1..=200).contains(&op.page_size) || op.current_page < 1 {
            return Err(ApiError::business("iot.common.InvalidPageParams", "PageSize must be 1 to 200."));
        }
        let items: Vec<m::DistributedProduct> = self
            .jobs
            .values()
            .filter(|j| j.uid == ctx.uid && j.status == m::JOB_COMPLETED)
            .filter(|j| op.product_key.as_ref().is_none_or(|k| *k == j.product_key))
            .filter(|j| op.source_instance_id.as_ref().is_none_or(|s| *s == j.source_instance_id))
            .filter(|j| op.target_instance_id.as_ref().is_none_or(|t| *t == j.target_instance_id))
            .filter(|j| op.target_uid.as_ref().is_none_or(|u| *u == j.target_uid))
            .map(|j| m::DistributedProduct {
                product_key: j.product_key.clone(),
                source_instance_id: j.source_instance_id.clone(),
                source_uid: Some(j.uid.clone()),
                source_region: self.instance_region(&j.source_instance_id),
                target_instance_id: j.target_instance_id.clone(),
                target_region: self.instance_region(&j.target_instance_id),
                target_uid: Some(j.target_uid.clone()),
                target_aliyun_id: j.target_aliyun_id.clone(),
                gmt_create: j.gmt_create,
            })
            .collect();
        let total = items.len() as i32;
        let size = op.page_size as usize;
        let page = items.into_iter().skip(page_offset(op.current_page, size)).take(size).collect();
        Ok(body(&m::ListDistributedProductResponse {
            data: Some(m::DistributedPage { total, info: m::DistributedItems { items: page } }),
        }))
    }

    /// A new device named `name` (or a generated name not in `taken`), with a fresh IotId
    /// and DeviceSecret; `taken` gains its name.
    fn new_device(
        &mut self,
        name: Option<String>,
        nickname: Option<String>,
        taken: &mut HashSet<String>,
        now_ms: i64,
    ) -> Device {
        const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let device_name = match name {
            Some(name) => name,
            // Generated names look like the platform's: 20 letters and digits.
            None => loop {
                let candidate = self.random_string(20, ALPHANUMERIC);
                if !taken.contains(&candidate) {
                    break candidate;
                }
            },
        };
        taken.insert(device_name.clone());
        let iot_id = loop {
            // The documented example's shape: 20 characters, `0010`, 6 characters.
            let candidate = format!(
                "{}0010{}",
                self.random_string(20, ALPHANUMERIC),
                self.random_string(6, ALPHANUMERIC)
            );
            if self.issued_iot_ids.insert(candidate.clone()) {
                break candidate;
            }
        };
        Device {
            device_name,
            iot_id,
            device_secret: self.random_string(32, ALPHANUMERIC).into(),
            nickname,
            gmt_create: now_ms,
            activated: false,
            online: false,
        }
    }

    fn register_device(&mut self, ctx: &CallContext, op: m::RegisterDevice) -> Result<Value, ApiError> {
        let name = op.device_name.filter(|n| !n.is_empty());
        if let Some(name) = &name {
            check_device_name(name)?;
        }
        let nickname = op.nickname.filter(|n| !n.is_empty());
        if let Some(nickname) = &nickname {
            check_nickname(nickname)?;
        }
        let product = self.product_mut(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
        if let Some(name) = &name
            && product.devices.iter().any(|d| d.device_name == *name)
        {
            return Err(ApiError::business(
                "iot.device.AlreadyExistedDeviceName",
                format!("A device named {name} already exists in this product."),
            ));
        }
        let key = (product.instance_id.clone(), product.product_key.clone());
        let mut devices = std::mem::take(&mut product.devices);
        let mut taken: HashSet<String> = devices.iter().map(|d| d.device_name.clone()).collect();
        let device = self.new_device(name, nickname, &mut taken, ctx.now_ms);
        let answer = m::RegisterDeviceResponse {
            data: Some(m::RegisteredDevice {
                iot_id: device.iot_id.clone(),
                product_key: key.1.clone(),
                device_name: device.device_name.clone(),
                device_secret: device.device_secret.clone(),
                nickname: device.nickname.clone(),
            }),
        };
        devices.push(device);
        self.products.get_mut(&key).expect("the product was just found").devices = devices;
        Ok(body(&answer))
    }

    fn device_statistics(
        &mut self,
        ctx: &CallContext,
        op: m::QueryDeviceStatistics,
    ) -> Result<Value, ApiError> {
        let counts = match op.product_key.as_deref().filter(|k| !k.is_empty()) {
            Some(key) => statistics(&self.product_mut(ctx, op.iot_instance_id.as_deref(), key)?.devices),
            None => {
                let instance = self.resolve_instance(ctx, op.iot_instance_id.as_deref())?;
                statistics(
                    self.products
                        .values()
                        .filter(|p| p.uid == ctx.uid && p.instance_id == instance)
                        .flat_map(|p| &p.devices),
                )
            }
        };
        // The emulator has no device groups: every group id names one that does not exist.
        if let Some(group) = op.group_id.as_deref().filter(|g| !g.is_empty()) {
            return Err(ApiError::business(
                "iot.group.NotExistedGroup",
                format!("The device group {group} does not exist."),
            ));
        }
        Ok(body(&m::QueryDeviceStatisticsResponse { data: Some(counts) }))
    }

    /// Changes a product's devices from the admin side (see [`DeviceChange`]): what real
    /// devices do by registering and connecting. The product is the one with key
    /// `product_key`, of account `uid` and in instance `instance` when they are given.
    ///
    /// # Errors
    /// `iot.prod.NotExistedProduct` for no such product; `InvalidParameter` (400) when the
    /// key names products in several instances (a distributed copy) and no instance is
    /// given, or when the counts break online ≤ activated ≤ devices (nothing is changed then).
    pub fn set_devices(
        &mut self,
        uid: Option<&str>,
        instance: Option<&str>,
        product_key: &str,
        change: DeviceChange,
        now_ms: i64,
    ) -> Result<DeviceCounts, ApiError> {
        let matching: Vec<(String, String)> = self
            .products
            .iter()
            .filter(|((i, k), p)| {
                k == product_key
                    && uid.is_none_or(|u| p.uid == u)
                    && instance.filter(|i| !i.is_empty()).is_none_or(|wanted| i == wanted)
            })
            .map(|(key, _)| key.clone())
            .collect();
        let key = match matching.as_slice() {
            [] => return Err(not_found()),
            [key] => key.clone(),
            several => {
                let instances: Vec<&str> = several.iter().map(|(i, _)| i.as_str()).collect();
                return Err(ApiError::gateway(
                    400,
                    "InvalidParameter",
                    format!(
                        "The product {product_key} exists in several instances ({}): name one.",
                        instances.join(", ")
                    ),
                ));
            }
        };
        let product = self.products.get_mut(&key).expect("just found");
        let current = statistics(&product.devices);
        let total = (product.devices.len().saturating_add(change.register)).max(change.at_least);
        let activated = change.activated.unwrap_or(current.active_count as usize);
        let online = change.online.unwrap_or(current.online_count as usize);
        if online > activated || activated > total {
            return Err(ApiError::gateway(
                400,
                "InvalidParameter",
                format!(
                    "The counts must satisfy online ({online}) <= activated ({activated}) <= devices ({total})."
                ),
            ));
        }
        let mut devices = std::mem::take(&mut product.devices);
        let mut taken: HashSet<String> = devices.iter().map(|d| d.device_name.clone()).collect();
        while devices.len() < total {
            let device = self.new_device(None, None, &mut taken, now_ms);
            devices.push(device);
        }
        for (index, device) in devices.iter_mut().enumerate() {
            device.activated = index < activated;
            device.online = index < online;
        }
        let statistics = statistics(&devices);
        self.products.get_mut(&key).expect("just found").devices = devices;
        Ok(DeviceCounts { product_key: key.1, iot_instance_id: key.0, statistics })
    }
}

/// Where page `page` (1-based; anything below 1 counts as the first) of `size` items starts,
/// saturating rather than overflowing for absurd page numbers (which then return nothing).
fn page_offset(page: i32, size: usize) -> usize {
    (page.max(1) as usize - 1).saturating_mul(size)
}

fn job_not_found() -> ApiError {
    ApiError::business(emulator_codes::DISTRIBUTE_JOB_NOT_FOUND, "The distribution task does not exist.")
}

fn job_view(job: &Job) -> m::DistributeJob {
    m::DistributeJob {
        job_id: job.job_id.clone(),
        product_key: job.product_key.clone(),
        source_instance_id: job.source_instance_id.clone(),
        source_uid: Some(job.uid.clone()),
        target_uid: Some(job.target_uid.clone()),
        status: job.status,
        strategy: 0,
        gmt_create: job.gmt_create,
        total: 0,
        target_instance_configs: m::TargetInstanceConfigs {
            target_instance_configs: vec![m::TargetInstanceConfig {
                target_instance_id: job.target_instance_id.clone(),
            }],
        },
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod scripts_tests;
#[cfg(test)]
mod subscriptions_tests;
#[cfg(test)]
mod topics_tests;
