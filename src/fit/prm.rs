//! PRM (PARM paper Eq. 10): the parameter update of stage k as a linear function of the landmark
//! update alone, `Δpᵏ = Rᵏ Δxᵏ + bᵏ` — SDM-style regression, no Jacobian; the prior is absorbed by
//! training.

use super::box_frame::BoxFrame;

/// PRM's regressor input: the landmark update (pixels, interleaved) divided by the box size.
pub fn prm_features(dx: &[f64], frame: &BoxFrame, out: &mut [f64]) {
    for (f, d) in out.iter_mut().zip(dx) {
        *f = d / frame.size;
    }
}
