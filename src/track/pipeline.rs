//! The threads of DESIGN.md's data flow: a capture thread reads the source and hands frames to
//! the tracking thread through a bounded channel — for a live source (a camera) the newest frame
//! wins and stale ones are dropped, for a file or the demo every frame is handed over in order;
//! the tracking thread fits each frame ([`Tracker`]), hands it to the live output (a stream to
//! another program, sent first so that nothing else adds to its latency), feeds the recorders
//! (sinks) and delivers a [`TrackResult`] to whoever shows it, with every buffer recycled so that
//! a tracked frame allocates nothing. Commands (method, stages, filter, pause, recording, live
//! output, a neutral-face calibration) reach the tracking thread through a channel of their own
//! and take effect at the next frame.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, select, unbounded};

use super::identity_lock::LockState;
use super::tracker::{TrackError, TrackOutput, TrackSettings, TrackStatus, Tracker, TrackerModels};
use crate::capture::{Frame, FrameSource, Next};
use crate::controls::Controls;
use crate::fit::joint::JointWeights;
use crate::model::Params;

/// One fitted frame, with the frame itself: whoever draws it draws this fit over these pixels.
#[derive(Debug, Clone)]
pub struct TrackResult {
    pub frame: Frame,
    pub status: TrackStatus,
    /// What this frame was fitted with.
    pub settings: TrackSettings,
    /// The fit (filtered when the filter is on); meaningful when `status` is `Tracking`.
    pub params: Params,
    /// Its 68 landmarks, `[u0, v0, …]`, image pixels.
    pub landmarks: Vec<f64>,
    /// The fit confidence, 0–1 (NaN when no fit was made); `status` is `Tracking` only when it
    /// reaches the tracker's threshold.
    pub confidence: f64,
    /// λ2d and λ3d when the joint refinement ran.
    pub weights: Option<JointWeights>,
    /// Whether the face detector ran on this frame.
    pub detected: bool,
    /// The named expression controls; all zero on a frame not tracked.
    pub controls: Controls,
    /// A neutral-face calibration's frames so far and needed, while one runs.
    pub calibrating: Option<(usize, usize)>,
    /// Where the identity lock stands.
    pub identity_lock: LockState,
    /// Time the fit took (detection included), ms.
    pub fit_ms: f64,
    /// The tracking thread's throughput over its last frames, frames a second.
    pub fit_fps: f64,
    /// When the result was ready; `done − frame.captured` is the frame's latency.
    pub done: Instant,
    /// The recordings running and the rows each has written, this frame's included.
    pub recording: Vec<(PathBuf, u64)>,
    /// The live output's account, this frame's send included; `None` while none runs.
    pub live: Option<LiveReport>,
}

impl TrackResult {
    pub fn latency(&self) -> Duration {
        self.done.saturating_duration_since(self.frame.captured)
    }

    /// From the frame's capture to the moment its live send returned; `None` when it was not
    /// sent (no live output, or the send was dropped).
    pub fn live_latency(&self) -> Option<Duration> {
        let sent = self.live?.sent_at?;
        Some(sent.saturating_duration_since(self.frame.captured))
    }
}

/// Where every fitted frame goes the moment it is fitted, before the recordings: a stream to
/// another program (OSC or VMC to an avatar). Called on the tracking thread, so a send returns at
/// once: what cannot go out without waiting is dropped, never waited for. A dropped frame is no
/// failure of the run, as a lost row of a recording is: a live receiver wants the newest frame,
/// not every one.
pub trait LiveOutput: Send {
    /// Sends what `result` says (every frame, tracked or not).
    fn send(&mut self, result: &TrackResult) -> LiveSent;
    /// Where it sends, and how, as the panel and messages name it.
    fn describe(&self) -> &str;
}

/// Whether a live send went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveSent {
    Sent,
    /// It would have waited (a full socket buffer) or failed, and was dropped.
    Dropped,
}

/// A live output's account since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveReport {
    /// When this frame's send returned; `None` when it was dropped.
    pub sent_at: Option<Instant>,
    /// Frames sent.
    pub sent: u64,
    /// Frames dropped.
    pub dropped: u64,
}

/// Where every fitted frame goes besides the display: the CSV recorder, a session recorder.
/// Called on the tracking thread; an implementation hands the work to a thread of its own.
pub trait ResultSink: Send {
    fn record(&mut self, result: &TrackResult) -> Result<(), SinkError>;
    /// The file or folder written to.
    fn path(&self) -> &Path;
    fn rows(&self) -> u64;
    /// Writes out everything and closes: the rows written, and why not more when it failed.
    fn finish(self: Box<Self>) -> SinkEnd;
}

pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// How a recording ended.
#[derive(Debug)]
pub struct SinkEnd {
    /// Rows the recording holds.
    pub rows: u64,
    pub error: Option<SinkError>,
}

/// A recording's account at the end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingEnd {
    pub path: PathBuf,
    /// Frames handed to it.
    pub frames: u64,
    /// Rows it holds.
    pub rows: u64,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
}

impl RecordingEnd {
    /// Frames that have no row in it.
    pub fn lost(&self) -> u64 {
        self.frames.saturating_sub(self.rows)
    }
}

/// What a run did, once its threads have stopped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PipelineEnd {
    /// Frames fitted.
    pub frames: u64,
    /// Frames the source could not decode, skipped.
    pub skipped: u64,
    /// Frames a video declares and never gave: it ends early (damaged or cut short).
    pub missing: u64,
    /// Every recording of the run, in the order they finished.
    pub recordings: Vec<RecordingEnd>,
}

impl PipelineEnd {
    /// Rows written by all recordings.
    pub fn rows(&self) -> u64 {
        self.recordings.iter().map(|r| r.rows).sum()
    }

    /// Frames without a row, over all recordings.
    pub fn lost_rows(&self) -> u64 {
        self.recordings.iter().map(RecordingEnd::lost).sum()
    }
}

/// A command to the tracking thread, applied before its next frame.
pub enum TrackCommand {
    Settings(TrackSettings),
    /// Forget the face and run the detector.
    Redetect,
    /// Stop taking frames (`true`) or go on.
    Pause(bool),
    /// Record every fitted frame from the next one on.
    StartRecording(Box<dyn ResultSink>),
    /// Finish every recording.
    StopRecording,
    /// Take the next this many tracked frames as the person's neutral face.
    CalibrateNeutral(usize),
    /// Send every fitted frame here from the next one on, in place of any live output running.
    StartLive(Box<dyn LiveOutput>),
    StopLive,
}

impl std::fmt::Debug for TrackCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Settings(s) => f.debug_tuple("Settings").field(s).finish(),
            Self::Redetect => f.write_str("Redetect"),
            Self::Pause(p) => f.debug_tuple("Pause").field(p).finish(),
            Self::StartRecording(s) => f.debug_tuple("StartRecording").field(&s.path()).finish(),
            Self::StopRecording => f.write_str("StopRecording"),
            Self::CalibrateNeutral(n) => f.debug_tuple("CalibrateNeutral").field(n).finish(),
            Self::StartLive(l) => f.debug_tuple("StartLive").field(&l.describe()).finish(),
            Self::StopLive => f.write_str("StopLive"),
        }
    }
}

/// How results reach the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultDelivery {
    /// Every result, in order; the tracker waits for a slow reader (headless runs).
    Every,
    /// Only the newest; a slow reader (a window) never slows tracking.
    Newest,
}

/// What else happens.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineEvent {
    /// A frame could not be read and was skipped, or a recording failed; tracking goes on.
    Warning(String),
    /// The source failed; no more frames come.
    Error(String),
    /// The source has no more frames.
    SourceEnded,
    /// A recording finished: its path and rows.
    RecordingFinished(PathBuf, u64),
}

/// Counters shared by the threads.
#[derive(Debug, Default)]
struct Counts {
    skipped: AtomicU64,
    missing: AtomicU64,
}

/// The running capture and tracking threads.
pub struct Pipeline {
    results: Receiver<TrackResult>,
    spare: Sender<TrackResult>,
    commands: Sender<TrackCommand>,
    events: Receiver<PipelineEvent>,
    stop: Arc<AtomicBool>,
    /// Set to stop reading the source while what was read is still fitted.
    end_source: Arc<AtomicBool>,
    counts: Arc<Counts>,
    capture: Option<JoinHandle<()>>,
    tracking: Option<JoinHandle<Result<TrackingEnd, TrackError>>>,
    description: String,
}

/// What the tracking thread did.
#[derive(Debug, Default)]
struct TrackingEnd {
    frames: u64,
    recordings: Vec<RecordingEnd>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("source", &self.description)
            .finish_non_exhaustive()
    }
}

/// How often a blocked thread looks at the stop flag.
const POLL: Duration = Duration::from_millis(20);
/// Results over which `fit_fps` is measured.
const FPS_WINDOW: usize = 32;

impl Pipeline {
    /// Starts the threads: frames from `source`, fitted with `settings` from the start, results
    /// delivered as `delivery` says; `sinks` record from the first frame on.
    pub fn start(
        source: Box<dyn FrameSource>,
        models: Arc<TrackerModels>,
        settings: TrackSettings,
        delivery: ResultDelivery,
        sinks: Vec<Box<dyn ResultSink>>,
    ) -> Result<Self, TrackError> {
        Self::start_with(source, models, settings, delivery, sinks, Vec::new())
    }

    /// [`Self::start`], with commands applied before the first frame (a neutral-face
    /// calibration from the first frame on, say), where a command sent after the start could
    /// reach a later frame.
    pub fn start_with(
        source: Box<dyn FrameSource>,
        models: Arc<TrackerModels>,
        settings: TrackSettings,
        delivery: ResultDelivery,
        sinks: Vec<Box<dyn ResultSink>>,
        first: Vec<TrackCommand>,
    ) -> Result<Self, TrackError> {
        let description = source.describe();
        let live = source.is_live();
        let stop = Arc::new(AtomicBool::new(false));
        let end_source = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let (frame_tx, frame_rx) = bounded::<Frame>(1);
        let (free_tx, free_rx) = unbounded::<Frame>();
        let (result_tx, result_rx) = bounded::<TrackResult>(if delivery == ResultDelivery::Every {
            8
        } else {
            1
        });
        let (spare_tx, spare_rx) = unbounded::<TrackResult>();
        let (command_tx, command_rx) = unbounded::<TrackCommand>();
        // Queued before the thread starts, they are applied before it takes its first frame.
        for command in first {
            let _ = command_tx.send(command);
        }
        let (event_tx, event_rx) = unbounded::<PipelineEvent>();

        let capture = {
            let capture = Capture {
                live,
                frames: frame_tx,
                stale: frame_rx.clone(),
                free: free_rx,
                events: event_tx.clone(),
                stop: stop.clone(),
                end: end_source.clone(),
                counts: counts.clone(),
            };
            std::thread::Builder::new()
                .name("capture".into())
                .spawn(move || capture.run(source))
                .map_err(|e| TrackError::Stopped(format!("cannot start the capture thread: {e}")))?
        };
        let tracking = {
            let stop_flag = stop.clone();
            let stale = result_rx.clone();
            // The face detector is not `Send`: the tracker is made on its thread, which reports
            // whether that worked before it takes a frame.
            let (ready_tx, ready_rx) = bounded::<Result<(), TrackError>>(1);
            let state = TrackingState {
                frames: frame_rx,
                free: free_tx,
                results: result_tx,
                stale_results: stale,
                spare: spare_rx,
                commands: command_rx,
                events: event_tx,
                delivery,
                sinks: sinks.into_iter().map(|s| (s, 0)).collect(),
                live: None,
                failed: Vec::new(),
                ended: Vec::new(),
                fitted: 0,
                paused: false,
                done_times: [None; FPS_WINDOW],
                done_count: 0,
                stop: stop_flag,
            };
            let handle = std::thread::Builder::new()
                .name("tracking".into())
                .spawn(move || match Tracker::new(models, settings) {
                    Ok(mut tracker) => {
                        tracker.set_live(live);
                        let _ = ready_tx.send(Ok(()));
                        TrackingThread { tracker, state }.run()
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        Ok(TrackingEnd::default())
                    }
                })
                .map_err(|e| {
                    TrackError::Stopped(format!("cannot start the tracking thread: {e}"))
                })?;
            match ready_rx.recv() {
                Ok(Ok(())) => handle,
                Ok(Err(e)) => {
                    stop.store(true, Ordering::SeqCst);
                    let _ = handle.join();
                    let _ = capture.join();
                    return Err(e);
                }
                Err(_) => {
                    stop.store(true, Ordering::SeqCst);
                    let _ = capture.join();
                    return Err(TrackError::Stopped(
                        "the tracking thread ended before its first frame".into(),
                    ));
                }
            }
        };
        Ok(Self {
            results: result_rx,
            spare: spare_tx,
            commands: command_tx,
            events: event_rx,
            stop,
            end_source,
            counts,
            capture: Some(capture),
            tracking: Some(tracking),
            description,
        })
    }

    /// The source, as it describes itself.
    pub fn source(&self) -> &str {
        &self.description
    }

    /// Results; the channel closes when the source has ended and every frame is fitted.
    pub fn results(&self) -> &Receiver<TrackResult> {
        &self.results
    }

    /// Hands a result back so its buffers serve a later frame.
    pub fn recycle(&self, result: TrackResult) {
        let _ = self.spare.send(result);
    }

    /// Where another thread hands results back, as [`Self::recycle`] does.
    pub fn recycler(&self) -> Sender<TrackResult> {
        self.spare.clone()
    }

    pub fn send(&self, command: TrackCommand) {
        let _ = self.commands.send(command);
    }

    pub fn events(&self) -> &Receiver<PipelineEvent> {
        &self.events
    }

    /// Stops reading the source; the frames already read are still fitted and delivered, then
    /// the results channel closes. The way to end a run without leaving a read frame unfitted
    /// (Ctrl-C in `track`).
    pub fn end_source(&self) {
        self.end_source.store(true, Ordering::SeqCst);
    }

    /// Stops both threads and finishes the recordings (every row fitted so far is written);
    /// returns what the run did.
    pub fn stop(mut self) -> Result<PipelineEnd, TrackError> {
        self.stop.store(true, Ordering::SeqCst);
        self.join()
    }

    fn join(&mut self) -> Result<PipelineEnd, TrackError> {
        let tracking = match self.tracking.take() {
            Some(h) => h
                .join()
                .map_err(|_| TrackError::Stopped("the tracking thread panicked".into()))?,
            None => Ok(TrackingEnd::default()),
        };
        if let Some(h) = self.capture.take() {
            h.join()
                .map_err(|_| TrackError::Stopped("the capture thread panicked".into()))?;
        }
        let tracking = tracking?;
        Ok(PipelineEnd {
            frames: tracking.frames,
            skipped: self.counts.skipped.load(Ordering::SeqCst),
            missing: self.counts.missing.load(Ordering::SeqCst),
            recordings: tracking.recordings,
        })
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.join();
    }
}

/// The capture thread.
struct Capture {
    live: bool,
    frames: Sender<Frame>,
    /// The tracking side of `frames`, to drop a stale frame from it.
    stale: Receiver<Frame>,
    free: Receiver<Frame>,
    events: Sender<PipelineEvent>,
    stop: Arc<AtomicBool>,
    end: Arc<AtomicBool>,
    counts: Arc<Counts>,
}

impl Capture {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.end.load(Ordering::Relaxed)
    }

    fn run(self, mut source: Box<dyn FrameSource>) {
        while !self.stopping() {
            let mut frame = self.free.try_recv().unwrap_or_default();
            match source.next_frame(&mut frame) {
                Ok(Next::Frame) => {}
                Ok(Next::Skipped(why)) => {
                    self.counts.skipped.fetch_add(1, Ordering::SeqCst);
                    let _ = self.events.send(PipelineEvent::Warning(why));
                    continue;
                }
                Ok(Next::Lost { frames, why }) => {
                    self.counts.missing.fetch_add(frames, Ordering::SeqCst);
                    let _ = self.events.send(PipelineEvent::Warning(why));
                    continue;
                }
                Ok(Next::End) => {
                    let _ = self.events.send(PipelineEvent::SourceEnded);
                    return;
                }
                Err(e) => {
                    let _ = self.events.send(PipelineEvent::Error(e.to_string()));
                    return;
                }
            }
            if self.live {
                // Newest wins: a frame the tracker has not taken yet is stale now.
                let mut frame = frame;
                loop {
                    match self.frames.try_send(frame) {
                        Ok(()) => break,
                        Err(TrySendError::Full(f)) => {
                            frame = f;
                            if let Ok(old) = self.stale.try_recv() {
                                drop(old);
                            }
                        }
                        Err(TrySendError::Disconnected(_)) => return,
                    }
                }
            } else {
                let mut frame = frame;
                loop {
                    match self.frames.send_timeout(frame, POLL) {
                        Ok(()) => break,
                        Err(crossbeam_channel::SendTimeoutError::Timeout(f)) => {
                            if self.stop.load(Ordering::Relaxed) {
                                return;
                            }
                            frame = f;
                        }
                        Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return,
                    }
                }
            }
        }
    }
}

struct TrackingThread {
    tracker: Tracker,
    state: TrackingState,
}

/// The live output running, and its account.
struct Live {
    output: Box<dyn LiveOutput>,
    report: LiveReport,
}

impl Live {
    fn new(output: Box<dyn LiveOutput>) -> Self {
        Self {
            output,
            report: LiveReport {
                sent_at: None,
                sent: 0,
                dropped: 0,
            },
        }
    }

    fn send(&mut self, result: &TrackResult) -> LiveReport {
        match self.output.send(result) {
            LiveSent::Sent => {
                self.report.sent += 1;
                self.report.sent_at = Some(Instant::now());
            }
            LiveSent::Dropped => {
                self.report.dropped += 1;
                self.report.sent_at = None;
            }
        }
        self.report
    }
}

/// The tracking thread's channels and bookkeeping.
struct TrackingState {
    frames: Receiver<Frame>,
    free: Sender<Frame>,
    results: Sender<TrackResult>,
    stale_results: Receiver<TrackResult>,
    spare: Receiver<TrackResult>,
    commands: Receiver<TrackCommand>,
    events: Sender<PipelineEvent>,
    delivery: ResultDelivery,
    /// The recordings running, each with the frames handed to it.
    sinks: Vec<(Box<dyn ResultSink>, u64)>,
    live: Option<Live>,
    /// Recordings that stopped on an error, still counting the frames they miss until the
    /// recording or the run ends.
    failed: Vec<RecordingEnd>,
    /// The recordings that have finished.
    ended: Vec<RecordingEnd>,
    fitted: u64,
    paused: bool,
    done_times: [Option<Instant>; FPS_WINDOW],
    done_count: usize,
    stop: Arc<AtomicBool>,
}

impl TrackingThread {
    fn run(&mut self) -> Result<TrackingEnd, TrackError> {
        let mut output = TrackOutput::new(self.tracker.models());
        let outcome = self.main_loop(&mut output);
        self.finish_sinks();
        outcome.map(|()| TrackingEnd {
            frames: self.state.fitted,
            recordings: std::mem::take(&mut self.state.ended),
        })
    }

    fn main_loop(&mut self, output: &mut TrackOutput) -> Result<(), TrackError> {
        loop {
            if self.state.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            while let Ok(c) = self.state.commands.try_recv() {
                self.apply(c);
            }
            if self.state.paused {
                if let Ok(c) = self.state.commands.recv_timeout(POLL) {
                    self.apply(c);
                }
                continue;
            }
            let frame = select! {
                recv(self.state.frames) -> f => match f {
                    Ok(f) => f,
                    Err(_) => return Ok(()),
                },
                recv(self.state.commands) -> c => {
                    if let Ok(c) = c {
                        self.apply(c);
                    }
                    continue;
                },
                default(POLL) => continue,
            };
            self.fit(frame, output)?;
        }
    }

    fn apply(&mut self, command: TrackCommand) {
        match command {
            TrackCommand::Settings(s) => self.tracker.set_settings(s),
            TrackCommand::Redetect => self.tracker.redetect(),
            TrackCommand::Pause(p) => self.state.paused = p,
            TrackCommand::StartRecording(sink) => self.state.sinks.push((sink, 0)),
            TrackCommand::StopRecording => {
                self.finish_sinks();
            }
            TrackCommand::CalibrateNeutral(frames) => self.tracker.calibrate_neutral(frames),
            TrackCommand::StartLive(output) => self.state.live = Some(Live::new(output)),
            TrackCommand::StopLive => self.state.live = None,
        }
    }

    fn finish_sinks(&mut self) {
        let sinks: Vec<_> = self.state.sinks.drain(..).collect();
        for (sink, frames) in sinks {
            self.finish_sink(sink, frames, None);
        }
        self.state.ended.append(&mut self.state.failed);
    }

    /// Finishes one recording and accounts for it; `failed` is the error it stopped on.
    fn finish_sink(&mut self, sink: Box<dyn ResultSink>, frames: u64, failed: Option<SinkError>) {
        let path = sink.path().to_owned();
        let end = sink.finish();
        // The first error is the cause; what finishing a stopped recording says is its echo.
        let error = failed.or(end.error).map(|e| e.to_string());
        match &error {
            None => {
                let _ = self
                    .state
                    .events
                    .send(PipelineEvent::RecordingFinished(path.clone(), end.rows));
            }
            Some(e) => {
                let _ = self.state.events.send(PipelineEvent::Warning(format!(
                    "recording {} stopped with {} of {frames} frames written: {e}",
                    path.display(),
                    end.rows
                )));
            }
        }
        let ended = RecordingEnd {
            path,
            frames,
            rows: end.rows,
            error,
        };
        if ended.error.is_some() {
            self.state.failed.push(ended);
        } else {
            self.state.ended.push(ended);
        }
    }

    fn fit(&mut self, frame: Frame, output: &mut TrackOutput) -> Result<(), TrackError> {
        let t0 = Instant::now();
        let status = self
            .tracker
            .track(&frame.image, frame.timestamp.as_secs_f64(), output)?;
        let fit_ms = t0.elapsed().as_secs_f64() * 1e3;

        let mut result = match self.state.spare.try_recv() {
            Ok(mut r) => {
                let old = std::mem::replace(&mut r.frame, frame);
                let _ = self.state.free.send(old);
                r
            }
            Err(_) => TrackResult {
                frame,
                status,
                settings: self.tracker.settings(),
                params: output.params.clone(),
                landmarks: output.landmarks.clone(),
                confidence: f64::NAN,
                weights: None,
                detected: false,
                controls: Controls::default(),
                calibrating: None,
                identity_lock: LockState::Off,
                fit_ms: 0.0,
                fit_fps: 0.0,
                done: Instant::now(),
                recording: Vec::new(),
                live: None,
            },
        };
        result.status = status;
        result.settings = self.tracker.settings();
        result.params.clone_from(&output.params);
        result.landmarks.clone_from(&output.landmarks);
        result.confidence = output.confidence;
        result.weights = output.weights;
        result.detected = output.detected;
        result.controls = output.controls;
        result.calibrating = self.tracker.calibrating();
        result.identity_lock = self.tracker.identity_lock();
        result.fit_ms = fit_ms;
        result.done = Instant::now();
        result.fit_fps = self.throughput(result.done);
        // Sent before the recordings, so that writing them adds nothing to the live latency.
        result.live = self.state.live.as_mut().map(|l| l.send(&result));

        self.state.fitted += 1;
        for f in &mut self.state.failed {
            f.frames += 1;
        }
        let mut failed = None;
        for (i, (sink, frames)) in self.state.sinks.iter_mut().enumerate() {
            *frames += 1;
            if let Err(e) = sink.record(&result) {
                failed = Some((i, e));
                break;
            }
        }
        if let Some((i, e)) = failed {
            let (sink, frames) = self.state.sinks.remove(i);
            self.finish_sink(sink, frames, Some(e));
        }
        // The paths are copied only when the recordings change: a recorded frame allocates none.
        let sinks = &self.state.sinks;
        let same = result.recording.len() == sinks.len()
            && result
                .recording
                .iter()
                .zip(sinks)
                .all(|((p, _), (s, _))| p == s.path());
        if same {
            for ((_, rows), (s, _)) in result.recording.iter_mut().zip(sinks) {
                *rows = s.rows();
            }
        } else {
            result.recording.clear();
            result
                .recording
                .extend(sinks.iter().map(|(s, _)| (s.path().to_owned(), s.rows())));
        }
        self.deliver(result);
        Ok(())
    }

    fn throughput(&mut self, now: Instant) -> f64 {
        let slot = self.state.done_count % FPS_WINDOW;
        let oldest = if self.state.done_count >= FPS_WINDOW {
            self.state.done_times[slot]
        } else {
            self.state.done_times[0]
        };
        let span = self.state.done_count.min(FPS_WINDOW);
        self.state.done_times[slot] = Some(now);
        self.state.done_count += 1;
        match oldest {
            Some(t) if span > 0 => {
                let dt = now.saturating_duration_since(t).as_secs_f64();
                if dt > 0.0 { span as f64 / dt } else { 0.0 }
            }
            _ => 0.0,
        }
    }

    fn deliver(&mut self, result: TrackResult) {
        match self.state.delivery {
            ResultDelivery::Newest => {
                let mut result = result;
                loop {
                    match self.state.results.try_send(result) {
                        Ok(()) => return,
                        Err(TrySendError::Full(r)) => {
                            result = r;
                            if let Ok(old) = self.state.stale_results.try_recv() {
                                let frame = old.frame;
                                let _ = self.state.free.send(frame);
                            }
                        }
                        // Nobody reads: the result is dropped, tracking and recording go on.
                        Err(TrySendError::Disconnected(_)) => return,
                    }
                }
            }
            ResultDelivery::Every => {
                let mut result = result;
                loop {
                    match self.state.results.send_timeout(result, POLL) {
                        Ok(()) => return,
                        Err(crossbeam_channel::SendTimeoutError::Timeout(r)) => {
                            if self.state.stop.load(Ordering::Relaxed) {
                                return;
                            }
                            result = r;
                        }
                        Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return,
                    }
                }
            }
        }
    }
}
