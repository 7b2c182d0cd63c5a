//! Files the platform hands out by URL (a data-parsing script's `ScriptUrl`): where they may
//! be fetched from, decided on the parsed URL that is then fetched.
//!
//! A URL the platform returns is data from the network, so it is not trusted as an address:
//! it is fetched only from the account's own platform endpoint (same scheme, host and port —
//! the emulator serves its files there) or over HTTPS from Alibaba Cloud's own domain
//! (`*.aliyuncs.com`, where Object Storage Service signs its download URLs), without
//! credentials, without following redirects, and up to a size limit.

use url::Url;

use super::PlatformError;

/// The action name download failures carry.
pub const ACTION: &str = "Download";

/// Why a URL is not fetched.
fn refused(message: String) -> PlatformError {
    PlatformError::Transport { action: ACTION, message, ambiguous: false }
}

/// The parsed URL, when it may be fetched for an account whose endpoint is `endpoint`.
///
/// # Errors
/// [`PlatformError::Transport`] (not ambiguous) naming why the URL is refused.
pub fn allowed(text: &str, endpoint: &Url) -> Result<Url, PlatformError> {
    let url =
        Url::parse(text).map_err(|e| refused(format!("the platform returned an unreadable URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused("the platform returned a URL with user information; not fetched".into()));
    }
    let same_endpoint = url.scheme() == endpoint.scheme()
        && url.host() == endpoint.host()
        && url.port_or_known_default() == endpoint.port_or_known_default();
    let alibaba_storage = url.scheme() == "https"
        && matches!(url.host(), Some(url::Host::Domain(host))
            if host.ends_with(".aliyuncs.com") && !host.ends_with('.'))
        && url.port().is_none();
    if same_endpoint || alibaba_storage {
        Ok(url)
    } else {
        Err(refused(format!(
            "the platform returned a download URL on host {:?}, which is neither the account's endpoint nor \
             Alibaba Cloud storage (https://*.aliyuncs.com); not fetched",
            url.host_str().unwrap_or_default()
        )))
    }
}

/// Fetches `url` (already [`allowed`]) with `http`: at most `limit` bytes of UTF-8 text.
///
/// # Errors
/// [`PlatformError::Transport`] when it cannot be fetched, is larger than `limit`, or is not
/// text.
pub async fn fetch(http: &reqwest::Client, url: Url, limit: usize) -> Result<String, PlatformError> {
    let host = url.host_str().unwrap_or_default().to_string();
    let response = http.get(url).send().await.map_err(|e| {
        refused(format!("cannot fetch the file from {host}: {}", super::transport::transport_message(e)))
    })?;
    if !response.status().is_success() {
        return Err(refused(format!("fetching the file from {host} answered {}", response.status())));
    }
    let body = super::transport::read_capped(response, limit)
        .await
        .map_err(|message| refused(format!("the file at {host}: {message}")))?;
    String::from_utf8(body).map_err(|_| refused(format!("the file at {host} is not UTF-8 text")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Url {
        Url::parse("http://127.0.0.1:18080/").unwrap()
    }

    #[test]
    fn only_the_accounts_endpoint_and_alibaba_storage_are_fetched() {
        for ok in [
            "http://127.0.0.1:18080/_emulator/scripts/abc",
            "https://iotx-script.oss-cn-shanghai.aliyuncs.com/a1/script.js?Expires=1&Signature=x",
        ] {
            assert!(allowed(ok, &endpoint()).is_ok(), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:18081/_emulator/scripts/abc",
            "http://169.254.169.254/latest/meta-data",
            "http://iotx-script.oss-cn-shanghai.aliyuncs.com/a1/script.js",
            "https://evil.example/aliyuncs.com",
            "https://aliyuncs.com.evil.example/x",
            "https://user:pw@bucket.oss-cn-shanghai.aliyuncs.com/x",
            "https://bucket.oss-cn-shanghai.aliyuncs.com:8443/x",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(allowed(bad, &endpoint()).is_err(), "{bad}");
        }
    }
}
