//! Speed of the PARM framework per face, single-threaded: PCLM, PRM and PARM over dlib's ERT
//! stages at 5, 7 and all 15 stages, and PARM followed by the joint 2D/3D refinement; facetrack's
//! own cascade (ert3d) alone and under PARM at all its 10 stages; each from the cold start in the
//! ground-truth box, on 50 held-out AFLW2000-3D faces (decoded before anything is timed).
//!
//!     cargo bench --bench fit

mod common;

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion};
use facetrack::eval::faces::{Split, load_faces};
use facetrack::fit::joint::{JointConfig, JointSolver};
use facetrack::fit::parm_joint::ParmJoint;
use facetrack::fit::{Cascade, ParamUpdate, Pclm};

const FACES: usize = 50;

fn main() {
    let (model, predictor) = common::model_and_predictor();
    let aflw = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/aflw2000-3d");
    let mut faces = load_faces(&aflw, &model, Split::Validation, || {}).expect("shared data");
    faces.truncate(FACES);
    let pclm: Pclm = serde_json::from_slice(&common::read("pclm.json")).expect("pclm.json");
    let methods = [
        ("pclm", ParamUpdate::Pclm(pclm)),
        (
            "prm",
            ParamUpdate::Regression(common::regressors("prm.bin")),
        ),
        (
            "parm",
            ParamUpdate::Regression(common::regressors("parm.bin")),
        ),
    ];

    let mut c = Criterion::default().configure_from_args().sample_size(20);
    let mut group = c.benchmark_group("fit_per_face");
    for (name, update) in &methods {
        let cascade = Cascade::new(&model, &predictor, update);
        let mut scratch = cascade.scratch();
        for stages in [5, 7, 15] {
            group.bench_function(BenchmarkId::new(*name, stages), |b| {
                cold_fits(b, &cascade, &mut scratch, &faces, stages)
            });
        }
    }
    // PARM's 15 stages, then the joint 2D/3D refinement (mirrored view included).
    let parm = &methods[2].1;
    let solver = JointSolver::new(&model, parm.n_id(), parm.n_exp(), JointConfig::default());
    let pipeline = ParmJoint::new(Cascade::new(&model, &predictor, parm), &solver);
    let mut scratch = pipeline.scratch();
    let mut i = 0;
    group.bench_function(BenchmarkId::new("parm+joint", 15), |b| {
        b.iter(|| {
            let f = &faces[i % faces.len()];
            i += 1;
            let mut p = pipeline.cascade.cold_start(&f.face_box);
            let r = pipeline.fit(&f.image, &f.face_box, &mut p, 15, &mut scratch);
            black_box((r.is_ok(), p.s()))
        })
    });

    // facetrack's own cascade, alone from its mean shape and under PARM (its own regressors).
    let ert3d = facetrack::align::ert_file::read_cascade(&common::read("ert3d.bin"))
        .expect("models/ert3d.bin");
    let n = ert3d.num_landmarks();
    let mut out = vec![[0.0; 2]; n];
    let mut ert_scratch = ert3d.scratch();
    let mut i = 0;
    group.bench_function(BenchmarkId::new("ert3d", ert3d.num_stages()), |b| {
        b.iter(|| {
            let f = &faces[i % faces.len()];
            i += 1;
            let r = ert3d.predict(&f.image, &f.face_box, &mut out, &mut ert_scratch);
            black_box((r.is_ok(), out[0]))
        })
    });
    let parm3d = ParamUpdate::Regression(common::regressors("parm_ert3d.bin"));
    let cascade = Cascade::new(&model, &ert3d, &parm3d);
    let mut scratch = cascade.scratch();
    group.bench_function(BenchmarkId::new("parm_ert3d", ert3d.num_stages()), |b| {
        cold_fits(b, &cascade, &mut scratch, &faces, usize::MAX)
    });
    group.finish();
    c.final_summary();
}

/// Times fits of `stages` stages from the cold start in the ground-truth box, face after face.
fn cold_fits(
    b: &mut criterion::Bencher<'_>,
    cascade: &Cascade<'_>,
    scratch: &mut facetrack::fit::FitScratch,
    faces: &[facetrack::fit::training_set::FaceSample],
    stages: usize,
) {
    let mut i = 0;
    b.iter(|| {
        let f = &faces[i % faces.len()];
        i += 1;
        let mut p = cascade.cold_start(&f.face_box);
        let r = cascade.fit(&f.image, &f.face_box, &mut p, stages, scratch, |_, _, _| {});
        black_box((r.is_ok(), p.s()))
    })
}
