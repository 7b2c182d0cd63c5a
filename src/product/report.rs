//! Reports what happened: the owned Secret (written only when it differs), one Normal Event
//! naming every write of the reconcile and a Warning for each problem, and the status
//! (computed in [`super::outcome`], written only when it changed).

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use crate::crd::IotProduct;
use crate::crd::product::IotProductStatus;
use crate::reconcile::conditions::{self, Desired, Reason};
use crate::reconcile::context::Context;
use crate::reconcile::platform_errors::{error_message, error_reason};
use crate::reconcile::status::FIELD_MANAGER;

use super::execute::Outcome;
use super::observe::FoundBy;
use super::outcome::{After, Facts, action_event, after, next_status, summary_event};
use super::plan::{Action, Blocked, Mode, Observed};
use super::secret::{self, ProductCredentials};
use super::status::write_status;

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

/// What writing the Secret came to.
enum SecretWrite {
    /// It held the credentials already.
    Current,
    /// It was written.
    Written,
    /// A Secret of that name is not the operator's (the problem to report).
    NotOurs(String),
}

/// Writes the product's Secret when it is missing or differs.
async fn write_secret(
    ctx: &Context,
    product: &IotProduct,
    name: &str,
    credentials: &ProductCredentials,
) -> Result<SecretWrite, kube::Error> {
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
            return Ok(SecretWrite::NotOurs(format!(
                "a Secret named {name} already exists and is not owned by this IotProduct; the operator does not \
                 overwrite it. Delete it, or set spec.secretName to another name"
            )));
        }
        if secret::is_current(existing, &wanted) {
            return Ok(SecretWrite::Current);
        }
    }
    // The watch will echo this write: it is not a change that needs a reconcile.
    ctx.own_secret_writes.expect(&namespace, name, secret::data_hash(&secret::data(credentials)));
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&wanted)).await?;
    Ok(SecretWrite::Written)
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

/// Events: one Normal Event for everything this reconcile changed (on the platform and the
/// Secret), and a Warning for each problem.
async fn publish_events(
    ctx: &Context,
    product: &IotProduct,
    facts: &Facts<'_>,
    state: &After,
    secret_written: Option<&str>,
) {
    let instance_shown = facts.instance;
    let key = state.key.clone().unwrap_or_default();
    let mut steps: Vec<(&'static str, String)> = Vec::new();
    if let Some(FoundBy::PendingCreate | FoundBy::Name | FoundBy::SpecKey) = facts.observation.found_by {
        steps.push(("Adopted", format!("Manages existing product {key} ({})", facts.desired.name)));
    }
    for action in &facts.executed.done {
        let draft = match &facts.observation.observed {
            Observed::Exists(product) => product.thing_model_draft.as_ref(),
            _ => None,
        };
        let (reason, note) =
            action_event(action, &key, facts.desired, instance_shown, facts.plan.recreate, draft);
        let note = if *action == Action::CancelRelease && facts.mode == Mode::Apply && facts.desired.published
        {
            format!(
                "{note} to apply a change (publishedChangePolicy: RevokeAndRepublish); it will be published again"
            )
        } else {
            note
        };
        steps.push((reason, note));
    }
    if let Outcome::Adopted { product_key } = &facts.executed.outcome {
        steps.push(("Adopted", format!("Manages existing product {product_key} ({})", facts.desired.name)));
    }
    if let Some(name) = secret_written {
        steps.push(("SecretWritten", format!("Wrote the product's credentials to Secret {name}")));
    }
    let (drift, corrected) = super::outcome::drift(facts);
    if !drift.is_empty() {
        // Changed behind the operator's back: said field by field, in the one Event.
        let words = super::drift::summary(&drift);
        let reason = if corrected { "DriftCorrected" } else { "Drifted" };
        info!(reason, drift = %words, "the platform differed from the spec");
        for field in &drift {
            ctx.metrics.drift_found("IotProduct", field.field, corrected);
        }
        let note = if corrected {
            format!("Put back what was changed on the platform: {words}")
        } else {
            format!(
                "The platform differs from the spec (not corrected: managementPolicy ObserveOnly): {words}"
            )
        };
        let type_ = if corrected { EventType::Normal } else { EventType::Warning };
        let action = facts.executed.done.first().map_or("Observe", Action::operation);
        event(ctx, product, type_, reason, action, note).await;
    } else if let Some((reason, note)) = summary_event(&steps) {
        info!(reason, changes = %note, "brought the product in line with the spec");
        let action = facts.executed.done.first().map_or("Reconcile", Action::operation);
        event(ctx, product, EventType::Normal, reason, action, note).await;
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
                error_reason(error).as_str(),
                action.operation(),
                error_message(error),
            )
            .await;
        }
        Outcome::NameConflict => {
            event(
                ctx,
                product,
                EventType::Warning,
                "NameConflict",
                "CreateProduct",
                format!(
                    "Product name {} is taken by a product this resource did not create",
                    facts.desired.name
                ),
            )
            .await;
        }
        Outcome::Completed | Outcome::Adopted { .. } | Outcome::Journal(_) | Outcome::Paced { .. } => {}
    }
    if let Some(blocked) = &facts.plan.blocked {
        event(ctx, product, EventType::Warning, blocked.reason().as_str(), "Plan", blocked.message()).await;
    }
}

/// What reporting the Secret came to.
#[derive(Default)]
struct SecretReport {
    /// A problem to report (a Secret of that name that is not the operator's).
    problem: Option<String>,
    /// The fingerprint of the Secret's data when it is current (written or confirmed).
    fingerprint: Option<u64>,
    /// Whether it was written now.
    written: bool,
}

/// Writes the product's Secret when the product exists (not for one managed elsewhere).
async fn report_secret(
    ctx: &Context,
    product: &IotProduct,
    facts: &Facts<'_>,
    state: &After,
) -> Result<SecretReport, kube::Error> {
    let previous = product.status.clone().unwrap_or_default();
    let instance_shown = facts.instance;
    let mut report = SecretReport::default();
    let managed_elsewhere = matches!(facts.plan.blocked, Some(Blocked::ManagedElsewhere));
    if facts.mode == Mode::Apply
        && !managed_elsewhere
        && let (Some(key), Some(product_secret), true) = (&state.key, &state.secret, state.exists)
    {
        let credentials = ProductCredentials {
            product_key: key.clone(),
            product_secret: product_secret.expose().to_string(),
            region: facts.region.to_string(),
            instance_id: instance_shown.to_string(),
        };
        match write_secret(ctx, product, &facts.desired.secret_name, &credentials).await? {
            SecretWrite::NotOurs(problem) => report.problem = Some(problem),
            written => {
                report.written = matches!(written, SecretWrite::Written);
                report.fingerprint = Some(secret::data_hash(&secret::data(&credentials)));
            }
        }
        if let Some(old) = previous.secret_name.as_ref().filter(|old| **old != facts.desired.secret_name) {
            delete_old_secret(ctx, product, old).await?;
        }
    }
    Ok(report)
}

/// Reports a reconcile: Secret, Events, status. Returns the fingerprint of the product's
/// Secret when it is current (written or confirmed).
///
/// # Errors
/// A Kubernetes error when a write fails.
pub async fn report(
    ctx: &Context,
    product: &IotProduct,
    facts: &Facts<'_>,
) -> Result<Option<u64>, kube::Error> {
    let state = after(facts);
    let secret = report_secret(ctx, product, facts, &state).await;
    let written = matches!(&secret, Ok(s) if s.written).then_some(facts.desired.secret_name.as_str());
    publish_events(ctx, product, facts, &state, written).await;
    let secret = secret?;
    let now = Time(jiff::Timestamp::now());
    let status = next_status(product, facts, &state, secret.problem.as_deref(), &now);
    write_status(ctx, product, &status).await?;
    Ok(secret.fingerprint)
}

/// Reports a problem found before the platform could be asked (an invalid spec, an account
/// that cannot be used): conditions and a Warning Event; nothing else changes.
///
/// # Errors
/// A Kubernetes error when the status write fails.
pub async fn report_problem(
    ctx: &Context,
    product: &IotProduct,
    reason: Reason,
    message: String,
) -> Result<(), kube::Error> {
    let previous = product.status.clone().unwrap_or_default();
    event(ctx, product, EventType::Warning, reason.as_str(), "Reconcile", message.clone()).await;
    let now = Time(jiff::Timestamp::now());
    // Ready says the live product matches the current spec, which is not known now;
    // Available (the product exists, its credentials are in the Secret) stays as it was.
    let wanted = vec![
        Desired::new("Synced", false, reason, message.clone()),
        Desired::new("Ready", false, reason, message),
    ];
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
            vec![
                Desired::new("Synced", false, Reason::Paused, message.clone()),
                Desired::new("Ready", false, Reason::Paused, message),
            ],
            product.metadata.generation,
            &now,
        ),
        ..previous
    };
    write_status(ctx, product, &status).await
}
