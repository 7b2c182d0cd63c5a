//! Credentials of one account. They are never printed: `Debug` redacts the secret parts.

use std::fmt;

/// An AccessKey pair, optionally with an STS security token.
///
/// # Guarantees
/// `Debug` shows only the AccessKey ID; the secret and the token are redacted, so
/// credentials can appear in logs and error values without leaking.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: Option<String>,
}

impl Credentials {
    /// Credentials from an AccessKey pair and an optional STS token.
    #[must_use]
    pub fn new(
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<String>,
        security_token: Option<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token: security_token.filter(|t| !t.is_empty()),
        }
    }

    /// The AccessKey ID (not secret).
    #[must_use]
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The AccessKey secret. Only the signer should read it.
    #[must_use]
    pub fn access_key_secret(&self) -> &str {
        &self.access_key_secret
    }

    /// The STS security token, if these are temporary credentials.
    #[must_use]
    pub fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("security_token", &self.security_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_secret_or_the_token() {
        let creds = Credentials::new("LTAI5tExample", "s3cr3t-value", Some("tok3n-value".into()));
        let shown = format!("{creds:?} {creds:#?}");
        assert!(shown.contains("LTAI5tExample"));
        assert!(!shown.contains("s3cr3t-value"));
        assert!(!shown.contains("tok3n-value"));
    }

    #[test]
    fn an_empty_token_means_no_token() {
        assert_eq!(Credentials::new("a", "b", Some(String::new())).security_token(), None);
    }
}
