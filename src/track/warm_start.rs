//! Warm start (PARM paper §3: "in tracking, the cascade is warm-started from the previous frame's
//! parameters"): the previous fit is the new frame's starting point, and the box the landmark
//! cascade and the parameter normalisation use is the square box around its landmarks — the
//! convention the warm-start regressors are trained with.

use crate::align::FaceBox;
use crate::align::detect::square_box_around;
use crate::model::{MorphableModel, Params};

/// The square box around the landmarks of `p`; `x` is a buffer of `2·n_landmarks`.
pub fn box_around(model: &MorphableModel, p: &Params, x: &mut [f64]) -> Option<FaceBox> {
    model.project_landmarks(p, x);
    square_box_around(x.chunks_exact(2).map(|c| [c[0], c[1]]))
}
