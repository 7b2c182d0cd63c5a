//! Entry point: parse the command line and dispatch to a subcommand. No logic lives here.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use iot_product_operator::cli::{Cli, Command, CrdsArgs};
use iot_product_operator::crd::render;
use iot_product_operator::{run, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format, &cli.log_level);
    let result = match cli.command {
        Command::Crds(args) => write_crds(&args),
        Command::Run(args) => run::run(&args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn write_crds(args: &CrdsArgs) -> Result<(), String> {
    match &args.out {
        None => {
            print!("{}", render::crds_yaml().map_err(|e| e.to_string())?);
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            for file in render::crd_files().map_err(|e| e.to_string())? {
                let path = dir.join(&file.name);
                std::fs::write(&path, file.contents)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
        }
    }
    Ok(())
}
