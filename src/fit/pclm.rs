//! PCLM (PARM paper Eq. 9): one regularised Gauss-Newton step a stage,
//! `Δp = (JᵀJ + rW)⁻¹ [JᵀΔx − rWp]`, with Δx from the landmark cascade, `J = ∂x/∂p` analytic and
//! `W` the prior: 0 on the pose, 1 on the unit-variance identity and expression coefficients.
//!
//! The step is solved in box-normalised parameters (the Jacobian's scale and translation columns
//! multiplied by how much a normalised unit moves them): the raw scale is ~1e-3 against
//! coefficients of ~1, and the normal equations would otherwise span 1e15.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::box_frame::{BoxFrame, ColdStart};
use super::cholesky::cholesky_solve;
use crate::model::Params;

/// PCLM's settings: how many coefficients it fits, the prior weight `r` (chosen on validation) and
/// the cold start (the training means of the normalised scale and translation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pclm {
    pub n_id: usize,
    pub n_exp: usize,
    pub r: f64,
    pub hide_invisible: bool,
    #[serde(flatten)]
    pub cold: ColdStart,
}

/// Buffers for one step, sized once.
#[derive(Debug, Clone)]
pub struct PclmScratch {
    jac: DMatrix<f64>,
    normal: DMatrix<f64>,
    rhs: DVector<f64>,
    dx: DVector<f64>,
}

impl PclmScratch {
    pub fn new(n_landmarks: usize, n_params: usize) -> Self {
        Self {
            jac: DMatrix::zeros(2 * n_landmarks, n_params),
            normal: DMatrix::zeros(n_params, n_params),
            rhs: DVector::zeros(n_params),
            dx: DVector::zeros(2 * n_landmarks),
        }
    }

    pub fn jacobian_mut(&mut self) -> &mut DMatrix<f64> {
        &mut self.jac
    }
}

impl Pclm {
    /// One step. `scratch.jac` holds `∂x/∂p` at `p` (raw units; it is overwritten); `dx` the
    /// landmark update in pixels, interleaved; `weight[i]` 0 or 1 per landmark. Writes the raw
    /// update into `dp`. Returns false when the normal equations are singular (no landmark
    /// weighted, a degenerate pose).
    pub fn step(
        &self,
        p: &Params,
        frame: &BoxFrame,
        dx: &[f64],
        weight: &[f64],
        scratch: &mut PclmScratch,
        dp: &mut [f64],
    ) -> bool {
        let n = p.len();
        let col_scale = |j: usize| match j {
            Params::S => frame.size / frame.model_size,
            Params::TX | Params::TY => frame.size,
            _ => 1.0,
        };
        // Weighted rows and normalised columns, so that the products below are plain GEMMs.
        for (j, mut col) in scratch.jac.column_iter_mut().enumerate() {
            let c = col_scale(j);
            for (r, v) in col.iter_mut().enumerate() {
                *v *= c * weight[r / 2];
            }
        }
        scratch.dx.copy_from_slice(dx);
        scratch.jac.tr_mul_to(&scratch.jac, &mut scratch.normal);
        scratch.jac.tr_mul_to(&scratch.dx, &mut scratch.rhs);
        for j in Params::N_POSE..n {
            scratch.normal[(j, j)] += self.r;
            scratch.rhs[j] -= self.r * p.as_slice()[j];
        }
        // Symmetric: its column-major storage reads as row-major too.
        if !cholesky_solve(scratch.normal.as_mut_slice(), scratch.rhs.as_mut_slice(), n) {
            return false;
        }
        for (j, d) in dp.iter_mut().enumerate() {
            *d = scratch.rhs[j] * col_scale(j);
        }
        true
    }
}
