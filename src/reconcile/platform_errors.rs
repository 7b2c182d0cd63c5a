//! How a platform error reads in conditions and Events: a PascalCase reason and a message
//! that says what the user can do. Shared by the reconcilers.

use crate::reconcile::conditions::Reason;
use iot_platform::{ErrorClass, PlatformError};

/// A PascalCase reason for a platform error.
#[must_use]
pub fn error_reason(error: &PlatformError) -> Reason {
    match error.class() {
        ErrorClass::Throttled => Reason::Throttled,
        ErrorClass::Transient => Reason::PlatformUnavailable,
        ErrorClass::Conflict => Reason::Conflict,
        ErrorClass::NotFound => Reason::NotFound,
        ErrorClass::Invalid | ErrorClass::Undocumented => Reason::PlatformRefused,
        ErrorClass::Auth => Reason::AccountNotReady,
        ErrorClass::Quota => Reason::QuotaExceeded,
    }
}

/// A message for a platform error that says what the user can do.
#[must_use]
pub fn error_message(error: &PlatformError) -> String {
    let advice = match error.class() {
        ErrorClass::Throttled | ErrorClass::Transient => "retrying with backoff",
        ErrorClass::Invalid => "the platform refused the request: fix the spec",
        ErrorClass::Auth => "check the PlatformAccount's credentials and permissions",
        ErrorClass::Quota => {
            "an account quota is exhausted: free some capacity or ask Alibaba Cloud to raise it"
        }
        ErrorClass::Undocumented => {
            "the platform's documentation does not list this code, so nothing is concluded from it: the next \
             attempt starts from a fresh look at the platform"
        }
        ErrorClass::Conflict | ErrorClass::NotFound => "retrying after a fresh look",
    };
    format!("{error}; {advice}")
}
