//! Custom topic categories: each product owns its categories; ids are numbers, unique and
//! never reused. Rules (the CreateProductTopic reference): levels of letters, digits and `_`
//! separated by `/`, none empty; `+` (a level) and `#` (the last level) only for `SUB`;
//! `Operation` `PUB`/`SUB`/`ALL`; description ≤ 100 characters; delegated subscription only
//! for `SUB`/`ALL`; `Codec` (`compress`/`decompress`) only on Enterprise instances and not
//! with a wildcard; names unique within the product; at most
//! [`Rules::max_topics_per_product`](super::Rules::max_topics_per_product) categories.

use serde::Serialize;
use serde_json::{Value, json};

use iot_platform::error::emulator_codes;
use iot_platform::model::{self as m, Operation};
use iot_platform::wire::Params;

use super::parts::{check_unlocked, invalid};
use super::{ApiError, CallContext, State, body};

/// A custom topic category as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    /// Its id (digits).
    pub topic_id: String,
    /// The category below `/${productKey}/${deviceName}/user/`.
    pub topic_short_name: String,
    /// `PUB`, `SUB` or `ALL`.
    pub operation: String,
    /// Description.
    pub desc: Option<String>,
    /// Delegated subscription.
    pub enable_proxy_subscribe: bool,
    /// `compress` or `decompress`.
    pub codec: Option<String>,
}

impl Topic {
    fn view(&self, product_key: &str) -> m::ProductTopicInfo {
        m::ProductTopicInfo {
            id: self.topic_id.clone(),
            product_key: product_key.to_string(),
            topic_short_name: self.topic_short_name.clone(),
            operation: m::topic_operation_code(&self.operation).unwrap_or_default().to_string(),
            desc: self.desc.clone(),
            enable_proxy_subscribe: Some(self.enable_proxy_subscribe),
            codec: self.codec.clone(),
        }
    }
}

/// Checks a topic category as the platform does; `enterprise` says whether the product is in
/// an Enterprise instance (the only ones that take a `Codec`).
pub fn check_topic(topic: &Topic, enterprise: bool) -> Result<(), ApiError> {
    let operation = topic.operation.as_str();
    if ![m::TOPIC_PUB, m::TOPIC_SUB, m::TOPIC_ALL].contains(&operation) {
        return Err(invalid("Operation must be PUB, SUB or ALL."));
    }
    let name = &topic.topic_short_name;
    let levels: Vec<&str> = name.split('/').collect();
    let mut wildcard = false;
    for (index, level) in levels.iter().enumerate() {
        match *level {
            "" => {
                return Err(invalid(format!(
                    "TopicShortName {name:?} is invalid: no level of a topic category may be empty."
                )));
            }
            "+" => wildcard = true,
            "#" if index + 1 == levels.len() => wildcard = true,
            "#" => return Err(invalid("The wildcard # may only be the last level of a topic category.")),
            text if text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {}
            _ => {
                return Err(invalid(format!(
                    "TopicShortName {name:?} is invalid: each level may contain only letters, digits and underscores (_)."
                )));
            }
        }
    }
    if wildcard && operation != m::TOPIC_SUB {
        return Err(invalid("The wildcards + and # may be used only when Operation is SUB."));
    }
    if topic.desc.as_deref().is_some_and(|d| d.chars().count() > 100) {
        return Err(invalid("Desc must be at most 100 characters long."));
    }
    if topic.enable_proxy_subscribe && operation == m::TOPIC_PUB {
        return Err(invalid("EnableProxySubscribe may be true only when Operation is SUB or ALL."));
    }
    if let Some(codec) = topic.codec.as_deref() {
        if codec != m::CODEC_COMPRESS && codec != m::CODEC_DECOMPRESS {
            return Err(invalid("Codec must be compress or decompress."));
        }
        if wildcard {
            return Err(invalid("Codec cannot be set for a topic category with the wildcards + or #."));
        }
        if !enterprise {
            return Err(ApiError::business(
                "iot.common.APINotSupportedInInstance",
                "Data compression (Codec) is available only on Standard and Exclusive Enterprise Edition instances.",
            ));
        }
    }
    Ok(())
}

impl State {
    pub(super) fn answer_topics(
        &mut self,
        ctx: &CallContext,
        action: &str,
        params: &Params,
    ) -> Option<Result<Value, ApiError>> {
        Some(match action {
            m::CreateProductTopic::ACTION => m::CreateProductTopic::from_params(params)
                .map_err(ApiError::from)
                .and_then(|op| self.create_topic(ctx, op)),
            m::UpdateProductTopic::ACTION => m::UpdateProductTopic::from_params(params)
                .map_err(ApiError::from)
                .and_then(|op| self.update_topic(ctx, op)),
            m::DeleteProductTopic::ACTION => m::DeleteProductTopic::from_params(params)
                .map_err(ApiError::from)
                .and_then(|op| self.delete_topic(ctx, op)),
            m::QueryProductTopic::ACTION => m::QueryProductTopic::from_params(params)
                .map_err(ApiError::from)
                .and_then(|op| self.query_topics(ctx, op)),
            _ => return None,
        })
    }

    fn create_topic(&mut self, ctx: &CallContext, op: m::CreateProductTopic) -> Result<Value, ApiError> {
        let key = self.owned_product(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
        let topic = Topic {
            topic_id: self.next_topic_id.to_string(),
            topic_short_name: op.topic_short_name,
            operation: op.operation,
            desc: op.desc,
            enable_proxy_subscribe: op.enable_proxy_subscribe.unwrap_or(false),
            codec: op.codec,
        };
        check_topic(&topic, self.is_enterprise(&key.0))?;
        let (lock, max) = (self.rules.lock_published_parts.locks_topics(), self.rules.max_topics_per_product);
        let product = self.products.get_mut(&key).expect("just found");
        check_unlocked(product, lock, "topic categories")?;
        if product.topics.iter().any(|t| t.topic_short_name == topic.topic_short_name) {
            return Err(ApiError::business(
                emulator_codes::TOPIC_EXISTS,
                format!("The product already has a topic category named {}.", topic.topic_short_name),
            ));
        }
        if product.topics.len() >= max {
            return Err(ApiError::business(
                emulator_codes::TOPIC_LIMIT,
                format!("The product already has the maximum of {max} custom topic categories."),
            ));
        }
        let id = topic.topic_id.clone();
        product.topics.push(topic);
        self.next_topic_id += 1;
        Ok(body(&m::CreateProductTopicResponse { topic_id: Some(id) }))
    }

    /// The product key (map key) and the index of the caller's topic category `topic_id` in
    /// `instance`.
    fn find_topic(
        &self,
        ctx: &CallContext,
        instance: Option<&str>,
        topic_id: &str,
    ) -> Result<((String, String), usize), ApiError> {
        let instance = self.resolve_instance(ctx, instance)?;
        self.products
            .iter()
            .filter(|((i, _), p)| *i == instance && p.uid == ctx.uid)
            .find_map(|(key, p)| {
                p.topics.iter().position(|t| t.topic_id == topic_id).map(|i| (key.clone(), i))
            })
            .ok_or_else(|| {
                ApiError::business(
                    emulator_codes::TOPIC_NOT_FOUND,
                    format!("The topic category {topic_id} does not exist."),
                )
            })
    }

    fn update_topic(&mut self, ctx: &CallContext, op: m::UpdateProductTopic) -> Result<Value, ApiError> {
        let (key, index) = self.find_topic(ctx, op.iot_instance_id.as_deref(), &op.topic_id)?;
        let enterprise = self.is_enterprise(&key.0);
        let lock = self.rules.lock_published_parts.locks_topics();
        let product = self.products.get_mut(&key).expect("just found");
        let current = &product.topics[index];
        let topic = Topic {
            topic_id: current.topic_id.clone(),
            topic_short_name: op.topic_short_name.unwrap_or_else(|| current.topic_short_name.clone()),
            operation: op.operation.unwrap_or_else(|| current.operation.clone()),
            desc: op.desc.or_else(|| current.desc.clone()),
            enable_proxy_subscribe: op.enable_proxy_subscribe.unwrap_or(current.enable_proxy_subscribe),
            codec: op.codec.or_else(|| current.codec.clone()),
        };
        check_topic(&topic, enterprise)?;
        check_unlocked(product, lock, "topic categories")?;
        let clash = product
            .topics
            .iter()
            .any(|t| t.topic_short_name == topic.topic_short_name && t.topic_id != topic.topic_id);
        if clash {
            return Err(ApiError::business(
                emulator_codes::TOPIC_EXISTS,
                format!("The product already has a topic category named {}.", topic.topic_short_name),
            ));
        }
        product.topics[index] = topic;
        Ok(json!({}))
    }

    fn delete_topic(&mut self, ctx: &CallContext, op: m::DeleteProductTopic) -> Result<Value, ApiError> {
        let (key, index) = self.find_topic(ctx, op.iot_instance_id.as_deref(), &op.topic_id)?;
        let lock = self.rules.lock_published_parts.locks_topics();
        let product = self.products.get_mut(&key).expect("just found");
        check_unlocked(product, lock, "topic categories")?;
        product.topics.remove(index);
        Ok(json!({}))
    }

    fn query_topics(&mut self, ctx: &CallContext, op: m::QueryProductTopic) -> Result<Value, ApiError> {
        let key = self.owned_product(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
        let product = &self.products[&key];
        let topics = product.topics.iter().map(|t| t.view(&product.product_key)).collect();
        Ok(body(&m::QueryProductTopicResponse {
            data: Some(m::ProductTopicList { product_topic_info: topics }),
        }))
    }

    /// New ids for the topic categories of a product copied by distribution (ids are unique
    /// on the platform).
    pub(super) fn renumber_topics(&mut self, topics: &mut [Topic]) {
        for topic in topics {
            topic.topic_id = self.next_topic_id.to_string();
            self.next_topic_id += 1;
        }
    }
}
