//! Datasets, the metrics computed on them, and the figures drawn from those.

pub mod aflw2000;
pub mod faces;
pub mod metrics;
pub mod plot;
