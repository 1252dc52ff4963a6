//! `facetrack run` (and `facetrack` alone): the desktop app — the window with the live fit over
//! the camera frame and the panel. `--exit-after-frames`, `--screenshot` and `--record` make it
//! scriptable for tests and demos.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use clap::Args;

use facetrack::capture::{SOURCE_SYNTAX, SourceSpec, list_cameras};
use facetrack::record::CsvRecorder;
use facetrack::record::osc::resolve;
use facetrack::track::{
    DEFAULT_STAGES, Pipeline, ResultDelivery, ResultSink, TrackCommand, TrackMethod, TrackSettings,
    TrackerModels,
};

use super::Method;
use super::models::load_tracker_models;
use super::osc::OscArgs;
use super::sources;
use crate::render::{Timing, TrackedVideo};
use crate::ui::app::{AppOptions, run as run_window};
use crate::ui::panel::SourceChoice;
use crate::ui::player::Speed;
use crate::ui::session::{OpenRequest, Opened, Opener, OscRequest};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Where frames come from (default: the first camera, else the demo).
    #[arg(long, value_name = "SOURCE", long_help = format!("Where frames come from: {SOURCE_SYNTAX} (default: the first camera, else the demo)"))]
    pub source: Option<SourceSpec>,
    /// How faces are fitted: pclm, prm, parm or parm+joint (switchable in the window: 1/2/3, J).
    #[arg(long, default_value = "parm")]
    pub method: Method,
    /// Cascade stages a frame.
    #[arg(long, default_value_t = DEFAULT_STAGES)]
    pub stages: usize,
    /// Show the raw fit, without the temporal filter.
    #[arg(long)]
    pub no_filter: bool,
    /// Fit one identity to the face's first second of confident frames together, then hold it
    /// and fit pose and expression only; released when the detector finds the face again.
    #[arg(long)]
    pub lock_identity: bool,
    /// Take the first N tracked frames as the person's neutral face (with --lock-identity, the
    /// first N once the identity is held): the expression controls read 0 on it (the panel's
    /// "Neutral face" button does the same at any time).
    #[arg(long, value_name = "N")]
    pub calibrate_neutral: Option<usize>,
    /// Record every fitted frame to this CSV file (the columns are described in docs/csv.md).
    #[arg(long, value_name = "FILE.csv")]
    pub record: Option<PathBuf>,
    /// Exit once this many frames of the source have been fitted and shown.
    #[arg(long, value_name = "N")]
    pub exit_after_frames: Option<u64>,
    /// Write the tracked video here (FILE.mp4): every fitted frame with the overlay burnt in, at
    /// the input's frame rate.
    #[arg(long, value_name = "FILE.mp4")]
    pub render: Option<PathBuf>,
    /// Play a video at this speed (0.25 to 4 times its own pace), or `fastest`: as fast as it is
    /// fitted, showing the newest fit.
    #[arg(long, value_name = "SPEED", default_value = "1")]
    pub speed: String,
    /// Start a video this many seconds in (as the seek bar does).
    #[arg(long, value_name = "SECONDS")]
    pub start: Option<f64>,
    /// At exit, write the window's last frame to this PNG file.
    #[arg(long, value_name = "FILE.png")]
    pub screenshot: Option<PathBuf>,
    #[command(flatten)]
    pub osc: OscArgs,
}

/// The settings a method name of the command line stands for.
fn settings(args: &RunArgs) -> Result<TrackSettings> {
    let (method, joint) = match args.method {
        Method::Pclm => (TrackMethod::Pclm, false),
        Method::Prm => (TrackMethod::Prm, false),
        Method::Parm => (TrackMethod::Parm, false),
        Method::ParmJoint => (TrackMethod::Parm, true),
        Method::Ert => bail!(
            "`ert` fits no 3D model, so there is nothing to draw; the window runs pclm, prm, parm or parm+joint"
        ),
    };
    if !(1..=15).contains(&args.stages) {
        bail!("--stages must be 1 to 15, not {}", args.stages);
    }
    Ok(TrackSettings {
        method,
        joint,
        stages: args.stages,
        filter: !args.no_filter,
        lock_identity: args.lock_identity,
    })
}

pub fn run(args: RunArgs) -> Result<()> {
    let settings = settings(&args)?;
    if args.exit_after_frames == Some(0) {
        bail!("--exit-after-frames must be at least 1");
    }
    if let Some(p) = &args.screenshot {
        let png = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if !png {
            bail!("--screenshot {} must name a .png file", p.display());
        }
    }
    let speed = match args.speed.as_str() {
        "fastest" => Speed::AsFastAsItFits,
        s => match s.trim_end_matches(['x', '×']).parse::<f64>() {
            Ok(r) if (0.25..=4.0).contains(&r) => Speed::Rate(r),
            _ => {
                bail!("--speed must be 0.25 to 4 (times the video's pace) or `fastest`, not `{s}`")
            }
        },
    };
    // A bad address stops the run before the window opens; the panel sends to what it resolved.
    let osc = match &args.osc.osc {
        Some(address) => Some(OscRequest {
            address: resolve(address).context("--osc")?.to_string(),
            options: args.osc.options(),
        }),
        None => None,
    };
    let options = AppOptions {
        osc,
        source: args.source.clone(),
        settings,
        record: args.record.clone(),
        render: args.render.clone(),
        speed,
        start: match args.start {
            Some(t) if t.is_finite() && t >= 0.0 => Some(std::time::Duration::from_secs_f64(t)),
            Some(t) => bail!("--start must be a time in seconds from 0 on, not {t}"),
            None => None,
        },
        exit_after_frames: args.exit_after_frames,
        screenshot: args.screenshot.clone(),
        sources: source_choices(),
        calibrate_neutral: args.calibrate_neutral,
    };
    let summary = run_window(options, opener())?;
    let s = &summary.speed;
    note!(
        "facetrack: {} frames fitted; window {:.1} fps, fitting {:.1} fps ({:.2} ms a frame) on {} ({}, {}); {} rows recorded",
        s.frames,
        s.window_fps,
        s.fit_fps,
        s.fit_ms,
        summary.adapter,
        summary.backend,
        summary.present_mode,
        summary.rows
    );
    out!(
        "{}",
        serde_json::to_string(&summary).context("cannot write the summary")?
    )?;
    let mut problems = Vec::new();
    if summary.skipped_frames > 0 {
        problems.push(format!(
            "{} could not be decoded (the panel's warnings named them)",
            super::frames(summary.skipped_frames)
        ));
    }
    if summary.lost_rows > 0 {
        problems.push(format!(
            "{} fitted and not written to the recording",
            super::frames(summary.lost_rows)
        ));
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// Opens sources for the window, on the opener's thread: the models are loaded once, by the
/// first open, and shared by every pipeline after it.
fn opener() -> Opener {
    let models: Mutex<Option<Arc<TrackerModels>>> = Mutex::new(None);
    Arc::new(move |req: OpenRequest| {
        let models = {
            let mut cached = models
                .lock()
                .map_err(|_| anyhow::anyhow!("the models' cache is poisoned"))?;
            match cached.as_ref() {
                Some(m) => Arc::clone(m),
                None => {
                    let m = load_tracker_models()?;
                    *cached = Some(Arc::clone(&m));
                    m
                }
            }
        };
        let opened = match req.start {
            Some(t) => sources::open_at(req.source.as_ref(), t)?,
            None => sources::open(req.source.as_ref())?,
        };
        let mut sinks: Vec<Box<dyn ResultSink>> = Vec::new();
        if let Some(path) = &req.record {
            let (n_id, n_exp) = models.dims();
            let rec = CsvRecorder::create(path, n_id, n_exp, models.model.n_landmarks())
                .with_context(|| format!("cannot record to {}", path.display()))?;
            sinks.push(Box::new(rec));
        }
        if let Some(path) = &req.render {
            let timing = Timing::of(opened.video.as_ref());
            sinks.push(Box::new(TrackedVideo::new(
                path,
                timing,
                Arc::clone(&models),
            )));
        }
        // A video is played like a player, every frame shown: the tracker waits for the window.
        let delivery = if opened.video.is_some() {
            ResultDelivery::Every
        } else {
            ResultDelivery::Newest
        };
        let pipeline = Pipeline::start_with(
            opened.source,
            Arc::clone(&models),
            req.settings,
            delivery,
            sinks,
            req.live
                .map(TrackCommand::StartLive)
                .into_iter()
                .chain(req.calibrate_neutral.map(TrackCommand::CalibrateNeutral))
                .collect(),
        )?;
        Ok(Opened {
            pipeline,
            models,
            description: opened.note,
            video: opened.video,
            source: req.source.clone(),
        })
    })
}

/// The sources the panel offers: the cameras found, and the demo.
fn source_choices() -> Vec<SourceChoice> {
    let mut choices: Vec<SourceChoice> = list_cameras()
        .unwrap_or_default()
        .into_iter()
        .map(|c| SourceChoice {
            label: format!("camera {}: {}", c.index, c.name),
            spec: SourceSpec::Camera(Some(c.index.to_string())),
        })
        .collect();
    choices.push(SourceChoice {
        label: "demo (synthetic face)".into(),
        spec: SourceSpec::Demo,
    });
    choices
}
