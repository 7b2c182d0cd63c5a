//! The `PlatformAccount` reconciler: loads the credentials from the referenced Secret,
//! checks them with a cheap read, and reports whether the account works. It runs again
//! whenever the account or its Secret changes, so rotated credentials are picked up without
//! a restart.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::instrument;

use crate::crd::account::{PlatformAccount, PlatformAccountStatus};
use crate::operator::conditions::{self, Desired};
use crate::operator::context::{Context, FIELD_MANAGER};
use crate::platform::model::QueryProductList;
use crate::product::account_name;
use crate::product::report::{error_message, error_reason};

/// How often a working account's credentials are re-checked at most (status is written no
/// more often than this when nothing changes).
const VERIFY_REFRESH: Duration = Duration::from_secs(3600);

/// Why an account reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The status could not be written.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
}

/// Reconciles one `PlatformAccount`.
///
/// # Errors
/// [`Error`] when the status cannot be written.
#[instrument(skip_all, fields(name = %account.name_any()))]
pub async fn reconcile(account: Arc<PlatformAccount>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let name = account.name_any();
    let product_count = ctx.products.state().iter().filter(|p| account_name(p) == name).count() as i64;
    let condition = match ctx.accounts.reload(&account).await {
        Err(e) => Desired::new("Ready", false, e.reason(), e.to_string()),
        Ok(handle) => {
            let probe = QueryProductList {
                iot_instance_id: account.spec.instance_id.clone(),
                current_page: 1,
                page_size: 1,
                ..QueryProductList::default()
            };
            match handle.platform.call(&probe).await {
                Ok(_) => Desired::new(
                    "Ready",
                    true,
                    "CredentialsValid",
                    format!(
                        "the platform accepted the credentials (region {}, endpoint {})",
                        handle.region, handle.endpoints.regional.base_url
                    ),
                ),
                Err(e) => Desired::new("Ready", false, error_reason(&e), error_message(&e)),
            }
        }
    };
    let previous = account.status.clone().unwrap_or_default();
    let now = Time(jiff::Timestamp::now());
    let conditions =
        conditions::merge(&previous.conditions, vec![condition], account.metadata.generation, &now);
    let stale = previous.last_verified_time.as_ref().is_none_or(|t| {
        jiff::Timestamp::now().duration_since(t.0).as_secs() as u64 >= VERIFY_REFRESH.as_secs()
    });
    let mut status = PlatformAccountStatus {
        observed_generation: account.metadata.generation,
        last_verified_time: previous.last_verified_time.clone(),
        product_count: Some(product_count),
        conditions,
    };
    let unchanged =
        PlatformAccountStatus { last_verified_time: previous.last_verified_time.clone(), ..status.clone() }
            == previous;
    if !unchanged || stale {
        status.last_verified_time = Some(now);
        let body = json!({
            "apiVersion": PlatformAccount::api_version(&()),
            "kind": PlatformAccount::kind(&()),
            "status": status,
        });
        Api::<PlatformAccount>::all(ctx.client.clone())
            .patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body))
            .await?;
    }
    Ok(Requeue::requeue(ctx.settings.resync))
}

/// Retries a failed account reconcile with backoff.
#[must_use]
pub fn error_policy(account: Arc<PlatformAccount>, error: &Error, ctx: Arc<Context>) -> Requeue {
    let delay = ctx.backoff.next(&account.uid().unwrap_or_default());
    tracing::warn!(name = %account.name_any(), %error, retry_in_ms = delay.as_millis() as u64, "account reconcile failed");
    Requeue::requeue(delay)
}
