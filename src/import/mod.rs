//! `iot-product-operator import`: writes IotProduct manifests for an account's existing
//! products, so a team can bring products made in the console under Git.
//!
//! It reads the account through the same read-only client as `plan` (every write refused
//! before it is sent; paced at half the documented quotas, the operator may be using the
//! account meanwhile), skips products another resource or cluster manages (their ownership
//! marks), and writes one manifest per product ([`manifest`]) — every file the same for the
//! same platform, so a second import into the same directory changes nothing — plus a
//! `kustomization.yaml` listing them, or one multi-document stream with `--output -`.

pub mod manifest;
pub mod names;

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use kube::api::Api;

use crate::crd::PlatformAccount;
use crate::plan::accounts::Clients;
use crate::plan::manifests;
use crate::product::desired::OWNER_TAG;
use crate::product::observe::product_page;
use crate::reconcile::tenancy;
use iot_platform::IotPlatform;
use iot_platform::endpoint_policy::{DEFAULT_PATTERNS, EndpointPolicy};
use iot_platform::model::{GetThingModelTsl, ListProductTags, ProductSummary, QueryProduct};
use manifest::{PlatformProduct, Target};

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The PlatformAccount whose products to import (its credentials and endpoint).
    #[arg(long, default_value = "default")]
    pub account: String,
    /// Files or directories holding the PlatformAccount manifest; without them the account
    /// is read from the cluster (kubeconfig or in-cluster).
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,
    /// Where to write: a directory (one file per product and a kustomization.yaml), or `-`
    /// for one multi-document YAML stream on stdout.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The namespace of the manifests.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// The instance to read (default: the account's).
    #[arg(long)]
    pub instance: Option<String>,
    /// Only these products (repeatable).
    #[arg(long = "product-key")]
    pub product_keys: Vec<String>,
    /// Only products carrying this tag, `key=value` (repeatable: all must match).
    #[arg(long = "tag", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Only products whose name starts with this.
    #[arg(long)]
    pub name_prefix: Option<String>,
    /// Also allow endpoints matching this pattern (as `run --allow-endpoint`).
    #[arg(long = "allow-endpoint", value_delimiter = ',')]
    pub allow_endpoints: Vec<String>,
    /// The OIDC token file for `oidc` accounts (default `ALIBABA_CLOUD_OIDC_TOKEN_FILE`).
    #[arg(long, env = "ALIBABA_CLOUD_OIDC_TOKEN_FILE")]
    pub oidc_token_file: Option<PathBuf>,
}

fn parse_tag(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{text:?} is not key=value"))
}

/// Why `import` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The manifests could not be read.
    #[error(transparent)]
    Manifests(#[from] manifests::ManifestError),
    /// An `--allow-endpoint` pattern is malformed.
    #[error("--allow-endpoint")]
    EndpointPattern(#[source] iot_platform::endpoint_policy::EndpointError),
    /// The account cannot be read or used.
    #[error("{0}")]
    Account(String),
    /// The platform could not be read.
    #[error("reading the platform")]
    Platform(#[source] iot_platform::PlatformError),
    /// The output could not be written.
    #[error("writing {path}")]
    Write {
        /// Where.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

async fn account_of(args: &ImportArgs) -> Result<PlatformAccount, ImportError> {
    if !args.files.is_empty() {
        let objects = manifests::read(&args.files, &args.namespace)?;
        return objects
            .accounts
            .into_iter()
            .find(|a| a.metadata.name.as_deref() == Some(args.account.as_str()))
            .ok_or_else(|| {
                ImportError::Account(format!("PlatformAccount {:?} is not among the manifests", args.account))
            });
    }
    let client = kube::Client::try_default().await.map_err(|e| {
        ImportError::Account(format!("no manifest given and the cluster cannot be reached: {e}"))
    })?;
    Api::<PlatformAccount>::all(client)
        .get(&args.account)
        .await
        .map_err(|e| ImportError::Account(format!("PlatformAccount {:?} cannot be read: {e}", args.account)))
}

async fn list(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
) -> Result<Vec<ProductSummary>, ImportError> {
    let mut out = Vec::new();
    for page in 1.. {
        let (products, last) = product_page(platform, instance, page).await.map_err(ImportError::Platform)?;
        out.extend(products);
        if last {
            break;
        }
    }
    Ok(out)
}

async fn read(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    key: &str,
) -> Result<PlatformProduct, ImportError> {
    let iot_instance_id = instance.map(str::to_string);
    let details = platform
        .call(&QueryProduct { iot_instance_id: iot_instance_id.clone(), product_key: key.to_string() })
        .await
        .map_err(ImportError::Platform)?
        .data
        .unwrap_or_default();
    let tags = platform
        .call(&ListProductTags { iot_instance_id: iot_instance_id.clone(), product_key: key.to_string() })
        .await
        .map_err(ImportError::Platform)?
        .data
        .unwrap_or_default()
        .product_tag
        .into_iter()
        .map(|t| (t.tag_key, t.tag_value))
        .collect();
    let tsl = if details.aliyun_commodity_code.as_deref() == Some("iothub_senior") {
        let request =
            GetThingModelTsl { iot_instance_id, product_key: key.to_string(), ..Default::default() };
        Some(platform.call(&request).await.map_err(ImportError::Platform)?.data.unwrap_or_default().tsl_str)
    } else {
        None
    };
    let topics = crate::product::observe::topics_of(platform, instance, key, true)
        .await
        .map_err(ImportError::Platform)?
        .unwrap_or_default();
    // Only a custom-format product has a script (the platform refuses one for Alink JSON).
    let script = if details.data_format == Some(0) {
        crate::product::observe::script_text(platform, instance, key).await.map_err(ImportError::Platform)?
    } else {
        None
    };
    Ok(PlatformProduct { details, tags, tsl, topics, script })
}

/// A file's text: its comments, then the manifest.
fn document(imported: &manifest::Imported) -> String {
    let mut text = String::new();
    for comment in &imported.comments {
        text.push_str(&format!("# {comment}\n"));
    }
    text.push_str(&serde_norway::to_string(&imported.manifest).expect("a manifest serialises"));
    text
}

/// Writes `contents` to `path` unless it holds exactly that already (a second import leaves
/// files, and their times, alone).
fn write_if_changed(path: &std::path::Path, contents: &str) -> Result<bool, ImportError> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(false);
    }
    std::fs::write(path, contents)
        .map_err(|source| ImportError::Write { path: path.display().to_string(), source })?;
    Ok(true)
}

/// The resources an earlier import listed in `path` (none when there is no such file).
fn earlier_resources(path: &std::path::Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let Ok(value) = serde_norway::from_str::<serde_json::Value>(&text) else { return Vec::new() };
    value["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str())
        .filter(|r| r.ends_with(".yaml") && !r.contains('/'))
        .map(str::to_string)
        .collect()
}

/// Runs `import`; returns its exit code (0, or 1 when a product could not be imported).
///
/// # Errors
/// [`ImportError`] when nothing could be imported at all.
pub async fn run(args: &ImportArgs) -> Result<u8, ImportError> {
    let patterns = DEFAULT_PATTERNS.iter().copied().chain(args.allow_endpoints.iter().map(String::as_str));
    let policy = EndpointPolicy::new(patterns).map_err(ImportError::EndpointPattern)?;
    let account = account_of(args).await?;
    let clients = Clients::new(std::slice::from_ref(&account), policy, args.oidc_token_file.clone());
    let (platform, _) = clients.get(&args.account).map_err(ImportError::Account)?;
    let instance = args.instance.clone().or_else(|| account.spec.instance_id.clone());
    let spec_instance = args.instance.as_deref().filter(|i| Some(*i) != account.spec.instance_id.as_deref());

    let listed = list(platform.as_ref(), instance.as_deref()).await?;
    let candidates: Vec<&ProductSummary> = listed
        .iter()
        .filter(|p| args.product_keys.is_empty() || args.product_keys.contains(&p.product_key))
        .filter(|p| args.name_prefix.as_deref().is_none_or(|prefix| p.product_name.starts_with(prefix)))
        .collect();
    let names =
        names::resource_names(candidates.iter().map(|p| (p.product_name.as_str(), p.product_key.as_str())));
    let progress = std::io::stderr().is_terminal();
    let mut imported = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut failed = Vec::new();
    for (i, summary) in candidates.iter().enumerate() {
        if progress {
            eprint!("\rimporting {}/{}", i + 1, candidates.len());
        }
        let product = read(platform.as_ref(), instance.as_deref(), &summary.product_key).await?;
        if !args.tags.iter().all(|(k, v)| product.tags.get(k) == Some(v)) {
            continue;
        }
        if product.tags.contains_key(OWNER_TAG) {
            skipped.push(format!(
                "{} ({}): another resource or cluster manages it (its {OWNER_TAG} tag)",
                summary.product_key, summary.product_name
            ));
            continue;
        }
        let name = &names[&summary.product_key];
        let target =
            Target { name, namespace: &args.namespace, account: &args.account, instance_id: spec_instance };
        match manifest::manifest(&product, &target) {
            Ok(done) => {
                imported.insert(name.clone(), document(&done));
            }
            Err(why) => failed.push(format!("{} ({}): {why}", summary.product_key, summary.product_name)),
        }
    }
    if progress {
        eprintln!();
    }
    if args.output.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        for text in imported.values() {
            let _ = write!(out, "---\n{text}");
        }
    } else {
        std::fs::create_dir_all(&args.output)
            .map_err(|source| ImportError::Write { path: args.output.display().to_string(), source })?;
        for (name, text) in &imported {
            write_if_changed(&args.output.join(format!("{name}.yaml")), text)?;
        }
        // The files this run wrote, and those an earlier run listed that are still there (a
        // product skipped now — adopted meanwhile, or filtered out — keeps its file).
        let listed = args.output.join("kustomization.yaml");
        let mut resources: std::collections::BTreeSet<String> =
            imported.keys().map(|name| format!("{name}.yaml")).collect();
        resources.extend(earlier_resources(&listed).into_iter().filter(|f| args.output.join(f).is_file()));
        let mut kustomization = String::from(
            "# Written by `iot-product-operator import`.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
        );
        for file in &resources {
            kustomization.push_str(&format!("- {file}\n"));
        }
        write_if_changed(&args.output.join("kustomization.yaml"), &kustomization)?;
    }
    for note in &skipped {
        eprintln!("skipped {note}");
    }
    for note in &failed {
        eprintln!("not imported {note}");
    }
    eprintln!(
        "imported {} of {} products of account {} ({} managed elsewhere, {} not importable)",
        imported.len(),
        candidates.len(),
        args.account,
        skipped.len(),
        failed.len()
    );
    if !imported.is_empty() {
        print_account_patch(&account, &args.namespace);
    }
    Ok(u8::from(!failed.is_empty()))
}

/// What the account's administrator must allow before the namespace's resources can take
/// the imported products over (spec.productKey), by namespace name (labels are not read).
fn print_account_patch(account: &PlatformAccount, namespace: &str) {
    let no_labels = tenancy::Namespaces::default();
    let admitted = tenancy::admits(account, namespace, &no_labels);
    let takes_over = tenancy::may_take_over(account, namespace, &no_labels);
    if admitted && takes_over {
        return;
    }
    let mut spec = serde_json::Map::new();
    if !admitted {
        let mut names = account.spec.allowed_namespaces.as_ref().map(|s| s.names.clone()).unwrap_or_default();
        names.push(namespace.to_string());
        spec.insert("allowedNamespaces".into(), serde_json::json!({"names": names}));
    }
    if !takes_over {
        let mut names =
            account.spec.take_over.as_ref().map(|t| t.allowed_namespaces.names.clone()).unwrap_or_default();
        names.push(namespace.to_string());
        spec.insert("takeOver".into(), serde_json::json!({"allowedNamespaces": {"names": names}}));
    }
    eprintln!(
        "PlatformAccount {name} does not let namespace {namespace} take these products over (spec.productKey); its \
         administrator can allow it (unless a label selector already does):\n  kubectl patch platformaccount {name} \
         --type merge -p '{patch}'",
        name = account.metadata.name.as_deref().unwrap_or_default(),
        patch = serde_json::json!({"spec": spec}),
    );
}
