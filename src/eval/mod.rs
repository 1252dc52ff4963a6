//! Datasets and, later, the metrics computed on them.

pub mod aflw2000;
pub mod faces;
pub mod plot;
