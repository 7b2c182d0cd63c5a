//! Adaptive pacing: how fast one operation's calls may go, learnt from the platform's
//! throttling replies — the CUBIC rule of the AWS SDKs' adaptive retry mode.
//!
//! A throttling reply means the account's quota for the operation is spent: another client
//! shares the account, or the quota is lower than documented. The rate is cut to
//! [`BETA`] of what it was. Then it grows back with time along a cubic curve: fast at first,
//! flat near the rate that was throttled (where the quota probably is), then probing beyond
//! it, so a competitor that leaves is noticed. It never goes above the ceiling (the
//! documented quota, or the raised one) nor below the floor. At the start the curve runs from
//! the configured share up to the ceiling, so an operator alone on its account soon uses the
//! whole quota.
//!
//! Pure: time comes in as seconds since any fixed instant.

/// The share of the rate kept after a throttling reply.
pub const BETA: f64 = 0.7;
/// The cubic curve's scale (requests per second per second cubed), as in CUBIC.
pub const SCALE: f64 = 0.4;
/// Throttling replies within this many seconds of a cut are answers to calls sent before
/// it: they do not cut again.
pub const SETTLE_SECONDS: f64 = 0.2;

/// The pace of one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct CubicRate {
    floor: f64,
    ceiling: f64,
    /// The rate the curve returns to (the rate at the last cut; at the start, the ceiling).
    target: f64,
    /// The rate right after the last cut (at the start, the starting rate).
    cut_to: f64,
    /// When the curve started: the last cut, or the start.
    cut_at: f64,
    /// When the last cut happened, if one did.
    last_cut: Option<f64>,
}

impl CubicRate {
    /// A pace starting at `start` requests per second at time `now`, at most `ceiling`.
    #[must_use]
    pub fn new(start: f64, ceiling: f64, now: f64) -> Self {
        let ceiling = ceiling.max(0.1);
        let floor = (ceiling * 0.05).clamp(0.05, 0.5);
        Self {
            floor,
            ceiling,
            target: ceiling,
            cut_to: start.clamp(floor, ceiling),
            cut_at: now,
            last_cut: None,
        }
    }

    /// The rate allowed at `now`.
    #[must_use]
    pub fn rate_at(&self, now: f64) -> f64 {
        let k = ((self.target - self.cut_to).max(0.0) / SCALE).cbrt();
        let t = (now - self.cut_at).max(0.0);
        (SCALE * (t - k).powi(3) + self.target).clamp(self.floor, self.ceiling)
    }

    /// A throttling reply arrived at `now`: the rate is cut (unless a cut just happened).
    /// Returns whether it was.
    pub fn throttled(&mut self, now: f64) -> bool {
        if self.last_cut.is_some_and(|at| now - at < SETTLE_SECONDS) {
            return false;
        }
        let current = self.rate_at(now);
        self.target = current;
        self.cut_to = (current * BETA).max(self.floor);
        self.cut_at = now;
        self.last_cut = Some(now);
        true
    }

    /// The highest rate allowed.
    #[must_use]
    pub fn ceiling(&self) -> f64 {
        self.ceiling
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn alone_the_pace_climbs_from_the_share_to_the_whole_quota() {
        let pace = CubicRate::new(45.0, 50.0, 0.0);
        assert!(close(pace.rate_at(0.0), 45.0));
        let k = (5.0_f64 / SCALE).cbrt();
        assert!(close(pace.rate_at(k), 50.0));
        assert!(close(pace.rate_at(k + 100.0), 50.0), "never above the ceiling");
        let mut previous = 0.0;
        for step in 0..40 {
            let rate = pace.rate_at(f64::from(step) * 0.1);
            assert!(rate >= previous, "it only climbs");
            previous = rate;
        }
    }

    #[test]
    fn a_throttling_reply_cuts_the_rate_and_it_recovers_to_where_it_was() {
        let mut pace = CubicRate::new(50.0, 50.0, 0.0);
        assert!(pace.throttled(10.0));
        assert!(close(pace.rate_at(10.0), 35.0));
        let k = (15.0_f64 / SCALE).cbrt();
        assert!(close(pace.rate_at(10.0 + k), 50.0));
        // Halfway back it is nearer the old rate than the cut one (concave growth).
        assert!(pace.rate_at(10.0 + k / 2.0) > 42.5);
    }

    #[test]
    fn replies_to_calls_sent_before_a_cut_do_not_cut_again() {
        let mut pace = CubicRate::new(50.0, 50.0, 0.0);
        assert!(pace.throttled(10.0));
        assert!(!pace.throttled(10.1));
        assert!(pace.rate_at(10.1) < 40.0, "not cut again, and not yet back: {}", pace.rate_at(10.1));
        let before = pace.rate_at(10.3);
        assert!(pace.throttled(10.3), "a later reply cuts again");
        assert!(close(pace.rate_at(10.3), before * BETA));
    }

    #[test]
    fn repeated_cuts_stop_at_the_floor() {
        let mut pace = CubicRate::new(2.0, 2.0, 0.0);
        for i in 1..50 {
            pace.throttled(f64::from(i));
        }
        assert!(pace.rate_at(49.0) >= 0.1 - 1e-9, "{}", pace.rate_at(49.0));
    }
}
