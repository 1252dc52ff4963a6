//! The joint 2D and 3D refinement of "Monocular 3D face reconstruction with joint 2D and 3D
//! constraints" (shared `docs/papers.md` §2): minimise Eq. 4,
//! `E = λ2d·E2d + λ3d·E3d + Ep` — the 2D landmark term (Eq. 5), the 3D landmark term with its
//! auxiliary translation `t′` (Eq. 6) and the priors weighted by `λ2d + λ3d` (Eq. 10–12) — over the
//! pose, identity and expression, with the yaw-adaptive weights of Eq. 7–9 and the coarse-to-fine
//! pose (left/right silhouette with the inner points, then invisible silhouette points replaced by
//! their 3D counterparts).
//!
//! The solve alternates, as the paper does, 4 times: identity and expression in closed form (pose
//! fixed; the objective is quadratic in them), then the pose re-estimated — by one Gauss-Newton
//! step on pose and shape together rather than on the pose alone, because scale and the
//! identity's overall size, or pitch and some shape modes, trade off, and alternating along such
//! directions crawls (on exact synthetic landmarks, 40 pose-only alternations still left 1° of
//! pitch; 4 coupled ones recover it to 0.001°).
//!
//! Two identities keep the shape solve small enough for a per-frame budget:
//! - `t′` is eliminated in closed form: the best `t′` makes both point sets share their centroid,
//!   so E3d is the same sum over centred points.
//! - `Σᵢ Bᵢᵀ Rᵀ diag(1,1,0) R Bᵢ = G − Σ_cd r_c r_d G_cd` with `r` the third row of `R` and
//!   `G_cd = Σᵢ Bᵢ[c]ᵀ Bᵢ[d]` fixed per model, so the normal matrix costs 6 matrix sums (the
//!   symmetric pairs pre-summed) instead of a pass over the 68 points. The centred 3D term's matrix does not depend on the pose at all
//!   (rotations keep lengths).
//!
//! Residuals are divided by a face size (pixels), so the prior weights do not depend on the image
//! resolution.
//!
//! While tracking with the identity locked, both solves fix the identity's unknowns at the held
//! values ([`JointScratch::hold_identity`]): the pose and expression are then the best ones for the
//! identity the tracker reports.

use nalgebra::{Matrix3, Matrix6, Vector3, Vector6};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::cholesky::{cholesky_solve, dot};
use super::visibility::LandmarkVisibility;
use crate::model::rotation::{RotationDerivatives, rotation};
use crate::model::{MorphableModel, Params};

/// ε of Eq. 7: the pose is "large" from `2|yaw|/π ≥ ε` (45°).
pub const LARGE_POSE: f64 = 0.5;
/// w of Eq. 8–9: the weight of the less trusted term.
pub const MINOR_WEIGHT: f64 = 0.5;
/// The jaw-line (silhouette) points, iBUG indices 0–16.
pub const SILHOUETTE: std::ops::Range<usize> = 0..17;
/// The left silhouette of the coarse pose (points 1–9), indices 0–8.
const LEFT: std::ops::Range<usize> = 0..9;
/// The right silhouette (points 11–17), indices 10–16.
const RIGHT: std::ops::Range<usize> = 10..17;
/// The 51 inner points (eyebrows, nose, eyes, mouth).
const INNER: std::ops::Range<usize> = 17..68;

/// λ2d and λ3d of Eq. 4.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JointWeights {
    pub lambda_2d: f64,
    pub lambda_3d: f64,
}

/// The adaptive weights of Eq. 7–9 at this yaw (radians): from 45° on (ε = 0.5) the 3D landmarks
/// lead, `λ3d = 2|yaw|/π`, `λ2d = (1 − 2|yaw|/π)·w`; below, the 2D ones, `λ2d = 1 − 2|yaw|/π`,
/// `λ3d = (2|yaw|/π)·w`; w = 0.5. Yaws beyond ±90° count as 90°.
pub fn adaptive_weights(yaw: f64) -> JointWeights {
    let y = (2.0 * yaw.abs() / std::f64::consts::PI).min(1.0);
    if y >= LARGE_POSE {
        JointWeights {
            lambda_2d: (1.0 - y) * MINOR_WEIGHT,
            lambda_3d: y,
        }
    } else {
        JointWeights {
            lambda_2d: 1.0 - y,
            lambda_3d: y * MINOR_WEIGHT,
        }
    }
}

/// Which parts of the method run: the paper's ablation (2D only, 2D+3D, 2D+3D+W, 2D+3D+P+W) is
/// these switches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JointConfig {
    /// Use the 3D landmarks (E3d); without, λ3d = 0.
    pub use_3d: bool,
    /// The adaptive weights of Eq. 7–9 (W); without, λ2d = λ3d = 1.
    pub adaptive: bool,
    /// The coarse-to-fine pose (P); without, the pose starts from the given parameters' pose.
    pub coarse_to_fine: bool,
    /// Start the shape from the given coefficients (true) or from α = β = 0. The shape solve is
    /// closed-form, so this only changes the shape the coarse pose is fitted with; on validation
    /// the two agree to 0.01 points, and PARM's fit is kept.
    pub start_from_fit: bool,
    /// λα and λβ of Eq. 10–12 (unit-variance coefficients, residuals in face sizes).
    pub prior_id: f64,
    pub prior_exp: f64,
    /// Pose / shape alternations (the paper: 4 suffice).
    pub iterations: usize,
    /// Gauss-Newton steps for each pose estimate.
    pub pose_steps: usize,
    /// Gauss-Newton steps on pose and shape together after each alternation.
    pub joint_steps: usize,
}

impl Default for JointConfig {
    /// The full method, with the settings chosen on the validation split.
    fn default() -> Self {
        Self {
            use_3d: true,
            adaptive: true,
            coarse_to_fine: true,
            start_from_fit: true,
            // Validation (parm+joint, 320 faces): 1e-4…1e-3 within 0.05 points of NME and 3D
            // error of one another, 1e-2 worse by 0.15; the middle of the plateau.
            prior_id: 3e-4,
            prior_exp: 3e-4,
            iterations: 4,
            pose_steps: 3,
            joint_steps: 1,
        }
    }
}

impl JointConfig {
    /// The weights this configuration uses at this yaw.
    pub fn weights(&self, yaw: f64) -> JointWeights {
        match (self.use_3d, self.adaptive) {
            (false, _) => JointWeights {
                lambda_2d: 1.0,
                lambda_3d: 0.0,
            },
            (true, false) => JointWeights {
                lambda_2d: 1.0,
                lambda_3d: 1.0,
            },
            (true, true) => adaptive_weights(yaw),
        }
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum JointError {
    #[error("{what} has {found} values, expected {expected}")]
    Length {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("the joint refinement diverged (a parameter became {0})")]
    Diverged(f64),
    #[error("no frames to fit one identity to")]
    NoFrames,
}

/// The silhouette the coarse pose kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Points 1–9 (indices 0–8).
    Left,
    /// Points 11–17 (indices 10–16).
    Right,
}

/// The coordinate pairs `(c, d)`, `c ≤ d`, of the pre-summed `G_cd + G_dc`.
const SYM_PAIRS: [(usize, usize); 6] = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)];

/// The model's landmark bases in the layout the solve reads, with the per-model sums of the
/// shape solve; built once per model and configuration.
#[derive(Debug, Clone)]
pub struct JointSolver {
    config: JointConfig,
    n_id: usize,
    n_exp: usize,
    n_points: usize,
    /// `m̄`, `3·n_points`.
    mean: Vec<f64>,
    /// `m̄` less its centroid.
    mean_centred: Vec<f64>,
    /// `Bᵢ`, point after point, 3 rows of `n_id + n_exp` (identity then expression).
    basis: Vec<f64>,
    /// `G_cc` and `G_cd + G_dc` (`G_cd = Σᵢ Bᵢ[c]ᵀ Bᵢ[d]`) for the pairs of [`SYM_PAIRS`], 6
    /// matrices `n × n`, row-major.
    gram_sym: Vec<f64>,
    /// `Σᵢ B̃ᵢᵀ B̃ᵢ`, the centred basis' normal matrix.
    gram_centred: Vec<f64>,
    /// `B̄`, the basis averaged over the points (3 rows of `n`).
    basis_mean: Vec<f64>,
    visibility: LandmarkVisibility,
}

/// Every buffer one refinement uses, made once and reused for every face.
#[derive(Debug, Clone)]
pub struct JointScratch {
    /// Model-space points of the current shape, and the same less their centroid.
    q: Vec<Vector3<f64>>,
    q_centred: Vec<Vector3<f64>>,
    /// The 2D targets after the invisible silhouette points are replaced.
    l2: Vec<[f64; 2]>,
    /// Which 2D targets the current pose fit reads (1 or 0).
    w2: Vec<f64>,
    /// The 3D targets, centred.
    l3: Vec<Vector3<f64>>,
    visible: Vec<bool>,
    h: Vec<f64>,
    /// The shape block of the normal matrix (lower triangle), before any factorisation.
    h_shape: Vec<f64>,
    g: Vec<f64>,
    coef: Vec<f64>,
    /// The pose-by-shape block and the whole system of [`JointSolver::joint_step`].
    hps: Vec<f64>,
    h_full: Vec<f64>,
    g_full: Vec<f64>,
    /// The identity held (tracking with the identity locked): the refinement then solves pose
    /// and expression only.
    held_id: Vec<f64>,
    hold: bool,
}

impl JointScratch {
    /// Holds the identity at `id` in the refinements that follow (the solver's `n_id` values
    /// are read), or lets them solve it again with `None`. Allocates nothing.
    pub fn hold_identity(&mut self, id: Option<&[f64]>) {
        self.hold = id.is_some_and(|id| id.len() >= self.held_id.len());
        if let (true, Some(id)) = (self.hold, id) {
            let n = self.held_id.len();
            self.held_id.copy_from_slice(&id[..n]);
        }
    }

    /// The 2D landmarks the last refinement fitted: the input, with the invisible silhouette
    /// points replaced by the 3D landmarks' `(u, v)` when the coarse-to-fine pose runs.
    pub fn targets_2d(&self) -> &[[f64; 2]] {
        &self.l2
    }

    /// The normal matrix (lower triangle) and right-hand side [`JointSolver::shape_system`] made.
    pub(super) fn shape_equations(&self) -> (&[f64], &[f64]) {
        (&self.h, &self.g)
    }
}

impl JointSolver {
    /// Fits `n_id` identity and `n_exp` expression coefficients (at most the model's).
    pub fn new(model: &MorphableModel, n_id: usize, n_exp: usize, config: JointConfig) -> Self {
        let n_id = n_id.min(model.n_id());
        let n_exp = n_exp.min(model.n_exp());
        let shape = model.landmarks();
        let np = shape.n_points();
        let n = n_id + n_exp;
        let mean: Vec<f64> = shape.mean().iter().map(|&v| f64::from(v)).collect();
        let mut centroid = [0.0; 3];
        for (k, v) in mean.iter().enumerate() {
            centroid[k % 3] += v / np as f64;
        }
        let mean_centred = mean
            .iter()
            .enumerate()
            .map(|(k, v)| v - centroid[k % 3])
            .collect();
        let mut basis = vec![0.0; 3 * np * n];
        for k in 0..3 * np {
            let row = &mut basis[k * n..(k + 1) * n];
            for (o, &b) in row[..n_id].iter_mut().zip(shape.identity_row(k)) {
                *o = f64::from(b);
            }
            for (o, &b) in row[n_id..].iter_mut().zip(shape.expression_row(k)) {
                *o = f64::from(b);
            }
        }
        let mut gram_cd = vec![0.0; 9 * n * n];
        let mut basis_mean = vec![0.0; 3 * n];
        for i in 0..np {
            for c in 0..3 {
                let bc = &basis[(3 * i + c) * n..(3 * i + c + 1) * n];
                for (m, b) in basis_mean[c * n..(c + 1) * n].iter_mut().zip(bc) {
                    *m += b / np as f64;
                }
                for d in 0..3 {
                    let bd = &basis[(3 * i + d) * n..(3 * i + d + 1) * n];
                    let g = &mut gram_cd[(3 * c + d) * n * n..(3 * c + d + 1) * n * n];
                    for j in 0..n {
                        for k in 0..n {
                            g[j * n + k] += bc[j] * bd[k];
                        }
                    }
                }
            }
        }
        // Σᵢ B̃ᵢᵀB̃ᵢ = Σᵢ BᵢᵀBᵢ − N·B̄ᵀB̄.
        let mut gram_centred = vec![0.0; n * n];
        for c in 0..3 {
            let g = &gram_cd[(4 * c) * n * n..(4 * c + 1) * n * n];
            let bm = &basis_mean[c * n..(c + 1) * n];
            for j in 0..n {
                for k in 0..n {
                    gram_centred[j * n + k] += g[j * n + k] - np as f64 * bm[j] * bm[k];
                }
            }
        }
        let mut gram_sym = vec![0.0; 6 * n * n];
        for (m, &(c, d)) in SYM_PAIRS.iter().enumerate() {
            let gs = &mut gram_sym[m * n * n..(m + 1) * n * n];
            let gcd = &gram_cd[(3 * c + d) * n * n..(3 * c + d + 1) * n * n];
            let gdc = &gram_cd[(3 * d + c) * n * n..(3 * d + c + 1) * n * n];
            for (k, v) in gs.iter_mut().enumerate() {
                *v = if c == d { gcd[k] } else { gcd[k] + gdc[k] };
            }
        }
        Self {
            config,
            n_id,
            n_exp,
            n_points: np,
            mean,
            mean_centred,
            basis,
            gram_sym,
            gram_centred,
            basis_mean,
            visibility: LandmarkVisibility::new(model),
        }
    }

    pub fn config(&self) -> &JointConfig {
        &self.config
    }

    pub fn n_id(&self) -> usize {
        self.n_id
    }

    pub fn n_exp(&self) -> usize {
        self.n_exp
    }

    /// The landmarks the solver fits.
    pub fn n_points(&self) -> usize {
        self.n_points
    }

    pub fn scratch(&self) -> JointScratch {
        let np = self.n_points;
        let n = self.n_id + self.n_exp;
        JointScratch {
            q: vec![Vector3::zeros(); np],
            q_centred: vec![Vector3::zeros(); np],
            l2: vec![[0.0; 2]; np],
            w2: vec![1.0; np],
            l3: vec![Vector3::zeros(); np],
            visible: vec![true; np],
            h: vec![0.0; n * n],
            h_shape: vec![0.0; n * n],
            g: vec![0.0; n],
            coef: vec![0.0; n],
            hps: vec![0.0; 6 * n],
            h_full: vec![0.0; (6 + n) * (6 + n)],
            g_full: vec![0.0; 6 + n],
            held_id: vec![0.0; self.n_id],
            hold: false,
        }
    }

    /// Refines `p` (its pose is the starting pose; its coefficients the starting shape when
    /// [`JointConfig::start_from_fit`]) against the 2D landmarks `l2d` (`[u0, v0, …]`, pixels) and
    /// the 3D landmarks `l3d` (`[u0, v0, z0, …]`, image scale, any translation), residuals measured
    /// in units of `face_size` pixels. `p` comes back with this solver's dimensions; the result is
    /// the weights of Eq. 7–9 at the refined yaw (those the configuration uses).
    pub fn refine(
        &self,
        l2d: &[f64],
        l3d: &[f64],
        face_size: f64,
        p: &mut Params,
        s: &mut JointScratch,
    ) -> Result<JointWeights, JointError> {
        let np = self.n_points;
        check("2D landmarks", l2d.len(), 2 * np)?;
        check("3D landmarks", l3d.len(), 3 * np)?;
        if p.n_id() != self.n_id || p.n_exp() != self.n_exp {
            *p = p.with_dims(self.n_id, self.n_exp);
        }
        if !self.config.start_from_fit {
            p.id_mut().fill(0.0);
            p.exp_mut().fill(0.0);
        }
        if s.hold {
            p.id_mut().copy_from_slice(&s.held_id);
        }
        let inv_size2 = 1.0 / (face_size * face_size).max(f64::MIN_POSITIVE);
        for (t, uv) in s.l2.iter_mut().zip(l2d.chunks_exact(2)) {
            *t = [uv[0], uv[1]];
        }
        let mut centroid = Vector3::zeros();
        for (t, uvz) in s.l3.iter_mut().zip(l3d.chunks_exact(3)) {
            // Image (u, v down, z) back to the model's axes (y up): E3d compares them after R.
            *t = Vector3::new(uvz[0], -uvz[1], uvz[2]);
            centroid += *t;
        }
        centroid /= np as f64;
        for t in s.l3.iter_mut() {
            *t -= centroid;
        }
        self.set_shape(p, s);

        if self.config.coarse_to_fine {
            self.coarse_pose(p, s, inv_size2);
            // Refined pose: the silhouette points the mean face hides at the coarse pose are
            // where dlib puts the visible outline, not the jaw itself; their 3D counterparts
            // (projected) are.
            self.visibility
                .visible(p.pitch(), p.yaw(), p.roll(), &mut s.visible);
            // The 3D landmarks may sit anywhere (t′ of Eq. 6): bring their (u, v) onto the 2D
            // landmarks' frame by the mean offset over the inner points first.
            let mut off = [0.0; 2];
            for i in INNER {
                off[0] += (l3d[3 * i] - l2d[2 * i]) / INNER.len() as f64;
                off[1] += (l3d[3 * i + 1] - l2d[2 * i + 1]) / INNER.len() as f64;
            }
            for i in SILHOUETTE {
                if !s.visible[i] {
                    s.l2[i] = [l3d[3 * i] - off[0], l3d[3 * i + 1] - off[1]];
                }
            }
            s.w2.fill(1.0);
            self.pose_fit(
                p,
                s,
                JointWeights {
                    lambda_2d: 1.0,
                    lambda_3d: 0.0,
                },
                inv_size2,
            );
        }
        s.w2.fill(1.0);
        if !self.config.coarse_to_fine {
            self.pose_fit(p, s, self.config.weights(p.yaw()), inv_size2);
        }
        self.alternate(p, s, None, inv_size2);
        if let Some(bad) = p.as_slice().iter().find(|v| !v.is_finite()) {
            return Err(JointError::Diverged(*bad));
        }
        Ok(self.config.weights(p.yaw()))
    }

    /// The coarse pose: a 2D pose fit on the left silhouette with the inner points, one on the
    /// right silhouette with them, and the one with the larger |yaw| kept (the side the head
    /// turns away from shows its true outline). `p`'s pose is the start of both and takes the
    /// result; the shape is the scratch's current one.
    pub fn coarse_pose_of(
        &self,
        l2d: &[f64],
        face_size: f64,
        p: &mut Params,
        s: &mut JointScratch,
    ) -> Result<Side, JointError> {
        check("2D landmarks", l2d.len(), 2 * self.n_points)?;
        if p.n_id() != self.n_id || p.n_exp() != self.n_exp {
            *p = p.with_dims(self.n_id, self.n_exp);
        }
        for (t, uv) in s.l2.iter_mut().zip(l2d.chunks_exact(2)) {
            *t = [uv[0], uv[1]];
        }
        self.set_shape(p, s);
        Ok(self.coarse_pose(p, s, 1.0 / (face_size * face_size)))
    }

    fn coarse_pose(&self, p: &mut Params, s: &mut JointScratch, inv_size2: f64) -> Side {
        let start: [f64; 6] = p.pose().try_into().unwrap_or([0.0; 6]);
        let only_2d = JointWeights {
            lambda_2d: 1.0,
            lambda_3d: 0.0,
        };
        let mut fit_side = |range: std::ops::Range<usize>, p: &mut Params| {
            p.as_mut_slice()[..6].copy_from_slice(&start);
            s.w2.fill(0.0);
            s.w2[range].fill(1.0);
            s.w2[INNER].fill(1.0);
            self.pose_fit(p, s, only_2d, inv_size2);
            let pose: [f64; 6] = p.pose().try_into().unwrap_or(start);
            pose
        };
        let left = fit_side(LEFT, p);
        let right = fit_side(RIGHT, p);
        let (side, pose) = if left[Params::YAW].abs() >= right[Params::YAW].abs() {
            (Side::Left, left)
        } else {
            (Side::Right, right)
        };
        p.as_mut_slice()[..6].copy_from_slice(&pose);
        s.w2.fill(1.0);
        side
    }

    /// The current shape's model-space points, plain and centred.
    fn set_shape(&self, p: &Params, s: &mut JointScratch) {
        let n = self.n_id + self.n_exp;
        for (k, c) in s.coef.iter_mut().enumerate() {
            *c = if k < self.n_id {
                p.id()[k]
            } else {
                p.exp()[k - self.n_id]
            };
        }
        let mut centroid = Vector3::zeros();
        for i in 0..self.n_points {
            let mut q = Vector3::zeros();
            for c in 0..3 {
                let k = 3 * i + c;
                let row = &self.basis[k * n..(k + 1) * n];
                q[c] = self.mean[k] + dot(row, &s.coef);
            }
            s.q[i] = q;
            centroid += q;
        }
        centroid /= self.n_points as f64;
        for (qc, q) in s.q_centred.iter_mut().zip(&s.q) {
            *qc = q - centroid;
        }
    }

    /// Gauss-Newton on the six pose values with the shape fixed: the 2D points `w2` selects
    /// (weight λ2d) and the centred 3D points (weight λ3d, which has no translation).
    fn pose_fit(&self, p: &mut Params, s: &JointScratch, w: JointWeights, inv_size2: f64) {
        let (w2d, w3d) = (w.lambda_2d * inv_size2, w.lambda_3d * inv_size2);
        for _ in 0..self.config.pose_steps {
            let rd = RotationDerivatives::new(p.pitch(), p.yaw(), p.roll());
            let sc = p.s();
            let mut jtj = Matrix6::<f64>::zeros();
            let mut jtr = Vector6::<f64>::zeros();
            let ds = [rd.d_pitch, rd.d_yaw, rd.d_roll];
            if w2d > 0.0 {
                for i in 0..self.n_points {
                    let wi = s.w2[i] * w2d;
                    if wi == 0.0 {
                        continue;
                    }
                    let (ju, jv, r) = pose_rows_2d(&rd, &ds, p, s.q[i], s.l2[i]);
                    jtj += wi * (ju * ju.transpose() + jv * jv.transpose());
                    jtr += wi * (ju * r[0] + jv * r[1]);
                }
            }
            if w3d > 0.0 {
                for i in 0..self.n_points {
                    let q = s.q_centred[i];
                    let rq = rd.r * q;
                    let r = sc * rq - s.l3[i];
                    let mut j = [Vector6::zeros(); 3];
                    let dq: [Vector3<f64>; 3] = [ds[0] * q, ds[1] * q, ds[2] * q];
                    for c in 0..3 {
                        j[c][0] = rq[c];
                        for a in 0..3 {
                            j[c][1 + a] = sc * dq[a][c];
                        }
                        jtj += w3d * (j[c] * j[c].transpose());
                        jtr += w3d * (j[c] * r[c]);
                    }
                }
            }
            // A touch of damping keeps the step defined when a term has too few points (the
            // translation is free with the 3D term alone).
            for k in 0..6 {
                jtj[(k, k)] += 1e-9 * jtj[(k, k)].max(1e-12) + 1e-12;
            }
            let Some(chol) = jtj.cholesky() else {
                return;
            };
            let step = chol.solve(&jtr);
            for (v, d) in p.as_mut_slice()[..6].iter_mut().zip(step.iter()) {
                *v -= d;
            }
        }
    }

    /// The shape block of the normal matrix at rotation `r` and scale `sc`:
    /// `λ2d·s²·(G − Σ_cd r_c r_d G_cd) + λ3d·s²·G̃ + (λ2d + λ3d)·diag(λα, λβ)`.
    fn shape_normal(
        &self,
        r: &Matrix3<f64>,
        sc: f64,
        w: JointWeights,
        inv_size2: f64,
        h: &mut [f64],
    ) {
        let n = self.n_id + self.n_exp;
        let (w2d, w3d) = (w.lambda_2d * inv_size2, w.lambda_3d * inv_size2);
        let r3 = r.row(2);
        let (a2, a3) = (w2d * sc * sc, w3d * sc * sc);
        // (c, d) and (d, c) share a coefficient, so the pairs are pre-summed (`gram_sym`), and
        // only the lower triangle is filled: it is all the Cholesky solve reads.
        let coefs = SYM_PAIRS.map(|(c, d)| {
            a2 * if c == d {
                1.0 - r3[c] * r3[c]
            } else {
                -r3[c] * r3[d]
            }
        });
        for j in 0..n {
            let row = j * n..j * n + j + 1;
            let g: [&[f64]; 6] =
                std::array::from_fn(|m| &self.gram_sym[m * n * n + row.start..m * n * n + row.end]);
            let gc = &self.gram_centred[row.clone()];
            for (k, hv) in h[row].iter_mut().enumerate() {
                *hv = a3 * gc[k]
                    + coefs[0] * g[0][k]
                    + coefs[1] * g[1][k]
                    + coefs[2] * g[2][k]
                    + coefs[3] * g[3][k]
                    + coefs[4] * g[4][k]
                    + coefs[5] * g[5][k];
            }
        }
        for k in 0..n {
            h[k * n + k] += self.shape_prior(w, k);
        }
    }

    /// One Gauss-Newton step on pose and shape together. Alternating the two converges slowly
    /// where they trade off (scale against the identity's overall size, pitch against the jaw and
    /// brow modes); the coupled step moves along those directions at once.
    fn joint_step(
        &self,
        p: &mut Params,
        s: &mut JointScratch,
        w: JointWeights,
        inv_size2: f64,
        fresh_shape_normal: bool,
    ) {
        let n = self.n_id + self.n_exp;
        let nf = Params::N_POSE + n;
        let rd = RotationDerivatives::new(p.pitch(), p.yaw(), p.roll());
        let sc = p.s();
        let (w2d, w3d) = (w.lambda_2d * inv_size2, w.lambda_3d * inv_size2);
        // The shape block at this pose; the shape solve just made it unless the pose moved since.
        if !fresh_shape_normal {
            self.shape_normal(&rd.r, sc, w, inv_size2, &mut s.h_shape);
        }
        let ds = [rd.d_pitch, rd.d_yaw, rd.d_roll];
        let a2 = Matrix3::new(
            sc * rd.r[(0, 0)],
            sc * rd.r[(0, 1)],
            sc * rd.r[(0, 2)],
            -sc * rd.r[(1, 0)],
            -sc * rd.r[(1, 1)],
            -sc * rd.r[(1, 2)],
            0.0,
            0.0,
            0.0,
        );
        let a3 = sc * rd.r;
        let mut hpp = Matrix6::<f64>::zeros();
        let mut gp = Vector6::<f64>::zeros();
        s.hps.fill(0.0);
        s.g.fill(0.0);
        // Σ of the 3D terms' pose-by-point blocks, for the centred basis' mean.
        let mut m3_sum = nalgebra::Matrix6x3::<f64>::zeros();
        for i in 0..self.n_points {
            // Pose Jacobian rows (u, v, then x, y, z of the 3D point) and residuals.
            let mut m_i = nalgebra::Matrix6x3::<f64>::zeros();
            let mut v = Vector3::zeros();
            let w2 = w2d * s.w2[i];
            if w2 > 0.0 {
                let (ju, jv, res) = pose_rows_2d(&rd, &ds, p, s.q[i], s.l2[i]);
                hpp += w2 * (ju * ju.transpose() + jv * jv.transpose());
                gp += w2 * (ju * res[0] + jv * res[1]);
                // Shape rows: u = a2.row(0)·Bᵢ, v = a2.row(1)·Bᵢ.
                m_i += w2 * (ju * a2.row(0) + jv * a2.row(1));
                v += w2 * (a2.row(0).transpose() * res[0] + a2.row(1).transpose() * res[1]);
            }
            if w3d > 0.0 {
                let q = s.q_centred[i];
                let rq = rd.r * q;
                let res = sc * rq - s.l3[i];
                let dq: [Vector3<f64>; 3] = [ds[0] * q, ds[1] * q, ds[2] * q];
                let mut m3 = nalgebra::Matrix6x3::<f64>::zeros();
                for c in 0..3 {
                    let mut j = Vector6::zeros();
                    j[0] = rq[c];
                    for a in 0..3 {
                        j[1 + a] = sc * dq[a][c];
                    }
                    hpp += w3d * (j * j.transpose());
                    gp += w3d * (j * res[c]);
                    m3 += j * a3.row(c);
                }
                m3 *= w3d;
                m_i += m3;
                m3_sum += m3;
                v += w3d * (a3.transpose() * res);
            }
            for c in 0..3 {
                let row = &self.basis[(3 * i + c) * n..(3 * i + c + 1) * n];
                for (gv, b) in s.g.iter_mut().zip(row) {
                    *gv += b * v[c];
                }
                for a in 0..6 {
                    let m = m_i[(a, c)];
                    if m != 0.0 {
                        for (h, b) in s.hps[a * n..(a + 1) * n].iter_mut().zip(row) {
                            *h += m * b;
                        }
                    }
                }
            }
        }
        // The 3D rows use the centred basis Bᵢ − B̄.
        for c in 0..3 {
            let bm = &self.basis_mean[c * n..(c + 1) * n];
            for a in 0..6 {
                let m = m3_sum[(a, c)];
                for (h, b) in s.hps[a * n..(a + 1) * n].iter_mut().zip(bm) {
                    *h -= m * b;
                }
            }
        }
        for (k, gv) in s.g.iter_mut().enumerate() {
            *gv += self.shape_prior(w, k) * s.coef[k];
        }
        // Assemble [[Hpp, Hps], [Hspᵀ, Hss]] and −g.
        let hf = &mut s.h_full;
        for a in 0..6 {
            for b in 0..6 {
                hf[a * nf + b] = hpp[(a, b)];
            }
            for k in 0..n {
                hf[a * nf + 6 + k] = s.hps[a * n + k];
                hf[(6 + k) * nf + a] = s.hps[a * n + k];
            }
            s.g_full[a] = -gp[a];
        }
        for j in 0..n {
            hf[(6 + j) * nf + 6..(6 + j) * nf + 7 + j]
                .copy_from_slice(&s.h_shape[j * n..j * n + j + 1]);
            s.g_full[6 + j] = -s.g[j];
        }
        for k in 0..nf {
            hf[k * nf + k] += 1e-9 * hf[k * nf + k].abs() + 1e-12;
        }
        if s.hold {
            // The identity is where it is held: its steps are 0.
            fix_unknowns(hf, &mut s.g_full, nf, 6..6 + self.n_id, &[0.0; 0]);
        }
        if !cholesky_solve(hf, &mut s.g_full, nf) {
            return;
        }
        for (v, d) in p.as_mut_slice().iter_mut().zip(&s.g_full) {
            *v += d;
        }
    }

    /// Identity and expression in closed form with the pose fixed (Eq. 4 is quadratic in them once
    /// `t′` is eliminated).
    fn shape_solve(&self, p: &mut Params, s: &mut JointScratch, w: JointWeights, inv_size2: f64) {
        let n = self.n_id + self.n_exp;
        self.shape_system(p, s, w, inv_size2);
        if s.hold {
            fix_unknowns(&mut s.h, &mut s.g, n, 0..self.n_id, &s.held_id);
        }
        if !cholesky_solve(&mut s.h, &mut s.g, n) {
            return;
        }
        let (id, exp) = s.g.split_at(self.n_id);
        p.id_mut().copy_from_slice(id);
        p.exp_mut().copy_from_slice(exp);
    }

    /// The normal equations of the shape solve at `p`'s pose: the matrix (lower triangle, with
    /// the priors) into the scratch's `h` (and `h_shape`), the right-hand side into its `g`.
    pub(super) fn shape_system(
        &self,
        p: &Params,
        s: &mut JointScratch,
        w: JointWeights,
        inv_size2: f64,
    ) {
        let n = self.n_id + self.n_exp;
        let r = rotation(p.pitch(), p.yaw(), p.roll());
        let sc = p.s();
        let (w2d, w3d) = (w.lambda_2d * inv_size2, w.lambda_3d * inv_size2);
        self.shape_normal(&r, sc, w, inv_size2, &mut s.h_shape);
        s.h.copy_from_slice(&s.h_shape);
        // Right-hand side: Σᵢ Bᵢᵀ Rᵀ (λ2d·flip(2D residual of the mean) + λ3d·(3D residual of the
        // centred mean)); the centred basis is not needed because the 3D residuals sum to zero.
        s.g.fill(0.0);
        let rt: Matrix3<f64> = r.transpose();
        let t = [p.tx(), p.ty()];
        for i in 0..self.n_points {
            let m = Vector3::new(self.mean[3 * i], self.mean[3 * i + 1], self.mean[3 * i + 2]);
            let mc = Vector3::new(
                self.mean_centred[3 * i],
                self.mean_centred[3 * i + 1],
                self.mean_centred[3 * i + 2],
            );
            let mut v = Vector3::zeros();
            if w2d > 0.0 {
                let rm = r * m;
                let eu = s.l2[i][0] - t[0] - sc * rm.x;
                let ev = s.l2[i][1] - t[1] + sc * rm.y;
                v += w2d * sc * (rt * Vector3::new(eu, -ev, 0.0));
            }
            if w3d > 0.0 {
                let e = s.l3[i] - sc * (r * mc);
                v += w3d * sc * (rt * e);
            }
            for c in 0..3 {
                let row = &self.basis[(3 * i + c) * n..(3 * i + c + 1) * n];
                for (gv, b) in s.g.iter_mut().zip(row) {
                    *gv += b * v[c];
                }
            }
        }
    }

    /// The prior's weight on each unknown of the shape solve at these weights (identity first).
    pub(super) fn shape_prior(&self, w: JointWeights, k: usize) -> f64 {
        (w.lambda_2d + w.lambda_3d)
            * if k < self.n_id {
                self.config.prior_id
            } else {
                self.config.prior_exp
            }
    }

    /// Sets the scratch's 2D targets to those of a view kept from an earlier refinement (the
    /// silhouette already replaced); the 3D targets are left as they are.
    pub(super) fn load_targets(&self, l2: &[[f64; 2]], s: &mut JointScratch) {
        s.l2.copy_from_slice(l2);
        s.w2.fill(1.0);
    }

    /// The refinement's alternations alone, from `p` against the loaded targets, the identity
    /// held at `p`'s: pose and expression fitted to it.
    pub(super) fn refit_to_identity(
        &self,
        p: &mut Params,
        s: &mut JointScratch,
        w: JointWeights,
        inv_size2: f64,
    ) {
        let hold = s.hold;
        s.hold = true;
        s.held_id.copy_from_slice(&p.id()[..self.n_id]);
        self.set_shape(p, s);
        self.alternate(p, s, Some(w), inv_size2);
        s.hold = hold;
    }

    /// The refinement's alternations: the shape for the current pose in closed form, then the
    /// pose re-estimated for that shape — by a Gauss-Newton step on pose and shape together,
    /// which also corrects the shape along the directions the two trade off. At the weights `w`,
    /// or (`None`) those of Eq. 7–9 at each alternation's yaw.
    fn alternate(
        &self,
        p: &mut Params,
        s: &mut JointScratch,
        w: Option<JointWeights>,
        inv_size2: f64,
    ) {
        for _ in 0..self.config.iterations {
            let weights = w.unwrap_or_else(|| self.config.weights(p.yaw()));
            self.shape_solve(p, s, weights, inv_size2);
            self.set_shape(p, s);
            for k in 0..self.config.joint_steps {
                self.joint_step(p, s, weights, inv_size2, k == 0);
                self.set_shape(p, s);
            }
        }
    }
}

/// Fixes the unknowns `fixed` of the symmetric system `h x = g` (`n × n`, lower triangle read) at
/// `values` (0 where `values` is empty): their columns move to the right-hand side and their rows
/// become `x_k = value`, so the solve gives the others' best values with these held.
fn fix_unknowns(
    h: &mut [f64],
    g: &mut [f64],
    n: usize,
    fixed: std::ops::Range<usize>,
    values: &[f64],
) {
    let value = |k: usize| values.get(k - fixed.start).copied().unwrap_or(0.0);
    for j in fixed.end..n {
        for k in fixed.clone() {
            g[j] -= h[j * n + k] * value(k);
            h[j * n + k] = 0.0;
        }
    }
    for k in fixed.clone() {
        h[k * n..k * n + k].fill(0.0);
        h[k * n + k] = 1.0;
        g[k] = value(k);
    }
}

fn check(what: &'static str, found: usize, expected: usize) -> Result<(), JointError> {
    if found == expected {
        Ok(())
    } else {
        Err(JointError::Length {
            what,
            expected,
            found,
        })
    }
}

/// One point's Eq. 5 residual `l2d,i − L2d,i` and its rows of the pose Jacobian
/// (∂u, ∂v by s, pitch, yaw, roll, tx, ty); `ds` are `∂R` by the three angles.
fn pose_rows_2d(
    rd: &RotationDerivatives,
    ds: &[Matrix3<f64>; 3],
    p: &Params,
    q: Vector3<f64>,
    target: [f64; 2],
) -> (Vector6<f64>, Vector6<f64>, [f64; 2]) {
    let sc = p.s();
    let rq = rd.r * q;
    let res = [
        sc * rq.x + p.tx() - target[0],
        -sc * rq.y + p.ty() - target[1],
    ];
    let mut ju = Vector6::zeros();
    let mut jv = Vector6::zeros();
    ju[0] = rq.x;
    jv[0] = -rq.y;
    for (a, d) in ds.iter().enumerate() {
        let dq = d * q;
        ju[1 + a] = sc * dq.x;
        jv[1 + a] = -sc * dq.y;
    }
    ju[4] = 1.0;
    jv[5] = 1.0;
    (ju, jv, res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_follow_eq_7_to_9_at_the_45_degree_boundary() {
        let deg = |d: f64| d.to_radians();
        // At 45° exactly, 2|yaw|/π = ε: the large-pose branch.
        let w = adaptive_weights(deg(45.0));
        assert!((w.lambda_3d - 0.5).abs() < 1e-12, "{w:?}");
        assert!((w.lambda_2d - 0.25).abs() < 1e-12, "{w:?}");
        let w = adaptive_weights(-deg(45.0));
        assert!((w.lambda_3d - 0.5).abs() < 1e-12 && (w.lambda_2d - 0.25).abs() < 1e-12);
        // Just below: the small-pose branch, λ2d ≈ 0.5, λ3d ≈ 0.25.
        let w = adaptive_weights(deg(45.0) - 1e-9);
        assert!((w.lambda_2d - 0.5).abs() < 1e-8 && (w.lambda_3d - 0.25).abs() < 1e-8);
        let w = adaptive_weights(0.0);
        assert_eq!((w.lambda_2d, w.lambda_3d), (1.0, 0.0));
        let w = adaptive_weights(deg(90.0));
        assert!((w.lambda_3d - 1.0).abs() < 1e-12 && w.lambda_2d.abs() < 1e-12);
    }
}

#[cfg(test)]
mod solve_tests {
    use super::*;

    fn model() -> MorphableModel {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/face_model.bin");
        MorphableModel::from_bytes(&std::fs::read(path).unwrap()).unwrap()
    }

    /// A face with 40 identity and 10 expression coefficients at `yaw`, and its 2D and 3D
    /// landmarks.
    fn truth_and_landmarks(m: &MorphableModel, yaw: f64) -> (Params, Vec<f64>, Vec<f64>) {
        let mut t = Params::zeros(40, 10);
        t.as_mut_slice()[..6].copy_from_slice(&[0.0015, 0.1, yaw, -0.05, 320.0, 240.0]);
        for (k, v) in t.as_mut_slice()[6..].iter_mut().enumerate() {
            *v = ((k * 37 % 11) as f64 - 5.0) / 5.0;
        }
        let (mut l2, mut l3) = (vec![0.0; 136], vec![0.0; 204]);
        m.project_landmarks(&t, &mut l2);
        m.landmarks_3d(&t, &mut l3);
        (t, l2, l3)
    }

    #[test]
    fn shape_solve_is_exact_at_the_true_pose() {
        let m = model();
        let config = JointConfig {
            prior_id: 1e-9,
            prior_exp: 1e-9,
            ..JointConfig::default()
        };
        let solver = JointSolver::new(&m, 40, 10, config);
        let mut s = solver.scratch();
        let (t, l2, l3) = truth_and_landmarks(&m, 0.6);
        for (tg, uv) in s.l2.iter_mut().zip(l2.chunks_exact(2)) {
            *tg = [uv[0], uv[1]];
        }
        let mut c = Vector3::zeros();
        for (tg, uvz) in s.l3.iter_mut().zip(l3.chunks_exact(3)) {
            *tg = Vector3::new(uvz[0], -uvz[1], uvz[2]);
            c += *tg;
        }
        for tg in s.l3.iter_mut() {
            *tg -= c / 68.0;
        }
        let mut p = t.clone();
        p.as_mut_slice()[6..].fill(0.0);
        for (a, b) in [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
            let w = JointWeights {
                lambda_2d: a,
                lambda_3d: b,
            };
            solver.shape_solve(&mut p, &mut s, w, 1e-4);
            let err: f64 = p.as_slice()[6..]
                .iter()
                .zip(&t.as_slice()[6..])
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            // The f32 basis and the tiny prior leave ~1e-4.
            assert!(err < 1e-3, "weights {a} {b}: {err}");
        }
    }

    #[test]
    fn a_held_identity_stays_and_pose_and_expression_are_fitted_to_it() {
        let m = model();
        let solver = JointSolver::new(&m, 40, 10, JointConfig::default());
        let mut s = solver.scratch();
        let (t, l2, l3) = truth_and_landmarks(&m, 0.3);
        let start = |t: &Params| {
            let mut p = t.clone();
            p.set_yaw(t.yaw() + 0.1);
            p.set_tx(t.tx() + 3.0);
            p.exp_mut().fill(0.0);
            p
        };
        let error = |p: &Params| {
            let mut x = vec![0.0; 136];
            m.project_landmarks(p, &mut x);
            x.iter().zip(&l2).map(|(a, b)| (a - b).abs()).sum::<f64>() / 136.0
        };

        // Held at the truth's identity: the identity is kept bit for bit, and the pose and
        // expression come back.
        let mut p = start(&t);
        s.hold_identity(Some(t.id()));
        solver.refine(&l2, &l3, 200.0, &mut p, &mut s).unwrap();
        assert_eq!(p.id(), t.id());
        assert!(
            (p.yaw() - t.yaw()).abs() < 0.01,
            "yaw {} for {}",
            p.yaw(),
            t.yaw()
        );
        assert!(error(&p) < 0.1 * error(&start(&t)), "{}", error(&p));

        // Held at another identity (the mean face): it stays there, where a free solve moves it.
        let mut mean_start = start(&t);
        mean_start.id_mut().fill(0.0);
        let mut free = mean_start.clone();
        s.hold_identity(None);
        solver.refine(&l2, &l3, 200.0, &mut free, &mut s).unwrap();
        assert!(free.id().iter().any(|&v| v.abs() > 0.1), "{:?}", free.id());
        let mut held = mean_start.clone();
        s.hold_identity(Some(&[0.0; 40]));
        solver.refine(&l2, &l3, 200.0, &mut held, &mut s).unwrap();
        assert!(held.id().iter().all(|&v| v == 0.0));
        assert!(error(&held) < error(&mean_start));
    }
}
