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
    /// The request is wrong: retrying does not help until the input changes.
    Invalid,
    /// The credentials are wrong, expired or not allowed.
    Auth,
    /// An account quota is exhausted (products per instance).
    Quota,
    /// The platform refused with a code its documentation does not list. Nothing is
    /// concluded from the code: the caller takes a fresh look at the platform (the product,
    /// its tags and thing model, the account's jobs) and decides the next step from that.
    Undocumented,
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
            Self::Invalid => "Invalid",
            Self::Auth => "Auth",
            Self::Quota => "Quota",
            Self::Undocumented => "Undocumented",
        }
    }

    /// Whether retrying the same request may succeed without anything else changing.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient)
    }
}

/// Error codes the emulator uses where the platform's documentation names none (listed in
/// the emulator docs). The client does not classify them: they are [`ErrorClass::Undocumented`]
/// like any code the documentation does not list, and the emulator's `--opaque-codes` mode
/// replaces them, call by call, with `iot.system.SystemException` or a code no one has seen.
pub mod emulator_codes {
    /// A change refused because the product is published.
    pub const PRODUCT_PUBLISHED: &str = "iot.prod.ProductIsPublished";
    /// A thing-model change refused because the product was distributed.
    pub const PRODUCT_DISTRIBUTED: &str = "iot.prod.ProductIsDistributed";
    /// The account's distribution jobs are at the maximum.
    pub const DISTRIBUTE_JOB_LIMIT: &str = "iot.distribute.JobCountExceedMax";
    /// No distribution job with that id.
    pub const DISTRIBUTE_JOB_NOT_FOUND: &str = "iot.distribute.JobNotFound";
    /// The product's thing model was never published.
    pub const THING_MODEL_NOT_PUBLISHED: &str = "iot.thingmodel.NotPublished";
    /// No thing-model version with that name.
    pub const THING_MODEL_VERSION_NOT_FOUND: &str = "iot.thingmodel.VersionNotFound";
    /// DeleteProduct refused because the product still has devices (the emulator's
    /// `--delete-product-with-devices refuse`).
    pub const PRODUCT_HAS_DEVICES: &str = "iot.prod.ProductHasDevices";
    /// The product already has a custom topic category of that name.
    pub const TOPIC_EXISTS: &str = "iot.prod.TopicAlreadyExisted";
    /// No custom topic category with that id (in the caller's instance).
    pub const TOPIC_NOT_FOUND: &str = "iot.prod.NotExistedTopic";
    /// The product has the maximum number of custom topic categories.
    pub const TOPIC_LIMIT: &str = "iot.prod.TopicCountExceedMax";
    /// A data-parsing script for a product whose data format is not custom (Alink JSON or a
    /// Basic product): the API page says the operation is not supported, without a code.
    pub const SCRIPT_NEEDS_CUSTOM_FORMAT: &str = "iot.prod.ScriptNeedsCustomFormat";
    /// CreateThingScript for a product that already has a script.
    pub const SCRIPT_EXISTS: &str = "iot.prod.ThingScriptAlreadyExisted";
    /// UpdateThingScript for a product that has no script.
    pub const SCRIPT_NOT_FOUND: &str = "iot.prod.NotExistedThingScript";
    /// CreateSubscribeRelation for a product that already has a subscription of that type.
    pub const SUBSCRIPTION_EXISTS: &str = "iot.subscribe.AlreadyExistedSubscribeRelation";
    /// Query/Update/DeleteSubscribeRelation for a product without a subscription of that type.
    pub const SUBSCRIPTION_NOT_FOUND: &str = "iot.subscribe.NotExistedSubscribeRelation";
    /// No consumer group with that id in the caller's instance.
    pub const CONSUMER_GROUP_NOT_FOUND: &str = "iot.consumergroup.NotExistedGroup";
    /// The instance already has a consumer group of that name.
    pub const CONSUMER_GROUP_NAME_TAKEN: &str = "iot.consumergroup.AlreadyExistedGroupName";
    /// The instance has the maximum number of consumer groups.
    pub const CONSUMER_GROUP_LIMIT: &str = "iot.consumergroup.GroupCountExceedMax";
    /// DeleteConsumerGroup of a group an AMQP subscription still pushes to (the page says to
    /// remove it from the subscription first, without a code).
    pub const CONSUMER_GROUP_IN_USE: &str = "iot.consumergroup.GroupInUse";
    /// UpdateConsumerGroup or DeleteConsumerGroup of the default group (documented as not
    /// allowed, without a code).
    pub const DEFAULT_CONSUMER_GROUP: &str = "iot.consumergroup.DefaultGroupReadOnly";
    /// Every code above: the ones the emulator made up.
    pub const INVENTED: &[&str] = &[
        PRODUCT_PUBLISHED,
        PRODUCT_DISTRIBUTED,
        DISTRIBUTE_JOB_LIMIT,
        DISTRIBUTE_JOB_NOT_FOUND,
        THING_MODEL_NOT_PUBLISHED,
        THING_MODEL_VERSION_NOT_FOUND,
        PRODUCT_HAS_DEVICES,
        TOPIC_EXISTS,
        TOPIC_NOT_FOUND,
        TOPIC_LIMIT,
        SCRIPT_NEEDS_CUSTOM_FORMAT,
        SCRIPT_EXISTS,
        SCRIPT_NOT_FOUND,
        SUBSCRIPTION_EXISTS,
        SUBSCRIPTION_NOT_FOUND,
        CONSUMER_GROUP_NOT_FOUND,
        CONSUMER_GROUP_NAME_TAKEN,
        CONSUMER_GROUP_LIMIT,
        CONSUMER_GROUP_IN_USE,
        DEFAULT_CONSUMER_GROUP,
    ];
    /// The TSL document is malformed: the documented common code for a bad parameter (the
    /// platform documents no code per TSL rule).
    pub const INVALID_TSL: &str = "iot.common.InvalidFormattedParameter";
}

/// Where a code is documented.
mod source {
    /// The IoT Platform's error-code reference
    /// (<https://help.aliyun.com/en/iot/developer-reference/error-codes>, and the older product
    /// section <https://help.aliyun.com/document_detail/135176.html>).
    pub const IOT: &str = "IoT Platform error codes";
    /// The API gateway's common errors (throttling, signature, access key, missing or invalid
    /// parameters) shared by every Alibaba Cloud API.
    pub const GATEWAY: &str = "Alibaba Cloud API common errors";
    /// Security Token Service errors (<https://help.aliyun.com/document_detail/28737.html>).
    pub const STS: &str = "STS error codes";
}

/// The documented codes: code → class, and where the code is documented. Only these may
/// decide a next step by themselves; any other code is [`ErrorClass::Undocumented`] (see
/// [`classify`] for the documented families matched by prefix).
pub const CODES: &[(&str, ErrorClass, &str)] = &[
    ("Throttling", ErrorClass::Throttled, source::GATEWAY),
    ("Throttling.User", ErrorClass::Throttled, source::GATEWAY),
    ("Throttling.Api", ErrorClass::Throttled, source::GATEWAY),
    ("ServiceUnavailable", ErrorClass::Transient, source::GATEWAY),
    ("InternalError", ErrorClass::Transient, source::GATEWAY),
    ("SignatureNonceUsed", ErrorClass::Transient, source::GATEWAY),
    ("InvalidTimeStamp.Expired", ErrorClass::Transient, source::GATEWAY),
    ("iot.system.SystemException", ErrorClass::Transient, source::IOT),
    ("iot.prod.CreateProductFailed", ErrorClass::Transient, source::IOT),
    ("iot.prod.UpdateProductFailed", ErrorClass::Transient, source::IOT),
    ("iot.prod.CreateProductTopicFailed", ErrorClass::Transient, source::IOT),
    ("iot.prod.QueryProductListActionError", ErrorClass::Transient, source::IOT),
    ("iot.prod.QueryDeviceCountActionError", ErrorClass::Transient, source::IOT),
    ("iot.prod.QueryProductAbilitiesFailed", ErrorClass::Transient, source::IOT),
    ("iot.prod.QueryProductAbilityFailed", ErrorClass::Transient, source::IOT),
    ("iot.common.QueryProductActionError", ErrorClass::Transient, source::IOT),
    ("iot.common.QueryProductCountActionError", ErrorClass::Transient, source::IOT),
    ("iot.prod.AlreadyExistedProductName", ErrorClass::Conflict, source::IOT),
    ("iot.prod.NotExistedProduct", ErrorClass::NotFound, source::IOT),
    ("iot.prod.ProductCountExceedMax", ErrorClass::Quota, source::IOT),
    ("iot.system.IllegalRequest", ErrorClass::Invalid, source::IOT),
    ("iot.system.InstanceNotFound", ErrorClass::Invalid, source::IOT),
    ("iot.Sre.IotInstanceNotFound", ErrorClass::Invalid, source::IOT),
    ("iot.system.InstanceIdSame", ErrorClass::Invalid, source::IOT),
    ("iot.common.InvalidPageParams", ErrorClass::Invalid, source::IOT),
    ("iot.common.InvalidTenant", ErrorClass::Invalid, source::IOT),
    ("iot.common.APINotSupportedInInstance", ErrorClass::Invalid, source::IOT),
    ("iot.common.InvalidFormattedParameter", ErrorClass::Invalid, source::IOT),
    ("iot.check.InvalidFormattedParameter", ErrorClass::Invalid, source::IOT),
    ("iot.check.ParameterIsNotLessThanMax", ErrorClass::Invalid, source::IOT),
    ("iot.prod.NullProductName", ErrorClass::Invalid, source::IOT),
    ("iot.prod.NullProductKey", ErrorClass::Invalid, source::IOT),
    ("iot.prod.LongProductDesc", ErrorClass::Invalid, source::IOT),
    ("iot.prod.NotSeniorProduct", ErrorClass::Invalid, source::IOT),
    ("iot.prod.NotOpenID2Service", ErrorClass::Invalid, source::IOT),
    ("InvalidAccessKeyId.NotFound", ErrorClass::Auth, source::GATEWAY),
    ("InvalidAccessKeyId.Inactive", ErrorClass::Auth, source::GATEWAY),
    ("InvalidSecurityToken.Expired", ErrorClass::Auth, source::STS),
    ("InvalidSecurityToken.Malformed", ErrorClass::Auth, source::STS),
    ("InvalidSecurityToken.MismatchWithAccessKey", ErrorClass::Auth, source::STS),
    ("SignatureDoesNotMatch", ErrorClass::Auth, source::GATEWAY),
    ("IncompleteSignature", ErrorClass::Auth, source::GATEWAY),
    ("iot.common.RamActionPermissionDeny", ErrorClass::Auth, source::IOT),
    ("iot.common.AuthActionPermissionDeny", ErrorClass::Auth, source::IOT),
    ("iot.system.UidNotFound", ErrorClass::Auth, source::IOT),
    ("iot.system.BillIsOverDue", ErrorClass::Auth, source::IOT),
    ("Iot.system.BillIsOverDue", ErrorClass::Auth, source::IOT),
];

/// Where `code` is documented, if it is (an exact entry of [`CODES`]).
#[must_use]
pub fn documented_in(code: &str) -> Option<&'static str> {
    CODES.iter().find(|(c, _, _)| *c == code).map(|(_, _, source)| *source)
}

/// A bounded label value for `code` (metrics): the code itself when the client knows it
/// (the table above), else `Other` — the platform's codes are not a closed set.
#[must_use]
pub fn metric_code(code: &str) -> &'static str {
    match code {
        "Success" => "Success",
        "Transport" => "Transport",
        "Decode" => "Decode",
        _ => CODES.iter().find(|(c, _, _)| *c == code).map_or("Other", |(c, _, _)| c),
    }
}

/// Classifies a platform error code (with the HTTP status it came with): the documented
/// codes by [`CODES`], the documented families by prefix (the gateway's `Throttling*`,
/// `Forbidden*`, `InvalidSecurityToken*`, `Missing{Param}`, `Invalid{Param}`; the IoT
/// layer's `iot.prod.Invalid*`, `iot.check.*`), a 5xx as transient; anything else is
/// [`ErrorClass::Undocumented`].
#[must_use]
pub fn classify(code: &str, http_status: u16) -> ErrorClass {
    if let Some((_, class, _)) = CODES.iter().find(|(c, _, _)| *c == code) {
        return *class;
    }
    if code.starts_with("Throttling") {
        ErrorClass::Throttled
    } else if code.starts_with("Forbidden") || code.starts_with("InvalidSecurityToken") {
        ErrorClass::Auth
    } else if http_status >= 500 {
        ErrorClass::Transient
    } else if code.starts_with("Missing")
        || code.starts_with("Invalid")
        || code.starts_with("iot.prod.Invalid")
        || code.starts_with("iot.check.")
    {
        // The request must change.
        ErrorClass::Invalid
    } else {
        ErrorClass::Undocumented
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
    /// The account's rate limiter would have made the call wait longer than its caller
    /// allowed (`RawCall::max_wait`); nothing was sent.
    Deferred {
        /// The operation that was not sent.
        action: &'static str,
        /// When the limiter expects room for it.
        retry_after: std::time::Duration,
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
            Self::Deferred { .. } => return self,
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
            Self::Deferred { .. } => ErrorClass::Throttled,
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
            Self::Deferred { .. } => "Deferred",
        }
    }

    /// The platform's request id, when there was an answer.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api { request_id, .. } => Some(request_id),
            Self::Decode { request_id, .. } => request_id.as_deref(),
            Self::Transport { .. } | Self::Credentials { .. } | Self::Deferred { .. } => None,
        }
    }

    /// The operation that failed.
    #[must_use]
    pub fn action(&self) -> &'static str {
        match self {
            Self::Api { action, .. }
            | Self::Transport { action, .. }
            | Self::Decode { action, .. }
            | Self::Credentials { action, .. }
            | Self::Deferred { action, .. } => action,
        }
    }

    /// Whether the request may have been executed although it failed.
    #[must_use]
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Self::Transport { ambiguous, .. } => *ambiguous,
            Self::Decode { .. } => true,
            Self::Credentials { .. } | Self::Deferred { .. } => false,
            // A server error, a business answer saying the system failed
            // (`iot.system.SystemException`, …) or a code nobody documented may all come after
            // the change was made; a gateway refusal (4xx) comes before.
            Self::Api { http_status, class, .. } => {
                *class == ErrorClass::Undocumented
                    || (*class == ErrorClass::Transient && (*http_status >= 500 || *http_status == 200))
            }
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
            Self::Deferred { action, retry_after } => write!(
                f,
                "{action} deferred: the account's quota for it is in use; next try in {} s",
                retry_after.as_secs_f64().ceil()
            ),
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
        for invented in emulator_codes::INVENTED {
            assert_eq!(classify(invented, 200), ErrorClass::Undocumented, "{invented}");
            assert_eq!(documented_in(invented), None);
        }
        assert_eq!(classify("iot.unseen.E7f3a", 200), ErrorClass::Undocumented);
        assert_eq!(documented_in("iot.prod.NotExistedProduct"), Some("IoT Platform error codes"));
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
