//! What the chart ships for watching the operator: the alerts pass `promtool test rules`
//! (promtool built from its Go module), the dashboard is what Grafana's foundation SDK
//! generates, and every metric a dashboard panel or an alert queries is in a live scrape
//! of the operator (with the resource gauges telling Ready from Reconciling and Stalled).

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{DEADLINE, apply, control_plane, eventually, root, wait_condition};
use iot_platform_emulator::faults::Faults;
use iot_product_operator::crd::ProductDistribution;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

fn tool(name: &str) -> std::path::PathBuf {
    control_plane().bin_dir.parent().unwrap().join(name)
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e} (built by scripts/envtest.sh build)"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_alerts_pass_promtools_checks_and_unit_tests() {
    let rules = root().join("charts/iot-product-operator/files/alerts.yaml");
    let checked = run(Command::new(tool("promtool")).arg("check").arg("rules").arg(&rules));
    assert!(checked.contains("SUCCESS: 8 rules found"), "{checked}");
    let tested = run(Command::new(tool("promtool"))
        .args(["test", "rules"])
        .arg(root().join("tests/alerts/alerts.test.yaml")));
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn the_dashboard_is_what_the_foundation_sdk_generates() {
    let generated = run(&mut Command::new(tool("dashboard")));
    let shipped =
        std::fs::read_to_string(root().join("charts/iot-product-operator/files/dashboard.json")).unwrap();
    assert!(
        generated == shipped,
        "charts/iot-product-operator/files/dashboard.json is stale: regenerate it with \
         `target/envtest/bin/dashboard > charts/iot-product-operator/files/dashboard.json`"
    );
    let dashboard: Value = serde_json::from_str(&shipped).unwrap();
    assert_eq!(dashboard["uid"], "iot-product-operator");
    assert!(panels(&dashboard).len() >= 12, "{} panels", panels(&dashboard).len());
}

/// The panels of a dashboard (rows are panels too; their own panels when collapsed).
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] != "row" {
            out.push(panel);
        }
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

/// The metric families a PromQL expression names (`iotop_…`, without histogram suffixes).
fn metrics_in(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("iotop_") {
        let name: String =
            rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        rest = &rest[at + name.len()..];
        let family = ["_bucket", "_count", "_sum"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name);
        out.insert(family.to_string());
    }
    out
}

/// Every expression of the dashboard (panels' targets, variables' queries) and the alerts.
fn queried_metrics() -> BTreeSet<String> {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("charts/iot-product-operator/files/dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut names = BTreeSet::new();
    for panel in panels(&dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            names.extend(metrics_in(target["expr"].as_str().unwrap_or_default()));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        names.extend(metrics_in(&variable["query"].to_string()));
    }
    let alerts: Value = serde_norway::from_str(
        &std::fs::read_to_string(root().join("charts/iot-product-operator/files/alerts.yaml")).unwrap(),
    )
    .unwrap();
    for group in alerts["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            names.extend(metrics_in(rule["expr"].as_str().unwrap()));
        }
    }
    names
}

#[tokio::test]
async fn every_metric_the_dashboard_and_the_alerts_query_is_exported() {
    let env = common::env("observability").await;
    // The first creates are throttled (a throttled-calls series), then go through.
    let now_ms = i64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis(),
    )
    .unwrap();
    env.emulator.emulator.set_faults(Faults {
        throttle_until_ms: Some(now_ms + 1_500),
        throttle_actions: vec!["CreateProduct".into()],
        ..Faults::default()
    });
    apply(&env, "lamp", json!({"productName": "Lamp_Watched"})).await;
    wait_condition(&env, "lamp", "Ready", "True", None).await;
    // A distribution that keeps its job record holds one of the account's task slots.
    let distributions: Api<ProductDistribution> = Api::namespaced(env.client.clone(), &env.ns);
    let pd: ProductDistribution = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "ProductDistribution",
        "metadata": {"name": "to-prod"},
        "spec": {"productRef": {"name": "lamp"}, "jobRecordPolicy": "Keep",
                 "target": {"instanceId": "iot-cn-prod0001", "uid": common::ACCOUNT_UID}}
    }))
    .unwrap();
    distributions.create(&PostParams::default(), &pd).await.unwrap();
    apply(&env, "stuck", json!({"productName": "Lamp_Watched"})).await;
    wait_condition(&env, "stuck", "Ready", "False", Some("NameConflict")).await;
    let account = common::account_name(&env.ns);
    // A consumer group: its backlog and clients gauges.
    let group: iot_product_operator::crd::IotConsumerGroup = serde_json::from_value(json!({
        "apiVersion": "iot.productoperator.dev/v1alpha1", "kind": "IotConsumerGroup",
        "metadata": {"name": "billing"},
        "spec": {"groupName": "billing_backend", "accountRef": {"name": account}}
    }))
    .unwrap();
    Api::<iot_product_operator::crd::IotConsumerGroup>::namespaced(env.client.clone(), &env.ns)
        .create(&PostParams::default(), &group)
        .await
        .unwrap();
    let port = {
        let log = env.operator.logs();
        log.lines()
            .find(|l| l.contains("serving /metrics"))
            .and_then(|l| l.split("127.0.0.1:").nth(1))
            .and_then(|rest| {
                rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u16>().ok()
            })
            .expect("the metrics port in the log")
    };
    // Each line as it starts in the exposition (a name conflict reads NameConflict or, once
    // the other product is seen as its owner's, ManagedElsewhere: either is Stalled).
    let wanted = [
        r#"iotop_resources{kind="IotProduct",status="Ready",reason="Available"} 1"#.to_string(),
        r#"iotop_resources{kind="IotProduct",status="Stalled",reason="#.to_string(),
        r#"iotop_resources{kind="PlatformAccount",status="Ready",reason="CredentialsValid"} 1"#.to_string(),
        r#"iotop_resources{kind="ProductDistribution",status="Ready",reason="Distributed"} 1"#.to_string(),
        r#"iotop_distributions{state="Completed"} 1"#.to_string(),
        format!(r#"iotop_distribution_tasks_held{{account="{account}"}} 1"#),
        format!(r#"iotop_account_ready{{account="{account}"}} 1"#),
        format!(
            r#"iotop_platform_calls_total{{account="{account}",action="CreateProduct",code="Success"}} 1"#
        ),
        format!(
            r#"iotop_platform_calls_total{{account="{account}",action="CreateProduct",code="Throttling.User"}}"#
        ),
        format!(r#"iotop_platform_throttled_total{{account="{account}",action="CreateProduct"}}"#),
        format!(r#"iotop_consumer_group_backlog{{namespace="{}",name="billing"}} 0"#, env.ns),
        format!(r#"iotop_consumer_group_clients{{namespace="{}",name="billing"}} 0"#, env.ns),
    ];
    let text = eventually("the resource gauges", DEADLINE, || async {
        let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        match wanted.iter().find(|w| !text.contains(w.as_str())) {
            None => Ok(text),
            Some(missing) => Err(format!("no {missing} in\n{text}")),
        }
    })
    .await;
    let exported: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect();
    let missing: Vec<String> = queried_metrics().into_iter().filter(|m| !exported.contains(m)).collect();
    assert!(missing.is_empty(), "queried but not exported: {missing:?}\nexported: {exported:?}");
}
