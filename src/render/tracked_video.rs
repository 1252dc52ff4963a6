//! The tracked video (`--render FILE`): each fitted frame with its overlay burnt in, encoded at
//! the input's timing. The encoder is opened on the first frame, at that frame's size.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;

use facetrack::capture::RgbImage;
use facetrack::track::{ResultSink, SinkEnd, SinkError, TrackResult, TrackerModels};

use super::burn_in::BurnIn;
use super::video_out::{Timing, VideoWriter};

pub struct TrackedVideo {
    path: PathBuf,
    timing: Timing,
    models: Arc<TrackerModels>,
    burn_in: BurnIn,
    picture: RgbImage,
    writer: Option<VideoWriter>,
    frames: u64,
}

impl TrackedVideo {
    pub fn new(path: &Path, timing: Timing, models: Arc<TrackerModels>) -> Self {
        Self {
            path: path.to_owned(),
            timing,
            burn_in: BurnIn::new(&models.model),
            models,
            picture: RgbImage::default(),
            writer: None,
            frames: 0,
        }
    }

    /// Draws `result` over a copy of its frame and encodes it.
    pub fn add(&mut self, result: &TrackResult) -> Result<()> {
        let image = &result.frame.image;
        self.picture.width = image.width;
        self.picture.height = image.height;
        self.picture.data.clear();
        self.picture.data.extend_from_slice(&image.data);
        self.burn_in
            .draw(&self.models.model, result, &mut self.picture);
        let writer = match &mut self.writer {
            Some(w) => w,
            None => self.writer.insert(VideoWriter::create(
                &self.path,
                image.width,
                image.height,
                self.timing,
            )?),
        };
        writer.write(&self.picture, result.frame.timestamp)?;
        self.frames += 1;
        Ok(())
    }

    /// Finishes the file; returns the frames written (0 when no frame came, and no file made).
    pub fn finish(self) -> Result<u64> {
        self.writer.map_or(Ok(0), VideoWriter::finish)
    }
}

/// As a sink of the tracking thread (the window's `--render`): every fitted frame, whatever the
/// window shows.
impl ResultSink for TrackedVideo {
    fn record(&mut self, result: &TrackResult) -> Result<(), SinkError> {
        self.add(result).map_err(|e| format!("{e:#}").into())
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn rows(&self) -> u64 {
        self.frames
    }

    fn finish(self: Box<Self>) -> SinkEnd {
        let frames = self.frames;
        match TrackedVideo::finish(*self) {
            Ok(rows) => SinkEnd { rows, error: None },
            Err(e) => SinkEnd {
                rows: frames,
                error: Some(format!("{e:#}").into()),
            },
        }
    }
}
