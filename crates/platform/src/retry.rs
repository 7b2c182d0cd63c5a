//! When to repeat a failed call, and how long to wait first.
//!
//! Only retryable classes are repeated ([`ErrorClass::is_retryable`]), a bounded number of
//! times, with capped exponential backoff and jitter. A call that is not idempotent is
//! repeated only when the platform certainly did not execute it (throttled at the gateway,
//! or the connection was never made): otherwise the caller must look first (for example a
//! product by its unique name) instead of creating a duplicate.
//!
//! No I/O happens here; jitter comes in as a number so tests can pin it.

use std::time::Duration;

use super::error::{ErrorClass, PlatformError};

/// Retry settings of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt (before jitter).
    pub base: Duration,
    /// The longest backoff.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 4, base: Duration::from_millis(200), cap: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// Whether to repeat after `error` on attempt number `attempt` (1-based).
    #[must_use]
    pub fn should_retry(&self, error: &PlatformError, idempotent: bool, attempt: u32) -> bool {
        if attempt >= self.max_attempts || !error.class().is_retryable() {
            return false;
        }
        idempotent || error.class() == ErrorClass::Throttled || !error.is_ambiguous()
    }

    /// The wait before attempt `attempt + 1`: `min(cap, base × 2^(attempt-1))`, of which the
    /// upper half is scaled by `jitter` (0.0 ..= 1.0), so waits spread but never collapse to
    /// zero. A `hint` from the platform (a retry-after) is honoured when longer.
    #[must_use]
    pub fn backoff(&self, attempt: u32, jitter: f64, hint: Option<Duration>) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let full = self.base.saturating_mul(1 << exponent).min(self.cap);
        let wait = full / 2 + full.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        match hint {
            Some(hint) if hint > wait => hint.min(self.cap.saturating_mul(4)),
            _ => wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, class: ErrorClass, status: u16) -> PlatformError {
        PlatformError::Api {
            action: "CreateProduct",
            code: code.into(),
            message: String::new(),
            request_id: "r".into(),
            http_status: status,
            class,
        }
    }

    #[test]
    fn throttling_is_retried_even_for_creates_because_nothing_was_executed() {
        let policy = RetryPolicy::default();
        assert!(policy.should_retry(&api("Throttling.User", ErrorClass::Throttled, 429), false, 1));
    }

    #[test]
    fn an_ambiguous_failure_of_a_create_is_not_repeated_blindly() {
        let policy = RetryPolicy::default();
        let lost =
            PlatformError::Transport { action: "CreateProduct", message: "reset".into(), ambiguous: true };
        assert!(!policy.should_retry(&lost, false, 1));
        assert!(policy.should_retry(&lost, true, 1), "a read may be repeated");
        let refused =
            PlatformError::Transport { action: "CreateProduct", message: "refused".into(), ambiguous: false };
        assert!(policy.should_retry(&refused, false, 1));
        assert!(!policy.should_retry(&api("InternalError", ErrorClass::Transient, 500), false, 1));
        // The platform may have made the change before its system failed.
        assert!(!policy.should_retry(
            &api("iot.system.SystemException", ErrorClass::Transient, 200),
            false,
            1
        ));
        assert!(policy.should_retry(&api("iot.system.SystemException", ErrorClass::Transient, 200), true, 1));
        // A gateway refusal came before anything was executed.
        assert!(policy.should_retry(&api("SignatureNonceUsed", ErrorClass::Transient, 400), false, 1));
    }

    #[test]
    fn attempts_are_bounded_and_terminal_classes_are_not_retried() {
        let policy = RetryPolicy::default();
        let throttled = api("Throttling.User", ErrorClass::Throttled, 429);
        assert!(policy.should_retry(&throttled, true, 3));
        assert!(!policy.should_retry(&throttled, true, 4));
        assert!(!policy.should_retry(&api("iot.prod.NotExistedProduct", ErrorClass::NotFound, 200), true, 1));
        assert!(!policy.should_retry(&api("SignatureDoesNotMatch", ErrorClass::Auth, 400), true, 1));
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, 0.0, None), Duration::from_millis(100));
        assert_eq!(policy.backoff(1, 1.0, None), Duration::from_millis(200));
        assert_eq!(policy.backoff(2, 1.0, None), Duration::from_millis(400));
        assert_eq!(policy.backoff(30, 1.0, None), Duration::from_secs(5));
        assert_eq!(policy.backoff(1, 0.0, Some(Duration::from_secs(2))), Duration::from_secs(2));
    }
}
