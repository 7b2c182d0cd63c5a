//! Fault injection: what the emulator does wrong on purpose, configurable at start and at
//! run time (`PUT /_emulator/faults`).
//!
//! Decisions draw from a seeded random generator, so a test run is repeatable.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The faults in force. Maps are keyed by action; the key `*` applies to every action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Probability (0–1) that a call fails with a server error before it is executed.
    pub error_rate: BTreeMap<String, f64>,
    /// Fail exactly the next N calls of an action (before execution).
    pub fail_next: BTreeMap<String, u32>,
    /// Let this many more calls of an action pass, then fail every later one (until the
    /// faults are replaced): "the platform breaks after N calls".
    pub fail_after: BTreeMap<String, u32>,
    /// Which server error injected failures use: `InternalError` (HTTP 500),
    /// `ServiceUnavailable` (503) or `SystemException` (HTTP 200, `iot.system.SystemException`).
    pub error_kind: ErrorKind,
    /// Latency added to every call, milliseconds.
    pub latency_ms: u64,
    /// Probability (0–1) that a call is executed and then its response lost (the
    /// connection is closed without an answer).
    pub lose_response_rate: BTreeMap<String, f64>,
    /// Execute and then lose the response of exactly the next N calls of an action.
    pub lose_next: BTreeMap<String, u32>,
    /// Probability (0–1) that a call is executed and then answered with a server error
    /// (`error_kind`): the change is made, the answer says it failed.
    pub commit_then_fail_rate: BTreeMap<String, f64>,
    /// Execute and then answer a server error for exactly the next N calls of an action.
    pub commit_then_fail_next: BTreeMap<String, u32>,
    /// Throttle every call of these actions (`*` for all) until this time, epoch ms: a
    /// throttling storm.
    pub throttle_until_ms: Option<i64>,
    /// The actions the storm applies to (empty: all).
    pub throttle_actions: Vec<String>,
    /// Probability (0–1) that a new distribution job ends interrupted.
    pub distribution_failure_rate: f64,
    /// Make exactly the next N distribution jobs end interrupted.
    pub fail_next_distributions: u32,
}

/// The kind of injected server error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// HTTP 500 `InternalError`.
    #[default]
    InternalError,
    /// HTTP 503 `ServiceUnavailable`.
    ServiceUnavailable,
    /// HTTP 200 `iot.system.SystemException`.
    SystemException,
}

/// What the faults decided for one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decision {
    /// Refuse with a throttling error.
    pub throttle: bool,
    /// Fail with a server error (not executed).
    pub error: Option<ErrorKind>,
    /// Execute, then drop the connection.
    pub lose_response: bool,
    /// Execute, then answer this server error.
    pub fail_after_commit: Option<ErrorKind>,
    /// A distribution job created by this call ends interrupted.
    pub fail_distribution: bool,
}

/// Faults plus the random generator that draws from them.
#[derive(Debug)]
pub struct FaultInjector {
    faults: Faults,
    rng: StdRng,
}

fn take(counters: &mut BTreeMap<String, u32>, action: &str) -> bool {
    for key in [action, "*"] {
        if let Some(n) = counters.get_mut(key)
            && *n > 0
        {
            *n -= 1;
            return true;
        }
    }
    false
}

fn rate(rates: &BTreeMap<String, f64>, action: &str) -> f64 {
    rates.get(action).or_else(|| rates.get("*")).copied().unwrap_or(0.0).clamp(0.0, 1.0)
}

impl FaultInjector {
    /// An injector with `faults` and a seed.
    #[must_use]
    pub fn new(faults: Faults, seed: u64) -> Self {
        Self { faults, rng: StdRng::seed_from_u64(seed) }
    }

    /// The faults in force.
    #[must_use]
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replaces the faults.
    pub fn set(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Decides the faults of one call of `action` at `now_ms`.
    pub fn decide(&mut self, action: &str, now_ms: i64) -> Decision {
        let storm = self.faults.throttle_until_ms.is_some_and(|until| now_ms < until)
            && (self.faults.throttle_actions.is_empty()
                || self.faults.throttle_actions.iter().any(|a| a == action || a == "*"));
        if storm {
            return Decision { throttle: true, ..Decision::default() };
        }
        let error_rate = rate(&self.faults.error_rate, action);
        let broken = match self.faults.fail_after.get_mut(action) {
            Some(0) => true,
            Some(n) => {
                *n -= 1;
                false
            }
            None => false,
        };
        let error = broken || take(&mut self.faults.fail_next, action) || self.rng.random_bool(error_rate);
        if error {
            return Decision { error: Some(self.faults.error_kind), ..Decision::default() };
        }
        let lose_rate = rate(&self.faults.lose_response_rate, action);
        let lose_response = take(&mut self.faults.lose_next, action) || self.rng.random_bool(lose_rate);
        let fail_distribution = action == "CreateProductDistributeJob"
            && (self.faults.fail_next_distributions > 0
                || self.rng.random_bool(self.faults.distribution_failure_rate.clamp(0.0, 1.0)));
        if fail_distribution && self.faults.fail_next_distributions > 0 {
            self.faults.fail_next_distributions -= 1;
        }
        let fail_after_commit = (!lose_response
            && (take(&mut self.faults.commit_then_fail_next, action)
                || self.rng.random_bool(rate(&self.faults.commit_then_fail_rate, action))))
        .then_some(self.faults.error_kind);
        Decision { throttle: false, error: None, lose_response, fail_after_commit, fail_distribution }
    }

    /// The added latency.
    #[must_use]
    pub fn latency_ms(&self) -> u64 {
        self.faults.latency_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_fire_exactly_n_times() {
        let mut faults = Faults::default();
        faults.lose_next.insert("CreateProduct".into(), 1);
        faults.fail_next.insert("*".into(), 2);
        let mut injector = FaultInjector::new(faults, 1);
        assert!(injector.decide("QueryProduct", 0).error.is_some());
        assert!(injector.decide("CreateProduct", 0).error.is_some());
        let third = injector.decide("CreateProduct", 0);
        assert!(third.error.is_none() && third.lose_response);
        assert_eq!(injector.decide("CreateProduct", 0), Decision::default());
    }

    #[test]
    fn fail_after_lets_n_calls_pass_then_fails_the_rest() {
        let faults = Faults { fail_after: [("QueryProduct".to_string(), 2)].into(), ..Faults::default() };
        let mut injector = FaultInjector::new(faults, 1);
        let errors: Vec<bool> = (0..4).map(|_| injector.decide("QueryProduct", 0).error.is_some()).collect();
        assert_eq!(errors, [false, false, true, true]);
    }

    #[test]
    fn a_throttling_storm_ends_at_its_time() {
        let faults = Faults {
            throttle_until_ms: Some(100),
            throttle_actions: vec!["QueryProduct".into()],
            ..Faults::default()
        };
        let mut injector = FaultInjector::new(faults, 1);
        assert!(injector.decide("QueryProduct", 50).throttle);
        assert!(!injector.decide("CreateProduct", 50).throttle);
        assert!(!injector.decide("QueryProduct", 100).throttle);
    }

    #[test]
    fn rates_draw_from_a_seeded_generator() {
        let faults = Faults { error_rate: [("*".to_string(), 0.5)].into(), ..Faults::default() };
        let draws = |seed| {
            let mut injector = FaultInjector::new(faults.clone(), seed);
            (0..64).map(|_| injector.decide("QueryProduct", 0).error.is_some()).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        let hits = draws(7).iter().filter(|h| **h).count();
        assert!((16..=48).contains(&hits), "{hits}");
    }
}
