//! What a reconcile of a product comes to, as data (no I/O): the product's state after the
//! executed actions, its conditions and status, and the words of its Events.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::IotProduct;
use crate::crd::product::{IotProductStatus, PendingCreate, ThingModelStatus};
use crate::reconcile::conditions::{self, Desired, Reason};
use crate::reconcile::platform_errors::{error_message, error_reason};
use iot_platform::region::public_instance;

use super::desired::DesiredProduct;
use super::execute::{Executed, Outcome};
use super::observe::Observation;
use super::plan::{Action, Blocked, Mode, Observed, Plan};

/// The instance id a product lives in: named by the spec, the account's, or the region's
/// public one; (the one to name in requests, the one to show).
#[must_use]
pub fn resolved_instance(
    desired: &DesiredProduct,
    account_instance: Option<&str>,
    region: &str,
) -> (Option<String>, String) {
    let named = desired.instance_id.clone().or_else(|| account_instance.map(str::to_string));
    let shown = named.clone().unwrap_or_else(|| public_instance(region));
    (named, shown)
}

/// What the journal holds after a reconcile.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum JournalState {
    /// No create was attempted: the status keeps what it had.
    #[default]
    Untouched,
    /// A create is pending (its attempts' outcome is unknown).
    Pending(PendingCreate),
    /// Every attempt was refused definitively: nothing is pending.
    Cleared,
}

/// What the create journal came to in a reconcile, as plain data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalFacts {
    /// The pending create after this reconcile's attempts.
    pub state: JournalState,
    /// The create that was pending before this reconcile (from the unsettled intent).
    pub pending_before: Option<PendingCreate>,
    /// The intent this reconcile's status accounts for.
    pub settles_intent: Option<String>,
}

/// The reason and note of the Event of an executed action.
#[must_use]
pub fn action_event(
    action: &Action,
    key: &str,
    desired: &DesiredProduct,
    instance: &str,
    recreate: bool,
    draft: Option<&iot_platform::tsl::ThingModel>,
) -> (&'static str, String) {
    match action {
        Action::Create if recreate => (
            "Recreated",
            format!(
                "Recreated product {} as {key} in instance {instance}: the previous one was deleted outside Kubernetes",
                desired.name
            ),
        ),
        Action::Create => {
            ("Created", format!("Created product {} ({key}) in instance {instance}", desired.name))
        }
        Action::Update { name, .. } => {
            ("Updated", format!("Updated product {key}: name {name}, description"))
        }
        Action::CreateTags(tags) => ("TagsAdded", format!("Added tags {} to product {key}", tag_keys(tags))),
        Action::UpdateTags(tags) => {
            ("TagsUpdated", format!("Changed tags {} of product {key}", tag_keys(tags)))
        }
        Action::DeleteTags(keys) => {
            ("TagsRemoved", format!("Removed tags {} from product {key}", keys.join(", ")))
        }
        Action::ImportThingModel => {
            let changes = match (draft, &desired.thing_model) {
                (Some(before), Some(after)) => before.changes_to(&after.model),
                (None, Some(after)) => vec![format!("{} features", after.model.feature_count())],
                _ => Vec::new(),
            };
            let said = iot_platform::tsl::summarize(&changes, 8);
            ("ThingModelImported", format!("Imported the thing model of product {key}: {said}"))
        }
        Action::PublishThingModel => {
            ("ThingModelPublished", format!("Published a new thing-model version of product {key}"))
        }
        Action::Release => ("Published", format!("Published product {key}")),
        Action::CancelRelease => ("PublicationRevoked", format!("Revoked the publication of product {key}")),
        Action::Delete => ("Deleted", format!("Deleted product {key} from the platform")),
        Action::CreateTopic(topic) => {
            ("TopicCreated", format!("Created topic category {} of product {key}", topic.display()))
        }
        Action::UpdateTopic { topic, .. } => {
            ("TopicUpdated", format!("Updated topic category {} of product {key}", topic.display()))
        }
        Action::DeleteTopic { name, .. } => {
            ("TopicDeleted", format!("Deleted topic category /user/{name} of product {key}"))
        }
        Action::CreateSubscription => {
            ("SubscriptionApplied", format!("Created the AMQP subscription of product {key}"))
        }
        Action::UpdateSubscription => {
            ("SubscriptionApplied", format!("Updated the AMQP subscription of product {key}"))
        }
        Action::DeleteSubscription => {
            ("SubscriptionDeleted", format!("Deleted the AMQP subscription of product {key}"))
        }
        Action::CreateScript => {
            ("ScriptApplied", format!("Submitted the data-parsing script of product {key}"))
        }
        Action::UpdateScript => {
            ("ScriptApplied", format!("Replaced the data-parsing script of product {key}"))
        }
    }
}

/// The reasons of a reconcile's steps, most significant first: the one Event of a reconcile
/// carries the most significant reason of what it did.
const SIGNIFICANCE: &[&str] = &[
    "Recreated",
    "Created",
    "Adopted",
    "Deleted",
    "PublicationRevoked",
    "Published",
    "ThingModelImported",
    "ThingModelPublished",
    "Updated",
    "TagsAdded",
    "TagsUpdated",
    "TagsRemoved",
    "ScriptApplied",
    "SubscriptionApplied",
    "SubscriptionDeleted",
    "TopicDeleted",
    "TopicUpdated",
    "TopicCreated",
    "SecretWritten",
];

/// The most an Event's note may hold (events.k8s.io/v1 refuses longer notes).
const NOTE_LIMIT: usize = 1024;

/// One Event for a reconcile's steps (`(reason, sentence)` in the order they happened): the
/// most significant reason, and every sentence in order (`Created …; added tags …;
/// published …`), cut to the note limit. `None` when nothing was done.
#[must_use]
pub fn summary_event(steps: &[(&'static str, String)]) -> Option<(&'static str, String)> {
    let rank = |reason: &str| SIGNIFICANCE.iter().position(|r| *r == reason).unwrap_or(SIGNIFICANCE.len());
    let reason = steps.iter().map(|(reason, _)| *reason).min_by_key(|reason| rank(reason))?;
    let mut note = String::new();
    for (i, (_, sentence)) in steps.iter().enumerate() {
        if i > 0 {
            note.push_str("; ");
            let mut chars = sentence.chars();
            if let Some(first) = chars.next() {
                note.extend(first.to_lowercase());
                note.push_str(chars.as_str());
            }
        } else {
            note.push_str(sentence);
        }
    }
    if note.len() > NOTE_LIMIT {
        let mut end = NOTE_LIMIT - '…'.len_utf8();
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push('…');
    }
    Some((reason, note))
}

fn tag_keys(tags: &[iot_platform::wire::Tag]) -> String {
    tags.iter().map(|t| t.tag_key.as_str()).collect::<Vec<_>>().join(", ")
}

/// Everything a reconcile learned, for the report.
pub struct Facts<'a> {
    /// Apply or delete.
    pub mode: Mode,
    /// Whether the product was in sync with this very spec before this reconcile (what it
    /// finds different now was changed behind the operator's back).
    pub in_sync_before: bool,
    /// The spec, validated.
    pub desired: &'a DesiredProduct,
    /// The instance the product lives in (as shown: the public instance by its id).
    pub instance: &'a str,
    /// The account's region.
    pub region: &'a str,
    /// What observing found.
    pub observation: &'a Observation,
    /// The plan.
    pub plan: &'a Plan,
    /// What was done.
    pub executed: &'a Executed,
    /// What the create journal of this reconcile came to.
    pub journal: JournalFacts,
    /// Where the product was distributed (recorded by ProductDistributions).
    pub observation_distributed: &'a [String],
}

/// The product's state after the reconcile, as far as it is known.
pub struct After {
    /// Its key.
    pub key: Option<String>,
    /// Whether it exists.
    pub exists: bool,
    /// Whether it is published.
    pub published: Option<bool>,
    /// Its ProductSecret.
    pub secret: Option<iot_platform::secret::Secret>,
}

/// The state after the executed actions.
#[must_use]
pub fn after(facts: &Facts<'_>) -> After {
    let executed = facts.executed;
    if let Some(Blocked::ManagedElsewhere) = facts.plan.blocked {
        // Another resource's product: nothing of it is kept, not even the key the spec named
        // (a recorded key means "this resource's product" to distributions).
        return After { key: None, exists: false, published: None, secret: None };
    }
    let (mut exists, mut published, mut secret) = match &facts.observation.observed {
        Observed::Exists(p) => (true, Some(p.published()), Some(p.details.product_secret.clone())),
        Observed::Missing | Observed::Nothing => (false, None, None),
    };
    for action in &executed.done {
        match action {
            Action::Create => {
                exists = true;
                published = Some(false);
                secret = executed.created_secret.clone();
            }
            Action::Release => published = Some(true),
            Action::CancelRelease => published = Some(false),
            Action::Delete => exists = false,
            _ => {}
        }
    }
    if let Outcome::Adopted { .. } = executed.outcome {
        exists = true;
    }
    After { key: executed.product_key.clone(), exists, published, secret: secret.filter(|s| !s.is_empty()) }
}

/// Synced: whether the last reconcile made the platform match the spec, and if not why.
fn synced_condition(facts: &Facts<'_>, secret_problem: Option<&str>) -> (bool, Reason, String) {
    let blocked = facts.plan.blocked.as_ref();
    match (&facts.executed.outcome, blocked) {
        (Outcome::Failed { error, action }, _) => {
            (false, error_reason(error), format!("{} failed: {}", action.operation(), error_message(error)))
        }
        (Outcome::NameConflict, _) => {
            (false, Reason::NameConflict, name_conflict_message(&facts.desired.name))
        }
        (Outcome::Journal(e), _) => {
            (false, Reason::StatusWriteFailed, format!("cannot record the create in status: {e}; retrying"))
        }
        (Outcome::Paced { retry_after }, _) => {
            let (applied, wanted) = topic_progress(facts);
            (
                false,
                Reason::ApplyingTopics,
                format!(
                    "{applied} of {wanted} topic categories applied; the platform allows one CreateProductTopic call \
                     per second per account, so the rest follow (next in about {} s)",
                    retry_after.as_secs().max(1)
                ),
            )
        }
        (Outcome::Adopted { product_key }, _) => {
            (false, Reason::Adopting, format!("found product {product_key} by its name; adopting it"))
        }
        (Outcome::Completed, Some(b)) => (false, b.reason(), b.message()),
        (Outcome::Completed, None) if !facts.plan.withheld.is_empty() => {
            let operations: Vec<&str> =
                facts.plan.withheld.iter().map(super::plan::Action::operation).collect();
            let (reason, policy) = match facts.desired.management {
                crate::crd::product::ManagementPolicy::ObserveOnly => (Reason::ObserveOnly, "ObserveOnly"),
                _ => (Reason::UpdatesDisabled, "NoUpdate"),
            };
            (
                false,
                reason,
                format!(
                    "the product differs from the spec, but spec.managementPolicy is {policy}: the operator does not \
                 change it (it would call {}). Set spec.managementPolicy: Full to apply the spec",
                    operations.join(", ")
                ),
            )
        }
        (Outcome::Completed, None) => match secret_problem {
            Some(problem) => (false, Reason::SecretConflict, problem.to_string()),
            None => (true, Reason::ReconcileSuccess, "the platform matches the spec".to_string()),
        },
    }
}

/// Available: whether the product exists and its credentials are in the Secret, and if not
/// why.
fn available_condition(
    facts: &Facts<'_>,
    state: &After,
    secret_problem: Option<&str>,
    synced_message: &str,
) -> (bool, Reason, String) {
    let key = state.key.clone().unwrap_or_default();
    let blocked = facts.plan.blocked.as_ref();
    if facts.mode == Mode::Delete {
        match blocked {
            Some(b) => (false, b.reason(), b.message()),
            None => (false, Reason::Deleting, "the resource is being deleted".to_string()),
        }
    } else if let Some(
        b @ (Blocked::AttributesMismatch(_)
        | Blocked::AdoptTargetMissing { .. }
        | Blocked::ProductMissing { .. }
        | Blocked::ManagedElsewhere
        | Blocked::NothingToObserve),
    ) = blocked
    {
        (false, b.reason(), b.message())
    } else if !state.exists {
        match &facts.executed.outcome {
            Outcome::NameConflict => (false, Reason::NameConflict, synced_message.to_string()),
            Outcome::Failed { error, .. } => {
                (false, error_reason(error), format!("the product cannot be created yet: {synced_message}"))
            }
            _ => (false, Reason::Creating, format!("creating the product: {synced_message}")),
        }
    } else if let Some(problem) = secret_problem {
        (false, Reason::SecretConflict, problem.to_string())
    } else if state.secret.is_none() {
        (false, Reason::Creating, "waiting to read the product's credentials".to_string())
    } else {
        let published = match state.published {
            Some(true) => "published",
            _ => "in development",
        };
        (
            true,
            Reason::Available,
            format!(
                "product {key} exists ({published}); its credentials are in Secret {}",
                facts.desired.secret_name
            ),
        )
    }
}

/// The Ready, Available, Synced and Published conditions (and ThingModelLocked once
/// distributed).
#[must_use]
pub fn conditions_for(facts: &Facts<'_>, state: &After, secret_problem: Option<&str>) -> Vec<Desired> {
    let mut out = Vec::new();
    let key = state.key.clone().unwrap_or_default();
    let (synced, synced_reason, synced_message) = synced_condition(facts, secret_problem);
    let (available, available_reason, available_message) =
        available_condition(facts, state, secret_problem, &synced_message);
    // Ready: the live product matches the current spec (kstatus', Argo CD's and `kubectl
    // wait`'s reading); Available alone is what a distribution needs.
    let ready = match (available, synced) {
        (false, _) => Desired::new("Ready", false, available_reason, available_message.clone()),
        (true, false) => Desired::new("Ready", false, synced_reason, synced_message.clone()),
        (true, true) => Desired::new(
            "Ready",
            true,
            Reason::Available,
            format!("{available_message}; the platform matches the spec"),
        ),
    };
    out.push(ready);
    out.push(Desired::new("Available", available, available_reason, available_message));
    out.push(Desired::new("Synced", synced, synced_reason, synced_message));
    if !facts.observation_distributed.is_empty() {
        out.push(Desired::new(
            "ThingModelLocked",
            true,
            Reason::Distributed,
            format!(
                "the product was distributed ({}); the platform no longer allows its thing model to change",
                facts.observation_distributed.join(", ")
            ),
        ));
    }
    if let Some(published) = state.published.filter(|_| state.exists) {
        let (reason, message) = if published {
            (Reason::Published, format!("product {key} is published; the platform locks it"))
        } else {
            (Reason::Developing, format!("product {key} is in development"))
        };
        out.push(Desired::new("Published", published, reason, message));
    }
    out
}

/// What this reconcile found changed on the platform behind the operator's back (the
/// resource was in sync with this very spec before), and whether it put the spec back: the
/// corrected actions' differences, or — observe-only — those it withholds.
#[must_use]
pub fn drift(facts: &Facts<'_>) -> (Vec<super::drift::FieldDrift>, bool) {
    // A product deleted behind the operator's back is recreated and told as such (Recreated),
    // not as a list of fields.
    let exists = matches!(facts.observation.observed, Observed::Exists(_));
    if facts.mode != Mode::Apply || !facts.in_sync_before || !exists {
        return (Vec::new(), false);
    }
    if facts.executed.done.is_empty() && !facts.plan.withheld.is_empty() {
        let found = super::drift::describe(
            &facts.plan.withheld,
            facts.desired,
            &facts.observation.observed,
            facts.mode,
        );
        return (found, false);
    }
    let done: Vec<Action> =
        facts.executed.done.iter().filter(|a| !matches!(a, Action::Create)).cloned().collect();
    (super::drift::describe(&done, facts.desired, &facts.observation.observed, facts.mode), true)
}

/// The status's device counts: as observed, with the time they were first seen as they are
/// (a resync that finds the same counts writes no status).
fn devices_status(
    observed: &crate::crd::product::DeviceCounts,
    previous: Option<&crate::crd::product::DeviceCounts>,
) -> crate::crd::product::DeviceCounts {
    let same = |p: &&crate::crd::product::DeviceCounts| {
        (p.total, p.activated, p.online) == (observed.total, observed.activated, observed.online)
    };
    match previous.filter(same) {
        Some(previous) if previous.observed_at.is_some() => previous.clone(),
        _ => observed.clone(),
    }
}

/// The status after a reconcile (pure): what is known about the product, the ownership
/// marks and thing model applied, the create intent still pending, and the conditions.
#[must_use]
pub fn next_status(
    product: &IotProduct,
    facts: &Facts<'_>,
    state: &After,
    secret_problem: Option<&str>,
    now: &Time,
) -> IotProductStatus {
    let previous = product.status.clone().unwrap_or_default();
    let tag_actions_done = facts
        .plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::CreateTags(_) | Action::UpdateTags(_) | Action::DeleteTags(_)))
        .all(|a| facts.executed.done.contains(a));
    let managed_tag_keys: Vec<String> = if tag_actions_done {
        facts.desired.tags.keys().cloned().collect()
    } else {
        let mut keys: BTreeSet<String> = previous.managed_tag_keys.iter().cloned().collect();
        keys.extend(facts.desired.tags.keys().cloned());
        keys.into_iter().collect()
    };
    let thing_model = match &facts.desired.thing_model {
        None => None,
        Some(model)
            if facts.executed.done.contains(&Action::PublishThingModel)
                || observed_published_thing_model(facts.observation, &model.digest) =>
        {
            Some(ThingModelStatus { digest: model.digest.clone(), version: None })
        }
        Some(_) => previous.thing_model.clone(),
    };
    let changed = !facts.executed.done.is_empty();
    let conditions_wanted = conditions_for(facts, state, secret_problem);
    let became_ready = conditions_wanted.iter().any(|c| c.type_ == "Ready" && c.status)
        && conditions::find(&previous.conditions, "Ready")
            .is_none_or(|c| c.status != "True" || c.observed_generation != product.metadata.generation);
    IotProductStatus {
        product_key: state.key.clone(),
        instance_id: Some(facts.instance.to_string()),
        region: Some(facts.region.to_string()),
        published: state.published.filter(|_| state.exists),
        platform_status: state
            .published
            .filter(|_| state.exists)
            .map(|p| if p { "Published" } else { "Developing" }.to_string()),
        thing_model,
        managed_tag_keys,
        topics: topics_status(facts, previous.topics.as_ref()),
        data_parsing: script_status(facts, previous.data_parsing.as_ref()),
        subscription: subscription_status(facts, previous.subscription.as_ref()),
        last_drift: match drift(facts) {
            (found, corrected) if !found.is_empty() => Some(crate::crd::product::LastDrift {
                time: now.clone(),
                fields: found.iter().map(super::drift::FieldDrift::sentence).collect(),
                corrected,
            }),
            _ => previous.last_drift.clone(),
        },
        devices: match &facts.observation.observed {
            Observed::Exists(product) => Some(devices_status(&product.devices, previous.devices.as_ref())),
            // A product made a moment ago has no devices yet.
            _ if facts.executed.done.contains(&Action::Create) => Some(crate::crd::product::DeviceCounts {
                observed_at: Some(now.clone()),
                ..Default::default()
            }),
            _ => None,
        },
        secret_name: (state.exists && state.secret.is_some())
            .then(|| facts.desired.secret_name.clone())
            .or(previous.secret_name.clone()),
        // A refused create (the name is taken) made nothing: no intent is left pending.
        pending_create: match (&state.key, &facts.executed.outcome) {
            (Some(_), _) | (None, Outcome::NameConflict) => None,
            (None, _) => match &facts.journal.state {
                JournalState::Untouched => facts.journal.pending_before.clone(),
                JournalState::Pending(pending) => Some(pending.clone()),
                JournalState::Cleared => None,
            },
        },
        settled_intent: facts.journal.settles_intent.clone().or(previous.settled_intent.clone()),
        distributed_to: previous.distributed_to.clone(),
        observed_generation: product.metadata.generation,
        last_handled_reconcile_at: crate::crd::reconcile_request(&product.metadata),
        last_sync_time: if changed || became_ready {
            Some(now.clone())
        } else {
            previous.last_sync_time.clone()
        },
        reason: None,
        conditions: conditions::merge(
            &previous.conditions,
            conditions_wanted,
            product.metadata.generation,
            now,
        ),
    }
}

/// The topics observed on the product (none on a product that did not exist).
fn observed_topics(facts: &Facts<'_>) -> Vec<super::parts::ObservedTopic> {
    match &facts.observation.observed {
        Observed::Exists(p) => p.topics.clone().unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// How many of the spec's topic categories are applied after this reconcile, of how many.
fn topic_progress(facts: &Facts<'_>) -> (usize, usize) {
    let desired = facts.desired.topics.as_deref().unwrap_or_default();
    (super::parts::applied_count(desired, &observed_topics(facts), &facts.executed.done), desired.len())
}

/// `status.topics` after this reconcile: the managed names and the progress; unchanged when
/// the topics were not looked at.
fn topics_status(
    facts: &Facts<'_>,
    previous: Option<&crate::crd::product_parts::TopicsStatus>,
) -> Option<crate::crd::product_parts::TopicsStatus> {
    let desired = facts.desired.topics.as_deref()?;
    let looked = match &facts.observation.observed {
        Observed::Exists(p) => p.topics.is_some(),
        _ => facts.executed.done.contains(&Action::Create),
    };
    if !looked {
        return previous.cloned();
    }
    let observed = observed_topics(facts);
    let before: BTreeSet<String> = previous.map(|t| t.managed.iter().cloned().collect()).unwrap_or_default();
    let managed = super::parts::managed_after(desired, &observed, &before, &facts.executed.done);
    let (applied, wanted) = topic_progress(facts);
    Some(crate::crd::product_parts::TopicsStatus {
        managed: managed.into_iter().collect(),
        applied: i32::try_from(applied).unwrap_or(i32::MAX),
        desired: i32::try_from(wanted).unwrap_or(i32::MAX),
    })
}

/// `status.dataParsing` after this reconcile: the script applied or found as specified.
fn script_status(
    facts: &Facts<'_>,
    previous: Option<&crate::crd::product_parts::DataParsingStatus>,
) -> Option<crate::crd::product_parts::DataParsingStatus> {
    let script = facts.desired.script.as_ref()?;
    let written =
        facts.executed.done.iter().any(|a| matches!(a, Action::CreateScript | Action::UpdateScript));
    let found = matches!(&facts.observation.observed, Observed::Exists(p)
        if matches!(&p.script, Some(super::parts::ObservedScript::Present { digest, .. }) if *digest == script.digest));
    if written || found {
        Some(crate::crd::product_parts::DataParsingStatus { digest: script.digest.clone() })
    } else {
        previous.cloned()
    }
}

/// `status.subscription` after this reconcile: the subscription the operator made or found as
/// specified; none once it deleted it (or the spec has none and it made none).
fn subscription_status(
    facts: &Facts<'_>,
    previous: Option<&crate::crd::product_parts::SubscriptionStatus>,
) -> Option<crate::crd::product_parts::SubscriptionStatus> {
    let done = &facts.executed.done;
    if done.contains(&Action::DeleteSubscription) {
        return None;
    }
    let Some(desired) = &facts.desired.subscription else { return previous.cloned() };
    let written = done.iter().any(|a| matches!(a, Action::CreateSubscription | Action::UpdateSubscription));
    let found = matches!(&facts.observation.observed, Observed::Exists(p)
        if p.subscription.as_ref().is_some_and(|o| desired.group_ids.is_some() && desired.differences(o).is_empty()));
    match &desired.group_ids {
        Some(ids) if written || found => Some(crate::crd::product_parts::SubscriptionStatus {
            consumer_group_ids: ids.iter().cloned().collect(),
        }),
        _ => previous.cloned(),
    }
}

/// Whether observing found this thing model to be the platform's latest published one.
fn observed_published_thing_model(observation: &Observation, digest: &str) -> bool {
    matches!(&observation.observed, Observed::Exists(p) if p.published_thing_model_digest.as_deref() == Some(digest))
}

/// Why a create is refused because another product has the name, and the ways out.
#[must_use]
pub fn name_conflict_message(name: &str) -> String {
    format!(
        "a product named {name} already exists in the instance and this resource did not create it; choose \
         another spec.productName. (To manage an existing product, the PlatformAccount's administrator must \
         allow this namespace to take over products: spec.takeOver; then set spec.productKey or \
         spec.adoptionPolicy: ByName)"
    )
}

#[cfg(test)]
mod tests {
    use super::{devices_status, summary_event};
    use crate::crd::product::DeviceCounts;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn device_counts_keep_the_time_they_were_first_seen_while_unchanged() {
        let at = |s: i64| Some(Time(jiff::Timestamp::from_second(s).unwrap()));
        let counts = |activated, observed_at| DeviceCounts { total: 5, activated, online: 1, observed_at };
        assert_eq!(devices_status(&counts(3, at(200)), Some(&counts(3, at(100)))), counts(3, at(100)));
        assert_eq!(devices_status(&counts(4, at(200)), Some(&counts(3, at(100)))), counts(4, at(200)));
        assert_eq!(devices_status(&counts(3, at(200)), None), counts(3, at(200)));
        assert_eq!(devices_status(&counts(3, at(200)), Some(&counts(3, None))), counts(3, at(200)));
    }

    #[test]
    fn one_event_names_every_step_under_the_most_significant_reason() {
        let steps = vec![
            ("Created", "Created product Lamp (a1Key) in instance iot-1".to_string()),
            ("TagsAdded", "Added tags team to product a1Key".to_string()),
            ("Published", "Published product a1Key".to_string()),
            ("SecretWritten", "Wrote the product's credentials to Secret lamp".to_string()),
        ];
        let (reason, note) = summary_event(&steps).unwrap();
        assert_eq!(reason, "Created");
        assert_eq!(
            note,
            "Created product Lamp (a1Key) in instance iot-1; added tags team to product a1Key; published product \
             a1Key; wrote the product's credentials to Secret lamp"
        );
        let revoke = vec![
            ("PublicationRevoked", "Revoked the publication of product a1Key".to_string()),
            (
                "ThingModelImported",
                "Imported the thing model of product a1Key: added property Color".to_string(),
            ),
            ("Published", "Published product a1Key".to_string()),
        ];
        assert_eq!(summary_event(&revoke).unwrap().0, "PublicationRevoked");
        assert!(summary_event(&[]).is_none());
    }

    #[test]
    fn a_long_note_is_cut_to_what_the_api_accepts_on_a_character_boundary() {
        let steps = vec![("ThingModelImported", "灯".repeat(600))];
        let (_, note) = summary_event(&steps).unwrap();
        assert!(note.len() <= 1024 && note.ends_with('…'), "{}", note.len());
    }
}

/// The status each situation of a reconcile comes to: the Ready, Synced and Available
/// conditions (their reasons), kstatus' derived condition, and the create intent kept or
/// settled. One row per situation; the facts are plain data, as the controller builds them.
#[cfg(test)]
mod situations {
    use super::*;
    use crate::crd::product::{CreateAttempt, IotProductSpec};
    use crate::product::fixtures::{self, desired};
    use crate::reconcile::conditions::{Class, class_of};

    fn exists(published: bool) -> Observed {
        Observed::Exists(Box::new(fixtures::exists(published)))
    }

    fn plan(actions: Vec<Action>, blocked: Option<Blocked>, withheld: Vec<Action>) -> Plan {
        Plan { actions, blocked, recreate: false, withheld }
    }

    fn executed(done: Vec<Action>, key: Option<&str>, outcome: Outcome) -> Executed {
        Executed {
            done,
            product_key: key.map(str::to_string),
            created_secret: key.map(|_| iot_platform::secret::Secret::new("s")),
            outcome,
        }
    }

    fn throttled() -> iot_platform::PlatformError {
        iot_platform::PlatformError::Api {
            action: "CreateProduct",
            code: "Throttling.User".into(),
            message: "Request was denied due to user flow control.".into(),
            request_id: "r".into(),
            http_status: 400,
            class: iot_platform::ErrorClass::Throttled,
        }
    }

    fn pending() -> PendingCreate {
        PendingCreate {
            product_name: "Lamp".into(),
            instance_id: Some("iotx-oxssharez200".into()),
            since: Time(jiff::Timestamp::from_second(900).unwrap()),
            attempts: vec![CreateAttempt { sent: super::super::claim::micro_time(900_000), answered: None }],
        }
    }

    /// One situation: what the reconcile saw and did.
    struct Case {
        name: &'static str,
        mode: Mode,
        desired: DesiredProduct,
        observed: Observed,
        plan: Plan,
        executed: Executed,
        journal: JournalFacts,
        secret_problem: Option<&'static str>,
    }

    /// What the status says: (Ready, Synced, Available) as (status, reason), and the derived
    /// kstatus condition (`Reconciling`/`Stalled`, none when all is well).
    type Said = [(bool, &'static str); 3];

    fn run(case: &Case) -> (Said, Option<(&'static str, Class)>, IotProductStatus) {
        let facts = Facts {
            mode: case.mode,
            in_sync_before: false,
            desired: &case.desired,
            instance: "iotx-oxssharez200",
            region: "cn-shanghai",
            observation: &Observation { observed: case.observed.clone(), found_by: None },
            plan: &case.plan,
            executed: &case.executed,
            journal: case.journal.clone(),
            observation_distributed: &[],
        };
        let state = after(&facts);
        let spec: IotProductSpec =
            serde_json::from_value(serde_json::json!({"productName": "Lamp"})).unwrap();
        let mut product = IotProduct::new("lamp", spec);
        product.metadata.generation = Some(2);
        let now = Time(jiff::Timestamp::from_second(1_000).unwrap());
        let status = next_status(&product, &facts, &state, case.secret_problem, &now);
        let condition = |type_: &str| {
            let c = conditions::find(&status.conditions, type_)
                .unwrap_or_else(|| panic!("{}: no {type_}", case.name));
            assert_eq!(c.observed_generation, Some(2), "{}: {type_}", case.name);
            let reason = Reason::parse(&c.reason)
                .unwrap_or_else(|| panic!("{}: unknown reason {}", case.name, c.reason));
            (c.status == "True", reason.as_str())
        };
        let said = [condition("Ready"), condition("Synced"), condition("Available")];
        let derived = [conditions::RECONCILING, conditions::STALLED]
            .into_iter()
            .find(|t| conditions::find(&status.conditions, t).is_some())
            .map(|t| (t, class_of(&conditions::find(&status.conditions, t).unwrap().reason)));
        (said, derived, status)
    }

    #[test]
    fn each_situation_comes_to_its_conditions() {
        let created = || executed(vec![Action::Create], Some("a1Key"), Outcome::Completed);
        let cases = vec![
            (
                Case {
                    name: "created in one pass",
                    mode: Mode::Apply,
                    desired: desired(serde_json::json!({})),
                    observed: Observed::Nothing,
                    plan: plan(vec![Action::Create], None, vec![]),
                    executed: created(),
                    journal: JournalFacts { settles_intent: Some("i1".into()), ..JournalFacts::default() },
                    secret_problem: None,
                },
                [(true, "Available"), (true, "ReconcileSuccess"), (true, "Available")],
                None,
            ),
            (
                Case {
                    name: "the create was throttled",
                    mode: Mode::Apply,
                    desired: desired(serde_json::json!({})),
                    observed: Observed::Nothing,
                    plan: plan(vec![Action::Create], None, vec![]),
                    executed: executed(
                        vec![],
                        None,
                        Outcome::Failed { action: Action::Create, error: throttled() },
                    ),
                    journal: JournalFacts {
                        state: JournalState::Pending(pending()),
                        ..JournalFacts::default()
                    },
                    secret_problem: None,
                },
                [(false, "Throttled"), (false, "Throttled"), (false, "Throttled")],
                Some((conditions::RECONCILING, Class::Transient)),
            ),
            (
                Case {
                    name: "the name is another product's",
                    mode: Mode::Apply,
                    desired: desired(serde_json::json!({})),
                    observed: Observed::Nothing,
                    plan: plan(vec![Action::Create], None, vec![]),
                    executed: executed(vec![], None, Outcome::NameConflict),
                    journal: JournalFacts {
                        state: JournalState::Pending(pending()),
                        ..JournalFacts::default()
                    },
                    secret_problem: None,
                },
                [(false, "NameConflict"), (false, "NameConflict"), (false, "NameConflict")],
                Some((conditions::STALLED, Class::NeedsHuman)),
            ),
            (
                Case {
                    name: "a change the publication locks",
                    mode: Mode::Apply,
                    desired: desired(serde_json::json!({"published": true, "productName": "Lamp2"})),
                    observed: exists(true),
                    plan: plan(
                        vec![],
                        Some(Blocked::PublishedLocked {
                            fields: vec!["productName"],
                            thing_model_changes: vec![],
                        }),
                        vec![],
                    ),
                    executed: executed(vec![], Some("a1Key"), Outcome::Completed),
                    journal: JournalFacts::default(),
                    secret_problem: None,
                },
                [(false, "PublishedLocked"), (false, "PublishedLocked"), (true, "Available")],
                Some((conditions::STALLED, Class::NeedsHuman)),
            ),
            (
                Case {
                    name: "ObserveOnly finds a difference",
                    mode: Mode::Apply,
                    desired: desired(
                        serde_json::json!({"managementPolicy": "ObserveOnly", "productKey": "a1Key"}),
                    ),
                    observed: exists(false),
                    plan: plan(vec![], None, vec![Action::Release]),
                    executed: executed(vec![], Some("a1Key"), Outcome::Completed),
                    journal: JournalFacts::default(),
                    secret_problem: None,
                },
                [(false, "ObserveOnly"), (false, "ObserveOnly"), (true, "Available")],
                Some((conditions::STALLED, Class::NeedsHuman)),
            ),
            (
                Case {
                    name: "topics paced by the platform's quota",
                    mode: Mode::Apply,
                    desired: desired(serde_json::json!({})),
                    observed: exists(false),
                    plan: plan(vec![], None, vec![]),
                    executed: executed(
                        vec![],
                        Some("a1Key"),
                        Outcome::Paced { retry_after: std::time::Duration::from_secs(1) },
                    ),
                    journal: JournalFacts::default(),
                    secret_problem: None,
                },
                [(false, "ApplyingTopics"), (false, "ApplyingTopics"), (true, "Available")],
                Some((conditions::RECONCILING, Class::Transient)),
            ),
            (
                Case {
                    name: "the Secret's name is taken",
                    mode: Mode::Apply,
                    desired: desired(serde_json::json!({})),
                    observed: exists(false),
                    plan: plan(vec![], None, vec![]),
                    executed: executed(vec![], Some("a1Key"), Outcome::Completed),
                    journal: JournalFacts::default(),
                    secret_problem: Some("Secret lamp-credentials is not the operator's"),
                },
                [(false, "SecretConflict"), (false, "SecretConflict"), (false, "SecretConflict")],
                Some((conditions::STALLED, Class::NeedsHuman)),
            ),
            (
                Case {
                    name: "adopted by its name",
                    mode: Mode::Apply,
                    desired: desired(serde_json::json!({"adoptionPolicy": "ByName"})),
                    observed: Observed::Nothing,
                    plan: plan(vec![Action::Create], None, vec![]),
                    executed: executed(
                        vec![],
                        Some("a1Key"),
                        Outcome::Adopted { product_key: "a1Key".into() },
                    ),
                    journal: JournalFacts::default(),
                    secret_problem: None,
                },
                // Found, its credentials not read yet: Ready and Available wait for them.
                [(false, "Creating"), (false, "Adopting"), (false, "Creating")],
                Some((conditions::RECONCILING, Class::Transient)),
            ),
            (
                Case {
                    name: "deleting a published product is blocked",
                    mode: Mode::Delete,
                    desired: desired(serde_json::json!({"published": true})),
                    observed: exists(true),
                    plan: plan(vec![], Some(Blocked::DeleteWhilePublished), vec![]),
                    executed: executed(vec![], Some("a1Key"), Outcome::Completed),
                    journal: JournalFacts::default(),
                    secret_problem: None,
                },
                [
                    (false, "DeleteBlockedByPublication"),
                    (false, "DeleteBlockedByPublication"),
                    (false, "DeleteBlockedByPublication"),
                ],
                Some((conditions::STALLED, Class::NeedsHuman)),
            ),
        ];
        let mut wrong = Vec::new();
        for (case, said, derived) in &cases {
            let (got, got_derived, _) = run(case);
            if got != *said || got_derived != *derived {
                wrong.push(format!("{}: {got:?} {got_derived:?}, expected {said:?} {derived:?}", case.name));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_create_intent_is_settled_or_kept_as_the_journal_says() {
        let case = |executed: Executed, journal: JournalFacts| Case {
            name: "intent",
            mode: Mode::Apply,
            desired: desired(serde_json::json!({})),
            observed: Observed::Nothing,
            plan: plan(vec![Action::Create], None, vec![]),
            executed,
            journal,
            secret_problem: None,
        };
        // Created: the key is in the status, nothing pending, the intent settled.
        let (_, _, status) = run(&case(
            executed(vec![Action::Create], Some("a1Key"), Outcome::Completed),
            JournalFacts { settles_intent: Some("i1".into()), ..JournalFacts::default() },
        ));
        assert_eq!((status.product_key.as_deref(), status.pending_create), (Some("a1Key"), None));
        assert_eq!(status.settled_intent.as_deref(), Some("i1"));
        // The answer was lost: the create stays pending (the next pass looks for it).
        let (_, _, status) = run(&case(
            executed(vec![], None, Outcome::Failed { action: Action::Create, error: throttled() }),
            JournalFacts {
                state: JournalState::Pending(pending()),
                settles_intent: Some("i2".into()),
                ..JournalFacts::default()
            },
        ));
        assert_eq!(status.pending_create, Some(pending()));
        // Untouched this pass: the create pending before stays pending.
        let (_, _, status) = run(&case(
            executed(vec![], None, Outcome::Failed { action: Action::Create, error: throttled() }),
            JournalFacts { pending_before: Some(pending()), ..JournalFacts::default() },
        ));
        assert_eq!(status.pending_create, Some(pending()));
        // The name is another product's: nothing is left pending.
        let (_, _, status) = run(&case(
            executed(vec![], None, Outcome::NameConflict),
            JournalFacts { state: JournalState::Pending(pending()), ..JournalFacts::default() },
        ));
        assert_eq!(status.pending_create, None);
    }
}
