//! A semaphore that is fair between tenants: waiters queue per tenant (first come, first
//! served within a tenant), and a freed permit goes to the tenants with waiters in turn
//! (round robin). One tenant with a thousand waiting callers therefore delays another
//! tenant's next caller by at most one permit's turn, not by a thousand.
//!
//! Used for the per-account, per-operation rate limiter (one permit: the next slot of the
//! quota) and for the operator's admission of reconciles (one permit per concurrent
//! reconcile), with the Kubernetes namespace as the tenant.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// A fair semaphore over tenants of type `String`.
#[derive(Debug, Clone)]
pub struct FairSemaphore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    /// Permits not handed out.
    free: usize,
    /// Waiters per tenant, oldest first.
    waiters: HashMap<String, VecDeque<oneshot::Sender<Permit>>>,
    /// Tenants with waiters, in the order they are served next.
    ring: VecDeque<String>,
}

/// A permit; dropping it hands it to the next waiter (or frees it).
#[derive(Debug)]
pub struct Permit {
    state: Option<Arc<Mutex<State>>>,
}

impl FairSemaphore {
    /// A semaphore with `permits` permits.
    #[must_use]
    pub fn new(permits: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                free: permits,
                waiters: HashMap::new(),
                ring: VecDeque::new(),
            })),
        }
    }

    /// A permit at once, when one is free and nobody waits.
    #[must_use]
    pub fn try_acquire(&self) -> Option<Permit> {
        let mut state = self.state.lock().expect("fair semaphore lock");
        if state.free > 0 && state.ring.is_empty() {
            state.free -= 1;
            return Some(Permit { state: Some(self.state.clone()) });
        }
        None
    }

    /// Waits for a permit as `tenant`.
    pub async fn acquire(&self, tenant: &str) -> Permit {
        let receiver = {
            let mut state = self.state.lock().expect("fair semaphore lock");
            if state.free > 0 && state.ring.is_empty() {
                state.free -= 1;
                return Permit { state: Some(self.state.clone()) };
            }
            let (sender, receiver) = oneshot::channel();
            let queue = state.waiters.entry(tenant.to_string()).or_default();
            queue.push_back(sender);
            if queue.len() == 1 {
                state.ring.push_back(tenant.to_string());
            }
            receiver
        };
        // A permit is only ever sent, never dropped by the sender: the channel closes only
        // with the semaphore, which this future keeps alive.
        receiver.await.expect("a queued waiter is always served")
    }

    /// How many callers wait.
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.state.lock().expect("fair semaphore lock").waiters.values().map(VecDeque::len).sum()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(shared) = self.state.take() else { return };
        loop {
            let next = {
                let mut state = shared.lock().expect("fair semaphore lock");
                let Some(tenant) = state.ring.pop_front() else {
                    state.free += 1;
                    return;
                };
                let queue = state.waiters.get_mut(&tenant).expect("a tenant in the ring has waiters");
                let sender = queue.pop_front().expect("a tenant in the ring has waiters");
                if queue.is_empty() {
                    state.waiters.remove(&tenant);
                } else {
                    state.ring.push_back(tenant);
                }
                sender
            };
            // Hand the permit on; a waiter that gave up (its receiver dropped) returns it, and
            // the next one is tried. A permit sent but never received is dropped with the
            // channel, which hands it on in turn.
            match next.send(Permit { state: Some(shared.clone()) }) {
                Ok(()) => return,
                Err(mut returned) => {
                    // Do not run this permit's Drop: this loop hands it on.
                    returned.state = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Queues `count` waiters of `tenant` behind a held permit; each records its tenant when
    /// served and gives its permit back at once.
    fn queue(
        semaphore: &FairSemaphore,
        tenant: &'static str,
        count: usize,
        served: &Arc<Mutex<Vec<&'static str>>>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..count)
            .map(|_| {
                let (semaphore, served) = (semaphore.clone(), served.clone());
                tokio::spawn(async move {
                    let _permit = semaphore.acquire(tenant).await;
                    served.lock().unwrap().push(tenant);
                })
            })
            .collect()
    }

    async fn settle(semaphore: &FairSemaphore, waiting: usize) {
        while semaphore.waiting() < waiting {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_quiet_tenant_is_served_between_a_noisy_tenants_waiters() {
        let semaphore = FairSemaphore::new(1);
        let held = semaphore.acquire("noisy").await;
        let served = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = queue(&semaphore, "noisy", 100, &served);
        settle(&semaphore, 100).await;
        tasks.extend(queue(&semaphore, "quiet", 2, &served));
        settle(&semaphore, 102).await;
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        let served = served.lock().unwrap().clone();
        let quiet: Vec<usize> =
            served.iter().enumerate().filter(|(_, t)| **t == "quiet").map(|(i, _)| i).collect();
        // Round robin: the quiet tenant's two callers come second and fourth, not after
        // the noisy tenant's hundred.
        assert_eq!(quiet, [1, 3], "{served:?}");
        assert_eq!(served.len(), 102);
    }

    #[tokio::test]
    async fn within_a_tenant_callers_are_served_in_arrival_order() {
        let semaphore = FairSemaphore::new(1);
        let held = semaphore.acquire("a").await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for caller in 0..20 {
            let (waiter, order) = (semaphore.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = waiter.acquire("a").await;
                order.lock().unwrap().push(caller);
            }));
            settle(&semaphore, caller + 1).await;
        }
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_keep_the_permit() {
        let semaphore = FairSemaphore::new(1);
        let held = semaphore.acquire("a").await;
        let abandoned = {
            let semaphore = semaphore.clone();
            tokio::spawn(async move {
                let _permit = semaphore.acquire("a").await;
            })
        };
        settle(&semaphore, 1).await;
        abandoned.abort();
        let _ = abandoned.await;
        drop(held);
        // The permit came back: the next caller gets it at once.
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), semaphore.acquire("b")).await;
        assert!(next.is_ok(), "the abandoned waiter kept the permit");
    }

    #[tokio::test]
    async fn permits_bound_how_many_hold_one_at_a_time() {
        let semaphore = FairSemaphore::new(2);
        let a = semaphore.acquire("a").await;
        let _b = semaphore.acquire("b").await;
        assert!(semaphore.try_acquire().is_none());
        drop(a);
        assert!(semaphore.try_acquire().is_some());
    }
}
