//! # iot-platform
//!
//! A client of the Alibaba Cloud IoT Platform API (version 2018-01-20), shared by the
//! operator and the emulator. Callers depend on the [`IotPlatform`] trait;
//! [`http::HttpPlatform`] is the real implementation (tests run it against the emulator on
//! 127.0.0.1).
//!
//! - [`credentials`]: an AccessKey (and STS token), redacted in `Debug`.
//! - [`credential_provider`]: where credentials come from (static, `AssumeRole`, OIDC/RRSA),
//!   cached and renewed ahead of expiry.
//! - [`sts`]: the STS calls that give temporary credentials.
//! - [`sign`]: both request signature schemes, as pure functions.
//! - [`wire`]: parameter encoding and decoding as the gateway sees it.
//! - [`model`]: the typed operations and their responses.
//! - [`download`]: files the platform hands out by URL (where they may be fetched from).
//! - [`clock`]: the platform's clock, from the `Date` header of its answers.
//! - [`endpoint_policy`]: where credentials may be sent (an allow list of endpoints).
//! - [`error`]: typed, classified platform errors (and the codes the emulator made up).
//! - [`quota`]: the documented per-account QPS of each operation.
//! - [`fair`]: a semaphore fair between tenants (round robin over their queues).
//! - [`ratelimit`]: the per-account, per-operation limiter, fair between tenants.
//! - [`retry`]: which failures are retried, and how long to wait.
//! - [`transport`]: what the platform's and STS's HTTP exchanges share (client, endpoints,
//!   form encoding, capped reads).
//! - [`http`]: the platform client over HTTP: signing, limiting, retrying.
//! - [`region`]: region facts (each region's public instance).
//! - [`tsl`]: the thing model (TSL) as the platform defines it: parsing and digests.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod adaptive;
pub mod clock;
pub mod credential_provider;
pub mod credentials;
pub mod download;
pub mod endpoint_policy;
pub mod error;
pub mod fair;
pub mod http;
pub mod model;
pub mod names;
pub mod quota;
pub mod ratelimit;
pub mod read_only;
pub mod region;
pub mod retry;
pub mod secret;
pub mod sign;
pub mod sts;
pub mod transport;
pub mod tsl;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use credentials::Credentials;
pub use error::{ErrorClass, PlatformError};
pub use model::Operation;

/// One call as the transport sees it: the action, its parameters, and whether repeating
/// it after an ambiguous failure is harmless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCall {
    /// The `Action`.
    pub action: &'static str,
    /// The operation's own parameters.
    pub params: Vec<(String, String)>,
    /// Whether the operation is idempotent.
    pub idempotent: bool,
    /// Who the call is made for (the operator's namespace): the account's quota is shared
    /// fairly between tenants. Empty for a caller that does not share.
    pub tenant: std::sync::Arc<str>,
    /// The longest the call may wait for the account's rate limiter; past it nothing is sent
    /// and the call fails with [`PlatformError::Deferred`]. `None`: wait as long as it takes.
    pub max_wait: Option<Duration>,
}

impl RawCall {
    /// The raw form of a typed operation.
    #[must_use]
    pub fn of<O: Operation>(op: &O) -> Self {
        Self {
            action: O::ACTION,
            params: op.to_params(),
            idempotent: O::IDEMPOTENT,
            tenant: "".into(),
            max_wait: None,
        }
    }
}

/// The IoT Platform as the reconcilers see it: one account, typed calls.
///
/// Implementations sign, rate-limit and retry as they see fit; callers get either the
/// response or a classified [`PlatformError`] that keeps the platform's RequestId.
#[async_trait::async_trait]
pub trait IotPlatform: Send + Sync {
    /// Performs one call and returns the response body.
    ///
    /// # Errors
    /// [`PlatformError`] when the platform refuses the call or cannot be reached.
    async fn call_raw(&self, call: RawCall) -> Result<Value, PlatformError>;

    /// The platform's clock minus the local one, milliseconds, from the `Date` header of its
    /// latest answer ([`clock::PlatformClock`]); `None` when unknown.
    fn clock_offset_ms(&self) -> Option<i64> {
        None
    }

    /// Fetches a file the platform handed out by URL (see [`download`](
    /// <dyn IotPlatform>::download)); by default not supported.
    ///
    /// # Errors
    /// [`PlatformError::Transport`] when the implementation cannot fetch files.
    async fn fetch(&self, url: &str, limit: usize) -> Result<String, PlatformError> {
        let _ = (url, limit);
        Err(PlatformError::Transport {
            action: "Download",
            message: "this client cannot download files".into(),
            ambiguous: false,
        })
    }
}

impl<'a> dyn IotPlatform + 'a {
    /// Performs a typed operation.
    ///
    /// # Errors
    /// [`PlatformError`] when the platform refuses the call, cannot be reached, or answers
    /// with a body that does not fit the operation's response.
    pub async fn call<O: Operation>(&self, op: &O) -> Result<O::Response, PlatformError> {
        let value = self.call_raw(RawCall::of(op)).await?;
        decode::<O>(value)
    }

    /// Performs a typed operation if the account's rate limiter lets it go within
    /// `max_wait`; otherwise sends nothing and fails with [`PlatformError::Deferred`], which
    /// says when to try again (for the slowest operations, so a caller does not hold a
    /// worker while it queues).
    ///
    /// # Errors
    /// As [`call`](Self::call), and [`PlatformError::Deferred`].
    pub async fn call_within<O: Operation>(
        &self,
        op: &O,
        max_wait: Duration,
    ) -> Result<O::Response, PlatformError> {
        let value = self.call_raw(RawCall { max_wait: Some(max_wait), ..RawCall::of(op) }).await?;
        decode::<O>(value)
    }

    /// Fetches a file the platform handed out by URL (a data-parsing script's `ScriptUrl`):
    /// without credentials, only from the platform's own endpoint or Alibaba Cloud's storage
    /// over HTTPS, at most `limit` bytes.
    ///
    /// # Errors
    /// [`PlatformError`] when the URL is not one the platform hands out, or the file cannot
    /// be read.
    pub async fn download(&self, url: &str, limit: usize) -> Result<String, PlatformError> {
        self.fetch(url, limit).await
    }
}

fn decode<O: Operation>(value: Value) -> Result<O::Response, PlatformError> {
    serde_json::from_value(value).map_err(|e| PlatformError::Decode {
        action: O::ACTION,
        message: format!("unexpected response shape: {e}"),
        request_id: None,
    })
}

/// A client whose calls are all made for one tenant (the account's quota is shared fairly
/// between tenants).
#[derive(Clone)]
pub struct ForTenant {
    inner: std::sync::Arc<dyn IotPlatform>,
    tenant: std::sync::Arc<str>,
}

impl ForTenant {
    /// `inner`'s calls, made for `tenant`.
    #[must_use]
    pub fn new(inner: std::sync::Arc<dyn IotPlatform>, tenant: &str) -> Self {
        Self { inner, tenant: tenant.into() }
    }
}

impl std::fmt::Debug for ForTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForTenant").field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl IotPlatform for ForTenant {
    async fn call_raw(&self, mut call: RawCall) -> Result<Value, PlatformError> {
        call.tenant = self.tenant.clone();
        self.inner.call_raw(call).await
    }

    fn clock_offset_ms(&self) -> Option<i64> {
        self.inner.clock_offset_ms()
    }

    async fn fetch(&self, url: &str, limit: usize) -> Result<String, PlatformError> {
        self.inner.fetch(url, limit).await
    }
}

/// Watches every attempt the client makes (for metrics).
pub trait CallObserver: Send + Sync {
    /// One attempt of `action` finished, successfully (`error` is `None`) or not, after
    /// waiting `limiter_wait` for the rate limiter.
    fn observe(&self, action: &str, error: Option<&PlatformError>, limiter_wait: Duration);

    /// The same, for an attempt made with the credentials of `account` (see
    /// [`AccountObserver`]); by default the account is not told apart.
    fn observe_for(
        &self,
        account: &str,
        action: &str,
        error: Option<&PlatformError>,
        limiter_wait: Duration,
    ) {
        let _ = account;
        self.observe(action, error, limiter_wait);
    }

    /// The limiter's pace of `action` after an attempt, in requests per second (for a
    /// gauge); by default ignored.
    fn paced(&self, action: &str, per_second: f64) {
        self.paced_for("", action, per_second);
    }

    /// The same, for the client of `account`.
    fn paced_for(&self, account: &str, action: &str, per_second: f64) {
        let _ = (account, action, per_second);
    }
}

/// Passes every attempt on to `inner`, naming the account whose client made it.
pub struct AccountObserver {
    account: String,
    inner: Arc<dyn CallObserver>,
}

impl AccountObserver {
    /// An observer for the client of `account`.
    #[must_use]
    pub fn new(account: impl Into<String>, inner: Arc<dyn CallObserver>) -> Self {
        Self { account: account.into(), inner }
    }
}

impl CallObserver for AccountObserver {
    fn observe(&self, action: &str, error: Option<&PlatformError>, limiter_wait: Duration) {
        self.inner.observe_for(&self.account, action, error, limiter_wait);
    }

    fn paced(&self, action: &str, per_second: f64) {
        self.inner.paced_for(&self.account, action, per_second);
    }
}
