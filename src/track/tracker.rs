//! The tracker: one frame at a time, the PARM framework warm-started from the previous frame's
//! parameters (PARM paper §3: "in tracking, the cascade is warm-started"), the joint 2D/3D
//! refinement when asked (joint paper Eq. 4), a check that the face is still there
//! ([`super::loss`]), detection again when it is not, and the temporal filter
//! ([`super::one_euro`]) on what is reported — never on what the next frame starts from, so the
//! filter adds no lag to the fit itself.
//!
//! Every fit is judged by the fit confidence ([`crate::align::fit_confidence`]): a frame is
//! tracked only when it reaches [`CONFIDENCE_THRESHOLD`]. Each frame is fitted twice from warm
//! starts — the constant-velocity prediction of the pose and the last fit for a moving head, the
//! last fit moved a little to either side for a still one — and the mean of the two is reported
//! when both are confident and agree ([`super::two_fits`]), else the more confident. A head moving
//! fast also gets the cold start in the box around its warm fit. A frame whose warm-started fits
//! both fall short is recovered within the frame: from the cold start in the box around the last
//! landmarks, then in every box the face detector finds in the whole frame; the most confident fit
//! wins. Between detections a search runs on a thread of its own
//! ([`super::background_detection`]) so that a cut to a face elsewhere, or a face coming back, is
//! noticed while the tracker holds something else.
//!
//! After a detection the face is fitted from the cold start with the cascade trained for boxes
//! (`parm.bin`), then once more from that fit with the chosen method's tracking cascade, so that
//! every reported fit is the chosen method's.

use std::sync::Arc;

use thiserror::Error;

use super::background_detection::BackgroundDetector;
use super::identity_lock::{IdentityLock, LockState};
use super::loss::{self, LossReason};
use super::one_euro::{OneEuroFilter, OneEuroSettings};
use super::two_fits;
use crate::align::detect::{
    Detection, DetectorModelError, FaceDetector, bounds, points, square_box_around,
};
use crate::align::face_search::{FaceSearch, SearchPass, SearchPasses};
use crate::align::fit_confidence::logistic;
use crate::align::{ConfidenceScratch, FaceBox, FitConfidence, ShapePredictor};
use crate::capture::RgbImage;
use crate::controls::{ControlMeter, Controls};
use crate::fit::box_frame::model_face_size;
use crate::fit::joint::{JointSolver, JointWeights};
use crate::fit::parm_joint::{ParmJoint, ParmJointScratch, face_size};
use crate::fit::warm_start::{WarmStartError, box_around};
use crate::fit::{Cascade, FitScratch, ParamUpdate, UprightFit, in_plane_angle};
use crate::image::GrayImage;
use crate::model::{MorphableModel, Params};

/// The update method tracking runs (M2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    /// The name with the joint refinement: `parm+joint` as the command line and the CSV say it.
    pub fn label(self, joint: bool) -> &'static str {
        match (self, joint) {
            (Self::Pclm, false) => "pclm",
            (Self::Prm, false) => "prm",
            (Self::Parm, false) => "parm",
            (Self::Pclm, true) => "pclm+joint",
            (Self::Prm, true) => "prm+joint",
            (Self::Parm, true) => "parm+joint",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What the tracker runs; changed at any frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackSettings {
    pub method: TrackMethod,
    /// The joint 2D/3D refinement after the cascade.
    pub joint: bool,
    /// Stages of the cascade a frame (1 to 15).
    pub stages: usize,
    /// The One Euro filter on the reported pose and expression.
    pub filter: bool,
    /// Hold a tracked face's identity after its first confident second, and fit pose and
    /// expression only ([`super::identity_lock`]).
    pub lock_identity: bool,
}

/// Stages a tracked frame runs by default. The warm-start cascade's validation NME is 2.22 % after
/// 5 stages and 2.14 % after 15, but a still head is where the later stages pay: on the demo's
/// still segments (700 frames) the jitter is 0.103° and 0.50 px after 7 stages, 0.074° and
/// 0.40 px after 10, for 0.1 ms more a frame; on the shared clips the NME against 3DDFA_V2 falls
/// on eight of ten (mean 2.39 → 2.35 %).
pub const DEFAULT_STAGES: usize = 10;

impl Default for TrackSettings {
    fn default() -> Self {
        Self {
            method: TrackMethod::Parm,
            joint: false,
            stages: DEFAULT_STAGES,
            filter: true,
            lock_identity: false,
        }
    }
}

/// Where the tracker stands after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackStatus {
    /// No face is tracked and the detector found none in this frame.
    Searching,
    /// The face is tracked; the fit is this frame's.
    Tracking,
    /// The face was tracked until this frame, whose fit was judged lost; the next frame searches.
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

/// Every model tracking uses, loaded once and shared.
#[derive(Debug)]
pub struct TrackerModels {
    pub model: MorphableModel,
    pub predictor: ShapePredictor,
    /// The 2D aligner when it is not the M1 (`None`: the M1's): the cascade the expression
    /// controls read the eyelids and inner lips with, and the joint refinement's L2d. dlib's,
    /// trained on hand-annotated 2D landmarks, follows a blink; a cascade taught the 3D model's
    /// landmarks learned the model's eyes, which hardly close.
    pub aligner_2d: Option<ShapePredictor>,
    /// PCLM (Gauss-Newton; the same from any start).
    pub pclm: ParamUpdate,
    /// PRM and PARM trained from warm starts (`prm_track.bin`, `parm_track.bin`).
    pub prm: ParamUpdate,
    pub parm: ParamUpdate,
    /// PARM trained from warm starts holding identities near the mean face
    /// (`parm_track_held.bin`): the tracking cascade while the identity lock holds one. A
    /// cascade runs steadiest holding the kind of identity it was trained with, and the lock's,
    /// fitted to 2D landmarks, keeps little of a face's own (docs/identity_lock.md).
    pub parm_held: ParamUpdate,
    /// PARM trained from boxes (`parm.bin`): the first fit after a detection.
    pub acquire: ParamUpdate,
    pub joint: JointSolver,
    /// The fit confidence: whether a fit sits on a face.
    pub confidence: FitConfidence,
}

impl TrackerModels {
    /// The 2D aligner: the cascade the expression controls read the eyelids and inner lips
    /// with, and the joint refinement's L2d.
    pub fn aligner_2d(&self) -> &ShapePredictor {
        self.aligner_2d.as_ref().unwrap_or(&self.predictor)
    }

    pub fn update(&self, method: TrackMethod) -> &ParamUpdate {
        match method {
            TrackMethod::Pclm => &self.pclm,
            TrackMethod::Prm => &self.prm,
            TrackMethod::Parm => &self.parm,
        }
    }

    fn cascade(&self, method: TrackMethod) -> Cascade<'_> {
        Cascade::new(&self.model, &self.predictor, self.update(method))
    }

    /// The joint refinement after `cascade`, its L2d from the 2D aligner.
    fn parm_joint<'a>(&'a self, cascade: Cascade<'a>) -> ParmJoint<'a> {
        ParmJoint::new(cascade, &self.joint).with_2d(self.aligner_2d.as_ref())
    }

    /// The cascade a warm start of `method` is fitted with: PARM alone takes its own while the
    /// identity is held. The joint refinement after PARM keeps the ordinary one: it fits the
    /// identity again and takes PARM's 3D landmarks as targets, and with the held cascade's the
    /// shared clips' error rose (1.89 → 1.98 %).
    fn warm_cascade(&self, method: TrackMethod, joint: bool, held: bool) -> Cascade<'_> {
        if held && self.has_held_cascade(method, joint) {
            Cascade::new(&self.model, &self.predictor, &self.parm_held)
        } else {
            self.cascade(method)
        }
    }

    /// Whether a warm start of `method` holding an identity takes a cascade of its own.
    fn has_held_cascade(&self, method: TrackMethod, joint: bool) -> bool {
        !joint && method == TrackMethod::Parm
    }

    /// Identity and expression dimensions of every fit: the joint refinement's, which every
    /// update method shares ([`Tracker::new`] checks), so switching methods keeps one CSV layout.
    pub fn dims(&self) -> (usize, usize) {
        (self.joint.n_id(), self.joint.n_exp())
    }
}

#[derive(Debug, Error)]
pub enum TrackError {
    #[error(transparent)]
    Detector(#[from] DetectorModelError),
    #[error(
        "the {method} update fits {got} identity and {got_exp} expression coefficients; the joint refinement fits {n_id} and {n_exp}"
    )]
    Dimensions {
        method: &'static str,
        got: usize,
        got_exp: usize,
        n_id: usize,
        n_exp: usize,
    },
    #[error("the frame is {width}×{height} with {len} bytes; RGB needs {expected}")]
    Frame {
        width: usize,
        height: usize,
        len: usize,
        expected: usize,
    },
    #[error("the fit confidence is trained for {got} landmarks; the face model has {expected}")]
    Confidence { got: usize, expected: usize },
    #[error(
        "the tracking cascade for a held identity is {got}'s; it must be {expected}'s, as the tracking PARM is"
    )]
    HeldCascade {
        got: &'static str,
        expected: &'static str,
    },
    #[error("the tracking thread stopped: {0}")]
    Stopped(String),
}

/// A fit is tracked when its confidence reaches this; below it the frame is not tracked
/// (`success = 0`) and recovery runs.
pub const CONFIDENCE_THRESHOLD: f64 = 0.5;
/// The same in log-odds, where the tracker compares candidates.
const THRESHOLD_LOG_ODDS: f32 = 0.0;
/// A face found in the background replaces the tracked one only when its fit is this much more
/// confident (log-odds): two real faces do not steal the track from each other.
const SWITCH_MARGIN: f32 = 3.0;
/// A head rolled this far in the image (radians, 30°) is fitted in an upright view of its region:
/// the cascades were trained on heads within about ±30° of upright.
const UPRIGHT_ANGLE: f64 = 30.0 * std::f64::consts::PI / 180.0;
/// Seconds of source time between background searches while a face is tracked.
const BACKGROUND_INTERVAL_S: f64 = 2.0;
/// Frames after which a file's or the demo's tracker waits for the background search's answer.
const BACKGROUND_WAIT_FRAMES: usize = 60;
/// Frames after the last tracked one during which recovery still starts from that fit.
const RECOVERY_FRAMES: usize = 8;
/// Detections tried when searching the whole frame, best score first.
const MAX_CANDIDATES: usize = 4;
/// The prediction is tried only when it moves the face by more than this share of its size or
/// turns it by more than [`PREDICT_MIN_ANGLE`]: for a still head the last fit is as good a start,
/// and the frame's second start is the last fit moved by [`STILL_START_SHIFT`].
const PREDICT_MIN_SHIFT: f64 = 0.02;
const PREDICT_MIN_ANGLE: f64 = 2.0 * std::f64::consts::PI / 180.0;
/// The prediction extrapolates at most this many frame intervals (a frame dropped by a camera).
const PREDICT_MAX_STEPS: f64 = 3.0;
/// A still head's two starts are the last fit moved by this share of the face's size to either
/// side, along the diagonal. Anything from a pixel up does as well (on the shared clips 0.5 % and
/// 1 % measured the same); at 2 and 3 % the clips' error rose a little (2.342 and 2.344 % against
/// 2.337).
const STILL_START_SHIFT: f64 = 0.01;

/// A head predicted to move this far in a frame (degrees of any angle, or % of the face's size)
/// gets the cold start in the box around its warm fit as well ([`Tracker::track_from_last`]).
/// Measured on the shared clips and the hard cases (`tests/hard_cases.rs`): at 5 the clips'
/// landmarks jittered more (0.666 against 0.636 % of the box), at 12 the fast cases gained less
/// (their mean NME 2.653 against 2.623 %).
const FAST_STEP: f64 = 8.0;

/// One frame's outcome, in buffers the caller keeps and passes again.
#[derive(Debug, Clone)]
pub struct TrackOutput {
    pub status: TrackStatus,
    /// The reported fit (filtered when the filter is on), [`TrackerModels::dims`] coefficients.
    /// On a frame not tracked, the most confident fit tried (when any was).
    pub params: Params,
    /// Its 68 landmarks, `[u0, v0, …]`, image pixels.
    pub landmarks: Vec<f64>,
    /// The fit confidence, 0–1, of the reported fit (of the best fit tried on a frame not
    /// tracked); NaN when no fit was made.
    pub confidence: f64,
    /// λ2d and λ3d when the joint refinement ran.
    pub weights: Option<JointWeights>,
    /// Why the fit was judged lost, on a `Lost` frame.
    pub lost: Option<LossReason>,
    /// Whether this frame ran the face detector.
    pub detected: bool,
    /// The named expression controls of the reported fit; all zero on a frame not tracked.
    pub controls: Controls,
}

impl TrackOutput {
    pub fn new(models: &TrackerModels) -> Self {
        let (n_id, n_exp) = models.dims();
        Self {
            status: TrackStatus::Searching,
            params: Params::zeros(n_id, n_exp),
            landmarks: vec![0.0; 2 * models.model.n_landmarks()],
            confidence: f64::NAN,
            weights: None,
            lost: None,
            detected: false,
            controls: Controls::default(),
        }
    }
}

/// Where a candidate fit started from; a fit not warm-started from the last one resets the
/// temporal filter, which would otherwise drag the new face towards the old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Previous,
    Predicted,
    Cold,
}

/// Which identities a cold start's fit is tried with ([`Tracker::try_cold`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColdFace {
    /// A face not tracked a moment ago: the box cascade's identity.
    New,
    /// The box where the face tracked until a moment ago is: the box cascade's identity and the
    /// track's, the more confident winning. The box cascade's from one frame is rougher than the
    /// track's, but after a cut to another person it is right. A held identity is tried first,
    /// and the lock is released when the box cascade's fits better.
    Recent,
    /// The tracked face, outrunning its warm starts: the track's identity, held or not, only.
    Tracked,
}

/// The best fit of a frame so far.
#[derive(Debug, Clone)]
struct Best {
    params: Params,
    log_odds: f32,
    weights: Option<JointWeights>,
    start: Start,
    reason: Option<LossReason>,
    /// Counts replacements, so a caller can tell whether a try won.
    replaced: u64,
}

/// The tracker's state and every buffer it uses, made once.
pub struct Tracker {
    models: Arc<TrackerModels>,
    settings: TrackSettings,
    detector: FaceDetector,
    /// The detector on turned views of the frame, when the plain search finds no face.
    search: FaceSearch,
    /// Frames in a row not tracked, and the turned view to search next.
    searching_frames: usize,
    turn_cursor: usize,
    background: Option<BackgroundDetector>,
    /// Whether frames come from a live source (a background search's answer is never waited for).
    live: bool,
    gray: GrayImage,
    /// One scratch a method (their feature sizes differ); the joint's holds the cascade's.
    scratch: [ParmJointScratch; 3],
    acquire_scratch: FitScratch,
    confidence_scratch: ConfidenceScratch,
    /// The upright view a rolled head is fitted in.
    upright: UprightFit,
    /// The last tracked fit, unfiltered: the next frame's start.
    current: Params,
    current_t: f64,
    /// The tracked fit before it, for the velocity.
    previous: Params,
    previous_t: f64,
    /// Whether `current` exists, and `previous` is the frame just before it.
    has_current: bool,
    has_previous: bool,
    /// Frames since `current` was tracked.
    since_tracked: usize,
    /// Source time of the last background search.
    last_search_t: f64,
    detections: Vec<Detection>,
    /// The fit being made, and the best of the frame.
    work: Params,
    /// A recovery's buffers, so that it allocates nothing: the box cascade's fit, and a second
    /// start kept while the first is tried.
    cold: Params,
    spare: Params,
    /// The held-identity cascade's fit while it fades in ([`Self::fit_work`]).
    held_fit: Params,
    best: Best,
    /// The frame's first confident warm fit and its landmarks, for the mean of two
    /// ([`super::two_fits`]), and whether the frame has had one.
    kept: Params,
    kept_x: Vec<f64>,
    has_kept: bool,
    filter: OneEuroFilter,
    /// The filtered channels: ln s, pitch, yaw, roll, tx and ty over the face's size, identity
    /// and expression.
    channels: Vec<f64>,
    x: Vec<f64>,
    /// The named controls of the reported fit.
    meter: ControlMeter,
    /// The tracked face's identity, fitted and then held.
    identity: IdentityLock,
    /// A neutral-face calibration asked for while the identity lock is still gathering frames:
    /// the controls are measured against the person's neutral face, which the held identity
    /// changes, so it starts once the identity is held and eased in.
    pending_calibration: Option<usize>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("settings", &self.settings)
            .field("tracking", &self.is_tracking())
            .finish_non_exhaustive()
    }
}

/// The filter's settings on the normalised channels (radians, σ, fractions of the face size),
/// chosen on the demo (700 frames, PARM, 7 stages): β = 0.5 halves the still segment's angle
/// jitter but lags the turning head (landmark NME 3.5 % against 2.2 % unfiltered); β = 20 keeps
/// the halving (0.20° → 0.10°) at 2.3 %.
pub const FILTER_SETTINGS: OneEuroSettings = OneEuroSettings {
    min_cutoff: 1.0,
    beta: 20.0,
    d_cutoff: 1.0,
};

impl Tracker {
    pub fn new(models: Arc<TrackerModels>, settings: TrackSettings) -> Result<Self, TrackError> {
        let (n_id, n_exp) = (models.joint.n_id(), models.joint.n_exp());
        let updates = TrackMethod::ALL
            .map(|m| (m.name(), models.update(m)))
            .into_iter()
            .chain([("held-identity PARM", &models.parm_held)]);
        for (method, u) in updates {
            if u.n_id() != n_id || u.n_exp() != n_exp {
                return Err(TrackError::Dimensions {
                    method,
                    got: u.n_id(),
                    got_exp: u.n_exp(),
                    n_id,
                    n_exp,
                });
            }
        }
        // The held-identity cascade runs in PARM's scratch: its features must be PARM's.
        let kind = |u: &ParamUpdate| match u {
            ParamUpdate::Regression(c) => c.kind.name(),
            ParamUpdate::Pclm(_) => "PCLM",
        };
        if kind(&models.parm_held) != kind(&models.parm) {
            return Err(TrackError::HeldCascade {
                got: kind(&models.parm_held),
                expected: kind(&models.parm),
            });
        }
        if models.confidence.n_landmarks() != models.model.n_landmarks() {
            return Err(TrackError::Confidence {
                got: models.confidence.n_landmarks(),
                expected: models.model.n_landmarks(),
            });
        }
        let scratch = TrackMethod::ALL.map(|m| models.parm_joint(models.cascade(m)).scratch());
        let acquire_scratch =
            Cascade::new(&models.model, &models.predictor, &models.acquire).scratch();
        let nl = models.model.n_landmarks();
        let zeros = Params::zeros(n_id, n_exp);
        Ok(Self {
            detector: FaceDetector::new()?,
            search: FaceSearch::new(SearchPasses::TURNED)?,
            searching_frames: 0,
            turn_cursor: 0,
            background: BackgroundDetector::start(),
            live: false,
            gray: GrayImage::default(),
            scratch,
            acquire_scratch,
            confidence_scratch: ConfidenceScratch::default(),
            upright: UprightFit::new(&models.model),
            current: zeros.clone(),
            current_t: 0.0,
            previous: zeros.clone(),
            previous_t: 0.0,
            has_current: false,
            has_previous: false,
            since_tracked: 0,
            last_search_t: f64::NEG_INFINITY,
            detections: Vec::with_capacity(16),
            work: zeros.clone(),
            cold: Params::zeros(models.acquire.n_id(), models.acquire.n_exp()),
            spare: zeros.clone(),
            held_fit: zeros.clone(),
            best: Best {
                params: zeros,
                log_odds: f32::NEG_INFINITY,
                weights: None,
                start: Start::Cold,
                reason: None,
                replaced: 0,
            },
            kept: Params::zeros(n_id, n_exp),
            kept_x: vec![0.0; 2 * nl],
            has_kept: false,
            filter: OneEuroFilter::new(FILTER_SETTINGS),
            channels: vec![0.0; Params::N_POSE + n_id + n_exp],
            x: vec![0.0; 2 * nl],
            meter: ControlMeter::new(&models.model, models.aligner_2d()),
            identity: IdentityLock::new(&models.joint),
            pending_calibration: None,
            settings: TrackSettings {
                stages: settings.stages.clamp(1, models.predictor.num_stages()),
                ..settings
            },
            models,
        })
    }

    pub fn models(&self) -> &Arc<TrackerModels> {
        &self.models
    }

    pub fn settings(&self) -> TrackSettings {
        self.settings
    }

    /// Frames come from a live source (a camera): the background search's answer is taken when
    /// it is ready, never waited for. Off by default, which makes a file's results reproducible.
    pub fn set_live(&mut self, live: bool) {
        self.live = live;
    }

    /// Where the identity lock stands (see [`TrackSettings::lock_identity`]).
    pub fn identity_lock(&self) -> LockState {
        if self.settings.lock_identity {
            self.identity.state()
        } else {
            LockState::Off
        }
    }

    /// Whether the last frame was tracked.
    pub fn is_tracking(&self) -> bool {
        self.has_current && self.since_tracked == 0
    }

    /// Takes effect from the next frame; the face stays tracked across a change of method.
    pub fn set_settings(&mut self, settings: TrackSettings) {
        if settings.filter != self.settings.filter {
            self.filter.reset();
        }
        if !settings.lock_identity {
            self.identity.release();
            if let Some(frames) = self.pending_calibration.take() {
                self.meter.calibrate(frames);
            }
        }
        self.settings = TrackSettings {
            stages: settings.stages.clamp(1, self.models.predictor.num_stages()),
            ..settings
        };
    }

    /// Takes the next `frames` tracked frames as the person's neutral face: the controls read 0
    /// on it from then on. With the identity lock on, the frames are taken once the identity is
    /// held and eased in.
    pub fn calibrate_neutral(&mut self, frames: usize) {
        if self.settings.lock_identity && !self.identity.settled() {
            self.pending_calibration = Some(frames);
        } else {
            self.pending_calibration = None;
            self.meter.calibrate(frames);
        }
    }

    /// Frames of a neutral-face calibration so far and needed, while one runs or waits for the
    /// identity lock.
    pub fn calibrating(&self) -> Option<(usize, usize)> {
        self.meter
            .calibrating()
            .or(self.pending_calibration.map(|n| (0, n)))
    }

    /// Forgets the face: the next frame runs the detector.
    pub fn redetect(&mut self) {
        self.has_current = false;
        self.identity.release();
        self.has_previous = false;
        self.filter.reset();
        if let Some(b) = self.background.as_mut() {
            b.cancel();
        }
    }

    /// Tracks one frame taken at `t` seconds on the source's clock. Allocates nothing while a face
    /// is tracked (a detection does).
    pub fn track(
        &mut self,
        image: &RgbImage,
        t: f64,
        out: &mut TrackOutput,
    ) -> Result<TrackStatus, TrackError> {
        let expected = image.width * image.height * 3;
        if image.data.len() != expected || image.width == 0 || image.height == 0 {
            return Err(TrackError::Frame {
                width: image.width,
                height: image.height,
                len: image.data.len(),
                expected,
            });
        }
        self.gray
            .set_from_rgb(image.width, image.height, &image.data);
        out.weights = None;
        out.lost = None;
        out.detected = false;
        self.best.log_odds = f32::NEG_INFINITY;
        self.best.reason = None;

        let recovering = self.has_current && self.since_tracked <= RECOVERY_FRAMES;
        if recovering {
            self.track_from_last(t, out);
        }
        if self.best.log_odds < THRESHOLD_LOG_ODDS {
            out.detected = true;
            self.search_whole_frame(out);
        } else {
            self.background_search(t, out);
        }

        let tracked = self.best.log_odds >= THRESHOLD_LOG_ODDS;
        self.searching_frames = if tracked {
            0
        } else {
            self.searching_frames.saturating_add(1)
        };
        if !tracked {
            let had_face = self.has_current && self.since_tracked == 0;
            self.since_tracked = self.since_tracked.saturating_add(1);
            self.filter.reset();
            self.has_previous = false;
            out.lost = Some(self.best.reason.unwrap_or(LossReason::Unconfident));
            out.confidence = f64::NAN;
            out.controls = Controls::default();
            if self.best.log_odds > f32::NEG_INFINITY {
                out.confidence = logistic(self.best.log_odds);
                out.params.clone_from(&self.best.params);
                self.models
                    .model
                    .project_landmarks(&out.params, &mut out.landmarks);
            }
            out.status = if had_face {
                TrackStatus::Lost
            } else {
                TrackStatus::Searching
            };
            return Ok(out.status);
        }
        if self.best.start == Start::Cold {
            self.filter.reset();
            self.has_previous = false;
        } else if self.has_current && self.since_tracked == 0 {
            self.previous.clone_from(&self.current);
            self.previous_t = self.current_t;
            self.has_previous = true;
        } else {
            self.has_previous = false;
        }
        self.current.clone_from(&self.best.params);
        self.current_t = t;
        self.has_current = true;
        self.since_tracked = 0;
        out.weights = self.best.weights;
        out.confidence = logistic(self.best.log_odds);
        if self.settings.lock_identity
            && self.identity.wants(out.confidence, self.current.yaw())
            && in_plane_angle(&self.current).abs() < UPRIGHT_ANGLE
        {
            self.keep_for_identity();
        }
        if self.settings.lock_identity {
            // While the identity eases in, the next frame starts from the next step of the way;
            // once there, the fits hold it themselves.
            if self.identity.advance()
                && let Some(id) = self.identity.held()
            {
                self.current.id_mut().copy_from_slice(id);
            }
            if self.identity.settled()
                && let Some(frames) = self.pending_calibration.take()
            {
                self.meter.calibrate(frames);
            }
        }
        self.report(t, out);
        out.status = TrackStatus::Tracking;
        Ok(out.status)
    }

    /// The two warm starts — the prediction and the last fit, or the last fit moved to either
    /// side — then, when neither is confident, the cold start in the box around the last fit.
    fn track_from_last(&mut self, t: f64, out: &mut TrackOutput) {
        let previous_scale = Some(self.current.s());
        // Every frame gets two warm fits ([`super::two_fits`]), and their mean is reported when
        // both are confident and agree, else the more confident. A moving head's two starts are
        // the prediction and the last fit: the prediction alone overshoots when the head stops or
        // turns back (on the shared clips at every 4th frame it helped one clip and hurt three),
        // the last fit alone lags a fast head out of the cascade's reach. A still head's are the
        // last fit moved a little to either side along the diagonal, so that the mean has no
        // lean.
        let hold = self.identity.held().is_some();
        let size = self.face_size();
        self.has_kept = false;
        let mut step = 0.0;
        if self.since_tracked == 0
            && let Some(predicted) = self.predict(t)
        {
            step = predicted;
            let log_odds = self.try_warm(Start::Predicted, previous_scale, hold, out);
            self.keep_warm_fit(log_odds, size);
            self.work.clone_from(&self.current);
            let log_odds = self.try_warm(Start::Previous, previous_scale, hold, out);
            self.keep_warm_fit(log_odds, size);
        } else {
            for side in [1.0, -1.0] {
                let shift = side * STILL_START_SHIFT * size;
                self.work.clone_from(&self.current);
                self.work.set_tx(self.current.tx() + shift);
                self.work.set_ty(self.current.ty() + shift);
                let log_odds = self.try_warm(Start::Previous, previous_scale, hold, out);
                self.keep_warm_fit(log_odds, size);
            }
        }
        if self.best.log_odds >= THRESHOLD_LOG_ODDS {
            // A head this fast can outrun both warm starts and still be fitted confidently beside
            // itself, and the next frame starts from there: the cold start in the box around the
            // frame's fit is tried as well, the more confident winning. Like any cold start, one
            // that wins restarts the filter and the velocity, so that neither drags the report
            // or the next start back towards where the head was.
            if step >= FAST_STEP {
                self.cold_around(true, ColdFace::Tracked, out);
            }
            return;
        }
        self.cold_around(false, ColdFace::Recent, out);
    }

    /// The cold start in the box around the frame's best fit (`of_best`) or the last one,
    /// upright: the box the face stands in.
    fn cold_around(&mut self, of_best: bool, whose: ColdFace, out: &mut TrackOutput) {
        let p = if of_best {
            &self.best.params
        } else {
            &self.current
        };
        let angle = in_plane_angle(p);
        let model = &self.models.model;
        let face_box = if angle.abs() >= UPRIGHT_ANGLE {
            self.upright
                .enter(model, &self.gray, p, angle)
                .ok()
                .map(|b| (b, angle))
        } else {
            box_around(model, p, &mut self.x).map(|b| (b, 0.0))
        };
        if let Some((face_box, angle)) = face_box {
            self.try_cold(&face_box, angle, whose, out);
        }
    }

    /// Writes the constant-velocity prediction for time `t` into `work` and returns its step (the
    /// largest angle's in degrees, or the shift's in % of the face's size, whichever is more);
    /// `None` (and `work` untouched) when there is no velocity or it is too small to matter.
    fn predict(&mut self, t: f64) -> Option<f64> {
        if !self.has_previous {
            return None;
        }
        let dt_prev = self.current_t - self.previous_t;
        let dt = t - self.current_t;
        if !(dt_prev > 0.0 && dt > 0.0) {
            return None;
        }
        let k = (dt / dt_prev).min(PREDICT_MAX_STEPS);
        let size = self.face_size();
        let (c, p) = (&self.current, &self.previous);
        let (dx, dy) = (k * (c.tx() - p.tx()), k * (c.ty() - p.ty()));
        let angles = [
            k * (c.pitch() - p.pitch()),
            k * (c.yaw() - p.yaw()),
            k * (c.roll() - p.roll()),
        ];
        let ratio = (c.s() / p.s()).abs();
        if !(ratio.is_finite() && size > 0.0) {
            return None;
        }
        let scale = ratio.powf(k);
        let shift = dx.hypot(dy) / size;
        let turn = angles.iter().fold(0.0f64, |m, a| m.max(a.abs()));
        if shift < PREDICT_MIN_SHIFT
            && turn < PREDICT_MIN_ANGLE
            && (scale - 1.0).abs() < PREDICT_MIN_SHIFT
        {
            return None;
        }
        self.work.clone_from(c);
        self.work.set_tx(c.tx() + dx);
        self.work.set_ty(c.ty() + dy);
        self.work.set_pitch(c.pitch() + angles[0]);
        self.work.set_yaw(c.yaw() + angles[1]);
        self.work.set_roll(c.roll() + angles[2]);
        self.work.set_s(c.s() * scale);
        Some(turn.to_degrees().max(100.0 * shift))
    }

    /// Fits from `work` with the chosen method (a warm start from wherever `work` is) and keeps it
    /// if it is the frame's best; returns its confidence's log-odds.
    /// With `hold`, the fit keeps `work`'s identity.
    fn try_warm(
        &mut self,
        start: Start,
        previous_scale: Option<f64>,
        hold: bool,
        out: &mut TrackOutput,
    ) -> f32 {
        let fitted = self.fit_work(hold, out);
        let weights = out.weights.take();
        self.consider(fitted.is_ok(), start, previous_scale, weights)
    }

    /// Fits from the cold start in `face_box` with the box cascade, then with the chosen method,
    /// and keeps it if it is the frame's best. With an `angle`, `face_box` is in the upright view
    /// [`Self::upright`] holds (made by the caller) and the fit is carried back from it. `whose`
    /// says which identities the chosen method's fit is tried with ([`ColdFace`]).
    /// Allocates nothing: a recovery in the box around the last fit is part of tracking a fast
    /// head.
    fn try_cold(&mut self, face_box: &FaceBox, angle: f64, whose: ColdFace, out: &mut TrackOutput) {
        let models = Arc::clone(&self.models);
        let cold = Cascade::new(&models.model, &models.predictor, &models.acquire);
        cold.cold_start_into(face_box, &mut self.cold);
        let image = if angle == 0.0 {
            &self.gray
        } else {
            self.upright.parts_mut().0
        };
        let fitted = cold
            .fit(
                image,
                face_box,
                &mut self.cold,
                usize::MAX,
                &mut self.acquire_scratch,
                |_, _, _| {},
            )
            .is_ok();
        if !fitted {
            return;
        }
        let (n_id, n_exp) = (models.joint.n_id(), models.joint.n_exp());
        if angle == 0.0 {
            self.work.set_with_dims(&self.cold, n_id, n_exp);
        } else {
            // Carried back with the roll taken nearest the angle the face was found at.
            let upright = self.upright.parts_mut().1;
            upright.set_with_dims(&self.cold, n_id, n_exp);
            self.work.clone_from(upright);
            self.work.set_roll(angle);
            self.work.set_pitch(0.0);
            self.upright.leave(&mut self.work);
        }
        match whose {
            ColdFace::New => {
                self.try_warm(Start::Cold, None, false, out);
            }
            ColdFace::Tracked => {
                let held = self.identity.held();
                let hold = held.is_some();
                self.work
                    .id_mut()
                    .copy_from_slice(held.unwrap_or(self.current.id()));
                self.try_warm(Start::Cold, None, hold, out);
            }
            ColdFace::Recent => {
                self.spare.clone_from(&self.work);
                if let Some(id) = self.identity.held() {
                    self.work.id_mut().copy_from_slice(id);
                    self.try_warm(Start::Cold, None, true, out);
                    let replaced = self.best.replaced;
                    // The cold cascade's own identity.
                    std::mem::swap(&mut self.work, &mut self.spare);
                    self.try_warm(Start::Cold, None, false, out);
                    if self.best.replaced != replaced {
                        self.identity.release();
                    }
                } else {
                    self.try_warm(Start::Cold, None, false, out);
                    std::mem::swap(&mut self.work, &mut self.spare);
                    self.work.id_mut().copy_from_slice(self.current.id());
                    self.try_warm(Start::Cold, None, false, out);
                }
            }
        }
    }

    /// After a warm fit was judged with `log_odds` ([`Self::consider`]: `x` holds its
    /// landmarks): keeps it when it is confident, and when it is the frame's second such fit and
    /// agrees with the first (for a face of `size`), makes the frame's best their mean.
    fn keep_warm_fit(&mut self, log_odds: f32, size: f64) {
        if log_odds < THRESHOLD_LOG_ODDS {
            return;
        }
        if !self.has_kept {
            self.kept.clone_from(&self.work);
            self.kept_x.copy_from_slice(&self.x);
            self.has_kept = true;
        } else if two_fits::mean_distance(&self.kept_x, &self.x) <= two_fits::AGREEMENT * size {
            two_fits::mean_into(&self.kept, &self.work, &mut self.best.params);
        }
    }

    /// The size of the face the last fit holds, in pixels.
    fn face_size(&self) -> f64 {
        self.current.s().abs() * model_face_size(&self.models.model)
    }

    /// Judges `work` — the loss checks, then the confidence — and keeps it if it beats the best;
    /// returns its log-odds (−∞ when a check failed).
    fn consider(
        &mut self,
        fitted: bool,
        start: Start,
        previous_scale: Option<f64>,
        weights: Option<JointWeights>,
    ) -> f32 {
        let model = &self.models.model;
        model.project_landmarks(&self.work, &mut self.x);
        let verdict = if fitted {
            loss::judge(&self.work, &self.x, &self.gray, previous_scale)
        } else {
            Some(LossReason::Failed)
        };
        let log_odds = match verdict {
            Some(_) => f32::NEG_INFINITY,
            None => {
                self.models
                    .confidence
                    .log_odds(&self.gray, &self.x, &mut self.confidence_scratch)
            }
        };
        if self.best.log_odds == f32::NEG_INFINITY && log_odds == f32::NEG_INFINITY {
            self.best.reason = verdict.or(self.best.reason);
        }
        if log_odds > self.best.log_odds {
            self.best.params.clone_from(&self.work);
            self.best.log_odds = log_odds;
            self.best.weights = weights;
            self.best.start = start;
            self.best.reason = None;
            self.best.replaced += 1;
        }
        log_odds
    }

    /// Runs the detector on the whole frame and fits the best few faces it finds.
    fn search_whole_frame(&mut self, out: &mut TrackOutput) {
        if let Some(b) = self.background.as_mut() {
            // An answer about an older frame is worth less than this search.
            b.cancel();
        }
        // The detector may find someone else: their identity is their own.
        self.identity.release();
        let mut found = std::mem::take(&mut self.detections);
        found.clear();
        found.extend(
            self.detector
                .detect(&self.gray)
                .into_iter()
                .take(MAX_CANDIDATES),
        );
        // A detection over the face tracked until a moment ago is most likely that face.
        let recent = self.has_current && self.since_tracked <= RECOVERY_FRAMES;
        let last = if recent {
            self.models
                .model
                .project_landmarks(&self.current, &mut self.x);
            let (lo, hi) = bounds(points(&self.x));
            [lo[0], lo[1], hi[0], hi[1]]
        } else {
            [0.0; 4]
        };
        for d in &found {
            let b = d.face_box;
            let whose = if recent && iou(last, [b.left, b.top, b.right, b.bottom]) > 0.3 {
                ColdFace::Recent
            } else {
                ColdFace::New
            };
            self.try_cold(&d.face_box, 0.0, whose, out);
            if self.best.log_odds >= THRESHOLD_LOG_ODDS + SWITCH_MARGIN {
                break;
            }
        }
        self.detections = found;
        if self.best.log_odds < THRESHOLD_LOG_ODDS {
            self.search_turned_views(out);
        }
    }

    /// The detector on views of the frame turned by ±45° and ±90°, for heads rolled further than
    /// it finds upright; a face found is fitted in an upright view of it. All four views on the
    /// first frame of a search (a start, a cut, a loss), then one a frame in turn: each costs a
    /// detection of a frame the size of the diagonal.
    fn search_turned_views(&mut self, out: &mut TrackOutput) {
        use std::f64::consts::{FRAC_PI_2, FRAC_PI_4};
        const ANGLES: [f64; 4] = [FRAC_PI_4, -FRAC_PI_4, FRAC_PI_2, -FRAC_PI_2];
        let views = if self.searching_frames == 0 { 4 } else { 1 };
        for k in 0..views {
            let angle = ANGLES[(self.turn_cursor + k) % ANGLES.len()];
            if let Some(found) = self.search.run(&self.gray, SearchPass::Turned(angle))
                && let Ok(face_box) = self.upright.enter_box(&self.gray, &found.turned_box())
            {
                self.try_cold(&face_box, found.angle(), ColdFace::New, out);
                if self.best.log_odds >= THRESHOLD_LOG_ODDS {
                    break;
                }
            }
        }
        self.turn_cursor = (self.turn_cursor + views) % ANGLES.len();
    }

    /// While a face is tracked: starts a background search now and then, and weighs the faces it
    /// finds away from the tracked one against it.
    fn background_search(&mut self, t: f64, out: &mut TrackOutput) {
        let Some(bg) = self.background.as_mut() else {
            return;
        };
        let wait = (!self.live).then_some(BACKGROUND_WAIT_FRAMES);
        let mut found = std::mem::take(&mut self.detections);
        if bg.poll(wait, &mut found) {
            self.models
                .model
                .project_landmarks(&self.best.params, &mut self.x);
            let (lo, hi) = bounds(points(&self.x));
            let tracked = [lo[0], lo[1], hi[0], hi[1]];
            for d in found.iter().take(MAX_CANDIDATES) {
                let b = d.face_box;
                if iou(tracked, [b.left, b.top, b.right, b.bottom]) > 0.2 {
                    continue;
                }
                // Only a clearly more confident face takes the track.
                let held = self.best.log_odds;
                let replaced = self.best.replaced;
                self.best.log_odds = held + SWITCH_MARGIN;
                self.try_cold(&b, 0.0, ColdFace::New, out);
                if self.best.replaced == replaced {
                    self.best.log_odds = held;
                } else {
                    self.identity.release();
                }
            }
        }
        self.detections = found;
        if let Some(bg) = self.background.as_mut()
            && !bg.busy()
            && t - self.last_search_t >= BACKGROUND_INTERVAL_S
            && bg.submit(&self.gray)
        {
            self.last_search_t = t;
        }
    }

    /// The chosen method's warm-start fit of `work` ([`Self::fit_work_with`]). While a held
    /// identity eases in, the tracking cascade for held identities fades in with it
    /// ([`TrackerModels::warm_cascade`]): the fit is the ordinary cascade's moved the identity's
    /// share of the way to the held one's. The two settle a face a little apart, and taken over
    /// at once, the held cascade made the fit of a still face step by over a pixel.
    fn fit_work(&mut self, hold: bool, out: &mut TrackOutput) -> Result<(), WarmStartError> {
        let s = self.settings;
        let share = self.identity.eased_share();
        if !(hold && share < 1.0 && self.models.has_held_cascade(s.method, s.joint)) {
            return self.fit_work_with(hold, hold, out);
        }
        // `held_fit` keeps the start while the held cascade fits `work`, then the two trade.
        self.held_fit.clone_from(&self.work);
        self.fit_work_with(true, true, out)?;
        std::mem::swap(&mut self.work, &mut self.held_fit);
        if self.fit_work_with(true, false, out).is_ok() {
            two_fits::move_toward(&mut self.work, &self.held_fit, share);
        } else {
            self.work.clone_from(&self.held_fit);
        }
        Ok(())
    }

    /// The chosen method's warm-start fit of `work` with the ordinary tracking cascade, or with
    /// `held_cascade` the one for held identities where the method has one, in the square box
    /// around its landmarks — in an upright view of the face when its head is rolled by
    /// [`UPRIGHT_ANGLE`] or more, as the cascades were trained on heads near upright.
    fn fit_work_with(
        &mut self,
        hold: bool,
        held_cascade: bool,
        out: &mut TrackOutput,
    ) -> Result<(), WarmStartError> {
        let s = self.settings;
        let models = &self.models;
        let cascade = models.warm_cascade(s.method, s.joint, held_cascade);
        let scratch = &mut self.scratch[s.method.index()];
        scratch.fit.hold_identity(hold);
        let angle = in_plane_angle(&self.work);
        let weights = if angle.abs() >= UPRIGHT_ANGLE {
            let face_box = self
                .upright
                .enter(&models.model, &self.gray, &self.work, angle)
                .map_err(|_| WarmStartError::NoFace)?;
            let (image, p) = self.upright.parts_mut();
            let weights = fit_in(models, &cascade, s, image, &face_box, p, scratch)?;
            self.upright.leave(&mut self.work);
            weights
        } else {
            let face_box =
                box_around(&models.model, &self.work, &mut self.x).ok_or(WarmStartError::NoFace)?;
            fit_in(
                models,
                &cascade,
                s,
                &self.gray,
                &face_box,
                &mut self.work,
                scratch,
            )?
        };
        out.weights = weights;
        Ok(())
    }

    /// Keeps the tracked frame for the identity lock: the frame's `parm+joint` fit from the
    /// tracked one (the landmark cascade run on from it, and the joint refinement with the
    /// identity free), which the lock fits one identity to once it has enough frames. Allocates
    /// nothing.
    fn keep_for_identity(&mut self) {
        let models = &self.models;
        let s = self.settings;
        let Some(face_box) = box_around(&models.model, &self.current, &mut self.x) else {
            return;
        };
        let scratch = &mut self.scratch[s.method.index()];
        // Refined freely: the lock fits the identity from these frames.
        scratch.fit.hold_identity(false);
        self.work.clone_from(&self.current);
        // One view: over a second of frames the mirrored view's second opinion adds nothing (the
        // shared clips' error moved by 0.002 points) and would double the cost of these frames.
        let joint = ParmJoint {
            mirror: false,
            ..models.parm_joint(models.cascade(s.method))
        };
        if joint
            .fit(&self.gray, &face_box, &mut self.work, s.stages, scratch)
            .is_ok()
        {
            // A failed solve forgets its frames, and the lock starts again from the next one.
            let _ = self.identity.add(
                &models.joint,
                &self.work,
                self.current.id(),
                face_size(&face_box),
                &mut scratch.joint,
            );
        }
    }

    /// Writes the reported fit — `current`, filtered when the filter is on — and its landmarks.
    fn report(&mut self, t: f64, out: &mut TrackOutput) {
        let p = &mut out.params;
        p.clone_from(&self.current);
        if self.settings.filter {
            // Comparable units for one set of filter settings: the log of the scale, angles in
            // radians, the position in face sizes, expression in σ.
            let size = self.face_size();
            let c = &mut self.channels;
            c.resize(p.len(), 0.0);
            c[0] = p.s().abs().max(f64::MIN_POSITIVE).ln();
            c[1..4].copy_from_slice(&p.pose()[1..4]);
            c[4] = p.tx() / size;
            c[5] = p.ty() / size;
            c[Params::N_POSE..].copy_from_slice(&p.as_slice()[Params::N_POSE..]);
            self.filter.filter(t, c);
            p.set_s(c[0].exp().copysign(self.current.s()));
            p.set_pitch(c[1]);
            p.set_yaw(c[2]);
            p.set_roll(c[3]);
            p.set_tx(c[4] * size);
            p.set_ty(c[5] * size);
            p.as_mut_slice()[Params::N_POSE..].copy_from_slice(&c[Params::N_POSE..]);
        }
        let models = &self.models;
        models
            .model
            .project_landmarks(&out.params, &mut out.landmarks);
        let raw = square_box_around(points(&out.landmarks)).and_then(|face_box| {
            self.meter
                .raw(
                    &models.model,
                    models.aligner_2d(),
                    &self.gray,
                    &face_box,
                    &out.params,
                    &out.landmarks,
                )
                .ok()
                .flatten()
        });
        out.controls = match raw {
            Some(raw) => self.meter.controls(&raw),
            None => Controls::default(),
        };
    }
}

/// The chosen method's fit of `p` in `image` from `face_box`; the joint's weights when it ran.
fn fit_in(
    models: &TrackerModels,
    cascade: &Cascade<'_>,
    s: TrackSettings,
    image: &GrayImage,
    face_box: &FaceBox,
    p: &mut Params,
    scratch: &mut ParmJointScratch,
) -> Result<Option<JointWeights>, WarmStartError> {
    if s.joint {
        let weights = models
            .parm_joint(*cascade)
            .fit(image, face_box, p, s.stages, scratch)?;
        return Ok(Some(weights));
    }
    cascade.fit(image, face_box, p, s.stages, &mut scratch.fit, |_, _, _| {})?;
    Ok(None)
}

/// Intersection over union of two boxes `[x0, y0, x1, y1]`.
fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: [f64; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}
