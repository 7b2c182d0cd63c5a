use super::*;

fn refused_by_default(text: &str) -> EndpointError {
    EndpointPolicy::default().allow(text).expect_err(text)
}

#[test]
fn by_default_only_https_hosts_under_aliyuncs_com_are_allowed() {
    let policy = EndpointPolicy::default();
    for ok in [
        "https://iot.cn-shanghai.aliyuncs.com",
        "https://iot-vpc.cn-shanghai.aliyuncs.com/",
        "https://IOT.ap-southeast-1.aliyuncs.com:443",
    ] {
        assert_eq!(policy.check(ok), Ok(()), "{ok}");
    }
    for refused in [
        "http://iot.cn-shanghai.aliyuncs.com",
        "https://aliyuncs.com",
        "https://iot.cn-shanghai.aliyuncs.com.evil.example",
        "https://evilaliyuncs.com",
        "https://iot.cn-shanghai.aliyuncs.com:8443",
        "https://attacker.example",
    ] {
        assert!(matches!(policy.check(refused), Err(EndpointError::NotAllowed { .. })), "{refused}");
    }
    assert!(matches!(policy.check("iot.cn-shanghai.aliyuncs.com"), Err(EndpointError::NotAUrl { .. })));
}

/// Every spelling an attacker may try: (text, allowed?, what the refusal says). Whatever
/// is allowed connects to a host under aliyuncs.com on 443.
#[test]
fn hand_written_spellings_are_decided_on_what_the_client_reads() {
    let cases: &[(&str, bool, &str)] = &[
        ("https://attacker.example\\.aliyuncs.com", false, "backslash"),
        ("https://attacker.example\\@iot.cn-shanghai.aliyuncs.com", false, "backslash"),
        ("https://attacker.example%5C.aliyuncs.com", false, "percent-escape"),
        ("https://attacker.example%2F.aliyuncs.com", false, "percent-escape"),
        ("https://attacker%2eexample.aliyuncs.com", false, "percent-escape"),
        ("https://iot.cn-shanghai.aliyuncs.com@attacker.example", false, "'@'"),
        ("https://user:pass@iot.cn-shanghai.aliyuncs.com", false, "'@'"),
        ("https://attacker.example#.aliyuncs.com", false, "fragment"),
        ("https://attacker.example?.aliyuncs.com", false, "query"),
        ("https://attacker.example/.aliyuncs.com", false, "path"),
        ("https://iot.cn-shanghai.aliyuncs.com/api", false, "path"),
        ("https://iot.cn-shanghai.aliyuncs.com/?x=1", false, "query"),
        ("https://attacker.example\t.aliyuncs.com", false, "control character"),
        ("https://iot.cn-shanghai.aliyuncs.com\n", false, "control character"),
        ("https://iot.cn-shanghai.aliyuncs.com ", false, "white space"),
        ("https://attacker\u{ff0e}example.aliyuncs.com", false, "non-ASCII"),
        ("https://iot\u{ff0e}cn-shanghai\u{ff0e}aliyuncs\u{ff0e}com", false, "non-ASCII"),
        ("https://iot.cn-shanghai.aliyuncs.com.", false, "ends with a dot"),
        ("https://iot.cn-shanghai.aliyuncs.com.:443", false, "ends with a dot"),
        ("https://[::1]", false, "not allowed"),
        ("https://[::ffff:127.0.0.1]", false, "differently"),
        ("https://127.0.0.1", false, "not allowed"),
        ("https://2130706433", false, "reads its host or port differently"),
        ("https://0x7f.1", false, "reads its host or port differently"),
        ("https://iot.cn-shanghai.aliyuncs.com:0443", false, "reads its host or port differently"),
        ("https://iot.cn-shanghai.aliyuncs.com:8443", false, "not allowed"),
        ("https://iot.cn-shanghai.aliyuncs.com:", false, "reads its host or port differently"),
        ("https://a!b.aliyuncs.com", false, "characters a host name cannot have"),
        ("https://*.aliyuncs.com", false, "characters a host name cannot have"),
        ("https:iot.cn-shanghai.aliyuncs.com", false, "reads its host or port differently"),
        ("https:/iot.cn-shanghai.aliyuncs.com", false, "reads its host or port differently"),
        ("https:///iot.cn-shanghai.aliyuncs.com", false, "reads its host or port differently"),
        ("ftp://iot.cn-shanghai.aliyuncs.com", false, "scheme"),
        ("HTTPS://IOT.CN-SHANGHAI.ALIYUNCS.COM", true, ""),
        ("https://iot.cn-shanghai.aliyuncs.com:443/", true, ""),
        ("https://iot.cn-shanghai.aliyuncs.com/", true, ""),
        ("https://xn--fiqs8s.aliyuncs.com", true, ""),
    ];
    let policy = EndpointPolicy::default();
    for (text, allowed, says) in cases {
        match policy.allow(text) {
            Ok(endpoint) => {
                assert!(allowed, "{text:?} was allowed");
                let host = endpoint.url().host_str().unwrap();
                assert!(host.ends_with(".aliyuncs.com"), "{text:?} connects to {host}");
                assert_eq!(endpoint.url().port_or_known_default(), Some(443));
            }
            Err(error) => {
                assert!(!allowed, "{text:?} was refused: {error}");
                assert!(error.to_string().contains(says), "{text:?}: {error} does not say {says:?}");
            }
        }
    }
}

#[test]
fn the_refusal_names_the_difference_and_where_the_client_would_go() {
    let error = refused_by_default("https://attacker.example\\.aliyuncs.com");
    assert_eq!(
        error.to_string(),
        "\"https://attacker.example\\\\.aliyuncs.com\" is refused: it contains a backslash, which a URL parser \
         reads as '/'; the HTTP client would read it as \"https://attacker.example/.aliyuncs.com\". Write the \
         endpoint as scheme://host[:port] with a plain ASCII host name"
    );
}

#[test]
fn the_client_gets_the_parsed_url_and_the_host_it_signs() {
    let policy = EndpointPolicy::new(["https://*.aliyuncs.com", "http://127.0.0.1:*"]).unwrap();
    let endpoint = policy.allow("HTTPS://IOT.cn-shanghai.aliyuncs.com:443/").unwrap();
    assert_eq!(endpoint.url().as_str(), "https://iot.cn-shanghai.aliyuncs.com/");
    assert_eq!(endpoint.host_header(), "iot.cn-shanghai.aliyuncs.com");
    assert_eq!(endpoint.base_url(), "https://iot.cn-shanghai.aliyuncs.com");
    let local = policy.allow("http://127.0.0.1:18080").unwrap();
    assert_eq!(local.host_header(), "127.0.0.1:18080");
    assert_eq!(local.url().as_str(), "http://127.0.0.1:18080/");
}

#[test]
fn a_pattern_widens_the_list_to_exactly_what_it_says() {
    let policy = EndpointPolicy::new(["https://*.aliyuncs.com", "http://127.0.0.1:*"]).unwrap();
    assert_eq!(policy.check("http://127.0.0.1:18080"), Ok(()));
    assert!(policy.check("http://127.0.0.2:18080").is_err());
    assert!(policy.check("http://localhost:18080").is_err());
    assert!(policy.check("http://[::ffff:127.0.0.1]:18080").is_err(), "another spelling of the address");
    assert!(policy.check("http://2130706433:18080").is_err());
    let exact = EndpointPolicy::new(["iot.example.com:8443"]).unwrap();
    assert_eq!(exact.check("https://iot.example.com:8443"), Ok(()));
    assert!(exact.check("https://iot.example.com").is_err());
    assert!(exact.check("http://iot.example.com:8443").is_err(), "plain http only when the pattern says so");
    let any = EndpointPolicy::new(["https://*"]).unwrap();
    assert_eq!(any.check("https://iot.example.com"), Ok(()));
    assert!(any.check("https://10.0.0.1").is_err(), "'*' is any domain name, no IP address");
    let v6 = EndpointPolicy::new(["http://[::1]:*"]).unwrap();
    assert_eq!(v6.check("http://[::1]:8080"), Ok(()));
    assert!(v6.check("http://[0:0::1]:8080").is_err(), "written differently from how it is read");
}

#[test]
fn patterns_that_cannot_be_read_are_refused() {
    for bad in [
        "ftp://x",
        "https://",
        "https://a*b.com",
        "https://x/path",
        "https://x:port",
        "https://user@iot.example.com",
        "https://iot.example.com\\",
        "https://iot%2eexample.com",
        "https://iot.example.com.",
        "https://*.",
        "https://iot\u{ff0e}example.com",
        "https://iot.example.com\t",
        "http://2130706433:*",
        "http://127.1:*",
    ] {
        assert!(EndpointPattern::parse(bad).is_err(), "{bad}");
    }
    let error = EndpointPattern::parse("https://user@iot.example.com").unwrap_err();
    assert!(error.to_string().contains("userinfo"), "{error}");
}

#[test]
fn the_not_allowed_refusal_names_the_allow_list() {
    let error = EndpointPolicy::default().check("https://attacker.example").unwrap_err();
    assert_eq!(
        error.to_string(),
        "the endpoint https://attacker.example is not allowed: the operator sends credentials only to https://*.aliyuncs.com"
    );
}

mod property {
    use proptest::prelude::*;

    use super::*;

    /// Pieces of endpoints, the tricky ones among them.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("https://".to_string()),
            Just("http://".to_string()),
            Just("HTTPS://".to_string()),
            Just("https:".to_string()),
            Just("/".to_string()),
            Just("//".to_string()),
            Just("\\".to_string()),
            Just("@".to_string()),
            Just(":".to_string()),
            Just("#".to_string()),
            Just("?".to_string()),
            Just(".".to_string()),
            Just("\t".to_string()),
            Just("\n".to_string()),
            Just("%2e".to_string()),
            Just("%5C".to_string()),
            Just("%2F".to_string()),
            Just("%40".to_string()),
            Just("\u{ff0e}".to_string()),
            Just("\u{3002}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just("::1".to_string()),
            Just("::ffff:127.0.0.1".to_string()),
            Just("127.0.0.1".to_string()),
            Just("0x7f".to_string()),
            Just("2130706433".to_string()),
            Just("443".to_string()),
            Just("8080".to_string()),
            Just("iot".to_string()),
            Just("cn-shanghai".to_string()),
            Just("aliyuncs.com".to_string()),
            Just(".aliyuncs.com".to_string()),
            Just("ALIYUNCS.COM".to_string()),
            Just("attacker.example".to_string()),
            Just("xn--fiqs8s".to_string()),
            "[a-z0-9.-]{1,8}",
            any::<char>().prop_map(String::from),
        ]
    }

    fn endpoint() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::collection::vec(piece(), 1..10).prop_map(|p| p.concat()),
            prop::collection::vec(piece(), 1..8).prop_map(|p| format!("https://{}", p.concat())),
            prop::collection::vec(piece(), 1..6).prop_map(|p| format!("https://{}.aliyuncs.com", p.concat())),
            any::<String>(),
        ]
    }

    /// Whether the pattern list `https://*.aliyuncs.com, http://127.0.0.1:*` allows where a
    /// client given `text` would connect, decided without the policy's code.
    fn oracle(text: &str) -> bool {
        let Ok(url) = reqwest::Url::parse(text) else { return false };
        let host = url.host_str().unwrap_or_default();
        match url.scheme() {
            "https" => host.ends_with(".aliyuncs.com") && url.port_or_known_default() == Some(443),
            "http" => host == "127.0.0.1",
            _ => false,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 8_000,
            rng_algorithm: prop::test_runner::RngAlgorithm::ChaCha,
            rng_seed: prop::test_runner::RngSeed::Fixed(20_261_206),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// For any text the policy accepts, the client — given the text or the parsed URL —
        /// connects to an allowed host and port, and to the same one either way.
        #[test]
        fn whatever_the_policy_accepts_the_client_connects_to_an_allowed_host(text in endpoint()) {
            let policy = EndpointPolicy::new(["https://*.aliyuncs.com", "http://127.0.0.1:*"]).unwrap();
            if let Ok(allowed) = policy.allow(&text) {
                prop_assert!(oracle(&text), "{text:?} was allowed but the client reads it as {:?}", reqwest::Url::parse(&text).map(|u| u.to_string()));
                let by_text = reqwest::Url::parse(&text).unwrap();
                prop_assert_eq!(by_text.host_str(), allowed.url().host_str());
                prop_assert_eq!(by_text.port_or_known_default(), allowed.url().port_or_known_default());
                prop_assert_eq!(by_text.scheme(), allowed.url().scheme());
            }
        }
    }
}
