//! The side panel (egui): the source, the method and its switches, the live readouts of the fit
//! shown, the speed plot, recording, and the status line; plus the keyboard shortcuts. It only
//! reads state and queues [`Action`]s; the app carries them out.

use std::path::PathBuf;
use std::time::Duration;

use egui::{Color32, RichText, Ui};
use egui_plot::{Line, Plot, PlotPoints};

use facetrack::capture::SourceSpec;
use facetrack::controls::{CONTROL_NAMES, N_CONTROLS};
use facetrack::record::{OscFormat, OscOptions, VMC_DEFAULT_PORT};
use facetrack::track::LiveReport;
use facetrack::track::identity_lock::LockState;

use super::app::Switch;
use super::player::{SPEEDS, Speed};
use super::stats::{HISTORY_SECONDS, Stats};
use super::track::{CONFIDENCE_THRESHOLD, TrackMethod, TrackResult, TrackSettings, TrackStatus};
use crate::render::{MeshStyle, ViewOptions};

/// Width of the panel, in points.
pub const PANEL_WIDTH: f32 = 330.0;
/// Expression coefficients listed, the largest in magnitude first.
const TOP_EXPRESSIONS: usize = 4;

/// What the user asked for this frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Settings(TrackSettings),
    Pause(bool),
    Redetect,
    StartRecording(PathBuf),
    StopRecording,
    Source(SourceSpec),
    /// Show the next frame of a paused video.
    Step,
    /// Play the video at this speed.
    Speed(Speed),
    /// Play the video from this time.
    Seek(Duration),
    /// Take the next second of tracked frames as the person's neutral face.
    CalibrateNeutral,
    /// Send every frame over OSC to `HOST:PORT`, in place of what is sent now.
    StartOsc(String, OscOptions),
    StopOsc,
}

/// The OSC / VMC section's state.
pub struct OscPanel {
    /// `HOST:PORT` as typed.
    pub address: String,
    pub format: OscFormat,
    pub mirror: bool,
    /// What is being sent, and where, as the sender says; `None` when nothing is.
    pub sending: Option<String>,
    /// The newest result's account of the sends.
    pub report: Option<LiveReport>,
    /// Why the last start failed (a bad address).
    pub error: Option<String>,
}

impl Default for OscPanel {
    fn default() -> Self {
        Self {
            address: format!("127.0.0.1:{VMC_DEFAULT_PORT}"),
            format: OscFormat::Vmc,
            mirror: true,
            sending: None,
            report: None,
            error: None,
        }
    }
}

/// Where a video's playback is, for the seek bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Playback {
    /// The time of the frame shown.
    pub position: Duration,
    pub duration: Option<Duration>,
    pub speed: Speed,
    /// The seek bar's position while it is dragged, seconds.
    pub seek_to: Option<f64>,
}

/// What the status line says.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Starting(String),
    Track(TrackStatus),
    Paused,
    Ended,
    Error(String),
}

/// A source the panel offers.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceChoice {
    pub label: String,
    pub spec: SourceSpec,
}

/// The panel's state between frames.
pub struct Panel {
    /// The settings asked for (the shown fit's own settings are in the result).
    pub settings: TrackSettings,
    pub view: ViewOptions,
    pub paused: bool,
    pub status: Status,
    pub sources: Vec<SourceChoice>,
    /// The running source, as it describes itself.
    pub source: String,
    /// A file or folder typed in.
    pub path_text: String,
    pub record_path: String,
    /// The recording running: path and rows so far.
    pub recording: Option<(PathBuf, u64)>,
    /// The last recording finished: path and rows.
    pub recorded: Option<(PathBuf, u64)>,
    /// Backend, adapter and present mode.
    pub gpu: String,
    /// The latest warning, shown under the status.
    pub warning: Option<String>,
    /// How the last change of settings took effect.
    pub last_switch: Option<Switch>,
    /// A video playing: its seek bar, speed and step.
    pub playback: Option<Playback>,
    pub osc: OscPanel,
}

impl Panel {
    pub fn new(settings: TrackSettings, record_path: String) -> Self {
        Self {
            settings,
            view: ViewOptions::default(),
            paused: false,
            status: Status::Starting("loading the models…".into()),
            sources: Vec::new(),
            source: String::new(),
            path_text: String::new(),
            record_path,
            recording: None,
            recorded: None,
            gpu: String::new(),
            warning: None,
            last_switch: None,
            playback: None,
            osc: OscPanel::default(),
        }
    }

    /// The keyboard: 1/2/3 methods, J joint, R record, Space pause, M mesh, L landmarks,
    /// A axes. Ignored while a text field has the keyboard.
    pub fn shortcuts(&mut self, ctx: &egui::Context, actions: &mut Vec<Action>) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        use egui::Key;
        let pressed = |k| ctx.input(|i| i.key_pressed(k));
        let before = self.settings;
        for (key, method) in [
            (Key::Num1, TrackMethod::Pclm),
            (Key::Num2, TrackMethod::Prm),
            (Key::Num3, TrackMethod::Parm),
        ] {
            if pressed(key) {
                self.settings.method = method;
            }
        }
        if pressed(Key::J) {
            self.settings.joint = !self.settings.joint;
        }
        if self.settings != before {
            actions.push(Action::Settings(self.settings));
        }
        if pressed(Key::R) {
            self.toggle_recording(actions);
        }
        if pressed(Key::Space) {
            self.paused = !self.paused;
            actions.push(Action::Pause(self.paused));
        }
        if self.playback.is_some() && (pressed(Key::ArrowRight) || pressed(Key::Period)) {
            if !self.paused {
                self.paused = true;
                actions.push(Action::Pause(true));
            }
            actions.push(Action::Step);
        }
        if pressed(Key::M) {
            self.view.mesh = self.view.mesh.next();
        }
        if pressed(Key::L) {
            self.view.landmarks = !self.view.landmarks;
        }
        if pressed(Key::A) {
            self.view.axes = !self.view.axes;
        }
    }

    fn toggle_recording(&mut self, actions: &mut Vec<Action>) {
        if self.recording.is_some() {
            actions.push(Action::StopRecording);
        } else if !self.record_path.trim().is_empty() {
            actions.push(Action::StartRecording(PathBuf::from(
                self.record_path.trim(),
            )));
        }
    }

    /// Draws the panel's contents into `ui`.
    pub fn show(
        &mut self,
        ui: &mut Ui,
        shown: Option<&TrackResult>,
        stats: &mut Stats,
        actions: &mut Vec<Action>,
    ) {
        ui.spacing_mut().item_spacing.y = 3.0;
        self.status_line(ui);
        ui.separator();
        self.source_section(ui, actions);
        ui.separator();
        if self.playback.is_some() {
            self.playback_section(ui, actions);
            ui.separator();
        }
        self.method_section(ui, shown, actions);
        ui.separator();
        readouts(ui, shown);
        ui.separator();
        controls(ui, shown, actions);
        ui.separator();
        speed(ui, stats, &self.gpu);
        ui.separator();
        self.record_section(ui, actions);
        ui.separator();
        self.osc_section(ui, actions);
        ui.separator();
        self.view_section(ui);
    }

    fn status_line(&self, ui: &mut Ui) {
        let (text, color) = match &self.status {
            Status::Starting(s) => (s.as_str(), Color32::LIGHT_BLUE),
            Status::Track(TrackStatus::Tracking) => ("tracking", Color32::from_rgb(90, 220, 110)),
            Status::Track(TrackStatus::Searching) => {
                ("searching for a face", Color32::from_rgb(240, 200, 70))
            }
            Status::Track(TrackStatus::Lost) => ("lost", Color32::from_rgb(240, 90, 80)),
            Status::Paused => ("paused", Color32::LIGHT_GRAY),
            Status::Ended => ("the source has ended", Color32::LIGHT_GRAY),
            Status::Error(e) => (e.as_str(), Color32::from_rgb(240, 90, 80)),
        };
        ui.horizontal(|ui| {
            // A lamp: the default fonts have no round bullet.
            let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
            ui.painter().circle_filled(rect.center(), 5.0, color);
            ui.label(RichText::new(text).strong().color(color));
        });
        if let Some(w) = &self.warning {
            ui.label(
                RichText::new(w)
                    .small()
                    .color(Color32::from_rgb(230, 180, 80)),
            );
        }
    }

    fn source_section(&mut self, ui: &mut Ui, actions: &mut Vec<Action>) {
        ui.horizontal(|ui| {
            ui.label("Source");
            let mut picked = None;
            egui::ComboBox::from_id_salt("source")
                .width(ui.available_width())
                .selected_text(short(&self.source, 34))
                .show_ui(ui, |ui| {
                    for choice in &self.sources {
                        if ui.selectable_label(false, &choice.label).clicked() {
                            picked = Some(choice.spec.clone());
                        }
                    }
                });
            if let Some(spec) = picked {
                actions.push(Action::Source(spec));
            }
        });
        ui.horizontal(|ui| {
            let edit = egui::TextEdit::singleline(&mut self.path_text)
                .hint_text("a video file or an image folder")
                .desired_width(ui.available_width() - 50.0);
            let enter = ui.add(edit).lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Open").clicked() || enter) && !self.path_text.trim().is_empty() {
                let path = PathBuf::from(self.path_text.trim());
                let spec = if path.is_dir() {
                    SourceSpec::Images(path)
                } else {
                    SourceSpec::Video(path)
                };
                actions.push(Action::Source(spec));
            }
        });
    }

    fn method_section(
        &mut self,
        ui: &mut Ui,
        shown: Option<&TrackResult>,
        actions: &mut Vec<Action>,
    ) {
        let before = self.settings;
        ui.horizontal(|ui| {
            ui.label("Method");
            for (i, m) in TrackMethod::ALL.into_iter().enumerate() {
                ui.selectable_value(&mut self.settings.method, m, m.name().to_uppercase())
                    .on_hover_text(format!("key {}", i + 1));
            }
        });
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.settings.joint, "joint 2D/3D (J)");
            ui.checkbox(&mut self.settings.filter, "filter");
            ui.checkbox(&mut self.settings.lock_identity, "lock identity")
                .on_hover_text(
                    "fit one identity to the face's first second of confident frames, then \
                     hold it and fit pose and expression only; released when the detector finds \
                     the face again",
                );
            // Only while the setting is on: the result may still be of the frame before a change.
            if self.settings.lock_identity {
                match shown.map(|r| r.identity_lock) {
                    Some(LockState::Collecting { frames, needed }) => {
                        ui.label(format!("{frames}/{needed}"))
                            .on_hover_text("confident frames kept towards the identity's fit");
                    }
                    Some(LockState::Easing { .. }) => {
                        ui.label("easing in").on_hover_text(
                            "the identity is held; the fit is carried to it over half a second",
                        );
                    }
                    Some(LockState::Held) => {
                        ui.label("held");
                    }
                    Some(LockState::Off) | None => {}
                }
            }
        });
        ui.horizontal(|ui| {
            ui.label("Stages");
            ui.add(egui::Slider::new(&mut self.settings.stages, 1..=15));
        });
        if self.settings != before {
            actions.push(Action::Settings(self.settings));
        }
        if let Some(sw) = self.last_switch {
            let text = if sw.applied {
                format!("last switch: shown at the next frame, {:.0} ms", sw.ms)
            } else {
                format!("last switch: not applied after {:.0} ms", sw.ms)
            };
            ui.label(RichText::new(text).small().weak());
        }
        // A video has its pause among its playback controls.
        let pause_here = self.playback.is_none();
        ui.horizontal(|ui| {
            if pause_here
                && ui
                    .button(if self.paused { "Resume" } else { "Pause" })
                    .on_hover_text("Space")
                    .clicked()
            {
                self.paused = !self.paused;
                actions.push(Action::Pause(self.paused));
            }
            if ui.button("Re-detect").clicked() {
                actions.push(Action::Redetect);
            }
        });
    }

    /// A video's transport: the seek bar with the time, pause and step, the speed.
    fn playback_section(&mut self, ui: &mut Ui, actions: &mut Vec<Action>) {
        let paused = self.paused;
        let Some(p) = &mut self.playback else { return };
        let length = p.duration.map_or(0.0, |d| d.as_secs_f64());
        let now = p.position.as_secs_f64();
        ui.label(format!(
            "{} / {}",
            clock(p.seek_to.unwrap_or(now)),
            p.duration.map_or("?".into(), |d| clock(d.as_secs_f64()))
        ));
        if length > 0.0 {
            let mut at = p.seek_to.unwrap_or(now);
            // The seek bar across the panel; other sliders keep their width.
            let bar = ui
                .scope(|ui| {
                    ui.spacing_mut().slider_width = ui.available_width();
                    ui.add(
                        egui::Slider::new(&mut at, 0.0..=length)
                            .show_value(false)
                            .trailing_fill(true),
                    )
                })
                .inner;
            if bar.dragged() || bar.changed() {
                p.seek_to = Some(at);
            }
            if (bar.drag_stopped() || (bar.changed() && !bar.dragged()))
                && let Some(t) = p.seek_to.take()
            {
                actions.push(Action::Seek(Duration::from_secs_f64(t.max(0.0))));
            }
        }
        let mut pause = None;
        ui.horizontal(|ui| {
            if ui
                .button(if paused { "Play" } else { "Pause" })
                .on_hover_text("Space")
                .clicked()
            {
                pause = Some(!paused);
            }
            if ui
                .button("Step")
                .on_hover_text("one frame on: → or .")
                .clicked()
            {
                if !paused {
                    pause = Some(true);
                }
                actions.push(Action::Step);
            }
            let mut speed = p.speed;
            egui::ComboBox::from_id_salt("speed")
                .selected_text(speed.label())
                .show_ui(ui, |ui| {
                    for r in SPEEDS {
                        ui.selectable_value(&mut speed, Speed::Rate(r), Speed::Rate(r).label());
                    }
                    ui.selectable_value(
                        &mut speed,
                        Speed::AsFastAsItFits,
                        Speed::AsFastAsItFits.label(),
                    );
                });
            if speed != p.speed {
                actions.push(Action::Speed(speed));
            }
        });
        if let Some(pause) = pause {
            self.paused = pause;
            // The step goes after the pause, so that it steps the paused player.
            actions.insert(0, Action::Pause(pause));
        }
    }

    fn record_section(&mut self, ui: &mut Ui, actions: &mut Vec<Action>) {
        ui.horizontal(|ui| {
            let recording = self.recording.is_some();
            let label = if recording { "Stop" } else { "Record" };
            if ui.button(label).on_hover_text("R").clicked() {
                self.toggle_recording(actions);
            }
            ui.add_enabled(
                !recording,
                egui::TextEdit::singleline(&mut self.record_path).desired_width(f32::INFINITY),
            );
        });
        match (&self.recording, &self.recorded) {
            (Some((path, rows)), _) => {
                ui.label(
                    RichText::new(format!("recording {}: {rows} rows", path.display()))
                        .color(Color32::from_rgb(240, 110, 100)),
                );
            }
            (None, Some((path, rows))) => {
                ui.label(format!("wrote {rows} rows to {}", path.display()));
            }
            (None, None) => {}
        }
    }

    /// The live output: on and off, where to (`HOST:PORT`), the format, and what it sent.
    fn osc_section(&mut self, ui: &mut Ui, actions: &mut Vec<Action>) {
        let osc = &mut self.osc;
        let sending = osc.sending.is_some();
        let mut restart = false;
        ui.horizontal(|ui| {
            let mut on = sending;
            if ui
                .checkbox(&mut on, "OSC / VMC")
                .on_hover_text("send every frame over OSC (UDP): VMC to an avatar program (VSeeFace, VNyan, Warudo listen on port 39539), or plain OSC")
                .changed()
            {
                if on {
                    restart = true;
                } else {
                    actions.push(Action::StopOsc);
                }
            }
            let edit = egui::TextEdit::singleline(&mut osc.address)
                .hint_text("HOST:PORT")
                .desired_width(f32::INFINITY);
            let field = ui.add_enabled(!sending, edit);
            if field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                restart = true;
            }
        });
        ui.horizontal(|ui| {
            ui.label("format");
            for f in OscFormat::ALL {
                let label = match f {
                    OscFormat::Vmc => "VMC",
                    OscFormat::Plain => "plain",
                };
                restart |= ui.selectable_value(&mut osc.format, f, label).changed() && sending;
            }
            let mirror = ui.add_enabled(
                osc.format == OscFormat::Vmc,
                egui::Checkbox::new(&mut osc.mirror, "mirror"),
            );
            restart |= mirror
                .on_hover_text(
                    "the avatar as the person's mirror image (their right turns it to its left)",
                )
                .changed()
                && sending;
        });
        if restart {
            let options = OscOptions {
                format: osc.format,
                mirror: osc.mirror,
            };
            actions.push(Action::StartOsc(osc.address.trim().to_owned(), options));
        }
        match (&osc.sending, &osc.error) {
            (Some(to), _) => {
                let (sent, dropped) = osc.report.map_or((0, 0), |r| (r.sent, r.dropped));
                ui.label(
                    RichText::new(format!("sending {to}: {sent} frames, {dropped} dropped"))
                        .small(),
                );
            }
            (None, Some(e)) => {
                ui.label(
                    RichText::new(e)
                        .small()
                        .color(Color32::from_rgb(240, 90, 80)),
                );
            }
            (None, None) => {}
        }
    }

    fn view_section(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.label("Mesh (M)");
            for style in [MeshStyle::Shaded, MeshStyle::Wireframe, MeshStyle::Hidden] {
                ui.selectable_value(&mut self.view.mesh, style, style.name());
            }
        });
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.view.landmarks, "landmarks (L)");
            ui.checkbox(&mut self.view.axes, "axes (A)");
        });
    }
}

/// The fit confidence as a bar, green at or above the tracker's threshold, red below it.
fn confidence_bar(ui: &mut Ui, confidence: f64) {
    ui.horizontal(|ui| {
        ui.label("confidence")
            .on_hover_text("whether the fitted landmarks sit on a face (0–1); below the threshold the frame is not tracked");
        if !confidence.is_finite() {
            ui.monospace("–");
            return;
        }
        let color = if confidence >= CONFIDENCE_THRESHOLD {
            Color32::from_rgb(60, 150, 80)
        } else {
            Color32::from_rgb(180, 60, 50)
        };
        ui.add(
            egui::ProgressBar::new(confidence.clamp(0.0, 1.0) as f32)
                .desired_height(12.0)
                .fill(color)
                .text(format!("{confidence:.2}")),
        );
    });
}

/// The fit shown: its method, pose, weights and largest expression coefficients.
fn readouts(ui: &mut Ui, shown: Option<&TrackResult>) {
    let Some(r) = shown else {
        ui.label(RichText::new("no frame yet").weak());
        return;
    };
    let s = r.settings;
    ui.label(format!(
        "frame {} · {}{} · {} stages{}",
        r.frame.index,
        s.method.name().to_uppercase(),
        if s.joint { "+joint" } else { "" },
        s.stages,
        if s.filter { " · filtered" } else { "" }
    ));
    confidence_bar(ui, r.confidence);
    if r.status != TrackStatus::Tracking {
        let why = if r.confidence.is_finite() {
            format!(
                "no face in this frame: the best fit tried is below the confidence threshold ({:.2}); the detector searches every frame",
                CONFIDENCE_THRESHOLD
            )
        } else {
            "no face in this frame: the detector found none; it searches every frame".to_owned()
        };
        ui.label(RichText::new(why).weak());
        return;
    }
    let p = &r.params;
    egui::Grid::new("pose")
        .num_columns(4)
        .spacing([12.0, 2.0])
        .show(ui, |ui| {
            ui.label("yaw");
            ui.monospace(format!("{:+7.1}°", p.yaw().to_degrees()));
            ui.label("scale");
            ui.monospace(format!("{:8.4}", p.s()));
            ui.end_row();
            ui.label("pitch");
            ui.monospace(format!("{:+7.1}°", p.pitch().to_degrees()));
            ui.label("tx");
            ui.monospace(format!("{:8.1}", p.tx()));
            ui.end_row();
            ui.label("roll");
            ui.monospace(format!("{:+7.1}°", p.roll().to_degrees()));
            ui.label("ty");
            ui.monospace(format!("{:8.1}", p.ty()));
            ui.end_row();
        });
    match r.weights {
        Some(w) => {
            for (name, v) in [("λ2d", w.lambda_2d), ("λ3d", w.lambda_3d)] {
                ui.horizontal(|ui| {
                    ui.monospace(name);
                    ui.add(
                        egui::ProgressBar::new(v.clamp(0.0, 1.0) as f32)
                            .desired_height(12.0)
                            .text(format!("{v:.2}")),
                    );
                });
            }
        }
        None => {
            ui.label(RichText::new("λ2d / λ3d: joint refinement off").weak());
        }
    }
    let top = largest(p.exp());
    ui.horizontal_wrapped(|ui| {
        ui.label("exp")
            .on_hover_text("the largest expression coefficients (σ)");
        for (k, v) in top.iter().flatten() {
            ui.monospace(format!("e{k} {v:+.2}"));
        }
    });
}

/// The named expression controls of the frame shown, each a bar from 0 to 1 with its name, two
/// to a row: a control's Left and Right side by side, the others paired in order.
fn controls(ui: &mut Ui, shown: Option<&TrackResult>, actions: &mut Vec<Action>) {
    let Some(r) = shown else { return };
    let tracked = r.status == TrackStatus::Tracking;
    ui.horizontal(|ui| {
        ui.label("expression controls").on_hover_text(
            "the named controls (ARKit's names) sent to avatars, 0–1; all 0 without a face",
        );
        match r.calibrating {
            Some((done, needed)) => {
                // A calibration asked for while the identity lock gathers its frames starts once
                // the identity is held and eased in.
                let waiting = matches!(
                    r.identity_lock,
                    LockState::Collecting { .. } | LockState::Easing { .. }
                );
                let after = if waiting { " (after the lock)" } else { "" };
                ui.label(format!("hold still{after}: {done}/{needed}"));
            }
            None => {
                if ui
                    .button("Neutral face")
                    .on_hover_text(
                        "hold a neutral face for a second: the controls read 0 on it from then on",
                    )
                    .clicked()
                {
                    actions.push(Action::CalibrateNeutral);
                }
            }
        }
    });
    let column_width = (ui.available_width() - ui.spacing().item_spacing.x) / 2.0;
    let fill = if tracked {
        Color32::from_rgb(70, 120, 190)
    } else {
        Color32::from_gray(90)
    };
    let (rows, n) = control_rows();
    egui::Grid::new("controls")
        .num_columns(2)
        .spacing([ui.spacing().item_spacing.x, 2.0])
        .show(ui, |ui| {
            for row in &rows[..n] {
                for i in row.iter().flatten() {
                    control_bar(
                        ui,
                        CONTROL_NAMES[*i],
                        r.controls.values[*i],
                        column_width,
                        fill,
                    );
                }
                ui.end_row();
            }
        });
}

/// One control: its name and value over a bar filled from the left to the value (0–1). Drawn
/// here rather than with egui's progress bar, which shows a sliver of fill at 0.
fn control_bar(ui: &mut Ui, name: &str, v: f32, width: f32, fill: Color32) {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width, 14.0), egui::Sense::hover());
    let painter = ui.painter();
    painter.rect_filled(rect, 2.0, Color32::from_gray(45));
    if v > 0.0 {
        let mut bar = rect;
        bar.set_width(rect.width() * v);
        painter.rect_filled(bar, 2.0, fill);
    }
    let font = egui::FontId::proportional(11.0);
    let color = Color32::from_gray(225);
    let inset = egui::vec2(4.0, 0.0);
    painter.text(
        rect.left_center() + inset,
        egui::Align2::LEFT_CENTER,
        name,
        font.clone(),
        color,
    );
    painter.text(
        rect.right_center() - inset,
        egui::Align2::RIGHT_CENTER,
        format!("{v:.2}"),
        font,
        color,
    );
    response.on_hover_ui(|ui| {
        ui.label(format!("{name} {v:.3}"));
    });
}

/// The controls' rows in the panel, and how many there are: `xLeft` beside `xRight`, the
/// controls of no side two by two in their order.
fn control_rows() -> ([[Option<usize>; 2]; N_CONTROLS], usize) {
    let mut rows = [[None; 2]; N_CONTROLS];
    let mut n = 0;
    let mut single: Option<usize> = None;
    let mut i = 0;
    while i < N_CONTROLS {
        let name = CONTROL_NAMES[i];
        let pair = name.strip_suffix("Left").is_some_and(|stem| {
            CONTROL_NAMES
                .get(i + 1)
                .and_then(|next| next.strip_suffix("Right"))
                == Some(stem)
        });
        if pair {
            rows[n] = [Some(i), Some(i + 1)];
            n += 1;
            i += 2;
            continue;
        }
        match single.take() {
            Some(first) => {
                rows[n] = [Some(first), Some(i)];
                n += 1;
            }
            None => single = Some(i),
        }
        i += 1;
    }
    if let Some(last) = single {
        rows[n] = [Some(last), None];
        n += 1;
    }
    (rows, n)
}

/// The `TOP_EXPRESSIONS` coefficients largest in magnitude, with their indices.
fn largest(exp: &[f64]) -> [Option<(usize, f64)>; TOP_EXPRESSIONS] {
    let mut top: [Option<(usize, f64)>; TOP_EXPRESSIONS] = [None; TOP_EXPRESSIONS];
    for (k, &v) in exp.iter().enumerate() {
        let mut item = (k, v);
        for slot in top.iter_mut() {
            match slot {
                Some(s) if s.1.abs() >= item.1.abs() => {}
                Some(s) => std::mem::swap(s, &mut item),
                None => {
                    *slot = Some(item);
                    break;
                }
            }
        }
    }
    top
}

/// Window and fitting rates, fit time, and their plot.
fn speed(ui: &mut Ui, stats: &mut Stats, gpu: &str) {
    // The figures double as the plot's legend: each in its line's colour.
    const WINDOW: Color32 = Color32::from_rgb(110, 170, 255);
    const FITTING: Color32 = Color32::from_rgb(250, 170, 80);
    const FIT_MS: Color32 = Color32::from_rgb(140, 220, 140);
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(format!("window {:.1} fps", stats.window.rate()))
                .strong()
                .color(WINDOW),
        )
        .on_hover_text(gpu);
        ui.label(
            RichText::new(format!("fitting {:.1} fps", stats.fit_fps))
                .strong()
                .color(FITTING),
        );
    });
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(format!("fit {:.2} ms (×10 in the plot)", stats.fit_ms)).color(FIT_MS),
        );
        ui.label(format!("· {:.0} new frames/s", stats.shown.rate()));
    });
    let plot = Plot::new("speed")
        .height(80.0)
        .include_y(0.0)
        .include_y(60.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .show_x(false)
        .default_x_bounds(0.0, HISTORY_SECONDS)
        .y_axis_min_width(24.0);
    let window = PlotPoints::Borrowed(stats.window_fps.points());
    let fitting = PlotPoints::Borrowed(stats.fit_fps_series.points());
    let fit_ms = PlotPoints::Borrowed(stats.fit_ms_series.points());
    plot.show(ui, |plot_ui| {
        plot_ui.line(Line::new("window fps", window).color(WINDOW));
        plot_ui.line(Line::new("fitting fps", fitting).color(FITTING));
        plot_ui.line(Line::new("fit ms ×10", fit_ms).color(FIT_MS));
    });
}

/// At most `n` characters of `s`, an ellipsis marking a cut.
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// `m:ss.s`, the seek bar's time.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0);
    format!("{}:{:04.1}", (s / 60.0).floor() as u64, s % 60.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_has_one_place_and_sides_share_a_row() {
        let (rows, n) = control_rows();
        let mut seen = [0; N_CONTROLS];
        for row in &rows[..n] {
            for i in row.iter().flatten() {
                seen[*i] += 1;
            }
            if let [Some(a), Some(b)] = row
                && let Some(stem) = CONTROL_NAMES[*a].strip_suffix("Left")
            {
                assert_eq!(CONTROL_NAMES[*b], format!("{stem}Right"));
            }
        }
        assert_eq!(seen, [1; N_CONTROLS]);
        assert!(n <= N_CONTROLS.div_ceil(2) + 1, "{n} rows");
    }

    #[test]
    fn largest_expressions_by_magnitude() {
        let top = largest(&[0.1, -2.0, 0.5, 1.5, -0.2, 3.0]);
        let idx: Vec<usize> = top.iter().flatten().map(|t| t.0).collect();
        assert_eq!(idx, vec![5, 1, 3, 2]);
        assert_eq!(largest(&[1.0]), [Some((0, 1.0)), None, None, None]);
    }
}
