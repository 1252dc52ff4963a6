//! The model and the validation faces of the shared data, for the examples that draw contact
//! sheets from them.

use std::path::Path;

use facetrack::eval::faces::{Split, aflw_dir, load_faces};
use facetrack::fit::training_set::FaceSample;
use facetrack::model::MorphableModel;

/// The committed morphable model and the validation split of the faces under `data`
/// (`../shared/data`), fitted with it.
pub fn validation_faces(
    data: &Path,
) -> Result<(MorphableModel, Vec<FaceSample>), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = MorphableModel::from_bytes(&std::fs::read(root.join("models/face_model.bin"))?)?;
    let faces = load_faces(&aflw_dir(data)?, &model, Split::Validation, || {})?;
    Ok((model, faces))
}
