//! Recording the parameter stream (CSV) and whole sessions (frames too, for replay).

pub mod csv_recorder;
pub mod session;

pub use csv_recorder::{CsvRecorder, RecordError, RecordRow};
pub use session::{ReplaySource, SessionError, SessionRecorder};
