//! Tracking: fitting a frame from the previous frame's parameters.

pub mod warm_start;
