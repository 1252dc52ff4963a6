//! `facetrack train`: trains the PRM and PARM regressor cascades and chooses PCLM's prior weight,
//! on the shared AFLW2000-3D images less the validation fifth.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use rayon::prelude::*;

use facetrack::align::ShapePredictor;
use facetrack::align::ert_training::ErtTrainConfig;
use facetrack::eval::faces::{Split, aflw_dir, load_faces};
use facetrack::fit::training::{TrainConfig, WarmIdentity, cold_start_means};
use facetrack::fit::training_set::{EXACT_MIRROR_PRIOR, FaceSample, Mirror};
use facetrack::fit::{Cascade, ParamUpdate, Pclm, RegressorKind, training};
use facetrack::model::MorphableModel;

use super::cross_validate::{Recipe, cross_validate};
use super::models::{
    CONFIDENCE_FILE, ERT_FILE, M1, PARM_FILE, PARM_TRACK_FILE, PARM_TRACK_HELD_FILE, PCLM_FILE,
    PRM_FILE, PRM_TRACK_FILE, for_m1, load_face_model, load_landmark_cascade, m1,
};
use super::progress::{Progress, with_progress};

/// The spread of the identities `parm_track_held.bin` is trained holding, σ a coefficient: the
/// identity lock's fits on the shared clips have a norm of 1–2 over 40 coefficients.
const HELD_IDENTITY_SPREAD: f64 = 0.25;
/// Its warm starts a face: each holds another identity, and with 3 the clips' NME moved by up to
/// 0.15 points from one training seed to the next.
const HELD_WARM_STARTS: usize = 10;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The AFLW2000-3D folder (or the shared data folder that holds it).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Folder to write prm.bin, parm.bin and pclm.json into.
    #[arg(long, value_name = "DIR", default_value = "models")]
    out: PathBuf,
    /// Which to train.
    #[arg(long, value_enum, default_value = "all")]
    only: Which,
    /// Identity coefficients fitted.
    #[arg(long, default_value_t = 40)]
    n_id: usize,
    /// Expression coefficients fitted.
    #[arg(long, default_value_t = 10)]
    n_exp: usize,
    #[arg(long, default_value_t = 15)]
    stages: usize,
    /// Cold starts (jittered boxes) per training image.
    #[arg(long, default_value_t = 3)]
    cold_starts: usize,
    /// Perturbed ground-truth starts per training image (the cold cascades validate best with
    /// none; the tracking cascade uses 3 when this is 0).
    #[arg(long, default_value_t = 0)]
    warm_starts: usize,
    /// Leave out of training the faces whose ground-truth pitch or roll reaches this (degrees).
    #[arg(long, default_value_t = 50.0)]
    max_train_angle: f64,
    /// Also train on every training face turned further out (face profiling, to ±90° yaw).
    #[arg(long)]
    profiles: bool,
    /// Do not add the mirrored training images.
    #[arg(long)]
    no_mirror: bool,
    /// The weight of the coefficients' prior when a mirrored image's coefficients are fitted to
    /// its mirrored landmarks, relative to the bases' scale, for the update methods (the landmark
    /// cascade always takes the exact fit). The default reproduces the landmarks almost exactly,
    /// with identities 3.5 times the originals' size; 3e-2 keeps them at the originals' size
    /// (models/README.md).
    #[arg(long, default_value_t = EXACT_MIRROR_PRIOR)]
    mirror_prior: f64,
    /// Cold starts for a face turned 45° or more, as a multiple of a face's (the cascades over
    /// ert3d.bin are trained with 5).
    #[arg(long, default_value_t = 1)]
    large_yaw_weight: usize,
    /// The tracking cascades' starts take an identity other than the face's own: the truth's
    /// shrunk towards the mean face by a uniform factor, plus this many σ of noise (0: the
    /// truth's own). docs/identity_lock.md has what it changes; parm_track_ert3d.bin is made
    /// with 0.5, the other files with 0.
    #[arg(long, default_value_t = 0.0)]
    identity_spread: f64,
    /// Train PARM with its landmark term gated by the yaw: each stage also learns how the update
    /// of a face turned beyond 30° to either side differs from a frontal one's.
    #[arg(long)]
    by_pose: bool,
    /// Give the regressors the landmark updates of hidden landmarks too.
    #[arg(long)]
    keep_invisible: bool,
    /// Train on the first N training images only (for quick experiments and tests).
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of the random starts.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Train the tracking cascades instead: PARM and PRM from perturbed ground truth only (warm
    /// starts), written to parm_track.bin and prm_track.bin.
    #[arg(long)]
    track: bool,
    /// With --track: PARM for tracking a face whose identity the lock holds
    /// (parm_track_held.bin), from warm starts holding an identity near the mean face, as the
    /// lock's is (10 starts a face unless --warm-starts says otherwise).
    #[arg(long, requires = "track", conflicts_with = "identity_spread")]
    held_identity: bool,
    /// Train the fit confidence instead (confidence.bin): boosted trees telling fits on a face
    /// from fits that let go, on examples made from the training faces.
    #[arg(long, conflicts_with = "track")]
    confidence: bool,
    /// Report validation figures without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Cross-validate the recipe instead of training the models: K folds of all the shared faces,
    /// each scored (every method, by |yaw|) after training on the others; writes nothing.
    #[arg(long, value_name = "K", conflicts_with_all = ["track", "confidence"])]
    folds: Option<usize>,
    /// Train facetrack's own landmark cascade (the M1) instead, on the 3D model's 68 landmarks:
    /// ert3d.bin.
    #[arg(long, conflicts_with_all = ["track", "confidence", "folds"])]
    landmarks: bool,
    /// The landmark cascade's stages.
    #[arg(long, default_value_t = 10)]
    ert_stages: usize,
    /// The landmark cascade's trees a stage.
    #[arg(long, default_value_t = 500)]
    ert_trees: usize,
    /// Train the landmark cascade also on N copies of each face seen through other cameras
    /// (contrast, gamma, side light, blur, resolution and noise changed; the landmarks kept).
    #[arg(long, default_value_t = 0, value_name = "N", requires = "landmarks")]
    appearance_copies: usize,
    /// The landmark cascade's starting shapes per training face.
    #[arg(long, default_value_t = 20)]
    oversampling: usize,
    /// Dimensions of each landmark-cascade stage's residual basis (its leaves' coefficients).
    #[arg(long, default_value_t = 40)]
    basis: usize,
    /// Of the landmark cascade's starting shapes per face, how many are its own landmarks moved
    /// as a tracked face's start is (5 % shift and scale, 5° rotation).
    #[arg(long, default_value_t = 8)]
    tracking_starts: usize,
    /// With --landmarks: train K landmark cascades instead, each without one fold of the
    /// training faces (ert3d_fold{J}of{K}.bin), for --landmark-folds.
    #[arg(long, value_name = "K", requires = "landmarks")]
    out_of_fold: Option<usize>,
    /// The update methods learn each training face's landmark updates from the cascade of
    /// --out-of-fold that never saw the face (the files in DIR), not from the cascade trained on
    /// it, which finds its own training faces far better than new ones. (Tried; the committed
    /// files are trained without it: models/README.md has why.)
    #[arg(long, value_name = "DIR", conflicts_with_all = ["landmarks", "folds", "confidence"])]
    landmark_folds: Option<PathBuf>,
    /// The face model (default: the search order).
    #[arg(long)]
    model: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Which {
    All,
    Prm,
    Parm,
    Pclm,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let model = load_face_model(args.model.as_deref())?;
    if args.landmarks {
        return train_landmarks(&args, &model);
    }
    let predictor = load_landmark_cascade(None)?;
    let out_of_fold = match &args.landmark_folds {
        Some(dir) => {
            anyhow::ensure!(
                m1() == M1::Ert3d,
                "--landmark-folds is for facetrack's own landmark cascade (--m1 ert3d)"
            );
            let folds = load_fold_cascades(dir)?;
            note!(
                "training faces' landmark updates from {} cascades, each trained without the face's fold",
                folds.len()
            );
            folds
        }
        None => Vec::new(),
    };
    let aflw = aflw_dir(&args.data)?;
    if let Some(k) = args.folds {
        return run_folds(&args, &model, &predictor, &aflw, k);
    }
    let mut train = load_split(&aflw, &model, Split::Train, "loading training images")?;
    if let Some(n) = args.limit {
        train.truncate(n);
    }
    let train = training_faces(
        &model,
        train,
        args.max_train_angle.to_radians(),
        args.profiles,
        (!args.no_mirror).then_some(args.mirror_prior),
    );
    let valid = load_split(
        &aflw,
        &model,
        Split::Validation,
        "loading validation images",
    )?;
    note!(
        "training on {} faces, validating on {}",
        train.len(),
        valid.len()
    );
    if !args.dry_run {
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("cannot create {}", args.out.display()))?;
    }

    if args.confidence {
        return train_confidence(&args, &model, &predictor, &train, &valid);
    }

    let base = base_config(&args);
    let jobs = if args.held_identity {
        vec![(RegressorKind::Parm, Which::Parm, PARM_TRACK_HELD_FILE)]
    } else if args.track {
        vec![
            (RegressorKind::Parm, Which::Parm, PARM_TRACK_FILE),
            (RegressorKind::Prm, Which::Prm, PRM_TRACK_FILE),
        ]
    } else {
        vec![
            (RegressorKind::Prm, Which::Prm, PRM_FILE),
            (RegressorKind::Parm, Which::Parm, PARM_FILE),
        ]
    };
    for (kind, which, file) in jobs {
        if args.only != Which::All && args.only != which {
            continue;
        }
        let cfg = if args.track {
            TrainConfig {
                kind,
                cold_starts: 0,
                warm_starts: match (args.warm_starts, args.held_identity) {
                    (0, false) => 3,
                    (0, true) => HELD_WARM_STARTS,
                    (n, _) => n,
                },
                warm_identity: if args.held_identity {
                    WarmIdentity::NearMean(HELD_IDENTITY_SPREAD)
                } else {
                    base.warm_identity
                },
                ..base.clone()
            }
        } else {
            TrainConfig {
                kind,
                ..base.clone()
            }
        };
        note!(
            "{}: {} identity and {} expression coefficients, {} stages",
            cfg.cascade_kind().name(),
            cfg.n_id,
            cfg.n_exp,
            cfg.stages
        );
        note!("  stage  ridge λ   train NME %  validation NME %");
        let (cascade, _) = training::train_cascade_out_of_fold(
            &model,
            &predictor,
            &out_of_fold,
            &train,
            &valid,
            &cfg,
            |k, r| {
                note!(
                    "  {:>5}  {:<8.0e}  {:>11.3}  {:>16.3}",
                    k + 1,
                    r.lambda,
                    100.0 * r.train_nme,
                    100.0 * r.valid_nme
                );
            },
        );
        let update = ParamUpdate::Regression(cascade);
        let cold: Vec<String> = [5, 7, cfg.stages]
            .iter()
            .map(|&k| {
                format!(
                    "{:.3}",
                    100.0 * validation_nme(&model, &predictor, &update, &valid, k)
                )
            })
            .collect();
        note!(
            "  cold-start validation NME % at stages 5 / 7 / {}: {}",
            cfg.stages,
            cold.join(" / ")
        );
        if let ParamUpdate::Regression(cascade) = &update {
            write(&args, &for_m1(file), &cascade.to_bytes())?;
        }
    }
    if !args.track && matches!(args.only, Which::All | Which::Pclm) {
        let pclm = choose_pclm(&model, &predictor, &train, &valid, &base);
        write(
            &args,
            &for_m1(PCLM_FILE),
            serde_json::to_string_pretty(&pclm)?.as_bytes(),
        )?;
    }
    Ok(())
}

/// The faces a recipe trains on, from the faces it may: those whose truth pitch and roll stay
/// under `max_angle` (radians); with `profiles`, each of them also turned further out (face
/// profiling); and, with `mirror`, the mirror image of every one.
pub(super) fn training_faces(
    model: &MorphableModel,
    mut faces: Vec<FaceSample>,
    max_angle: f64,
    profiles: bool,
    mirror: Option<f64>,
) -> Vec<FaceSample> {
    // Near yaw = ±90° the dataset's Euler angles turn ambiguous (pitch and roll trade off, and
    // some faces carry pitch ±100°): their angle targets contradict their neighbours' and pull
    // the linear regressors. They stay in validation and evaluation.
    faces.retain(|f| f.truth.pitch().abs() < max_angle && f.truth.roll().abs() < max_angle);
    if profiles {
        faces.extend(profile_faces(model, &faces));
    }
    if let Some(prior) = mirror {
        let mirror = Mirror::new(model, prior);
        let flipped: Vec<FaceSample> = faces
            .par_iter()
            .filter_map(|f| mirror.flip(f, model))
            .collect();
        faces.extend(flipped);
    }
    faces
}

/// [`training_faces`] for the landmark cascade: every angle (its targets are landmarks, whose
/// angles never contradict), and mirror images with the exact fit (its box is around its target
/// points, which the exact fit reproduces).
pub(super) fn landmark_training_faces(
    model: &MorphableModel,
    faces: Vec<FaceSample>,
    profiles: bool,
    mirror: bool,
) -> Vec<FaceSample> {
    training_faces(
        model,
        faces,
        std::f64::consts::PI,
        profiles,
        mirror.then_some(EXACT_MIRROR_PRIOR),
    )
}

/// Every face turned further out, as 300W-LP was made (see `outward_yaws`). Only faces whose
/// truth pitch and roll are moderate are turned: near ±90° the dataset's angles are ambiguous,
/// and a turned face would inherit the ambiguity.
fn profile_faces(model: &MorphableModel, faces: &[FaceSample]) -> Vec<FaceSample> {
    use facetrack::fit::face_profiling::{FaceProfiler, PROFILE_FACE_PX, outward_yaws};
    let profiler = FaceProfiler::new(model);
    let moderate = 50f64.to_radians();
    let out: Vec<FaceSample> = with_progress("profiling faces", faces.len() as u64, |tick| {
        faces
            .par_iter()
            .flat_map_iter(|f| {
                let turns = if f.truth.pitch().abs() < moderate && f.truth.roll().abs() < moderate {
                    outward_yaws(f.truth.yaw())
                } else {
                    Vec::new()
                };
                let made: Vec<FaceSample> = turns
                    .into_iter()
                    .filter_map(|yaw| profiler.profile(f, yaw, f.truth.pitch(), PROFILE_FACE_PX))
                    .collect();
                tick();
                made
            })
            .collect()
    });
    note!(
        "profiled {} faces into {} turned views",
        faces.len(),
        out.len()
    );
    out
}

/// The regressors' recipe from the command line (the cold cascades').
fn base_config(args: &TrainArgs) -> TrainConfig {
    TrainConfig {
        n_id: args.n_id,
        n_exp: args.n_exp,
        stages: args.stages,
        cold_starts: args.cold_starts,
        warm_starts: args.warm_starts,
        hide_invisible: !args.keep_invisible,
        large_yaw_weight: args.large_yaw_weight,
        by_pose: args.by_pose,
        warm_identity: if args.identity_spread > 0.0 {
            WarmIdentity::Shrunk(args.identity_spread)
        } else {
            WarmIdentity::Truth
        },
        seed: args.seed,
        ..TrainConfig::default()
    }
}

/// `--folds K`: [`cross_validate`] over every shared face with this run's recipe.
fn run_folds(
    args: &TrainArgs,
    model: &MorphableModel,
    predictor: &ShapePredictor,
    aflw: &Path,
    k: usize,
) -> Result<()> {
    let mut faces = load_split(aflw, model, Split::All, "loading images")?;
    if let Some(n) = args.limit {
        faces.truncate(n);
    }
    let config = base_config(args);
    let recipe = Recipe {
        config: &config,
        max_angle: args.max_train_angle.to_radians(),
        mirror: (!args.no_mirror).then_some(args.mirror_prior),
        profiles: args.profiles,
        ert: (m1() == M1::Ert3d).then(|| ert_config(args)),
    };
    let text = cross_validate(model, predictor, &faces, k, &recipe, |p, train, valid| {
        choose_pclm(model, p, train, valid, &config)
    })?;
    out!("{text}")?;
    Ok(())
}

pub(super) fn load_split(
    aflw: &Path,
    model: &MorphableModel,
    split: Split,
    label: &'static str,
) -> Result<Vec<FaceSample>> {
    let n = facetrack::eval::aflw2000::read_annotations(&aflw.join("annotations.jsonl"))?.len();
    let total = (0..n).filter(|&i| split.contains(i)).count();
    Ok(with_progress(label, total as u64, |tick| {
        load_faces(aflw, model, split, tick)
    })?)
}

/// Writes a model file under `name` in the output folder. An update method's file takes its name
/// for the chosen M1 ([`for_m1`]) from the caller; the landmark cascades and the confidence are
/// the same files over either M1.
fn write(args: &TrainArgs, name: &str, bytes: &[u8]) -> Result<()> {
    if args.dry_run {
        return Ok(());
    }
    let path = args.out.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    note!("wrote {} ({} bytes)", path.display(), bytes.len());
    Ok(())
}

/// PCLM has no training but its prior weight `r`: the one with the lowest validation NME after
/// all stages from the cold start.
fn choose_pclm(
    model: &MorphableModel,
    predictor: &ShapePredictor,
    train: &[FaceSample],
    valid: &[FaceSample],
    cfg: &TrainConfig,
) -> Pclm {
    let cold = cold_start_means(train, model);
    let mut best: Option<(f64, Pclm)> = None;
    note!(
        "PCLM: {} identity and {} expression coefficients",
        cfg.n_id,
        cfg.n_exp
    );
    note!("  prior r   validation NME %");
    for r in [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 1e4] {
        let pclm = Pclm {
            n_id: cfg.n_id,
            n_exp: cfg.n_exp,
            r,
            hide_invisible: cfg.hide_invisible,
            cold,
        };
        let nme = validation_nme(
            model,
            predictor,
            &ParamUpdate::Pclm(pclm.clone()),
            valid,
            cfg.stages,
        );
        note!("  {r:<8.0e}  {:>16.3}", 100.0 * nme);
        if best.as_ref().is_none_or(|b| nme < b.0) {
            best = Some((nme, pclm));
        }
    }
    best.map(|b| b.1).unwrap_or(Pclm {
        n_id: cfg.n_id,
        n_exp: cfg.n_exp,
        r: 100.0,
        hide_invisible: true,
        cold,
    })
}

/// Mean NME of cold-start fits of `faces` in their ground-truth boxes.
pub fn validation_nme(
    model: &MorphableModel,
    predictor: &ShapePredictor,
    update: &ParamUpdate,
    faces: &[FaceSample],
    stages: usize,
) -> f64 {
    let cascade = Cascade::new(model, predictor, update);
    let errors: Vec<f64> = faces
        .par_iter()
        .map_init(
            || (cascade.scratch(), vec![0.0; 2 * model.n_landmarks()]),
            |(scratch, x), f| {
                let mut p = cascade.cold_start(&f.face_box);
                match cascade.fit(&f.image, &f.face_box, &mut p, stages, scratch, |_, _, _| {}) {
                    Ok(()) => {
                        model.project_landmarks(&p, x);
                        f.nme(x).min(1.0)
                    }
                    Err(_) => 1.0,
                }
            },
        )
        .collect();
    errors.iter().sum::<f64>() / errors.len().max(1) as f64
}

/// Trains `confidence.bin` and reports its validation ROC AUC (over-10 % fits against under-5 %
/// ones), overall and by how the examples were made.
fn train_confidence(
    args: &TrainArgs,
    model: &MorphableModel,
    predictor: &ShapePredictor,
    train: &[FaceSample],
    valid: &[FaceSample],
) -> Result<()> {
    use facetrack::fit::confidence_training::{
        ConfidenceConfig, Example, ExampleKind, ExampleMaker, make_examples, make_points,
        reference_shape, roc_auc, train_confidence as boost,
    };
    use rand::SeedableRng;

    let cfg = ConfidenceConfig {
        seed: args.seed,
        ..ConfidenceConfig::default()
    };
    let track = ParamUpdate::Regression(super::models::load_named_regressors(PARM_TRACK_FILE)?);
    let reference = reference_shape(model);
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    let points = make_points(reference.len(), cfg.points_per_landmark, &mut rng);
    let maker = ExampleMaker {
        model,
        track: Cascade::new(model, predictor, &track),
        reference: &reference,
        points: &points,
        stages: cfg.stages,
    };
    let examples = |faces: &[FaceSample], seed: u64, label: &'static str| {
        with_progress(label, faces.len() as u64, |tick| {
            make_examples(&maker, faces, seed, tick)
        })
    };
    let train_ex = examples(train, cfg.seed, "making training examples");
    let valid_ex = examples(valid, cfg.seed + 1, "making validation examples");
    let count = |ex: &[Example]| {
        let pos = ex.iter().filter(|e| e.positive).count();
        (pos, ex.len() - pos)
    };
    let (tp, tn) = count(&train_ex);
    let (vp, vn) = count(&valid_ex);
    note!(
        "{tp} positive and {tn} negative training examples; {vp} and {vn} for validation; {} sample points",
        points.len()
    );
    let started = std::time::Instant::now();
    let conf = with_progress("boosting trees", cfg.trees as u64, |tick| {
        boost(reference, points, &train_ex, &cfg, |_| tick())
    });
    note!("trained in {:.1} s", started.elapsed().as_secs_f64());
    let scores = |ex: &[Example], positive: bool, kind: Option<ExampleKind>| -> Vec<f64> {
        ex.iter()
            .filter(|e| e.positive == positive && kind.is_none_or(|k| e.kind == k))
            .map(|e| f64::from(conf.log_odds_of(&e.values)))
            .collect()
    };
    for (name, ex) in [("training", &train_ex), ("validation", &valid_ex)] {
        let pos = scores(ex, true, None);
        let neg = scores(ex, false, None);
        let at_half = |s: &[f64], above: bool| {
            s.iter().filter(|&&v| (v > 0.0) == above).count() as f64 / s.len().max(1) as f64
        };
        note!(
            "{name}: ROC AUC {:.4}; at 0.5, {:.2} % of good fits kept, {:.2} % of bad ones passed",
            roc_auc(&pos, &neg),
            100.0 * at_half(&pos, true),
            100.0 * at_half(&neg, true),
        );
    }
    let pos = scores(&valid_ex, true, None);
    for kind in ExampleKind::ALL {
        let neg = scores(&valid_ex, false, Some(kind));
        let own_pos = scores(&valid_ex, true, Some(kind));
        note!(
            "  validation {:<13} {:>5} good {:>5} bad  AUC of its bad against all good {:.4}",
            kind.name(),
            own_pos.len(),
            neg.len(),
            roc_auc(&pos, &neg)
        );
    }
    write(args, CONFIDENCE_FILE, &conf.to_bytes())
}

/// The landmark cascade's settings from the command line.
fn ert_config(args: &TrainArgs) -> ErtTrainConfig {
    ErtTrainConfig {
        stages: args.ert_stages,
        trees: args.ert_trees,
        oversampling: args.oversampling,
        basis: args.basis,
        tracking_starts: args.tracking_starts,
        seed: args.seed,
        ..ErtTrainConfig::default()
    }
}

/// Trains `ert3d.bin`, facetrack's own landmark cascade, on the training faces and their mirror
/// images (all of them: its targets are landmarks, whose angles never contradict), and reports
/// its validation NME alone, by |yaw|.
fn train_landmarks(args: &TrainArgs, model: &MorphableModel) -> Result<()> {
    if let Some(k) = args.out_of_fold {
        anyhow::ensure!(k >= 2, "--out-of-fold must be at least 2, not {k}");
    }
    let aflw = aflw_dir(&args.data)?;
    let mut train = load_split(&aflw, model, Split::Train, "loading training images")?;
    if let Some(n) = args.limit {
        train.truncate(n);
    }
    let mut train = landmark_training_faces(model, train, args.profiles, !args.no_mirror);
    if args.appearance_copies > 0 {
        let copies = appearance_copies(&train, args.appearance_copies, args.seed);
        train.extend(copies);
    }
    let valid = load_split(&aflw, model, Split::Validation, "loading validation images")?;
    let cfg = ert_config(args);
    note!(
        "landmark cascade: {} faces × {} starts, {} stages of {} trees of depth {}, {} feature pixels, {}-dimensional leaves",
        train.len(),
        cfg.oversampling,
        cfg.stages,
        cfg.trees,
        cfg.depth,
        cfg.feature_pool,
        cfg.basis
    );
    if let Some(k) = args.out_of_fold {
        for j in 0..k {
            let kept: Vec<FaceSample> = train.iter().filter(|f| f.fold(k) != j).cloned().collect();
            note!("fold {}/{k}: {} faces", j + 1, kept.len());
            train_one_cascade(args, &kept, &valid, &cfg, &fold_file(j, k))?;
        }
        return Ok(());
    }
    train_one_cascade(args, &train, &valid, &cfg, ERT_FILE)
}

/// `n` copies of every face, each seen through another camera (`AppearanceJitter`), named after
/// the face so that they share its fold.
fn appearance_copies(faces: &[FaceSample], n: usize, seed: u64) -> Vec<FaceSample> {
    use facetrack::align::appearance_jitter::AppearanceJitter;
    use rand::SeedableRng;
    let jitter = AppearanceJitter::default();
    let copies = with_progress(
        "seeing faces through other cameras",
        faces.len() as u64,
        |tick| {
            faces
                .par_iter()
                .enumerate()
                .flat_map_iter(|(i, f)| {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(
                        seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    );
                    let out: Vec<FaceSample> = (0..n)
                        .map(|k| FaceSample {
                            name: format!("{}#camera{k}", f.name),
                            image: jitter.apply(&f.image, &mut rng),
                            face_box: f.face_box,
                            truth: f.truth.clone(),
                            points: f.points.clone(),
                            norm: f.norm,
                        })
                        .collect();
                    tick();
                    out
                })
                .collect::<Vec<_>>()
        },
    );
    note!("{} faces seen through other cameras", copies.len());
    copies
}

/// The file of the landmark cascade trained without fold `j` of `k`.
fn fold_file(j: usize, k: usize) -> String {
    format!("ert3d_fold{j}of{k}.bin")
}

/// The cascades of `--out-of-fold K` in `dir`, fold by fold.
fn load_fold_cascades(dir: &Path) -> Result<Vec<ShapePredictor>> {
    for k in 2..=20 {
        let first = dir.join(fold_file(0, k));
        if first.exists() {
            return (0..k)
                .map(|j| {
                    let path = dir.join(fold_file(j, k));
                    let bytes = std::fs::read(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    facetrack::align::ert_file::read_cascade(&bytes)
                        .with_context(|| format!("{} is not a landmark cascade", path.display()))
                })
                .collect();
        }
    }
    anyhow::bail!(
        "no out-of-fold landmark cascades (ert3d_fold0ofK.bin) in {}; make them with `facetrack train --m1 ert3d --landmarks --out-of-fold 5 --out {}`",
        dir.display(),
        dir.display()
    )
}

/// Trains one landmark cascade on `train`, reports its validation NME by |yaw| and writes it.
fn train_one_cascade(
    args: &TrainArgs,
    train: &[FaceSample],
    valid: &[FaceSample],
    cfg: &ErtTrainConfig,
    file: &str,
) -> Result<()> {
    use facetrack::align::ert_training::ErtFace;
    use facetrack::eval::metrics::summarise;

    let faces: Vec<ErtFace<'_>> = train.iter().map(FaceSample::ert_face).collect();
    let started = std::time::Instant::now();
    // Printed after the bar, not through it.
    let mut lines = Vec::new();
    let ert = grow_cascade(&faces, cfg, |r| {
        lines.push(format!(
            "  stage {:>2}: training error {:.4} → {:.4} box widths",
            r.stage + 1,
            r.error_before,
            r.error_after
        ))
    })?;
    for l in &lines {
        note!("{l}");
    }
    note!("trained in {:.0} s", started.elapsed().as_secs_f64());
    let bytes = ert.to_bytes();
    let predictor = ert.predictor()?;
    let mut progress = Progress::new("validating", valid.len() as u64);
    let (results, failures) = super::eval::eval_ert(&predictor, valid, None, &mut progress);
    progress.finish();
    let r = summarise("ert", &results, failures);
    note!(
        "validation NME alone {:.2} % (|yaw| 0–30° {:.2}, 30–60° {:.2}, 60–90° {:.2}), {:.3} ms a face",
        100.0 * r.nme,
        100.0 * r.by_yaw[0].nme,
        100.0 * r.by_yaw[1].nme,
        100.0 * r.by_yaw[2].nme,
        r.ms_per_face_median
    );
    if !args.dry_run {
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("cannot create {}", args.out.display()))?;
    }
    write(args, file, &bytes)
}

/// Trains a landmark cascade on `faces` with a progress bar over its trees; `on_stage` hears of
/// each stage.
pub(super) fn grow_cascade(
    faces: &[facetrack::align::ert_training::ErtFace<'_>],
    cfg: &ErtTrainConfig,
    on_stage: impl FnMut(facetrack::align::ert_training::StageReport),
) -> Result<facetrack::align::ert_file::TrainedErt> {
    let total = (cfg.stages * cfg.trees) as u64;
    Ok(with_progress("growing trees", total, |tick| {
        facetrack::align::ert_training::train_ert(faces, cfg, on_stage, tick)
    })?)
}
