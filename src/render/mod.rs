//! The window's renderer (wgpu): the camera frame, the fitted mesh, the landmarks and the head's
//! axes in a letterboxed view; the panel is drawn over it by egui (`ui`). Binary only: the
//! library has no GUI dependency.

pub mod gpu;
pub mod layer;
pub mod overlay;
pub mod scene;
pub mod screenshot;

pub use gpu::Gpu;
pub use layer::{PanelLayer, paint_bounds};
pub use overlay::Overlay;
pub use scene::{MeshStyle, PixelRect, SceneRenderer, ViewOptions, letterbox};
pub use screenshot::Offscreen;
