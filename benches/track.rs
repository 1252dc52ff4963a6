//! Speed of what a tracked frame adds up to, single-threaded:
//! - `confidence/face`: the fit confidence alone, at the true landmarks of 50 held-out AFLW2000-3D
//!   faces;
//! - `fit_and_confidence/face`: a warm-started PARM fit (the tracking cascade, 7 stages, from the
//!   truth moved by a frame's motion) and its confidence, on the same faces, and the same with
//!   the tracker's default stages (`face_default_stages`);
//! - `controls/face`: the named expression controls of a fit (the landmark cascade run on from
//!   the fit for the eyelids and lips, the measurements, the calibration), at the true parameters
//!   of the same faces;
//! - `identity_lock/fit_30_frames`: the identity lock's solve once a track has its frames — one
//!   identity fitted to 30 faces' free refinements (3 alternations with each face's pose and
//!   expression);
//! - `tracked_frame/demo`: `Tracker::track` on consecutive demo frames (grey conversion, the warm
//!   starts, the confidence, the background search's bookkeeping, the filter), stepping forwards
//!   and backwards through 120 frames of motion so that the head keeps moving. The tracker is in
//!   live mode, as with a camera: it takes the background search's answer when it is ready. (For
//!   a file it waits for the answer 60 frames after asking, which at this benchmark's pace of
//!   a frame every millisecond, with nothing else to do, is before the search has finished.)
//!
//!     cargo bench --bench track

mod common;

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::Criterion;
use facetrack::align::detect::FaceDetector;
use facetrack::align::{ConfidenceScratch, FitConfidence};
use facetrack::capture::RgbImage;
use facetrack::capture::demo::{DemoSequence, STILL_FRAMES, astronaut_photo, fit_photo};
use facetrack::controls::ControlMeter;
use facetrack::eval::faces::{Split, load_faces};
use facetrack::fit::joint::{JointConfig, JointSolver};
use facetrack::fit::parm_joint::face_size;
use facetrack::fit::shared_identity::SharedIdentity;
use facetrack::fit::training::{WARM_PERTURBATION, perturb};
use facetrack::fit::warm_start::fit_from_previous;
use facetrack::fit::{Cascade, ParamUpdate, Pclm};
use facetrack::track::identity_lock::LOCK_FRAMES;
use facetrack::track::{DEFAULT_STAGES, TrackOutput, TrackSettings, Tracker, TrackerModels};
use rand::SeedableRng;

const FACES: usize = 50;
const FRAMES: usize = 120;

fn main() {
    let (model, predictor) = common::model_and_predictor();
    let confidence =
        FitConfidence::from_bytes(&common::read("confidence.bin")).expect("confidence.bin");
    let regressors = |name| ParamUpdate::Regression(common::regressors(name));
    let aflw = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/aflw2000-3d");
    let mut faces = load_faces(&aflw, &model, Split::Validation, || {}).expect("shared data");
    faces.truncate(FACES);
    let mut c = Criterion::default().configure_from_args();

    let mut scratch = ConfidenceScratch::default();
    let truths: Vec<Vec<f64>> = faces
        .iter()
        .map(|f| f.points.iter().flat_map(|p| *p).collect())
        .collect();
    let mut i = 0;
    c.bench_function("confidence/face", |b| {
        b.iter(|| {
            i = (i + 1) % faces.len();
            black_box(confidence.score(&faces[i].image, &truths[i], &mut scratch))
        })
    });

    let track = regressors("parm_track.bin");
    let cascade = Cascade::new(&model, &predictor, &track);
    let mut fit_scratch = cascade.scratch();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let starts: Vec<_> = faces
        .iter()
        .map(|f| {
            perturb(
                &f.truth,
                WARM_PERTURBATION,
                f.norm,
                track.n_id(),
                track.n_exp(),
                &mut rng,
            )
        })
        .collect();
    let mut x = vec![0.0; 2 * model.n_landmarks()];
    let mut p = starts[0].clone();
    for (name, stages) in [
        ("fit_and_confidence/face", 7),
        ("fit_and_confidence/face_default_stages", DEFAULT_STAGES),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % faces.len();
                p.clone_from(&starts[i]);
                let fitted = fit_from_previous(
                    &cascade,
                    &faces[i].image,
                    &mut p,
                    stages,
                    &mut fit_scratch,
                    &mut x,
                );
                model.project_landmarks(&p, &mut x);
                black_box((
                    fitted.is_ok(),
                    confidence.score(&faces[i].image, &x, &mut scratch),
                ))
            })
        });
    }

    let mut meter = ControlMeter::new(&model, &predictor);
    c.bench_function("controls/face", |b| {
        b.iter(|| {
            i = (i + 1) % faces.len();
            let f = &faces[i];
            model.project_landmarks(&f.truth, &mut x);
            let raw = meter.raw(&model, &predictor, &f.image, &f.face_box, &f.truth, &x);
            black_box(raw.ok().flatten().map(|r| meter.controls(&r)))
        })
    });

    let cold = regressors("parm.bin");
    let photo = astronaut_photo().expect("embedded photo");
    let fitted = fit_photo(
        &photo,
        &mut FaceDetector::new().expect("detector"),
        &Cascade::new(&model, &predictor, &cold),
        Some(&cascade),
    )
    .expect("fit of the portrait");
    let mut seq = DemoSequence::new(model.clone(), photo, &fitted).expect("demo sequence");
    let mut truth = seq.truth_buffer();
    let frames: Vec<RgbImage> = (0..FRAMES)
        .map(|k| {
            let mut f = RgbImage::default();
            seq.frame(STILL_FRAMES + k as u64, &mut f, &mut truth);
            f
        })
        .collect();
    let pclm: Pclm = serde_json::from_slice(&common::read("pclm.json")).expect("pclm.json");
    let joint = JointSolver::new(&model, track.n_id(), track.n_exp(), JointConfig::default());
    // The identity lock's solve, once a track has its frames: 30 faces refined freely, then one
    // identity fitted to them all.
    let mut shared = SharedIdentity::new(&joint, LOCK_FRAMES);
    let mut joint_scratch = joint.scratch();
    for f in faces.iter().cycle().take(LOCK_FRAMES) {
        let (mut l2, mut l3) = (vec![0.0; x.len()], vec![0.0; 3 * model.n_landmarks()]);
        model.project_landmarks(&f.truth, &mut l2);
        model.landmarks_3d(&f.truth, &mut l3);
        let mut p = f.truth.with_dims(joint.n_id(), joint.n_exp());
        let size = face_size(&f.face_box);
        joint
            .refine(&l2, &l3, size, &mut p, &mut joint_scratch)
            .expect("refinement");
        shared.add(&joint, &p, size, &joint_scratch);
    }
    c.bench_function("identity_lock/fit_30_frames", |b| {
        b.iter(|| {
            let mut frames = shared.clone();
            black_box(frames.fit(&joint, &mut joint_scratch).is_ok())
        })
    });

    let models = Arc::new(TrackerModels {
        pclm: ParamUpdate::Pclm(pclm),
        prm: regressors("prm_track.bin"),
        acquire: cold.clone(),
        parm: track.clone(),
        parm_held: regressors("parm_track_held.bin"),
        joint,
        confidence: confidence.clone(),
        model,
        predictor,
        aligner_2d: None,
    });
    let mut tracker = Tracker::new(models.clone(), TrackSettings::default()).expect("tracker");
    tracker.set_live(true);
    let mut out = TrackOutput::new(&models);
    // Ping-pong through the frames: consecutive frames, never a jump.
    let (mut k, mut step, mut t) = (0usize, 1isize, 0.0);
    c.bench_function("tracked_frame/demo", |b| {
        b.iter(|| {
            if (k == FRAMES - 1 && step > 0) || (k == 0 && step < 0) {
                step = -step;
            }
            k = (k as isize + step) as usize;
            t += 1.0 / 30.0;
            black_box(tracker.track(&frames[k], t, &mut out).is_ok())
        })
    });
    c.final_summary();
}
