//! Per-object failure backoff: kube-runtime's `error_policy` is not told about successes,
//! so the operator counts failures per object itself and forgets them on success.
//!
//! The delay is `min(base × 2^failures, cap)` with its upper half jittered.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng as _;

/// Failure counts by object uid.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Backoff from `base` up to `cap`.
    #[must_use]
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap, failures: Mutex::default() }
    }

    /// Records a failure of `key` and returns how long to wait, with `jitter` in 0..=1.
    pub fn next_with(&self, key: &str, jitter: f64) -> Duration {
        let mut failures = self.failures.lock().expect("backoff lock");
        let n = failures.entry(key.to_string()).or_default();
        let exponent = (*n).min(20);
        *n = n.saturating_add(1);
        let full = self.base.saturating_mul(1 << exponent).min(self.cap);
        full / 2 + full.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }

    /// Records a failure of `key` and returns how long to wait.
    pub fn next(&self, key: &str) -> Duration {
        self.next_with(key, rand::rng().random::<f64>())
    }

    /// Forgets the failures of `key` (it succeeded).
    pub fn reset(&self, key: &str) {
        self.failures.lock().expect("backoff lock").remove(key);
    }

    /// Failures recorded for `key`.
    #[must_use]
    pub fn failures(&self, key: &str) -> u32 {
        self.failures.lock().expect("backoff lock").get(key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_per_failure_up_to_the_cap_and_reset_on_success() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        let delays: Vec<Duration> = (0..6).map(|_| backoff.next_with("a", 1.0)).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10].map(Duration::from_secs));
        assert_eq!(backoff.next_with("b", 0.0), Duration::from_millis(500), "per object");
        backoff.reset("a");
        assert_eq!(backoff.failures("a"), 0);
        assert_eq!(backoff.next_with("a", 1.0), Duration::from_secs(1));
    }
}
