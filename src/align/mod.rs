//! M1: landmark alignment — dlib's ERT cascade evaluated stage by stage, and face detection.

mod dlib_format;
mod ert;

pub use dlib_format::DlibModelError;
pub use ert::{ErtError, ErtScratch, FaceBox, Point2, ShapePredictor, dlib_round};
