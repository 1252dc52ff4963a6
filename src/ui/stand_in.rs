//! A stand-in for `facetrack::track`'s pipeline while it is being written on main: the same
//! types and calls, fed by the demo sequence with its ground truth as the "fit". It lets the
//! window, the renderer and the panel be built and tested now; it goes when the pipeline lands.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, unbounded};

use facetrack::capture::{DemoSequence, Frame};
use facetrack::fit::joint::{JointWeights, adaptive_weights};
use facetrack::model::Params;
use facetrack::record::csv_recorder::{CsvRecorder, RecordRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackMethod {
    Pclm,
    Prm,
    Parm,
}

impl TrackMethod {
    pub const ALL: [TrackMethod; 3] = [Self::Pclm, Self::Prm, Self::Parm];

    pub fn name(self) -> &'static str {
        match self {
            Self::Pclm => "pclm",
            Self::Prm => "prm",
            Self::Parm => "parm",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackSettings {
    pub method: TrackMethod,
    pub joint: bool,
    pub stages: usize,
    pub filter: bool,
}

pub const DEFAULT_STAGES: usize = 7;

impl Default for TrackSettings {
    fn default() -> Self {
        Self {
            method: TrackMethod::Parm,
            joint: false,
            stages: DEFAULT_STAGES,
            filter: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackStatus {
    Searching,
    Tracking,
    Lost,
}

impl TrackStatus {
    pub fn name(self) -> &'static str {
        match self {
            Self::Searching => "searching",
            Self::Tracking => "tracking",
            Self::Lost => "lost",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TrackResult {
    pub frame: Frame,
    pub status: TrackStatus,
    pub settings: TrackSettings,
    pub params: Params,
    pub landmarks: Vec<f64>,
    pub weights: Option<JointWeights>,
    pub fit_ms: f64,
    pub fit_fps: f64,
    pub recording: Vec<(PathBuf, u64)>,
}

pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

pub trait ResultSink: Send {
    fn record(&mut self, result: &TrackResult) -> Result<(), SinkError>;
    fn path(&self) -> PathBuf;
    fn rows(&self) -> u64;
    fn finish(self: Box<Self>) -> Result<u64, SinkError>;
}

impl ResultSink for CsvRecorder {
    fn record(&mut self, r: &TrackResult) -> Result<(), SinkError> {
        let row = RecordRow {
            frame: r.frame.index,
            timestamp_ms: r.frame.timestamp.as_secs_f64() * 1e3,
            method: r.settings.method.name(),
            success: r.status == TrackStatus::Tracking,
            fit_ms: r.fit_ms,
            params: r.params.clone(),
            weights: r.weights.map(|w| (w.lambda_2d, w.lambda_3d)),
            landmarks: r.landmarks.chunks_exact(2).map(|c| [c[0], c[1]]).collect(),
        };
        CsvRecorder::record(self, row).map_err(Into::into)
    }
    fn path(&self) -> PathBuf {
        CsvRecorder::path(self).to_owned()
    }
    fn rows(&self) -> u64 {
        self.rows_written()
    }
    fn finish(self: Box<Self>) -> Result<u64, SinkError> {
        CsvRecorder::finish(*self).map_err(Into::into)
    }
}

pub enum TrackCommand {
    Settings(TrackSettings),
    Redetect,
    Pause(bool),
    StartRecording(Box<dyn ResultSink>),
    StopRecording,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultDelivery {
    Every,
    Newest,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PipelineEvent {
    Warning(String),
    Error(String),
    SourceEnded,
    RecordingFinished(PathBuf, u64),
}

pub struct Pipeline {
    results: Receiver<TrackResult>,
    commands: Sender<TrackCommand>,
    events: Receiver<PipelineEvent>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

/// The "fit" the stand-in pretends to take, so that the window's rates mean something.
const FIT_TIME: Duration = Duration::from_millis(8);

impl Pipeline {
    pub fn start(
        mut seq: DemoSequence,
        settings: TrackSettings,
        _delivery: ResultDelivery,
        mut sinks: Vec<Box<dyn ResultSink>>,
    ) -> Pipeline {
        let (result_tx, result_rx) = bounded::<TrackResult>(1);
        let (command_tx, command_rx) = unbounded::<TrackCommand>();
        let (_event_tx, event_rx) = unbounded::<PipelineEvent>();
        let stop = Arc::new(AtomicBool::new(false));
        let stale = result_rx.clone();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut settings = settings;
            let mut paused = false;
            let mut truth = seq.truth_buffer();
            let mut index = 0;
            let mut times = std::collections::VecDeque::new();
            while !flag.load(Ordering::SeqCst) {
                while let Ok(c) = command_rx.try_recv() {
                    match c {
                        TrackCommand::Settings(s) => settings = s,
                        TrackCommand::Pause(p) => paused = p,
                        TrackCommand::StartRecording(s) => sinks.push(s),
                        TrackCommand::StopRecording => {
                            for s in sinks.drain(..) {
                                let _ = s.finish();
                            }
                        }
                        TrackCommand::Redetect => {}
                    }
                }
                if paused {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                let t0 = Instant::now();
                let mut frame = Frame::default();
                seq.frame(index, &mut frame.image, &mut truth);
                frame.index = index;
                frame.timestamp = truth.timestamp;
                std::thread::sleep(FIT_TIME.saturating_sub(t0.elapsed()));
                let fit_ms = t0.elapsed().as_secs_f64() * 1e3;
                times.push_back(Instant::now());
                while times.len() > 30 {
                    times.pop_front();
                }
                let fit_fps = match (times.front(), times.back()) {
                    (Some(a), Some(b)) if times.len() > 1 => {
                        (times.len() - 1) as f64 / b.duration_since(*a).as_secs_f64()
                    }
                    _ => 0.0,
                };
                let mut r = TrackResult {
                    frame,
                    status: TrackStatus::Tracking,
                    settings,
                    params: truth.params.clone(),
                    landmarks: truth.landmarks.clone(),
                    weights: settings.joint.then(|| adaptive_weights(truth.params.yaw())),
                    fit_ms,
                    fit_fps,
                    recording: Vec::new(),
                };
                for s in &mut sinks {
                    let _ = s.record(&r);
                }
                r.recording = sinks.iter().map(|s| (s.path(), s.rows())).collect();
                if let Err(TrySendError::Full(r)) = result_tx.try_send(r) {
                    let _ = stale.try_recv();
                    let _ = result_tx.try_send(r);
                }
                index += 1;
            }
            sinks.into_iter().filter_map(|s| s.finish().ok()).sum()
        });
        Pipeline {
            results: result_rx,
            commands: command_tx,
            events: event_rx,
            stop,
            thread: Some(thread),
        }
    }

    pub fn results(&self) -> &Receiver<TrackResult> {
        &self.results
    }

    pub fn recycle(&self, _result: TrackResult) {}

    pub fn send(&self, command: TrackCommand) {
        let _ = self.commands.send(command);
    }

    pub fn events(&self) -> &Receiver<PipelineEvent> {
        &self.events
    }

    pub fn stop(mut self) -> Result<u64, String> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| "the stand-in panicked".to_string()),
            None => Ok(0),
        }
    }
}
