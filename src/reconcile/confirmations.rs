//! What this process last confirmed about each object, by UID, in memory: the generation,
//! the reconcile request and a fingerprint of the owned data it saw, and when. A reconciler
//! compares an object with its confirmation to skip work that brings nothing new.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// One confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The object's `metadata.generation` when confirmed.
    pub generation: Option<i64>,
    /// The reconcile request annotation when confirmed.
    pub request: Option<String>,
    /// A fingerprint of the owned data (for products: their Secret).
    pub fingerprint: u64,
    /// When (a confirmation may be back-dated to spread the first checks).
    pub at: Instant,
    /// When a check was last made for a new reconcile request (the annotation): another
    /// request is honoured no sooner than the resync floor after it.
    pub requested_at: Option<Instant>,
}

/// The confirmations of this process.
#[derive(Debug, Default)]
pub struct Confirmations(Mutex<HashMap<String, Confirmation>>);

impl Confirmations {
    /// The confirmation of `uid`.
    #[must_use]
    pub fn get(&self, uid: &str) -> Option<Confirmation> {
        self.0.lock().expect("confirmations lock").get(uid).cloned()
    }

    /// Records (or replaces) the confirmation of `uid`.
    pub fn insert(&self, uid: String, confirmation: Confirmation) {
        self.0.lock().expect("confirmations lock").insert(uid, confirmation);
    }

    /// Records `confirmation` unless `uid` has one; returns whether it was recorded.
    pub fn insert_if_absent(&self, uid: String, confirmation: Confirmation) -> bool {
        let mut map = self.0.lock().expect("confirmations lock");
        if map.contains_key(&uid) {
            return false;
        }
        map.insert(uid, confirmation);
        true
    }

    /// Forgets `uid`.
    pub fn remove(&self, uid: &str) {
        self.0.lock().expect("confirmations lock").remove(uid);
    }
}
