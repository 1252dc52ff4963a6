//! facetrack — real-time 3D face tracking with a morphable model fitted by the PARM cascade.
//!
//! The data flows capture → align (M1 landmark cascade) → fit (M2 parameter updates) → track.
//! The core modules (`image`, `model`, `align`) know nothing of windows, cameras or files: they
//! take bytes and pixel buffers. `capture` and `locate` are the thin layer that reads files.

pub mod align;
pub mod capture;
pub mod controls;
pub mod eval;
pub mod fit;
pub mod image;
pub mod locate;
pub mod model;
mod raster;
pub mod record;
pub mod track;
