//! `--osc HOST:PORT`, `--osc-format` and `--osc-no-mirror`, shared by `run` and `track`: every
//! fitted frame sent live over OSC (VMC to an avatar program, or plain OSC).

use anyhow::{Context, Result};
use clap::Args;

use facetrack::record::{OscFormat, OscOptions, OscSender};

#[derive(Debug, Clone, Args)]
pub struct OscArgs {
    /// Send every fitted frame over OSC (UDP) to HOST:PORT: a VMC receiver (VSeeFace, VNyan,
    /// Warudo: 127.0.0.1:39539), or any OSC program with `--osc-format plain`.
    #[arg(long, value_name = "HOST:PORT")]
    pub osc: Option<String>,
    /// vmc: the VMC protocol's head bone and ARKit-named blendshapes; plain: /facetrack/pose and
    /// /facetrack/blend/NAME.
    #[arg(long, value_name = "vmc|plain", default_value = "vmc")]
    pub osc_format: OscFormat,
    /// VMC: move the avatar as the person moves (their right is its right) instead of as their
    /// mirror image.
    #[arg(long)]
    pub osc_no_mirror: bool,
}

impl OscArgs {
    pub fn options(&self) -> OscOptions {
        OscOptions {
            format: self.osc_format,
            mirror: !self.osc_no_mirror,
        }
    }

    /// The sender `--osc` asks for, its address resolved; `None` without `--osc`.
    pub fn sender(&self) -> Result<Option<OscSender>> {
        let Some(address) = &self.osc else {
            return Ok(None);
        };
        let sender = OscSender::new(address, self.options()).context("--osc")?;
        Ok(Some(sender))
    }
}
