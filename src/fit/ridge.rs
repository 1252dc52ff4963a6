//! Ridge (L2-regularised least-squares) regression for the cascade's linear regressors — what the
//! PARM paper trains with LIBLINEAR. Inputs and outputs are standardised before solving, so that
//! one regularisation weight means the same for every feature, and the solution is folded back into
//! a plain affine map on raw inputs.

use nalgebra::{DMatrix, DVector};

use super::regressor::AffineMap;

/// The sufficient statistics of a regression problem, so that several regularisation weights can
/// be tried without touching the samples again.
#[derive(Debug, Clone)]
pub struct RidgeProblem {
    in_mean: DVector<f64>,
    in_scale: DVector<f64>,
    out_mean: DVector<f64>,
    out_scale: DVector<f64>,
    xtx: DMatrix<f64>,
    xty: DMatrix<f64>,
    n: usize,
}

impl RidgeProblem {
    /// `x`: one sample a row (n × d_in); `y`: one target a row (n × d_out).
    pub fn new(x: &DMatrix<f64>, y: &DMatrix<f64>) -> Self {
        let n = x.nrows();
        let (in_mean, in_scale) = column_stats(x);
        let (out_mean, out_scale) = column_stats(y);
        let mut xs = x.clone();
        standardise(&mut xs, &in_mean, &in_scale);
        let mut ys = y.clone();
        standardise(&mut ys, &out_mean, &out_scale);
        let xtx = xs.tr_mul(&xs);
        let xty = xs.tr_mul(&ys);
        Self {
            in_mean,
            in_scale,
            out_mean,
            out_scale,
            xtx,
            xty,
            n,
        }
    }

    /// Solves with weight `lambda` (relative to the number of samples) and returns the affine map
    /// on raw inputs.
    pub fn solve(&self, lambda: f64) -> AffineMap {
        let d = self.xtx.nrows();
        let mut a = self.xtx.clone();
        for i in 0..d {
            a[(i, i)] += lambda * self.n as f64;
        }
        // Positive definite for lambda > 0; fall back to the pseudo-inverse otherwise.
        let w_std = match a.clone().cholesky() {
            Some(c) => c.solve(&self.xty),
            None => a
                .pseudo_inverse(1e-12)
                .map(|p| p * &self.xty)
                .unwrap_or_else(|_| DMatrix::zeros(d, self.xty.ncols())),
        };
        // y = out_mean + out_scale ⊙ (W_stdᵀ ((x − in_mean) ⊘ in_scale))
        let d_out = self.xty.ncols();
        let mut weights = DMatrix::zeros(d_out, d);
        let mut bias = self.out_mean.clone();
        for o in 0..d_out {
            for i in 0..d {
                let w = w_std[(i, o)] * self.out_scale[o] / self.in_scale[i];
                weights[(o, i)] = w;
                bias[o] -= w * self.in_mean[i];
            }
        }
        AffineMap::new(weights, bias)
    }
}

fn column_stats(m: &DMatrix<f64>) -> (DVector<f64>, DVector<f64>) {
    let n = m.nrows().max(1) as f64;
    let mean = DVector::from_iterator(m.ncols(), m.column_iter().map(|c| c.sum() / n));
    let scale = DVector::from_iterator(
        m.ncols(),
        m.column_iter().zip(mean.iter()).map(|(c, &mu)| {
            let var = c.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / n;
            // A constant column carries no information; keep it from dividing by zero.
            if var > 1e-24 { var.sqrt() } else { 1.0 }
        }),
    );
    (mean, scale)
}

fn standardise(m: &mut DMatrix<f64>, mean: &DVector<f64>, scale: &DVector<f64>) {
    for (j, mut c) in m.column_iter_mut().enumerate() {
        c.add_scalar_mut(-mean[j]);
        c /= scale[j];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_linear_map_with_little_regularisation() {
        let n = 200;
        let x = DMatrix::from_fn(n, 3, |i, j| {
            ((i * 7 + j * 13) % 17) as f64 * (j + 1) as f64 + (i as f64).sin()
        });
        let y = DMatrix::from_fn(n, 2, |i, o| {
            let r = x.row(i);
            if o == 0 {
                2.0 * r[0] - r[2] + 5.0
            } else {
                0.5 * r[1] - 3.0
            }
        });
        let map = RidgeProblem::new(&x, &y).solve(1e-10);
        let mut out = [0.0; 2];
        for i in 0..n {
            let xi: Vec<f64> = x.row(i).iter().copied().collect();
            map.apply(&xi, &mut out);
            assert!((out[0] - y[(i, 0)]).abs() < 1e-6 && (out[1] - y[(i, 1)]).abs() < 1e-6);
        }
    }
}
