//! The command line of the `iot-product-operator` binary: one binary, several subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Manage Alibaba Cloud IoT Platform products from Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "iot-product-operator", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions as YAML, or write one file per CRD into a
    /// directory (as checked in under `crds/`).
    Crds(CrdsArgs),
}

/// Arguments of `crds`.
#[derive(Debug, clap::Args)]
pub struct CrdsArgs {
    /// Write one file per CRD (plus a kustomization.yaml) into this directory instead of
    /// printing a multi-document stream.
    #[arg(long)]
    pub out: Option<PathBuf>,
}
