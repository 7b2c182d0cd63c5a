//! Runs a plan's actions against the platform, in order, stopping at the first failure.
//!
//! This and [`super::observe`] are the only places that call the platform. A create is made
//! crash-safe here: the intent is recorded (with optimistic concurrency, so a stale copy of
//! the resource can never lead to a second create) before CreateProduct is called; the new
//! ProductKey is recorded with the report, and until then the intent finds the product.

use crate::crd::product::AdoptionPolicy;
use std::time::Duration;

use iot_platform::model::{
    CancelReleaseProduct, CreateProductTags, CreateProductTopic, CreateThingScript, DeleteProduct,
    DeleteProductTags, DeleteProductTopic, DeleteSubscribeRelation, ImportThingModelTsl, ListProductTags,
    PublishThingModel, ReleaseProduct, SUBSCRIBE_AMQP, UpdateProduct, UpdateProductTags, UpdateProductTopic,
    UpdateSubscribeRelation, UpdateThingScript,
};
use iot_platform::{ErrorClass, IotPlatform, Operation, PlatformError};

use super::claim::Pending;
use super::desired::{DesiredProduct, OWNER_TAG};
use super::observe::find_by_name;
use super::plan::{Action, Plan};

/// Where the executor records a create, so it survives a crash.
#[async_trait::async_trait]
pub trait CreateJournal: Send + Sync {
    /// Records that a create of `product_name` is about to be sent at `sent_ms` (the
    /// platform's clock); earlier attempts of the same name are kept. Fails when the
    /// resource changed since it was read.
    async fn record_intent(&self, product_name: &str, sent_ms: i64) -> Result<(), kube::Error>;
    /// Records that the create's answer came back at `answered_ms` (the platform's clock):
    /// `ambiguous` when it may have made the product all the same, else the attempt is
    /// dropped (a definitive refusal made nothing).
    fn record_answer(&self, answered_ms: i64, ambiguous: bool);
    /// Records the key of a product found when a create met its name (adopted at once, so
    /// the rest of the plan waits for a fresh look).
    async fn record_key(&self, product_key: &str) -> Result<(), kube::Error>;
    /// Makes sure the resource's finalizer is in place (before any platform write but a
    /// create, whose intent carries it).
    async fn before_first_write(&self) -> Result<(), kube::Error>;
}

/// How execution ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every action succeeded.
    Completed,
    /// An action failed.
    Failed {
        /// The action.
        action: Action,
        /// The platform's error.
        error: PlatformError,
    },
    /// CreateProduct found the name taken by a product this resource may not adopt (its key
    /// is not kept: it may be another namespace's).
    NameConflict,
    /// CreateProduct found the name taken by a product this resource adopts (its own
    /// earlier create, or adoption by name); the rest of the plan waits for a fresh look.
    Adopted {
        /// The product's key.
        product_key: String,
    },
    /// Recording the create failed; nothing was created.
    Journal(kube::Error),
    /// The account's quota for a paced action (a topic write) is in use: the actions before
    /// it are done, the rest wait for the next pass.
    Paced {
        /// When the limiter expects room.
        retry_after: Duration,
    },
}

/// How long a paced action may wait for the account's limiter before the rest of the plan
/// is left for the next pass (a reconcile slot is not held while the slowest quota queues).
pub const PACED_WAIT: Duration = Duration::from_millis(250);

/// Sends `op`: paced actions wait for the limiter at most [`PACED_WAIT`].
async fn send<O: Operation>(
    platform: &dyn IotPlatform,
    op: &O,
    paced: bool,
) -> Result<O::Response, PlatformError> {
    if paced { platform.call_within(op, PACED_WAIT).await } else { platform.call(op).await }
}

/// What was done.
#[derive(Debug)]
pub struct Executed {
    /// Actions that succeeded, in order.
    pub done: Vec<Action>,
    /// The product's key after execution, when known.
    pub product_key: Option<String>,
    /// The ProductSecret, when a create returned it.
    pub created_secret: Option<iot_platform::secret::Secret>,
    /// How it ended.
    pub outcome: Outcome,
}

async fn run_action(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    key: &str,
    desired: &DesiredProduct,
    action: &Action,
) -> Result<(), PlatformError> {
    let instance = instance.map(str::to_string);
    let product_key = key.to_string();
    match action {
        Action::Create => unreachable!("creates are run by execute()"),
        Action::Update { name, description } => {
            platform
                .call(&UpdateProduct {
                    iot_instance_id: instance,
                    product_key,
                    product_name: name.clone(),
                    description: description.clone(),
                })
                .await?;
        }
        Action::CreateTags(tags) => {
            platform
                .call(&CreateProductTags {
                    iot_instance_id: instance,
                    product_key,
                    product_tag: tags.clone(),
                })
                .await?;
        }
        Action::UpdateTags(tags) => {
            platform
                .call(&UpdateProductTags {
                    iot_instance_id: instance,
                    product_key,
                    product_tag: tags.clone(),
                })
                .await?;
        }
        Action::DeleteTags(keys) => {
            platform
                .call(&DeleteProductTags {
                    iot_instance_id: instance,
                    product_key,
                    product_tag_key: keys.clone(),
                })
                .await?;
        }
        Action::ImportThingModel => {
            let model = desired.thing_model.as_ref().expect("planned only with a thing model");
            platform
                .call(&ImportThingModelTsl {
                    iot_instance_id: instance,
                    tsl_str: Some(model.model.import_document(&product_key)),
                    product_key,
                })
                .await?;
        }
        Action::PublishThingModel => {
            let model = desired.thing_model.as_ref().expect("planned only with a thing model");
            platform
                .call(&PublishThingModel {
                    iot_instance_id: instance,
                    product_key,
                    model_version: None,
                    description: model.version_description.clone(),
                })
                .await?;
        }
        Action::Release => {
            platform.call(&ReleaseProduct { iot_instance_id: instance, product_key }).await?;
        }
        Action::CancelRelease => {
            platform.call(&CancelReleaseProduct { iot_instance_id: instance, product_key }).await?;
        }
        Action::Delete => {
            match platform.call(&DeleteProduct { iot_instance_id: instance, product_key }).await {
                Err(e) if e.class() == ErrorClass::NotFound => {}
                other => {
                    other?;
                }
            }
        }
        Action::CreateTopic(topic) => {
            let request = CreateProductTopic {
                iot_instance_id: instance,
                product_key,
                topic_short_name: topic.name.clone(),
                operation: topic.operation.to_string(),
                desc: Some(topic.description.clone()).filter(|d| !d.is_empty()),
                enable_proxy_subscribe: (topic.operation != "PUB").then_some(topic.proxy_subscribe),
                codec: topic.codec.map(str::to_string),
            };
            send(platform, &request, true).await?;
        }
        Action::UpdateTopic { id, topic } => {
            let request = UpdateProductTopic {
                iot_instance_id: instance,
                topic_id: id.clone(),
                topic_short_name: Some(topic.name.clone()),
                operation: Some(topic.operation.to_string()),
                desc: Some(topic.description.clone()),
                enable_proxy_subscribe: (topic.operation != "PUB").then_some(topic.proxy_subscribe),
                codec: topic.codec.map(str::to_string),
            };
            send(platform, &request, false).await?;
        }
        Action::DeleteTopic { id, .. } => {
            let request = DeleteProductTopic { iot_instance_id: instance, topic_id: id.clone() };
            match send(platform, &request, false).await {
                Err(e) if e.class() == ErrorClass::NotFound => {}
                other => {
                    other?;
                }
            }
        }
        Action::CreateScript => {
            let script = desired.script.as_ref().expect("planned only with a script");
            let request = CreateThingScript {
                iot_instance_id: instance,
                product_key,
                script_type: script.language.to_string(),
                script_content: script.content.clone(),
            };
            platform.call(&request).await?;
        }
        Action::CreateSubscription | Action::UpdateSubscription => {
            let request = desired
                .subscription
                .as_ref()
                .and_then(|s| s.request(instance.as_deref(), &product_key))
                .expect("planned only with a resolved subscription");
            if *action == Action::CreateSubscription {
                platform.call(&request).await?;
            } else {
                platform.call(&UpdateSubscribeRelation::from(request)).await?;
            }
        }
        Action::DeleteSubscription => {
            let request = DeleteSubscribeRelation {
                iot_instance_id: instance,
                product_key,
                subscribe_type: SUBSCRIBE_AMQP.to_string(),
            };
            platform.call(&request).await?;
        }
        Action::UpdateScript => {
            let script = desired.script.as_ref().expect("planned only with a script");
            let request = UpdateThingScript {
                iot_instance_id: instance,
                product_key,
                script_type: script.language.to_string(),
                script_content: script.content.clone(),
            };
            platform.call(&request).await?;
        }
    }
    Ok(())
}

/// Now on the platform's clock, as far as its answers tell.
fn platform_now_ms(platform: &dyn IotPlatform) -> i64 {
    jiff::Timestamp::now().as_millisecond() + platform.clock_offset_ms().unwrap_or(0)
}

/// Runs `plan` for the product `key` (none before a create) in `instance`. `pending` is the
/// create of this resource whose earlier attempts' outcome was never seen.
pub async fn execute(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    key: Option<String>,
    desired: &DesiredProduct,
    plan: &Plan,
    journal: &dyn CreateJournal,
    pending: Option<&Pending>,
) -> Executed {
    // A resource that knows its product holds the finalizer that deletes it with the
    // resource (one that is still to create it gets it with the create's intent).
    if key.is_some()
        && let Err(e) = journal.before_first_write().await
    {
        return Executed {
            done: Vec::new(),
            product_key: key,
            created_secret: None,
            outcome: Outcome::Journal(e),
        };
    }
    let mut executed =
        Executed { done: Vec::new(), product_key: key, created_secret: None, outcome: Outcome::Completed };
    for action in &plan.actions {
        if *action == Action::Create {
            if let Err(e) = journal.record_intent(&desired.name, platform_now_ms(platform)).await {
                executed.outcome = Outcome::Journal(e);
                return executed;
            }
            let answer = platform.call(&desired.create_request(instance)).await;
            // The answer's Date header has updated the platform's clock.
            let answered_ms = platform_now_ms(platform);
            match answer {
                Ok(response) => {
                    let data = response.data.unwrap_or_default();
                    // The key reaches the status with the report; until then the intent
                    // lets a restarted operator find the product by its name.
                    let key = response.product_key.unwrap_or(data.product_key);
                    executed.product_key = Some(key);
                    executed.created_secret = Some(data.product_secret).filter(|s| !s.is_empty());
                    executed.done.push(Action::Create);
                }
                Err(error) if error.class() == ErrorClass::Conflict => {
                    // The name was taken before this attempt: it made nothing.
                    journal.record_answer(answered_ms, false);
                    executed.outcome =
                        resolve_name_conflict(platform, instance, desired, pending, journal).await;
                    if let Outcome::Adopted { product_key } = &executed.outcome {
                        executed.product_key = Some(product_key.clone());
                    }
                    return executed;
                }
                Err(error) => {
                    // Only an answer that may come after the product was made keeps the
                    // attempt (a server error, a lost answer); a refusal clears it.
                    journal.record_answer(answered_ms, error.is_ambiguous());
                    executed.outcome = Outcome::Failed { action: Action::Create, error };
                    return executed;
                }
            }
            continue;
        }
        let key = executed.product_key.clone().expect("every action but Create needs a product");
        match run_action(platform, instance, &key, desired, action).await {
            Ok(()) => {}
            Err(PlatformError::Deferred { retry_after, .. }) => {
                executed.outcome = Outcome::Paced { retry_after };
                return executed;
            }
            Err(error) => {
                executed.outcome = Outcome::Failed { action: action.clone(), error };
                return executed;
            }
        }
        executed.done.push(action.clone());
    }
    executed
}

/// CreateProduct said the name is taken: adopt the product when it is this resource's own
/// (made by an earlier attempt whose answer was lost — so created while that attempt was in
/// flight — and held by no one else) or adoption by name is allowed; otherwise report the
/// conflict.
async fn resolve_name_conflict(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    desired: &DesiredProduct,
    pending: Option<&Pending>,
    journal: &dyn CreateJournal,
) -> Outcome {
    let found = match find_by_name(platform, instance, &desired.name, None).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            // Taken a moment ago but gone now: try again on the next reconcile.
            return Outcome::Failed { action: Action::Create, error: name_vanished() };
        }
        Err(error) => return Outcome::Failed { action: Action::Create, error },
    };
    let made_by_earlier_attempt = pending.is_some_and(|p| p.could_have_made(found.gmt_create));
    let marks = ownership_marks(platform, instance, &found.product_key).await;
    if made_by_earlier_attempt && marks.is_none() {
        // Whether another holds it cannot be told yet: look again, the intent kept.
        return Outcome::Failed { action: Action::Create, error: name_vanished() };
    }
    if claims_by_name(desired, marks.as_ref(), made_by_earlier_attempt) {
        if let Err(e) = journal.record_key(&found.product_key).await {
            return Outcome::Journal(e);
        }
        return Outcome::Adopted { product_key: found.product_key };
    }
    Outcome::NameConflict
}

/// The transient failure of a create whose name was taken but whose holder could not be
/// read: tried again on the next reconcile.
fn name_vanished() -> PlatformError {
    PlatformError::Api {
        action: "CreateProduct",
        code: "iot.prod.AlreadyExistedProductName".into(),
        message: "the name is taken but the product holding it could not be read; retrying".into(),
        request_id: String::new(),
        http_status: 200,
        class: ErrorClass::Transient,
    }
}

/// The tags of a product (its ownership marks among them); `None` when they cannot be read.
pub async fn ownership_marks(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    product_key: &str,
) -> Option<std::collections::BTreeMap<String, String>> {
    let request = ListProductTags {
        iot_instance_id: instance.map(str::to_string),
        product_key: product_key.to_string(),
    };
    let response = platform.call(&request).await.ok()?;
    Some(
        response.data.unwrap_or_default().product_tag.into_iter().map(|t| (t.tag_key, t.tag_value)).collect(),
    )
}

/// Whether a create refused because the name is taken ends in adopting the product that has
/// the name (its tags `marks`, `None` when they could not be read): it is this resource's
/// (made by one of its earlier attempts and held by no other resource or cluster, or
/// carrying its marks), or the spec adopts by name and no other resource or cluster holds
/// it. Otherwise the name conflicts.
#[must_use]
pub fn claims_by_name(
    desired: &DesiredProduct,
    marks: Option<&std::collections::BTreeMap<String, String>>,
    made_by_earlier_attempt: bool,
) -> bool {
    let carries_ours = marks.is_some_and(|tags| carries_marks(desired, tags));
    // By name (or by timing) only a product no other resource or cluster holds (and whose
    // marks could be read): the platform's tags decide.
    let free = marks.is_some_and(|tags| !tags.contains_key(OWNER_TAG));
    carries_ours || ((made_by_earlier_attempt || desired.adoption == AdoptionPolicy::ByName) && free)
}

/// Whether `tags` name another owner than this resource (another resource's or cluster's
/// ownership marks).
#[must_use]
pub fn held_by_another(desired: &DesiredProduct, tags: &std::collections::BTreeMap<String, String>) -> bool {
    tags.contains_key(OWNER_TAG) && !carries_marks(desired, tags)
}

/// Whether `tags` carry this resource's ownership marks (cluster and resource uid): the
/// product was made by this resource, whatever its status says now.
fn carries_marks(desired: &DesiredProduct, tags: &std::collections::BTreeMap<String, String>) -> bool {
    !desired.ownership.is_empty() && desired.ownership.iter().all(|(k, v)| tags.get(k) == Some(v))
}
