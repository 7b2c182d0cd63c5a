//! Who may use what: which namespaces a PlatformAccount admits, which may take over
//! products the operator did not create, where its credentials may be read from and sent
//! to. The decisions are pure functions of the account and the namespace's labels (from a
//! cache of namespaces' metadata).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::core::{PartialObjectMeta, Selector, SelectorExt};
use kube::runtime::reflector::{ObjectRef, Store};

use crate::crd::platform_account::{NamespaceSelection, PlatformAccount};

/// The namespace the operator reads credentials from when none is configured.
pub const DEFAULT_CREDENTIALS_NAMESPACE: &str = "iot-product-operator-system";

/// Whether `selection` selects `namespace` (whose labels are `labels`, when known). A
/// selector that cannot be evaluated selects nothing.
#[must_use]
pub fn selects(
    selection: Option<&NamespaceSelection>,
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let Some(selection) = selection else { return false };
    if selection.names.iter().any(|n| n == namespace) {
        return true;
    }
    let (Some(selector), Some(labels)) = (&selection.selector, labels) else { return false };
    Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels))
}

/// The namespaces' labels, from a cache of their metadata.
#[derive(Clone, Default)]
pub struct Namespaces(pub Option<Store<PartialObjectMeta<Namespace>>>);

impl Namespaces {
    /// The labels of `namespace` (empty when it has none); `None` when it is not known.
    #[must_use]
    pub fn labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        let store = self.0.as_ref()?;
        let meta = store.get(&ObjectRef::new(namespace))?;
        Some(meta.metadata.labels.clone().unwrap_or_default())
    }
}

impl std::fmt::Debug for Namespaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespaces").finish_non_exhaustive()
    }
}

/// Whether `account` admits resources of `namespace`.
#[must_use]
pub fn admits(account: &PlatformAccount, namespace: &str, namespaces: &Namespaces) -> bool {
    selects(account.spec.allowed_namespaces.as_ref(), namespace, namespaces.labels(namespace).as_ref())
}

/// Whether `account` lets `namespace` take over products the operator did not create.
#[must_use]
pub fn may_take_over(account: &PlatformAccount, namespace: &str, namespaces: &Namespaces) -> bool {
    let selection = account.spec.take_over.as_ref().map(|t| &t.allowed_namespaces);
    selects(selection, namespace, namespaces.labels(namespace).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    fn by_label(key: &str, value: &str) -> NamespaceSelection {
        NamespaceSelection {
            names: Vec::new(),
            selector: Some(LabelSelector {
                match_labels: Some(labels(&[(key, value)])),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn nothing_is_selected_unless_the_account_says_so() {
        assert!(!selects(None, "team-a", Some(&labels(&[]))));
        assert!(!selects(Some(&NamespaceSelection::default()), "team-a", Some(&labels(&[]))));
    }

    #[test]
    fn namespaces_are_selected_by_name_or_by_label() {
        let names = NamespaceSelection { names: vec!["team-a".into()], selector: None };
        assert!(selects(Some(&names), "team-a", None));
        assert!(!selects(Some(&names), "team-b", Some(&labels(&[]))));
        let tenants = by_label("iot/tenant", "true");
        assert!(selects(Some(&tenants), "team-b", Some(&labels(&[("iot/tenant", "true")]))));
        assert!(!selects(Some(&tenants), "team-b", Some(&labels(&[("iot/tenant", "false")]))));
        assert!(!selects(Some(&tenants), "team-b", None), "unknown labels select nothing");
    }

    #[test]
    fn an_empty_selector_selects_every_known_namespace() {
        let all = NamespaceSelection { names: Vec::new(), selector: Some(LabelSelector::default()) };
        assert!(selects(Some(&all), "anything", Some(&labels(&[]))));
    }
}
