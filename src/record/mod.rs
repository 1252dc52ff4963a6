//! Recording the parameter stream.

pub mod csv_recorder;
