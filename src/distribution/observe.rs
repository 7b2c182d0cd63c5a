//! Platform reads of a distribution: the account's task count, a job's state, and the job a
//! create whose answer was lost made.

use iot_platform::model::{
    DistributeJob, ListDeviceDistributeJob, ListProductTags, QueryDeviceDistributeJob,
};
use iot_platform::{ErrorClass, IotPlatform, PlatformError};

/// How far the platform's clock may be behind when matching a job to a lost create.
const CLOCK_SKEW_MS: i64 = 60 * 1000;

/// How many distribution tasks the account has.
///
/// # Errors
/// The platform error of the read.
pub async fn count_jobs(platform: &dyn IotPlatform) -> Result<usize, PlatformError> {
    let request = ListDeviceDistributeJob { page_size: 1, ..Default::default() };
    let response = platform.call(&request).await?;
    Ok(response.data.map_or(0, |d| usize::try_from(d.total.max(0)).unwrap_or(0)))
}

/// Whether the account's job list still shows job `job_id`: the fresh look taken when reading
/// or deleting the job failed (the platform documents no code for "no such job", so the
/// answer to that call decides nothing by itself).
///
/// # Errors
/// The platform error of the read.
pub async fn job_listed(platform: &dyn IotPlatform, job_id: &str) -> Result<bool, PlatformError> {
    let request =
        ListDeviceDistributeJob { page_size: 10, job_id: Some(job_id.to_string()), ..Default::default() };
    let jobs = platform.call(&request).await?.data.unwrap_or_default().job_info.items;
    Ok(jobs.iter().any(|j| j.job_id == job_id))
}

/// Whether a failed call about a job calls for a fresh look at the account's jobs: not when
/// it was throttled (retried) or the credentials failed (a person acts).
#[must_use]
pub fn worth_a_look(error: &PlatformError) -> bool {
    !matches!(error.class(), ErrorClass::Throttled | ErrorClass::Auth)
}

/// The job `job_id` as the platform shows it.
///
/// # Errors
/// The platform error of the read (a job that is gone is told by [`job_listed`], not by it).
pub async fn query_job(platform: &dyn IotPlatform, job_id: &str) -> Result<DistributeJob, PlatformError> {
    let response = platform.call(&QueryDeviceDistributeJob { job_id: job_id.to_string() }).await?;
    Ok(response.data.unwrap_or_default())
}

/// The job distributing `product_key` to `target` created at or after `since_ms` (less the
/// allowed clock skew): the one a create whose answer was lost made, if it did.
///
/// # Errors
/// The platform error of the read.
pub async fn find_lost_job(
    platform: &dyn IotPlatform,
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

/// The resource holding product `product_key` by its ownership tag (`iotop.owner`), if any.
///
/// # Errors
/// The platform error of the read.
pub async fn holder(
    platform: &dyn IotPlatform,
    product_key: &str,
    instance: &str,
) -> Result<Option<String>, PlatformError> {
    let request = ListProductTags {
        iot_instance_id: (!instance.is_empty()).then(|| instance.to_string()),
        product_key: product_key.to_string(),
    };
    let tags = platform.call(&request).await?.data.unwrap_or_default().product_tag;
    Ok(tags.into_iter().find(|t| t.tag_key == crate::reconcile::ownership::OWNER_TAG).map(|t| t.tag_value))
}
