//! The Rust client against the emulator, over real HTTP on 127.0.0.1: the same product life
//! the official SDKs run, with both signature schemes, plus the failure paths the
//! reconcilers rely on (lost responses, throttling, bad credentials, the rate limiter).

use std::collections::BTreeMap;
use std::sync::Arc;

use iot_platform::http::{Endpoints, HttpPlatform, http_client};
use iot_platform::model::*;
use iot_platform::ratelimit::AccountLimiter;
use iot_platform::wire::Tag;
use iot_platform::{Credentials, ErrorClass, IotPlatform, PlatformError};
use iot_platform_emulator::faults::Faults;
use iot_platform_emulator::gateway::AccessKey;
use iot_platform_emulator::server::spawn;
use iot_platform_emulator::state::{Instance, Rules};
use iot_platform_emulator::{Emulator, EmulatorConfig};
use iot_product_operator::crd::platform_account::SignatureVersion;

const UID: &str = "1234567890123456";

async fn start(config: EmulatorConfig) -> (Arc<Emulator>, String) {
    let emulator = Emulator::new(config);
    let addr = spawn(emulator.clone(), "127.0.0.1:0".parse().unwrap(), "cn-shanghai").await.unwrap();
    (emulator, format!("http://{addr}"))
}

fn config() -> EmulatorConfig {
    EmulatorConfig {
        access_keys: vec![AccessKey::parse(&format!("ak:sk:{UID}:owner@example.com")).unwrap()],
        rules: Rules {
            instances: vec![Instance { id: "iot-target".into(), region: "cn-shanghai".into() }],
            job_duration_ms: 200,
            ..Rules::default()
        },
        ..EmulatorConfig::default()
    }
}

fn client(url: &str, secret: &str, signature: SignatureVersion) -> Arc<dyn IotPlatform> {
    Arc::new(HttpPlatform::new(
        http_client(),
        Endpoints::resolve(
            &iot_platform::endpoint_policy::EndpointPolicy::new(["http://127.0.0.1:*"]).unwrap(),
            "cn-shanghai",
            Some(url),
            None,
        )
        .unwrap(),
        Credentials::new("ak", secret, None),
        signature,
        Arc::new(AccountLimiter::new(0.9)),
    ))
}

fn create(name: &str) -> CreateProduct {
    CreateProduct {
        product_name: name.into(),
        node_type: 0,
        aliyun_commodity_code: Some("iothub_senior".into()),
        data_format: Some(1),
        description: Some("a lamp".into()),
        ..CreateProduct::default()
    }
}

async fn product_life(signature: SignatureVersion) {
    let (emulator, url) = start(config()).await;
    let p = client(&url, "sk", signature);
    let created = p.call(&create("Lamp_01")).await.expect("create");
    let key = created.product_key.clone().expect("key");
    assert!(!created.data.as_ref().unwrap().product_secret.is_empty());

    let duplicate = p.call(&create("Lamp_01")).await.unwrap_err();
    assert_eq!(duplicate.class(), ErrorClass::Conflict);
    assert!(duplicate.request_id().is_some_and(|id| !id.is_empty()));

    let details =
        p.call(&QueryProduct { product_key: key.clone(), ..Default::default() }).await.unwrap().data.unwrap();
    assert_eq!(
        (details.product_name.as_str(), details.product_status.as_str()),
        ("Lamp_01", DEVELOPMENT_STATUS)
    );
    assert_eq!(details.product_secret, created.data.unwrap().product_secret);

    let page =
        p.call(&QueryProductList { current_page: 1, page_size: 10, ..Default::default() }).await.unwrap();
    assert_eq!(page.data.unwrap().list.product_info[0].product_key, key);

    p.call(&UpdateProduct {
        product_key: key.clone(),
        product_name: "Lamp_02".into(),
        description: Some("renamed".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let tags = vec![Tag { tag_key: "team".into(), tag_value: "lighting".into() }];
    p.call(&CreateProductTags { product_key: key.clone(), product_tag: tags.clone(), ..Default::default() })
        .await
        .unwrap();
    let listed = p.call(&ListProductTags { product_key: key.clone(), ..Default::default() }).await.unwrap();
    assert_eq!(listed.data.unwrap().product_tag, tags);

    let tsl = r#"{"properties":[{"identifier":"Power","name":"Power","accessMode":"rw","dataType":{"type":"bool"}}]}"#;
    p.call(&ImportThingModelTsl {
        product_key: key.clone(),
        tsl_str: Some(tsl.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let draft = p.call(&GetThingModelTsl { product_key: key.clone(), ..Default::default() }).await.unwrap();
    assert!(draft.data.unwrap().tsl_str.contains("Power"));
    p.call(&PublishThingModel {
        product_key: key.clone(),
        model_version: Some("1.1".into()),
        ..Default::default()
    })
    .await
    .unwrap();

    p.call(&ReleaseProduct { product_key: key.clone(), ..Default::default() }).await.unwrap();
    let locked = p
        .call(&UpdateProduct {
            product_key: key.clone(),
            product_name: "Lamp_03".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    // The platform documents no code for the lock: the client concludes nothing from it.
    assert_eq!(locked.class(), ErrorClass::Undocumented);
    p.call(&CancelReleaseProduct { product_key: key.clone(), ..Default::default() }).await.unwrap();

    let job = p
        .call(&CreateProductDistributeJob {
            product_key: key.clone(),
            source_instance_id: "iotx-oxssharez200".into(),
            target_instance_id: "iot-target".into(),
            target_uid: Some(UID.into()),
            target_aliyun_id: None,
        })
        .await
        .unwrap()
        .job_id
        .unwrap();
    let queried = p.call(&QueryDeviceDistributeJob { job_id: job.clone() }).await.unwrap().data.unwrap();
    assert_eq!(queried.product_key, key);

    p.call(&DeleteProduct { product_key: key.clone(), ..Default::default() }).await.unwrap();
    let gone = p.call(&QueryProduct { product_key: key.clone(), ..Default::default() }).await.unwrap_err();
    assert_eq!(gone.class(), ErrorClass::NotFound);
    assert_eq!(emulator.stats().refused_signatures, 0);
}

#[tokio::test]
async fn the_client_runs_a_whole_product_life_with_the_v3_signature() {
    product_life(SignatureVersion::V3).await;
}

#[tokio::test]
async fn the_client_runs_a_whole_product_life_with_the_v1_signature() {
    product_life(SignatureVersion::V1).await;
}

#[tokio::test]
async fn wrong_credentials_are_an_auth_error_that_is_not_retried() {
    let (emulator, url) = start(config()).await;
    let err = client(&url, "wrong", SignatureVersion::V3)
        .call(&QueryProductList { current_page: 1, page_size: 10, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((err.class(), err.code()), (ErrorClass::Auth, "SignatureDoesNotMatch"));
    assert_eq!(emulator.stats().refused_signatures, 1, "an auth error is not retried");
}

#[tokio::test]
async fn a_create_whose_response_is_lost_is_not_repeated_and_leaves_one_product() {
    let mut faults = Faults::default();
    faults.lose_next.insert("CreateProduct".into(), 1);
    let (emulator, url) = start(EmulatorConfig { faults, ..config() }).await;
    let err = client(&url, "sk", SignatureVersion::V3).call(&create("Lost_01")).await.unwrap_err();
    assert!(matches!(err, PlatformError::Transport { ambiguous: true, .. }), "{err:?}");
    assert_eq!(emulator.stats().lost_responses, 1);
    let products = emulator.snapshot().products;
    assert_eq!(products.len(), 1, "the create was committed exactly once");
    assert_eq!(products[0].product_name, "Lost_01");
}

#[tokio::test]
async fn reads_are_retried_through_injected_server_errors() {
    let mut faults = Faults::default();
    faults.fail_next.insert("QueryProductList".into(), 2);
    let (emulator, url) = start(EmulatorConfig { faults, ..config() }).await;
    client(&url, "sk", SignatureVersion::V3)
        .call(&QueryProductList { current_page: 1, page_size: 10, ..Default::default() })
        .await
        .expect("succeeds on the third attempt");
    assert_eq!(emulator.stats().injected_errors, 2);
}

#[tokio::test]
async fn throttling_is_retried_even_for_a_create() {
    let faults = Faults {
        throttle_until_ms: Some(jiff::Timestamp::now().as_millisecond() + 150),
        throttle_actions: vec!["CreateProduct".into()],
        ..Faults::default()
    };
    let (emulator, url) = start(EmulatorConfig { faults, ..config() }).await;
    client(&url, "sk", SignatureVersion::V1)
        .call(&create("Storm_01"))
        .await
        .expect("created after the storm");
    assert!(emulator.stats().throttled >= 1);
    assert_eq!(emulator.snapshot().products.len(), 1);
}

#[tokio::test]
async fn the_client_stays_under_the_documented_qps_without_throttling_replies() {
    // UpdateProduct is limited to 10 QPS per account; 25 concurrent updates must all pass
    // without a single throttling reply because the client paces itself.
    let (emulator, url) = start(config()).await;
    let p = client(&url, "sk", SignatureVersion::V3);
    let key = p.call(&create("Paced_01")).await.unwrap().product_key.unwrap();
    let updates = (0..25).map(|i| {
        let p = p.clone();
        let key = key.clone();
        async move {
            p.call(&UpdateProduct {
                product_key: key,
                product_name: "Paced_01".into(),
                description: Some(format!("d{i}")),
                ..Default::default()
            })
            .await
        }
    });
    for result in futures::future::join_all(updates).await {
        result.expect("update");
    }
    let stats = emulator.stats();
    assert_eq!(stats.throttled, 0);
    assert_eq!(stats.calls["UpdateProduct"], BTreeMap::from([("Success".to_string(), 25)]));
}

#[tokio::test]
async fn a_create_answered_with_a_system_error_after_it_was_made_is_not_repeated() {
    // The platform makes the job, then answers `iot.system.SystemException` (HTTP 200): the
    // answer does not say whether the job exists, so the client must not send it again (the
    // caller looks first); repeating it would make a second job.
    let faults = Faults {
        commit_then_fail_next: BTreeMap::from([("CreateProductDistributeJob".to_string(), 1)]),
        error_kind: iot_platform_emulator::faults::ErrorKind::SystemException,
        ..Faults::default()
    };
    let (emulator, url) = start(EmulatorConfig { faults, ..config() }).await;
    let p = client(&url, "sk", SignatureVersion::V3);
    let key = p.call(&create("Ambiguous_01")).await.unwrap().product_key.unwrap();
    let error = p
        .call(&CreateProductDistributeJob {
            product_key: key,
            source_instance_id: "iotx-oxssharez200".into(),
            target_instance_id: "iot-target".into(),
            target_uid: Some(UID.into()),
            target_aliyun_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), "iot.system.SystemException");
    assert!(error.is_ambiguous(), "{error}");
    assert_eq!(emulator.snapshot().job_history.len(), 1, "the create was sent again");
}

#[tokio::test]
async fn the_pace_adapts_when_the_quota_is_half_the_documented_one() {
    // The emulator serves QueryProduct at 25 QPS, half the documented 50: the client starts
    // at 45 and is throttled; it must settle near the real quota instead of having half its
    // attempts refused (a fixed pace would be throttled on every other call, each a retry).
    let (emulator, url) = start(EmulatorConfig { qps_scale: 0.5, ..config() }).await;
    let p = client(&url, "sk", SignatureVersion::V3);
    let key = p.call(&create("Paced_02")).await.unwrap().product_key.unwrap();
    let calls = 300;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers = (0..16).map(|_| {
        let (p, key, next) = (p.clone(), key.clone(), next.clone());
        async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < calls {
                p.call(&QueryProduct { product_key: key.clone(), ..Default::default() })
                    .await
                    .expect("query");
            }
        }
    });
    futures::future::join_all(workers).await;
    let stats = emulator.stats();
    let succeeded = stats.calls["QueryProduct"]["Success"];
    assert_eq!(succeeded, calls as u64);
    eprintln!("halved quota: {succeeded} calls, {} throttling replies", stats.throttled);
    assert!(stats.throttled > 0, "the halved quota was reached");
    assert!(
        stats.throttled * 10 < succeeded,
        "{} throttling replies for {succeeded} calls: the pace did not adapt",
        stats.throttled
    );
}

#[tokio::test]
async fn distribution_calls_go_to_the_shanghai_endpoint_even_for_other_regions() {
    let (emulator, shanghai) = start(config()).await;
    let singapore = spawn(emulator.clone(), "127.0.0.1:0".parse().unwrap(), "ap-southeast-1").await.unwrap();
    let p: Arc<dyn IotPlatform> = Arc::new(HttpPlatform::new(
        http_client(),
        Endpoints::resolve(
            &iot_platform::endpoint_policy::EndpointPolicy::new(["http://127.0.0.1:*"]).unwrap(),
            "ap-southeast-1",
            Some(&format!("http://{singapore}")),
            Some(&shanghai),
        )
        .unwrap(),
        Credentials::new("ak", "sk", None),
        SignatureVersion::V3,
        Arc::new(AccountLimiter::new(0.9)),
    ));
    let created = p.call(&create("Sg_01")).await.unwrap();
    assert_eq!(emulator.snapshot().products[0].region, "ap-southeast-1");
    let job = p
        .call(&CreateProductDistributeJob {
            product_key: created.product_key.unwrap(),
            source_instance_id: "iotx-oxssharez400".into(),
            target_instance_id: "iot-target".into(),
            target_uid: Some(UID.into()),
            target_aliyun_id: None,
        })
        .await;
    assert!(job.is_ok(), "{job:?}");

    // The same call at the Singapore endpoint is refused, as the platform documents.
    let wrong: Arc<dyn IotPlatform> = Arc::new(HttpPlatform::new(
        http_client(),
        Endpoints::resolve(
            &iot_platform::endpoint_policy::EndpointPolicy::new(["http://127.0.0.1:*"]).unwrap(),
            "ap-southeast-1",
            Some(&format!("http://{singapore}")),
            Some(&format!("http://{singapore}")),
        )
        .unwrap(),
        Credentials::new("ak", "sk", None),
        SignatureVersion::V3,
        Arc::new(AccountLimiter::new(0.9)),
    ));
    let refused = wrong.call(&QueryDeviceDistributeJob { job_id: "x".into() }).await.unwrap_err();
    assert_eq!(refused.code(), "InvalidAction.NotFound");
}
