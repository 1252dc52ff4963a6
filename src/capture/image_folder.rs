//! A folder of image files as a frame source (`--source images:DIR`), and the frames of a recorded
//! session, which are a folder of PNG files with their timestamps stored beside them.
//!
//! The files are the folder's image files ([`is_image_file`]) in the byte order of their names, so
//! zero-padded frame numbers (`frame_000123.png`) play in order. A frame's index is the file's
//! position in that list: a file that cannot be read is reported as [`Next::Skipped`] and leaves a
//! gap in the indices, so that indices and timestamps keep naming the same file whatever was
//! skipped. Files are read one at a time when asked for, into buffers kept between frames.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::image_file::ImageDecoder;
use super::{CaptureError, Frame, FrameSource, Next, is_image_file};

/// The image files of a folder, one frame each.
pub struct ImageFolderSource {
    dir: PathBuf,
    files: Vec<PathBuf>,
    clock: Clock,
    /// Index of the next file to read.
    next: usize,
    decoder: ImageDecoder,
    /// The file being decoded; kept to reuse its allocation.
    bytes: Vec<u8>,
}

enum Clock {
    /// Frame `i` is at `i / fps` seconds.
    Rate(f64),
    /// Frame `i` is at `timestamps[i]` (a recorded session's own clock).
    Recorded(Vec<Duration>),
}

impl ImageFolderSource {
    /// The image files of `dir` at `fps` frames a second.
    pub fn open(dir: &Path, fps: f64) -> Result<Self, CaptureError> {
        Self::with_timestamps(dir, fps, None)
    }

    /// Like [`Self::open`], but with `Some(timestamps)` frame `i` gets `timestamps[i]` (one for each
    /// image file, in name order, never decreasing) instead of `i / fps`.
    pub fn with_timestamps(
        dir: &Path,
        fps: f64,
        timestamps: Option<Vec<Duration>>,
    ) -> Result<Self, CaptureError> {
        if !(fps.is_finite() && fps > 0.0) {
            return Err(CaptureError::Invalid(format!(
                "the frame rate of an image folder must be a positive number of frames a second, not {fps}"
            )));
        }
        let file_error = |reason: String| CaptureError::File {
            path: dir.to_owned(),
            reason,
        };
        let entries = std::fs::read_dir(dir).map_err(|e| file_error(e.to_string()))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| file_error(e.to_string()))?.path();
            // `Path::is_file` follows links, so a folder of links to frames works too.
            if is_image_file(&path) && path.is_file() {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(file_error(
                "the folder holds no image files (.jpg, .jpeg, .png, .ppm, .pgm, .pnm or .bmp)"
                    .into(),
            ));
        }
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));

        let clock = match timestamps {
            None => Clock::Rate(fps),
            Some(t) => {
                if t.len() != files.len() {
                    return Err(CaptureError::Invalid(format!(
                        "{} holds {} image files but {} timestamps were given",
                        dir.display(),
                        files.len(),
                        t.len()
                    )));
                }
                if let Some(i) = t.windows(2).position(|w| w[1] < w[0]) {
                    return Err(CaptureError::Invalid(format!(
                        "the timestamps of {} go back in time at frame {} ({:?} after {:?})",
                        dir.display(),
                        i + 1,
                        t[i + 1],
                        t[i]
                    )));
                }
                Clock::Recorded(t)
            }
        };
        let decoder = ImageDecoder::new().map_err(file_error)?;
        Ok(Self {
            dir: dir.to_owned(),
            files,
            clock,
            next: 0,
            decoder,
            bytes: Vec::new(),
        })
    }

    /// How many image files the folder holds: the number of frames, skipped ones included.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Never true: opening refuses an empty folder.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The image files, in the order they are read.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    fn timestamp(&self, i: usize) -> Duration {
        match &self.clock {
            Clock::Rate(fps) => Duration::from_secs_f64(i as f64 / fps),
            Clock::Recorded(t) => t[i],
        }
    }
}

fn read_into(
    path: &Path,
    bytes: &mut Vec<u8>,
    decoder: &mut ImageDecoder,
    frame: &mut Frame,
) -> Result<(), String> {
    bytes.clear();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(bytes))
        .map_err(|e| format!("cannot read it: {e}"))?;
    decoder
        .decode_into(bytes, &mut frame.image)
        .map_err(|e| format!("cannot decode it: {e}"))
}

impl FrameSource for ImageFolderSource {
    fn next_frame(&mut self, frame: &mut Frame) -> Result<Next, CaptureError> {
        let i = self.next;
        let Some(path) = self.files.get(i) else {
            return Ok(Next::End);
        };
        self.next += 1;
        // Reading the file is this source's capture: latency is counted from its start.
        let captured = Instant::now();
        match read_into(path, &mut self.bytes, &mut self.decoder, frame) {
            Ok(()) => {
                frame.index = i as u64;
                frame.timestamp = self.timestamp(i);
                frame.captured = captured;
                Ok(Next::Frame)
            }
            Err(why) => Ok(Next::Skipped(format!(
                "skipped frame {i}, {}: {why}",
                path.display()
            ))),
        }
    }

    fn describe(&self) -> String {
        format!(
            "images: {} ({} files)",
            self.dir.display(),
            self.files.len()
        )
    }
}
