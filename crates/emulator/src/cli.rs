//! The command line of the `iot-platform-emulator` binary.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::state::{DeleteWithDevices, PublishedPartsLock};

/// Play the Alibaba Cloud IoT Platform API on the wire, with state in memory.
#[derive(Debug, Parser)]
#[command(name = "iot-platform-emulator", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log level (an `EnvFilter` directive such as `info`; `RUST_LOG` wins when set).
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// What to serve.
    #[command(flatten)]
    pub emulator: EmulatorArgs,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per event.
    Json,
}

impl Cli {
    /// Installs the global log subscriber.
    pub fn init_logs(&self) {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&self.log_level));
        let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
        let _ = match self.log_format {
            LogFormat::Text => builder.with_target(false).try_init(),
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
        };
    }
}

/// What the emulator serves, and how.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address to serve the API of `--region` on.
    #[arg(long, default_value = "127.0.0.1:18080")]
    pub listen: SocketAddr,
    /// The region served at `--listen` (requests whose Host is `iot.<region>.aliyuncs.com`
    /// are served as that region instead).
    #[arg(long, default_value = "cn-shanghai")]
    pub region: String,
    /// Serve `--listen` over HTTPS with this certificate chain (PEM); with `--tls-key`.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve another region at another address, as `REGION=ADDR` (repeatable).
    #[arg(long = "region-listen", value_name = "REGION=ADDR")]
    pub region_listen: Vec<String>,
    /// An accepted AccessKey, as `ID:SECRET[:UID[:LOGON[:TOKEN]]]` (repeatable; at least one).
    #[arg(long = "access-key", value_name = "ID:SECRET[:UID[:LOGON[:TOKEN]]]", required = true)]
    pub access_keys: Vec<String>,
    /// An Enterprise instance, as `ID@REGION` (repeatable). Each region also has its public
    /// instance (for example `iotx-oxssharez200` in cn-shanghai).
    #[arg(long = "instance", value_name = "ID@REGION")]
    pub instances: Vec<String>,
    /// Do not enforce the documented QPS limits.
    #[arg(long)]
    pub no_rate_limit: bool,
    /// Multiply every documented QPS limit by this factor.
    #[arg(long, default_value_t = 1.0)]
    pub qps_scale: f64,
    /// Let published products be updated and deleted (the API pages document only the
    /// thing-model lock; by default the emulator enforces the full lock).
    #[arg(long)]
    pub allow_published_changes: bool,
    /// Products per instance.
    #[arg(long, default_value_t = 1000)]
    pub max_products_per_instance: usize,
    /// Distribution jobs per account (the platform's limit is 10).
    #[arg(long, default_value_t = 10)]
    pub max_distribution_jobs: usize,
    /// How long a distribution job runs, milliseconds.
    #[arg(long, default_value_t = 1500)]
    pub job_duration_ms: i64,
    /// What DeleteProduct does to a product that still has devices (not documented):
    /// `refuse` answers the made-up `iot.prod.ProductHasDevices`; `cascade` deletes the
    /// devices with the product.
    #[arg(long, value_enum, default_value_t = DeleteWithDevices::Cascade)]
    pub delete_product_with_devices: DeleteWithDevices,
    /// Which parts of a published product refuse changes besides its thing model (not
    /// documented): `none` (default), `script` (the data-parsing script), or
    /// `script-and-topics` (the script and the custom topic categories). Distributed products
    /// refuse both whatever this says.
    #[arg(long, value_enum, default_value_t = PublishedPartsLock::Unlocked)]
    pub lock_published_parts: PublishedPartsLock,
    /// Custom topic categories per product (not documented; 50 assumed).
    #[arg(long, default_value_t = iot_platform::quota::MAX_TOPICS_PER_PRODUCT)]
    pub max_topics_per_product: usize,
    /// Consumer groups per account and instance besides the default one (not documented;
    /// 1000 assumed).
    #[arg(long, default_value_t = iot_platform::quota::MAX_CONSUMER_GROUPS)]
    pub max_consumer_groups: usize,
    /// Answer every error code the emulator made up (where the platform documents none) with
    /// `iot.system.SystemException` or a code no one has seen, chosen call by call.
    #[arg(long, env = "IOTOP_EMULATOR_OPAQUE_CODES")]
    pub opaque_codes: bool,
    /// Latency added to every call, milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Faults at start, as a JSON file in the format of `GET /_emulator/faults`.
    #[arg(long)]
    pub faults_file: Option<PathBuf>,
    /// The STS setup (roles, OIDC providers with their keys, credential lifetime), as a
    /// JSON file in the format of `GET /_emulator/sts`.
    #[arg(long)]
    pub sts_config: Option<PathBuf>,
    /// Seed of keys and fault decisions.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}
