//! Entry point: parse the command line and dispatch to a subcommand. No logic lives here.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use iot_product_operator::cli::{Cli, Command};
use iot_product_operator::crd::render;
use iot_product_operator::reconcile::error_chain;
use iot_product_operator::{run, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format, &cli.log_level);
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Crds(args) => match &args.out {
            None => render::crds_yaml().map(|yaml| print!("{yaml}")).map_err(Into::into),
            Some(dir) => render::write_files(dir).map_err(Into::into),
        },
        Command::Run(args) => run::run(&args).await.map_err(Into::into),
        Command::Plan(args) => match iot_product_operator::plan::run(&args).await {
            Ok(code) => return ExitCode::from(code),
            Err(error) => Err(error.into()),
        },
        Command::Import(args) => match iot_product_operator::import::run(&args).await {
            Ok(code) => return ExitCode::from(code),
            Err(error) => Err(error.into()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}
