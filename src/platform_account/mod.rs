//! The `PlatformAccount` reconciler: loads the credentials from the referenced Secret,
//! checks them with a cheap read, and reports whether the account works. It runs again
//! whenever the account or its Secret changes, so rotated credentials are picked up without
//! a restart.
//!
//! Credentials in use are protected: the account carries a finalizer and its Secret another,
//! so deleting either while IotProducts use the account only marks them for deletion; they
//! go once no product uses the account (every product's own cleanup can still reach the
//! platform meanwhile).

pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action as Requeue;
use tracing::instrument;

use crate::crd::platform_account::{PlatformAccount, PlatformAccountStatus};
use crate::reconcile::conditions::Desired;
use crate::reconcile::context::Context;
use crate::reconcile::platform_errors::{error_message, error_reason};
use crate::reconcile::{finalizer, status};
use iot_platform::model::QueryProductList;

use plan::Plan;

/// The finalizer that keeps an account while products use it.
pub const ACCOUNT_FINALIZER: &str = "iot.productoperator.dev/account-in-use";
/// The finalizer that keeps an account's credentials Secret while the account exists.
pub const SECRET_FINALIZER: &str = "iot.productoperator.dev/credentials-in-use";

/// Why an account reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The status could not be written.
    #[error("a Kubernetes API call failed")]
    Kube(#[from] kube::Error),
}

/// Protects (or releases) the account's credentials Secret.
async fn protect_secret(ctx: &Context, account: &PlatformAccount, protect: bool) -> Result<(), kube::Error> {
    let source = &account.spec.credentials.secret_ref;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &source.namespace);
    let Some(secret) = api.get_opt(&source.name).await? else { return Ok(()) };
    // Another live account may use the same Secret.
    let shared = ctx.accounts.store().state().iter().any(|a| {
        a.name_any() != account.name_any()
            && a.metadata.deletion_timestamp.is_none()
            && a.spec.credentials.secret_ref.namespace == source.namespace
            && a.spec.credentials.secret_ref.name == source.name
    });
    finalizer::set(&api, &secret, SECRET_FINALIZER, protect || shared).await
}

/// Who uses the account (`namespace/name` of the IotProducts naming it), from the cache.
fn users(ctx: &Context, name: &str) -> Vec<String> {
    ctx.products
        .state()
        .iter()
        .filter(|p| p.account_name() == name)
        .map(|p| format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()))
        .collect()
}

/// Loads the credentials and checks them with a cheap read: the Ready condition.
async fn verify(ctx: &Context, account: &PlatformAccount) -> Desired {
    let handle = match ctx.accounts.reload(account).await {
        Ok(handle) => handle,
        Err(e) => return Desired::new("Ready", false, e.reason(), e.to_string()),
    };
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

/// Reconciles one `PlatformAccount`: observe (users from the cache) → plan (pure) →
/// execute (finalizers; the credential check) → report (status, written when it changed).
///
/// # Errors
/// [`Error`] when a finalizer or the status cannot be written.
#[instrument(skip_all, fields(name = %account.name_any()))]
pub async fn reconcile(account: Arc<PlatformAccount>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let name = account.name_any();
    let users = users(&ctx, &name);
    let accounts: Api<PlatformAccount> = Api::all(ctx.client.clone());
    let previous = account.status.clone().unwrap_or_default();
    let generation = account.metadata.generation;
    let now = Time(jiff::Timestamp::now());
    match plan::plan(account.metadata.deletion_timestamp.is_some(), &users) {
        Plan::Release => {
            protect_secret(&ctx, &account, false).await?;
            finalizer::set(&accounts, account.as_ref(), ACCOUNT_FINALIZER, false).await?;
            ctx.accounts.forget(&name);
            Ok(Requeue::await_change())
        }
        Plan::HoldForUsers { ready } => {
            let status = plan::held_status(&previous, ready, users.len(), generation, &now);
            write_status(&ctx, &account, &status).await?;
            Ok(Requeue::requeue(Duration::from_secs(5)))
        }
        Plan::Verify => {
            finalizer::set(&accounts, account.as_ref(), ACCOUNT_FINALIZER, true).await?;
            protect_secret(&ctx, &account, true).await?;
            let ready = verify(&ctx, &account).await;
            if let Some(status) = plan::next_status(&previous, ready, users.len(), generation, &now) {
                write_status(&ctx, &account, &status).await?;
            }
            Ok(Requeue::requeue(
                crate::crd::resync_override(&account.metadata).unwrap_or(ctx.settings.resync),
            ))
        }
    }
}

async fn write_status(
    ctx: &Context,
    account: &PlatformAccount,
    status: &PlatformAccountStatus,
) -> Result<(), kube::Error> {
    status::apply(&Api::<PlatformAccount>::all(ctx.client.clone()), &account.name_any(), status, None).await
}

/// Retries a failed account reconcile with backoff.
#[must_use]
pub fn error_policy(account: Arc<PlatformAccount>, error: &Error, ctx: Arc<Context>) -> Requeue {
    let delay = ctx.backoff.next(&account.uid().unwrap_or_default());
    tracing::warn!(name = %account.name_any(), error = %crate::reconcile::error_chain(error), retry_in_ms = delay.as_millis() as u64, "account reconcile failed");
    Requeue::requeue(delay)
}
