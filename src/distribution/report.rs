//! Reports a distribution: its conditions (computed as data), its status (written only when
//! it changed, or guarded by the resourceVersion when recording an intent), Events, and the
//! mark on the distributed IotProduct.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::warn;

use super::plan::JobState;
use super::{DISTRIBUTED_FIELD_MANAGER, Error};
use crate::crd::{IotProduct, ProductDistribution, ProductDistributionStatus};
use crate::reconcile::conditions::{self, Desired, Reason};
use crate::reconcile::context::Context;
use crate::reconcile::platform_errors::{error_message, error_reason};
use crate::reconcile::status;
use iot_platform::PlatformError;
use iot_platform::quota::MAX_DISTRIBUTION_JOBS;

/// Publishes an Event about `pd`; failures to publish are logged, not fatal.
pub async fn event(ctx: &Context, pd: &ProductDistribution, type_: EventType, reason: &str, note: String) {
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

/// Writes `status` unless it equals the current one; with `precondition`, always, and only
/// if `pd` is still the latest copy (an intent must not be recorded from a stale copy).
///
/// # Errors
/// The Kubernetes error of the write.
pub async fn write_status(
    ctx: &Context,
    pd: &ProductDistribution,
    status: &ProductDistributionStatus,
    precondition: bool,
) -> Result<(), kube::Error> {
    let mut status = status.clone();
    status.reason = conditions::headline(&status.conditions);
    if !precondition && pd.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let rv = pd.resource_version().filter(|_| precondition);
    let api = Api::<ProductDistribution>::namespaced(ctx.client.clone(), &pd.namespace().unwrap_or_default());
    status::apply(&api, &pd.name_any(), &status, rv.as_deref()).await
}

/// Sets Ready (and Synced: true, the reconcile did what it could) and writes the status.
///
/// # Errors
/// The Kubernetes error of the write.
pub async fn ready(
    ctx: &Context,
    pd: &ProductDistribution,
    status: ProductDistributionStatus,
    ready: Desired,
) -> Result<ProductDistributionStatus, kube::Error> {
    let synced =
        Desired::new("Synced", true, Reason::ReconcileSuccess, "the last reconcile did what it could");
    conditions_and_status(ctx, pd, status, vec![ready, synced]).await
}

/// Merges `wanted` into the conditions and writes the status.
///
/// # Errors
/// The Kubernetes error of the write.
pub async fn conditions_and_status(
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

/// Reports that reconciliation is paused by annotation.
///
/// # Errors
/// The Kubernetes error of the write.
pub async fn paused(
    ctx: &Context,
    pd: &ProductDistribution,
    status: ProductDistributionStatus,
) -> Result<(), kube::Error> {
    let message = format!(
        "reconciliation is paused by the annotation {}: \"true\"; remove it to resume (deleting still works)",
        crate::crd::PAUSED_ANNOTATION
    );
    let keep_ready = conditions::find(&status.conditions, "Ready").is_some();
    let mut wanted = vec![Desired::new("Synced", false, Reason::Paused, message.clone())];
    if !keep_ready {
        wanted.push(Desired::new("Ready", false, Reason::Paused, message));
    }
    conditions_and_status(ctx, pd, status, wanted).await.map(drop)
}

/// Reports a failed platform call (Event and Ready) and returns it as the reconcile's error.
///
/// # Errors
/// Always: the platform error, or the Kubernetes error of the report.
pub async fn platform_failed<T>(
    ctx: &Context,
    pd: &ProductDistribution,
    status: ProductDistributionStatus,
    error: PlatformError,
) -> Result<T, Error> {
    event(ctx, pd, EventType::Warning, error_reason(&error).as_str(), error_message(&error)).await;
    let condition = Desired::new("Ready", false, error_reason(&error), error_message(&error));
    ready(ctx, pd, status, condition).await?;
    Err(Error::Platform(error))
}

/// Marks the product as distributed (its thing model is then locked), under the
/// distribution controller's own field manager.
///
/// # Errors
/// The Kubernetes error of the write.
pub async fn mark_product(ctx: &Context, product: &IotProduct, entry: String) -> Result<(), kube::Error> {
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

/// The Ready condition for a job in `state` (pure).
#[must_use]
pub fn job_condition(state: JobState, job: &str, key: &str, target: &str) -> Desired {
    match state {
        JobState::Completed => Desired::new(
            "Ready",
            true,
            Reason::Distributed,
            format!(
                "product {key} was distributed to instance {target}; its thing model can no longer be modified"
            ),
        ),
        JobState::Failed => {
            Desired::new("Ready", false, Reason::JobInterrupted, interrupted_message(job, target))
        }
        _ => Desired::new(
            "Ready",
            false,
            Reason::Distributing,
            format!("distribution job {job} is {}", state.as_str().to_lowercase()),
        ),
    }
}

/// What an interrupted job means and what to do.
#[must_use]
pub fn interrupted_message(job: &str, target: &str) -> String {
    format!(
        "the platform interrupted distribution job {job}; the product was not (fully) distributed to {target}. \
         Common causes: a product with the same name already exists in the target instance, or the target \
         instance cannot take more products. Fix the cause and create a new ProductDistribution"
    )
}

/// The Ready condition while the account has no free distribution task (pure).
#[must_use]
pub fn quota_full(jobs: usize) -> Desired {
    let message = format!(
        "the account already has {jobs} distribution tasks, the platform's maximum of {MAX_DISTRIBUTION_JOBS}; \
         this distribution waits for a free task. Finished distributions with jobRecordPolicy: DeleteWhenDone \
         free theirs on their own; delete a finished ProductDistribution with jobRecordPolicy: Keep (or the \
         platform's job records made outside Kubernetes) to free one"
    );
    Desired::new("Ready", false, Reason::DistributionQuotaFull, message)
}

/// The Ready condition while this namespace holds its share of the account's tasks (pure).
#[must_use]
pub fn namespace_quota_full(jobs: usize, namespace: &str, account: &str) -> Desired {
    let message = format!(
        "the ProductDistributions of namespace {namespace} already hold {jobs} of PlatformAccount {account:?}'s \
         distribution tasks, as many as one namespace may (spec.distributionTasksPerNamespace); this distribution \
         waits until one of them frees its task (jobRecordPolicy: DeleteWhenDone, or deleting a finished one)"
    );
    Desired::new("Ready", false, Reason::NamespaceDistributionQuotaFull, message)
}

/// The Ready condition of a product by key that another resource holds (pure; names no one).
#[must_use]
pub fn managed_elsewhere() -> Desired {
    let message = "spec.productKey names a product that another resource manages (its iotop.owner tag names a \
         resource outside this namespace); it is not distributed from here. Distribute it from the namespace that \
         manages it (spec.productRef)";
    Desired::new("Ready", false, Reason::ManagedElsewhere, message)
}

/// The Ready condition of a job deleted outside Kubernetes (pure).
#[must_use]
pub fn job_missing(job: &str) -> Desired {
    let message = format!(
        "distribution job {job} no longer exists on the platform (deleted outside Kubernetes); create a new ProductDistribution to distribute again"
    );
    Desired::new("Ready", false, Reason::JobMissing, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_reads_as_its_state() {
        let done = job_condition(JobState::Completed, "j1", "a1Key", "iot-2");
        assert!(done.status);
        assert_eq!(done.reason, "Distributed");
        let failed = job_condition(JobState::Failed, "j1", "a1Key", "iot-2");
        assert!(!failed.status);
        assert_eq!(failed.reason, "JobInterrupted");
        let running = job_condition(JobState::Running, "j1", "a1Key", "iot-2");
        assert_eq!((running.status, running.reason.as_str()), (false, "Distributing"));
        assert!(running.message.contains("j1 is running"));
    }
}
