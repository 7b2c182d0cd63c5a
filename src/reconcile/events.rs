//! Publishing Events (events.k8s.io/v1).
//!
//! Warnings go through kube-runtime's [`Recorder`], which folds a Warning repeated within
//! six minutes into one Event with a series count. That fold needs a cache of every Event
//! published in those six minutes; Normal Events here are one-off reports of a platform write
//! (Created, Published, SecretWritten, …) that never repeat as a series, so they are created
//! directly and not cached: at thousands of products the cache was the operator's largest
//! memory cost during a rollout.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

/// Publishes Events: Warnings with series folding, Normal ones directly.
#[derive(Clone)]
pub struct EventPublisher {
    client: Client,
    reporter: Reporter,
    recorder: Recorder,
}

impl EventPublisher {
    /// A publisher reporting as `reporter`.
    #[must_use]
    pub fn new(client: Client, reporter: Reporter) -> Self {
        let recorder = Recorder::new(client.clone(), reporter.clone());
        Self { client, reporter, recorder }
    }

    /// Publishes `event` about the object `regarding`.
    ///
    /// # Errors
    /// The API server's refusal.
    pub async fn publish(&self, event: &Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        if event.type_ == EventType::Warning {
            return self.recorder.publish(event, regarding).await;
        }
        let namespace = regarding.namespace.clone().unwrap_or_else(|| "default".into());
        let now = jiff::Timestamp::now();
        // `<object>.<random hex>`, within the 253 characters a name may have.
        let object: String = regarding.name.as_deref().unwrap_or("object").chars().take(200).collect();
        let name = format!("{object}.{:x}", now.as_nanosecond() as u64 ^ rand::random::<u64>());
        let k8s_event = K8sEvent {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            note: event.note.clone(),
            type_: Some("Normal".into()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: event.secondary.clone(),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter.instance.clone().unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            ..K8sEvent::default()
        };
        Api::<K8sEvent>::namespaced(self.client.clone(), &namespace)
            .create(&PostParams::default(), &k8s_event)
            .await?;
        Ok(())
    }
}
