//! Tracking: fitting a frame from the previous frame's parameters.

pub mod one_euro;
pub mod warm_start;
