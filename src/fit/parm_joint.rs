//! `parm+joint`: the PARM cascade (PARM paper Eq. 12) followed by the joint 2D and 3D refinement
//! (joint paper Eq. 4, [`super::joint`]).
//!
//! The refinement's inputs, for each view:
//! - L2d: a 2D aligner's ERT run on from PARM's landmarks — the M1's own stages PARM did not run,
//!   or, when PARM ran them all or the aligner is another, its last stages from `ert_first_stage`
//!   — the image evidence of a pure 2D aligner, which PARM's model-constrained landmarks smooth
//!   away. The aligner is dlib's cascade: the M1 itself, or run beside an M1 taught the 3D
//!   model's points ([`ParmJoint::with_2d`]).
//! - L3d: PARM's 3D landmarks (its model at its parameters): depth, and the true jaw line of the
//!   hidden side, which dlib's 2D landmarks cannot give at large yaw.
//!
//! With one view, L3d is exactly the model at PARM's fit, and the refinement has nothing to add
//! (on validation it moves the 3D error by under 1 %). So, with `mirror` set, both are also
//! estimated on the image mirrored left–right (PARM and ERT again, their landmarks mirrored back
//! and re-ordered) and the two views averaged: the mirrored view's regressors and trees see the
//! face from the other side, so their errors are partly independent, and the refinement fits
//! one model to both.

use super::cascade::{Cascade, FitError, FitScratch};
use super::joint::{JointScratch, JointSolver, JointWeights};
use super::training_set::IBUG68_MIRROR;
use crate::align::{ErtScratch, FaceBox, Point2, ShapePredictor};
use crate::image::GrayImage;
use crate::model::Params;

/// How many of the landmark cascade's last stages run again from PARM's landmarks for L2d.
pub const JOINT_ERT_STAGES: usize = 5;

/// PARM, then the joint refinement.
#[derive(Debug, Clone, Copy)]
pub struct ParmJoint<'a> {
    pub cascade: Cascade<'a>,
    pub solver: &'a JointSolver,
    /// The first ERT stage run from PARM's landmarks for L2d when PARM ran every stage (chosen
    /// on validation: the cascade's last 5 stages give better 2D landmarks than all of them, for
    /// dlib's 15 stages and for facetrack's own 10).
    pub ert_first_stage: usize,
    /// Average the estimates with those of the mirrored image.
    pub mirror: bool,
    /// The 2D aligner L2d runs when it is not the M1 ([`Self::with_2d`]).
    pub aligner_2d: Option<&'a ShapePredictor>,
}

/// One view's landmark buffers: ERT's, then L2d (`x`) and L3d (`x3`) of that view.
#[derive(Debug, Clone)]
struct ViewBuffers {
    ert: ErtScratch,
    points: Vec<Point2>,
    delta: Vec<Point2>,
    x: Vec<f64>,
    x3: Vec<f64>,
}

/// Every buffer of a `parm+joint` fit, made once.
#[derive(Debug, Clone)]
pub struct ParmJointScratch {
    pub fit: FitScratch,
    pub joint: JointScratch,
    view: ViewBuffers,
    mirrored: GrayImage,
    /// PARM's parameters on the mirrored image.
    mirror_params: Params,
    /// L2d of the last fit, `[u0, v0, …]`.
    pub l2d: Vec<f64>,
    /// L3d of the last fit, `[u0, v0, z0, …]` at image scale.
    pub l3d: Vec<f64>,
    /// PARM's own parameters of the last fit (before the refinement).
    pub parm: Params,
}

impl<'a> ParmJoint<'a> {
    pub fn new(cascade: Cascade<'a>, solver: &'a JointSolver) -> Self {
        Self {
            cascade,
            solver,
            ert_first_stage: cascade
                .predictor
                .num_stages()
                .saturating_sub(JOINT_ERT_STAGES),
            mirror: true,
            aligner_2d: None,
        }
    }

    /// L2d from `aligner`'s last [`JOINT_ERT_STAGES`] stages instead of the M1's (`None` keeps
    /// the M1's): a 2D aligner (dlib's, hand-annotated) beside an M1 taught the 3D model's
    /// landmarks, whose points Eq. 7–9 would otherwise trust as 2D ones on a frontal face.
    pub fn with_2d(self, aligner: Option<&'a ShapePredictor>) -> Self {
        match aligner {
            Some(a) => Self {
                aligner_2d: aligner,
                ert_first_stage: a.num_stages().saturating_sub(JOINT_ERT_STAGES),
                ..self
            },
            None => self,
        }
    }

    /// The cascade L2d runs: the 2D aligner, else the M1.
    fn l2d_cascade(&self) -> &'a ShapePredictor {
        self.aligner_2d.unwrap_or(self.cascade.predictor)
    }

    pub fn scratch(&self) -> ParmJointScratch {
        let nl = self.cascade.model.n_landmarks();
        let (n_id, n_exp) = (self.cascade.update.n_id(), self.cascade.update.n_exp());
        ParmJointScratch {
            fit: self.cascade.scratch(),
            joint: self.solver.scratch(),
            view: ViewBuffers {
                ert: self.l2d_cascade().scratch(),
                points: vec![[0.0; 2]; nl],
                delta: vec![[0.0; 2]; nl],
                x: vec![0.0; 2 * nl],
                x3: vec![0.0; 3 * nl],
            },
            mirrored: GrayImage::default(),
            mirror_params: Params::zeros(n_id, n_exp),
            l2d: vec![0.0; 2 * nl],
            l3d: vec![0.0; 3 * nl],
            parm: Params::zeros(n_id, n_exp),
        }
    }

    /// PARM's `stages` stages from `p` (updated in place: PARM's fit), then L2d and L3d into the
    /// scratch.
    pub fn landmarks(
        &self,
        image: &GrayImage,
        face_box: &FaceBox,
        p: &mut Params,
        stages: usize,
        s: &mut ParmJointScratch,
    ) -> Result<(), FitError> {
        let predictor = self.cascade.predictor;
        let stages = stages.min(self.cascade.update.max_stages(predictor));
        s.mirror_params.clone_from(p);
        self.cascade
            .fit(image, face_box, p, stages, &mut s.fit, |_, _, _| {})?;
        s.parm.clone_from(p);
        self.view(image, face_box, p, stages, &mut s.view)?;
        s.l2d.copy_from_slice(&s.view.x);
        s.l3d.copy_from_slice(&s.view.x3);
        if !self.mirror {
            return Ok(());
        }

        // The same from the mirrored image: u ↦ (w − 1) − u, yaw and roll change sign, the
        // coefficients are kept (a face is nearly symmetric; the cold start has none).
        let wm = image.width() as f64 - 1.0;
        s.mirrored.set_mirrored(image);
        let mbox = FaceBox::new(
            wm - face_box.right,
            face_box.top,
            wm - face_box.left,
            face_box.bottom,
        );
        let pm = &mut s.mirror_params;
        pm.set_yaw(-pm.yaw());
        pm.set_roll(-pm.roll());
        pm.set_tx(wm - pm.tx());
        self.cascade
            .fit(&s.mirrored, &mbox, pm, stages, &mut s.fit, |_, _, _| {})?;
        self.view(&s.mirrored, &mbox, pm, stages, &mut s.view)?;
        let (x, x3) = (&s.view.x, &s.view.x3);
        for (i, &j) in IBUG68_MIRROR.iter().enumerate() {
            s.l2d[2 * i] = 0.5 * (s.l2d[2 * i] + wm - x[2 * j]);
            s.l2d[2 * i + 1] = 0.5 * (s.l2d[2 * i + 1] + x[2 * j + 1]);
            s.l3d[3 * i] = 0.5 * (s.l3d[3 * i] + wm - x3[3 * j]);
            s.l3d[3 * i + 1] = 0.5 * (s.l3d[3 * i + 1] + x3[3 * j + 1]);
            s.l3d[3 * i + 2] = 0.5 * (s.l3d[3 * i + 2] + x3[3 * j + 2]);
        }
        Ok(())
    }

    /// One view's L2d (ERT on from PARM's landmarks) into `s.x` and L3d into `s.x3`.
    fn view(
        &self,
        image: &GrayImage,
        face_box: &FaceBox,
        p: &Params,
        stages: usize,
        s: &mut ViewBuffers,
    ) -> Result<(), FitError> {
        let predictor = self.l2d_cascade();
        let model = self.cascade.model;
        model.project_landmarks(p, &mut s.x);
        model.landmarks_3d(p, &mut s.x3);
        for (pt, xy) in s.points.iter_mut().zip(s.x.chunks_exact(2)) {
            *pt = [xy[0], xy[1]];
        }
        let first = if self.aligner_2d.is_none() && stages < predictor.num_stages() {
            stages
        } else {
            self.ert_first_stage.min(predictor.num_stages())
        };
        for k in first..predictor.num_stages() {
            predictor.stage(k, image, face_box, &s.points, &mut s.delta, &mut s.ert)?;
            for (pt, d) in s.points.iter_mut().zip(&s.delta) {
                pt[0] += d[0];
                pt[1] += d[1];
            }
        }
        for (o, pt) in s.x.chunks_exact_mut(2).zip(&s.points) {
            o.copy_from_slice(pt);
        }
        Ok(())
    }

    /// The whole `parm+joint` fit from `p` (the cold or warm start): `p` comes back refined, with
    /// the solver's dimensions; the result is the weights at its yaw.
    pub fn fit(
        &self,
        image: &GrayImage,
        face_box: &FaceBox,
        p: &mut Params,
        stages: usize,
        s: &mut ParmJointScratch,
    ) -> Result<JointWeights, FitError> {
        self.landmarks(image, face_box, p, stages, s)?;
        // A held identity stays: the refinement then fits pose and expression to it.
        let held = s.fit.holds_identity().then_some(s.parm.id());
        s.joint.hold_identity(held);
        let weights = self
            .solver
            .refine(&s.l2d, &s.l3d, face_size(face_box), p, &mut s.joint)?;
        Ok(weights)
    }
}

/// √(w·h) of the box: the unit the refinement measures residuals in.
pub fn face_size(b: &FaceBox) -> f64 {
    ((b.right - b.left) * (b.bottom - b.top)).abs().sqrt()
}
