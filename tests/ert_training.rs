//! facetrack's own landmark cascade: trained on a small subset of the shared faces, it must
//! learn (its error falls stage by stage, and on faces it never saw it ends far below where it
//! starts), come back from its file unchanged, and refuse a damaged file.

use std::path::{Path, PathBuf};

use facetrack::align::ert_file::{ErtFileError, TrainedErt, read_cascade};
use facetrack::align::ert_training::{ErtFace, ErtTrainConfig, train_ert};
use facetrack::eval::faces::{Split, load_faces};
use facetrack::fit::training_set::FaceSample;
use facetrack::model::MorphableModel;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn faces() -> (MorphableModel, Vec<FaceSample>) {
    let model =
        MorphableModel::from_bytes(&std::fs::read(root().join("models/face_model.bin")).unwrap())
            .unwrap();
    let aflw = root().join("../shared/data/aflw2000-3d");
    let faces = load_faces(&aflw, &model, Split::Validation, || {}).unwrap();
    (model, faces)
}

fn config() -> ErtTrainConfig {
    ErtTrainConfig {
        stages: 4,
        trees: 40,
        oversampling: 5,
        tracking_starts: 2,
        basis: 20,
        ..ErtTrainConfig::default()
    }
}

fn ert_faces(faces: &[FaceSample]) -> Vec<ErtFace<'_>> {
    faces.iter().map(FaceSample::ert_face).collect()
}

/// Mean NME over `faces` of the cascade run from its mean shape, after `stages` stages.
fn mean_nme(
    predictor: &facetrack::align::ShapePredictor,
    faces: &[FaceSample],
    stages: usize,
) -> f64 {
    let mut scratch = predictor.scratch();
    let n = predictor.num_landmarks();
    let (mut shape, mut delta) = (vec![[0.0; 2]; n], vec![[0.0; 2]; n]);
    let mut total = 0.0;
    for f in faces {
        predictor.initial_shape_in(&f.face_box, &mut shape).unwrap();
        for k in 0..stages {
            predictor
                .stage(k, &f.image, &f.face_box, &shape, &mut delta, &mut scratch)
                .unwrap();
            for (s, d) in shape.iter_mut().zip(&delta) {
                s[0] += d[0];
                s[1] += d[1];
            }
        }
        let flat: Vec<f64> = shape.iter().flatten().copied().collect();
        total += f.nme(&flat);
    }
    total / faces.len() as f64
}

#[test]
fn a_cascade_trained_on_a_few_faces_learns_and_survives_its_file() {
    let (_model, faces) = faces();
    let (train, held_out) = faces.split_at(200);
    let mut reports = Vec::new();
    let ert = train_ert(&ert_faces(train), &config(), |r| reports.push(r), || {}).unwrap();
    assert_eq!(reports.len(), 4);
    for r in &reports {
        assert!(r.error_after < r.error_before, "{reports:?}");
    }

    let bytes = ert.to_bytes();
    let again = TrainedErt::from_bytes(&bytes).unwrap();
    assert_eq!(again, ert);
    let predictor = read_cascade(&bytes).unwrap();
    assert_eq!(predictor.num_stages(), 4);
    assert_eq!(predictor.num_landmarks(), 68);

    // On faces it never saw: from the mean shape's error to well under two thirds of it.
    let start = mean_nme(&predictor, held_out, 0);
    let end = mean_nme(&predictor, held_out, 4);
    assert!(end < 0.67 * start, "held-out NME {start:.4} → {end:.4}");

    // The same faces and seed give the same file.
    let twice = train_ert(&ert_faces(train), &config(), |_| {}, || {}).unwrap();
    assert_eq!(twice.to_bytes(), bytes);
}

#[test]
fn a_damaged_cascade_file_is_refused() {
    let (_model, faces) = faces();
    let cfg = ErtTrainConfig {
        stages: 1,
        trees: 3,
        oversampling: 1,
        tracking_starts: 0,
        ..config()
    };
    let bytes = train_ert(&ert_faces(&faces[..20]), &cfg, |_| {}, || {})
        .unwrap()
        .to_bytes();
    assert!(read_cascade(&bytes).is_ok());
    let mut flipped = bytes.clone();
    flipped[40] ^= 0x10;
    assert_eq!(read_cascade(&flipped).unwrap_err(), ErtFileError::Checksum);
    assert!(matches!(
        read_cascade(&bytes[..bytes.len() / 2]).unwrap_err(),
        ErtFileError::Checksum | ErtFileError::Truncated(_)
    ));
    assert_eq!(
        read_cascade(b"FTCONF\r\n\x01\0\0\0\0\0\0\0").unwrap_err(),
        ErtFileError::Magic
    );
}
