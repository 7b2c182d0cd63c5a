//! The `PlatformAccount` reconciler: loads the credentials from the referenced Secret,
//! checks them with a cheap read, and reports whether the account works. It runs again
//! whenever the account or its Secret changes, so rotated credentials are picked up without
//! a restart.
//!
//! An account in use is protected: it carries a finalizer, so deleting it while IotProducts
//! use it only marks it for deletion; it goes once no product uses it (every product's own
//! cleanup can still reach the platform meanwhile). The credentials Secret is the user's:
//! the operator puts nothing on it (earlier versions put a finalizer there; it is removed).
//!
//! - [`plan`]: the account's pure decision.
//! - [`source`]: where its credentials come from (shared with `plan` and `import`).

pub mod plan;
pub mod source;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use tracing::instrument;

use crate::crd::platform_account::{PlatformAccount, PlatformAccountStatus};
use crate::reconcile::conditions::{Desired, Reason};
use crate::reconcile::context::Context;
use crate::reconcile::platform_errors::{error_message, error_reason};
use crate::reconcile::{finalizer, status};
use iot_platform::model::QueryProductList;

use plan::Plan;

/// The finalizer that keeps an account while products use it.
pub const ACCOUNT_FINALIZER: &str = "iot.productoperator.dev/account-in-use";
/// The finalizer earlier versions put on credentials Secrets; removed where found.
pub const LEGACY_SECRET_FINALIZER: &str = "iot.productoperator.dev/credentials-in-use";

/// Why an account reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The status could not be written.
    #[error("a Kubernetes API call failed")]
    Kube(#[from] kube::Error),
}

impl crate::reconcile::failure::ReconcileError for Error {
    fn category(&self) -> &'static str {
        "KubernetesApi"
    }

    fn needs_person(&self) -> bool {
        false
    }
}

/// Removes the finalizer earlier versions put on the account's credentials Secret: the
/// operator marks no Secret it does not own. A failure is logged, not fatal (the operator
/// may no longer have the right to change that Secret).
async fn release_secret(ctx: &Context, account: &PlatformAccount) {
    let Some(source) = account.spec.credentials.secret() else { return };
    let namespace = ctx.accounts.credentials_namespace();
    if source.namespace.as_deref().is_some_and(|ns| ns != namespace) {
        return;
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let released = match api.get_opt(&source.name).await {
        Ok(Some(secret)) => finalizer::set(&api, &secret, LEGACY_SECRET_FINALIZER, false).await,
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(error) = released {
        tracing::warn!(%error, "cannot remove an earlier version's finalizer from the credentials Secret");
    }
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
            Reason::CredentialsValid,
            format!(
                "the platform accepted the credentials (region {}, endpoint {})",
                handle.region, handle.endpoints.regional.base_url
            ),
        ),
        // No usable credentials (STS refused or unreachable, the token file unreadable):
        // the reason says which, the message what STS answered and what to do.
        Err(e @ iot_platform::PlatformError::Credentials { reason, .. }) => {
            // The platform crate names the reason; every one it uses is in the list.
            Desired::new(
                "Ready",
                false,
                Reason::parse(reason).unwrap_or(Reason::CredentialsUnreadable),
                e.to_string(),
            )
        }
        Err(e) => Desired::new("Ready", false, error_reason(&e), error_message(&e)),
    }
}

/// How soon an account whose credentials could not be renewed is checked again (renewal
/// retries on its own; this brings the Ready condition along).
const RENEWAL_RECHECK: Duration = Duration::from_secs(30);

/// An Event when the account's readiness changes (credentials accepted, or why not).
async fn announce(
    ctx: &Context,
    account: &PlatformAccount,
    previous: &PlatformAccountStatus,
    ready: &Desired,
) {
    let before = previous.conditions.iter().find(|c| c.type_ == "Ready");
    if before.is_some_and(|c| (c.status == "True") == ready.status && c.reason == ready.reason) {
        return;
    }
    let type_ = if ready.status { EventType::Normal } else { EventType::Warning };
    let event = Event {
        type_,
        reason: ready.reason.clone(),
        note: Some(ready.message.clone()),
        action: "VerifyCredentials".into(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &account.object_ref(&())).await {
        tracing::warn!(%error, "cannot publish an event");
    }
}

/// Reconciles one `PlatformAccount`: observe (users from the cache) → plan (pure) →
/// execute (finalizers; the credential check) → report (status, written when it changed).
///
/// # Errors
/// [`Error`] when a finalizer or the status cannot be written.
#[instrument(skip_all, fields(resource = %account.name_any()))]
pub async fn reconcile(account: Arc<PlatformAccount>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let name = account.name_any();
    let users = users(&ctx, &name);
    let accounts: Api<PlatformAccount> = Api::all(ctx.client.clone());
    let previous = account.status.clone().unwrap_or_default();
    let generation = account.metadata.generation;
    let now = Time(jiff::Timestamp::now());
    match plan::plan(account.metadata.deletion_timestamp.is_some(), &users) {
        Plan::Release => {
            release_secret(&ctx, &account).await;
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
            release_secret(&ctx, &account).await;
            let ready = verify(&ctx, &account).await;
            announce(&ctx, &account, &previous, &ready).await;
            let renewal_failed = !ready.status
                && matches!(
                    ready.reason.as_str(),
                    "AssumeRoleRefused" | "StsUnavailable" | "OidcTokenUnreadable"
                );
            if let Some(status) = plan::next_status(&previous, ready, users.len(), generation, &now) {
                write_status(&ctx, &account, &status).await?;
            }
            let resync = ctx.settings.resync_for(&account.metadata, ctx.settings.resync);
            Ok(Requeue::requeue(if renewal_failed { resync.min(RENEWAL_RECHECK) } else { resync }))
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
    let backoff = ctx.backoff.next(&account.uid().unwrap_or_default());
    Requeue::requeue(crate::reconcile::failure::retry_after(
        "PlatformAccount",
        "",
        &account.name_any(),
        error,
        backoff,
    ))
}
