//! Tracking: the tracker (warm start, loss and re-detection, temporal filter) and the threads
//! that feed it frames and carry its results away.

pub mod loss;
pub mod one_euro;
pub mod pipeline;
pub mod tracker;
pub mod warm_start;

pub use pipeline::{
    Pipeline, PipelineEvent, ResultDelivery, ResultSink, SinkError, TrackCommand, TrackResult,
};
pub use tracker::{
    DEFAULT_STAGES, TrackError, TrackMethod, TrackOutput, TrackSettings, TrackStatus, Tracker,
    TrackerModels,
};
