//! Loading the models a command needs, through the search order of DESIGN.md; every error names
//! the file and how to get it.

use std::path::Path;

use anyhow::{Context, Result};

use facetrack::align::ShapePredictor;
use facetrack::fit::{ParamUpdate, Pclm, RegressorCascade};
use facetrack::locate::{DLIB_HINT, DLIB_SHAPE_PREDICTOR, DLIB_SYSTEM_DIR, find_model};
use facetrack::model::{MODEL_FILE_NAME, MODEL_HINT, MorphableModel};

pub const PRM_FILE: &str = "prm.bin";
pub const PARM_FILE: &str = "parm.bin";
pub const PCLM_FILE: &str = "pclm.json";
/// PARM trained from warm starts, for tracking.
pub const PARM_TRACK_FILE: &str = "parm_track.bin";
const TRAIN_HINT: &str = "it is committed in models/; remake it with `facetrack train --data ../shared/data/aflw2000-3d --out models/`";

/// dlib's 68-point shape predictor.
pub fn load_shape_predictor(explicit: Option<&Path>) -> Result<ShapePredictor> {
    let path = find_model(
        explicit,
        DLIB_SHAPE_PREDICTOR,
        &[DLIB_SYSTEM_DIR],
        DLIB_HINT,
    )?;
    let bytes = std::fs::read(&path)
        .with_context(|| format!("cannot read {}; {DLIB_HINT}", path.display()))?;
    ShapePredictor::from_dlib_bytes(&bytes).with_context(|| {
        format!(
            "{} is not a usable dlib shape predictor (reinstall it with `apt-get install --reinstall libdlib-data`)",
            path.display()
        )
    })
}

/// The project's morphable model, `face_model.bin`.
pub fn load_face_model(explicit: Option<&Path>) -> Result<MorphableModel> {
    let path = find_model(explicit, MODEL_FILE_NAME, &[], MODEL_HINT)?;
    let bytes = std::fs::read(&path)
        .with_context(|| format!("cannot read {}; {MODEL_HINT}", path.display()))?;
    MorphableModel::from_bytes(&bytes).with_context(|| {
        format!(
            "{} is not a usable face model; {MODEL_HINT}",
            path.display()
        )
    })
}

/// A trained regressor cascade (`prm.bin` or `parm.bin`).
pub fn load_regressors(name: &str) -> Result<RegressorCascade> {
    let path = find_model(None, name, &[], TRAIN_HINT)?;
    let bytes = std::fs::read(&path)
        .with_context(|| format!("cannot read {}; {TRAIN_HINT}", path.display()))?;
    RegressorCascade::from_bytes(&bytes).with_context(|| {
        format!(
            "{} is not a usable regressor file; {TRAIN_HINT}",
            path.display()
        )
    })
}

/// A regressor file named on the command line.
pub fn load_regressors_from(path: &Path) -> Result<RegressorCascade> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    RegressorCascade::from_bytes(&bytes)
        .with_context(|| format!("{} is not a usable regressor file", path.display()))
}

/// PCLM's settings (`pclm.json`).
pub fn load_pclm() -> Result<Pclm> {
    let path = find_model(None, PCLM_FILE, &[], TRAIN_HINT)?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}; {TRAIN_HINT}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a usable PCLM settings file; {TRAIN_HINT}",
            path.display()
        )
    })
}

/// The update method for a method name of the command line.
pub fn load_update(method: super::Method) -> Result<ParamUpdate> {
    Ok(match method {
        super::Method::Pclm => ParamUpdate::Pclm(load_pclm()?),
        super::Method::Prm => ParamUpdate::Regression(load_regressors(PRM_FILE)?),
        super::Method::Parm | super::Method::ParmJoint => {
            ParamUpdate::Regression(load_regressors(PARM_FILE)?)
        }
        super::Method::Ert => anyhow::bail!("ert has no parameter update"),
    })
}
