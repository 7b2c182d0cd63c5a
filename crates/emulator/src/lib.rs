//! # iot-platform-emulator
//!
//! The platform emulator: an HTTP server that plays the IoT Platform on the wire (same
//! actions, parameters, JSON bodies, error codes and HTTP statuses, both signature schemes,
//! per-operation QPS, the name, lock and distribution rules), with state in memory, fault
//! injection and a read-only admin view for tests.
//!
//! - [`state`]: the platform's rules (pure).
//! - [`gateway`]: signatures, keys, nonces, timestamps (pure).
//! - [`sts`]: the Security Token Service: roles, OIDC providers, temporary keys (pure).
//! - [`faults`]: what goes wrong on purpose.
//! - [`server`]: the HTTP listener.
//! - [`xml`]: XML bodies for clients that ask for them.
//! - [`cli`], [`run`]: the `iot-platform-emulator` binary's command line and serving loop.
//!
//! Where the platform's documentation is silent, the choices made are listed in
//! `docs/emulator.md`.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod cli;
pub mod faults;
pub mod gateway;
pub mod run;
pub mod server;
pub mod state;
pub mod sts;
pub mod xml;

pub use server::{Emulator, EmulatorConfig};
