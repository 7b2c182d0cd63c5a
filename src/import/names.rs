//! The `metadata.name` of an imported product: valid for Kubernetes, stable across imports,
//! readable.
//!
//! The rule: the product name's ASCII letters and digits, lower-cased, each run of anything
//! else (spaces, underscores, Chinese characters, punctuation) one `-`, trimmed and cut to 40
//! characters; then `-` and the ProductKey, lower-cased. A name with no ASCII letter or digit
//! (all Chinese) gives `product-<key>`. `Smart_Lamp 2` with key `a1BcD2eF3gH` is
//! `smart-lamp-2-a1bcd2ef3gh`; `智能灯` is `product-a1bcd2ef3gh`. Keys are unique per
//! instance; two that differ only in case (rare) get the first 8 hex digits of the key's
//! SHA-256 appended to the second in key order, so every run names them alike.
//!
//! Pure: no I/O.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

/// The longest part taken from the product name.
const MAX_SLUG: usize = 40;

/// The name of the resource for the product `product_name` with `product_key`.
#[must_use]
pub fn resource_name(product_name: &str, product_key: &str) -> String {
    let mut slug = String::new();
    for c in product_name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let mut slug: String = slug.chars().take(MAX_SLUG).collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    let key = product_key.to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    if slug.is_empty() { format!("product-{key}") } else { format!("{slug}-{key}") }
}

/// The names of several products (name, key), in key order, with case-only key collisions
/// told apart.
#[must_use]
pub fn resource_names<'a>(
    products: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, String> {
    let mut by_key: Vec<(&str, &str)> = products.into_iter().map(|(name, key)| (key, name)).collect();
    by_key.sort_unstable();
    let mut taken = std::collections::BTreeSet::new();
    let mut out = BTreeMap::new();
    for (key, name) in by_key {
        let mut resource = resource_name(name, key);
        if !taken.insert(resource.clone()) {
            let hash = hex::encode(Sha256::digest(key.as_bytes()));
            resource = format!("{resource}-{}", &hash[..8]);
            taken.insert(resource.clone());
        }
        out.insert(key.to_string(), resource);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Kubernetes accepts as a resource name (DNS-1123 subdomain, kept to one label).
    fn valid(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 253
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-')
    }

    #[test]
    fn names_are_valid_stable_and_readable() {
        for (product, key, expected) in [
            ("Smart_Lamp 2", "a1BcD2eF3gH", "smart-lamp-2-a1bcd2ef3gh"),
            ("智能灯", "a1BcD2eF3gH", "product-a1bcd2ef3gh"),
            ("智能灯_SmartLamp", "a1xyz", "smartlamp-a1xyz"),
            ("__Lamp__", "k", "lamp-k"),
            ("Lamp.v2/Pro", "k2", "lamp-v2-pro-k2"),
            (&"Long".repeat(30), "k3", &format!("{}-k3", "long".repeat(10))),
        ] {
            let name = resource_name(product, key);
            assert_eq!(name, expected, "{product}");
            assert!(valid(&name), "{name}");
            assert_eq!(resource_name(product, key), name, "stable");
        }
    }

    #[test]
    fn keys_that_differ_only_in_case_get_different_names_in_every_run() {
        let names = resource_names([("Lamp", "a1Key"), ("Lamp", "a1KEY")]);
        assert_eq!(names.len(), 2);
        assert_ne!(names["a1Key"], names["a1KEY"]);
        assert_eq!(names, resource_names([("Lamp", "a1KEY"), ("Lamp", "a1Key")]), "order does not matter");
        assert!(names.values().all(|n| valid(n)));
    }
}
