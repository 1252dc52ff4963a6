//! `facetrack eval`: the PARM paper's tables and figures on held-out AFLW2000-3D faces, each fitted
//! from the cold start in the square box around its ground truth (the `--boxes` protocol).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use facetrack::align::ShapePredictor;
use facetrack::eval::faces::{Split, aflw_dir};
use facetrack::eval::metrics::landmark_3d_error;
use facetrack::eval::metrics::{FaceResult, Report, ced, param_errors, summarise, yaw_deg};
use facetrack::eval::plot::{LegendPosition, PlotOutcome, PlotSpec, Series, write_line_plot};
use facetrack::fit::box_frame::{BoxFrame, model_face_size};
use facetrack::fit::joint::{JointConfig, JointSolver};
use facetrack::fit::parm_joint::{ParmJoint, face_size};
use facetrack::fit::training::{Perturbation, perturb};
use facetrack::fit::training_set::FaceSample;
use facetrack::fit::warm_start::box_around;
use facetrack::fit::{Cascade, ParamUpdate, RegressorKind};
use facetrack::model::MorphableModel;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::Method;
use super::models::{load_face_model, load_landmark_cascade, load_regressors, load_update};
use super::progress::Progress;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The AFLW2000-3D folder (or the shared data folder that holds it).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// A method, or all of them side by side.
    #[arg(long, value_enum, default_value = "all")]
    method: EvalMethod,
    /// Which faces: the validation fifth the regressors never saw (default), or others.
    #[arg(long, value_enum, default_value = "validation")]
    split: SplitArg,
    /// Stages to run (default: all the method has).
    #[arg(long)]
    stages: Option<usize>,
    /// Print the reports as JSON (one object a method a line) instead of tables.
    #[arg(long)]
    json: bool,
    /// Where each fit starts: the cold start in the ground-truth box, or the ground truth moved by
    /// a typical frame-to-frame motion (3° rotation, 2 % translation and scale, 0.1 σ expression,
    /// each a standard deviation) in the box around it, as when tracking.
    #[arg(long, value_enum, default_value = "cold")]
    start: StartArg,
    /// A regressor file to use instead of the method's own (e.g. models/parm_track.bin).
    #[arg(long)]
    regressors: Option<PathBuf>,
    /// Folder for the cumulative error distribution and NME-per-stage CSV and PNG files.
    #[arg(long, value_name = "DIR", default_value = "eval-out")]
    out: PathBuf,
    /// parm+joint: the prior weight λα = λβ of the refinement (default: the chosen one).
    #[arg(long)]
    joint_prior: Option<f64>,
    /// parm+joint: start the refinement's shape from α = β = 0 instead of PARM's coefficients.
    #[arg(long)]
    joint_from_zero: bool,
    /// parm+joint: the first ERT stage run from PARM's landmarks for the 2D landmarks (default:
    /// the cascade's last 5 stages, as the tracker runs them).
    #[arg(long)]
    joint_ert_from: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EvalMethod {
    All,
    Ert,
    Pclm,
    Prm,
    Parm,
    /// PARM, then the joint 2D/3D refinement: prints the joint paper's ablation.
    #[value(name = "parm+joint")]
    ParmJoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum StartArg {
    Cold,
    Warm,
}

/// The typical frame-to-frame motion.
const TRACKING_MOTION: Perturbation = Perturbation {
    rotation_deg: 3.0,
    translation: 0.02,
    scale: 0.02,
    expression: 0.1,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SplitArg {
    Validation,
    Train,
    All,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let methods: Vec<Method> = match args.method {
        EvalMethod::All => vec![Method::Ert, Method::Pclm, Method::Prm, Method::Parm],
        EvalMethod::Ert => vec![Method::Ert],
        EvalMethod::Pclm => vec![Method::Pclm],
        EvalMethod::Prm => vec![Method::Prm],
        EvalMethod::Parm => vec![Method::Parm],
        EvalMethod::ParmJoint => vec![Method::ParmJoint],
    };
    let split = match args.split {
        SplitArg::Validation => Split::Validation,
        SplitArg::Train => Split::Train,
        SplitArg::All => Split::All,
    };
    let model = load_face_model(None)?;
    let predictor = load_landmark_cascade(None)?;
    let updates: Vec<Option<ParamUpdate>> = methods
        .iter()
        .map(|&m| match (m, &args.regressors) {
            (Method::Ert, _) => Ok(None),
            (Method::Prm | Method::Parm, Some(path)) => {
                let kind = if m == Method::Prm {
                    RegressorKind::Prm
                } else {
                    RegressorKind::Parm
                };
                load_regressors(Some(path), "", kind, None)
                    .map(|r| Some(ParamUpdate::Regression(r)))
            }
            _ => load_update(m, &model).map(Some),
        })
        .collect::<Result<_>>()?;
    let aflw = aflw_dir(&args.data)?;
    let faces = super::train::load_split(&aflw, &model, split, "loading images")?;

    if args.method == EvalMethod::ParmJoint {
        let mut config = JointConfig::default();
        if let Some(l) = args.joint_prior {
            config.prior_id = l;
            config.prior_exp = l;
        }
        config.start_from_fit = !args.joint_from_zero;
        let update = load_update(Method::ParmJoint, &model)?;
        let rows = eval_joint(
            &model,
            &predictor,
            &update,
            &faces,
            args.stages,
            config,
            args.joint_ert_from,
        )?;
        print!("{}", joint_table(&rows, faces.len()));
        return Ok(());
    }

    let mut reports = Vec::new();
    let mut all_results = Vec::new();
    for (method, update) in methods.iter().zip(&updates) {
        let mut progress = Progress::new(method.name(), faces.len() as u64);
        let (results, failures) = match update {
            None => eval_ert(&predictor, &faces, args.stages, &mut progress),
            Some(u) => eval_model(
                &model,
                &predictor,
                u,
                &faces,
                args.stages,
                args.start,
                &mut progress,
            ),
        };
        progress.finish();
        reports.push(summarise(method.name(), &results, failures));
        all_results.push(results);
    }

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    write_csvs(&args.out, &reports, &all_results)?;
    if args.json {
        for r in &reports {
            out!("{}", serde_json::to_string(r)?)?;
        }
    } else {
        print!("{}", tables(&reports, faces.len(), args.start));
        note!(
            "CED and NME-per-stage CSV and PNG files in {}",
            args.out.display()
        );
    }
    Ok(())
}

/// Fits every face from the cold start in its ground-truth box, recording the NME after each stage.
pub(super) fn eval_model(
    model: &MorphableModel,
    predictor: &ShapePredictor,
    update: &ParamUpdate,
    faces: &[FaceSample],
    stages: Option<usize>,
    start: StartArg,
    progress: &mut Progress,
) -> (Vec<FaceResult>, usize) {
    // The same motions for every method and run.
    let mut rng = StdRng::seed_from_u64(2026);
    let cascade = Cascade::new(model, predictor, update);
    let stages = stages
        .unwrap_or(usize::MAX)
        .min(update.max_stages(predictor));
    let mut scratch = cascade.scratch();
    let mut x = vec![0.0; 2 * model.n_landmarks()];
    let size = model_face_size(model);
    let mut failures = 0;
    let mut results = Vec::with_capacity(faces.len());
    for f in faces {
        let (mut p, face_box) = match start {
            StartArg::Cold => (cascade.cold_start(&f.face_box), f.face_box),
            StartArg::Warm => {
                let side = ((f.face_box.right - f.face_box.left)
                    * (f.face_box.bottom - f.face_box.top))
                    .sqrt();
                let p = perturb(
                    &f.truth,
                    TRACKING_MOTION,
                    side,
                    update.n_id(),
                    update.n_exp(),
                    &mut rng,
                );
                let b = box_around(model, &p, &mut x).unwrap_or(f.face_box);
                (p, b)
            }
        };
        let mut stage_params = Vec::with_capacity(stages + 1);
        stage_params.push(p.clone());
        let t0 = Instant::now();
        let ok = cascade.fit(
            &f.image,
            &face_box,
            &mut p,
            stages,
            &mut scratch,
            |_, p, _| stage_params.push(p.clone()),
        );
        let time_ms = t0.elapsed().as_secs_f64() * 1e3;
        let stage_nme = stage_params
            .iter()
            .map(|sp| {
                model.project_landmarks(sp, &mut x);
                f.nme(&x).min(1.0)
            })
            .collect::<Vec<_>>();
        let result = match ok {
            Ok(()) => FaceResult {
                stage_nme: stage_nme[1..].to_vec(),
                start_nme: stage_nme[0],
                yaw_deg: yaw_deg(f),
                param_errors: Some(param_errors(
                    &p,
                    &f.truth,
                    &BoxFrame::new(&f.face_box, size),
                )),
                time_ms,
            },
            Err(_) => {
                failures += 1;
                FaceResult {
                    stage_nme: vec![1.0; stages],
                    start_nme: stage_nme[0],
                    yaw_deg: yaw_deg(f),
                    param_errors: None,
                    time_ms,
                }
            }
        };
        results.push(result);
        progress.inc();
    }
    (results, failures)
}

/// The landmark cascade (M1) alone, stage by stage from its mean shape, against the same ground
/// truth.
pub(super) fn eval_ert(
    predictor: &ShapePredictor,
    faces: &[FaceSample],
    stages: Option<usize>,
    progress: &mut Progress,
) -> (Vec<FaceResult>, usize) {
    let stages = stages.unwrap_or(usize::MAX).min(predictor.num_stages());
    let mut scratch = predictor.scratch();
    let n = predictor.num_landmarks();
    let (mut shape, mut delta) = (vec![[0.0; 2]; n], vec![[0.0; 2]; n]);
    let mut flat = vec![0.0; 2 * n];
    let mut failures = 0;
    let mut results = Vec::with_capacity(faces.len());
    for f in faces {
        let t0 = Instant::now();
        let mut stage_nme = Vec::with_capacity(stages);
        let mut ok = predictor.initial_shape_in(&f.face_box, &mut shape).is_ok();
        for (i, s) in shape.iter().enumerate() {
            flat[2 * i] = s[0];
            flat[2 * i + 1] = s[1];
        }
        let start_nme = f.nme(&flat);
        for k in 0..stages {
            ok &= predictor
                .stage(k, &f.image, &f.face_box, &shape, &mut delta, &mut scratch)
                .is_ok();
            for (i, (s, d)) in shape.iter_mut().zip(&delta).enumerate() {
                s[0] += d[0];
                s[1] += d[1];
                flat[2 * i] = s[0];
                flat[2 * i + 1] = s[1];
            }
            stage_nme.push(f.nme(&flat).min(1.0));
        }
        failures += usize::from(!ok);
        results.push(FaceResult {
            stage_nme,
            start_nme,
            yaw_deg: yaw_deg(f),
            param_errors: None,
            time_ms: t0.elapsed().as_secs_f64() * 1e3,
        });
        progress.inc();
    }
    (results, failures)
}

fn write_csvs(
    dir: &std::path::Path,
    reports: &[Report],
    results: &[Vec<FaceResult>],
) -> Result<()> {
    let thresholds: Vec<f64> = (0..=100).map(|i| f64::from(i) * 0.002).collect();
    let curves: Vec<Vec<(f64, f64)>> = results.iter().map(|r| ced(r, &thresholds)).collect();
    let mut csv = String::from("nme");
    for r in reports {
        write!(csv, ",{}", r.method)?;
    }
    csv.push('\n');
    for (i, t) in thresholds.iter().enumerate() {
        write!(csv, "{t:.3}")?;
        for c in &curves {
            write!(csv, ",{:.4}", c[i].1)?;
        }
        csv.push('\n');
    }
    let path = dir.join("ced.csv");
    std::fs::write(&path, csv).with_context(|| format!("cannot write {}", path.display()))?;

    let stages = reports
        .iter()
        .map(|r| r.nme_per_stage.len())
        .max()
        .unwrap_or(0);
    let mut csv = String::from("stage");
    for r in reports {
        write!(csv, ",{}", r.method)?;
    }
    csv.push('\n');
    for k in 0..stages {
        write!(csv, "{}", k + 1)?;
        for r in reports {
            match r.nme_per_stage.get(k) {
                Some(v) => write!(csv, ",{:.5}", v)?,
                None => csv.push(','),
            }
        }
        csv.push('\n');
    }
    let path = dir.join("nme_per_stage.csv");
    std::fs::write(&path, csv).with_context(|| format!("cannot write {}", path.display()))?;

    // The paper's figures: CED at the last stage (Fig. 3) and NME against stage (Fig. 2).
    let ced_series: Vec<Series> = reports
        .iter()
        .zip(&curves)
        .map(|(r, c)| Series {
            label: &r.method,
            points: c,
        })
        .collect();
    let spec = PlotSpec::new(
        "Cumulative error distribution, last stage",
        "NME (mean error / √(w·h) of the ground-truth box)",
        "fraction of faces",
        (0.0, 0.2),
        (0.0, 1.0),
    );
    warn_no_font(write_line_plot(&dir.join("ced.png"), &spec, &ced_series)?);
    let per_stage: Vec<Vec<(f64, f64)>> = reports
        .iter()
        .map(|r| {
            r.nme_per_stage
                .iter()
                .enumerate()
                .map(|(k, v)| ((k + 1) as f64, 100.0 * v))
                .collect()
        })
        .collect();
    let top = per_stage
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(0.0f64, f64::max);
    let stage_series: Vec<Series> = reports
        .iter()
        .zip(&per_stage)
        .map(|(r, c)| Series {
            label: &r.method,
            points: c,
        })
        .collect();
    let mut spec = PlotSpec::new(
        "NME after each stage",
        "stage",
        "NMEA (%)",
        (1.0, stages.max(2) as f64),
        (0.0, (top * 1.1).max(1.0)),
    );
    spec.legend = LegendPosition::TopRight;
    warn_no_font(write_line_plot(
        &dir.join("nme_per_stage.png"),
        &spec,
        &stage_series,
    )?);
    Ok(())
}

fn warn_no_font(outcome: PlotOutcome) {
    if let Some(w) = outcome.warning() {
        note!("warning: {w}");
    }
}

fn tables(reports: &[Report], faces: usize, start: StartArg) -> String {
    let start = match start {
        StartArg::Cold => "cold start in the square ground-truth box",
        StartArg::Warm => "warm start: ground truth moved by a typical frame-to-frame motion",
    };
    let mut s = String::new();
    let _ = writeln!(s, "NMEA (%) on {faces} faces, {start}");
    let _ = writeln!(s, "{:<8} {:>7}", "method", "start");
    for r in reports {
        let _ = writeln!(s, "{:<8} {:>7.2}", r.method, 100.0 * r.start_nme);
    }
    let _ = writeln!(
        s,
        "{:<8} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8} {:>10} {:>9}",
        "method", "stage5", "stage7", "final", "yaw<30", "30-60", "60-90", "ms/face", "failures"
    );
    for r in reports {
        let st = |k: usize| {
            r.nme_per_stage
                .get(k - 1)
                .map_or("-".to_owned(), |v| format!("{:.2}", 100.0 * v))
        };
        let _ = writeln!(
            s,
            "{:<8} {:>7} {:>7} {:>7.2} {:>8.2} {:>8.2} {:>8.2} {:>10.3} {:>9}",
            r.method,
            st(5),
            st(7),
            100.0 * r.nme,
            100.0 * r.by_yaw[0].nme,
            100.0 * r.by_yaw[1].nme,
            100.0 * r.by_yaw[2].nme,
            r.ms_per_face_median,
            r.failures
        );
    }
    let _ = writeln!(
        s,
        "\nfaces by |yaw|: {} / {} / {}",
        reports[0].by_yaw[0].faces, reports[0].by_yaw[1].faces, reports[0].by_yaw[2].faces
    );
    if reports.iter().any(|r| r.param_error.is_some()) {
        let _ = writeln!(
            s,
            "\nmean error norm per parameter group (Table 1)\n{:<8} {:>8} {:>9} {:>11}",
            "method", "pose", "identity", "expression"
        );
        for r in reports {
            if let Some(e) = r.param_error {
                let _ = writeln!(
                    s,
                    "{:<8} {:>8.3} {:>9.3} {:>11.3}",
                    r.method, e.pose, e.identity, e.expression
                );
            }
        }
    }
    s
}

/// One row of the joint paper's ablation: mean 2D NME and 3D landmark error, overall and at
/// |yaw| ≥ 30°, with the median time a face.
struct JointRow {
    name: String,
    nme: Vec<f64>,
    err3d: Vec<f64>,
    yaw: Vec<f64>,
    ms: Vec<f64>,
}

impl JointRow {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            nme: Vec::new(),
            err3d: Vec::new(),
            yaw: Vec::new(),
            ms: Vec::new(),
        }
    }

    fn means(&self, min_yaw: f64) -> (f64, f64, usize) {
        let keep: Vec<usize> = (0..self.yaw.len())
            .filter(|&i| self.yaw[i] >= min_yaw)
            .collect();
        let n = keep.len().max(1) as f64;
        (
            keep.iter().map(|&i| self.nme[i]).sum::<f64>() / n,
            keep.iter().map(|&i| self.err3d[i]).sum::<f64>() / n,
            keep.len(),
        )
    }
}

/// PARM from the cold start on every face (and on its mirror image), then the refinement in the
/// ablation's four settings (2D only, 2D+3D, 2D+3D+W, 2D+3D+P+W — P the coarse-to-fine pose, W the
/// adaptive weights), all from the same PARM fit and landmarks; and the full method with one view
/// (no mirror image). The times of the four settings are PARM's, both views', plus the refinement.
fn eval_joint(
    model: &MorphableModel,
    predictor: &ShapePredictor,
    update: &ParamUpdate,
    faces: &[FaceSample],
    stages: Option<usize>,
    config: JointConfig,
    ert_from: Option<usize>,
) -> Result<Vec<JointRow>> {
    let cascade = Cascade::new(model, predictor, update);
    let stages = stages
        .unwrap_or(usize::MAX)
        .min(update.max_stages(predictor));
    let variants = [
        ("2D", false, false, false),
        ("2D+3D", true, false, false),
        ("2D+3D+W", true, true, false),
        ("2D+3D+P+W", true, true, true),
    ];
    let solvers: Vec<JointSolver> = variants
        .iter()
        .map(|&(_, use_3d, adaptive, coarse_to_fine)| {
            JointSolver::new(
                model,
                update.n_id(),
                update.n_exp(),
                JointConfig {
                    use_3d,
                    adaptive,
                    coarse_to_fine,
                    ..config
                },
            )
        })
        .collect();
    let aligner_2d = super::models::load_2d_aligner()?;
    let mut pipeline = ParmJoint::new(cascade, &solvers[3]).with_2d(aligner_2d.as_ref());
    if let Some(k) = ert_from {
        pipeline.ert_first_stage = k;
    }
    let single = ParmJoint {
        mirror: false,
        ..pipeline
    };
    let mut scratch = pipeline.scratch();
    let mut single_scratch = single.scratch();
    let mut joint_scratch = solvers[0].scratch();
    let mut rows = vec![JointRow::new("parm"), JointRow::new("L2d / L3d")];
    rows.extend(variants.iter().map(|v| JointRow::new(v.0)));
    rows.push(JointRow::new("1 view"));
    let nl = model.n_landmarks();
    let (mut x, mut x3, mut truth3) = (vec![0.0; 2 * nl], vec![0.0; 3 * nl], vec![0.0; 3 * nl]);
    let mut progress = Progress::new("parm+joint", faces.len() as u64);
    for f in faces {
        model.landmarks_3d(&f.truth, &mut truth3);
        let yaw = yaw_deg(f);
        let size = face_size(&f.face_box);
        let mut p = cascade.cold_start(&f.face_box);
        let t0 = Instant::now();
        let ok = pipeline
            .landmarks(&f.image, &f.face_box, &mut p, stages, &mut scratch)
            .is_ok();
        let parm_ms = t0.elapsed().as_secs_f64() * 1e3;
        let mut record = |row: &mut JointRow, p: Option<&facetrack::model::Params>, ms: f64| {
            let (nme, e3) = match p {
                Some(p) => {
                    model.project_landmarks(p, &mut x);
                    model.landmarks_3d(p, &mut x3);
                    (
                        f.nme(&x).min(1.0),
                        landmark_3d_error(&x3, &truth3, f.norm).min(1.0),
                    )
                }
                None => (1.0, 1.0),
            };
            row.nme.push(nme);
            row.err3d.push(e3);
            row.yaw.push(yaw);
            row.ms.push(ms);
        };
        record(&mut rows[0], ok.then_some(&scratch.parm), parm_ms);
        rows[1].nme.push(if ok {
            f.nme(&scratch.l2d).min(1.0)
        } else {
            1.0
        });
        rows[1].err3d.push(if ok {
            landmark_3d_error(&scratch.l3d, &truth3, f.norm).min(1.0)
        } else {
            1.0
        });
        rows[1].yaw.push(yaw);
        rows[1].ms.push(parm_ms);
        for (k, solver) in solvers.iter().enumerate() {
            let mut q = scratch.parm.clone();
            let t1 = Instant::now();
            let done = ok
                && solver
                    .refine(&scratch.l2d, &scratch.l3d, size, &mut q, &mut joint_scratch)
                    .is_ok();
            let ms = parm_ms + t1.elapsed().as_secs_f64() * 1e3;
            record(&mut rows[2 + k], done.then_some(&q), ms);
        }
        // The full method without the mirrored view: what the refinement adds on its own.
        let mut q = cascade.cold_start(&f.face_box);
        let t1 = Instant::now();
        let done = single
            .fit(&f.image, &f.face_box, &mut q, stages, &mut single_scratch)
            .is_ok();
        let ms = t1.elapsed().as_secs_f64() * 1e3;
        record(&mut rows[6], done.then_some(&q), ms);
        progress.inc();
    }
    progress.finish();
    Ok(rows)
}

fn joint_table(rows: &[JointRow], faces: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "joint 2D/3D refinement on {faces} faces, cold start in the square ground-truth box\n\
         NME: 2D landmark error (%); 3D: (x, y, z − mean z) landmark error (%), both over √(w·h)\n\
         L2d / L3d: the refinement's inputs (PARM and ERT on the image and its mirror, averaged)\n\
         ms/face: parm and L2d / L3d rows: PARM and ERT on both views; the ablation rows add the\n\
         refinement; 1 view: the whole method without the mirror image"
    );
    let _ = writeln!(
        s,
        "{:<11} {:>7} {:>7} {:>12} {:>12} {:>8}",
        "method", "NME", "3D", "NME yaw≥30", "3D yaw≥30", "ms/face"
    );
    for r in rows {
        let (n_all, e_all, _) = r.means(0.0);
        let (n_30, e_30, _) = r.means(30.0);
        let mut ms = r.ms.clone();
        ms.sort_by(f64::total_cmp);
        let med = ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN);
        let _ = writeln!(
            s,
            "{:<11} {:>7.2} {:>7.2} {:>12.2} {:>12.2} {:>8.3}",
            r.name,
            100.0 * n_all,
            100.0 * e_all,
            100.0 * n_30,
            100.0 * e_30,
            med
        );
    }
    let (_, _, n30) = rows[0].means(30.0);
    let _ = writeln!(s, "faces with |yaw| ≥ 30°: {n30}");
    s
}
