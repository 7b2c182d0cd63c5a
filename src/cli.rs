//! The command line of the `iot-product-operator` binary: one binary, several subcommands.

use std::path::PathBuf;

use std::net::SocketAddr;

use clap::{Parser, Subcommand};

use crate::telemetry::LogFormat;

/// Manage Alibaba Cloud IoT Platform products from Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "iot-product-operator", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "IOTOP_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log level (an `EnvFilter` directive such as `info` or `iot_product_operator=debug`;
    /// `RUST_LOG` wins when set).
    #[arg(long, global = true, default_value = "info", env = "IOTOP_LOG_LEVEL")]
    pub log_level: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions as YAML, or write one file per CRD into a
    /// directory (as checked in under `crds/`).
    Crds(CrdsArgs),
    /// Run the operator: reconcile PlatformAccounts, IotProducts and ProductDistributions.
    Run(Box<RunArgs>),
    /// Show what the operator would do for a set of manifests, reading the live platform
    /// without writing: the calls per resource and what would block. Exit code 0: no
    /// changes, 2: changes that will apply, 1: errors or something blocked.
    Plan(crate::plan::PlanArgs),
    /// Write IotProduct manifests (and a kustomization.yaml) for an account's existing
    /// products, reading the platform without writing, so they can be adopted from Git.
    Import(crate::import::ImportArgs),
}

/// Arguments of `crds`.
#[derive(Debug, clap::Args)]
pub struct CrdsArgs {
    /// Write one file per CRD (plus a kustomization.yaml) into this directory instead of
    /// printing a multi-document stream.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// How often each resource is compared with the platform when nothing changed (drift
    /// detection), for example `10m` or `30s`.
    #[arg(long, default_value = "10m", env = "IOTOP_RESYNC_INTERVAL")]
    pub resync_interval: humantime::Duration,
    /// How many IotProducts are reconciled at the same time (in the whole process; waiting
    /// reconciles are admitted in arrival order); 0 for no bound.
    #[arg(long, default_value_t = 64, env = "IOTOP_CONCURRENCY")]
    pub concurrency: u16,
    /// The share of each documented per-account QPS quota the operator starts at; the pace
    /// then adapts: cut by the platform's throttling replies (another client shares the
    /// account, or its quota is lower), grown back while calls succeed, up to the whole quota
    /// (`share` × quota above 1, for accounts with raised quotas).
    #[arg(long, default_value_t = 0.9, env = "IOTOP_QPS_SHARE")]
    pub qps_share: f64,
    /// Watch IotProducts, ProductDistributions and the Secrets the operator writes in these
    /// namespaces only (repeatable, or comma-separated; default: all namespaces).
    #[arg(long = "namespace", env = "IOTOP_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Reconcile only the PlatformAccounts matching this label selector (for example to
    /// split accounts between operator deployments).
    #[arg(long, env = "IOTOP_ACCOUNT_SELECTOR")]
    pub account_selector: Option<String>,
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoints.
    #[arg(long, default_value = "0.0.0.0:8080", env = "IOTOP_METRICS_ADDR")]
    pub metrics_addr: SocketAddr,
    /// Take part in leader election: only the holder of the Lease reconciles.
    #[arg(long, env = "IOTOP_LEADER_ELECTION")]
    pub leader_election: bool,
    /// Namespace of the leader election Lease (defaults to the pod's namespace).
    #[arg(long, default_value = "default", env = "POD_NAMESPACE")]
    pub leader_election_namespace: String,
    /// Name of the leader election Lease.
    #[arg(long, default_value = "iot-product-operator", env = "IOTOP_LEADER_ELECTION_LEASE")]
    pub leader_election_lease: String,
    /// How long a leader's lease lasts without renewal, in seconds (a new leader takes over
    /// within this time after the old one dies).
    #[arg(long, default_value_t = 15, env = "IOTOP_LEASE_DURATION_SECONDS")]
    pub lease_duration_seconds: u64,
    /// This cluster's id: products the operator manages carry it (with the resource's UID)
    /// in their `iotop.cluster` tag, so operators of two clusters sharing an account never
    /// manage the same product. Give each cluster its own id.
    #[arg(long, default_value = "kubernetes", env = "IOTOP_CLUSTER_ID")]
    pub cluster_id: String,
    /// The namespace PlatformAccount credentials are read from (and only from); defaults to
    /// the namespace the operator runs in (`POD_NAMESPACE`), else
    /// `iot-product-operator-system`.
    #[arg(long, env = "IOTOP_CREDENTIALS_NAMESPACE")]
    pub credentials_namespace: Option<String>,
    /// Also allow sending credentials to endpoints matching this pattern,
    /// `[scheme://]host[:port]` (`*.` for any subdomain, `:*` for any port; plain `http` only
    /// when written), besides `https://*.aliyuncs.com` (repeatable, or comma-separated).
    #[arg(long = "allow-endpoint", env = "IOTOP_ALLOW_ENDPOINTS", value_delimiter = ',')]
    pub allow_endpoints: Vec<String>,
    /// The shortest resync interval a resource's `iot.productoperator.dev/resync-interval`
    /// annotation may ask for, so that one namespace cannot use up an account's read quota.
    #[arg(long, default_value = "60s", env = "IOTOP_MIN_RESYNC_INTERVAL")]
    pub min_resync_interval: humantime::Duration,
    /// The projected service-account token that `oidc` (RRSA) PlatformAccounts exchange for
    /// a RAM role's credentials; read afresh at every renewal (the kubelet rotates it).
    #[arg(long, env = "ALIBABA_CLOUD_OIDC_TOKEN_FILE")]
    pub oidc_token_file: Option<PathBuf>,
    /// The role `oidc` PlatformAccounts assume when they name none.
    #[arg(long, env = "ALIBABA_CLOUD_ROLE_ARN")]
    pub oidc_role_arn: Option<String>,
    /// The RAM OIDC provider `oidc` PlatformAccounts use when they name none.
    #[arg(long, env = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN")]
    pub oidc_provider_arn: Option<String>,
    /// The STS endpoint of PlatformAccounts that name none (default
    /// `https://sts.<region>.aliyuncs.com`); it must be on the endpoint allow list.
    #[arg(long, env = "ALIBABA_CLOUD_STS_ENDPOINT")]
    pub sts_endpoint: Option<String>,
    /// This replica's name in Events and the lease (defaults to the pod name).
    #[arg(long, env = "POD_NAME")]
    pub instance_name: Option<String>,
}
