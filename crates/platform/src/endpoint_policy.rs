//! Where credentials may be sent: an allow list of endpoint patterns, decided on the URL the
//! HTTP client will connect to.
//!
//! One parse, one decision: an endpoint's text is parsed once by [`url::Url`] — the parser
//! reqwest uses — and refused when the parsed form differs from the text in anything but
//! letter case, a trailing slash and an explicit default port (a backslash, userinfo, a
//! percent-escape, a control or non-ASCII character, a trailing dot, a path, query or
//! fragment, a number the parser reads as an IPv4 address). The allow list is then matched
//! against the parsed scheme, host and port, and what the client is given is that parsed
//! value ([`AllowedEndpoint`]), never the text: the two cannot disagree on the host.
//!
//! By default only `https://*.aliyuncs.com` (any HTTPS host under aliyuncs.com, on port
//! 443) is allowed; a pattern can widen it, for example to the emulator
//! (`http://127.0.0.1:*`). Plain `http://` is only allowed by a pattern that says `http://`;
//! an IP address only by a pattern that names that address.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

/// The default allow list.
pub const DEFAULT_PATTERNS: &[&str] = &["https://*.aliyuncs.com"];

/// One allowed endpoint pattern: `[scheme://]host[:port]`, where the scheme defaults to
/// `https`, the host is a domain name, `*.` and a domain (any subdomain, at any depth), `*`
/// (any domain name, no IP address) or an IP address (`127.0.0.1`, `[::1]`), and the port
/// may be `*` (any); without a port only the scheme's default port is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPattern {
    scheme: String,
    host: HostRule,
    port: PortRule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    /// Any domain name (never an IP address).
    AnyDomain,
    /// Any proper subdomain of this domain.
    SubdomainOf(String),
    /// Exactly this domain.
    Domain(String),
    /// Exactly this address.
    Ip(IpAddr),
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
    #[error("{endpoint:?} is not an endpoint URL of the form scheme://host[:port]: {why}")]
    NotAUrl {
        /// The endpoint's text (with control characters escaped by `{:?}`).
        endpoint: String,
        /// What is wrong.
        why: String,
    },
    /// The URL parser reads the endpoint differently from how it is written.
    #[error(
        "{endpoint:?} is refused: {difference}; the HTTP client would read it as {parsed:?}. Write the endpoint \
         as scheme://host[:port] with a plain ASCII host name"
    )]
    ReadDifferently {
        /// The endpoint's text.
        endpoint: String,
        /// What differs, in words.
        difference: String,
        /// The URL the client would have used.
        parsed: String,
    },
    /// No pattern allows the endpoint.
    #[error("the endpoint {endpoint} is not allowed: the operator sends credentials only to {allowed}")]
    NotAllowed {
        /// The endpoint, as parsed.
        endpoint: String,
        /// The allow list, for the message.
        allowed: String,
    },
    /// A pattern cannot be read.
    #[error("{pattern:?} is not an endpoint pattern of the form [scheme://]host[:port]: {why}")]
    BadPattern {
        /// The pattern's text.
        pattern: String,
        /// What is wrong.
        why: String,
    },
}

/// An endpoint the policy allowed: the parsed URL (`scheme://host[:port]/`) the client
/// connects to. Only [`EndpointPolicy::allow`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedEndpoint {
    url: Url,
}

impl AllowedEndpoint {
    /// The URL requests are posted to (`scheme://host[:port]/`).
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The `Host` a request carries and signs: the host, with `:port` when it is not the
    /// scheme's default.
    #[must_use]
    pub fn host_header(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    /// `scheme://host[:port]`, without the trailing slash (for messages and logs).
    #[must_use]
    pub fn base_url(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// An endpoint the caller vouches for without a policy: for the client's own tests.
    #[cfg(test)]
    pub(crate) fn unchecked(text: &str) -> Self {
        Self { url: Url::parse(text).expect("a test URL") }
    }
}

impl fmt::Display for AllowedEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base_url())
    }
}

/// What in `text` a URL parser may read differently from a person: refused before parsing,
/// so that the message names it.
fn textual_problem(text: &str) -> Option<&'static str> {
    if text.chars().any(char::is_control) {
        Some("it contains a control character (a URL parser drops tabs and newlines silently)")
    } else if text.contains(char::is_whitespace) {
        Some("it contains white space")
    } else if text.contains('\\') {
        Some("it contains a backslash, which a URL parser reads as '/'")
    } else if text.contains('@') {
        Some("it contains '@': the part before it is userinfo, not the host")
    } else if text.contains('%') {
        Some("it contains a percent-escape, which a URL parser decodes")
    } else if !text.is_ascii() {
        Some("it contains non-ASCII characters, which a URL parser maps to other ASCII ones")
    } else {
        None
    }
}

/// The characters a host name may have here (letters, digits, `-`, `_`, `.`).
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Parses an endpoint's text into the URL the client would use, refusing any text the
/// parser reads differently from how it is written.
///
/// # Errors
/// [`EndpointError::NotAUrl`] or [`EndpointError::ReadDifferently`].
pub fn parse_endpoint(text: &str) -> Result<Url, EndpointError> {
    let not_a_url = |why: &str| EndpointError::NotAUrl { endpoint: text.to_string(), why: why.to_string() };
    let differently = |url: &Url, difference: &str| EndpointError::ReadDifferently {
        endpoint: text.to_string(),
        difference: difference.to_string(),
        parsed: url.to_string(),
    };
    if let Some(problem) = textual_problem(text) {
        // Say where the parser would have gone, when it can.
        return Err(match Url::parse(text) {
            Ok(url) => differently(&url, problem),
            Err(_) => not_a_url(problem),
        });
    }
    let url = Url::parse(text).map_err(|e| not_a_url(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(not_a_url("the scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(differently(&url, "it carries userinfo"));
    }
    if url.query().is_some() {
        return Err(differently(&url, "it has a query ('?')"));
    }
    if url.fragment().is_some() {
        return Err(differently(&url, "it has a fragment ('#')"));
    }
    if url.path() != "/" {
        return Err(differently(&url, "it has a path; an endpoint is scheme://host[:port] only"));
    }
    match url.host() {
        None => return Err(not_a_url("it has no host")),
        Some(Host::Domain(domain)) if domain.ends_with('.') => {
            return Err(differently(&url, "its host ends with a dot"));
        }
        Some(Host::Domain(domain)) if !is_host_name(domain) => {
            return Err(differently(&url, "its host has characters a host name cannot have"));
        }
        Some(_) => {}
    }
    // What is left may differ only in letter case, a trailing slash and a default port.
    let mut written = text.to_ascii_lowercase();
    if !written.ends_with('/') {
        written.push('/');
    }
    let with_default_port = url.port_or_known_default().map(|port| {
        let host = url.host_str().unwrap_or_default();
        format!("{}://{host}:{port}/", url.scheme())
    });
    if written != url.as_str() && Some(&written) != with_default_port.as_ref() {
        return Err(differently(
            &url,
            "the URL parser reads its host or port differently from how it is written",
        ));
    }
    Ok(url)
}

impl EndpointPattern {
    /// Reads a pattern.
    ///
    /// # Errors
    /// [`EndpointError::BadPattern`] when it is not `[scheme://]host[:port]`, or has anything a
    /// URL parser would read differently (a backslash, userinfo, a percent-escape…).
    pub fn parse(text: &str) -> Result<Self, EndpointError> {
        let bad = |why: &str| EndpointError::BadPattern { pattern: text.to_string(), why: why.to_string() };
        if let Some(problem) = textual_problem(text) {
            return Err(bad(problem));
        }
        let (scheme, rest) = text.split_once("://").unwrap_or(("https", text));
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "https" | "http") {
            return Err(bad("the scheme must be http or https"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(bad("a pattern has no path, query or fragment"));
        }
        let (host, port) = split_port(rest).ok_or_else(|| bad("the port must be a number or *"))?;
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostRule::AnyDomain
        } else if let Some(domain) = host.strip_prefix("*.") {
            if !is_host_name(domain) {
                return Err(bad("after '*.' comes a domain name"));
            }
            HostRule::SubdomainOf(domain.to_string())
        } else if let Some(ip) = parse_ip(&host) {
            HostRule::Ip(ip)
        } else if is_host_name(&host) && !looks_numeric(&host) {
            HostRule::Domain(host)
        } else {
            return Err(bad("the host must be a domain name, '*', '*.' and a domain, or an IP address"));
        };
        Ok(Self { scheme, host, port })
    }

    fn allows(&self, url: &Url) -> bool {
        let host_ok = match (&self.host, url.host()) {
            (HostRule::AnyDomain, Some(Host::Domain(_))) => true,
            (HostRule::SubdomainOf(domain), Some(Host::Domain(host))) => {
                host.len() > domain.len() + 1 && host.ends_with(domain.as_str()) && {
                    let cut = host.len() - domain.len() - 1;
                    host.as_bytes()[cut] == b'.'
                }
            }
            (HostRule::Domain(domain), Some(Host::Domain(host))) => host == domain,
            (HostRule::Ip(IpAddr::V4(ip)), Some(Host::Ipv4(host))) => *ip == host,
            (HostRule::Ip(IpAddr::V6(ip)), Some(Host::Ipv6(host))) => *ip == host,
            _ => false,
        };
        let port = url.port_or_known_default();
        let port_ok = match self.port {
            PortRule::Any => true,
            PortRule::Exactly(wanted) => port == Some(wanted),
            PortRule::Default => port == Some(if self.scheme == "https" { 443 } else { 80 }),
        };
        url.scheme() == self.scheme && host_ok && port_ok
    }
}

/// Splits `host[:port]` (an IPv6 host in brackets); `None` for a port that is not a number
/// or `*`.
fn split_port(rest: &str) -> Option<(&str, PortRule)> {
    let colon = if rest.starts_with('[') {
        rest.find(']').map(|end| end + 1).filter(|&end| end < rest.len())
    } else {
        rest.rfind(':')
    };
    match colon {
        Some(at) if rest.as_bytes()[at] == b':' => {
            let (host, port) = (&rest[..at], &rest[at + 1..]);
            let rule = if port == "*" { PortRule::Any } else { PortRule::Exactly(port.parse().ok()?) };
            Some((host, rule))
        }
        Some(_) => None,
        None => Some((rest, PortRule::Default)),
    }
}

/// An IP address written the one way the URL parser writes it back.
fn parse_ip(host: &str) -> Option<IpAddr> {
    let ip: IpAddr = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host).parse().ok()?;
    Some(ip)
}

/// Whether the URL parser would read this host name as an IPv4 address (its last label a
/// number, decimal or hexadecimal).
fn looks_numeric(host: &str) -> bool {
    let last = host.rsplit('.').next().unwrap_or_default();
    last.bytes().all(|b| b.is_ascii_digit())
        || last.strip_prefix("0x").is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl fmt::Display for EndpointPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        match &self.host {
            HostRule::AnyDomain => write!(f, "*")?,
            HostRule::SubdomainOf(domain) => write!(f, "*.{domain}")?,
            HostRule::Domain(domain) => write!(f, "{domain}")?,
            HostRule::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            HostRule::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
        }
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

    /// The endpoint `text` as the client will use it, if credentials may be sent there.
    ///
    /// # Errors
    /// [`EndpointError`] saying why not.
    pub fn allow(&self, text: &str) -> Result<AllowedEndpoint, EndpointError> {
        let url = parse_endpoint(text)?;
        if self.patterns.iter().any(|p| p.allows(&url)) {
            return Ok(AllowedEndpoint { url });
        }
        let allowed = self.patterns.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        Err(EndpointError::NotAllowed { endpoint: url.as_str().trim_end_matches('/').to_string(), allowed })
    }

    /// Whether credentials may be sent to `endpoint` (see [`EndpointPolicy::allow`]).
    ///
    /// # Errors
    /// [`EndpointError`] saying why not.
    pub fn check(&self, endpoint: &str) -> Result<(), EndpointError> {
        self.allow(endpoint).map(|_| ())
    }
}

#[cfg(test)]
mod tests;
