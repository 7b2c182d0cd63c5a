//! What `plan --cluster` reads from the cluster the manifests are applied to, read-only
//! (gets and lists): each IotProduct's live resource — its UID, which the product's ownership
//! tags must name, and its status: the product it manages, the tags it set, the thing model
//! it published, a create in flight — the PlatformAccounts the manifests use but do not
//! contain, and the labels of the manifests' namespaces (an account admits namespaces by
//! label too; a caller who may not read namespaces or accounts gets "unknown" for them).
//! Without `--cluster`, `plan` knows none of this and says where it guesses.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use kube::{Client, ResourceExt as _};

use crate::crd::{IotProduct, PlatformAccount, ProductDistribution};

/// Why the cluster could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No kubeconfig or in-cluster configuration.
    #[error("--cluster: cannot reach the cluster: {0}")]
    Config(#[source] kube::Error),
    /// A read failed.
    #[error("--cluster: cannot read {what}: {source}")]
    Read {
        /// What was read.
        what: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

/// The cluster's side of the manifests.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// This cluster's id, as the operator's `--cluster-id` (its products carry it).
    pub cluster_id: String,
    /// The live IotProducts, by (namespace, name); absent: not applied yet.
    pub products: BTreeMap<(String, String), IotProduct>,
    /// The live IotConsumerGroups the manifests' products subscribe (or the manifests hold),
    /// by (namespace, name).
    pub consumer_groups: BTreeMap<(String, String), crate::crd::IotConsumerGroup>,
    /// The live ProductDistributions, by (namespace, name).
    pub distributions: BTreeMap<(String, String), ProductDistribution>,
    /// The ProductDistributions of the manifests' namespaces that hold one of their account's
    /// distribution tasks, by namespace (absent: not readable).
    pub task_holders: BTreeMap<String, Vec<ProductDistribution>>,
    /// Every live IotProduct of the namespaces of the manifests' distributions (a distribution
    /// by key is of the IotProduct holding that key, manifest or not), by namespace.
    pub namespace_products: BTreeMap<String, Vec<IotProduct>>,
    /// The PlatformAccounts, by name.
    pub accounts: BTreeMap<String, PlatformAccount>,
    /// The namespaces' labels, by name; absent: the namespace does not exist yet.
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
}

/// A read the caller may not be allowed (a tenant's CI may read its namespace's IotProducts
/// but neither namespaces nor the cluster-scoped PlatformAccounts): forbidden is "unknown".
fn unless_forbidden<T>(read: Result<T, kube::Error>) -> Result<Option<T>, kube::Error> {
    match read {
        Ok(found) => Ok(Some(found)),
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_error(what: impl Into<String>) -> impl FnOnce(kube::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Read { what, source }
}

impl ClusterView {
    /// Reads, through the default kubeconfig (or the in-cluster configuration), the live
    /// counterparts of `products`, every PlatformAccount and the namespaces' labels (the last
    /// two where the caller may read them).
    ///
    /// # Errors
    /// [`ClusterError`] when the cluster cannot be reached or a read is refused.
    pub async fn read(
        cluster_id: &str,
        products: &[IotProduct],
        distributions: &[ProductDistribution],
        consumer_groups: &[crate::crd::IotConsumerGroup],
    ) -> Result<Self, ClusterError> {
        let client = Client::try_default().await.map_err(ClusterError::Config)?;
        Self::read_with(client, cluster_id, products, distributions, consumer_groups).await
    }

    /// Like [`ClusterView::read`], through `client`.
    ///
    /// # Errors
    /// [`ClusterError::Read`] when a read is refused.
    pub async fn read_with(
        client: Client,
        cluster_id: &str,
        products: &[IotProduct],
        distributions: &[ProductDistribution],
        consumer_groups: &[crate::crd::IotConsumerGroup],
    ) -> Result<Self, ClusterError> {
        let mut view = Self { cluster_id: cluster_id.to_string(), ..Self::default() };
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for product in products {
            let namespace = product.namespace().unwrap_or_default();
            let name = product.name_any();
            let api: Api<IotProduct> = Api::namespaced(client.clone(), &namespace);
            let live =
                api.get_opt(&name).await.map_err(read_error(format!("IotProduct {namespace}/{name}")))?;
            if let Some(live) = live {
                view.products.insert((namespace.clone(), name), live);
            }
            let groups: Api<crate::crd::IotConsumerGroup> = Api::namespaced(client.clone(), &namespace);
            for group in product.spec.subscription.iter().flat_map(|s| s.consumer_groups.iter()) {
                let key = (namespace.clone(), group.clone());
                if view.consumer_groups.contains_key(&key) {
                    continue;
                }
                let live = unless_forbidden(groups.get_opt(group).await)
                    .map_err(read_error(format!("IotConsumerGroup {namespace}/{group}")))?;
                if let Some(Some(live)) = live {
                    view.consumer_groups.insert(key, live);
                }
            }
            if !view.namespace_labels.contains_key(&namespace)
                && let Some(Some(found)) = unless_forbidden(namespaces.get_opt(&namespace).await)
                    .map_err(read_error(format!("namespace {namespace}")))?
            {
                view.namespace_labels.insert(namespace, found.labels().clone());
            }
        }
        for distribution in distributions {
            let (namespace, name) = (distribution.namespace().unwrap_or_default(), distribution.name_any());
            let api: Api<ProductDistribution> = Api::namespaced(client.clone(), &namespace);
            if !view.task_holders.contains_key(&namespace)
                && let Some(all) = unless_forbidden(api.list(&kube::api::ListParams::default()).await)
                    .map_err(read_error(format!("the ProductDistributions of {namespace}")))?
            {
                let holders =
                    all.items.into_iter().filter(crate::distribution::desired::holds_task).collect();
                view.task_holders.insert(namespace.clone(), holders);
            }
            if !view.namespace_products.contains_key(&namespace) {
                let products: Api<IotProduct> = Api::namespaced(client.clone(), &namespace);
                if let Some(all) = unless_forbidden(products.list(&kube::api::ListParams::default()).await)
                    .map_err(read_error(format!("the IotProducts of {namespace}")))?
                {
                    view.namespace_products.insert(namespace.clone(), all.items);
                }
            }
            let live = unless_forbidden(api.get_opt(&name).await)
                .map_err(read_error(format!("ProductDistribution {namespace}/{name}")))?;
            if let Some(Some(live)) = live {
                view.distributions.insert((namespace, name), live);
            }
        }
        for group in consumer_groups {
            let (namespace, name) = (group.namespace().unwrap_or_default(), group.name_any());
            let api: Api<crate::crd::IotConsumerGroup> = Api::namespaced(client.clone(), &namespace);
            let live = unless_forbidden(api.get_opt(&name).await)
                .map_err(read_error(format!("IotConsumerGroup {namespace}/{name}")))?;
            if let Some(Some(live)) = live {
                view.consumer_groups.insert((namespace, name), live);
            }
        }
        let accounts: Api<PlatformAccount> = Api::all(client);
        let listed = unless_forbidden(accounts.list(&Default::default()).await)
            .map_err(read_error("PlatformAccounts"))?;
        for account in listed.map(|list| list.items).unwrap_or_default() {
            view.accounts.insert(account.name_any(), account);
        }
        Ok(view)
    }

    /// The live resource of `product`, if applied.
    #[must_use]
    pub fn live(&self, product: &IotProduct) -> Option<&IotProduct> {
        self.products.get(&(product.namespace().unwrap_or_default(), product.name_any()))
    }
}
