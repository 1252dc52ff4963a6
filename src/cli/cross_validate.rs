//! `facetrack train --folds K`: the training recipe cross-validated over the shared AFLW2000-3D
//! faces. The faces are cut into K folds by their place in `annotations.jsonl` (face i is in fold
//! i mod K); for each fold, PRM and PARM are trained and PCLM's prior chosen on the others — one
//! of them held out of training to choose each stage's ridge weight and PCLM's r, so that the
//! fold scored has had no say in any choice — and every method, the landmark cascade alone
//! included, is scored on the fold held out, overall and by |yaw|. With facetrack's own cascade
//! as the M1, each fold trains its own cascade too, on the fold's training faces. Reported as
//! mean ± standard deviation over the folds, in place of the one validation fifth every earlier
//! choice was tuned on.

use anyhow::Result;

use facetrack::align::ShapePredictor;
use facetrack::align::ert_training::{ErtFace, ErtTrainConfig};
use facetrack::eval::metrics::{Report, YAW_BUCKETS, summarise};
use facetrack::fit::training::{TrainConfig, train_cascade};
use facetrack::fit::training_set::FaceSample;
use facetrack::fit::{ParamUpdate, RegressorKind};
use facetrack::model::MorphableModel;

use super::eval::{StartArg, eval_ert, eval_model};
use super::progress::Progress;
use super::train::{grow_cascade, landmark_training_faces, training_faces};

/// What the recipe's knobs are, shared with a plain `train`.
pub struct Recipe<'a> {
    pub config: &'a TrainConfig,
    /// Faces whose truth pitch or roll reaches this (radians) are left out of training.
    pub max_angle: f64,
    /// Add each training face's mirror image, its coefficients fitted under this prior
    /// (`Mirror::new`) for the update methods; a fold's landmark cascade takes the exact fit.
    pub mirror: Option<f64>,
    /// Add each training face turned further out (face profiling).
    pub profiles: bool,
    /// Train facetrack's own landmark cascade on each fold's training faces (all of them, with
    /// their mirror images) with these settings; `None` keeps the cascade given.
    pub ert: Option<ErtTrainConfig>,
}

/// The scores of one method over the folds: overall, then each |yaw| bucket (fractions).
struct Scores {
    method: &'static str,
    folds: Vec<[f64; 4]>,
    ms: Vec<f64>,
}

/// Cross-validates the recipe over `faces` (every shared face, in file order) with `k` folds and
/// returns the table as text.
pub fn cross_validate(
    model: &MorphableModel,
    predictor: &ShapePredictor,
    faces: &[FaceSample],
    k: usize,
    recipe: &Recipe<'_>,
    choose_pclm: impl Fn(&ShapePredictor, &[FaceSample], &[FaceSample]) -> facetrack::fit::Pclm,
) -> Result<String> {
    anyhow::ensure!(
        k >= 3,
        "--folds must be at least 3 (one to score, one to choose, the rest to train on), not {k}"
    );
    anyhow::ensure!(
        faces.len() >= 3 * k,
        "{} faces are too few for {k} folds",
        faces.len()
    );
    let mut scores: Vec<Scores> = ["ert", "pclm", "prm", "parm"]
        .into_iter()
        .map(|method| Scores {
            method,
            folds: Vec::new(),
            ms: Vec::new(),
        })
        .collect();
    for fold in 0..k {
        let pick = |f: usize| -> Vec<FaceSample> {
            faces
                .iter()
                .enumerate()
                .filter(|(i, _)| i % k == f)
                .map(|(_, s)| s.clone())
                .collect()
        };
        let choose_on = (fold + 1) % k;
        let test = pick(fold);
        let valid = pick(choose_on);
        let train_all: Vec<FaceSample> = faces
            .iter()
            .enumerate()
            .filter(|(i, _)| i % k != fold && i % k != choose_on)
            .map(|(_, s)| s.clone())
            .collect();
        let own;
        let predictor = match &recipe.ert {
            Some(cfg) => {
                own = train_fold_ert(model, train_all.clone(), recipe, cfg, fold, k)?;
                &own
            }
            None => predictor,
        };
        let train = training_faces(
            model,
            train_all,
            recipe.max_angle,
            recipe.profiles,
            recipe.mirror,
        );
        note!(
            "fold {}/{k}: training on {} faces, choosing on {}, scoring {}",
            fold + 1,
            train.len(),
            valid.len(),
            test.len()
        );
        let mut updates = Vec::new();
        updates.push(ParamUpdate::Pclm(choose_pclm(predictor, &train, &valid)));
        for kind in [RegressorKind::Prm, RegressorKind::Parm] {
            let cfg = TrainConfig {
                kind,
                ..recipe.config.clone()
            };
            let (cascade, _) = train_cascade(model, predictor, &train, &valid, &cfg, |_, _| {});
            updates.push(ParamUpdate::Regression(cascade));
        }
        let mut reports: Vec<Report> = Vec::new();
        let mut progress = Progress::new("ert", test.len() as u64);
        let (results, failures) = eval_ert(predictor, &test, None, &mut progress);
        progress.finish();
        reports.push(summarise("ert", &results, failures));
        for (update, name) in updates.iter().zip(["pclm", "prm", "parm"]) {
            let mut progress = Progress::new(name, test.len() as u64);
            let (results, failures) = eval_model(
                model,
                predictor,
                update,
                &test,
                None,
                StartArg::Cold,
                &mut progress,
            );
            progress.finish();
            reports.push(summarise(name, &results, failures));
        }
        for (s, r) in scores.iter_mut().zip(&reports) {
            s.folds
                .push([r.nme, r.by_yaw[0].nme, r.by_yaw[1].nme, r.by_yaw[2].nme]);
            s.ms.push(r.ms_per_face_median);
        }
        note!(
            "  fold {}: {}",
            fold + 1,
            reports
                .iter()
                .map(|r| format!("{} {:.2} %", r.method, 100.0 * r.nme))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(table(&scores, k))
}

/// A fold's own landmark cascade, trained on its training faces.
fn train_fold_ert(
    model: &MorphableModel,
    faces: Vec<FaceSample>,
    recipe: &Recipe<'_>,
    cfg: &ErtTrainConfig,
    fold: usize,
    k: usize,
) -> Result<ShapePredictor> {
    let faces = landmark_training_faces(model, faces, recipe.profiles, recipe.mirror.is_some());
    let ert_faces: Vec<ErtFace<'_>> = faces.iter().map(FaceSample::ert_face).collect();
    note!(
        "fold {}/{k}: training the landmark cascade on {} faces",
        fold + 1,
        faces.len()
    );
    let ert = grow_cascade(&ert_faces, cfg, |_| {})?;
    Ok(ert.predictor()?)
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

fn table(scores: &[Scores], k: usize) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "NME % from the cold start in the ground-truth box by |yaw|, mean ± sd over {k} folds (all stages)"
    );
    let buckets: Vec<String> = YAW_BUCKETS
        .iter()
        .map(|(lo, hi)| format!("yaw {lo:.0}–{hi:.0}°"))
        .collect();
    let _ = writeln!(s, "| method | all | {} | ms/face |", buckets.join(" | "));
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for sc in scores {
        let cells: Vec<String> = (0..4)
            .map(|c| {
                let v: Vec<f64> = sc.folds.iter().map(|f| 100.0 * f[c]).collect();
                let (m, sd) = mean_sd(&v);
                format!("{m:.2} ± {sd:.2}")
            })
            .collect();
        let (ms, _) = mean_sd(&sc.ms);
        let _ = writeln!(s, "| {} | {} | {ms:.3} |", sc.method, cells.join(" | "));
    }
    s
}
