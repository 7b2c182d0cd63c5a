//! One error policy for every controller: what a failed reconcile waits before its retry.
//!
//! Each controller's error says two things through [`ReconcileError`]: a bounded category
//! (for metrics and logs) and whether a person must act before a retry can succeed. A
//! failure nobody needs to act on is retried on the object's exponential backoff alone; one
//! that needs a person waits at least [`NEEDS_PERSON_FLOOR`] (the change that fixes it — a spec
//! edit, an account change — wakes the object at once anyway, so a retry sooner only spends
//! quota on the same refusal).

use std::time::Duration;

use iot_platform::{ErrorClass, PlatformError};

use super::account_clients::AccountError;

/// The least a failure that needs a person waits before its retry.
pub const NEEDS_PERSON_FLOOR: Duration = Duration::from_secs(60);

/// What the error policy needs to know of a reconcile's error.
pub trait ReconcileError: std::error::Error + 'static {
    /// A bounded PascalCase category for metrics and logs.
    fn category(&self) -> &'static str;
    /// Whether a person must act before a retry can succeed.
    fn needs_person(&self) -> bool;
}

/// Whether a platform failure needs a person: the platform refused the request as invalid,
/// the credentials, or a quota of the account.
#[must_use]
pub fn platform_needs_person(error: &PlatformError) -> bool {
    matches!(error.class(), ErrorClass::Invalid | ErrorClass::Auth | ErrorClass::Quota)
}

/// Whether an account failure needs a person (all but failing to read it from the API server).
#[must_use]
pub fn account_needs_person(error: &AccountError) -> bool {
    !matches!(error, AccountError::ReadAccount { .. })
}

/// The wait before the retry of a reconcile that failed with `error`, whose backoff says
/// `backoff` (logged with the object's `kind`, namespace and name).
#[must_use]
pub fn retry_after(
    kind: &str,
    namespace: &str,
    name: &str,
    error: &impl ReconcileError,
    backoff: Duration,
) -> Duration {
    let wait = if error.needs_person() { backoff.max(NEEDS_PERSON_FLOOR) } else { backoff };
    tracing::warn!(kind, namespace, resource = name, category = error.category(),
        error = %super::error_chain(error), retry_in_ms = wait.as_millis() as u64, "reconcile failed");
    wait
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("e")]
    struct E(bool);

    impl ReconcileError for E {
        fn category(&self) -> &'static str {
            "E"
        }
        fn needs_person(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn only_failures_that_need_a_person_wait_the_floor() {
        let backoff = Duration::from_secs(2);
        assert_eq!(retry_after("K", "ns", "n", &E(false), backoff), backoff);
        assert_eq!(retry_after("K", "ns", "n", &E(true), backoff), NEEDS_PERSON_FLOOR);
        let long = Duration::from_secs(300);
        assert_eq!(retry_after("K", "ns", "n", &E(true), long), long, "the backoff still grows past it");
    }
}
