//! Admission of reconciles, fair between namespaces and in arrival order within one.
//!
//! kube-runtime's own concurrency limit keeps the objects that are due but wait for a free
//! slot in a hash set and takes them in the set's iteration order. Under sustained load —
//! more due reconciles than slots, for example a short resync interval over thousands of
//! products while the platform's read quota is the bottleneck — some objects come up again
//! and again while an unlucky one waits for ever (the soak saw products with spec changes
//! untouched for minutes). The product controllers therefore run without kube-runtime's
//! limit and every reconcile takes a slot here. Waiters queue per namespace, first come,
//! first served, and a freed slot goes to the namespaces with waiters in turn, so that a
//! namespace with a thousand due products does not hold up another namespace's reconciles
//! (see [`iot_platform::fair`]). One admission is shared by all namespace scopes, so
//! `--concurrency` bounds the whole process.

use iot_platform::fair::{FairSemaphore, Permit};
use prometheus_client::metrics::gauge::Gauge;

/// A bound on concurrent reconciles, fair between namespaces.
#[derive(Debug, Clone)]
pub struct Admission {
    /// `None`: no bound.
    slots: Option<FairSemaphore>,
    waiting: Gauge,
}

/// A reconcile's slot, given back when dropped.
#[derive(Debug)]
pub struct Slot(#[allow(dead_code, reason = "held for its Drop")] Option<Permit>);

impl Admission {
    /// At most `limit` reconciles at a time; 0 means no bound. `waiting` counts the callers
    /// waiting for a slot.
    #[must_use]
    pub fn new(limit: u16, waiting: Gauge) -> Self {
        Self { slots: (limit > 0).then(|| FairSemaphore::new(usize::from(limit))), waiting }
    }

    /// Waits for a slot for a reconcile in `namespace`; namespaces take turns, and callers
    /// of one namespace are served in the order they called.
    pub async fn admit(&self, namespace: &str) -> Slot {
        let Some(slots) = &self.slots else { return Slot(None) };
        let _waiting = Waiting::new(&self.waiting);
        Slot(Some(slots.acquire(namespace).await))
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
        let first = admission.admit("ns").await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut waiters = Vec::new();
        for i in 0..20 {
            let (admission, tx) = (admission.clone(), tx.clone());
            waiters.push(tokio::spawn(async move {
                let _slot = admission.admit("ns").await;
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
            slots.push(admission.admit("ns").await);
        }
        assert_eq!(slots.len(), 10_000);
    }

    #[tokio::test]
    async fn the_limit_bounds_concurrent_slots() {
        let waiting = Gauge::default();
        let admission = Admission::new(2, waiting.clone());
        let _a = admission.admit("ns").await;
        let b = admission.admit("ns").await;
        assert_eq!(waiting.get(), 0);
        let third = admission.clone();
        let mut third = tokio::spawn(async move { third.admit("ns").await });
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
        let _held = admission.admit("ns").await;
        assert!(tokio::time::timeout(std::time::Duration::ZERO, admission.admit("ns")).await.is_err());
        assert_eq!(waiting.get(), 0);
    }
}
