//! The pure decisions of a PlatformAccount: whether it may go (no product uses it), what its
//! status says, and whether the status must be written.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::platform_account::PlatformAccountStatus;
use crate::reconcile::conditions::{self, Desired, Reason};

/// How often a working account's credentials are re-checked at most (status is written no
/// more often than this when nothing changes).
pub const VERIFY_REFRESH: Duration = Duration::from_secs(3600);

/// What to do with an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Being deleted and unused: release its Secret and its finalizer.
    Release,
    /// Being deleted but still used: it stays (products' cleanup needs it) and says why.
    HoldForUsers {
        /// The Ready condition explaining it.
        ready: Desired,
    },
    /// Alive: protect it and its Secret, check the credentials.
    Verify,
}

/// Decides from whether the account is being deleted and who uses it (`namespace/name`).
#[must_use]
pub fn plan(deleting: bool, users: &[String]) -> Plan {
    match (deleting, users.is_empty()) {
        (false, _) => Plan::Verify,
        (true, true) => Plan::Release,
        (true, false) => {
            let shown: Vec<&str> = users.iter().take(5).map(String::as_str).collect();
            let message = format!(
                "the account is being deleted but {} IotProduct(s) still use it ({}{}); it stays until they \
                 are deleted, so their cleanup can still reach the platform",
                users.len(),
                shown.join(", "),
                if users.len() > 5 { ", …" } else { "" }
            );
            Plan::HoldForUsers { ready: Desired::new("Ready", false, Reason::InUse, message) }
        }
    }
}

/// The status with `ready` and the product count; `None` when nothing changed and the last
/// verification is recent (so a working account's status is not rewritten on every check).
#[must_use]
pub fn next_status(
    previous: &PlatformAccountStatus,
    ready: Desired,
    product_count: usize,
    generation: Option<i64>,
    now: &Time,
) -> Option<PlatformAccountStatus> {
    let conditions = conditions::merge(&previous.conditions, vec![ready], generation, now);
    let status = PlatformAccountStatus {
        observed_generation: generation,
        last_verified_time: previous.last_verified_time.clone(),
        product_count: Some(i64::try_from(product_count).unwrap_or(i64::MAX)),
        conditions,
    };
    let stale = previous
        .last_verified_time
        .as_ref()
        .is_none_or(|t| now.0.duration_since(t.0).as_secs() as u64 >= VERIFY_REFRESH.as_secs());
    (status != *previous || stale)
        .then(|| PlatformAccountStatus { last_verified_time: Some(now.clone()), ..status })
}

/// The status of an account held for its users: Ready false, the count, nothing else moves.
#[must_use]
pub fn held_status(
    previous: &PlatformAccountStatus,
    ready: Desired,
    product_count: usize,
    generation: Option<i64>,
    now: &Time,
) -> PlatformAccountStatus {
    PlatformAccountStatus {
        product_count: Some(i64::try_from(product_count).unwrap_or(i64::MAX)),
        conditions: conditions::merge(&previous.conditions, vec![ready], generation, now),
        ..previous.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn valid() -> Desired {
        Desired::new("Ready", true, Reason::CredentialsValid, "ok")
    }

    #[test]
    fn an_unused_account_being_deleted_is_released_and_a_used_one_held() {
        assert_eq!(plan(false, &[]), Plan::Verify);
        assert_eq!(plan(true, &[]), Plan::Release);
        let users: Vec<String> = (0..7).map(|i| format!("team/p{i}")).collect();
        let Plan::HoldForUsers { ready } = plan(true, &users) else { panic!("held") };
        assert_eq!(ready.reason, "InUse");
        assert!(ready.message.contains("7 IotProduct(s)"), "{}", ready.message);
        assert!(ready.message.contains("team/p4, …"), "only five are named: {}", ready.message);
    }

    #[test]
    fn a_verified_status_is_rewritten_only_when_it_changes_or_the_check_is_an_hour_old() {
        let first = next_status(&PlatformAccountStatus::default(), valid(), 2, Some(1), &at(1000)).unwrap();
        assert_eq!(first.last_verified_time, Some(at(1000)));
        assert_eq!(first.product_count, Some(2));
        assert_eq!(next_status(&first, valid(), 2, Some(1), &at(1060)), None, "nothing changed");
        assert!(next_status(&first, valid(), 3, Some(1), &at(1060)).is_some(), "count changed");
        assert!(next_status(&first, valid(), 2, Some(1), &at(1000 + 3600)).is_some(), "an hour old");
        let broken = Desired::new("Ready", false, Reason::AccountNotReady, "no");
        assert!(next_status(&first, broken, 2, Some(1), &at(1060)).is_some(), "condition changed");
    }
}
