//! What differs between the platform and the spec, field by field, in words: the one diff
//! the controller reports when it corrects a change made behind its back (`DriftCorrected`,
//! `status.lastDrift`, `iotop_drift_corrections_total`) and `plan` prints beside each call.
//!
//! Pure: no I/O.

use super::desired::DesiredProduct;
use super::plan::{Action, Mode, Observed, ObservedProduct};

/// One field that differs, and how, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDrift {
    /// The spec field (a bounded set: `productName`, `description`, `tags`, `thingModel`,
    /// `published`).
    pub field: &'static str,
    /// The difference: `"edited in console" → "from Git"`, `added x=1, removed y`, ….
    pub words: String,
}

impl FieldDrift {
    /// `field: words`.
    #[must_use]
    pub fn sentence(&self) -> String {
        format!("{}: {}", self.field, self.words)
    }
}

fn quoted(value: Option<&str>) -> String {
    value.map_or_else(|| "(none)".to_string(), |v| format!("{v:?}"))
}

/// The differences one action corrects, with the product as observed (none before it exists).
#[must_use]
pub fn of_action(
    action: &Action,
    desired: &DesiredProduct,
    observed: Option<&ObservedProduct>,
    mode: Mode,
) -> Vec<FieldDrift> {
    match action {
        Action::Update { name, description } => {
            let (old_name, old_description) = observed.map_or((None, None), |p| {
                (Some(p.details.product_name.as_str()), p.details.description.as_deref())
            });
            let mut out = Vec::new();
            if old_name != Some(name.as_str()) {
                out.push(FieldDrift {
                    field: "productName",
                    words: format!("{} → {name:?}", quoted(old_name)),
                });
            }
            if old_description != description.as_deref() {
                out.push(FieldDrift {
                    field: "description",
                    words: format!("{} → {}", quoted(old_description), quoted(description.as_deref())),
                });
            }
            out
        }
        Action::CreateTags(list) => {
            let added: Vec<String> = list.iter().map(|t| format!("{}={}", t.tag_key, t.tag_value)).collect();
            vec![FieldDrift { field: "tags", words: format!("added {}", added.join(", ")) }]
        }
        Action::UpdateTags(list) => {
            let changed: Vec<String> = list
                .iter()
                .map(|t| {
                    let old = observed.and_then(|p| p.tags.get(&t.tag_key)).map_or("(none)", String::as_str);
                    format!("{} {old} → {}", t.tag_key, t.tag_value)
                })
                .collect();
            vec![FieldDrift { field: "tags", words: format!("changed {}", changed.join(", ")) }]
        }
        Action::DeleteTags(keys) => {
            vec![FieldDrift { field: "tags", words: format!("removed {}", keys.join(", ")) }]
        }
        Action::ImportThingModel => {
            let draft = observed.and_then(|p| p.thing_model_draft.as_ref());
            let words = match (draft, &desired.thing_model) {
                (Some(before), Some(after)) => {
                    iot_platform::tsl::summarize(&before.changes_to(&after.model), 8)
                }
                (None, Some(after)) => {
                    format!("the spec's model with {} features", after.model.feature_count())
                }
                _ => "the spec's model".to_string(),
            };
            vec![FieldDrift { field: "thingModel", words }]
        }
        Action::PublishThingModel => {
            vec![FieldDrift {
                field: "thingModel",
                words: "the spec's model published as a new version".into(),
            }]
        }
        Action::Release => vec![FieldDrift { field: "published", words: "false → true".into() }],
        Action::CancelRelease if mode == Mode::Apply && !desired.published => {
            vec![FieldDrift { field: "published", words: "true → false".into() }]
        }
        Action::CancelRelease | Action::Create | Action::Delete => Vec::new(),
        Action::CreateTopic(topic) => {
            vec![FieldDrift { field: "topics", words: format!("added {}", topic.display()) }]
        }
        Action::UpdateTopic { topic, .. } => {
            let before = observed
                .and_then(|p| p.topics.as_ref())
                .and_then(|t| t.iter().find(|o| o.name == topic.name));
            let changes = before.map(|b| topic.differences(b)).unwrap_or_default();
            let words = if changes.is_empty() {
                format!("changed {}", topic.display())
            } else {
                format!("changed {} ({})", topic.display(), changes.join(", "))
            };
            vec![FieldDrift { field: "topics", words }]
        }
        Action::DeleteTopic { name, .. } => {
            vec![FieldDrift { field: "topics", words: format!("removed /user/{name}") }]
        }
        Action::CreateSubscription => {
            vec![FieldDrift {
                field: "subscription",
                words: "the spec's AMQP subscription created (there was none)".into(),
            }]
        }
        Action::UpdateSubscription => {
            let before = observed.and_then(|p| p.subscription.as_ref());
            let changes = match (&desired.subscription, before) {
                (Some(d), Some(o)) => d.differences(o),
                _ => Vec::new(),
            };
            vec![FieldDrift { field: "subscription", words: changes.join("; ") }]
        }
        Action::DeleteSubscription => {
            vec![FieldDrift { field: "subscription", words: "removed (no longer in the spec)".into() }]
        }
        Action::CreateScript => {
            vec![FieldDrift {
                field: "dataParsing",
                words: "the spec's script submitted (there was none)".into(),
            }]
        }
        Action::UpdateScript => {
            vec![FieldDrift {
                field: "dataParsing",
                words: "the script differs; the spec's script submitted".into(),
            }]
        }
    }
}

/// Every difference `actions` correct, one entry per field (words of one field joined), in
/// the order of the actions. A revoke that only makes way for a change and the republish
/// after it are not differences of their own.
#[must_use]
pub fn describe(
    actions: &[Action],
    desired: &DesiredProduct,
    observed: &Observed,
    mode: Mode,
) -> Vec<FieldDrift> {
    let product = match observed {
        Observed::Exists(product) => Some(product.as_ref()),
        _ => None,
    };
    let mut out: Vec<FieldDrift> = Vec::new();
    let republished = actions.contains(&Action::CancelRelease) && actions.contains(&Action::Release);
    for action in actions {
        if republished && matches!(action, Action::CancelRelease | Action::Release) {
            continue;
        }
        for drift in of_action(action, desired, product, mode) {
            match out.iter_mut().find(|d| d.field == drift.field) {
                Some(existing) => {
                    existing.words.push_str(", ");
                    existing.words.push_str(&drift.words);
                }
                None => out.push(drift),
            }
        }
    }
    out
}

/// Whether the last reconcile left `product` in sync with this very spec: then what a
/// reconcile now finds different was changed on the platform, behind the operator's back.
#[must_use]
pub fn was_in_sync(product: &crate::crd::IotProduct) -> bool {
    let Some(status) = &product.status else { return false };
    status.observed_generation == product.metadata.generation
        && crate::reconcile::conditions::find(&status.conditions, "Synced")
            .is_some_and(|c| c.status == "True" && c.observed_generation == product.metadata.generation)
}

/// The sentences of `drift`, joined: `description: "a" → "b"; tags: added x=1`.
#[must_use]
pub fn summary(drift: &[FieldDrift]) -> String {
    drift.iter().map(FieldDrift::sentence).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::product::fixtures::desired;
    use iot_platform::model::ProductDetails;
    use iot_platform::wire::Tag;

    fn observed(description: Option<&str>, tags: &[(&str, &str)]) -> Observed {
        Observed::Exists(Box::new(ObservedProduct {
            details: ProductDetails {
                product_key: "a1".into(),
                product_name: "Lamp".into(),
                description: description.map(str::to_string),
                ..ProductDetails::default()
            },
            tags: tags.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect::<BTreeMap<_, _>>(),
            thing_model_digest: None,
            thing_model_draft: None,
            published_thing_model_digest: None,
            devices: crate::crd::product::DeviceCounts::default(),
            topics: None,
            script: None,
            subscription: None,
        }))
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag { tag_key: k.into(), tag_value: v.into() }
    }

    /// (case, actions, desired spec, observed, expected words).
    #[test]
    fn each_kind_of_difference_is_told_in_words() {
        let d = desired(serde_json::json!({"description": "from Git", "published": true}));
        let cases: Vec<(&str, Vec<Action>, Observed, &str)> = vec![
            (
                "description edited in the console",
                vec![Action::Update { name: "Lamp".into(), description: Some("from Git".into()) }],
                observed(Some("edited in console"), &[]),
                r#"description: "edited in console" → "from Git""#,
            ),
            (
                "an update that changes nothing says nothing",
                vec![Action::Update { name: "Lamp".into(), description: Some("from Git".into()) }],
                observed(Some("from Git"), &[]),
                "",
            ),
            (
                "tags added, changed and removed",
                vec![
                    Action::DeleteTags(vec!["y".into()]),
                    Action::CreateTags(vec![tag("x", "1")]),
                    Action::UpdateTags(vec![tag("team", "a")]),
                ],
                observed(Some("from Git"), &[("y", "0"), ("team", "oob")]),
                "tags: removed y, added x=1, changed team oob → a",
            ),
            (
                "publication revoked in the console",
                vec![Action::Release],
                observed(None, &[]),
                "published: false → true",
            ),
            (
                "revoke-apply-republish is not a publication change",
                vec![Action::CancelRelease, Action::PublishThingModel, Action::Release],
                observed(None, &[]),
                "thingModel: the spec's model published as a new version",
            ),
            ("nothing", vec![], observed(None, &[]), ""),
        ];
        for (case, actions, observed, expected) in cases {
            assert_eq!(summary(&describe(&actions, &d, &observed, Mode::Apply)), expected, "{case}");
        }
        let unpublished = desired(serde_json::json!({"published": false}));
        assert_eq!(
            summary(&describe(&[Action::CancelRelease], &unpublished, &observed(None, &[]), Mode::Apply)),
            "published: true → false"
        );
    }
}
