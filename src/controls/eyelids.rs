//! Image evidence for the eyes and lips: dlib's landmark cascade (M1, Kazemi & Sullivan's ERT)
//! run on from the fitted landmarks, its points carried back into the model's frame.
//!
//! The 68-point model fit does not follow a blink: PARM's landmarks are the model's, and the
//! model's expression basis barely closes an eye, so the fitted eyelids stay open (on the blink
//! clip their opening correlates with the references at r ≈ 0), while the ERT alone follows the
//! eyelids (r = 0.97). The cascade, started from the fit rather than from the mean shape, moves
//! the eyelids and the inner lips onto the image's edges from a start that is already close.
//!
//! A point moved by `(Δu, Δv)` in the image is lifted into the model's frame as the move
//! `(δx, δy, 0)` of its model point that projects to it under the fit's weak perspective
//! (PARM paper §3.1, `x = s·R2D·S + t`): eyelids and lips move in the face's own plane, so the
//! depth the image cannot give is taken as unchanged.

use crate::align::{ErtError, ErtScratch, FaceBox, Point2, ShapePredictor};
use crate::image::GrayImage;
use crate::model::rotation::rotation;
use crate::model::{MorphableModel, Params};

/// The buffers of a refinement, made once.
#[derive(Debug, Clone)]
pub struct EyelidScratch {
    ert: ErtScratch,
    current: Vec<Point2>,
    delta: Vec<Point2>,
}

impl EyelidScratch {
    pub fn new(predictor: &ShapePredictor) -> Self {
        let n = predictor.num_landmarks();
        Self {
            ert: predictor.scratch(),
            current: vec![[0.0; 2]; n],
            delta: vec![[0.0; 2]; n],
        }
    }
}

/// Runs the cascade from `landmarks` (the fit's, `[u0, v0, …]`) in `face_box`, and writes into
/// `shape` (`3·n_landmarks`, the fit's model-frame shape on entry) the model-frame points the
/// moved landmarks give for every index in `points`. Allocates nothing.
#[allow(clippy::too_many_arguments)]
pub fn lift_image_evidence(
    predictor: &ShapePredictor,
    model: &MorphableModel,
    image: &GrayImage,
    face_box: &FaceBox,
    p: &Params,
    landmarks: &[f64],
    points: &[usize],
    shape: &mut [f64],
    scratch: &mut EyelidScratch,
) -> Result<(), ErtError> {
    debug_assert_eq!(shape.len(), 3 * model.n_landmarks());
    for (c, xy) in scratch.current.iter_mut().zip(landmarks.chunks_exact(2)) {
        *c = [xy[0], xy[1]];
    }
    // All the stages: on the blink clip the eyelids' opening follows MediaPipe's at r = 0.95
    // with all 15, 0.87 with the last 10 and 0.78 with the last 5, whose steps are too small to
    // close a lid the fit holds open. Every landmark moves, though a few are read: with the rest
    // held at the fit (only the blocks of the eyes and mouth added up, 15 % faster) the left
    // blink's r with MediaPipe on the glasses clip fell from 0.73 to 0.45.
    for k in 0..predictor.num_stages() {
        predictor.stage(
            k,
            image,
            face_box,
            &scratch.current,
            &mut scratch.delta,
            &mut scratch.ert,
        )?;
        for (c, d) in scratch.current.iter_mut().zip(&scratch.delta) {
            c[0] += d[0];
            c[1] += d[1];
        }
    }
    // u = s·(R·S)ₓ + tx and v = −s·(R·S)ᵧ + ty: a move (δx, δy, 0) in the model's frame moves
    // the point by s·(R₀₀ δx + R₀₁ δy, −R₁₀ δx − R₁₁ δy) in the image.
    let r = rotation(p.pitch(), p.yaw(), p.roll());
    let (a, b, c, d) = (r[(0, 0)], r[(0, 1)], r[(1, 0)], r[(1, 1)]);
    let det = a * d - b * c;
    let s = p.s();
    if !(det.abs() > 1e-3 && s.is_finite() && s.abs() > f64::MIN_POSITIVE) {
        return Ok(());
    }
    for &i in points {
        let du = (scratch.current[i][0] - landmarks[2 * i]) / s;
        let dv = -(scratch.current[i][1] - landmarks[2 * i + 1]) / s;
        let dx = (d * du - b * dv) / det;
        let dy = (a * dv - c * du) / det;
        if dx.is_finite() && dy.is_finite() {
            shape[3 * i] += dx;
            shape[3 * i + 1] += dy;
        }
    }
    Ok(())
}
