//! The steps of a distribution, one per decision of [`super::plan::decide`]: each reads or
//! writes the platform once, records what it learnt in status (an intent before the create,
//! the job id at once after it), and tells the loop whether to decide again.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::EventType;

use super::desired::Source;
use super::plan::{JobState, Known};
use super::{Error, POLL, WAIT, observe, report};
use crate::crd::{ProductDistribution, ProductDistributionStatus};
use crate::reconcile::account_clients::AccountHandle;
use crate::reconcile::context::Context;
use iot_platform::model::{CreateProductDistributeJob, DeleteDeviceDistributeJob};
use iot_platform::quota::MAX_DISTRIBUTION_JOBS;
use iot_platform::{IotPlatform, PlatformError};

/// After a step: decide again, or end the reconcile.
#[derive(Debug)]
pub enum Step {
    /// Decide again with what was learnt.
    Continue,
    /// The reconcile ends here.
    Finish(Requeue),
}

/// One reconcile of one distribution in progress.
pub struct Run<'a> {
    /// The context.
    pub ctx: &'a Context,
    /// The resource.
    pub pd: &'a ProductDistribution,
    /// Its account.
    pub account: &'a AccountHandle,
    /// The account's client, for this distribution's namespace.
    pub platform: Arc<dyn IotPlatform>,
    /// What it distributes.
    pub source: &'a Source,
    /// The instance it distributes from.
    pub source_instance: String,
    /// The status as it evolves.
    pub status: ProductDistributionStatus,
    /// What the decisions are made from.
    pub known: Known,
}

impl Run<'_> {
    fn target(&self) -> &str {
        &self.pd.spec.target.instance_id
    }

    /// Whether an IotProduct of this distribution's namespace has the UID `holder` (in the
    /// form of the ownership tag).
    fn held_here(&self, holder: &str) -> bool {
        super::desired::held_here(holder, &self.pd.namespace().unwrap_or_default(), &self.ctx.products)
    }

    fn requeue_wait(&self) -> Requeue {
        Requeue::requeue(self.ctx.settings.resync_for(&self.pd.metadata, WAIT))
    }

    async fn failed(&self, error: PlatformError) -> Result<Step, Error> {
        report::platform_failed(self.ctx, self.pd, self.status.clone(), error).await
    }

    /// Looks for the job a create whose answer was lost made.
    pub async fn look_for_lost_job(&mut self) -> Result<Step, Error> {
        let since = self.status.create_started_time.as_ref().map_or(0, |t| t.0.as_millisecond());
        let platform = self.platform.as_ref();
        match observe::find_lost_job(platform, &self.source.key, since, self.target()).await {
            Ok(found) => {
                self.known.create_started = found.is_some();
                self.known.found_job = found;
                Ok(Step::Continue)
            }
            Err(e) => self.failed(e).await,
        }
    }

    /// Takes over a job found after a lost create.
    pub async fn adopt(&mut self, job: String) -> Result<Step, Error> {
        self.status.job_id = Some(job.clone());
        report::write_status(self.ctx, self.pd, &self.status, false).await?;
        let note =
            format!("Found distribution job {job}, created by an earlier attempt whose answer was lost");
        report::event(self.ctx, self.pd, EventType::Normal, "JobFound", note).await;
        self.known.job_id = Some(job);
        Ok(Step::Continue)
    }

    /// Counts the account's distribution tasks.
    pub async fn count_jobs(&mut self) -> Result<Step, Error> {
        match observe::count_jobs(self.platform.as_ref()).await {
            Ok(jobs) => {
                self.known.account_jobs = Some(jobs);
                Ok(Step::Continue)
            }
            Err(e) => self.failed(e).await,
        }
    }

    /// Waits for a free task.
    pub async fn wait_for_quota(&mut self, jobs: usize) -> Result<Step, Error> {
        self.status.state = Some(JobState::Pending.as_str().into());
        report::ready(self.ctx, self.pd, self.status.clone(), report::quota_full(jobs)).await?;
        Ok(Step::Finish(self.requeue_wait()))
    }

    /// Waits until another distribution of this namespace frees a task.
    pub async fn wait_for_namespace_quota(&mut self, jobs: usize) -> Result<Step, Error> {
        self.status.state = Some(JobState::Pending.as_str().into());
        let namespace = self.pd.namespace().unwrap_or_default();
        let condition = report::namespace_quota_full(jobs, &namespace, &self.account.name);
        report::ready(self.ctx, self.pd, self.status.clone(), condition).await?;
        Ok(Step::Finish(self.requeue_wait()))
    }

    /// Creates the job: the intent first (failing if this copy of the resource is stale),
    /// then the call, then the job id at once. A product by key is first checked not to be
    /// another resource's.
    pub async fn create(&mut self) -> Result<Step, Error> {
        if self.source.product.is_none() {
            match observe::holder(self.platform.as_ref(), &self.source.key, &self.source_instance).await {
                Ok(None) => {}
                Ok(Some(holder)) if self.held_here(&holder) => {}
                Ok(Some(_)) => {
                    self.status.state = Some(JobState::Pending.as_str().into());
                    report::ready(self.ctx, self.pd, self.status.clone(), report::managed_elsewhere())
                        .await?;
                    return Ok(Step::Finish(self.requeue_wait()));
                }
                Err(e) => return self.failed(e).await,
            }
        }
        self.status.create_started_time = Some(Time(jiff::Timestamp::now()));
        self.status.state = Some(JobState::Pending.as_str().into());
        report::write_status(self.ctx, self.pd, &self.status, true).await?;
        let request = CreateProductDistributeJob {
            product_key: self.source.key.clone(),
            source_instance_id: self.source_instance.clone(),
            target_instance_id: self.target().to_string(),
            target_uid: self.pd.spec.target.uid.clone(),
            target_aliyun_id: self.pd.spec.target.logon_id.clone(),
        };
        let error = match self.platform.call(&request).await {
            Ok(response) => match response.job_id {
                Some(job) => return self.created(job).await,
                // The job may exist: the intent stays, so the next attempt looks for it.
                None => {
                    let error = PlatformError::Decode {
                        action: "CreateProductDistributeJob",
                        message: "no JobId in the answer".into(),
                        request_id: None,
                    };
                    return self.failed(error).await;
                }
            },
            Err(e) => e,
        };
        // Refused: the platform documents no code for an account whose tasks are all taken,
        // so the account's jobs are counted afresh.
        if !error.is_ambiguous()
            && observe::worth_a_look(&error)
            && observe::count_jobs(self.platform.as_ref()).await.is_ok_and(|n| n >= MAX_DISTRIBUTION_JOBS)
        {
            self.status.create_started_time = None;
            self.known.create_started = false;
            self.known.account_jobs = Some(MAX_DISTRIBUTION_JOBS);
            return Ok(Step::Continue);
        }
        if !error.is_ambiguous() {
            self.status.create_started_time = None;
        }
        self.failed(error).await
    }

    async fn created(&mut self, job: String) -> Result<Step, Error> {
        self.status.job_id = Some(job.clone());
        self.status.create_started_time = None;
        report::write_status(self.ctx, self.pd, &self.status, false).await?;
        let note = format!(
            "Created distribution job {job}: product {} from {} to {}",
            self.source.key,
            self.source_instance,
            self.target()
        );
        report::event(self.ctx, self.pd, EventType::Normal, "JobCreated", note).await;
        self.known.job_id = Some(job);
        Ok(Step::Continue)
    }

    /// Follows the job: records its state, marks the product when it completed, and deletes
    /// the job's record once finished when the policy says so.
    pub async fn poll(&mut self, job: String) -> Result<Step, Error> {
        let info = match observe::query_job(self.platform.as_ref(), &job).await {
            Ok(info) => info,
            // Gone from the account's list: vanished, whatever the read answered.
            Err(e)
                if observe::worth_a_look(&e)
                    && matches!(observe::job_listed(self.platform.as_ref(), &job).await, Ok(false)) =>
            {
                return self.job_vanished(&job).await;
            }
            Err(e) => return self.failed(e).await,
        };
        let state = JobState::from_platform(info.status);
        self.status.state = Some(state.as_str().into());
        self.status.start_time = jiff::Timestamp::from_millisecond(info.gmt_create).ok().map(Time);
        if state.is_terminal() {
            self.status.completion_time = Some(Time(jiff::Timestamp::now()));
        }
        self.announce(state, &job).await?;
        let condition = report::job_condition(state, &job, &self.source.key, self.target());
        // The outcome is recorded before the job's record may be deleted.
        let written = report::ready(self.ctx, self.pd, self.status.clone(), condition).await?;
        if super::plan::delete_record_now(self.pd.spec.job_record_policy, Some(state), false) {
            return delete_job_record(self.ctx, self.pd, self.account, &job, written).await.map(Step::Finish);
        }
        Ok(Step::Finish(if state.is_terminal() { Requeue::await_change() } else { Requeue::requeue(POLL) }))
    }

    /// The Events (and the product's mark) of a job that ended.
    async fn announce(&self, state: JobState, job: &str) -> Result<(), kube::Error> {
        let (ctx, pd, target) = (self.ctx, self.pd, self.target());
        match state {
            JobState::Completed => {
                if let Some(product) = &self.source.product {
                    report::mark_product(
                        ctx,
                        product,
                        format!("{target} (ProductDistribution {})", pd.name_any()),
                    )
                    .await?;
                }
                let note =
                    format!("Product {} was distributed to instance {target} (job {job})", self.source.key);
                report::event(ctx, pd, EventType::Normal, "Distributed", note).await;
            }
            JobState::Failed => {
                let note = report::interrupted_message(job, target);
                report::event(ctx, pd, EventType::Warning, "JobInterrupted", note).await;
            }
            _ => {}
        }
        Ok(())
    }

    /// The job is gone from the platform: failed, unless the latest copy of the resource
    /// already recorded its outcome (a cached copy older than this resource's own record,
    /// written just before DeleteWhenDone deleted the job's record, must not turn a completed
    /// distribution into a failed one).
    async fn job_vanished(&mut self, job: &str) -> Result<Step, Error> {
        let api: Api<ProductDistribution> =
            Api::namespaced(self.ctx.client.clone(), &self.pd.namespace().unwrap_or_default());
        let fresh = api.get(&self.pd.name_any()).await?.status.unwrap_or_default();
        if fresh.state.as_deref().and_then(JobState::parse).is_some_and(JobState::is_terminal) {
            return Ok(Step::Finish(Requeue::await_change()));
        }
        self.status.state = Some(JobState::Failed.as_str().into());
        self.status.completion_time = Some(Time(jiff::Timestamp::now()));
        report::ready(self.ctx, self.pd, self.status.clone(), report::job_missing(job)).await?;
        Ok(Step::Finish(Requeue::await_change()))
    }
}

/// Deletes the platform's record of distribution job `job` and says so in an Event ending
/// with `why`; a record the account no longer lists counts as deleted.
///
/// # Errors
/// The platform error of the delete.
pub async fn delete_platform_record(
    ctx: &Context,
    pd: &ProductDistribution,
    account: &AccountHandle,
    job: &str,
    why: &str,
) -> Result<(), PlatformError> {
    let platform = account.for_tenant(&pd.namespace().unwrap_or_default());
    match platform.call(&DeleteDeviceDistributeJob { job_id: job.to_string() }).await {
        Ok(_) => {
            let note = format!("Deleted the platform's record of distribution job {job} ({why})");
            report::event(ctx, pd, EventType::Normal, "JobRecordDeleted", note).await;
            Ok(())
        }
        // A record the account no longer lists is deleted, whatever the delete answered.
        Err(e)
            if observe::worth_a_look(&e)
                && matches!(observe::job_listed(platform.as_ref(), job).await, Ok(false)) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Deletes the platform's record of a finished job (`jobRecordPolicy: DeleteWhenDone`) and
/// records that in status.
///
/// # Errors
/// The platform or Kubernetes error, after reporting it.
pub async fn delete_job_record(
    ctx: &Context,
    pd: &ProductDistribution,
    account: &AccountHandle,
    job: &str,
    mut status: ProductDistributionStatus,
) -> Result<Requeue, Error> {
    let why =
        "it finished, which frees its task; jobRecordPolicy: DeleteWhenDone; the distribution itself stays";
    if let Err(e) = delete_platform_record(ctx, pd, account, job, why).await {
        return report::platform_failed(ctx, pd, status, e).await;
    }
    status.job_record_deleted = Some(true);
    report::write_status(ctx, pd, &status, false).await?;
    Ok(Requeue::await_change())
}
