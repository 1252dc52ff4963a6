//! Frame sources: the camera, video files, image folders, recorded sessions and the synthetic
//! demo sequence.

pub mod camera;
pub mod demo;
mod image_file;
pub mod image_folder;
mod source;
pub mod video;

pub use camera::{CameraInfo, CameraRequest, CameraSource, list_cameras, yuyv_to_rgb};
pub use demo::{DemoError, DemoSequence, DemoSource, DemoTruth};
pub use image_file::{
    ImageDecoder, ImageFileError, JpegDecoder, RgbImage, decode_jpeg_into, is_image_file, load_rgb,
};
pub use image_folder::ImageFolderSource;
pub use source::{
    CaptureError, Frame, FrameSource, Next, SOURCE_SYNTAX, SourceSpec, Take, count_frames,
};
pub use video::{VideoInfo, VideoSource};
