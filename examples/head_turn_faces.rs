//! The head-turn check of the expression controls on any portraits, not only the demo's: each
//! photo is made into a demo sequence (fitted, its face textured onto the mesh), calibrated on its
//! neutral face for 20 frames, held still for a second, then turned to +30°, back to −30° and to
//! the front over four seconds with its expression held — the protocol of `tests/track.rs`'s
//! `a_head_turn_with_a_neutral_face_moves_no_control_far`. Prints how far each control moved on
//! each face (the bar is 0.15), and each control's mean over the faces tracked throughout.
//!
//!     cargo run --release --example head_turn_faces -- [--models DIR] PHOTO...
//!
//! For instance, the near-frontal faces of AFLW2000-3D's validation fifth (every fifth line of
//! its `annotations.jsonl`) with |yaw| under 0.15 rad, |pitch| under 0.2 and |roll| under 0.15.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use facetrack::align::detect::FaceDetector;
use facetrack::align::{FitConfidence, ShapePredictor};
use facetrack::capture::demo::{DemoSequence, fit_photo};
use facetrack::capture::{RgbImage, load_rgb};
use facetrack::controls::{CONTROL_NAMES, N_CONTROLS};
use facetrack::fit::joint::{JointConfig, JointSolver};
use facetrack::fit::{Cascade, ParamUpdate, Pclm, RegressorCascade};
use facetrack::model::MorphableModel;
use facetrack::track::{TrackOutput, TrackSettings, TrackStatus, Tracker, TrackerModels};

const CALIBRATION_FRAMES: usize = 20;
const STILL_FRAMES: u32 = 30;
const TURN_FRAMES: u32 = 120;
const BAR: f32 = 0.15;

type Error = Box<dyn std::error::Error>;

fn models(dir: &Path) -> Result<Arc<TrackerModels>, Error> {
    let read = |name: &str| std::fs::read(dir.join(name));
    let model = MorphableModel::from_bytes(&read("face_model.bin")?)?;
    let predictor = ShapePredictor::from_dlib_bytes(&std::fs::read(
        "/usr/share/dlib/shape_predictor_68_face_landmarks.dat",
    )?)?;
    let regressors = |name: &str| -> Result<ParamUpdate, Error> {
        Ok(ParamUpdate::Regression(RegressorCascade::from_bytes(
            &read(name)?,
        )?))
    };
    let parm = regressors("parm_track.bin")?;
    let joint = JointSolver::new(&model, parm.n_id(), parm.n_exp(), JointConfig::default());
    let pclm: Pclm = serde_json::from_slice(&read("pclm.json")?)?;
    Ok(Arc::new(TrackerModels {
        pclm: ParamUpdate::Pclm(pclm),
        prm: regressors("prm_track.bin")?,
        acquire: regressors("parm.bin")?,
        parm,
        parm_held: regressors("parm_track_held.bin")?,
        joint,
        confidence: FitConfidence::from_bytes(&read("confidence.bin")?)?,
        model,
        predictor,
        aligner_2d: None,
    }))
}

/// How far each control moved over the turn, and whether every frame was tracked.
fn turn(models: &Arc<TrackerModels>, photo: RgbImage) -> Result<([f32; N_CONTROLS], bool), Error> {
    let fitted = fit_photo(
        &photo,
        &mut FaceDetector::new()?,
        &Cascade::new(&models.model, &models.predictor, &models.acquire),
        Some(&Cascade::new(
            &models.model,
            &models.predictor,
            &models.parm,
        )),
    )?;
    let mut seq = DemoSequence::new(models.model.clone(), photo, &fitted)?;
    let base = seq.base_params().clone();
    let mut tracker = Tracker::new(models.clone(), TrackSettings::default())?;
    tracker.calibrate_neutral(CALIBRATION_FRAMES);
    let mut out = TrackOutput::new(models);
    let mut image = RgbImage::default();
    let (mut lo, mut hi) = ([f32::INFINITY; N_CONTROLS], [f32::NEG_INFINITY; N_CONTROLS]);
    let mut p = base.clone();
    let mut tracked = true;
    for i in 0..STILL_FRAMES + TURN_FRAMES {
        let phase = i.saturating_sub(STILL_FRAMES) as f64 / TURN_FRAMES as f64;
        let yaw = 30f64.to_radians() * (std::f64::consts::TAU * phase).sin();
        p.set_yaw(base.yaw() + yaw);
        seq.render(&p, &mut image);
        tracked &= tracker.track(&image, f64::from(i) / 30.0, &mut out)? == TrackStatus::Tracking;
        if i >= STILL_FRAMES {
            for (k, v) in out.controls.values.iter().enumerate() {
                lo[k] = lo[k].min(*v);
                hi[k] = hi[k].max(*v);
            }
        }
    }
    Ok((std::array::from_fn(|k| hi[k] - lo[k]), tracked))
}

fn main() -> Result<(), Error> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    if args.first().map(String::as_str) == Some("--models") && args.len() > 1 {
        dir = PathBuf::from(args.remove(1));
        args.remove(0);
    }
    let models = models(&dir)?;
    let (mut sum, mut n, mut over, mut faces) = ([0.0f32; N_CONTROLS], 0, 0, 0);
    for path in &args {
        let photo = match load_rgb(Path::new(path)) {
            Ok(photo) => photo,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let (moved, tracked) = match turn(&models, photo) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let (k, worst) = moved
            .iter()
            .copied()
            .enumerate()
            .fold((0, 0.0f32), |a, b| if b.1 > a.1 { b } else { a });
        let lost = if tracked {
            ""
        } else {
            " (lost on some frames)"
        };
        println!("{path}: {} moved by {worst:.3}{lost}", CONTROL_NAMES[k]);
        faces += 1;
        over += usize::from(worst > BAR);
        if tracked {
            for (s, m) in sum.iter_mut().zip(moved) {
                *s += m;
            }
            n += 1;
        }
    }
    println!("{over} of {faces} faces moved a control by more than {BAR}");
    println!("mean over the {n} faces tracked throughout:");
    for (name, s) in CONTROL_NAMES.iter().zip(sum) {
        println!("  {name:<17} {:.3}", s / n.max(1) as f32);
    }
    Ok(())
}
