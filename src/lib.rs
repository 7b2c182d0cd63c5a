//! # iot-product-operator
//!
//! A Kubernetes operator that manages Alibaba Cloud IoT Platform *products* declaratively.
//! The platform client is the crate [`iot_platform`]; the emulator is a crate of its own
//! that this one cannot depend on.
//!
//! The reconcilers do not all have one shape; each says its own in its module docs:
//!
//! - [`product`]: a pipeline — `desired (no I/O) ─► observe (reads) ─► plan (pure) ─► execute
//!   (writes) ─► report (status, Events, Secret)`.
//! - [`distribution`]: decide-then-step — a pure `decide` over what is known picks the next
//!   step, the step runs and adds to what is known, until a step ends the reconcile.
//! - [`consumer_group`]: a switch over one pure decision, one write per reconcile.
//! - [`platform_account`]: a switch — check the credentials, protect their Secret, report.
//!
//! The module graph, top to bottom (a module imports only those below it):
//!
//! ```text
//! main ─► run ─► product, distribution, consumer_group, platform_account ─► reconcile ─► crd, metrics ─► iot_platform
//! ```
//!
//! - [`cli`]: the command line of the `iot-product-operator` binary.
//! - [`run`]: the `run` subcommand: watches, controllers, leader election, shutdown.
//! - [`product`]: the `IotProduct` reconciler.
//! - [`distribution`]: the `ProductDistribution` reconciler.
//! - [`consumer_group`]: the `IotConsumerGroup` reconciler.
//! - [`platform_account`]: the `PlatformAccount` reconciler (credentials checked, Secret protected).
//! - [`reconcile`]: what the reconcilers share: context, account clients, tenancy (who may use
//!   which account), ownership marks, conditions, Events, backoff, fair admission, finalizers,
//!   status writes.
//! - [`crd`]: the custom resources (`PlatformAccount`, `IotProduct`, `ProductDistribution`,
//!   `IotConsumerGroup`).
//! - [`metrics`]: Prometheus metrics and the health endpoints.
//! - [`plan`]: `iot-product-operator plan`: what the operator would do for manifests, read-only.
//! - [`telemetry`]: log output (text or JSON).
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![allow(
    clippy::duplicated_attributes,
    reason = "kube's repeated `printcolumn(...)` helper attributes are not duplicates"
)]

pub mod cli;
pub mod consumer_group;
pub mod crd;
pub mod distribution;
pub mod import;
pub mod metrics;
pub mod plan;
pub mod platform_account;
pub mod product;
pub mod reconcile;
pub mod run;
pub mod telemetry;
