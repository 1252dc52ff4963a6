//! Frame sources: the camera, video files, image folders, recorded sessions and the synthetic
//! demo sequence.

pub mod demo;
mod image_file;
mod source;

pub use demo::{DemoError, DemoSequence, DemoSource, DemoTruth};
pub use image_file::{ImageFileError, RgbImage, is_image_file, load_rgb};
pub use source::{CaptureError, Frame, FrameSource, Next, SOURCE_SYNTAX, SourceSpec, Take};
