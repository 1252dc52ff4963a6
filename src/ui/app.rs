//! The window (winit): its event loop, the frame it draws — the video view, then the panel over
//! it — and the hand-over between the pipeline and the renderer. The window redraws when a new
//! result arrives (the forwarder wakes it), when egui asks, and a few times a second for the
//! plot; it takes results with `try_recv` only, so capture and fitting never hold it up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use crossbeam_channel::Receiver;
use winit::application::ApplicationHandler;
use winit::dpi::LogicalSize;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop, EventLoopProxy};
use winit::window::{Window, WindowId};

use facetrack::capture::SourceSpec;
use facetrack::record::osc::resolve;
use facetrack::record::{CsvRecorder, OscSender};
use facetrack::track::{LiveOutput, PipelineEnd, TrackerModels};

use super::panel::{Action, PANEL_WIDTH, Panel, Playback, SourceChoice, Status};
use super::player::{Player, Speed};
use super::session::{
    OpenOutcome, OpenRequest, Opened, Opener, OscRequest, Session, Wake, default_record_path,
    open_in_background,
};
use super::stats::{Stats, Summary};
use super::track::{
    PipelineEvent, ResultSink, TrackCommand, TrackResult, TrackSettings, TrackStatus,
};
use crate::render::layer::Bounds;
use crate::render::{
    Gpu, Offscreen, Overlay, PanelLayer, PixelRect, SceneRenderer, ViewOptions, letterbox,
    paint_bounds,
};

/// Said with every failure to open the window.
pub const HEADLESS_HINT: &str =
    "no display? `facetrack track --source demo --csv out.csv` runs headless";
/// Redraws at least this often, so that the rates and the plot move when no frame comes.
const IDLE_REDRAW: Duration = Duration::from_millis(200);
/// The longest results fitted before a change of settings are held back (a tracker that never
/// applies it must not freeze the window).
const SWITCH_HOLD: Duration = Duration::from_millis(300);
/// The window's first size (points): the panel, and beside it a 640×480 camera frame shown
/// pixel for pixel — on a software renderer the frame's pixels are most of a window frame's cost.
const WINDOW_SIZE: [f64; 2] = [PANEL_WIDTH as f64 + 640.0, 560.0];
/// How often the panel is drawn again for its live readouts: 20 times a second is as fast as
/// figures can be read, and the video view goes on at its own rate in between.
const PANEL_INTERVAL: Duration = Duration::from_millis(50);

/// What the window is asked to do.
pub struct AppOptions {
    pub source: Option<SourceSpec>,
    pub settings: TrackSettings,
    pub record: Option<PathBuf>,
    /// Write the tracked video here (`--render`).
    pub render: Option<PathBuf>,
    /// How a video plays at first.
    pub speed: Speed,
    /// Where a video starts.
    pub start: Option<Duration>,
    /// Exit once the frame of this index − 1 has been fitted and shown.
    pub exit_after_frames: Option<u64>,
    /// Write the window's last frame here at exit.
    pub screenshot: Option<PathBuf>,
    /// Sources the panel offers besides a typed path.
    pub sources: Vec<SourceChoice>,
    /// Send every frame live over OSC from the start (`--osc`).
    pub osc: Option<OscRequest>,
    /// Take the first this many tracked frames as the person's neutral face.
    pub calibrate_neutral: Option<usize>,
}

/// Tracked frames the panel's neutral-face calibration averages: a second at 30 fps.
const NEUTRAL_FRAMES: usize = 30;

/// A change of settings sent to the tracker, not yet seen in a result.
struct PendingSwitch {
    settings: TrackSettings,
    sent: Instant,
    /// Results that came since, fitted with the old settings, and not shown.
    held: u32,
}

/// How a change of settings took effect: the results held back because they were fitted before
/// it (the next frame shown is the first fitted with the new settings), and the time from the
/// change to that frame.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Switch {
    pub held: u32,
    pub ms: f64,
    /// False when no result with the new settings came within [`SWITCH_HOLD`] and the old
    /// ones were shown again.
    pub applied: bool,
}

/// What a run of the window measured and wrote, printed at exit.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppSummary {
    #[serde(flatten)]
    pub speed: Summary,
    /// Rows the recordings wrote.
    pub rows: u64,
    /// Fitted frames that have no row in a recording (a full disk, say).
    pub lost_rows: u64,
    /// Closed by Ctrl-C, SIGTERM or SIGHUP.
    pub interrupted: bool,
    /// Frames the source could not decode.
    pub skipped_frames: u64,
    pub backend: String,
    pub adapter: String,
    pub present_mode: String,
    pub screenshot: Option<PathBuf>,
    /// Where the frame was drawn in the last window frame, `[x, y, w, h]` physical pixels.
    pub viewport: Option<[f32; 4]>,
    /// The window's size in physical pixels.
    pub window: [u32; 2],
    /// The last change of method or settings: results held back until it took effect, and ms.
    pub last_switch: Option<Switch>,
}

/// Opens the window and runs it until it is closed or `--exit-after-frames` is reached.
pub fn run(options: AppOptions, opener: Opener) -> Result<AppSummary> {
    let event_loop = EventLoop::<Wake>::with_user_event()
        .build()
        .map_err(|e| no_window(&e))?;
    event_loop.set_control_flow(ControlFlow::Wait);
    let proxy = event_loop.create_proxy();
    let quit = proxy.clone();
    ctrlc::set_handler(move || {
        let _ = quit.send_event(Wake::Quit);
    })
    .map_err(|e| anyhow!("cannot install the handler of Ctrl-C, SIGTERM and SIGHUP: {e}"))?;
    let mut app = App::new(options, opener, proxy);
    event_loop
        .run_app(&mut app)
        .map_err(|e| anyhow!("the window's event loop failed: {e}"))?;
    app.finish()
}

/// The error for a window that cannot be opened: winit's reason without the source location it
/// prefixes (`os error at FILE:LINE: …`), and the hint.
fn no_window(err: &dyn std::fmt::Display) -> anyhow::Error {
    let text = err.to_string();
    let reason = text
        .strip_prefix("os error at ")
        .and_then(|rest| rest.split_once(": ").map(|(_, r)| r))
        .unwrap_or(&text);
    anyhow!(
        "cannot open a window: {} ({HEADLESS_HINT})",
        reason.trim_end_matches('.')
    )
}

/// egui's pieces.
struct Egui {
    ctx: egui::Context,
    state: egui_winit::State,
    renderer: egui_wgpu::Renderer,
}

/// The window and everything that draws into it.
struct OpenWindow {
    window: Arc<Window>,
    gpu: Gpu,
    egui: Egui,
    scene: Option<SceneRenderer>,
    layer: PanelLayer,
}

struct App {
    options: AppOptions,
    opener: Opener,
    proxy: EventLoopProxy<Wake>,
    win: Option<OpenWindow>,
    opening: Option<Receiver<OpenOutcome>>,
    session: Option<Session>,
    models: Option<Arc<TrackerModels>>,
    overlay: Option<Overlay>,
    /// The result shown (its frame is the texture, its fit the overlay).
    shown: Option<TrackResult>,
    /// A video's results, paced like a player; `None` for a camera or the demo.
    player: Option<Player<TrackResult>>,
    /// The video playing: the source to seek in.
    video: Option<SourceSpec>,
    /// A result not yet uploaded.
    pending: bool,
    panel: Panel,
    stats: Stats,
    actions: Vec<Action>,
    rows: u64,
    lost_rows: u64,
    skipped_frames: u64,
    interrupted: bool,
    /// What stops the run with an error.
    fatal: Option<anyhow::Error>,
    exiting: bool,
    screenshot_taken: bool,
    next_idle_redraw: Instant,
    last_viewport: Option<PixelRect>,
    switch: Option<PendingSwitch>,
    last_switch: Option<Switch>,
    /// The panel must be drawn again at the next frame (input, an animation).
    panel_dirty: bool,
    next_panel: Instant,
    /// Where the panel's layer has something, and the view's area, from its last drawing.
    panel_bounds: Bounds,
    central: PixelRect,
    /// The live OSC output asked for; every pipeline started sends to it.
    osc: Option<OscRequest>,
    /// What the open in flight was asked to send to.
    requested_osc: Option<OscRequest>,
}

impl App {
    fn new(options: AppOptions, opener: Opener, proxy: EventLoopProxy<Wake>) -> Self {
        let record_path = options
            .record
            .clone()
            .unwrap_or_else(default_record_path)
            .display()
            .to_string();
        let mut panel = Panel::new(options.settings, record_path);
        panel.sources = options.sources.clone();
        let mut osc = options.osc.clone();
        if let Some(req) = &osc {
            panel.osc.address.clone_from(&req.address);
            panel.osc.format = req.options.format;
            panel.osc.mirror = req.options.mirror;
        }
        let live = live_sender(&mut osc, &mut panel);
        // Models load while the window opens.
        let opening = open_in_background(
            opener.clone(),
            OpenRequest {
                source: options.source.clone(),
                settings: options.settings,
                record: options.record.clone(),
                render: options.render.clone(),
                start: options.start,
                live,
                calibrate_neutral: options.calibrate_neutral,
            },
            None,
            proxy.clone(),
        );
        let now = Instant::now();
        Self {
            options,
            opener,
            proxy,
            win: None,
            opening: Some(opening),
            session: None,
            models: None,
            overlay: None,
            shown: None,
            player: None,
            video: None,
            pending: false,
            panel,
            stats: Stats::new(now),
            actions: Vec::new(),
            rows: 0,
            lost_rows: 0,
            skipped_frames: 0,
            interrupted: false,
            fatal: None,
            exiting: false,
            screenshot_taken: false,
            next_idle_redraw: now,
            last_viewport: None,
            switch: None,
            last_switch: None,
            panel_dirty: true,
            next_panel: now,
            panel_bounds: [0; 4],
            central: PixelRect {
                x: 0.0,
                y: 0.0,
                w: 0.0,
                h: 0.0,
            },
            requested_osc: osc.clone(),
            osc,
        }
    }

    fn fail(&mut self, event_loop: &ActiveEventLoop, err: anyhow::Error) {
        if self.fatal.is_none() {
            self.fatal = Some(err);
        }
        event_loop.exit();
    }

    fn open_window(&mut self, event_loop: &ActiveEventLoop) -> Result<OpenWindow> {
        let attrs = Window::default_attributes()
            .with_title("facetrack")
            .with_inner_size(LogicalSize::new(WINDOW_SIZE[0], WINDOW_SIZE[1]))
            .with_min_inner_size(LogicalSize::new(640.0, 400.0));
        let window = Arc::new(event_loop.create_window(attrs).map_err(|e| no_window(&e))?);
        let gpu = Gpu::new(event_loop, window.clone())
            .map_err(|e| anyhow!("cannot open a window: {e:#} ({HEADLESS_HINT})"))?;
        let info = gpu.info();
        self.panel.gpu = format!(
            "{} · {} · {}",
            info.backend, info.adapter, info.present_mode
        );
        let ctx = egui::Context::default();
        ctx.set_visuals(egui::Visuals::dark());
        let max_side = gpu.device.limits().max_texture_dimension_2d as usize;
        let state = egui_winit::State::new(
            ctx.clone(),
            egui::ViewportId::ROOT,
            &window,
            Some(window.scale_factor() as f32),
            None,
            Some(max_side),
        );
        let renderer = egui_wgpu::Renderer::new(
            &gpu.device,
            gpu.config.format,
            egui_wgpu::RendererOptions {
                dithering: false,
                ..Default::default()
            },
        );
        let scene = self.overlay.as_ref().map(|o| {
            let s = SceneRenderer::new(&gpu.device, gpu.config.format, o);
            s.upload_indices(&gpu.queue, o);
            s
        });
        let layer = PanelLayer::new(&gpu.device, gpu.config.format);
        Ok(OpenWindow {
            window,
            layer,
            gpu,
            egui: Egui {
                ctx,
                state,
                renderer,
            },
            scene,
        })
    }

    /// Takes a finished open: the new session, or the error.
    fn poll_opening(&mut self, event_loop: &ActiveEventLoop) {
        let Some(outcome) = self.opening.as_ref().and_then(|rx| rx.try_recv().ok()) else {
            return;
        };
        self.opening = None;
        if let Some(stopped) = outcome.stopped {
            self.note_stopped(stopped);
        }
        match outcome.opened {
            Ok(opened) => self.start_session(opened),
            Err(e) if self.session.is_none() && self.shown.is_none() => {
                // Nothing ever ran: the run cannot go on.
                self.fail(event_loop, e);
            }
            Err(e) => self.panel.status = Status::Error(format!("{e:#}")),
        }
    }

    fn note_stopped(&mut self, stopped: Result<PipelineEnd, String>) {
        match stopped {
            Ok(end) => self.account(&end),
            Err(e) => self.panel.warning = Some(e),
        }
        if let Some((path, rows)) = self.panel.recording.take() {
            self.panel.recorded = Some((path, rows));
        }
    }

    fn start_session(&mut self, opened: Opened) {
        let Opened {
            pipeline,
            models,
            description,
            video,
            source,
        } = opened;
        self.panel.source = description;
        self.panel.status = Status::Starting("waiting for the first frame…".into());
        let same_models = self
            .models
            .as_ref()
            .is_some_and(|m| Arc::ptr_eq(m, &models));
        if !same_models {
            let overlay = Overlay::new(&models.model);
            if let Some(w) = &mut self.win {
                let s = SceneRenderer::new(&w.gpu.device, w.gpu.config.format, &overlay);
                s.upload_indices(&w.gpu.queue, &overlay);
                w.scene = Some(s);
            }
            self.overlay = Some(overlay);
            self.models = Some(models);
        }
        let playing = video.is_some();
        let session = Session::new(pipeline, self.proxy.clone(), playing);
        if let Some(player) = &mut self.player {
            player.clear(drop);
        }
        match (&video, source) {
            (Some(info), Some(spec)) => {
                let speed = self
                    .player
                    .as_ref()
                    .map_or(self.options.speed, Player::speed);
                session.set_every(speed != Speed::AsFastAsItFits);
                let mut player = Player::new(speed);
                player.set_paused(self.panel.paused);
                // Paused, a seek still shows the frame it lands on.
                player.step();
                self.player = Some(player);
                self.video = Some(spec);
                self.panel.playback = Some(Playback {
                    position: Duration::ZERO,
                    duration: info.duration,
                    speed,
                    seek_to: None,
                });
            }
            _ => {
                self.player = None;
                self.video = None;
                self.panel.playback = None;
            }
        }
        // A video pauses in the player, not in the tracker: the tracker stops on its own when
        // the player's queue is full, and a step needs the next frame fitted.
        if self.panel.paused && !playing {
            session.pipeline().send(TrackCommand::Pause(true));
        }
        if self.panel.settings != self.options.settings {
            session
                .pipeline()
                .send(TrackCommand::Settings(self.panel.settings));
        }
        // The live output was switched while the source opened.
        if self.osc != self.requested_osc {
            match live_sender(&mut self.osc, &mut self.panel) {
                Some(live) => session.pipeline().send(TrackCommand::StartLive(live)),
                None => session.pipeline().send(TrackCommand::StopLive),
            }
            self.requested_osc = self.osc.clone();
        }
        self.session = Some(session);
    }

    fn recorder(&self, path: &std::path::Path) -> Result<Box<dyn ResultSink>> {
        let models = self
            .models
            .as_ref()
            .context("nothing to record before the models are loaded")?;
        let (n_id, n_exp) = models.dims();
        let rec = CsvRecorder::create(path, n_id, n_exp, models.model.n_landmarks())
            .with_context(|| format!("cannot record to {}", path.display()))?;
        Ok(Box::new(rec))
    }

    /// Takes the newest result and the pipeline's events.
    fn poll_pipeline(&mut self) {
        let Some(session) = &self.session else {
            return;
        };
        let now = Instant::now();
        if let Some(player) = &mut self.player {
            while player.wants_more() {
                match session.try_result() {
                    Some(r) => player.push(r),
                    None => break,
                }
            }
        }
        loop {
            let next = match &mut self.player {
                Some(player) => player.due(now, |old| session.pipeline().recycle(old)),
                None => session.try_result(),
            };
            let Some(r) = next else { break };
            if let Some(p) = &mut self.panel.playback {
                p.position = r.frame.timestamp;
            }
            if let Some(sw) = &mut self.switch {
                let waited = now.saturating_duration_since(sw.sent);
                if r.settings == sw.settings || waited >= SWITCH_HOLD {
                    let took = Switch {
                        held: sw.held,
                        ms: waited.as_secs_f64() * 1e3,
                        applied: r.settings == sw.settings,
                    };
                    self.panel.last_switch = Some(took);
                    self.last_switch = Some(took);
                    self.switch = None;
                } else {
                    // Fitted before the change reached the tracker (in flight, or waiting in
                    // the hand-over): not shown, so that the next frame shown is the new
                    // method's fit. The recording has it all the same.
                    sw.held += 1;
                    session.pipeline().recycle(r);
                    continue;
                }
            }
            self.stats.result(now, r.frame.index, r.fit_ms, r.fit_fps);
            // The path is cloned only when it changes: a result a frame allocates nothing here.
            match (r.recording.first(), &mut self.panel.recording) {
                (Some((path, rows)), Some((shown, n))) if path == shown => *n = *rows,
                (first, slot) => *slot = first.cloned(),
            }
            if !self.panel.paused {
                self.panel.status = Status::Track(r.status);
            }
            self.panel.osc.report = r.live;
            if let Some(old) = self.shown.replace(r) {
                session.pipeline().recycle(old);
            }
            self.pending = true;
        }
        while let Some(e) = session.try_event() {
            match e {
                PipelineEvent::Warning(w) => self.panel.warning = Some(w),
                PipelineEvent::Error(e) => self.panel.status = Status::Error(e),
                PipelineEvent::SourceEnded => {
                    self.panel.status = Status::Ended;
                    // A video's last frames are still queued for showing: the run ends once
                    // they are shown (below).
                    if self.options.exit_after_frames.is_some() && self.player.is_none() {
                        self.exiting = true;
                    }
                }
                PipelineEvent::RecordingFinished(path, rows) => {
                    self.panel.recording = None;
                    self.panel.recorded = Some((path, rows));
                }
            }
        }
    }

    /// Uploads the shown result's frame and its overlay, together.
    fn upload(&mut self) {
        if !self.pending {
            return;
        }
        let (Some(w), Some(r), Some(models), Some(overlay)) =
            (&mut self.win, &self.shown, &self.models, &mut self.overlay)
        else {
            return;
        };
        let Some(scene) = &mut w.scene else { return };
        let model = &models.model;
        let fits = r.params.n_id() <= model.n_id() && r.params.n_exp() <= model.n_exp();
        if r.status == TrackStatus::Tracking && fits && r.landmarks.len() == 2 * model.n_landmarks()
        {
            overlay.update(model, &r.params, &r.landmarks);
        } else {
            overlay.clear();
        }
        let img = &r.frame.image;
        scene.set_frame(
            &w.gpu.device,
            &w.gpu.queue,
            img.width,
            img.height,
            &img.data,
            overlay,
        );
        self.pending = false;
    }

    fn apply_actions(&mut self) {
        let actions = std::mem::take(&mut self.actions);
        for a in &actions {
            match a {
                Action::Settings(s) => {
                    if let Some(session) = &self.session {
                        session.pipeline().send(TrackCommand::Settings(*s));
                        self.switch = Some(PendingSwitch {
                            settings: *s,
                            sent: Instant::now(),
                            held: 0,
                        });
                    }
                }
                Action::Pause(p) => {
                    if let Some(player) = &mut self.player {
                        player.set_paused(*p);
                    } else if let Some(session) = &self.session {
                        session.pipeline().send(TrackCommand::Pause(*p));
                    }
                    self.panel.status = if *p {
                        Status::Paused
                    } else {
                        Status::Starting("resuming…".into())
                    };
                }
                Action::Redetect => {
                    if let Some(session) = &self.session {
                        session.pipeline().send(TrackCommand::Redetect);
                    }
                }
                Action::CalibrateNeutral => {
                    if let Some(session) = &self.session {
                        session
                            .pipeline()
                            .send(TrackCommand::CalibrateNeutral(NEUTRAL_FRAMES));
                    }
                }
                Action::StartRecording(path) => match self.recorder(path) {
                    Ok(sink) => {
                        if let Some(session) = &self.session {
                            session.pipeline().send(TrackCommand::StartRecording(sink));
                            self.panel.recording = Some((path.clone(), 0));
                        }
                    }
                    Err(e) => self.panel.warning = Some(format!("{e:#}")),
                },
                Action::StopRecording => {
                    if let Some(session) = &self.session {
                        session.pipeline().send(TrackCommand::StopRecording);
                    }
                    if let Some(rec) = self.panel.recording.take() {
                        self.panel.recorded = Some(rec);
                    }
                }
                Action::Source(spec) => self.switch_source(spec.clone()),
                Action::Step => {
                    if let Some(player) = &mut self.player {
                        player.step();
                    }
                }
                Action::Speed(speed) => {
                    if let Some(player) = &mut self.player {
                        player.set_speed(*speed);
                    }
                    if let Some(session) = &self.session {
                        session.set_every(*speed != Speed::AsFastAsItFits);
                    }
                    if let Some(p) = &mut self.panel.playback {
                        p.speed = *speed;
                    }
                }
                Action::Seek(t) => self.seek(*t),
                Action::StartOsc(address, options) => {
                    // A name is looked up once, here; every sender after it uses the address.
                    self.osc = match resolve(address) {
                        Ok(target) => Some(OscRequest {
                            address: target.to_string(),
                            options: *options,
                        }),
                        Err(e) => {
                            self.panel.osc.error = Some(e.to_string());
                            None
                        }
                    };
                    let live = live_sender(&mut self.osc, &mut self.panel);
                    if let Some(session) = &self.session {
                        session.pipeline().send(match live {
                            Some(live) => TrackCommand::StartLive(live),
                            None => TrackCommand::StopLive,
                        });
                    }
                }
                Action::StopOsc => {
                    self.osc = None;
                    self.panel.osc.sending = None;
                    self.panel.osc.report = None;
                    if let Some(session) = &self.session {
                        session.pipeline().send(TrackCommand::StopLive);
                    }
                }
            }
        }
        // Hand the buffer back: no allocation next frame.
        self.actions = actions;
        self.actions.clear();
    }

    fn switch_source(&mut self, spec: SourceSpec) {
        if self.opening.is_some() {
            return;
        }
        let status = format!("opening {spec}…");
        self.reopen(spec, None, status);
    }

    /// Opens `spec` (from `start` into a video) in place of the running session, with the
    /// panel's settings and no recording.
    fn reopen(&mut self, spec: SourceSpec, start: Option<Duration>, status: String) {
        self.panel.status = Status::Starting(status);
        let live = live_sender(&mut self.osc, &mut self.panel);
        self.requested_osc = self.osc.clone();
        self.opening = Some(open_in_background(
            self.opener.clone(),
            OpenRequest {
                source: Some(spec),
                settings: self.panel.settings,
                record: None,
                render: None,
                start,
                live,
                calibrate_neutral: None,
            },
            self.session.take(),
            self.proxy.clone(),
        ));
    }

    /// Plays the video from `t`: a new pipeline on the source moved there, so tracking starts
    /// afresh (the detector finds the face in the first frame shown).
    fn seek(&mut self, t: Duration) {
        if self.opening.is_some() {
            return;
        }
        let Some(spec) = self.video.clone() else {
            return;
        };
        if let (Some(player), Some(session)) = (&mut self.player, &self.session) {
            player.clear(|r| session.pipeline().recycle(r));
        }
        let status = format!("seeking to {:.1} s…", t.as_secs_f64());
        self.reopen(spec, Some(t), status);
    }

    /// Whether `--exit-after-frames` is reached, or a video it was given for has been shown to
    /// its end.
    fn reached_exit_frame(&self) -> bool {
        let played_out = self.options.exit_after_frames.is_some()
            && self.opening.is_none()
            && self.player.as_ref().is_some_and(Player::is_empty)
            && self.session.as_ref().is_some_and(Session::all_taken);
        played_out
            || match (self.options.exit_after_frames, &self.shown) {
                (Some(n), Some(r)) => r.frame.index + 1 >= n,
                _ => false,
            }
    }

    fn redraw(&mut self, event_loop: &ActiveEventLoop) {
        self.poll_opening(event_loop);
        self.poll_pipeline();
        self.upload();
        if self.reached_exit_frame() {
            self.exiting = true;
        }
        let now = Instant::now();
        self.next_idle_redraw = now + IDLE_REDRAW;
        // The panel is drawn again on input, for its animations, at the readouts' rate, and for
        // the last frame (the screenshot shows it as it is then).
        let panel_due = self.panel_dirty || now >= self.next_panel || self.exiting;
        let Some(w) = &mut self.win else { return };
        let size = w.gpu.size();
        let mut encoder = w.gpu.device.create_command_encoder(&Default::default());
        let mut egui_cmds = Vec::new();
        if panel_due {
            self.panel_dirty = false;
            self.next_panel = now + PANEL_INTERVAL;
            let raw = w.egui.state.take_egui_input(&w.window);
            let (panel, stats, actions, shown) = (
                &mut self.panel,
                &mut self.stats,
                &mut self.actions,
                self.shown.as_ref(),
            );
            let mut central = egui::Rect::NOTHING;
            let mut out = w.egui.ctx.run_ui(raw, |ui| {
                panel.shortcuts(ui.ctx(), actions);
                egui::Panel::left("panel")
                    .resizable(false)
                    .exact_size(PANEL_WIDTH)
                    .show(ui, |ui| {
                        egui::ScrollArea::vertical().show(ui, |ui| {
                            panel.show(ui, shown, stats, actions);
                        });
                    });
                central = egui::CentralPanel::no_frame()
                    .show(ui, |ui| {
                        if shown.is_none() {
                            ui.centered_and_justified(|ui| {
                                ui.label(egui::RichText::new("starting…").size(20.0).weak());
                            });
                        }
                    })
                    .response
                    .rect;
            });
            w.egui
                .state
                .handle_platform_output(&w.window, out.platform_output);
            let ppp = out.pixels_per_point;
            let jobs = w.egui.ctx.tessellate(out.shapes, ppp);
            for (id, deltas) in out.textures_delta.set.drain() {
                for delta in deltas {
                    w.egui
                        .renderer
                        .update_texture(&w.gpu.device, &w.gpu.queue, id, &delta);
                }
            }
            let screen = egui_wgpu::ScreenDescriptor {
                size_in_pixels: size,
                pixels_per_point: ppp,
            };
            egui_cmds = w.egui.renderer.update_buffers(
                &w.gpu.device,
                &w.gpu.queue,
                &mut encoder,
                &jobs,
                &screen,
            );
            let layer = w.layer.view(&w.gpu.device, size);
            let pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("panel"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: layer,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            w.egui
                .renderer
                .render(&mut pass.forget_lifetime(), &jobs, &screen);
            self.panel_bounds = paint_bounds(&jobs, ppp);
            for id in out.textures_delta.free.drain() {
                w.egui.renderer.free_texture(&id);
            }
            self.central = PixelRect {
                x: central.min.x * ppp,
                y: central.min.y * ppp,
                w: central.width() * ppp,
                h: central.height() * ppp,
            };
            let repaint = out
                .viewport_output
                .get(&egui::ViewportId::ROOT)
                .map(|v| v.repaint_delay);
            if repaint == Some(Duration::ZERO) {
                self.panel_dirty = true;
                w.window.request_redraw();
            } else if let Some(d) = repaint
                && d < PANEL_INTERVAL
            {
                self.next_panel = now + d;
            }
            self.next_idle_redraw = self.next_idle_redraw.min(self.next_panel);
        }
        let viewport = w
            .scene
            .as_ref()
            .and_then(|s| letterbox(self.central, s.frame_size(), size));
        if let Some(s) = &mut w.scene {
            s.prepare(&w.gpu.queue, viewport);
        }
        self.last_viewport = viewport;

        let Some(frame) = w.gpu.acquire() else {
            // Nothing to present to this time; the panel's work is submitted all the same.
            w.gpu
                .queue
                .submit(egui_cmds.into_iter().chain([encoder.finish()]));
            self.panel_dirty = true;
            return;
        };
        let panel_right = self.central.x.max(0.0) as u32;
        draw(
            w,
            &mut encoder,
            &frame.texture,
            viewport,
            self.panel_bounds,
            panel_right,
            self.panel.view,
        );
        w.gpu
            .queue
            .submit(egui_cmds.into_iter().chain([encoder.finish()]));
        w.window.pre_present_notify();
        w.gpu.queue.present(frame);
        self.stats.presented(Instant::now());

        if self.exiting && !self.screenshot_taken {
            self.screenshot_taken = true;
            if let Some(path) = &self.options.screenshot {
                let shot = Offscreen::new(&w.gpu.device, w.gpu.config.format, size);
                let mut encoder = w.gpu.device.create_command_encoder(&Default::default());
                draw(
                    w,
                    &mut encoder,
                    &shot.texture,
                    viewport,
                    self.panel_bounds,
                    panel_right,
                    self.panel.view,
                );
                w.gpu.queue.submit([encoder.finish()]);
                if let Err(e) = shot.save_png(&w.gpu.device, &w.gpu.queue, path) {
                    self.fatal = Some(e);
                }
            }
        }

        self.apply_actions();
        if self.exiting && (self.screenshot_taken || self.options.screenshot.is_none()) {
            event_loop.exit();
        }
    }

    /// Adds a finished pipeline's rows and losses to the run's.
    fn account(&mut self, end: &PipelineEnd) {
        self.rows += end.rows();
        self.lost_rows += end.lost_rows();
        // Frames a video declares and never gave are as lost as frames it could not decode.
        self.skipped_frames += end.skipped + end.missing;
    }

    /// Stops the pipeline (finishing the recordings) and reports the run.
    fn finish(mut self) -> Result<AppSummary> {
        if let Some(session) = self.session.take() {
            match session.stop() {
                Ok(end) => self.account(&end),
                Err(e) => {
                    if self.fatal.is_none() {
                        self.fatal = Some(anyhow!("stopping the tracker: {e}"));
                    }
                }
            }
        }
        if let Some(outcome) = self.opening.take().and_then(|rx| rx.recv().ok()) {
            // An open in flight: stop what it started.
            if let Ok(opened) = outcome.opened {
                let _ = opened.pipeline.stop();
            }
            if let Some(Ok(end)) = &outcome.stopped {
                self.account(end);
            }
        }
        if let Some(e) = self.fatal.take() {
            return Err(e);
        }
        let info = self.win.as_ref().map(|w| w.gpu.info());
        Ok(AppSummary {
            speed: self.stats.summary(),
            rows: self.rows,
            lost_rows: self.lost_rows,
            interrupted: self.interrupted,
            skipped_frames: self.skipped_frames,
            backend: info.as_ref().map_or(String::new(), |i| i.backend.clone()),
            adapter: info.as_ref().map_or(String::new(), |i| i.adapter.clone()),
            present_mode: info.map_or(String::new(), |i| i.present_mode),
            screenshot: self
                .options
                .screenshot
                .clone()
                .filter(|_| self.screenshot_taken),
            viewport: self.last_viewport.map(|v| [v.x, v.y, v.w, v.h]),
            window: self.win.as_ref().map_or([0, 0], |w| w.gpu.size()),
            last_switch: self.last_switch,
        })
    }
}

/// A sender for the live output asked for, the panel told what it sends to; `None` when none is
/// asked for, or when it cannot be made (the panel says why, and nothing is asked for any more).
fn live_sender(osc: &mut Option<OscRequest>, panel: &mut Panel) -> Option<Box<dyn LiveOutput>> {
    let req = osc.as_ref()?;
    match OscSender::new(&req.address, req.options) {
        Ok(sender) => {
            panel.osc.sending = Some(sender.describe().to_owned());
            panel.osc.error = None;
            Some(Box::new(sender))
        }
        Err(e) => {
            panel.osc.sending = None;
            panel.osc.error = Some(e.to_string());
            *osc = None;
            None
        }
    }
}

/// The video view, then the panel's layer over it, into `target`.
fn draw(
    w: &OpenWindow,
    encoder: &mut wgpu::CommandEncoder,
    target: &wgpu::Texture,
    viewport: Option<PixelRect>,
    panel_bounds: Bounds,
    panel_right: u32,
    view: ViewOptions,
) {
    match &w.scene {
        Some(scene) => scene.draw(encoder, target, w.gpu.depth(), viewport, view),
        None => {
            let view = target.create_view(&Default::default());
            encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("clear"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
        }
    }
    w.layer
        .composite(encoder, target, panel_bounds, panel_right);
}

impl ApplicationHandler<Wake> for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.win.is_some() {
            return;
        }
        match self.open_window(event_loop) {
            Ok(w) => {
                w.window.request_redraw();
                self.win = Some(w);
                self.pending = self.shown.is_some();
            }
            Err(e) => self.fail(event_loop, e),
        }
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, event: Wake) {
        if event == Wake::Quit {
            self.interrupted = true;
            event_loop.exit();
            return;
        }
        if let Some(w) = &self.win {
            w.window.request_redraw();
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        let Some(w) = &mut self.win else { return };
        let response = w.egui.state.on_window_event(&w.window, &event);
        match event {
            WindowEvent::CloseRequested => {
                if self.options.screenshot.is_some() && !self.screenshot_taken {
                    // One more frame, for the screenshot.
                    self.exiting = true;
                    w.window.request_redraw();
                } else {
                    event_loop.exit();
                }
            }
            WindowEvent::Resized(size) => {
                w.gpu.resize(size.width, size.height);
                self.panel_dirty = true;
                w.window.request_redraw();
            }
            WindowEvent::RedrawRequested => self.redraw(event_loop),
            _ => {
                if response.repaint {
                    self.panel_dirty = true;
                    w.window.request_redraw();
                }
            }
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        let now = Instant::now();
        let frame_due = self.player.as_ref().and_then(Player::next_due);
        if frame_due.is_some_and(|d| now >= d)
            && let Some(w) = &self.win
        {
            w.window.request_redraw();
        }
        if now >= self.next_idle_redraw.min(self.next_panel) {
            if let Some(w) = &self.win {
                w.window.request_redraw();
            }
            self.next_idle_redraw = now + IDLE_REDRAW;
        }
        let mut wake = self.next_idle_redraw.min(self.next_panel);
        if let Some(d) = frame_due.filter(|d| *d > now) {
            wake = wake.min(d);
        }
        event_loop.set_control_flow(ControlFlow::WaitUntil(wake));
    }
}
