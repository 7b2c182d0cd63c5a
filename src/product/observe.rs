//! Reads the product from the platform: by its key when one is known, else — after a create
//! whose result was not seen, or when adoption by name is allowed — by its unique name.
//!
//! Only platform reads happen here.

use std::collections::BTreeMap;

use tracing::debug;

use crate::crd::product::AdoptionPolicy;
use iot_platform::model::{
    GetThingModelTsl, GetThingModelTslPublished, GetThingScript, ListProductTags, ProductDetails,
    ProductSummary, QueryDeviceStatistics, QueryProduct, QueryProductList, QueryProductTopic,
    QuerySubscribeRelation, SUBSCRIBE_AMQP, topic_operation_name,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::product::DeviceCounts;
use iot_platform::tsl::ThingModel;
use iot_platform::{ErrorClass, IotPlatform, PlatformError};

use super::desired::DesiredProduct;
use super::execute::held_by_another;
use super::parts::{ObservedScript, ObservedSubscription, ObservedTopic, script_digest};
use super::plan::{Mode, Observed, ObservedProduct, Recorded};

/// The largest page QueryProductList serves.
const PAGE_SIZE: i32 = 200;

/// What observing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The product, as the planner sees it.
    pub observed: Observed,
    /// How the product was found, when not by a recorded key.
    pub found_by: Option<FoundBy>,
}

/// How a product without a recorded key was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundBy {
    /// A create this resource started (whose answer was lost) made it.
    PendingCreate,
    /// The spec allows adopting by name.
    Name,
    /// The spec names its key.
    SpecKey,
}

pub use super::claim::Pending;

/// Looks a product up by name in `instance`, newest first. With `created_after_ms`, stops
/// at the first page older than that (a pending create's product is recent).
///
/// # Errors
/// [`PlatformError`] when listing fails.
pub async fn find_by_name(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    name: &str,
    created_after_ms: Option<i64>,
) -> Result<Option<ProductSummary>, PlatformError> {
    let mut page = 1;
    loop {
        let (products, last) = product_page(platform, instance, page).await?;
        if let Some(found) = products.iter().find(|p| p.product_name == name) {
            return Ok(Some(found.clone()));
        }
        let older_than_wanted =
            created_after_ms.is_some_and(|after| products.last().is_some_and(|p| p.gmt_create < after));
        if last || older_than_wanted {
            return Ok(None);
        }
        page += 1;
    }
}

/// Page `page` (1-based) of the products of `instance`, newest first, and whether it is the
/// last.
///
/// # Errors
/// [`PlatformError`] when listing fails.
pub async fn product_page(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    page: i32,
) -> Result<(Vec<ProductSummary>, bool), PlatformError> {
    let request = QueryProductList {
        iot_instance_id: instance.map(str::to_string),
        current_page: page,
        page_size: PAGE_SIZE,
        ..QueryProductList::default()
    };
    let data = platform.call(&request).await?.data.unwrap_or_default();
    let products = data.list.product_info;
    let last = products.len() < PAGE_SIZE as usize || page >= data.page_count.max(1);
    Ok((products, last))
}

async fn query(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    key: &str,
) -> Result<Option<ProductDetails>, PlatformError> {
    let request =
        QueryProduct { iot_instance_id: instance.map(str::to_string), product_key: key.to_string() };
    match platform.call(&request).await {
        Ok(response) => Ok(response.data),
        Err(e) if e.class() == ErrorClass::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

async fn details_of(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    desired: &DesiredProduct,
    recorded: &Recorded,
    details: ProductDetails,
    mode: Mode,
) -> Result<ObservedProduct, PlatformError> {
    let key = details.product_key.clone();
    let mut tags = BTreeMap::new();
    let mut thing_model_digest = None;
    let mut thing_model_draft = None;
    if !desired.tags.is_empty() || desired.identity.is_some() || !recorded.managed_tag_keys.is_empty() {
        let request =
            ListProductTags { iot_instance_id: instance.map(str::to_string), product_key: key.clone() };
        tags = platform
            .call(&request)
            .await?
            .data
            .unwrap_or_default()
            .product_tag
            .into_iter()
            .map(|t| (t.tag_key, t.tag_value))
            .collect();
    }
    if mode == Mode::Apply
        && desired.thing_model.is_some()
        && details.aliyun_commodity_code.as_deref() == Some("iothub_senior")
    {
        let request = GetThingModelTsl {
            iot_instance_id: instance.map(str::to_string),
            product_key: key.clone(),
            ..Default::default()
        };
        let text = platform.call(&request).await?.data.unwrap_or_default().tsl_str;
        thing_model_digest = Some(digest_of(&text));
        thing_model_draft = ThingModel::parse(&text).ok();
    }
    let mut published_thing_model_digest = None;
    if let (Some(model), Some(draft)) = (&desired.thing_model, &thing_model_digest)
        && *draft == model.digest
        && recorded.published_thing_model.as_deref() != Some(model.digest.as_str())
    {
        published_thing_model_digest = latest_published_digest(platform, instance, &key).await?;
    }
    let devices = device_counts(platform, instance, &key, details.device_count).await?;
    let subscription =
        if mode == Mode::Apply && (desired.subscription.is_some() || recorded.subscription_managed) {
            Some(subscription_of(platform, instance, &key).await?)
        } else {
            None
        };
    let (topics, script) = if mode == Mode::Apply {
        let topics = match &desired.topics {
            Some(_) => topics_of(platform, instance, &key, !recorded.topics_in_sync).await?,
            None => None,
        };
        let script = match &desired.script {
            Some(_) => Some(script_of(platform, instance, &key).await?),
            None => None,
        };
        (topics, script)
    } else {
        (None, None)
    };
    Ok(ObservedProduct {
        details,
        tags,
        thing_model_digest,
        thing_model_draft,
        published_thing_model_digest,
        devices,
        topics,
        script,
        subscription,
    })
}

/// The product's AMQP subscription. The platform documents no code for "this product has
/// none", so any business answer (not a failure to reach it, a server error, a throttling or
/// credentials refusal) reads as none: the worst a misread costs is a create the platform
/// refuses (a product has one subscription per type), and the next look finds it.
///
/// # Errors
/// [`PlatformError`] when the platform cannot be reached, throttles, or fails.
pub async fn subscription_of(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    key: &str,
) -> Result<ObservedSubscription, PlatformError> {
    let request = QuerySubscribeRelation {
        iot_instance_id: instance.map(str::to_string),
        product_key: key.to_string(),
        subscribe_type: SUBSCRIBE_AMQP.to_string(),
    };
    match platform.call(&request).await {
        Ok(answer) => Ok(ObservedSubscription::from_answer(&answer)),
        Err(PlatformError::Api { class, http_status, .. })
            if http_status < 500 && !matches!(class, ErrorClass::Throttled | ErrorClass::Auth) =>
        {
            Ok(ObservedSubscription::None)
        }
        Err(e) => Err(e),
    }
}

/// The product's custom topic categories. QueryProductTopic is slow (3 per second per
/// account): when the topics are `needed` (the spec changed, or they were not all applied)
/// the read waits its turn; a resync of topics already in sync reads only if the quota has
/// room now, and otherwise leaves them for the next resync (`None`), so resyncs never hold
/// up creates and spec changes.
///
/// # Errors
/// [`PlatformError`] when the read fails.
pub async fn topics_of(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    key: &str,
    needed: bool,
) -> Result<Option<Vec<ObservedTopic>>, PlatformError> {
    let request =
        QueryProductTopic { iot_instance_id: instance.map(str::to_string), product_key: key.to_string() };
    let answer = if needed {
        platform.call(&request).await
    } else {
        platform.call_within(&request, super::execute::PACED_WAIT).await
    };
    let data = match answer {
        Ok(response) => response.data.unwrap_or_default(),
        Err(PlatformError::Deferred { .. }) => {
            debug!(product_key = key, "topic quota in use; topics are checked on a later resync");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(Some(
        data.product_topic_info
            .into_iter()
            .map(|t| ObservedTopic {
                operation: topic_operation_name(&t.operation).map_or(t.operation.clone(), str::to_string),
                id: t.id,
                name: t.topic_short_name,
                description: t.desc.unwrap_or_default(),
                proxy_subscribe: t.enable_proxy_subscribe.unwrap_or(false),
                codec: t.codec.filter(|c| !c.is_empty()),
            })
            .collect(),
    ))
}

/// The product's data-parsing script: GetThingScript, then its text from the URL it gives
/// (fetched only from where the platform hands out files; see `iot_platform::download`).
///
/// # Errors
/// [`PlatformError`] when the read or the download fails.
pub async fn script_of(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    key: &str,
) -> Result<ObservedScript, PlatformError> {
    Ok(match script_text(platform, instance, key).await? {
        None => ObservedScript::None,
        Some((language, text)) => {
            ObservedScript::Present { digest: script_digest(&language, &text), language }
        }
    })
}

/// The product's data-parsing script — its ScriptType and text — or `None` when it has none.
///
/// # Errors
/// [`PlatformError`] when the read or the download fails.
pub async fn script_text(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    key: &str,
) -> Result<Option<(String, String)>, PlatformError> {
    let request =
        GetThingScript { iot_instance_id: instance.map(str::to_string), product_key: key.to_string() };
    let script = match platform.call(&request).await {
        Ok(response) => response.data,
        Err(e) if e.class() == ErrorClass::NotFound => None,
        Err(e) => return Err(e),
    };
    let Some(script) = script.filter(|s| !s.script_url.is_empty()) else { return Ok(None) };
    let text = platform.download(&script.script_url, crate::crd::product_parts::MAX_SCRIPT_BYTES).await?;
    Ok(Some((script.script_type, text)))
}

/// The product's devices: QueryProduct's `DeviceCount`, and — only when there are any — how
/// many are activated and online (one QueryDeviceStatistics; a product without devices
/// costs no extra read).
async fn device_counts(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    key: &str,
    device_count: i32,
) -> Result<DeviceCounts, PlatformError> {
    let observed_at = Some(Time(jiff::Timestamp::now()));
    if device_count <= 0 {
        return Ok(DeviceCounts { observed_at, ..DeviceCounts::default() });
    }
    let request = QueryDeviceStatistics {
        iot_instance_id: instance.map(str::to_string),
        product_key: Some(key.to_string()),
        group_id: None,
    };
    let stats = platform.call(&request).await?.data.unwrap_or_default();
    Ok(DeviceCounts {
        // The larger of the two counts: one read may be a moment newer than the other.
        total: stats.device_count.max(i64::from(device_count)),
        activated: stats.active_count,
        online: stats.online_count,
        observed_at,
    })
}

/// The digest of a thing model as the platform returned it; one the operator cannot parse
/// differs from any desired model.
fn digest_of(text: &str) -> String {
    ThingModel::parse(text).map_or_else(|_| String::from("unparseable"), |m| m.digest())
}

/// The digest of the product's latest published thing model. `None` when the platform shows
/// none or refuses to say (the platform documents no code for "never published", and a
/// refusal may come as `iot.system.SystemException`): publishing again is then the safe
/// answer (an extra version, never a lost change). Throttling, failed credentials and an
/// unreachable platform are errors: retrying, or a person, helps.
async fn latest_published_digest(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    key: &str,
) -> Result<Option<String>, PlatformError> {
    let request = GetThingModelTslPublished {
        iot_instance_id: instance.map(str::to_string),
        product_key: key.to_string(),
        ..Default::default()
    };
    match platform.call(&request).await {
        Ok(response) => Ok(Some(digest_of(&response.data.unwrap_or_default().tsl_str))),
        Err(e @ PlatformError::Transport { .. }) => Err(e),
        Err(e) if matches!(e.class(), ErrorClass::Throttled | ErrorClass::Auth) => Err(e),
        Err(_) => Ok(None),
    }
}

/// Observes the product of this resource.
///
/// # Errors
/// [`PlatformError`] when a read fails (a missing product is not an error).
pub async fn observe(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    desired: &DesiredProduct,
    recorded: &Recorded,
    pending: Option<&Pending>,
    mode: Mode,
) -> Result<Observation, PlatformError> {
    let known_key = desired.adopt_key.clone().or_else(|| recorded.product_key.clone());
    let (details, found_by) = if let Some(key) = &known_key {
        let found_by = (recorded.product_key.is_none()).then_some(FoundBy::SpecKey);
        match query(platform, instance, key).await? {
            Some(details) => (Some(details), found_by),
            None => return Ok(Observation { observed: Observed::Missing, found_by: None }),
        }
    } else if let Some(pending) = pending {
        // A create was started and its result not recorded: the product, if it was made, has
        // the pending name and was created while one of its attempts was in flight. Any
        // other product of that name is someone else's (a name conflict, found by the
        // create that follows).
        match find_by_name(platform, instance, &pending.product_name, pending.earliest_ms()).await? {
            Some(found) if pending.could_have_made(found.gmt_create) => {
                debug!(product_key = %found.product_key, "found the product of a pending create by its name");
                (query(platform, instance, &found.product_key).await?, Some(FoundBy::PendingCreate))
            }
            _ => (None, None),
        }
    } else if desired.adoption == AdoptionPolicy::ByName && mode == Mode::Apply {
        match find_by_name(platform, instance, &desired.name, None).await? {
            Some(found) => (query(platform, instance, &found.product_key).await?, Some(FoundBy::Name)),
            None => (None, None),
        }
    } else {
        (None, None)
    };
    match details {
        Some(details) => {
            let product = details_of(platform, instance, desired, recorded, details, mode).await?;
            if found_by == Some(FoundBy::PendingCreate) && held_by_another(desired, &product.tags) {
                // Made in the span of an attempt, but another resource or cluster holds it.
                debug!(product_key = %product.details.product_key, "the product of the pending name is held by another");
                return Ok(Observation { observed: Observed::Nothing, found_by: None });
            }
            Ok(Observation { observed: Observed::Exists(Box::new(product)), found_by })
        }
        None => Ok(Observation { observed: Observed::Nothing, found_by: None }),
    }
}
