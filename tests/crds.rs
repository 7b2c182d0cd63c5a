//! The CRDs against a real kube-apiserver: they install and become Established, every
//! sample manifest is accepted, and each bad manifest is refused with a message that tells
//! a person what is wrong.

mod common;

use common::{control_plane, test_namespace};
use iot_product_operator::crd::validate::{Validator, describe};
use iot_product_operator::crd::{IotProduct, PlatformAccount, ProductDistribution};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::{Client, Resource};
use serde_json::{Value, json};

fn resource<K: Resource<DynamicType = ()>>() -> ApiResource {
    ApiResource::erase::<K>(&())
}

/// Creates `manifest` (in `namespace` when the kind is namespaced) and returns the API
/// server's refusal message, or `Ok` when it was accepted.
async fn create(client: &Client, namespace: &str, manifest: Value) -> Result<(), String> {
    let kind = manifest["kind"].as_str().unwrap().to_string();
    let (api, obj): (Api<DynamicObject>, DynamicObject) = match kind.as_str() {
        "PlatformAccount" => (
            Api::all_with(client.clone(), &resource::<PlatformAccount>()),
            serde_json::from_value(manifest).unwrap(),
        ),
        "IotProduct" => (
            Api::namespaced_with(client.clone(), namespace, &resource::<IotProduct>()),
            serde_json::from_value(manifest).unwrap(),
        ),
        "ProductDistribution" => (
            Api::namespaced_with(client.clone(), namespace, &resource::<ProductDistribution>()),
            serde_json::from_value(manifest).unwrap(),
        ),
        other => panic!("unexpected kind {other}"),
    };
    api.create(&PostParams::default(), &obj).await.map(|_| ()).map_err(|e| e.to_string())
}

async fn ensure_namespace(client: &Client, name: &str) {
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => panic!("create namespace {name}: {e}"),
    }
}

fn product(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
           "metadata": {"name": name}, "spec": spec})
}

fn distribution(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
           "metadata": {"name": name}, "spec": spec})
}

fn account(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
           "metadata": {"name": name}, "spec": spec})
}

fn credentials() -> Value {
    json!({"secretRef": {"name": "creds", "namespace": "default"}})
}

#[tokio::test]
async fn crds_install_and_become_established() {
    let client = control_plane().admin_client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for name in [
        "platformaccounts.iot.productoperator.dev",
        "iotproducts.iot.productoperator.dev",
        "productdistributions.iot.productoperator.dev",
    ] {
        let crd = crds.get(name).await.expect("CRD installed");
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{name} is not Established");
    }
}

#[tokio::test]
async fn every_sample_manifest_is_accepted() {
    let plane = control_plane();
    let client = plane.admin_client().await;
    let ns = test_namespace(&client, "samples").await;
    ensure_namespace(&client, "iot-product-operator-system").await;
    let dir = common::root().join("config/samples");
    let validator = Validator::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "kustomization.yaml" {
            continue;
        }
        // Server-side dry run: full validation (schema and CEL) without keeping anything.
        // Manifests that name their namespace (the operator's) go there; the rest into
        // this test's namespace.
        let file = path.display().to_string();
        let names_namespace = std::fs::read_to_string(&path).unwrap().contains("namespace:");
        let mut args = vec!["apply", "--dry-run=server", "--validate=strict", "-f", file.as_str()];
        if !names_namespace {
            args.extend(["-n", ns.as_str()]);
        }
        let (out, warnings) = plane.kubectl_with_warnings(&args);
        assert!(out.contains("(server dry run)"), "{}: {out}", path.display());
        // The local check (`plan` without a cluster) accepts it too.
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_norway::Deserializer::from_str(&text) {
            let mut object = <Value as serde::Deserialize>::deserialize(document).unwrap();
            if object["apiVersion"].as_str().is_some_and(|v| v.starts_with("iot.productoperator.dev/")) {
                let refused = validator.validate(&mut object).err().map(|r| describe(&r));
                assert_eq!(refused, None, "{}: the local check refuses it", path.display());
            }
        }
        assert!(!warnings.contains("Warning:"), "{}: the API server warns: {warnings}", path.display());
        checked += 1;
    }
    assert!(checked >= 4, "expected the sample manifests under config/samples, found {checked}");
}

/// `kubectl apply` of the CRDs draws no warning (such as `unrecognized format "uint16"`).
#[tokio::test]
async fn applying_the_crds_draws_no_warning() {
    let plane = control_plane();
    let crds = common::root().join("crds").display().to_string();
    let (out, warnings) = plane.kubectl_with_warnings(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--dry-run=server",
        "-k",
        crds.as_str(),
    ]);
    assert!(out.contains("iotproducts.iot.productoperator.dev"), "{out}");
    assert!(!warnings.contains("Warning:"), "the API server warns: {warnings}");
}

/// (case, manifest, expected fragment of the refusal).
fn bad_manifests() -> Vec<(&'static str, Value, &'static str)> {
    let too_long_ascii = "a".repeat(31);
    let sixteen_chinese = "智".repeat(16);
    vec![
        (
            "name too short",
            product("short", json!({"productName": "abc"})),
            "spec.productName must be 4 to 30 characters long, counting each Chinese character as two",
        ),
        (
            "name too long",
            product("long", json!({"productName": too_long_ascii})),
            "spec.productName must be 4 to 30 characters long, counting each Chinese character as two",
        ),
        (
            "Chinese characters count double past 30",
            product("cjk", json!({"productName": sixteen_chinese})),
            "spec.productName must be 4 to 30 characters long, counting each Chinese character as two",
        ),
        (
            "name with a hyphen",
            product("chars", json!({"productName": "bad-name"})),
            "spec.productName may contain only Chinese characters (CJK ideographs; radicals are not characters), letters (A-Z, a-z), digits and underscores (_)",
        ),
        (
            "name with a space",
            product("space", json!({"productName": "bad name"})),
            "spec.productName may contain only Chinese characters",
        ),
        (
            "radicals that look Chinese but are not characters",
            product("radical", json!({"productName": "⼈⼈⼈⼈"})),
            "spec.productName may contain only Chinese characters (CJK ideographs",
        ),
        (
            "a name far past the limit names the product-name rule",
            product("very-long", json!({"productName": "a".repeat(70)})),
            "spec.productName must be 4 to 30 characters long, counting each Chinese character as two",
        ),
        (
            "a tag key the platform reserves",
            product("abc-tag", json!({"productName": "Lamp", "tags": {"abc": "x"}})),
            "spec.tags key 'abc' is reserved by the platform",
        ),
        (
            "an account reference that is not a PlatformAccount name",
            product("bad-account", json!({"productName": "Lamp", "accountRef": {"name": "My_Account"}})),
            "accountRef.name must be a PlatformAccount name",
        ),
        (
            "an instance id that is not one",
            product("bad-instance", json!({"productName": "Lamp", "instanceId": "prod instance"})),
            "spec.instanceId must be an IoT Platform instance id such as iot-cn-2r42x0g0f01",
        ),
        (
            "a ProductKey with characters a key never has",
            product("bad-key", json!({"productName": "Lamp", "productKey": "a1/../b2"})),
            "spec.productKey must be a ProductKey: letters and digits",
        ),
        (
            "ObserveOnly with nothing to observe",
            product("observe-nothing", json!({"productName": "Lamp", "managementPolicy": "ObserveOnly"})),
            "spec.managementPolicy: ObserveOnly never creates a product, so it needs one to observe",
        ),
        (
            "a product reference that is not an object name",
            distribution(
                "bad-ref",
                json!({"productRef": {"name": "Lamp_1"}, "target": {"instanceId": "iot-1", "uid": "1"}}),
            ),
            "spec.productRef.name: Invalid value",
        ),
        (
            "a target instance id that is not one",
            distribution(
                "bad-target",
                json!({"productKey": "a1b2", "target": {"instanceId": "IOT_1", "uid": "1"}}),
            ),
            "spec.target.instanceId must be an IoT Platform instance id",
        ),
        (
            "the same source and target instance",
            distribution(
                "same-instance",
                json!({"productKey": "a1b2", "sourceInstanceId": "iot-cn-a1",
                       "target": {"instanceId": "iot-cn-a1", "uid": "1"}}),
            ),
            "spec.target.instanceId must differ from spec.sourceInstanceId",
        ),
        (
            "a credentials namespace that is not a namespace name",
            account(
                "bad-creds-ns",
                json!({"region": "cn-shanghai", "credentials": {"secretRef": {"name": "creds", "namespace": "Team_A"}}}),
            ),
            "spec.credentials.secretRef.namespace must be a namespace name",
        ),
        (
            "an account instance id that is not one",
            account(
                "bad-account-instance",
                json!({"region": "cn-shanghai", "instanceId": "instance-1", "credentials": credentials()}),
            ),
            "spec.instanceId must be an IoT Platform instance id",
        ),
        (
            "description over 100",
            product("desc", json!({"productName": "Lamp", "description": "d".repeat(101)})),
            "spec.description: Too long",
        ),
        (
            "unknown node type",
            product("node", json!({"productName": "Lamp", "nodeType": "Router"})),
            "spec.nodeType: Unsupported value: \"Router\": supported values: \"Device\", \"Gateway\"",
        ),
        (
            "unknown net type",
            product("net", json!({"productName": "Lamp", "netType": "wifi"})),
            "spec.netType: Unsupported value: \"wifi\"",
        ),
        (
            "unknown deletion policy",
            product("delpol", json!({"productName": "Lamp", "deletionPolicy": "Keep"})),
            "spec.deletionPolicy: Unsupported value: \"Keep\": supported values: \"Delete\", \"Orphan\"",
        ),
        (
            "thing model on a Basic product",
            product(
                "basic-tsl",
                json!({"productName": "Lamp", "edition": "Basic", "thingModel": {"tsl": "{}"}}),
            ),
            "spec.thingModel requires spec.edition: Pro",
        ),
        (
            "reserved tag key",
            product("tagkey", json!({"productName": "Lamp", "tags": {"iotop.owner": "x"}})),
            "spec.tags keys starting with 'iotop.' are reserved for the operator",
        ),
        (
            "bad tag key",
            product("tagkey2", json!({"productName": "Lamp", "tags": {"team_name": "x"}})),
            "spec.tags keys must be 1 to 30 letters, digits or dots",
        ),
        (
            "bad tag value",
            product("tagval", json!({"productName": "Lamp", "tags": {"team": "a b"}})),
            "spec.tags values must be 1 to 128 letters, digits, underscores or hyphens",
        ),
        (
            "bad secret name",
            product("secret", json!({"productName": "Lamp", "secretName": "Lamp_Secret"})),
            "spec.secretName must be a valid Secret name",
        ),
        (
            "distribution with both product forms",
            distribution(
                "both",
                json!({"productRef": {"name": "lamp"}, "productKey": "a1b2",
                                      "target": {"instanceId": "iot-1", "uid": "1"}}),
            ),
            "set exactly one of spec.productRef (an IotProduct in this namespace) or spec.productKey",
        ),
        (
            "distribution with no product",
            distribution("neither", json!({"target": {"instanceId": "iot-1", "uid": "1"}})),
            "set exactly one of spec.productRef (an IotProduct in this namespace) or spec.productKey",
        ),
        (
            "both target account forms",
            distribution(
                "both-target",
                json!({"productKey": "a1b2",
                                             "target": {"instanceId": "iot-1", "uid": "1", "logonId": "a@b.c"}}),
            ),
            "set exactly one of spec.target.uid (the account ID) or spec.target.logonId (the logon name)",
        ),
        (
            "no target account",
            distribution("no-target", json!({"productKey": "a1b2", "target": {"instanceId": "iot-1"}})),
            "set exactly one of spec.target.uid (the account ID) or spec.target.logonId (the logon name)",
        ),
        (
            "bad region",
            account("bad-region", json!({"region": "Shanghai", "credentials": credentials()})),
            "spec.region must be an Alibaba Cloud region id such as cn-shanghai",
        ),
        (
            "endpoint with a path",
            account(
                "bad-endpoint",
                json!({"region": "cn-shanghai", "endpoint": "https://iot.example.com/api",
                                        "credentials": credentials()}),
            ),
            "spec.endpoint must be scheme://host[:port] only",
        ),
        (
            "account without credentials",
            account("no-creds", json!({"region": "cn-shanghai"})),
            "spec.credentials: Required value",
        ),
        (
            "a thing model over the size cap",
            product(
                "huge-tsl",
                json!({"productName": "Lamp", "edition": "Pro",
                       "thingModel": {"tsl": format!("{{\"properties\": [], \"x\": \"{}\"}}", "x".repeat(262_144))}}),
            ),
            "spec.thingModel.tsl: Too long: may not be more than 262144 bytes",
        ),
        (
            "a credentials key name that is not a Secret key",
            account(
                "bad-key",
                json!({"region": "cn-shanghai", "credentials": {"secretRef": {"name": "creds", "accessKeyIdKey": "a/b"}}}),
            ),
            "a Secret key is letters, digits, '-', '_' and '.'",
        ),
        (
            "an allowed namespace that is not a namespace name",
            account(
                "bad-namespace",
                json!({"region": "cn-shanghai", "credentials": credentials(),
                       "allowedNamespaces": {"names": ["Team_A"]}}),
            ),
            "each of names must be a namespace name",
        ),
        (
            "a thing model given both ways",
            product(
                "tsl-0",
                json!({"productName": "Lamp", "thingModel": {"tsl": "{}", "properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "date"}}]}}),
            ),
            "set either spec.thingModel.tsl (a TSL document as JSON) or properties, events and services (as YAML), not both",
        ),
        (
            "min above max",
            product(
                "tsl-1",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "A", "name": "A", "dataType": {"type": "date"}}, {"identifier": "Level", "name": "Level", "dataType": {"type": "int", "min": 10, "max": 1}}]}}),
            ),
            "spec.thingModel.properties[1].dataType: Invalid value: min must not exceed max",
        ),
        (
            "a step larger than the range",
            product(
                "tsl-2",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "float", "min": 0, "max": 1, "step": 2}}]}}),
            ),
            "step must be positive and at most max - min",
        ),
        (
            "an int with a fraction",
            product(
                "tsl-3",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "int", "min": 0.5, "max": 10}}]}}),
            ),
            "an int's min, max and step are whole numbers within 32 bits",
        ),
        (
            "min on text",
            product(
                "tsl-4",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "text", "min": 1}}]}}),
            ),
            "min, max, step, unit and unitName are for int, float and double",
        ),
        (
            "length on an int",
            product(
                "tsl-5",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "int", "length": 5}}]}}),
            ),
            "length is for text",
        ),
        (
            "a bool without its two values",
            product(
                "tsl-6",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "bool", "values": [{"value": 1, "name": "on"}]}}]}}),
            ),
            "a bool names its two values",
        ),
        (
            "an enum without values",
            product(
                "tsl-7",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "enum"}}]}}),
            ),
            "an enum lists its values",
        ),
        (
            "an enum value given twice",
            product(
                "tsl-8",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "enum", "values": [{"value": 1, "name": "Red"}, {"value": 1, "name": "Rot"}]}}]}}),
            ),
            "dataType.values[1]: Duplicate value",
        ),
        (
            "a struct without members",
            product(
                "tsl-9",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "struct"}}]}}),
            ),
            "a struct lists its members",
        ),
        (
            "a struct inside a struct",
            product(
                "tsl-10",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "struct", "members": [{"identifier": "Inner", "name": "Inner", "dataType": {"type": "struct"}}]}}]}}),
            ),
            "structs and arrays do not nest",
        ),
        (
            "an array without a size",
            product(
                "tsl-11",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "array", "item": {"type": "int"}}}]}}),
            ),
            "an array has a size (1 to 512) and an item type",
        ),
        (
            "an array of bools",
            product(
                "tsl-12",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "array", "size": 4, "item": {"type": "bool"}}}]}}),
            ),
            "an array holds int, float, double, text or struct items",
        ),
        (
            "an array larger than 512",
            product(
                "tsl-13",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "array", "size": 513, "item": {"type": "int"}}}]}}),
            ),
            "should be less than or equal to 512",
        ),
        (
            "a reserved identifier",
            product(
                "tsl-14",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "set", "name": "Set", "dataType": {"type": "date"}}]}}),
            ),
            "identifier must not be one of the platform's reserved words",
        ),
        (
            "an identifier starting with a digit",
            product(
                "tsl-15",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "1st", "name": "First", "dataType": {"type": "date"}}]}}),
            ),
            "identifier must be letters, digits and underscores, not starting with a digit",
        ),
        (
            "a name with a character the platform refuses",
            product(
                "tsl-16",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level!", "dataType": {"type": "date"}}]}}),
            ),
            "name must start with a Chinese character, a letter or a digit",
        ),
        (
            "an identifier used by a property and an event",
            product(
                "tsl-17",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "date"}}], "events": [{"identifier": "Level", "name": "Level"}]}}),
            ),
            "identifiers must be unique among the model's properties, events and services",
        ),
        (
            "two parameters with one identifier",
            product(
                "tsl-18",
                json!({"productName": "Lamp", "thingModel": {"services": [{"identifier": "Blink", "name": "Blink", "inputData": [{"identifier": "Level", "name": "Level", "dataType": {"type": "date"}}, {"identifier": "Level", "name": "Level", "dataType": {"type": "date"}}]}]}}),
            ),
            "spec.thingModel.services[0].inputData[1]: Duplicate value",
        ),
        (
            "an unknown data type",
            product(
                "tsl-19",
                json!({"productName": "Lamp", "thingModel": {"properties": [{"identifier": "Level", "name": "Level", "dataType": {"type": "int64"}}]}}),
            ),
            "Unsupported value: \"int64\"",
        ),
        (
            "two credential sources at once",
            account(
                "two-sources",
                json!({"region": "cn-shanghai", "credentials": {
                    "secretRef": {"name": "creds"},
                    "oidc": {"roleArn": "acs:ram::1234567890123456:role/iot"}}}),
            ),
            "spec.credentials must name exactly one source",
        ),
        (
            "no credential source",
            account("no-source", json!({"region": "cn-shanghai", "credentials": {}})),
            "spec.credentials must name exactly one source",
        ),
        (
            "a role ARN that is not one",
            account(
                "bad-role",
                json!({"region": "cn-shanghai", "credentials": {"oidc": {"roleArn": "iot-operator"}}}),
            ),
            "roleArn must be a RAM role ARN",
        ),
        (
            "an OIDC provider ARN that names a role",
            account(
                "bad-provider",
                json!({"region": "cn-shanghai", "credentials": {"oidc": {
                    "oidcProviderArn": "acs:ram::1234567890123456:role/iot"}}}),
            ),
            "oidcProviderArn must be a RAM OIDC provider ARN",
        ),
        (
            "a session shorter than STS allows",
            account(
                "short-session",
                json!({"region": "cn-shanghai", "credentials": {"assumeRole": {
                    "secretRef": {"name": "base"}, "roleArn": "acs:ram::1234567890123456:role/iot",
                    "durationSeconds": 60}}}),
            ),
            "should be greater than or equal to 900",
        ),
        (
            "a session name STS refuses",
            account(
                "bad-session",
                json!({"region": "cn-shanghai", "credentials": {"oidc": {"roleSessionName": "iot operator"}}}),
            ),
            "roleSessionName is 2 to 64 of letters, digits and .@-_",
        ),
        (
            "an STS endpoint with a path",
            account(
                "bad-sts",
                json!({"region": "cn-shanghai", "credentials": {"oidc": {"stsEndpoint": "https://sts.example.com/x"}}}),
            ),
            "stsEndpoint must be scheme://host[:port] only",
        ),
        (
            "more distribution tasks per namespace than the account has",
            account(
                "tasks",
                json!({"region": "cn-shanghai", "credentials": credentials(), "distributionTasksPerNamespace": 11}),
            ),
            "spec.distributionTasksPerNamespace: Invalid value: 11: spec.distributionTasksPerNamespace in body should be less than or equal to 10",
        ),
    ]
}

#[tokio::test]
async fn bad_manifests_are_refused_with_a_message_that_says_what_is_wrong() {
    let client = control_plane().admin_client().await;
    let ns = test_namespace(&client, "bad").await;
    let validator = Validator::new();
    let mut failures = Vec::new();
    for (case, manifest, expected) in bad_manifests() {
        let local = local_refusal(&validator, &ns, &manifest);
        match create(&client, &ns, manifest).await {
            Ok(()) => failures.push(format!("{case}: was accepted")),
            Err(message) if message.contains(expected) => {
                // `plan`'s own check (without a cluster) says the same, in the same words.
                match local {
                    None => failures.push(format!("{case}: the local check accepts it")),
                    Some(local) if message.contains(&local) => {}
                    Some(local) => failures
                        .push(format!("{case}: the API server says {message:?}, the local check {local:?}")),
                }
            }
            Err(message) => failures.push(format!("{case}: refused with {message:?}, expected {expected:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What `plan` without `--cluster` refuses in `manifest` (read as `plan` reads manifests,
/// into `namespace`), as the API server words its refusals; the validator's own words must
/// be the same.
fn local_refusal(validator: &Validator, namespace: &str, manifest: &Value) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("manifest.yaml");
    std::fs::write(&file, serde_norway::to_string(manifest).unwrap()).unwrap();
    let objects = iot_product_operator::plan::manifests::read(&[file], namespace).expect("plan reads it");
    let said = objects.refused.values().next().cloned();
    let mut object = manifest.clone();
    if object["kind"] != "PlatformAccount" {
        object["metadata"]["namespace"] = json!(namespace);
    }
    let validated = validator.validate(&mut object).err().map(|refusals| describe(&refusals));
    assert_eq!(said.is_some(), validated.is_some(), "plan and the validator disagree on {manifest}");
    if let (Some(said), Some(validated)) = (&said, &validated) {
        assert!(said.ends_with(validated.as_str()), "plan says {said:?}, the validator {validated:?}");
    }
    said
}

/// Without a cluster, `plan` checks each manifest against the CRDs' schemas and CEL rules:
/// every bad manifest of the table is refused with the same words as the API server's.
#[test]
fn the_local_check_refuses_every_bad_manifest_with_the_api_servers_words() {
    let validator = Validator::new();
    let mut failures = Vec::new();
    for (case, manifest, expected) in bad_manifests() {
        match local_refusal(&validator, "bad", &manifest) {
            None => failures.push(format!("{case}: accepted")),
            Some(local) if local.contains(expected) => {}
            Some(local) => failures.push(format!("{case}: refused with {local:?}, expected {expected:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Endpoint spellings, the attacker's among them (issue 26): the API server accepts exactly
/// those the operator's endpoint parser reads as written, so `kubectl apply` refuses first.
#[tokio::test]
async fn the_api_server_refuses_every_endpoint_the_operators_parser_would_read_differently() {
    let client = control_plane().admin_client().await;
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource::<PlatformAccount>());
    let spellings = [
        "https://iot.cn-shanghai.aliyuncs.com",
        "https://iot-vpc.cn-shanghai.aliyuncs.com/",
        "HTTPS://IOT.CN-SHANGHAI.ALIYUNCS.COM:443",
        "http://127.0.0.1:18080",
        "http://[::1]:18080",
        "https://xn--fiqs8s.aliyuncs.com",
        "https://attacker.example\\.aliyuncs.com",
        "https://attacker.example%5C.aliyuncs.com",
        "https://attacker.example%2F.aliyuncs.com",
        "https://iot.cn-shanghai.aliyuncs.com@attacker.example",
        "https://attacker.example#.aliyuncs.com",
        "https://attacker.example?.aliyuncs.com",
        "https://attacker.example/.aliyuncs.com",
        "https://attacker.example\t.aliyuncs.com",
        "https://attacker\u{ff0e}example.aliyuncs.com",
        "https://iot.cn-shanghai.aliyuncs.com.",
        "https://2130706433",
        "https://0x7f.1",
        "https://256.1.1.1",
        "https://iot.cn-shanghai.aliyuncs.com:0443",
        "https://a!b.aliyuncs.com",
        "https:iot.cn-shanghai.aliyuncs.com",
        "https:///iot.cn-shanghai.aliyuncs.com",
        "ftp://iot.cn-shanghai.aliyuncs.com",
    ];
    let mut disagreements = Vec::new();
    for (i, text) in spellings.iter().enumerate() {
        let parsed = iot_platform::endpoint_policy::parse_endpoint(text);
        let manifest = account(
            &format!("endpoint-spelling-{i}"),
            json!({"region": "cn-shanghai", "endpoint": text, "credentials": credentials()}),
        );
        let object: DynamicObject = serde_json::from_value(manifest).unwrap();
        let created = api.create(&PostParams { dry_run: true, ..PostParams::default() }, &object).await;
        match (&parsed, &created) {
            (Ok(_), Ok(_)) => {}
            (Err(_), Err(e)) if e.to_string().contains("spec.endpoint must") => {}
            _ => disagreements.push(format!(
                "{text:?}: the parser says {:?}, the API server {:?}",
                parsed.as_ref().map(ToString::to_string).map_err(ToString::to_string),
                created.as_ref().map(|_| ()).map_err(ToString::to_string)
            )),
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[tokio::test]
async fn names_at_the_limits_are_accepted() {
    let client = control_plane().admin_client().await;
    let ns = test_namespace(&client, "limits").await;
    for (name, product_name) in [
        ("four", "Lamp".to_string()),
        ("thirty", "a".repeat(30)),
        ("two-chinese", "智能".to_string()),
        ("fifteen-chinese", "智".repeat(15)),
        ("mixed", "智能灯_Lamp_01".to_string()),
        ("extension-b", "𠀀𠀀".to_string()),
        ("compatibility", "\u{F900}\u{F900}".to_string()),
    ] {
        let manifest = product(name, json!({"productName": product_name}));
        assert_eq!(
            local_refusal(&Validator::new(), &ns, &manifest),
            None,
            "{product_name}: the local check refuses it"
        );
        create(&client, &ns, manifest).await.unwrap_or_else(|e| panic!("{product_name} refused: {e}"));
    }
}

#[tokio::test]
async fn thing_models_at_the_platforms_limits_are_accepted() {
    let client = control_plane().admin_client().await;
    let ns = test_namespace(&client, "tsl-limits").await;
    let identifier = format!("A{}", "b".repeat(49));
    let members: Vec<Value> = (0..20)
        .map(|i| json!({"identifier": format!("M{i}"), "name": format!("Member {i}"), "dataType": {"type": "int"}}))
        .collect();
    let mut properties = vec![
        json!({"identifier": identifier, "name": "n".repeat(30), "dataType": {"type": "text", "length": 10240}}),
        json!({"identifier": "Int32", "name": "智能亮度_1.0/x", "accessMode": "r",
               "dataType": {"type": "int", "min": -2147483648i64, "max": 2147483647i64, "step": 1}}),
        json!({"identifier": "Tiny", "name": "Tiny", "dataType": {"type": "double", "min": 0, "max": 0.001, "step": 0.001}}),
        json!({"identifier": "Flags", "name": "Flags", "dataType": {"type": "array", "size": 512, "item": {"type": "float"}}}),
        json!({"identifier": "Rows", "name": "Rows",
               "dataType": {"type": "array", "size": 1, "item": {"type": "struct", "members": members}}}),
        json!({"identifier": "Mode", "name": "Mode", "dataType": {"type": "enum", "values": [
            {"value": -2147483648i64, "name": "off"}, {"value": 0, "name": "idle"}, {"value": 2147483647, "name": "max"}]}}),
    ];
    properties.extend((0..244).map(|i| {
        json!({"identifier": format!("P{i}"), "name": format!("Property {i}"), "dataType": {"type": "date"}})
    }));
    let events: Vec<Value> = (0..50)
        .map(|i| json!({"identifier": format!("E{i}"), "name": format!("Event {i}"), "type": "info"}))
        .collect();
    let model = json!({"properties": properties, "events": events});
    let at_limits = product("limits", json!({"productName": "Lamp", "thingModel": model}));
    assert_eq!(
        local_refusal(&Validator::new(), &ns, &at_limits),
        None,
        "the local check refuses the model at the limits"
    );
    create(&client, &ns, at_limits)
        .await
        .unwrap_or_else(|e| panic!("a model at the limits (300 features) was refused: {e}"));
    let mut over = model.clone();
    over["services"] = json!([{"identifier": "OneTooMany", "name": "One too many"}]);
    let refused = create(&client, &ns, product("over", json!({"productName": "Lamp", "thingModel": over})))
        .await
        .expect_err("301 features");
    assert!(refused.contains("at most 300 properties, events and services together"), "{refused}");
}

/// (case, original spec, merge patch, expected fragment of the refusal).
fn immutable_changes() -> Vec<(&'static str, Value, Value, &'static str)> {
    let base = json!({"productName": "Lamp"});
    vec![
        ("node type", base.clone(), json!({"nodeType": "Gateway"}), "spec.nodeType is immutable"),
        ("edition", base.clone(), json!({"edition": "Basic"}), "spec.edition is immutable"),
        ("data format", base.clone(), json!({"dataFormat": "Custom"}), "spec.dataFormat is immutable"),
        ("auth type added", base.clone(), json!({"authType": "X509"}), "spec.authType is immutable"),
        (
            "net type changed",
            json!({"productName": "Lamp", "netType": "WiFi"}),
            json!({"netType": "Cellular"}),
            "spec.netType is immutable",
        ),
        (
            "instance id added",
            base.clone(),
            json!({"instanceId": "iot-cn-x"}),
            "spec.instanceId is immutable",
        ),
        (
            "instance id changed",
            json!({"productName": "Lamp", "instanceId": "iot-a"}),
            json!({"instanceId": "iot-b"}),
            "spec.instanceId is immutable",
        ),
        (
            "account changed",
            base.clone(),
            json!({"accountRef": {"name": "other"}}),
            "spec.accountRef is immutable",
        ),
        (
            "category removed",
            json!({"productName": "Lamp", "categoryKey": "Lighting"}),
            json!({"categoryKey": null}),
            "spec.categoryKey is immutable",
        ),
        (
            "product key changed",
            json!({"productName": "Lamp", "productKey": "a1AAA"}),
            json!({"productKey": "a1BBB"}),
            "spec.productKey cannot be changed or removed once set",
        ),
    ]
}

#[tokio::test]
async fn changing_an_immutable_field_is_refused_with_the_field_named() {
    let client = control_plane().admin_client().await;
    let ns = test_namespace(&client, "immutable").await;
    let api: Api<IotProduct> = Api::namespaced(client.clone(), &ns);
    let mut failures = Vec::new();
    for (i, (case, spec, patch, expected)) in immutable_changes().into_iter().enumerate() {
        let name = format!("p{i}");
        create(&client, &ns, product(&name, spec)).await.unwrap_or_else(|e| panic!("{case}: create: {e}"));
        let result = api.patch(&name, &PatchParams::default(), &Patch::Merge(json!({"spec": patch}))).await;
        match result {
            Ok(_) => failures.push(format!("{case}: change was accepted")),
            Err(e) if e.to_string().contains(expected) => {}
            Err(e) => failures.push(format!("{case}: refused with {e}, expected {expected:?}")),
        }
    }
    // Mutable fields stay mutable.
    create(&client, &ns, product("mutable", json!({"productName": "Lamp"}))).await.unwrap();
    api.patch(
        "mutable",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"productName": "Lamp_2", "description": "new", "published": true,
                                      "tags": {"a": "b"}, "deletionPolicy": "Orphan"}})),
    )
    .await
    .expect("mutable fields can change");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_distribution_spec_cannot_change() {
    let client = control_plane().admin_client().await;
    let ns = test_namespace(&client, "dist").await;
    create(
        &client,
        &ns,
        distribution("d", json!({"productKey": "a1b2", "target": {"instanceId": "iot-1", "uid": "1"}})),
    )
    .await
    .unwrap();
    let api: Api<ProductDistribution> = Api::namespaced(client, &ns);
    let err = api
        .patch(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"target": {"instanceId": "iot-2"}}})),
        )
        .await
        .expect_err("spec change refused");
    assert!(
        err.to_string().contains("the spec of a ProductDistribution is immutable"),
        "unexpected refusal: {err}"
    );
}
