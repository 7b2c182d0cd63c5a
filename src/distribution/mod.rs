//! The `ProductDistribution` reconciler: resolve the product → count the account's tasks →
//! create the distribution job exactly once (intent recorded first, job id recorded at
//! once, a lost answer found again by listing jobs) → follow the job to its end → mark the
//! product as distributed (its thing model is then locked).
//!
//! Deleting the resource deletes the platform's job record (freeing the task slot); the
//! distribution itself cannot be undone.

pub mod desired;
pub mod execute;
pub mod observe;
pub mod plan;
pub mod report;

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::EventType;
use tracing::instrument;

use crate::crd::distribution::ProductDistribution;
use crate::reconcile::account_clients::{AccountError, AccountHandle};
use crate::reconcile::conditions::Desired;
use crate::reconcile::context::Context;
use crate::reconcile::finalizer::{self, FinalizerError};
use iot_platform::PlatformError;
use iot_platform::quota::MAX_DISTRIBUTION_JOBS;
use iot_platform::region::public_instance;

use execute::{Run, Step};
use plan::{Decision, JobState, Known};

/// The finalizer that deletes the job record before the resource goes.
pub const FINALIZER: &str = "iot.productoperator.dev/distribution-cleanup";
/// The field manager that owns `status.distributedTo` of IotProducts.
pub const DISTRIBUTED_FIELD_MANAGER: &str = "iot-product-operator-distribution";
/// How often a running job is polled.
pub(crate) const POLL: Duration = Duration::from_secs(1);
/// How often a waiting distribution looks again.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// Why a reconcile failed.
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
    /// The finalizer could not be handled.
    #[error("the finalizer could not be handled")]
    Finalizer(#[from] FinalizerError),
}

impl crate::reconcile::failure::ReconcileError for Error {
    fn category(&self) -> &'static str {
        match self {
            Self::Platform(e) => e.class().as_str(),
            Self::Account(e) => e.reason().as_str(),
            Self::Kube(_) | Self::Finalizer(_) => "KubernetesApi",
        }
    }

    fn needs_person(&self) -> bool {
        use crate::reconcile::failure::{account_needs_person, platform_needs_person};
        match self {
            Self::Platform(e) => platform_needs_person(e),
            Self::Account(e) => account_needs_person(e),
            Self::Kube(_) | Self::Finalizer(_) => false,
        }
    }
}

/// Reconciles one `ProductDistribution`.
///
/// # Errors
/// [`Error`] after reporting the problem in status.
#[instrument(skip_all, fields(namespace = %pd.namespace().unwrap_or_default(), resource = %pd.name_any()))]
pub async fn reconcile(pd: Arc<ProductDistribution>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let api: Api<ProductDistribution> =
        Api::namespaced(ctx.client.clone(), &pd.namespace().unwrap_or_default());
    let ctx = ctx.as_ref();
    finalizer::run(
        &api,
        FINALIZER,
        finalizer::AddFinalizer::First,
        pd,
        &ctx.backoff,
        |pd| async move { apply(&pd, ctx).await },
        |pd| async move { cleanup(&pd, ctx).await },
    )
    .await
}

async fn account(ctx: &Context, pd: &ProductDistribution, name: &str) -> Result<Arc<AccountHandle>, Error> {
    let namespace = pd.namespace().unwrap_or_default();
    let handle = if pd.metadata.deletion_timestamp.is_some() {
        ctx.accounts.get_for_cleanup(name, &namespace).await
    } else {
        ctx.accounts.get_for(name, &namespace).await
    };
    match handle {
        Ok(account) => Ok(account),
        Err(e) => {
            let status = pd.status.clone().unwrap_or_default();
            report::event(ctx, pd, EventType::Warning, e.reason().as_str(), e.to_string()).await;
            report::ready(ctx, pd, status, Desired::new("Ready", false, e.reason(), e.to_string())).await?;
            Err(Error::Account(e))
        }
    }
}

/// desired (the product, from the cache) → account → decide / step until a step ends the
/// reconcile (see [`plan::decide`] and [`execute::Run`]).
async fn apply(pd: &ProductDistribution, ctx: &Context) -> Result<Requeue, Error> {
    let mut status = pd.status.clone().unwrap_or_default();
    if crate::crd::is_paused(&pd.metadata) {
        report::paused(ctx, pd, status).await?;
        return Ok(Requeue::await_change());
    }
    let recorded_state = status.state.as_deref().and_then(JobState::parse);
    if recorded_state.is_some_and(JobState::is_terminal) {
        return finished(pd, ctx, recorded_state).await;
    }
    let source = match desired::resolve(&ctx.products, pd) {
        Ok(source) => source,
        Err(waiting) => {
            status.state = Some(JobState::Pending.as_str().into());
            let condition = Desired::new("Ready", false, waiting.reason(), waiting.to_string());
            report::ready(ctx, pd, status, condition).await?;
            return Ok(Requeue::requeue(ctx.settings.resync_for(&pd.metadata, WAIT)));
        }
    };
    let account = account(ctx, pd, &source.account).await?;
    let namespace = pd.namespace().unwrap_or_default();
    let starting = status.job_id.is_none();
    // The account's tenancy rules, before a job is made (a product by key that no IotProduct
    // of this namespace holds is a take-over).
    if starting {
        let (account_spec, labels) =
            ctx.accounts.tenancy_of(&source.account, &namespace).await.map_err(Error::Account)?;
        if let Some((reason, message)) =
            desired::tenancy_refusal(&source, &account_spec, &namespace, labels.as_ref())
        {
            status.state = Some(JobState::Pending.as_str().into());
            report::event(ctx, pd, EventType::Warning, reason.as_str(), message.clone()).await;
            report::ready(ctx, pd, status, Desired::new("Ready", false, reason, message)).await?;
            return Ok(Requeue::requeue(ctx.settings.resync_for(&pd.metadata, WAIT)));
        }
    }
    let namespace_jobs = if starting { tasks_held(ctx, pd, &source.account).await? } else { 0 };
    let source_instance = if source.instance.is_empty() {
        account.instance_id.clone().unwrap_or_else(|| public_instance(&account.region))
    } else {
        source.instance.clone()
    };
    status.product_key = Some(source.key.clone());
    status.source_instance_id = Some(source_instance.clone());
    let known = Known {
        job_id: status.job_id.clone(),
        recorded_state,
        create_started: status.create_started_time.is_some(),
        found_job: None,
        account_jobs: None,
        max_jobs: MAX_DISTRIBUTION_JOBS,
        namespace_jobs,
        max_namespace_jobs: ctx.accounts.distribution_tasks_per_namespace(&source.account).await,
    };
    let platform = account.for_tenant(&namespace);
    let mut run =
        Run { ctx, pd, account: &account, platform, source: &source, source_instance, status, known };
    loop {
        let step = match plan::decide(&run.known) {
            Decision::Done => Step::Finish(Requeue::await_change()),
            Decision::LookForLostJob => run.look_for_lost_job().await?,
            Decision::Adopt(job) => run.adopt(job).await?,
            Decision::CountJobs => run.count_jobs().await?,
            Decision::WaitForQuota { jobs } => run.wait_for_quota(jobs).await?,
            Decision::WaitForNamespaceQuota { jobs } => run.wait_for_namespace_quota(jobs).await?,
            Decision::Create => run.create().await?,
            Decision::Poll(job) => run.poll(job).await?,
        };
        if let Step::Finish(requeue) = step {
            return Ok(requeue);
        }
    }
}

/// How many of the account's distribution tasks the other ProductDistributions of this one's
/// namespace hold: those with a job (or a create under way) whose record is not deleted.
async fn tasks_held(ctx: &Context, pd: &ProductDistribution, account: &str) -> Result<usize, Error> {
    let api: Api<ProductDistribution> =
        Api::namespaced(ctx.client.clone(), &pd.namespace().unwrap_or_default());
    let all = api.list(&kube::api::ListParams::default()).await?;
    Ok(all
        .items
        .iter()
        .filter(|other| other.uid() != pd.uid())
        .filter(|other| desired::holds_task(other))
        .filter(|other| desired::account_name(&ctx.products, other) == account)
        .count())
}

/// The outcome is recorded; what may be left is deleting the job's record (an earlier
/// attempt failed or the operator stopped in between).
async fn finished(
    pd: &ProductDistribution,
    ctx: &Context,
    recorded_state: Option<JobState>,
) -> Result<Requeue, Error> {
    let status = pd.status.clone().unwrap_or_default();
    let pending_delete = plan::delete_record_now(
        pd.spec.job_record_policy,
        recorded_state,
        status.job_record_deleted == Some(true),
    );
    let Some(job) = status.job_id.clone().filter(|_| pending_delete) else {
        return Ok(Requeue::await_change());
    };
    // Only from the latest copy: the cached one may predate the deletion's record.
    let api: Api<ProductDistribution> =
        Api::namespaced(ctx.client.clone(), &pd.namespace().unwrap_or_default());
    let fresh = api.get(&pd.name_any()).await?.status.unwrap_or_default();
    if fresh.job_record_deleted == Some(true) {
        return Ok(Requeue::await_change());
    }
    let account = account(ctx, pd, &desired::account_name(&ctx.products, pd)).await?;
    execute::delete_job_record(ctx, pd, &account, &job, status).await
}

/// Deletes the platform's record of the resource's job, if it has one: the job recorded in
/// status, or one a create whose answer was lost made (so that no task is left behind).
async fn cleanup(pd: &ProductDistribution, ctx: &Context) -> Result<Requeue, Error> {
    let mut status = pd.status.clone().unwrap_or_default();
    if status.job_id.is_none() {
        // The cached copy may predate the job's record in status.
        let api: Api<ProductDistribution> =
            Api::namespaced(ctx.client.clone(), &pd.namespace().unwrap_or_default());
        if let Some(fresh) = api.get_opt(&pd.name_any()).await? {
            status = fresh.status.unwrap_or_default();
        }
    }
    if status.job_record_deleted == Some(true) {
        return Ok(Requeue::await_change());
    }
    let lost_create = status.create_started_time.as_ref().zip(status.product_key.as_ref());
    if status.job_id.is_none() && lost_create.is_none() {
        return Ok(Requeue::await_change());
    }
    let account = account(ctx, pd, &desired::account_name(&ctx.products, pd)).await?;
    let job = match (status.job_id.clone(), lost_create) {
        (Some(job), _) => job,
        (None, Some((started, key))) => {
            let target = &pd.spec.target.instance_id;
            match observe::find_lost_job(account.platform.as_ref(), key, started.0.as_millisecond(), target)
                .await
            {
                Ok(Some(job)) => job,
                Ok(None) => return Ok(Requeue::await_change()),
                Err(e) => return report::platform_failed(ctx, pd, status, e).await,
            }
        }
        (None, None) => return Ok(Requeue::await_change()),
    };
    match execute::delete_platform_record(ctx, pd, &account, &job, "the distribution itself stays").await {
        Ok(()) => Ok(Requeue::await_change()),
        Err(e) => report::platform_failed(ctx, pd, status, e).await,
    }
}

/// Whether the distribution's outcome is recorded (its job completed or failed): nothing an
/// account change could move on.
#[must_use]
pub fn is_finished(pd: &ProductDistribution) -> bool {
    pd.status
        .as_ref()
        .and_then(|s| s.state.as_deref())
        .and_then(JobState::parse)
        .is_some_and(JobState::is_terminal)
}

/// Retries a failed distribution reconcile: the shared policy
/// ([`crate::reconcile::failure`]) over the object's exponential backoff.
#[must_use]
pub fn error_policy(pd: Arc<ProductDistribution>, error: &Error, ctx: Arc<Context>) -> Requeue {
    let backoff = ctx.backoff.next(&pd.uid().unwrap_or_default());
    let (namespace, name) = (pd.namespace().unwrap_or_default(), pd.name_any());
    Requeue::requeue(crate::reconcile::failure::retry_after(
        "ProductDistribution",
        &namespace,
        &name,
        error,
        backoff,
    ))
}
