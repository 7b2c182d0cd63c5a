//! The ownership marks the operator puts on the products it manages: tags naming the
//! managing resource (its UID) and the cluster, so that no other resource, namespace or
//! cluster adopts, observes, changes or deletes them.

/// The product tag naming the resource (its UID) that manages a product.
pub const OWNER_TAG: &str = "iotop.owner";
/// The product tag naming the cluster whose operator manages a product.
pub const CLUSTER_TAG: &str = "iotop.cluster";

/// A value usable as a tag value (1–128 letters, digits, `_` or `-`).
#[must_use]
pub fn tag_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' })
        .take(128)
        .collect();
    if cleaned.is_empty() { "unknown".into() } else { cleaned }
}
