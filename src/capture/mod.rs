//! Frame sources: still images read from files, and the synthetic demo sequence.

pub mod demo;
mod image_file;

pub use demo::{DemoError, DemoSequence, DemoTruth};
pub use image_file::{ImageFileError, RgbImage, is_image_file, load_rgb};
