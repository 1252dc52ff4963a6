//! Frame sources. For now: still images read from files.

mod image_file;

pub use image_file::{ImageFileError, RgbImage, is_image_file, load_rgb};
