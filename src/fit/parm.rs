//! PARM (PARM paper Eq. 12): `Δpᵏ = Rᵏ [Δxᵏ; pᵏ; 1]`. Eq. 13 shows why the current parameters are an
//! essential input — `Δp = AΔx + Bp + CΔx_bias` — and they cost no image features.

use super::box_frame::BoxFrame;
use super::prm::prm_features;

/// PARM's regressor input: PRM's (the box-normalised landmark update) followed by the
/// box-normalised current parameters; the bias is the regressor's own.
pub fn parm_features(dx: &[f64], p: &[f64], frame: &BoxFrame, out: &mut [f64]) {
    let (a, b) = out.split_at_mut(dx.len());
    prm_features(dx, frame, a);
    frame.normalise(p, b);
}
