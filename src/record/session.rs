//! Recording a session so that it can be played again (`--record-session DIR`, `replay:DIR`):
//! every fitted frame as a lossless PNG (`frames/NNNNNNNN.png`), its index and timestamp in
//! `frames.csv`, and the parameter stream in `session.csv` (the same CSV as `--csv`). Replaying
//! hands the tracker the same pixels with the same timestamps in the same order, so — the tracker
//! being deterministic — it gives the same parameters.
//!
//! PNG encoding (about 10 ms a frame) runs on a thread of its own; a bounded queue makes the
//! tracker wait rather than drop a frame when the disk or the encoder falls behind.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use thiserror::Error;

use super::csv_recorder::{CsvRecorder, RecordError};
use crate::capture::{CaptureError, Frame, FrameSource, ImageFolderSource, Next, RgbImage};
use crate::track::{ResultSink, SinkEnd, SinkError, TrackResult};

/// The parameter stream inside a session folder.
pub const SESSION_CSV: &str = "session.csv";
/// Index and timestamp of each frame, one line a frame: `index,timestamp_ns,file`.
pub const FRAMES_CSV: &str = "frames.csv";
const FRAMES_DIR: &str = "frames";
/// Frames waiting for the encoder before the tracker waits.
const QUEUE: usize = 16;

#[derive(Debug, Error)]
pub enum SessionError {
    #[error("cannot write {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "{0} already holds files; a session is recorded into a new or empty folder, so that nothing there is overwritten"
    )]
    NotEmpty(PathBuf),
    #[error("cannot encode {path}: {reason}")]
    Encode { path: PathBuf, reason: String },
    #[error("{0}")]
    Csv(#[from] RecordError),
    #[error("the session writer of {0} stopped")]
    Stopped(PathBuf),
}

struct Job {
    index: u64,
    timestamp: Duration,
    image: RgbImage,
}

/// Writes a session folder while tracking runs.
pub struct SessionRecorder {
    dir: PathBuf,
    /// Taken by `finish`.
    csv: Option<CsvRecorder>,
    jobs: Option<Sender<Job>>,
    /// Image buffers back from the encoder, for reuse.
    spare: Receiver<RgbImage>,
    writer: Option<JoinHandle<Result<(), SessionError>>>,
}

impl SessionRecorder {
    /// Creates `dir` (and `dir/frames`). A folder that holds anything is refused: files of an
    /// earlier session would be replayed with this one's, and a user's files are not ours to
    /// overwrite or delete.
    pub fn create(
        dir: &Path,
        n_id: usize,
        n_exp: usize,
        n_landmarks: usize,
    ) -> Result<Self, SessionError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |cause| SessionError::Io { path, cause }
        };
        if dir.exists() {
            let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
            if entries.next().is_some() {
                return Err(SessionError::NotEmpty(dir.to_owned()));
            }
        }
        let frames_dir = dir.join(FRAMES_DIR);
        std::fs::create_dir_all(&frames_dir).map_err(io(&frames_dir))?;
        let csv = CsvRecorder::create(&dir.join(SESSION_CSV), n_id, n_exp, n_landmarks)?;
        let list_path = dir.join(FRAMES_CSV);
        let list = File::create(&list_path).map_err(io(&list_path))?;
        let (jobs, rx) = bounded::<Job>(QUEUE);
        let (spare_tx, spare) = unbounded::<RgbImage>();
        let d = dir.to_owned();
        let writer = std::thread::Builder::new()
            .name("session-writer".into())
            .spawn(move || write_frames(&d, BufWriter::new(list), &rx, &spare_tx))
            .map_err(io(dir))?;
        Ok(Self {
            dir: dir.to_owned(),
            csv: Some(csv),
            jobs: Some(jobs),
            spare,
            writer: Some(writer),
        })
    }

    fn close(&mut self) -> Result<(), SessionError> {
        drop(self.jobs.take());
        match self.writer.take() {
            Some(w) => w
                .join()
                .unwrap_or_else(|_| Err(SessionError::Stopped(self.dir.clone()))),
            None => Ok(()),
        }
    }
}

impl Drop for SessionRecorder {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl ResultSink for SessionRecorder {
    fn record(&mut self, r: &TrackResult) -> Result<(), SinkError> {
        let mut image = self.spare.try_recv().unwrap_or_default();
        image.clone_from(&r.frame.image);
        let job = Job {
            index: r.frame.index,
            timestamp: r.frame.timestamp,
            image,
        };
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        if !sent {
            // The frame writer is gone: its own error says why.
            self.close()?;
            return Err(SessionError::Stopped(self.dir.clone()).into());
        }
        match self.csv.as_mut() {
            Some(csv) => ResultSink::record(csv, r),
            None => Err(SessionError::Stopped(self.dir.clone()).into()),
        }
    }

    fn path(&self) -> &Path {
        &self.dir
    }

    fn rows(&self) -> u64 {
        self.csv.as_ref().map_or(0, CsvRecorder::rows_written)
    }

    fn finish(mut self: Box<Self>) -> SinkEnd {
        let frames = self.close();
        let mut end = match self.csv.take() {
            Some(csv) => Box::new(csv).finish(),
            None => SinkEnd {
                rows: 0,
                error: None,
            },
        };
        if let Err(e) = frames {
            // A row whose frame is not on disk cannot be replayed: the session holds as many
            // frames as frames.csv lists, which is fewer than its rows.
            end.error = Some(e.into());
        }
        end
    }
}

fn frame_file(index: u64) -> String {
    format!("{index:08}.png")
}

fn write_frames(
    dir: &Path,
    mut list: BufWriter<File>,
    jobs: &Receiver<Job>,
    spare: &Sender<RgbImage>,
) -> Result<(), SessionError> {
    let list_path = dir.join(FRAMES_CSV);
    let list_err = |cause| SessionError::Io {
        path: list_path.clone(),
        cause,
    };
    writeln!(list, "index,timestamp_ns,file").map_err(list_err)?;
    let mut last_flush = Instant::now();
    let mut line = String::new();
    for job in jobs {
        let name = frame_file(job.index);
        let path = dir.join(FRAMES_DIR).join(&name);
        write_png(&path, &job.image)?;
        // A line is formatted whole and then written in one piece, so that the buffer never
        // hands the file half of one.
        line.clear();
        let _ = writeln!(
            line,
            "{},{},{FRAMES_DIR}/{name}",
            job.index,
            job.timestamp.as_nanos()
        );
        list.write_all(line.as_bytes()).map_err(list_err)?;
        if last_flush.elapsed() > Duration::from_millis(500) {
            list.flush().map_err(list_err)?;
            last_flush = Instant::now();
        }
        let _ = spare.send(job.image);
    }
    list.flush().map_err(list_err)
}

fn write_png(path: &Path, image: &RgbImage) -> Result<(), SessionError> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let file = File::create(path).map_err(|cause| SessionError::Io {
        path: path.to_owned(),
        cause,
    })?;
    let encode_err = |e: image::ImageError| SessionError::Encode {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let (w, h) = (
        u32::try_from(image.width).map_err(|_| SessionError::Encode {
            path: path.to_owned(),
            reason: "frame too wide".into(),
        })?,
        u32::try_from(image.height).map_err(|_| SessionError::Encode {
            path: path.to_owned(),
            reason: "frame too tall".into(),
        })?,
    );
    let mut out = BufWriter::new(file);
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Sub)
        .write_image(&image.data, w, h, image::ExtendedColorType::Rgb8)
        .map_err(encode_err)?;
    out.flush().map_err(|cause| SessionError::Io {
        path: path.to_owned(),
        cause,
    })
}

/// Plays a recorded session: its frames (an image folder with the recorded timestamps) under
/// their recorded indices.
pub struct ReplaySource {
    dir: PathBuf,
    frames: ImageFolderSource,
    /// The recorded index of the folder's n-th frame.
    indices: Vec<u64>,
}

impl ReplaySource {
    pub fn open(dir: &Path) -> Result<Self, CaptureError> {
        let list_path = dir.join(FRAMES_CSV);
        let bad = |reason: String| CaptureError::File {
            path: list_path.clone(),
            reason,
        };
        let file = File::open(&list_path).map_err(|e| {
            bad(format!(
                "{e} (is {} a folder written by --record-session?)",
                dir.display()
            ))
        })?;
        let (mut indices, mut timestamps) = (Vec::new(), Vec::new());
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| bad(e.to_string()))?;
            if n == 0 || line.trim().is_empty() {
                continue;
            }
            let mut parts = line.splitn(3, ',');
            let index = parts.next().and_then(|v| v.parse::<u64>().ok());
            let ns = parts.next().and_then(|v| v.parse::<u64>().ok());
            let (Some(index), Some(ns), Some(_file)) = (index, ns, parts.next()) else {
                return Err(bad(format!(
                    "line {} is not index,timestamp_ns,file",
                    n + 1
                )));
            };
            indices.push(index);
            timestamps.push(Duration::from_nanos(ns));
        }
        if indices.is_empty() {
            return Err(bad("the session holds no frames".into()));
        }
        // The frames' names are their zero-padded indices: name order is the recorded order.
        let frames = ImageFolderSource::with_timestamps(
            &dir.join(FRAMES_DIR),
            // Unused: every frame has its recorded timestamp.
            30.0,
            Some(timestamps),
        )?;
        Ok(Self {
            dir: dir.to_owned(),
            frames,
            indices,
        })
    }
}

impl FrameSource for ReplaySource {
    fn next_frame(&mut self, frame: &mut Frame) -> Result<Next, CaptureError> {
        let next = self.frames.next_frame(frame)?;
        if next == Next::Frame {
            // The folder numbers its frames 0, 1, …; with_timestamps made sure there are as many
            // as frames.csv lists.
            frame.index = usize::try_from(frame.index)
                .ok()
                .and_then(|i| self.indices.get(i).copied())
                .ok_or_else(|| {
                    CaptureError::Invalid(
                        "the session has more frames than frames.csv lists".into(),
                    )
                })?;
        }
        Ok(next)
    }

    fn describe(&self) -> String {
        format!(
            "replay of {} ({} frames)",
            self.dir.display(),
            self.indices.len()
        )
    }
}
