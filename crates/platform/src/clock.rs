//! The platform's clock as seen from here: the offset between the `Date` header of its
//! answers and the local clock when they arrived.
//!
//! The platform stamps what it makes with its own clock (`GmtCreate`); a decision that
//! compares such a stamp with a moment of the operator's (when a create was sent) converts
//! that moment first, so a skewed node clock cannot widen or shift it.

use std::sync::atomic::{AtomicI64, Ordering};

/// No answer has carried a `Date` header yet.
const UNKNOWN: i64 = i64::MIN;

/// The offset of the platform's clock from the local one, from its latest answer.
#[derive(Debug)]
pub struct PlatformClock {
    offset_ms: AtomicI64,
}

impl Default for PlatformClock {
    fn default() -> Self {
        Self { offset_ms: AtomicI64::new(UNKNOWN) }
    }
}

impl PlatformClock {
    /// Records an answer's `Date` header (an HTTP date, one-second resolution) that arrived
    /// at `received_ms` on the local clock; a header that is not a date is ignored.
    pub fn observe_date(&self, date: &str, received_ms: i64) {
        if let Some(platform_ms) = parse_http_date(date) {
            self.offset_ms.store(platform_ms - received_ms, Ordering::Relaxed);
        }
    }

    /// The platform's clock minus the local one, milliseconds; `None` before any answer
    /// carried a date.
    #[must_use]
    pub fn offset_ms(&self) -> Option<i64> {
        Some(self.offset_ms.load(Ordering::Relaxed)).filter(|&o| o != UNKNOWN)
    }
}

/// An HTTP date (`Sun, 06 Dec 2026 20:52:16 GMT`) as epoch milliseconds.
#[must_use]
pub fn parse_http_date(date: &str) -> Option<i64> {
    jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(date.trim()).ok().map(|t| t.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_follows_the_latest_date_header() {
        let clock = PlatformClock::default();
        assert_eq!(clock.offset_ms(), None);
        let date_ms = parse_http_date("Sun, 06 Dec 2026 20:52:16 GMT").unwrap();
        assert_eq!(date_ms, jiff::Timestamp::from_second(1_796_590_336).unwrap().as_millisecond());
        clock.observe_date("Sun, 06 Dec 2026 20:52:16 GMT", date_ms - 3_000);
        assert_eq!(clock.offset_ms(), Some(3_000));
        clock.observe_date("not a date", 0);
        assert_eq!(clock.offset_ms(), Some(3_000), "a header that is not a date changes nothing");
        clock.observe_date("Sun, 06 Dec 2026 20:52:16 GMT", date_ms + 1_000);
        assert_eq!(clock.offset_ms(), Some(-1_000));
    }
}
