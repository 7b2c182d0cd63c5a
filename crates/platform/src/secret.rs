//! A string that is never printed: a ProductSecret, a token. `Debug` shows `<redacted>` and
//! there is no `Display`, so it cannot reach a log line, an error or a status by accident;
//! [`Secret::expose`] is the one way to the value (to write it into a Kubernetes Secret).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret string (serialised as the plain string, for the wire and the emulator's state).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must write it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value, owned.
    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }

    /// Whether the value is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value_and_serde_keeps_it() {
        let secret = Secret::new("p4ssw0rd-value");
        assert_eq!(format!("{secret:?} {secret:#?}"), "<redacted> <redacted>");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"p4ssw0rd-value\"");
        let back: Secret = serde_json::from_str("\"x\"").unwrap();
        assert_eq!(back.expose(), "x");
    }

    #[test]
    fn the_models_that_carry_a_product_secret_never_print_it() {
        let created =
            crate::model::CreatedProduct { product_secret: "ps-value-1".into(), ..Default::default() };
        let details =
            crate::model::ProductDetails { product_secret: "ps-value-2".into(), ..Default::default() };
        let shown = format!("{created:?} {details:?} {created:#?} {details:#?}");
        assert!(!shown.contains("ps-value"), "{shown}");
    }
}
