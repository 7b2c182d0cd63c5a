//! Platform errors, sorted into the few classes the reconcilers act on.
//!
//! The platform answers in two ways: gateway errors (signature, throttling, missing
//! parameters) come back as HTTP 4xx/5xx with `Code` and `Message`; business errors come
//! back as HTTP 200 with `Success: false`, `Code` and `ErrorMessage`. Both keep the
//! platform's `RequestId` for support. [`ErrorClass`] is what callers match on.

use std::fmt;

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The platform's rate limit: retry after a pause (the request was not executed).
    Throttled,
    /// A passing fault: retry later with backoff.
    Transient,
    /// The thing to create already exists (for products: the name is taken).
    Conflict,
    /// The thing does not exist.
    NotFound,
    /// The product is published, and the platform refuses the change until revoked.
    LockedByPublication,
    /// The product has been distributed, and its thing model can no longer change.
    LockedByDistribution,
    /// The request is wrong: retrying does not help until the input changes.
    Invalid,
    /// The credentials are wrong, expired or not allowed.
    Auth,
    /// An account quota is exhausted (products per instance, distribution jobs).
    Quota,
}

impl ErrorClass {
    /// A PascalCase name for metrics, conditions and Events.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "Throttled",
            Self::Transient => "Transient",
            Self::Conflict => "Conflict",
            Self::NotFound => "NotFound",
            Self::LockedByPublication => "LockedByPublication",
            Self::LockedByDistribution => "LockedByDistribution",
            Self::Invalid => "Invalid",
            Self::Auth => "Auth",
            Self::Quota => "Quota",
        }
    }

    /// Whether retrying the same request may succeed without anything else changing.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient)
    }
}

/// Error codes the emulator uses where the platform's documentation names none; the
/// client classifies them like the documented codes. (Listed in the emulator docs.)
pub mod emulator_codes {
    /// A change refused because the product is published.
    pub const PRODUCT_PUBLISHED: &str = "iot.prod.ProductIsPublished";
    /// A thing-model change refused because the product was distributed.
    pub const PRODUCT_DISTRIBUTED: &str = "iot.prod.ProductIsDistributed";
    /// The account's distribution jobs are at the maximum.
    pub const DISTRIBUTE_JOB_LIMIT: &str = "iot.distribute.JobCountExceedMax";
    /// No distribution job with that id.
    pub const DISTRIBUTE_JOB_NOT_FOUND: &str = "iot.distribute.JobNotFound";
    /// The TSL document is malformed.
    pub const INVALID_TSL: &str = "iot.common.InvalidFormattedParameter";
}

/// The code → class table. Codes not listed are classified by prefix in [`classify`].
const CODES: &[(&str, ErrorClass)] = &[
    ("Throttling", ErrorClass::Throttled),
    ("Throttling.User", ErrorClass::Throttled),
    ("Throttling.Api", ErrorClass::Throttled),
    ("ServiceUnavailable", ErrorClass::Transient),
    ("InternalError", ErrorClass::Transient),
    ("SignatureNonceUsed", ErrorClass::Transient),
    ("InvalidTimeStamp.Expired", ErrorClass::Transient),
    ("iot.system.SystemException", ErrorClass::Transient),
    ("iot.prod.CreateProductFailed", ErrorClass::Transient),
    ("iot.prod.UpdateProductFailed", ErrorClass::Transient),
    ("iot.prod.CreateProductTopicFailed", ErrorClass::Transient),
    ("iot.prod.QueryProductListActionError", ErrorClass::Transient),
    ("iot.prod.QueryDeviceCountActionError", ErrorClass::Transient),
    ("iot.prod.QueryProductAbilitiesFailed", ErrorClass::Transient),
    ("iot.prod.QueryProductAbilityFailed", ErrorClass::Transient),
    ("iot.common.QueryProductActionError", ErrorClass::Transient),
    ("iot.common.QueryProductCountActionError", ErrorClass::Transient),
    ("iot.prod.AlreadyExistedProductName", ErrorClass::Conflict),
    ("iot.prod.NotExistedProduct", ErrorClass::NotFound),
    (emulator_codes::DISTRIBUTE_JOB_NOT_FOUND, ErrorClass::NotFound),
    (emulator_codes::PRODUCT_PUBLISHED, ErrorClass::LockedByPublication),
    (emulator_codes::PRODUCT_DISTRIBUTED, ErrorClass::LockedByDistribution),
    ("iot.prod.ProductCountExceedMax", ErrorClass::Quota),
    (emulator_codes::DISTRIBUTE_JOB_LIMIT, ErrorClass::Quota),
    ("InvalidAccessKeyId.NotFound", ErrorClass::Auth),
    ("InvalidAccessKeyId.Inactive", ErrorClass::Auth),
    ("InvalidSecurityToken.Expired", ErrorClass::Auth),
    ("InvalidSecurityToken.Malformed", ErrorClass::Auth),
    ("InvalidSecurityToken.MismatchWithAccessKey", ErrorClass::Auth),
    ("SignatureDoesNotMatch", ErrorClass::Auth),
    ("IncompleteSignature", ErrorClass::Auth),
    ("iot.common.RamActionPermissionDeny", ErrorClass::Auth),
    ("iot.common.AuthActionPermissionDeny", ErrorClass::Auth),
    ("iot.system.UidNotFound", ErrorClass::Auth),
    ("iot.system.BillIsOverDue", ErrorClass::Auth),
    ("Iot.system.BillIsOverDue", ErrorClass::Auth),
];

/// A bounded label value for `code` (metrics): the code itself when the client knows it
/// (the table above), else `Other` — the platform's codes are not a closed set.
#[must_use]
pub fn metric_code(code: &str) -> &'static str {
    match code {
        "Success" => "Success",
        "Transport" => "Transport",
        "Decode" => "Decode",
        _ => CODES.iter().find(|(c, _)| *c == code).map_or("Other", |(c, _)| c),
    }
}

/// Classifies a platform error code (with the HTTP status it came with).
#[must_use]
pub fn classify(code: &str, http_status: u16) -> ErrorClass {
    if let Some((_, class)) = CODES.iter().find(|(c, _)| *c == code) {
        return *class;
    }
    if code.starts_with("Throttling") {
        ErrorClass::Throttled
    } else if code.starts_with("Forbidden") || code.starts_with("InvalidSecurityToken") {
        ErrorClass::Auth
    } else if http_status >= 500 {
        ErrorClass::Transient
    } else {
        // Missing*, Invalid*, iot.prod.Invalid*, iot.check.*, iot.system.IllegalRequest,
        // iot.system.InstanceNotFound and anything unknown: the request must change.
        ErrorClass::Invalid
    }
}

/// An error from the platform or from reaching it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformError {
    /// The platform answered with an error.
    Api {
        /// The operation.
        action: &'static str,
        /// The platform's code, for example `iot.prod.NotExistedProduct`.
        code: String,
        /// The platform's message.
        message: String,
        /// The platform's request id, for support.
        request_id: String,
        /// The HTTP status it came with.
        http_status: u16,
        /// The class callers act on.
        class: ErrorClass,
    },
    /// The request could not be delivered or the answer not read.
    Transport {
        /// The operation.
        action: &'static str,
        /// What went wrong.
        message: String,
        /// Whether the platform may have executed the request (the connection broke after
        /// the request was sent). Non-idempotent operations are never repeated then.
        ambiguous: bool,
    },
    /// The platform answered with something that is not a valid response.
    Decode {
        /// The operation.
        action: &'static str,
        /// What could not be decoded.
        message: String,
        /// The request id, if one could be read.
        request_id: Option<String>,
    },
    /// No credentials to sign with: the account's credential source failed (STS refused
    /// or unreachable, the token file unreadable). Nothing was sent to the platform.
    Credentials {
        /// The operation that was not attempted.
        action: &'static str,
        /// A PascalCase reason for conditions (`AssumeRoleRefused`, `StsUnavailable`,
        /// `OidcTokenUnreadable`).
        reason: &'static str,
        /// Why, in words (STS's code and message; never a secret or a token).
        message: String,
        /// Whether it may pass without anyone acting (STS unreachable or throttled).
        transient: bool,
    },
}

impl PlatformError {
    /// The same error with every occurrence of `secrets` in its message replaced by
    /// `[redacted]` (a client removes its own credentials, whatever the platform echoed).
    /// Values shorter than four characters are left alone.
    #[must_use]
    pub fn redacted(mut self, secrets: &[&str]) -> Self {
        let message = match &mut self {
            Self::Api { message, .. }
            | Self::Transport { message, .. }
            | Self::Decode { message, .. }
            | Self::Credentials { message, .. } => message,
        };
        for secret in secrets.iter().filter(|s| s.len() >= 4) {
            if message.contains(secret) {
                *message = message.replace(secret, "[redacted]");
            }
        }
        self
    }

    /// The class callers act on.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Api { class, .. } => *class,
            Self::Transport { .. } | Self::Decode { .. } => ErrorClass::Transient,
            Self::Credentials { transient: true, .. } => ErrorClass::Transient,
            Self::Credentials { transient: false, .. } => ErrorClass::Auth,
        }
    }

    /// The platform's code, or a short name for failures to reach it.
    #[must_use]
    pub fn code(&self) -> &str {
        match self {
            Self::Api { code, .. } => code,
            Self::Transport { .. } => "Transport",
            Self::Decode { .. } => "Decode",
            Self::Credentials { reason, .. } => reason,
        }
    }

    /// The platform's request id, when there was an answer.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api { request_id, .. } => Some(request_id),
            Self::Decode { request_id, .. } => request_id.as_deref(),
            Self::Transport { .. } | Self::Credentials { .. } => None,
        }
    }

    /// The operation that failed.
    #[must_use]
    pub fn action(&self) -> &'static str {
        match self {
            Self::Api { action, .. }
            | Self::Transport { action, .. }
            | Self::Decode { action, .. }
            | Self::Credentials { action, .. } => action,
        }
    }

    /// Whether the request may have been executed although it failed.
    #[must_use]
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Self::Transport { ambiguous, .. } => *ambiguous,
            Self::Decode { .. } => true,
            Self::Credentials { .. } => false,
            Self::Api { http_status, class, .. } => *http_status >= 500 && *class == ErrorClass::Transient,
        }
    }
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api { action, code, message, request_id, .. } => {
                write!(f, "{action} failed: {code}: {message} (RequestId {request_id})")
            }
            Self::Transport { action, message, .. } => {
                write!(f, "{action} failed: cannot reach the platform: {message}")
            }
            Self::Decode { action, message, request_id } => match request_id {
                Some(id) => write!(f, "{action} failed: unreadable response: {message} (RequestId {id})"),
                None => write!(f, "{action} failed: unreadable response: {message}"),
            },
            Self::Credentials { action, message, .. } => {
                write!(f, "{action} not attempted: the account has no usable credentials: {message}")
            }
        }
    }
}

impl std::error::Error for PlatformError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_own_credentials_are_redacted_from_what_the_platform_echoed() {
        let echoed = PlatformError::Api {
            action: "QueryProduct",
            code: "InvalidAccessKeyId.NotFound".into(),
            message: "Specified access key LTAI5tKeyId is not found (secret s3cr3t-value)".into(),
            request_id: "R".into(),
            http_status: 404,
            class: ErrorClass::Auth,
        };
        let text = echoed.redacted(&["LTAI5tKeyId", "s3cr3t-value", ""]).to_string();
        assert!(!text.contains("LTAI5tKeyId") && !text.contains("s3cr3t-value"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn documented_codes_fall_in_the_classes_the_reconcilers_act_on() {
        assert_eq!(metric_code("Throttling.User"), "Throttling.User");
        assert_eq!(metric_code("iot.prod.SomethingNew"), "Other");
        assert_eq!(metric_code("Transport"), "Transport");
        assert_eq!(classify("Throttling.User", 429), ErrorClass::Throttled);
        assert_eq!(classify("Throttling.Whatever", 400), ErrorClass::Throttled);
        assert_eq!(classify("iot.system.SystemException", 200), ErrorClass::Transient);
        assert_eq!(classify("iot.prod.AlreadyExistedProductName", 200), ErrorClass::Conflict);
        assert_eq!(classify("iot.prod.NotExistedProduct", 200), ErrorClass::NotFound);
        assert_eq!(classify("iot.prod.InvalidFormattedProductName", 200), ErrorClass::Invalid);
        assert_eq!(classify("MissingProductKey", 400), ErrorClass::Invalid);
        assert_eq!(classify("SignatureDoesNotMatch", 400), ErrorClass::Auth);
        assert_eq!(classify("InvalidAccessKeyId.NotFound", 404), ErrorClass::Auth);
        assert_eq!(classify("Forbidden.RAM", 403), ErrorClass::Auth);
        assert_eq!(classify("iot.prod.ProductCountExceedMax", 200), ErrorClass::Quota);
        assert_eq!(classify("InternalError", 500), ErrorClass::Transient);
        assert_eq!(classify("SomethingNew", 503), ErrorClass::Transient);
        assert_eq!(classify(emulator_codes::PRODUCT_PUBLISHED, 200), ErrorClass::LockedByPublication);
        assert_eq!(classify(emulator_codes::PRODUCT_DISTRIBUTED, 200), ErrorClass::LockedByDistribution);
    }

    #[test]
    fn the_request_id_is_kept_in_the_message_for_support() {
        let err = PlatformError::Api {
            action: "QueryProduct",
            code: "iot.prod.NotExistedProduct".into(),
            message: "product not found".into(),
            request_id: "E55E50B7".into(),
            http_status: 200,
            class: ErrorClass::NotFound,
        };
        assert!(err.to_string().contains("RequestId E55E50B7"));
        assert_eq!(err.request_id(), Some("E55E50B7"));
    }

    #[test]
    fn only_failures_after_sending_are_ambiguous() {
        let broken =
            PlatformError::Transport { action: "CreateProduct", message: "reset".into(), ambiguous: true };
        let refused =
            PlatformError::Transport { action: "CreateProduct", message: "refused".into(), ambiguous: false };
        assert!(broken.is_ambiguous());
        assert!(!refused.is_ambiguous());
    }
}
