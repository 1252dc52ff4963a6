//! Thin-plate spline interpolation in 3D, as a linear operator: Duchon's polyharmonic spline with
//! the biharmonic kernel `φ(r) = r` of R³ (Duchon, "Splines minimizing rotation-invariant
//! semi-norms in Sobolev spaces", 1977; the landmark-warp form of Bookstein, IEEE TPAMI 11(6),
//! 1989, Eq. 2–4, with the 3D kernel):
//!
//! `f(x) = Σ_k w_k φ(‖x − c_k‖) + a0 + a·x`, with `[K P; Pᵀ 0]·[w; a] = [values; 0]`.
//!
//! `f` depends linearly on the values at the control points, so the interpolant is computed once
//! as a matrix `M` (points × controls): `f(points) = M · values`, for any number of value sets
//! (the mean shape and every basis vector). Affine functions are reproduced exactly.

use nalgebra::{DMatrix, Vector3};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum SplineError {
    #[error("a 3D thin-plate spline needs at least 4 control points not all in one plane")]
    Degenerate,
    #[error("control index {index} is out of range for {n_points} points")]
    ControlOutOfRange { index: usize, n_points: usize },
}

/// The interpolation matrix and how exactly it interpolates.
#[derive(Debug, Clone, PartialEq)]
pub struct SplineInterpolation {
    /// `points × controls`. Row `controls[k]` is set to the unit vector `e_k`, which it equals in
    /// exact arithmetic, so control points reproduce their values bit for bit.
    pub matrix: DMatrix<f64>,
    /// Largest deviation of those rows from `e_k` before they were set, a measure of the solve's
    /// round-off.
    pub control_row_error: f64,
}

/// The interpolation matrix from values at `points[controls[k]]` to values at every point.
pub fn interpolation_matrix(
    points: &[Vector3<f64>],
    controls: &[usize],
) -> Result<SplineInterpolation, SplineError> {
    let n_points = points.len();
    if let Some(&index) = controls.iter().find(|&&c| c >= n_points) {
        return Err(SplineError::ControlOutOfRange { index, n_points });
    }
    let n_c = controls.len();
    if n_c < 4 {
        return Err(SplineError::Degenerate);
    }
    // The kernel is homogeneous and the affine part spans translations and scalings, so the
    // interpolant does not change when the coordinates are centred and scaled to unit size; doing
    // so keeps the kernel block and the affine block of the system at comparable magnitudes.
    let centre = controls.iter().map(|&c| points[c]).sum::<Vector3<f64>>() / n_c as f64;
    let size = (controls
        .iter()
        .map(|&c| (points[c] - centre).norm_squared())
        .sum::<f64>()
        / n_c as f64)
        .sqrt();
    if !(size > 0.0 && size.is_finite()) {
        return Err(SplineError::Degenerate);
    }
    let unit: Vec<Vector3<f64>> = points.iter().map(|p| (p - centre) / size).collect();
    let ctrl: Vec<Vector3<f64>> = controls.iter().map(|&c| unit[c]).collect();

    let dim = n_c + 4;
    let mut a = DMatrix::<f64>::zeros(dim, dim);
    for i in 0..n_c {
        for j in 0..n_c {
            a[(i, j)] = (ctrl[i] - ctrl[j]).norm();
        }
        let affine = [1.0, ctrl[i].x, ctrl[i].y, ctrl[i].z];
        for (k, &v) in affine.iter().enumerate() {
            a[(i, n_c + k)] = v;
            a[(n_c + k, i)] = v;
        }
    }
    // Solve for the coefficients of each unit value set at once: [w; a] = A⁻¹ [I; 0].
    let mut rhs = DMatrix::<f64>::zeros(dim, n_c);
    for k in 0..n_c {
        rhs[(k, k)] = 1.0;
    }
    let coef = a.full_piv_lu().solve(&rhs).ok_or(SplineError::Degenerate)?;
    if !coef.iter().all(|v| v.is_finite()) {
        return Err(SplineError::Degenerate);
    }

    let mut basis = DMatrix::<f64>::zeros(n_points, dim);
    for (i, p) in unit.iter().enumerate() {
        for (k, c) in ctrl.iter().enumerate() {
            basis[(i, k)] = (p - c).norm();
        }
        basis[(i, n_c)] = 1.0;
        basis[(i, n_c + 1)] = p.x;
        basis[(i, n_c + 2)] = p.y;
        basis[(i, n_c + 3)] = p.z;
    }
    let mut matrix = basis * coef;

    let mut control_row_error = 0.0f64;
    for (k, &c) in controls.iter().enumerate() {
        for j in 0..n_c {
            let target = if j == k { 1.0 } else { 0.0 };
            control_row_error = control_row_error.max((matrix[(c, j)] - target).abs());
            matrix[(c, j)] = target;
        }
    }
    Ok(SplineInterpolation {
        matrix,
        control_row_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(n: usize) -> Vec<Vector3<f64>> {
        (0..n)
            .map(|i| {
                let f = i as f64;
                Vector3::new(
                    (f * 1.7).sin() * 50.0,
                    (f * 0.9).cos() * 40.0,
                    (f * 2.3).sin() * 30.0,
                )
            })
            .collect()
    }

    #[test]
    fn interpolates_controls_and_reproduces_affine_maps() {
        let pts = cloud(40);
        let controls: Vec<usize> = (0..40).step_by(3).collect();
        let s = interpolation_matrix(&pts, &controls).unwrap();
        assert!(s.control_row_error < 1e-10, "{}", s.control_row_error);
        // An affine function of the points, known at the controls, comes out everywhere.
        let f = |p: &Vector3<f64>| 3.0 + 0.5 * p.x - 2.0 * p.y + 0.25 * p.z;
        let values =
            nalgebra::DVector::from_iterator(controls.len(), controls.iter().map(|&c| f(&pts[c])));
        let out = &s.matrix * values;
        for (i, p) in pts.iter().enumerate() {
            assert!((out[i] - f(p)).abs() < 1e-9, "{i}: {} vs {}", out[i], f(p));
        }
    }

    #[test]
    fn coplanar_controls_are_rejected() {
        let pts: Vec<Vector3<f64>> = (0..10)
            .map(|i| Vector3::new(i as f64, (i * i) as f64, 0.0))
            .collect();
        assert_eq!(
            interpolation_matrix(&pts, &[0, 1, 2, 3, 4]).unwrap_err(),
            SplineError::Degenerate
        );
    }
}
