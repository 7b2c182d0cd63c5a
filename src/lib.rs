//! # iot-product-operator
//!
//! A Kubernetes operator that manages Alibaba Cloud IoT Platform *products* declaratively.
//!
//! ```text
//! watch ─► reconcile: finalizer ─► observe ─► desired ─► plan (pure) ─► execute ─► report
//!                                    │                                   │            │
//!                           platform reads                 platform writes    status (SSA), Events, Secret
//! ```
//!
//! - [`crd`]: the custom resources (`PlatformAccount`, `IotProduct`, `ProductDistribution`).
//! - [`cli`]: the command line of the `iot-product-operator` binary.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![allow(
    clippy::duplicated_attributes,
    reason = "kube's repeated `printcolumn(...)` helper attributes are not duplicates"
)]

pub mod account;
pub mod cli;
pub mod crd;
pub mod distribution;
pub mod metrics;
pub mod operator;
pub mod product;
pub mod telemetry;
