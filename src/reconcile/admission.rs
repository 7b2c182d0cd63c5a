//! Admission of reconciles in arrival order.
//!
//! kube-runtime's own concurrency limit keeps the objects that are due but wait for a free
//! slot in a hash set and takes them in the set's iteration order. Under sustained load —
//! more due reconciles than slots, for example a short resync interval over thousands of
//! products while the platform's read quota is the bottleneck — some objects come up again
//! and again while an unlucky one waits for ever (the soak saw products with spec changes
//! untouched for minutes). The product controllers therefore run without kube-runtime's
//! limit and every reconcile takes a slot here, where waiters are admitted first come, first
//! served (tokio's semaphore is fair). One admission is shared by all namespace scopes, so
//! `--concurrency` bounds the whole process.

use std::sync::Arc;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A bound on concurrent reconciles that admits waiters in the order they arrived.
#[derive(Debug, Clone)]
pub struct Admission {
    slots: Arc<Semaphore>,
    waiting: Gauge,
}

/// A reconcile's slot, given back when dropped.
#[derive(Debug)]
pub struct Slot(#[allow(dead_code, reason = "held for its Drop")] OwnedSemaphorePermit);

impl Admission {
    /// At most `limit` reconciles at a time; 0 means no bound. `waiting` counts the callers
    /// waiting for a slot.
    #[must_use]
    pub fn new(limit: u16, waiting: Gauge) -> Self {
        let permits = if limit == 0 { Semaphore::MAX_PERMITS } else { usize::from(limit) };
        Self { slots: Arc::new(Semaphore::new(permits)), waiting }
    }

    /// Waits for a slot; callers are served in the order they called.
    pub async fn admit(&self) -> Slot {
        let _waiting = Waiting::new(&self.waiting);
        Slot(self.slots.clone().acquire_owned().await.expect("the admission semaphore is never closed"))
    }
}

/// One waiting caller in the gauge, also when the wait is abandoned (its future dropped).
struct Waiting<'a>(&'a Gauge);

impl<'a> Waiting<'a> {
    fn new(gauge: &'a Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_are_admitted_in_arrival_order() {
        let admission = Admission::new(1, Gauge::default());
        let first = admission.admit().await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut waiters = Vec::new();
        for i in 0..20 {
            let (admission, tx) = (admission.clone(), tx.clone());
            waiters.push(tokio::spawn(async move {
                let _slot = admission.admit().await;
                tx.send(i).unwrap();
                // Hold the slot across a yield so that the next waiter must really wait.
                tokio::task::yield_now().await;
            }));
            // Each waiter is queued before the next one is spawned.
            tokio::task::yield_now().await;
        }
        drop(first);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        drop(tx);
        let mut order = Vec::new();
        while let Some(i) = rx.recv().await {
            order.push(i);
        }
        assert_eq!(order, (0..20).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_limit_of_zero_admits_everyone_at_once() {
        let admission = Admission::new(0, Gauge::default());
        let mut slots = Vec::new();
        for _ in 0..10_000 {
            slots.push(admission.admit().await);
        }
        assert_eq!(slots.len(), 10_000);
    }

    #[tokio::test]
    async fn the_limit_bounds_concurrent_slots() {
        let waiting = Gauge::default();
        let admission = Admission::new(2, waiting.clone());
        let _a = admission.admit().await;
        let b = admission.admit().await;
        assert_eq!(waiting.get(), 0);
        let third = admission.clone();
        let mut third = tokio::spawn(async move { third.admit().await });
        tokio::task::yield_now().await;
        assert!(!third.is_finished(), "a third slot is not given while two are held");
        assert_eq!(waiting.get(), 1, "the waiting caller is counted");
        drop(b);
        let _c = (&mut third).await.unwrap();
        assert_eq!(waiting.get(), 0, "the admitted caller no longer counts as waiting");
    }

    #[tokio::test]
    async fn an_abandoned_wait_is_no_longer_counted() {
        let waiting = Gauge::default();
        let admission = Admission::new(1, waiting.clone());
        let _held = admission.admit().await;
        assert!(tokio::time::timeout(std::time::Duration::ZERO, admission.admit()).await.is_err());
        assert_eq!(waiting.get(), 0);
    }
}
