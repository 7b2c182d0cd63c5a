//! Status conditions: built as data, with `observedGeneration`, a PascalCase reason and a
//! message a person can act on; the transition time only moves when the status does.
//!
//! Every merge also derives kstatus' two "abnormal-true" conditions from `Ready`/`Synced`
//! (what Flux, `kstatus` and the shipped Argo CD health checks read): `Reconciling=True`
//! while the operator is still getting there on its own, `Stalled=True` when nothing
//! changes until a person acts; neither once the resource is Ready and Synced. Which is
//! which is decided by [`class_of`] from the reason, the one table `docs/conditions.md`
//! prints (a test holds the two together).

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

/// What a reason tells a health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// All is well (the reason of a True condition, or an informational one).
    Healthy,
    /// Work in progress, or a transient failure retried with backoff: it gets there on its
    /// own (`Reconciling=True`; kstatus `InProgress`, Argo CD `Progressing`).
    Transient,
    /// Nothing changes until a person changes a spec, an account, a Secret or the platform
    /// (`Stalled=True`; kstatus `Failed`, Argo CD `Degraded`, or `Suspended` when paused).
    NeedsHuman,
}

/// Every reason the operator writes, and its class: the table `docs/conditions.md` prints.
pub const REASONS: &[(&str, Class)] = &[
    ("Available", Class::Healthy),
    ("ReconcileSuccess", Class::Healthy),
    ("Distributed", Class::Healthy),
    ("CredentialsValid", Class::Healthy),
    ("Published", Class::Healthy),
    ("Developing", Class::Healthy),
    ("Pending", Class::Transient),
    ("Creating", Class::Transient),
    ("Adopting", Class::Transient),
    ("ApplyingTopics", Class::Transient),
    ("ConsumerGroupNotReady", Class::Transient),
    ("Deleting", Class::Transient),
    ("Distributing", Class::Transient),
    ("InUse", Class::Transient),
    ("ProductNotFound", Class::Transient),
    ("ProductNotReady", Class::Transient),
    ("DistributionQuotaFull", Class::Transient),
    ("NamespaceDistributionQuotaFull", Class::Transient),
    ("Throttled", Class::Transient),
    ("PlatformUnavailable", Class::Transient),
    ("Conflict", Class::Transient),
    ("NotFound", Class::Transient),
    ("StatusWriteFailed", Class::Transient),
    ("AccountUnreadable", Class::Transient),
    ("CredentialsUnreadable", Class::Transient),
    ("Paused", Class::NeedsHuman),
    ("InvalidSpec", Class::NeedsHuman),
    ("PlatformRefused", Class::NeedsHuman),
    ("PublishedLocked", Class::NeedsHuman),
    ("DeleteBlockedByPublication", Class::NeedsHuman),
    ("ImpactNeedsApproval", Class::NeedsHuman),
    ("DeleteNeedsApproval", Class::NeedsHuman),
    ("ThingModelLockedByDistribution", Class::NeedsHuman),
    ("AttributesMismatch", Class::NeedsHuman),
    ("NameConflict", Class::NeedsHuman),
    ("ConsumerGroupMismatch", Class::NeedsHuman),
    ("ManagedElsewhere", Class::NeedsHuman),
    ("AdoptTargetMissing", Class::NeedsHuman),
    ("ProductMissing", Class::NeedsHuman),
    ("NothingToObserve", Class::NeedsHuman),
    ("ObserveOnly", Class::NeedsHuman),
    ("UpdatesDisabled", Class::NeedsHuman),
    ("SecretConflict", Class::NeedsHuman),
    ("TakeOverNotAllowed", Class::NeedsHuman),
    ("AccountNotFound", Class::NeedsHuman),
    ("AccountNotAllowed", Class::NeedsHuman),
    ("AccountMismatch", Class::NeedsHuman),
    ("CredentialsSecretNotFound", Class::NeedsHuman),
    ("CredentialsKeyMissing", Class::NeedsHuman),
    ("CredentialsNamespaceNotAllowed", Class::NeedsHuman),
    ("EndpointNotAllowed", Class::NeedsHuman),
    ("CredentialSourceIncomplete", Class::NeedsHuman),
    ("AssumeRoleRefused", Class::NeedsHuman),
    ("OidcTokenUnreadable", Class::NeedsHuman),
    ("StsUnavailable", Class::Transient),
    ("AccountNotReady", Class::NeedsHuman),
    ("QuotaExceeded", Class::NeedsHuman),
    ("JobInterrupted", Class::NeedsHuman),
    ("JobMissing", Class::NeedsHuman),
];

/// The class of `reason`; a reason missing from [`REASONS`] counts as transient (it is
/// retried), which a unit test keeps from happening to the reasons the code writes.
#[must_use]
pub fn class_of(reason: &str) -> Class {
    REASONS.iter().find(|(r, _)| *r == reason).map_or(Class::Transient, |(_, class)| *class)
}

/// kstatus' work-in-progress condition.
pub const RECONCILING: &str = "Reconciling";
/// kstatus' needs-a-human condition.
pub const STALLED: &str = "Stalled";

/// The conditions to write: `desired`, keeping the previous transition time of those whose
/// status did not change; conditions of other types in `previous` are kept (all stamped
/// with the current `generation`: the operator looked at them for it); `Reconciling` and
/// `Stalled` derived afresh (see the module's documentation).
#[must_use]
pub fn merge(
    previous: &[Condition],
    desired: Vec<Desired>,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let derived = |t: &str| t == RECONCILING || t == STALLED;
    let mut out: Vec<Condition> = previous
        .iter()
        .filter(|c| !derived(&c.type_) && !desired.iter().any(|d| d.type_ == c.type_))
        .map(|c| Condition { observed_generation: generation, ..c.clone() })
        .collect();
    let stamp = |d: Desired| {
        let status = if d.status { "True" } else { "False" }.to_string();
        let transition = previous
            .iter()
            .find(|c| c.type_ == d.type_ && c.status == status)
            .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
        Condition {
            type_: d.type_.to_string(),
            status,
            reason: d.reason,
            message: truncate(&d.message, 32 * 1024),
            observed_generation: generation,
            last_transition_time: transition,
        }
    };
    out.extend(desired.into_iter().filter(|d| !derived(d.type_)).map(stamp));
    if let Some(health) = health(&out) {
        out.push(stamp(health));
    }
    out.sort_by(|a, b| order(&a.type_).cmp(&order(&b.type_)).then_with(|| a.type_.cmp(&b.type_)));
    out
}

/// `Stalled` or `Reconciling` from the first of Ready, Synced that is not True, if any.
fn health(conditions: &[Condition]) -> Option<Desired> {
    let troubled: Vec<&Condition> = ["Ready", "Synced"]
        .iter()
        .filter_map(|t| find(conditions, t))
        .filter(|c| c.status != "True")
        .collect();
    if let Some(stuck) = troubled.iter().find(|c| class_of(&c.reason) == Class::NeedsHuman) {
        return Some(Desired::new(STALLED, true, stuck.reason.clone(), stuck.message.clone()));
    }
    troubled.first().map(|c| Desired::new(RECONCILING, true, c.reason.clone(), c.message.clone()))
}

fn order(type_: &str) -> u8 {
    match type_ {
        "Ready" => 0,
        "Synced" => 1,
        STALLED | RECONCILING => 2,
        _ => 3,
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

    #[test]
    fn work_in_progress_is_reconciling_and_what_needs_a_person_is_stalled() {
        let t0 = time("2026-01-01T00:00:00Z");
        let creating = merge(&[], vec![Desired::new("Ready", false, "Creating", "creating")], Some(1), &t0);
        assert_eq!(find(&creating, RECONCILING).map(|c| c.reason.as_str()), Some("Creating"));
        assert!(find(&creating, STALLED).is_none());

        let locked = merge(
            &creating,
            vec![
                Desired::new("Ready", false, "PublishedLocked", "locked"),
                Desired::new("Synced", false, "PublishedLocked", "locked"),
            ],
            Some(2),
            &t0,
        );
        assert_eq!(
            find(&locked, STALLED).map(|c| (c.reason.as_str(), c.message.as_str())),
            Some(("PublishedLocked", "locked"))
        );
        assert!(find(&locked, RECONCILING).is_none(), "never both: kstatus reads Reconciling first");

        let done = merge(
            &locked,
            vec![
                Desired::new("Ready", true, "Available", ""),
                Desired::new("Synced", true, "ReconcileSuccess", ""),
            ],
            Some(2),
            &t0,
        );
        assert!(find(&done, STALLED).is_none() && find(&done, RECONCILING).is_none());
    }

    #[test]
    fn a_transient_failure_next_to_one_that_needs_a_person_is_stalled() {
        let t0 = time("2026-01-01T00:00:00Z");
        let c = merge(
            &[],
            vec![
                Desired::new("Ready", false, "Throttled", "slow"),
                Desired::new("Synced", false, "NameConflict", "taken"),
            ],
            None,
            &t0,
        );
        assert_eq!(find(&c, STALLED).map(|c| c.reason.as_str()), Some("NameConflict"));
    }

    #[test]
    fn every_kept_condition_is_stamped_with_the_current_generation() {
        let t0 = time("2026-01-01T00:00:00Z");
        let first = merge(&[], vec![Desired::new("Published", true, "Published", "")], Some(1), &t0);
        let second = merge(&first, vec![Desired::new("Ready", true, "Available", "")], Some(3), &t0);
        assert!(second.iter().all(|c| c.observed_generation == Some(3)), "{second:?}");
    }

    /// Every reason the code writes is classified: a string literal passed as a reason in
    /// `src/` (`Desired::new(.., "Reason", ..)`, `fn reason` arms) must be in [`REASONS`].
    #[test]
    fn every_reason_the_code_writes_is_classified() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut missing = Vec::new();
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for reason in written_reasons(code) {
                    if !REASONS.iter().any(|(r, _)| *r == reason) && !missing.contains(&reason) {
                        missing.push(reason);
                    }
                }
            }
        }
        assert!(missing.is_empty(), "reasons missing from REASONS (and docs/conditions.md): {missing:?}");
    }

    /// The reasons a source file writes: the third argument-ish literal of
    /// `Desired::new("Type", bool, "Reason"` and `=> "Reason"` arms of `reason` functions.
    fn written_reasons(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for piece in text.split("Desired::new(").skip(1) {
            let literals: Vec<&str> = piece.split('"').collect();
            // "Type", <status>, "Reason"
            let between = literals.get(2).map_or("", |b| b.trim());
            if literals.len() > 3
                && literals[0].is_empty()
                && between.starts_with(',')
                && between.ends_with(',')
                && !between.contains(['(', ')', ';'])
            {
                let reason = literals[3];
                if reason.chars().all(char::is_alphanumeric) && reason.starts_with(char::is_uppercase) {
                    out.push(reason.to_string());
                }
            }
        }
        // The body of a `fn reason(` / `fn error_reason(`: up to the `}` at its indentation.
        let mut end_of_fn: Option<String> = None;
        for line in text.lines() {
            let trimmed = line.trim();
            if ["pub fn reason(", "fn reason(", "pub fn error_reason("].iter().any(|f| trimmed.starts_with(f))
            {
                end_of_fn = Some(format!("{}}}", &line[..line.len() - line.trim_start().len()]));
            } else if end_of_fn.as_deref() == Some(line) {
                end_of_fn = None;
            }
            if end_of_fn.is_some()
                && let Some((_, rhs)) = trimmed.split_once("=> \"")
                && let Some((reason, _)) = rhs.split_once('"')
            {
                out.push(reason.to_string());
            }
        }
        out
    }

    /// `docs/conditions.md` prints the same classes as [`REASONS`].
    #[test]
    fn the_reasons_table_in_the_docs_agrees_with_the_code() {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/conditions.md"),
        )
        .unwrap();
        let mut problems = Vec::new();
        for (reason, class) in REASONS {
            let rows: Vec<&str> =
                doc.lines().filter(|l| l.starts_with('|') && l.contains(&format!("`{reason}`"))).collect();
            if rows.is_empty() {
                problems.push(format!("{reason}: not in the docs"));
            }
            let word = match class {
                Class::Healthy => "| healthy |",
                Class::Transient => "| transient |",
                Class::NeedsHuman => "| needs a human",
            };
            for row in rows {
                if !row.contains(word) {
                    problems.push(format!("{reason}: the docs' row does not say {word}: {row}"));
                }
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
