//! Subcommands, one a file.

mod build_model;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "facetrack",
    version,
    about = "Real-time 3D face tracking with the PARM cascade"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Learn the morphable model from the shared data and write face_model.bin.
    BuildModel(build_model::BuildModelArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::BuildModel(args) => build_model::run(&args),
    }
}
