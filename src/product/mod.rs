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

pub mod desired;
pub mod execute;
pub mod observe;
pub mod plan;
pub mod report;
pub mod secret;

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use rand::Rng as _;
use tracing::{info, instrument};

use crate::crd::product::DeletionPolicy;
use crate::crd::{DEFAULT_ACCOUNT, IotProduct};
use crate::operator::accounts::AccountError;
use crate::operator::context::Context;
use iot_platform::{ErrorClass, PlatformError};

use desired::{DesiredProduct, InvalidSpec};
use execute::Outcome;
use observe::Pending;
use plan::{Mode, Observed, Recorded};

/// What this process last confirmed about each product, by UID, so that a reconcile that
/// brings nothing new (a resync before it is due, the operator's own Secret write, the
/// first sight of an in-sync product after a restart) costs no platform call.
#[derive(Debug, Default)]
pub struct Checked(std::sync::Mutex<std::collections::HashMap<String, Confirmation>>);

/// One confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Confirmation {
    generation: Option<i64>,
    request: Option<String>,
    secret: u64,
    at: std::time::Instant,
}

/// Whether the status says the product matches its current spec.
fn status_in_sync(product: &IotProduct) -> bool {
    let Some(status) = &product.status else { return false };
    let holds = |t: &str| {
        status.conditions.iter().any(|c| {
            c.type_ == t && c.status == "True" && c.observed_generation == product.metadata.generation
        })
    };
    status.observed_generation == product.metadata.generation
        && status.pending_create.is_none()
        && status.product_key.is_some()
        && holds("Ready")
        && holds("Synced")
}

/// Whether the product's account is Ready (a broken account sends every product down the
/// full path, so each reports it).
fn account_ready(ctx: &Context, product: &IotProduct) -> bool {
    ctx.accounts.store().get(&kube::runtime::reflector::ObjectRef::new(&account_name(product))).is_some_and(
        |a| {
            a.status
                .as_ref()
                .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        },
    )
}

/// The fingerprint of the product's Secret as cached, when it is there and owned.
fn cached_secret(ctx: &Context, product: &IotProduct) -> Option<u64> {
    let name = product.status.as_ref()?.secret_name.clone()?;
    let secret =
        ctx.secrets.get(&kube::runtime::reflector::ObjectRef::new(&name).within(&product.namespace()?))?;
    let uid = product.uid()?;
    secret
        .owner_references()
        .iter()
        .any(|o| o.uid == uid)
        .then(|| secret::data_hash(&secret.data.clone().unwrap_or_default()))
}

impl Checked {
    /// When nothing is due: how long until the next platform check.
    fn defer(&self, ctx: &Context, product: &IotProduct, interval: Duration) -> Option<Duration> {
        if !status_in_sync(product) || !account_ready(ctx, product) {
            return None;
        }
        let secret = cached_secret(ctx, product)?;
        let uid = product.uid()?;
        let request = crate::crd::reconcile_request(&product.metadata);
        let now = std::time::Instant::now();
        let mut checked = self.0.lock().expect("checked lock");
        match checked.get(&uid) {
            Some(c)
                if c.generation == product.metadata.generation
                    && c.request == request
                    && c.secret == secret =>
            {
                (c.at + interval).checked_duration_since(now).filter(|d| !d.is_zero())
            }
            Some(_) => None,
            None => {
                // First sight since this process started, and the status says in sync: the
                // first platform check is spread over the resync interval instead of all
                // products being read at once.
                let delay = interval.mul_f64(rand::rng().random_range(0.05..1.0));
                let at = now.checked_sub(interval.saturating_sub(delay)).unwrap_or(now);
                checked.insert(
                    uid,
                    Confirmation { generation: product.metadata.generation, request, secret, at },
                );
                Some(delay)
            }
        }
    }

    fn confirm(&self, product: &IotProduct, secret: u64) {
        let Some(uid) = product.uid() else { return };
        let confirmation = Confirmation {
            generation: product.metadata.generation,
            request: crate::crd::reconcile_request(&product.metadata),
            secret,
            at: std::time::Instant::now(),
        };
        self.0.lock().expect("checked lock").insert(uid, confirmation);
    }

    fn forget(&self, product: &IotProduct) {
        if let Some(uid) = product.uid() {
            self.0.lock().expect("checked lock").remove(&uid);
        }
    }
}

/// The finalizer that guarantees cleanup on the platform before the resource goes.
pub const FINALIZER: &str = "iot.productoperator.dev/product-cleanup";

/// Why a reconcile failed (after reporting it in status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A platform call failed.
    #[error("{0}")]
    Platform(PlatformError),
    /// The account cannot be used.
    #[error("{0}")]
    Account(AccountError),
    /// A Kubernetes API call failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// The spec is invalid in a way the schema cannot check.
    #[error("{0}")]
    InvalidSpec(InvalidSpec),
    /// Deletion must wait (a published product without the revoke policy).
    #[error("deletion waits: {0}")]
    DeletionBlocked(String),
    /// The finalizer could not be added or removed.
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl Error {
    /// A bounded PascalCase category for metrics and logs.
    #[must_use]
    pub fn category(&self) -> &'static str {
        match self {
            Self::Platform(e) => e.class().as_str(),
            Self::Account(e) => e.reason(),
            Self::Kube(_) => "KubernetesApi",
            Self::InvalidSpec(_) => "InvalidSpec",
            Self::DeletionBlocked(_) => "DeletionBlocked",
            Self::Finalizer(_) => "Finalizer",
        }
    }
}

/// The account a product uses.
#[must_use]
pub fn account_name(product: &IotProduct) -> String {
    product.spec.account_ref.as_ref().map_or_else(|| DEFAULT_ACCOUNT.to_string(), |a| a.name.clone())
}

fn recorded(product: &IotProduct) -> Recorded {
    let status = product.status.clone().unwrap_or_default();
    Recorded {
        product_key: status.product_key,
        managed_tag_keys: status.managed_tag_keys.into_iter().collect(),
        published_thing_model: status.thing_model.map(|t| t.digest),
        distributed_to: status.distributed_to,
    }
}

fn pending(product: &IotProduct) -> Option<Pending> {
    let p = product.status.as_ref()?.pending_create.as_ref()?;
    Some(Pending { product_name: p.product_name.clone(), since_ms: p.since.0.as_millisecond() })
}

/// The resync interval with ±10 % jitter, so products created together do not resync
/// together forever.
fn resync(ctx: &Context, product: &IotProduct) -> Duration {
    crate::crd::resync_override(&product.metadata)
        .unwrap_or(ctx.settings.resync)
        .mul_f64(rand::rng().random_range(0.9..1.1))
}

/// Reconciles one `IotProduct`.
///
/// # Errors
/// [`Error`] after the problem was reported in status; the error policy decides the retry.
#[instrument(skip_all, fields(namespace = %product.namespace().unwrap_or_default(), name = %product.name_any()))]
pub async fn reconcile(product: Arc<IotProduct>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let api: Api<IotProduct> = Api::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default());
    let uid = product.uid().unwrap_or_default();
    let result = finalizer(&api, FINALIZER, product, |event| async {
        match event {
            Finalizer::Apply(p) => reconcile_product(&p, &ctx, Mode::Apply).await,
            Finalizer::Cleanup(p) => reconcile_product(&p, &ctx, Mode::Delete).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        kube::runtime::finalizer::Error::AddFinalizer(e)
        | kube::runtime::finalizer::Error::RemoveFinalizer(e) => Error::Kube(e),
        other => Error::Finalizer(other.to_string()),
    });
    if result.is_ok() {
        ctx.backoff.reset(&uid);
    }
    result
}

async fn reconcile_product(product: &IotProduct, ctx: &Context, mode: Mode) -> Result<Requeue, Error> {
    // A pending create is resolved only from the latest copy of the resource: a stale copy
    // could still show an intent that a later reconcile already settled.
    let fresh;
    let product = if product.status.as_ref().is_some_and(|s| s.pending_create.is_some()) {
        let api: Api<IotProduct> =
            Api::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default());
        fresh = api.get(&product.name_any()).await?;
        &fresh
    } else {
        product
    };
    if mode == Mode::Apply && crate::crd::is_paused(&product.metadata) {
        report::report_paused(ctx, product).await?;
        return Ok(Requeue::await_change());
    }
    let interval = crate::crd::resync_override(&product.metadata).unwrap_or(ctx.settings.resync);
    if mode == Mode::Apply
        && let Some(wait) = ctx.checked.defer(ctx, product, interval)
    {
        return Ok(Requeue::requeue(wait));
    }
    if mode == Mode::Delete {
        ctx.checked.forget(product);
    }
    let uid = product.uid().unwrap_or_default();
    let desired = match (DesiredProduct::from_resource(product), mode) {
        (Ok(desired), _) => desired.owned_by(&ctx.settings.cluster_id, &uid),
        (Err(InvalidSpec::ThingModel(_)), Mode::Delete) => {
            // Deletion does not need the thing model.
            let mut copy = product.clone();
            copy.spec.thing_model = None;
            DesiredProduct::from_resource(&copy)
                .map_err(Error::InvalidSpec)?
                .owned_by(&ctx.settings.cluster_id, &uid)
        }
        (Err(e), _) => {
            report::report_problem(ctx, product, "InvalidSpec", e.to_string()).await?;
            return Err(Error::InvalidSpec(e));
        }
    };
    let recorded = recorded(product);
    let pending = pending(product);
    if mode == Mode::Delete && desired.deletion_policy == DeletionPolicy::Orphan {
        info!("deletion policy Orphan: the product stays on the platform");
        return Ok(Requeue::await_change());
    }
    let account = match ctx.accounts.get(&account_name(product)).await {
        Ok(account) => account,
        Err(e)
            if mode == Mode::Delete
                && recorded.product_key.is_none()
                && pending.is_none()
                && desired.adopt_key.is_none() =>
        {
            info!(error = %e, "nothing was created on the platform; removing the finalizer");
            return Ok(Requeue::await_change());
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
            return Err(Error::Account(e));
        }
    };
    let (named_instance, shown_instance) = report::resolved_instance(&desired, &account);
    let platform = account.platform.as_ref();
    let observation = match observe::observe(
        platform,
        named_instance.as_deref(),
        &desired,
        &recorded,
        pending.as_ref(),
        mode,
    )
    .await
    {
        Ok(observation) => observation,
        Err(e) => {
            report::report_problem(ctx, product, report::error_reason(&e), report::error_message(&e)).await?;
            return Err(Error::Platform(e));
        }
    };
    let plan = plan::plan(&desired, &observation.observed, &recorded, mode);
    let key = match &observation.observed {
        Observed::Exists(p) => Some(p.details.product_key.clone()),
        _ if plan.actions.contains(&plan::Action::Create) => None,
        _ => recorded.product_key.clone().or_else(|| desired.adopt_key.clone()),
    };
    let journal = report::StatusJournal::new(ctx, product, shown_instance);
    let earlier_attempt = pending.as_ref().map(|p| p.since_ms);
    let executed = execute::execute(
        platform,
        named_instance.as_deref(),
        key,
        &desired,
        &plan,
        &journal,
        earlier_attempt,
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
    let facts = report::Facts {
        mode,
        desired: &desired,
        account: &account,
        observation: &observation,
        plan: &plan,
        executed: &executed,
        journal: &journal,
        observation_distributed: &recorded.distributed_to,
    };
    let secret = report::report(ctx, product, &facts).await?;
    let settled =
        matches!(executed.outcome, Outcome::Completed) && plan.blocked.is_none() && plan.withheld.is_empty();
    match secret {
        Some(secret) if settled && mode == Mode::Apply => ctx.checked.confirm(product, secret),
        _ => ctx.checked.forget(product),
    }
    match executed.outcome {
        Outcome::Failed { error, .. } => Err(Error::Platform(error)),
        Outcome::Journal(e) => Err(Error::Kube(e)),
        Outcome::Adopted { .. } => Ok(Requeue::requeue(Duration::from_millis(100))),
        Outcome::NameConflict { .. } => Ok(Requeue::requeue(resync(ctx, product))),
        Outcome::Completed => match (mode, &plan.blocked) {
            (Mode::Delete, Some(blocked)) => Err(Error::DeletionBlocked(blocked.message())),
            (Mode::Delete, None) => Ok(Requeue::await_change()),
            (Mode::Apply, _) => Ok(Requeue::requeue(resync(ctx, product))),
        },
    }
}

/// How long to wait after a failed reconcile: per-object exponential backoff; problems that
/// need a person wait at least a minute (a spec or account change retriggers at once).
#[must_use]
pub fn error_policy(product: Arc<IotProduct>, error: &Error, ctx: Arc<Context>) -> Requeue {
    let delay = ctx.backoff.next(&product.uid().unwrap_or_default());
    let floor = match error {
        Error::Platform(e)
            if matches!(e.class(), ErrorClass::Invalid | ErrorClass::Auth | ErrorClass::Quota) =>
        {
            Duration::from_secs(60)
        }
        // Reading the account failed (the API server): retried on the backoff alone.
        Error::Account(crate::operator::accounts::AccountError::ReadAccount { .. }) => Duration::ZERO,
        Error::InvalidSpec(_) | Error::Account(_) | Error::DeletionBlocked(_) => Duration::from_secs(60),
        _ => Duration::ZERO,
    };
    tracing::warn!(
        namespace = %product.namespace().unwrap_or_default(), name = %product.name_any(),
        category = error.category(), %error, retry_in_ms = delay.max(floor).as_millis() as u64,
        "reconcile failed"
    );
    Requeue::requeue(delay.max(floor))
}
