//! Where credentials may be sent: an allow list of endpoint patterns. By default only
//! `https://*.aliyuncs.com` (any port-less HTTPS host under aliyuncs.com); a pattern can
//! widen it, for example to the emulator (`http://127.0.0.1:*`). Plain `http://` is only
//! allowed by a pattern that says `http://`.

use std::fmt;

/// The default allow list.
pub const DEFAULT_PATTERNS: &[&str] = &["https://*.aliyuncs.com"];

/// One allowed endpoint pattern: `[scheme://]host[:port]`, where the scheme defaults to
/// `https`, the host may start with `*.` (any subdomain, at any depth) or be `*`, and the
/// port may be `*` (any); without a port only the scheme's default port is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPattern {
    scheme: String,
    host: String,
    port: PortRule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortRule {
    Default,
    Any,
    Exactly(u16),
}

/// Why an endpoint is refused, or a pattern cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The endpoint is not a URL of the form `scheme://host[:port][/]`.
    #[error("{0:?} is not an endpoint URL of the form scheme://host[:port]")]
    NotAUrl(String),
    /// No pattern allows the endpoint.
    #[error("the endpoint {endpoint} is not allowed: the operator sends credentials only to {allowed}")]
    NotAllowed {
        /// The endpoint.
        endpoint: String,
        /// The allow list, for the message.
        allowed: String,
    },
    /// A pattern cannot be read.
    #[error("{0:?} is not an endpoint pattern of the form [scheme://]host[:port]")]
    BadPattern(String),
}

/// The parts of an endpoint URL.
struct Url<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<u16>,
}

fn parse_url(endpoint: &str) -> Option<Url<'_>> {
    let (scheme, rest) = endpoint.split_once("://")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.contains(']') || host.ends_with(']') => (host, Some(port.parse().ok()?)),
        _ => (rest, None),
    };
    (!host.is_empty()).then_some(Url { scheme, host, port })
}

impl EndpointPattern {
    /// Reads a pattern.
    ///
    /// # Errors
    /// [`EndpointError::BadPattern`] when it is not `[scheme://]host[:port]`.
    pub fn parse(text: &str) -> Result<Self, EndpointError> {
        let bad = || EndpointError::BadPattern(text.to_string());
        let (scheme, rest) = text.split_once("://").unwrap_or(("https", text));
        if !matches!(scheme, "https" | "http") || rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(bad());
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, "*")) => (host, PortRule::Any),
            Some((host, port)) => (host, PortRule::Exactly(port.parse().map_err(|_| bad())?)),
            None => (rest, PortRule::Default),
        };
        let wildcard_ok = host == "*" || !host.trim_start_matches("*.").contains('*');
        if host.is_empty() || !wildcard_ok {
            return Err(bad());
        }
        Ok(Self { scheme: scheme.to_string(), host: host.to_ascii_lowercase(), port })
    }

    fn allows(&self, url: &Url<'_>) -> bool {
        let host = url.host.to_ascii_lowercase();
        let host_ok = match self.host.strip_prefix("*.") {
            _ if self.host == "*" => true,
            Some(domain) => host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}")),
            None => host == self.host,
        };
        let port_ok = match self.port {
            PortRule::Any => true,
            PortRule::Exactly(port) => url.port == Some(port),
            PortRule::Default => {
                url.port.is_none() || url.port == Some(if self.scheme == "https" { 443 } else { 80 })
            }
        };
        url.scheme.eq_ignore_ascii_case(&self.scheme) && host_ok && port_ok
    }
}

impl fmt::Display for EndpointPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        match self.port {
            PortRule::Default => Ok(()),
            PortRule::Any => write!(f, ":*"),
            PortRule::Exactly(port) => write!(f, ":{port}"),
        }
    }
}

/// The allow list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPolicy {
    patterns: Vec<EndpointPattern>,
}

impl Default for EndpointPolicy {
    fn default() -> Self {
        Self::new(DEFAULT_PATTERNS.iter().copied()).expect("the default patterns are valid")
    }
}

impl EndpointPolicy {
    /// A policy allowing exactly `patterns`.
    ///
    /// # Errors
    /// [`EndpointError::BadPattern`] for a pattern that cannot be read.
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Self, EndpointError> {
        Ok(Self { patterns: patterns.into_iter().map(EndpointPattern::parse).collect::<Result<_, _>>()? })
    }

    /// Whether credentials may be sent to `endpoint`.
    ///
    /// # Errors
    /// [`EndpointError`] saying why not.
    pub fn check(&self, endpoint: &str) -> Result<(), EndpointError> {
        let url = parse_url(endpoint).ok_or_else(|| EndpointError::NotAUrl(endpoint.to_string()))?;
        if self.patterns.iter().any(|p| p.allows(&url)) {
            return Ok(());
        }
        let allowed = self.patterns.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        Err(EndpointError::NotAllowed { endpoint: endpoint.to_string(), allowed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_only_https_hosts_under_aliyuncs_com_are_allowed() {
        let policy = EndpointPolicy::default();
        for ok in [
            "https://iot.cn-shanghai.aliyuncs.com",
            "https://iot-vpc.cn-shanghai.aliyuncs.com/",
            "https://IOT.ap-southeast-1.aliyuncs.com:443",
        ] {
            assert_eq!(policy.check(ok), Ok(()), "{ok}");
        }
        for refused in [
            "http://iot.cn-shanghai.aliyuncs.com",
            "https://aliyuncs.com",
            "https://iot.cn-shanghai.aliyuncs.com.evil.example",
            "https://evilaliyuncs.com",
            "https://iot.cn-shanghai.aliyuncs.com:8443",
            "https://attacker.example",
        ] {
            assert!(matches!(policy.check(refused), Err(EndpointError::NotAllowed { .. })), "{refused}");
        }
        assert!(matches!(policy.check("iot.cn-shanghai.aliyuncs.com"), Err(EndpointError::NotAUrl(_))));
        assert!(matches!(
            policy.check("https://user@iot.cn-shanghai.aliyuncs.com"),
            Err(EndpointError::NotAUrl(_))
        ));
    }

    #[test]
    fn a_pattern_widens_the_list_to_exactly_what_it_says() {
        let policy = EndpointPolicy::new(["https://*.aliyuncs.com", "http://127.0.0.1:*"]).unwrap();
        assert_eq!(policy.check("http://127.0.0.1:18080"), Ok(()));
        assert!(policy.check("http://127.0.0.2:18080").is_err());
        assert!(policy.check("http://localhost:18080").is_err());
        let exact = EndpointPolicy::new(["iot.example.com:8443"]).unwrap();
        assert_eq!(exact.check("https://iot.example.com:8443"), Ok(()));
        assert!(exact.check("https://iot.example.com").is_err());
        assert!(
            exact.check("http://iot.example.com:8443").is_err(),
            "plain http only when the pattern says so"
        );
    }

    #[test]
    fn patterns_that_cannot_be_read_are_refused() {
        for bad in ["ftp://x", "https://", "https://a*b.com", "https://x/path", "https://x:port"] {
            assert!(EndpointPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_refusal_names_the_allow_list() {
        let error = EndpointPolicy::default().check("https://attacker.example").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the endpoint https://attacker.example is not allowed: the operator sends credentials only to https://*.aliyuncs.com"
        );
    }
}
