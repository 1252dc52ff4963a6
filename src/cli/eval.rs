//! `facetrack eval`: the PARM paper's tables and figures on held-out AFLW2000-3D faces, each fitted
//! from the cold start in the square box around its ground truth (the `--boxes` protocol).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use facetrack::align::ShapePredictor;
use facetrack::eval::faces::{Split, aflw_dir, load_faces};
use facetrack::eval::metrics::{FaceResult, Report, ced, param_errors, summarise, yaw_deg};
use facetrack::fit::box_frame::{BoxFrame, model_face_size};
use facetrack::fit::training::{Perturbation, perturb};
use facetrack::fit::training_set::FaceSample;
use facetrack::fit::{Cascade, ParamUpdate};
use facetrack::model::MorphableModel;
use facetrack::track::warm_start::box_around;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::Method;
use super::models::{load_face_model, load_regressors, load_shape_predictor, load_update};
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
    /// Folder for the cumulative error distribution and NME-per-stage CSV files.
    #[arg(long, value_name = "DIR", default_value = "eval-out")]
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EvalMethod {
    All,
    Ert,
    Pclm,
    Prm,
    Parm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StartArg {
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
    };
    let split = match args.split {
        SplitArg::Validation => Split::Validation,
        SplitArg::Train => Split::Train,
        SplitArg::All => Split::All,
    };
    let model = load_face_model(None)?;
    let predictor = load_shape_predictor(None)?;
    let updates: Vec<Option<ParamUpdate>> = methods
        .iter()
        .map(|&m| match (m, &args.regressors) {
            (Method::Ert, _) => Ok(None),
            (Method::Prm | Method::Parm, Some(path)) => {
                load_regressors(Some(path), "").map(|r| Some(ParamUpdate::Regression(r)))
            }
            _ => load_update(m).map(Some),
        })
        .collect::<Result<_>>()?;
    let aflw = aflw_dir(&args.data)?;
    let n = facetrack::eval::aflw2000::read_annotations(&aflw.join("annotations.jsonl"))?.len();
    let total = (0..n).filter(|&i| split.contains(i)).count();
    let loading = Mutex::new(Progress::new("loading images", total as u64));
    let faces = load_faces(&aflw, &model, split, || {
        if let Ok(mut p) = loading.lock() {
            p.inc();
        }
    })?;
    if let Ok(p) = loading.into_inner() {
        p.finish();
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
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        print!("{}", tables(&reports, faces.len(), args.start));
        eprintln!("CED and NME-per-stage CSV files in {}", args.out.display());
    }
    Ok(())
}

/// Fits every face from the cold start in its ground-truth box, recording the NME after each stage.
fn eval_model(
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

/// dlib's cascade alone, stage by stage from its mean shape, against the same ground truth.
fn eval_ert(
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
    Ok(())
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
