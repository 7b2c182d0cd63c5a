//! Status conditions: built as data, with `observedGeneration`, a PascalCase reason and a
//! message a person can act on; the transition time only moves when the status does.
//!
//! Every merge also derives kstatus' two "abnormal-true" conditions from `Ready`/`Synced`
//! (what Flux, `kstatus` and the shipped Argo CD health checks read): `Reconciling=True`
//! while the operator is still getting there on its own, `Stalled=True` when nothing
//! changes until a person acts; neither once the resource is Ready and Synced. Which is
//! which is decided by [`Reason::class`], the one table `docs/conditions.md` prints (a test
//! holds the two together); a condition is only ever built from a [`Reason`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::Condition;

/// A condition to set, before its transition time is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// `Ready`, `Synced`, `Published` …
    pub type_: &'static str,
    /// Whether it holds.
    pub status: bool,
    /// PascalCase reason: one of [`Reason`] (or, for `Stalled`/`Reconciling`, copied from the
    /// condition they are derived from).
    pub reason: String,
    /// What it means and what to do.
    pub message: String,
}

impl Desired {
    /// A condition.
    #[must_use]
    pub fn new(type_: &'static str, status: bool, reason: Reason, message: impl Into<String>) -> Self {
        Self { type_, status, reason: reason.as_str().to_string(), message: message.into() }
    }

    /// `Stalled` or `Reconciling` with the reason and message of the condition it stands for.
    fn derived(type_: &'static str, from: &Condition) -> Self {
        Self { type_, status: true, reason: from.reason.clone(), message: from.message.clone() }
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

/// Every reason the operator writes in a condition, each with its [`Class`]: the table
/// `docs/conditions.md` prints (a test holds the two together). A condition can only be
/// built from one of these ([`Desired::new`]), and [`Reason::class`] is an exhaustive match:
/// a new reason does not compile until it is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(
    missing_docs,
    reason = "each reason is documented in docs/conditions.md, whose table a test holds to this enum"
)]
pub enum Reason {
    // All is well.
    Available,
    ReconcileSuccess,
    Distributed,
    CredentialsValid,
    Published,
    Developing,
    // Work in progress or a transient failure.
    Pending,
    Creating,
    Adopting,
    ApplyingTopics,
    ConsumerGroupNotReady,
    Deleting,
    Distributing,
    InUse,
    ProductNotFound,
    ProductNotReady,
    DistributionQuotaFull,
    NamespaceDistributionQuotaFull,
    Throttled,
    PlatformUnavailable,
    Conflict,
    NotFound,
    StatusWriteFailed,
    AccountUnreadable,
    CredentialsUnreadable,
    StsUnavailable,
    // Nothing changes until a person acts.
    Paused,
    InvalidSpec,
    PlatformRefused,
    PublishedLocked,
    DeleteBlockedByPublication,
    ImpactNeedsApproval,
    DeleteNeedsApproval,
    ThingModelLockedByDistribution,
    AttributesMismatch,
    NameConflict,
    ConsumerGroupMismatch,
    ManagedElsewhere,
    AdoptTargetMissing,
    ProductMissing,
    NothingToObserve,
    ObserveOnly,
    UpdatesDisabled,
    SecretConflict,
    TakeOverNotAllowed,
    AccountNotFound,
    AccountNotAllowed,
    AccountMismatch,
    CredentialsSecretNotFound,
    CredentialsKeyMissing,
    CredentialsNamespaceNotAllowed,
    EndpointNotAllowed,
    CredentialSourceIncomplete,
    AssumeRoleRefused,
    OidcTokenUnreadable,
    AccountNotReady,
    QuotaExceeded,
    JobInterrupted,
    JobMissing,
}

impl Reason {
    /// Every reason, in the order of `docs/conditions.md`'s table.
    pub const ALL: &[Self] = &[
        Self::Available,
        Self::ReconcileSuccess,
        Self::Distributed,
        Self::CredentialsValid,
        Self::Published,
        Self::Developing,
        Self::Pending,
        Self::Creating,
        Self::Adopting,
        Self::ApplyingTopics,
        Self::ConsumerGroupNotReady,
        Self::Deleting,
        Self::Distributing,
        Self::InUse,
        Self::ProductNotFound,
        Self::ProductNotReady,
        Self::DistributionQuotaFull,
        Self::NamespaceDistributionQuotaFull,
        Self::Throttled,
        Self::PlatformUnavailable,
        Self::Conflict,
        Self::NotFound,
        Self::StatusWriteFailed,
        Self::AccountUnreadable,
        Self::CredentialsUnreadable,
        Self::StsUnavailable,
        Self::Paused,
        Self::InvalidSpec,
        Self::PlatformRefused,
        Self::PublishedLocked,
        Self::DeleteBlockedByPublication,
        Self::ImpactNeedsApproval,
        Self::DeleteNeedsApproval,
        Self::ThingModelLockedByDistribution,
        Self::AttributesMismatch,
        Self::NameConflict,
        Self::ConsumerGroupMismatch,
        Self::ManagedElsewhere,
        Self::AdoptTargetMissing,
        Self::ProductMissing,
        Self::NothingToObserve,
        Self::ObserveOnly,
        Self::UpdatesDisabled,
        Self::SecretConflict,
        Self::TakeOverNotAllowed,
        Self::AccountNotFound,
        Self::AccountNotAllowed,
        Self::AccountMismatch,
        Self::CredentialsSecretNotFound,
        Self::CredentialsKeyMissing,
        Self::CredentialsNamespaceNotAllowed,
        Self::EndpointNotAllowed,
        Self::CredentialSourceIncomplete,
        Self::AssumeRoleRefused,
        Self::OidcTokenUnreadable,
        Self::AccountNotReady,
        Self::QuotaExceeded,
        Self::JobInterrupted,
        Self::JobMissing,
    ];

    /// The reason as it is written in a condition (PascalCase).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Available => "Available",
            Self::ReconcileSuccess => "ReconcileSuccess",
            Self::Distributed => "Distributed",
            Self::CredentialsValid => "CredentialsValid",
            Self::Published => "Published",
            Self::Developing => "Developing",
            Self::Pending => "Pending",
            Self::Creating => "Creating",
            Self::Adopting => "Adopting",
            Self::ApplyingTopics => "ApplyingTopics",
            Self::ConsumerGroupNotReady => "ConsumerGroupNotReady",
            Self::Deleting => "Deleting",
            Self::Distributing => "Distributing",
            Self::InUse => "InUse",
            Self::ProductNotFound => "ProductNotFound",
            Self::ProductNotReady => "ProductNotReady",
            Self::DistributionQuotaFull => "DistributionQuotaFull",
            Self::NamespaceDistributionQuotaFull => "NamespaceDistributionQuotaFull",
            Self::Throttled => "Throttled",
            Self::PlatformUnavailable => "PlatformUnavailable",
            Self::Conflict => "Conflict",
            Self::NotFound => "NotFound",
            Self::StatusWriteFailed => "StatusWriteFailed",
            Self::AccountUnreadable => "AccountUnreadable",
            Self::CredentialsUnreadable => "CredentialsUnreadable",
            Self::StsUnavailable => "StsUnavailable",
            Self::Paused => "Paused",
            Self::InvalidSpec => "InvalidSpec",
            Self::PlatformRefused => "PlatformRefused",
            Self::PublishedLocked => "PublishedLocked",
            Self::DeleteBlockedByPublication => "DeleteBlockedByPublication",
            Self::ImpactNeedsApproval => "ImpactNeedsApproval",
            Self::DeleteNeedsApproval => "DeleteNeedsApproval",
            Self::ThingModelLockedByDistribution => "ThingModelLockedByDistribution",
            Self::AttributesMismatch => "AttributesMismatch",
            Self::NameConflict => "NameConflict",
            Self::ConsumerGroupMismatch => "ConsumerGroupMismatch",
            Self::ManagedElsewhere => "ManagedElsewhere",
            Self::AdoptTargetMissing => "AdoptTargetMissing",
            Self::ProductMissing => "ProductMissing",
            Self::NothingToObserve => "NothingToObserve",
            Self::ObserveOnly => "ObserveOnly",
            Self::UpdatesDisabled => "UpdatesDisabled",
            Self::SecretConflict => "SecretConflict",
            Self::TakeOverNotAllowed => "TakeOverNotAllowed",
            Self::AccountNotFound => "AccountNotFound",
            Self::AccountNotAllowed => "AccountNotAllowed",
            Self::AccountMismatch => "AccountMismatch",
            Self::CredentialsSecretNotFound => "CredentialsSecretNotFound",
            Self::CredentialsKeyMissing => "CredentialsKeyMissing",
            Self::CredentialsNamespaceNotAllowed => "CredentialsNamespaceNotAllowed",
            Self::EndpointNotAllowed => "EndpointNotAllowed",
            Self::CredentialSourceIncomplete => "CredentialSourceIncomplete",
            Self::AssumeRoleRefused => "AssumeRoleRefused",
            Self::OidcTokenUnreadable => "OidcTokenUnreadable",
            Self::AccountNotReady => "AccountNotReady",
            Self::QuotaExceeded => "QuotaExceeded",
            Self::JobInterrupted => "JobInterrupted",
            Self::JobMissing => "JobMissing",
        }
    }

    /// What this reason tells a health check.
    #[must_use]
    pub const fn class(self) -> Class {
        match self {
            Self::Available
            | Self::ReconcileSuccess
            | Self::Distributed
            | Self::CredentialsValid
            | Self::Published
            | Self::Developing => Class::Healthy,
            Self::Pending
            | Self::Creating
            | Self::Adopting
            | Self::ApplyingTopics
            | Self::ConsumerGroupNotReady
            | Self::Deleting
            | Self::Distributing
            | Self::InUse
            | Self::ProductNotFound
            | Self::ProductNotReady
            | Self::DistributionQuotaFull
            | Self::NamespaceDistributionQuotaFull
            | Self::Throttled
            | Self::PlatformUnavailable
            | Self::Conflict
            | Self::NotFound
            | Self::StatusWriteFailed
            | Self::AccountUnreadable
            | Self::CredentialsUnreadable
            | Self::StsUnavailable => Class::Transient,
            Self::Paused
            | Self::InvalidSpec
            | Self::PlatformRefused
            | Self::PublishedLocked
            | Self::DeleteBlockedByPublication
            | Self::ImpactNeedsApproval
            | Self::DeleteNeedsApproval
            | Self::ThingModelLockedByDistribution
            | Self::AttributesMismatch
            | Self::NameConflict
            | Self::ConsumerGroupMismatch
            | Self::ManagedElsewhere
            | Self::AdoptTargetMissing
            | Self::ProductMissing
            | Self::NothingToObserve
            | Self::ObserveOnly
            | Self::UpdatesDisabled
            | Self::SecretConflict
            | Self::TakeOverNotAllowed
            | Self::AccountNotFound
            | Self::AccountNotAllowed
            | Self::AccountMismatch
            | Self::CredentialsSecretNotFound
            | Self::CredentialsKeyMissing
            | Self::CredentialsNamespaceNotAllowed
            | Self::EndpointNotAllowed
            | Self::CredentialSourceIncomplete
            | Self::AssumeRoleRefused
            | Self::OidcTokenUnreadable
            | Self::AccountNotReady
            | Self::QuotaExceeded
            | Self::JobInterrupted
            | Self::JobMissing => Class::NeedsHuman,
        }
    }

    /// The reason written as `text`, if it is one of the operator's.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.as_str() == text)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The class of a reason read from a stored condition; one that is not the operator's (an
/// older version's, or written by hand) counts as transient: it is looked at again.
#[must_use]
pub fn class_of(reason: &str) -> Class {
    Reason::parse(reason).map_or(Class::Transient, Reason::class)
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
        return Some(Desired::derived(STALLED, stuck));
    }
    troubled.first().map(|c| Desired::derived(RECONCILING, c))
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
        let first =
            merge(&[], vec![Desired::new("Ready", false, Reason::Creating, "creating")], Some(1), &t0);
        let same = merge(&first, vec![Desired::new("Ready", false, Reason::Creating, "still")], Some(2), &t1);
        assert_eq!(same[0].last_transition_time, t0);
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = merge(&same, vec![Desired::new("Ready", true, Reason::Available, "ok")], Some(2), &t1);
        assert_eq!(flipped[0].last_transition_time, t1);
    }

    #[test]
    fn the_headline_is_the_first_condition_that_is_not_true() {
        let t0 = time("2026-01-01T00:00:00Z");
        let c = merge(
            &[],
            vec![
                Desired::new("Ready", true, Reason::Available, ""),
                Desired::new("Synced", false, Reason::PublishedLocked, ""),
            ],
            None,
            &t0,
        );
        assert_eq!(headline(&c).as_deref(), Some("PublishedLocked"));
        let ok = merge(
            &[],
            vec![
                Desired::new("Ready", true, Reason::Available, ""),
                Desired::new("Synced", true, Reason::ReconcileSuccess, ""),
            ],
            None,
            &t0,
        );
        assert_eq!(headline(&ok).as_deref(), Some("Available"));
    }

    #[test]
    fn other_conditions_are_kept_and_ready_comes_first() {
        let t0 = time("2026-01-01T00:00:00Z");
        let a = merge(&[], vec![Desired::new("Published", true, Reason::Published, "")], None, &t0);
        let b = merge(&a, vec![Desired::new("Ready", true, Reason::Available, "")], None, &t0);
        assert_eq!(b.iter().map(|c| c.type_.as_str()).collect::<Vec<_>>(), ["Ready", "Published"]);
    }

    #[test]
    fn work_in_progress_is_reconciling_and_what_needs_a_person_is_stalled() {
        let t0 = time("2026-01-01T00:00:00Z");
        let creating =
            merge(&[], vec![Desired::new("Ready", false, Reason::Creating, "creating")], Some(1), &t0);
        assert_eq!(find(&creating, RECONCILING).map(|c| c.reason.as_str()), Some("Creating"));
        assert!(find(&creating, STALLED).is_none());

        let locked = merge(
            &creating,
            vec![
                Desired::new("Ready", false, Reason::PublishedLocked, "locked"),
                Desired::new("Synced", false, Reason::PublishedLocked, "locked"),
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
                Desired::new("Ready", true, Reason::Available, ""),
                Desired::new("Synced", true, Reason::ReconcileSuccess, ""),
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
                Desired::new("Ready", false, Reason::Throttled, "slow"),
                Desired::new("Synced", false, Reason::NameConflict, "taken"),
            ],
            None,
            &t0,
        );
        assert_eq!(find(&c, STALLED).map(|c| c.reason.as_str()), Some("NameConflict"));
    }

    #[test]
    fn every_kept_condition_is_stamped_with_the_current_generation() {
        let t0 = time("2026-01-01T00:00:00Z");
        let first = merge(&[], vec![Desired::new("Published", true, Reason::Published, "")], Some(1), &t0);
        let second = merge(&first, vec![Desired::new("Ready", true, Reason::Available, "")], Some(3), &t0);
        assert!(second.iter().all(|c| c.observed_generation == Some(3)), "{second:?}");
    }

    /// The reasons the platform crate gives a failed credential source are the operator's.
    #[test]
    fn the_platform_crates_credential_reasons_are_reasons() {
        for reason in iot_platform::credential_provider::CREDENTIAL_REASONS {
            assert!(Reason::parse(reason).is_some(), "{reason}");
        }
    }

    /// `docs/conditions.md` prints the same classes as [`Reason::class`].
    #[test]
    fn the_reasons_table_in_the_docs_agrees_with_the_code() {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/conditions.md"),
        )
        .unwrap();
        let mut problems = Vec::new();
        for reason in Reason::ALL {
            let class = reason.class();
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
