//! Opening the `--source` a command names, or choosing one: a camera when there is one, else the
//! demo, saying which and why.

use anyhow::{Context, Result};

use facetrack::capture::demo::{DemoSequence, astronaut_photo};
use facetrack::capture::{DemoSource, FrameSource, SourceSpec};
use facetrack::record::ReplaySource;

/// An opened source, what it is, and the demo's sequence when it is the demo (for ground truth).
pub struct Opened {
    pub source: Box<dyn FrameSource>,
    /// What was opened, and why when it was chosen rather than named.
    pub note: String,
    pub demo: Option<DemoSequence>,
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
            })
        }
        SourceSpec::Camera(which) => open_camera(which.as_deref()),
        SourceSpec::Video(path) | SourceSpec::Images(path) => {
            anyhow::bail!("{spec}: not supported yet ({})", path.display())
        }
    }
}

fn open_camera(which: Option<&str>) -> Result<Opened> {
    anyhow::bail!(
        "no camera support yet ({}); other sources: {}",
        which.unwrap_or("first camera"),
        facetrack::capture::SOURCE_SYNTAX
    )
}
