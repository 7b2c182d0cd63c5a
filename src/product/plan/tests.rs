//! The planner's decision table.

use super::*;
use crate::product::fixtures::{desired, exists};
use iot_platform::tsl::ThingModel;

const TSL: &str =
    r#"{"properties":[{"identifier":"Power","name":"Power","accessMode":"rw","dataType":{"type":"bool"}}]}"#;

fn tsl_digest() -> String {
    ThingModel::parse(TSL).unwrap().digest()
}

fn observed(p: ObservedProduct) -> Observed {
    Observed::Exists(Box::new(p))
}

fn recorded() -> Recorded {
    Recorded { product_key: Some("a1Key".into()), ..Recorded::default() }
}

fn apply(d: &DesiredProduct, o: &Observed, r: &Recorded) -> Plan {
    plan(d, o, r, Mode::Apply)
}

fn tag(k: &str, v: &str) -> Tag {
    Tag { tag_key: k.into(), tag_value: v.into() }
}

#[test]
fn nothing_yet_creates_tags_imports_publishes_the_model_and_releases() {
    let d = desired(serde_json::json!({"published": true, "tags": {"a": "1"}, "thingModel": {"tsl": TSL}}));
    let p = apply(&d, &Observed::Nothing, &Recorded::default());
    assert_eq!(
        p.actions,
        vec![
            Action::Create,
            Action::CreateTags(vec![tag("a", "1")]),
            Action::ImportThingModel,
            Action::PublishThingModel,
            Action::Release,
        ]
    );
    assert_eq!((p.blocked, p.recreate), (None, false));
}

#[test]
fn a_plain_product_is_just_created() {
    assert_eq!(
        apply(&desired(serde_json::json!({})), &Observed::Nothing, &Recorded::default()).actions,
        vec![Action::Create]
    );
}

#[test]
fn an_in_sync_product_needs_nothing() {
    let mut o = exists(true);
    o.tags.insert("a".into(), "1".into());
    o.thing_model_digest = Some(tsl_digest());
    let r = Recorded {
        published_thing_model: Some(tsl_digest()),
        managed_tag_keys: ["a".to_string()].into(),
        ..recorded()
    };
    let d = desired(serde_json::json!({"published": true, "tags": {"a": "1"}, "thingModel": {"tsl": TSL}}));
    assert_eq!(apply(&d, &observed(o), &r), Plan::default());
}

#[test]
fn name_and_description_changes_are_updated_on_a_developing_product() {
    let d = desired(serde_json::json!({"productName": "Lamp2", "description": "new"}));
    let p = apply(&d, &observed(exists(false)), &recorded());
    assert_eq!(p.actions, vec![Action::Update { name: "Lamp2".into(), description: Some("new".into()) }]);
}

#[test]
fn an_unset_description_leaves_the_platforms_alone() {
    let mut o = exists(false);
    o.details.description = Some("set by someone".into());
    assert_eq!(apply(&desired(serde_json::json!({})), &observed(o), &recorded()).actions, vec![]);
}

#[test]
fn tags_are_created_updated_and_removed_only_when_the_operator_set_them() {
    let mut o = exists(false);
    o.tags = [("keep", "x"), ("change", "old"), ("gone", "1"), ("foreign", "f")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let r = Recorded {
        managed_tag_keys: ["keep", "change", "gone"].into_iter().map(String::from).collect(),
        ..recorded()
    };
    let d = desired(serde_json::json!({"tags": {"keep": "x", "change": "new", "add": "y"}}));
    assert_eq!(
        apply(&d, &observed(o), &r).actions,
        vec![
            Action::DeleteTags(vec!["gone".into()]),
            Action::CreateTags(vec![tag("add", "y")]),
            Action::UpdateTags(vec![tag("change", "new")]),
        ]
    );
}

#[test]
fn more_than_ten_new_tags_are_split_into_calls_of_ten() {
    let tags: serde_json::Map<String, serde_json::Value> =
        (0..23).map(|i| (format!("k{i:02}"), serde_json::json!("v"))).collect();
    let p = apply(&desired(serde_json::json!({"tags": tags})), &observed(exists(false)), &recorded());
    let sizes: Vec<usize> = p
        .actions
        .iter()
        .map(|a| match a {
            Action::CreateTags(t) => t.len(),
            _ => 0,
        })
        .collect();
    assert_eq!(sizes, vec![10, 10, 3]);
}

#[test]
fn a_changed_thing_model_is_imported_and_published() {
    let mut o = exists(false);
    o.thing_model_digest = Some("old".into());
    let p = apply(&desired(serde_json::json!({"thingModel": {"tsl": TSL}})), &observed(o), &recorded());
    assert_eq!(p.actions, vec![Action::ImportThingModel, Action::PublishThingModel]);
}

#[test]
fn an_imported_but_unpublished_thing_model_is_published() {
    let mut o = exists(false);
    o.thing_model_digest = Some(tsl_digest());
    let p = apply(&desired(serde_json::json!({"thingModel": {"tsl": TSL}})), &observed(o), &recorded());
    assert_eq!(p.actions, vec![Action::PublishThingModel]);
}

#[test]
fn a_thing_model_the_platform_shows_published_is_not_published_again() {
    // Status does not record the publish (a cached copy older than it, or a lost answer), but
    // the platform's latest published version is the desired model.
    let mut o = exists(false);
    o.thing_model_digest = Some(tsl_digest());
    o.published_thing_model_digest = Some(tsl_digest());
    let p = apply(&desired(serde_json::json!({"thingModel": {"tsl": TSL}})), &observed(o), &recorded());
    assert_eq!(p.actions, Vec::<Action>::new());
}

#[test]
fn an_older_published_thing_model_is_published_again() {
    let mut o = exists(false);
    o.thing_model_digest = Some(tsl_digest());
    o.published_thing_model_digest = Some("old".into());
    let p = apply(&desired(serde_json::json!({"thingModel": {"tsl": TSL}})), &observed(o), &recorded());
    assert_eq!(p.actions, vec![Action::PublishThingModel]);
}

#[test]
fn a_developing_product_is_published_when_the_spec_says_so() {
    let p = apply(&desired(serde_json::json!({"published": true})), &observed(exists(false)), &recorded());
    assert_eq!(p.actions, vec![Action::Release]);
}

#[test]
fn a_published_product_is_revoked_when_the_spec_says_so_and_then_changed() {
    let d = desired(serde_json::json!({"published": false, "productName": "Lamp2"}));
    let p = apply(&d, &observed(exists(true)), &recorded());
    assert_eq!(
        p.actions,
        vec![Action::CancelRelease, Action::Update { name: "Lamp2".into(), description: None }]
    );
    assert_eq!(p.blocked, None);
}

#[test]
fn change_to_published_product_is_blocked_without_revoke_policy() {
    let mut o = exists(true);
    o.thing_model_digest = Some("old".into());
    let d = desired(
        serde_json::json!({"published": true, "productName": "Lamp2", "thingModel": {"tsl": TSL}, "tags": {"t": "1"}}),
    );
    let p = apply(&d, &observed(o), &recorded());
    assert_eq!(p.actions, vec![Action::CreateTags(vec![tag("t", "1")])], "tags are not locked");
    assert_eq!(
        p.blocked,
        Some(Blocked::PublishedLocked {
            fields: vec!["spec.productName", "spec.thingModel"],
            thing_model_changes: Vec::new()
        })
    );
    let message = p.blocked.unwrap().message();
    assert!(message.contains("spec.published: false") && message.contains("RevokeAndRepublish"), "{message}");
}

#[test]
fn change_to_published_product_revokes_applies_and_republishes_with_the_policy() {
    let mut o = exists(true);
    o.thing_model_digest = Some("old".into());
    let d =
        desired(serde_json::json!({"published": true, "productName": "Lamp2", "thingModel": {"tsl": TSL},
        "publishedChangePolicy": "RevokeAndRepublish"}));
    let p = apply(&d, &observed(o), &recorded());
    assert_eq!(
        p.actions,
        vec![
            Action::CancelRelease,
            Action::Update { name: "Lamp2".into(), description: None },
            Action::ImportThingModel,
            Action::PublishThingModel,
            Action::Release,
        ]
    );
    assert_eq!(p.blocked, None);
}

#[test]
fn a_pending_thing_model_publish_on_a_published_product_is_also_held_back() {
    let mut o = exists(true);
    o.thing_model_digest = Some(tsl_digest());
    let p = apply(
        &desired(serde_json::json!({"published": true, "thingModel": {"tsl": TSL}})),
        &observed(o),
        &recorded(),
    );
    assert_eq!(
        p.blocked,
        Some(Blocked::PublishedLocked { fields: vec!["spec.thingModel"], thing_model_changes: Vec::new() })
    );
    assert!(p.actions.is_empty());
}

#[test]
fn a_distributed_products_thing_model_is_never_changed() {
    let mut o = exists(false);
    o.thing_model_digest = Some("old".into());
    let r = Recorded { distributed_to: vec!["iot-prod".into()], ..recorded() };
    let p = apply(
        &desired(serde_json::json!({"thingModel": {"tsl": TSL}, "productName": "Lamp2"})),
        &observed(o),
        &r,
    );
    assert_eq!(p.actions, vec![Action::Update { name: "Lamp2".into(), description: None }]);
    assert!(matches!(p.blocked, Some(Blocked::ThingModelLockedByDistribution { .. })));
}

#[test]
fn a_distributed_product_with_an_unchanged_model_is_not_blocked() {
    let mut o = exists(false);
    o.thing_model_digest = Some(tsl_digest());
    let r = Recorded {
        distributed_to: vec!["iot-prod".into()],
        published_thing_model: Some(tsl_digest()),
        ..recorded()
    };
    assert_eq!(
        apply(&desired(serde_json::json!({"thingModel": {"tsl": TSL}})), &observed(o), &r),
        Plan::default()
    );
}

#[test]
fn fixed_attributes_that_differ_block_everything() {
    let mut o = exists(false);
    o.details.node_type = 1;
    let p = apply(&desired(serde_json::json!({"productName": "Other"})), &observed(o), &recorded());
    assert!(p.actions.is_empty());
    assert!(matches!(p.blocked, Some(Blocked::AttributesMismatch(ref m)) if m[0].field == "spec.nodeType"));
}

#[test]
fn a_product_deleted_out_of_band_is_recreated_by_default() {
    let p = apply(&desired(serde_json::json!({"published": true})), &Observed::Missing, &recorded());
    assert_eq!(p.actions, vec![Action::Create, Action::Release]);
    assert!(p.recreate);
}

#[test]
fn a_product_deleted_out_of_band_is_only_reported_with_the_report_policy() {
    let p =
        apply(&desired(serde_json::json!({"outOfBandDeletion": "Report"})), &Observed::Missing, &recorded());
    assert!(p.actions.is_empty());
    assert_eq!(p.blocked, Some(Blocked::ProductMissing { product_key: "a1Key".into() }));
}

#[test]
fn an_adoption_target_that_does_not_exist_is_reported_not_created() {
    let p = apply(
        &desired(serde_json::json!({"productKey": "a1Nope"})),
        &Observed::Missing,
        &Recorded::default(),
    );
    assert!(p.actions.is_empty());
    assert_eq!(p.blocked, Some(Blocked::AdoptTargetMissing { product_key: "a1Nope".into() }));
}

#[test]
fn deletion_deletes_an_unpublished_product() {
    let p = plan(&desired(serde_json::json!({})), &observed(exists(false)), &recorded(), Mode::Delete);
    assert_eq!(p.actions, vec![Action::Delete]);
}

#[test]
fn deletion_of_a_published_product_waits_without_the_revoke_policy() {
    let p = plan(&desired(serde_json::json!({})), &observed(exists(true)), &recorded(), Mode::Delete);
    assert_eq!((p.actions, p.blocked), (vec![], Some(Blocked::DeleteWhilePublished)));
}

#[test]
fn deletion_of_a_published_product_revokes_first_with_the_policy() {
    let d = desired(serde_json::json!({"publishedChangePolicy": "RevokeAndRepublish"}));
    let p = plan(&d, &observed(exists(true)), &recorded(), Mode::Delete);
    assert_eq!(p.actions, vec![Action::CancelRelease, Action::Delete]);
}

#[test]
fn orphan_deletion_never_touches_the_platform() {
    let d = desired(serde_json::json!({"deletionPolicy": "Orphan"}));
    for o in [observed(exists(true)), observed(exists(false)), Observed::Missing, Observed::Nothing] {
        assert_eq!(plan(&d, &o, &recorded(), Mode::Delete), Plan::default());
    }
}

#[test]
fn deletion_of_a_missing_product_is_done() {
    for o in [Observed::Missing, Observed::Nothing] {
        assert_eq!(plan(&desired(serde_json::json!({})), &o, &recorded(), Mode::Delete), Plan::default());
    }
}

/// Invariants over every combination of the inputs that matter.
#[test]
fn no_plan_ever_deletes_or_changes_a_published_product_without_revoking_first() {
    let mut checked = 0;
    for published_on_platform in [false, true] {
        for desired_published in [false, true] {
            for policy in ["Block", "RevokeAndRepublish"] {
                for rename in [false, true] {
                    for tsl_change in [false, true] {
                        for mode in [Mode::Apply, Mode::Delete] {
                            let mut spec = serde_json::json!({"published": desired_published, "publishedChangePolicy": policy,
                                "thingModel": {"tsl": TSL}});
                            if rename {
                                spec["productName"] = "Lamp2".into();
                            }
                            let mut o = exists(published_on_platform);
                            o.thing_model_digest = Some(if tsl_change { "old".into() } else { tsl_digest() });
                            let r = Recorded { published_thing_model: Some(tsl_digest()), ..recorded() };
                            let p = plan(&desired(spec), &observed(o), &r, mode);
                            let mut published = published_on_platform;
                            for action in &p.actions {
                                match action {
                                    Action::CancelRelease => {
                                        assert!(
                                            policy == "RevokeAndRepublish" || !desired_published,
                                            "revoked without leave: {p:?}"
                                        );
                                        published = false;
                                    }
                                    Action::Release => published = true,
                                    Action::Update { .. }
                                    | Action::ImportThingModel
                                    | Action::PublishThingModel
                                    | Action::CreateScript
                                    | Action::UpdateScript
                                    | Action::Delete => {
                                        assert!(!published, "{action:?} on a published product: {p:?}");
                                    }
                                    Action::Create
                                    | Action::CreateTags(_)
                                    | Action::UpdateTags(_)
                                    | Action::DeleteTags(_)
                                    | Action::CreateTopic(_)
                                    | Action::UpdateTopic { .. }
                                    | Action::DeleteTopic { .. }
                                    | Action::CreateSubscription
                                    | Action::UpdateSubscription
                                    | Action::DeleteSubscription => {}
                                }
                            }
                            if mode == Mode::Apply && p.blocked.is_none() {
                                assert_eq!(published, desired_published, "ends in the desired state: {p:?}");
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 64);
}

fn owned(d: DesiredProduct) -> DesiredProduct {
    d.owned_by("cluster-a", "uid-1")
}

#[test]
fn a_new_product_is_tagged_with_its_owner_at_creation() {
    let p = apply(&owned(desired(serde_json::json!({}))), &Observed::Nothing, &Recorded::default());
    assert_eq!(
        p.actions,
        vec![
            Action::Create,
            Action::CreateTags(vec![tag("iotop.cluster", "cluster-a"), tag("iotop.owner", "uid-1")])
        ]
    );
}

#[test]
fn a_product_managed_by_another_resource_is_neither_changed_nor_deleted() {
    let mut o = exists(false);
    o.tags = [("iotop.cluster", "cluster-a"), ("iotop.owner", "uid-2")]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let d = owned(desired(serde_json::json!({"productName": "Other"})));
    let p = apply(&d, &observed(o.clone()), &recorded());
    assert!(p.actions.is_empty());
    assert_eq!(p.blocked, Some(Blocked::ManagedElsewhere));
    assert_eq!(plan(&d, &observed(o), &recorded(), Mode::Delete), Plan::default());
}

#[test]
fn another_resources_product_is_not_observed_either() {
    let mut o = exists(false);
    o.tags = [("iotop.cluster", "cluster-a"), ("iotop.owner", "uid-2")]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let d = owned(desired(serde_json::json!({"managementPolicy": "ObserveOnly"})));
    assert!(d.ownership.is_empty(), "observing puts no marks");
    let p = plan(&d, &observed(o.clone()), &recorded(), Mode::Apply);
    assert_eq!((p.actions.len(), p.withheld.len(), p.blocked), (0, 0, Some(Blocked::ManagedElsewhere)));
    // An unmarked product (made outside Kubernetes) can be observed.
    o.tags.clear();
    assert_eq!(plan(&d, &observed(o), &recorded(), Mode::Apply).blocked, None);
}

#[test]
fn a_product_of_another_cluster_is_not_taken_over() {
    let mut o = exists(false);
    o.tags = [("iotop.cluster", "cluster-b"), ("iotop.owner", "uid-1")]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let p = apply(&owned(desired(serde_json::json!({}))), &observed(o), &recorded());
    assert_eq!(p.blocked, Some(Blocked::ManagedElsewhere));
}

#[test]
fn observe_only_never_writes_and_reports_differences() {
    let d = desired(
        serde_json::json!({"managementPolicy": "ObserveOnly", "productName": "Renamed", "published": true}),
    );
    let p = apply(&d, &observed(exists(false)), &recorded());
    assert!(p.actions.is_empty());
    assert_eq!(
        p.withheld,
        vec![Action::Update { name: "Renamed".into(), description: None }, Action::Release]
    );
    let missing = apply(&d, &Observed::Nothing, &Recorded::default());
    assert_eq!((missing.actions, missing.blocked), (vec![], Some(Blocked::NothingToObserve)));
    assert_eq!(plan(&d, &observed(exists(false)), &recorded(), Mode::Delete), Plan::default());
}

#[test]
fn no_update_creates_but_never_changes_an_existing_product() {
    let d = desired(serde_json::json!({"managementPolicy": "NoUpdate", "productName": "Renamed"}));
    assert_eq!(apply(&d, &Observed::Nothing, &Recorded::default()).actions, vec![Action::Create]);
    let p = apply(&d, &observed(exists(false)), &recorded());
    assert!(p.actions.is_empty());
    assert_eq!(p.withheld.len(), 1);
    assert_eq!(plan(&d, &observed(exists(false)), &recorded(), Mode::Delete).actions, vec![Action::Delete]);
}

#[test]
fn no_delete_does_everything_but_delete() {
    let d = desired(serde_json::json!({"managementPolicy": "NoDelete", "productName": "Renamed"}));
    assert_eq!(apply(&d, &observed(exists(false)), &recorded()).actions.len(), 1);
    assert_eq!(plan(&d, &observed(exists(false)), &recorded(), Mode::Delete), Plan::default());
}

#[test]
fn a_thing_model_change_held_back_by_the_lock_is_told_in_words() {
    let mut o = exists(true);
    o.thing_model_draft = Some(
        ThingModel::parse(r#"{"properties":[{"identifier":"Old","name":"Old","accessMode":"rw","dataType":{"type":"date"}}]}"#)
            .unwrap(),
    );
    o.thing_model_digest = o.thing_model_draft.as_ref().map(ThingModel::digest);
    let p = apply(
        &desired(serde_json::json!({"published": true, "thingModel": {"tsl": TSL}})),
        &observed(o),
        &recorded(),
    );
    let blocked = p.blocked.expect("held back by the lock");
    let message = blocked.message();
    assert!(message.contains("spec.thingModel (thing model: "), "{message}");
    assert!(message.contains("removed property Old"), "{message}");
}

fn with_devices(mut p: ObservedProduct, total: i64, activated: i64, online: i64) -> ObservedProduct {
    p.devices = crate::crd::product::DeviceCounts { total, activated, online, observed_at: None };
    p
}

fn approved(mut d: DesiredProduct, generation: i64) -> DesiredProduct {
    d.impact.approved_generation = Some(generation);
    d
}

#[test]
fn revoke_apply_republish_of_a_product_with_activated_devices_waits_for_approval() {
    let mut o = with_devices(exists(true), 100_000, 1234, 56);
    o.thing_model_digest = Some("old".into());
    let d = desired(serde_json::json!({"published": true, "thingModel": {"tsl": TSL},
        "publishedChangePolicy": "RevokeAndRepublish", "tags": {"team": "a"}}));
    let p = apply(&d, &observed(o.clone()), &recorded());
    // Tags do not reach devices and run; the revoke and all after it wait.
    assert_eq!(p.actions, vec![Action::CreateTags(vec![tag("team", "a")])]);
    let Some(Blocked::ImpactNeedsApproval(impact)) = &p.blocked else { panic!("{:?}", p.blocked) };
    assert_eq!(impact.operation, "CancelReleaseProduct");
    assert_eq!(p.blocked.as_ref().unwrap().reason(), Reason::ImpactNeedsApproval);
    assert!(p.blocked.as_ref().unwrap().message().contains("1 234 activated devices (56 online)"));
    // Approved for this generation (0 in these tests): everything runs.
    let p = apply(&approved(d.clone(), 0), &observed(o.clone()), &recorded());
    assert_eq!(p.blocked, None);
    assert!(p.actions.contains(&Action::CancelRelease) && p.actions.contains(&Action::Release));
    // A stale approval approves nothing.
    let p = apply(&approved(d, -1), &observed(o), &recorded());
    assert!(matches!(p.blocked, Some(Blocked::ImpactNeedsApproval(_))));
}

#[test]
fn a_thing_model_change_of_a_draft_product_with_activated_devices_waits_for_approval() {
    let mut o = with_devices(exists(false), 3, 2, 0);
    o.thing_model_digest = Some("old".into());
    let d = desired(serde_json::json!({"thingModel": {"tsl": TSL}}));
    let p = apply(&d, &observed(o.clone()), &recorded());
    assert_eq!(p.actions, vec![]);
    assert!(matches!(p.blocked, Some(Blocked::ImpactNeedsApproval(_))));
    // Devices registered but never activated: not reached.
    let p = apply(&d, &observed(with_devices(o, 3, 0, 0)), &recorded());
    assert_eq!(p.actions, vec![Action::ImportThingModel, Action::PublishThingModel]);
}

#[test]
fn deleting_a_product_with_devices_waits_for_approval_and_orphan_stays_the_way_out() {
    let o = observed(with_devices(exists(false), 4, 0, 0));
    let p = plan(&desired(serde_json::json!({})), &o, &recorded(), Mode::Delete);
    assert_eq!(p.actions, vec![]);
    assert_eq!(p.blocked.as_ref().map(Blocked::reason), Some(Reason::DeleteNeedsApproval));
    let orphan = desired(serde_json::json!({"deletionPolicy": "Orphan"}));
    assert_eq!(plan(&orphan, &o, &recorded(), Mode::Delete), Plan::default());
    let p = plan(&approved(desired(serde_json::json!({})), 0), &o, &recorded(), Mode::Delete);
    assert_eq!(p.actions, vec![Action::Delete]);
}

#[test]
fn a_product_without_devices_is_not_held_back() {
    let mut o = exists(true);
    o.thing_model_digest = Some("old".into());
    let d = desired(serde_json::json!({"published": true, "thingModel": {"tsl": TSL},
        "publishedChangePolicy": "RevokeAndRepublish"}));
    let p = apply(&d, &observed(o), &recorded());
    assert_eq!(p.blocked, None);
    assert_eq!(p.actions.first(), Some(&Action::CancelRelease));
}

const SCRIPT: &str = "function rawDataToProtocol(bytes) { return {}; }";

fn custom(spec: serde_json::Value) -> DesiredProduct {
    let mut base = serde_json::json!({"dataFormat": "Custom"});
    base.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
    desired(base)
}

fn with_parts(
    mut p: ObservedProduct,
    topics: Vec<crate::product::parts::ObservedTopic>,
    script: crate::product::parts::ObservedScript,
) -> ObservedProduct {
    p.details.data_format = Some(0);
    p.topics = Some(topics);
    p.script = Some(script);
    p
}

fn topic(id: &str, name: &str, operation: &str) -> crate::product::parts::ObservedTopic {
    crate::product::parts::ObservedTopic {
        id: id.into(),
        name: name.into(),
        operation: operation.into(),
        description: String::new(),
        proxy_subscribe: false,
        codec: None,
    }
}

fn operations(plan: &Plan) -> Vec<&'static str> {
    plan.actions.iter().map(Action::operation).collect()
}

#[test]
fn a_new_product_gets_its_script_before_publication_and_its_topics_last() {
    let d = custom(serde_json::json!({
        "published": true,
        "dataParsing": {"language": "JavaScript", "script": SCRIPT},
        "topics": [{"name": "telemetry", "operation": "PUB"}, {"name": "commands", "operation": "SUB"}],
    }));
    let p = apply(&d, &Observed::Nothing, &Recorded::default());
    assert_eq!(
        operations(&p),
        ["CreateProduct", "CreateThingScript", "ReleaseProduct", "CreateProductTopic", "CreateProductTopic"]
    );
}

#[test]
fn parts_that_were_not_read_are_not_planned() {
    let d = custom(serde_json::json!({
        "dataParsing": {"language": "JavaScript", "script": SCRIPT},
        "topics": [{"name": "telemetry", "operation": "PUB"}],
    }));
    let mut product = exists(false);
    product.details.data_format = Some(0);
    assert_eq!(apply(&d, &observed(product), &recorded()), Plan::default());
}

#[test]
fn a_published_products_topics_and_script_change_without_revoking() {
    use crate::product::parts::{ObservedScript, script_digest};
    let d = custom(serde_json::json!({
        "published": true,
        "dataParsing": {"language": "JavaScript", "script": SCRIPT},
        "topics": [{"name": "telemetry", "operation": "ALL"}],
    }));
    let old_script =
        ObservedScript::Present { language: "JavaScript".into(), digest: script_digest("JavaScript", "old") };
    let product = with_parts(exists(true), vec![topic("7", "telemetry", "PUB")], old_script);
    let p = apply(&d, &observed(product), &recorded());
    assert_eq!(operations(&p), ["UpdateThingScript", "UpdateProductTopic"]);
    assert!(p.blocked.is_none(), "the documentation locks neither: {:?}", p.blocked);
    const { assert!(!PUBLICATION_LOCKS_SCRIPT && !PUBLICATION_LOCKS_TOPICS) };
}

#[test]
fn a_distributed_products_script_is_never_changed() {
    use crate::product::parts::ObservedScript;
    let d = custom(serde_json::json!({"dataParsing": {"language": "JavaScript", "script": SCRIPT}}));
    let product = with_parts(exists(false), vec![], ObservedScript::None);
    let r = Recorded { distributed_to: vec!["iot-prod".into()], ..recorded() };
    let p = apply(&d, &observed(product), &r);
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    assert!(matches!(p.blocked, Some(Blocked::ThingModelLockedByDistribution { .. })));
}

#[test]
fn changing_what_activated_devices_use_needs_approval() {
    let d = custom(serde_json::json!({"topics": [{"name": "telemetry", "operation": "ALL"}]}));
    let mut product = with_parts(
        exists(false),
        vec![topic("7", "telemetry", "PUB"), topic("8", "old", "PUB")],
        crate::product::parts::ObservedScript::None,
    );
    product.devices =
        crate::crd::product::DeviceCounts { total: 5, activated: 3, online: 1, observed_at: None };
    let r = Recorded { managed_topics: ["telemetry".to_string(), "old".to_string()].into(), ..recorded() };
    let p = apply(&d, &observed(product), &r);
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    match p.blocked {
        Some(Blocked::ImpactNeedsApproval(impact)) => {
            assert_eq!(impact.operation, "DeleteProductTopic");
            assert!(impact.message().contains("3 activated devices"), "{}", impact.message());
        }
        other => panic!("{other:?}"),
    }
}

fn subscribed(ids: &[&str]) -> DesiredProduct {
    let d = desired(serde_json::json!({
        "subscription": {"consumerGroups": ["billing"], "messages": ["DeviceData", "DeviceStatusChange"]},
    }));
    d.with_consumer_groups(Ok(ids.iter().map(|s| s.to_string()).collect()))
}

#[test]
fn the_subscription_is_created_updated_and_removed_with_the_spec() {
    use crate::crd::product_parts::MessageType;
    use crate::product::parts::ObservedSubscription;
    let present = |ids: &[&str], messages: &[MessageType]| ObservedSubscription::Present {
        group_ids: ids.iter().map(|s| s.to_string()).collect(),
        messages: messages.iter().copied().collect(),
    };
    let with = |s: ObservedSubscription| {
        let mut p = exists(false);
        p.subscription = Some(s);
        observed(p)
    };
    let d = subscribed(&["G1"]);
    assert_eq!(
        operations(&apply(&d, &with(ObservedSubscription::None), &recorded())),
        ["CreateSubscribeRelation"]
    );
    let same = present(&["G1"], &[MessageType::DeviceData, MessageType::DeviceStatusChange]);
    assert!(apply(&d, &with(same.clone()), &recorded()).actions.is_empty());
    let fewer = present(&["G1"], &[MessageType::DeviceData]);
    assert_eq!(operations(&apply(&d, &with(fewer), &recorded())), ["UpdateSubscribeRelation"]);
    let other_group = present(&["G2"], &[MessageType::DeviceData, MessageType::DeviceStatusChange]);
    assert_eq!(operations(&apply(&d, &with(other_group), &recorded())), ["UpdateSubscribeRelation"]);
    // Removed from the spec: deleted only if the operator made it.
    let none = desired(serde_json::json!({}));
    let managed = Recorded { subscription_managed: true, ..recorded() };
    assert_eq!(operations(&apply(&none, &with(same.clone()), &managed)), ["DeleteSubscribeRelation"]);
    assert!(apply(&none, &with(same), &recorded()).actions.is_empty(), "someone else's is left alone");
    // A new product gets it right after its creation.
    assert_eq!(
        operations(&apply(&d, &Observed::Nothing, &Recorded::default())),
        ["CreateProduct", "CreateSubscribeRelation"]
    );
}

#[test]
fn a_subscription_whose_groups_are_not_ready_waits_and_says_why() {
    let d = desired(serde_json::json!({
        "subscription": {"consumerGroups": ["billing"], "messages": ["DeviceData"]},
    }))
    .with_consumer_groups(Err((
        Reason::ConsumerGroupNotReady,
        "IotConsumerGroup billing has no group yet".into(),
    )));
    let p = apply(&d, &Observed::Nothing, &Recorded::default());
    assert_eq!(operations(&p), ["CreateProduct"], "the product does not wait for its subscription");
    assert_eq!(p.blocked.map(|b| b.reason()), Some(Reason::ConsumerGroupNotReady));
}
