//! Resolves a product's `spec.subscription.consumerGroups` — names of IotConsumerGroups in the
//! product's namespace — to the platform's group ids. Only the namespace's own groups can be
//! named (a name is looked up in the product's namespace, never elsewhere), and only groups of
//! the product's account and instance are used: another account's group id would be refused
//! by the platform, or — worse — be another tenant's.
//!
//! [`resolve`] is pure; [`lookup`] reads the groups from the operator's watch cache.

use crate::reconcile::conditions::Reason;
use std::collections::BTreeSet;

use crate::crd::IotConsumerGroup;
use crate::reconcile::context::GroupStores;

/// The groups a product names, each with what the API server holds under that name.
pub type Named<'a> = Vec<(&'a str, Option<IotConsumerGroup>)>;

/// The ids of the named groups, or why they cannot be used (a condition reason and message).
///
/// # Errors
/// `ConsumerGroupNotReady` (transient) while a group is missing or has no id yet;
/// `ConsumerGroupMismatch` (needs a person) when a group is on another account or instance.
pub fn resolve(
    named: &Named<'_>,
    account: &str,
    instance: &str,
) -> Result<BTreeSet<String>, (Reason, String)> {
    let mut ids = BTreeSet::new();
    for (name, group) in named {
        let Some(group) = group else {
            return Err((
                Reason::ConsumerGroupNotReady,
                format!(
                    "spec.subscription names IotConsumerGroup {name}, which does not exist in this namespace; create it \
                     (or remove the name); the subscription waits"
                ),
            ));
        };
        if group.account_name() != account {
            return Err((
                Reason::ConsumerGroupMismatch,
                format!(
                    "IotConsumerGroup {name} uses PlatformAccount {}, and this product {account}: a subscription can \
                     push only to groups of its own account; name a group of account {account}",
                    group.account_name()
                ),
            ));
        }
        let status = group.status.clone().unwrap_or_default();
        let Some(id) = status.group_id.filter(|_| group.metadata.deletion_timestamp.is_none()) else {
            return Err((
                Reason::ConsumerGroupNotReady,
                format!(
                    "IotConsumerGroup {name} has no consumer group on the platform yet; the subscription waits for it"
                ),
            ));
        };
        if status.instance_id.as_deref().is_some_and(|i| i != instance) {
            return Err((
                Reason::ConsumerGroupMismatch,
                format!(
                    "IotConsumerGroup {name} is in instance {}, and this product in {instance}: name a group of the \
                     product's instance",
                    status.instance_id.unwrap_or_default()
                ),
            ));
        }
        ids.insert(id);
    }
    Ok(ids)
}

/// The groups `names` of `namespace` (only there), from the operator's watch of
/// IotConsumerGroups (a group's change wakes the products that name it).
#[must_use]
pub fn lookup<'a>(groups: &GroupStores, namespace: &str, names: &'a [String]) -> Named<'a> {
    names.iter().map(|name| (name.as_str(), groups.get(namespace, name))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::consumer_group::IotConsumerGroupStatus;

    fn group(account: &str, id: Option<&str>, instance: &str) -> IotConsumerGroup {
        let mut g: IotConsumerGroup = serde_json::from_value(serde_json::json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotConsumerGroup",
            "metadata": {"name": "billing", "namespace": "team-a"},
            "spec": {"groupName": "billing_backend", "accountRef": {"name": account}}
        }))
        .unwrap();
        g.status = Some(IotConsumerGroupStatus {
            group_id: id.map(str::to_string),
            instance_id: Some(instance.into()),
            ..IotConsumerGroupStatus::default()
        });
        g
    }

    #[test]
    fn only_ready_groups_of_the_products_account_and_instance_are_used() {
        let ok = vec![("billing", Some(group("acct", Some("G1"), "iot-1")))];
        assert_eq!(resolve(&ok, "acct", "iot-1").unwrap(), ["G1".to_string()].into());
        let cases: Vec<(Named<'_>, Reason)> = vec![
            (vec![("billing", None)], Reason::ConsumerGroupNotReady),
            (vec![("billing", Some(group("acct", None, "iot-1")))], Reason::ConsumerGroupNotReady),
            (vec![("billing", Some(group("other", Some("G1"), "iot-1")))], Reason::ConsumerGroupMismatch),
            (vec![("billing", Some(group("acct", Some("G1"), "iot-2")))], Reason::ConsumerGroupMismatch),
        ];
        for (named, reason) in cases {
            assert_eq!(resolve(&named, "acct", "iot-1").unwrap_err().0, reason, "{named:?}");
        }
    }
}
