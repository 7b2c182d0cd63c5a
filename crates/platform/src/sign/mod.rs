//! Request signing for the IoT Platform's two accepted schemes, as pure functions of
//! (request, credentials, time, nonce) that return what to add to the request.
//!
//! - [`rpc_v1`]: the RPC signature version 1.0 (HMAC-SHA1 over the canonical query).
//! - [`acs3`]: ACS3-HMAC-SHA256 (header based, the scheme Alibaba Cloud recommends).
//!
//! The emulator verifies signatures by calling the same stage functions, so client and
//! server can only disagree where the published test vectors would catch it.
//!
//! No I/O happens here.

pub mod acs3;
pub mod rpc_v1;
#[cfg(test)]
mod vectors;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Which scheme a client signs its requests with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SignatureVersion {
    /// ACS3-HMAC-SHA256, header based (the default, as Alibaba Cloud recommends).
    #[default]
    V3,
    /// The RPC signature version 1.0, HMAC-SHA1 over the canonical query.
    V1,
}

/// Everything RFC 3986 does not list as unreserved (`A-Z a-z 0-9 - _ . ~`) is encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes `value` the way both signature schemes require: UTF-8, upper-case hex,
/// space as `%20`, `*` as `%2A`, `~` kept.
#[must_use]
pub fn percent_encode(value: &str) -> String {
    utf8_percent_encode(value, RFC3986).to_string()
}

/// An RPC-style call to sign: where it goes and what it carries.
#[derive(Debug, Clone, Copy)]
pub struct RpcRequest<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The virtual host, for example `iot.cn-shanghai.aliyuncs.com`.
    pub host: &'a str,
    /// The operation, for example `CreateProduct`.
    pub action: &'a str,
    /// The API version, `2018-01-20`.
    pub version: &'a str,
    /// The region id, for example `cn-shanghai`.
    pub region: &'a str,
    /// The operation's own parameters (decoded), sent in the query string.
    pub params: &'a [(String, String)],
    /// The request body (empty for RPC calls that put everything in the query).
    pub body: &'a [u8],
}

/// The per-request values that make a signature unique: when it was made and a nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningContext {
    /// The request time, formatted as the platform wants it (`2024-01-01T00:00:00Z`).
    pub timestamp: String,
    /// A value used once (anti-replay).
    pub nonce: String,
}

impl SigningContext {
    /// A context for a request made now, with a fresh random nonce.
    #[must_use]
    pub fn now() -> Self {
        Self { timestamp: format_timestamp(jiff::Timestamp::now()), nonce: uuid::Uuid::new_v4().to_string() }
    }
}

/// Formats a time as ISO 8601 UTC with second precision: `YYYY-MM-DDThh:mm:ssZ`.
#[must_use]
pub fn format_timestamp(time: jiff::Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses a timestamp in the platform's format (`YYYY-MM-DDThh:mm:ssZ`).
///
/// # Errors
/// Returns `None` when the text is not in that format.
#[must_use]
pub fn parse_timestamp(text: &str) -> Option<jiff::Timestamp> {
    if !text.ends_with('Z') || text.len() != 20 {
        return None;
    }
    text.parse::<jiff::Timestamp>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_follows_rfc3986_as_the_platform_documents() {
        assert_eq!(percent_encode("a b*c~d(e)!"), "a%20b%2Ac~d%28e%29%21");
        assert_eq!(percent_encode("/:=&+"), "%2F%3A%3D%26%2B");
        assert_eq!(percent_encode("智能灯_01"), "%E6%99%BA%E8%83%BD%E7%81%AF_01");
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
    }

    #[test]
    fn timestamps_round_trip_in_the_platform_format() {
        let time: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(format_timestamp(time), "2024-01-01T00:00:00Z");
        assert_eq!(parse_timestamp("2024-01-01T00:00:00Z"), Some(time));
        assert_eq!(parse_timestamp("2024-01-01 00:00:00"), None);
        assert_eq!(parse_timestamp("2024-01-01T00:00:00+08:00"), None);
    }
}
