//! Prometheus metrics and the `/metrics`, `/healthz`, `/readyz` endpoints on one port.
//!
//! Labels are bounded: resource kinds, outcomes as PascalCase categories, platform actions,
//! the error codes the client knows (else `Other`), condition reasons from the reasons
//! table (else `Other`) and PlatformAccount names — never other object names or error text.
//! `docs/metrics.md` lists every metric.

pub mod exposition;
pub mod inventory;

pub use exposition::classic_text;
pub use inventory::Inventory;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tracing::{info, warn};

use iot_platform::{CallObserver, ErrorClass, PlatformError};

/// Labels of reconcile counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// `IotProduct`, `ProductDistribution`, `PlatformAccount`.
    pub kind: &'static str,
    /// `Success` or an error category.
    pub result: String,
}

/// Labels by resource kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The resource kind.
    pub kind: &'static str,
}

/// Labels of platform calls.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// The PlatformAccount whose credentials made the call.
    pub account: String,
    /// The platform action.
    pub action: String,
    /// `Success`, a known error code, `Transport`, `Decode` or `Other`.
    pub code: &'static str,
}

/// Labels by account and platform action.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AccountActionLabels {
    /// The PlatformAccount.
    pub account: String,
    /// The platform action.
    pub action: String,
}

/// Labels by platform action.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// The platform action.
    pub action: &'static str,
}

/// Labels of the resource gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct ResourceLabels {
    /// The resource kind.
    pub kind: &'static str,
    /// `Ready`, `Reconciling` or `Stalled`.
    pub status: &'static str,
    /// The condition reason (from the reasons table, else `Other`).
    pub reason: &'static str,
}

/// Labels by distribution job state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct StateLabels {
    /// The job state.
    pub state: &'static str,
}

/// Labels by account.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct AccountLabels {
    /// The PlatformAccount.
    pub account: String,
}

/// Labels of drift findings (bounded: a few kinds and spec fields).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    /// The resource kind.
    pub kind: &'static str,
    /// The spec field.
    pub field: &'static str,
    /// `true` when put back, `false` when only observed.
    pub corrected: &'static str,
}

/// Labels of the device gauge: the account and the state (bounded: three values).
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct DeviceLabels {
    /// The PlatformAccount.
    pub account: String,
    /// `total`, `activated` or `online`.
    pub state: &'static str,
}

/// Labels of a consumer group's gauges (one series per IotConsumerGroup: a namespace has a
/// few, not thousands).
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct GroupLabels {
    /// The IotConsumerGroup's namespace.
    pub namespace: String,
    /// The IotConsumerGroup's name.
    pub name: String,
}

/// Labels of credential renewals.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RenewalLabels {
    /// The PlatformAccount.
    pub account: String,
    /// `AssumeRole` or `OIDC`.
    pub source: &'static str,
    /// `Success` or why not (`AssumeRoleRefused`, `StsUnavailable`, `OidcTokenUnreadable`).
    pub result: &'static str,
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_duration: Family<KindLabels, Histogram>,
    platform_calls: Family<CallLabels, Counter>,
    throttled: Family<AccountActionLabels, Counter>,
    limiter_wait: Family<AccountActionLabels, Histogram>,
    quota_share: Gauge<f64, std::sync::atomic::AtomicU64>,
    pace: Family<AccountActionLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    managed: Family<KindLabels, Gauge>,
    reconciles_waiting: Gauge,
    leader: Gauge,
    resources: Family<ResourceLabels, Gauge>,
    distributions: Family<StateLabels, Gauge>,
    tasks_held: Family<AccountLabels, Gauge>,
    account_ready: Family<AccountLabels, Gauge>,
    credential_renewals: Family<RenewalLabels, Counter>,
    credentials_expiry: Family<AccountLabels, Gauge>,
    devices: Family<DeviceLabels, Gauge>,
    drift: Family<DriftLabels, Counter>,
    group_backlog: Family<GroupLabels, Gauge>,
    group_clients: Family<GroupLabels, Gauge>,
    /// The inventory last exported (its series are zeroed when they vanish, not removed:
    /// a series missing from one scrape would restart the alerts' `for`).
    last_inventory: Mutex<Inventory>,
    ready: AtomicBool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("iotop");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register("reconciles", "Reconciles by resource kind and result", reconciles.clone());
        let reconcile_duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        registry.register("reconcile_duration_seconds", "Duration of reconciles", reconcile_duration.clone());
        let platform_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "platform_calls",
            "Platform call attempts by action and result code",
            platform_calls.clone(),
        );
        let throttled = Family::<AccountActionLabels, Counter>::default();
        registry.register("platform_throttled", "Platform calls refused by throttling", throttled.clone());
        let limiter_wait = Family::<AccountActionLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        registry.register(
            "ratelimit_wait_seconds",
            "Time calls waited for the per-account rate limiter",
            limiter_wait.clone(),
        );
        let quota = Family::<ActionLabels, Gauge>::default();
        registry.register(
            "platform_quota_per_second",
            "The platform's documented QPS of each operation (shared by every user of an account)",
            quota.clone(),
        );
        for (action, qps) in iot_platform::quota::QPS {
            quota.get_or_create(&ActionLabels { action }).set(i64::from(*qps));
        }
        let quota_share = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "platform_quota_share",
            "The share of each documented QPS the operator's rate limiter starts at (--qps-share)",
            quota_share.clone(),
        );
        let pace = Family::<AccountActionLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "platform_pace_per_second",
            "The rate the limiter allows now: cut by throttling replies, grown back while calls succeed, at most the whole quota",
            pace.clone(),
        );
        let managed = Family::<KindLabels, Gauge>::default();
        registry.register("managed_objects", "Objects watched, by kind", managed.clone());
        let reconciles_waiting = Gauge::default();
        registry.register(
            "reconciles_waiting",
            "IotProduct reconciles waiting for a slot of --concurrency (served fairly between namespaces); above zero for long when more work is due than the process runs at once (waits for the platform's quotas are iotop_ratelimit_wait_seconds)",
            reconciles_waiting.clone(),
        );
        let leader = Gauge::default();
        registry.register("leader", "1 when this replica holds the leader lease", leader.clone());
        let resources = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "resources",
            "Resources by kind, health (Ready, Reconciling: getting there on its own, Stalled: needs a person) and condition reason",
            resources.clone(),
        );
        let distributions = Family::<StateLabels, Gauge>::default();
        registry.register("distributions", "ProductDistributions by job state", distributions.clone());
        let tasks_held = Family::<AccountLabels, Gauge>::default();
        registry.register(
            "distribution_tasks_held",
            "Distribution tasks held by this cluster's ProductDistributions, by account",
            tasks_held.clone(),
        );
        let task_limit: Gauge = Gauge::default();
        registry.register(
            "distribution_task_limit",
            "The platform's limit of distribution tasks per account",
            task_limit.clone(),
        );
        task_limit.set(i64::try_from(iot_platform::quota::MAX_DISTRIBUTION_JOBS).unwrap_or(i64::MAX));
        let account_ready = Family::<AccountLabels, Gauge>::default();
        registry.register(
            "account_ready",
            "1 when the platform accepted the PlatformAccount's credentials at the last check",
            account_ready.clone(),
        );
        let credential_renewals = Family::<RenewalLabels, Counter>::default();
        registry.register(
            "credential_renewals",
            "Renewals of temporary credentials (STS AssumeRole / AssumeRoleWithOIDC) by account, source and result",
            credential_renewals.clone(),
        );
        let credentials_expiry = Family::<AccountLabels, Gauge>::default();
        registry.register(
            "credentials_expiry_timestamp_seconds",
            "When the account's current temporary credentials expire (Unix time)",
            credentials_expiry.clone(),
        );
        let drift = Family::<DriftLabels, Counter>::default();
        registry.register(
            "drift_corrections",
            "Fields found changed on the platform behind the operator's back, by kind, field and whether they were put back",
            drift.clone(),
        );
        let devices = Family::<DeviceLabels, Gauge>::default();
        registry.register(
            "devices",
            "Devices of the products of an account, by state (total, activated, online), as last counted",
            devices.clone(),
        );
        let group_backlog = Family::<GroupLabels, Gauge>::default();
        registry.register(
            "consumer_group_backlog",
            "Messages waiting in an IotConsumerGroup (QueryConsumerGroupStatus), as last read",
            group_backlog.clone(),
        );
        let group_clients = Family::<GroupLabels, Gauge>::default();
        registry.register(
            "consumer_group_clients",
            "AMQP clients connected to an IotConsumerGroup, as last read",
            group_clients.clone(),
        );
        Self {
            registry,
            reconciles,
            reconcile_duration,
            platform_calls,
            throttled,
            limiter_wait,
            quota_share,
            pace,
            managed,
            reconciles_waiting,
            leader,
            resources,
            distributions,
            tasks_held,
            account_ready,
            credential_renewals,
            credentials_expiry,
            devices,
            drift,
            group_backlog,
            group_clients,
            last_inventory: Mutex::default(),
            ready: AtomicBool::new(false),
        }
    }

    /// Sets the share of the documented QPS the limiter allows itself.
    pub fn set_quota_share(&self, share: f64) {
        self.quota_share.set(share);
    }

    /// Exports `inventory` (counted from the caches); series that vanished read 0.
    pub fn set_inventory(&self, inventory: Inventory) {
        let mut last = self.last_inventory.lock().expect("inventory lock");
        export(&self.resources, &last.resources, &inventory.resources, |(kind, status, reason)| {
            ResourceLabels { kind, status, reason }
        });
        export(&self.distributions, &last.distributions, &inventory.distributions, |state| StateLabels {
            state,
        });
        export(&self.tasks_held, &last.tasks_held, &inventory.tasks_held, |account| AccountLabels {
            account,
        });
        let ready: BTreeMap<String, i64> =
            inventory.accounts_ready.iter().map(|(a, r)| (a.clone(), i64::from(*r))).collect();
        let last_ready: BTreeMap<String, i64> =
            last.accounts_ready.iter().map(|(a, r)| (a.clone(), i64::from(*r))).collect();
        export(&self.account_ready, &last_ready, &ready, |account| AccountLabels { account });
        export(&self.devices, &last.devices, &inventory.devices, |(account, state)| DeviceLabels {
            account,
            state,
        });
        *last = inventory;
    }

    /// Exports the health of the IotConsumerGroup `namespace/name`; `None` removes its series
    /// (the resource is gone).
    pub fn consumer_group_health(
        &self,
        namespace: &str,
        name: &str,
        health: Option<&crate::crd::consumer_group::ConsumerGroupHealth>,
    ) {
        let labels = GroupLabels { namespace: namespace.to_string(), name: name.to_string() };
        match health {
            Some(health) => {
                self.group_backlog.get_or_create(&labels).set(health.accumulation_count);
                self.group_clients.get_or_create(&labels).set(health.online_clients);
            }
            None => {
                self.group_backlog.remove(&labels);
                self.group_clients.remove(&labels);
            }
        }
    }

    /// Records one renewal of `account`'s temporary credentials from `source`.
    pub fn credentials_renewed(
        &self,
        account: &str,
        source: &'static str,
        outcome: Result<jiff::Timestamp, &iot_platform::credential_provider::CredentialError>,
    ) {
        let result = outcome.as_ref().map_or_else(|e| e.reason(), |_| "Success");
        self.credential_renewals
            .get_or_create(&RenewalLabels { account: account.to_string(), source, result })
            .inc();
        if let Ok(expiry) = outcome {
            self.credentials_expiry
                .get_or_create(&AccountLabels { account: account.to_string() })
                .set(expiry.as_second());
        }
    }

    /// Records a field of `kind` found changed on the platform (and whether it was put back).
    pub fn drift_found(&self, kind: &'static str, field: &'static str, corrected: bool) {
        let corrected = if corrected { "true" } else { "false" };
        self.drift.get_or_create(&DriftLabels { kind, field, corrected }).inc();
    }

    /// Records one reconcile.
    pub fn reconciled(&self, kind: &'static str, result: &str, duration: Duration) {
        self.reconciles.get_or_create(&ReconcileLabels { kind, result: result.to_string() }).inc();
        self.reconcile_duration.get_or_create(&KindLabels { kind }).observe(duration.as_secs_f64());
    }

    /// Sets the number of objects of `kind`.
    pub fn set_managed(&self, kind: &'static str, count: usize) {
        self.managed.get_or_create(&KindLabels { kind }).set(count as i64);
    }

    /// The gauge of reconciles waiting for a slot, for the admission to keep.
    #[must_use]
    pub fn reconciles_waiting(&self) -> Gauge {
        self.reconciles_waiting.clone()
    }

    /// Sets whether this replica leads.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Marks the process ready (caches synced, or standing by).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// The exposition in OpenMetrics text format.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    /// The exposition in the Prometheus text format 0.0.4 (for clients that do not ask for
    /// OpenMetrics: `promtool check metrics`, `curl`, older scrapers).
    #[must_use]
    pub fn render_text(&self) -> String {
        classic_text(&self.render())
    }

    /// Serves `/metrics`, `/healthz` and `/readyz` on `addr` in a background task.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn serve(self: Arc<Self>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        info!(%bound, "serving /metrics, /healthz and /readyz");
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let metrics = self.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let metrics = metrics.clone();
                        let accept =
                            request.headers().get(hyper::header::ACCEPT).and_then(|a| a.to_str().ok());
                        let response = metrics.respond(request.uri().path(), accept);
                        async move { Ok::<_, Infallible>(response) }
                    });
                    if let Err(error) =
                        http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
                    {
                        warn!(%error, "metrics connection");
                    }
                });
            }
        });
        Ok(bound)
    }

    /// Answers a request; `/metrics` in OpenMetrics when `accept` asks for it (as Prometheus
    /// does), else in the Prometheus text format 0.0.4.
    fn respond(&self, path: &str, accept: Option<&str>) -> Response<Full<Bytes>> {
        let (status, content_type, body) = match path {
            "/metrics" if accept.is_some_and(|a| a.contains("application/openmetrics-text")) => {
                (StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", self.render())
            }
            "/metrics" => (StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", self.render_text()),
            "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
            "/readyz" if self.ready.load(Ordering::SeqCst) => {
                (StatusCode::OK, "text/plain", "ready\n".to_string())
            }
            "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "text/plain", "starting\n".to_string()),
            _ => (StatusCode::NOT_FOUND, "text/plain", "not found\n".to_string()),
        };
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("valid response")
    }
}

/// Sets `family`'s series to `now`'s counts and those only in `before` to 0.
fn export<K, L>(
    family: &Family<L, Gauge>,
    before: &BTreeMap<K, i64>,
    now: &BTreeMap<K, i64>,
    labels: impl Fn(K) -> L,
) where
    K: Ord + Clone,
    L: Clone + std::hash::Hash + Eq,
{
    for key in before.keys().filter(|k| !now.contains_key(*k)) {
        family.get_or_create(&labels(key.clone())).set(0);
    }
    for (key, count) in now {
        family.get_or_create(&labels(key.clone())).set(*count);
    }
}

impl CallObserver for Metrics {
    fn observe(&self, action: &str, error: Option<&PlatformError>, limiter_wait: Duration) {
        self.observe_for("", action, error, limiter_wait);
    }

    fn observe_for(
        &self,
        account: &str,
        action: &str,
        error: Option<&PlatformError>,
        limiter_wait: Duration,
    ) {
        let code = error.map_or("Success", |e| iot_platform::error::metric_code(e.code()));
        let labels = AccountActionLabels { account: account.to_string(), action: action.to_string() };
        self.platform_calls
            .get_or_create(&CallLabels { account: account.to_string(), action: action.to_string(), code })
            .inc();
        if error.is_some_and(|e| e.class() == ErrorClass::Throttled) {
            self.throttled.get_or_create(&labels).inc();
        }
        self.limiter_wait.get_or_create(&labels).observe(limiter_wait.as_secs_f64());
    }

    fn paced_for(&self, account: &str, action: &str, per_second: f64) {
        let labels = AccountActionLabels { account: account.to_string(), action: action.to_string() };
        self.pace.get_or_create(&labels).set(per_second);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_every_series_with_bounded_labels() {
        let metrics = Metrics::new();
        metrics.reconciled("IotProduct", "Success", Duration::from_millis(12));
        metrics.observe("CreateProduct", None, Duration::ZERO);
        let throttled = PlatformError::Api {
            action: "CreateProduct",
            code: "Throttling.User".into(),
            message: String::new(),
            request_id: "r".into(),
            http_status: 429,
            class: ErrorClass::Throttled,
        };
        metrics.observe("CreateProduct", Some(&throttled), Duration::from_millis(3));
        metrics.set_managed("IotProduct", 3);
        metrics.set_leader(true);
        metrics.paced_for("acct", "QueryProduct", 47.5);
        let text = metrics.render();
        for series in [
            r#"iotop_reconciles_total{kind="IotProduct",result="Success"} 1"#,
            r#"iotop_reconcile_duration_seconds_count{kind="IotProduct"} 1"#,
            r#"iotop_platform_calls_total{account="",action="CreateProduct",code="Success"} 1"#,
            r#"iotop_platform_calls_total{account="",action="CreateProduct",code="Throttling.User"} 1"#,
            r#"iotop_platform_throttled_total{account="",action="CreateProduct"} 1"#,
            r#"iotop_ratelimit_wait_seconds_count{account="",action="CreateProduct"} 2"#,
            r#"iotop_platform_quota_per_second{action="CreateProduct"} 50"#,
            "iotop_distribution_task_limit 10",
            r#"iotop_managed_objects{kind="IotProduct"} 3"#,
            "iotop_leader 1",
            r#"iotop_platform_pace_per_second{account="acct",action="QueryProduct"} 47.5"#,
        ] {
            assert!(text.contains(series), "missing {series} in\n{text}");
        }
    }

    #[test]
    fn the_classic_text_names_counter_families_by_their_samples_and_has_no_openmetrics_lines() {
        let metrics = Metrics::new();
        metrics.reconciled("IotProduct", "Success", Duration::from_millis(12));
        metrics.observe("CreateProduct", None, Duration::ZERO);
        let text = metrics.render_text();
        assert!(text.contains("# HELP iotop_reconciles_total Reconciles"), "{text}");
        assert!(text.contains("# TYPE iotop_reconciles_total counter"), "{text}");
        assert!(text.contains("# TYPE iotop_platform_calls_total counter"), "{text}");
        assert!(text.contains("# TYPE iotop_reconcile_duration_seconds histogram"), "{text}");
        assert!(text.contains(r#"iotop_reconciles_total{kind="IotProduct",result="Success"} 1"#), "{text}");
        assert!(!text.contains("# EOF") && !text.contains("_created"), "{text}");
        // Every sample belongs to a family with HELP and TYPE (what promlint checks).
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# HELP "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        for sample in text.lines().filter(|l| !l.starts_with('#')) {
            let name = sample.split(['{', ' ']).next().unwrap();
            let family =
                ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
            assert!(families.contains(&family) || families.contains(&name), "{name} has no HELP in\n{text}");
        }
    }

    #[test]
    fn metrics_are_served_in_the_format_asked_for() {
        let metrics = Metrics::new();
        let content_type = |accept: Option<&str>| {
            metrics.respond("/metrics", accept).headers()["content-type"].to_str().unwrap().to_string()
        };
        assert!(content_type(None).starts_with("text/plain; version=0.0.4"));
        assert!(content_type(Some("text/plain")).starts_with("text/plain; version=0.0.4"));
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(content_type(Some(prometheus)).starts_with("application/openmetrics-text"));
    }
}
