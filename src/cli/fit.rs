//! `facetrack fit`: landmarks (and, with the model-based methods, the 3D fit) for still images.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;

use facetrack::align::FaceBox;
use facetrack::align::box_list::read_box_list;
use facetrack::align::detect::FaceDetector;
use facetrack::capture::{is_image_file, load_rgb};
use facetrack::image::GrayImage;

use facetrack::align::{ConfidenceScratch, ErtScratch, Point2, ShapePredictor};
use facetrack::fit::joint::{JointConfig, JointSolver, JointWeights};
use facetrack::fit::parm_joint::{ParmJoint, ParmJointScratch};
use facetrack::fit::{Cascade, FitScratch};
use facetrack::model::Params;

use super::Method;
use super::models::{load_2d_aligner, load_face_model, load_landmark_cascade, load_update};
use super::outputs::{partial_path, refuse_input_as_output};
use super::progress::Progress;

#[derive(Debug, Args)]
pub struct FitArgs {
    /// An image file, or a folder whose images are all fitted (sorted by name).
    #[arg(long)]
    images: PathBuf,
    /// Face boxes, one JSON object a line: {"image": NAME, "box": [left, top, right, bottom]}.
    /// Without it the face detector finds the face.
    #[arg(long)]
    boxes: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "ert")]
    method: Method,
    /// Number of cascade stages to run (default: all).
    #[arg(long)]
    stages: Option<usize>,
    /// The landmark cascade's file: dlib's shape predictor, or ert3d.bin with --m1 ert3d (default:
    /// the model search order).
    #[arg(long)]
    landmarks: Option<PathBuf>,
    /// Where to write the results, one JSON object a line.
    #[arg(long)]
    out: PathBuf,
}

/// One fitted face as `fit --out` writes it (DESIGN.md); the model's fields are absent for `ert`.
#[derive(Debug, Serialize)]
struct FitLine<'a> {
    image: &'a str,
    #[serde(rename = "box")]
    face_box: [f64; 4],
    method: &'static str,
    /// The fit confidence, 0–1: whether the landmarks sit on a face (the tracker's threshold is
    /// 0.5).
    confidence: f64,
    landmarks_2d: Vec<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    landmarks_3d: Option<Vec<[f64; 3]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pose: Option<Pose>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<&'a [f64]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expression: Option<&'a [f64]>,
    /// λ2d and λ3d of the joint refinement at the reported yaw (joint paper Eq. 7–9).
    #[serde(skip_serializing_if = "Option::is_none")]
    weights: Option<JointWeights>,
    time_ms: f64,
}

/// The head pose as the output files write it (DESIGN.md): angles in radians, weak-perspective
/// scale and translation in image pixels.
#[derive(Debug, Serialize)]
pub(super) struct Pose {
    pitch: f64,
    yaw: f64,
    roll: f64,
    s: f64,
    tx: f64,
    ty: f64,
}

impl Pose {
    pub(super) fn of(p: &Params) -> Self {
        Self {
            pitch: p.pitch(),
            yaw: p.yaw(),
            roll: p.roll(),
            s: p.s(),
            tx: p.tx(),
            ty: p.ty(),
        }
    }
}

#[derive(Debug, Serialize)]
struct FailLine<'a> {
    image: &'a str,
    error: String,
}

/// What fits a face: the landmark cascade alone, or the PARM framework with an update method.
#[allow(clippy::large_enum_variant)] // one lives per command run
enum Fitter<'a> {
    Ert {
        predictor: &'a ShapePredictor,
        scratch: ErtScratch,
        shape: Vec<Point2>,
        delta: Vec<Point2>,
    },
    Model {
        cascade: Cascade<'a>,
        scratch: FitScratch,
        params: Params,
        x: Vec<f64>,
        x3: Vec<f64>,
    },
    Joint {
        pipeline: ParmJoint<'a>,
        scratch: ParmJointScratch,
        params: Params,
        weights: JointWeights,
        x: Vec<f64>,
        x3: Vec<f64>,
    },
}

impl Fitter<'_> {
    /// Fits one face and returns the time the fit took, in ms.
    fn fit(&mut self, image: &GrayImage, face_box: &FaceBox, stages: usize) -> Result<f64> {
        let t0 = Instant::now();
        match self {
            Fitter::Ert {
                predictor,
                scratch,
                shape,
                delta,
            } => run_ert(predictor, image, face_box, stages, shape, delta, scratch)?,
            Fitter::Model {
                cascade,
                scratch,
                params,
                x,
                ..
            } => {
                *params = cascade.cold_start(face_box);
                cascade.fit(image, face_box, params, stages, scratch, |_, _, _| {})?;
                let ms = t0.elapsed().as_secs_f64() * 1e3;
                cascade.model.project_landmarks(params, x);
                return Ok(ms);
            }
            Fitter::Joint {
                pipeline,
                scratch,
                params,
                weights,
                x,
                ..
            } => {
                *params = pipeline.cascade.cold_start(face_box);
                *weights = pipeline.fit(image, face_box, params, stages, scratch)?;
                let ms = t0.elapsed().as_secs_f64() * 1e3;
                pipeline.cascade.model.project_landmarks(params, x);
                return Ok(ms);
            }
        }
        Ok(t0.elapsed().as_secs_f64() * 1e3)
    }

    /// The landmarks of the last fit, `[u0, v0, …]`.
    fn landmarks(&self, out: &mut Vec<f64>) {
        out.clear();
        match self {
            Fitter::Ert { shape, .. } => out.extend(shape.iter().flatten()),
            Fitter::Model { x, .. } | Fitter::Joint { x, .. } => out.extend_from_slice(x),
        }
    }

    fn line<'b>(
        &'b mut self,
        image: &'b str,
        face_box: &FaceBox,
        method: Method,
        time_ms: f64,
    ) -> FitLine<'b> {
        let face_box = [face_box.left, face_box.top, face_box.right, face_box.bottom];
        match self {
            Fitter::Ert { shape, .. } => FitLine {
                image,
                face_box,
                method: method.name(),
                confidence: f64::NAN,
                landmarks_2d: shape.clone(),
                landmarks_3d: None,
                pose: None,
                identity: None,
                expression: None,
                weights: None,
                time_ms,
            },
            Fitter::Model {
                cascade,
                params,
                x,
                x3,
                ..
            } => {
                cascade.model.landmarks_3d(params, x3);
                model_line(image, face_box, method, params, x, x3, None, time_ms)
            }
            Fitter::Joint {
                pipeline,
                params,
                weights,
                x,
                x3,
                ..
            } => {
                pipeline.cascade.model.landmarks_3d(params, x3);
                model_line(
                    image,
                    face_box,
                    method,
                    params,
                    x,
                    x3,
                    Some(*weights),
                    time_ms,
                )
            }
        }
    }
}

/// The line of a model-based fit.
#[allow(clippy::too_many_arguments)]
fn model_line<'b>(
    image: &'b str,
    face_box: [f64; 4],
    method: Method,
    params: &'b Params,
    x: &[f64],
    x3: &[f64],
    weights: Option<JointWeights>,
    time_ms: f64,
) -> FitLine<'b> {
    FitLine {
        image,
        face_box,
        method: method.name(),
        confidence: f64::NAN,
        landmarks_2d: x.chunks_exact(2).map(|c| [c[0], c[1]]).collect(),
        landmarks_3d: Some(x3.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()),
        pose: Some(Pose::of(params)),
        identity: Some(params.id()),
        expression: Some(params.exp()),
        weights,
        time_ms,
    }
}

pub fn run(args: FitArgs) -> Result<()> {
    let mut images = list_images(&args.images)?;
    let inputs = images
        .iter()
        .map(|(_, p)| p.as_path())
        .chain(args.boxes.as_deref())
        .chain(args.landmarks.as_deref());
    refuse_input_as_output(&args.out, inputs)?;
    let boxes = args.boxes.as_deref().map(read_boxes).transpose()?;
    // A folder with a box file: the faces the file names.
    if let (Some(b), true) = (&boxes, args.images.is_dir()) {
        images.retain(|(name, _)| b.contains_key(name));
        if images.is_empty() {
            bail!(
                "none of the images named in --boxes is in {}",
                args.images.display()
            );
        }
    }
    let predictor = load_landmark_cascade(args.landmarks.as_deref())?;
    let model_and_update = match args.method {
        Method::Ert => None,
        m => {
            let model = load_face_model(None)?;
            let update = load_update(m, &model)?;
            Some((model, update))
        }
    };
    let mut solver: Option<JointSolver> = None;
    let aligner_2d = match args.method {
        Method::ParmJoint => load_2d_aligner()?,
        _ => None,
    };
    let mut fitter = match &model_and_update {
        None => Fitter::Ert {
            predictor: &predictor,
            scratch: predictor.scratch(),
            shape: vec![[0.0; 2]; predictor.num_landmarks()],
            delta: vec![[0.0; 2]; predictor.num_landmarks()],
        },
        Some((model, update)) if args.method == Method::ParmJoint => {
            let cascade = Cascade::new(model, &predictor, update);
            let pipeline = ParmJoint::new(
                cascade,
                solver.get_or_insert_with(|| {
                    JointSolver::new(model, update.n_id(), update.n_exp(), JointConfig::default())
                }),
            )
            .with_2d(aligner_2d.as_ref());
            Fitter::Joint {
                scratch: pipeline.scratch(),
                params: cascade.cold_start(&FaceBox::new(0.0, 0.0, 1.0, 1.0)),
                weights: JointWeights {
                    lambda_2d: 1.0,
                    lambda_3d: 0.0,
                },
                x: vec![0.0; 2 * model.n_landmarks()],
                x3: vec![0.0; 3 * model.n_landmarks()],
                pipeline,
            }
        }
        Some((model, update)) => {
            let cascade = Cascade::new(model, &predictor, update);
            Fitter::Model {
                scratch: cascade.scratch(),
                params: cascade.cold_start(&FaceBox::new(0.0, 0.0, 1.0, 1.0)),
                x: vec![0.0; 2 * model.n_landmarks()],
                x3: vec![0.0; 3 * model.n_landmarks()],
                cascade,
            }
        }
    };
    let max_stages = match &model_and_update {
        None => predictor.num_stages(),
        Some((_, update)) => update.max_stages(&predictor),
    };
    let stages = match args.stages {
        None => max_stages,
        Some(k) if (1..=max_stages).contains(&k) => k,
        Some(k) => bail!(
            "--stages {k}: {} has 1 to {max_stages} stages",
            args.method.name()
        ),
    };
    let mut detector = match boxes {
        Some(_) => None,
        None => Some(FaceDetector::new()?),
    };

    let confidence = super::models::load_confidence()?;
    // Results go to a file beside --out and take its name when the run is over: a file the user
    // had there is replaced only by a complete result, and stays as it was when the run fails.
    let partial = partial_path(&args.out);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut out = BufWriter::new(file);
    let mut gray = GrayImage::default();
    let mut confidence_scratch = ConfidenceScratch::default();
    let mut landmarks = Vec::new();
    let mut failed = 0usize;
    let mut progress = (images.len() > 1).then(|| Progress::new("fit", images.len() as u64));

    for (name, path) in &images {
        let outcome = fit_one(
            path,
            name,
            boxes.as_ref(),
            detector.as_mut(),
            &mut gray,
            |g, b| {
                let ms = fitter.fit(g, b, stages)?;
                fitter.landmarks(&mut landmarks);
                anyhow::ensure!(
                    landmarks.iter().all(|v| v.is_finite()),
                    "the fit diverged (its landmarks are not finite numbers); is the box [{}, {}, {}, {}] on the face?",
                    b.left,
                    b.top,
                    b.right,
                    b.bottom
                );
                Ok((ms, confidence.score(g, &landmarks, &mut confidence_scratch)))
            },
        );
        let line = match outcome {
            Ok((face_box, time_ms)) => {
                fitter.landmarks(&mut landmarks);
                let c = confidence.score(&gray, &landmarks, &mut confidence_scratch);
                let mut line = fitter.line(name, &face_box, args.method, time_ms);
                line.confidence = c;
                serde_json::to_string(&line)
            }
            // A single image has nothing else to save: its error is the command's.
            Err(err) if images.len() == 1 => {
                drop(out);
                let _ = std::fs::remove_file(&partial);
                return Err(err);
            }
            Err(err) => {
                failed += 1;
                let msg = format!("warning: {name}: {}", super::error_text(&err));
                match &progress {
                    Some(p) => p.println(&msg),
                    None => note!("{msg}"),
                }
                serde_json::to_string(&FailLine {
                    image: name,
                    error: super::error_text(&err),
                })
            }
        }?;
        writeln!(out, "{line}").with_context(|| format!("cannot write {}", partial.display()))?;
        if let Some(p) = progress.as_mut() {
            p.inc();
        }
    }
    out.flush()
        .and_then(|()| out.get_ref().sync_all())
        .with_context(|| format!("cannot write {}", partial.display()))?;
    drop(out);
    std::fs::rename(&partial, &args.out).with_context(|| {
        format!(
            "cannot rename {} to {} (the results are in the first)",
            partial.display(),
            args.out.display()
        )
    })?;
    if let Some(p) = progress {
        p.finish();
    }
    if failed > 0 {
        bail!(
            "{failed} of {} images could not be fitted (each has an \"error\" line in {}); the others were written",
            images.len(),
            args.out.display()
        );
    }
    Ok(())
}

/// Detections fitted per image; the most confident fit wins.
const CANDIDATES: usize = 4;

/// Loads one image, finds its box and runs `fit` on it. `fit` returns its result and the fit
/// confidence; with the detector, up to [`CANDIDATES`] faces are fitted and the most confident is
/// fitted last (so the fitter holds it).
fn fit_one<T>(
    path: &Path,
    name: &str,
    boxes: Option<&HashMap<String, FaceBox>>,
    detector: Option<&mut FaceDetector>,
    gray: &mut GrayImage,
    mut fit: impl FnMut(&GrayImage, &FaceBox) -> Result<(T, f64)>,
) -> Result<(FaceBox, T)> {
    let face_box = match boxes {
        Some(b) => *b
            .get(name)
            .with_context(|| format!("no box for {name} in --boxes"))?,
        None => FaceBox::new(0.0, 0.0, 0.0, 0.0),
    };
    let rgb = load_rgb(path)?;
    gray.set_from_rgb(rgb.width, rgb.height, &rgb.data);
    let Some(d) = detector else {
        return Ok((face_box, fit(gray, &face_box)?.0));
    };
    let found = d.detect(gray);
    anyhow::ensure!(!found.is_empty(), "no face found");
    let mut best: Option<(usize, f64)> = None;
    let mut last = None;
    for (i, det) in found.iter().take(CANDIDATES).enumerate() {
        // A detection the cascade cannot fit is no candidate.
        let Ok((result, confidence)) = fit(gray, &det.face_box) else {
            continue;
        };
        if best.is_none_or(|(_, c)| confidence > c) {
            best = Some((i, confidence));
        }
        last = Some((i, result));
    }
    let (i, _) = best.context("no face found that the cascade could fit")?;
    let face_box = found[i].face_box;
    match last {
        Some((j, result)) if j == i => Ok((face_box, result)),
        _ => Ok((face_box, fit(gray, &face_box)?.0)),
    }
}

/// A file name as the output writes it: as it is when it is UTF-8, else with each byte that is
/// not written `\xNN`, so that two names that differ only there stay two names.
fn file_name(name: &std::ffi::OsStr) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::new();
        for chunk in name.as_bytes().utf8_chunks() {
            out.push_str(chunk.valid());
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02X}"));
            }
        }
        out
    }
    #[cfg(not(unix))]
    {
        name.to_string_lossy().into_owned()
    }
}

/// (name as written in the output and looked up in --boxes, path) for each image to fit.
fn list_images(path: &Path) -> Result<Vec<(String, PathBuf)>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_dir() {
        let name = path.file_name().map(file_name).unwrap_or_default();
        return Ok(vec![(name, path.to_owned())]);
    }
    let mut images = Vec::new();
    for entry in
        std::fs::read_dir(path).with_context(|| format!("cannot list {}", path.display()))?
    {
        let p = entry
            .with_context(|| format!("cannot list {}", path.display()))?
            .path();
        if p.is_file() && is_image_file(&p) {
            images.push((p.file_name().map(file_name).unwrap_or_default(), p));
        }
    }
    if images.is_empty() {
        bail!(
            "no images (.jpg, .png, .ppm, .pgm, .bmp) in {}",
            path.display()
        );
    }
    images.sort();
    Ok(images)
}

fn read_boxes(path: &Path) -> Result<HashMap<String, FaceBox>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    read_box_list(std::io::BufReader::new(file)).with_context(|| format!("{}", path.display()))
}

/// The first `stages` stages of the ERT cascade from its mean shape.
fn run_ert(
    predictor: &ShapePredictor,
    image: &GrayImage,
    face_box: &FaceBox,
    stages: usize,
    shape: &mut [Point2],
    delta: &mut [Point2],
    scratch: &mut ErtScratch,
) -> Result<()> {
    if stages == predictor.num_stages() {
        return Ok(predictor.predict(image, face_box, shape, scratch)?);
    }
    predictor.initial_shape_in(face_box, shape)?;
    for k in 0..stages {
        predictor.stage(k, image, face_box, shape, delta, scratch)?;
        for (s, d) in shape.iter_mut().zip(delta.iter()) {
            s[0] += d[0];
            s[1] += d[1];
        }
    }
    Ok(())
}
