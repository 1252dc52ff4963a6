//! Tracking: the tracker (warm start, loss and re-detection, temporal filter) and the threads
//! that feed it frames and carry its results away.

pub mod background_detection;
pub mod identity_lock;
pub mod loss;
pub mod one_euro;
pub mod pipeline;
pub mod tracker;
pub mod two_fits;

pub use pipeline::{
    LiveOutput, LiveReport, LiveSent, Pipeline, PipelineEnd, PipelineEvent, RecordingEnd,
    ResultDelivery, ResultSink, SinkEnd, SinkError, TrackCommand, TrackResult,
};
pub use tracker::{
    CONFIDENCE_THRESHOLD, DEFAULT_STAGES, TrackError, TrackMethod, TrackOutput, TrackSettings,
    TrackStatus, Tracker, TrackerModels,
};
