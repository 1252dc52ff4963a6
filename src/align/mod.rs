//! M1: landmark alignment — an ERT cascade (dlib's, or facetrack's own trained on the 3D model's
//! landmarks) evaluated stage by stage, its training, and face detection.

pub mod appearance_jitter;
pub mod box_list;
pub mod detect;
mod dlib_format;
mod ert;
pub mod ert_file;
pub mod ert_training;
pub mod face_search;
pub mod fit_confidence;

pub use dlib_format::DlibModelError;
pub use ert::{ErtError, ErtScratch, FaceBox, Point2, ShapePredictor, dlib_round};
pub use fit_confidence::{ConfidenceScratch, FitConfidence};
