//! Entry point of `iot-platform-emulator`: parse the command line and serve. No logic lives
//! here.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use iot_platform_emulator::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.init_logs();
    match iot_platform_emulator::run::run(&cli.emulator).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
