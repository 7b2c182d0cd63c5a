//! The `run` subcommand: the controllers of `PlatformAccount` and `IotProduct`, sharing one
//! context, until SIGTERM / Ctrl-C.

pub mod accounts;
pub mod backoff;
pub mod conditions;
pub mod context;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Controller;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Config as ControllerConfig, PredicateConfig, WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tracing::{error, info, warn};

use crate::cli::RunArgs;
use crate::crd::{IotProduct, PlatformAccount, ProductDistribution};
use crate::product::{
    self,
    secret::{MANAGED_BY, MANAGED_BY_LABEL},
};
use crate::{account, distribution};

use accounts::Accounts;
use backoff::Backoff;
use context::{Context, Settings};

/// Waits until the CRDs are served, telling the user how to install them meanwhile.
async fn wait_for_crds(client: &Client) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let products = Api::<IotProduct>::all(client.clone()).list(&ListParams::default().limit(1)).await;
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

/// Runs the operator until a shutdown signal.
///
/// # Errors
/// A message when Kubernetes cannot be reached or the CRDs are not installed.
pub async fn run(args: &RunArgs) -> Result<(), String> {
    let client = Client::try_default().await.map_err(|e| format!("cannot reach Kubernetes: {e}"))?;
    wait_for_crds(&client).await?;

    let settings = Settings { resync: args.resync_interval.into(), ..Settings::default() };
    let (product_reader, product_writer) = reflector::store::<IotProduct>();
    let (account_reader, account_writer) = reflector::store::<PlatformAccount>();
    let (secret_reader, secret_writer) = reflector::store::<Secret>();

    let reporter =
        Reporter { controller: "iot-product-operator".into(), instance: args.instance_name.clone() };
    let ctx = Arc::new(Context {
        client: client.clone(),
        settings: settings.clone(),
        accounts: Accounts::new(client.clone(), account_reader.clone(), args.qps_share, None),
        recorder: Recorder::new(client.clone(), reporter),
        backoff: Backoff::new(settings.backoff_base, settings.backoff_cap),
        secrets: secret_reader,
        products: product_reader.clone(),
    });

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::emulator::run::shutdown_signal().await;
        info!("shutting down");
        let _ = shutdown_tx.send(true);
    });
    let shutdown = move || {
        let mut rx = shutdown_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    // PlatformAccounts: reconciled on their own changes and on changes of any Secret they
    // reference (metadata only is watched).
    let accounts_api = Api::<PlatformAccount>::all(client.clone());
    let account_watch = match &args.account_selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    };
    // The account's own status writes do not retrigger it (its Secret and resyncs do).
    let account_stream = watcher(accounts_api.clone(), account_watch.clone())
        .default_backoff()
        .reflect(account_writer)
        .touched_objects()
        .predicate_filter(spec_relevance::<PlatformAccount>, PredicateConfig::default());
    let accounts_for_secrets = account_reader.clone();
    let account_controller = Controller::for_stream(account_stream, account_reader.clone())
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
        .graceful_shutdown_on(shutdown())
        .run(account::reconcile, account::error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "account controller");
            }
        });

    // IotProducts: reconciled on their own changes, on changes of the Secrets they own, and
    // when their account's spec or readiness changes.
    let products_api: Api<IotProduct> = match &args.namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    let secrets_api: Api<Secret> = match &args.namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    // Only changes that mean something to the reconciler trigger it (spec, deletion,
    // finalizers, annotations), not the operator's own status writes; resyncs are scheduled.
    let product_stream = watcher(products_api, watcher::Config::default())
        .default_backoff()
        .reflect(product_writer)
        .touched_objects()
        .predicate_filter(spec_relevance::<IotProduct>, PredicateConfig::default());
    let secret_stream =
        watcher(secrets_api, watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}")))
            .default_backoff()
            .reflect(secret_writer)
            .touched_objects();
    let products_for_accounts = product_reader.clone();
    let account_changes = watcher(accounts_api, account_watch)
        .default_backoff()
        .touched_objects()
        .predicate_filter(account_relevance, PredicateConfig::default());
    let distributions_api: Api<ProductDistribution> = match &args.namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    // A distribution's progress shows on its product (the thing-model lock).
    let distribution_changes =
        watcher(distributions_api.clone(), watcher::Config::default()).default_backoff().touched_objects();
    let product_controller = Controller::for_stream(product_stream, product_reader)
        .owns_stream(secret_stream)
        .watches_stream(account_changes, move |account: PlatformAccount| {
            let name = account.name_any();
            products_for_accounts
                .state()
                .iter()
                .filter(|p| product::account_name(p) == name)
                .map(|p| ObjectRef::from_obj(p.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(distribution_changes, |pd: ProductDistribution| {
            let namespace = pd.namespace().unwrap_or_default();
            pd.spec.product_ref.map(|r| ObjectRef::new(&r.name).within(&namespace))
        })
        .with_config(ControllerConfig::default().concurrency(args.concurrency))
        .graceful_shutdown_on(shutdown())
        .run(product::reconcile, product::error_policy, ctx.clone())
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(%object, "reconciled"),
                Err(kube::runtime::controller::Error::ReconcilerFailed(_, _)) => {}
                Err(e) => error!(error = %e, "product controller"),
            }
        });

    // ProductDistributions: reconciled on their own changes and when their product changes
    // (it may become Ready).
    let (distribution_reader, distribution_writer) = reflector::store::<ProductDistribution>();
    let distribution_stream = watcher(distributions_api, watcher::Config::default())
        .default_backoff()
        .reflect(distribution_writer)
        .touched_objects()
        .predicate_filter(spec_relevance::<ProductDistribution>, PredicateConfig::default());
    let products_api_for_pd: Api<IotProduct> = match &args.namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    let pd_reader = distribution_reader.clone();
    let distribution_controller = Controller::for_stream(distribution_stream, distribution_reader)
        .watches_stream(
            watcher(products_api_for_pd, watcher::Config::default()).default_backoff().touched_objects(),
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
        .graceful_shutdown_on(shutdown())
        .run(distribution::reconcile, distribution::error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result
                && !matches!(e, kube::runtime::controller::Error::ReconcilerFailed(_, _))
            {
                error!(error = %e, "distribution controller");
            }
        });

    info!(resync = ?settings.resync, concurrency = args.concurrency, "iot-product-operator running");
    futures::join!(account_controller, product_controller.boxed(), distribution_controller.boxed());
    Ok(())
}
