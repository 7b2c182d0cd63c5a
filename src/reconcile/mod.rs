//! The machinery every reconciler shares, below them all (it imports none of them): the
//! context, account clients, conditions, Events, the failure backoff, the admission queue,
//! the finalizer wrapper, the one error policy, how platform errors read, and who may use which account.

pub mod account_clients;
pub mod admission;
pub mod backoff;
pub mod conditions;
pub mod confirmations;
pub mod context;
pub mod events;
pub mod failure;
pub mod finalizer;
pub mod own_writes;
pub mod ownership;
pub mod platform_errors;
pub mod status;
pub mod tenancy;

/// An error and its sources, outermost first, joined with `: ` (for logs: each layer says
/// what failed, the innermost why).
#[must_use]
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn an_error_chain_reads_from_the_outside_in() {
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(error_chain(&error), "outer: inner");
    }
}
