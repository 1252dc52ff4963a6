//! Loading the models a command needs, through the search order of DESIGN.md; every error names
//! the file and how to get it.

use std::path::Path;

use anyhow::{Context, Result};

use facetrack::align::{FitConfidence, ShapePredictor};
use facetrack::fit::joint::{JointConfig, JointSolver};
use facetrack::fit::{ParamUpdate, Pclm, RegressorCascade, RegressorKind, RegressorRole};
use facetrack::locate::{DLIB_SHAPE_PREDICTOR, DLIB_SYSTEM_DIR, find_model};
use facetrack::model::{MODEL_FILE_NAME, MODEL_HINT, MorphableModel};
use facetrack::track::TrackerModels;

/// What to do about a missing or damaged dlib model.
const DLIB_REINSTALL: &str = "install it with `apt-get install libdlib-data` (or `apt-get install --reinstall libdlib-data` if it is damaged), or name the file with --landmarks or $FACETRACK_MODELS";

pub const PRM_FILE: &str = "prm.bin";
pub const PARM_FILE: &str = "parm.bin";
pub const PCLM_FILE: &str = "pclm.json";
/// PARM trained from warm starts, for tracking.
pub const PARM_TRACK_FILE: &str = "parm_track.bin";
/// PARM trained from warm starts holding an identity near the mean face, for tracking while the
/// identity lock holds one.
pub const PARM_TRACK_HELD_FILE: &str = "parm_track_held.bin";
/// PRM trained from warm starts, for tracking.
pub const PRM_TRACK_FILE: &str = "prm_track.bin";
/// facetrack's own landmark cascade (M1), trained on the 3D model's landmarks.
pub const ERT_FILE: &str = "ert3d.bin";
/// The fit confidence.
pub const CONFIDENCE_FILE: &str = "confidence.bin";
const TRAIN_HINT: &str = "it is committed in models/; remake it with `facetrack train --data ../shared/data/aflw2000-3d --out models/`";

/// Finds a model file by the search order, reads it and parses it; errors name the file, what
/// was wrong and how to get a good one.
fn load<T, E>(
    explicit: Option<&Path>,
    name: &str,
    system_dirs: &[&str],
    hint: &str,
    what: &str,
    parse: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let path = find_model(explicit, name, system_dirs, hint)?;
    let bytes =
        std::fs::read(&path).with_context(|| format!("cannot read {}; {hint}", path.display()))?;
    parse(&bytes).with_context(|| format!("{} is not a usable {what}; {hint}", path.display()))
}

/// Which landmark cascade (M1) the PARM framework asks for its landmark updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum M1 {
    /// dlib's 68-point cascade (`libdlib-data`), trained on hand-annotated 2D landmarks: the PARM
    /// paper's setting.
    #[default]
    Dlib,
    /// facetrack's own (`ert3d.bin`), trained on the 3D model's landmarks, with the update
    /// methods trained over it (`*_ert3d.*`).
    Ert3d,
}

static M1_CHOICE: std::sync::OnceLock<M1> = std::sync::OnceLock::new();

/// Sets the landmark cascade every loader of this run uses; the first call wins.
pub fn choose_m1(m1: M1) {
    let _ = M1_CHOICE.set(m1);
}

/// The landmark cascade this run uses.
pub fn m1() -> M1 {
    M1_CHOICE.get().copied().unwrap_or_default()
}

/// dlib's cascade when the chosen M1 is another, else `None`: trained on hand-annotated 2D
/// landmarks, it follows a blink (the expression controls' eyelids) and gives the joint
/// refinement its 2D landmarks. A cascade taught the 3D model's landmarks gives the 3D ones
/// (PARM over it); the refinement's L2d, which the joint paper's Eq. 7–9 trust alone on a frontal
/// face, are a 2D aligner's. Over `ert3d`, L2d from its own last stages tracked the shared clips at
/// 2.201 % (3DDFA_V2) and 3.797 % (MediaPipe), from dlib's at 1.951 and 3.499 %; the validation
/// fifth reads 4.72 and 4.79 %.
pub fn load_2d_aligner() -> Result<Option<ShapePredictor>> {
    match m1() {
        M1::Ert3d => load_shape_predictor(None).map(Some),
        M1::Dlib => Ok(None),
    }
}

/// The file name of an update method's model for the chosen M1: the plain name for dlib's,
/// `_ert3d` before the extension for facetrack's own.
pub fn for_m1(name: &str) -> String {
    match m1() {
        M1::Dlib => name.to_string(),
        M1::Ert3d => match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}_ert3d.{ext}"),
            None => format!("{name}_ert3d"),
        },
    }
}

/// The landmark cascade of this run (see [`M1`]); `explicit` names its file.
pub fn load_landmark_cascade(explicit: Option<&Path>) -> Result<ShapePredictor> {
    match m1() {
        M1::Ert3d => load_own_cascade(explicit),
        M1::Dlib => load_shape_predictor(explicit),
    }
}

/// facetrack's own landmark cascade, `ert3d.bin`.
fn load_own_cascade(explicit: Option<&Path>) -> Result<ShapePredictor> {
    load(
        explicit,
        ERT_FILE,
        &[],
        "it is committed in models/; remake it with `facetrack train --m1 ert3d --data ../shared/data --landmarks`",
        "landmark cascade",
        facetrack::align::ert_file::read_cascade,
    )
}

/// dlib's 68-point shape predictor.
pub fn load_shape_predictor(explicit: Option<&Path>) -> Result<ShapePredictor> {
    load(
        explicit,
        DLIB_SHAPE_PREDICTOR,
        &[DLIB_SYSTEM_DIR],
        DLIB_REINSTALL,
        "dlib shape predictor",
        ShapePredictor::from_dlib_bytes,
    )
}

/// The project's morphable model, `face_model.bin`.
pub fn load_face_model(explicit: Option<&Path>) -> Result<MorphableModel> {
    load(
        explicit,
        MODEL_FILE_NAME,
        &[],
        MODEL_HINT,
        "face model",
        MorphableModel::from_bytes,
    )
}

/// A trained regressor cascade: `prm.bin`, `parm.bin` or `parm_track.bin` by the search order, or
/// a file named on the command line; it must be of the `kind` asked for and, when one is given,
/// of the `role`.
pub fn load_regressors(
    explicit: Option<&Path>,
    name: &str,
    kind: RegressorKind,
    role: Option<RegressorRole>,
) -> Result<RegressorCascade> {
    let cascade = load(
        explicit,
        name,
        &[],
        TRAIN_HINT,
        "regressor file",
        RegressorCascade::from_bytes,
    )?;
    let role_ok = role.is_none_or(|r| r == cascade.role);
    let kind_ok = cascade.kind == kind || (kind.is_parm() && cascade.kind.is_parm());
    if !kind_ok || !role_ok {
        let path = find_model(explicit, name, &[], TRAIN_HINT)?;
        anyhow::bail!(
            "{} holds {}'s cascade for the {}, where {}'s{} is expected; {TRAIN_HINT}",
            path.display(),
            cascade.kind.name(),
            cascade.role.describe(),
            kind.name(),
            role.map_or(String::new(), |r| format!(" for the {}", r.describe()))
        );
    }
    Ok(cascade)
}

/// A regressor file by its name in the search order, with the kind and role that name means.
pub fn load_named_regressors(name: &str) -> Result<RegressorCascade> {
    let (kind, role) = match name {
        PRM_FILE => (RegressorKind::Prm, RegressorRole::Acquire),
        PARM_FILE => (RegressorKind::Parm, RegressorRole::Acquire),
        PRM_TRACK_FILE => (RegressorKind::Prm, RegressorRole::Track),
        PARM_TRACK_FILE | PARM_TRACK_HELD_FILE => (RegressorKind::Parm, RegressorRole::Track),
        _ => anyhow::bail!("{name} is not a regressor file of this program"),
    };
    load_regressors(None, &for_m1(name), kind, Some(role))
}

/// The fit confidence (`confidence.bin`).
pub fn load_confidence() -> Result<FitConfidence> {
    load(
        None,
        CONFIDENCE_FILE,
        &[],
        "it is committed in models/; remake it with `facetrack train --data ../shared/data/aflw2000-3d --out models/ --confidence`",
        "fit confidence file",
        FitConfidence::from_bytes,
    )
}

/// PCLM's settings (`pclm.json`).
pub fn load_pclm() -> Result<Pclm> {
    load(
        None,
        &for_m1(PCLM_FILE),
        &[],
        TRAIN_HINT,
        "PCLM settings file",
        |b| serde_json::from_slice::<Pclm>(b),
    )
}

/// The update method for a method name of the command line, checked against the face model.
pub fn load_update(method: super::Method, model: &MorphableModel) -> Result<ParamUpdate> {
    let (update, name) = match method {
        super::Method::Pclm => (ParamUpdate::Pclm(load_pclm()?), PCLM_FILE),
        super::Method::Prm => (
            ParamUpdate::Regression(load_named_regressors(PRM_FILE)?),
            PRM_FILE,
        ),
        super::Method::Parm | super::Method::ParmJoint => (
            ParamUpdate::Regression(load_named_regressors(PARM_FILE)?),
            PARM_FILE,
        ),
        super::Method::Ert => anyhow::bail!("ert has no parameter update"),
    };
    checked(update, name, model)
}

/// `update` when it fits `model`, else an error naming its file.
fn checked(update: ParamUpdate, name: &str, model: &MorphableModel) -> Result<ParamUpdate> {
    match update.check(model) {
        Ok(()) => Ok(update),
        Err(why) => anyhow::bail!("{name} does not fit the face model: {why}; {TRAIN_HINT}"),
    }
}

/// Every model the tracker uses: the face model, dlib's cascade, the three tracking updates, the
/// box cascade for the first fit after a detection and the joint refinement.
pub fn load_tracker_models() -> Result<std::sync::Arc<TrackerModels>> {
    let model = load_face_model(None)?;
    let predictor = load_landmark_cascade(None)?;
    let regression = |name| {
        load_named_regressors(name).and_then(|r| checked(ParamUpdate::Regression(r), name, &model))
    };
    let parm = regression(PARM_TRACK_FILE)?;
    let parm_held = regression(PARM_TRACK_HELD_FILE)?;
    let prm = regression(PRM_TRACK_FILE)?;
    let acquire = regression(PARM_FILE)?;
    let pclm = checked(ParamUpdate::Pclm(load_pclm()?), PCLM_FILE, &model)?;
    let joint = JointSolver::new(&model, parm.n_id(), parm.n_exp(), JointConfig::default());
    Ok(std::sync::Arc::new(TrackerModels {
        pclm,
        prm,
        acquire,
        parm,
        parm_held,
        joint,
        confidence: load_confidence()?,
        aligner_2d: load_2d_aligner()?,
        model,
        predictor,
    }))
}
