//! Which product a create whose answer was not seen may claim: only one its own call could
//! have made.
//!
//! A CreateProduct answered ambiguously (a server error, a lost answer, a timeout) may or may
//! not have made the product. The product it made, if any, carries the name sent and was
//! created while the call was in flight: after it was sent and before its answer (or the
//! transport failure) came back. Each such attempt is recorded as a span on the platform's
//! clock ([`iot_platform::IotPlatform::clock_offset_ms`] turns the operator's clock into the
//! platform's, measured from the `Date` header of its answers); a product of that name
//! created outside every span was made by someone else, and is a name conflict, never this
//! resource's product.
//!
//! Pure: no I/O.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

use crate::crd::product::{CreateAttempt, PendingCreate};

/// How far the platform's product timestamps (`GmtCreate`) may stray from the clock its
/// `Date` headers show: the header's one-second resolution, the answer's travel time, and
/// the clocks of the platform's own servers. Spans are widened by this on both sides.
pub const CLOCK_SKEW_MS: i64 = 2_000;

/// How long a call may stay in flight when its answer was never recorded (the operator
/// stopped while waiting): four attempts of the client's 30-second timeout and the waits
/// between them.
pub const UNANSWERED_SPAN_MS: i64 = 180_000;

/// The most attempts a pending create remembers (the oldest are dropped: a product one of
/// them made is then a name conflict for a person to resolve, never a wrong claim).
pub const MAX_ATTEMPTS: usize = 8;

/// One span in which a create may have made the product, epoch milliseconds on the
/// platform's clock, skew included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The earliest creation time that counts.
    pub from_ms: i64,
    /// The latest.
    pub to_ms: i64,
}

/// A create that was started and not settled: the name it sent and when it may have made
/// the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The name sent.
    pub product_name: String,
    /// When its attempts may have made the product.
    pub spans: Vec<Span>,
}

impl Pending {
    /// The pending create a resource's status records. A status written before attempts were
    /// recorded (by an older operator) has only the time the create started, on the
    /// operator's clock: it counts as one attempt whose answer was never seen.
    #[must_use]
    pub fn from_status(pending: &PendingCreate) -> Self {
        let spans = if pending.attempts.is_empty() {
            let since = pending.since.0.as_millisecond();
            vec![span(since, None)]
        } else {
            pending
                .attempts
                .iter()
                .map(|a| span(micro_ms(&a.sent), a.answered.as_ref().map(micro_ms)))
                .collect()
        };
        Self { product_name: pending.product_name.clone(), spans }
    }

    /// Whether one of the attempts could have made a product created at `gmt_create_ms`
    /// (the platform's clock).
    #[must_use]
    pub fn could_have_made(&self, gmt_create_ms: i64) -> bool {
        self.spans.iter().any(|s| (s.from_ms..=s.to_ms).contains(&gmt_create_ms))
    }

    /// The earliest creation time any attempt could have given its product (a name look-up
    /// stops at products older than this).
    #[must_use]
    pub fn earliest_ms(&self) -> Option<i64> {
        self.spans.iter().map(|s| s.from_ms).min()
    }
}

fn span(sent_ms: i64, answered_ms: Option<i64>) -> Span {
    Span {
        from_ms: sent_ms - CLOCK_SKEW_MS,
        to_ms: answered_ms.unwrap_or(sent_ms + UNANSWERED_SPAN_MS) + CLOCK_SKEW_MS,
    }
}

fn micro_ms(time: &MicroTime) -> i64 {
    time.0.as_millisecond()
}

/// A time on the platform's clock as status records it.
#[must_use]
pub fn micro_time(ms: i64) -> MicroTime {
    MicroTime(jiff::Timestamp::from_millisecond(ms).unwrap_or_else(|_| jiff::Timestamp::now()))
}

/// The pending create after one more attempt was sent at `sent_ms` (platform clock): the
/// earlier attempts of the same name are kept (any of them may have made the product), at
/// most [`MAX_ATTEMPTS`] in all.
#[must_use]
pub fn with_attempt(
    previous: Option<&PendingCreate>,
    product_name: &str,
    instance_id: &str,
    now: jiff::Timestamp,
    sent_ms: i64,
) -> PendingCreate {
    let mut pending =
        previous.filter(|p| p.product_name == product_name).cloned().unwrap_or_else(|| PendingCreate {
            product_name: product_name.to_string(),
            instance_id: Some(instance_id.to_string()),
            since: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now),
            attempts: Vec::new(),
        });
    if pending.attempts.is_empty() && previous.is_some_and(|p| p.product_name == product_name) {
        // An older operator's intent: its one attempt, unanswered, stays a candidate.
        pending
            .attempts
            .push(CreateAttempt { sent: micro_time(pending.since.0.as_millisecond()), answered: None });
    }
    pending.attempts.push(CreateAttempt { sent: micro_time(sent_ms), answered: None });
    let excess = pending.attempts.len().saturating_sub(MAX_ATTEMPTS);
    pending.attempts.drain(..excess);
    pending
}

/// The pending create after the last attempt's answer came back at `answered_ms` (platform
/// clock): an ambiguous answer keeps the attempt with its end; a definitive one (the call
/// was refused before anything was made) drops it, and with no attempt left nothing is
/// pending.
#[must_use]
pub fn answered(mut pending: PendingCreate, answered_ms: i64, ambiguous: bool) -> Option<PendingCreate> {
    if ambiguous {
        if let Some(last) = pending.attempts.last_mut() {
            last.answered = Some(micro_time(answered_ms));
        }
    } else {
        pending.attempts.pop();
    }
    (!pending.attempts.is_empty()).then_some(pending)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    const T: i64 = 1_800_000_000_000;

    fn status(attempts: &[(i64, Option<i64>)]) -> PendingCreate {
        PendingCreate {
            product_name: "Outside_13".into(),
            instance_id: None,
            since: Time(jiff::Timestamp::from_millisecond(T).unwrap()),
            attempts: attempts
                .iter()
                .map(|(sent, answered)| CreateAttempt {
                    sent: micro_time(*sent),
                    answered: answered.map(micro_time),
                })
                .collect(),
        }
    }

    #[test]
    fn only_a_product_created_while_an_attempt_was_in_flight_is_claimed() {
        let pending = Pending::from_status(&status(&[(T, Some(T + 300))]));
        for (created, claimed) in [
            (T - CLOCK_SKEW_MS - 1, false),
            (T - CLOCK_SKEW_MS, true),
            (T + 150, true),
            (T + 300 + CLOCK_SKEW_MS, true),
            (T + 300 + CLOCK_SKEW_MS + 1, false),
            // The attack of issue 26: created by someone else seconds after the 500 came back.
            (T + 10_000, false),
            (T + 3_600_000, false),
        ] {
            assert_eq!(pending.could_have_made(created), claimed, "created at T{:+}", created - T);
        }
        assert_eq!(pending.earliest_ms(), Some(T - CLOCK_SKEW_MS));
    }

    #[test]
    fn each_attempt_has_its_own_span_and_the_gap_between_them_is_no_ones() {
        let pending = Pending::from_status(&status(&[(T, Some(T + 500)), (T + 60_000, Some(T + 60_400))]));
        assert!(pending.could_have_made(T + 200));
        assert!(pending.could_have_made(T + 60_200));
        assert!(!pending.could_have_made(T + 30_000), "between the attempts");
    }

    #[test]
    fn an_attempt_whose_answer_was_never_recorded_spans_the_longest_a_call_can_take() {
        let pending = Pending::from_status(&status(&[(T, None)]));
        assert!(pending.could_have_made(T + UNANSWERED_SPAN_MS));
        assert!(!pending.could_have_made(T + UNANSWERED_SPAN_MS + CLOCK_SKEW_MS + 1));
        let older_operator = Pending::from_status(&status(&[]));
        assert_eq!(older_operator, pending, "a status without attempts: one unanswered attempt at `since`");
    }

    #[test]
    fn an_ambiguous_answer_keeps_the_attempt_and_a_definitive_one_drops_it() {
        let now = jiff::Timestamp::from_millisecond(T).unwrap();
        let first = with_attempt(None, "Outside_13", "iot-1", now, T);
        let kept = answered(first.clone(), T + 300, true).unwrap();
        assert_eq!(kept.attempts[0].answered, Some(micro_time(T + 300)));
        assert_eq!(
            answered(first, T + 300, false),
            None,
            "refused before anything was made: nothing pending"
        );
        let second = with_attempt(Some(&kept), "Outside_13", "iot-1", now, T + 60_000);
        assert_eq!(second.attempts.len(), 2);
        let refused = answered(second, T + 60_100, false).unwrap();
        assert_eq!(refused, kept, "the earlier ambiguous attempt stays a candidate");
    }

    #[test]
    fn another_name_starts_afresh_and_attempts_are_bounded() {
        let now = jiff::Timestamp::from_millisecond(T).unwrap();
        let mut pending = with_attempt(None, "Outside_13", "iot-1", now, T);
        for i in 1..20 {
            pending = with_attempt(Some(&pending), "Outside_13", "iot-1", now, T + i);
        }
        assert_eq!(pending.attempts.len(), MAX_ATTEMPTS);
        assert_eq!(pending.attempts.last().unwrap().sent, micro_time(T + 19));
        let renamed = with_attempt(Some(&pending), "Inside_14", "iot-1", now, T + 100);
        assert_eq!(renamed.attempts.len(), 1);
        assert_eq!(renamed.product_name, "Inside_14");
    }

    #[test]
    fn an_older_operators_intent_stays_a_candidate_when_a_new_attempt_is_made() {
        let now = jiff::Timestamp::from_millisecond(T + 5_000).unwrap();
        let old = status(&[]);
        let next = with_attempt(Some(&old), "Outside_13", "iot-1", now, T + 5_000);
        assert_eq!(next.attempts.len(), 2);
        assert_eq!(next.attempts[0].sent, micro_time(T));
    }
}
