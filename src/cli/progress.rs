//! Progress for long work, on stderr: a bar on a terminal, a line every tenth of the way otherwise
//! (so logs of CI and scripts show it too).

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    label: &'static str,
    total: u64,
    done: u64,
}

impl Progress {
    pub fn new(label: &'static str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {eta}") {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label);
            bar
        });
        Self {
            bar,
            label,
            total,
            done: 0,
        }
    }

    pub fn inc(&mut self) {
        self.done += 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
            None => {
                let step = (self.total / 10).max(1);
                if self.done.is_multiple_of(step) || self.done == self.total {
                    note!("{}: {}/{}", self.label, self.done, self.total);
                }
            }
        }
    }

    /// Prints a line without tearing the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => note!("{line}"),
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Runs `work` with a tick that advances a progress bar of `total` steps from any thread, and
/// closes the bar when it returns.
pub fn with_progress<T>(
    label: &'static str,
    total: u64,
    work: impl FnOnce(&(dyn Fn() + Sync)) -> T,
) -> T {
    let progress = Mutex::new(Progress::new(label, total));
    let tick = || {
        if let Ok(mut p) = progress.lock() {
            p.inc();
        }
    };
    let out = work(&tick);
    if let Ok(p) = progress.into_inner() {
        p.finish();
    }
    out
}
