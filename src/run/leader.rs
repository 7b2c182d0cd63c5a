//! Leader election with a coordination.k8s.io Lease (kube-lease-manager): with several
//! replicas only the holder of the lease reconciles. A replica that loses the lease stops
//! its controllers and exits, so that it restarts as a follower (as controller-runtime does).

use std::future::Future;

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use tracing::{error, info};

use crate::cli::RunArgs;

/// Why leader election could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The lease manager could not be built (for example missing RBAC on leases).
    #[error("cannot set up leader election")]
    Setup(#[source] kube_lease_manager::LeaseManagerError),
    /// The lease manager's task ended.
    #[error("the leader election task ended")]
    TaskEnded,
}

/// The lease held by this replica.
pub struct Leadership {
    channel: tokio::sync::watch::Receiver<bool>,
    _task: tokio::task::JoinHandle<
        Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>,
    >,
}

/// Waits until this replica holds the lease (`Some`) or `shutdown` resolves first (`None`).
///
/// # Errors
/// [`LeaderError`] when the lease cannot be managed (for example missing RBAC on leases).
pub async fn acquire(
    client: &Client,
    args: &RunArgs,
    shutdown: impl Future<Output = ()>,
) -> Result<Option<Leadership>, LeaderError> {
    let identity = args
        .instance_name
        .clone()
        .unwrap_or_else(|| format!("iot-product-operator-{}", uuid::Uuid::new_v4().simple()));
    let duration = args.lease_duration_seconds.max(3);
    let params = LeaseParams::new(identity.clone(), duration, (duration / 3).max(1));
    let manager = LeaseManagerBuilder::new(client.clone(), &args.leader_election_lease)
        .with_namespace(&args.leader_election_namespace)
        .with_parameters(params)
        .build()
        .await
        .map_err(LeaderError::Setup)?;
    let (mut channel, task) = manager.watch().await;
    info!(%identity, lease = %args.leader_election_lease, namespace = %args.leader_election_namespace, "waiting for the leader lease");
    tokio::pin!(shutdown);
    loop {
        if *channel.borrow_and_update() {
            info!(%identity, "acquired the leader lease");
            return Ok(Some(Leadership { channel, _task: task }));
        }
        tokio::select! {
            changed = channel.changed() => {
                if changed.is_err() {
                    return Err(LeaderError::TaskEnded);
                }
            }
            () = &mut shutdown => return Ok(None),
        }
    }
}

impl Leadership {
    /// Watches the lease in the background; when it is lost, triggers `shutdown` and
    /// resolves to `true`.
    pub fn watch_loss(mut self, shutdown: tokio::sync::watch::Sender<bool>) -> tokio::task::JoinHandle<bool> {
        tokio::spawn(async move {
            loop {
                if self.channel.changed().await.is_err() || !*self.channel.borrow_and_update() {
                    error!("lost the leader lease; stopping");
                    let _ = shutdown.send(true);
                    return true;
                }
            }
        })
    }
}
