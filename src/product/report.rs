//! Reports what happened: status (computed as data, written with server-side apply only
//! when it changed), the owned Secret (written only when it differs), and Events for every
//! platform write and every problem.
//!
//! The Kubernetes writes of the reconciler happen here (and in the create journal).

use std::collections::BTreeSet;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use crate::crd::IotProduct;
use crate::crd::product::{IotProductStatus, PendingCreate, ThingModelStatus};
use crate::reconcile::account_clients::AccountHandle;
use crate::reconcile::conditions::{self, Desired};
use crate::reconcile::context::Context;
use crate::reconcile::platform_errors::{error_message, error_reason};
use crate::reconcile::status::{self, FIELD_MANAGER};
use iot_platform::region::public_instance;

use super::desired::DesiredProduct;
use super::execute::{CreateJournal, Executed, Outcome};
use super::observe::{FoundBy, Observation};
use super::plan::{Action, Blocked, Mode, Observed, Plan};
use super::secret::{self, ProductCredentials};

/// The API of the product's namespace.
fn api(ctx: &Context, product: &IotProduct) -> Api<IotProduct> {
    Api::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default())
}

/// Serialises a status for server-side apply: the fields this field manager owns
/// (`distributedTo` belongs to the distribution controller).
fn apply_body(status: &IotProductStatus, resource_version: Option<&str>) -> serde_json::Value {
    let mut status = status.clone();
    status.distributed_to.clear();
    status::apply_body::<IotProduct, _>(&status, resource_version)
}

/// Writes `status` unless it equals the current one.
async fn write_status(
    ctx: &Context,
    product: &IotProduct,
    status: &IotProductStatus,
) -> Result<(), kube::Error> {
    let mut status = status.clone();
    status.reason = conditions::headline(&status.conditions);
    let status = &status;
    let mut current = product.status.clone().unwrap_or_default();
    current.distributed_to.clear();
    let mut wanted = status.clone();
    wanted.distributed_to.clear();
    if current == wanted {
        return Ok(());
    }
    status::apply_as(&api(ctx, product), &product.name_any(), FIELD_MANAGER, apply_body(status, None)).await
}

/// Records a create in status before it is made (see [`CreateJournal`]).
pub struct StatusJournal<'a> {
    ctx: &'a Context,
    product: &'a IotProduct,
    instance_id: String,
    started: Mutex<Option<i64>>,
    recorded_key: Mutex<Option<String>>,
}

impl<'a> StatusJournal<'a> {
    /// A journal for `product`.
    #[must_use]
    pub fn new(ctx: &'a Context, product: &'a IotProduct, instance_id: String) -> Self {
        Self { ctx, product, instance_id, started: Mutex::new(None), recorded_key: Mutex::new(None) }
    }

    /// When the intent was recorded in this reconcile, with the name.
    fn pending(&self, name: &str) -> Option<PendingCreate> {
        let started = (*self.started.lock().expect("journal lock"))?;
        if self.recorded_key.lock().expect("journal lock").is_some() {
            return None;
        }
        Some(PendingCreate {
            product_name: name.to_string(),
            instance_id: Some(self.instance_id.clone()),
            since: Time(
                jiff::Timestamp::from_millisecond(started).unwrap_or_else(|_| jiff::Timestamp::now()),
            ),
        })
    }
}

#[async_trait::async_trait]
impl CreateJournal for StatusJournal<'_> {
    async fn record_intent(&self, product_name: &str) -> Result<i64, kube::Error> {
        let mut status = self.product.status.clone().unwrap_or_default();
        let since = status
            .pending_create
            .as_ref()
            .filter(|p| p.product_name == product_name)
            .map_or_else(|| jiff::Timestamp::now().as_millisecond(), |p| p.since.0.as_millisecond());
        status.pending_create = Some(PendingCreate {
            product_name: product_name.to_string(),
            instance_id: Some(self.instance_id.clone()),
            since: Time(jiff::Timestamp::from_millisecond(since).unwrap_or_else(|_| jiff::Timestamp::now())),
        });
        // The resourceVersion makes this write fail if the copy of the resource the plan was
        // made from is stale (it might lack a key recorded meanwhile).
        let body = apply_body(&status, self.product.resource_version().as_deref());
        status::apply_as(&api(self.ctx, self.product), &self.product.name_any(), FIELD_MANAGER, body).await?;
        *self.started.lock().expect("journal lock") = Some(since);
        Ok(since)
    }

    async fn record_key(&self, product_key: &str) -> Result<(), kube::Error> {
        let mut status = self.product.status.clone().unwrap_or_default();
        status.pending_create = None;
        status.product_key = Some(product_key.to_string());
        status.instance_id = Some(self.instance_id.clone());
        let body = apply_body(&status, None);
        status::apply_as(&api(self.ctx, self.product), &self.product.name_any(), FIELD_MANAGER, body).await?;
        *self.recorded_key.lock().expect("journal lock") = Some(product_key.to_string());
        info!(product_key, "recorded the key of the created product");
        Ok(())
    }
}

/// The instance id a product lives in: named, the account's, or the region's public one.
#[must_use]
pub fn resolved_instance(desired: &DesiredProduct, account: &AccountHandle) -> (Option<String>, String) {
    let named = desired.instance_id.clone().or_else(|| account.instance_id.clone());
    let shown = named.clone().unwrap_or_else(|| public_instance(&account.region));
    (named, shown)
}

/// Publishes an Event about `product`; failures to publish are logged, not fatal.
pub async fn event(
    ctx: &Context,
    product: &IotProduct,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event =
        Event { type_, reason: reason.into(), note: Some(note), action: action.into(), secondary: None };
    if let Err(error) = ctx.recorder.publish(&event, &product.object_ref(&())).await {
        warn!(%error, reason, "cannot publish an event");
    }
}

fn action_event(
    action: &Action,
    key: &str,
    desired: &DesiredProduct,
    instance: &str,
    recreate: bool,
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
            ("ThingModelImported", format!("Imported the thing model of product {key}"))
        }
        Action::PublishThingModel => {
            ("ThingModelPublished", format!("Published a new thing-model version of product {key}"))
        }
        Action::Release => ("Published", format!("Published product {key}")),
        Action::CancelRelease => ("PublicationRevoked", format!("Revoked the publication of product {key}")),
        Action::Delete => ("Deleted", format!("Deleted product {key} from the platform")),
    }
}

fn tag_keys(tags: &[iot_platform::wire::Tag]) -> String {
    tags.iter().map(|t| t.tag_key.as_str()).collect::<Vec<_>>().join(", ")
}

/// Everything a reconcile learned, for the report.
pub struct Facts<'a> {
    /// Apply or delete.
    pub mode: Mode,
    /// The spec, validated.
    pub desired: &'a DesiredProduct,
    /// The account.
    pub account: &'a AccountHandle,
    /// What observing found.
    pub observation: &'a Observation,
    /// The plan.
    pub plan: &'a Plan,
    /// What was done.
    pub executed: &'a Executed,
    /// The create journal of this reconcile.
    pub journal: &'a StatusJournal<'a>,
    /// Where the product was distributed (recorded by ProductDistributions).
    pub observation_distributed: &'a [String],
}

/// The product's state after the reconcile, as far as it is known.
struct After {
    key: Option<String>,
    exists: bool,
    published: Option<bool>,
    secret: Option<String>,
}

fn after(facts: &Facts<'_>) -> After {
    let executed = facts.executed;
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

/// The Ready, Synced and Published conditions.
fn conditions_for(facts: &Facts<'_>, state: &After, secret_problem: Option<&str>) -> Vec<Desired> {
    let mut out = Vec::new();
    let key = state.key.clone().unwrap_or_default();
    let blocked = facts.plan.blocked.as_ref();
    let (synced, synced_reason, synced_message) = match (&facts.executed.outcome, blocked) {
        (Outcome::Failed { error, action }, _) => (
            false,
            error_reason(error).to_string(),
            format!("{} failed: {}", action.operation(), error_message(error)),
        ),
        (Outcome::NameConflict { product_key }, _) => (
            false,
            "NameConflict".into(),
            format!(
                "a product named {} already exists in the instance ({product_key}) and this resource did not create it; \
                 to manage that product set spec.productKey: {product_key} (or spec.adoptionPolicy: ByName), \
                 otherwise choose another spec.productName",
                facts.desired.name
            ),
        ),
        (Outcome::Journal(e), _) => {
            (false, "StatusWriteFailed".into(), format!("cannot record the create in status: {e}; retrying"))
        }
        (Outcome::Adopted { product_key }, _) => {
            (false, "Adopting".into(), format!("found product {product_key} by its name; adopting it"))
        }
        (Outcome::Completed, Some(b)) => (false, b.reason().to_string(), b.message()),
        (Outcome::Completed, None) if !facts.plan.withheld.is_empty() => {
            let operations: Vec<&str> =
                facts.plan.withheld.iter().map(super::plan::Action::operation).collect();
            let (reason, policy) = match facts.desired.management {
                crate::crd::product::ManagementPolicy::ObserveOnly => ("ObserveOnly", "ObserveOnly"),
                _ => ("UpdatesDisabled", "NoUpdate"),
            };
            (
                false,
                reason.to_string(),
                format!(
                    "the product differs from the spec, but spec.managementPolicy is {policy}: the operator does not \
                 change it (it would call {}). Set spec.managementPolicy: Full to apply the spec",
                    operations.join(", ")
                ),
            )
        }
        (Outcome::Completed, None) => match secret_problem {
            Some(problem) => (false, "SecretConflict".into(), problem.to_string()),
            None => (true, "ReconcileSuccess".into(), "the platform matches the spec".to_string()),
        },
    };
    let (ready, ready_reason, ready_message) = if facts.mode == Mode::Delete {
        match blocked {
            Some(b) => (false, b.reason().to_string(), b.message()),
            None => (false, "Deleting".to_string(), "the resource is being deleted".to_string()),
        }
    } else if let Some(
        b @ (Blocked::AttributesMismatch(_)
        | Blocked::AdoptTargetMissing { .. }
        | Blocked::ProductMissing { .. }
        | Blocked::ManagedElsewhere { .. }
        | Blocked::NothingToObserve),
    ) = blocked
    {
        (false, b.reason().to_string(), b.message())
    } else if !state.exists {
        match &facts.executed.outcome {
            Outcome::NameConflict { .. } => (false, "NameConflict".to_string(), synced_message.clone()),
            Outcome::Failed { error, .. } => (
                false,
                error_reason(error).to_string(),
                format!("the product cannot be created yet: {synced_message}"),
            ),
            _ => (false, "Creating".to_string(), format!("creating the product: {synced_message}")),
        }
    } else if let Some(problem) = secret_problem {
        (false, "SecretConflict".to_string(), problem.to_string())
    } else if state.secret.is_none() {
        (false, "Creating".to_string(), "waiting to read the product's credentials".to_string())
    } else {
        let published = match state.published {
            Some(true) => "published",
            _ => "in development",
        };
        (
            true,
            "Available".to_string(),
            format!(
                "product {key} exists ({published}); its credentials are in Secret {}",
                facts.desired.secret_name
            ),
        )
    };
    out.push(Desired::new("Ready", ready, ready_reason, ready_message));
    out.push(Desired::new("Synced", synced, synced_reason, synced_message));
    if !facts.observation_distributed.is_empty() {
        out.push(Desired::new(
            "ThingModelLocked",
            true,
            "Distributed",
            format!(
                "the product was distributed ({}); the platform no longer allows its thing model to change",
                facts.observation_distributed.join(", ")
            ),
        ));
    }
    if let Some(published) = state.published.filter(|_| state.exists) {
        let (reason, message) = if published {
            ("Published", format!("product {key} is published; the platform locks it"))
        } else {
            ("Developing", format!("product {key} is in development"))
        };
        out.push(Desired::new("Published", published, reason, message));
    }
    out
}

/// Writes the product's Secret when it is missing or differs; returns a problem to report
/// (a Secret of that name that the operator does not own).
async fn write_secret(
    ctx: &Context,
    product: &IotProduct,
    name: &str,
    credentials: &ProductCredentials,
) -> Result<Option<String>, kube::Error> {
    let namespace = product.namespace().unwrap_or_default();
    let owner = product.controller_owner_ref(&()).expect("a stored object has an owner reference");
    let wanted = secret::build(name, &namespace, owner.clone(), &product.name_any(), credentials);
    let cached = ctx.secrets.get(&ObjectRef::new(name).within(&namespace));
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let existing = match cached {
        Some(secret) => Some((*secret).clone()),
        None => api.get_opt(name).await?,
    };
    if let Some(existing) = &existing {
        let ours = existing.owner_references().iter().any(|o| o.uid == owner.uid);
        if !ours {
            return Ok(Some(format!(
                "a Secret named {name} already exists and is not owned by this IotProduct; the operator does not \
                 overwrite it. Delete it, or set spec.secretName to another name"
            )));
        }
        if secret::is_current(existing, &wanted) {
            return Ok(None);
        }
    }
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&wanted)).await?;
    event(
        ctx,
        product,
        EventType::Normal,
        "SecretWritten",
        "WriteSecret",
        format!("Wrote the product's credentials to Secret {name}"),
    )
    .await;
    Ok(None)
}

/// Deletes a Secret the product no longer uses (after `spec.secretName` changed), if owned.
async fn delete_old_secret(ctx: &Context, product: &IotProduct, old: &str) -> Result<(), kube::Error> {
    let namespace = product.namespace().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    if let Some(existing) = api.get_opt(old).await? {
        let uid = product.uid().unwrap_or_default();
        if existing.owner_references().iter().any(|o| o.uid == uid) {
            api.delete(old, &DeleteParams::default()).await?;
        }
    }
    Ok(())
}

/// Reports a reconcile: Events, Secret, status. Returns the fingerprint of the product's
/// Secret when it is current (written or confirmed).
///
/// # Errors
/// A Kubernetes error when a write fails.
pub async fn report(
    ctx: &Context,
    product: &IotProduct,
    facts: &Facts<'_>,
) -> Result<Option<u64>, kube::Error> {
    let previous = product.status.clone().unwrap_or_default();
    let (_, instance_shown) = resolved_instance(facts.desired, facts.account);
    let state = after(facts);
    let key = state.key.clone().unwrap_or_default();

    // Events for what changed on the platform, and for problems.
    if let Some(FoundBy::PendingCreate | FoundBy::Name | FoundBy::SpecKey) = facts.observation.found_by {
        event(
            ctx,
            product,
            EventType::Normal,
            "Adopted",
            "Adopt",
            format!("Manages existing product {key} ({})", facts.desired.name),
        )
        .await;
    }
    for action in &facts.executed.done {
        let (reason, note) = action_event(action, &key, facts.desired, &instance_shown, facts.plan.recreate);
        let note = if *action == Action::CancelRelease && facts.mode == Mode::Apply && facts.desired.published
        {
            format!(
                "{note} to apply a change (publishedChangePolicy: RevokeAndRepublish); it will be published again"
            )
        } else {
            note
        };
        event(ctx, product, EventType::Normal, reason, action.operation(), note).await;
    }
    match &facts.executed.outcome {
        Outcome::Failed { action, error } => {
            warn!(
                action = action.operation(),
                code = error.code(),
                request_id = error.request_id(),
                "platform call failed"
            );
            event(
                ctx,
                product,
                EventType::Warning,
                error_reason(error),
                action.operation(),
                error_message(error),
            )
            .await;
        }
        Outcome::Adopted { product_key } => {
            event(
                ctx,
                product,
                EventType::Normal,
                "Adopted",
                "Adopt",
                format!("Manages existing product {product_key} ({})", facts.desired.name),
            )
            .await;
        }
        Outcome::NameConflict { product_key } => {
            event(
                ctx,
                product,
                EventType::Warning,
                "NameConflict",
                "CreateProduct",
                format!(
                    "Product name {} is taken by {product_key}, which this resource did not create",
                    facts.desired.name
                ),
            )
            .await;
        }
        Outcome::Completed | Outcome::Journal(_) => {}
    }
    if let Some(blocked) = &facts.plan.blocked {
        event(ctx, product, EventType::Warning, blocked.reason(), "Plan", blocked.message()).await;
    }

    // The Secret.
    let mut secret_problem = None;
    let mut secret_hash = None;
    let managed_elsewhere = matches!(facts.plan.blocked, Some(Blocked::ManagedElsewhere { .. }));
    if facts.mode == Mode::Apply
        && !managed_elsewhere
        && let (Some(key), Some(product_secret), true) = (&state.key, &state.secret, state.exists)
    {
        let credentials = ProductCredentials {
            product_key: key.clone(),
            product_secret: product_secret.clone(),
            region: facts.account.region.clone(),
            instance_id: instance_shown.clone(),
        };
        secret_problem = write_secret(ctx, product, &facts.desired.secret_name, &credentials).await?;
        if secret_problem.is_none() {
            secret_hash = Some(secret::data_hash(&secret::data(&credentials)));
        }
        if let Some(old) = previous.secret_name.as_ref().filter(|old| **old != facts.desired.secret_name) {
            delete_old_secret(ctx, product, old).await?;
        }
    }

    // The status.
    let now = Time(jiff::Timestamp::now());
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
    let conditions_wanted = conditions_for(facts, &state, secret_problem.as_deref());
    let became_ready = conditions_wanted.iter().any(|c| c.type_ == "Ready" && c.status)
        && conditions::find(&previous.conditions, "Ready")
            .is_none_or(|c| c.status != "True" || c.observed_generation != product.metadata.generation);
    let status = IotProductStatus {
        product_key: state.key.clone(),
        instance_id: Some(instance_shown),
        region: Some(facts.account.region.clone()),
        published: state.published.filter(|_| state.exists),
        platform_status: state
            .published
            .filter(|_| state.exists)
            .map(|p| if p { "Published" } else { "Developing" }.to_string()),
        thing_model,
        managed_tag_keys,
        secret_name: (state.exists && state.secret.is_some())
            .then(|| facts.desired.secret_name.clone())
            .or(previous.secret_name.clone()),
        // A refused create (the name is taken) made nothing: no intent is left pending.
        pending_create: match (&state.key, &facts.executed.outcome) {
            (Some(_), _) | (None, Outcome::NameConflict { .. }) => None,
            (None, _) => facts.journal.pending(&facts.desired.name).or(previous.pending_create.clone()),
        },
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
            &now,
        ),
    };
    write_status(ctx, product, &status).await?;
    Ok(secret_hash)
}

/// Reports a problem found before the platform could be asked (an invalid spec, an account
/// that cannot be used): conditions and a Warning Event; nothing else changes.
///
/// # Errors
/// A Kubernetes error when the status write fails.
pub async fn report_problem(
    ctx: &Context,
    product: &IotProduct,
    reason: &str,
    message: String,
) -> Result<(), kube::Error> {
    let previous = product.status.clone().unwrap_or_default();
    event(ctx, product, EventType::Warning, reason, "Reconcile", message.clone()).await;
    let now = Time(jiff::Timestamp::now());
    let ready_still = conditions::find(&previous.conditions, "Ready").is_some_and(|c| c.status == "True");
    let mut wanted = vec![Desired::new("Synced", false, reason, message.clone())];
    if !ready_still || reason == "InvalidSpec" {
        wanted.push(Desired::new("Ready", false, reason, message));
    }
    let status = IotProductStatus {
        observed_generation: product.metadata.generation,
        last_handled_reconcile_at: crate::crd::reconcile_request(&product.metadata),
        conditions: conditions::merge(&previous.conditions, wanted, product.metadata.generation, &now),
        ..previous
    };
    write_status(ctx, product, &status).await
}

/// Reports that reconciliation is paused by annotation: nothing is read or written on the
/// platform until the annotation is removed.
///
/// # Errors
/// A Kubernetes error when the status write fails.
pub async fn report_paused(ctx: &Context, product: &IotProduct) -> Result<(), kube::Error> {
    let previous = product.status.clone().unwrap_or_default();
    let now = Time(jiff::Timestamp::now());
    let message = format!(
        "reconciliation is paused by the annotation {}: \"true\"; the platform is neither read nor changed. \
         Remove the annotation to resume (deleting the resource still works)",
        crate::crd::PAUSED_ANNOTATION
    );
    let status = IotProductStatus {
        observed_generation: product.metadata.generation,
        last_handled_reconcile_at: crate::crd::reconcile_request(&product.metadata),
        conditions: conditions::merge(
            &previous.conditions,
            vec![Desired::new("Synced", false, "Paused", message)],
            product.metadata.generation,
            &now,
        ),
        ..previous
    };
    write_status(ctx, product, &status).await
}

/// Whether observing found this thing model to be the platform's latest published one.
fn observed_published_thing_model(observation: &Observation, digest: &str) -> bool {
    matches!(&observation.observed, Observed::Exists(p) if p.published_thing_model_digest.as_deref() == Some(digest))
}
