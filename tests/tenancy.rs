//! Tenants are untrusted: each attack a `team-a` user, a `team-b` user or an account editor
//! could try on a shared operator is replayed as that user (impersonated, with the RBAC a
//! platform team would give them) against a real API server, the emulator and the operator
//! binary, and shown refused with nothing leaked: no ProductSecret of team-b anywhere in
//! team-a (Secrets, status, Events) or in the operator's log, no team-b product changed on
//! the platform, no credential read from outside the operator's credentials namespace, none
//! sent to an endpoint off the allow list.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{
    ACCESS_KEY_ID, ACCESS_KEY_SECRET, ControlPlane, OperatorProcess, TestEmulator, control_plane, eventually,
};
use iot_platform::model::{CreateProduct, ReleaseProduct};
use iot_product_operator::crd::{IotProduct, PlatformAccount, ProductDistribution};
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);

/// A client acting as `user` (impersonated by the admin).
async fn as_user(plane: &ControlPlane, user: &str) -> Client {
    let kubeconfig = Kubeconfig::read_from(&plane.kubeconfig).unwrap();
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    config.auth_info.impersonate = Some(user.to_string());
    Client::try_from(config).unwrap()
}

async fn apply_yaml(admin: &Client, objects: Value) {
    for object in objects.as_array().unwrap() {
        let kind = object["kind"].as_str().unwrap();
        let name = object["metadata"]["name"].as_str().unwrap();
        let ns = object["metadata"]["namespace"].as_str();
        let (group, version) = object["apiVersion"].as_str().unwrap().rsplit_once('/').unwrap_or(("", "v1"));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let (resource, _) = kube::discovery::pinned_kind(admin, &gvk).await.unwrap();
        let api: Api<kube::api::DynamicObject> = match ns {
            Some(ns) => Api::namespaced_with(admin.clone(), ns, &resource),
            None => Api::all_with(admin.clone(), &resource),
        };
        let patch = PatchParams::apply("tenancy-test").force();
        api.patch(name, &patch, &Patch::Apply(object)).await.unwrap();
    }
}

/// The RBAC a platform team gives: each team edits IotProducts and ProductDistributions and
/// reads Secrets and Events in its own namespace; the account editor edits PlatformAccounts.
async fn grant_rights(admin: &Client, team_a: &str, team_b: &str) {
    let mut objects = Vec::new();
    for (ns, user) in [(team_a, "team-a"), (team_b, "team-b")] {
        objects.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "iot-tenant", "namespace": ns},
            "rules": [
                {"apiGroups": ["iot.productoperator.dev"], "resources": ["iotproducts", "productdistributions"],
                 "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                {"apiGroups": [""], "resources": ["secrets", "events"], "verbs": ["get", "list"]},
                {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["get", "list"]}
            ]
        }));
        objects.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "iot-tenant", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "iot-tenant"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
        }));
    }
    objects.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "iot-account-editor"},
        "rules": [{"apiGroups": ["iot.productoperator.dev"], "resources": ["platformaccounts"],
                   "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]
    }));
    objects.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "iot-account-editor"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "iot-account-editor"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "account-editor"}]
    }));
    apply_yaml(admin, Value::Array(objects)).await;
}

fn product(name: &str, account: &str, spec: Value) -> IotProduct {
    let mut full = json!({"accountRef": {"name": account}});
    full.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
    serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
        "metadata": {"name": name}, "spec": full
    }))
    .unwrap()
}

fn condition(p: &IotProduct, type_: &str) -> Option<(String, String, String)> {
    let c = p.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn wait_product(api: &Api<IotProduct>, name: &str, reason: &str) -> IotProduct {
    eventually(&format!("{name} to report {reason}"), DEADLINE, || async {
        let p = api.get(name).await.map_err(|e| e.to_string())?;
        let conditions = [condition(&p, "Ready"), condition(&p, "Synced")];
        if conditions.iter().flatten().any(|(_, r, _)| r == reason) {
            Ok(p)
        } else {
            Err(format!("{conditions:?}"))
        }
    })
    .await
}

async fn wait_distribution(api: &Api<ProductDistribution>, name: &str, reason: &str) -> ProductDistribution {
    common::wait_for(api, name, "Ready", None, Some(reason)).await
}

async fn wait_account(api: &Api<PlatformAccount>, name: &str, reason: &str) -> PlatformAccount {
    common::wait_for(api, name, "Ready", None, Some(reason)).await
}

/// Everything readable in `namespace` (Secrets' values, IotProducts' and
/// ProductDistributions' status, Events), as one text.
async fn everything_in(admin: &Client, namespace: &str) -> String {
    let mut text = String::new();
    let secrets =
        Api::<Secret>::namespaced(admin.clone(), namespace).list(&ListParams::default()).await.unwrap();
    for secret in secrets.items {
        for value in secret.data.unwrap_or_default().values() {
            text.push_str(&String::from_utf8_lossy(&value.0));
            text.push('\n');
        }
    }
    let products =
        Api::<IotProduct>::namespaced(admin.clone(), namespace).list(&ListParams::default()).await.unwrap();
    text.push_str(&serde_json::to_string(&products.items).unwrap());
    let distributions = Api::<ProductDistribution>::namespaced(admin.clone(), namespace)
        .list(&ListParams::default())
        .await
        .unwrap();
    text.push_str(&serde_json::to_string(&distributions.items).unwrap());
    let events =
        Api::<Event>::namespaced(admin.clone(), namespace).list(&ListParams::default()).await.unwrap();
    text.push_str(&serde_json::to_string(&events.items).unwrap());
    text
}

/// Whether `text` holds `secret` plainly or base64-encoded.
fn leaks(text: &str, secret: &str) -> bool {
    text.contains(secret) || text.contains(&base64::engine::general_purpose::STANDARD.encode(secret))
}

struct World {
    admin: Client,
    team_a: String,
    team_b: String,
    ops: String,
    account: String,
    emulator: TestEmulator,
    operator: OperatorProcess,
}

/// Two team namespaces, an operations namespace holding the account's credentials, one
/// shared account that admits both teams (and lets neither take over products), and one
/// operator watching both teams.
async fn world(plane: &ControlPlane, tasks_per_namespace: u8) -> World {
    let admin = plane.admin_client().await;
    let team_a = common::test_namespace(&admin, "team-a").await;
    let team_b = common::test_namespace(&admin, "team-b").await;
    let ops = common::test_namespace(&admin, "ops").await;
    grant_rights(&admin, &team_a, &team_b).await;
    let emulator = TestEmulator::start().await;
    let account = format!("shared-{ops}");
    apply_yaml(
        &admin,
        json!([
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "platform-credentials", "namespace": ops},
             "stringData": {"AccessKeyId": ACCESS_KEY_ID, "AccessKeySecret": ACCESS_KEY_SECRET}},
            {"apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
             "metadata": {"name": account, "labels": {"test": ops}},
             "spec": {"region": "cn-shanghai", "endpoint": emulator.url,
                      "credentials": {"secretRef": {"name": "platform-credentials"}},
                      "allowedNamespaces": {"names": [team_a, team_b]},
                      "distributionTasksPerNamespace": tasks_per_namespace}}
        ]),
    )
    .await;
    let operator = OperatorProcess::start(
        plane,
        &ops,
        &["--namespace", &team_a, "--namespace", &team_b, "--resync-interval", "10m"],
    );
    World { admin, team_a, team_b, ops, account, emulator, operator }
}

/// Team B's product: Ready, published, its key and ProductSecret.
async fn team_b_product(world: &World, plane: &ControlPlane) -> (String, String, String) {
    let team_b = Api::<IotProduct>::namespaced(as_user(plane, "team-b").await, &world.team_b);
    let name = format!("TeamB_Lamp_{}", &world.ops[4..10]);
    team_b
        .create(
            &PostParams::default(),
            &product("lamp", &world.account, json!({"productName": name, "published": true})),
        )
        .await
        .unwrap();
    let ready = wait_product(&team_b, "lamp", "Available").await;
    let status = ready.status.unwrap();
    let key = status.product_key.unwrap();
    let secret = Api::<Secret>::namespaced(world.admin.clone(), &world.team_b)
        .get(&status.secret_name.unwrap())
        .await
        .unwrap();
    let product_secret =
        String::from_utf8(secret.data.unwrap()["ProductSecret"].0.clone()).expect("a ProductSecret");
    (name, key, product_secret)
}

fn platform_product(world: &World, key: &str) -> iot_platform_emulator::state::Product {
    world.emulator.products().into_iter().find(|p| p.product_key == key).expect("the product exists")
}

#[tokio::test]
async fn no_attack_of_one_tenant_reaches_another() {
    let plane = control_plane();
    let world = world(plane, 3).await;
    let (b_name, b_key, b_secret) = team_b_product(&world, plane).await;
    let b_before = platform_product(&world, &b_key);
    let team_a_client = as_user(plane, "team-a").await;
    let team_a = Api::<IotProduct>::namespaced(team_a_client.clone(), &world.team_a);
    let team_a_pds = Api::<ProductDistribution>::namespaced(team_a_client.clone(), &world.team_a);

    // RBAC as given: team-a cannot read team-b's Secrets or write accounts.
    let forbidden =
        Api::<Secret>::namespaced(team_a_client.clone(), &world.team_b).list(&ListParams::default()).await;
    assert!(matches!(forbidden, Err(kube::Error::Api(ref e)) if e.code == 403), "{forbidden:?}");

    // 1. Another team's product name: a conflict that does not reveal the product's key.
    team_a
        .create(&PostParams::default(), &product("copycat", &world.account, json!({"productName": b_name})))
        .await
        .unwrap();
    let copycat = wait_product(&team_a, "copycat", "NameConflict").await;
    assert_eq!(copycat.status.as_ref().unwrap().product_key, None);

    // 2. Observing another team's product by key: refused (no take-over right), no Secret.
    team_a
        .create(
            &PostParams::default(),
            &product(
                "observer",
                &world.account,
                json!({"productName": "Observer_01", "productKey": b_key, "managementPolicy": "ObserveOnly"}),
            ),
        )
        .await
        .unwrap();
    wait_product(&team_a, "observer", "TakeOverNotAllowed").await;

    // 3. An untagged product made outside Kubernetes, adopted by key to be revoked: refused;
    //    deleting the resource leaves the product as it was.
    let outside = world
        .emulator
        .client()
        .call(&CreateProduct { product_name: "Outside_01".into(), node_type: 0, ..CreateProduct::default() })
        .await
        .unwrap()
        .product_key
        .unwrap();
    world
        .emulator
        .client()
        .call(&ReleaseProduct { product_key: outside.clone(), ..ReleaseProduct::default() })
        .await
        .unwrap();
    team_a
        .create(
            &PostParams::default(),
            &product(
                "adopter",
                &world.account,
                json!({"productName": "Outside_01", "productKey": outside, "published": false}),
            ),
        )
        .await
        .unwrap();
    wait_product(&team_a, "adopter", "TakeOverNotAllowed").await;
    team_a.delete("adopter", &DeleteParams::default()).await.unwrap();
    eventually("the adopter to be gone", DEADLINE, || async {
        match team_a.get_opt("adopter").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".to_string()),
        }
    })
    .await;
    assert!(platform_product(&world, &outside).released, "the outside product stays published");

    // 4. Distributing another team's product by key: refused before any platform write.
    team_a_pds
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
                "metadata": {"name": "steal"},
                "spec": {"productKey": b_key, "accountRef": {"name": world.account},
                         "target": {"instanceId": "iot-cn-prod0001", "uid": common::ACCOUNT_UID}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    wait_distribution(&team_a_pds, "steal", "TakeOverNotAllowed").await;

    // Even when the account lets team-a take over products, another resource's product is
    // neither observed nor distributed.
    let accounts = Api::<PlatformAccount>::all(as_user(plane, "account-editor").await);
    accounts
        .patch(
            &world.account,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"takeOver": {"allowedNamespaces": {"names": [world.team_a]}}}})),
        )
        .await
        .unwrap();
    let observer = wait_product(&team_a, "observer", "ManagedElsewhere").await;
    let observed = observer.status.unwrap();
    assert!(observed.secret_name.is_none(), "no Secret for another's product");
    assert_eq!(observed.product_key, None, "another's product is not recorded as this resource's");
    wait_distribution(&team_a_pds, "steal", "ManagedElsewhere").await;
    assert!(world.emulator.emulator.snapshot().jobs.is_empty(), "no distribution job was made");

    // 5. An account editor points an account at team-b's product Secret (with key names that
    //    read the ProductSecret) and at an endpoint of their own: neither is used, nothing of
    //    the Secret shows, and the foreign Secret gets no finalizer.
    let attacker = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let attacker_url = format!("http://{}", attacker.local_addr().unwrap());
    let b_secret_name = Api::<IotProduct>::namespaced(world.admin.clone(), &world.team_b)
        .get("lamp")
        .await
        .unwrap()
        .status
        .unwrap()
        .secret_name
        .unwrap();
    for (name, spec) in [
        (
            format!("borrowed-{}", world.ops),
            json!({"region": "cn-shanghai", "endpoint": world.emulator.url,
                   "credentials": {"secretRef": {"name": b_secret_name, "namespace": world.team_b,
                                                 "accessKeyIdKey": "ProductSecret", "accessKeySecretKey": "ProductKey"}},
                   "allowedNamespaces": {"names": [world.team_a]}}),
        ),
        (
            format!("exfiltrate-{}", world.ops),
            json!({"region": "cn-shanghai", "endpoint": attacker_url,
                   "credentials": {"secretRef": {"name": "platform-credentials"}},
                   "allowedNamespaces": {"names": [world.team_a]}}),
        ),
    ] {
        let account: PlatformAccount = serde_json::from_value(json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
            "metadata": {"name": name, "labels": {"test": world.ops}}, "spec": spec
        }))
        .unwrap();
        accounts.create(&PostParams::default(), &account).await.unwrap();
    }
    let borrowed =
        wait_account(&accounts, &format!("borrowed-{}", world.ops), "CredentialsNamespaceNotAllowed").await;
    let exfiltrate =
        wait_account(&accounts, &format!("exfiltrate-{}", world.ops), "EndpointNotAllowed").await;
    let accounts_text = serde_json::to_string(&(borrowed, exfiltrate)).unwrap();
    assert!(!leaks(&accounts_text, &b_secret), "the ProductSecret shows in an account's status");
    let foreign =
        Api::<Secret>::namespaced(world.admin.clone(), &world.team_b).get(&b_secret_name).await.unwrap();
    assert!(foreign.metadata.finalizers.unwrap_or_default().is_empty(), "a finalizer on team-b's Secret");
    // A product of team-a on the exfiltration account: refused, and the endpoint never called.
    team_a
        .create(
            &PostParams::default(),
            &product("exfil", &format!("exfiltrate-{}", world.ops), json!({"productName": "Exfil_01"})),
        )
        .await
        .unwrap();
    wait_product(&team_a, "exfil", "EndpointNotAllowed").await;
    let contacted = tokio::time::timeout(Duration::from_millis(500), attacker.accept()).await;
    assert!(contacted.is_err(), "the operator connected to an endpoint off the allow list");

    // An account that does not admit the namespace: refused, nothing done on the platform.
    let names = |w: &World| w.emulator.products().into_iter().map(|p| p.product_name).collect::<Vec<_>>();
    let products_before = names(&world);
    let team_b_only = format!("b-only-{}", world.ops);
    let account: PlatformAccount = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "PlatformAccount",
        "metadata": {"name": team_b_only, "labels": {"test": world.ops}},
        "spec": {"region": "cn-shanghai", "endpoint": world.emulator.url,
                 "credentials": {"secretRef": {"name": "platform-credentials"}},
                 "allowedNamespaces": {"names": [world.team_b]}}
    }))
    .unwrap();
    accounts.create(&PostParams::default(), &account).await.unwrap();
    team_a
        .create(
            &PostParams::default(),
            &product("intruder", &team_b_only, json!({"productName": "Intruder_01"})),
        )
        .await
        .unwrap();
    wait_product(&team_a, "intruder", "AccountNotAllowed").await;
    assert_eq!(names(&world), products_before, "nothing was created");

    // Nothing of team-b reached team-a or the log; team-b's product is as it was.
    let in_team_a = everything_in(&world.admin, &world.team_a).await;
    assert!(!leaks(&in_team_a, &b_secret), "team-b's ProductSecret is readable in team-a");
    assert!(!in_team_a.contains(&b_key) || in_team_a_mentions_key_only_in_specs(&world, &b_key).await);
    assert!(!leaks(&world.operator.logs(), &b_secret), "team-b's ProductSecret is in the operator's log");
    assert!(world.emulator.emulator.snapshot().jobs.is_empty(), "no distribution job was ever made");
    let b_after = platform_product(&world, &b_key);
    assert_eq!(
        (b_after.product_name, b_after.released, b_after.tags, b_after.versions.len()),
        (b_before.product_name, b_before.released, b_before.tags, b_before.versions.len()),
        "team-b's product was changed"
    );
}

/// team-a's users typed team-b's key into their own specs (attacks 2 and 4); the key may
/// appear there, and nowhere else in team-a.
async fn in_team_a_mentions_key_only_in_specs(world: &World, key: &str) -> bool {
    let events = Api::<Event>::namespaced(world.admin.clone(), &world.team_a)
        .list(&ListParams::default())
        .await
        .unwrap();
    let products = Api::<IotProduct>::namespaced(world.admin.clone(), &world.team_a)
        .list(&ListParams::default())
        .await
        .unwrap();
    let distributions = Api::<ProductDistribution>::namespaced(world.admin.clone(), &world.team_a)
        .list(&ListParams::default())
        .await
        .unwrap();
    let statuses = serde_json::to_string(&(
        products
            .items
            .iter()
            .map(|p| (&p.metadata.name, p.status.as_ref().map(|s| &s.conditions)))
            .collect::<Vec<_>>(),
        distributions
            .items
            .iter()
            .map(|d| d.status.as_ref().map(|s| (&s.conditions, &s.job_id)))
            .collect::<Vec<_>>(),
    ))
    .unwrap();
    let events = serde_json::to_string(&events.items).unwrap();
    !statuses.contains(key) && !events.contains(key)
}

#[tokio::test]
async fn one_namespace_cannot_hold_all_of_an_accounts_distribution_tasks() {
    let plane = control_plane();
    let world = world(plane, 1).await;
    let mut keys = Vec::new();
    for (ns, user) in [(&world.team_a, "team-a"), (&world.team_b, "team-b")] {
        let products = Api::<IotProduct>::namespaced(as_user(plane, user).await, ns);
        let name = format!("Tasks_{}_{}", &ns[..6].replace('-', "_"), &world.ops[4..8]);
        products
            .create(&PostParams::default(), &product("lamp", &world.account, json!({"productName": name})))
            .await
            .unwrap();
        keys.push(wait_product(&products, "lamp", "Available").await);
    }
    let distribution = |name: &str| -> ProductDistribution {
        serde_json::from_value(json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
            "metadata": {"name": name},
            "spec": {"productRef": {"name": "lamp"}, "jobRecordPolicy": "Keep",
                     "target": {"instanceId": "iot-cn-prod0001", "uid": common::ACCOUNT_UID}}
        }))
        .unwrap()
    };
    let team_a = Api::<ProductDistribution>::namespaced(as_user(plane, "team-a").await, &world.team_a);
    team_a.create(&PostParams::default(), &distribution("first")).await.unwrap();
    wait_distribution(&team_a, "first", "Distributed").await;
    team_a.create(&PostParams::default(), &distribution("second")).await.unwrap();
    let waiting = wait_distribution(&team_a, "second", "NamespaceDistributionQuotaFull").await;
    assert!(waiting.status.unwrap().job_id.is_none());
    // team-b still gets a task of the account.
    let team_b = Api::<ProductDistribution>::namespaced(as_user(plane, "team-b").await, &world.team_b);
    team_b.create(&PostParams::default(), &distribution("mine")).await.unwrap();
    wait_distribution(&team_b, "mine", "Distributed").await;
    // Freeing team-a's task lets its second distribution go.
    team_a.delete("first", &DeleteParams::default()).await.unwrap();
    wait_distribution(&team_a, "second", "Distributed").await;
    assert_eq!(keys.len(), 2);
}
