//! The IoT Platform client: credentials, request signing, typed operations and errors,
//! the rate limiter and retries.
//!
//! The reconcilers depend on the [`IotPlatform`] trait; [`http::HttpPlatform`] is the real
//! implementation (tests run it against the emulator on 127.0.0.1).

pub mod credentials;
pub mod error;
pub mod http;
pub mod model;
pub mod quota;
pub mod ratelimit;
pub mod retry;
pub mod sign;
pub mod wire;

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
}

impl RawCall {
    /// The raw form of a typed operation.
    #[must_use]
    pub fn of<O: Operation>(op: &O) -> Self {
        Self { action: O::ACTION, params: op.to_params(), idempotent: O::IDEMPOTENT }
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
}

impl<'a> dyn IotPlatform + 'a {
    /// Performs a typed operation.
    ///
    /// # Errors
    /// [`PlatformError`] when the platform refuses the call, cannot be reached, or answers
    /// with a body that does not fit the operation's response.
    pub async fn call<O: Operation>(&self, op: &O) -> Result<O::Response, PlatformError> {
        let value = self.call_raw(RawCall::of(op)).await?;
        serde_json::from_value(value).map_err(|e| PlatformError::Decode {
            action: O::ACTION,
            message: format!("unexpected response shape: {e}"),
            request_id: None,
        })
    }
}

/// Watches every attempt the client makes (for metrics).
pub trait CallObserver: Send + Sync {
    /// One attempt of `action` finished, successfully (`error` is `None`) or not, after
    /// waiting `limiter_wait` for the rate limiter.
    fn observe(&self, action: &str, error: Option<&PlatformError>, limiter_wait: Duration);
}
