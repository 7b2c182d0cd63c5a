//! The `IotProduct` reconciler.
//!
//! ```text
//! finalizer ─► desired ─► account ─► observe ─► plan ─► execute ─► report
//!              (no I/O)              (reads)    (pure)   (writes)   (status, Secret, Events)
//! ```
//!
//! - [`desired`]: spec → [`desired::DesiredProduct`] (no I/O).
//! - [`observe`]: platform reads.
//! - [`plan`]: the pure decision table, every lock rule.
//! - [`execute`]: platform writes, crash-safe creates.
//! - [`report`]: status, the owned Secret ([`secret`]), Events.
//!
//! The product's life: created (or adopted) → tagged, thing model imported and published →
//! published or revoked as the spec says → kept in line on every change and resync →
//! deleted or orphaned when the resource is deleted (a finalizer guarantees the platform is
//! cleaned up first).

pub mod claim;
pub mod desired;
pub mod drift;
pub mod execute;
pub mod fast_path;
#[cfg(test)]
mod fixtures;
pub mod impact;
pub mod intent;
pub mod journal;
pub mod observe;
pub mod outcome;
pub mod parts;
pub mod plan;
pub mod preflight;
pub mod report;
pub mod secret;
pub mod status;
pub mod subscription;

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action as Requeue;
use rand::Rng as _;
use tracing::{info, instrument};

use crate::crd::IotProduct;
use crate::crd::product::DeletionPolicy;
use crate::reconcile::account_clients::{AccountError, AccountHandle};
use crate::reconcile::conditions::Reason;
use crate::reconcile::context::Context;
use crate::reconcile::finalizer::{self, FinalizerError};
use crate::reconcile::platform_errors::{error_message, error_reason};
use iot_platform::PlatformError;

use desired::{DesiredProduct, InvalidSpec};
use execute::Outcome;
use observe::Pending;
use plan::{Mode, Observed, Recorded};
use preflight::Verdict;
pub use preflight::{take_over_refused_message, takes_over};

/// The finalizer that guarantees cleanup on the platform before the resource goes.
pub const FINALIZER: &str = "iot.productoperator.dev/product-cleanup";

/// Why a reconcile failed (after reporting it in status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A platform call failed.
    #[error("a platform call failed")]
    Platform(#[source] PlatformError),
    /// The account cannot be used.
    #[error("the account cannot be used")]
    Account(#[source] AccountError),
    /// A Kubernetes API call failed.
    #[error("a Kubernetes API call failed")]
    Kube(#[from] kube::Error),
    /// The spec is invalid in a way the schema cannot check.
    #[error("the spec is invalid")]
    InvalidSpec(#[source] InvalidSpec),
    /// Deletion must wait (a published product without the revoke policy).
    #[error("deletion waits: {0}")]
    DeletionBlocked(String),
    /// The finalizer could not be handled.
    #[error("the finalizer could not be handled")]
    Finalizer(#[from] FinalizerError),
    /// The spec takes over a product the account does not let this namespace take over.
    #[error("taking over a product is not allowed: {0}")]
    TakeOverNotAllowed(String),
}

impl crate::reconcile::failure::ReconcileError for Error {
    fn category(&self) -> &'static str {
        match self {
            Self::Platform(e) => e.class().as_str(),
            Self::Account(e) => e.reason().as_str(),
            Self::Kube(_) => "KubernetesApi",
            Self::InvalidSpec(_) => "InvalidSpec",
            Self::DeletionBlocked(_) => "DeletionBlocked",
            Self::Finalizer(_) => "Finalizer",
            Self::TakeOverNotAllowed(_) => "TakeOverNotAllowed",
        }
    }

    fn needs_person(&self) -> bool {
        use crate::reconcile::failure::{account_needs_person, platform_needs_person};
        match self {
            Self::Platform(e) => platform_needs_person(e),
            Self::Account(e) => account_needs_person(e),
            Self::InvalidSpec(_) | Self::DeletionBlocked(_) | Self::TakeOverNotAllowed(_) => true,
            Self::Kube(_) | Self::Finalizer(_) => false,
        }
    }
}

/// What the resource's status records about its product.
#[must_use]
pub fn recorded(product: &IotProduct) -> Recorded {
    let status = product.status.clone().unwrap_or_default();
    Recorded {
        product_key: status.product_key,
        managed_tag_keys: status.managed_tag_keys.into_iter().collect(),
        published_thing_model: status.thing_model.map(|t| t.digest),
        distributed_to: status.distributed_to,
        topics_in_sync: status.topics.as_ref().is_some_and(|t| t.applied == t.desired)
            && status.observed_generation == product.metadata.generation,
        managed_topics: status.topics.map(|t| t.managed.into_iter().collect()).unwrap_or_default(),
        subscription_managed: status.subscription.is_some(),
    }
}

/// The create the resource's status says is in flight (what `plan` can see: it holds no
/// key to verify an intent annotation; the controller uses [`intent::pending_create`]).
#[must_use]
pub fn pending(product: &IotProduct) -> Option<Pending> {
    product.status.as_ref()?.pending_create.as_ref().map(Pending::from_status)
}

/// The resync interval with ±10 % jitter, so products created together do not resync
/// together forever.
fn resync(ctx: &Context, product: &IotProduct) -> Duration {
    ctx.settings
        .resync_for(&product.metadata, ctx.settings.resync)
        .mul_f64(rand::rng().random_range(0.9..1.1))
}

/// Reconciles one `IotProduct`.
///
/// # Errors
/// [`Error`] after the problem was reported in status; the error policy decides the retry.
#[instrument(skip_all, fields(namespace = %product.namespace().unwrap_or_default(), resource = %product.name_any()))]
pub async fn reconcile(product: Arc<IotProduct>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let api: Api<IotProduct> = Api::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default());
    let ctx = ctx.as_ref();
    finalizer::run(
        &api,
        FINALIZER,
        finalizer::AddFinalizer::ByApply,
        product,
        &ctx.backoff,
        |p| async move { reconcile_product(&p, ctx, Mode::Apply).await },
        |p| async move { reconcile_product(&p, ctx, Mode::Delete).await },
    )
    .await
}

/// The copy to reconcile: a pending create is resolved only from the latest copy of the
/// resource (a stale copy could still show an intent that a later reconcile settled).
async fn latest_if_pending(product: &IotProduct, ctx: &Context) -> Result<Option<IotProduct>, Error> {
    if intent::pending_create(product, &ctx.intent_key).is_none() {
        return Ok(None);
    }
    let api: Api<IotProduct> = Api::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default());
    Ok(Some(api.get(&product.name_any()).await?))
}

async fn reconcile_product(product: &IotProduct, ctx: &Context, mode: Mode) -> Result<Requeue, Error> {
    let fresh = latest_if_pending(product, ctx).await?;
    let product = fresh.as_ref().unwrap_or(product);
    if mode == Mode::Apply && crate::crd::is_paused(&product.metadata) {
        report::report_paused(ctx, product).await?;
        return Ok(Requeue::await_change());
    }
    let interval = ctx.settings.resync_for(&product.metadata, ctx.settings.resync);
    if mode == Mode::Apply
        && let Some(wait) = fast_path::defer(ctx, product, interval)
    {
        return Ok(Requeue::requeue(wait));
    }
    if mode == Mode::Delete {
        fast_path::forget(&ctx.checked, product);
    }
    let desired = desired_product(product, ctx, mode).await?;
    let recorded = recorded(product);
    let pending = intent::pending_create(product, &ctx.intent_key).as_ref().map(Pending::from_status);
    if mode == Mode::Delete && desired.deletion_policy == DeletionPolicy::Orphan {
        info!("deletion policy Orphan: the product stays on the platform");
        return Ok(Requeue::await_change());
    }
    let nothing_created = recorded.product_key.is_none() && pending.is_none() && desired.adopt_key.is_none();
    let Some(account) = account(product, ctx, mode, nothing_created).await? else {
        return Ok(Requeue::await_change());
    };
    let desired = desired.with_impact_threshold(account.impact_threshold);
    let namespace = product.namespace().unwrap_or_default();
    let (account_spec, labels) = match ctx.accounts.tenancy_of(&account.name, &namespace).await {
        Ok(read) => read,
        Err(e) => {
            report::report_problem(ctx, product, e.reason(), e.to_string()).await?;
            return Err(Error::Account(e));
        }
    };
    match preflight::preflight(&desired, &recorded, mode, &account_spec, &namespace, labels.as_ref()) {
        Verdict::Proceed => {}
        Verdict::LeaveAlone => {
            info!(
                account = account.name,
                "taking over is not allowed for this namespace; the product is left on the platform"
            );
            return Ok(Requeue::await_change());
        }
        refused => return refuse(ctx, product, &refused, &account.name).await,
    }
    let (named_instance, shown_instance) =
        outcome::resolved_instance(&desired, account.instance_id.as_deref(), &account.region);
    let desired = match &desired.subscription {
        Some(wanted) if mode == Mode::Apply => {
            let named = subscription::lookup(&ctx.consumer_groups, &namespace, &wanted.group_names);
            let resolved = subscription::resolve(&named, &account.name, &shown_instance);
            desired.with_consumer_groups(resolved)
        }
        _ => desired,
    };
    let platform = account.for_tenant(&namespace);
    let platform = platform.as_ref();
    let observed =
        observe::observe(platform, named_instance.as_deref(), &desired, &recorded, pending.as_ref(), mode)
            .await;
    let observation = match observed {
        Ok(observation) => observation,
        Err(e) => {
            report::report_problem(ctx, product, error_reason(&e), error_message(&e)).await?;
            return Err(Error::Platform(e));
        }
    };
    let plan = plan::plan(&desired, &observation.observed, &recorded, mode);
    let key = key_to_act_on(&observation.observed, &plan, &recorded, &desired);
    let journal = journal::StatusJournal::new(ctx, product, shown_instance.clone());
    let executed = execute::execute(
        platform,
        named_instance.as_deref(),
        key,
        &desired,
        &plan,
        &journal,
        pending.as_ref(),
    )
    .await;
    // The create intent could not be recorded (most often: this copy of the resource is
    // stale). Nothing happened on the platform, and a status computed from a stale copy
    // could erase what a newer one recorded: retry from the latest copy instead.
    let executed = match executed {
        execute::Executed { outcome: Outcome::Journal(e), product_key: None, .. } => {
            return Err(Error::Kube(e));
        }
        executed => executed,
    };
    // In sync with this spec before this reconcile: by the status, or by what this process
    // confirmed (a cached copy may lag behind the status it wrote).
    let in_sync_before = drift::was_in_sync(product)
        || product
            .uid()
            .and_then(|uid| ctx.checked.get(&uid))
            .is_some_and(|c| c.generation == product.metadata.generation);
    let facts = outcome::Facts {
        mode,
        in_sync_before,
        desired: &desired,
        instance: &shown_instance,
        region: &account.region,
        observation: &observation,
        plan: &plan,
        executed: &executed,
        journal: journal.facts(),
        observation_distributed: &recorded.distributed_to,
    };
    let secret = report::report(ctx, product, &facts).await?;
    let settled =
        matches!(executed.outcome, Outcome::Completed) && plan.blocked.is_none() && plan.withheld.is_empty();
    match secret {
        Some(secret) if settled && mode == Mode::Apply => fast_path::confirm(&ctx.checked, product, secret),
        _ => fast_path::forget(&ctx.checked, product),
    }
    next_step(ctx, product, mode, executed.outcome, plan.blocked.as_ref())
}

/// The product the plan's actions apply to: the one observed, none before a create, else
/// the recorded (or named) one.
fn key_to_act_on(
    observed: &Observed,
    plan: &plan::Plan,
    recorded: &Recorded,
    desired: &DesiredProduct,
) -> Option<String> {
    match observed {
        Observed::Exists(p) => Some(p.details.product_key.clone()),
        _ if plan.actions.contains(&plan::Action::Create) => None,
        _ => recorded.product_key.clone().or_else(|| desired.adopt_key.clone()),
    }
}

/// The spec as the platform needs it (deletion does not need the thing model); an invalid
/// spec is reported.
async fn desired_product(product: &IotProduct, ctx: &Context, mode: Mode) -> Result<DesiredProduct, Error> {
    let uid = product.uid().unwrap_or_default();
    match (DesiredProduct::from_resource(product), mode) {
        (Ok(desired), _) => Ok(desired.owned_by(&ctx.settings.cluster_id, &uid)),
        (Err(InvalidSpec::ThingModel(_)), Mode::Delete) => {
            let mut copy = product.clone();
            copy.spec.thing_model = None;
            let desired = DesiredProduct::from_resource(&copy).map_err(Error::InvalidSpec)?;
            Ok(desired.owned_by(&ctx.settings.cluster_id, &uid))
        }
        (Err(e), _) => {
            report::report_problem(ctx, product, Reason::InvalidSpec, e.to_string()).await?;
            Err(Error::InvalidSpec(e))
        }
    }
}

/// The product's account; `None` when it cannot be used but deleting needs nothing from the
/// platform (nothing was created). Otherwise an unusable account is reported.
async fn account(
    product: &IotProduct,
    ctx: &Context,
    mode: Mode,
    nothing_created: bool,
) -> Result<Option<Arc<AccountHandle>>, Error> {
    let (name, namespace) = (product.account_name(), product.namespace().unwrap_or_default());
    let handle = match mode {
        Mode::Apply => ctx.accounts.get_for(&name, &namespace).await,
        Mode::Delete => ctx.accounts.get_for_cleanup(&name, &namespace).await,
    };
    match handle {
        Ok(account) => Ok(Some(account)),
        Err(e) if mode == Mode::Delete && nothing_created => {
            info!(error = %e, "nothing was created on the platform; removing the finalizer");
            Ok(None)
        }
        Err(e) => {
            let message = if mode == Mode::Delete {
                format!(
                    "{e}; the product cannot be deleted from the platform until the account works (or set spec.deletionPolicy: Orphan)"
                )
            } else {
                e.to_string()
            };
            report::report_problem(ctx, product, e.reason(), message).await?;
            Err(Error::Account(e))
        }
    }
}

/// Reports what the tenancy rules refuse (the namespace is not admitted, a take-over is not
/// allowed): nothing is done on the platform until the spec or the account changes.
async fn refuse(
    ctx: &Context,
    product: &IotProduct,
    verdict: &Verdict,
    account: &str,
) -> Result<Requeue, Error> {
    let namespace = product.namespace().unwrap_or_default();
    let refused = match verdict {
        // The namespace cache does not know it: not admitted until it does.
        Verdict::AdmissionUnknown => Verdict::NotAdmitted,
        other => other.clone(),
    };
    let (reason, message) =
        refused.refusal(account, &namespace).unwrap_or((Reason::AccountNotAllowed, String::new()));
    report::report_problem(ctx, product, reason, message.clone()).await?;
    Err(match refused {
        Verdict::TakeOverRefused { .. } => Error::TakeOverNotAllowed(message),
        _ => Error::Account(AccountError::NotAllowed { account: account.to_string(), namespace }),
    })
}

/// What the controller does next, from what the execution came to.
fn next_step(
    ctx: &Context,
    product: &IotProduct,
    mode: Mode,
    outcome: Outcome,
    blocked: Option<&plan::Blocked>,
) -> Result<Requeue, Error> {
    match outcome {
        Outcome::Failed { error, .. } => Err(Error::Platform(error)),
        Outcome::Journal(e) => Err(Error::Kube(e)),
        Outcome::Adopted { .. } => Ok(Requeue::requeue(Duration::from_millis(100))),
        Outcome::NameConflict => Ok(Requeue::requeue(resync(ctx, product))),
        // The rest of a paced plan (topic writes) follows when the account's quota has room.
        Outcome::Paced { retry_after } => Ok(Requeue::requeue(
            retry_after.max(Duration::from_secs(1)).mul_f64(rand::rng().random_range(1.0..1.2)),
        )),
        Outcome::Completed => match (mode, blocked) {
            (Mode::Delete, Some(blocked)) => Err(Error::DeletionBlocked(blocked.message())),
            (Mode::Delete, None) => Ok(Requeue::await_change()),
            (Mode::Apply, _) => Ok(Requeue::requeue(resync(ctx, product))),
        },
    }
}

/// How long to wait after a failed reconcile: the shared policy
/// ([`crate::reconcile::failure`]) over the object's exponential backoff.
#[must_use]
pub fn error_policy(product: Arc<IotProduct>, error: &Error, ctx: Arc<Context>) -> Requeue {
    let backoff = ctx.backoff.next(&product.uid().unwrap_or_default());
    let (namespace, name) = (product.namespace().unwrap_or_default(), product.name_any());
    Requeue::requeue(crate::reconcile::failure::retry_after("IotProduct", &namespace, &name, error, backoff))
}
