//! What the fitting benchmarks load before timing: the committed models and dlib's predictor.

use std::path::Path;

use facetrack::align::ShapePredictor;
use facetrack::fit::RegressorCascade;
use facetrack::model::MorphableModel;

/// A committed file of `models/`.
pub fn read(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(name),
    )
    .expect("committed model")
}

/// The face model and dlib's shape predictor (Debian's libdlib-data).
pub fn model_and_predictor() -> (MorphableModel, ShapePredictor) {
    let model = MorphableModel::from_bytes(&read("face_model.bin")).expect("face model");
    let predictor = ShapePredictor::from_dlib_bytes(
        &std::fs::read("/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
            .expect("apt-get install libdlib-data"),
    )
    .expect("dlib model");
    (model, predictor)
}

/// A committed regressor cascade.
pub fn regressors(name: &str) -> RegressorCascade {
    RegressorCascade::from_bytes(&read(name)).expect(name)
}
