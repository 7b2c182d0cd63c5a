//! The pure planner: from what the spec wants, what the platform has, and what the
//! operator recorded, decide the platform calls to make — or why none can be made.
//!
//! Every rule of the publication lock lives here:
//! - a published product's name, description and thing model are not changed unless the
//!   resource allows revoke-apply-republish (`publishedChangePolicy: RevokeAndRepublish`);
//!   then the plan revokes first and publishes again last;
//! - a published product is not deleted under the same condition;
//! - a distributed product's thing model is never changed;
//! - tags are not part of the lock.
//!
//! No I/O happens here.

use crate::reconcile::conditions::Reason;
use std::collections::{BTreeMap, BTreeSet};

use crate::crd::product::{DeletionPolicy, ManagementPolicy, OutOfBandDeletion, PublishedChangePolicy};
use iot_platform::model::{ProductDetails, RELEASE_STATUS};
use iot_platform::wire::Tag;

use super::desired::{CLUSTER_TAG, DesiredProduct, Mismatch, OWNER_TAG};

/// What the operator saw on the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The product exists.
    Exists(Box<ObservedProduct>),
    /// The product the operator looked for does not exist.
    Missing,
    /// There is no product to look for yet (nothing created or adopted).
    Nothing,
}

/// A product as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedProduct {
    /// QueryProduct's answer.
    pub details: ProductDetails,
    /// Its tags, when read.
    pub tags: BTreeMap<String, String>,
    /// Digest of its draft thing model, when read.
    pub thing_model_digest: Option<String>,
    /// Its draft thing model, when read and readable (to say what a change changes).
    pub thing_model_draft: Option<iot_platform::tsl::ThingModel>,
    /// Digest of its latest published thing model, when read: only when the draft matches the
    /// spec but status does not record that model as published (the answer of a publish may have
    /// been lost, or this reconcile started from a cached copy older than the publish).
    pub published_thing_model_digest: Option<String>,
    /// Its devices (QueryProduct's DeviceCount; activated and online from
    /// QueryDeviceStatistics when there are any).
    pub devices: crate::crd::product::DeviceCounts,
    /// Its custom topic categories, when read (only when the spec has `topics`).
    pub topics: Option<Vec<super::parts::ObservedTopic>>,
    /// Its data-parsing script, when read (only when the spec has `dataParsing`).
    pub script: Option<super::parts::ObservedScript>,
    /// Its AMQP subscription, when read (when the spec has one, or the operator made one).
    pub subscription: Option<super::parts::ObservedSubscription>,
}

impl ObservedProduct {
    /// Whether the thing model with this digest is the latest published one, as far as known
    /// from the platform or from what the operator recorded.
    #[must_use]
    pub fn thing_model_published(&self, digest: &str, recorded: &Recorded) -> bool {
        recorded.published_thing_model.as_deref() == Some(digest)
            || self.published_thing_model_digest.as_deref() == Some(digest)
    }
}

impl ObservedProduct {
    /// Whether it is published.
    #[must_use]
    pub fn published(&self) -> bool {
        self.details.product_status == RELEASE_STATUS
    }
}

/// What the operator recorded in status about this resource's product.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The key of the product this resource manages.
    pub product_key: Option<String>,
    /// Tag keys the operator set.
    pub managed_tag_keys: BTreeSet<String>,
    /// Digest of the thing model last published by the operator.
    pub published_thing_model: Option<String>,
    /// Distributions of this product (its thing model and script are locked).
    pub distributed_to: Vec<String>,
    /// Topic categories the operator manages.
    pub managed_topics: BTreeSet<String>,
    /// Whether status says every topic of this generation's spec was applied (a resync then
    /// reads topics only when the quota has room).
    pub topics_in_sync: bool,
    /// Whether the operator made the product's AMQP subscription (removing it from the spec
    /// deletes it).
    pub subscription_managed: bool,
}

/// Whether the resource is being applied or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Make the platform match the spec.
    Apply,
    /// The resource is being deleted.
    Delete,
}

/// One platform write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// CreateProduct.
    Create,
    /// UpdateProduct (name and description).
    Update {
        /// New name.
        name: String,
        /// New description.
        description: Option<String>,
    },
    /// CreateProductTags for keys the product lacks.
    CreateTags(Vec<Tag>),
    /// UpdateProductTags for keys whose value differs.
    UpdateTags(Vec<Tag>),
    /// DeleteProductTags for keys removed from the spec.
    DeleteTags(Vec<String>),
    /// ImportThingModelTsl with the spec's model.
    ImportThingModel,
    /// PublishThingModel (a new version).
    PublishThingModel,
    /// ReleaseProduct.
    Release,
    /// CancelReleaseProduct.
    CancelRelease,
    /// DeleteProduct.
    Delete,
    /// CreateProductTopic.
    CreateTopic(super::parts::DesiredTopic),
    /// UpdateProductTopic of the topic `id`.
    UpdateTopic {
        /// The platform's id of the topic.
        id: String,
        /// What it becomes.
        topic: super::parts::DesiredTopic,
    },
    /// DeleteProductTopic.
    DeleteTopic {
        /// The platform's id of the topic.
        id: String,
        /// Its name (for people).
        name: String,
    },
    /// CreateThingScript with the spec's script.
    CreateScript,
    /// UpdateThingScript with the spec's script.
    UpdateScript,
    /// CreateSubscribeRelation (AMQP) with the spec's subscription.
    CreateSubscription,
    /// UpdateSubscribeRelation (AMQP) with the spec's subscription.
    UpdateSubscription,
    /// DeleteSubscribeRelation (AMQP): the spec no longer has the subscription the operator made.
    DeleteSubscription,
}

impl Action {
    /// The platform operation, for Events and logs.
    #[must_use]
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Create => "CreateProduct",
            Self::Update { .. } => "UpdateProduct",
            Self::CreateTags(_) => "CreateProductTags",
            Self::UpdateTags(_) => "UpdateProductTags",
            Self::DeleteTags(_) => "DeleteProductTags",
            Self::ImportThingModel => "ImportThingModelTsl",
            Self::PublishThingModel => "PublishThingModel",
            Self::Release => "ReleaseProduct",
            Self::CancelRelease => "CancelReleaseProduct",
            Self::Delete => "DeleteProduct",
            Self::CreateTopic(_) => "CreateProductTopic",
            Self::UpdateTopic { .. } => "UpdateProductTopic",
            Self::DeleteTopic { .. } => "DeleteProductTopic",
            Self::CreateScript => "CreateThingScript",
            Self::UpdateScript => "UpdateThingScript",
            Self::CreateSubscription => "CreateSubscribeRelation",
            Self::UpdateSubscription => "UpdateSubscribeRelation",
            Self::DeleteSubscription => "DeleteSubscribeRelation",
        }
    }

    /// Whether the action is one of the platform's slowest calls (CreateProductTopic: one per
    /// second per account): the executor runs it only while the account's limiter has room,
    /// and leaves the rest of the plan for the next pass instead of holding a reconcile slot.
    #[must_use]
    pub fn is_paced(&self) -> bool {
        matches!(self, Self::CreateTopic(_))
    }

    /// Whether the action writes a topic category.
    #[must_use]
    pub fn is_topic(&self) -> bool {
        matches!(self, Self::CreateTopic(_) | Self::UpdateTopic { .. } | Self::DeleteTopic { .. })
    }
}

/// Why (part of) the spec cannot be applied now. Each says what the user can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// Changes to a published product, with the default `Block` policy.
    PublishedLocked {
        /// The spec fields whose change is held back.
        fields: Vec<&'static str>,
        /// What the held-back thing-model change changes, in words (when the platform's
        /// draft could be read).
        thing_model_changes: Vec<String>,
    },
    /// Deleting a published product, with the default `Block` policy.
    DeleteWhilePublished,
    /// The thing model changed, but the product was distributed.
    ThingModelLockedByDistribution {
        /// Where it was distributed.
        distributions: Vec<String>,
    },
    /// The product's fixed attributes differ from the spec.
    AttributesMismatch(Vec<Mismatch>),
    /// `spec.productKey` names a product that does not exist.
    AdoptTargetMissing {
        /// The key.
        product_key: String,
    },
    /// The product was deleted out of band and the spec says to report it.
    ProductMissing {
        /// The key it had.
        product_key: String,
    },
    /// Another resource or cluster manages the product (its ownership tags say so). Who
    /// holds it is not said: it may be another namespace's.
    ManagedElsewhere,
    /// Observe-only, and there is no product to observe.
    NothingToObserve,
    /// An action would reach the product's devices and no person approved it for this
    /// generation.
    ImpactNeedsApproval(super::impact::Impact),
    /// The subscription's consumer groups cannot be used (yet): a reason and message.
    SubscriptionWaiting(Reason, String),
}

impl Blocked {
    /// A PascalCase reason for conditions and Events.
    #[must_use]
    pub fn reason(&self) -> Reason {
        match self {
            Self::PublishedLocked { .. } => Reason::PublishedLocked,
            Self::DeleteWhilePublished => Reason::DeleteBlockedByPublication,
            Self::ThingModelLockedByDistribution { .. } => Reason::ThingModelLockedByDistribution,
            Self::AttributesMismatch(_) => Reason::AttributesMismatch,
            Self::AdoptTargetMissing { .. } => Reason::AdoptTargetMissing,
            Self::ProductMissing { .. } => Reason::ProductMissing,
            Self::ManagedElsewhere { .. } => Reason::ManagedElsewhere,
            Self::NothingToObserve => Reason::NothingToObserve,
            Self::ImpactNeedsApproval(impact) => impact.reason(),
            Self::SubscriptionWaiting(reason, _) => *reason,
        }
    }

    /// A message that says what is blocked and the ways out.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Self::PublishedLocked { fields, thing_model_changes } => {
                let mut what = fields.join(", ");
                if !thing_model_changes.is_empty() {
                    what.push_str(&format!(
                        " (thing model: {})",
                        iot_platform::tsl::summarize(thing_model_changes, 5)
                    ));
                }
                format!(
                    "the product is published, so the platform locks it: the change to {what} is not applied. \
                     To apply it, either set spec.published: false (revoke publication), or set \
                     spec.publishedChangePolicy: RevokeAndRepublish to let the operator revoke, apply and publish again"
                )
            }
            Self::DeleteWhilePublished => "the product is published, so the platform refuses to delete it; the \
                 resource waits. Set spec.publishedChangePolicy: RevokeAndRepublish to let the operator revoke \
                 publication and delete, or spec.deletionPolicy: Orphan to leave the product on the platform"
                .into(),
            Self::ThingModelLockedByDistribution { distributions } => format!(
                "the product was distributed ({}), and the platform does not allow a distributed product's thing \
                 model, data-parsing script or topic categories to change; the change to spec.thingModel, \
                 spec.dataParsing or spec.topics is not applied. Restore the previous ones, or manage the new ones \
                 in a new product",
                distributions.join(", ")
            ),
            Self::AttributesMismatch(mismatches) => {
                let list: Vec<String> = mismatches
                    .iter()
                    .map(|m| format!("{} is {} but the product is {}", m.field, m.spec, m.platform))
                    .collect();
                format!(
                    "the product's fixed attributes differ from the spec ({}); the platform cannot change them. \
                     Recreate this IotProduct with matching values",
                    list.join("; ")
                )
            }
            Self::AdoptTargetMissing { product_key } => format!(
                "spec.productKey {product_key} does not exist in the instance; check the key and the instance \
                 (spec.instanceId or the account's)"
            ),
            Self::ProductMissing { product_key } => format!(
                "product {product_key} was deleted on the platform outside Kubernetes; spec.outOfBandDeletion is \
                 Report, so it is not recreated. Set it to Recreate, or delete this resource"
            ),
            Self::ManagedElsewhere => "the product is managed by another resource (its iotop.owner and \
                 iotop.cluster tags name another IotProduct or cluster); this resource does not adopt, observe, change \
                 or delete it, and nothing of it is recorded here. Choose another product, or have its holder hand it \
                 over (delete that resource with spec.deletionPolicy: Orphan and remove the tags on the platform)"
                .into(),
            Self::NothingToObserve => "spec.managementPolicy is ObserveOnly, so the operator never creates a product; \
                 set spec.productKey to an existing product (or spec.adoptionPolicy: ByName with the product's name)"
                .into(),
            Self::ImpactNeedsApproval(impact) => impact.message(),
            Self::SubscriptionWaiting(_, message) => message.clone(),
        }
    }
}

/// The decision: what to call, in order, and what is held back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Platform writes, in order.
    pub actions: Vec<Action>,
    /// What cannot be applied and why.
    pub blocked: Option<Blocked>,
    /// The product was missing and is created again.
    pub recreate: bool,
    /// Actions the management policy holds back (reported, not run).
    pub withheld: Vec<Action>,
}

fn tag_actions(
    desired: &DesiredProduct,
    observed: &BTreeMap<String, String>,
    recorded: &Recorded,
) -> Vec<Action> {
    let mut create = Vec::new();
    let mut update = Vec::new();
    for (key, value) in &desired.all_tags() {
        match observed.get(key) {
            None => create.push(Tag { tag_key: key.clone(), tag_value: value.clone() }),
            Some(current) if current != value => {
                update.push(Tag { tag_key: key.clone(), tag_value: value.clone() })
            }
            Some(_) => {}
        }
    }
    let delete: Vec<String> = recorded
        .managed_tag_keys
        .iter()
        .filter(|k| {
            !desired.tags.contains_key(*k) && !desired.ownership.contains_key(*k) && observed.contains_key(*k)
        })
        .cloned()
        .collect();
    let mut actions = Vec::new();
    // The platform takes at most 10 tags per call.
    actions.extend(delete.chunks(10).map(|c| Action::DeleteTags(c.to_vec())));
    actions.extend(create.chunks(10).map(|c| Action::CreateTags(c.to_vec())));
    actions.extend(update.chunks(10).map(|c| Action::UpdateTags(c.to_vec())));
    actions
}

/// Thing-model actions, or the reason they cannot happen.
fn thing_model_actions(
    desired: &DesiredProduct,
    product: &ObservedProduct,
    recorded: &Recorded,
) -> Result<Vec<Action>, Blocked> {
    let Some(model) = &desired.thing_model else { return Ok(Vec::new()) };
    let actions = match product.thing_model_digest.as_deref() {
        Some(digest) if digest == model.digest => {
            if product.thing_model_published(&model.digest, recorded) {
                Vec::new()
            } else {
                vec![Action::PublishThingModel]
            }
        }
        _ => vec![Action::ImportThingModel, Action::PublishThingModel],
    };
    if !actions.is_empty() && !recorded.distributed_to.is_empty() {
        return Err(Blocked::ThingModelLockedByDistribution {
            distributions: recorded.distributed_to.clone(),
        });
    }
    Ok(actions)
}

fn create_plan(desired: &DesiredProduct, recreate: bool) -> Plan {
    let mut actions = vec![Action::Create];
    actions.extend(tag_actions(desired, &BTreeMap::new(), &Recorded::default()));
    if desired.thing_model.is_some() {
        actions.extend([Action::ImportThingModel, Action::PublishThingModel]);
    }
    if desired.script.is_some() {
        actions.push(Action::CreateScript);
    }
    if desired.subscription.as_ref().is_some_and(|s| s.group_ids.is_some()) {
        actions.push(Action::CreateSubscription);
    }
    let topics = desired.topics.iter().flatten().map(|t| Action::CreateTopic(t.clone()));
    // Parts the publication locks are written before the product is published.
    let (before, after): (Vec<Action>, Vec<Action>) = topics.partition(locked_by_publication);
    actions.extend(before);
    if desired.published {
        actions.push(Action::Release);
    }
    actions.extend(after);
    let blocked = desired
        .subscription
        .as_ref()
        .and_then(|s| s.waiting.clone())
        .map(|(reason, message)| Blocked::SubscriptionWaiting(reason, message));
    Plan { actions, blocked, recreate, withheld: Vec::new() }
}

/// The holder of a product, when its ownership tags name another resource or cluster.
fn other_holder(desired: &DesiredProduct, product: &ObservedProduct) -> Option<Blocked> {
    let (our_cluster, our_owner) = desired.identity.as_ref()?;
    let owner = product.tags.get(OWNER_TAG)?;
    let cluster = product.tags.get(CLUSTER_TAG).cloned().unwrap_or_default();
    (owner != our_owner || (!cluster.is_empty() && cluster != *our_cluster))
        .then_some(Blocked::ManagedElsewhere)
}

fn apply_plan(desired: &DesiredProduct, product: &ObservedProduct, recorded: &Recorded) -> Plan {
    // Observing is no exception: another resource's product is not observed into a Secret.
    if let Some(blocked) = other_holder(desired, product) {
        return Plan { blocked: Some(blocked), ..Plan::default() };
    }
    let mismatches = desired.fixed.mismatches(&product.details);
    if !mismatches.is_empty() {
        return Plan { blocked: Some(Blocked::AttributesMismatch(mismatches)), ..Plan::default() };
    }
    let mut locked_changes = Vec::new();
    let mut locked_fields = Vec::new();
    let description_differs =
        desired.description.as_ref().is_some_and(|d| product.details.description.as_ref() != Some(d));
    if product.details.product_name != desired.name || description_differs {
        locked_changes
            .push(Action::Update { name: desired.name.clone(), description: desired.description.clone() });
        if product.details.product_name != desired.name {
            locked_fields.push("spec.productName");
        }
        if description_differs {
            locked_fields.push("spec.description");
        }
    }
    let mut blocked = None;
    match thing_model_actions(desired, product, recorded) {
        Ok(actions) => {
            if !actions.is_empty() && actions.contains(&Action::ImportThingModel) {
                locked_fields.push("spec.thingModel");
            }
            locked_changes.extend(actions);
        }
        Err(reason) => blocked = Some(reason),
    }
    let tags = tag_actions(desired, &product.tags, recorded);
    let mut parts = part_actions(desired, product, recorded);
    // A distributed product's script and topic categories are copied to the target instance and
    // locked there (the distribution guide); the source's are held back too.
    if !parts.is_empty() && !recorded.distributed_to.is_empty() {
        blocked = blocked.or(Some(Blocked::ThingModelLockedByDistribution {
            distributions: recorded.distributed_to.clone(),
        }));
        parts.clear();
    }
    let (locked_parts, free_parts): (Vec<Action>, Vec<Action>) =
        parts.into_iter().partition(locked_by_publication);
    if !locked_parts.is_empty() {
        for field in locked_fields_of(&locked_parts) {
            if !locked_fields.contains(&field) {
                locked_fields.push(field);
            }
        }
        locked_changes.extend(locked_parts);
    }

    let mut actions = Vec::new();
    let published = product.published();
    if published && !desired.published {
        actions.push(Action::CancelRelease);
        actions.extend(tags);
        actions.extend(locked_changes);
    } else if published && !locked_changes.is_empty() {
        actions.extend(tags);
        match desired.change_policy {
            PublishedChangePolicy::RevokeAndRepublish => {
                actions.push(Action::CancelRelease);
                actions.extend(locked_changes);
                actions.push(Action::Release);
            }
            PublishedChangePolicy::Block => {
                if locked_fields.is_empty() {
                    // Only a pending thing-model publish: also held back by the lock.
                    locked_fields.push("spec.thingModel");
                }
                let thing_model_changes = match (&product.thing_model_draft, &desired.thing_model) {
                    (Some(draft), Some(model)) if locked_fields.contains(&"spec.thingModel") => {
                        draft.changes_to(&model.model)
                    }
                    _ => Vec::new(),
                };
                blocked =
                    blocked.or(Some(Blocked::PublishedLocked { fields: locked_fields, thing_model_changes }));
            }
        }
    } else {
        actions.extend(tags);
        actions.extend(locked_changes);
        if desired.published && !published {
            actions.push(Action::Release);
        }
    }
    // Writes no lock covers come last (the paced ones may take several passes).
    if let Some((reason, message)) = desired.subscription.as_ref().and_then(|s| s.waiting.clone()) {
        blocked = blocked.or(Some(Blocked::SubscriptionWaiting(reason, message)));
    }
    if let Some(observed) = &product.subscription {
        actions.extend(super::parts::subscription_action(
            desired.subscription.as_ref(),
            observed,
            recorded.subscription_managed,
        ));
    }
    actions.extend(free_parts);
    Plan { actions, blocked, recreate: false, withheld: Vec::new() }
}

/// The writes of the product's parts (script, topics) the spec asks for, when they were read.
fn part_actions(desired: &DesiredProduct, product: &ObservedProduct, recorded: &Recorded) -> Vec<Action> {
    let mut actions = Vec::new();
    if let (Some(script), Some(observed)) = (&desired.script, &product.script) {
        actions.extend(super::parts::script_action(script, observed));
    }
    if let (Some(topics), Some(observed)) = (&desired.topics, &product.topics) {
        actions.extend(super::parts::topic_actions(topics, observed, &recorded.managed_topics));
    }
    actions
}

/// Whether the platform's publication lock covers the part `action` writes (see
/// `docs/product-parts.md` for the sources): the documentation locks a published product's
/// thing model and a distributed product's script, and says nothing of a published product's
/// script or topics, so neither is held back here (a change that reaches activated devices
/// still waits for approval; a refusal from the platform is reported as such).
#[must_use]
pub fn locked_by_publication(action: &Action) -> bool {
    match action {
        Action::CreateScript | Action::UpdateScript => PUBLICATION_LOCKS_SCRIPT,
        Action::CreateTopic(_) | Action::UpdateTopic { .. } | Action::DeleteTopic { .. } => {
            PUBLICATION_LOCKS_TOPICS
        }
        _ => false,
    }
}

/// Whether publishing a product locks its data-parsing script.
pub const PUBLICATION_LOCKS_SCRIPT: bool = false;
/// Whether publishing a product locks its custom topic categories.
pub const PUBLICATION_LOCKS_TOPICS: bool = false;

/// The spec fields whose change `locked` (writes held back by the lock) would make.
fn locked_fields_of(locked: &[Action]) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if locked.iter().any(|a| matches!(a, Action::CreateScript | Action::UpdateScript)) {
        fields.push("spec.dataParsing");
    }
    if locked.iter().any(Action::is_topic) {
        fields.push("spec.topics");
    }
    fields
}

fn delete_plan(desired: &DesiredProduct, observed: &Observed) -> Plan {
    // Never delete a product that another resource manages.
    if let Observed::Exists(product) = observed
        && other_holder(desired, product).is_some()
    {
        return Plan::default();
    }
    match (desired.deletion_policy, observed) {
        (DeletionPolicy::Orphan, _) | (DeletionPolicy::Delete, Observed::Missing | Observed::Nothing) => {
            Plan::default()
        }
        (DeletionPolicy::Delete, Observed::Exists(product)) => {
            if !product.published() {
                return Plan { actions: vec![Action::Delete], ..Plan::default() };
            }
            match desired.change_policy {
                PublishedChangePolicy::RevokeAndRepublish => {
                    Plan { actions: vec![Action::CancelRelease, Action::Delete], ..Plan::default() }
                }
                PublishedChangePolicy::Block => {
                    Plan { blocked: Some(Blocked::DeleteWhilePublished), ..Plan::default() }
                }
            }
        }
    }
}

/// Decides what to do, within what the management policy allows.
#[must_use]
pub fn plan(desired: &DesiredProduct, observed: &Observed, recorded: &Recorded, mode: Mode) -> Plan {
    super::impact::gate(managed(desired, observed, recorded, mode), observed, &desired.impact)
}

/// The plan within what the management policy allows (before the device-impact gate).
fn managed(desired: &DesiredProduct, observed: &Observed, recorded: &Recorded, mode: Mode) -> Plan {
    let plan = plan_all(desired, observed, recorded, mode);
    match (desired.management, mode, observed) {
        (ManagementPolicy::Full, _, _) => plan,
        (ManagementPolicy::ObserveOnly | ManagementPolicy::NoDelete, Mode::Delete, _) => Plan::default(),
        (ManagementPolicy::NoDelete, Mode::Apply, _) => plan,
        (ManagementPolicy::NoUpdate, Mode::Delete, _) => plan,
        (ManagementPolicy::ObserveOnly, Mode::Apply, Observed::Exists(_)) => {
            let blocked = plan.blocked.filter(|b| {
                !matches!(b, Blocked::PublishedLocked { .. } | Blocked::ThingModelLockedByDistribution { .. })
            });
            Plan { actions: Vec::new(), withheld: plan.actions, blocked, recreate: false }
        }
        (ManagementPolicy::ObserveOnly, Mode::Apply, Observed::Missing | Observed::Nothing) => {
            Plan { blocked: Some(plan.blocked.unwrap_or(Blocked::NothingToObserve)), ..Plan::default() }
        }
        (ManagementPolicy::NoUpdate, Mode::Apply, Observed::Exists(_)) => {
            let blocked = plan.blocked.filter(|b| !matches!(b, Blocked::PublishedLocked { .. }));
            Plan { actions: Vec::new(), withheld: plan.actions, blocked, recreate: false }
        }
        (ManagementPolicy::NoUpdate, Mode::Apply, Observed::Missing | Observed::Nothing) => plan,
    }
}

fn plan_all(desired: &DesiredProduct, observed: &Observed, recorded: &Recorded, mode: Mode) -> Plan {
    if mode == Mode::Delete {
        return delete_plan(desired, observed);
    }
    match observed {
        Observed::Exists(product) => apply_plan(desired, product, recorded),
        Observed::Nothing => create_plan(desired, false),
        Observed::Missing => {
            if let Some(key) = &desired.adopt_key {
                return Plan {
                    blocked: Some(Blocked::AdoptTargetMissing { product_key: key.clone() }),
                    ..Plan::default()
                };
            }
            match (desired.out_of_band_deletion, &recorded.product_key) {
                (OutOfBandDeletion::Report, Some(key)) => Plan {
                    blocked: Some(Blocked::ProductMissing { product_key: key.clone() }),
                    ..Plan::default()
                },
                (OutOfBandDeletion::Recreate, Some(_)) => create_plan(desired, true),
                (_, None) => create_plan(desired, false),
            }
        }
    }
}

#[cfg(test)]
mod tests;
