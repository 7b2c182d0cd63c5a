//! Before the platform is read: what the account's tenancy rules say about a product's
//! reconcile — whether its namespace is admitted, and whether the spec takes over a product
//! this resource did not create and may. The controller and `plan` both act on this verdict
//! (the rules themselves are [`crate::reconcile::tenancy`]'s).

use std::collections::BTreeMap;

use crate::crd::PlatformAccount;
use crate::crd::product::{AdoptionPolicy, ManagementPolicy};
use crate::reconcile::account_clients::AccountError;
use crate::reconcile::conditions::Reason;
use crate::reconcile::tenancy;

use super::desired::DesiredProduct;
use super::plan::{Mode, Recorded};

/// What the tenancy rules say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on: observe the platform and plan.
    Proceed,
    /// The account does not admit the namespace: nothing is done on the platform.
    NotAdmitted,
    /// The namespace's labels are not known and the account admits namespaces by label
    /// (`plan` without the Namespace's manifest or the cluster): assumed admitted.
    AdmissionUnknown,
    /// The spec takes over a product (by `how`) and the account does not let the namespace:
    /// nothing is done on the platform.
    TakeOverRefused {
        /// The spec field that takes over.
        how: &'static str,
    },
    /// Deleting a resource whose spec would take over a product the account does not let it:
    /// the product is left alone (it may be another's).
    LeaveAlone,
}

impl Verdict {
    /// The condition reason and message of a refusal (`None` when the reconcile goes on or
    /// ends quietly).
    #[must_use]
    pub fn refusal(&self, account: &str, namespace: &str) -> Option<(Reason, String)> {
        match self {
            Self::NotAdmitted => {
                let error = AccountError::NotAllowed {
                    account: account.to_string(),
                    namespace: namespace.to_string(),
                };
                Some((error.reason(), error.to_string()))
            }
            Self::TakeOverRefused { how } => {
                Some((Reason::TakeOverNotAllowed, take_over_refused_message(how, account, namespace)))
            }
            Self::Proceed | Self::AdmissionUnknown | Self::LeaveAlone => None,
        }
    }
}

/// The verdict for a product of `namespace` (whose labels are `labels`, when known) using
/// `account`.
#[must_use]
pub fn preflight(
    desired: &DesiredProduct,
    recorded: &Recorded,
    mode: Mode,
    account: &PlatformAccount,
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> Verdict {
    let admission = account.spec.allowed_namespaces.as_ref();
    let mut verdict = Verdict::Proceed;
    if !tenancy::selects(admission, namespace, labels) {
        if labels.is_some() || admission.is_none_or(|s| s.selector.is_none()) {
            return Verdict::NotAdmitted;
        }
        verdict = Verdict::AdmissionUnknown;
    }
    if let Some(how) = takes_over(desired, recorded)
        && !tenancy::selects(
            account.spec.take_over.as_ref().map(|t| &t.allowed_namespaces),
            namespace,
            labels,
        )
    {
        return match mode {
            Mode::Apply => Verdict::TakeOverRefused { how },
            Mode::Delete => Verdict::LeaveAlone,
        };
    }
    verdict
}

/// How the spec takes over a product this resource did not create, if it does: by key (a
/// key it has not recorded as its own), by name (before it has a product), or by observing.
#[must_use]
pub fn takes_over(desired: &DesiredProduct, recorded: &Recorded) -> Option<&'static str> {
    if desired.management == ManagementPolicy::ObserveOnly {
        return Some("spec.managementPolicy: ObserveOnly");
    }
    if desired.adopt_key.is_some() && desired.adopt_key != recorded.product_key {
        return Some("spec.productKey");
    }
    if desired.adoption == AdoptionPolicy::ByName && recorded.product_key.is_none() {
        return Some("spec.adoptionPolicy: ByName");
    }
    None
}

/// Why taking over (by `how`) is refused for `namespace` by `account`, and the ways out.
#[must_use]
pub fn take_over_refused_message(how: &str, account: &str, namespace: &str) -> String {
    format!(
        "{how} takes over an existing product, and PlatformAccount {account:?} does not let namespace {namespace} \
         take over products; nothing was done on the platform. The account's administrator can allow it in \
         spec.takeOver.allowedNamespaces; otherwise remove {how} to create a product of this resource's own"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::IotProduct;
    use serde_json::json;

    fn desired(spec: serde_json::Value) -> DesiredProduct {
        let product: IotProduct = serde_json::from_value(json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
            "metadata": {"name": "lamp", "namespace": "team-a"},
            "spec": spec,
        }))
        .unwrap();
        DesiredProduct::from_resource(&product).unwrap()
    }

    fn account(spec: serde_json::Value) -> PlatformAccount {
        let mut base = json!({"region": "cn-shanghai", "credentials": {"secretRef": {"name": "creds"}}});
        base.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
        serde_json::from_value(json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
            "metadata": {"name": "default"}, "spec": base,
        }))
        .unwrap()
    }

    /// (situation, spec, recorded, mode, account, namespace labels, verdict).
    type Case<'a> = (
        &'a str,
        &'a DesiredProduct,
        &'a Recorded,
        Mode,
        &'a PlatformAccount,
        Option<&'a BTreeMap<String, String>>,
        Verdict,
    );

    #[test]
    fn each_tenancy_situation_has_its_verdict() {
        let plain = desired(json!({"productName": "Lamp"}));
        let by_key = desired(json!({"productName": "Lamp", "productKey": "a1Key"}));
        let own_key = Recorded { product_key: Some("a1Key".into()), ..Recorded::default() };
        let admits = account(json!({"allowedNamespaces": {"names": ["team-a"]}}));
        let admits_and_takes = account(json!({
            "allowedNamespaces": {"names": ["team-a"]},
            "takeOver": {"allowedNamespaces": {"names": ["team-a"]}}
        }));
        let by_label = account(json!({"allowedNamespaces": {"selector": {"matchLabels": {"iot": "yes"}}}}));
        let nobody = account(json!({}));
        let labels = BTreeMap::from([("iot".to_string(), "yes".to_string())]);
        let none = Recorded::default();
        let no_labels = BTreeMap::new();
        let cases: Vec<Case<'_>> = vec![
            ("admitted by name", &plain, &none, Mode::Apply, &admits, None, Verdict::Proceed),
            ("admitted by label", &plain, &none, Mode::Apply, &by_label, Some(&labels), Verdict::Proceed),
            ("labels not known", &plain, &none, Mode::Apply, &by_label, None, Verdict::AdmissionUnknown),
            (
                "labels known, not matching",
                &plain,
                &none,
                Mode::Apply,
                &by_label,
                Some(&no_labels),
                Verdict::NotAdmitted,
            ),
            ("an account admitting nobody", &plain, &none, Mode::Apply, &nobody, None, Verdict::NotAdmitted),
            (
                "taking over by key, not allowed",
                &by_key,
                &none,
                Mode::Apply,
                &admits,
                None,
                Verdict::TakeOverRefused { how: "spec.productKey" },
            ),
            (
                "taking over by key, allowed",
                &by_key,
                &none,
                Mode::Apply,
                &admits_and_takes,
                None,
                Verdict::Proceed,
            ),
            ("its own key is no take-over", &by_key, &own_key, Mode::Apply, &admits, None, Verdict::Proceed),
            (
                "deleting what it may not take over",
                &by_key,
                &none,
                Mode::Delete,
                &admits,
                None,
                Verdict::LeaveAlone,
            ),
        ];
        for (name, desired, recorded, mode, account, labels, expected) in cases {
            assert_eq!(preflight(desired, recorded, mode, account, "team-a", labels), expected, "{name}");
        }
        let refused =
            Verdict::TakeOverRefused { how: "spec.productKey" }.refusal("default", "team-a").unwrap();
        assert_eq!(refused.0, Reason::TakeOverNotAllowed);
        assert!(refused.1.contains("spec.takeOver.allowedNamespaces"), "{}", refused.1);
        assert_eq!(Verdict::NotAdmitted.refusal("default", "team-a").unwrap().0, Reason::AccountNotAllowed);
    }
}
