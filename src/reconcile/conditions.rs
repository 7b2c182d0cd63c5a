//! Status conditions: built as data, with `observedGeneration`, a PascalCase reason and a
//! message a person can act on; the transition time only moves when the status does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::Condition;

/// A condition to set, before its transition time is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// `Ready`, `Synced`, `Published` …
    pub type_: &'static str,
    /// Whether it holds.
    pub status: bool,
    /// PascalCase reason.
    pub reason: String,
    /// What it means and what to do.
    pub message: String,
}

impl Desired {
    /// A condition.
    #[must_use]
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self { type_, status, reason: reason.into(), message: message.into() }
    }
}

/// The conditions to write: `desired`, keeping the previous transition time of those whose
/// status did not change; conditions of other types in `previous` are kept as they are.
#[must_use]
pub fn merge(
    previous: &[Condition],
    desired: Vec<Desired>,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut out: Vec<Condition> =
        previous.iter().filter(|c| !desired.iter().any(|d| d.type_ == c.type_)).cloned().collect();
    for d in desired {
        let status = if d.status { "True" } else { "False" }.to_string();
        let transition = previous
            .iter()
            .find(|c| c.type_ == d.type_ && c.status == status)
            .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
        out.push(Condition {
            type_: d.type_.to_string(),
            status,
            reason: d.reason,
            message: truncate(&d.message, 32 * 1024),
            observed_generation: generation,
            last_transition_time: transition,
        });
    }
    out.sort_by(|a, b| order(&a.type_).cmp(&order(&b.type_)).then_with(|| a.type_.cmp(&b.type_)));
    out
}

fn order(type_: &str) -> u8 {
    match type_ {
        "Ready" => 0,
        "Synced" => 1,
        _ => 2,
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The reason to show at a glance: the first of Ready, Synced that is not True, else Ready's.
#[must_use]
pub fn headline(conditions: &[Condition]) -> Option<String> {
    ["Ready", "Synced"]
        .iter()
        .filter_map(|t| find(conditions, t))
        .find(|c| c.status != "True")
        .or_else(|| find(conditions, "Ready"))
        .map(|c| c.reason.clone())
}

/// The condition of `type_`, if any.
#[must_use]
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn the_transition_time_moves_only_when_the_status_changes() {
        let t0 = time("2026-01-01T00:00:00Z");
        let t1 = time("2026-01-01T01:00:00Z");
        let first = merge(&[], vec![Desired::new("Ready", false, "Creating", "creating")], Some(1), &t0);
        let same = merge(&first, vec![Desired::new("Ready", false, "Creating", "still")], Some(2), &t1);
        assert_eq!(same[0].last_transition_time, t0);
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = merge(&same, vec![Desired::new("Ready", true, "Available", "ok")], Some(2), &t1);
        assert_eq!(flipped[0].last_transition_time, t1);
    }

    #[test]
    fn the_headline_is_the_first_condition_that_is_not_true() {
        let t0 = time("2026-01-01T00:00:00Z");
        let c = merge(
            &[],
            vec![
                Desired::new("Ready", true, "Available", ""),
                Desired::new("Synced", false, "PublishedLocked", ""),
            ],
            None,
            &t0,
        );
        assert_eq!(headline(&c).as_deref(), Some("PublishedLocked"));
        let ok = merge(
            &[],
            vec![
                Desired::new("Ready", true, "Available", ""),
                Desired::new("Synced", true, "ReconcileSuccess", ""),
            ],
            None,
            &t0,
        );
        assert_eq!(headline(&ok).as_deref(), Some("Available"));
    }

    #[test]
    fn other_conditions_are_kept_and_ready_comes_first() {
        let t0 = time("2026-01-01T00:00:00Z");
        let a = merge(&[], vec![Desired::new("Published", true, "Published", "")], None, &t0);
        let b = merge(&a, vec![Desired::new("Ready", true, "Available", "")], None, &t0);
        assert_eq!(b.iter().map(|c| c.type_.as_str()).collect::<Vec<_>>(), ["Ready", "Published"]);
    }
}
