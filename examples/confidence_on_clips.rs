//! The fit confidence checked on real footage against an independent reference: for every 5th
//! frame of a clip with a reference face, the tracker's own fit (from its CSV) is moved, turned,
//! placed elsewhere and refitted exactly as the training examples are made, and every fit is
//! labelled by its NME against the clip's reference landmarks (3DDFA_V2), not against our fit.
//! Prints the ROC AUC of fits under 5 % against fits over 10 % (or on no face), overall and by
//! kind, for each clip and for all together.
//!
//!     cargo run --release --example confidence_on_clips -- CASE_DIR...
//!
//! Each CASE_DIR is one of `scripts/hard_cases.py`'s folders, after `scripts/score_cases.py` has
//! tracked it (it holds `CASE.avi`, `ref_3ddfa.jsonl` and `track.csv`).

use std::collections::HashMap;
use std::path::Path;

use facetrack::align::{FitConfidence, ShapePredictor};
use facetrack::capture::{Frame, FrameSource, Next, VideoSource};
use facetrack::fit::confidence_training::{Example, ExampleKind, ExampleMaker, roc_auc};
use facetrack::fit::training_set::{FaceSample, bbox_norm};
use facetrack::fit::{Cascade, ParamUpdate, RegressorCascade};
use facetrack::image::GrayImage;
use facetrack::model::{MorphableModel, Params};

#[path = "shared/reference.rs"]
mod reference;
use reference::reference_landmarks;

const STEP: u64 = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let read = |n: &str| std::fs::read(root.join(n));
    let model = MorphableModel::from_bytes(&read("face_model.bin")?)?;
    let predictor = ShapePredictor::from_dlib_bytes(&std::fs::read(
        "/usr/share/dlib/shape_predictor_68_face_landmarks.dat",
    )?)?;
    let track = ParamUpdate::Regression(RegressorCascade::from_bytes(&read("parm_track.bin")?)?);
    let conf = FitConfidence::from_bytes(&read("confidence.bin")?)?;
    let maker = ExampleMaker {
        model: &model,
        track: Cascade::new(&model, &predictor, &track),
        reference: &conf.reference,
        points: &conf.points,
        stages: 7,
    };
    let mut all: Vec<Example> = Vec::new();
    for dir in std::env::args().skip(1) {
        let dir = Path::new(&dir);
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("a case folder")?;
        let faces = faces(dir, name, &model, track.n_id(), track.n_exp())?;
        let examples: Vec<Example> = faces
            .iter()
            .enumerate()
            .flat_map(|(i, f)| maker.examples(f, 1000 + i as u64))
            .collect();
        report(name, &conf, &examples);
        all.extend(examples);
    }
    report("all", &conf, &all);
    Ok(())
}

fn report(name: &str, conf: &FitConfidence, examples: &[Example]) {
    let score = |positive: bool, kind: Option<ExampleKind>| -> Vec<f64> {
        examples
            .iter()
            .filter(|e| e.positive == positive && kind.is_none_or(|k| e.kind == k))
            .map(|e| f64::from(conf.log_odds_of(&e.values)))
            .collect()
    };
    let pos = score(true, None);
    let neg = score(false, None);
    let mut line = format!(
        "{name}: {} good, {} bad, ROC AUC {:.4}",
        pos.len(),
        neg.len(),
        roc_auc(&pos, &neg)
    );
    for kind in ExampleKind::ALL {
        let n = score(false, Some(kind));
        if !n.is_empty() {
            line += &format!("; {} {:.4}", kind.name(), roc_auc(&pos, &n));
        }
    }
    println!("{line}");
}

/// The sampled frames of a case with the tracker's fit as the start and the reference as truth.
fn faces(
    dir: &Path,
    name: &str,
    model: &MorphableModel,
    n_id: usize,
    n_exp: usize,
) -> Result<Vec<FaceSample>, Box<dyn std::error::Error>> {
    let reference = reference_landmarks(dir)?;
    let mut fits: HashMap<u64, Params> = HashMap::new();
    let mut csv = csv::Reader::from_path(dir.join("track.csv"))?;
    let header = csv.headers()?.clone();
    let col = |n: &str| header.iter().position(|h| h == n);
    for row in csv.records() {
        let row = row?;
        let get = |n: &str| {
            col(n)
                .and_then(|i| row.get(i))
                .and_then(|v| v.parse::<f64>().ok())
        };
        if row.get(col("success").ok_or("success column")?) != Some("1") {
            continue;
        }
        let Some(frame) = get("frame") else { continue };
        let mut values = vec![
            get("scale").unwrap_or(f64::NAN),
            get("pitch_deg").unwrap_or(f64::NAN).to_radians(),
            get("yaw_deg").unwrap_or(f64::NAN).to_radians(),
            get("roll_deg").unwrap_or(f64::NAN).to_radians(),
            get("tx").unwrap_or(f64::NAN),
            get("ty").unwrap_or(f64::NAN),
        ];
        values.extend((0..n_id).map(|i| get(&format!("id_{i}")).unwrap_or(0.0)));
        values.extend((0..n_exp).map(|i| get(&format!("exp_{i}")).unwrap_or(0.0)));
        if let Ok(p) = Params::from_values(values, n_id, n_exp) {
            fits.insert(frame as u64, p);
        }
    }
    let mut source = VideoSource::open(&dir.join(format!("{name}.avi")))?;
    let mut frame = Frame::default();
    let mut index = 0u64;
    let mut out = Vec::new();
    loop {
        match source.next_frame(&mut frame)? {
            Next::End => break,
            Next::Skipped(_) | Next::Lost { .. } => {}
            Next::Frame => {
                if index.is_multiple_of(STEP)
                    && let (Some(points), Some(fit)) = (reference.get(&index), fits.get(&index))
                {
                    let mut gray = GrayImage::default();
                    let img = &frame.image;
                    gray.set_from_rgb(img.width, img.height, &img.data);
                    if let Some(mut face) =
                        FaceSample::new(format!("{name}#{index}"), gray, fit.clone(), model)
                    {
                        face.points = points.clone();
                        face.norm = bbox_norm(points);
                        out.push(face);
                    }
                }
                index += 1;
            }
        }
    }
    Ok(out)
}
