//! The `ProductDistribution` reconciler: resolve the product → count the account's tasks →
//! create the distribution job exactly once (intent recorded first, job id recorded at
//! once, a lost answer found again by listing jobs) → follow the job to its end → mark the
//! product as distributed (its thing model is then locked).
//!
//! Deleting the resource deletes the platform's job record (freeing the task slot); the
//! distribution itself cannot be undone.

pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{instrument, warn};

use crate::crd::distribution::{ProductDistribution, ProductDistributionStatus};
use crate::crd::{DEFAULT_ACCOUNT, IotProduct};
use crate::reconcile::account_clients::{AccountError, AccountHandle};
use crate::reconcile::conditions::{self, Desired};
use crate::reconcile::context::Context;
use crate::reconcile::finalizer::{self, FinalizerError};
use crate::reconcile::platform_errors::{error_message, error_reason};
use crate::reconcile::status;
use iot_platform::model::{
    CreateProductDistributeJob, DeleteDeviceDistributeJob, ListDeviceDistributeJob, QueryDeviceDistributeJob,
};
use iot_platform::quota::MAX_DISTRIBUTION_JOBS;
use iot_platform::region::public_instance;
use iot_platform::{ErrorClass, PlatformError};

use plan::{Decision, JobState, Known};

/// The finalizer that deletes the job record before the resource goes.
pub const FINALIZER: &str = "iot.productoperator.dev/distribution-cleanup";
/// The field manager that owns `status.distributedTo` of IotProducts.
pub const DISTRIBUTED_FIELD_MANAGER: &str = "iot-product-operator-distribution";
/// How far the platform's clock may be behind when matching a job to a lost create.
const CLOCK_SKEW_MS: i64 = 60 * 1000;
/// How often a running job is polled.
const POLL: Duration = Duration::from_secs(1);
/// How often a waiting distribution looks again.
const WAIT: Duration = Duration::from_secs(15);

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

/// The product being distributed, resolved.
struct Resolved {
    key: String,
    source_instance: String,
    account: String,
    product: Option<Arc<IotProduct>>,
}

/// Resolves the product, or says why the distribution must wait.
fn resolve(ctx: &Context, pd: &ProductDistribution) -> Result<Resolved, (String, String)> {
    let spec = &pd.spec;
    let namespace = pd.namespace().unwrap_or_default();
    if let Some(key) = &spec.product_key {
        let product = ctx.products.state().into_iter().find(|p| {
            p.namespace().as_deref() == Some(namespace.as_str())
                && p.status.as_ref().and_then(|s| s.product_key.as_deref()) == Some(key.as_str())
        });
        let account = spec.account_ref.as_ref().map(|a| a.name.clone()).unwrap_or_else(|| {
            product.as_ref().map_or_else(|| DEFAULT_ACCOUNT.to_string(), |p| p.account_name())
        });
        let source_instance = spec
            .source_instance_id
            .clone()
            .or_else(|| product.as_ref().and_then(|p| p.status.as_ref()?.instance_id.clone()));
        return Ok(Resolved {
            key: key.clone(),
            source_instance: source_instance.unwrap_or_default(),
            account,
            product,
        });
    }
    let name = spec.product_ref.as_ref().map(|r| r.name.clone()).unwrap_or_default();
    let Some(product) = ctx.products.get(&ObjectRef::new(&name).within(&namespace)) else {
        return Err((
            "ProductNotFound".into(),
            format!(
                "IotProduct {name} does not exist in namespace {namespace}; the distribution waits for it"
            ),
        ));
    };
    let status = product.status.clone().unwrap_or_default();
    let ready = conditions::find(&status.conditions, "Ready").is_some_and(|c| c.status == "True");
    let Some(key) = status.product_key.clone().filter(|_| ready) else {
        return Err((
            "ProductNotReady".into(),
            format!("IotProduct {name} has no product yet (not Ready); the distribution waits for it"),
        ));
    };
    let account = spec.account_ref.as_ref().map_or_else(|| product.account_name(), |a| a.name.clone());
    let source_instance = spec.source_instance_id.clone().or(status.instance_id).unwrap_or_default();
    Ok(Resolved { key, source_instance, account, product: Some(product) })
}

async fn event(ctx: &Context, pd: &ProductDistribution, type_: EventType, reason: &str, note: String) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Distribute".into(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &pd.object_ref(&())).await {
        warn!(%error, "cannot publish an event");
    }
}

async fn write_status(
    ctx: &Context,
    pd: &ProductDistribution,
    status: &ProductDistributionStatus,
    precondition: bool,
) -> Result<(), kube::Error> {
    let mut status = status.clone();
    status.reason = conditions::headline(&status.conditions);
    let status = &status;
    if !precondition && pd.status.as_ref() == Some(status) {
        return Ok(());
    }
    let rv = pd.resource_version().filter(|_| precondition);
    let api = Api::<ProductDistribution>::namespaced(ctx.client.clone(), &pd.namespace().unwrap_or_default());
    status::apply(&api, &pd.name_any(), status, rv.as_deref()).await
}

/// Sets Ready (and Synced: true unless a call failed or the resource is paused) and writes
/// the status.
async fn report(
    ctx: &Context,
    pd: &ProductDistribution,
    status: ProductDistributionStatus,
    ready: Desired,
) -> Result<ProductDistributionStatus, kube::Error> {
    let synced = Desired::new("Synced", true, "ReconcileSuccess", "the last reconcile did what it could");
    report_with(ctx, pd, status, vec![ready, synced]).await
}

async fn report_with(
    ctx: &Context,
    pd: &ProductDistribution,
    mut status: ProductDistributionStatus,
    wanted: Vec<Desired>,
) -> Result<ProductDistributionStatus, kube::Error> {
    let now = Time(jiff::Timestamp::now());
    let previous = pd.status.clone().unwrap_or_default();
    status.observed_generation = pd.metadata.generation;
    status.last_handled_reconcile_at = crate::crd::reconcile_request(&pd.metadata);
    status.conditions = conditions::merge(&previous.conditions, wanted, pd.metadata.generation, &now);
    write_status(ctx, pd, &status, false).await?;
    Ok(status)
}

/// Marks the product as distributed to `target` (so its thing model is locked).
async fn mark_product(ctx: &Context, product: &IotProduct, entry: String) -> Result<(), kube::Error> {
    let mut list = product.status.as_ref().map(|s| s.distributed_to.clone()).unwrap_or_default();
    if list.contains(&entry) {
        return Ok(());
    }
    list.push(entry);
    let body = status::apply_body::<IotProduct, _>(
        &json!({"distributedTo": list}),
        product.resource_version().as_deref(),
    );
    let api = Api::<IotProduct>::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default());
    status::apply_as(&api, &product.name_any(), DISTRIBUTED_FIELD_MANAGER, body).await
}

/// Reconciles one `ProductDistribution`.
///
/// # Errors
/// [`Error`] after reporting the problem in status.
#[instrument(skip_all, fields(namespace = %pd.namespace().unwrap_or_default(), name = %pd.name_any()))]
pub async fn reconcile(pd: Arc<ProductDistribution>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let api: Api<ProductDistribution> =
        Api::namespaced(ctx.client.clone(), &pd.namespace().unwrap_or_default());
    let ctx = ctx.as_ref();
    finalizer::run(
        &api,
        FINALIZER,
        pd,
        &ctx.backoff,
        |pd| async move { apply(&pd, ctx).await },
        |pd| async move { cleanup(&pd, ctx).await },
    )
    .await
}

async fn account(ctx: &Context, pd: &ProductDistribution, name: &str) -> Result<Arc<AccountHandle>, Error> {
    match ctx.accounts.get(name).await {
        Ok(account) => Ok(account),
        Err(e) => {
            let status = pd.status.clone().unwrap_or_default();
            report(ctx, pd, status, Desired::new("Ready", false, e.reason(), e.to_string())).await?;
            Err(Error::Account(e))
        }
    }
}

async fn platform_failed(
    ctx: &Context,
    pd: &ProductDistribution,
    status: ProductDistributionStatus,
    error: PlatformError,
) -> Result<Requeue, Error> {
    event(ctx, pd, EventType::Warning, error_reason(&error), error_message(&error)).await;
    report(ctx, pd, status, Desired::new("Ready", false, error_reason(&error), error_message(&error)))
        .await?;
    Err(Error::Platform(error))
}

async fn apply(pd: &ProductDistribution, ctx: &Context) -> Result<Requeue, Error> {
    let mut status = pd.status.clone().unwrap_or_default();
    if crate::crd::is_paused(&pd.metadata) {
        let message = format!(
            "reconciliation is paused by the annotation {}: \"true\"; remove it to resume (deleting still works)",
            crate::crd::PAUSED_ANNOTATION
        );
        let previous = status.conditions.clone();
        let keep_ready = conditions::find(&previous, "Ready").is_some();
        let mut wanted = vec![Desired::new("Synced", false, "Paused", message.clone())];
        if !keep_ready {
            wanted.push(Desired::new("Ready", false, "Paused", message));
        }
        report_with(ctx, pd, status, wanted).await?;
        return Ok(Requeue::await_change());
    }
    let recorded_state = status.state.as_deref().and_then(JobState::parse);
    if recorded_state.is_some_and(JobState::is_terminal) {
        // The outcome is recorded; what may be left is deleting the job's record (an earlier
        // attempt failed or the operator stopped in between).
        if plan::delete_record_now(
            pd.spec.job_record_policy,
            recorded_state,
            status.job_record_deleted == Some(true),
        ) && let Some(job) = status.job_id.clone()
        {
            // Only from the latest copy: the cached one may predate the deletion's record.
            let api: Api<ProductDistribution> =
                Api::namespaced(ctx.client.clone(), &pd.namespace().unwrap_or_default());
            let fresh = api.get(&pd.name_any()).await?.status.unwrap_or_default();
            if fresh.job_record_deleted == Some(true) {
                return Ok(Requeue::await_change());
            }
            let account_name = resolve(ctx, pd).map_or_else(|_| fallback_account(pd), |r| r.account);
            let account = account(ctx, pd, &account_name).await?;
            return delete_job_record(ctx, pd, &account, &job, status).await;
        }
        return Ok(Requeue::await_change());
    }
    let resolved = match resolve(ctx, pd) {
        Ok(resolved) => resolved,
        Err((reason, message)) => {
            status.state = Some(JobState::Pending.as_str().into());
            report(ctx, pd, status, Desired::new("Ready", false, reason, message)).await?;
            return Ok(Requeue::requeue(crate::crd::resync_override(&pd.metadata).unwrap_or(WAIT)));
        }
    };
    let account = account(ctx, pd, &resolved.account).await?;
    let platform = account.platform.as_ref();
    let source_instance = if resolved.source_instance.is_empty() {
        account.instance_id.clone().unwrap_or_else(|| public_instance(&account.region))
    } else {
        resolved.source_instance.clone()
    };
    status.product_key = Some(resolved.key.clone());
    status.source_instance_id = Some(source_instance.clone());
    let target = pd.spec.target.instance_id.clone();
    let mut known = Known {
        job_id: status.job_id.clone(),
        recorded_state,
        create_started: status.create_started_time.is_some(),
        found_job: None,
        account_jobs: None,
        max_jobs: MAX_DISTRIBUTION_JOBS,
    };
    loop {
        match plan::decide(&known) {
            Decision::Done => return Ok(Requeue::await_change()),
            Decision::LookForLostJob => {
                let since = status.create_started_time.as_ref().map_or(0, |t| t.0.as_millisecond());
                known.found_job = match find_lost_job(platform, &resolved.key, since, &target).await {
                    Ok(found) => found,
                    Err(e) => return platform_failed(ctx, pd, status, e).await,
                };
                if known.found_job.is_none() {
                    known.create_started = false;
                }
            }
            Decision::Adopt(job) => {
                status.job_id = Some(job.clone());
                write_status(ctx, pd, &status, false).await?;
                event(
                    ctx,
                    pd,
                    EventType::Normal,
                    "JobFound",
                    format!(
                        "Found distribution job {job}, created by an earlier attempt whose answer was lost"
                    ),
                )
                .await;
                known.job_id = Some(job);
            }
            Decision::CountJobs => {
                let request = ListDeviceDistributeJob { page_size: 1, ..Default::default() };
                match platform.call(&request).await {
                    Ok(response) => {
                        known.account_jobs = Some(response.data.map_or(0, |d| d.total.max(0) as usize))
                    }
                    Err(e) => return platform_failed(ctx, pd, status, e).await,
                }
            }
            Decision::WaitForQuota { jobs } => {
                status.state = Some(JobState::Pending.as_str().into());
                let message = format!(
                    "the account already has {jobs} distribution tasks, the platform's maximum of {MAX_DISTRIBUTION_JOBS}; \
                     this distribution waits for a free task. Finished distributions with jobRecordPolicy: DeleteWhenDone \
                     free theirs on their own; delete a finished ProductDistribution with jobRecordPolicy: Keep (or the \
                     platform's job records made outside Kubernetes) to free one"
                );
                report(ctx, pd, status, Desired::new("Ready", false, "DistributionQuotaFull", message))
                    .await?;
                return Ok(Requeue::requeue(crate::crd::resync_override(&pd.metadata).unwrap_or(WAIT)));
            }
            Decision::Create => {
                // Record the intent first (failing if this copy of the resource is stale).
                status.create_started_time = Some(Time(jiff::Timestamp::now()));
                status.state = Some(JobState::Pending.as_str().into());
                write_status(ctx, pd, &status, true).await?;
                let request = CreateProductDistributeJob {
                    product_key: resolved.key.clone(),
                    source_instance_id: source_instance.clone(),
                    target_instance_id: target.clone(),
                    target_uid: pd.spec.target.uid.clone(),
                    target_aliyun_id: pd.spec.target.logon_id.clone(),
                };
                match platform.call(&request).await {
                    Ok(response) => {
                        let Some(job) = response.job_id else {
                            let error = PlatformError::Decode {
                                action: "CreateProductDistributeJob",
                                message: "no JobId in the answer".into(),
                                request_id: None,
                            };
                            return platform_failed(ctx, pd, status, error).await;
                        };
                        status.job_id = Some(job.clone());
                        status.create_started_time = None;
                        write_status(ctx, pd, &status, false).await?;
                        event(ctx, pd, EventType::Normal, "JobCreated", format!(
                            "Created distribution job {job}: product {} from {source_instance} to {target}", resolved.key
                        ))
                        .await;
                        known.job_id = Some(job);
                    }
                    Err(e) if e.class() == ErrorClass::Quota => {
                        status.create_started_time = None;
                        known.create_started = false;
                        known.account_jobs = Some(MAX_DISTRIBUTION_JOBS);
                    }
                    Err(e) => {
                        if !e.is_ambiguous() {
                            status.create_started_time = None;
                        }
                        return platform_failed(ctx, pd, status, e).await;
                    }
                }
            }
            Decision::Poll(job) => {
                let job_info = match platform.call(&QueryDeviceDistributeJob { job_id: job.clone() }).await {
                    Ok(response) => response.data.unwrap_or_default(),
                    Err(e) if e.class() == ErrorClass::NotFound => {
                        // A cached copy older than this resource's own record of the outcome
                        // (written just before DeleteWhenDone deleted the job's record) must
                        // not turn a completed distribution into a failed one: only the
                        // latest copy decides that the job vanished.
                        let api: Api<ProductDistribution> =
                            Api::namespaced(ctx.client.clone(), &pd.namespace().unwrap_or_default());
                        let fresh = api.get(&pd.name_any()).await?.status.unwrap_or_default();
                        if fresh.state.as_deref().and_then(JobState::parse).is_some_and(JobState::is_terminal)
                        {
                            return Ok(Requeue::await_change());
                        }
                        status.state = Some(JobState::Failed.as_str().into());
                        status.completion_time = Some(Time(jiff::Timestamp::now()));
                        let message = format!(
                            "distribution job {job} no longer exists on the platform (deleted outside Kubernetes); create a new ProductDistribution to distribute again"
                        );
                        report(ctx, pd, status, Desired::new("Ready", false, "JobMissing", message)).await?;
                        return Ok(Requeue::await_change());
                    }
                    Err(e) => return platform_failed(ctx, pd, status, e).await,
                };
                let state = JobState::from_platform(job_info.status);
                status.state = Some(state.as_str().into());
                status.start_time = jiff::Timestamp::from_millisecond(job_info.gmt_create).ok().map(Time);
                let ready = match state {
                    JobState::Completed => {
                        status.completion_time = Some(Time(jiff::Timestamp::now()));
                        if let Some(product) = &resolved.product {
                            mark_product(
                                ctx,
                                product,
                                format!("{target} (ProductDistribution {})", pd.name_any()),
                            )
                            .await?;
                        }
                        event(
                            ctx,
                            pd,
                            EventType::Normal,
                            "Distributed",
                            format!(
                                "Product {} was distributed to instance {target} (job {job})",
                                resolved.key
                            ),
                        )
                        .await;
                        Desired::new(
                            "Ready",
                            true,
                            "Distributed",
                            format!(
                                "product {} was distributed to instance {target}; its thing model can no longer be modified",
                                resolved.key
                            ),
                        )
                    }
                    JobState::Failed => {
                        status.completion_time = Some(Time(jiff::Timestamp::now()));
                        let message = format!(
                            "the platform interrupted distribution job {job}; the product was not (fully) distributed to {target}. \
                             Common causes: a product with the same name already exists in the target instance, or the target \
                             instance cannot take more products. Fix the cause and create a new ProductDistribution"
                        );
                        event(ctx, pd, EventType::Warning, "JobInterrupted", message.clone()).await;
                        Desired::new("Ready", false, "JobInterrupted", message)
                    }
                    _ => Desired::new(
                        "Ready",
                        false,
                        "Distributing",
                        format!("distribution job {job} is {}", state.as_str().to_lowercase()),
                    ),
                };
                // The outcome is recorded before the job's record may be deleted.
                let written = report(ctx, pd, status, ready).await?;
                if plan::delete_record_now(pd.spec.job_record_policy, Some(state), false) {
                    return delete_job_record(ctx, pd, &account, &job, written).await;
                }
                return Ok(if state.is_terminal() {
                    Requeue::await_change()
                } else {
                    Requeue::requeue(POLL)
                });
            }
        }
    }
}

/// The job distributing `product_key` to `target` created at or after `since_ms` (less the
/// allowed clock skew): the one a create whose answer was lost made, if it did.
async fn find_lost_job(
    platform: &dyn iot_platform::IotPlatform,
    product_key: &str,
    since_ms: i64,
    target: &str,
) -> Result<Option<String>, PlatformError> {
    let request = ListDeviceDistributeJob {
        page_size: 200,
        product_key: Some(product_key.to_string()),
        ..Default::default()
    };
    let jobs = platform.call(&request).await?.data.unwrap_or_default().job_info.items;
    Ok(jobs
        .iter()
        .filter(|j| j.gmt_create >= since_ms - CLOCK_SKEW_MS)
        .find(|j| {
            j.target_instance_configs.target_instance_configs.iter().any(|t| t.target_instance_id == target)
        })
        .map(|j| j.job_id.clone()))
}

/// The account named by the spec alone (when the product cannot be resolved any more).
fn fallback_account(pd: &ProductDistribution) -> String {
    pd.spec.account_ref.as_ref().map_or_else(|| DEFAULT_ACCOUNT.to_string(), |a| a.name.clone())
}

/// Deletes the platform's record of distribution job `job` and says so in an Event ending
/// with `why`; a record already gone counts as deleted.
async fn delete_platform_record(
    ctx: &Context,
    pd: &ProductDistribution,
    account: &AccountHandle,
    job: &str,
    why: &str,
) -> Result<(), PlatformError> {
    match account.platform.call(&DeleteDeviceDistributeJob { job_id: job.to_string() }).await {
        Ok(_) => {
            let note = format!("Deleted the platform's record of distribution job {job} ({why})");
            event(ctx, pd, EventType::Normal, "JobRecordDeleted", note).await;
            Ok(())
        }
        Err(e) if e.class() == ErrorClass::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes the platform's record of a finished job (`jobRecordPolicy: DeleteWhenDone`) and
/// records that in status.
async fn delete_job_record(
    ctx: &Context,
    pd: &ProductDistribution,
    account: &AccountHandle,
    job: &str,
    mut status: ProductDistributionStatus,
) -> Result<Requeue, Error> {
    let why =
        "it finished, which frees its task; jobRecordPolicy: DeleteWhenDone; the distribution itself stays";
    if let Err(e) = delete_platform_record(ctx, pd, account, job, why).await {
        return platform_failed(ctx, pd, status, e).await;
    }
    status.job_record_deleted = Some(true);
    write_status(ctx, pd, &status, false).await?;
    Ok(Requeue::await_change())
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
    let account_name = resolve(ctx, pd).map_or_else(|_| fallback_account(pd), |r| r.account);
    let account = account(ctx, pd, &account_name).await?;
    let job = match (status.job_id.clone(), lost_create) {
        (Some(job), _) => job,
        (None, Some((started, key))) => {
            let target = &pd.spec.target.instance_id;
            match find_lost_job(account.platform.as_ref(), key, started.0.as_millisecond(), target).await {
                Ok(Some(job)) => job,
                Ok(None) => return Ok(Requeue::await_change()),
                Err(e) => return platform_failed(ctx, pd, status, e).await,
            }
        }
        (None, None) => return Ok(Requeue::await_change()),
    };
    match delete_platform_record(ctx, pd, &account, &job, "the distribution itself stays").await {
        Ok(()) => Ok(Requeue::await_change()),
        Err(e) => platform_failed(ctx, pd, status, e).await,
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

/// Retries a failed distribution reconcile with per-object backoff.
#[must_use]
pub fn error_policy(pd: Arc<ProductDistribution>, error: &Error, ctx: Arc<Context>) -> Requeue {
    let delay = ctx.backoff.next(&pd.uid().unwrap_or_default());
    let floor = match error {
        Error::Platform(e) if matches!(e.class(), ErrorClass::Invalid | ErrorClass::Auth) => {
            Duration::from_secs(60)
        }
        // Reading the account failed (the API server): retried on the backoff alone.
        Error::Account(crate::reconcile::account_clients::AccountError::ReadAccount { .. }) => Duration::ZERO,
        // The user has to fix something; the account's watch brings the fix sooner.
        Error::Account(_) => Duration::from_secs(30),
        _ => Duration::ZERO,
    };
    warn!(namespace = %pd.namespace().unwrap_or_default(), name = %pd.name_any(), error = %crate::reconcile::error_chain(error),
        retry_in_ms = delay.max(floor).as_millis() as u64, "distribution reconcile failed");
    Requeue::requeue(delay.max(floor))
}
