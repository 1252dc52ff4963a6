//! Judging from the fit itself whether the face is still there (the tracker's loss detection).
//! A warm-started cascade always returns *some* parameters; when the face has gone (occluded,
//! left the frame, a cut) they drift to shapes no face has, jump in scale, or sit on a blank
//! patch. Each test below catches one of those; thresholds were chosen on the demo sequence (a
//! face tracked through ±45° of yaw never trips them) and on frames without a face (every one
//! trips one within a frame or two).

use crate::align::detect::{bounds, points};
use crate::image::GrayImage;
use crate::model::Params;

/// Why a fit was judged lost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LossReason {
    /// A parameter is NaN or infinite, or the fit failed.
    Failed,
    /// The face is smaller than [`MIN_FACE_PX`] or larger than the frame allows.
    Size,
    /// The face's centre left the frame.
    Outside,
    /// The scale changed by more than [`MAX_SCALE_STEP`] from the previous frame.
    ScaleJump,
    /// The head is turned further than a tracked face gets (pitch beyond [`MAX_PITCH`] or yaw
    /// beyond [`MAX_YAW`]).
    Pose,
    /// The identity or expression coefficients are far outside the model's spread (RMS beyond
    /// [`MAX_COEFF_RMS`] σ).
    Shape,
    /// The image under the landmarks is nearly uniform: nothing there to track.
    Blank,
    /// The fit confidence is below the tracker's threshold: the landmarks do not sit on a face.
    Unconfident,
}

/// Smallest face (height of its landmarks) tracked, pixels: below it the landmark cascade's
/// features sample too few pixels to mean anything.
pub const MIN_FACE_PX: f64 = 24.0;
/// Largest frame-to-frame scale ratio of a tracked face (at 30 fps a face does not double).
pub const MAX_SCALE_STEP: f64 = 1.35;
/// Pitch beyond which the fit is not trusted, radians (70°).
pub const MAX_PITCH: f64 = 70.0 * std::f64::consts::PI / 180.0;
/// Yaw beyond which the fit is not trusted, radians (100°).
pub const MAX_YAW: f64 = 100.0 * std::f64::consts::PI / 180.0;
/// RMS of the identity or expression coefficients (σ units) beyond which the shape is no face.
pub const MAX_COEFF_RMS: f64 = 3.0;
/// Standard deviation of the grey levels under the 68 landmarks below which the patch is blank.
pub const MIN_CONTRAST: f64 = 4.0;

fn rms(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt()
    }
}

/// Judges the fit `p` whose landmarks are `landmarks` (`[u0, v0, …]`) in `image`, given the
/// previous frame's scale (`None` right after a detection). `None` means the face is still there.
pub fn judge(
    p: &Params,
    landmarks: &[f64],
    image: &GrayImage,
    previous_scale: Option<f64>,
) -> Option<LossReason> {
    if p.as_slice().iter().any(|v| !v.is_finite()) || landmarks.iter().any(|v| !v.is_finite()) {
        return Some(LossReason::Failed);
    }
    let (w, h) = (image.width() as f64, image.height() as f64);
    let (lo, hi) = bounds(points(landmarks));
    let size = (hi[0] - lo[0]).max(hi[1] - lo[1]);
    if size < MIN_FACE_PX || size > 2.0 * w.max(h) {
        return Some(LossReason::Size);
    }
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    if !(0.0..w).contains(&centre[0]) || !(0.0..h).contains(&centre[1]) {
        return Some(LossReason::Outside);
    }
    if let Some(prev) = previous_scale {
        let ratio = (p.s() / prev).abs();
        if !(1.0 / MAX_SCALE_STEP..=MAX_SCALE_STEP).contains(&ratio) {
            return Some(LossReason::ScaleJump);
        }
    }
    if p.pitch().abs() > MAX_PITCH || p.yaw().abs() > MAX_YAW {
        return Some(LossReason::Pose);
    }
    if rms(p.id()) > MAX_COEFF_RMS || rms(p.exp()) > MAX_COEFF_RMS {
        return Some(LossReason::Shape);
    }
    if contrast(landmarks, image) < MIN_CONTRAST {
        return Some(LossReason::Blank);
    }
    None
}

/// Standard deviation of the grey levels at the landmarks that lie in the image.
fn contrast(landmarks: &[f64], image: &GrayImage) -> f64 {
    let (mut n, mut sum, mut sum2) = (0.0, 0.0, 0.0);
    for c in landmarks.chunks_exact(2) {
        let (x, y) = (c[0].round(), c[1].round());
        if x >= 0.0 && y >= 0.0 && (x as usize) < image.width() && (y as usize) < image.height() {
            let g = f64::from(image.get(x as usize, y as usize));
            n += 1.0;
            sum += g;
            sum2 += g * g;
        }
    }
    if n < 2.0 {
        return 0.0;
    }
    let mean = sum / n;
    (sum2 / n - mean * mean).max(0.0).sqrt()
}
