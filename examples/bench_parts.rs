//! Benchmark (not a test): a realistic mix of whole products — each with custom topic
//! categories and a server-side subscription to one consumer group, one in five with a
//! data-parsing script — from `kubectl apply` to all Ready, against the platform's floor
//! (CreateProductTopic: one call per second per account, times the emulator's quota scale).
//! Reports when every product was Available (its Secret written) and when every one was
//! Ready, with the topics' progress in between. Run through `scripts/bench-parts.sh`.
//!
//! Arguments: number of products, topics per product, the emulator's quota scale.

use std::time::{Duration, Instant};

use iot_product_operator::crd::{IotConsumerGroup, IotProduct};
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

const SCRIPT: &str = "function rawDataToProtocol(bytes) { return {method: 'thing.event.property.post', params: {}}; }\nfunction protocolToRawData(json) { return []; }";

fn condition(product: &IotProduct, type_: &str) -> bool {
    product.status.as_ref().is_some_and(|s| {
        s.observed_generation == product.metadata.generation
            && s.conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    let topics: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let scale: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let client = Client::try_default().await.expect("kubeconfig");
    let groups: Api<IotConsumerGroup> = Api::namespaced(client.clone(), "default");
    let products: Api<IotProduct> = Api::namespaced(client, "default");

    let group: IotConsumerGroup = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotConsumerGroup",
        "metadata": {"name": "billing"}, "spec": {"groupName": "billing_backend"}
    }))
    .unwrap();
    groups.create(&PostParams::default(), &group).await.expect("create the consumer group");
    loop {
        let g = groups.get("billing").await.unwrap();
        if g.status.and_then(|s| s.group_id).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let start = Instant::now();
    for i in 0..n {
        let names = ["telemetry", "events", "config/+"];
        let topic_list: Vec<_> = (0..topics)
            .map(|t| {
                let name = if t < names.len() { names[t].to_string() } else { format!("extra_{t}") };
                let operation = if name.contains('+') { "SUB" } else { "PUB" };
                json!({"name": name, "operation": operation})
            })
            .collect();
        let mut spec = json!({
            "productName": format!("Mix_{i:05}"),
            "topics": topic_list,
            "subscription": {"consumerGroups": ["billing"], "messages": ["DeviceData", "DeviceStatusChange"]},
        });
        if i % 5 == 0 {
            spec["dataFormat"] = json!("Custom");
            spec["dataParsing"] = json!({"language": "JavaScript", "script": SCRIPT});
        }
        let product: IotProduct = serde_json::from_value(json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotProduct",
            "metadata": {"name": format!("mix-{i:05}")}, "spec": spec
        }))
        .unwrap();
        products.create(&PostParams::default(), &product).await.expect("create");
    }
    let applied = start.elapsed();
    let floor = (n * topics) as f64 / scale;
    println!(
        "applied {n} products ({topics} topics each, a subscription each, {} with a script) in {:.1} s; \
         the platform's floor for their topics: {floor:.0} s (CreateProductTopic {scale}/s)",
        n.div_ceil(5),
        applied.as_secs_f64()
    );
    let mut all_available = None;
    let mut next_report = 0.0;
    loop {
        let list = products.list(&ListParams::default()).await.expect("list");
        let available = list.items.iter().filter(|p| condition(p, "Available")).count();
        let ready = list.items.iter().filter(|p| condition(p, "Ready")).count();
        let applied_topics: i64 = list
            .items
            .iter()
            .filter_map(|p| p.status.as_ref()?.topics.as_ref().map(|t| i64::from(t.applied)))
            .sum();
        let elapsed = start.elapsed().as_secs_f64();
        if all_available.is_none() && available == n {
            all_available = Some(elapsed);
            println!("all {n} products Available (Secrets written) after {elapsed:.1} s");
        }
        if elapsed >= next_report {
            println!(
                "{elapsed:>7.1} s: {available} Available, {ready} Ready, {applied_topics} of {} topics applied",
                n * topics
            );
            next_report += (floor / 10.0).max(5.0);
        }
        if ready == n {
            println!(
                "all {n} products Ready after {elapsed:.1} s ({:.2} × the floor of {floor:.0} s); Available after {:.1} s",
                elapsed / floor,
                all_available.unwrap_or(elapsed)
            );
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
