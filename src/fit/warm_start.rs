//! Warm start (PARM paper §3: "in tracking, the cascade is warm-started from the previous frame's
//! parameters"): the previous fit is the new frame's starting point, and the box the landmark
//! cascade and the parameter normalisation use is the square box around its landmarks — the
//! convention the warm-start regressors are trained with.

use crate::align::FaceBox;
use crate::align::detect::{points, square_box_around};
use crate::fit::{Cascade, FitError, FitScratch};
use crate::image::GrayImage;
use crate::model::{MorphableModel, Params};

/// The square box around the landmarks of `p`; `x` is a buffer of `2·n_landmarks`.
pub fn box_around(model: &MorphableModel, p: &Params, x: &mut [f64]) -> Option<FaceBox> {
    model.project_landmarks(p, x);
    square_box_around(points(x))
}

/// Fits a frame from the previous frame's parameters `p` (updated in place): the box is the
/// square box around `p`'s landmarks, and the cascade — trained from such starts — runs `stages`
/// stages. Returns the box it used. `x` is a buffer of `2·n_landmarks`.
pub fn fit_from_previous(
    cascade: &Cascade<'_>,
    image: &GrayImage,
    p: &mut Params,
    stages: usize,
    scratch: &mut FitScratch,
    x: &mut [f64],
) -> Result<FaceBox, WarmStartError> {
    let face_box = box_around(cascade.model, p, x).ok_or(WarmStartError::NoFace)?;
    cascade.fit(image, &face_box, p, stages, scratch, |_, _, _| {})?;
    Ok(face_box)
}

#[derive(Debug, thiserror::Error)]
pub enum WarmStartError {
    #[error("the previous parameters place no face in the image")]
    NoFace,
    #[error(transparent)]
    Fit(#[from] FitError),
}
