//! The facetrack command line, and the desktop app's window (`render`, `ui`), which only the
//! binary depends on.

mod cli;
mod render;
mod ui;

use std::process::ExitCode;

use clap::Parser;

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
