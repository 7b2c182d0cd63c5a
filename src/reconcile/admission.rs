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
//!
//! A reconcile that finds no free slot does not wait inside kube-runtime: its controller's
//! [`Gate`] queues the object and ends that reconcile at once, and wakes the object again
//! (through a trigger stream of the controller) when a slot is kept for it. kube-runtime
//! polls every reconcile it holds each time any of them makes progress, so thousands of
//! reconciles waiting there made a rollout of 20 000 products spend most of the operator's
//! CPU in that polling; waiting here costs nothing while waiting.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use iot_platform::fair::{FairSemaphore, Permit};
use kube::runtime::reflector::{ObjectRef, Store};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::mpsc;

/// A bound on concurrent reconciles, fair between namespaces; shared by the controllers
/// that take their slots from it (through a [`Gate`] each).
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
    /// At most `limit` reconciles at a time; 0 means no bound. `waiting` counts the objects
    /// waiting for a slot.
    #[must_use]
    pub fn new(limit: u16, waiting: Gauge) -> Self {
        Self { slots: (limit > 0).then(|| FairSemaphore::new(usize::from(limit))), waiting }
    }
}

/// How long a slot kept for an object waits for the object's reconcile before the gate
/// looks again: it wakes the object once more, or gives the slot back if the object is gone.
const CLAIM_WITHIN: Duration = Duration::from_secs(5);

/// Whether a reconcile may run now.
#[derive(Debug)]
pub enum Entry {
    /// It holds a slot: run it, and drop the slot when done.
    Admitted(Slot),
    /// It waits for a slot outside kube-runtime: end this reconcile without a requeue; the
    /// gate wakes the object when its slot is kept.
    Deferred,
}

/// One controller's door to the [`Admission`]: objects without a slot wait here, and are
/// woken through [`Gate::new`]'s stream when a slot is kept for them.
pub struct Gate<K: kube::Resource<DynamicType = ()> + 'static> {
    admission: Admission,
    store: Store<K>,
    state: Arc<Mutex<GateState<K>>>,
    wake: mpsc::UnboundedSender<ObjectRef<K>>,
}

impl<K: kube::Resource<DynamicType = ()> + Clone + 'static> Clone for Gate<K> {
    fn clone(&self) -> Self {
        Self {
            admission: self.admission.clone(),
            store: self.store.clone(),
            state: self.state.clone(),
            wake: self.wake.clone(),
        }
    }
}

struct GateState<K: kube::Resource<DynamicType = ()>> {
    /// Objects queued in the admission.
    queued: HashSet<ObjectRef<K>>,
    /// Objects with a slot kept for them, woken but not yet reconciled; the number tells a
    /// grant from a later one for the same object.
    granted: HashMap<ObjectRef<K>, (u64, Permit)>,
    grants: u64,
}

impl<K> Gate<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// A gate to `admission` for the objects of `store`, and the stream of objects to
    /// reconcile because their slot is kept (for the controller's `reconcile_on`).
    pub fn new(
        admission: Admission,
        store: Store<K>,
    ) -> (Self, impl Stream<Item = ObjectRef<K>> + Send + 'static) {
        let (wake, mut woken) = mpsc::unbounded_channel();
        let state = GateState { queued: HashSet::new(), granted: HashMap::new(), grants: 0 };
        let gate = Self { admission, store, state: Arc::new(Mutex::new(state)), wake };
        (gate, futures::stream::poll_fn(move |cx| woken.poll_recv(cx)))
    }

    /// Lets the reconcile of `object` (in `namespace`) in, with the slot kept for it or a
    /// free one; otherwise queues it (once, however often it is triggered while it waits).
    pub fn enter(&self, object: &ObjectRef<K>, namespace: &str) -> Entry {
        let Some(slots) = &self.admission.slots else { return Entry::Admitted(Slot(None)) };
        let mut state = self.state.lock().expect("admission gate lock");
        if let Some((_, permit)) = state.granted.remove(object) {
            return Entry::Admitted(Slot(Some(permit)));
        }
        if state.queued.contains(object) {
            return Entry::Deferred;
        }
        if let Some(permit) = slots.try_acquire() {
            return Entry::Admitted(Slot(Some(permit)));
        }
        state.queued.insert(object.clone());
        drop(state);
        tokio::spawn(self.clone().wait_for_slot(slots.clone(), object.clone(), namespace.to_string()));
        Entry::Deferred
    }

    /// Waits in the admission's queue for `object`, keeps the slot for it and wakes it; if
    /// its reconcile does not come for the slot within [`CLAIM_WITHIN`], wakes it again, or
    /// gives the slot back when the object is gone.
    async fn wait_for_slot(self, slots: FairSemaphore, object: ObjectRef<K>, namespace: String) {
        let permit = {
            let _waiting = Waiting::new(&self.admission.waiting);
            slots.acquire(&namespace).await
        };
        let grant = {
            let mut state = self.state.lock().expect("admission gate lock");
            state.queued.remove(&object);
            if self.store.get(&object).is_none() {
                // Deleted while it waited: kube-runtime would not reconcile it; the slot goes on.
                return;
            }
            state.grants += 1;
            let grant = state.grants;
            state.granted.insert(object.clone(), (grant, permit));
            grant
        };
        loop {
            let woken = self.wake.send(object.clone()).is_ok();
            if woken {
                tokio::time::sleep(CLAIM_WITHIN).await;
            }
            let mut state = self.state.lock().expect("admission gate lock");
            if state.granted.get(&object).is_none_or(|(kept, _)| *kept != grant) {
                return; // its reconcile took the slot
            }
            if !woken || self.store.get(&object).is_none() {
                // The controller stopped, or the object was deleted: the slot goes back.
                state.granted.remove(&object);
                return;
            }
        }
    }
}

/// One waiting object in the gauge, also when the wait is abandoned (its future dropped).
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
    use crate::crd::IotProduct;
    use futures::StreamExt;
    use kube::runtime::reflector::store;
    use kube::runtime::watcher::Event;

    fn product(namespace: &str, name: &str) -> IotProduct {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1",
            "kind": "IotProduct",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"productName": "Lamp", "nodeType": "Device"},
        }))
        .expect("a valid product")
    }

    /// A gate over a store holding `objects` (namespace, name).
    fn gate(
        limit: u16,
        objects: &[(&str, &str)],
    ) -> (
        Gate<IotProduct>,
        impl Stream<Item = ObjectRef<IotProduct>> + Unpin,
        Gauge,
        kube::runtime::reflector::store::Writer<IotProduct>,
    ) {
        let (reader, mut writer) = store::<IotProduct>();
        writer.apply_watcher_event(&Event::Init);
        for (namespace, name) in objects {
            writer.apply_watcher_event(&Event::InitApply(product(namespace, name)));
        }
        writer.apply_watcher_event(&Event::InitDone);
        let waiting = Gauge::default();
        let (gate, woken) = Gate::new(Admission::new(limit, waiting.clone()), reader);
        (gate, Box::pin(woken), waiting, writer)
    }

    fn reference(namespace: &str, name: &str) -> ObjectRef<IotProduct> {
        ObjectRef::new(name).within(namespace)
    }

    fn admitted(entry: Entry) -> Slot {
        match entry {
            Entry::Admitted(slot) => slot,
            Entry::Deferred => panic!("expected a slot"),
        }
    }

    async fn next(woken: &mut (impl Stream<Item = ObjectRef<IotProduct>> + Unpin)) -> ObjectRef<IotProduct> {
        tokio::time::timeout(Duration::from_secs(5), woken.next())
            .await
            .expect("woken in time")
            .expect("open")
    }

    #[tokio::test]
    async fn deferred_objects_are_woken_in_arrival_order_with_their_slot_kept() {
        let names: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
        let objects: Vec<(&str, &str)> = names.iter().map(|n| ("ns", n.as_str())).collect();
        let (gate, mut woken, waiting, _writer) = gate(1, &objects);
        let mut held = Some(admitted(gate.enter(&reference("ns", "held"), "ns")));
        for name in &names {
            assert!(matches!(gate.enter(&reference("ns", name), "ns"), Entry::Deferred));
            // Each waiter is queued before the next one arrives.
            while waiting.get() < 1 + i64::try_from(names.iter().position(|n| n == name).unwrap()).unwrap() {
                tokio::task::yield_now().await;
            }
        }
        let mut order = Vec::new();
        for _ in &names {
            drop(held.take());
            let object = next(&mut woken).await;
            // Nobody else gets the kept slot.
            assert!(matches!(gate.enter(&reference("ns", "latecomer"), "ns"), Entry::Deferred));
            held = Some(admitted(gate.enter(&object, "ns")));
            order.push(object.name);
        }
        assert_eq!(order, names);
    }

    #[tokio::test]
    async fn an_object_triggered_while_it_waits_is_queued_once() {
        let (gate, mut woken, waiting, _writer) = gate(1, &[("ns", "a")]);
        let held = admitted(gate.enter(&reference("ns", "held"), "ns"));
        for _ in 0..5 {
            assert!(matches!(gate.enter(&reference("ns", "a"), "ns"), Entry::Deferred));
        }
        while waiting.get() < 1 {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        assert_eq!(waiting.get(), 1, "one wait however often it was triggered");
        drop(held);
        assert_eq!(next(&mut woken).await, reference("ns", "a"));
        let _slot = admitted(gate.enter(&reference("ns", "a"), "ns"));
    }

    #[tokio::test]
    async fn a_quiet_namespace_is_woken_between_a_noisy_namespaces_objects() {
        let noisy: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
        let mut objects: Vec<(&str, &str)> = noisy.iter().map(|n| ("noisy", n.as_str())).collect();
        objects.push(("quiet", "q"));
        let (gate, mut woken, waiting, _writer) = gate(1, &objects);
        let mut held = Some(admitted(gate.enter(&reference("noisy", "held"), "noisy")));
        for name in &noisy {
            assert!(matches!(gate.enter(&reference("noisy", name), "noisy"), Entry::Deferred));
        }
        while waiting.get() < 10 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(gate.enter(&reference("quiet", "q"), "quiet"), Entry::Deferred));
        while waiting.get() < 11 {
            tokio::task::yield_now().await;
        }
        let mut order = Vec::new();
        for _ in 0..11 {
            drop(held.take());
            let object = next(&mut woken).await;
            held = Some(admitted(gate.enter(&object, object.namespace.as_deref().unwrap())));
            order.push(object.namespace.unwrap());
        }
        assert_eq!(order.iter().position(|n| n == "quiet"), Some(1), "{order:?}");
    }

    #[tokio::test]
    async fn an_object_deleted_while_it_waits_passes_the_slot_on_at_once() {
        let (gate, mut woken, waiting, mut writer) = gate(1, &[("ns", "gone"), ("ns", "next")]);
        let held = admitted(gate.enter(&reference("ns", "held"), "ns"));
        assert!(matches!(gate.enter(&reference("ns", "gone"), "ns"), Entry::Deferred));
        assert!(matches!(gate.enter(&reference("ns", "next"), "ns"), Entry::Deferred));
        while waiting.get() < 2 {
            tokio::task::yield_now().await;
        }
        writer.apply_watcher_event(&Event::Delete(product("ns", "gone")));
        drop(held);
        // The deleted object is not woken; the next one gets the slot.
        assert_eq!(next(&mut woken).await, reference("ns", "next"));
        let _slot = admitted(gate.enter(&reference("ns", "next"), "ns"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_kept_for_an_object_deleted_after_its_wake_goes_back() {
        let (gate, mut woken, _waiting, mut writer) = gate(1, &[("ns", "gone")]);
        let held = admitted(gate.enter(&reference("ns", "held"), "ns"));
        assert!(matches!(gate.enter(&reference("ns", "gone"), "ns"), Entry::Deferred));
        tokio::task::yield_now().await;
        drop(held);
        assert_eq!(next(&mut woken).await, reference("ns", "gone"));
        writer.apply_watcher_event(&Event::Delete(product("ns", "gone")));
        // Its reconcile never comes (kube-runtime skips a deleted object): after the claim
        // time the slot is free again.
        tokio::time::sleep(CLAIM_WITHIN * 2).await;
        let _slot = admitted(gate.enter(&reference("ns", "next"), "ns"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unclaimed_slot_of_a_live_object_wakes_it_again() {
        let (gate, mut woken, _waiting, _writer) = gate(1, &[("ns", "slow")]);
        let held = admitted(gate.enter(&reference("ns", "held"), "ns"));
        assert!(matches!(gate.enter(&reference("ns", "slow"), "ns"), Entry::Deferred));
        tokio::task::yield_now().await;
        drop(held);
        assert_eq!(next(&mut woken).await, reference("ns", "slow"));
        tokio::time::sleep(CLAIM_WITHIN + Duration::from_millis(1)).await;
        assert_eq!(next(&mut woken).await, reference("ns", "slow"), "woken again");
        assert!(
            matches!(gate.enter(&reference("ns", "other"), "ns"), Entry::Deferred),
            "the slot is still kept"
        );
        let _slot = admitted(gate.enter(&reference("ns", "slow"), "ns"));
    }

    #[tokio::test]
    async fn a_limit_of_zero_admits_everyone_at_once() {
        let (gate, _woken, _waiting, _writer) = gate(0, &[]);
        let slots: Vec<Slot> =
            (0..10_000).map(|i| admitted(gate.enter(&reference("ns", &format!("p{i}")), "ns"))).collect();
        assert_eq!(slots.len(), 10_000);
    }

    #[tokio::test]
    async fn the_limit_bounds_concurrent_slots() {
        let (gate, mut woken, waiting, _writer) = gate(2, &[("ns", "c")]);
        let _a = admitted(gate.enter(&reference("ns", "a"), "ns"));
        let b = admitted(gate.enter(&reference("ns", "b"), "ns"));
        assert_eq!(waiting.get(), 0);
        assert!(
            matches!(gate.enter(&reference("ns", "c"), "ns"), Entry::Deferred),
            "no third slot while two are held"
        );
        while waiting.get() < 1 {
            tokio::task::yield_now().await;
        }
        drop(b);
        assert_eq!(next(&mut woken).await, reference("ns", "c"));
        assert_eq!(waiting.get(), 0, "the admitted object no longer counts as waiting");
        let _c = admitted(gate.enter(&reference("ns", "c"), "ns"));
    }
}
