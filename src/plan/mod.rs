//! `iot-product-operator plan`: what the operator would do for a set of manifests, read from
//! the live platform without writing — for a pull request in a GitOps repository.
//!
//! It runs the controller's own code: [`DesiredProduct::from_resource`] (the spec),
//! [`observe::observe`] (the platform, through a client that refuses every write) and
//! [`plan::plan`] (the pure decision), and prints per resource the calls it would make and
//! what would block. Manifests come from files, directories or stdin (`-`), as written or
//! rendered by kustomize or Helm; the account's credentials come from the same sources as a
//! PlatformAccount's (see [`accounts`]).

pub mod accounts;
pub mod cluster;
pub mod groups;
pub mod manifests;
pub mod report;
pub mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use iot_platform::IotPlatform;
use iot_platform::endpoint_policy::{DEFAULT_PATTERNS, EndpointPolicy};
use iot_platform::model::QueryProductList;
use iot_platform::quota::MAX_PRODUCTS_PER_INSTANCE;

use crate::crd::product::DeletionPolicy;
use crate::crd::{IotProduct, PlatformAccount, ProductDistribution};
use crate::distribution::desired::{
    ProductLookup, Waiting, account_name, held_here, resolve, tenancy_refusal,
};
use crate::distribution::plan::{Decision, Known, decide};
use crate::distribution::report as distribution_report;
use crate::product::desired::{DesiredProduct, OWNER_TAG};
use crate::product::execute::{claims_by_name, ownership_marks};
use crate::product::observe::{self, Pending};
use crate::product::outcome::name_conflict_message;
use crate::product::outcome::resolved_instance;
use crate::product::plan::{self as decide, Action, Mode, Observed, Recorded};
use crate::product::preflight::{Verdict, preflight};
use report::{Call, Entry, Summary};

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Manifest files or directories (`*.yaml`, `*.yml`, `*.json`), or `-` for stdin
    /// (repeatable; default `-`).
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,
    /// Output: `text` for people, `json` for bots.
    #[arg(long, value_enum, default_value_t = report::Format::Text)]
    pub output: report::Format,
    /// The namespace of manifests that name none.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Also allow endpoints matching this pattern (as `run --allow-endpoint`).
    #[arg(long = "allow-endpoint", value_delimiter = ',')]
    pub allow_endpoints: Vec<String>,
    /// Plan the deletion of the manifests' resources (as when they are removed from Git)
    /// instead of applying them.
    #[arg(long)]
    pub delete: bool,
    /// The OIDC token file for `oidc` accounts (default `ALIBABA_CLOUD_OIDC_TOKEN_FILE`).
    #[arg(long, env = "ALIBABA_CLOUD_OIDC_TOKEN_FILE")]
    pub oidc_token_file: Option<PathBuf>,
    /// Also read the cluster the manifests are applied to (kubeconfig or in-cluster; gets and
    /// lists only): the resources' UIDs and status (which product each manages, so a renamed
    /// product is an update), the PlatformAccounts, the namespaces' labels. Without it `plan`
    /// cannot tell this resource's product from another's and says so.
    #[arg(long)]
    pub cluster: bool,
    /// The cluster's id, as the operator's `--cluster-id` (with `--cluster`).
    #[arg(long, default_value = "kubernetes", env = "IOTOP_CLUSTER_ID")]
    pub cluster_id: String,
    /// The instances' product limit, where it was raised from the platform's default.
    #[arg(long, default_value_t = MAX_PRODUCTS_PER_INSTANCE)]
    pub max_products_per_instance: usize,
    /// Exit 2, not 1, when something is blocked (a change the operator will not make as
    /// written, such as one waiting for approval): for pipelines that merge changes which
    /// wait for a person.
    #[arg(long)]
    pub blocked_ok: bool,
}

/// Why `plan` could not run at all (per-resource problems are reported in the output).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The manifests could not be read.
    #[error(transparent)]
    Manifests(#[from] manifests::ManifestError),
    /// An `--allow-endpoint` pattern is malformed.
    #[error("--allow-endpoint")]
    EndpointPattern(#[source] iot_platform::endpoint_policy::EndpointError),
    /// `--cluster` was given and the cluster could not be read.
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
}

/// What `plan` knows besides each resource's manifest.
pub struct Context {
    /// The accounts' read-only clients.
    pub clients: accounts::Clients,
    /// The cluster's side (`--cluster`).
    pub cluster: Option<cluster::ClusterView>,
    /// Namespaces' labels from the manifests (`kind: Namespace`), which win over the cluster's.
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// The instances' product limit.
    pub max_products_per_instance: usize,
    /// The cluster's id (`--cluster-id`), which the ownership marks of a new product name.
    pub cluster_id: String,
    /// The IotConsumerGroups of the manifests.
    pub consumer_groups: Vec<crate::crd::IotConsumerGroup>,
}

impl Context {
    /// The labels of `namespace`: from the manifests, else the cluster; `None` when unknown.
    fn labels(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.namespace_labels
            .get(namespace)
            .or_else(|| self.cluster.as_ref().and_then(|c| c.namespace_labels.get(namespace)))
    }
}

/// Runs `plan` and returns its exit code: 0 no changes, 2 changes that will apply, 1 errors
/// or anything blocked (2 with `--blocked-ok`).
///
/// # Errors
/// [`PlanError`] when the manifests (or, with `--cluster`, the cluster) cannot be read.
pub async fn run(args: &PlanArgs) -> Result<u8, PlanError> {
    let inputs = if args.files.is_empty() { vec![PathBuf::from("-")] } else { args.files.clone() };
    let objects = manifests::read(&inputs, &args.namespace)?;
    let patterns = DEFAULT_PATTERNS.iter().copied().chain(args.allow_endpoints.iter().map(String::as_str));
    let policy = EndpointPolicy::new(patterns).map_err(PlanError::EndpointPattern)?;
    let cluster = if args.cluster {
        Some(
            cluster::ClusterView::read(
                &args.cluster_id,
                &objects.products,
                &objects.distributions,
                &objects.consumer_groups,
            )
            .await?,
        )
    } else {
        None
    };
    let mut clients = accounts::Clients::new(&objects.accounts, policy, args.oidc_token_file.clone());
    if let Some(view) = &cluster {
        clients = clients.with_cluster_accounts(view.accounts.values());
    }
    let ctx = Context {
        clients,
        cluster,
        namespace_labels: objects.namespaces.clone(),
        max_products_per_instance: args.max_products_per_instance,
        cluster_id: args.cluster_id.clone(),
        consumer_groups: objects.consumer_groups.clone(),
    };
    let mode = if args.delete { Mode::Delete } else { Mode::Apply };
    // What the API server would refuse is said first: with the cluster, the API server says
    // it (a dry run of each manifest); without, the CRDs' own schemas and rules, checked here.
    let verdicts = match (&ctx.cluster, mode) {
        (Some(_), Mode::Apply) => match kube::Client::try_default().await {
            Ok(client) => validate::dry_run_all(&client, &objects).await,
            Err(_) => validate::local(&objects),
        },
        (None, Mode::Apply) => validate::local(&objects),
        // Deleting a manifest sends nothing to the API server but the delete.
        (_, Mode::Delete) => validate::Verdicts::new(),
    };
    let verdict = |kind: &'static str, namespace: &str, name: &str| {
        verdicts.get(&(kind, namespace.to_string(), name.to_string())).cloned().unwrap_or(Ok(None))
    };
    let mut entries: Vec<Entry> = objects
        .unreadable
        .iter()
        .map(|(kind, namespace, name)| Entry {
            error: objects
                .refused
                .get(&(*kind, namespace.clone(), name.clone()))
                .map(|r| validate::refused(r)),
            ..entry(kind, namespace.clone(), name.clone())
        })
        .collect();
    for account in &objects.accounts {
        let name = account.metadata.name.clone().unwrap_or_default();
        if let Err(refusal) = verdict("PlatformAccount", "", &name) {
            entries.push(Entry { error: Some(refusal), ..entry("PlatformAccount", String::new(), name) });
        }
    }
    let mut keys = BTreeMap::new();
    for product in &objects.products {
        let (namespace, name) = (
            product.metadata.namespace.clone().unwrap_or_default(),
            product.metadata.name.clone().unwrap_or_default(),
        );
        let entry = match verdict("IotProduct", &namespace, &name) {
            Err(refusal) => Entry { error: Some(refusal), ..entry("IotProduct", namespace, name) },
            Ok(note) => {
                let mut entry = plan_product(product, &ctx, mode).await;
                entry.notes.extend(note);
                entry
            }
        };
        if let Some(key) = &entry.product_key {
            keys.insert((entry.namespace.clone(), entry.name.clone()), key.clone());
        }
        entries.push(entry);
    }
    if mode == Mode::Apply {
        check_product_quota(&mut entries, &objects.products, &ctx).await;
        // A distribution is one-shot: deleting its resource changes nothing on the platform.
        let mut tasks = Tasks::default();
        for distribution in &objects.distributions {
            let (namespace, name) = (
                distribution.metadata.namespace.clone().unwrap_or_default(),
                distribution.metadata.name.clone().unwrap_or_default(),
            );
            let entry = match verdict("ProductDistribution", &namespace, &name) {
                Err(refusal) => {
                    Entry { error: Some(refusal), ..entry("ProductDistribution", namespace, name) }
                }
                Ok(note) => {
                    let mut entry =
                        plan_distribution(distribution, &objects.products, &keys, &ctx, &mut tasks).await;
                    entry.notes.extend(note);
                    entry
                }
            };
            entries.push(entry);
        }
    }
    for group in &objects.consumer_groups {
        let (namespace, name) = (
            group.metadata.namespace.clone().unwrap_or_default(),
            group.metadata.name.clone().unwrap_or_default(),
        );
        let entry = match verdict("IotConsumerGroup", &namespace, &name) {
            Err(refusal) => Entry { error: Some(refusal), ..entry("IotConsumerGroup", namespace, name) },
            Ok(note) => {
                let mut entry = groups::plan_group(group, &ctx, mode).await;
                entry.notes.extend(note);
                entry
            }
        };
        entries.push(entry);
    }
    let summary = Summary::of(&entries);
    print!("{}", report::render(&entries, &summary, args.output));
    Ok(summary.exit_code(args.blocked_ok))
}

fn entry(kind: &'static str, namespace: String, name: String) -> Entry {
    Entry { kind, namespace, name, ..Entry::default() }
}

/// The UID a resource not applied yet will have: none a product's marks can name.
const NOT_YET_APPLIED: &str = "not-yet-applied";

/// How `plan` without the cluster shows the UID in the marks of a product it would create.
const UID_PLACEHOLDER: &str = "resource-uid";

/// The plan of one IotProduct, decided by the controller's own code: the spec, the
/// resource's status (with `--cluster`), the tenancy rules, the observed platform, the
/// planner, and the name check a create meets.
pub async fn plan_product(product: &IotProduct, ctx: &Context, mode: Mode) -> Entry {
    let namespace = product.metadata.namespace.clone().unwrap_or_default();
    let mut out = entry("IotProduct", namespace.clone(), product.metadata.name.clone().unwrap_or_default());
    let desired = match DesiredProduct::from_resource(product) {
        Ok(desired) => desired,
        Err(e) => {
            out.error = Some(format!("invalid spec: {e}"));
            return out;
        }
    };
    out.product_name = Some(desired.name.clone());
    let live = ctx.cluster.as_ref().map(|view| (view, view.live(product)));
    let (desired, recorded, pending) = match live {
        Some((view, Some(live))) => (
            desired.owned_by(&view.cluster_id, &live.metadata.uid.clone().unwrap_or_default()),
            crate::product::recorded(live),
            crate::product::pending(live),
        ),
        Some((view, None)) => {
            (desired.owned_by(&view.cluster_id, NOT_YET_APPLIED), Recorded::default(), None)
        }
        None => (desired, Recorded::default(), None),
    };
    if mode == Mode::Delete {
        if matches!(live, Some((_, None))) {
            out.notes.push("not in the cluster: removing its manifest deletes nothing".into());
            return out;
        }
        if desired.deletion_policy == DeletionPolicy::Orphan {
            out.notes.push("spec.deletionPolicy: Orphan: the product stays on the platform".into());
            return out;
        }
    }
    let account_name = product.account_name();
    let (platform, account) = match ctx.clients.get(&account_name) {
        Ok(found) => found,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let desired = desired.with_impact_threshold(account.spec.impact_threshold());
    let (instance, shown_instance) =
        resolved_instance(&desired, account.spec.instance_id.as_deref(), &account.spec.region);
    out.instance = Some(shown_instance.clone());
    let desired = match &desired.subscription {
        Some(wanted) if mode == Mode::Apply => {
            let named = groups::named(ctx, &namespace, &wanted.group_names, &shown_instance);
            let resolved = crate::product::subscription::resolve(&named, &account_name, &shown_instance);
            desired.with_consumer_groups(resolved)
        }
        _ => desired,
    };
    // The controller's own verdict on the account's tenancy rules.
    match preflight(&desired, &recorded, mode, account, &namespace, ctx.labels(&namespace)) {
        Verdict::Proceed => {}
        Verdict::AdmissionUnknown => out.notes.push(format!(
            "PlatformAccount {account_name:?} admits namespaces by label and the labels of {namespace} are \
             unknown (pass its Namespace manifest, or use --cluster)"
        )),
        Verdict::LeaveAlone => {
            out.notes.push("taking over is not allowed for this namespace: the product is left alone".into());
            return out;
        }
        refused => {
            out.blocked = refused
                .refusal(&account_name, &namespace)
                .map(|(reason, message)| (reason.to_string(), message));
            return out;
        }
    }
    let known = ctx.cluster.is_some();
    let planned = observe_and_plan(
        platform.as_ref(),
        instance.as_deref(),
        &desired,
        recorded.clone(),
        pending,
        mode,
        known,
    )
    .await;
    // A create planned without the cluster: planned again with the marks the product will
    // carry (the resource's UID shown as a placeholder).
    let planned = match planned {
        Ok(p) if !known && p.decision.actions.contains(&Action::Create) && p.name_conflict.is_none() => {
            let marked = desired.clone().owned_by(&ctx.cluster_id, UID_PLACEHOLDER);
            let decision = decide::plan(&marked, &p.observed, &recorded, mode);
            Ok(Planned { decision, ..p })
        }
        other => other,
    };
    match planned {
        Ok(planned) => {
            out.product_key = planned.found_key.clone();
            out.found_by = Some(match (&planned.found_key, planned.found_by) {
                (None, _) => "none",
                (Some(_), Some(by)) => by,
                (Some(_), None) => "status",
            });
            out.calls = report::calls(&planned.decision, &desired, &planned.observed, mode);
            out.blocked = planned.decision.blocked.as_ref().map(|b| (b.reason().to_string(), b.message()));
            if let Some(decide::Blocked::ImpactNeedsApproval(impact)) = &planned.decision.blocked {
                // The call the operator holds back, with what it would reach.
                out.held_back.push(report::Call {
                    operation: impact.operation,
                    detail: format!("{} — needs approval", impact.summary()),
                });
            }
            if let Some(conflict) = planned.name_conflict {
                out.calls.clear();
                out.blocked = Some(("NameConflict".into(), conflict));
            }
            out.notes.extend(planned.notes);
        }
        Err(e) => out.error = Some(e.to_string()),
    }
    out
}

/// What observing and planning one product came to.
struct Planned {
    found_key: Option<String>,
    found_by: Option<&'static str>,
    decision: decide::Plan,
    observed: Observed,
    name_conflict: Option<String>,
    notes: Vec<String>,
}

async fn observe_and_plan(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    desired: &DesiredProduct,
    mut recorded: Recorded,
    pending: Option<Pending>,
    mode: Mode,
    cluster_known: bool,
) -> Result<Planned, iot_platform::PlatformError> {
    let mut notes = Vec::new();
    let mut found_by = desired.adopt_key.as_ref().map(|_| "spec.productKey");
    if !cluster_known && recorded.product_key.is_none() && desired.adopt_key.is_none() {
        // Without the cluster's status: the product this resource made has its name and
        // carries ownership marks (the operator puts them on every product it makes).
        if let Some(found) = observe::find_by_name(platform, instance, &desired.name, None).await?
            && let Some(owner) = ownership_marks(platform, instance, &found.product_key)
                .await
                .and_then(|t| t.get(OWNER_TAG).cloned())
        {
            notes.push(format!(
                "{} carries the ownership mark of resource {owner}; without --cluster plan cannot tell whether \
                 that is this resource, and assumes it is",
                found.product_key
            ));
            recorded.product_key = Some(found.product_key);
            found_by = Some("name");
        }
    }
    let observation =
        observe::observe(platform, instance, desired, &recorded, pending.as_ref(), mode).await?;
    let mut decision = decide::plan(desired, &observation.observed, &recorded, mode);
    let mut observed = observation.observed;
    let mut name_conflict = None;
    if observation.found_by.is_some() && found_by.is_none() {
        found_by = Some("name");
    }
    if decision.actions.contains(&Action::Create)
        && let Some(found) = observe::find_by_name(platform, instance, &desired.name, None).await?
    {
        // The create would be refused (the name is taken): the controller then adopts the
        // product or reports the conflict.
        let marks = ownership_marks(platform, instance, &found.product_key).await;
        if claims_by_name(desired, marks.as_ref(), false) {
            recorded.product_key = Some(found.product_key);
            let again = observe::observe(platform, instance, desired, &recorded, None, mode).await?;
            decision = decide::plan(desired, &again.observed, &recorded, mode);
            observed = again.observed;
            found_by = Some("name");
        } else {
            name_conflict = Some(name_conflict_message(&desired.name));
        }
    }
    let found_key = match &observed {
        Observed::Exists(p) => Some(p.details.product_key.clone()),
        _ => None,
    };
    Ok(Planned { found_key, found_by, decision, observed, name_conflict, notes })
}

/// Marks the creates an instance has no room for: the platform holds at most
/// [`MAX_PRODUCTS_PER_INSTANCE`] products per instance (unless the limit was raised).
async fn check_product_quota(entries: &mut [Entry], products: &[IotProduct], ctx: &Context) {
    let mut creates: BTreeMap<(String, Option<String>), Vec<usize>> = BTreeMap::new();
    for (index, (entry, product)) in entries.iter().zip(products).enumerate() {
        if entry.calls.iter().any(|c| c.operation == "CreateProduct") {
            let account = product.account_name();
            let named = product
                .spec
                .instance_id
                .clone()
                .or_else(|| ctx.clients.get(&account).ok().and_then(|(_, a)| a.spec.instance_id.clone()));
            creates.entry((account, named)).or_default().push(index);
        }
    }
    let max = ctx.max_products_per_instance;
    for ((account, instance), indexes) in creates {
        let Ok((platform, _)) = ctx.clients.get(&account) else { continue };
        let request = QueryProductList {
            iot_instance_id: instance.clone(),
            current_page: 1,
            page_size: 1,
            ..QueryProductList::default()
        };
        let held = match platform.call(&request).await {
            Ok(answer) => usize::try_from(answer.data.unwrap_or_default().total).unwrap_or(0),
            Err(e) => {
                for index in &indexes {
                    entries[*index].error = Some(format!("cannot count the instance's products: {e}"));
                }
                continue;
            }
        };
        if held + indexes.len() > max {
            let free = max.saturating_sub(held);
            for index in &indexes {
                let entry = &mut entries[*index];
                entry.blocked = Some((
                    "ProductQuotaExceeded".into(),
                    format!(
                        "the instance holds {held} of its {max} products and this plan creates \
                         {}: {free} fit, the other creates are refused (iot.prod.ProductCountExceedMax); delete unused \
                         products or use another instance",
                        indexes.len()
                    ),
                ));
            }
        }
    }
}

/// The plan of one ProductDistribution: the product it distributes, and whether the
/// account has a distribution task free.
pub async fn plan_distribution(
    pd: &ProductDistribution,
    products: &[IotProduct],
    keys: &BTreeMap<(String, String), String>,
    ctx: &Context,
    tasks: &mut Tasks,
) -> Entry {
    let clients = &ctx.clients;
    let namespace = pd.metadata.namespace.clone().unwrap_or_default();
    let name = pd.metadata.name.clone().unwrap_or_default();
    let mut out = entry("ProductDistribution", namespace.clone(), name.clone());
    // A distribution is one-shot: one whose job was made is not made again.
    let live = ctx.cluster.as_ref().and_then(|view| view.distributions.get(&(namespace.clone(), name)));
    if let Some(status) = live.and_then(|d| d.status.as_ref())
        && let Some(job) = &status.job_id
    {
        out.product_key.clone_from(&status.product_key);
        out.notes.push(format!(
            "job {job} was made ({}); a distribution runs once",
            status.state.as_deref().unwrap_or("state unknown")
        ));
        return out;
    }
    // The controller's own resolution (distribution::desired::resolve) over the manifests'
    // products, each with its key: the cluster's, the one found on the platform, or — not
    // created yet — a placeholder that says so.
    let lookup = PlanProducts::new(products, ctx.cluster.as_ref(), keys);
    let source = match resolve(&lookup, pd) {
        Ok(source) => source,
        Err(waiting @ Waiting::ProductNotFound { .. }) => {
            out.error = Some(format!("{waiting}; pass its manifest with -f (or use --cluster)"));
            return out;
        }
        Err(waiting) => {
            out.blocked = Some((waiting.reason().to_string(), waiting.to_string()));
            return out;
        }
    };
    let (platform, account) = match clients.get(&source.account) {
        Ok(found) => found,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    // The controller's tenancy rules: the account admits the namespace; a product by key that
    // no IotProduct of the namespace manages is a take-over.
    if let Some((reason, message)) = tenancy_refusal(&source, account, &namespace, ctx.labels(&namespace)) {
        out.blocked = Some((reason.to_string(), message));
        return out;
    }
    let product = source.key.clone();
    if !product.starts_with(ONCE_CREATED) {
        out.product_key = Some(product.clone());
    }
    // The controller's decision, from the account's tasks and the namespace's share of them
    // (with the creates planned before this one counted in).
    let account_jobs = match crate::distribution::observe::count_jobs(platform.as_ref()).await {
        Ok(jobs) => jobs + tasks.planned(&source.account, None),
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    let held_in_cluster =
        ctx.cluster.as_ref().and_then(|view| view.task_holders.get(&namespace)).map_or(0, |held| {
            held.iter()
                .filter(|other| other.metadata.name != pd.metadata.name)
                .filter(|other| account_name(&lookup, other) == source.account)
                .count()
        });
    let known = Known {
        job_id: None,
        recorded_state: None,
        create_started: false,
        found_job: None,
        account_jobs: Some(account_jobs),
        max_jobs: iot_platform::quota::MAX_DISTRIBUTION_JOBS,
        namespace_jobs: held_in_cluster + tasks.planned(&source.account, Some(&namespace)),
        max_namespace_jobs: usize::from(account.spec.distribution_tasks_per_namespace.max(1)),
    };
    let waiting = match decide(&known) {
        Decision::Create => {
            // A product by key is checked not to be another resource's, as the controller does
            // before the create.
            if source.product.is_none() {
                let instance = if source.instance.is_empty() {
                    resolved_instance_of_account(account)
                } else {
                    source.instance.clone()
                };
                match crate::distribution::observe::holder(platform.as_ref(), &source.key, &instance).await {
                    Ok(Some(holder)) if !held_here(&holder, &namespace, &lookup) => {
                        if ctx.cluster.is_none() {
                            out.notes.push(
                                "without --cluster plan cannot see every IotProduct of the namespace, and takes the \
                                 product's owner for another resource"
                                    .into(),
                            );
                        }
                        let condition = distribution_report::managed_elsewhere();
                        out.blocked = Some((condition.reason, condition.message));
                        return out;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        out.error = Some(e.to_string());
                        return out;
                    }
                }
            }
            let target = &pd.spec.target;
            let to = target.uid.as_deref().or(target.logon_id.as_deref()).unwrap_or_default();
            out.calls.push(Call {
                operation: "CreateProductDistributeJob",
                detail: format!("distribute {product} to instance {} of account {to}", target.instance_id),
            });
            tasks.add(&source.account, &namespace);
            None
        }
        Decision::WaitForQuota { jobs } => Some(distribution_report::quota_full(jobs)),
        Decision::WaitForNamespaceQuota { jobs } => {
            Some(distribution_report::namespace_quota_full(jobs, &namespace, &source.account))
        }
        // A distribution without a job: nothing else is decided for it.
        other => {
            out.error = Some(format!("unexpected decision for a new distribution: {other:?}"));
            None
        }
    };
    out.blocked = waiting.map(|condition| (condition.reason, condition.message));
    out
}

/// The distribution tasks the creates planned so far take, by account and by (account,
/// namespace): the controller makes one job at a time per task, so the next distribution
/// meets them.
#[derive(Debug, Default)]
pub struct Tasks(BTreeMap<(String, Option<String>), usize>);

impl Tasks {
    /// Tasks planned for `account` (in `namespace`, when given).
    fn planned(&self, account: &str, namespace: Option<&str>) -> usize {
        self.0.get(&(account.to_string(), namespace.map(str::to_string))).copied().unwrap_or(0)
    }

    fn add(&mut self, account: &str, namespace: &str) {
        *self.0.entry((account.to_string(), None)).or_default() += 1;
        *self.0.entry((account.to_string(), Some(namespace.to_string()))).or_default() += 1;
    }
}

/// The instance a distribution by key without a source instance is made from: the account's,
/// or its region's public one (as the controller resolves it).
fn resolved_instance_of_account(account: &PlatformAccount) -> String {
    account
        .spec
        .instance_id
        .clone()
        .unwrap_or_else(|| iot_platform::region::public_instance(&account.spec.region))
}

/// How a product not created yet shows where its key will be.
const ONCE_CREATED: &str = "the product of IotProduct";

/// The IotProducts `plan` knows, for the controller's distribution resolution: the
/// manifests', each Available with its key — the cluster's, the one planning found on the
/// platform, or a placeholder for one not created yet (once applied, it will be) — and, with
/// `--cluster`, the other live IotProducts of the distributions' namespaces as they are.
struct PlanProducts(Vec<Arc<IotProduct>>);

impl PlanProducts {
    fn new(
        products: &[IotProduct],
        cluster: Option<&cluster::ClusterView>,
        keys: &BTreeMap<(String, String), String>,
    ) -> Self {
        let known = products.iter().map(|product| {
            let namespace = product.metadata.namespace.clone().unwrap_or_default();
            let name = product.metadata.name.clone().unwrap_or_default();
            let live = cluster.and_then(|view| view.products.get(&(namespace.clone(), name.clone())));
            let mut status = live.and_then(|l| l.status.clone()).unwrap_or_default();
            let key = status
                .product_key
                .clone()
                .or_else(|| keys.get(&(namespace, name.clone())).cloned())
                .unwrap_or_else(|| format!("{ONCE_CREATED} {name} (once created)"));
            status.product_key = Some(key);
            status.conditions = vec![crate::crd::Condition {
                type_: "Available".into(),
                status: "True".into(),
                reason: "Planned".into(),
                message: String::new(),
                observed_generation: None,
                last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    jiff::Timestamp::UNIX_EPOCH,
                ),
            }];
            let mut copy = product.clone();
            copy.status = Some(status);
            Arc::new(copy)
        });
        let mut known: Vec<Arc<IotProduct>> = known.collect();
        // The cluster's other IotProducts of those namespaces, as they are.
        let others = cluster.iter().flat_map(|view| view.namespace_products.values().flatten());
        for live in others {
            let listed = known.iter().any(|p| {
                p.metadata.namespace == live.metadata.namespace && p.metadata.name == live.metadata.name
            });
            if !listed {
                known.push(Arc::new(live.clone()));
            }
        }
        Self(known)
    }
}

impl ProductLookup for PlanProducts {
    fn all(&self) -> Vec<Arc<IotProduct>> {
        self.0.clone()
    }

    fn find(&self, namespace: &str, name: &str) -> Option<Arc<IotProduct>> {
        self.0
            .iter()
            .find(|p| {
                p.metadata.namespace.as_deref() == Some(namespace) && p.metadata.name.as_deref() == Some(name)
            })
            .cloned()
    }
}

/// The account manifests by name (for tests and embedding).
#[must_use]
pub fn accounts_by_name(accounts: &[PlatformAccount]) -> BTreeMap<String, PlatformAccount> {
    accounts.iter().map(|a| (a.metadata.name.clone().unwrap_or_default(), a.clone())).collect()
}
