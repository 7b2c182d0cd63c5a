//! The four controllers: what triggers each reconciler, and how a reconcile is admitted,
//! timed and counted. Each watched kind is watched once per scope (see [`super::shared`]).

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Config as ControllerConfig, PredicateConfig, WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

use super::shutdown::Shutdown;
use super::triggers::{
    account_relevance, distribution_relevance, label_relevance, log_result, product_relevance, spec_relevance,
};
use crate::crd::{IotConsumerGroup, IotProduct, PlatformAccount, ProductDistribution};
use crate::product::secret::data_hash;
use crate::reconcile::admission::{Admission, Entry, Gate};
use crate::reconcile::context::Context;
use crate::reconcile::failure::ReconcileError;
use crate::{consumer_group, distribution, platform_account, product};

/// A trigger stream as kube-runtime's controllers take it.
pub trait Trigger<K>: Stream<Item = Result<K, watcher::Error>> + Send + 'static {}
impl<K, S: Stream<Item = Result<K, watcher::Error>> + Send + 'static> Trigger<K> for S {}

/// What wakes the IotProduct controller of one scope.
pub struct ProductTriggers<P, S, A, D, N, G> {
    /// The scope's IotProducts (their own changes).
    pub products: P,
    /// The cache of the scope's IotProducts.
    pub product_store: Store<IotProduct>,
    /// The Secrets the operator wrote in the scope.
    pub secrets: S,
    /// Every PlatformAccount.
    pub accounts: A,
    /// The scope's ProductDistributions.
    pub distributions: D,
    /// Namespaces (their labels decide which accounts admit them).
    pub namespaces: N,
    /// The scope's IotConsumerGroups (their ids go into the products' subscriptions).
    pub consumer_groups: G,
}

/// Runs one reconcile of a `kind` and counts it in the metrics (its category and duration).
async fn measured<E: ReconcileError>(
    kind: &'static str,
    ctx: &Context,
    reconcile: impl std::future::Future<Output = Result<Action, E>>,
) -> Result<Action, E> {
    let start = Instant::now();
    let result = reconcile.await;
    let category = result.as_ref().map_or_else(ReconcileError::category, |_| "Success");
    ctx.metrics.reconciled(kind, category, start.elapsed());
    result
}

/// The objects of `store` in `namespace`.
fn in_namespace<K>(store: &Store<K>, namespace: &str) -> Vec<ObjectRef<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .iter()
        .filter(|o| o.namespace().as_deref() == Some(namespace))
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// The IotProduct controller of one scope: reconciled on spec/finalizer/annotation changes
/// (not their own status writes), on changes of the Secrets they own, when their account's
/// spec or readiness changes, when a distribution of theirs changes, and when their
/// namespace's labels change. Reconciles wait for a slot of the process-wide `admission`.
pub fn products<P, S, A, D, N, G>(
    triggers: ProductTriggers<P, S, A, D, N, G>,
    admission: Admission,
    shutdown: &Shutdown,
    ctx: Arc<Context>,
) -> BoxFuture<'static, ()>
where
    P: Trigger<IotProduct>,
    S: Trigger<Secret>,
    A: Trigger<PlatformAccount>,
    D: Trigger<ProductDistribution>,
    N: Trigger<PartialObjectMeta<Namespace>>,
    G: Trigger<IotConsumerGroup>,
{
    let ProductTriggers {
        products,
        product_store,
        secrets,
        accounts,
        distributions,
        namespaces,
        consumer_groups,
    } = triggers;
    let group_changes = consumer_groups.predicate_filter(group_relevance, PredicateConfig::default());
    let subscribers = product_store.clone();
    let namespace_changes = namespaces.predicate_filter(label_relevance, PredicateConfig::default());
    let distribution_changes =
        distributions.predicate_filter(distribution_relevance, PredicateConfig::default());
    let products_of_namespace = product_store.clone();
    let own_changes = products.predicate_filter(spec_relevance::<IotProduct>, PredicateConfig::default());
    let account_changes = accounts.predicate_filter(account_relevance, PredicateConfig::default());
    let products_of_account = product_store.clone();
    let accounts_seen = AccountsSeen::default();
    let echoes = ctx.clone();
    let secret_changes =
        secrets.filter(move |event| futures::future::ready(!is_own_secret_write(&echoes, event)));
    let (gate, slot_kept) = Gate::new(admission, product_store.clone());
    Controller::for_stream(own_changes, product_store)
        .owns_stream(secret_changes)
        .watches_stream(account_changes, move |account: PlatformAccount| {
            let name = account.name_any();
            let only_waiting = accounts_seen.only_waiting_products(&account);
            products_of_account
                .state()
                .iter()
                .filter(|p| p.account_name() == name)
                .filter(|p| !only_waiting || stopped_short(p))
                .map(|p| ObjectRef::from_obj(p.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(distribution_changes, |pd: ProductDistribution| {
            let namespace = pd.namespace().unwrap_or_default();
            pd.spec.product_ref.map(|r| ObjectRef::new(&r.name).within(&namespace))
        })
        .watches_stream(namespace_changes, move |ns: PartialObjectMeta<Namespace>| {
            in_namespace(&products_of_namespace, &ns.name_any())
        })
        .watches_stream(group_changes, move |group: IotConsumerGroup| {
            let (namespace, name) = (group.namespace().unwrap_or_default(), group.name_any());
            subscribers
                .state()
                .iter()
                .filter(|p| p.namespace().as_deref() == Some(namespace.as_str()))
                .filter(|p| p.spec.subscription.as_ref().is_some_and(|s| s.consumer_groups.contains(&name)))
                .map(|p| ObjectRef::from_obj(p.as_ref()))
                .collect::<Vec<_>>()
        })
        .reconcile_on(slot_kept)
        // No kube-runtime limit: the admission bounds concurrency and serves in arrival order.
        .with_config(ControllerConfig::default())
        .graceful_shutdown_on(shutdown.signal())
        .run(
            move |object, ctx: Arc<Context>| {
                let gate = gate.clone();
                async move {
                    // Fair between namespaces: one namespace's backlog does not hold up another's.
                    let namespace = object.namespace().unwrap_or_default();
                    let Entry::Admitted(_slot) =
                        gate.enter(&ObjectRef::from_obj(object.as_ref()), &namespace)
                    else {
                        // It waits for its slot in the gate, which wakes it again.
                        return Ok(Action::await_change());
                    };
                    // Boxed so that the controller's own future stays small.
                    measured("IotProduct", &ctx, Box::pin(product::reconcile(object, ctx.clone()))).await
                }
            },
            product::error_policy,
            ctx,
        )
        .for_each(log_result::<IotProduct, product::Error>("IotProduct"))
        .boxed()
}

/// The generation of each account when its products were last woken for it.
#[derive(Default)]
struct AccountsSeen(std::sync::Mutex<std::collections::HashMap<String, Option<i64>>>);

impl AccountsSeen {
    /// Whether a change of `account` concerns only the products whose last reconcile stopped
    /// short: it became Ready with the spec its products last saw. A changed spec, an account
    /// that is not Ready (every product reports it) or one seen for the first time wakes them
    /// all; a product in sync or being worked on gains nothing from its account turning Ready.
    fn only_waiting_products(&self, account: &PlatformAccount) -> bool {
        let ready = account
            .status
            .as_ref()
            .and_then(|s| crate::reconcile::conditions::find(&s.conditions, "Ready"))
            .is_some_and(|c| c.status == "True");
        let mut seen = self.0.lock().expect("accounts seen lock");
        if account.metadata.deletion_timestamp.is_some() {
            // Going away: forget it (a new account of that name is seen for the first time).
            seen.remove(&account.name_any());
            return false;
        }
        let generation = account.metadata.generation;
        let previous = seen.insert(account.name_any(), generation);
        ready && previous == Some(generation)
    }
}

/// Whether a product's last finished reconcile left it out of sync (a product being worked
/// on for the first time shows only `Pending`, and its reconcile is under way already).
fn stopped_short(product: &IotProduct) -> bool {
    let Some(status) = &product.status else { return false };
    let pending = crate::reconcile::conditions::find(&status.conditions, "Synced")
        .is_none_or(|c| c.reason == "Pending");
    status.observed_generation.unwrap_or(0) > 0 && !pending && !product::fast_path::status_in_sync(product)
}

/// Whether a Secret's watch event is the echo of the operator's own write (a reconcile
/// just wrote exactly this data): not a reason to reconcile the product again.
fn is_own_secret_write(ctx: &Context, event: &Result<Secret, watcher::Error>) -> bool {
    let Ok(secret) = event else { return false };
    let (namespace, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
    // The cache is updated before the event is passed on: a deleted Secret is no longer in it.
    let present = ctx.secrets.get(&ObjectRef::new(&name).within(&namespace)).is_some();
    let fingerprint = secret.data.as_ref().map_or_else(|| data_hash(&Default::default()), data_hash);
    ctx.own_secret_writes.is_echo(&namespace, &name, fingerprint, present)
}

/// What wakes the ProductDistribution controller of one scope.
pub struct DistributionTriggers<D, P, A, N> {
    /// The scope's ProductDistributions (their own changes).
    pub distributions: D,
    /// The cache of the scope's ProductDistributions.
    pub distribution_store: Store<ProductDistribution>,
    /// The scope's IotProducts.
    pub products: P,
    /// Every PlatformAccount.
    pub accounts: A,
    /// Namespaces (their labels decide which accounts admit them).
    pub namespaces: N,
}

/// The ProductDistribution controller of one scope: their own changes, their product's,
/// and (for those not finished) their account's spec or readiness (a distribution applied
/// together with its account may be seen first).
pub fn distributions<D, P, A, N>(
    triggers: DistributionTriggers<D, P, A, N>,
    shutdown: &Shutdown,
    ctx: Arc<Context>,
) -> BoxFuture<'static, ()>
where
    D: Trigger<ProductDistribution>,
    P: Trigger<IotProduct>,
    A: Trigger<PlatformAccount>,
    N: Trigger<PartialObjectMeta<Namespace>>,
{
    let DistributionTriggers { distributions, distribution_store, products, accounts, namespaces } = triggers;
    let namespace_changes = namespaces.predicate_filter(label_relevance, PredicateConfig::default());
    let product_changes = products.predicate_filter(product_relevance, PredicateConfig::default());
    let of_namespace = distribution_store.clone();
    let own_changes =
        distributions.predicate_filter(spec_relevance::<ProductDistribution>, PredicateConfig::default());
    let account_changes = accounts.predicate_filter(account_relevance, PredicateConfig::default());
    let of_product = distribution_store.clone();
    let unfinished = distribution_store.clone();
    Controller::for_stream(own_changes, distribution_store)
        .watches_stream(product_changes, move |p: IotProduct| {
            let (namespace, name) = (p.namespace().unwrap_or_default(), p.name_any());
            of_product
                .state()
                .iter()
                .filter(|d| d.namespace().as_deref() == Some(namespace.as_str()))
                .filter(|d| d.spec.product_ref.as_ref().is_some_and(|r| r.name == name))
                .map(|d| ObjectRef::from_obj(d.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(account_changes, move |_account: PlatformAccount| {
            unfinished
                .state()
                .iter()
                .filter(|d| !distribution::is_finished(d))
                .map(|d| ObjectRef::from_obj(d.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(namespace_changes, move |ns: PartialObjectMeta<Namespace>| {
            in_namespace(&of_namespace, &ns.name_any())
        })
        .graceful_shutdown_on(shutdown.signal())
        .run(
            |object, ctx: Arc<Context>| async move {
                measured("ProductDistribution", &ctx, distribution::reconcile(object, ctx.clone())).await
            },
            distribution::error_policy,
            ctx,
        )
        .for_each(log_result::<ProductDistribution, distribution::Error>("ProductDistribution"))
        .boxed()
}

/// What of a consumer group its products act on: its id and name (its health is not).
fn group_relevance(group: &IotConsumerGroup) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let status = group.status.as_ref();
    (
        status.and_then(|s| s.group_id.as_deref()),
        &group.spec.group_name,
        group.metadata.deletion_timestamp.is_some(),
    )
        .hash(&mut hasher);
    Some(hasher.finish())
}

/// The IotConsumerGroup controller of one scope: their own changes, and their account's
/// spec or readiness.
pub fn consumer_groups<G, A, N>(
    groups: G,
    group_store: Store<IotConsumerGroup>,
    accounts: A,
    namespaces: N,
    shutdown: &Shutdown,
    ctx: Arc<Context>,
) -> BoxFuture<'static, ()>
where
    G: Trigger<IotConsumerGroup>,
    A: Trigger<PlatformAccount>,
    N: Trigger<PartialObjectMeta<Namespace>>,
{
    let own_changes = groups.predicate_filter(spec_relevance::<IotConsumerGroup>, PredicateConfig::default());
    let account_changes = accounts.predicate_filter(account_relevance, PredicateConfig::default());
    let namespace_changes = namespaces.predicate_filter(label_relevance, PredicateConfig::default());
    let of_account = group_store.clone();
    let of_namespace = group_store.clone();
    Controller::for_stream(own_changes, group_store)
        .watches_stream(account_changes, move |account: PlatformAccount| {
            let name = account.name_any();
            of_account
                .state()
                .iter()
                .filter(|g| g.account_name() == name)
                .map(|g| ObjectRef::from_obj(g.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(namespace_changes, move |ns: PartialObjectMeta<Namespace>| {
            in_namespace(&of_namespace, &ns.name_any())
        })
        .graceful_shutdown_on(shutdown.signal())
        .run(
            |object, ctx: Arc<Context>| async move {
                measured("IotConsumerGroup", &ctx, consumer_group::reconcile(object, ctx.clone())).await
            },
            consumer_group::error_policy,
            ctx,
        )
        .for_each(log_result::<IotConsumerGroup, consumer_group::Error>("IotConsumerGroup"))
        .boxed()
}

/// The PlatformAccount controller: their own changes (not their status writes) and changes
/// of the Secrets they reference (metadata only, in the credentials namespace only).
pub fn accounts(
    client: &Client,
    accounts: impl Trigger<PlatformAccount>,
    account_store: Store<PlatformAccount>,
    mut renewed: tokio::sync::mpsc::UnboundedReceiver<String>,
    shutdown: &Shutdown,
    ctx: Arc<Context>,
) -> BoxFuture<'static, ()> {
    let renewals = futures::stream::poll_fn(move |cx| renewed.poll_recv(cx))
        .map(|name| ObjectRef::<PlatformAccount>::new(&name));
    let own_changes =
        accounts.predicate_filter(spec_relevance::<PlatformAccount>, PredicateConfig::default());
    let accounts_of_secret = account_store.clone();
    let credentials_namespace = ctx.accounts.credentials_namespace().to_string();
    let secret_changes = watcher(
        Api::<PartialObjectMeta<Secret>>::namespaced(client.clone(), &credentials_namespace),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects();
    Controller::for_stream(own_changes, account_store)
        .watches_stream(secret_changes, move |secret| {
            let name = secret.name_any();
            accounts_of_secret
                .state()
                .iter()
                .filter(|a| a.spec.credentials.secret().is_some_and(|s| s.name == name))
                .map(|a| ObjectRef::from_obj(a.as_ref()))
                .collect::<Vec<_>>()
        })
        .reconcile_on(renewals)
        .graceful_shutdown_on(shutdown.signal())
        .run(
            |object, ctx: Arc<Context>| async move {
                measured("PlatformAccount", &ctx, platform_account::reconcile(object, ctx.clone())).await
            },
            platform_account::error_policy,
            ctx,
        )
        .for_each(log_result::<PlatformAccount, platform_account::Error>("PlatformAccount"))
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::PlatformAccountStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn account(generation: i64, ready: bool, deleting: bool) -> PlatformAccount {
        let mut account: PlatformAccount = serde_json::from_value(serde_json::json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1",
            "kind": "PlatformAccount",
            "metadata": {"name": "acme", "generation": generation},
            "spec": {"region": "cn-shanghai", "credentials": {"secretRef": {"name": "creds"}}},
        }))
        .expect("a valid account");
        account.status = Some(PlatformAccountStatus {
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                reason: "Checked".into(),
                message: String::new(),
                last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
                observed_generation: Some(generation),
            }],
            ..Default::default()
        });
        if deleting {
            account.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        }
        account
    }

    #[test]
    fn an_account_turning_ready_again_wakes_only_the_waiting_products() {
        let seen = AccountsSeen::default();
        assert!(!seen.only_waiting_products(&account(1, true, false)), "first sight wakes all");
        assert!(seen.only_waiting_products(&account(1, true, false)));
        assert!(!seen.only_waiting_products(&account(2, true, false)), "a changed spec wakes all");
        assert!(!seen.only_waiting_products(&account(2, false, false)), "not Ready wakes all");
    }

    #[test]
    fn an_account_being_deleted_is_forgotten() {
        let seen = AccountsSeen::default();
        seen.only_waiting_products(&account(1, true, false));
        assert!(!seen.only_waiting_products(&account(1, true, true)));
        assert!(seen.0.lock().unwrap().is_empty());
        assert!(!seen.only_waiting_products(&account(1, true, false)), "a new account of that name");
    }
}
