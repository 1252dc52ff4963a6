//! The PARM framework on shared images: training on a small subset improves the fit, the
//! committed cascades fit held-out faces within a stated error, and a warm start ends at least as
//! close as a cold start.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use facetrack::align::ShapePredictor;
use facetrack::eval::faces::{Split, load_faces};
use facetrack::fit::training::{
    Perturbation, TrainConfig, WarmIdentity, perturb, train_cascade, train_cascade_out_of_fold,
};
use facetrack::fit::training_set::FaceSample;
use facetrack::fit::warm_start::{box_around, fit_from_previous};
use facetrack::fit::{Cascade, ParamUpdate, RegressorCascade, RegressorKind};
use facetrack::model::MorphableModel;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn aflw() -> PathBuf {
    root().join("../shared/data/aflw2000-3d")
}

fn model() -> &'static MorphableModel {
    static M: OnceLock<MorphableModel> = OnceLock::new();
    M.get_or_init(|| {
        MorphableModel::from_bytes(&std::fs::read(root().join("models/face_model.bin")).unwrap())
            .unwrap()
    })
}

fn predictor() -> &'static ShapePredictor {
    static P: OnceLock<ShapePredictor> = OnceLock::new();
    P.get_or_init(|| {
        let bytes = std::fs::read("/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
            .expect("dlib's shape predictor: apt-get install libdlib-data");
        ShapePredictor::from_dlib_bytes(&bytes).unwrap()
    })
}

fn validation() -> &'static [FaceSample] {
    static V: OnceLock<Vec<FaceSample>> = OnceLock::new();
    V.get_or_init(|| load_faces(&aflw(), model(), Split::Validation, || {}).unwrap())
}

fn regressors(name: &str) -> RegressorCascade {
    RegressorCascade::from_bytes(&std::fs::read(root().join("models").join(name)).unwrap()).unwrap()
}

/// Mean NME of cold-start fits after `stages` stages.
fn cold_nme(update: &ParamUpdate, faces: &[FaceSample], stages: usize) -> f64 {
    let cascade = Cascade::new(model(), predictor(), update);
    let mut scratch = cascade.scratch();
    let mut x = vec![0.0; 136];
    let mut sum = 0.0;
    for f in faces {
        let mut p = cascade.cold_start(&f.face_box);
        cascade
            .fit(
                &f.image,
                &f.face_box,
                &mut p,
                stages,
                &mut scratch,
                |_, _, _| {},
            )
            .unwrap();
        model().project_landmarks(&p, &mut x);
        sum += f.nme(&x);
    }
    sum / faces.len() as f64
}

#[test]
fn training_on_a_small_subset_reduces_the_error() {
    let faces = validation();
    let (train, valid) = faces.split_at(60);
    // PARM with one map, then by pose: the landmark update three times (itself and its two
    // copies gated by the yaw), then the parameters.
    for (by_pose, kind, n_dx) in [
        (false, RegressorKind::Parm, 136),
        (true, RegressorKind::ParmByPose, 3 * 136),
    ] {
        let cfg = TrainConfig {
            stages: 3,
            n_id: 10,
            n_exp: 5,
            cold_starts: 2,
            by_pose,
            ..TrainConfig::default()
        };
        let (cascade, reports) =
            train_cascade(model(), predictor(), train, &valid[..30], &cfg, |_, _| {});
        assert_eq!(cascade.stages.len(), 3);
        assert_eq!(cascade.kind, kind);
        assert_eq!(cascade.stages[0].n_in(), n_dx + cascade.n_params());
        assert!(
            reports.windows(2).all(|w| w[1].train_nme < w[0].train_nme),
            "{reports:?}"
        );
        // The file keeps what was trained, and training again gives the same bytes.
        assert_eq!(
            RegressorCascade::from_bytes(&cascade.to_bytes()).unwrap(),
            cascade
        );
        let (again, _) = train_cascade(model(), predictor(), train, &valid[..30], &cfg, |_, _| {});
        assert_eq!(again.to_bytes(), cascade.to_bytes());
        let update = ParamUpdate::Regression(cascade);
        update.check(model()).unwrap();
        let start = cold_nme(&update, &valid[..30], 0);
        let after = cold_nme(&update, &valid[..30], 3);
        println!(
            "{kind:?}: NME from the cold start {:.2} % to {:.2} % after 3 stages",
            100.0 * start,
            100.0 * after
        );
        assert!(after < 0.8 * start);
    }
}

/// Trained over cascades that left each face's fold out, the regressors learn each training face
/// from its fold's cascade, and the validation faces (the ridge weights' choice) from the cascade
/// they will run over: one cascade in every role gives the plain training's bytes, and another
/// landmark cascade as the folds' gives other regressors.
#[test]
fn regressors_learn_each_face_from_the_cascade_that_left_its_fold_out() {
    let faces = validation();
    let (train, valid) = faces.split_at(60);
    let cfg = TrainConfig {
        stages: 3,
        n_id: 10,
        n_exp: 5,
        cold_starts: 1,
        ..TrainConfig::default()
    };
    let plain = |p: &ShapePredictor, folds: &[ShapePredictor]| {
        train_cascade_out_of_fold(model(), p, folds, train, &valid[..30], &cfg, |_, _| {}).0
    };
    let reference = train_cascade(model(), predictor(), train, &valid[..30], &cfg, |_, _| {}).0;
    let same = vec![predictor().clone(); 3];
    assert_eq!(plain(predictor(), &same).to_bytes(), reference.to_bytes());
    let own = facetrack::align::ert_file::read_cascade(
        &std::fs::read(root().join("models/ert3d.bin")).unwrap(),
    )
    .unwrap();
    // The folds' updates are what the training faces are learnt from.
    let other = plain(predictor(), &[own.clone(), own]);
    assert_ne!(other.to_bytes(), reference.to_bytes());
}

/// A typical frame-to-frame motion: where a tracked face's warm start is.
const FRAME_MOTION: Perturbation = Perturbation {
    rotation_deg: 3.0,
    translation: 0.02,
    scale: 0.02,
    expression: 0.1,
};

/// Mean NME of warm starts near the truth but holding `identity`, after `stages` stages of
/// `update`; every fit must keep that identity.
fn warm_nme_holding(
    update: &ParamUpdate,
    faces: &[FaceSample],
    identity: impl Fn(&FaceSample) -> Vec<f64>,
    stages: usize,
) -> f64 {
    let cascade = Cascade::new(model(), predictor(), update);
    let mut scratch = cascade.scratch();
    let mut rng = StdRng::seed_from_u64(3);
    let mut x = vec![0.0; 136];
    let mut sum = 0.0;
    for f in faces {
        let side = (f.face_box.right - f.face_box.left).abs();
        let (ni, ne) = (cascade.update.n_id(), cascade.update.n_exp());
        let mut p = perturb(&f.truth, FRAME_MOTION, side, ni, ne, &mut rng);
        let held = identity(f);
        p.id_mut().copy_from_slice(&held);
        fit_from_previous(&cascade, &f.image, &mut p, stages, &mut scratch, &mut x).unwrap();
        assert_eq!(
            p.id(),
            held.as_slice(),
            "a tracking cascade moved the identity"
        );
        model().project_landmarks(&p, &mut x);
        sum += f.nme(&x);
    }
    sum / faces.len() as f64
}

#[test]
fn a_tracking_cascade_trained_from_other_identities_keeps_the_one_it_is_given() {
    let faces = validation();
    let (train, held_out) = (&faces[..80], &faces[80..120]);
    let train_track = |warm_identity: WarmIdentity| {
        let cfg = TrainConfig {
            stages: 3,
            n_id: 10,
            n_exp: 5,
            cold_starts: 0,
            warm_starts: 3,
            warm_identity,
            ..TrainConfig::default()
        };
        let (cascade, reports) =
            train_cascade(model(), predictor(), train, held_out, &cfg, |_, _| {});
        assert!(
            reports.windows(2).all(|w| w[1].train_nme < w[0].train_nme),
            "{reports:?}"
        );
        ParamUpdate::Regression(cascade)
    };
    let truth_only = train_track(WarmIdentity::Truth);
    // The tracker holds its first fit's identity or the lock's, never the truth's: here the mean
    // face's, and the truth's shrunk by half.
    let mean_face = |_: &FaceSample| vec![0.0; 10];
    let halved = |f: &FaceSample| f.truth.id()[..10].iter().map(|v| 0.5 * v).collect();
    for warm in [WarmIdentity::Shrunk(0.3), WarmIdentity::NearMean(0.25)] {
        let cascade = train_track(warm);
        for (name, identity) in [
            ("mean face", &mean_face as &dyn Fn(&FaceSample) -> Vec<f64>),
            ("truth halved", &halved),
        ] {
            let before = warm_nme_holding(&cascade, held_out, identity, 0);
            let after = warm_nme_holding(&cascade, held_out, identity, 3);
            let without = warm_nme_holding(&truth_only, held_out, identity, 3);
            println!(
                "{warm:?}, holding the {name}: NME from the warm start {:.2} %, after 3 stages \
                 {:.2} % (trained from the truth's identity: {:.2} %)",
                100.0 * before,
                100.0 * after,
                100.0 * without
            );
            assert!(after < 0.8 * before, "{after} from {before}");
        }
    }
}

#[test]
fn committed_parm_fits_held_out_faces() {
    let update = ParamUpdate::Regression(regressors("parm.bin"));
    assert_eq!(update.max_stages(predictor()), 15);
    let frontal: Vec<FaceSample> = validation()
        .iter()
        .filter(|f| f.truth.yaw().abs() < 30f64.to_radians())
        .take(80)
        .cloned()
        .collect();
    let nme = cold_nme(&update, &frontal, 15);
    println!(
        "PARM cold-start NME on 80 held-out faces with |yaw| < 30°: {:.2} %",
        100.0 * nme
    );
    // The validation figure is 4.4 % on all 213 such faces; the bound leaves room, not doubt.
    assert!(nme < 0.055, "{nme}");
}

#[test]
fn warm_start_ends_at_least_as_close_as_a_cold_start_in_fewer_stages() {
    let cold = ParamUpdate::Regression(regressors("parm.bin"));
    let warm = ParamUpdate::Regression(regressors("parm_track.bin"));
    let faces = &validation()[..100];
    let cold_final = cold_nme(&cold, faces, 15);
    let cascade = Cascade::new(model(), predictor(), &warm);
    let mut scratch = cascade.scratch();
    let mut rng = StdRng::seed_from_u64(1);
    let mut x = vec![0.0; 136];
    let mut per_stage = [0.0; 5];
    for f in faces {
        let side = (f.face_box.right - f.face_box.left).abs();
        let start = perturb(
            &f.truth,
            FRAME_MOTION,
            side,
            cascade.update.n_id(),
            cascade.update.n_exp(),
            &mut rng,
        );
        let b = box_around(model(), &start, &mut x).unwrap();
        let mut p = start.clone();
        cascade
            .fit(&f.image, &b, &mut p, 5, &mut scratch, |k, p, _| {
                model().project_landmarks(p, &mut x);
                per_stage[k] += f.nme(&x) / faces.len() as f64;
            })
            .unwrap();
        // The tracker's entry point does the same.
        let mut q = start;
        assert_eq!(
            fit_from_previous(&cascade, &f.image, &mut q, 5, &mut scratch, &mut x).unwrap(),
            b
        );
        assert_eq!(p, q);
    }
    println!(
        "cold start after 15 stages {:.2} %; warm start after 1..5 stages {:?}",
        100.0 * cold_final,
        per_stage.map(|v| (1e4 * v).round() / 100.0)
    );
    assert!(
        per_stage[4] <= cold_final,
        "warm {per_stage:?} vs cold {cold_final}"
    );
}

#[test]
fn prm_and_parm_files_describe_themselves() {
    let prm = regressors("prm.bin");
    let parm = regressors("parm.bin");
    assert_eq!(
        (prm.kind, parm.kind),
        (RegressorKind::Prm, RegressorKind::Parm)
    );
    assert_eq!(parm.stages[0].n_in(), 136 + parm.n_params());
    assert_eq!(prm.stages[0].n_in(), 136);
    let track = regressors("parm_track.bin");
    assert_eq!(track.kind, RegressorKind::Parm);
    assert_eq!(track.stages[0].n_in(), 136 + track.n_params());
}
