//! The fault campaign: a seeded random schedule of user actions, platform faults, operator
//! crashes and an API server restart, then a check that nothing was lost or duplicated.
//!
//! Against the real kube-apiserver, the emulator (in this process, so its faults can be
//! switched at any moment) and the operator binary (killed with SIGKILL and restarted).
//!
//! - `cargo test --test fault_campaign` — the bounded run `.ci/run` makes (seed fixed).
//! - `CAMPAIGN_SOAK=1 cargo test --release --test fault_campaign -- --nocapture` — the
//!   long run: more products, distributions, crashes and a longer schedule.
//! - `CAMPAIGN_SEED=n` replays another schedule.
//!
//! The invariants checked at the end are listed in [`check_invariants`].

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{ControlPlane, OperatorProcess, TestEmulator, control_plane, eventually};
use iot_platform_emulator::faults::{ErrorKind, Faults};
use iot_platform_emulator::state::{Product, Snapshot};
use iot_product_operator::crd::{IotProduct, ProductDistribution};
use iot_product_operator::product::desired::OWNER_TAG;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// The instance distributions go to.
const TARGET: &str = "iot-cn-prod0001";

/// The size of a run.
#[derive(Debug)]
struct Settings {
    seed: u64,
    products: usize,
    distributions: usize,
    operator_kills: usize,
    schedule: Duration,
    converge: Duration,
}

fn settings() -> Settings {
    let seed = std::env::var("CAMPAIGN_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_123);
    if std::env::var("CAMPAIGN_SOAK").is_ok_and(|v| !v.is_empty() && v != "0") {
        Settings {
            seed,
            products: 1000,
            distributions: 100,
            operator_kills: 50,
            schedule: Duration::from_secs(600),
            converge: Duration::from_secs(900),
        }
    } else {
        Settings {
            seed,
            products: 200,
            distributions: 30,
            operator_kills: 4,
            schedule: Duration::from_secs(60),
            converge: Duration::from_secs(300),
        }
    }
}

/// What the user asked for, as the campaign changed it.
#[derive(Debug, Clone)]
struct Intent {
    name: String,
    /// Every name the resource was given (renames included).
    names: Vec<String>,
    description: String,
    published: bool,
    orphan: bool,
    /// A distribution source: never deleted, its thing model never changed.
    keeper: bool,
    /// The value of its `campaign` tag.
    tag: String,
    /// The version of its thing model (some Pro products carry one).
    model: Option<u32>,
    /// The resource's UID (the owner its product's tags name).
    uid: Option<String>,
    created: bool,
    deleted: bool,
    /// How often its product was deleted out of band (each time it is made again).
    deleted_out_of_band: usize,
    /// Whether its product gets activated devices once it exists.
    wants_devices: bool,
    /// Its product as it was when its devices were activated.
    fleet: Option<Fleet>,
    /// Its custom topic categories (name, operation), when its spec has them.
    topics: Option<Vec<(String, &'static str)>>,
    /// Whether its spec subscribes the campaign's consumer group.
    subscribed: bool,
}

/// The campaign's IotConsumerGroup (some products push their device data to it).
const GROUP: &str = "campaign-group";

/// A product with activated devices: until a person approves, the operator must not revoke
/// it, change its thing model or delete it. Devices connect only to a product whose resource
/// is Ready for its current spec (no reconcile is then on its way to change it) and that
/// nobody changes in the console, so from that moment on any revoke, new thing-model version
/// or deletion would be the operator's, unapproved.
#[derive(Debug, Clone)]
struct Fleet {
    key: String,
    /// Its thing-model versions and publication when its devices connected.
    versions: usize,
    released: bool,
}

/// What was done and injected, for the report.
#[derive(Debug, Default)]
struct Counts {
    creates: usize,
    changes: usize,
    toggles: usize,
    deletes: usize,
    distributions: usize,
    distribution_deletes: usize,
    fault_profiles: usize,
    storms: usize,
    operator_kills: usize,
    apiserver_restarts: usize,
    refused_during_restart: usize,
    renames: usize,
    tag_changes: usize,
    model_changes: usize,
    topic_changes: usize,
    out_of_band: BTreeMap<&'static str, usize>,
    /// Products given activated devices.
    fleets: usize,
    /// Of them, those whose spec asked for an action that reaches devices (held back until
    /// approved).
    fleets_held: usize,
}

fn product_manifest(ns: &str, i: usize, intent: &Intent) -> IotProduct {
    let mut spec = json!({
        "accountRef": {"name": common::account_name(ns)},
        "productName": intent.name,
        "description": intent.description,
        "published": intent.published,
        "publishedChangePolicy": "RevokeAndRepublish",
        "deletionPolicy": if intent.orphan { "Orphan" } else { "Delete" },
        "tags": {"campaign": intent.tag},
    });
    if let Some(version) = intent.model {
        spec["thingModel"] = thing_model(version);
    }
    if let Some(topics) = &intent.topics {
        spec["topics"] =
            topics.iter().map(|(name, operation)| json!({"name": name, "operation": operation})).collect();
    }
    if intent.subscribed {
        spec["subscription"] = json!({"consumerGroups": [GROUP], "messages": ["DeviceData"]});
    }
    serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
        "metadata": {"name": format!("p{i:04}"), "namespace": ns},
        "spec": spec,
    }))
    .unwrap()
}

/// Version `version` of a thing model: a switch and a level whose identifier names the
/// version (so the platform's draft says which version it holds).
fn thing_model(version: u32) -> serde_json::Value {
    json!({"properties": [
        {"identifier": "Power", "name": "Power", "accessMode": "rw",
         "dataType": {"type": "bool", "values": [{"value": 0, "name": "off"}, {"value": 1, "name": "on"}]}},
        {"identifier": format!("Level{version}"), "name": "Level", "accessMode": "r",
         "dataType": {"type": "int", "min": 0, "max": 100, "step": 1}},
    ]})
}

fn distribution_manifest(ns: &str, d: usize, product: usize) -> ProductDistribution {
    serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
        "metadata": {"name": format!("d{d:04}"), "namespace": ns},
        "spec": {
            "accountRef": {"name": common::account_name(ns)},
            "productRef": {"name": format!("p{product:04}")},
            "jobRecordPolicy": if keeps_job_record(d) { "Keep" } else { "DeleteWhenDone" },
            "target": {"instanceId": TARGET, "uid": common::ACCOUNT_UID}
        }
    }))
    .unwrap()
}

/// Five distributions keep their job's record (within the account's 10 tasks, since the
/// others free theirs).
fn keeps_job_record(d: usize) -> bool {
    d < 10 && d % 2 == 1
}

/// A random fault profile: server errors, lost responses after commit, latency.
fn fault_profile(rng: &mut StdRng) -> Faults {
    let kinds = [ErrorKind::InternalError, ErrorKind::ServiceUnavailable, ErrorKind::SystemException];
    let mut faults = Faults {
        error_kind: kinds[rng.random_range(0..kinds.len())],
        latency_ms: rng.random_range(0..30),
        ..Faults::default()
    };
    faults.error_rate.insert("*".into(), rng.random_range(0.0..0.15));
    for action in [
        "CreateProduct",
        "ReleaseProduct",
        "CancelReleaseProduct",
        "UpdateProduct",
        "DeleteProduct",
        "CreateProductTags",
        "UpdateProductTags",
        "ImportThingModelTsl",
        "PublishThingModel",
        "CreateProductDistributeJob",
        "DeleteDeviceDistributeJob",
    ] {
        faults.lose_response_rate.insert(action.into(), rng.random_range(0.0..0.1));
        // The change is made, and the answer says the server failed.
        faults.commit_then_fail_rate.insert(action.into(), rng.random_range(0.0..0.1));
    }
    faults
}

/// The campaign's world.
struct World {
    plane: &'static ControlPlane,
    client: Client,
    ns: String,
    emulator: TestEmulator,
    operator: Option<OperatorProcess>,
    products: Api<IotProduct>,
    distributions: Api<ProductDistribution>,
}

impl Drop for World {
    /// A failed campaign leaves the operator's log (since its last start) for reading.
    fn drop(&mut self) {
        if std::thread::panicking() {
            let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault-campaign-operator.log");
            if std::fs::write(&path, self.logs()).is_ok() {
                eprintln!("the operator's log is in {}", path.display());
            }
        }
    }
}

impl World {
    fn start_operator(&mut self) {
        self.operator = Some(OperatorProcess::start(self.plane, &self.ns, &["--resync-interval", "5s"]));
    }

    fn logs(&self) -> String {
        self.operator.as_ref().map(OperatorProcess::logs).unwrap_or_default()
    }
}

/// A write the campaign makes; a refusal (the API server restarting) is counted, not fatal.
fn accepted<T>(result: Result<T, kube::Error>, counts: &mut Counts) -> bool {
    match result {
        Ok(_) => true,
        Err(kube::Error::Api(e)) if e.code == 409 => true,
        Err(kube::Error::Api(e)) if e.code == 404 => false,
        Err(_) => {
            counts.refused_during_restart += 1;
            false
        }
    }
}

/// A change the campaign asks of a resource's spec.
enum Change {
    Description(String),
    Published(bool),
    Rename(String),
    Tag(String),
    Model(u32),
    Topics(Vec<(String, &'static str)>),
}

/// The id of the campaign's consumer group, once it has one.
async fn campaign_group_id(world: &World) -> Option<String> {
    let groups: Api<iot_product_operator::crd::IotConsumerGroup> =
        Api::namespaced(world.client.clone(), &world.ns);
    groups.get(GROUP).await.ok()?.status?.group_id
}

/// Whether the platform's topics and subscription are what `intent` asks (`group_id`: the
/// campaign group's id), and if not, what differs.
fn parts_differ(product: &Product, intent: &Intent, group_id: Option<&str>) -> Option<String> {
    if let Some(topics) = &intent.topics {
        let mut on_platform: Vec<(String, String)> =
            product.topics.iter().map(|t| (t.topic_short_name.clone(), t.operation.clone())).collect();
        on_platform.sort();
        let mut wanted: Vec<(String, String)> =
            topics.iter().map(|(n, o)| (n.clone(), o.to_string())).collect();
        wanted.sort();
        if on_platform != wanted {
            return Some(format!("topics {on_platform:?}, want {wanted:?}"));
        }
    }
    if intent.subscribed {
        let relation = product.subscriptions.get("AMQP");
        let ok = relation.is_some_and(|r| {
            r.device_data_flag && group_id.is_some_and(|id| r.consumer_group_ids == [id.to_string()])
        });
        if !ok {
            return Some(format!("subscription {relation:?}, want group {group_id:?}"));
        }
    }
    None
}

/// Creates resource `i`; records its UID. A refusal (the API server restarting) is counted.
async fn create_resource(world: &World, i: usize, intent: &mut Intent, counts: &mut Counts) -> bool {
    let created =
        world.products.create(&PostParams::default(), &product_manifest(&world.ns, i, intent)).await;
    let created = match created {
        Err(kube::Error::Api(e)) if e.code == 409 => world.products.get(&format!("p{i:04}")).await,
        other => other,
    };
    match created {
        Ok(resource) => {
            intent.uid = resource.uid();
            true
        }
        Err(_) => {
            counts.refused_during_restart += 1;
            false
        }
    }
}

/// The product of a fleet, which must still exist.
fn fleet_product<'a>(snapshot: &'a Snapshot, fleet: &Fleet, i: usize) -> &'a Product {
    snapshot
        .products
        .iter()
        .find(|p| p.product_key == fleet.key && p.instance_id != TARGET)
        .unwrap_or_else(|| panic!("p{i:04}: the product with devices {} was deleted", fleet.key))
}

/// No product with activated devices was revoked, given a new thing-model version or
/// deleted (no person approved any yet).
fn check_fleets(snapshot: &Snapshot, intents: &[Intent]) {
    for (i, intent) in intents.iter().enumerate() {
        let Some(fleet) = &intent.fleet else { continue };
        let product = fleet_product(snapshot, fleet, i);
        assert_eq!(
            product.versions.len(),
            fleet.versions,
            "p{i:04}: a thing model was published to its devices"
        );
        assert!(
            !fleet.released || product.released,
            "p{i:04}: its publication was revoked under its devices"
        );
    }
}

/// The platform product of a resource: the one its ownership tag names.
fn product_of(snapshot: &Snapshot, intent: &Intent) -> Option<Product> {
    let uid = intent.uid.as_ref()?;
    snapshot.products.iter().find(|p| p.instance_id != TARGET && p.tags.get(OWNER_TAG) == Some(uid)).cloned()
}

/// A person changes the resource's product in the console: edits its description, toggles
/// its publication, changes its tag, or deletes it (not a distribution source's). The
/// operator must put back what the spec says (and make a deleted product again).
fn out_of_band(world: &World, intent: &mut Intent, rng: &mut StdRng, counts: &mut Counts) {
    // A product that gets devices is left to the operator (a console change could be
    // corrected by a reconcile that looked before its devices connected).
    if intent.wants_devices {
        return;
    }
    let Some(product) = product_of(&world.emulator.emulator.snapshot(), intent) else { return };
    let key = product.product_key.as_str();
    let console = |action: &str, params: &[(&str, &str)]| {
        let mut all = vec![("ProductKey", key)];
        all.extend_from_slice(params);
        world.emulator.emulator.console(common::ACCOUNT_UID, action, &all).is_ok()
    };
    let (kind, done) = match rng.random_range(0..4) {
        0 => (
            "edit",
            console(
                "UpdateProduct",
                &[("ProductName", &product.product_name), ("Description", "edited out of band")],
            ),
        ),
        1 if product.released => ("publication", console("CancelReleaseProduct", &[])),
        1 => ("publication", console("ReleaseProduct", &[])),
        2 => (
            "tag",
            console(
                "UpdateProductTags",
                &[("ProductTag.1.TagKey", "campaign"), ("ProductTag.1.TagValue", "oob")],
            ),
        ),
        _ if intent.keeper || product.distributed => return,
        _ => {
            let _ = console("CancelReleaseProduct", &[]);
            let deleted = console("DeleteProduct", &[]);
            if deleted {
                intent.deleted_out_of_band += 1;
            }
            ("delete", deleted)
        }
    };
    if done {
        *counts.out_of_band.entry(kind).or_default() += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_fault_campaign_loses_nothing_and_duplicates_nothing() {
    let settings = settings();
    eprintln!("fault campaign: {settings:?}");
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let plane = control_plane();
    let client = plane.admin_client().await;
    let ns = common::test_namespace(&client, "campaign").await;
    // The platform's real limit of 10 distribution tasks per account.
    let emulator = TestEmulator::start_with(|rules| {
        rules.max_products_per_instance = 100_000;
        rules.seed = settings.seed;
    })
    .await;
    common::create_account(&client, &ns, &emulator.url, common::ACCESS_KEY_SECRET).await;
    // The campaign's one namespace may use all of the account's distribution tasks.
    Api::<iot_product_operator::crd::PlatformAccount>::all(client.clone())
        .patch(
            &common::account_name(&ns),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"distributionTasksPerNamespace": 10}})),
        )
        .await
        .unwrap();
    let mut world = World {
        plane,
        client: client.clone(),
        ns: ns.clone(),
        emulator,
        operator: None,
        products: Api::namespaced(client.clone(), &ns),
        distributions: Api::namespaced(client.clone(), &ns),
    };
    world.start_operator();
    let group: iot_product_operator::crd::IotConsumerGroup = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotConsumerGroup",
        "metadata": {"name": GROUP, "namespace": ns},
        "spec": {"groupName": "campaign_group", "accountRef": {"name": common::account_name(&ns)}}
    }))
    .unwrap();
    let groups: Api<iot_product_operator::crd::IotConsumerGroup> = Api::namespaced(client.clone(), &ns);
    groups.create(&PostParams::default(), &group).await.unwrap();

    let mut intents: Vec<Intent> = (0..settings.products)
        .map(|i| {
            let keeper = i < settings.distributions;
            Intent {
                name: format!("Campaign_{i:04}"),
                names: vec![format!("Campaign_{i:04}")],
                description: "v0".into(),
                published: rng.random_bool(0.5),
                orphan: rng.random_bool(0.25),
                keeper,
                tag: "t0".into(),
                model: (!keeper && rng.random_bool(0.2)).then_some(0),
                uid: None,
                created: false,
                deleted: false,
                deleted_out_of_band: 0,
                wants_devices: !keeper && rng.random_bool(0.2),
                fleet: None,
                // Derived from the index, not drawn: the seeded sequence stays what it was.
                topics: (!keeper && i % 4 == 1).then(|| vec![(format!("telemetry_{i}"), "PUB")]),
                subscribed: i % 5 == 2,
            }
        })
        .collect();
    // The platform product of each orphaned resource, as first seen after the resource was
    // gone (polled every tick): nothing may touch it afterwards.
    let mut orphaned: BTreeMap<usize, Option<Product>> = BTreeMap::new();
    let mut distributions: BTreeMap<usize, bool> = BTreeMap::new(); // index → deleted
    let mut counts = Counts::default();

    // The schedule: ticks of 100 ms. Creations in the first 40 %, everything else throughout.
    let tick = Duration::from_millis(100);
    let ticks = (settings.schedule.as_millis() / tick.as_millis()) as usize;
    let kill_ticks: BTreeSet<usize> =
        (0..settings.operator_kills).map(|_| rng.random_range(ticks / 10..ticks)).collect();
    let restart_tick = rng.random_range(ticks / 4..ticks * 3 / 4);
    let creation_ticks = (ticks * 2 / 5).max(1);
    let per_tick = settings.products.div_ceil(creation_ticks);
    let mut next_create = 0;
    let started = Instant::now();
    for t in 0..ticks {
        let pace = tokio::time::sleep(tick);
        // Faults: a new profile every ~5 s, a throttling storm now and then.
        if t % 50 == 0 {
            let mut faults = fault_profile(&mut rng);
            if rng.random_bool(0.3) {
                let ms = rng.random_range(1000..4000);
                faults.throttle_until_ms = Some(jiff::Timestamp::now().as_millisecond() + ms);
                counts.storms += 1;
            }
            world.emulator.emulator.set_faults(faults);
            counts.fault_profiles += 1;
        }
        // Operator crashes.
        if kill_ticks.contains(&t) {
            if let Some(mut operator) = world.operator.take() {
                operator.kill();
            }
            counts.operator_kills += 1;
            world.start_operator();
        }
        // The API server restarts once.
        if t == restart_tick {
            plane.restart_apiserver();
            counts.apiserver_restarts += 1;
        }
        // Creations.
        if t < creation_ticks {
            let end = (next_create + per_tick).min(settings.products);
            for (i, intent) in intents.iter_mut().enumerate().take(end).skip(next_create) {
                if create_resource(&world, i, intent, &mut counts).await {
                    intent.created = true;
                    counts.creates += 1;
                }
            }
            next_create = end;
        }
        // Changes, renames, publication toggles, tag and thing-model changes and deletions of
        // created products; changes made on the platform behind the operator's back.
        for _ in 0..2 {
            let i = rng.random_range(0..settings.products);
            if !intents[i].created || intents[i].deleted {
                continue;
            }
            let name = format!("p{i:04}");
            let roll = rng.random_range(0..20);
            let patch = match roll {
                10..=11 => {
                    let renamed = format!("Campaign_{i:04}_{}", intents[i].names.len());
                    Some((json!({"spec": {"productName": renamed}}), Change::Rename(renamed)))
                }
                12 => {
                    let tag = format!("t{}", rng.random_range(1..1000));
                    Some((json!({"spec": {"tags": {"campaign": tag}}}), Change::Tag(tag)))
                }
                5 if intents[i].topics.is_some() => {
                    let flipped: Vec<(String, &'static str)> = intents[i]
                        .topics
                        .iter()
                        .flatten()
                        .map(|(n, o)| (n.clone(), if *o == "PUB" { "ALL" } else { "PUB" }))
                        .collect();
                    let spec: Vec<serde_json::Value> =
                        flipped.iter().map(|(n, o)| json!({"name": n, "operation": o})).collect();
                    Some((json!({"spec": {"topics": spec}}), Change::Topics(flipped)))
                }
                13 if intents[i].model.is_some() => {
                    let version = intents[i].model.unwrap_or_default() + 1;
                    Some((json!({"spec": {"thingModel": thing_model(version)}}), Change::Model(version)))
                }
                6..=9 => {
                    let published = !intents[i].published;
                    Some((json!({"spec": {"published": published}}), Change::Published(published)))
                }
                14..=16 => {
                    out_of_band(&world, &mut intents[i], &mut rng, &mut counts);
                    None
                }
                17..=19 if !intents[i].keeper => {
                    let deleted = world.products.delete(&name, &DeleteParams::default()).await;
                    if accepted(deleted, &mut counts) {
                        intents[i].deleted = true;
                        counts.deletes += 1;
                    }
                    None
                }
                17..=19 => None,
                _ => {
                    let description = format!("v{}", rng.random_range(1..1000));
                    Some((json!({"spec": {"description": description}}), Change::Description(description)))
                }
            };
            let Some((patch, change)) = patch else { continue };
            if accepted(
                world.products.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await,
                &mut counts,
            ) {
                let intent = &mut intents[i];
                match change {
                    Change::Description(description) => {
                        intent.description = description;
                        counts.changes += 1;
                    }
                    Change::Published(published) => {
                        intent.published = published;
                        counts.toggles += 1;
                    }
                    Change::Rename(renamed) => {
                        intent.names.push(renamed.clone());
                        intent.name = renamed;
                        counts.renames += 1;
                    }
                    Change::Tag(tag) => {
                        intent.tag = tag;
                        counts.tag_changes += 1;
                    }
                    Change::Model(version) => {
                        intent.model = Some(version);
                        counts.model_changes += 1;
                    }
                    Change::Topics(topics) => {
                        intent.topics = Some(topics);
                        counts.topic_changes += 1;
                    }
                }
            }
        }
        // Devices connect to some products once they exist; every second, the products with
        // devices are checked: none revoked, re-modelled or deleted (no approval was given).
        if t % 10 == 0 && intents.iter().any(|p| p.wants_devices) {
            check_fleets(&world.emulator.emulator.snapshot(), &intents);
            for (i, intent) in intents
                .iter_mut()
                .enumerate()
                .filter(|(_, p)| p.wants_devices && p.fleet.is_none() && p.created && !p.deleted)
            {
                let ready_for_its_spec = match world.products.get_opt(&format!("p{i:04}")).await {
                    Ok(Some(resource)) => {
                        resource.metadata.deletion_timestamp.is_none()
                            && resource.status.as_ref().is_some_and(|s| {
                                s.observed_generation == resource.metadata.generation
                                    && s.conditions.iter().any(|c| {
                                        c.type_ == "Ready"
                                            && c.status == "True"
                                            && c.observed_generation == resource.metadata.generation
                                    })
                            })
                    }
                    _ => false,
                };
                let snapshot = world.emulator.emulator.snapshot();
                if ready_for_its_spec
                    && let Some(product) = product_of(&snapshot, intent)
                    && world
                        .emulator
                        .emulator
                        .set_devices(common::ACCOUNT_UID, &product.product_key, 3, 2, 1)
                        .is_ok()
                {
                    intent.fleet = Some(Fleet {
                        key: product.product_key.clone(),
                        versions: product.versions.len(),
                        released: product.released,
                    });
                    counts.fleets += 1;
                }
            }
        }
        // Orphaned resources that are gone: their products as they are now.
        for (i, intent) in intents.iter().enumerate().filter(|(_, p)| p.deleted && p.orphan) {
            if !orphaned.contains_key(&i)
                && let Ok(None) = world.products.get_opt(&format!("p{i:04}")).await
            {
                orphaned.insert(i, product_of(&world.emulator.emulator.snapshot(), intent));
            }
        }
        // Distributions of keepers, and now and then the deletion of one.
        if t > ticks / 10 && rng.random_bool(0.1) {
            let d = distributions.len();
            if d < settings.distributions && intents[d].created {
                let ok = accepted(
                    world
                        .distributions
                        .create(&PostParams::default(), &distribution_manifest(&ns, d, d))
                        .await,
                    &mut counts,
                );
                if ok {
                    distributions.insert(d, false);
                    counts.distributions += 1;
                }
            } else if !distributions.is_empty() && rng.random_bool(0.1) {
                let d = rng.random_range(0..distributions.len());
                if !distributions[&d]
                    && accepted(
                        world.distributions.delete(&format!("d{d:04}"), &DeleteParams::default()).await,
                        &mut counts,
                    )
                {
                    distributions.insert(d, true);
                    counts.distribution_deletes += 1;
                }
            }
        }
        pace.await;
    }
    // Creations or distributions the schedule did not get to (refused during the restart).
    for (i, intent) in intents.iter_mut().enumerate().filter(|(_, intent)| !intent.created) {
        assert!(create_resource(&world, i, intent, &mut counts).await, "create p{i:04} after the schedule");
        intent.created = true;
        counts.creates += 1;
    }
    for d in distributions.len()..settings.distributions {
        world.distributions.create(&PostParams::default(), &distribution_manifest(&ns, d, d)).await.unwrap();
        distributions.insert(d, false);
        counts.distributions += 1;
    }
    let schedule_took = started.elapsed();

    // No product with activated devices was revoked, re-modelled or deleted without a
    // person's approval (none was given yet); then a person approves each for its current
    // generation, and the operator must converge.
    let snapshot = world.emulator.emulator.snapshot();
    check_fleets(&snapshot, &intents);
    for (i, intent) in intents.iter().enumerate() {
        let Some(fleet) = &intent.fleet else { continue };
        let product = fleet_product(&snapshot, fleet, i);
        let held = (fleet.released && !intent.published)
            || (intent.deleted && !intent.orphan)
            || intent.model.is_some_and(|v| !product.tsl_draft.to_string().contains(&format!("Level{v}")));
        if held {
            counts.fleets_held += 1;
        }
        let name = format!("p{i:04}");
        if let Ok(Some(resource)) = world.products.get_opt(&name).await {
            let generation = resource.metadata.generation.unwrap_or_default().to_string();
            let approve =
                json!({"metadata": {"annotations": {"iot.productoperator.dev/approve-impact": generation}}});
            world.products.patch(&name, &PatchParams::default(), &Patch::Merge(&approve)).await.unwrap();
        }
    }
    assert!(counts.fleets > 0 && counts.fleets_held > 0, "the campaign held back nothing: {counts:?}");

    // The platform heals; the operator must converge.
    world.emulator.emulator.set_faults(Faults::default());
    let stats = world.emulator.emulator.stats();
    let converge_start = Instant::now();
    let live: Vec<usize> = (0..settings.products).filter(|&i| !intents[i].deleted).collect();
    let orphaned = std::sync::Mutex::new(orphaned);
    eventually("the campaign's resources to converge", settings.converge, || async {
        let products = world.products.list(&Default::default()).await.map_err(|e| e.to_string())?;
        let by_name: BTreeMap<String, &IotProduct> =
            products.items.iter().map(|p| (p.name_any(), p)).collect();
        // Changes made out of band are put back at the next resync: until then a resource
        // may be Ready with its platform product still differing.
        let snapshot = world.emulator.emulator.snapshot();
        let group_id = campaign_group_id(&world).await;
        let mut waiting = Vec::new();
        for (i, intent) in intents.iter().enumerate() {
            let name = format!("p{i:04}");
            match (by_name.get(&name), intent.deleted) {
                (Some(_), true) => waiting.push(format!("{name} not yet deleted")),
                (None, false) => waiting.push(format!("{name} missing")),
                (Some(p), false) => {
                    let status = p.status.clone().unwrap_or_default();
                    let ready = status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
                    let current = status.observed_generation == p.metadata.generation;
                    let platform = product_of(&snapshot, intent);
                    let matches = platform.as_ref().is_some_and(|p| {
                        p.product_name == intent.name
                            && p.description.as_deref() == Some(intent.description.as_str())
                            && p.released == intent.published
                            && p.tags.get("campaign") == Some(&intent.tag)
                            && parts_differ(p, intent, group_id.as_deref()).is_none()
                    });
                    if !matches && ready && current {
                        waiting.push(format!("{name}: the platform differs from the spec: {platform:?}"));
                    }
                    if !(ready && current && status.published == Some(intent.published)) {
                        waiting.push(format!(
                            "{name}: {:?} generation {:?} observed {:?}, published: spec {} status {:?} intent {}",
                            status.reason,
                            p.metadata.generation,
                            status.observed_generation,
                            p.spec.published,
                            status.published,
                            intent.published
                        ));
                    }
                }
                (None, true) if intent.orphan => {
                    orphaned
                        .lock()
                        .unwrap()
                        .entry(i)
                        .or_insert_with(|| product_of(&world.emulator.emulator.snapshot(), intent));
                }
                (None, true) => {}
            }
        }
        let pds = world.distributions.list(&Default::default()).await.map_err(|e| e.to_string())?;
        for (d, deleted) in &distributions {
            let name = format!("d{d:04}");
            match (pds.items.iter().find(|p| p.name_any() == name), deleted) {
                (Some(_), true) => waiting.push(format!("{name} not yet deleted")),
                (None, false) => waiting.push(format!("{name} missing")),
                (Some(pd), false) => {
                    let state = pd.status.as_ref().and_then(|s| s.state.clone());
                    let record_deleted = pd.status.as_ref().and_then(|s| s.job_record_deleted) == Some(true);
                    if state.as_deref() != Some("Completed") {
                        waiting.push(format!("{name}: {state:?}"));
                    } else if !keeps_job_record(*d) && !record_deleted {
                        waiting.push(format!("{name}: job record not yet deleted"));
                    }
                }
                (None, true) => {}
            }
        }
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} waiting, e.g. {:?}; operator: {}",
                waiting.len(),
                &waiting[..waiting.len().min(5)],
                common::tail(&world.logs())
            ))
        }
    })
    .await;
    let converged = converge_start.elapsed();

    let orphaned = orphaned.into_inner().unwrap();
    let checked = check_invariants(&world, &intents, &distributions, &live, &orphaned).await;
    let calls: u64 = stats.calls.values().flat_map(|c| c.values()).sum();
    eprintln!(
        "fault campaign (seed {}): {} products ({} live, {} deleted), {} distributions ({} deleted); \
         {} description changes, {} renames, {} publication toggles, {} tag changes, {} thing-model changes, \
         {} topic changes ({} products with topics, {} subscribed); out of band: {:?}; {} products with activated devices ({} held back until approved); \
         schedule {:.0} s; faults: {} injected server errors, \
         {} lost responses, {} answered errors after the change was made, \
         {} throttled calls ({} storms, {} fault profiles), {} made-up codes disguised \
         in {} platform calls; \
         {} operator kills, {} API server restart, {} writes refused during it; converged {:.1} s after \
         the schedule; invariants checked: {}",
        settings.seed,
        counts.creates,
        live.len(),
        counts.deletes,
        counts.distributions,
        counts.distribution_deletes,
        counts.changes,
        counts.renames,
        counts.toggles,
        counts.tag_changes,
        counts.model_changes,
        counts.topic_changes,
        intents.iter().filter(|i| i.topics.is_some()).count(),
        intents.iter().filter(|i| i.subscribed).count(),
        counts.out_of_band,
        counts.fleets,
        counts.fleets_held,
        schedule_took.as_secs_f64(),
        stats.injected_errors,
        stats.lost_responses,
        stats.failed_after_commit,
        stats.throttled,
        counts.storms,
        counts.fault_profiles,
        world.emulator.emulator.stats().disguised,
        calls,
        counts.operator_kills,
        counts.apiserver_restarts,
        counts.refused_during_restart,
        converged.as_secs_f64(),
        checked,
    );
    assert!(
        stats.injected_errors > 0
            && stats.lost_responses > 0
            && stats.failed_after_commit > 0
            && stats.throttled > 0,
        "faults were injected: {stats:?}"
    );
    assert!(counts.renames > 0 && counts.out_of_band.get("delete").is_some_and(|n| *n > 0), "{counts:?}");
}

/// The invariants, checked against the emulator's state; returns how many checks passed.
///
/// 1. Every live resource's key names a product on the platform whose name, description,
///    publication, tag and thing model (draft and published) match the spec — whatever was
///    changed on the platform out of band — and its Secret holds that key and the product's
///    secret.
/// 2. No duplicates: at most one platform product carries each resource's owner tag, every
///    platform product is claimed by a live resource or an orphaned one, names are unique.
/// 3. Deleted resources with `Delete` are gone from the platform (by name and by tag); those
///    with `Orphan` left their product on the platform, untouched since the deletion.
/// 4. Exactly one distribution job per live `ProductDistribution`, the one its status names,
///    no job for a product more than once (the platform's history of jobs, deleted records
///    included), and no job record left but those of live `Keep` distributions.
/// 5. No finalizer is stuck: every deleted resource is gone from the API (checked while
///    converging) and no live one is marked for deletion.
/// 6. One successful CreateProduct per resource (the platform's history of creates, by the
///    names the resource had), plus one per out-of-band deletion of its product: no lost
///    answer, error after the change or crash made a second product.
async fn check_invariants(
    world: &World,
    intents: &[Intent],
    distributions: &BTreeMap<usize, bool>,
    live: &[usize],
    orphaned: &BTreeMap<usize, Option<Product>>,
) -> usize {
    let mut checked = 0;
    let snapshot: Snapshot = world.emulator.emulator.snapshot();
    let source: Vec<_> = snapshot.products.iter().filter(|p| p.instance_id != TARGET).collect();
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
    let mut claimed = BTreeSet::new();

    // 1 and 5.
    for &i in live {
        let name = format!("p{i:04}");
        let product = world.products.get(&name).await.unwrap();
        assert!(product.metadata.deletion_timestamp.is_none(), "{name} is being deleted");
        let uid = product.uid().unwrap();
        let status = product.status.clone().unwrap();
        let key = status.product_key.clone().unwrap_or_else(|| panic!("{name} has no key"));
        let on_platform = source
            .iter()
            .find(|p| p.product_key == key)
            .unwrap_or_else(|| panic!("{name}: {key} not on the platform"));
        let intent = &intents[i];
        assert_eq!(on_platform.product_name, intent.name, "{name} name");
        assert_eq!(
            on_platform.description.as_deref(),
            Some(intent.description.as_str()),
            "{name} description"
        );
        assert_eq!(on_platform.released, intent.published, "{name} publication");
        assert_eq!(on_platform.tags.get(OWNER_TAG), Some(&uid), "{name} owner tag");
        assert_eq!(on_platform.tags.get("campaign"), Some(&intent.tag), "{name} tag");
        let group_id = campaign_group_id(world).await;
        if let Some(differs) = parts_differ(on_platform, intent, group_id.as_deref()) {
            panic!("{name}: {differs}");
        }
        checked += usize::from(intent.topics.is_some()) + usize::from(intent.subscribed);
        if let Some(version) = intent.model {
            let level = format!("\"Level{version}\"");
            assert!(
                on_platform.tsl_draft.to_string().contains(&level),
                "{name}: the draft is not model {version}"
            );
            assert_eq!(
                on_platform.versions.first().map(|v| &v.tsl),
                Some(&on_platform.tsl_draft),
                "{name}: model {version} is not published"
            );
            checked += 2;
        }
        let secret_name = status.secret_name.clone().unwrap_or_else(|| name.clone());
        let secret = secrets.get(&secret_name).await.unwrap();
        let data = secret.data.unwrap_or_default();
        let text = |k: &str| data.get(k).map(|v| String::from_utf8_lossy(&v.0).into_owned());
        assert_eq!(text("ProductKey").as_deref(), Some(key.as_str()), "{name} Secret key");
        assert_eq!(
            text("ProductSecret").as_deref(),
            Some(on_platform.product_secret.expose()),
            "{name} Secret secret"
        );
        assert!(
            secret.metadata.owner_references.unwrap_or_default().iter().any(|o| o.uid == uid),
            "{name} Secret owner"
        );
        claimed.insert(key);
        checked += 9;
    }

    // 3: deleted resources.
    for (i, intent) in intents.iter().enumerate().filter(|(_, p)| p.deleted) {
        let owned = product_of(&snapshot, intent);
        let named: Vec<_> = source.iter().filter(|p| intent.names.contains(&p.product_name)).collect();
        if intent.orphan {
            // An orphaned product may not exist if the resource was deleted before the
            // product was created; if it exists, it is the only one and nothing touched it
            // since the resource was gone.
            assert!(named.len() <= 1, "p{i:04}: {} products named {:?}", named.len(), intent.names);
            let first_seen = orphaned.get(&i).unwrap_or_else(|| panic!("p{i:04} never seen gone"));
            assert_eq!(&owned, first_seen, "p{i:04} (Orphan): its product was touched after the release");
            for p in named {
                claimed.insert(p.product_key.clone());
            }
        } else {
            assert!(
                named.is_empty() && owned.is_none(),
                "p{i:04} (Delete) still on the platform: {:?}",
                named.iter().map(|p| &p.product_key).collect::<Vec<_>>()
            );
        }
        checked += 1;
    }

    // 6: one create per resource (and per out-of-band deletion).
    for (i, intent) in intents.iter().enumerate() {
        let creates = snapshot.product_history.iter().filter(|(_, name)| intent.names.contains(name)).count();
        assert!(
            creates <= 1 + intent.deleted_out_of_band,
            "p{i:04}: {creates} successful CreateProduct for one resource ({} out-of-band deletions)",
            intent.deleted_out_of_band
        );
        if !intent.deleted {
            assert!(creates >= 1, "p{i:04}: never created");
        }
        checked += 1;
    }

    // 2: no duplicates, no strays.
    let mut names = BTreeMap::<&str, usize>::new();
    let mut owners = BTreeMap::<&str, usize>::new();
    for p in &source {
        *names.entry(&p.product_name).or_default() += 1;
        if let Some(owner) = p.tags.get(OWNER_TAG) {
            *owners.entry(owner).or_default() += 1;
        }
        assert!(
            claimed.contains(&p.product_key),
            "stray product {} ({}) on the platform",
            p.product_key,
            p.product_name
        );
        checked += 1;
    }
    assert!(names.values().all(|&n| n == 1), "duplicate names: {names:?}");
    assert!(owners.values().all(|&n| n == 1), "duplicate owners: {owners:?}");
    checked += 2;

    // 4: distribution jobs: never two for a product (each distribution has its own product),
    // one per live distribution (lost answers included; a distribution deleted early may have
    // made none), and none left on the platform but those of live `Keep` distributions.
    let made = world
        .emulator
        .emulator
        .stats()
        .calls
        .get("CreateProductDistributeJob")
        .and_then(|c| c.get("Success").copied())
        .unwrap_or(0);
    let history = &snapshot.job_history;
    assert_eq!(made as usize, history.len(), "every job made is in the platform's history");
    let mut jobs_per_product = BTreeMap::<&str, usize>::new();
    for (_, product_key) in history {
        *jobs_per_product.entry(product_key).or_default() += 1;
    }
    assert!(jobs_per_product.values().all(|&n| n == 1), "a product distributed twice: {jobs_per_product:?}");
    let live_distributions = distributions.values().filter(|deleted| !**deleted).count();
    assert!(
        (live_distributions..=distributions.len()).contains(&history.len()),
        "{} jobs made for {live_distributions} live and {} deleted distributions",
        history.len(),
        distributions.len() - live_distributions
    );
    let mut kept_jobs = BTreeSet::new();
    checked += 3;
    for d in distributions.iter().filter(|(_, deleted)| !**deleted).map(|(d, _)| *d) {
        let pd = world.distributions.get(&format!("d{d:04}")).await.unwrap();
        let status = pd.status.unwrap();
        let job_id = status.job_id.clone().unwrap_or_else(|| panic!("d{d:04} has no job id"));
        assert!(history.iter().any(|(id, _)| *id == job_id), "d{d:04}: job {job_id} was never made");
        let job = snapshot.jobs.iter().find(|j| j.job_id == job_id);
        if !keeps_job_record(d) {
            assert!(
                job.is_none() && status.job_record_deleted == Some(true),
                "d{d:04}: the finished job's record was not deleted"
            );
        } else {
            let job = job.unwrap_or_else(|| panic!("d{d:04}: job {job_id} not on the platform"));
            let key =
                world.products.get(&format!("p{d:04}")).await.unwrap().status.unwrap().product_key.unwrap();
            assert_eq!(job.product_key, key, "d{d:04} distributed the wrong product");
            assert_eq!(job.target_instance_id, TARGET);
            kept_jobs.insert(job_id.clone());
        }
        let copied = snapshot
            .products
            .iter()
            .any(|p| p.instance_id == TARGET && Some(&p.product_key) == status.product_key.as_ref());
        assert!(copied, "d{d:04}: the product is not in the target instance");
        checked += 4;
    }
    let left: Vec<_> = snapshot.jobs.iter().filter(|j| !kept_jobs.contains(&j.job_id)).collect();
    assert!(left.is_empty(), "job records left behind by deleted or finished distributions: {left:?}");
    checked += 1;
    checked
}
