//! The `IotConsumerGroup` reconciler: a switch over one pure decision.
//!
//! ```text
//! finalizer ─► account ─► observe ─► plan::apply / plan::delete ─► one write ─► status, Event
//!                          (reads)    (pure)
//! ```
//!
//! A create is crash-safe as a product's is: the intent (`status.createStarted`, on the
//! platform's clock) is recorded with the resourceVersion the decision was made from before
//! CreateConsumerGroup is sent, so a lost answer is found again by name (a group created
//! after the intent) and never creates a second group. Every resync reads the group's health
//! (QueryConsumerGroupStatus) into `status.health`.

pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use tracing::{instrument, warn};

use crate::crd::consumer_group::{ConsumerGroupHealth, IotConsumerGroup, IotConsumerGroupStatus};
use crate::crd::product::DeletionPolicy;
use crate::reconcile::account_clients::{AccountError, AccountHandle};
use crate::reconcile::conditions::{self, Desired, Reason};
use crate::reconcile::context::Context;
use crate::reconcile::finalizer::{self, FinalizerError};
use crate::reconcile::platform_errors::{error_message, error_reason};
use crate::reconcile::status;
use iot_platform::model::{
    CreateConsumerGroup, DeleteConsumerGroup, QueryConsumerGroupByGroupId, QueryConsumerGroupList,
    QueryConsumerGroupStatus, UpdateConsumerGroup,
};
use iot_platform::{ErrorClass, IotPlatform, PlatformError};

use plan::{Decision, Known, Observed};

/// The finalizer that deletes the group before the resource goes.
pub const FINALIZER: &str = "iot.productoperator.dev/consumer-group-cleanup";

/// Why a reconcile failed (after reporting it in status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A platform call failed.
    #[error("a platform call failed")]
    Platform(#[source] PlatformError),
    /// The account cannot be used.
    #[error("the account cannot be used")]
    Account(#[source] AccountError),
    /// A Kubernetes API call failed.
    #[error("a Kubernetes API call failed")]
    Kube(#[from] kube::Error),
    /// The finalizer could not be handled.
    #[error("the finalizer could not be handled")]
    Finalizer(#[from] FinalizerError),
    /// The platform keeps the group (a subscription still pushes to it).
    #[error("the group cannot be deleted yet: {0}")]
    InUse(String),
}

impl crate::reconcile::failure::ReconcileError for Error {
    fn category(&self) -> &'static str {
        match self {
            Self::Platform(e) => e.class().as_str(),
            Self::Account(e) => e.reason().as_str(),
            Self::Kube(_) | Self::Finalizer(_) => "KubernetesApi",
            Self::InUse(_) => "InUse",
        }
    }

    fn needs_person(&self) -> bool {
        use crate::reconcile::failure::{account_needs_person, platform_needs_person};
        match self {
            Self::Platform(e) => platform_needs_person(e),
            Self::Account(e) => account_needs_person(e),
            // Waits for a product to stop pushing to the group: looked at again soon.
            Self::InUse(_) | Self::Kube(_) | Self::Finalizer(_) => false,
        }
    }
}

/// Reconciles one `IotConsumerGroup`.
///
/// # Errors
/// [`Error`] after reporting the problem in status.
#[instrument(skip_all, fields(namespace = %group.namespace().unwrap_or_default(), resource = %group.name_any()))]
pub async fn reconcile(group: Arc<IotConsumerGroup>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let api = api_of(&ctx, &group);
    let ctx = ctx.as_ref();
    finalizer::run(
        &api,
        FINALIZER,
        finalizer::AddFinalizer::First,
        group,
        &ctx.backoff,
        |g| async move { apply(&g, ctx).await },
        |g| async move { cleanup(&g, ctx).await },
    )
    .await
}

fn api_of(ctx: &Context, group: &IotConsumerGroup) -> Api<IotConsumerGroup> {
    Api::namespaced(ctx.client.clone(), &group.namespace().unwrap_or_default())
}

/// The group's account, for applying or (with `cleanup`) for deleting.
async fn account(
    ctx: &Context,
    group: &IotConsumerGroup,
    cleanup: bool,
) -> Result<Arc<AccountHandle>, AccountError> {
    let (name, namespace) = (group.account_name(), group.namespace().unwrap_or_default());
    if cleanup {
        ctx.accounts.get_for_cleanup(&name, &namespace).await
    } else {
        ctx.accounts.get_for(&name, &namespace).await
    }
}

/// Where the group lives: the spec's instance, else the account's (`None`: the public one).
fn instance(group: &IotConsumerGroup, account: &AccountHandle) -> Option<String> {
    group.spec.instance_id.clone().or_else(|| account.instance_id.clone())
}

/// Reads the recorded group by id, or (none recorded) the group of the spec's name.
///
/// # Errors
/// [`PlatformError`] when a read fails.
pub async fn observe(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    recorded: Option<&str>,
    name: &str,
) -> Result<Observed, PlatformError> {
    let iot_instance_id = instance.map(str::to_string);
    if let Some(group_id) = recorded {
        let request = QueryConsumerGroupByGroupId { iot_instance_id, group_id: group_id.to_string() };
        return match platform.call(&request).await {
            Ok(response) => Ok(Observed::ById(response.data.filter(|g| !g.group_id.is_empty()))),
            Err(e) if e.class() == ErrorClass::NotFound => Ok(Observed::ById(None)),
            Err(e) => Err(e),
        };
    }
    let request = QueryConsumerGroupList {
        iot_instance_id,
        current_page: 1,
        page_size: 10,
        fuzzy: Some(false),
        group_name: Some(name.to_string()),
        ..QueryConsumerGroupList::default()
    };
    let groups = platform.call(&request).await?.data.unwrap_or_default().consumer_group_dto;
    Ok(Observed::ByName(groups.into_iter().find(|g| g.group_name == name)))
}

/// The group's backlog, speed and clients.
async fn health(
    platform: &dyn IotPlatform,
    instance: Option<&str>,
    group_id: &str,
) -> Result<ConsumerGroupHealth, PlatformError> {
    let request = QueryConsumerGroupStatus {
        iot_instance_id: instance.map(str::to_string),
        group_id: group_id.to_string(),
    };
    let answer = platform.call(&request).await?;
    let clients =
        answer.client_connection_status_list.map_or(0, |l| l.consumer_group_client_connection_info.len());
    Ok(ConsumerGroupHealth {
        accumulation_count: answer.accumulation_count,
        consumer_speed: answer.consumer_speed,
        online_clients: i64::try_from(clients).unwrap_or(i64::MAX),
        last_consumer_time: answer.last_consumer_time.filter(|t| !t.is_empty()),
        observed_at: Some(Time(jiff::Timestamp::now())),
    })
}

/// Now on the platform's clock, as far as its answers tell.
fn platform_now_ms(platform: &dyn IotPlatform) -> i64 {
    jiff::Timestamp::now().as_millisecond() + platform.clock_offset_ms().unwrap_or(0)
}

async fn event(
    ctx: &Context,
    group: &IotConsumerGroup,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event =
        Event { type_, reason: reason.into(), note: Some(note), action: action.into(), secondary: None };
    if let Err(error) = ctx.recorder.publish(&event, &group.object_ref(&())).await {
        warn!(%error, "cannot publish an event");
    }
}

/// Writes `status` with `ready` merged into its conditions, unless nothing changed; with
/// `guarded`, only if `group` is still the latest copy.
async fn write(
    ctx: &Context,
    group: &IotConsumerGroup,
    mut status: IotConsumerGroupStatus,
    ready: Desired,
    guarded: bool,
) -> Result<(), kube::Error> {
    let now = Time(jiff::Timestamp::now());
    status.observed_generation = group.metadata.generation;
    status.conditions = conditions::merge(&status.conditions, vec![ready], group.metadata.generation, &now);
    status.reason = conditions::headline(&status.conditions);
    if !guarded && group.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let rv = group.resource_version().filter(|_| guarded);
    status::apply(&api_of(ctx, group), &group.name_any(), &status, rv.as_deref()).await
}

/// Reports a failed platform call and returns the error.
async fn failed(
    ctx: &Context,
    group: &IotConsumerGroup,
    status: IotConsumerGroupStatus,
    action: &str,
    e: PlatformError,
) -> Result<Requeue, Error> {
    let message = format!("{action} failed: {}", error_message(&e));
    event(ctx, group, EventType::Warning, error_reason(&e).as_str(), action, message.clone()).await;
    write(ctx, group, status, Desired::new("Ready", false, error_reason(&e), message), false).await?;
    Err(Error::Platform(e))
}

/// The ready message of a group in sync.
fn ready(group: &IotConsumerGroup, group_id: &str) -> Desired {
    Desired::new(
        "Ready",
        true,
        Reason::Available,
        format!(
            "consumer group {} exists (id {group_id}); AMQP clients connect with that id",
            group.spec.group_name
        ),
    )
}

async fn apply(group: &IotConsumerGroup, ctx: &Context) -> Result<Requeue, Error> {
    let mut status = group.status.clone().unwrap_or_default();
    if crate::crd::is_paused(&group.metadata) {
        let message = "the annotation iot.productoperator.dev/paused is set; remove it to resume";
        write(ctx, group, status, Desired::new("Ready", false, Reason::Paused, message), false).await?;
        return Ok(Requeue::await_change());
    }
    let account = match account(ctx, group, false).await {
        Ok(account) => account,
        Err(e) => {
            event(ctx, group, EventType::Warning, e.reason().as_str(), "Reconcile", e.to_string()).await;
            write(ctx, group, status, Desired::new("Ready", false, e.reason(), e.to_string()), false).await?;
            return Err(Error::Account(e));
        }
    };
    let namespace = group.namespace().unwrap_or_default();
    let instance = instance(group, &account);
    status.instance_id =
        Some(instance.clone().unwrap_or_else(|| iot_platform::region::public_instance(&account.region)));
    let platform = account.for_tenant(&namespace);
    let platform = platform.as_ref();
    let name = &group.spec.group_name;
    let observed = match observe(platform, instance.as_deref(), status.group_id.as_deref(), name).await {
        Ok(observed) => observed,
        Err(e) => return failed(ctx, group, status, "QueryConsumerGroup", e).await,
    };
    // A group another IotConsumerGroup holds is never this one's, whatever the account allows
    // (groups carry no marks on the platform: the watched resources say who holds which).
    let uid = group.uid().unwrap_or_default();
    let held = |observed: &Observed| match observed {
        Observed::ByName(Some(found)) => ctx.consumer_groups.held_by_another(&uid, &found.group_id),
        _ => false,
    };
    let observed = if held(&observed) { Observed::HeldElsewhere } else { observed };
    let may_take_over = matches!(observed, Observed::ByName(Some(_)))
        && ctx.accounts.may_take_over(&account.name, &namespace).await;
    let known = Known {
        create_started_ms: status.create_started.as_ref().map(|t| t.0.as_millisecond()),
        may_take_over,
    };
    let resync = ctx.settings.resync_for(&group.metadata, ctx.settings.resync);
    let iot_instance_id = instance.clone();
    match plan::apply(name, &observed, known) {
        Decision::InSync { group_id } => {
            match health(platform, instance.as_deref(), &group_id).await {
                Ok(found) => status.health = Some(found),
                Err(e) => return failed(ctx, group, status, "QueryConsumerGroupStatus", e).await,
            }
            ctx.metrics.consumer_group_health(&namespace, &group.name_any(), status.health.as_ref());
            write(ctx, group, status, ready(group, &group_id), false).await?;
            Ok(Requeue::requeue(resync))
        }
        Decision::Rename { group_id } => {
            let request = UpdateConsumerGroup {
                iot_instance_id,
                group_id: group_id.clone(),
                new_group_name: name.clone(),
            };
            if let Err(e) = platform.call(&request).await {
                return failed(ctx, group, status, "UpdateConsumerGroup", e).await;
            }
            event(
                ctx,
                group,
                EventType::Normal,
                "Renamed",
                "UpdateConsumerGroup",
                format!("Renamed consumer group {group_id} to {name}"),
            )
            .await;
            write(ctx, group, status, ready(group, &group_id), false).await?;
            Ok(Requeue::requeue(Duration::from_millis(100)))
        }
        Decision::Adopt { group_id, take_over } => {
            status.group_id = Some(group_id.clone());
            status.create_started = None;
            let note = if take_over {
                format!(
                    "Took over consumer group {name} ({group_id}), as the account allows for this namespace"
                )
            } else {
                format!("Found consumer group {name} ({group_id}), made by this resource's earlier create")
            };
            event(ctx, group, EventType::Normal, "Adopted", "QueryConsumerGroupList", note).await;
            write(ctx, group, status, ready(group, &group_id), true).await?;
            Ok(Requeue::requeue(Duration::from_millis(100)))
        }
        Decision::NameConflict => {
            let message = plan::name_conflict_message(name, &account.name);
            event(ctx, group, EventType::Warning, "NameConflict", "CreateConsumerGroup", message.clone())
                .await;
            write(ctx, group, status, Desired::new("Ready", false, Reason::NameConflict, message), false)
                .await?;
            Ok(Requeue::requeue(resync))
        }
        Decision::Create => create(ctx, group, platform, iot_instance_id, status).await,
        Decision::Delete { .. } | Decision::Nothing => Ok(Requeue::await_change()),
    }
}

/// Records the intent (guarded by the resourceVersion), then creates the group.
async fn create(
    ctx: &Context,
    group: &IotConsumerGroup,
    platform: &dyn IotPlatform,
    iot_instance_id: Option<String>,
    mut status: IotConsumerGroupStatus,
) -> Result<Requeue, Error> {
    // A recreate (the recorded group was deleted out of band) starts afresh.
    status.group_id = None;
    let started = jiff::Timestamp::from_millisecond(platform_now_ms(platform))
        .unwrap_or_else(|_| jiff::Timestamp::now());
    status.create_started = Some(Time(started));
    let creating = Desired::new("Ready", false, Reason::Creating, "creating the consumer group");
    // From a stale copy the write fails (409): nothing is sent, and the latest copy decides.
    write(ctx, group, status.clone(), creating.clone(), true).await?;
    let request = CreateConsumerGroup { iot_instance_id, group_name: group.spec.group_name.clone() };
    match platform.call(&request).await {
        Ok(answer) => {
            let Some(group_id) = answer.group_id.filter(|id| !id.is_empty()) else {
                // An answer without an id: the next reconcile finds the group by its name.
                return Ok(Requeue::requeue(Duration::from_millis(500)));
            };
            status.group_id = Some(group_id.clone());
            status.create_started = None;
            let note = format!("Created consumer group {} ({group_id})", group.spec.group_name);
            event(ctx, group, EventType::Normal, "Created", "CreateConsumerGroup", note).await;
            let latest = Api::<IotConsumerGroup>::namespaced(
                ctx.client.clone(),
                &group.namespace().unwrap_or_default(),
            )
            .get(&group.name_any())
            .await?;
            write(ctx, &latest, status, ready(group, &group_id), false).await?;
            Ok(Requeue::requeue(Duration::from_millis(100)))
        }
        Err(e) => {
            if !e.is_ambiguous() {
                // A refusal made nothing: no intent is left.
                status.create_started = None;
            }
            let latest = Api::<IotConsumerGroup>::namespaced(
                ctx.client.clone(),
                &group.namespace().unwrap_or_default(),
            )
            .get(&group.name_any())
            .await?;
            failed(ctx, &latest, status, "CreateConsumerGroup", e).await
        }
    }
}

async fn cleanup(group: &IotConsumerGroup, ctx: &Context) -> Result<Requeue, Error> {
    let status = group.status.clone().unwrap_or_default();
    let orphan = group.spec.deletion_policy == DeletionPolicy::Orphan;
    if orphan || (status.group_id.is_none() && status.create_started.is_none()) {
        return Ok(Requeue::await_change());
    }
    let account = match account(ctx, group, true).await {
        Ok(account) => account,
        Err(e) => {
            let message = format!(
                "{e}; the consumer group cannot be deleted from the platform until the account works (or set spec.deletionPolicy: Orphan)"
            );
            write(ctx, group, status, Desired::new("Ready", false, e.reason(), message), false).await?;
            return Err(Error::Account(e));
        }
    };
    let instance = instance(group, &account);
    let platform = account.for_tenant(&group.namespace().unwrap_or_default());
    let platform = platform.as_ref();
    let name = &group.spec.group_name;
    let observed = match observe(platform, instance.as_deref(), status.group_id.as_deref(), name).await {
        Ok(observed) => observed,
        Err(e) => return failed(ctx, group, status, "QueryConsumerGroup", e).await,
    };
    let known = Known {
        create_started_ms: status.create_started.as_ref().map(|t| t.0.as_millisecond()),
        may_take_over: false,
    };
    let Decision::Delete { group_id } = plan::delete(orphan, &observed, known) else {
        return Ok(Requeue::await_change());
    };
    let request = DeleteConsumerGroup { iot_instance_id: instance.clone(), group_id: group_id.clone() };
    match platform.call(&request).await {
        Ok(_) => {}
        Err(e) if e.class() == ErrorClass::NotFound => {}
        Err(e) => {
            // Whatever the code says, a fresh read decides: still there means kept.
            let still_there = matches!(
                observe(platform, instance.as_deref(), Some(&group_id), name).await,
                Ok(Observed::ById(Some(_)))
            );
            if !still_there {
                return Ok(Requeue::await_change());
            }
            let message = format!(
                "the platform keeps consumer group {name} ({group_id}): {}. A server-side subscription may still \
                 push to it: remove it from the products' spec.subscription.consumerGroups, or set \
                 spec.deletionPolicy: Orphan to leave it",
                error_message(&e)
            );
            event(ctx, group, EventType::Warning, "InUse", "DeleteConsumerGroup", message.clone()).await;
            write(ctx, group, status, Desired::new("Ready", false, Reason::InUse, message.clone()), false)
                .await?;
            return Err(Error::InUse(message));
        }
    }
    event(
        ctx,
        group,
        EventType::Normal,
        "Deleted",
        "DeleteConsumerGroup",
        format!("Deleted consumer group {name} ({group_id})"),
    )
    .await;
    ctx.metrics.consumer_group_health(&group.namespace().unwrap_or_default(), &group.name_any(), None);
    Ok(Requeue::await_change())
}

/// Retries a failed consumer-group reconcile: the shared policy
/// ([`crate::reconcile::failure`]) over the object's exponential backoff.
#[must_use]
pub fn error_policy(group: Arc<IotConsumerGroup>, error: &Error, ctx: Arc<Context>) -> Requeue {
    let backoff = ctx.backoff.next(&group.uid().unwrap_or_default());
    let (namespace, name) = (group.namespace().unwrap_or_default(), group.name_any());
    Requeue::requeue(crate::reconcile::failure::retry_after(
        "IotConsumerGroup",
        &namespace,
        &name,
        error,
        backoff,
    ))
}
