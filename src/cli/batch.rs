//! `facetrack track` over many videos: several `--source`s, a folder of videos (`video:DIR`) or a
//! list file (`--list FILE`, one path a line). Each video is tracked by a `facetrack track` child
//! process of its own — the same command a user runs on one video, so a batch gives exactly the
//! CSVs single runs give and one video's failure cannot take the others down — `--jobs` at a
//! time, with a progress bar over the frames and one JSON summary line a video on stdout.
//! Spreading over machines is running more of these (GNU parallel, a Slurm array; see the README).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use facetrack::capture::{SourceSpec, VideoSource};

use super::progress::Progress;

/// The file names taken as videos in a folder.
const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts", "m2ts", "wmv", "flv",
    "3gp", "ogv",
];

/// What a batch runs: the videos, where their outputs go, and the options every run shares.
pub struct Batch {
    pub videos: Vec<PathBuf>,
    /// Folder for `NAME.csv` of each video.
    pub csv_dir: Option<PathBuf>,
    /// Folder for `NAME.mp4`, the tracked video of each.
    pub render_dir: Option<PathBuf>,
    pub jobs: usize,
    /// Options passed on to each run (`--method`, `--stages`, …).
    pub pass_on: Vec<String>,
}

fn is_video_file(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The videos `sources` and `list` name, folders expanded (their video files in name order);
/// `None` when they name one source that is not a folder: a single run, not a batch.
pub fn videos(sources: &[SourceSpec], list: Option<&Path>) -> Result<Option<Vec<PathBuf>>> {
    let mut videos = Vec::new();
    let mut folder = false;
    for spec in sources {
        match spec {
            SourceSpec::Video(p) if p.is_dir() => {
                folder = true;
                let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                    .with_context(|| format!("cannot list {}", p.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| is_video_file(p))
                    .collect();
                if found.is_empty() {
                    bail!(
                        "{} has no video files in it ({})",
                        p.display(),
                        VIDEO_EXTENSIONS.join(", ")
                    );
                }
                found.sort();
                videos.extend(found);
            }
            SourceSpec::Video(p) => videos.push(p.clone()),
            other if sources.len() > 1 || list.is_some() => {
                bail!(
                    "`{other}`: only videos can be tracked several at once (video:FILE or video:DIR)"
                )
            }
            _ => {}
        }
    }
    if let Some(list) = list {
        let text = std::fs::read_to_string(list)
            .with_context(|| format!("cannot read the list {}", list.display()))?;
        let base = list.parent().unwrap_or(Path::new("."));
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("video:").unwrap_or(line);
            // Relative paths in a list are relative to the list, as a playlist's are.
            let p = Path::new(line);
            videos.push(if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            });
        }
        if videos.is_empty() {
            bail!("the list {} names no video", list.display());
        }
    }
    Ok((folder || list.is_some() || sources.len() > 1).then_some(videos))
}

/// Output names from the videos' file names, made unique when two videos share one.
fn output_stems(videos: &[PathBuf]) -> Vec<String> {
    let mut seen = HashSet::new();
    videos
        .iter()
        .map(|v| {
            let stem = v
                .file_stem()
                .map_or_else(|| "video".into(), |s| s.to_string_lossy().into_owned());
            let mut name = stem.clone();
            let mut k = 2;
            while !seen.insert(name.clone()) {
                name = format!("{stem}_{k}");
                k += 1;
            }
            name
        })
        .collect()
}

/// One video's run: its summary line, or why it failed.
struct Done {
    index: usize,
    frames: u64,
    line: Value,
    ok: bool,
}

fn run_one(exe: &Path, batch: &Batch, video: &Path, stem: &str, index: usize, frames: u64) -> Done {
    let mut cmd = Command::new(exe);
    cmd.arg("track")
        .arg("--source")
        .arg(format!("video:{}", video.display()))
        .args(&batch.pass_on)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let csv = batch
        .csv_dir
        .as_ref()
        .map(|d| d.join(format!("{stem}.csv")));
    let render = batch
        .render_dir
        .as_ref()
        .map(|d| d.join(format!("{stem}.mp4")));
    if let Some(c) = &csv {
        cmd.arg("--csv").arg(c);
    }
    if let Some(r) = &render {
        cmd.arg("--render").arg(r);
    }
    let outputs = json!({
        "csv": csv.map(|p| p.display().to_string()),
        "render": render.map(|p| p.display().to_string()),
    });
    let failed = |why: String| Done {
        index,
        frames,
        line: json!({"video": video.display().to_string(), "ok": false, "error": why}),
        ok: false,
    };
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => return failed(format!("cannot run {}: {e}", exe.display())),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("warning: "))
        .collect();
    let summary = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<Value>(l).ok());
    match (out.status.success(), summary) {
        (ok, Some(Value::Object(mut s))) => {
            s.insert("video".into(), json!(video.display().to_string()));
            s.insert("ok".into(), json!(ok && warnings.is_empty()));
            if let Value::Object(o) = outputs {
                s.extend(o.into_iter().filter(|(_, v)| !v.is_null()));
            }
            if !warnings.is_empty() {
                s.insert("warnings".into(), json!(warnings));
            }
            if !ok {
                s.insert("exit_code".into(), json!(out.status.code()));
            }
            Done {
                index,
                frames,
                ok: ok && warnings.is_empty(),
                line: Value::Object(s),
            }
        }
        _ => {
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            failed(format!("exit {}: {last}", out.status.code().unwrap_or(-1)))
        }
    }
}

/// Runs the batch; fails (after all have run) when any video failed or warned.
pub fn run(batch: Batch) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the facetrack executable")?;
    for dir in [&batch.csv_dir, &batch.render_dir].into_iter().flatten() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let stems = output_stems(&batch.videos);
    // The frames each video declares, for the bar; a video that does not open counts one.
    let frames: Vec<u64> = batch
        .videos
        .iter()
        .map(|v| VideoSource::open(v).map_or(1, |s| s.info().frames.max(1)))
        .collect();
    let jobs = batch.jobs.clamp(1, batch.videos.len().max(1));
    note!("tracking {} videos, {jobs} at a time", batch.videos.len());
    let mut progress = Progress::new("frames", frames.iter().sum());
    let (tx, rx) = mpsc::channel::<Done>();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut failures = 0;
    let mut summary_lost = None;
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (exe, batch, stems, frames, next) = (&exe, &batch, &stems, &frames, &next);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(video) = batch.videos.get(i) else {
                        return;
                    };
                    let done = run_one(exe, batch, video, &stems[i], i, frames[i]);
                    if tx.send(done).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for done in rx {
            for _ in 0..done.frames {
                progress.inc();
            }
            failures += usize::from(!done.ok);
            progress.println(&format!(
                "{}: {}",
                stems[done.index],
                if done.ok { "done" } else { "FAILED" }
            ));
            // A closed stdout loses the summary lines, not the videos' CSVs: the runs go on.
            if let Err(e) = out!("{}", done.line) {
                summary_lost.get_or_insert(e);
            }
        }
    });
    progress.finish();
    if let Some(e) = summary_lost {
        return Err(e);
    }
    if failures > 0 {
        bail!(
            "{failures} of {} videos failed or warned (see their lines)",
            batch.videos.len()
        );
    }
    Ok(())
}

/// Jobs when `--jobs` is not given: a run keeps about two cores busy (decoding and fitting).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_videos_of_one_name_get_two_outputs() {
        let v = ["a/x.mp4", "b/x.mp4", "c/y.mkv"].map(PathBuf::from);
        assert_eq!(output_stems(&v), ["x", "x_2", "y"]);
    }
}
