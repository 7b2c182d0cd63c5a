//! What the caches hold, counted for the resource gauges: resources by kind, health and
//! reason; distributions by job state; distribution tasks held per account; accounts'
//! readiness. Pure: the caller passes the cached objects.

use std::collections::BTreeMap;

use crate::crd::{Condition, IotProduct, PlatformAccount, ProductDistribution};
use crate::distribution::plan::JobState;
use crate::reconcile::conditions::{self, RECONCILING, STALLED};

/// The counts behind the resource gauges.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// (kind, health, reason) → resources.
    pub resources: BTreeMap<(&'static str, &'static str, &'static str), i64>,
    /// Job state → ProductDistributions.
    pub distributions: BTreeMap<&'static str, i64>,
    /// Account → distribution tasks held by ProductDistributions (a job made, its record
    /// not yet deleted).
    pub tasks_held: BTreeMap<String, i64>,
    /// Account → whether the platform accepted its credentials at the last check.
    pub accounts_ready: BTreeMap<String, bool>,
    /// (account, `total` | `activated` | `online`) → the devices of its products, summed
    /// (never a label per product).
    pub devices: BTreeMap<(String, &'static str), i64>,
}

/// `reason` when the reasons table has it, else `Other` (a bounded label value).
fn bounded(reason: &str) -> &'static str {
    conditions::Reason::parse(reason).map_or("Other", conditions::Reason::as_str)
}

/// A resource's health and reason as the gauges count it: `Stalled` or `Reconciling` when
/// the operator says so, `Ready` when Ready is True for the current generation, else
/// `Reconciling` (not yet looked at for this generation: reason `Pending`).
#[must_use]
pub fn health(
    conditions: &[Condition],
    generation: Option<i64>,
    observed: Option<i64>,
) -> (&'static str, &'static str) {
    if observed.is_none_or(|o| Some(o) != generation) {
        return ("Reconciling", "Pending");
    }
    let holds = |t: &str| conditions::find(conditions, t).filter(|c| c.status == "True");
    if let Some(c) = holds(STALLED) {
        ("Stalled", bounded(&c.reason))
    } else if let Some(c) = holds(RECONCILING) {
        ("Reconciling", bounded(&c.reason))
    } else if let Some(c) = holds("Ready") {
        ("Ready", bounded(&c.reason))
    } else {
        let reason = conditions::find(conditions, "Ready").map_or("Pending", |c| bounded(&c.reason));
        ("Reconciling", reason)
    }
}

impl Inventory {
    fn add(
        &mut self,
        kind: &'static str,
        conditions: &[Condition],
        generation: Option<i64>,
        observed: Option<i64>,
    ) {
        let (status, reason) = health(conditions, generation, observed);
        *self.resources.entry((kind, status, reason)).or_default() += 1;
    }
}

/// Counts `products`, `distributions` (each with the account it uses) and `accounts`.
#[must_use]
pub fn count<'a>(
    products: impl IntoIterator<Item = &'a IotProduct>,
    distributions: impl IntoIterator<Item = (&'a ProductDistribution, String)>,
    accounts: impl IntoIterator<Item = &'a PlatformAccount>,
) -> Inventory {
    let mut inventory = Inventory::default();
    for product in products {
        // Read in place: this runs over every product every few seconds.
        let Some(status) = &product.status else {
            inventory.add("IotProduct", &[], product.metadata.generation, None);
            continue;
        };
        inventory.add(
            "IotProduct",
            &status.conditions,
            product.metadata.generation,
            status.observed_generation,
        );
        if let Some(devices) = &status.devices {
            let account = product.account_name();
            for (state, n) in
                [("total", devices.total), ("activated", devices.activated), ("online", devices.online)]
            {
                *inventory.devices.entry((account.clone(), state)).or_default() += n;
            }
        }
    }
    for (pd, account) in distributions {
        let status = pd.status.clone().unwrap_or_default();
        inventory.add(
            "ProductDistribution",
            &status.conditions,
            pd.metadata.generation,
            status.observed_generation,
        );
        let state = status.state.as_deref().and_then(JobState::parse).map_or("Pending", JobState::as_str);
        *inventory.distributions.entry(state).or_default() += 1;
        if status.job_id.is_some() && status.job_record_deleted != Some(true) {
            *inventory.tasks_held.entry(account).or_default() += 1;
        }
    }
    for account in accounts {
        let status = account.status.clone().unwrap_or_default();
        inventory.add(
            "PlatformAccount",
            &status.conditions,
            account.metadata.generation,
            status.observed_generation,
        );
        let ready = conditions::find(&status.conditions, "Ready").is_some_and(|c| c.status == "True");
        inventory.accounts_ready.insert(account.metadata.name.clone().unwrap_or_default(), ready);
    }
    inventory
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::conditions::{Desired, Reason, merge};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn conditions(wanted: Vec<Desired>) -> Vec<Condition> {
        merge(&[], wanted, Some(1), &Time("2026-01-01T00:00:00Z".parse().unwrap()))
    }

    #[test]
    fn health_reads_stalled_reconciling_and_ready_and_bounds_the_reason() {
        let ready = conditions(vec![
            Desired::new("Ready", true, Reason::Available, ""),
            Desired::new("Synced", true, Reason::ReconcileSuccess, ""),
        ]);
        assert_eq!(health(&ready, Some(1), Some(1)), ("Ready", "Available"));
        assert_eq!(health(&ready, Some(2), Some(1)), ("Reconciling", "Pending"), "not yet observed");
        assert_eq!(health(&[], Some(1), None), ("Reconciling", "Pending"));
        let locked = conditions(vec![Desired::new("Ready", false, Reason::PublishedLocked, "")]);
        assert_eq!(health(&locked, Some(1), Some(1)), ("Stalled", "PublishedLocked"));
        let creating = conditions(vec![Desired::new("Ready", false, Reason::Creating, "")]);
        assert_eq!(health(&creating, Some(1), Some(1)), ("Reconciling", "Creating"));
        // A reason the operator does not write (an older version's, or by hand).
        let odd = conditions(vec![Desired {
            type_: "Ready",
            status: false,
            reason: "SomethingNew".into(),
            message: String::new(),
        }]);
        assert_eq!(health(&odd, Some(1), Some(1)), ("Reconciling", "Other"));
    }

    #[test]
    fn distributions_count_by_state_and_tasks_by_account() {
        let pd = |state: &str, job: Option<&str>, deleted: Option<bool>| -> ProductDistribution {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
                "metadata": {"name": "d", "namespace": "n", "generation": 1},
                "spec": {"productKey": "a1", "target": {"instanceId": "iot-1", "uid": "1"}},
                "status": {"state": state, "jobId": job, "jobRecordDeleted": deleted, "observedGeneration": 1}
            }))
            .unwrap()
        };
        let running = pd("Running", Some("j1"), None);
        let done = pd("Completed", Some("j2"), Some(true));
        let kept = pd("Completed", Some("j3"), Some(false));
        let waiting = pd("Pending", None, None);
        let inventory = count(
            [],
            [
                (&running, "a".to_string()),
                (&done, "a".to_string()),
                (&kept, "b".to_string()),
                (&waiting, "a".to_string()),
            ],
            [],
        );
        assert_eq!(inventory.distributions.get("Running"), Some(&1));
        assert_eq!(inventory.distributions.get("Completed"), Some(&2));
        assert_eq!(inventory.distributions.get("Pending"), Some(&1));
        assert_eq!(inventory.tasks_held.get("a"), Some(&1));
        assert_eq!(inventory.tasks_held.get("b"), Some(&1));
    }
}
