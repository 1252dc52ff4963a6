//! `facetrack track`: headless tracking — the same capture and tracking threads as the window,
//! results counted instead of drawn. Ends after `--frames`, at the end of the source, or on
//! Ctrl-C (every fitted frame's row is written first), then prints one JSON line of figures:
//! frames, fps, latency from capture to result, and on the demo the error against its ground
//! truth and the jitter of its still segment.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

use facetrack::align::detect::points;
use facetrack::capture::demo::{DemoSequence, LOOP_FRAMES, STILL_FRAMES};
use facetrack::capture::{SourceSpec, Take};
use facetrack::fit::training_set::{bbox_norm, nme};
use facetrack::record::{CsvRecorder, SessionRecorder};
use facetrack::track::{
    DEFAULT_STAGES, Pipeline, PipelineEvent, ResultDelivery, ResultSink, TrackMethod, TrackResult,
    TrackSettings, TrackStatus,
};

use crate::render::{Timing, TrackedVideo};

use super::batch;
use super::models::load_tracker_models;
use super::progress::Progress;
use super::sources;

#[derive(Debug, Args)]
pub struct TrackArgs {
    /// Where frames come from: camera[:N|:NAME], video:FILE (MP4, MOV, MKV, WebM, AVI…),
    /// video:DIR (every video in the folder), images:DIR, demo, replay:DIR (default: the first
    /// camera, or the demo when there is none). Give it several times to track several videos.
    #[arg(long)]
    source: Vec<SourceSpec>,
    /// A file naming videos to track, one path a line (relative to the file).
    #[arg(long, value_name = "FILE")]
    list: Option<PathBuf>,
    /// Videos tracked at once when there are several (default: half the cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Write the parameter stream here (the CSV described in docs/csv.md); with several videos,
    /// a folder that gets NAME.csv for each.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Stop after this many frames (default: at the end of the source, or Ctrl-C).
    #[arg(long)]
    frames: Option<u64>,
    /// pclm, prm, parm or parm+joint (also pclm+joint, prm+joint).
    #[arg(long, default_value = "parm")]
    method: String,
    /// Cascade stages a frame, 1 to 15.
    #[arg(long, default_value_t = DEFAULT_STAGES)]
    stages: usize,
    /// Report the raw fits, without the temporal filter.
    #[arg(long)]
    no_filter: bool,
    /// Also keep the frames, so that `--source replay:DIR` plays the session again.
    #[arg(long)]
    record_session: Option<PathBuf>,
    /// Write the tracked video here (FILE.mp4, .mkv, .mov): every frame with the mesh, landmarks,
    /// head axes and pose readout burnt in, at the input's frame rate; with several videos, a
    /// folder that gets NAME.mp4 for each.
    #[arg(long)]
    render: Option<PathBuf>,
}

/// Parses `parm`, `parm+joint`, … into a method and the joint switch.
pub fn parse_method(s: &str) -> Result<(TrackMethod, bool)> {
    let (name, joint) = match s.strip_suffix("+joint") {
        Some(n) => (n, true),
        None => (s, false),
    };
    let method = TrackMethod::ALL
        .into_iter()
        .find(|m| m.name() == name)
        .with_context(|| {
            format!("unknown method `{s}`; tracking runs pclm, prm, parm or parm+joint")
        })?;
    Ok((method, joint))
}

#[derive(Debug, Serialize)]
struct Summary {
    source: String,
    method: &'static str,
    stages: usize,
    filter: bool,
    frames: u64,
    tracked: u64,
    fps: f64,
    latency_ms_p50: f64,
    latency_ms_p99: f64,
    fit_ms_median: f64,
    /// Mean fit confidence over the tracked frames.
    confidence_mean: f64,
    /// Times a tracked face was lost (a tracked frame followed by one that is not).
    losses: u64,
    /// Frames on which the face detector searched the whole frame.
    detector_frames: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    csv_rows: Option<u64>,
    interrupted: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    truth: Option<TruthSummary>,
}

/// Figures against the demo's ground truth.
#[derive(Debug, Serialize)]
struct TruthSummary {
    /// Median |yaw − true yaw| over tracked frames, degrees.
    gt_yaw_err_deg_median: f64,
    /// Mean landmark error over tracked frames, % of √(w·h) of the true landmarks' box.
    gt_nme: f64,
    /// On the still segment (after its first half second): standard deviation of each angle,
    /// degrees, averaged over the three; and RMS landmark movement about their mean, pixels.
    still_jitter_deg: f64,
    still_jitter_px: f64,
    still_frames: u64,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Frames of the still segment left out of the jitter while the fit settles.
const SETTLE_FRAMES: u64 = 15;

pub fn run(args: TrackArgs) -> Result<()> {
    let (method, joint) = parse_method(&args.method)?;
    if let Some(videos) = batch::videos(&args.source, args.list.as_deref())? {
        let mut pass_on = vec![
            "--method".to_owned(),
            args.method.clone(),
            "--stages".to_owned(),
            args.stages.to_string(),
        ];
        if args.no_filter {
            pass_on.push("--no-filter".into());
        }
        if let Some(n) = args.frames {
            pass_on.extend(["--frames".to_owned(), n.to_string()]);
        }
        anyhow::ensure!(
            args.record_session.is_none(),
            "--record-session keeps one session; track several videos without it"
        );
        return batch::run(batch::Batch {
            videos,
            csv_dir: args.csv,
            render_dir: args.render,
            jobs: args.jobs.unwrap_or_else(batch::default_jobs),
            pass_on,
        });
    }
    anyhow::ensure!(
        (1..=15).contains(&args.stages),
        "--stages must be 1 to 15, not {}",
        args.stages
    );
    let settings = TrackSettings {
        method,
        joint,
        stages: args.stages,
        filter: !args.no_filter,
    };
    let models = load_tracker_models()?;
    let opened = sources::open(args.source.first())?;
    eprintln!("source: {}", opened.note);

    let (n_id, n_exp) = models.dims();
    let nl = models.model.n_landmarks();
    let mut sinks: Vec<Box<dyn ResultSink>> = Vec::new();
    if let Some(path) = &args.csv {
        sinks.push(Box::new(CsvRecorder::create(path, n_id, n_exp, nl)?));
    }
    if let Some(dir) = &args.record_session {
        sinks.push(Box::new(SessionRecorder::create(dir, n_id, n_exp, nl)?));
    }
    ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst))
        .context("cannot install the Ctrl-C handler")?;

    let mut render = args.render.as_deref().map(|path| {
        let timing = opened
            .video
            .as_ref()
            .map_or(Timing::millis(30.0), |v| Timing {
                time_base: v.time_base,
                fps: v.fps,
            });
        TrackedVideo::new(path, timing, Arc::clone(&models))
    });
    let mut truth = opened.demo.map(Truth::new);
    let source = match args.frames {
        Some(n) => Box::new(Take::new(opened.source, n)),
        None => opened.source,
    };
    let started = Instant::now();
    let pipeline = Pipeline::start(
        source,
        Arc::clone(&models),
        settings,
        ResultDelivery::Every,
        sinks,
    )?;
    let source = pipeline.source().to_owned();
    let mut progress = args.frames.map(|n| Progress::new("tracking", n));
    let (mut latencies, mut fit_ms) = (Vec::new(), Vec::new());
    let (mut frames, mut tracked) = (0u64, 0u64);
    let (mut confidence_sum, mut losses, mut detector_frames) = (0.0, 0u64, 0u64);
    let mut last_done = started;
    let mut failure = None;
    let mut status = TrackStatus::Searching;
    loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            break;
        }
        for event in pipeline.events().try_iter() {
            match event {
                PipelineEvent::Warning(w) => eprintln!("warning: {w}"),
                PipelineEvent::Error(e) => failure = Some(e),
                PipelineEvent::SourceEnded | PipelineEvent::RecordingFinished(..) => {}
            }
        }
        let result = match pipeline.results().recv_timeout(Duration::from_millis(100)) {
            Ok(r) => r,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        frames += 1;
        latencies.push(result.latency().as_secs_f64() * 1e3);
        fit_ms.push(result.fit_ms);
        last_done = result.done;
        if result.status == TrackStatus::Tracking {
            tracked += 1;
            confidence_sum += result.confidence;
        } else if status == TrackStatus::Tracking {
            losses += 1;
        }
        detector_frames += u64::from(result.detected);
        if result.status != status {
            eprintln!("frame {}: {}", result.frame.index, result.status.name());
            status = result.status;
        }
        if let Some(t) = truth.as_mut() {
            t.add(&result);
        }
        if let Some(p) = progress.as_mut() {
            p.inc();
        }
        if let Some(r) = render.as_mut()
            && let Err(e) = r.add(&result)
        {
            failure = Some(format!("{e:#}"));
            break;
        }
        pipeline.recycle(result);
    }
    let interrupted = INTERRUPTED.load(Ordering::SeqCst);
    let rows = pipeline.stop()?;
    if let Some(e) = failure {
        anyhow::bail!("the source failed after {frames} frames: {e}");
    }
    if let (Some(r), Some(path)) = (render, &args.render) {
        let written = r.finish()?;
        eprintln!("rendered {written} frames to {}", path.display());
    }
    let seconds = last_done.duration_since(started).as_secs_f64();
    let summary = Summary {
        source,
        method: method.label(joint),
        stages: args.stages,
        filter: settings.filter,
        frames,
        tracked,
        fps: if seconds > 0.0 {
            frames as f64 / seconds
        } else {
            0.0
        },
        latency_ms_p50: percentile(&mut latencies, 0.50),
        latency_ms_p99: percentile(&mut latencies, 0.99),
        fit_ms_median: percentile(&mut fit_ms, 0.50),
        confidence_mean: if tracked > 0 {
            confidence_sum / tracked as f64
        } else {
            f64::NAN
        },
        losses,
        detector_frames,
        csv_rows: (args.csv.is_some() || args.record_session.is_some()).then_some(rows),
        interrupted,
        truth: truth.map(Truth::summary),
    };
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}

/// Accumulates the demo's ground-truth figures.
struct Truth {
    sequence: DemoSequence,
    params: facetrack::model::Params,
    landmarks: Vec<f64>,
    points: Vec<[f64; 2]>,
    yaw_err: Vec<f64>,
    nme: Vec<f64>,
    /// Still-segment angles (degrees) and landmarks of each tracked frame, and the pass through
    /// the loop each came from.
    still_angles: Vec<[f64; 3]>,
    still_pass: Vec<u64>,
    still_landmarks: Vec<Vec<f64>>,
}

impl Truth {
    fn new(sequence: DemoSequence) -> Self {
        let buffer = sequence.truth_buffer();
        Self {
            params: buffer.params,
            landmarks: buffer.landmarks,
            points: Vec::new(),
            sequence,
            yaw_err: Vec::new(),
            nme: Vec::new(),
            still_angles: Vec::new(),
            still_pass: Vec::new(),
            still_landmarks: Vec::new(),
        }
    }

    /// The index ranges of the still samples of each pass through the loop.
    fn still_segments(&self) -> Vec<std::ops::Range<usize>> {
        let mut out: Vec<std::ops::Range<usize>> = Vec::new();
        for (i, pass) in self.still_pass.iter().enumerate() {
            match out.last_mut() {
                Some(r) if self.still_pass[r.start] == *pass => r.end = i + 1,
                _ => out.push(i..i + 1),
            }
        }
        out
    }

    fn add(&mut self, r: &TrackResult) {
        if r.status != TrackStatus::Tracking {
            return;
        }
        let index = r.frame.index;
        self.sequence.params_at(index, &mut self.params);
        self.sequence
            .model()
            .project_landmarks(&self.params, &mut self.landmarks);
        self.points.clear();
        self.points.extend(points(&self.landmarks));
        let norm = bbox_norm(&self.points);
        self.nme.push(nme(&self.points, &r.landmarks, norm));
        self.yaw_err
            .push((r.params.yaw() - self.params.yaw()).abs().to_degrees());
        let f = index % LOOP_FRAMES;
        if (SETTLE_FRAMES..STILL_FRAMES).contains(&f) {
            let p = &r.params;
            self.still_angles
                .push([p.pitch(), p.yaw(), p.roll()].map(f64::to_degrees));
            self.still_landmarks.push(r.landmarks.clone());
            self.still_pass.push(index / LOOP_FRAMES);
        }
    }

    fn summary(mut self) -> TruthSummary {
        let n = self.still_angles.len();
        let (mut jitter_deg, mut jitter_px) = (f64::NAN, f64::NAN);
        if n >= 2 {
            // Deviations from each still segment's own mean: the fit may settle a pixel apart
            // on two passes through the loop, which is no jitter.
            let segments = self.still_segments();
            let mut sd = 0.0;
            for k in 0..3 {
                let mut var = 0.0;
                for r in &segments {
                    let a = &self.still_angles[r.clone()];
                    let mean = a.iter().map(|a| a[k]).sum::<f64>() / a.len() as f64;
                    var += a.iter().map(|a| (a[k] - mean).powi(2)).sum::<f64>();
                }
                sd += (var / n as f64).sqrt() / 3.0;
            }
            jitter_deg = sd;
            let len = self.still_landmarks[0].len();
            let mut sum = 0.0;
            for r in &segments {
                let l = &self.still_landmarks[r.clone()];
                for i in 0..len {
                    let mean = l.iter().map(|l| l[i]).sum::<f64>() / l.len() as f64;
                    sum += l.iter().map(|l| (l[i] - mean).powi(2)).sum::<f64>();
                }
            }
            // Per point: the two coordinates' variances add up.
            jitter_px = (sum / n as f64 / (len / 2) as f64).sqrt();
        }
        TruthSummary {
            gt_yaw_err_deg_median: percentile(&mut self.yaw_err, 0.5),
            gt_nme: 100.0 * self.nme.iter().sum::<f64>() / self.nme.len().max(1) as f64,
            still_jitter_deg: jitter_deg,
            still_jitter_px: jitter_px,
            still_frames: n as u64,
        }
    }
}
