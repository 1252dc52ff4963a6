//! The tracker: one frame at a time, the PARM framework warm-started from the previous frame's
//! parameters (PARM paper §3: "in tracking, the cascade is warm-started"), the joint 2D/3D
//! refinement when asked (joint paper Eq. 4), a check that the face is still there
//! ([`super::loss`]), detection again when it is not, and the temporal filter
//! ([`super::one_euro`]) on what is reported — never on what the next frame starts from, so the
//! filter adds no lag to the fit itself.
//!
//! After a detection the face is fitted from the cold start with the cascade trained for boxes
//! (`parm.bin`), then once more from that fit with the chosen method's tracking cascade, so that
//! every reported fit is the chosen method's.

use std::sync::Arc;

use thiserror::Error;

use super::loss::{self, LossReason};
use super::one_euro::{OneEuroFilter, OneEuroSettings};
use super::warm_start::{WarmStartError, box_around, fit_from_previous};
use crate::align::ShapePredictor;
use crate::align::detect::{DetectorModelError, FaceDetector};
use crate::capture::RgbImage;
use crate::fit::box_frame::model_face_size;
use crate::fit::joint::{JointSolver, JointWeights};
use crate::fit::parm_joint::{ParmJoint, ParmJointScratch};
use crate::fit::{Cascade, FitScratch, ParamUpdate};
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
}

/// Stages a tracked frame runs by default: the warm-start cascade's validation NME is 2.22 % after
/// 5 stages and 2.14 % after 15; 7 gives nearly all of it at half the cost (`models/README.md`).
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
    /// PCLM (Gauss-Newton; the same from any start).
    pub pclm: ParamUpdate,
    /// PRM and PARM trained from warm starts (`prm_track.bin`, `parm_track.bin`).
    pub prm: ParamUpdate,
    pub parm: ParamUpdate,
    /// PARM trained from boxes (`parm.bin`): the first fit after a detection.
    pub acquire: ParamUpdate,
    pub joint: JointSolver,
}

impl TrackerModels {
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
    #[error("the tracking thread stopped: {0}")]
    Stopped(String),
}

/// One frame's outcome, in buffers the caller keeps and passes again.
#[derive(Debug, Clone)]
pub struct TrackOutput {
    pub status: TrackStatus,
    /// The reported fit (filtered when the filter is on), [`TrackerModels::dims`] coefficients.
    pub params: Params,
    /// Its 68 landmarks, `[u0, v0, …]`, image pixels.
    pub landmarks: Vec<f64>,
    /// λ2d and λ3d when the joint refinement ran.
    pub weights: Option<JointWeights>,
    /// Why the fit was judged lost, on a `Lost` frame.
    pub lost: Option<LossReason>,
    /// Whether this frame ran the face detector.
    pub detected: bool,
}

impl TrackOutput {
    pub fn new(models: &TrackerModels) -> Self {
        let (n_id, n_exp) = models.dims();
        Self {
            status: TrackStatus::Searching,
            params: Params::zeros(n_id, n_exp),
            landmarks: vec![0.0; 2 * models.model.n_landmarks()],
            weights: None,
            lost: None,
            detected: false,
        }
    }
}

/// The tracker's state and every buffer it uses, made once.
pub struct Tracker {
    models: Arc<TrackerModels>,
    settings: TrackSettings,
    detector: FaceDetector,
    gray: GrayImage,
    /// One scratch a method (their feature sizes differ); the joint's holds the cascade's.
    scratch: [ParmJointScratch; 3],
    acquire_scratch: FitScratch,
    /// The last fit, unfiltered: the next frame's start, when `tracking`.
    current: Params,
    tracking: bool,
    /// The fit being made this frame.
    work: Params,
    filter: OneEuroFilter,
    /// The filtered channels: ln s, pitch, yaw, roll, tx and ty over the face's size, identity
    /// and expression.
    channels: Vec<f64>,
    x: Vec<f64>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("settings", &self.settings)
            .field("tracking", &self.tracking)
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
        for m in TrackMethod::ALL {
            let u = models.update(m);
            if u.n_id() != n_id || u.n_exp() != n_exp {
                return Err(TrackError::Dimensions {
                    method: m.name(),
                    got: u.n_id(),
                    got_exp: u.n_exp(),
                    n_id,
                    n_exp,
                });
            }
        }
        let scratch =
            TrackMethod::ALL.map(|m| ParmJoint::new(models.cascade(m), &models.joint).scratch());
        let acquire_scratch =
            Cascade::new(&models.model, &models.predictor, &models.acquire).scratch();
        let nl = models.model.n_landmarks();
        Ok(Self {
            detector: FaceDetector::new()?,
            gray: GrayImage::default(),
            scratch,
            acquire_scratch,
            current: Params::zeros(n_id, n_exp),
            tracking: false,
            work: Params::zeros(n_id, n_exp),
            filter: OneEuroFilter::new(FILTER_SETTINGS),
            channels: vec![0.0; Params::N_POSE + n_id + n_exp],
            x: vec![0.0; 2 * nl],
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

    /// Takes effect from the next frame; the face stays tracked across a change of method.
    pub fn set_settings(&mut self, settings: TrackSettings) {
        if settings.filter != self.settings.filter {
            self.filter.reset();
        }
        self.settings = TrackSettings {
            stages: settings.stages.clamp(1, self.models.predictor.num_stages()),
            ..settings
        };
    }

    /// Forgets the face: the next frame runs the detector.
    pub fn redetect(&mut self) {
        self.tracking = false;
        self.filter.reset();
    }

    /// Tracks one frame taken at `t` seconds on the source's clock. Allocates nothing while a face
    /// is tracked (detection does).
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

        let previous_scale = if self.tracking {
            self.tracking = false;
            self.work.clone_from(&self.current);
            Some(self.current.s())
        } else {
            out.detected = true;
            if self.acquire().is_none() {
                out.status = TrackStatus::Searching;
                return Ok(out.status);
            }
            None
        };

        let fitted = self.fit_work(out);
        let model = &self.models.model;
        model.project_landmarks(&self.work, &mut out.landmarks);
        let verdict = match fitted {
            Err(_) => Some(LossReason::Failed),
            Ok(()) => loss::judge(&self.work, &out.landmarks, &self.gray, previous_scale),
        };
        if let Some(reason) = verdict {
            self.filter.reset();
            out.lost = Some(reason);
            // A detection that gives no trustworthy fit is no face found.
            out.status = if previous_scale.is_none() {
                TrackStatus::Searching
            } else {
                TrackStatus::Lost
            };
            return Ok(out.status);
        }
        self.current.clone_from(&self.work);
        self.tracking = true;
        self.report(t, out);
        out.status = TrackStatus::Tracking;
        Ok(out.status)
    }

    /// Detection, then the cold-start fit with the box cascade into `work`.
    fn acquire(&mut self) -> Option<()> {
        let detection = self.detector.detect_best(&self.gray)?;
        let models = &self.models;
        let cold = Cascade::new(&models.model, &models.predictor, &models.acquire);
        let mut p = cold.cold_start(&detection.face_box);
        cold.fit(
            &self.gray,
            &detection.face_box,
            &mut p,
            usize::MAX,
            &mut self.acquire_scratch,
            |_, _, _| {},
        )
        .ok()?;
        self.work = p.with_dims(models.joint.n_id(), models.joint.n_exp());
        self.filter.reset();
        Some(())
    }

    /// The chosen method's warm-start fit of `work`, in the square box around its landmarks.
    fn fit_work(&mut self, out: &mut TrackOutput) -> Result<(), WarmStartError> {
        let s = self.settings;
        let cascade = self.models.cascade(s.method);
        let scratch = &mut self.scratch[s.method.index()];
        if !s.joint {
            let x = &mut self.x;
            return fit_from_previous(
                &cascade,
                &self.gray,
                &mut self.work,
                s.stages,
                &mut scratch.fit,
                x,
            )
            .map(|_| ());
        }
        let face_box = box_around(&self.models.model, &self.work, &mut self.x)
            .ok_or(WarmStartError::NoFace)?;
        let joint = ParmJoint::new(cascade, &self.models.joint);
        let weights = joint.fit(&self.gray, &face_box, &mut self.work, s.stages, scratch)?;
        out.weights = Some(weights);
        Ok(())
    }

    /// Writes the reported fit — `work`, filtered when the filter is on — and its landmarks.
    fn report(&mut self, t: f64, out: &mut TrackOutput) {
        let p = &mut out.params;
        p.clone_from(&self.work);
        if self.settings.filter {
            // Comparable units for one set of filter settings: the log of the scale, angles in
            // radians, the position in face sizes, expression in σ.
            let size = self.work.s().abs() * model_face_size(&self.models.model);
            let c = &mut self.channels;
            c.resize(p.len(), 0.0);
            c[0] = p.s().abs().max(f64::MIN_POSITIVE).ln();
            c[1..4].copy_from_slice(&p.pose()[1..4]);
            c[4] = p.tx() / size;
            c[5] = p.ty() / size;
            c[Params::N_POSE..].copy_from_slice(&p.as_slice()[Params::N_POSE..]);
            self.filter.filter(t, c);
            p.set_s(c[0].exp().copysign(self.work.s()));
            p.set_pitch(c[1]);
            p.set_yaw(c[2]);
            p.set_roll(c[3]);
            p.set_tx(c[4] * size);
            p.set_ty(c[5] * size);
            p.as_mut_slice()[Params::N_POSE..].copy_from_slice(&c[Params::N_POSE..]);
            self.models
                .model
                .project_landmarks(&out.params, &mut out.landmarks);
        }
    }
}
