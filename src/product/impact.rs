//! What a plan would do to a product's devices, and whether a person approved it.
//!
//! The publication guide warns that revoking a published product and changing its feature
//! definitions "will affect the features of activated devices", and a deleted product's
//! ProductKey is invalid, so every device of it is cut off. The actions that affect devices:
//!
//! | action | affects devices when |
//! |---|---|
//! | CancelReleaseProduct (revoking publication, for any reason) | activated > threshold |
//! | ImportThingModelTsl / PublishThingModel (a changed thing model) | activated > threshold |
//! | DeleteProduct | total > threshold |
//! | UpdateThingScript, UpdateProductTopic, DeleteProductTopic (devices parse and use them) | activated > threshold |
//!
//! The threshold is the account's `spec.impactApproval.activatedDevicesAbove` (default 0).
//! Such an action runs only with the annotation `iot.productoperator.dev/approve-impact`
//! set to the resource's current generation; without it the plan stops before the first
//! such action (the actions before it, such as tags, still run) and says why.
//!
//! Pure: the controller and `plan` call [`gate`] on the planner's result.

use crate::crd::product::DeviceCounts;
use crate::reconcile::conditions::Reason;

use super::plan::{Action, Blocked, Observed, Plan};

/// The annotation that approves, for one generation, actions that affect devices.
pub const APPROVE_IMPACT_ANNOTATION: &str = "iot.productoperator.dev/approve-impact";

/// What the resource says about device impact: the account's threshold and whether a
/// person approved this generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImpactPolicy {
    /// Devices above this many (activated; in all, for a delete) need approval.
    pub threshold: i64,
    /// The generation the approval annotation names, if any.
    pub approved_generation: Option<i64>,
    /// The resource's current generation.
    pub generation: i64,
}

impl ImpactPolicy {
    /// Whether the approval is for the current generation (a stale one approves nothing).
    #[must_use]
    pub fn approved(&self) -> bool {
        self.approved_generation == Some(self.generation)
    }
}

/// Which device-affecting action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImpactKind {
    /// Revoking publication.
    Revoke,
    /// Importing or publishing a changed thing model.
    ThingModel,
    /// Deleting the product.
    Delete,
    /// Changing the data-parsing script or a topic category devices use.
    Parts,
}

/// An action that would reach devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Impact {
    /// What kind.
    pub kind: ImpactKind,
    /// The platform operation.
    pub operation: &'static str,
    /// The product's devices.
    pub devices: DeviceCounts,
    /// The generation an approval must name.
    pub generation: i64,
}

impl Impact {
    /// The condition reason.
    #[must_use]
    pub fn reason(&self) -> Reason {
        match self.kind {
            ImpactKind::Delete => Reason::DeleteNeedsApproval,
            _ => Reason::ImpactNeedsApproval,
        }
    }

    /// What would happen, with the numbers: `revoking publication would affect 1 234
    /// activated devices (56 online)`.
    #[must_use]
    pub fn summary(&self) -> String {
        let DeviceCounts { total, activated, online, .. } = self.devices.clone();
        match self.kind {
            ImpactKind::Revoke => format!(
                "revoking publication would affect {} activated devices ({} online)",
                thousands(activated),
                thousands(online)
            ),
            ImpactKind::ThingModel => format!(
                "changing the thing model ({}) would affect {} activated devices ({} online)",
                self.operation,
                thousands(activated),
                thousands(online)
            ),
            ImpactKind::Parts => format!(
                "changing what devices use ({}) would affect {} activated devices ({} online)",
                self.operation,
                thousands(activated),
                thousands(online)
            ),
            ImpactKind::Delete => format!(
                "deleting the product would invalidate its ProductKey for {} devices ({} activated, {} online)",
                thousands(total),
                thousands(activated),
                thousands(online)
            ),
        }
    }

    /// The summary and the way out.
    #[must_use]
    pub fn message(&self) -> String {
        let approve = format!("set annotation {APPROVE_IMPACT_ANNOTATION}: \"{}\"", self.generation);
        match self.kind {
            ImpactKind::Delete => format!(
                "{}; nothing was called on the platform. To delete it, {approve}; to keep the product and its \
                 devices, set spec.deletionPolicy: Orphan",
                self.summary()
            ),
            _ => format!(
                "{}; nothing that reaches devices was done. To proceed, {approve} (the approval holds for this \
                 generation only: a later edit needs a new one); or undo the change in the spec",
                self.summary()
            ),
        }
    }
}

/// `1234567` as `1 234 567`.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The first action of `actions` that would reach devices of `devices`, if any.
#[must_use]
pub fn first_affecting(
    actions: &[Action],
    devices: &DeviceCounts,
    policy: &ImpactPolicy,
) -> Option<(usize, Impact)> {
    actions.iter().enumerate().find_map(|(i, action)| {
        let kind = match action {
            Action::CancelRelease if devices.activated > policy.threshold => ImpactKind::Revoke,
            Action::ImportThingModel | Action::PublishThingModel if devices.activated > policy.threshold => {
                ImpactKind::ThingModel
            }
            Action::Delete if devices.total > policy.threshold => ImpactKind::Delete,
            Action::UpdateScript | Action::UpdateTopic { .. } | Action::DeleteTopic { .. }
                if devices.activated > policy.threshold =>
            {
                ImpactKind::Parts
            }
            _ => return None,
        };
        Some((
            i,
            Impact {
                kind,
                operation: action.operation(),
                devices: devices.clone(),
                generation: policy.generation,
            },
        ))
    })
}

/// The plan as a person's approval allows it: unchanged when no action reaches devices or
/// the current generation is approved; else cut before the first action that would, and
/// blocked with the numbers and the way out. A product that does not exist yet has no
/// devices.
#[must_use]
pub fn gate(mut plan: Plan, observed: &Observed, policy: &ImpactPolicy) -> Plan {
    let Observed::Exists(product) = observed else { return plan };
    if policy.approved() {
        return plan;
    }
    let Some((at, impact)) = first_affecting(&plan.actions, &product.devices, policy) else { return plan };
    plan.actions.truncate(at);
    plan.blocked = Some(Blocked::ImpactNeedsApproval(impact));
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices(total: i64, activated: i64, online: i64) -> DeviceCounts {
        DeviceCounts { total, activated, online, observed_at: None }
    }

    fn policy(threshold: i64, approved: Option<i64>) -> ImpactPolicy {
        ImpactPolicy { threshold, approved_generation: approved, generation: 7 }
    }

    /// The rule table: (actions, devices, threshold, which action is gated).
    #[test]
    fn the_actions_that_reach_devices_are_gated_above_the_threshold() {
        use Action::*;
        let revoke_apply_republish = vec![CancelRelease, ImportThingModel, PublishThingModel, Release];
        type Case = (&'static str, Vec<Action>, DeviceCounts, i64, Option<(usize, ImpactKind)>);
        let cases: Vec<Case> = vec![
            (
                "revoke, activated devices",
                vec![CancelRelease],
                devices(10, 3, 1),
                0,
                Some((0, ImpactKind::Revoke)),
            ),
            ("revoke, none activated", vec![CancelRelease], devices(10, 0, 0), 0, None),
            ("revoke, under the account's threshold", vec![CancelRelease], devices(10, 3, 1), 5, None),
            (
                "revoke, over the threshold",
                vec![CancelRelease],
                devices(10, 6, 1),
                5,
                Some((0, ImpactKind::Revoke)),
            ),
            (
                "revoke-apply-republish",
                revoke_apply_republish.clone(),
                devices(1, 1, 0),
                0,
                Some((0, ImpactKind::Revoke)),
            ),
            ("revoke-apply-republish, no devices", revoke_apply_republish, devices(0, 0, 0), 0, None),
            (
                "a changed model of a draft product",
                vec![ImportThingModel, PublishThingModel],
                devices(5, 2, 2),
                0,
                Some((0, ImpactKind::ThingModel)),
            ),
            (
                "a pending publish",
                vec![PublishThingModel],
                devices(5, 2, 2),
                0,
                Some((0, ImpactKind::ThingModel)),
            ),
            ("a model with devices never activated", vec![ImportThingModel], devices(5, 0, 0), 0, None),
            (
                "tags first, then the revoke",
                vec![CreateTags(Vec::new()), CancelRelease],
                devices(2, 2, 0),
                0,
                Some((1, ImpactKind::Revoke)),
            ),
            (
                "tags and a release reach no device",
                vec![CreateTags(Vec::new()), Release],
                devices(9, 9, 9),
                0,
                None,
            ),
            (
                "delete, devices never activated",
                vec![Delete],
                devices(3, 0, 0),
                0,
                Some((0, ImpactKind::Delete)),
            ),
            ("delete, no devices", vec![Delete], devices(0, 0, 0), 0, None),
            (
                "revoke then delete",
                vec![CancelRelease, Delete],
                devices(3, 0, 0),
                0,
                Some((1, ImpactKind::Delete)),
            ),
            ("delete under the threshold", vec![Delete], devices(3, 3, 3), 3, None),
        ];
        for (case, actions, devices, threshold, expected) in cases {
            let found = first_affecting(&actions, &devices, &policy(threshold, None))
                .map(|(i, impact)| (i, impact.kind));
            assert_eq!(found, expected, "{case}");
        }
    }

    #[test]
    fn only_an_approval_for_the_current_generation_approves() {
        assert!(policy(0, Some(7)).approved());
        assert!(!policy(0, Some(6)).approved(), "a stale approval");
        assert!(!policy(0, None).approved());
    }

    #[test]
    fn the_message_gives_the_numbers_and_the_way_out() {
        let (_, impact) =
            first_affecting(&[Action::CancelRelease], &devices(100_000, 1234, 56), &policy(0, None)).unwrap();
        assert_eq!(impact.reason(), Reason::ImpactNeedsApproval);
        assert_eq!(
            impact.message(),
            "revoking publication would affect 1 234 activated devices (56 online); nothing that reaches devices was \
             done. To proceed, set annotation iot.productoperator.dev/approve-impact: \"7\" (the approval holds for \
             this generation only: a later edit needs a new one); or undo the change in the spec"
        );
        let (_, delete) = first_affecting(&[Action::Delete], &devices(3, 1, 0), &policy(0, None)).unwrap();
        assert_eq!(delete.reason(), Reason::DeleteNeedsApproval);
        assert!(delete.message().contains("spec.deletionPolicy: Orphan"), "{}", delete.message());
        assert_eq!(thousands(1_234_567), "1 234 567");
        assert_eq!(thousands(12), "12");
    }
}
