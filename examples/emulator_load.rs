//! Benchmark (not a test): how many signed requests per second the emulator sustains, and
//! what signing one request costs.
//!
//! ```sh
//! scripts/bench-emulator.sh        # emulator pinned to one core, load from the other
//! cargo run --release --example emulator_load -- http://127.0.0.1:18080 10 64 v3
//! ```
//! Arguments: emulator URL, seconds, concurrent connections, signature (v1|v3).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use iot_platform::http::{Endpoints, HttpPlatform, http_client};
use iot_platform::model::{CreateProduct, QueryProduct};
use iot_platform::ratelimit::AccountLimiter;
use iot_platform::sign::{RpcRequest, SigningContext, acs3, rpc_v1};
use iot_platform::{Credentials, IotPlatform};
use iot_product_operator::crd::platform_account::SignatureVersion;

fn signing_cost() {
    let creds = Credentials::new("LTAI5tBenchKey", "bench-secret", None);
    let params: Vec<(String, String)> = vec![
        ("ProductName".into(), "Bench_Lamp_01".into()),
        ("NodeType".into(), "0".into()),
        ("AliyunCommodityCode".into(), "iothub_senior".into()),
        ("DataFormat".into(), "1".into()),
        ("Description".into(), "a product used to measure signing".into()),
    ];
    let request = RpcRequest {
        method: "POST",
        host: "iot.cn-shanghai.aliyuncs.com",
        action: "CreateProduct",
        version: "2018-01-20",
        region: "cn-shanghai",
        params: &params,
        body: b"",
    };
    let n = 200_000;
    for (name, scheme) in [("rpc v1 (HMAC-SHA1)", 1), ("acs3 (HMAC-SHA256)", 3)] {
        let start = Instant::now();
        let mut total = 0usize;
        for i in 0..n {
            let ctx =
                SigningContext { timestamp: "2024-01-01T00:00:00Z".into(), nonce: format!("nonce-{i}") };
            total += if scheme == 1 {
                rpc_v1::sign(&request, &creds, &ctx).len()
            } else {
                acs3::sign(&request, &creds, &ctx).len()
            };
        }
        let per = start.elapsed() / n;
        println!("signing, {name}: {per:?} per request ({n} requests, {total} parts)");
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:18080".into());
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let connections: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);
    let signature = if args.get(4).map(String::as_str) == Some("v1") {
        SignatureVersion::V1
    } else {
        SignatureVersion::V3
    };
    signing_cost();

    // One client per connection, each with a limiter far above the documented QPS: this
    // measures the emulator, which must run with --no-rate-limit.
    let make = || -> Arc<dyn IotPlatform> {
        Arc::new(HttpPlatform::new(
            http_client(),
            Endpoints::resolve(
                &iot_platform::endpoint_policy::EndpointPolicy::new(["http://127.0.0.1:*"]).unwrap(),
                "cn-shanghai",
                Some(&url),
                None,
            )
            .unwrap(),
            Credentials::new("bench", "bench-secret", None),
            signature,
            Arc::new(AccountLimiter::new(10_000.0)),
        ))
    };
    let setup = make();
    let key = setup
        .call(&CreateProduct {
            product_name: format!("Bench_{}", std::process::id()),
            node_type: 0,
            ..CreateProduct::default()
        })
        .await
        .expect("create a product to query")
        .product_key
        .expect("key");
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = make();
        let key = key.clone();
        let (done, failed) = (done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let start = Instant::now();
                match client.call(&QueryProduct { product_key: key.clone(), iot_instance_id: None }).await {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
                latencies.push(start.elapsed());
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let ok = done.load(Ordering::Relaxed);
    println!(
        "emulator: {:.0} requests/s over {seconds}s with {connections} connections ({signature:?} signatures verified), \
         {} failed, latency p50 {:?} p99 {:?}",
        ok as f64 / seconds as f64,
        failed.load(Ordering::Relaxed),
        pct(0.5),
        pct(0.99)
    );
}
