//! What every reconcile shares: the Kubernetes client, the account handles, the stores,
//! the event recorder, the per-object backoff and the settings.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::runtime::reflector::{ObjectRef, Store};

use super::account_clients::Accounts;
use super::backoff::Backoff;
use super::confirmations::Confirmations;
use crate::crd::IotProduct;
use crate::metrics::Metrics;

pub use super::status::FIELD_MANAGER;

/// Settings from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// How often a resource is compared with the platform when nothing changed.
    pub resync: Duration,
    /// Backoff after failures: first delay.
    pub backoff_base: Duration,
    /// Backoff after failures: longest delay.
    pub backoff_cap: Duration,
    /// This cluster's id, in the ownership tags of the products it manages.
    pub cluster_id: String,
    /// The shortest resync interval a resource's annotation may ask for (so that one
    /// namespace cannot use up an account's read quota).
    pub min_resync: Duration,
}

impl Settings {
    /// The resync interval of a resource: its annotation's (not below `min_resync`), else
    /// `default`.
    #[must_use]
    pub fn resync_for(
        &self,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        default: Duration,
    ) -> Duration {
        crate::crd::resync_override(meta).map_or(default, |asked| asked.max(self.min_resync))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(600),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            cluster_id: "kubernetes".into(),
            min_resync: Duration::from_secs(60),
        }
    }
}

/// Shared by all reconciles.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// Settings.
    pub settings: Settings,
    /// Account handles.
    pub accounts: Accounts,
    /// Events.
    pub recorder: super::events::EventPublisher,
    /// Failure backoff per object.
    pub backoff: Backoff,
    /// Secrets the operator manages (label-selected), per namespace scope.
    pub secrets: SecretStores,
    /// The IotProducts of every watched namespace.
    pub products: ProductStores,
    /// The cache of every watched IotConsumerGroup (which resource holds which group).
    pub consumer_groups: GroupStores,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// What this process last confirmed about each product (in memory).
    pub checked: Confirmations,
    /// Secret writes of this process whose watch events are echoes, not changes.
    pub own_secret_writes: Arc<super::own_writes::OwnWrites>,
    /// The key that signs and verifies create intents.
    pub intent_key: crate::product::intent::IntentKey,
}

/// The IotProducts of every watched namespace scope (one store per scope).
#[derive(Clone, Default)]
pub struct ProductStores(pub Vec<Store<IotProduct>>);

impl ProductStores {
    /// Every product.
    #[must_use]
    pub fn state(&self) -> Vec<Arc<IotProduct>> {
        self.0.iter().flat_map(Store::state).collect()
    }

    /// One product.
    #[must_use]
    pub fn get(&self, object: &ObjectRef<IotProduct>) -> Option<Arc<IotProduct>> {
        self.0.iter().find_map(|store| store.get(object))
    }
}

/// The IotConsumerGroups of every watched namespace scope (one store per scope).
#[derive(Clone, Default)]
pub struct GroupStores(pub Vec<Store<crate::crd::IotConsumerGroup>>);

impl GroupStores {
    /// Whether a resource other than `uid` records the platform's group `group_id` as its own.
    #[must_use]
    pub fn held_by_another(&self, uid: &str, group_id: &str) -> bool {
        self.0.iter().flat_map(Store::state).any(|g| {
            g.metadata.uid.as_deref() != Some(uid)
                && g.status.as_ref().and_then(|s| s.group_id.as_deref()) == Some(group_id)
        })
    }

    /// The IotConsumerGroup `name` of `namespace`, as last watched.
    #[must_use]
    pub fn get(&self, namespace: &str, name: &str) -> Option<crate::crd::IotConsumerGroup> {
        let object = ObjectRef::new(name).within(namespace);
        self.0.iter().find_map(|store| store.get(&object)).map(|g| g.as_ref().clone())
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// The Secrets the operator manages, one store per namespace scope.
#[derive(Clone, Default)]
pub struct SecretStores(pub Vec<Store<Secret>>);

impl SecretStores {
    /// One Secret.
    #[must_use]
    pub fn get(&self, object: &ObjectRef<Secret>) -> Option<Arc<Secret>> {
        self.0.iter().find_map(|store| store.get(object))
    }
}
