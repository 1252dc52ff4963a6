//! The running pipeline as the window sees it. Opening a source (loading the models, which takes
//! seconds, or switching sources) and stopping the old pipeline happen on a thread of their own;
//! a forwarder thread waits on the pipeline's results and events and wakes the event loop, so
//! the UI thread only ever takes what is already there (`try_recv`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Result;
use crossbeam_channel::{
    Receiver, SendTimeoutError, TrySendError, bounded, never, select, unbounded,
};
use winit::event_loop::EventLoopProxy;

use facetrack::capture::{SourceSpec, VideoInfo};
use facetrack::record::OscOptions;
use facetrack::track::{LiveOutput, PipelineEnd, TrackerModels};

use super::track::{Pipeline, PipelineEvent, TrackResult, TrackSettings};

/// How often a forwarder waiting on the window checks whether the session is stopping.
const FORWARD_POLL: Duration = Duration::from_millis(20);

/// Why the event loop is woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A result or an event of the pipeline is waiting.
    Pipeline,
    /// A source was opened (or failed to open).
    Opened,
    /// Ctrl-C, SIGTERM or SIGHUP: close as the window's close button does, finishing the
    /// recordings.
    Quit,
}

/// What to open.
pub struct OpenRequest {
    /// `None`: the default source (a camera if there is one, else the demo).
    pub source: Option<SourceSpec>,
    pub settings: TrackSettings,
    /// A CSV recording of every frame from the first.
    pub record: Option<PathBuf>,
    /// The tracked video of every frame from the first (`--render`).
    pub render: Option<PathBuf>,
    /// Where in a video to start (a seek).
    pub start: Option<Duration>,
    /// The live output, sent every frame from the first.
    pub live: Option<Box<dyn LiveOutput>>,
    /// Take the first this many tracked frames as the person's neutral face.
    pub calibrate_neutral: Option<usize>,
}

/// Where and how the live OSC output sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OscRequest {
    /// `HOST:PORT`, already resolved to an address (making a sender from it never waits on a
    /// name lookup).
    pub address: String,
    pub options: OscOptions,
}

/// A started pipeline and what the window needs to draw its results.
pub struct Opened {
    pub pipeline: Pipeline,
    /// The models the fits are made with; the overlay's mesh is `models.model`'s.
    pub models: Arc<TrackerModels>,
    /// What was opened, and why.
    pub description: String,
    /// A video file's headers: the window plays it like a player.
    pub video: Option<VideoInfo>,
    /// The source opened, for seeking in it.
    pub source: Option<SourceSpec>,
}

/// Opens sources; called on the opener thread, never on the UI thread.
pub type Opener = Arc<dyn Fn(OpenRequest) -> Result<Opened> + Send + Sync>;

/// Starts opening on a thread of its own, after stopping `previous` (whose rows are reported in
/// the outcome). The returned receiver holds the outcome once `Wake::Opened` has been sent.
pub fn open_in_background(
    opener: Opener,
    request: OpenRequest,
    previous: Option<Session>,
    proxy: EventLoopProxy<Wake>,
) -> Receiver<OpenOutcome> {
    let (tx, rx) = bounded(1);
    let spawned = std::thread::Builder::new()
        .name("open-source".into())
        .spawn(move || {
            lower_priority();
            let stopped = previous.map(Session::stop);
            let _ = tx.send(OpenOutcome {
                opened: opener(request),
                stopped,
            });
            let _ = proxy.send_event(Wake::Opened);
        });
    if let Err(e) = spawned {
        let (tx, rx) = bounded(1);
        let _ = tx.send(OpenOutcome {
            opened: Err(anyhow::anyhow!(
                "cannot start a thread to open the source: {e}"
            )),
            stopped: None,
        });
        return rx;
    }
    rx
}

/// How much nicer than the window the tracking threads run (Linux `nice`).
#[cfg(target_os = "linux")]
const PIPELINE_NICE: libc::c_int = 5;

/// Lowers this thread's scheduling priority; the pipeline's threads, started from it, inherit
/// it. Where the machine has fewer cores than the threads that want them (software rendering
/// does its drawing on the CPU too), the window then comes first and tracking takes the rest —
/// it needs a fraction of a core to keep up.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority has no memory effects; on Linux `who = 0` is the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, PIPELINE_NICE);
    }
}

pub struct OpenOutcome {
    pub opened: Result<Opened>,
    /// The rows the previous pipeline's recordings wrote, or why it failed.
    pub stopped: Option<Result<PipelineEnd, String>>,
}

/// A pipeline with its forwarder.
pub struct Session {
    pipeline: Pipeline,
    results: Receiver<TrackResult>,
    events: Receiver<PipelineEvent>,
    forwarder: Option<JoinHandle<()>>,
    /// Tells a forwarder waiting on the window to give up: the session is stopping.
    closing: Arc<AtomicBool>,
    /// Set once the pipeline's results have ended and all were forwarded.
    drained: Arc<AtomicBool>,
    every: Arc<AtomicBool>,
}

impl Session {
    /// Starts forwarding `pipeline`'s results and events: only the newest result is kept, or
    /// with `every` (a video played like a player) every one, the tracker waiting for the window.
    pub fn new(pipeline: Pipeline, proxy: EventLoopProxy<Wake>, every: bool) -> Self {
        let every = Arc::new(AtomicBool::new(every));
        let every_flag = Arc::clone(&every);
        let (result_tx, result_rx) = bounded::<TrackResult>(1);
        let (event_tx, event_rx) = unbounded::<PipelineEvent>();
        let results = pipeline.results().clone();
        let mut events = pipeline.events().clone();
        let stale = result_rx.clone();
        let recycle = pipeline.recycler();
        let closing = Arc::new(AtomicBool::new(false));
        let closing_flag = Arc::clone(&closing);
        let drained = Arc::new(AtomicBool::new(false));
        let drained_flag = Arc::clone(&drained);
        let forwarder = std::thread::Builder::new()
            .name("ui-forwarder".into())
            .spawn(move || {
                loop {
                    select! {
                        recv(results) -> r => match r {
                            Ok(r) if every_flag.load(Ordering::Relaxed) => {
                                let mut r = r;
                                loop {
                                    match result_tx.send_timeout(r, FORWARD_POLL) {
                                        Ok(()) => break,
                                        Err(SendTimeoutError::Timeout(back)) => {
                                            if closing_flag.load(Ordering::Relaxed) {
                                                return;
                                            }
                                            r = back;
                                        }
                                        Err(SendTimeoutError::Disconnected(_)) => return,
                                    }
                                }
                            }
                            Ok(r) => {
                                if let Err(TrySendError::Full(r)) = result_tx.try_send(r) {
                                    // The window has not taken the last one: the newest wins,
                                    // and the stale one's buffers serve a later frame.
                                    if let Ok(old) = stale.try_recv() {
                                        let _ = recycle.send(old);
                                    }
                                    let _ = result_tx.try_send(r);
                                }
                            }
                            Err(_) => break,
                        },
                        recv(events) -> e => match e {
                            Ok(e) => { let _ = event_tx.send(e); }
                            // The results decide when forwarding ends.
                            Err(_) => {
                                events = never();
                                continue;
                            }
                        },
                    }
                    if proxy.send_event(Wake::Pipeline).is_err() {
                        break;
                    }
                }
                // The results have ended: pass on the events still queued (the source's end).
                drained_flag.store(true, Ordering::SeqCst);
                for e in events.try_iter() {
                    let _ = event_tx.send(e);
                }
                let _ = proxy.send_event(Wake::Pipeline);
            })
            .ok();
        Self {
            pipeline,
            results: result_rx,
            events: event_rx,
            forwarder,
            closing,
            drained,
            every,
        }
    }

    /// Every result to the window (a video at its pace), or only the newest (as fast as it
    /// fits: the tracker is never held up by the window).
    pub fn set_every(&self, every: bool) {
        self.every.store(every, Ordering::Relaxed);
    }

    /// Whether every result the pipeline will make has been taken: its source has ended and the
    /// last frame is fitted and handed over.
    pub fn all_taken(&self) -> bool {
        self.drained.load(Ordering::SeqCst) && self.results.is_empty()
    }

    /// The newest result, if one came since the last call.
    pub fn try_result(&self) -> Option<TrackResult> {
        self.results.try_recv().ok()
    }

    pub fn try_event(&self) -> Option<PipelineEvent> {
        self.events.try_recv().ok()
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Stops the pipeline (finishing its recordings) and the forwarder; what the run did.
    pub fn stop(self) -> Result<PipelineEnd, String> {
        let Self {
            pipeline,
            forwarder,
            closing,
            ..
        } = self;
        // A forwarder waiting to hand over a result is let go.
        closing.store(true, Ordering::Relaxed);
        let rows = pipeline.stop().map_err(|e| e.to_string());
        if let Some(f) = forwarder {
            let _ = f.join();
        }
        rows
    }
}

/// A recording path for the panel's default: beside the working directory, numbered by time.
pub fn default_record_path() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    PathBuf::from(format!("facetrack-{secs}.csv"))
}
