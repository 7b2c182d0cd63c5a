//! One watch per kind and scope, shared by every controller that reacts to the kind: the
//! watch fills one cache and hands each subscriber every object it touched (applied or
//! deleted), in order and without loss (a full subscriber slows the watch down rather than
//! missing an event).
//!
//! kube-runtime's own shared streams (`reflect_shared`) neither pass deletions on nor wake a
//! subscriber whose object left the cache between the event and the read, so this small
//! fan-out stands in for them.

use std::fmt::Debug;
use std::hash::Hash;

use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::{FutureExt, SinkExt, Stream, StreamExt};
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tracing::warn;

/// How many touched objects may wait for a subscriber before the watch waits for it.
const SUBSCRIBER_BUFFER: usize = 256;

/// A watch of `K` shared by several controllers.
pub struct SharedWatch<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    kind: &'static str,
    api: Api<K>,
    config: watcher::Config,
    prepare: fn(&mut K),
    reader: Store<K>,
    writer: reflector::store::Writer<K>,
    subscribers: Vec<mpsc::Sender<K>>,
}

impl<K> SharedWatch<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// A watch of `api` with `config`; `prepare` trims each object before it is cached (for
    /// example drops its managed fields).
    #[must_use]
    pub fn new(kind: &'static str, api: Api<K>, config: watcher::Config, prepare: fn(&mut K)) -> Self {
        let (reader, writer) = reflector::store::<K>();
        Self { kind, api, config, prepare, reader, writer, subscribers: Vec::new() }
    }

    /// The cache the watch fills.
    #[must_use]
    pub fn store(&self) -> Store<K> {
        self.reader.clone()
    }

    /// A new subscriber: every object the watch touches from now on (after the cache saw it),
    /// in the form kube-runtime's controllers take as triggers.
    pub fn subscribe(&mut self) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static {
        let (sender, receiver) = mpsc::channel(SUBSCRIBER_BUFFER);
        self.subscribers.push(sender);
        receiver.map(Ok)
    }

    /// Drives the watch until `stop` resolves: caches each event, then hands the touched
    /// object to every subscriber still listening. Watch errors are logged and retried with
    /// kube-runtime's default backoff.
    pub fn run(self, stop: impl std::future::Future<Output = ()> + Send + 'static) -> BoxFuture<'static, ()> {
        let Self { kind, api, config, prepare, writer, subscribers, .. } = self;
        watcher(api, config)
            .default_backoff()
            .modify(prepare)
            .reflect(writer)
            .touched_objects()
            .take_until(stop)
            .fold(subscribers, move |mut subscribers, touched| async move {
                match touched {
                    Ok(object) => {
                        for subscriber in &mut subscribers {
                            // A subscriber that stopped (its controller shut down) is skipped.
                            let _ = subscriber.send(object.clone()).await;
                        }
                    }
                    Err(error) => warn!(kind, %error, "watch failed; retrying with backoff"),
                }
                subscribers
            })
            .map(drop)
            .boxed()
    }
}
