use super::*;

fn desired(name: &str, operation: &'static str) -> DesiredTopic {
    DesiredTopic {
        name: name.into(),
        operation,
        description: String::new(),
        proxy_subscribe: false,
        codec: None,
    }
}

fn observed(id: &str, name: &str, operation: &str) -> ObservedTopic {
    ObservedTopic {
        id: id.into(),
        name: name.into(),
        operation: operation.into(),
        description: String::new(),
        proxy_subscribe: false,
        codec: None,
    }
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The rule table: (spec, platform, managed) → writes.
#[test]
fn topics_are_created_updated_and_only_managed_ones_deleted() {
    let telemetry = desired("telemetry", "PUB");
    let commands = desired("commands/+", "SUB");
    type Case = (&'static str, Vec<DesiredTopic>, Vec<ObservedTopic>, BTreeSet<String>, Vec<Action>);
    let cases: Vec<Case> = vec![
        (
            "a new product gets every topic, in the spec's order",
            vec![telemetry.clone(), commands.clone()],
            vec![],
            names(&[]),
            vec![Action::CreateTopic(telemetry.clone()), Action::CreateTopic(commands.clone())],
        ),
        (
            "a topic as specified needs nothing",
            vec![telemetry.clone()],
            vec![observed("1", "telemetry", "PUB")],
            names(&["telemetry"]),
            vec![],
        ),
        (
            "a changed operation is an update of that topic",
            vec![telemetry.clone()],
            vec![observed("1", "telemetry", "ALL")],
            names(&["telemetry"]),
            vec![Action::UpdateTopic { id: "1".into(), topic: telemetry.clone() }],
        ),
        (
            "a managed topic removed from the spec is deleted, before anything is created",
            vec![commands.clone()],
            vec![observed("1", "telemetry", "PUB")],
            names(&["telemetry"]),
            vec![
                Action::DeleteTopic { id: "1".into(), name: "telemetry".into() },
                Action::CreateTopic(commands.clone()),
            ],
        ),
        (
            "a topic someone else made is left alone",
            vec![],
            vec![observed("9", "console_made", "PUB")],
            names(&[]),
            vec![],
        ),
    ];
    for (name, spec, platform, managed, want) in cases {
        assert_eq!(topic_actions(&spec, &platform, &managed), want, "{name}");
    }
}

#[test]
fn unset_fields_compare_as_the_platforms_defaults() {
    let topic = desired("telemetry", "PUB");
    let mut seen = observed("1", "telemetry", "PUB");
    seen.codec = Some(String::new());
    assert!(topic.matches(&seen), "an empty codec is no codec");
    seen.description = "edited in the console".into();
    assert_eq!(topic.differences(&seen), vec!["description: \"edited in the console\" → \"\"".to_string()]);
    let mut compressed = desired("telemetry", "PUB");
    compressed.codec = Some("compress");
    assert_eq!(
        compressed.differences(&observed("1", "telemetry", "PUB")),
        vec!["codec: none → compress".to_string()]
    );
}

#[test]
fn the_script_is_written_when_missing_or_different() {
    let script = DesiredScript {
        language: "JavaScript",
        content: "function rawDataToProtocol(b) { return {}; }".into(),
        digest: script_digest("JavaScript", "function rawDataToProtocol(b) { return {}; }"),
    };
    assert_eq!(script_action(&script, &ObservedScript::None), Some(Action::CreateScript));
    let same = ObservedScript::Present { language: "JavaScript".into(), digest: script.digest.clone() };
    assert_eq!(script_action(&script, &same), None);
    let other = ObservedScript::Present {
        language: "Python_27".into(),
        digest: script_digest("Python_27", &script.content),
    };
    assert_eq!(
        script_action(&script, &other),
        Some(Action::UpdateScript),
        "the language is part of the script"
    );
}

#[test]
fn managed_names_follow_what_was_done_and_found() {
    let spec = vec![desired("a", "PUB"), desired("b", "PUB")];
    let platform = vec![observed("1", "a", "PUB"), observed("2", "old", "PUB")];
    let done = vec![Action::DeleteTopic { id: "2".into(), name: "old".into() }];
    // b is not created yet (paced): not managed until it exists.
    assert_eq!(managed_after(&spec, &platform, &names(&["old"]), &done), names(&["a"]));
    let done = vec![
        Action::DeleteTopic { id: "2".into(), name: "old".into() },
        Action::CreateTopic(desired("b", "PUB")),
    ];
    assert_eq!(managed_after(&spec, &platform, &names(&["old"]), &done), names(&["a", "b"]));
    assert_eq!(applied_count(&spec, &platform, &done), 2);
    assert_eq!(applied_count(&spec, &platform, &[]), 1);
}

#[test]
fn every_platform_word_maps_back() {
    for op in [TopicOperation::Pub, TopicOperation::Sub, TopicOperation::All] {
        assert_eq!(words::operation(operation_word(op)), Some(op));
    }
    for codec in [TopicCodec::Compress, TopicCodec::Decompress] {
        assert_eq!(words::codec(codec_word(codec)), Some(codec));
    }
    for language in [ScriptLanguage::JavaScript, ScriptLanguage::Python27, ScriptLanguage::Php72] {
        assert_eq!(words::language(script_type(language)), Some(language));
    }
}
