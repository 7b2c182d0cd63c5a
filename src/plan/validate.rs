//! What the API server would refuse, as the resource's error in the plan, in the API server's
//! words. With `--cluster` the API server is the authority: each manifest is applied as a
//! server-side dry run (schema, CEL rules, immutable fields against the live object; nothing is
//! stored). Without, the same schemas and rules are checked here ([`crate::crd::validate`],
//! run when the manifests are read); only the rules that compare with the stored object
//! (immutable fields) wait for the cluster.

use std::collections::BTreeMap;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;

use super::manifests::Objects;

/// The field manager of the dry runs.
const MANAGER: &str = "iot-product-operator-plan";

/// (kind, namespace, name) → what became of the dry run: `Err` the API server's refusal,
/// `Ok(Some(note))` when it could not be asked (no right to, namespace missing).
pub type Verdicts = BTreeMap<(&'static str, String, String), Result<Option<String>, String>>;

async fn dry_run<K>(client: &Client, kind: &'static str, object: &K, verdicts: &mut Verdicts)
where
    K: Resource<DynamicType = ()> + Serialize,
{
    let resource = ApiResource::erase::<K>(&());
    let namespace = object.namespace();
    let name = object.name_any();
    let api: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let mut value = serde_json::to_value(object).unwrap_or_default();
    // What a person applies: no status, no server-owned metadata.
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
    }
    let params = PatchParams::apply(MANAGER).dry_run().force();
    let verdict = match api.patch(&name, &params, &Patch::Apply(&value)).await {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(Some(
            "not validated by the API server: the caller may not apply it (even as a dry run)".into(),
        )),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            Ok(Some("not validated by the API server: its namespace does not exist yet".into()))
        }
        Err(kube::Error::Api(status)) => Err(refused(&status.message)),
        Err(e) => Ok(Some(format!("not validated by the API server: {e}"))),
    };
    verdicts.insert((kind, namespace.unwrap_or_default(), name), verdict);
}

/// How `plan` words a refusal.
#[must_use]
pub fn refused(refusal: &str) -> String {
    format!("the API server refuses it: {refusal}")
}

/// The verdicts of the local check of the manifests (made when they were read).
#[must_use]
pub fn local(objects: &Objects) -> Verdicts {
    objects.refused.iter().map(|(key, refusal)| (key.clone(), Err(refused(refusal)))).collect()
}

/// Dry-runs every object of `objects` through `client`.
pub async fn dry_run_all(client: &Client, objects: &Objects) -> Verdicts {
    let mut verdicts = Verdicts::new();
    for account in &objects.accounts {
        dry_run(client, "PlatformAccount", account, &mut verdicts).await;
    }
    for product in &objects.products {
        dry_run(client, "IotProduct", product, &mut verdicts).await;
    }
    for distribution in &objects.distributions {
        dry_run(client, "ProductDistribution", distribution, &mut verdicts).await;
    }
    for group in &objects.consumer_groups {
        dry_run(client, "IotConsumerGroup", group, &mut verdicts).await;
    }
    verdicts
}
