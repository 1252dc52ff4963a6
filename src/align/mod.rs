//! M1: landmark alignment — dlib's ERT cascade evaluated stage by stage, and face detection.

pub mod box_list;
pub mod detect;
mod dlib_format;
mod ert;
pub mod face_search;
pub mod fit_confidence;

pub use dlib_format::DlibModelError;
pub use ert::{ErtError, ErtScratch, FaceBox, Point2, ShapePredictor, dlib_round};
pub use fit_confidence::{ConfidenceScratch, FitConfidence};
