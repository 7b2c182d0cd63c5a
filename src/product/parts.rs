//! The product's parts beyond its attributes — custom topic categories and the data-parsing
//! script — as the platform sees them, and the pure rules that compare the spec's with the
//! platform's.
//!
//! - Topics are matched by name. A spec topic missing on the product is created, one that
//!   differs is updated, and a topic the operator manages (recorded in
//!   `status.topics.managed`) that left the spec is deleted. Topics made by others are left
//!   alone, as tags are.
//! - The script is compared by digest (its language and text).
//!
//! CreateProductTopic is the slowest call of the platform (1 per second per account), so
//! topic writes are *paced* actions: the executor runs them only while the account's limiter
//! has room and leaves the rest for the next pass (see [`Action::is_paced`]).
//!
//! No I/O happens here.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest as _, Sha256};

use crate::crd::product::IotProductSpec;
use crate::crd::product_parts::{MessageType, ScriptLanguage, TopicCodec, TopicOperation};
use iot_platform::model::{CreateSubscribeRelation, QuerySubscribeRelationResponse, SUBSCRIBE_AMQP};

use super::plan::Action;

/// A topic category in the platform's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredTopic {
    /// TopicShortName.
    pub name: String,
    /// `PUB`, `SUB` or `ALL`.
    pub operation: &'static str,
    /// Desc (empty when unset).
    pub description: String,
    /// EnableProxySubscribe (false when unset).
    pub proxy_subscribe: bool,
    /// Codec: `compress` or `decompress`.
    pub codec: Option<&'static str>,
}

/// A topic category as QueryProductTopic reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedTopic {
    /// Its id (for updates and deletes).
    pub id: String,
    /// TopicShortName.
    pub name: String,
    /// Operation.
    pub operation: String,
    /// Desc.
    pub description: String,
    /// EnableProxySubscribe.
    pub proxy_subscribe: bool,
    /// Codec.
    pub codec: Option<String>,
}

/// The data-parsing script in the platform's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredScript {
    /// ScriptType: `JavaScript`, `Python_27` or `PHP_72`.
    pub language: &'static str,
    /// ScriptContent.
    pub content: String,
    /// [`script_digest`] of both.
    pub digest: String,
}

/// The product's script as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObservedScript {
    /// The product has no script.
    None,
    /// Its script, by digest.
    Present {
        /// ScriptType.
        language: String,
        /// [`script_digest`] of the language and the downloaded text.
        digest: String,
    },
}

/// The platform's word for an operation.
#[must_use]
pub fn operation_word(operation: TopicOperation) -> &'static str {
    match operation {
        TopicOperation::Pub => "PUB",
        TopicOperation::Sub => "SUB",
        TopicOperation::All => "ALL",
    }
}

/// The platform's word for a codec.
#[must_use]
pub fn codec_word(codec: TopicCodec) -> &'static str {
    match codec {
        TopicCodec::Compress => "compress",
        TopicCodec::Decompress => "decompress",
    }
}

/// The platform's ScriptType of a language.
#[must_use]
pub fn script_type(language: ScriptLanguage) -> &'static str {
    match language {
        ScriptLanguage::JavaScript => "JavaScript",
        ScriptLanguage::Python27 => "Python_27",
        ScriptLanguage::Php72 => "PHP_72",
    }
}

/// The reverse mappings, for `import` (the platform's words back to the manifest's).
pub mod words {
    use super::{ScriptLanguage, TopicCodec, TopicOperation};

    /// The operation of a platform word.
    #[must_use]
    pub fn operation(word: &str) -> Option<TopicOperation> {
        match word {
            "PUB" => Some(TopicOperation::Pub),
            "SUB" => Some(TopicOperation::Sub),
            "ALL" => Some(TopicOperation::All),
            _ => None,
        }
    }

    /// The codec of a platform word.
    #[must_use]
    pub fn codec(word: &str) -> Option<TopicCodec> {
        match word {
            "compress" => Some(TopicCodec::Compress),
            "decompress" => Some(TopicCodec::Decompress),
            _ => None,
        }
    }

    /// The language of a ScriptType.
    #[must_use]
    pub fn language(word: &str) -> Option<ScriptLanguage> {
        match word {
            "JavaScript" => Some(ScriptLanguage::JavaScript),
            "Python_27" => Some(ScriptLanguage::Python27),
            "PHP_72" => Some(ScriptLanguage::Php72),
            _ => None,
        }
    }
}

/// SHA-256 of a script's language and text (hex).
#[must_use]
pub fn script_digest(language: &str, content: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(language.as_bytes());
    hasher.update([0]);
    hasher.update(content.as_bytes());
    hex::encode(hasher.finalize())
}

/// The spec's topics in the platform's terms; `None` when the spec leaves topics alone.
#[must_use]
pub fn desired_topics(spec: &IotProductSpec) -> Option<Vec<DesiredTopic>> {
    spec.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| DesiredTopic {
                name: t.name.clone(),
                operation: operation_word(t.operation),
                description: t.description.clone().unwrap_or_default(),
                proxy_subscribe: t.proxy_subscribe.unwrap_or(false),
                codec: t.codec.map(codec_word),
            })
            .collect()
    })
}

/// The spec's script in the platform's terms; `None` when the spec leaves it alone.
#[must_use]
pub fn desired_script(spec: &IotProductSpec) -> Option<DesiredScript> {
    spec.data_parsing.as_ref().map(|d| {
        let language = script_type(d.language);
        DesiredScript { language, content: d.script.clone(), digest: script_digest(language, &d.script) }
    })
}

impl DesiredTopic {
    /// Whether the platform's topic is this one as specified.
    #[must_use]
    pub fn matches(&self, observed: &ObservedTopic) -> bool {
        self.differences(observed).is_empty()
    }

    /// What differs between the platform's topic and this one, field by field, in words
    /// (`operation: SUB → ALL`).
    #[must_use]
    pub fn differences(&self, observed: &ObservedTopic) -> Vec<String> {
        let mut out = Vec::new();
        if observed.operation != self.operation {
            out.push(format!("operation: {} → {}", observed.operation, self.operation));
        }
        if observed.description != self.description {
            out.push(format!("description: {:?} → {:?}", observed.description, self.description));
        }
        if observed.proxy_subscribe != self.proxy_subscribe {
            out.push(format!("proxySubscribe: {} → {}", observed.proxy_subscribe, self.proxy_subscribe));
        }
        let codec = observed.codec.as_deref().filter(|c| !c.is_empty());
        if codec != self.codec {
            out.push(format!("codec: {} → {}", codec.unwrap_or("none"), self.codec.unwrap_or("none")));
        }
        out
    }

    /// The topic as shown to people: `/user/telemetry (PUB)`.
    #[must_use]
    pub fn display(&self) -> String {
        format!("/user/{} ({})", self.name, self.operation)
    }
}

/// The topic writes that make the product's topics `observed` match `desired`, given the
/// names the operator manages (`managed`): deletes first (a name may move between
/// categories), then updates, then creates, each in the spec's order.
#[must_use]
pub fn topic_actions(
    desired: &[DesiredTopic],
    observed: &[ObservedTopic],
    managed: &BTreeSet<String>,
) -> Vec<Action> {
    let on_platform: BTreeMap<&str, &ObservedTopic> = observed.iter().map(|t| (t.name.as_str(), t)).collect();
    let wanted: BTreeSet<&str> = desired.iter().map(|t| t.name.as_str()).collect();
    let mut actions: Vec<Action> = observed
        .iter()
        .filter(|t| managed.contains(&t.name) && !wanted.contains(t.name.as_str()))
        .map(|t| Action::DeleteTopic { id: t.id.clone(), name: t.name.clone() })
        .collect();
    for topic in desired {
        if let Some(found) = on_platform.get(topic.name.as_str())
            && !topic.matches(found)
        {
            actions.push(Action::UpdateTopic { id: found.id.clone(), topic: topic.clone() });
        }
    }
    actions.extend(
        desired
            .iter()
            .filter(|t| !on_platform.contains_key(t.name.as_str()))
            .map(|t| Action::CreateTopic(t.clone())),
    );
    actions
}

/// The script write that makes the product's script `observed` the spec's, if one is needed.
#[must_use]
pub fn script_action(desired: &DesiredScript, observed: &ObservedScript) -> Option<Action> {
    match observed {
        ObservedScript::None => Some(Action::CreateScript),
        ObservedScript::Present { digest, .. } if *digest != desired.digest => Some(Action::UpdateScript),
        ObservedScript::Present { .. } => None,
    }
}

/// The managed topic names after `done` writes: those of the spec found on the product or
/// created, without those deleted.
#[must_use]
pub fn managed_after(
    desired: &[DesiredTopic],
    observed: &[ObservedTopic],
    previously: &BTreeSet<String>,
    done: &[Action],
) -> BTreeSet<String> {
    let mut managed: BTreeSet<String> = previously.clone();
    let on_platform: BTreeSet<&str> = observed.iter().map(|t| t.name.as_str()).collect();
    for topic in desired {
        if on_platform.contains(topic.name.as_str()) {
            managed.insert(topic.name.clone());
        }
    }
    for action in done {
        match action {
            Action::CreateTopic(topic) => {
                managed.insert(topic.name.clone());
            }
            Action::DeleteTopic { name, .. } => {
                managed.remove(name);
            }
            _ => {}
        }
    }
    // A name neither in the spec nor on the product is no longer managed.
    managed.retain(|name| desired.iter().any(|t| t.name == *name) || on_platform.contains(name.as_str()));
    managed
}

/// How many of the spec's topics are on the product as specified after `done` writes.
#[must_use]
pub fn applied_count(desired: &[DesiredTopic], observed: &[ObservedTopic], done: &[Action]) -> usize {
    desired
        .iter()
        .filter(|topic| {
            let written = done.iter().any(|a| match a {
                Action::CreateTopic(t) | Action::UpdateTopic { topic: t, .. } => t.name == topic.name,
                _ => false,
            });
            written || observed.iter().any(|o| o.name == topic.name && topic.matches(o))
        })
        .count()
}

/// The subscription the spec asks for: its consumer groups by name, resolved to the
/// platform's ids by the controller (the IotConsumerGroups of the namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredSubscription {
    /// The IotConsumerGroups named.
    pub group_names: Vec<String>,
    /// Their ids, once resolved.
    pub group_ids: Option<BTreeSet<String>>,
    /// Why they cannot be resolved now (a condition reason and message), if so.
    pub waiting: Option<(crate::reconcile::conditions::Reason, String)>,
    /// The messages to push.
    pub messages: BTreeSet<MessageType>,
}

/// The product's AMQP subscription as QuerySubscribeRelation shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObservedSubscription {
    /// The product has none.
    None,
    /// Its subscription.
    Present {
        /// The consumer groups pushed to.
        group_ids: BTreeSet<String>,
        /// The messages pushed.
        messages: BTreeSet<MessageType>,
    },
}

/// Every message type and its flag in QuerySubscribeRelation's answer.
fn flags_of(answer: &QuerySubscribeRelationResponse) -> [(MessageType, bool); 10] {
    [
        (MessageType::DeviceData, answer.device_data_flag),
        (MessageType::DeviceStatusChange, answer.device_status_change_flag),
        (MessageType::ThingHistory, answer.thing_history_flag),
        (MessageType::DeviceLifeCycle, answer.device_life_cycle_flag),
        (MessageType::DeviceTopoLifeCycle, answer.device_topo_life_cycle_flag),
        (MessageType::FoundDeviceList, answer.found_device_list_flag),
        (MessageType::OtaEvent, answer.ota_event_flag),
        (MessageType::OtaVersion, answer.ota_version_flag),
        (MessageType::OtaJob, answer.ota_job_flag),
        (MessageType::DeviceTag, answer.device_tag_flag),
    ]
}

impl ObservedSubscription {
    /// The subscription QuerySubscribeRelation answered.
    #[must_use]
    pub fn from_answer(answer: &QuerySubscribeRelationResponse) -> Self {
        Self::Present {
            group_ids: answer.consumer_group_ids.iter().cloned().collect(),
            messages: flags_of(answer).into_iter().filter(|(_, on)| *on).map(|(m, _)| m).collect(),
        }
    }
}

impl DesiredSubscription {
    /// The CreateSubscribeRelation request (UpdateSubscribeRelation takes the same fields);
    /// `None` before the consumer groups are resolved.
    #[must_use]
    pub fn request(&self, instance: Option<&str>, product_key: &str) -> Option<CreateSubscribeRelation> {
        let ids = self.group_ids.as_ref()?;
        let on = |m: MessageType| Some(self.messages.contains(&m));
        Some(CreateSubscribeRelation {
            iot_instance_id: instance.map(str::to_string),
            product_key: product_key.to_string(),
            subscribe_type: SUBSCRIBE_AMQP.to_string(),
            consumer_group_ids: ids.iter().cloned().collect(),
            device_data_flag: on(MessageType::DeviceData),
            device_status_change_flag: on(MessageType::DeviceStatusChange),
            device_topo_life_cycle_flag: on(MessageType::DeviceTopoLifeCycle),
            found_device_list_flag: on(MessageType::FoundDeviceList),
            thing_history_flag: on(MessageType::ThingHistory),
            device_life_cycle_flag: on(MessageType::DeviceLifeCycle),
            ota_event_flag: on(MessageType::OtaEvent),
            ota_version_flag: on(MessageType::OtaVersion),
            ota_job_flag: on(MessageType::OtaJob),
            device_tag_flag: on(MessageType::DeviceTag),
            ..CreateSubscribeRelation::default()
        })
    }

    /// What differs between the platform's subscription and this one, in words.
    #[must_use]
    pub fn differences(&self, observed: &ObservedSubscription) -> Vec<String> {
        let ObservedSubscription::Present { group_ids, messages } = observed else {
            return vec!["none → the spec's".to_string()];
        };
        let mut out = Vec::new();
        if let Some(ids) = &self.group_ids
            && ids != group_ids
        {
            out.push(format!("consumer groups {} → {}", join(group_ids), join(ids)));
        }
        if *messages != self.messages {
            out.push(format!("messages {} → {}", join_debug(messages), join_debug(&self.messages)));
        }
        out
    }
}

fn join(set: &BTreeSet<String>) -> String {
    if set.is_empty() { "(none)".into() } else { set.iter().cloned().collect::<Vec<_>>().join(", ") }
}

fn join_debug(set: &BTreeSet<MessageType>) -> String {
    if set.is_empty() {
        "(none)".into()
    } else {
        set.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ")
    }
}

/// The spec's subscription, unresolved; `None` when the spec leaves it alone.
#[must_use]
pub fn desired_subscription(spec: &IotProductSpec) -> Option<DesiredSubscription> {
    spec.subscription.as_ref().map(|s| DesiredSubscription {
        group_names: s.consumer_groups.clone(),
        group_ids: None,
        waiting: None,
        messages: s.messages.iter().copied().collect(),
    })
}

/// The subscription write that makes the platform's `observed` the spec's (`desired`, resolved);
/// with no subscription in the spec, the one the operator made (`managed`) is deleted.
#[must_use]
pub fn subscription_action(
    desired: Option<&DesiredSubscription>,
    observed: &ObservedSubscription,
    managed: bool,
) -> Option<Action> {
    match (desired, observed) {
        (Some(d), _) if d.group_ids.is_none() => None,
        (Some(_), ObservedSubscription::None) => Some(Action::CreateSubscription),
        (Some(d), observed) if !d.differences(observed).is_empty() => Some(Action::UpdateSubscription),
        (Some(_), _) => None,
        (None, ObservedSubscription::Present { .. }) if managed => Some(Action::DeleteSubscription),
        (None, _) => None,
    }
}

#[cfg(test)]
mod tests;
