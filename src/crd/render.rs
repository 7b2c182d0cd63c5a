//! Renders the CustomResourceDefinitions as YAML: used by the `crds` subcommand and by the
//! test that fails when the checked-in `crds/` directory is stale.
//!
//! No I/O happens here; the caller writes the files.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use super::{IotConsumerGroup, IotProduct, PlatformAccount, ProductDistribution};

/// Every CRD this operator serves, in a stable order, with descriptions as paragraphs.
#[must_use]
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    [PlatformAccount::crd(), IotProduct::crd(), ProductDistribution::crd(), IotConsumerGroup::crd()]
        .into_iter()
        .map(unwrapped)
        .collect()
}

/// The CRD with every description's hard-wrapped lines joined (see [`unwrap_text`]), so that
/// `kubectl explain` wraps them to the reader's terminal.
fn unwrapped(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let mut value = serde_json::to_value(&crd).expect("a CRD serialises");
    unwrap_descriptions(&mut value);
    kubernetes_formats(&mut value);
    default_status(&mut value);
    serde_json::from_value(value).expect("only descriptions and a default changed")
}

/// Gives `status` the default `{observedGeneration: 0}`. The API server applies it whenever
/// it reads an object that has no status yet, so from the moment a resource is applied
/// kstatus (Flux) reads "generation 1, observed 0": in progress, not `Current`, before the
/// operator has looked at it.
fn default_status(crd: &mut serde_json::Value) {
    let Some(versions) = crd.pointer_mut("/spec/versions").and_then(|v| v.as_array_mut()) else { return };
    for version in versions {
        if let Some(status) = version.pointer_mut("/schema/openAPIV3Schema/properties/status")
            && let Some(status) = status.as_object_mut()
        {
            status.insert("default".into(), serde_json::json!({"observedGeneration": 0}));
        }
    }
}

/// The formats the API server knows (`k8s.io/apiextensions-apiserver`'s supported formats);
/// any other draws `Warning: unrecognized format` on every `kubectl apply`.
pub const KUBERNETES_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "date-time",
    "int32",
    "int64",
    "float",
    "double",
];

/// Replaces the unsigned formats schemars writes (`uint8`, `uint16`, `uint32`, …), which the
/// API server does not know, by the bounds they stand for (`minimum: 0` and the type's
/// maximum, unless the field has narrower ones).
fn kubernetes_formats(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let unsigned_max = match map.get("format").and_then(serde_json::Value::as_str) {
                Some("uint8") => Some(u64::from(u8::MAX)),
                Some("uint16") => Some(u64::from(u16::MAX)),
                Some("uint32") => Some(u64::from(u32::MAX)),
                Some("uint64" | "uint") => Some(i64::MAX as u64),
                _ => None,
            };
            if let Some(max) = unsigned_max
                && map.get("type").and_then(serde_json::Value::as_str) == Some("integer")
            {
                map.remove("format");
                map.entry("minimum").or_insert(serde_json::json!(0));
                map.entry("maximum").or_insert(serde_json::json!(max));
            }
            map.values_mut().for_each(kubernetes_formats);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(kubernetes_formats),
        _ => {}
    }
}

fn unwrap_descriptions(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                match inner {
                    serde_json::Value::String(text) if key == "description" => *text = unwrap_text(text),
                    other => unwrap_descriptions(other),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// Joins the lines of each paragraph with spaces; blank lines stay paragraph breaks, and a
/// line starting a list item (`- `) or a table row (`|`) stays on a line of its own.
#[must_use]
pub fn unwrap_text(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            let mut out = String::new();
            for line in paragraph.lines().map(str::trim_end) {
                if out.is_empty() {
                    out.push_str(line);
                } else if line.trim_start().starts_with("- ") || line.trim_start().starts_with('|') {
                    out.push('\n');
                    out.push_str(line);
                } else {
                    out.push(' ');
                    out.push_str(line.trim_start());
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// One rendered file: its name inside `crds/` and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// File name, for example `iotproducts.iot.productoperator.dev.yaml`.
    pub name: String,
    /// YAML contents.
    pub contents: String,
}

const HEADER: &str = "# Generated by `iot-product-operator crds`; do not edit by hand.\n";

/// The files of the `crds/` directory: one YAML file per CRD plus a `kustomization.yaml`
/// listing them (which `config/crd` and the Helm chart build on).
///
/// # Errors
/// Fails only if a CRD cannot be serialised to YAML, which would be a bug.
pub fn crd_files() -> Result<Vec<RenderedFile>, serde_norway::Error> {
    let mut files = Vec::new();
    let mut names = Vec::new();
    for crd in all_crds() {
        let name = format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or_default());
        let contents = format!("{HEADER}{}", serde_norway::to_string(&crd)?);
        names.push(name.clone());
        files.push(RenderedFile { name, contents });
    }
    let mut kustomization = String::from(HEADER);
    kustomization.push_str("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n");
    for name in &names {
        kustomization.push_str(&format!("- {name}\n"));
    }
    files.push(RenderedFile { name: "kustomization.yaml".into(), contents: kustomization });
    Ok(files)
}

/// All CRDs as one multi-document YAML stream.
///
/// # Errors
/// Fails only if a CRD cannot be serialised to YAML.
pub fn crds_yaml() -> Result<String, serde_norway::Error> {
    let mut out = String::new();
    for crd in all_crds() {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(&crd)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_paragraphs_not_hard_wrapped_lines() {
        assert_eq!(
            unwrap_text("one line\nwraps here\n\nsecond\n- item\n- item"),
            "one line wraps here\n\nsecond\n- item\n- item"
        );
        let yaml = crds_yaml().unwrap();
        for crd in all_crds() {
            let text = serde_json::to_string(&crd).unwrap();
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            let mut descriptions = Vec::new();
            collect_descriptions(&value, &mut descriptions);
            assert!(descriptions.len() > 20);
            for d in descriptions {
                for (i, _) in d.match_indices('\n') {
                    let before = &d[..i];
                    let after = &d[i + 1..];
                    let paragraph = before.ends_with('\n') || after.starts_with('\n');
                    let list = after.trim_start().starts_with("- ") || after.trim_start().starts_with('|');
                    assert!(paragraph || list, "a hard line break in {d:?}");
                }
            }
        }
        assert!(yaml.contains("kind: CustomResourceDefinition"));
    }

    fn collect_descriptions(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    if let (true, Some(text)) = (key == "description", inner.as_str()) {
                        out.push(text.to_string());
                    } else {
                        collect_descriptions(inner, out);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| collect_descriptions(i, out)),
            _ => {}
        }
    }

    #[test]
    fn every_crd_has_a_status_subresource_and_printer_columns() {
        for crd in all_crds() {
            let version = &crd.spec.versions[0];
            assert!(version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some());
            let columns = version.additional_printer_columns.as_ref().expect("printer columns");
            assert!(columns.iter().any(|c| c.name == "Ready"), "{:?}", crd.metadata.name);
        }
    }

    #[test]
    fn checked_in_crds_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
        for file in crd_files().expect("render") {
            let on_disk = std::fs::read_to_string(dir.join(&file.name)).unwrap_or_default();
            assert!(
                on_disk == file.contents,
                "crds/{} is stale: run `cargo run -- crds --out crds` and commit the result",
                file.name
            );
        }
    }

    #[test]
    fn the_product_name_rules_use_the_platform_crates_ideograph_ranges() {
        let crd = serde_json::to_value(IotProduct::crd()).unwrap();
        let rules = crd
            .pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/productName/x-kubernetes-validations")
            .and_then(|v| v.as_array())
            .expect("productName has rules");
        let class = iot_platform::names::cel_ideograph_class();
        assert_eq!(rules.len(), 2);
        for rule in rules {
            let text = rule["rule"].as_str().unwrap();
            assert!(text.contains(&class), "{text} does not use {class}");
        }
    }

    #[test]
    fn every_status_defaults_to_generation_zero_observed() {
        for crd in all_crds() {
            let value = serde_json::to_value(&crd).unwrap();
            let default = value.pointer("/spec/versions/0/schema/openAPIV3Schema/properties/status/default");
            assert_eq!(
                default,
                Some(&serde_json::json!({"observedGeneration": 0})),
                "{:?}",
                crd.metadata.name
            );
        }
    }
}

/// Why the CRDs could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Rendering as YAML failed.
    #[error("cannot render the CRDs as YAML")]
    Render(#[from] serde_norway::Error),
    /// A directory or file could not be written.
    #[error("cannot write {}", path.display())]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Writes one file per CRD (plus a kustomization.yaml) into `dir`.
///
/// # Errors
/// [`WriteError`] naming the path that could not be written.
pub fn write_files(dir: &std::path::Path) -> Result<(), WriteError> {
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| WriteError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for file in crd_files()? {
        let path = dir.join(&file.name);
        std::fs::write(&path, file.contents).map_err(io(&path))?;
    }
    Ok(())
}

#[cfg(test)]
mod format_tests {
    use super::*;

    fn formats(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let (Some(serde_json::Value::String(format)), Some(_)) =
                    (map.get("format"), map.get("type"))
                {
                    out.push(format.clone());
                }
                map.values().for_each(|v| formats(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| formats(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_format_in_the_crds_is_one_the_api_server_knows() {
        for crd in all_crds() {
            let mut found = Vec::new();
            formats(&serde_json::to_value(&crd).unwrap(), &mut found);
            let unknown: Vec<_> =
                found.iter().filter(|f| !KUBERNETES_FORMATS.contains(&f.as_str())).collect();
            assert!(unknown.is_empty(), "{}: {unknown:?}", crd.metadata.name.unwrap_or_default());
        }
    }
}
