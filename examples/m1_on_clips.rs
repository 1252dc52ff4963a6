//! Each landmark cascade (M1) on real footage, away from the tracker: on every 5th frame of the
//! shared clips, from the cold start in the square box around the reference's landmarks (the
//! evaluation protocol of `facetrack eval`), dlib's cascade and facetrack's own (`ert3d.bin`)
//! alone, the cold PARM cascade over each, and the joint refinement fitting the model to each
//! cascade's landmarks from PARM's fit. Prints, per clip and on average over the clips, the NME
//! against the reference (3DDFA_V2) of all 68 points, the jaw and the inner 51, and the mean
//! vertical offset of the jaw, the brows and the mouth (% of the box; positive: lower than the
//! reference).
//!
//!     cargo run --release --example m1_on_clips -- [--ert FILE] [CLIP...]
//!
//! (default: all ten clips of `../shared/data/video/`; `--ert` puts another of facetrack's
//! cascades in place of `models/ert3d.bin`, the PARM cascade over it unchanged).

use std::path::Path;

use facetrack::align::detect::square_box_around;
use facetrack::align::{FaceBox, ShapePredictor};
use facetrack::capture::{Frame, FrameSource, Next, VideoSource};
use facetrack::fit::joint::{JointConfig, JointScratch, JointSolver};
use facetrack::fit::training_set::bbox_norm;
use facetrack::fit::{Cascade, ParamUpdate, RegressorCascade};
use facetrack::image::GrayImage;
use facetrack::model::MorphableModel;

#[path = "shared/reference.rs"]
mod reference;
use reference::reference_landmarks;

type Error = Box<dyn std::error::Error>;

const CLIPS: [&str; 10] = [
    "d0", "d3", "d9", "d10", "d11", "d14", "d18", "s18", "s20", "s29",
];
const ROWS: [&str; 6] = [
    "dlib alone",
    "PARM over dlib",
    "fit to dlib",
    "ert3d alone",
    "PARM over ert3d",
    "fit to ert3d",
];
/// NME all, jaw, inner; vertical offset of the jaw, the brows, the mouth.
type Figures = [f64; 6];

/// One M1 with the cold PARM cascade trained over it.
struct M1<'a> {
    predictor: &'a ShapePredictor,
    cascade: Cascade<'a>,
}

fn main() -> Result<(), Error> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let models = root.join("models");
    let read = |n: &str| std::fs::read(models.join(n));
    let model = MorphableModel::from_bytes(&read("face_model.bin")?)?;
    let dlib = ShapePredictor::from_dlib_bytes(&std::fs::read(
        "/usr/share/dlib/shape_predictor_68_face_landmarks.dat",
    )?)?;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let ert_file = match args.iter().position(|a| a == "--ert") {
        Some(i) if i + 1 < args.len() => {
            let file = std::path::PathBuf::from(args.remove(i + 1));
            args.remove(i);
            file
        }
        Some(_) => return Err("--ert needs a file".into()),
        None => models.join("ert3d.bin"),
    };
    let own = facetrack::align::ert_file::read_cascade(&std::fs::read(&ert_file)?)?;
    let parm_dlib = ParamUpdate::Regression(RegressorCascade::from_bytes(&read("parm.bin")?)?);
    let parm_own = ParamUpdate::Regression(RegressorCascade::from_bytes(&read("parm_ert3d.bin")?)?);
    let m1s = [
        M1 {
            predictor: &dlib,
            cascade: Cascade::new(&model, &dlib, &parm_dlib),
        },
        M1 {
            predictor: &own,
            cascade: Cascade::new(&model, &own, &parm_own),
        },
    ];
    let solver = JointSolver::new(
        &model,
        parm_dlib.n_id(),
        parm_dlib.n_exp(),
        JointConfig::default(),
    );
    let mut joint = solver.scratch();

    let clips: Vec<&str> = if args.is_empty() {
        CLIPS.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    let video = root.join("../shared/data/video");
    let mut mean = [[0.0; 6]; ROWS.len()];
    for clip in &clips {
        let figures = clip_figures(&video.join(clip), clip, &m1s, &solver, &mut joint)?;
        println!("{clip}");
        print_rows(&figures);
        for (m, f) in mean.iter_mut().zip(&figures) {
            for (a, b) in m.iter_mut().zip(f) {
                *a += b / clips.len() as f64;
            }
        }
    }
    println!("mean over {} clips", clips.len());
    print_rows(&mean);
    Ok(())
}

fn print_rows(figures: &[Figures]) {
    for (name, f) in ROWS.iter().zip(figures) {
        println!(
            "  {name:<16} NME {:.2}  jaw {:.2}  inner {:.2}  lower by: jaw {:+.1} brows {:+.1} mouth {:+.1}",
            f[0], f[1], f[2], f[3], f[4], f[5]
        );
    }
}

/// The figures of each row of [`ROWS`], averaged over the clip's sampled frames.
fn clip_figures(
    dir: &Path,
    clip: &str,
    m1s: &[M1<'_>; 2],
    solver: &JointSolver,
    joint: &mut JointScratch,
) -> Result<Vec<Figures>, Error> {
    let reference = reference_landmarks(dir)?;
    let mut source = VideoSource::open(&dir.join(format!("{clip}.mp4")))?;
    let mut frame = Frame::default();
    let mut gray = GrayImage::default();
    let mut sum = vec![[0.0; 6]; ROWS.len()];
    let (mut index, mut n) = (0u64, 0.0f64);
    loop {
        match source.next_frame(&mut frame)? {
            Next::End => break,
            Next::Skipped(_) | Next::Lost { .. } => continue,
            Next::Frame => {}
        }
        let this = index;
        index += 1;
        let Some(truth) = reference.get(&this).filter(|_| this % 5 == 0) else {
            continue;
        };
        gray.set_from_rgb(frame.image.width, frame.image.height, &frame.image.data);
        let face_box = square_box_around(truth.iter().copied()).ok_or("no box")?;
        for (k, m1) in m1s.iter().enumerate() {
            let shapes = fits(&gray, &face_box, m1, solver, joint)?;
            for (j, shape) in shapes.iter().enumerate() {
                let f = figures(shape, truth);
                for (a, b) in sum[3 * k + j].iter_mut().zip(f) {
                    *a += b;
                }
            }
        }
        n += 1.0;
    }
    Ok(sum.into_iter().map(|f| f.map(|v| v / n.max(1.0))).collect())
}

/// The cascade's landmarks alone, PARM's over it, and the model fitted to the cascade's
/// landmarks from PARM's fit.
fn fits(
    image: &GrayImage,
    face_box: &FaceBox,
    m1: &M1<'_>,
    solver: &JointSolver,
    joint: &mut JointScratch,
) -> Result<[Vec<[f64; 2]>; 3], Error> {
    let model = m1.cascade.model;
    let mut alone = vec![[0.0; 2]; 68];
    m1.predictor
        .predict(image, face_box, &mut alone, &mut m1.predictor.scratch())?;
    let mut p = m1.cascade.cold_start(face_box);
    let stages = m1.cascade.update.max_stages(m1.predictor);
    m1.cascade.fit(
        image,
        face_box,
        &mut p,
        stages,
        &mut m1.cascade.scratch(),
        |_, _, _| {},
    )?;
    let mut x = vec![0.0; 136];
    model.project_landmarks(&p, &mut x);
    let parm = x.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
    let l2d: Vec<f64> = alone.iter().flatten().copied().collect();
    let mut l3d = vec![0.0; 204];
    model.landmarks_3d(&p, &mut l3d);
    let size = ((face_box.right - face_box.left) * (face_box.bottom - face_box.top)).sqrt();
    solver.refine(&l2d, &l3d, size, &mut p, joint)?;
    model.project_landmarks(&p, &mut x);
    let fitted = x.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
    Ok([alone, parm, fitted])
}

/// [`Figures`] of one shape against the reference, in % of the reference's box.
fn figures(shape: &[[f64; 2]], truth: &[[f64; 2]]) -> Figures {
    let norm = bbox_norm(truth) / 100.0;
    let mean = |range: std::ops::Range<usize>, f: &dyn Fn(usize) -> f64| {
        range.clone().map(f).sum::<f64>() / range.len() as f64
    };
    let dist = |i: usize| (shape[i][0] - truth[i][0]).hypot(shape[i][1] - truth[i][1]) / norm;
    let down = |i: usize| (shape[i][1] - truth[i][1]) / norm;
    [
        mean(0..68, &dist),
        mean(0..17, &dist),
        mean(17..68, &dist),
        mean(0..17, &down),
        mean(17..27, &down),
        mean(48..68, &down),
    ]
}
