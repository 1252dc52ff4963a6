//! The window's renderer (wgpu): the camera frame, the fitted mesh, the landmarks and the head's
//! axes in a letterboxed view; the panel is drawn over it by egui (`ui`). And the same overlay
//! drawn on the CPU into the frames of a video file (`--render`), encoded by FFmpeg. Binary only: the
//! library has no GUI dependency.

pub mod burn_in;
pub mod gpu;
pub mod layer;
pub mod overlay;
pub mod scene;
pub mod screenshot;
pub mod tracked_video;
pub mod video_out;

pub use gpu::Gpu;
pub use layer::{PanelLayer, paint_bounds};
pub use overlay::Overlay;
pub use scene::{MeshStyle, PixelRect, SceneRenderer, ViewOptions, letterbox};
pub use screenshot::Offscreen;
pub use tracked_video::TrackedVideo;
pub use video_out::Timing;
