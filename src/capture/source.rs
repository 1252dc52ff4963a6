//! What every frame source gives: frames with an index and a monotonic timestamp, read into a
//! buffer the caller reuses, and which sources there are (`--source` on the command line).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use thiserror::Error;

use super::RgbImage;

/// "1 frame", "2 frames": a count of frames in a message.
pub fn count_frames(n: u64) -> String {
    if n == 1 {
        "1 frame".into()
    } else {
        format!("{n} frames")
    }
}

/// One frame: its index in the source, the source's monotonic clock at capture, the wall-clock
/// instant it was captured (latency is measured from it) and the pixels.
#[derive(Debug, Clone)]
pub struct Frame {
    pub index: u64,
    pub timestamp: Duration,
    pub captured: Instant,
    pub image: RgbImage,
}

impl Default for Frame {
    fn default() -> Self {
        Self {
            index: 0,
            timestamp: Duration::ZERO,
            captured: Instant::now(),
            image: RgbImage::default(),
        }
    }
}

/// What a read gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The frame was written into the caller's [`Frame`].
    Frame,
    /// A frame could not be decoded and was skipped; the text says which and why. The source
    /// goes on: read again.
    Skipped(String),
    /// The source ended before the frames its header declares: about `frames` of them never
    /// came (a file cut short or damaged); the text says so. The next read is the end.
    Lost { frames: u64, why: String },
    /// The source has no more frames.
    End,
}

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("{0}")]
    NoCamera(String),
    #[error("camera: {0}")]
    Camera(String),
    #[error("cannot read {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
}

/// A source of frames. `next_frame` writes into `frame`, reusing its image buffer.
pub trait FrameSource: Send {
    fn next_frame(&mut self, frame: &mut Frame) -> Result<Next, CaptureError>;
    /// A short human description ("demo", "camera 0: HD Webcam 1280×720 @ 30 fps", a path).
    fn describe(&self) -> String;
    /// A live source (a camera) runs on its own clock: when the tracker falls behind, stale
    /// frames are dropped and the newest wins. Other sources hand over every frame in order.
    fn is_live(&self) -> bool {
        false
    }
}

/// The first `n` frames of a source (`--frames N`): the source ends after them, so every one is
/// fitted and recorded and none more.
pub struct Take {
    inner: Box<dyn FrameSource>,
    left: u64,
}

impl Take {
    pub fn new(inner: Box<dyn FrameSource>, n: u64) -> Self {
        Self { inner, left: n }
    }
}

impl FrameSource for Take {
    fn next_frame(&mut self, frame: &mut Frame) -> Result<Next, CaptureError> {
        if self.left == 0 {
            return Ok(Next::End);
        }
        let next = self.inner.next_frame(frame)?;
        if next == Next::Frame {
            self.left -= 1;
        }
        Ok(next)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn is_live(&self) -> bool {
        self.inner.is_live()
    }
}

/// A `--source` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// `camera` (the first one) or `camera:N` / `camera:NAME`.
    Camera(Option<String>),
    /// `video:PATH`: a video file in any container and codec FFmpeg reads.
    Video(PathBuf),
    /// `images:DIR`: the image files of a folder, in name order.
    Images(PathBuf),
    /// `demo`: the synthetic sequence with ground truth.
    Demo,
    /// `replay:DIR`: a session recorded with `--record-session DIR`.
    Replay(PathBuf),
}

impl SourceSpec {
    /// The files or folders the source reads.
    pub fn paths(&self) -> Vec<PathBuf> {
        match self {
            Self::Video(p) | Self::Images(p) | Self::Replay(p) => vec![p.clone()],
            Self::Camera(_) | Self::Demo => Vec::new(),
        }
    }
}

/// The sources `--source` accepts, for help and error texts.
pub const SOURCE_SYNTAX: &str = "camera[:N|:NAME], video:FILE, images:DIR, demo, replay:DIR";

impl std::str::FromStr for SourceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (s, None),
        };
        let path = |what: &str| match arg {
            Some(a) if !a.is_empty() => Ok(PathBuf::from(a)),
            _ => Err(format!("`{kind}` needs a {what}: `{kind}:{what}`")),
        };
        match kind {
            "camera" => Ok(Self::Camera(
                arg.filter(|a| !a.is_empty()).map(str::to_owned),
            )),
            "video" => path("FILE").map(Self::Video),
            "images" => path("DIR").map(Self::Images),
            "replay" => path("DIR").map(Self::Replay),
            "demo" if arg.is_none() => Ok(Self::Demo),
            _ => Err(format!(
                "unknown source `{s}`; the sources are {SOURCE_SYNTAX}"
            )),
        }
    }
}

impl std::fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Camera(None) => write!(f, "camera"),
            Self::Camera(Some(c)) => write!(f, "camera:{c}"),
            Self::Video(p) => write!(f, "video:{}", p.display()),
            Self::Images(p) => write!(f, "images:{}", p.display()),
            Self::Demo => write!(f, "demo"),
            Self::Replay(p) => write!(f, "replay:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_source_and_rejects_the_rest() {
        assert_eq!("demo".parse(), Ok(SourceSpec::Demo));
        assert_eq!("camera".parse(), Ok(SourceSpec::Camera(None)));
        assert_eq!("camera:1".parse(), Ok(SourceSpec::Camera(Some("1".into()))));
        assert_eq!(
            "video:a/b.avi".parse(),
            Ok(SourceSpec::Video("a/b.avi".into()))
        );
        assert_eq!(
            "replay:/tmp/s".parse(),
            Ok(SourceSpec::Replay("/tmp/s".into()))
        );
        let err = "webcam".parse::<SourceSpec>().unwrap_err();
        assert!(err.contains("camera[:N|:NAME]"), "{err}");
        assert!("images:".parse::<SourceSpec>().is_err());
        for s in ["camera:2", "video:x.avi", "images:d", "demo", "replay:r"] {
            assert_eq!(s.parse::<SourceSpec>().unwrap().to_string(), s);
        }
    }
}
