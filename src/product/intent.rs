//! The create intent: written before CreateProduct is sent, so a crash before the key reaches
//! the status never makes a duplicate or loses the product (the next reconcile finds it by
//! the intent's name and time, see [`super::claim`]).
//!
//! The intent is an annotation, written in the same patch that adds the finalizer: one
//! Kubernetes write where a status write of its own would be a second (a product that
//! reconciles in one pass costs the user's create, this patch, the Secret, the status and
//! one Event). Whoever may edit the resource may edit its annotations, so the intent is
//! signed (HMAC-SHA256 with the operator's [`IntentKey`], over the resource's UID and the
//! intent): a tenant cannot forge one to claim a product made outside Kubernetes, nor copy
//! one from another resource. An intent the key does not verify is ignored.
//!
//! An intent stays on the resource after it was settled: the status records the id of the
//! last intent it accounts for (`status.settledIntent`), and its outcome (a key, or attempts
//! still pending in `status.pendingCreate`). An intent whose id the status does not name is
//! *unsettled*: the operator stopped between the patch and the status write.
//!
//! Pure: no I/O.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use kube::ResourceExt;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::crd::IotProduct;
use crate::crd::product::PendingCreate;

/// The annotation that carries a signed create intent.
pub const ANNOTATION: &str = "iot.productoperator.dev/create-intent";

/// The operator's key for signing create intents (32 random bytes, kept in a Secret in the
/// operator's namespace so every replica and restart verifies what another signed).
#[derive(Clone, PartialEq, Eq)]
pub struct IntentKey([u8; 32]);

impl fmt::Debug for IntentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IntentKey(redacted)")
    }
}

impl IntentKey {
    /// A new random key.
    #[must_use]
    pub fn random() -> Self {
        Self(rand::rng().random())
    }

    /// The key stored as `bytes`; `None` unless exactly 32 bytes.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The key's bytes (to store it).
    #[must_use]
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn mac(&self, uid: &str, id: &str, intent: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        // Length-prefixed, so no two (uid, id, intent) triples sign the same bytes.
        for part in [uid, id, intent] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// The annotation value of `intent` for the resource `uid`, under the new id `id`.
    #[must_use]
    pub fn sign(&self, uid: &str, id: &str, intent: &PendingCreate) -> String {
        let intent = serde_json::to_string(intent).expect("a PendingCreate serializes");
        let mac = hex::encode(self.mac(uid, id, &intent).finalize().into_bytes());
        serde_json::to_string(&Signed { id: id.to_string(), intent, mac })
            .expect("a signed intent serializes")
    }

    /// The intent in `value` when this key signed it for the resource `uid`.
    #[must_use]
    pub fn verify(&self, uid: &str, value: &str) -> Option<Intent> {
        let signed: Signed = serde_json::from_str(value).ok()?;
        let mac = hex::decode(&signed.mac).ok()?;
        self.mac(uid, &signed.id, &signed.intent).verify_slice(&mac).ok()?;
        let pending = serde_json::from_str(&signed.intent).ok()?;
        Some(Intent { id: signed.id, pending })
    }
}

/// The annotation's form: the intent as the exact JSON text that was signed.
#[derive(Serialize, Deserialize)]
struct Signed {
    id: String,
    intent: String,
    mac: String,
}

/// A verified create intent.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// Its id (`status.settledIntent` names it once a status accounts for it).
    pub id: String,
    /// The create it announced.
    pub pending: PendingCreate,
}

/// A new intent id: unique per write (a timestamp alone could repeat within a second).
#[must_use]
pub fn new_id() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

/// The intent on `product` that its status does not account for yet, when `key` verifies it.
#[must_use]
pub fn unsettled(product: &IotProduct, key: &IntentKey) -> Option<Intent> {
    let value = product.annotations().get(ANNOTATION)?;
    // The common case (the intent a status already settled) needs no signature check: an
    // annotation naming the settled id is not pending, whoever wrote it.
    let settled = product.status.as_ref().and_then(|s| s.settled_intent.as_deref());
    let named: Signed = serde_json::from_str(value).ok()?;
    if settled == Some(named.id.as_str()) {
        return None;
    }
    key.verify(&product.uid()?, value)
}

/// The create in flight for `product`: an unsettled intent (built from the status's record
/// and one more attempt, so it holds every attempt), else the one its status records.
#[must_use]
pub fn pending_create(product: &IotProduct, key: &IntentKey) -> Option<PendingCreate> {
    pending_given(product, unsettled(product, key))
}

/// [`pending_create`] with the unsettled intent already read.
#[must_use]
pub fn pending_given(product: &IotProduct, unsettled: Option<Intent>) -> Option<PendingCreate> {
    unsettled.map(|i| i.pending).or_else(|| product.status.as_ref().and_then(|s| s.pending_create.clone()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::crd::product::{CreateAttempt, IotProductStatus};

    fn intent() -> PendingCreate {
        PendingCreate {
            product_name: "Lamp".into(),
            instance_id: Some("iot-1".into()),
            since: Time(jiff::Timestamp::from_second(1_800_000_000).unwrap()),
            attempts: vec![CreateAttempt {
                sent: super::super::claim::micro_time(1_800_000_000_000),
                answered: None,
            }],
        }
    }

    fn product(uid: &str, annotation: Option<String>, status: Option<IotProductStatus>) -> IotProduct {
        let mut product: IotProduct = serde_json::from_value(serde_json::json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1",
            "kind": "IotProduct",
            "metadata": {"name": "lamp", "namespace": "a", "uid": uid},
            "spec": {"productName": "Lamp", "nodeType": "Device"},
        }))
        .unwrap();
        product.metadata.annotations = annotation.map(|v| BTreeMap::from([(ANNOTATION.to_string(), v)]));
        product.status = status;
        product
    }

    #[test]
    fn a_signed_intent_is_read_back_for_its_resource_only() {
        let key = IntentKey::random();
        let value = key.sign("uid-1", "id-1", &intent());
        assert_eq!(key.verify("uid-1", &value), Some(Intent { id: "id-1".into(), pending: intent() }));
        assert_eq!(key.verify("uid-2", &value), None, "copied to another resource");
        assert_eq!(IntentKey::random().verify("uid-1", &value), None, "another operator's key");
    }

    #[test]
    fn an_edited_or_forged_intent_is_ignored() {
        let key = IntentKey::random();
        let value = key.sign("uid-1", "id-1", &intent());
        let mut signed: Signed = serde_json::from_str(&value).unwrap();
        signed.intent = signed.intent.replace("Lamp", "Other");
        assert_eq!(key.verify("uid-1", &serde_json::to_string(&signed).unwrap()), None, "intent edited");
        let mut signed: Signed = serde_json::from_str(&value).unwrap();
        signed.id = "id-2".into();
        assert_eq!(key.verify("uid-1", &serde_json::to_string(&signed).unwrap()), None, "id edited");
        let forged = Signed {
            id: "x".into(),
            intent: serde_json::to_string(&intent()).unwrap(),
            mac: "00".repeat(32),
        };
        assert_eq!(key.verify("uid-1", &serde_json::to_string(&forged).unwrap()), None, "no key");
        assert_eq!(key.verify("uid-1", "not json"), None);
    }

    #[test]
    fn an_intent_is_pending_until_a_status_settles_it() {
        let key = IntentKey::random();
        let value = key.sign("uid-1", "id-1", &intent());
        let unsettled_product = product("uid-1", Some(value.clone()), None);
        assert_eq!(pending_create(&unsettled_product, &key), Some(intent()));
        let settled = IotProductStatus { settled_intent: Some("id-1".into()), ..Default::default() };
        assert_eq!(pending_create(&product("uid-1", Some(value.clone()), Some(settled.clone())), &key), None);
        // Once settled, the status's record is the one (an ambiguous answer kept the attempt).
        let mut earlier = intent();
        earlier.attempts.clear();
        let recorded = IotProductStatus { pending_create: Some(earlier.clone()), ..settled.clone() };
        assert_eq!(
            pending_create(&product("uid-1", Some(value.clone()), Some(recorded)), &key),
            Some(earlier.clone())
        );
        // Unsettled, the intent wins: it holds the status's attempts and the one sent after.
        let stale = IotProductStatus {
            pending_create: Some(earlier),
            settled_intent: Some("id-0".into()),
            ..settled
        };
        assert_eq!(pending_create(&product("uid-1", Some(value), Some(stale)), &key), Some(intent()));
        assert_eq!(pending_create(&product("uid-1", None, None), &key), None);
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", IntentKey::from_bytes(&[7; 32]).unwrap()), "IntentKey(redacted)");
        assert_eq!(IntentKey::from_bytes(&[7; 31]), None);
    }
}
