//! Subcommands, one a file.

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
pub enum Command {}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {}
}
