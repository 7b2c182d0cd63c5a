//! The `run` subcommand: the controllers of `PlatformAccount`, `IotProduct` and
//! `ProductDistribution`, sharing one context, behind an optional leader election, with
//! metrics and health endpoints, until SIGTERM / Ctrl-C.

pub mod leader;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Config as ControllerConfig, PredicateConfig, WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tracing::{debug, error, info, warn};

use crate::cli::RunArgs;
use crate::crd::{IotProduct, PlatformAccount, ProductDistribution};
use crate::metrics::Metrics;
use crate::product::secret::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::reconcile::account_clients::Accounts;
use crate::reconcile::admission::Admission;
use crate::reconcile::backoff::Backoff;
use crate::reconcile::context::{Context, ProductStores, SecretStores, Settings};
use crate::reconcile::{conditions, events};
use crate::{distribution, platform_account, product};

/// Waits until the CRDs are served, telling the user how to install them meanwhile.
async fn wait_for_crds(client: &Client, namespace: Option<&str>) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let products: Api<IotProduct> = scoped(client, namespace);
        let products = products.list(&ListParams::default().limit(1)).await;
        let accounts =
            Api::<PlatformAccount>::all(client.clone()).list(&ListParams::default().limit(1)).await;
        match (products, accounts) {
            (Ok(_), Ok(_)) => return Ok(()),
            (Err(e), _) | (_, Err(e)) => {
                if tokio::time::Instant::now() > deadline {
                    return Err(format!(
                        "the CRDs are not served ({e}); install them with `kubectl apply --server-side -k crds/` \
                         (or the Helm chart) and start the operator again"
                    ));
                }
                warn!(error = %e, "waiting for the CRDs to be installed (kubectl apply --server-side -k crds/)");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// An API of a namespaced kind, in one namespace or all.
fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A trigger filter for accounts as seen by products: only a change of the spec or of the
/// Ready condition matters to them (not every credential check).
fn account_relevance(account: &PlatformAccount) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    account.metadata.generation.hash(&mut hasher);
    if let Some(ready) = account.status.as_ref().and_then(|s| conditions::find(&s.conditions, "Ready")) {
        ready.status.hash(&mut hasher);
        ready.reason.hash(&mut hasher);
    }
    Some(hasher.finish())
}

/// A trigger filter for a resource's own events: generation (spec changes and deletion),
/// finalizers and annotations — not status writes (which the operator makes itself).
fn spec_relevance<K: kube::Resource>(object: &K) -> Option<u64> {
    let meta = object.meta();
    let mut hasher = DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    meta.annotations.hash(&mut hasher);
    Some(hasher.finish())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// A shutdown trigger that can be handed to several controllers.
#[derive(Clone)]
struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    fn signal(&self) -> impl std::future::Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.0.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }
}

/// Drops `metadata.managedFields` from cached objects: the operator never reads them, and
/// they are often the largest part of an object (a third of the cache at thousands of
/// products).
fn strip_managed_fields<K: kube::Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

/// What a controller's stream yields per reconcile.
type ControllerResult<K, E> =
    Result<(ObjectRef<K>, Requeue), kube::runtime::controller::Error<E, watcher::Error>>;

fn log_result<K: kube::Resource, E: std::fmt::Display>(
    kind: &'static str,
) -> impl FnMut(ControllerResult<K, E>) -> futures::future::Ready<()>
where
    K::DynamicType: std::fmt::Debug,
{
    move |result| {
        match result {
            Ok(_) | Err(kube::runtime::controller::Error::ReconcilerFailed(_, _)) => {}
            // A retry scheduled for an object deleted meanwhile: nothing to do.
            Err(kube::runtime::controller::Error::ObjectNotFound(object)) => {
                debug!(kind, %object, "skipped a retry of a deleted object");
            }
            Err(e) => error!(kind, error = %e, "controller"),
        }
        futures::future::ready(())
    }
}

/// One namespace scope (or all namespaces) and the caches it fills.
struct Scope {
    namespace: Option<String>,
    product_reader: Store<IotProduct>,
    product_writer: reflector::store::Writer<IotProduct>,
    secret_writer: reflector::store::Writer<Secret>,
}

/// The controllers of one scope.
fn scope_controllers(
    client: &Client,
    scope: Scope,
    ctx: Arc<Context>,
    account_watch: watcher::Config,
    admission: &Admission,
    shutdown: &Shutdown,
) -> Vec<BoxFuture<'static, ()>> {
    let Scope { namespace, product_reader, product_writer, secret_writer } = scope;
    let namespace = namespace.as_deref();
    // IotProducts: reconciled on spec/finalizer/annotation changes (not their own status
    // writes), on changes of the Secrets they own, when their account's spec or readiness
    // changes, and when a distribution of theirs changes.
    let product_stream = watcher(scoped::<IotProduct>(client, namespace), watcher::Config::default())
        .default_backoff()
        .modify(strip_managed_fields)
        .reflect(product_writer)
        .touched_objects()
        .predicate_filter(spec_relevance::<IotProduct>, PredicateConfig::default());
    let secret_stream = watcher(
        scoped::<Secret>(client, namespace),
        watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}")),
    )
    .default_backoff()
    .modify(strip_managed_fields)
    .reflect(secret_writer)
    .touched_objects();
    let product_account_changes = watcher(Api::<PlatformAccount>::all(client.clone()), account_watch.clone())
        .default_backoff()
        .touched_objects()
        .predicate_filter(account_relevance, PredicateConfig::default());
    let products_for_accounts = product_reader.clone();
    let distribution_changes =
        watcher(scoped::<ProductDistribution>(client, namespace), watcher::Config::default())
            .default_backoff()
            .touched_objects();
    let product_admission = admission.clone();
    let products = Controller::for_stream(product_stream, product_reader.clone())
        .owns_stream(secret_stream)
        .watches_stream(product_account_changes, move |account: PlatformAccount| {
            let name = account.name_any();
            products_for_accounts
                .state()
                .iter()
                .filter(|p| p.account_name() == name)
                .map(|p| ObjectRef::from_obj(p.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(distribution_changes, |pd: ProductDistribution| {
            let namespace = pd.namespace().unwrap_or_default();
            pd.spec.product_ref.map(|r| ObjectRef::new(&r.name).within(&namespace))
        })
        // No kube-runtime limit: the admission bounds concurrency and serves in arrival order.
        .with_config(ControllerConfig::default())
        .graceful_shutdown_on(shutdown.signal())
        .run(
            move |object, ctx: Arc<Context>| {
                let admission = product_admission.clone();
                async move {
                    let _slot = admission.admit().await;
                    // The wait may have been long: reconcile the latest cached copy.
                    let object = ctx.products.get(&ObjectRef::from_obj(object.as_ref())).unwrap_or(object);
                    let start = Instant::now();
                    // Boxed so that a reconcile waiting for its slot stays small (the
                    // reconcile's own state is allocated only once it runs).
                    let result = Box::pin(product::reconcile(object, ctx.clone())).await;
                    ctx.metrics.reconciled(
                        "IotProduct",
                        result.as_ref().map_or_else(product::Error::category, |_| "Success"),
                        start.elapsed(),
                    );
                    result
                }
            },
            product::error_policy,
            ctx.clone(),
        )
        .for_each(log_result::<IotProduct, product::Error>("IotProduct"))
        .boxed();

    // ProductDistributions: their own changes, their product's, and (for those not finished)
    // their account's spec or readiness (a distribution applied together with its account
    // may be seen first).
    let (distribution_reader, distribution_writer) = reflector::store::<ProductDistribution>();
    let unfinished_distributions = distribution_reader.clone();
    let account_changes = watcher(Api::<PlatformAccount>::all(client.clone()), account_watch)
        .default_backoff()
        .touched_objects()
        .predicate_filter(account_relevance, PredicateConfig::default());
    let distribution_stream =
        watcher(scoped::<ProductDistribution>(client, namespace), watcher::Config::default())
            .default_backoff()
            .modify(strip_managed_fields)
            .reflect(distribution_writer)
            .touched_objects()
            .predicate_filter(spec_relevance::<ProductDistribution>, PredicateConfig::default());
    let pd_reader = distribution_reader.clone();
    let distributions = Controller::for_stream(distribution_stream, distribution_reader)
        .watches_stream(
            watcher(scoped::<IotProduct>(client, namespace), watcher::Config::default())
                .default_backoff()
                .touched_objects(),
            move |p: IotProduct| {
                let (namespace, name) = (p.namespace().unwrap_or_default(), p.name_any());
                pd_reader
                    .state()
                    .iter()
                    .filter(|d| d.namespace().as_deref() == Some(namespace.as_str()))
                    .filter(|d| d.spec.product_ref.as_ref().is_some_and(|r| r.name == name))
                    .map(|d| ObjectRef::from_obj(d.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches_stream(account_changes, move |_account: PlatformAccount| {
            unfinished_distributions
                .state()
                .iter()
                .filter(|d| !distribution::is_finished(d))
                .map(|d| ObjectRef::from_obj(d.as_ref()))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown.signal())
        .run(
            |object, ctx: Arc<Context>| async move {
                let start = Instant::now();
                let result = distribution::reconcile(object, ctx.clone()).await;
                let category = match &result {
                    Ok(_) => "Success",
                    Err(distribution::Error::Platform(e)) => e.class().as_str(),
                    Err(distribution::Error::Account(e)) => e.reason(),
                    Err(_) => "KubernetesApi",
                };
                ctx.metrics.reconciled("ProductDistribution", category, start.elapsed());
                result
            },
            distribution::error_policy,
            ctx,
        )
        .for_each(log_result::<ProductDistribution, distribution::Error>("ProductDistribution"))
        .boxed();
    vec![products, distributions]
}

/// Runs the operator until a shutdown signal (or the loss of leadership).
///
/// # Errors
/// A message when Kubernetes cannot be reached, the CRDs are not installed, or leadership
/// is lost (the process then exits so that it restarts as a follower).
pub async fn run(args: &RunArgs) -> Result<(), String> {
    let client = Client::try_default().await.map_err(|e| format!("cannot reach Kubernetes: {e}"))?;
    let metrics = Arc::new(Metrics::new());
    metrics
        .clone()
        .serve(args.metrics_addr)
        .await
        .map_err(|e| format!("cannot serve metrics on {}: {e}", args.metrics_addr))?;
    let scopes: Vec<Option<String>> = if args.namespaces.is_empty() {
        vec![None]
    } else {
        args.namespaces.iter().cloned().map(Some).collect()
    };
    wait_for_crds(&client, scopes[0].as_deref()).await?;

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let shutdown = Shutdown(shutdown_rx);
    let signal_tx = shutdown_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutting down");
        let _ = signal_tx.send(true);
    });

    let leadership = if args.leader_election {
        metrics.set_ready(true);
        match leader::acquire(&client, args, shutdown.signal()).await? {
            Some(leadership) => Some(leadership),
            None => return Ok(()),
        }
    } else {
        None
    };
    metrics.set_leader(true);
    let lost_leadership = leadership.map(|l| l.watch_loss(shutdown_tx.clone()));

    let settings = Settings {
        resync: args.resync_interval.into(),
        cluster_id: args.cluster_id.clone(),
        ..Settings::default()
    };
    let (account_reader, account_writer) = reflector::store::<PlatformAccount>();
    let mut product_stores = Vec::new();
    let mut product_writers = Vec::new();
    let mut secret_stores = Vec::new();
    let mut secret_writers = Vec::new();
    for _ in &scopes {
        let (reader, writer) = reflector::store::<IotProduct>();
        product_stores.push(reader);
        product_writers.push(writer);
        let (reader, writer) = reflector::store::<Secret>();
        secret_stores.push(reader);
        secret_writers.push(writer);
    }
    let reporter =
        Reporter { controller: "iot-product-operator".into(), instance: args.instance_name.clone() };
    let observer: Arc<dyn iot_platform::CallObserver> = metrics.clone();
    let ctx = Arc::new(Context {
        client: client.clone(),
        settings: settings.clone(),
        accounts: Accounts::new(client.clone(), account_reader.clone(), args.qps_share, Some(observer))
            .with_selector(args.account_selector.clone()),
        recorder: events::EventPublisher::new(client.clone(), reporter),
        backoff: Backoff::new(settings.backoff_base, settings.backoff_cap),
        secrets: SecretStores(secret_stores),
        products: ProductStores(product_stores.clone()),
        metrics: metrics.clone(),
        checked: Default::default(),
    });

    // PlatformAccounts: their own changes (not their status writes) and changes of any
    // Secret they reference (metadata only is watched).
    let account_watch = match &args.account_selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    };
    let account_stream = watcher(Api::<PlatformAccount>::all(client.clone()), account_watch.clone())
        .default_backoff()
        .reflect(account_writer)
        .touched_objects()
        .predicate_filter(spec_relevance::<PlatformAccount>, PredicateConfig::default());
    let accounts_for_secrets = account_reader.clone();
    let mut controllers: Vec<BoxFuture<'static, ()>> = vec![
        Controller::for_stream(account_stream, account_reader.clone())
            .watches_stream(
                watcher(Api::<PartialObjectMeta<Secret>>::all(client.clone()), watcher::Config::default())
                    .default_backoff()
                    .touched_objects(),
                move |secret| {
                    let (namespace, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
                    accounts_for_secrets
                        .state()
                        .iter()
                        .filter(|a| {
                            a.spec.credentials.secret_ref.namespace == namespace
                                && a.spec.credentials.secret_ref.name == name
                        })
                        .map(|a| ObjectRef::from_obj(a.as_ref()))
                        .collect::<Vec<_>>()
                },
            )
            .graceful_shutdown_on(shutdown.signal())
            .run(
                |object, ctx: Arc<Context>| async move {
                    let start = Instant::now();
                    let result = platform_account::reconcile(object, ctx.clone()).await;
                    ctx.metrics.reconciled(
                        "PlatformAccount",
                        if result.is_ok() { "Success" } else { "KubernetesApi" },
                        start.elapsed(),
                    );
                    result
                },
                platform_account::error_policy,
                ctx.clone(),
            )
            .for_each(log_result::<PlatformAccount, platform_account::Error>("PlatformAccount"))
            .boxed(),
    ];
    let admission = Admission::new(args.concurrency, ctx.metrics.reconciles_waiting());
    for (((namespace, product_reader), product_writer), secret_writer) in
        scopes.iter().cloned().zip(product_stores).zip(product_writers).zip(secret_writers)
    {
        controllers.extend(scope_controllers(
            &client,
            Scope { namespace, product_reader, product_writer, secret_writer },
            ctx.clone(),
            account_watch.clone(),
            &admission,
            &shutdown,
        ));
    }

    // Readiness and the managed-objects gauge follow the caches.
    let gauge_ctx = ctx.clone();
    let gauge_accounts = account_reader.clone();
    tokio::spawn(async move {
        let _ = gauge_accounts.wait_until_ready().await;
        for store in &gauge_ctx.products.0 {
            let _ = store.wait_until_ready().await;
        }
        gauge_ctx.metrics.set_ready(true);
        loop {
            gauge_ctx.metrics.set_managed("IotProduct", gauge_ctx.products.state().len());
            gauge_ctx.metrics.set_managed("PlatformAccount", gauge_accounts.state().len());
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });

    info!(resync = ?settings.resync, concurrency = args.concurrency, namespaces = ?args.namespaces, "iot-product-operator running");
    futures::future::join_all(controllers).await;
    if let Some(lost) = lost_leadership
        && lost.now_or_never().is_some_and(|lost| lost.unwrap_or(false))
    {
        return Err("leadership was lost; exiting so that a new leader takes over".into());
    }
    Ok(())
}
