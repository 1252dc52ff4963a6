//! `facetrack track`: headless tracking — the same capture and tracking threads as the window,
//! results counted instead of drawn. Ends after `--frames`, at the end of the source, or on
//! Ctrl-C (every fitted frame's row is written first), then prints one JSON line of figures:
//! frames, fps, latency from capture to result, and on the demo the error against its ground
//! truth and the jitter of its still segment.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
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
    DEFAULT_STAGES, LiveOutput, Pipeline, PipelineEvent, ResultDelivery, ResultSink, TrackCommand,
    TrackMethod, TrackResult, TrackSettings, TrackStatus,
};

use crate::render::{Timing, TrackedVideo};

use super::batch;
use super::log_histogram::LogHistogram;
use super::models::load_tracker_models;
use super::osc::OscArgs;
use super::outputs::refuse_input_as_output;
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
    /// Fit one identity to the face's first second of confident frames together, then hold it
    /// and fit pose and expression only; released when the detector finds the face again.
    #[arg(long)]
    lock_identity: bool,
    /// Take the first N tracked frames as the person's neutral face (with --lock-identity, the
    /// first N once the identity is held): the expression controls read 0 on it.
    #[arg(long, value_name = "N")]
    calibrate_neutral: Option<usize>,
    /// Also keep the frames, so that `--source replay:DIR` plays the session again.
    #[arg(long)]
    record_session: Option<PathBuf>,
    /// Write the tracked video here (FILE.mp4, .mkv, .mov): every frame with the mesh, landmarks,
    /// head axes and pose readout burnt in, at the input's frame rate; with several videos, a
    /// folder that gets NAME.mp4 for each.
    #[arg(long)]
    render: Option<PathBuf>,
    #[command(flatten)]
    osc: OscArgs,
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
    /// Frames the source could not decode (each has a warning).
    skipped_frames: u64,
    /// Frames a video declares and never gave (it ends early).
    missing_frames: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    csv_rows: Option<u64>,
    /// Fitted frames with no row in a recording (a full disk, say).
    #[serde(skip_serializing_if = "Option::is_none")]
    lost_rows: Option<u64>,
    /// Ended by Ctrl-C, SIGTERM or SIGHUP.
    interrupted: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    osc: Option<OscSummary>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    truth: Option<TruthSummary>,
}

/// The live OSC output's figures.
#[derive(Debug, Serialize)]
struct OscSummary {
    /// From a frame's capture to the moment its UDP send returned, ms, over the frames sent.
    osc_latency_ms_p50: f64,
    osc_latency_ms_p99: f64,
    /// Datagrams (one bundle a fitted frame) sent, and dropped rather than waited for.
    osc_packets: u64,
    osc_dropped: u64,
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

/// Ctrl-C, SIGTERM and SIGHUP received so far: the first ends the source (every frame read is
/// still fitted and written), a second stops at once (every row fitted is still written).
static INTERRUPTS: AtomicU32 = AtomicU32::new(0);

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
        if args.lock_identity {
            pass_on.push("--lock-identity".into());
        }
        if let Some(n) = args.calibrate_neutral {
            pass_on.push("--calibrate-neutral".into());
            pass_on.push(n.to_string());
        }
        if let Some(n) = args.frames {
            pass_on.extend(["--frames".to_owned(), n.to_string()]);
        }
        anyhow::ensure!(
            args.record_session.is_none(),
            "--record-session keeps one session; track several videos without it"
        );
        anyhow::ensure!(
            args.osc.osc.is_none(),
            "--osc sends one stream; track several videos without it"
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
        lock_identity: args.lock_identity,
    };
    // A bad address stops the run before anything is loaded.
    let osc = args.osc.sender()?;
    if let Some(sender) = &osc {
        note!("sending {}", sender.describe());
    }
    let models = load_tracker_models()?;
    let opened = sources::open(args.source.first())?;
    note!("source: {}", opened.note);
    if let Some(spec) = args.source.first() {
        let inputs = spec.paths();
        for output in args
            .csv
            .iter()
            .chain(&args.record_session)
            .chain(&args.render)
        {
            refuse_input_as_output(output, &inputs)?;
        }
    }

    let (n_id, n_exp) = models.dims();
    let nl = models.model.n_landmarks();
    let mut sinks: Vec<Box<dyn ResultSink>> = Vec::new();
    if let Some(path) = &args.csv {
        sinks.push(Box::new(CsvRecorder::create(path, n_id, n_exp, nl)?));
    }
    if let Some(dir) = &args.record_session {
        sinks.push(Box::new(SessionRecorder::create(dir, n_id, n_exp, nl)?));
    }
    ctrlc::set_handler(|| {
        INTERRUPTS.fetch_add(1, Ordering::SeqCst);
    })
    .context("cannot install the handler of Ctrl-C, SIGTERM and SIGHUP")?;

    let mut render = args.render.as_deref().map(|path| {
        TrackedVideo::new(path, Timing::of(opened.video.as_ref()), Arc::clone(&models))
    });
    let mut truth = opened.demo.map(Truth::new);
    let source = match args.frames {
        Some(n) => Box::new(Take::new(opened.source, n)),
        None => opened.source,
    };
    let started = Instant::now();
    let sending = osc.is_some();
    let pipeline = Pipeline::start_with(
        source,
        Arc::clone(&models),
        settings,
        ResultDelivery::Every,
        sinks,
        args.calibrate_neutral
            .map(TrackCommand::CalibrateNeutral)
            .into_iter()
            .chain(osc.map(|s| TrackCommand::StartLive(Box::new(s) as Box<dyn LiveOutput>)))
            .collect(),
    )?;
    let source = pipeline.source().to_owned();
    let events = pipeline.events().clone();
    let mut progress = args.frames.map(|n| Progress::new("tracking", n));
    let (mut latencies, mut fit_ms) = (LogHistogram::new(), LogHistogram::new());
    let mut osc_latencies = LogHistogram::new();
    let mut osc_counts = (0u64, 0u64);
    let (mut frames, mut tracked) = (0u64, 0u64);
    let (mut confidence_sum, mut losses, mut detector_frames) = (0.0, 0u64, 0u64);
    let mut last_done = started;
    let mut failure = None;
    let mut status = TrackStatus::Searching;
    let mut ending = false;
    let report = |event: PipelineEvent, failure: &mut Option<String>| match event {
        PipelineEvent::Warning(w) => note!("warning: {w}"),
        PipelineEvent::Error(e) => *failure = Some(e),
        PipelineEvent::SourceEnded | PipelineEvent::RecordingFinished(..) => {}
    };
    loop {
        match INTERRUPTS.load(Ordering::SeqCst) {
            0 => {}
            1 if !ending => {
                pipeline.end_source();
                ending = true;
            }
            1 => {}
            _ => break,
        }
        for event in events.try_iter() {
            report(event, &mut failure);
        }
        let result = match pipeline.results().recv_timeout(Duration::from_millis(100)) {
            Ok(r) => r,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        frames += 1;
        latencies.add(result.latency().as_secs_f64() * 1e3);
        fit_ms.add(result.fit_ms);
        if let Some(live) = result.live {
            osc_counts = (live.sent, live.dropped);
        }
        if let Some(l) = result.live_latency() {
            osc_latencies.add(l.as_secs_f64() * 1e3);
        }
        last_done = result.done;
        if result.status == TrackStatus::Tracking {
            tracked += 1;
            confidence_sum += result.confidence;
        } else if status == TrackStatus::Tracking {
            losses += 1;
        }
        detector_frames += u64::from(result.detected);
        if result.status != status {
            note!("frame {}: {}", result.frame.index, result.status.name());
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
    let interrupted = INTERRUPTS.load(Ordering::SeqCst) > 0;
    let end = pipeline.stop()?;
    // What the threads said after the last result: a frame skipped at the end of the source, a
    // recording that failed as it was finished.
    for event in events.try_iter() {
        report(event, &mut failure);
    }
    if let (Some(r), Some(path)) = (render, &args.render) {
        let written = r.finish()?;
        note!("rendered {written} frames to {}", path.display());
    }
    let seconds = last_done.duration_since(started).as_secs_f64();
    let recorded = args.csv.is_some() || args.record_session.is_some();
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
        latency_ms_p50: latencies.quantile(0.50),
        latency_ms_p99: latencies.quantile(0.99),
        fit_ms_median: fit_ms.quantile(0.50),
        confidence_mean: if tracked > 0 {
            confidence_sum / tracked as f64
        } else {
            f64::NAN
        },
        losses,
        detector_frames,
        skipped_frames: end.skipped,
        missing_frames: end.missing,
        csv_rows: recorded.then_some(end.rows()),
        lost_rows: recorded.then_some(end.lost_rows()),
        interrupted,
        osc: sending.then(|| OscSummary {
            osc_latency_ms_p50: osc_latencies.quantile(0.50),
            osc_latency_ms_p99: osc_latencies.quantile(0.99),
            osc_packets: osc_counts.0,
            osc_dropped: osc_counts.1,
        }),
        truth: truth.map(Truth::summary),
    };
    out!("{}", serde_json::to_string(&summary)?)?;
    let mut problems = Vec::new();
    if let Some(e) = failure {
        problems.push(format!("the source failed after {frames} frames: {e}"));
    }
    if end.skipped > 0 {
        problems.push(format!(
            "{} could not be decoded and {} no row (the warnings name {})",
            super::frames(end.skipped),
            if end.skipped == 1 { "has" } else { "have" },
            if end.skipped == 1 { "it" } else { "them" }
        ));
    }
    for r in end.recordings.iter().filter(|r| r.lost() > 0) {
        problems.push(format!(
            "{} of {} frames have no row in {}{}",
            r.lost(),
            r.frames,
            r.path.display(),
            r.error
                .as_ref()
                .map_or(String::new(), |e| format!(" ({e})"))
        ));
    }
    if end.missing > 0 {
        problems.push(format!(
            "the video ended {} short of what it declares (damaged or cut short)",
            super::frames(end.missing)
        ));
    }
    if frames == 0 && !interrupted {
        problems.push("no frame was tracked: the source gave none".into());
    }
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// Accumulates the demo's ground-truth figures, in constant memory however long the run.
struct Truth {
    sequence: DemoSequence,
    params: facetrack::model::Params,
    landmarks: Vec<f64>,
    points: Vec<[f64; 2]>,
    yaw_err: LogHistogram,
    nme_sum: f64,
    nme_n: u64,
    still: StillJitter,
}

impl Truth {
    fn new(sequence: DemoSequence) -> Self {
        let buffer = sequence.truth_buffer();
        Self {
            params: buffer.params,
            landmarks: buffer.landmarks,
            points: Vec::new(),
            sequence,
            yaw_err: LogHistogram::new(),
            nme_sum: 0.0,
            nme_n: 0,
            still: StillJitter::default(),
        }
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
        self.nme_sum += nme(&self.points, &r.landmarks, norm);
        self.nme_n += 1;
        self.yaw_err
            .add((r.params.yaw() - self.params.yaw()).abs().to_degrees());
        let f = index % LOOP_FRAMES;
        if (SETTLE_FRAMES..STILL_FRAMES).contains(&f) {
            let p = &r.params;
            let angles = [p.pitch(), p.yaw(), p.roll()].map(f64::to_degrees);
            self.still.add(index / LOOP_FRAMES, &angles, &r.landmarks);
        }
    }

    fn summary(mut self) -> TruthSummary {
        let (jitter_deg, jitter_px, n) = self.still.finish();
        TruthSummary {
            gt_yaw_err_deg_median: self.yaw_err.quantile(0.5),
            gt_nme: 100.0 * self.nme_sum / self.nme_n.max(1) as f64,
            still_jitter_deg: jitter_deg,
            still_jitter_px: jitter_px,
            still_frames: n,
        }
    }
}

/// The jitter of the still segment: the spread of each angle and landmark coordinate about its
/// mean over one pass through the loop (the fit may settle a pixel apart on two passes, which
/// is no jitter), pooled over the passes. Sums are kept relative to a pass's first sample, so
/// that they stay small and exact.
#[derive(Default)]
struct StillJitter {
    pass: Option<u64>,
    shift: Vec<f64>,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    m: u64,
    /// Squared deviations of the passes finished, per angle, and over all coordinates.
    angle_ss: [f64; 3],
    coord_ss: f64,
    n: u64,
    coords: usize,
}

impl StillJitter {
    fn add(&mut self, pass: u64, angles: &[f64; 3], landmarks: &[f64]) {
        if self.pass != Some(pass) {
            self.close_pass();
            self.pass = Some(pass);
            self.shift.clear();
            self.shift.extend(angles.iter().chain(landmarks));
            self.sum.clear();
            self.sum.resize(self.shift.len(), 0.0);
            self.sum_sq.clear();
            self.sum_sq.resize(self.shift.len(), 0.0);
            self.coords = landmarks.len();
        }
        for (i, v) in angles.iter().chain(landmarks).enumerate() {
            let d = v - self.shift[i];
            self.sum[i] += d;
            self.sum_sq[i] += d * d;
        }
        self.m += 1;
    }

    fn close_pass(&mut self) {
        if self.m == 0 {
            return;
        }
        let m = self.m as f64;
        for (i, (s, ss)) in self.sum.iter().zip(&self.sum_sq).enumerate() {
            let within = (ss - s * s / m).max(0.0);
            match self.angle_ss.get_mut(i) {
                Some(a) => *a += within,
                None => self.coord_ss += within,
            }
        }
        self.n += self.m;
        self.m = 0;
    }

    /// Degrees (the three angles' standard deviations, averaged), pixels (RMS movement of a
    /// point about its mean) and the samples.
    fn finish(&mut self) -> (f64, f64, u64) {
        self.close_pass();
        if self.n < 2 {
            return (f64::NAN, f64::NAN, self.n);
        }
        let n = self.n as f64;
        let deg = self.angle_ss.iter().map(|ss| (ss / n).sqrt()).sum::<f64>() / 3.0;
        // Per point: the two coordinates' variances add up.
        let px = (self.coord_ss / n / (self.coords / 2).max(1) as f64).sqrt();
        (deg, px, self.n)
    }
}
