//! The fast path: a reconcile that brings nothing new (a resync before it is due, the
//! operator's own Secret write, the first sight of an in-sync product after a restart)
//! costs no platform call. Decided from the status, the account's readiness, the cached
//! Secret and what this process last confirmed ([`Confirmations`]).

use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use rand::Rng as _;

use super::secret;
use crate::crd::IotProduct;
use crate::reconcile::confirmations::{Confirmation, Confirmations};
use crate::reconcile::context::Context;

/// Whether the status says the product matches its current spec (and the finalizer that
/// guards its cleanup is in place).
pub fn status_in_sync(product: &IotProduct) -> bool {
    let Some(status) = &product.status else { return false };
    let holds = |t: &str| {
        status.conditions.iter().any(|c| {
            c.type_ == t && c.status == "True" && c.observed_generation == product.metadata.generation
        })
    };
    status.observed_generation == product.metadata.generation
        && product.finalizers().iter().any(|f| f == super::FINALIZER)
        && status.pending_create.is_none()
        && status.product_key.is_some()
        && holds("Ready")
        && holds("Synced")
}

/// Whether the product's account is Ready and still admits the product's namespace (a
/// broken account sends every product down the full path, so each reports it; so does an
/// account or namespace change that takes the namespace out, so the product reports
/// `AccountNotAllowed` at once, not at its next resync).
fn account_ready(ctx: &Context, product: &IotProduct) -> bool {
    let namespace = product.namespace().unwrap_or_default();
    ctx.accounts.store().get(&ObjectRef::new(&product.account_name())).is_some_and(|a| {
        let ready = a
            .status
            .as_ref()
            .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        ready && ctx.accounts.admits(&a, &namespace)
    })
}

/// The fingerprint of the product's Secret as cached, when it is there and owned.
fn cached_secret(ctx: &Context, product: &IotProduct) -> Option<u64> {
    let name = product.status.as_ref()?.secret_name.clone()?;
    let secret = ctx.secrets.get(&ObjectRef::new(&name).within(&product.namespace()?))?;
    let uid = product.uid()?;
    secret
        .owner_references()
        .iter()
        .any(|o| o.uid == uid)
        .then(|| secret::data_hash(&secret.data.clone().unwrap_or_default()))
}

/// When nothing is due: how long until the next platform check of `product`.
pub fn defer(ctx: &Context, product: &IotProduct, interval: Duration) -> Option<Duration> {
    if !status_in_sync(product)
        || !account_ready(ctx, product)
        || super::intent::unsettled(product, &ctx.intent_key).is_some()
    {
        return None;
    }
    let fingerprint = cached_secret(ctx, product)?;
    let uid = product.uid()?;
    let request = crate::crd::reconcile_request(&product.metadata);
    let now = Instant::now();
    match ctx.checked.get(&uid) {
        Some(c) if c.generation == product.metadata.generation && c.fingerprint == fingerprint => {
            if c.request == request {
                return (c.at + interval).checked_duration_since(now).filter(|d| !d.is_zero());
            }
            // A new reconcile request, and nothing else new: honoured at once, but no sooner
            // than the resync floor after the last one (writing the annotation in a loop
            // must not sidestep `--min-resync-interval`).
            request_floor(c.requested_at, ctx.settings.min_resync, now)
        }
        Some(_) => None,
        None => {
            // First sight since this process started, and the status says in sync: the
            // first platform check is spread over the resync interval instead of all
            // products being read at once.
            let delay = interval.mul_f64(rand::rng().random_range(0.05..1.0));
            let at = now.checked_sub(interval.saturating_sub(delay)).unwrap_or(now);
            let confirmation = Confirmation {
                generation: product.metadata.generation,
                request,
                fingerprint,
                at,
                requested_at: None,
            };
            ctx.checked.insert_if_absent(uid, confirmation).then_some(delay)
        }
    }
}

/// How long a new reconcile request waits: not at all the first time, else until `floor`
/// after the check that answered the last one.
#[must_use]
pub fn request_floor(last_requested: Option<Instant>, floor: Duration, now: Instant) -> Option<Duration> {
    let due = last_requested? + floor;
    due.checked_duration_since(now).filter(|d| !d.is_zero())
}

/// Records that `product` (with a Secret of fingerprint `secret`) matches the platform now.
pub fn confirm(checked: &Confirmations, product: &IotProduct, secret: u64) {
    let Some(uid) = product.uid() else { return };
    let request = crate::crd::reconcile_request(&product.metadata);
    let now = Instant::now();
    let previous = checked.get(&uid);
    // This check answered a new reconcile request when the last one confirmed another.
    let requested_at = match &previous {
        Some(p) if p.request != request => Some(now),
        Some(p) => p.requested_at,
        None => None,
    };
    let confirmation = Confirmation {
        generation: product.metadata.generation,
        request,
        fingerprint: secret,
        at: now,
        requested_at,
    };
    checked.insert(uid, confirmation);
}

/// Forgets what was confirmed about `product` (the next reconcile takes the full path).
pub fn forget(checked: &Confirmations, product: &IotProduct) {
    if let Some(uid) = product.uid() {
        checked.remove(&uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconcile_request_is_honoured_at_once_the_first_time_and_then_no_sooner_than_the_floor() {
        let now = Instant::now();
        let floor = Duration::from_secs(60);
        assert_eq!(request_floor(None, floor, now), None, "the first request: at once");
        let last = now.checked_sub(Duration::from_secs(10)).unwrap();
        assert_eq!(request_floor(Some(last), floor, now), Some(Duration::from_secs(50)));
        let long_ago = now.checked_sub(Duration::from_secs(61)).unwrap();
        assert_eq!(request_floor(Some(long_ago), floor, now), None, "past the floor: at once");
    }
}
