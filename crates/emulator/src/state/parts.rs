//! What the topic, script and subscription modules share: the dispatcher of their actions,
//! the publication lock of a product's parts, and small helpers.

use serde_json::Value;

use iot_platform::error::emulator_codes;
use iot_platform::wire::Params;

use super::{ApiError, CallContext, Product, State, not_found};

/// Which parts of a published product refuse changes. The API pages document only the
/// thing-model lock (ReleaseProduct); whether topic categories and the data-parsing script
/// are locked too is not documented, so the emulator offers each choice. Server-side
/// subscriptions are never locked by publication (they are routing, not the product's
/// definition). Distribution locks topics and the script whatever this says (documented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PublishedPartsLock {
    /// Nothing beyond the thing model: topics and the script may change while published
    /// (the permissive reading of silent docs; the default).
    #[default]
    #[value(name = "none")]
    Unlocked,
    /// The data-parsing script is locked; topics may change.
    Script,
    /// The script and the custom topic categories are locked.
    ScriptAndTopics,
}

impl PublishedPartsLock {
    /// Whether a published product's script is locked.
    #[must_use]
    pub fn locks_script(self) -> bool {
        matches!(self, Self::Script | Self::ScriptAndTopics)
    }

    /// Whether a published product's topic categories are locked.
    #[must_use]
    pub fn locks_topics(self) -> bool {
        self == Self::ScriptAndTopics
    }
}

/// The documented code for a parameter of the wrong format, length or value.
pub(super) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::business("iot.common.InvalidFormattedParameter", message)
}

/// Refuses a change to a part (`what`) of a product that distribution or publication locks.
pub(super) fn check_unlocked(product: &Product, published_lock: bool, what: &str) -> Result<(), ApiError> {
    if product.distributed {
        return Err(ApiError::business(
            emulator_codes::PRODUCT_DISTRIBUTED,
            format!("The product has been distributed: its {what} can no longer be modified."),
        ));
    }
    if published_lock && product.released {
        return Err(ApiError::business(
            emulator_codes::PRODUCT_PUBLISHED,
            format!(
                "The product is published: its {what} cannot be modified. Cancel the release (CancelReleaseProduct) first."
            ),
        ));
    }
    Ok(())
}

/// Epoch milliseconds as the consumer-group pages write times: ISO 8601 in UTC with
/// milliseconds (`2020-05-20T00:05:20.000Z`).
pub(super) fn iso_millis(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

impl State {
    /// Answers the topic, script, subscription and consumer-group actions; `None` for any
    /// other action.
    pub(super) fn answer_parts(
        &mut self,
        ctx: &CallContext,
        action: &str,
        params: &Params,
    ) -> Option<Result<Value, ApiError>> {
        self.answer_topics(ctx, action, params)
            .or_else(|| self.answer_scripts(ctx, action, params))
            .or_else(|| self.answer_subscriptions(ctx, action, params))
    }

    /// The key in the product map of the caller's product `product_key` in `instance` (named
    /// or the region's public one).
    pub(super) fn owned_product(
        &self,
        ctx: &CallContext,
        instance: Option<&str>,
        product_key: &str,
    ) -> Result<(String, String), ApiError> {
        let key = (self.resolve_instance(ctx, instance)?, product_key.to_string());
        match self.products.get(&key) {
            Some(product) if product.uid == ctx.uid => Ok(key),
            _ => Err(not_found()),
        }
    }

    /// Whether `instance` is an Enterprise instance (not a region's public instance).
    pub(super) fn is_enterprise(&self, instance: &str) -> bool {
        self.rules.instances.iter().any(|i| i.id == instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_iso_8601_with_milliseconds() {
        assert_eq!(iso_millis(1_589_933_120_000), "2020-05-20T00:05:20.000Z");
        assert_eq!(iso_millis(1_589_933_120_042), "2020-05-20T00:05:20.042Z");
    }

    #[test]
    fn each_lock_level_says_what_it_locks() {
        assert!(!PublishedPartsLock::Unlocked.locks_script() && !PublishedPartsLock::Unlocked.locks_topics());
        assert!(PublishedPartsLock::Script.locks_script() && !PublishedPartsLock::Script.locks_topics());
        assert!(PublishedPartsLock::ScriptAndTopics.locks_script());
        assert!(PublishedPartsLock::ScriptAndTopics.locks_topics());
        use clap::ValueEnum as _;
        let names: Vec<String> = PublishedPartsLock::value_variants()
            .iter()
            .map(|v| v.to_possible_value().unwrap().get_name().to_string())
            .collect();
        assert_eq!(names, ["none", "script", "script-and-topics"]);
    }
}
