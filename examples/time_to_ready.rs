//! Benchmark (not a test): time from creating an IotProduct to its Ready condition, and the
//! platform calls each product costs. Run through `scripts/bench-ready.sh`, which starts the
//! control plane, the emulator (zero latency) and the operator.
//!
//! Arguments: emulator URL, number of products (one after another), published (true|false).

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use iot_product_operator::crd::{IotProduct, ProductDistribution};
use kube::Client;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:18080".into());
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(9);
    let published = args.get(3).map(String::as_str) != Some("false");
    let client = Client::try_default().await.expect("kubeconfig");
    let api: Api<IotProduct> = Api::namespaced(client, "default");
    let mut times = Vec::new();
    for i in 0..n {
        let name = format!("ready-{}-{i}", std::process::id());
        let product: IotProduct = serde_json::from_value(serde_json::json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
            "metadata": {"name": name},
            "spec": {"productName": format!("Ready_{}_{i}", std::process::id()), "published": published, "edition": "Basic"}
        }))
        .unwrap();
        let watch =
            api.watch(&WatchParams::default().fields(&format!("metadata.name={name}")), "0").await.unwrap();
        let start = Instant::now();
        api.create(&PostParams::default(), &product).await.unwrap();
        let mut stream = watch.boxed();
        loop {
            match tokio::time::timeout(Duration::from_secs(30), stream.try_next()).await {
                Ok(Ok(Some(WatchEvent::Modified(p)))) => {
                    let ready = p.status.as_ref().is_some_and(|s| {
                        s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                    });
                    if ready {
                        times.push(start.elapsed());
                        break;
                    }
                }
                Ok(Ok(Some(_))) => {}
                other => panic!("watch ended: {other:?}"),
            }
        }
    }
    times.sort();
    let ms: Vec<u128> = times.iter().map(Duration::as_millis).collect();
    println!(
        "apply→Ready for {n} products (published={published}): median {} ms, min {} ms, max {} ms; all: {ms:?}",
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1]
    );
    let state: serde_json::Value =
        reqwest::get(format!("{url}/_emulator/state")).await.unwrap().json().await.unwrap();
    println!("platform calls (emulator counters): {}", state["stats"]["calls"]);

    // One distribution of the first product, timed from apply to Completed.
    let distributions: Api<ProductDistribution> = Api::namespaced(api.clone().into_client(), "default");
    let name = format!("dist-{}", std::process::id());
    let pd: ProductDistribution = serde_json::from_value(serde_json::json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
        "metadata": {"name": name},
        "spec": {"productRef": {"name": format!("ready-{}-0", std::process::id())},
                 "target": {"instanceId": "iot-cn-prod0001", "uid": "1001"}}
    }))
    .unwrap();
    let start = Instant::now();
    distributions.create(&PostParams::default(), &pd).await.unwrap();
    loop {
        let current = distributions.get(&name).await.unwrap();
        if current.status.as_ref().and_then(|s| s.state.as_deref()) == Some("Completed") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "distribution did not complete: {:?}",
            current.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state: serde_json::Value =
        reqwest::get(format!("{url}/_emulator/state")).await.unwrap().json().await.unwrap();
    let calls = &state["stats"]["calls"];
    println!(
        "distribution apply→Completed: {} ms with a 1500 ms job; calls: ListDeviceDistributeJob {} CreateProductDistributeJob {} QueryDeviceDistributeJob {}",
        start.elapsed().as_millis(),
        calls["ListDeviceDistributeJob"],
        calls["CreateProductDistributeJob"],
        calls["QueryDeviceDistributeJob"]
    );
}
