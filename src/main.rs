//! The facetrack command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

// While `cli::Command` has no variant yet, `Cli` is uninhabited and everything after parsing is
// unreachable; drop this with the first subcommand.
#[allow(unreachable_code, unused_variables)]
fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the error and its causes, outermost first.
            eprintln!("facetrack: {err:#}");
            ExitCode::from(1)
        }
    }
}
