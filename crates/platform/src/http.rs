//! [`HttpPlatform`]: the real client. Per attempt: wait for the rate limiter, sign afresh
//! (new time and nonce), send, decode; retry per [`RetryPolicy`].
//!
//! This is the only place that talks HTTP to the platform. Response bodies are never
//! logged: they can carry a ProductSecret.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use serde_json::Value;
use tracing::debug;

use super::clock::PlatformClock;
use super::credential_provider::CredentialProvider;
use super::endpoint_policy::{EndpointError, EndpointPolicy};
use super::error::{ErrorClass, PlatformError, classify};
use super::model::Envelope;
use super::quota;
use super::ratelimit::AccountLimiter;
use super::retry::RetryPolicy;
use super::sign::{RpcRequest, SignatureVersion, SigningContext, acs3, rpc_v1};
use super::{CallObserver, Credentials, IotPlatform, RawCall};

/// The API version of every call.
pub const API_VERSION: &str = "2018-01-20";

pub use super::transport::{Endpoint, MAX_RESPONSE_BYTES, http_client};
use super::transport::{form_encode, read_capped, transport_message};

/// The endpoints of one account: its region's, and cn-shanghai's for distribution calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// For everything but distribution.
    pub regional: Endpoint,
    /// For the distribution operations (cn-shanghai only).
    pub distribution: Endpoint,
}

impl Endpoints {
    /// The endpoints of an account in `region`, with optional overrides, each allowed by
    /// `policy` (the defaults too).
    ///
    /// Without a distribution override, distribution calls go to the regional endpoint when
    /// the account is in cn-shanghai, else to the public cn-shanghai endpoint.
    ///
    /// # Errors
    /// [`EndpointError`] for an endpoint the policy refuses.
    pub fn resolve(
        policy: &EndpointPolicy,
        region: &str,
        endpoint: Option<&str>,
        distribution_endpoint: Option<&str>,
    ) -> Result<Self, EndpointError> {
        let regional_url = endpoint.map_or_else(|| Endpoint::default_url(region), str::to_string);
        let regional = Endpoint::new(&policy.allow(&regional_url)?, region);
        let distribution = match distribution_endpoint {
            Some(url) => Endpoint::new(&policy.allow(url)?, quota::DISTRIBUTION_REGION),
            None if region == quota::DISTRIBUTION_REGION => regional.clone(),
            None => Endpoint::new(
                &policy.allow(&Endpoint::default_url(quota::DISTRIBUTION_REGION))?,
                quota::DISTRIBUTION_REGION,
            ),
        };
        Ok(Self { regional, distribution })
    }
}

/// The platform over HTTP, for one account.
pub struct HttpPlatform {
    http: reqwest::Client,
    endpoints: Endpoints,
    credentials: Arc<CredentialProvider>,
    signature: SignatureVersion,
    limiter: Arc<AccountLimiter>,
    retry: RetryPolicy,
    observer: Option<Arc<dyn CallObserver>>,
    clock: PlatformClock,
}

impl std::fmt::Debug for HttpPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPlatform")
            .field("endpoints", &self.endpoints)
            .field("credentials", &self.credentials)
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

impl HttpPlatform {
    /// A client for one account, signing with the credentials `credentials` gives (a
    /// fixed [`Credentials`] converts into a provider).
    #[must_use]
    pub fn new(
        http: reqwest::Client,
        endpoints: Endpoints,
        credentials: impl Into<Arc<CredentialProvider>>,
        signature: impl Into<SignatureVersion>,
        limiter: Arc<AccountLimiter>,
    ) -> Self {
        Self {
            http,
            endpoints,
            credentials: credentials.into(),
            signature: signature.into(),
            limiter,
            retry: RetryPolicy::default(),
            observer: None,
            clock: PlatformClock::default(),
        }
    }

    /// The values no error message may carry: this client's credentials.
    fn secrets(&self) -> Vec<String> {
        self.credentials.secrets()
    }

    /// Usable credentials, or the error that says why there are none (nothing is sent).
    async fn credentials_for(&self, action: &'static str) -> Result<Credentials, PlatformError> {
        self.credentials.credentials().await.map_err(|error| PlatformError::Credentials {
            action,
            reason: error.reason(),
            message: format!("{error}; {}", error.hint()),
            transient: error.is_transient(),
        })
    }

    /// `error` without this client's credentials in its message.
    fn redact(&self, error: PlatformError) -> PlatformError {
        let secrets = self.secrets();
        let values: Vec<&str> = secrets.iter().map(String::as_str).collect();
        error.redacted(&values)
    }

    /// Uses `retry` instead of the default policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Reports every attempt to `observer` (metrics).
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The endpoints in use.
    #[must_use]
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    fn endpoint_for(&self, action: &str) -> &Endpoint {
        if quota::SHANGHAI_ONLY.contains(&action) {
            &self.endpoints.distribution
        } else {
            &self.endpoints.regional
        }
    }

    /// One attempt; also returns the platform's retry-after hint, if it sent one.
    ///
    /// Every parameter travels in a form body, never in the URL: a URL is logged by proxies
    /// and printed in HTTP errors, and with the V1 scheme it would hold the AccessKey ID, the
    /// security token and the signature (and a large thing model would not fit in one).
    async fn send_once(
        &self,
        call: &RawCall,
        credentials: &Credentials,
    ) -> (Result<Value, PlatformError>, Option<Duration>) {
        let endpoint = self.endpoint_for(call.action);
        let context = SigningContext::now();
        let (body, headers) = match self.signature {
            SignatureVersion::V1 => {
                let request = rpc_request(endpoint, call.action, &call.params, b"");
                let signed = rpc_v1::sign(&request, credentials, &context);
                (form_encode(&signed), vec![("content-type".to_string(), FORM.to_string())])
            }
            SignatureVersion::V3 => {
                let body = form_encode(&call.params);
                let request = rpc_request(endpoint, call.action, &[], body.as_bytes());
                let headers = acs3::sign(&request, credentials, &context);
                (body, headers)
            }
        };
        let mut builder = self.http.post(endpoint.url.clone()).header("accept", "application/json");
        for (name, value) in headers.iter().filter(|(name, _)| name != "host") {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = match builder.body(body).send().await {
            Ok(response) => response,
            Err(e) => {
                let ambiguous = !e.is_connect();
                let error = PlatformError::Transport {
                    action: call.action,
                    message: transport_message(e),
                    ambiguous,
                };
                return (Err(error), None);
            }
        };
        let status = response.status().as_u16();
        if let Some(date) = response.headers().get(reqwest::header::DATE).and_then(|v| v.to_str().ok()) {
            self.clock.observe_date(date, jiff::Timestamp::now().as_millisecond());
        }
        let header_request_id =
            response.headers().get("x-acs-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let retry_after = retry_after(response.headers());
        let result = match read_capped(response, MAX_RESPONSE_BYTES).await {
            Ok(body) => decode(call.action, status, header_request_id, &body),
            Err(message) => Err(PlatformError::Transport { action: call.action, message, ambiguous: true }),
        };
        (result, retry_after)
    }
}

/// The content type of a form body (signed, in the V3 scheme, like every header it sends).
const FORM: &str = "application/x-www-form-urlencoded";

fn rpc_request<'a>(
    endpoint: &'a Endpoint,
    action: &'a str,
    params: &'a [(String, String)],
    body: &'a [u8],
) -> RpcRequest<'a> {
    RpcRequest {
        method: "POST",
        host: &endpoint.host,
        action,
        version: API_VERSION,
        region: &endpoint.region,
        params,
        body,
    }
}

/// A `Retry-After` / `x-acs-retry-after` hint in seconds.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    ["x-acs-retry-after", "retry-after"]
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Turns an HTTP answer into the response value or a typed error.
///
/// # Errors
/// [`PlatformError::Api`] for gateway errors (HTTP ≥ 400) and business errors
/// (`Success: false`); [`PlatformError::Decode`] for a body that is not a JSON object.
pub fn decode(
    action: &'static str,
    status: u16,
    header_request_id: Option<String>,
    body: &[u8],
) -> Result<Value, PlatformError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| PlatformError::Decode {
        action,
        message: format!("HTTP {status}, body is not JSON: {e}"),
        request_id: header_request_id.clone(),
    })?;
    let envelope: Envelope = serde_json::from_value(value.clone()).map_err(|e| PlatformError::Decode {
        action,
        message: format!("HTTP {status}, unexpected body: {e}"),
        request_id: header_request_id.clone(),
    })?;
    let request_id = if envelope.request_id.is_empty() {
        header_request_id.unwrap_or_default()
    } else {
        envelope.request_id
    };
    let failed = status >= 400
        || envelope.success == Some(false)
        || (envelope.success.is_none() && envelope.code.is_some());
    if !failed {
        return Ok(value);
    }
    let code = envelope.code.unwrap_or_else(|| format!("HTTP{status}"));
    let message = envelope.error_message.or(envelope.message).unwrap_or_default();
    Err(PlatformError::Api {
        action,
        class: classify(&code, status),
        code,
        message,
        request_id,
        http_status: status,
    })
}

#[async_trait::async_trait]
impl IotPlatform for HttpPlatform {
    fn clock_offset_ms(&self) -> Option<i64> {
        self.clock.offset_ms()
    }

    async fn fetch(&self, url: &str, limit: usize) -> Result<String, PlatformError> {
        let url = super::download::allowed(url, &self.endpoints.regional.url)?;
        super::download::fetch(&self.http, url, limit).await
    }

    async fn call_raw(&self, call: RawCall) -> Result<Value, PlatformError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Without usable credentials nothing is sent (and no quota is taken).
            self.credentials_for(call.action).await.map_err(|e| self.redact(e))?;
            let waited = match call.max_wait {
                None => self.limiter.acquire(call.action, &call.tenant).await,
                Some(max_wait) => self
                    .limiter
                    .acquire_within(call.action, &call.tenant, max_wait)
                    .await
                    .map_err(|retry_after| PlatformError::Deferred { action: call.action, retry_after })?,
            };
            // Taken again after the wait: they may have been renewed meanwhile.
            let credentials = self.credentials_for(call.action).await.map_err(|e| self.redact(e))?;
            let (result, hint) = self.send_once(&call, &credentials).await;
            let result = result.map_err(|e| self.redact(e));
            if let Some(observer) = &self.observer {
                observer.observe(call.action, result.as_ref().err(), waited);
            }
            if let Err(error) = &result
                && error.class() == ErrorClass::Throttled
                && let Some(pace) = self.limiter.throttled(call.action)
            {
                debug!(action = call.action, pace_qps = pace, "throttled by the platform; pacing slower");
            }
            if let Some(observer) = &self.observer {
                observer.paced(call.action, self.limiter.pace(call.action));
            }
            match result {
                Ok(value) => {
                    debug!(action = call.action, attempt, "platform call succeeded");
                    return Ok(value);
                }
                Err(error) if self.retry.should_retry(&error, call.idempotent, attempt) => {
                    let wait = self.retry.backoff(attempt, rand::rng().random::<f64>(), hint);
                    debug!(
                        action = call.action,
                        attempt,
                        code = error.code(),
                        request_id = error.request_id(),
                        wait_ms = wait.as_millis() as u64,
                        "platform call failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(error) => {
                    debug!(
                        action = call.action,
                        attempt,
                        code = error.code(),
                        request_id = error.request_id(),
                        "platform call failed"
                    );
                    return Err(error);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_region_and_send_distribution_to_shanghai() {
        let policy = EndpointPolicy::new(["https://*.aliyuncs.com", "http://127.0.0.1:*"]).unwrap();
        let e = Endpoints::resolve(&policy, "ap-southeast-1", None, None).unwrap();
        assert_eq!(e.regional.base_url, "https://iot.ap-southeast-1.aliyuncs.com");
        assert_eq!(e.regional.host, "iot.ap-southeast-1.aliyuncs.com");
        assert_eq!(e.distribution.host, "iot.cn-shanghai.aliyuncs.com");
        let local =
            Endpoints::resolve(&policy, "cn-shanghai", Some("http://127.0.0.1:18080/"), None).unwrap();
        assert_eq!(local.regional.url.as_str(), "http://127.0.0.1:18080/");
        assert_eq!(local.regional.host, "127.0.0.1:18080");
        assert_eq!(local.distribution, local.regional);
        let vpc = Endpoints::resolve(
            &policy,
            "cn-beijing",
            Some("https://iot-vpc.cn-beijing.aliyuncs.com:443"),
            None,
        );
        assert_eq!(vpc.unwrap().regional.host, "iot-vpc.cn-beijing.aliyuncs.com");
    }

    #[test]
    fn a_region_is_checked_like_any_endpoint_text() {
        let policy = EndpointPolicy::default();
        for region in [
            "x.attacker.example\\",
            "x.attacker.example/",
            "x@attacker.example#",
            "cn-shanghai.aliyuncs.com.attacker.example:443#",
        ] {
            assert!(Endpoints::resolve(&policy, region, None, None).is_err(), "{region}");
        }
    }

    #[test]
    fn business_errors_arrive_with_http_200_and_success_false() {
        let body = br#"{"RequestId":"R1","Success":false,"Code":"iot.prod.NotExistedProduct","ErrorMessage":"no such product"}"#;
        let err = decode("QueryProduct", 200, None, body).unwrap_err();
        assert_eq!(err.class(), ErrorClass::NotFound);
        assert_eq!(err.request_id(), Some("R1"));
    }

    #[test]
    fn gateway_errors_use_message_and_an_http_error_status() {
        let body = br#"{"RequestId":"R2","HostId":"iot.cn-shanghai.aliyuncs.com","Code":"Throttling.User","Message":"Request was denied due to user flow control."}"#;
        let err = decode("CreateProduct", 429, None, body).unwrap_err();
        assert_eq!(err.class(), ErrorClass::Throttled);
        assert!(err.to_string().contains("user flow control"));
    }

    #[test]
    fn a_body_that_is_not_json_is_a_decode_error_with_the_header_request_id() {
        let err = decode("QueryProduct", 502, Some("R3".into()), b"<html>bad gateway</html>").unwrap_err();
        assert!(matches!(err, PlatformError::Decode { .. }));
        assert_eq!(err.request_id(), Some("R3"));
    }

    #[test]
    fn success_passes_the_whole_body_through() {
        let body = br#"{"RequestId":"R4","Success":true,"ProductKey":"a1"}"#;
        assert_eq!(decode("CreateProduct", 200, None, body).unwrap()["ProductKey"], "a1");
    }
}
