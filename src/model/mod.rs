//! The 3D morphable model: learned landmark model, dense mesh, parameters, weak-perspective
//! projection and its Jacobian, and the binary model file.
//!
//! The model is the project's own, learned from the AFLW2000-3D ground truth and carried onto the
//! open canonical face mesh (`models/README.md` says how). Model units are those of the dataset,
//! so the scale `s` of [`Params`] is the dataset's `scale`.

pub mod build;
pub mod canonical_mesh;
pub mod dense_mesh;
pub mod file_frame;
pub mod learn;
pub mod model_file;
mod morphable_model;
mod params;
pub mod rotation;
pub mod similarity;
pub mod thin_plate_spline;
mod weak_perspective;

pub use build::{BuildError, BuildInputs, BuildReport, BuildStep, build_model};
pub use model_file::{MODEL_FILE_NAME, MODEL_HINT, ModelFileError};
pub use morphable_model::{ModelError, ModelParts, MorphableModel, ShapeModel};
pub use params::{DatasetPose, Params, ParamsError};
