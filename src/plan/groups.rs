//! `plan` for consumer groups and for the groups a product's subscription names, with the
//! controller's own code: [`crate::consumer_group::plan`] decides a group's write, and
//! [`crate::product::subscription::resolve`] decides whether a product's subscription can use
//! its groups — here from the live groups (`--cluster`) and the manifests' groups (which the
//! operator will create first).

use crate::consumer_group::plan::{self as decide, Decision, Known};
use crate::crd::IotConsumerGroup;
use crate::crd::product::DeletionPolicy;
use crate::product::plan::Mode;
use crate::product::subscription::Named;
use crate::reconcile::account_clients::AccountError;
use crate::reconcile::conditions::Reason;
use crate::reconcile::tenancy::selects;
use iot_platform::region::public_instance;

use super::Context;
use super::report::{Call, Entry};

/// The group id shown for a group the operator has yet to create.
fn placeholder(name: &str) -> String {
    format!("<id of {name}>")
}

/// The groups `names` of `namespace` as the operator will find them: the live one when it has
/// an id, else the manifests' (to be created first, shown with a placeholder id), else none.
#[must_use]
pub fn named<'a>(ctx: &Context, namespace: &str, names: &'a [String], instance: &str) -> Named<'a> {
    names
        .iter()
        .map(|name| {
            let key = (namespace.to_string(), name.clone());
            let live = ctx.cluster.as_ref().and_then(|c| c.consumer_groups.get(&key));
            if let Some(live) = live.filter(|g| g.status.as_ref().is_some_and(|s| s.group_id.is_some())) {
                return (name.as_str(), Some(live.clone()));
            }
            let manifest = ctx.consumer_groups.iter().find(|g| {
                g.metadata.namespace.as_deref() == Some(namespace) && g.metadata.name.as_deref() == Some(name)
            });
            let planned = manifest.map(|g| {
                let mut g = g.clone();
                let status = g.status.get_or_insert_with(Default::default);
                status.group_id = Some(placeholder(name));
                status.instance_id = Some(g.spec.instance_id.clone().unwrap_or_else(|| instance.to_string()));
                g
            });
            (name.as_str(), planned)
        })
        .collect()
}

/// The plan of one IotConsumerGroup.
pub async fn plan_group(group: &IotConsumerGroup, ctx: &Context, mode: Mode) -> Entry {
    let namespace = group.metadata.namespace.clone().unwrap_or_default();
    let name = group.metadata.name.clone().unwrap_or_default();
    let mut out = Entry {
        kind: "IotConsumerGroup",
        namespace: namespace.clone(),
        name: name.clone(),
        ..Entry::default()
    };
    out.product_name = Some(group.spec.group_name.clone());
    let live = ctx.cluster.as_ref().and_then(|c| c.consumer_groups.get(&(namespace.clone(), name.clone())));
    let status = live.and_then(|g| g.status.clone()).unwrap_or_default();
    if mode == Mode::Delete && group.spec.deletion_policy == DeletionPolicy::Orphan {
        out.notes.push("spec.deletionPolicy: Orphan: the consumer group stays on the platform".into());
        return out;
    }
    let account_name = group.account_name();
    let (platform, account) = match ctx.clients.get(&account_name) {
        Ok(found) => found,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let labels = ctx.labels(&namespace);
    if !selects(account.spec.allowed_namespaces.as_ref(), &namespace, labels) {
        let refused = AccountError::NotAllowed { account: account_name, namespace };
        out.blocked = Some((refused.reason().to_string(), refused.to_string()));
        return out;
    }
    let instance = group.spec.instance_id.clone().or_else(|| account.spec.instance_id.clone());
    out.instance = Some(instance.clone().unwrap_or_else(|| public_instance(&account.spec.region)));
    let observed = match crate::consumer_group::observe(
        platform.as_ref(),
        instance.as_deref(),
        status.group_id.as_deref(),
        &group.spec.group_name,
    )
    .await
    {
        Ok(observed) => observed,
        Err(e) => {
            out.error = Some(format!("cannot read the platform: {e}"));
            return out;
        }
    };
    let known = Known {
        create_started_ms: status.create_started.as_ref().map(|t| t.0.as_millisecond()),
        may_take_over: selects(
            account.spec.take_over.as_ref().map(|t| &t.allowed_namespaces),
            &namespace,
            labels,
        ),
    };
    let decision = match mode {
        Mode::Apply => decide::apply(&group.spec.group_name, &observed, known),
        Mode::Delete => decide::delete(false, &observed, known),
    };
    let call = |operation: &'static str, detail: String| Call { operation, detail };
    match decision {
        Decision::Create => {
            out.calls.push(call("CreateConsumerGroup", format!("consumer group {:?}", group.spec.group_name)))
        }
        Decision::Rename { group_id } => out.calls.push(call(
            "UpdateConsumerGroup",
            format!("rename {group_id} to {:?} (its id stays)", group.spec.group_name),
        )),
        Decision::Delete { group_id } => {
            out.calls.push(call("DeleteConsumerGroup", format!("consumer group {group_id}")))
        }
        Decision::Adopt { group_id, take_over } => {
            out.product_key = Some(group_id.clone());
            out.notes.push(if take_over {
                format!("takes over the existing consumer group {group_id} (the account allows it)")
            } else {
                format!("finds consumer group {group_id}, made by this resource's earlier create")
            });
        }
        Decision::NameConflict => {
            out.blocked = Some((
                Reason::NameConflict.to_string(),
                decide::name_conflict_message(&group.spec.group_name, &account_name),
            ));
        }
        Decision::InSync { group_id } => out.product_key = Some(group_id),
        Decision::Nothing => {}
    }
    out
}
