//! The `run` subcommand: the controllers of `PlatformAccount`, `IotProduct` and
//! `ProductDistribution`, sharing one context and one watch per kind and scope, behind an
//! optional leader election, with metrics and health endpoints, until SIGTERM / Ctrl-C.
//!
//! - [`controllers`]: what triggers each reconciler.
//! - [`shared`]: one watch per kind and scope, fanned out to the controllers.
//! - [`triggers`]: which changes matter, what is cached, how results are logged.
//! - [`intent_key`]: the key that signs create intents.
//! - [`leader`]: leader election.
//! - [`shutdown`]: stopping on Ctrl-C or SIGTERM.

pub mod controllers;
pub mod intent_key;
pub mod leader;
pub mod shared;
pub mod shutdown;
pub mod triggers;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tracing::{info, warn};

use crate::cli::RunArgs;
use crate::crd::{IotConsumerGroup, IotProduct, PlatformAccount, ProductDistribution};
use crate::metrics::{Metrics, inventory};
use crate::product::secret::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::reconcile::account_clients::{Accounts, OidcDefaults};
use crate::reconcile::admission::Admission;
use crate::reconcile::backoff::Backoff;
use crate::reconcile::context::{Context, GroupStores, ProductStores, SecretStores, Settings};
use crate::reconcile::events;
use crate::reconcile::tenancy::{DEFAULT_CREDENTIALS_NAMESPACE, Namespaces};
use iot_platform::endpoint_policy::{DEFAULT_PATTERNS, EndpointPolicy};

use controllers::{DistributionTriggers, ProductTriggers};
use shared::SharedWatch;
use shutdown::Shutdown;
use triggers::strip_managed_fields;

/// Why the operator cannot run (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Kubernetes cannot be reached (no kubeconfig or in-cluster config).
    #[error("cannot reach Kubernetes")]
    Kubernetes(#[source] kube::Error),
    /// The metrics address cannot be bound.
    #[error("cannot serve metrics on {addr}")]
    Metrics {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The CRDs are not served.
    #[error(
        "the CRDs are not served; install them with `kubectl apply --server-side -k crds/` (or the Helm chart) \
         and start the operator again"
    )]
    CrdsMissing(#[source] kube::Error),
    /// Leader election failed.
    #[error("leader election failed")]
    Leader(#[source] leader::LeaderError),
    /// Leadership was lost.
    #[error("leadership was lost; exiting so that a new leader takes over")]
    LostLeadership,
    /// An `--allow-endpoint` pattern cannot be read.
    #[error("--allow-endpoint")]
    EndpointPattern(#[source] iot_platform::endpoint_policy::EndpointError),
    /// The `--sts-endpoint` (`ALIBABA_CLOUD_STS_ENDPOINT`) is not on the allow list.
    #[error("--sts-endpoint / ALIBABA_CLOUD_STS_ENDPOINT")]
    StsEndpoint(#[source] iot_platform::endpoint_policy::EndpointError),
    /// The key that signs create intents cannot be had.
    #[error("the key that signs create intents")]
    IntentKey(#[source] intent_key::IntentKeyError),
}

/// Waits until the CRDs are served, telling the user how to install them meanwhile.
async fn wait_for_crds(client: &Client, namespace: Option<&str>) -> Result<(), RunError> {
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
                    return Err(RunError::CrdsMissing(e));
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

/// The watches of one namespace scope (or all namespaces).
struct ScopeWatches {
    products: SharedWatch<IotProduct>,
    distributions: SharedWatch<ProductDistribution>,
    consumer_groups: SharedWatch<IotConsumerGroup>,
    secret_store: Store<Secret>,
    secret_writer: reflector::store::Writer<Secret>,
    namespace: Option<String>,
}

impl ScopeWatches {
    fn new(client: &Client, namespace: Option<String>) -> Self {
        let ns = namespace.as_deref();
        let (secret_store, secret_writer) = reflector::store::<Secret>();
        Self {
            products: SharedWatch::new(
                "IotProduct",
                scoped(client, ns),
                watcher::Config::default(),
                strip_managed_fields,
            ),
            distributions: SharedWatch::new(
                "ProductDistribution",
                scoped(client, ns),
                watcher::Config::default(),
                strip_managed_fields,
            ),
            consumer_groups: SharedWatch::new(
                "IotConsumerGroup",
                scoped(client, ns),
                watcher::Config::default(),
                strip_managed_fields,
            ),
            secret_store,
            secret_writer,
            namespace,
        }
    }

    /// The scope's two controllers and the watches that feed them.
    fn controllers(
        mut self,
        client: &Client,
        accounts: &mut SharedWatch<PlatformAccount>,
        namespaces: &mut SharedWatch<PartialObjectMeta<Namespace>>,
        admission: &Admission,
        shutdown: &Shutdown,
        ctx: &Arc<Context>,
    ) -> Vec<BoxFuture<'static, ()>> {
        // The Secrets the operator writes: only the product controller reacts to them.
        let secrets = watcher(
            scoped::<Secret>(client, self.namespace.as_deref()),
            watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}")),
        )
        .default_backoff()
        .modify(strip_managed_fields)
        .reflect(self.secret_writer)
        .touched_objects();
        let products = controllers::products(
            ProductTriggers {
                products: self.products.subscribe(),
                product_store: self.products.store(),
                secrets,
                accounts: accounts.subscribe(),
                distributions: self.distributions.subscribe(),
                namespaces: namespaces.subscribe(),
                consumer_groups: self.consumer_groups.subscribe(),
            },
            admission.clone(),
            shutdown,
            ctx.clone(),
        );
        let distributions = controllers::distributions(
            DistributionTriggers {
                distributions: self.distributions.subscribe(),
                distribution_store: self.distributions.store(),
                products: self.products.subscribe(),
                accounts: accounts.subscribe(),
                namespaces: namespaces.subscribe(),
            },
            shutdown,
            ctx.clone(),
        );
        let consumer_groups = controllers::consumer_groups(
            self.consumer_groups.subscribe(),
            self.consumer_groups.store(),
            accounts.subscribe(),
            namespaces.subscribe(),
            shutdown,
            ctx.clone(),
        );
        vec![
            products,
            distributions,
            consumer_groups,
            self.products.run(shutdown.signal()),
            self.distributions.run(shutdown.signal()),
            self.consumer_groups.run(shutdown.signal()),
        ]
    }
}

/// Waits until `store` has its first full list. kube-runtime's `wait_until_ready` wakes only
/// the last of several waiters (one oneshot receiver, one waker) and the controller using the
/// store waits too, so this waiter polls again every 200 ms: otherwise it could wait for ever
/// (a replica without leader election never turned ready).
async fn synced<K>(store: &Store<K>)
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    while tokio::time::timeout(Duration::from_millis(200), store.wait_until_ready()).await.is_err() {}
}

/// Keeps readiness, the managed-objects gauge and the resource gauges in line with the
/// caches (every 5 s).
fn follow_caches(
    ctx: Arc<Context>,
    accounts: Store<PlatformAccount>,
    distributions: Vec<Store<ProductDistribution>>,
) {
    tokio::spawn(async move {
        synced(&accounts).await;
        for store in &ctx.products.0 {
            synced(store).await;
        }
        for store in &distributions {
            synced(store).await;
        }
        ctx.metrics.set_ready(true);
        loop {
            let products = ctx.products.state();
            let accounts = accounts.state();
            let distributions: Vec<_> = distributions.iter().flat_map(Store::state).collect();
            ctx.metrics.set_managed("IotProduct", products.len());
            ctx.metrics.set_managed("PlatformAccount", accounts.len());
            ctx.metrics.set_managed("ProductDistribution", distributions.len());
            let with_accounts = distributions
                .iter()
                .map(|pd| (pd.as_ref(), crate::distribution::desired::account_name(&ctx.products, pd)));
            ctx.metrics.set_inventory(inventory::count(
                products.iter().map(AsRef::as_ref),
                with_accounts,
                accounts.iter().map(AsRef::as_ref),
            ));
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
}

/// Stops everything on Ctrl-C / SIGTERM; returns the sender that also stops on lost leadership.
fn on_signal() -> (tokio::sync::watch::Sender<bool>, Shutdown) {
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let signal_tx = shutdown_tx.clone();
    tokio::spawn(async move {
        shutdown::signal().await;
        info!("shutting down");
        let _ = signal_tx.send(true);
    });
    (shutdown_tx, Shutdown(shutdown_rx))
}

/// Runs the operator until a shutdown signal (or the loss of leadership).
///
/// # Errors
/// [`RunError`] when Kubernetes cannot be reached, the CRDs are not installed, or leadership
/// is lost (the process then exits so that it restarts as a follower).
pub async fn run(args: &RunArgs) -> Result<(), RunError> {
    // Where credentials may go is settled before anything else: a pattern or an STS endpoint
    // that cannot be read stops the operator at once.
    let endpoint_policy = endpoint_policy(args)?;
    let client = Client::try_default().await.map_err(RunError::Kubernetes)?;
    let metrics = Arc::new(Metrics::new());
    metrics.set_quota_share(args.qps_share);
    metrics
        .clone()
        .serve(args.metrics_addr)
        .await
        .map_err(|source| RunError::Metrics { addr: args.metrics_addr, source })?;
    let namespaces: Vec<Option<String>> = if args.namespaces.is_empty() {
        vec![None]
    } else {
        args.namespaces.iter().cloned().map(Some).collect()
    };
    wait_for_crds(&client, namespaces[0].as_deref()).await?;
    let (shutdown_tx, shutdown) = on_signal();

    let leadership = if args.leader_election {
        metrics.set_ready(true);
        match leader::acquire(&client, args, shutdown.signal()).await.map_err(RunError::Leader)? {
            Some(leadership) => Some(leadership),
            None => return Ok(()),
        }
    } else {
        None
    };
    metrics.set_leader(true);
    let lost_leadership = leadership.map(|l| l.watch_loss(shutdown_tx.clone()));

    let account_watch = match &args.account_selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    };
    let mut accounts = SharedWatch::new(
        "PlatformAccount",
        Api::<PlatformAccount>::all(client.clone()),
        account_watch,
        strip_managed_fields,
    );
    let scopes: Vec<ScopeWatches> = namespaces.into_iter().map(|ns| ScopeWatches::new(&client, ns)).collect();
    let distribution_stores: Vec<Store<ProductDistribution>> =
        scopes.iter().map(|s| s.distributions.store()).collect();
    // Namespaces' labels (metadata only), for the accounts' namespace selectors.
    let mut namespaces = SharedWatch::new(
        "Namespace",
        Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
        watcher::Config::default(),
        strip_managed_fields,
    );
    // Accounts whose credential renewals start or stop failing are reconciled at once.
    let (renewals, renewed_accounts) = tokio::sync::mpsc::unbounded_channel();
    let ctx = Arc::new(
        context(
            &client,
            args,
            &metrics,
            accounts.store(),
            namespaces.store(),
            &scopes,
            renewals,
            endpoint_policy,
        )
        .await?,
    );

    let account_trigger = accounts.subscribe();
    let admission = Admission::new(args.concurrency, ctx.metrics.reconciles_waiting());
    let mut tasks = Vec::new();
    for scope in scopes {
        tasks.extend(scope.controllers(&client, &mut accounts, &mut namespaces, &admission, &shutdown, &ctx));
    }
    tasks.push(controllers::accounts(
        &client,
        account_trigger,
        accounts.store(),
        renewed_accounts,
        &shutdown,
        ctx.clone(),
    ));
    tasks.push(namespaces.run(shutdown.signal()));
    follow_caches(ctx.clone(), accounts.store(), distribution_stores);
    tasks.push(accounts.run(shutdown.signal()));

    info!(resync = ?ctx.settings.resync, concurrency = args.concurrency, namespaces = ?args.namespaces, "iot-product-operator running");
    futures::future::join_all(tasks).await;
    if let Some(lost) = lost_leadership
        && lost.now_or_never().is_some_and(|lost| lost.unwrap_or(false))
    {
        return Err(RunError::LostLeadership);
    }
    Ok(())
}

/// The namespace credentials are read from: the flag, else the operator's own namespace.
/// The default allow list widened by `--allow-endpoint`; the operator-wide STS endpoint
/// (`--sts-endpoint`, `ALIBABA_CLOUD_STS_ENDPOINT`) must be on it.
///
/// # Errors
/// [`RunError::EndpointPattern`] or [`RunError::StsEndpoint`].
fn endpoint_policy(args: &RunArgs) -> Result<EndpointPolicy, RunError> {
    let patterns = DEFAULT_PATTERNS.iter().copied().chain(args.allow_endpoints.iter().map(String::as_str));
    let policy = EndpointPolicy::new(patterns).map_err(RunError::EndpointPattern)?;
    if let Some(sts) = args.sts_endpoint.as_deref().filter(|a| !a.is_empty()) {
        policy.allow(sts).map_err(RunError::StsEndpoint)?;
    }
    Ok(policy)
}

fn credentials_namespace(args: &RunArgs) -> String {
    args.credentials_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok().filter(|ns| !ns.is_empty()))
        .unwrap_or_else(|| DEFAULT_CREDENTIALS_NAMESPACE.to_string())
}

/// The context every reconcile shares.
#[allow(clippy::too_many_arguments, reason = "the parts of the context, each made once by run()")]
async fn context(
    client: &Client,
    args: &RunArgs,
    metrics: &Arc<Metrics>,
    accounts: Store<PlatformAccount>,
    namespaces: Store<PartialObjectMeta<Namespace>>,
    scopes: &[ScopeWatches],
    renewals: tokio::sync::mpsc::UnboundedSender<String>,
    endpoint_policy: EndpointPolicy,
) -> Result<Context, RunError> {
    let settings = Settings {
        resync: args.resync_interval.into(),
        cluster_id: args.cluster_id.clone(),
        min_resync: args.min_resync_interval.into(),
        ..Settings::default()
    };
    let reporter =
        Reporter { controller: "iot-product-operator".into(), instance: args.instance_name.clone() };
    let observer: Arc<dyn iot_platform::CallObserver> = metrics.clone();
    let credentials_namespace = credentials_namespace(args);
    let intent_key =
        intent_key::load_or_create(client, &credentials_namespace).await.map_err(RunError::IntentKey)?;
    info!(%credentials_namespace, allowed_endpoints = ?args.allow_endpoints, "credentials are read from one namespace and sent to allow-listed endpoints only");
    Ok(Context {
        client: client.clone(),
        accounts: Accounts::new(client.clone(), accounts, args.qps_share, Some(observer))
            .with_selector(args.account_selector.clone())
            .with_tenancy(Namespaces(Some(namespaces)), &credentials_namespace, endpoint_policy)
            .with_renewals(
                OidcDefaults {
                    token_file: args.oidc_token_file.clone(),
                    role_arn: args.oidc_role_arn.clone().filter(|a| !a.is_empty()),
                    provider_arn: args.oidc_provider_arn.clone().filter(|a| !a.is_empty()),
                    sts_endpoint: args.sts_endpoint.clone().filter(|a| !a.is_empty()),
                },
                Some(metrics.clone()),
                Some(renewals),
            ),
        recorder: events::EventPublisher::new(client.clone(), reporter),
        backoff: Backoff::new(settings.backoff_base, settings.backoff_cap),
        secrets: SecretStores(scopes.iter().map(|s| s.secret_store.clone()).collect()),
        products: ProductStores(scopes.iter().map(|s| s.products.store()).collect()),
        consumer_groups: GroupStores(scopes.iter().map(|s| s.consumer_groups.store()).collect()),
        metrics: metrics.clone(),
        checked: Default::default(),
        own_secret_writes: Default::default(),
        intent_key,
        settings,
    })
}
