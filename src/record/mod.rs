//! Recording the parameter stream (CSV) and whole sessions (frames too, for replay), and sending
//! it live over OSC (VMC or plain) to other programs.

pub mod csv_recorder;
pub mod osc;
pub mod osc_plain;
pub mod session;
pub mod vmc;

pub use csv_recorder::{CsvRecorder, RecordError, RecordRow};
pub use osc::{OscError, OscFormat, OscOptions, OscSender, VMC_DEFAULT_PORT};
pub use session::{ReplaySource, SessionError, SessionRecorder};
