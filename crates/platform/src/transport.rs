//! What every HTTP exchange with Alibaba Cloud shares — the platform's and STS's: the HTTP
//! client (TLS, timeouts, no redirects), where a call goes ([`Endpoint`]), form encoding,
//! capped body reads and transport errors without URLs. [`crate::http`] and [`crate::sts`]
//! both build on it (neither on the other).

use std::time::Duration;

use super::endpoint_policy::AllowedEndpoint;

/// Where calls go: the URL the endpoint policy parsed and allowed, and the host name it
/// signs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://iot.cn-shanghai.aliyuncs.com/` or an override, exactly as the endpoint policy
    /// parsed and allowed it: requests are posted to this value, never to the text it came
    /// from.
    pub url: url::Url,
    /// `scheme://host[:port]` (no trailing slash), for messages.
    pub base_url: String,
    /// The `Host` the request carries (host, plus `:port` when not the scheme's default).
    pub host: String,
    /// The region the endpoint serves.
    pub region: String,
}

impl Endpoint {
    /// The endpoint at `allowed`, serving `region`.
    #[must_use]
    pub fn new(allowed: &AllowedEndpoint, region: &str) -> Self {
        Self {
            url: allowed.url().clone(),
            base_url: allowed.base_url().to_string(),
            host: allowed.host_header(),
            region: region.to_string(),
        }
    }

    /// The public endpoint URL of `region` (checked by the policy like any other: the region
    /// is the user's text too).
    #[must_use]
    pub fn default_url(region: &str) -> String {
        format!("https://iot.{region}.aliyuncs.com")
    }
}

/// Installs the process-wide TLS crypto provider (ring) once; reqwest is built without one.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A shared HTTP client with the operator's timeouts.
///
/// # Panics
/// Only if the TLS backend cannot initialise, which is a build problem.
#[must_use]
pub fn http_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(60))
        // A redirect would send a signed request (and its credentials) somewhere the endpoint
        // policy never allowed.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("iot-product-operator/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("HTTP client")
}

/// The largest answer read (the largest real one, a thing model, is far smaller); a larger
/// one is refused rather than buffered.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// `application/x-www-form-urlencoded` of `params`.
#[must_use]
pub fn form_encode(params: &[(String, String)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        form.append_pair(name, value);
    }
    form.finish()
}

/// A transport error as text without the request's URL, with its causes (`connection
/// refused`, `timed out`…).
#[must_use]
pub fn transport_message(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Reads the body, refusing one over `cap` bytes (by its Content-Length, or as it streams).
///
/// # Errors
/// Why it was not read, in words.
pub async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(format!("the answer is larger than {cap} bytes; not read"));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    return Err(format!("the answer is larger than {cap} bytes; not read"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(format!("reading the response: {}", transport_message(e))),
        }
    }
}
