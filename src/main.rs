//! The facetrack command line, and the desktop app's window (`render`, `ui`), which only the
//! binary depends on.

use std::process::ExitCode;

use clap::Parser;

/// `eprintln!` for diagnostics, except that a closed stderr (`2>&1 | head`) drops the line
/// instead of panicking: a message with no reader must not stop the work it describes.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `println!` for a command's results, except that a closed stdout (`| head`) is an error the
/// command returns rather than a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
            .map_err(|e| anyhow::anyhow!("cannot write to standard output: {e}"))
    }};
}

mod cli;
mod render;
mod ui;

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    // SAFETY: setting a signal's disposition to "ignore" before any thread starts.
    unsafe {
        // Past a file-size limit (`ulimit -f`) the kernel would kill the process with rows in
        // flight; ignored, the write fails and the recorder reports what it kept, as on a full
        // disk.
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the error and its causes, outermost first.
            note!("facetrack: {}", cli::error_text(&err));
            ExitCode::from(1)
        }
    }
}
