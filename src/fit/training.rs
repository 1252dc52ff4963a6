//! Training PRM and PARM (PARM paper §3.3, §4.2): stage by stage, as SDM trains — run the cascade
//! learnt so far over many starts, record at stage k the landmark update Δxᵏ (M1 evaluated at the
//! model's landmarks) and the parameter error p* − pᵏ, fit the stage's linear regressor by ridge
//! regression with its weight chosen on held-out faces, apply it, and go on to stage k + 1.
//!
//! Starts: the cold start in jittered boxes (as after detection) and perturbed ground truth (as
//! when tracking from the previous frame).

use nalgebra::DMatrix;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::box_frame::{BoxFrame, ColdStart, model_face_size};
use super::cascade::{Cascade, ParamUpdate};
use super::regressor::{AffineMap, RegressorCascade, RegressorKind, RegressorRole};
use super::ridge::RidgeProblem;
use super::training_set::FaceSample;
use crate::align::{FaceBox, ShapePredictor};
use crate::fit::warm_start::box_around;
use crate::model::{MorphableModel, Params};

/// |yaw| (radians, 45°) from which a training face counts as turned far round.
pub const LARGE_YAW: f64 = std::f64::consts::FRAC_PI_4;

#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub kind: RegressorKind,
    pub n_id: usize,
    pub n_exp: usize,
    pub stages: usize,
    /// Cold starts per training face, each in a jittered box.
    pub cold_starts: usize,
    /// Perturbed ground-truth starts per training face.
    pub warm_starts: usize,
    pub hide_invisible: bool,
    /// Starts for faces turned beyond [`LARGE_YAW`], as a multiple of a face's: with one linear
    /// map for every pose (and still, by pose, below 30°) and a face in seven that far round, the
    /// frontal faces set it.
    pub large_yaw_weight: usize,
    /// Train PARM with its landmark term gated by the yaw ([`super::parm_by_pose`]).
    pub by_pose: bool,
    /// The identity the warm starts hold; no stage is asked to correct it.
    pub warm_identity: WarmIdentity,
    /// Ridge weights tried at each stage (relative to the sample count).
    pub lambdas: Vec<f64>,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            kind: RegressorKind::Parm,
            n_id: 40,
            n_exp: 10,
            stages: 15,
            cold_starts: 3,
            warm_starts: 3,
            hide_invisible: true,
            large_yaw_weight: 1,
            by_pose: false,
            warm_identity: WarmIdentity::Truth,
            lambdas: vec![1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
            seed: 7,
        }
    }
}

impl TrainConfig {
    /// The kind of cascade this trains: PARM by pose when asked for and PARM is trained.
    pub fn cascade_kind(&self) -> RegressorKind {
        if self.by_pose && self.kind.is_parm() {
            RegressorKind::ParmByPose
        } else {
            self.kind
        }
    }
}

/// The identity a tracking cascade's warm starts hold. A tracker holds its track's identity — its
/// first fit's, or the one the identity lock holds — never the truth's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WarmIdentity {
    /// The face's own.
    Truth,
    /// The truth's shrunk towards the mean face by a uniform factor in 0…1, plus this many σ of
    /// noise a coefficient.
    Shrunk(f64),
    /// Near the mean face, this many σ a coefficient and nothing of the face's own: what the
    /// identity lock holds, whose 2D fit keeps little of the identity's 40 coefficients (norm
    /// 1–2 on the shared clips, where a face's own is about 6).
    NearMean(f64),
}

/// How far a warm start is from the truth: a typical frame-to-frame motion, a little larger than
/// the 3° / 2 % / 0.1 σ so that the regressors see the whole range.
#[derive(Debug, Clone, Copy)]
pub struct Perturbation {
    pub rotation_deg: f64,
    pub translation: f64,
    pub scale: f64,
    pub expression: f64,
}

pub const WARM_PERTURBATION: Perturbation = Perturbation {
    rotation_deg: 5.0,
    translation: 0.03,
    scale: 0.03,
    expression: 0.2,
};

/// Detector-like jitter of the cold start's box: centre and size, as fractions of the box size.
const BOX_JITTER_CENTRE: f64 = 0.04;
const BOX_JITTER_SIZE: f64 = 0.05;

/// One start: which face, the box the cascade runs in, and the current parameters.
#[derive(Debug, Clone)]
pub struct Start {
    pub face: usize,
    pub face_box: FaceBox,
    pub p: Params,
    /// A warm start: its identity is the one the fit keeps, and the stages learn pose and
    /// expression around it.
    pub holds_identity: bool,
}

/// Per-stage figures of a training run.
#[derive(Debug, Clone, Default)]
pub struct StageReport {
    pub lambda: f64,
    pub train_nme: f64,
    pub valid_nme: f64,
}

pub fn normal(rng: &mut StdRng) -> f64 {
    // Box–Muller; `1 − u` keeps the logarithm finite.
    let u: f64 = rng.random();
    let v: f64 = rng.random();
    (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// The cold start of the training faces: the means of the normalised scale and translation of
/// the ground truth in its box.
pub fn cold_start_means(faces: &[FaceSample], model: &MorphableModel) -> ColdStart {
    let size = model_face_size(model);
    let mut acc = [0.0; 3];
    let mut pn = vec![0.0; Params::N_POSE];
    for f in faces {
        BoxFrame::new(&f.face_box, size).normalise(f.truth.pose(), &mut pn);
        acc[0] += pn[Params::S];
        acc[1] += pn[Params::TX];
        acc[2] += pn[Params::TY];
    }
    let n = faces.len().max(1) as f64;
    ColdStart {
        scale: acc[0] / n,
        tx: acc[1] / n,
        ty: acc[2] / n,
    }
}

/// Ground truth moved by a random motion of size `m`, with `n_id`/`n_exp` coefficients.
pub fn perturb(
    truth: &Params,
    m: Perturbation,
    size: f64,
    n_id: usize,
    n_exp: usize,
    rng: &mut StdRng,
) -> Params {
    let mut p = truth.with_dims(n_id, n_exp);
    let rot = m.rotation_deg.to_radians();
    p.set_pitch(p.pitch() + rot * normal(rng));
    p.set_yaw(p.yaw() + rot * normal(rng));
    p.set_roll(p.roll() + rot * normal(rng));
    p.set_tx(p.tx() + m.translation * size * normal(rng));
    p.set_ty(p.ty() + m.translation * size * normal(rng));
    p.set_s(p.s() * (1.0 + m.scale * normal(rng)));
    for e in p.exp_mut() {
        *e += m.expression * normal(rng);
    }
    p
}

/// Cold starts in jittered boxes and warm starts around the truth, for every face.
pub fn make_starts(
    faces: &[FaceSample],
    model: &MorphableModel,
    cfg: &TrainConfig,
    cold: ColdStart,
    jitter: bool,
    rng: &mut StdRng,
) -> Vec<Start> {
    let size = model_face_size(model);
    let mut starts = Vec::new();
    let mut x = vec![0.0; 2 * model.n_landmarks()];
    for (i, f) in faces.iter().enumerate() {
        let b = f.face_box;
        let side = ((b.right - b.left) * (b.bottom - b.top)).sqrt();
        let weight = if f.truth.yaw().abs() >= LARGE_YAW {
            cfg.large_yaw_weight.max(1)
        } else {
            1
        };
        for c in 0..cfg.cold_starts * weight {
            let jb = if jitter && c > 0 {
                let (dx, dy) = (
                    BOX_JITTER_CENTRE * side * normal(rng),
                    BOX_JITTER_CENTRE * side * normal(rng),
                );
                let half = side * (1.0 + BOX_JITTER_SIZE * normal(rng)) / 2.0;
                let (cx, cy) = ((b.left + b.right) / 2.0 + dx, (b.top + b.bottom) / 2.0 + dy);
                FaceBox::new(
                    (cx - half).round(),
                    (cy - half).round(),
                    (cx + half).round(),
                    (cy + half).round(),
                )
            } else {
                b
            };
            starts.push(Start {
                face: i,
                face_box: jb,
                p: cold.params(&jb, cfg.n_id, cfg.n_exp, size),
                holds_identity: false,
            });
        }
        for _ in 0..cfg.warm_starts {
            let mut p = perturb(&f.truth, WARM_PERTURBATION, side, cfg.n_id, cfg.n_exp, rng);
            match cfg.warm_identity {
                WarmIdentity::Truth => {}
                WarmIdentity::Shrunk(spread) => {
                    let towards_truth: f64 = rng.random();
                    for v in p.id_mut() {
                        *v = towards_truth * *v + spread * normal(rng);
                    }
                }
                WarmIdentity::NearMean(spread) => {
                    for v in p.id_mut() {
                        *v = spread * normal(rng);
                    }
                }
            }
            if let Some(wb) = box_around(model, &p, &mut x) {
                starts.push(Start {
                    face: i,
                    face_box: wb,
                    p,
                    holds_identity: true,
                });
            }
        }
    }
    starts
}

/// Trains a PRM or PARM cascade on `train`, choosing each stage's ridge weight on `valid`.
/// `progress(stage, report)` is called after each stage.
pub fn train_cascade(
    model: &MorphableModel,
    predictor: &ShapePredictor,
    train: &[FaceSample],
    valid: &[FaceSample],
    cfg: &TrainConfig,
    progress: impl FnMut(usize, &StageReport),
) -> (RegressorCascade, Vec<StageReport>) {
    train_cascade_out_of_fold(model, predictor, &[], train, valid, cfg, progress)
}

/// [`train_cascade`] over a landmark cascade that was trained on the same faces: each training
/// face's landmark updates come from `out_of_fold[face.fold(K)]`, the cascade trained without
/// that face's fold ([`FaceSample::fold`]), as a fold's out-of-fold predictions feed the next
/// learner in stacking. The cascade that saw a face finds its landmarks far better than a new
/// face's, and a regressor trained on those updates trusts them as no new face deserves. Over
/// `ert3d.bin` the regressors came out worse this way (models/README.md), so the committed ones
/// are trained without it. `predictor` (the one the regressors will run over) gives the
/// validation faces' updates; with no cascades in `out_of_fold`, every face's.
pub fn train_cascade_out_of_fold(
    model: &MorphableModel,
    predictor: &ShapePredictor,
    out_of_fold: &[ShapePredictor],
    train: &[FaceSample],
    valid: &[FaceSample],
    cfg: &TrainConfig,
    mut progress: impl FnMut(usize, &StageReport),
) -> (RegressorCascade, Vec<StageReport>) {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let cold = cold_start_means(train, model);
    let mut cascade = RegressorCascade {
        kind: cfg.cascade_kind(),
        // A cascade that has seen a box's cold start can take one; one trained on warm starts
        // alone is for tracking.
        role: if cfg.cold_starts > 0 {
            RegressorRole::Acquire
        } else {
            RegressorRole::Track
        },
        n_id: cfg.n_id,
        n_exp: cfg.n_exp,
        hide_invisible: cfg.hide_invisible,
        cold,
        stages: Vec::new(),
    };
    let mut train_starts = make_starts(train, model, cfg, cold, true, &mut rng);
    // Validation mirrors what the cascade is for: one start of each kind it is trained on.
    let valid_cfg = TrainConfig {
        cold_starts: cfg.cold_starts.min(1),
        warm_starts: cfg.warm_starts.min(1),
        ..cfg.clone()
    };
    let mut valid_starts = make_starts(valid, model, &valid_cfg, cold, false, &mut rng);
    let stages = cfg.stages.min(predictor.num_stages());
    let mut reports = Vec::new();

    for k in 0..stages {
        // The cascade so far plus a placeholder for stage k, so that `stage_inputs` can use the
        // cascade's own feature code.
        let rows = stage_inputs(
            model,
            (predictor, out_of_fold),
            &cascade,
            k,
            train,
            &train_starts,
        );
        let (x, y) = to_matrices(&rows);
        let problem = RidgeProblem::new(&x, &y);
        let valid_rows = stage_inputs(model, (predictor, &[]), &cascade, k, valid, &valid_starts);
        let mut best: Option<(f64, AffineMap, f64)> = None;
        for &lambda in &cfg.lambdas {
            let map = problem.solve(lambda);
            let nme = mean_nme_after(model, valid, &valid_starts, &valid_rows, &map);
            if best.as_ref().is_none_or(|b| nme < b.2) {
                best = Some((lambda, map, nme));
            }
        }
        let Some((lambda, map, valid_nme)) = best else {
            break;
        };
        apply_stage(&mut train_starts, &rows, &map);
        apply_stage(&mut valid_starts, &valid_rows, &map);
        cascade.stages.push(map);
        let train_nme = mean_nme(model, train, &train_starts);
        let report = StageReport {
            lambda,
            train_nme,
            valid_nme,
        };
        progress(k, &report);
        reports.push(report);
    }
    (cascade, reports)
}

/// One start's stage-k regression row: its features, its target and the box frame that turns a
/// normalised update into an image one.
pub struct Row {
    pub features: Vec<f64>,
    pub target: Vec<f64>,
    pub frame: BoxFrame,
}

/// Evaluates M1 at stage k for every start, in parallel, through the same code the fitted cascade
/// runs: a one-stage cascade whose map is zero exposes the features it would see. M1 is the
/// first of `predictors`, or, when the second holds any, the one of them for the start's face's
/// fold.
fn stage_inputs(
    model: &MorphableModel,
    predictors: (&ShapePredictor, &[ShapePredictor]),
    cascade: &RegressorCascade,
    k: usize,
    faces: &[FaceSample],
    starts: &[Start],
) -> Vec<Row> {
    let np = cascade.n_params();
    let n_feat = RegressorCascade::n_features(cascade.kind, model.n_landmarks(), np);
    let mut probe = cascade.clone();
    probe.stages =
        vec![AffineMap::new(DMatrix::zeros(np, n_feat), nalgebra::DVector::zeros(np)); k + 1];
    let update = ParamUpdate::Regression(probe);
    let (all, folds) = predictors;
    let fitters: Vec<Cascade<'_>> = std::iter::once(all)
        .chain(folds)
        .map(|p| Cascade::new(model, p, &update))
        .collect();
    let size = model_face_size(model);
    starts
        .par_iter()
        .map_init(
            || fitters.iter().map(Cascade::scratch).collect::<Vec<_>>(),
            |scratches, st| {
                let m1 = if folds.is_empty() {
                    0
                } else {
                    1 + faces[st.face].fold(folds.len())
                };
                // Stage k alone: the start's parameters already hold stages 0..k.
                let features = fitters[m1]
                    .features_at(
                        k,
                        &faces[st.face].image,
                        &st.face_box,
                        &st.p,
                        &mut scratches[m1],
                    )
                    .unwrap_or_else(|_| vec![0.0; n_feat]);
                let frame = BoxFrame::new(&st.face_box, size);
                let mut truth = faces[st.face].truth.with_dims(cascade.n_id, cascade.n_exp);
                if st.holds_identity {
                    truth.id_mut().copy_from_slice(st.p.id());
                }
                let mut tn = vec![0.0; np];
                let mut pn = vec![0.0; np];
                frame.normalise(truth.as_slice(), &mut tn);
                frame.normalise(st.p.as_slice(), &mut pn);
                let target = tn.iter().zip(&pn).map(|(a, b)| a - b).collect();
                Row {
                    features,
                    target,
                    frame,
                }
            },
        )
        .collect()
}

fn to_matrices(rows: &[Row]) -> (DMatrix<f64>, DMatrix<f64>) {
    let n = rows.len();
    let (d_in, d_out) = (
        rows.first().map_or(0, |r| r.features.len()),
        rows.first().map_or(0, |r| r.target.len()),
    );
    let x = DMatrix::from_fn(n, d_in, |i, j| rows[i].features[j]);
    let y = DMatrix::from_fn(n, d_out, |i, j| rows[i].target[j]);
    (x, y)
}

fn apply_stage(starts: &mut [Start], rows: &[Row], map: &AffineMap) {
    let mut dpn = vec![0.0; map.n_out()];
    let mut dp = vec![0.0; map.n_out()];
    for (st, row) in starts.iter_mut().zip(rows) {
        map.apply(&row.features, &mut dpn);
        row.frame.denormalise_delta(&dpn, &mut dp);
        for (v, d) in st.p.as_mut_slice().iter_mut().zip(&dp) {
            *v += d;
        }
    }
}

fn mean_nme_after(
    model: &MorphableModel,
    faces: &[FaceSample],
    starts: &[Start],
    rows: &[Row],
    map: &AffineMap,
) -> f64 {
    let mut moved: Vec<Start> = starts.to_vec();
    apply_stage(&mut moved, rows, map);
    mean_nme(model, faces, &moved)
}

/// Mean NME of the starts' current landmarks; a non-finite fit counts as a large error.
pub fn mean_nme(model: &MorphableModel, faces: &[FaceSample], starts: &[Start]) -> f64 {
    let mut x = vec![0.0; 2 * model.n_landmarks()];
    let mut sum = 0.0;
    for st in starts {
        model.project_landmarks(&st.p, &mut x);
        let e = faces[st.face].nme(&x);
        sum += if e.is_finite() { e.min(1.0) } else { 1.0 };
    }
    sum / starts.len().max(1) as f64
}
