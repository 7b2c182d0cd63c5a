//! The `IotProduct` reconciler.
//!
//! ```text
//! finalizer ─► desired ─► observe ─► plan ─► execute ─► report
//! ```
//!
//! - [`desired`]: spec → [`desired::DesiredProduct`] (no I/O).
//! - [`plan`]: the pure decision table (no I/O).
pub mod desired;
pub mod plan;
