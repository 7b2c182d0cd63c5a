//! The consumer group's decision table: from the spec, what status recorded and what the
//! platform shows, the one write to make (or why none can be made). Pure.
//!
//! Consumer groups carry no tags, so whose a group is cannot be read from the platform: a
//! group is this resource's when its id is recorded, or when it was created (by the
//! platform's clock) after this resource recorded its intent to create it. Any other group of
//! the name is adopted only with the account's take-over permission for the namespace.

use iot_platform::model::ConsumerGroupInfo;

/// Allowed difference between the operator's clock and the platform's, milliseconds.
pub const CLOCK_SKEW_MS: i64 = 2_000;

/// What observing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The group recorded in status, if it still exists.
    ById(Option<ConsumerGroupInfo>),
    /// No group recorded: the group of the spec's name, if any.
    ByName(Option<ConsumerGroupInfo>),
    /// No group recorded, and the group of the spec's name is held by another IotConsumerGroup.
    HeldElsewhere,
}

/// What the resource knows beyond the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Known {
    /// When this resource recorded its intent to create the group (milliseconds).
    pub create_started_ms: Option<i64>,
    /// Whether the account lets this namespace take over a group it did not create.
    pub may_take_over: bool,
}

/// The write to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The group is as specified.
    InSync {
        /// Its id.
        group_id: String,
    },
    /// Record the intent, then CreateConsumerGroup.
    Create,
    /// UpdateConsumerGroup to the spec's name.
    Rename {
        /// The group.
        group_id: String,
    },
    /// Record the group found by name as this resource's.
    Adopt {
        /// The group.
        group_id: String,
        /// Whether it is a take-over (a group this resource did not create).
        take_over: bool,
    },
    /// Another group has the name and this resource may not take it over.
    NameConflict,
    /// DeleteConsumerGroup.
    Delete {
        /// The group.
        group_id: String,
    },
    /// Nothing to do on the platform.
    Nothing,
}

/// Whether a group created at `create_time` (the platform's text) was made by the create this
/// resource started at `started_ms`.
#[must_use]
pub fn created_by_intent(create_time: &str, started_ms: Option<i64>) -> bool {
    let Some(started) = started_ms else { return false };
    let created = create_time
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .or_else(|_| create_time.parse::<i64>())
        .ok();
    created.is_some_and(|created| created >= started - CLOCK_SKEW_MS)
}

/// The decision while the resource exists.
#[must_use]
pub fn apply(name: &str, observed: &Observed, known: Known) -> Decision {
    match observed {
        Observed::ById(Some(group)) if group.group_name == name => {
            Decision::InSync { group_id: group.group_id.clone() }
        }
        Observed::ById(Some(group)) => Decision::Rename { group_id: group.group_id.clone() },
        // Deleted behind the operator's back: made again (it gets a new id).
        Observed::ById(None) | Observed::ByName(None) => Decision::Create,
        Observed::HeldElsewhere => Decision::NameConflict,
        Observed::ByName(Some(group)) => {
            let own = created_by_intent(&group.create_time, known.create_started_ms);
            if own || known.may_take_over {
                Decision::Adopt { group_id: group.group_id.clone(), take_over: !own }
            } else {
                Decision::NameConflict
            }
        }
    }
}

/// The decision while the resource is being deleted (`orphan`: the deletion policy leaves the
/// group).
#[must_use]
pub fn delete(orphan: bool, observed: &Observed, known: Known) -> Decision {
    if orphan {
        return Decision::Nothing;
    }
    match observed {
        Observed::ById(Some(group)) => Decision::Delete { group_id: group.group_id.clone() },
        // A create whose answer was lost made it: deleted too, so nothing is left behind.
        Observed::ByName(Some(group)) if created_by_intent(&group.create_time, known.create_started_ms) => {
            Decision::Delete { group_id: group.group_id.clone() }
        }
        _ => Decision::Nothing,
    }
}

/// Why a group's name cannot be used: another group of that name exists in the instance and
/// this resource did not create it (the controller's condition and `plan` say this).
#[must_use]
pub fn name_conflict_message(group_name: &str, account: &str) -> String {
    format!(
        "a consumer group named {group_name} already exists in the instance and this resource did not create it; \
         choose another spec.groupName (or have the account's administrator allow this namespace to take over: \
         spec.takeOver of PlatformAccount {account})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str, name: &str, created: &str) -> ConsumerGroupInfo {
        ConsumerGroupInfo { group_id: id.into(), group_name: name.into(), create_time: created.into() }
    }

    const STARTED: i64 = 1_780_000_000_000;

    fn at(ms: i64) -> String {
        jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
    }

    /// The rule table.
    #[test]
    fn each_situation_has_one_decision() {
        let mine = Known { create_started_ms: Some(STARTED), may_take_over: false };
        let none = Known::default();
        let take = Known { create_started_ms: None, may_take_over: true };
        let g = |name: &str, ms: i64| Some(group("g1", name, &at(ms)));
        let cases = [
            (
                "recorded and as specified",
                Observed::ById(g("billing", 0)),
                none,
                Decision::InSync { group_id: "g1".into() },
            ),
            (
                "recorded, renamed in the spec",
                Observed::ById(g("old_name", 0)),
                none,
                Decision::Rename { group_id: "g1".into() },
            ),
            ("recorded but deleted out of band", Observed::ById(None), none, Decision::Create),
            ("nothing yet", Observed::ByName(None), none, Decision::Create),
            (
                "made by this resource's own create (lost answer)",
                Observed::ByName(g("billing", STARTED + 10)),
                mine,
                Decision::Adopt { group_id: "g1".into(), take_over: false },
            ),
            (
                "made before this resource's intent: someone else's",
                Observed::ByName(g("billing", STARTED - 60_000)),
                mine,
                Decision::NameConflict,
            ),
            (
                "held by another resource, even with the take-over permission",
                Observed::HeldElsewhere,
                take,
                Decision::NameConflict,
            ),
            (
                "someone else's, without intent",
                Observed::ByName(g("billing", STARTED)),
                none,
                Decision::NameConflict,
            ),
            (
                "someone else's, with the take-over permission",
                Observed::ByName(g("billing", STARTED)),
                take,
                Decision::Adopt { group_id: "g1".into(), take_over: true },
            ),
        ];
        for (what, observed, known, want) in cases {
            assert_eq!(apply("billing", &observed, known), want, "{what}");
        }
    }

    #[test]
    fn deleting_removes_only_this_resources_group() {
        let mine = Known { create_started_ms: Some(STARTED), may_take_over: false };
        let recorded = Observed::ById(Some(group("g1", "billing", &at(0))));
        assert_eq!(delete(false, &recorded, Known::default()), Decision::Delete { group_id: "g1".into() });
        assert_eq!(delete(true, &recorded, Known::default()), Decision::Nothing, "Orphan");
        let lost = Observed::ByName(Some(group("g2", "billing", &at(STARTED + 5))));
        assert_eq!(delete(false, &lost, mine), Decision::Delete { group_id: "g2".into() });
        let theirs = Observed::ByName(Some(group("g3", "billing", &at(STARTED - 60_000))));
        assert_eq!(delete(false, &theirs, mine), Decision::Nothing);
        assert_eq!(delete(false, &Observed::ById(None), Known::default()), Decision::Nothing);
    }
}
