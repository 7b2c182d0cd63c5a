//! With `--cluster`, the API server is the authority on what it would accept: each manifest
//! is applied as a server-side dry run (schema, CEL rules, immutable fields against the live
//! object), and a refusal is the resource's error in the plan, in the API server's words.
//! Nothing is stored.

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
        Err(kube::Error::Api(status)) => Err(format!("the API server refuses it: {}", status.message)),
        Err(e) => Ok(Some(format!("not validated by the API server: {e}"))),
    };
    verdicts.insert((kind, namespace.unwrap_or_default(), name), verdict);
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
