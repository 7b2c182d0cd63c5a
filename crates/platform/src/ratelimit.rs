//! A per-account, per-operation rate limiter that starts at the platform's documented QPS
//! and adapts to its throttling replies.
//!
//! Every call waits here before it is sent, so the operator stays under the quota that
//! all users of the account share instead of being throttled into errors. The pace of each
//! operation starts at the configured share of the documented quota and follows
//! [`CubicRate`]: cut on a throttling reply (another client shares the account, or its quota
//! is lower than documented), grown back while calls succeed, up to the whole quota when the
//! operator is alone. Waiters are served fairly between tenants (the operator's namespaces):
//! each tenant with waiting calls gets the next slot in turn, and within a tenant calls go in
//! arrival order. Under a saturated quota (thousands of products resyncing in one namespace)
//! another namespace's call waits for one turn, not for the whole queue, and no call starves.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use super::adaptive::CubicRate;
use super::fair::FairSemaphore;
use super::quota;

/// The QPS used for an operation missing from the documented table.
const UNKNOWN_OPERATION_QPS: u32 = 5;

/// A pace change smaller than this share of the current rate keeps the current bucket.
const RESHAPE_THRESHOLD: f64 = 0.05;

/// The token bucket in force and the pace it was built for.
#[derive(Debug)]
struct Pace {
    curve: CubicRate,
    bucket: Arc<DefaultDirectRateLimiter>,
    bucket_rate: f64,
}

/// The limiter of one operation and the queue of its waiters.
#[derive(Debug)]
struct OperationLimiter {
    pace: Mutex<Pace>,
    /// Held by the one caller waiting for the next slot, handed on fairly between tenants
    /// (governor alone lets a newcomer take a slot a sleeping waiter was due).
    turn: FairSemaphore,
}

/// The most calls a bucket holds, as a share of the quota. The platform's quota is a number
/// of calls per second (the emulator's bucket holds one second's worth); a bucket holds one
/// second of the pace, but never more than four fifths of the quota, which leaves the rest
/// of that second for calls that arrive closer together than they were sent (at nine
/// tenths, one benchmark run in six met throttling replies, at no gain in time).
const MAX_BURST_SHARE: f64 = 0.8;

/// The burst of a bucket of `rate` requests per second under a quota of `ceiling` (at
/// least one call).
fn burst_of(rate: f64, ceiling: f64) -> NonZeroU32 {
    let calls = rate.min(ceiling * MAX_BURST_SHARE).floor();
    NonZeroU32::new((calls as u32).max(1)).expect("at least one")
}

/// A token bucket of `rate` requests per second under a quota of `ceiling`, which starts
/// with `tokens` calls available (at most its burst).
fn bucket(rate: f64, ceiling: f64, tokens: u32) -> Arc<DefaultDirectRateLimiter> {
    let rate = rate.max(0.05);
    let burst = burst_of(rate, ceiling);
    let quota =
        Quota::with_period(Duration::from_secs_f64(1.0 / rate)).expect("positive period").allow_burst(burst);
    let bucket = RateLimiter::direct(quota);
    if let Some(spent) = NonZeroU32::new(burst.get().saturating_sub(tokens)) {
        let _ = bucket.check_n(spent);
    }
    Arc::new(bucket)
}

/// Takes every call still available in `bucket` (it is being replaced) and says how many
/// there were.
fn take_remaining(bucket: &DefaultDirectRateLimiter, burst: NonZeroU32) -> u32 {
    let mut taken = 0;
    while taken < burst.get() && bucket.check().is_ok() {
        taken += 1;
    }
    taken
}

impl OperationLimiter {
    /// Starts at `qps × share`; at most `qps × max(share, 1)` (a share above one is a quota
    /// Alibaba Cloud raised).
    fn new(qps: u32, share: f64, now: f64) -> Self {
        let documented = f64::from(qps);
        let curve = CubicRate::new(documented * share, documented * share.max(1.0), now);
        let rate = curve.rate_at(now);
        Self {
            pace: Mutex::new(Pace {
                bucket: bucket(rate, curve.ceiling(), u32::MAX),
                curve,
                bucket_rate: rate,
            }),
            turn: FairSemaphore::new(1),
        }
    }

    /// The bucket for the pace at `now`: rebuilt when the pace moved enough, with the calls
    /// the old one still held (a pace growing back does not cost the burst left).
    fn bucket_at(&self, now: f64) -> Arc<DefaultDirectRateLimiter> {
        let mut pace = self.pace.lock().expect("pace lock");
        let rate = pace.curve.rate_at(now);
        if (rate - pace.bucket_rate).abs() > pace.bucket_rate * RESHAPE_THRESHOLD {
            let ceiling = pace.curve.ceiling();
            let left = take_remaining(&pace.bucket, burst_of(pace.bucket_rate, ceiling));
            pace.bucket = bucket(rate, ceiling, left);
            pace.bucket_rate = rate;
        }
        pace.bucket.clone()
    }
}

/// Rate limiters for one account, one per operation.
#[derive(Debug)]
pub struct AccountLimiter {
    limiters: HashMap<&'static str, OperationLimiter>,
    fallback: OperationLimiter,
    epoch: Instant,
}

impl AccountLimiter {
    /// Limiters starting at `share` of every documented QPS. A share below one leaves room
    /// for other users of the account until the pace has learnt it is alone; a share above
    /// one is for accounts whose quotas Alibaba Cloud has raised (and for benchmarks).
    #[must_use]
    pub fn new(share: f64) -> Self {
        let share = share.clamp(0.01, 10_000.0);
        Self {
            limiters: quota::QPS
                .iter()
                .map(|(action, qps)| (*action, OperationLimiter::new(*qps, share, 0.0)))
                .collect(),
            fallback: OperationLimiter::new(UNKNOWN_OPERATION_QPS, share, 0.0),
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    fn operation(&self, action: &str) -> &OperationLimiter {
        self.limiters.get(action).unwrap_or(&self.fallback)
    }

    /// Waits until `action` may be called by `tenant`; returns how long it waited.
    pub async fn acquire(&self, action: &str, tenant: &str) -> Duration {
        let limiter = self.operation(action);
        // Nobody waiting and a slot free: go at once.
        if let Some(_turn) = limiter.turn.try_acquire()
            && limiter.bucket_at(self.now()).check().is_ok()
        {
            return Duration::ZERO;
        }
        let start = Instant::now();
        let _turn = limiter.turn.acquire(tenant).await;
        limiter.bucket_at(self.now()).until_ready().await;
        start.elapsed()
    }

    /// Waits at most `max_wait` until `action` may be called by `tenant`: `Ok` with how long
    /// it waited, or `Err` with when room is expected (nothing taken).
    ///
    /// # Errors
    /// The expected wait, when there was no room within `max_wait`.
    pub async fn acquire_within(
        &self,
        action: &str,
        tenant: &str,
        max_wait: Duration,
    ) -> Result<Duration, Duration> {
        match tokio::time::timeout(max_wait, self.acquire(action, tenant)).await {
            Ok(waited) => Ok(waited),
            Err(_) => {
                let limiter = self.operation(action);
                let ahead = limiter.turn.waiting() as f64 + 1.0;
                let pace = self.pace(action).max(0.05);
                Err(Duration::from_secs_f64(ahead / pace))
            }
        }
    }

    /// The platform throttled a call of `action`: its pace is cut. Returns the new pace
    /// (requests per second) when it was cut.
    pub fn throttled(&self, action: &str) -> Option<f64> {
        let now = self.now();
        let mut pace = self.operation(action).pace.lock().expect("pace lock");
        if !pace.curve.throttled(now) {
            return None;
        }
        let rate = pace.curve.rate_at(now);
        // The quota is spent: the new pace starts with no calls in hand.
        pace.bucket = bucket(rate, pace.curve.ceiling(), 0);
        pace.bucket_rate = rate;
        Some(rate)
    }

    /// The pace of `action` now, in requests per second.
    #[must_use]
    pub fn pace(&self, action: &str) -> f64 {
        let now = self.now();
        self.operation(action).pace.lock().expect("pace lock").curve.rate_at(now)
    }
}

/// The limiters of every account, shared by all clients of the same account so that a
/// credential change (a new client) keeps the account's pace.
#[derive(Debug, Default)]
pub struct LimiterRegistry {
    share: Option<f64>,
    accounts: Mutex<HashMap<String, Arc<AccountLimiter>>>,
}

/// The default share of each documented QPS the operator uses.
pub const DEFAULT_QPS_SHARE: f64 = 0.9;

impl LimiterRegistry {
    /// A registry whose limiters use `share` of the documented QPS.
    #[must_use]
    pub fn new(share: f64) -> Self {
        Self { share: Some(share), accounts: Mutex::default() }
    }

    /// The limiter of `account`, created on first use.
    pub fn for_account(&self, account: &str) -> Arc<AccountLimiter> {
        let mut accounts = self.accounts.lock().expect("limiter registry lock");
        accounts
            .entry(account.to_string())
            .or_insert_with(|| Arc::new(AccountLimiter::new(self.share.unwrap_or(DEFAULT_QPS_SHARE))))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_beyond_the_burst_wait_for_the_documented_rate() {
        // CreateProductDistributeJob: 2 QPS; at full share the burst is one call.
        let limiter = AccountLimiter::new(1.0);
        assert_eq!(limiter.acquire("CreateProductDistributeJob", "").await, Duration::ZERO);
        let waited = limiter.acquire("CreateProductDistributeJob", "").await;
        assert!(waited >= Duration::from_millis(450), "waited only {waited:?}");
    }

    #[test]
    fn a_bucket_holds_a_second_of_the_pace_and_at_most_four_fifths_of_the_quota() {
        assert_eq!(burst_of(45.0, 50.0).get(), 40, "the starting pace at the 0.9 share");
        assert_eq!(burst_of(50.0, 50.0).get(), 40, "the whole quota");
        assert_eq!(burst_of(35.0, 50.0).get(), 35, "after a cut");
        assert_eq!(burst_of(2.0, 2.0).get(), 1);
        assert_eq!(burst_of(0.1, 2.0).get(), 1, "at least one call");
    }

    #[test]
    fn a_pace_growing_back_keeps_the_calls_left_in_hand() {
        // QueryProduct at 0.9 of 50 QPS: a burst of 40 calls; 10 spent, about 30 left.
        let limiter = OperationLimiter::new(50, 0.9, 0.0);
        let first = limiter.bucket_at(0.0);
        for _ in 0..10 {
            assert!(first.check().is_ok());
        }
        // Seconds later the pace has climbed to the whole quota: a new bucket (still a burst
        // of 40: never more than four fifths of the quota).
        let grown = limiter.bucket_at(5.0);
        assert!(!Arc::ptr_eq(&first, &grown), "the bucket was rebuilt");
        let left = take_remaining(&grown, burst_of(50.0, 50.0));
        assert!((30..=33).contains(&left), "{left} calls left after the reshape");
    }

    #[test]
    fn a_throttling_reply_leaves_no_calls_in_hand() {
        let limiter = AccountLimiter::new(1.0);
        assert!(limiter.throttled("QueryProduct").is_some());
        let pace = limiter.operation("QueryProduct").pace.lock().unwrap();
        assert_eq!(take_remaining(&pace.bucket, burst_of(pace.bucket_rate, pace.curve.ceiling())), 0);
    }

    #[tokio::test]
    async fn operations_have_separate_budgets() {
        let limiter = AccountLimiter::new(1.0);
        limiter.acquire("CreateProductDistributeJob", "").await;
        assert_eq!(limiter.acquire("QueryProduct", "").await, Duration::ZERO);
    }

    #[tokio::test]
    async fn waiters_are_served_in_arrival_order() {
        // QueryProduct: 50 QPS, a burst of 40. Once the burst is spent, 25 callers queue; each records when it
        // got through. Without the queue, waiters that sleep until the same instant race.
        let limiter = Arc::new(AccountLimiter::new(1.0));
        while limiter.acquire("QueryProduct", "").await == Duration::ZERO {}
        let served = Arc::new(Mutex::new(Vec::new()));
        let mut callers = Vec::new();
        for caller in 0..25 {
            let (limiter, served) = (limiter.clone(), served.clone());
            callers.push(tokio::spawn(async move {
                limiter.acquire("QueryProduct", "").await;
                served.lock().unwrap().push(caller);
            }));
            tokio::task::yield_now().await;
        }
        for caller in callers {
            caller.await.unwrap();
        }
        let served = served.lock().unwrap().clone();
        assert_eq!(served, (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn clients_of_one_account_share_its_limiter() {
        let registry = LimiterRegistry::new(0.9);
        assert!(Arc::ptr_eq(&registry.for_account("a"), &registry.for_account("a")));
        assert!(!Arc::ptr_eq(&registry.for_account("a"), &registry.for_account("b")));
    }
}
