//! The PARM framework loop (PARM paper Eq. 8): `p* ≈ p⁰ + Σ Δpᵏ`. At each stage k the model's
//! landmarks are projected, `xᵏ = x(pᵏ)`; the landmark cascade's stage k, evaluated at `xᵏ`, gives
//! `Δxᵏ` (M1); and an update method turns it into `Δpᵏ` (M2: PCLM, PRM or PARM).

use thiserror::Error;

use super::box_frame::{BoxFrame, ColdStart, model_face_size};
use super::parm::parm_features;
use super::parm_by_pose::parm_by_pose_features;
use super::pclm::{Pclm, PclmScratch};
use super::prm::prm_features;
use super::regressor::{RegressorCascade, RegressorKind};
use super::visibility::LandmarkVisibility;
use crate::align::{ErtError, ErtScratch, FaceBox, Point2, ShapePredictor};
use crate::image::GrayImage;
use crate::model::{MorphableModel, Params};

/// M2: how a landmark update becomes a parameter update.
#[derive(Debug, Clone)]
pub enum ParamUpdate {
    Pclm(Pclm),
    Regression(RegressorCascade),
}

impl ParamUpdate {
    pub fn n_id(&self) -> usize {
        match self {
            Self::Pclm(p) => p.n_id,
            Self::Regression(r) => r.n_id,
        }
    }

    pub fn n_exp(&self) -> usize {
        match self {
            Self::Pclm(p) => p.n_exp,
            Self::Regression(r) => r.n_exp,
        }
    }

    /// The most stages this update can run.
    pub fn max_stages(&self, predictor: &ShapePredictor) -> usize {
        match self {
            Self::Pclm(_) => predictor.num_stages(),
            Self::Regression(r) => r.stages.len().min(predictor.num_stages()),
        }
    }

    /// Whether this update fits `model`: no more coefficients than it has, and stage maps the
    /// size of the features its landmarks give. A file that passed its checksum can still have
    /// been made for another model, or written by hand.
    pub fn check(&self, model: &MorphableModel) -> Result<(), String> {
        let (n_id, n_exp) = (self.n_id(), self.n_exp());
        if n_id > model.n_id() || n_exp > model.n_exp() {
            return Err(format!(
                "it fits {n_id} identity and {n_exp} expression coefficients; the face model has {} and {}",
                model.n_id(),
                model.n_exp()
            ));
        }
        match self {
            Self::Pclm(p) => {
                if !(p.r.is_finite() && p.r >= 0.0) {
                    return Err(format!("its prior weight r is {}", p.r));
                }
                let c = &p.cold;
                if !(c.scale.is_finite() && c.scale > 0.0 && c.tx.is_finite() && c.ty.is_finite()) {
                    return Err("its cold start is not finite".into());
                }
            }
            Self::Regression(r) => {
                let n = RegressorCascade::n_features(
                    r.kind,
                    model.n_landmarks(),
                    Params::N_POSE + n_id + n_exp,
                );
                if let Some(k) = r.stages.iter().position(|s| s.n_in() != n) {
                    return Err(format!(
                        "stage {k} takes {} features; this model's landmarks give {n}",
                        r.stages[k].n_in()
                    ));
                }
            }
        }
        Ok(())
    }

    fn hide_invisible(&self) -> bool {
        match self {
            Self::Pclm(p) => p.hide_invisible,
            Self::Regression(r) => r.hide_invisible,
        }
    }

    fn cold(&self) -> &ColdStart {
        match self {
            Self::Pclm(p) => &p.cold,
            Self::Regression(r) => &r.cold,
        }
    }
}

#[derive(Debug, Error)]
pub enum FitError {
    #[error(transparent)]
    Landmarks(#[from] ErtError),
    #[error("the fit diverged at stage {stage} (a parameter became {value})")]
    Diverged { stage: usize, value: f64 },
    #[error("the Gauss-Newton step at stage {stage} is singular")]
    Singular { stage: usize },
    #[error(transparent)]
    Joint(#[from] super::joint::JointError),
    #[error("the starting parameters fit {got} coefficients; this method fits {expected}")]
    Dimensions { expected: usize, got: usize },
}

/// The model, the landmark cascade and an update method: everything a fit needs, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Cascade<'a> {
    pub model: &'a MorphableModel,
    pub predictor: &'a ShapePredictor,
    pub update: &'a ParamUpdate,
}

/// Every buffer a fit uses, allocated once per cascade and reused for every face.
#[derive(Debug, Clone)]
pub struct FitScratch {
    ert: ErtScratch,
    x: Vec<f64>,
    points: Vec<Point2>,
    delta: Vec<Point2>,
    dx: Vec<f64>,
    weight: Vec<f64>,
    visible: Vec<bool>,
    features: Vec<f64>,
    dp_n: Vec<f64>,
    dp: Vec<f64>,
    pclm: PclmScratch,
    visibility: LandmarkVisibility,
    model_size: f64,
    /// Fit pose and expression only; the identity stays as it starts.
    hold_identity: bool,
}

impl FitScratch {
    /// Fits made with this scratch leave the identity as it starts (a tracked face's identity,
    /// held) and fit pose and expression only.
    pub fn hold_identity(&mut self, hold: bool) {
        self.hold_identity = hold;
    }

    pub fn holds_identity(&self) -> bool {
        self.hold_identity
    }
}

impl<'a> Cascade<'a> {
    pub fn new(
        model: &'a MorphableModel,
        predictor: &'a ShapePredictor,
        update: &'a ParamUpdate,
    ) -> Self {
        Self {
            model,
            predictor,
            update,
        }
    }

    pub fn n_params(&self) -> usize {
        Params::N_POSE + self.update.n_id() + self.update.n_exp()
    }

    pub fn scratch(&self) -> FitScratch {
        let nl = self.model.n_landmarks();
        let np = self.n_params();
        let n_feat = match self.update {
            ParamUpdate::Regression(r) => RegressorCascade::n_features(r.kind, nl, np),
            ParamUpdate::Pclm(_) => 0,
        };
        FitScratch {
            ert: self.predictor.scratch(),
            x: vec![0.0; 2 * nl],
            points: vec![[0.0; 2]; nl],
            delta: vec![[0.0; 2]; nl],
            dx: vec![0.0; 2 * nl],
            weight: vec![1.0; nl],
            visible: vec![true; nl],
            features: vec![0.0; n_feat],
            dp_n: vec![0.0; np],
            dp: vec![0.0; np],
            pclm: PclmScratch::new(
                nl,
                if matches!(self.update, ParamUpdate::Pclm(_)) {
                    np
                } else {
                    0
                },
            ),
            visibility: LandmarkVisibility::new(self.model),
            model_size: model_face_size(self.model),
            hold_identity: false,
        }
    }

    /// The cold start in `face_box` (PARM paper §4.2).
    pub fn cold_start(&self, face_box: &FaceBox) -> Params {
        let mut p = Params::zeros(self.update.n_id(), self.update.n_exp());
        self.cold_start_into(face_box, &mut p);
        p
    }

    /// The same into `p`, reusing its allocation.
    pub fn cold_start_into(&self, face_box: &FaceBox, p: &mut Params) {
        self.update.cold().write(
            face_box,
            self.update.n_id(),
            self.update.n_exp(),
            model_face_size(self.model),
            p,
        );
    }

    /// Runs `stages` stages from `p` (updated in place). `face_box` is the box the landmark cascade
    /// and the parameter normalisation use. `on_stage(k, p)` sees the parameters after each stage.
    pub fn fit(
        &self,
        image: &GrayImage,
        face_box: &FaceBox,
        p: &mut Params,
        stages: usize,
        scratch: &mut FitScratch,
        mut on_stage: impl FnMut(usize, &Params, &FitScratch),
    ) -> Result<(), FitError> {
        if p.len() != self.n_params() {
            return Err(FitError::Dimensions {
                expected: self.n_params(),
                got: p.len(),
            });
        }
        let frame = BoxFrame::new(face_box, scratch.model_size);
        let stages = stages.min(self.update.max_stages(self.predictor));
        let hide = self.update.hide_invisible();
        scratch.visibility.set_shape(self.model, p.id(), p.exp());
        for k in 0..stages {
            self.stage(k, image, face_box, &frame, hide, p, scratch)?;
            if let Some(bad) = p.as_slice().iter().find(|v| !v.is_finite()) {
                return Err(FitError::Diverged {
                    stage: k,
                    value: *bad,
                });
            }
            on_stage(k, p, scratch);
        }
        Ok(())
    }

    /// Stage `k`'s regressor input at `p` (PRM and PARM), for training: the same code path as a
    /// fit, without the update.
    pub fn features_at(
        &self,
        k: usize,
        image: &GrayImage,
        face_box: &FaceBox,
        p: &Params,
        scratch: &mut FitScratch,
    ) -> Result<Vec<f64>, FitError> {
        let frame = BoxFrame::new(face_box, scratch.model_size);
        scratch.visibility.set_shape(self.model, p.id(), p.exp());
        self.observe(
            k,
            image,
            face_box,
            &frame,
            self.update.hide_invisible(),
            p,
            scratch,
        )?;
        Ok(scratch.features.clone())
    }

    #[allow(clippy::too_many_arguments)]
    fn stage(
        &self,
        k: usize,
        image: &GrayImage,
        face_box: &FaceBox,
        frame: &BoxFrame,
        hide: bool,
        p: &mut Params,
        s: &mut FitScratch,
    ) -> Result<(), FitError> {
        self.observe(k, image, face_box, frame, hide, p, s)?;
        match self.update {
            ParamUpdate::Pclm(m) => {
                if s.hold_identity {
                    // Gauss-Newton over pose and expression alone: identity's columns out.
                    let ids = Params::N_POSE..Params::N_POSE + self.update.n_id();
                    for j in ids {
                        s.pclm.jacobian_mut().column_mut(j).fill(0.0);
                    }
                }
                if !m.step(p, frame, &s.dx, &s.weight, &mut s.pclm, &mut s.dp) {
                    return Err(FitError::Singular { stage: k });
                }
            }
            ParamUpdate::Regression(r) => {
                r.stages[k].apply(&s.features, &mut s.dp_n);
                frame.denormalise_delta(&s.dp_n, &mut s.dp);
            }
        }
        if s.hold_identity {
            // The regressors were trained to move identity with the rest; held, its share of the
            // step is dropped and the next stage sees what the rest did not explain.
            s.dp[Params::N_POSE..Params::N_POSE + self.update.n_id()].fill(0.0);
        }
        for (v, d) in p.as_mut_slice().iter_mut().zip(&s.dp) {
            *v += d;
        }
        Ok(())
    }

    /// Projects the model, runs M1's stage k at its landmarks, judges visibility and builds the
    /// update method's input (`dx`, and `features` for the regressors).
    #[allow(clippy::too_many_arguments)]
    fn observe(
        &self,
        k: usize,
        image: &GrayImage,
        face_box: &FaceBox,
        frame: &BoxFrame,
        hide: bool,
        p: &Params,
        s: &mut FitScratch,
    ) -> Result<(), FitError> {
        if matches!(self.update, ParamUpdate::Pclm(_)) {
            self.model
                .project_landmarks_with_jacobian(p, &mut s.x, s.pclm.jacobian_mut());
        } else {
            self.model.project_landmarks(p, &mut s.x);
        }
        for (pt, xy) in s.points.iter_mut().zip(s.x.chunks_exact(2)) {
            *pt = [xy[0], xy[1]];
        }
        self.predictor
            .stage(k, image, face_box, &s.points, &mut s.delta, &mut s.ert)?;
        s.visibility
            .visible(p.pitch(), p.yaw(), p.roll(), &mut s.visible);
        for (i, d) in s.delta.iter().enumerate() {
            let w = if hide && !s.visible[i] { 0.0 } else { 1.0 };
            s.weight[i] = w;
            s.dx[2 * i] = d[0] * w;
            s.dx[2 * i + 1] = d[1] * w;
        }
        if let ParamUpdate::Regression(r) = self.update {
            match r.kind {
                RegressorKind::Prm => prm_features(&s.dx, frame, &mut s.features),
                RegressorKind::Parm => parm_features(&s.dx, p.as_slice(), frame, &mut s.features),
                RegressorKind::ParmByPose => {
                    parm_by_pose_features(&s.dx, p.as_slice(), p.yaw(), frame, &mut s.features)
                }
            }
        }
        Ok(())
    }
}
