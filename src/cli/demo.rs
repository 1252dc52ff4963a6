//! `facetrack demo`: renders frames of the demo sequence (issue 5) to PNG files, with their ground
//! truth as JSON lines, to look at what the synthetic source shows.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

use facetrack::align::detect::FaceDetector;
use facetrack::capture::demo::{DemoSequence, astronaut_photo, fit_photo};
use facetrack::capture::{RgbImage, load_rgb};
use facetrack::fit::{Cascade, ParamUpdate};
use facetrack::model::{MorphableModel, Params};

use super::fit::Pose;
use super::models::{
    PARM_FILE, PARM_TRACK_FILE, load_face_model, load_landmark_cascade, load_named_regressors,
};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of frames to write.
    #[arg(long, default_value_t = 60)]
    frames: u64,
    /// First frame index.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Write every n-th frame only.
    #[arg(long, default_value_t = 1)]
    step: u64,
    /// Folder for demo_NNNNN.png and truth.jsonl (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Portrait to build the sequence from (default: the embedded astronaut photo).
    #[arg(long)]
    photo: Option<PathBuf>,
}

/// One line of truth.jsonl.
#[derive(Debug, Serialize)]
struct TruthLine<'a> {
    index: u64,
    timestamp_ms: f64,
    file: &'a str,
    pose: Pose,
    expression: &'a [f64],
    identity: &'a [f64],
    landmarks_2d: Vec<[f64; 2]>,
}

/// Fits the model to the photo (PARM from the detector's box, refined by warm starts) and builds
/// the sequence.
pub fn build_sequence(photo: RgbImage) -> Result<DemoSequence> {
    let model: MorphableModel = load_face_model(None)?;
    let predictor = load_landmark_cascade(None)?;
    let cold = ParamUpdate::Regression(load_named_regressors(PARM_FILE)?);
    let track = ParamUpdate::Regression(load_named_regressors(PARM_TRACK_FILE)?);
    let mut detector = FaceDetector::new()?;
    let fitted: Params = fit_photo(
        &photo,
        &mut detector,
        &Cascade::new(&model, &predictor, &cold),
        Some(&Cascade::new(&model, &predictor, &track)),
    )?;
    Ok(DemoSequence::new(model, photo, &fitted)?)
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let photo = match &args.photo {
        Some(p) => load_rgb(p)?,
        None => astronaut_photo()?,
    };
    let mut seq = build_sequence(photo)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let truth_path = args.out.join("truth.jsonl");
    let mut truth_file = BufWriter::new(
        std::fs::File::create(&truth_path)
            .with_context(|| format!("cannot create {}", truth_path.display()))?,
    );
    let mut frame = RgbImage::default();
    let mut truth = seq.truth_buffer();
    let mut render_s = 0.0;
    let step = args.step.max(1);
    for n in 0..args.frames {
        let index = args.start + n * step;
        let t0 = Instant::now();
        seq.frame(index, &mut frame, &mut truth);
        render_s += t0.elapsed().as_secs_f64();
        let name = format!("demo_{index:05}.png");
        write_png(&args.out.join(&name), &frame)?;
        let p = &truth.params;
        let line = TruthLine {
            index,
            timestamp_ms: truth.timestamp.as_secs_f64() * 1e3,
            file: &name,
            pose: Pose::of(p),
            expression: p.exp(),
            identity: p.id(),
            landmarks_2d: truth
                .landmarks
                .chunks_exact(2)
                .map(|c| [c[0], c[1]])
                .collect(),
        };
        writeln!(truth_file, "{}", serde_json::to_string(&line)?)
            .with_context(|| format!("cannot write {}", truth_path.display()))?;
    }
    truth_file
        .flush()
        .with_context(|| format!("cannot write {}", truth_path.display()))?;
    if args.frames > 0 {
        note!(
            "{} frames in {}; rendering {:.2} ms a frame ({:.0} fps)",
            args.frames,
            args.out.display(),
            render_s * 1e3 / args.frames as f64,
            args.frames as f64 / render_s
        );
    }
    Ok(())
}

fn write_png(path: &Path, frame: &RgbImage) -> Result<()> {
    image::save_buffer(
        path,
        &frame.data,
        frame.width as u32,
        frame.height as u32,
        image::ExtendedColorType::Rgb8,
    )
    .with_context(|| format!("cannot write {}", path.display()))
}
