//! `iot-product-operator import` end to end (issue 30): products made on the platform outside
//! Kubernetes → `import` → `kubectl apply` of the directory → every product adopted with no
//! platform write but the ownership tags → `plan --cluster` on the same directory changes
//! nothing → a second import changes no file.

mod common;

use std::path::Path;

use common::{ACCESS_KEY_ID, ACCESS_KEY_SECRET, DEADLINE, Env, control_plane, env, eventually};
use iot_platform::IotPlatform;
use iot_platform::model::{
    CreateProduct, CreateProductTags, ImportThingModelTsl, PublishThingModel, ReleaseProduct,
};
use iot_platform::wire::Tag;

const TSL: &str = r#"{"properties":[{"identifier":"Power","name":"Power","accessMode":"rw","dataType":{"type":"bool","specs":{"0":"off","1":"on"}}},
    {"identifier":"Brightness","name":"Brightness","accessMode":"rw","dataType":{"type":"int","specs":{"min":"0","max":"100","step":"1","unit":"%"}}}],
    "events":[{"identifier":"Overheat","name":"Overheat","type":"alert","outputData":[{"identifier":"Temp","name":"Temp","dataType":{"type":"float","specs":{"min":"-40","max":"120"}}}]}],
    "services":[{"identifier":"Blink","name":"Blink","callType":"async","inputData":[{"identifier":"Times","name":"Times","dataType":{"type":"int","specs":{"min":"1","max":"10"}}}],"outputData":[]}]}"#;

async fn make(
    platform: &dyn IotPlatform,
    name: &str,
    pro: bool,
    tags: &[(&str, &str)],
    published: bool,
) -> String {
    let created = platform
        .call(&CreateProduct {
            product_name: name.into(),
            node_type: 0,
            aliyun_commodity_code: Some(if pro { "iothub_senior" } else { "iothub" }.into()),
            data_format: pro.then_some(1),
            description: Some(format!("{name}, made in the console")),
            ..CreateProduct::default()
        })
        .await
        .unwrap();
    let key = created.product_key.or(created.data.map(|d| d.product_key)).unwrap();
    if !tags.is_empty() {
        let product_tag =
            tags.iter().map(|(k, v)| Tag { tag_key: (*k).into(), tag_value: (*v).into() }).collect();
        platform
            .call(&CreateProductTags { product_key: key.clone(), product_tag, ..Default::default() })
            .await
            .unwrap();
    }
    if pro {
        platform
            .call(&ImportThingModelTsl {
                product_key: key.clone(),
                tsl_str: Some(TSL.into()),
                ..Default::default()
            })
            .await
            .unwrap();
        platform.call(&PublishThingModel { product_key: key.clone(), ..Default::default() }).await.unwrap();
    }
    if published {
        platform.call(&ReleaseProduct { product_key: key.clone(), ..Default::default() }).await.unwrap();
    }
    key
}

/// Calls that change the platform, by action.
fn writes(env: &Env) -> Vec<(String, u64)> {
    env.emulator
        .emulator
        .stats()
        .calls
        .iter()
        .filter(|(action, _)| !iot_platform::read_only::is_read(action))
        .map(|(action, c)| (action.clone(), c.values().sum()))
        .collect()
}

async fn import(env: &Env, dir: &Path) -> (bool, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_iot-product-operator"))
        .args(["import", "--account", &common::account_name(&env.ns), "--namespace", &env.ns, "--output"])
        .arg(dir)
        .args(["--allow-endpoint", "http://127.0.0.1:*"])
        .env("KUBECONFIG", &control_plane().kubeconfig)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .env("IOTOP_LOG_LEVEL", "error")
        .output()
        .await
        .unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn imported_products_are_adopted_without_a_change_and_a_second_import_changes_no_file() {
    let env = env("import").await;
    let platform = env.emulator.client();
    let lamp = make(platform.as_ref(), "Import_Lamp", true, &[("team", "lighting")], true).await;
    let chinese = make(platform.as_ref(), "智能网关_导入", true, &[], false).await;
    let basic =
        make(platform.as_ref(), "Basic_Sensor_01", false, &[("site", "north"), ("tier", "2")], false).await;
    let held =
        make(platform.as_ref(), "Held_Elsewhere", false, &[("iotop.owner", "another-uid")], false).await;
    let dir = tempfile::tempdir().unwrap();

    let (ok, stderr) = import(&env, dir.path()).await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("imported 3 of 4 products"), "{stderr}");
    assert!(
        stderr.contains(&format!("skipped {held}")),
        "the managed product is skipped with a note: {stderr}"
    );
    let written = files(dir.path());
    let names: Vec<&str> = written.iter().map(|(n, _)| n.as_str()).collect();
    let lower = |k: &str| k.to_ascii_lowercase();
    for expected in [
        format!("import-lamp-{}.yaml", lower(&lamp)),
        format!("product-{}.yaml", lower(&chinese)),
        format!("basic-sensor-01-{}.yaml", lower(&basic)),
        "kustomization.yaml".to_string(),
    ] {
        assert!(names.contains(&expected.as_str()), "{expected} in {names:?}");
    }
    let lamp_file = &written.iter().find(|(n, _)| n.starts_with("import-lamp")).unwrap().1;
    assert!(
        lamp_file.contains("identifier: Brightness") && !lamp_file.contains("tsl:"),
        "structured: {lamp_file}"
    );
    assert!(!written.iter().any(|(_, text)| text.contains("iotop.")), "no operator marks imported");

    // A second import into the same directory changes no file (stable order and formatting).
    let (ok, stderr) = import(&env, dir.path()).await;
    assert!(ok, "{stderr}");
    assert_eq!(files(dir.path()), written, "a second import changes nothing");

    // Apply the directory: every product is adopted, nothing changed but the marks.
    let before = writes(&env);
    control_plane().kubectl(&["apply", "-k", &dir.path().display().to_string()]);
    eventually("every imported product Ready", DEADLINE, || async {
        let list = env.products.list(&Default::default()).await.map_err(|e| e.to_string())?;
        let ready = list
            .items
            .iter()
            .filter(|p| common::condition(p, "Ready").is_some_and(|(s, _, _)| s == "True"))
            .count();
        if list.items.len() == 3 && ready == 3 {
            Ok(())
        } else {
            Err(format!("{ready} of {} Ready", list.items.len()))
        }
    })
    .await;
    let after = writes(&env);
    let new: Vec<(String, u64)> = after
        .iter()
        .map(|(a, n)| (a.clone(), n - before.iter().find(|(b, _)| b == a).map_or(0, |(_, m)| *m)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(
        new.iter().all(|(a, _)| a == "CreateProductTags"),
        "only the ownership marks were written: {new:?}"
    );
    for product in env.emulator.products().iter().filter(|p| p.product_key != held) {
        assert!(product.tags.contains_key("iotop.owner"), "{} adopted", product.product_name);
    }

    // plan --cluster on the same directory: nothing to do.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_iot-product-operator"))
        .args(["plan", "--cluster", "-f"])
        .arg(dir.path())
        .args(["--allow-endpoint", "http://127.0.0.1:*"])
        .env("KUBECONFIG", &control_plane().kubeconfig)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .env("IOTOP_LOG_LEVEL", "error")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("0 to create, 0 to change, 0 to delete, 3 unchanged"), "{text}");
    assert_eq!(output.status.code(), Some(0), "{text}");

    // Importing again now skips the adopted products (this cluster manages them) and leaves
    // their files and the kustomization as they are.
    let (ok, stderr) = import(&env, dir.path()).await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("imported 0 of 4 products"), "{stderr}");
    assert_eq!(files(dir.path()), written, "adopted products keep their files");
}
