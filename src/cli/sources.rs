//! Opening the `--source` a command names, or choosing one: a camera when there is one, else the
//! demo, saying which and why.

use anyhow::{Context, Result};

use facetrack::capture::demo::{DemoSequence, astronaut_photo};
use facetrack::capture::{
    CameraRequest, CameraSource, DemoSource, FrameSource, ImageFolderSource, SourceSpec, VideoInfo,
    VideoSource,
};
use facetrack::record::ReplaySource;

/// An opened source, what it is, and the demo's sequence when it is the demo (for ground truth).
pub struct Opened {
    pub source: Box<dyn FrameSource>,
    /// What was opened, and why when it was chosen rather than named.
    pub note: String,
    pub demo: Option<DemoSequence>,
    /// What a video file's headers say, when the source is one.
    pub video: Option<VideoInfo>,
}

/// The demo sequence built from the embedded portrait.
pub fn demo_sequence() -> Result<DemoSequence> {
    super::demo::build_sequence(astronaut_photo().context("the embedded demo photo")?)
}

fn open_demo(note: String) -> Result<Opened> {
    let sequence = demo_sequence()?;
    Ok(Opened {
        source: Box::new(DemoSource::new(sequence.clone(), 0)),
        note,
        demo: Some(sequence),
        video: None,
    })
}

/// Opens `spec`; with none, the first camera, or the demo when there is no camera.
pub fn open(spec: Option<&SourceSpec>) -> Result<Opened> {
    let Some(spec) = spec else {
        return match open_camera(None) {
            Ok(opened) => Ok(opened),
            Err(e) => open_demo(format!(
                "no --source given and no camera usable ({e:#}); running the demo sequence"
            )),
        };
    };
    match spec {
        SourceSpec::Demo => open_demo("the demo sequence".into()),
        SourceSpec::Replay(dir) => {
            let source = ReplaySource::open(dir)?;
            Ok(Opened {
                note: source.describe(),
                source: Box::new(source),
                demo: None,
                video: None,
            })
        }
        SourceSpec::Camera(which) => open_camera(which.as_deref()),
        SourceSpec::Video(path) => {
            let source = VideoSource::open(path)?;
            let i = source.info().clone();
            Ok(Opened {
                note: format!(
                    "{}: {}, {}×{}, {:.2} fps, {} frames{}",
                    path.display(),
                    i.codec,
                    i.width,
                    i.height,
                    i.fps,
                    i.frames,
                    if i.rotation == 0 {
                        String::new()
                    } else {
                        format!(", turned {}° to stand upright", i.rotation)
                    }
                ),
                source: Box::new(source),
                demo: None,
                video: Some(i),
            })
        }
        SourceSpec::Images(dir) => {
            let source = ImageFolderSource::open(dir, IMAGE_FOLDER_FPS)?;
            Ok(Opened {
                note: format!("{}: {} images", dir.display(), source.len()),
                source: Box::new(source),
                demo: None,
                video: None,
            })
        }
    }
}

/// Opens `spec` as [`open`] does; a video then starts at the key frame at or before `start`.
pub fn open_at(spec: Option<&SourceSpec>, start: std::time::Duration) -> Result<Opened> {
    let Some(SourceSpec::Video(path)) = spec else {
        return open(spec);
    };
    let mut source = VideoSource::open(path)?;
    source.seek(start)?;
    let info = source.info().clone();
    Ok(Opened {
        note: format!("{} from {:.2} s", path.display(), start.as_secs_f64()),
        source: Box::new(source),
        demo: None,
        video: Some(info),
    })
}

/// The clock of an image folder's frames (their timestamps, which the filter uses).
const IMAGE_FOLDER_FPS: f64 = 30.0;

fn open_camera(which: Option<&str>) -> Result<Opened> {
    let source = CameraSource::open(which, CameraRequest::default())?;
    Ok(Opened {
        note: source.describe(),
        source: Box::new(source),
        demo: None,
        video: None,
    })
}
