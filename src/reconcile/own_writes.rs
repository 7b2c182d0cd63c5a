//! The operator's own writes that its watches will echo back. A reconcile that writes an
//! object it also watches (a product's Secret) says so first; the watch event that carries
//! exactly that write is then not a reason to reconcile again. Anything else about the
//! object — another writer's change, a deletion — still is.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an expected echo is waited for: a write whose echo never came (it failed, or
/// changed nothing) is forgotten after this, so it cannot hide a later change.
const ECHO_WINDOW: Duration = Duration::from_secs(30);

/// The expected echoes, by `namespace/name`: the fingerprint of what was written, and when.
#[derive(Debug, Default)]
pub struct OwnWrites(Mutex<HashMap<String, (u64, Instant)>>);

impl OwnWrites {
    /// Notes that the object `namespace/name` is about to be written with data of
    /// `fingerprint`.
    pub fn expect(&self, namespace: &str, name: &str, fingerprint: u64) {
        let mut map = self.0.lock().expect("own writes lock");
        let now = Instant::now();
        map.retain(|_, (_, at)| now.duration_since(*at) < ECHO_WINDOW);
        map.insert(format!("{namespace}/{name}"), (fingerprint, now));
    }

    /// Whether a watch event of `namespace/name` with data of `fingerprint` (the object
    /// still present) is the echo of a write noted by [`Self::expect`]; an echo is recognised
    /// once.
    pub fn is_echo(&self, namespace: &str, name: &str, fingerprint: u64, present: bool) -> bool {
        let mut map = self.0.lock().expect("own writes lock");
        let key = format!("{namespace}/{name}");
        match map.get(&key) {
            Some((expected, at)) if present && *expected == fingerprint && at.elapsed() < ECHO_WINDOW => {
                map.remove(&key);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OwnWrites;

    #[test]
    fn only_the_echo_of_the_write_itself_is_recognised_and_only_once() {
        let writes = OwnWrites::default();
        writes.expect("ns", "lamp", 7);
        assert!(!writes.is_echo("ns", "lamp", 8, true), "another writer's data is a change");
        assert!(!writes.is_echo("ns", "lamp", 7, false), "a deletion is a change");
        assert!(!writes.is_echo("other", "lamp", 7, true), "another namespace's Secret");
        assert!(writes.is_echo("ns", "lamp", 7, true));
        assert!(!writes.is_echo("ns", "lamp", 7, true), "a second event with the same data is not an echo");
    }
}
