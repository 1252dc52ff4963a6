//! Datasets and, later, the metrics computed on them.

pub mod aflw2000;
