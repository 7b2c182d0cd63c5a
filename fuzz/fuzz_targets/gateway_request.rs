//! Any request, however malformed, is parsed and refused (or accepted) by the emulator's
//! gateway without a panic. The input is a request in text form:
//! `METHOD QUERY\nname: value\n…\n\nBODY`.
#![no_main]

use iot_platform_emulator::gateway::{AccessKey, Incoming, NonceCache, authenticate};
use libfuzzer_sys::fuzz_target;

/// 2024-01-01T00:00:00Z: the clock the seeds were signed with.
const NOW_MS: i64 = 1_704_067_200_000;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let (method, query) = first.split_once(' ').unwrap_or((first, ""));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    let incoming = Incoming::from_parts(method, Some(query), headers, body.as_bytes().to_vec());
    let keys = [
        AccessKey::parse("LTAI5tFuzzKeyId:fuzz-secret:1234567890123456:owner@example.com").unwrap(),
        AccessKey::parse("STS.FuzzKeyId:sts-secret:1234567890123456:owner@example.com:fuzz-token").unwrap(),
    ];
    let mut nonces = NonceCache::default();
    if authenticate(&incoming, &keys, &mut nonces, NOW_MS).is_ok() {
        // Accepted once: the same request again is a replay.
        assert!(
            authenticate(&incoming, &keys, &mut nonces, NOW_MS).is_err(),
            "a replayed request was accepted"
        );
    }
});
