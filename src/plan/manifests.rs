//! Reading manifests: files, directories (their `*.yaml`, `*.yml`, `*.json`, sorted) or
//! stdin, each a stream of YAML documents (`kubectl`'s `List` kind is unwrapped). Objects of
//! other kinds are skipped; the operator's kinds are kept, in order, and Namespaces' labels (the
//! accounts select namespaces by label).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_json::Value;

use crate::crd::validate::{Validator, describe};
use crate::crd::{IotProduct, PlatformAccount, ProductDistribution};

/// The group of the operator's kinds.
const GROUP: &str = "iot.productoperator.dev/";

/// Why the manifests could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A document is not YAML, or not a valid object of its kind.
    #[error("{path}: document {index}: {message}")]
    Invalid {
        /// The path.
        path: String,
        /// Which document (1-based).
        index: usize,
        /// Why.
        message: String,
    },
}

/// The operator's objects found in the manifests.
#[derive(Debug, Default)]
pub struct Objects {
    /// PlatformAccounts.
    pub accounts: Vec<PlatformAccount>,
    /// IotProducts (namespaced: the namespace defaulted).
    pub products: Vec<IotProduct>,
    /// ProductDistributions (likewise).
    pub distributions: Vec<ProductDistribution>,
    /// IotConsumerGroups (likewise).
    pub consumer_groups: Vec<crate::crd::IotConsumerGroup>,
    /// Namespaces' labels (`kind: Namespace`), for the accounts' namespace selectors.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// What the API server would refuse in each manifest, as it would say it, checked here
    /// against the CRDs' own schemas and CEL rules ([`crate::crd::validate`]); by (kind,
    /// namespace, name).
    pub refused: BTreeMap<(&'static str, String, String), String>,
    /// The refused manifests that are not even objects of their kind (a wrong type): they are
    /// in `refused` and in none of the lists above.
    pub unreadable: Vec<(&'static str, String, String)>,
}

fn files_of(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let read = |e| ManifestError::Read { path: path.display().to_string(), source: e };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(read)? {
        let entry = entry.map_err(read)?.path();
        if entry.is_dir() {
            files.extend(files_of(&entry)?);
        } else if entry.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json") {
            files.push(entry);
        }
    }
    files.sort();
    Ok(files)
}

fn text_of(path: &Path) -> Result<String, ManifestError> {
    let read = |e| ManifestError::Read { path: path.display().to_string(), source: e };
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(read)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(read)
    }
}

/// Reads the manifests at `paths`; namespaced objects without a namespace get `namespace`.
///
/// # Errors
/// [`ManifestError`] when a path cannot be read or a document of the operator's kinds is
/// invalid.
pub fn read(paths: &[PathBuf], namespace: &str) -> Result<Objects, ManifestError> {
    let mut objects = Objects::default();
    let validator = Validator::new();
    for path in paths {
        for file in files_of(path)? {
            let shown = if file == Path::new("-") { "stdin".to_string() } else { file.display().to_string() };
            let text = text_of(&file)?;
            for (index, document) in serde_norway::Deserializer::from_str(&text).enumerate() {
                let invalid = |message: String| ManifestError::Invalid {
                    path: shown.clone(),
                    index: index + 1,
                    message,
                };
                let value = Value::deserialize(document).map_err(|e| invalid(e.to_string()))?;
                let items = match value.get("kind").and_then(Value::as_str) {
                    Some("List") => value.get("items").and_then(Value::as_array).cloned().unwrap_or_default(),
                    _ => vec![value],
                };
                for item in items {
                    add(&mut objects, &validator, item, namespace).map_err(invalid)?;
                }
            }
        }
    }
    Ok(objects)
}

fn add(objects: &mut Objects, validator: &Validator, mut item: Value, namespace: &str) -> Result<(), String> {
    let api_version = item.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if api_version == "v1" && item.get("kind").and_then(Value::as_str) == Some("Namespace") {
        let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let labels = item.pointer("/metadata/labels").cloned().unwrap_or(Value::Null);
        let labels: BTreeMap<String, String> = serde_json::from_value(labels).unwrap_or_default();
        objects.namespaces.insert(name, labels);
        return Ok(());
    }
    if !api_version.starts_with(GROUP) {
        return Ok(());
    }
    let kind: &'static str = match item.get("kind").and_then(Value::as_str).unwrap_or_default() {
        "PlatformAccount" => "PlatformAccount",
        "IotProduct" => "IotProduct",
        "ProductDistribution" => "ProductDistribution",
        "IotConsumerGroup" => "IotConsumerGroup",
        _ => return Ok(()),
    };
    let namespaced = kind != "PlatformAccount";
    if namespaced && item.pointer("/metadata/namespace").is_none_or(Value::is_null) {
        item["metadata"]["namespace"] = Value::String(namespace.to_string());
    }
    let key = (
        kind,
        if namespaced {
            item.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default()
        } else {
            ""
        }
        .to_string(),
        item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string(),
    );
    let refusal = validator.validate(&mut item.clone()).err().map(|refusals| {
        // As the API server begins its refusal.
        format!("{kind}.{} {:?} is invalid: {}", GROUP.trim_end_matches('/'), key.2, describe(&refusals))
    });
    let what = |e: serde_json::Error| format!("not a valid {kind}: {e}");
    let parsed = match kind {
        "PlatformAccount" => serde_json::from_value(item).map(|a| objects.accounts.push(a)),
        "IotProduct" => serde_json::from_value(item).map(|p| objects.products.push(p)),
        "ProductDistribution" => serde_json::from_value(item).map(|d| objects.distributions.push(d)),
        _ => serde_json::from_value(item).map(|g| objects.consumer_groups.push(g)),
    };
    match (parsed, refusal) {
        (Ok(()), None) => {}
        (Ok(()), Some(refusal)) => {
            objects.refused.insert(key, refusal);
        }
        (Err(_), Some(refusal)) => {
            objects.refused.insert(key.clone(), refusal);
            objects.unreadable.push(key);
        }
        (Err(e), None) => return Err(what(e)),
    }
    Ok(())
}
