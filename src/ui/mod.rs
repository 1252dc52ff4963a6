//! The desktop app: the window and its event loop (`app`), the side panel (`panel`), the speed
//! figures (`stats`) and the running pipeline as the window sees it (`session`). Binary only.

pub mod app;
pub mod panel;
pub mod player;
pub mod session;
pub mod stats;

pub use facetrack::track;
