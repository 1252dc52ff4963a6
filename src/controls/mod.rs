//! Named expression controls for driving avatars: ARKit's blendshape names, each 0–1 a frame,
//! measured from the fit in the model's own frame (pose removed, the person's neutral shape
//! subtracted) so that a head turn is not a smile.
//!
//! [`ControlMeter`] does a frame: the fit's shape and the person's neutral shape in the model's
//! frame, the eyelids and inner lips moved onto the image's evidence ([`eyelids`]), the raw
//! measurements ([`measure`]), and their calibration to 0–1 ([`calibration`]).

pub mod calibration;
pub mod eyelids;
pub mod measure;

pub use calibration::{Calibration, EyeLevel, NeutralCapture};
pub use measure::Raw;

use crate::align::{ErtError, FaceBox, ShapePredictor};
use crate::image::GrayImage;
use crate::model::{MorphableModel, Params};
use eyelids::{EyelidScratch, lift_image_evidence};

/// How many controls a frame carries.
pub const N_CONTROLS: usize = 18;

/// The controls' names, ARKit's (and MediaPipe's) spelling; `Left`/`Right` are the person's own
/// sides, as ARKit's are (the person's left eye is on the image's right).
pub const CONTROL_NAMES: [&str; N_CONTROLS] = [
    "jawOpen",
    "mouthClose",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthPucker",
    "mouthFunnel",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeWideLeft",
    "eyeWideRight",
    "browInnerUp",
    "browDownLeft",
    "browDownRight",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
];

/// One frame's controls, in the order of [`CONTROL_NAMES`], each in 0–1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Controls {
    pub values: [f32; N_CONTROLS],
}

/// Measures a frame's controls; holds every buffer it needs and the calibration in use.
#[derive(Debug, Clone)]
pub struct ControlMeter {
    shape: Vec<f64>,
    neutral: Vec<f64>,
    eyelids: EyelidScratch,
    calibration: Calibration,
    capture: Option<NeutralCapture>,
    /// The eyes' resting opening, learned until a neutral-face calibration measures it.
    eye_level: Option<EyeLevel>,
}

impl ControlMeter {
    pub fn new(model: &MorphableModel, predictor: &ShapePredictor) -> Self {
        let n = 3 * model.n_landmarks();
        Self {
            shape: vec![0.0; n],
            neutral: vec![0.0; n],
            eyelids: EyelidScratch::new(predictor),
            calibration: Calibration::default(),
            capture: None,
            eye_level: Some(EyeLevel::default()),
        }
    }

    pub fn set_calibration(&mut self, calibration: Calibration) {
        self.calibration = calibration;
        self.capture = None;
        self.eye_level = None;
    }

    /// Takes the next `frames` measured frames as the person's neutral face.
    pub fn calibrate(&mut self, frames: usize) {
        self.capture = Some(NeutralCapture::new(frames));
    }

    /// Frames of a neutral-face calibration so far and needed, while one runs.
    pub fn calibrating(&self) -> Option<(usize, usize)> {
        self.capture.as_ref().map(NeutralCapture::progress)
    }

    /// The raw measurements of the fit `p` (landmarks `[u0, v0, …]` in `image`, `face_box` the box
    /// the landmark cascade works in). Allocates nothing.
    pub fn raw(
        &mut self,
        model: &MorphableModel,
        predictor: &ShapePredictor,
        image: &GrayImage,
        face_box: &FaceBox,
        p: &Params,
        landmarks: &[f64],
    ) -> Result<Option<Raw>, ErtError> {
        let shapes = model.landmarks();
        shapes.shape_into(p.id(), p.exp(), &mut self.shape);
        // No expression coefficients: all zero, the person's neutral face.
        shapes.shape_into(p.id(), &[], &mut self.neutral);
        lift_image_evidence(
            predictor,
            model,
            image,
            face_box,
            p,
            landmarks,
            &measure::EVIDENCE_POINTS,
            &mut self.shape,
            &mut self.eyelids,
        )?;
        Ok(measure::measure(&self.shape, &self.neutral))
    }

    /// The controls of raw measurements, under the calibration in use; feeds a running
    /// neutral-face calibration, which takes effect when it has its frames.
    pub fn controls(&mut self, raw: &Raw) -> Controls {
        if let Some(capture) = self.capture.as_mut()
            && let Some(calibration) = capture.add(raw)
        {
            self.set_calibration(calibration);
        }
        if let Some(level) = self.eye_level.as_mut() {
            let open = [
                raw[measure::index::WIDE_LEFT],
                raw[measure::index::WIDE_RIGHT],
            ];
            self.calibration.set_eyes_open(level.update(open));
        }
        self.calibration.apply(raw)
    }
}
