//! What `plan` prints: per resource, the calls the operator would make and what would
//! block; then a summary line. Text for people, JSON for bots. Pure.

use serde::Serialize;

use crate::product::desired::DesiredProduct;
use crate::product::plan::{Action, Mode, Observed, Plan};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// One platform call the operator would make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The platform operation.
    pub operation: &'static str,
    /// What it would do, in words.
    pub detail: String,
}

/// The plan of one resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// `IotProduct` or `ProductDistribution`.
    pub kind: &'static str,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The product's (or consumer group's) name on the platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// The product's key, when it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_key: Option<String>,
    /// How the product was found: `spec.productKey`, `name`, or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_by: Option<&'static str>,
    /// The instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The calls, in order.
    pub calls: Vec<Call>,
    /// Calls held back until a person approves them (they would reach devices).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held_back: Vec<Call>,
    /// What would block: (reason, message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<(String, String)>,
    /// Why the resource could not be planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What `plan` could not know or assumed, and what it skipped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Resources whose plan creates something.
    pub create: usize,
    /// Resources whose plan changes something (and creates nothing).
    pub change: usize,
    /// Resources whose plan deletes their product.
    pub delete: usize,
    /// Resources with nothing to do.
    pub unchanged: usize,
    /// Resources with something blocked.
    pub blocked: usize,
    /// Resources that could not be planned.
    pub errors: usize,
    /// Platform calls in all.
    pub calls: usize,
}

impl Summary {
    /// The totals of `entries`.
    #[must_use]
    pub fn of(entries: &[Entry]) -> Self {
        let mut summary = Self::default();
        for entry in entries {
            summary.calls += entry.calls.len();
            if entry.error.is_some() {
                summary.errors += 1;
            } else if entry
                .calls
                .iter()
                .any(|c| matches!(c.operation, "DeleteProduct" | "DeleteConsumerGroup"))
            {
                summary.delete += 1;
            } else if entry.calls.iter().any(|c| {
                matches!(c.operation, "CreateProduct" | "CreateConsumerGroup" | "CreateProductDistributeJob")
            }) {
                summary.create += 1;
            } else if !entry.calls.is_empty() {
                summary.change += 1;
            } else if entry.blocked.is_none() {
                summary.unchanged += 1;
            }
            if entry.blocked.is_some() {
                summary.blocked += 1;
            }
        }
        summary
    }

    /// As `terraform plan -detailed-exitcode`: 0 when nothing would change, 2 when changes
    /// would apply, 1 when a resource could not be planned or something is blocked (a change
    /// the operator will not make as written) — unless `blocked_ok`, which keeps blocked at 2.
    #[must_use]
    pub fn exit_code(&self, blocked_ok: bool) -> u8 {
        if self.errors > 0 || (self.blocked > 0 && !blocked_ok) {
            1
        } else if self.calls > 0 || self.blocked > 0 {
            2
        } else {
            0
        }
    }
}

/// The calls of `plan`, in words.
#[must_use]
pub fn calls(plan: &Plan, desired: &DesiredProduct, observed: &Observed, mode: Mode) -> Vec<Call> {
    let current = match observed {
        Observed::Exists(product) => Some(product.as_ref()),
        _ => None,
    };
    plan.actions
        .iter()
        .map(|action| {
            let detail = match action {
                Action::Create => format!("create product {:?}", desired.name),
                // The controller's drift words (one diff for both): `description: "a" → "b"`,
                // `tags: added tier=gold`, `thingModel: added property Color`.
                Action::Update { .. }
                | Action::CreateTags(_)
                | Action::UpdateTags(_)
                | Action::DeleteTags(_)
                | Action::ImportThingModel
                | Action::UpdateTopic { .. }
                | Action::CreateScript
                | Action::UpdateScript
                | Action::UpdateSubscription => crate::product::drift::summary(
                    &crate::product::drift::of_action(action, desired, current, mode),
                ),
                Action::PublishThingModel => "publish a new thing-model version".to_string(),
                Action::Release => "publish the product".to_string(),
                Action::CancelRelease if mode == Mode::Delete => {
                    "revoke publication to delete the product (publishedChangePolicy: RevokeAndRepublish)"
                        .to_string()
                }
                Action::CancelRelease => {
                    "revoke publication to apply the change (publishedChangePolicy: RevokeAndRepublish)"
                        .to_string()
                }
                Action::Delete => "delete the product".to_string(),
                Action::CreateTopic(topic) => topic.display(),
                Action::DeleteTopic { name, .. } => format!("/user/{name}"),
                Action::CreateSubscription => match &desired.subscription {
                    Some(s) => format!(
                        "AMQP subscription to consumer groups {} ({})",
                        s.group_names.join(", "),
                        s.messages.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ")
                    ),
                    None => "AMQP subscription".to_string(),
                },
                Action::DeleteSubscription => "the AMQP subscription the operator made".to_string(),
            };
            Call { operation: action.operation(), detail }
        })
        .collect()
}

fn symbol(operation: &str) -> char {
    if operation.starts_with("Create") {
        '+'
    } else if operation.starts_with("Delete") {
        '-'
    } else {
        '~'
    }
}

/// The whole report.
#[must_use]
pub fn render(entries: &[Entry], summary: &Summary, format: Format) -> String {
    match format {
        Format::Json => {
            let document = serde_json::json!({"resources": entries, "summary": summary});
            format!("{}\n", serde_json::to_string_pretty(&document).expect("a plan serialises"))
        }
        Format::Text => {
            let mut out = String::new();
            for entry in entries {
                out.push_str(&format!("{} {}/{}", entry.kind, entry.namespace, entry.name));
                if let Some(name) = &entry.product_name {
                    let what = if entry.kind == "IotConsumerGroup" { "consumer group" } else { "product" };
                    out.push_str(&format!(": {what} {name:?}"));
                }
                match (&entry.product_key, entry.found_by) {
                    (Some(key), Some(by)) => out.push_str(&format!(" {key} (found by {by})")),
                    (Some(key), None) => out.push_str(&format!(" {key}")),
                    _ => {}
                }
                if let Some(instance) = &entry.instance {
                    out.push_str(&format!(" in {instance}"));
                }
                out.push('\n');
                for call in &entry.calls {
                    out.push_str(&format!(
                        "  {} {}: {}\n",
                        symbol(call.operation),
                        call.operation,
                        call.detail
                    ));
                }
                for call in &entry.held_back {
                    out.push_str(&format!(
                        "  {} {}: {}\n",
                        symbol(call.operation),
                        call.operation,
                        call.detail
                    ));
                }
                if let Some((reason, message)) = &entry.blocked {
                    out.push_str(&format!("  ! blocked ({reason}): {message}\n"));
                }
                if let Some(error) = &entry.error {
                    out.push_str(&format!("  ✗ error: {error}\n"));
                }
                for note in &entry.notes {
                    out.push_str(&format!("  · note: {note}\n"));
                }
                if entry.calls.is_empty() && entry.blocked.is_none() && entry.error.is_none() {
                    out.push_str("  no changes\n");
                }
            }
            out.push_str(&format!(
                "Plan: {} to create, {} to change, {} to delete, {} unchanged, {} blocked, {} errors; {} platform \
                 calls.\n",
                summary.create,
                summary.change,
                summary.delete,
                summary.unchanged,
                summary.blocked,
                summary.errors,
                summary.calls
            ));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(calls: &[&'static str], blocked: bool, error: bool) -> Entry {
        Entry {
            calls: calls.iter().map(|op| Call { operation: op, detail: String::new() }).collect(),
            blocked: blocked.then(|| ("PublishedLocked".into(), "locked".into())),
            error: error.then(|| "no account".into()),
            ..Entry::default()
        }
    }

    #[test]
    fn the_exit_code_says_nothing_changes_something_changes_or_something_failed_or_is_blocked() {
        assert_eq!(Summary::of(&[with(&[], false, false)]).exit_code(false), 0);
        assert_eq!(Summary::of(&[with(&["UpdateProduct"], false, false)]).exit_code(false), 2);
        assert_eq!(Summary::of(&[with(&[], true, false)]).exit_code(false), 1, "blocked: a CI gate stops");
        assert_eq!(Summary::of(&[with(&["CreateProductTags"], true, false)]).exit_code(false), 1);
        assert_eq!(Summary::of(&[with(&[], true, false)]).exit_code(true), 2, "--blocked-ok");
        assert_eq!(
            Summary::of(&[with(&["CreateProduct"], false, false), with(&[], false, true)]).exit_code(true),
            1
        );
        let summary = Summary::of(&[
            with(&["CreateProduct", "CreateProductTags"], false, false),
            with(&["CreateProductTags"], false, false),
            with(&["CancelReleaseProduct", "DeleteProduct"], false, false),
            with(&[], false, false),
        ]);
        assert_eq!(
            (summary.create, summary.change, summary.delete, summary.unchanged, summary.calls),
            (1, 1, 1, 1, 5)
        );
    }
}
