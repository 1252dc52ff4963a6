//! Subcommands, one a file.

mod batch;
mod build_model;
mod cross_validate;
mod demo;
mod eval;
mod fit;
mod log_histogram;
mod models;
mod osc;
mod outputs;
mod progress;
mod run;
mod sources;
mod track;
mod train;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "facetrack",
    version,
    about = "Real-time 3D face tracking with the PARM cascade",
    long_about = "Real-time 3D face tracking with the PARM cascade. Without a subcommand it runs the desktop app (`facetrack run`).",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// The landmark cascade (M1) that gives the PARM framework its landmark updates: dlib's
    /// 68-point model (the PARM paper's setting), or facetrack's own trained on the 3D model's
    /// landmarks (ert3d), each with the update methods trained over it.
    #[arg(long, global = true, value_enum, default_value = "dlib")]
    pub m1: models::M1,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `facetrack` alone is `facetrack run`.
    #[command(flatten)]
    pub run: run::RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The desktop app (the default): the live fit over the camera frame, and the panel.
    Run(run::RunArgs),
    /// Learn the morphable model from the shared data and write face_model.bin.
    BuildModel(build_model::BuildModelArgs),
    /// Fit still images: landmarks (and, with the model-based methods, the 3D face), as JSON lines.
    Fit(fit::FitArgs),
    /// Train the PRM and PARM regressors and choose PCLM's prior weight on AFLW2000-3D.
    Train(train::TrainArgs),
    /// Render frames of the demo sequence (a synthetic moving face with ground truth) to PNG files.
    Demo(demo::DemoArgs),
    /// Track a face headless: frames from a source, the parameter stream to CSV, figures as JSON.
    Track(track::TrackArgs),
    /// Evaluate the methods on held-out AFLW2000-3D faces: NME tables, per stage, CED.
    Eval(eval::EvalArgs),
}

/// How a face is fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// The landmark cascade alone (M1), no 3D model.
    Ert,
    /// Gauss-Newton on the landmark updates with the model's prior (PARM paper Eq. 9).
    Pclm,
    /// A linear regressor a stage on the landmark updates (Eq. 10).
    Prm,
    /// A linear regressor a stage on the landmark updates and the current parameters (Eq. 12).
    Parm,
    /// PARM followed by the joint 2D and 3D refinement (joint paper Eq. 4).
    #[value(name = "parm+joint")]
    ParmJoint,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    models::choose_m1(cli.m1);
    match cli.command {
        None => run::run(cli.run),
        Some(Command::Run(args)) => run::run(args),
        Some(Command::BuildModel(args)) => build_model::run(&args),
        Some(Command::Fit(args)) => fit::run(args),
        Some(Command::Train(args)) => train::run(args),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Demo(args)) => demo::run(&args),
        Some(Command::Track(args)) => track::run(args),
    }
}

impl Method {
    /// The name the command line and the output files use.
    pub fn name(self) -> &'static str {
        match self {
            Method::Ert => "ert",
            Method::Pclm => "pclm",
            Method::Prm => "prm",
            Method::Parm => "parm",
            Method::ParmJoint => "parm+joint",
        }
    }
}

pub use facetrack::capture::count_frames as frames;

/// An error and its causes, outermost first, on one line. A cause whose text the line already
/// holds is left out: library errors name their cause in their own message, so that a warning
/// made from one alone still gives the operating system's reason.
pub fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_each_cause_once() {
        let io = std::io::Error::from_raw_os_error(28);
        let reason = io.to_string();
        #[derive(Debug, thiserror::Error)]
        #[error("cannot write out.csv: {0}")]
        struct Write(#[source] std::io::Error);
        let err = anyhow::Error::new(Write(io)).context("tracking");
        let text = error_text(&err);
        assert_eq!(text, format!("tracking: cannot write out.csv: {reason}"));
        assert_eq!(text.matches(&reason).count(), 1);
    }
}
