//! Weak-perspective projection of the morphable model and its analytic Jacobian (PARM paper §3.1:
//! `x(p) = s·R2D·S(α) + t2d`, and `J = ∂x/∂p` of the Gauss-Newton step, Eq. 9).
//!
//! Image convention (DESIGN.md): `u = s·(R S)ₓ + tx`, `v = −s·(R S)ᵧ + ty` — the model's y is up,
//! the image's y is down, origin at the centre of the top-left pixel. Nothing here allocates: every
//! result goes into a buffer the caller owns, so the tracking loop can reuse them frame after frame.

use nalgebra::{DMatrixViewMut, Matrix3, Vector3};

use super::morphable_model::ShapeModel;
use super::rotation::{RotationDerivatives, rotation};
use super::{MorphableModel, Params};

impl MorphableModel {
    /// `x(p)`: the landmarks in the image, interleaved `[u0, v0, u1, v1, …]` (`2·n_landmarks`).
    ///
    /// # Panics
    /// If `out` has the wrong length or `p` holds more coefficients than the model.
    pub fn project_landmarks(&self, p: &Params, out: &mut [f64]) {
        project(self.landmarks(), p, out);
    }

    /// The landmarks in 3D at image scale: `[u, v, z]` per landmark (`3·n_landmarks`), `u, v` as in
    /// [`Self::project_landmarks`], `z = s·(R S)_z` — the dataset's `pt3d_68` depth less its `tz`, which
    /// a weak-perspective camera cannot observe.
    ///
    /// # Panics
    /// If `out` has the wrong length or `p` holds more coefficients than the model.
    pub fn landmarks_3d(&self, p: &Params, out: &mut [f64]) {
        points_3d(self.landmarks(), p, out);
    }

    /// The dense mesh vertices in the image, interleaved `[u0, v0, …]` (`2·n_vertices`).
    ///
    /// # Panics
    /// If `out` has the wrong length or `p` holds more coefficients than the model.
    pub fn project_vertices(&self, p: &Params, out: &mut [f64]) {
        project(self.dense(), p, out);
    }

    /// The dense mesh vertices in 3D at image scale, `[u, v, z]` per vertex, as [`Self::landmarks_3d`].
    ///
    /// # Panics
    /// If `out` has the wrong length or `p` holds more coefficients than the model.
    pub fn vertices_3d(&self, p: &Params, out: &mut [f64]) {
        points_3d(self.dense(), p, out);
    }

    /// `∂x/∂p` at `p`: `2·n_landmarks` rows (in the order of [`Self::project_landmarks`]) by `p.len()`
    /// columns (`s, pitch, yaw, roll, tx, ty`, then the identity and expression coefficients `p`
    /// holds). Pass a `&mut DMatrix<f64>` or any column-major view of the right shape.
    ///
    /// # Panics
    /// If the matrix has the wrong shape or `p` holds more coefficients than the model.
    pub fn landmark_jacobian<'a>(&self, p: &Params, jac: impl Into<DMatrixViewMut<'a, f64>>) {
        jacobian(self.landmarks(), p, jac.into());
    }

    /// `x(p)` and `∂x/∂p` together, sharing the shape evaluation.
    ///
    /// # Panics
    /// As [`Self::project_landmarks`] and [`Self::landmark_jacobian`].
    pub fn project_landmarks_with_jacobian<'a>(
        &self,
        p: &Params,
        out: &mut [f64],
        jac: impl Into<DMatrixViewMut<'a, f64>>,
    ) {
        let shape = self.landmarks();
        assert_eq!(out.len(), 2 * shape.n_points(), "projection buffer length");
        let mut jac = jac.into();
        check_jacobian(shape, p, &jac);
        let rd = RotationDerivatives::new(p.pitch(), p.yaw(), p.roll());
        for i in 0..shape.n_points() {
            let q = shape.point(i, p.id(), p.exp());
            let rq = rd.r * q;
            out[2 * i] = p.s() * rq.x + p.tx();
            out[2 * i + 1] = -p.s() * rq.y + p.ty();
            jacobian_rows(shape, p, &rd, i, q, &mut jac);
        }
    }
}

fn check_params(shape: &ShapeModel, p: &Params) {
    assert!(
        p.n_id() <= shape.n_id() && p.n_exp() <= shape.n_exp(),
        "parameters with {} identity and {} expression coefficients for a model of {} and {}",
        p.n_id(),
        p.n_exp(),
        shape.n_id(),
        shape.n_exp()
    );
}

fn check_jacobian(shape: &ShapeModel, p: &Params, jac: &DMatrixViewMut<'_, f64>) {
    check_params(shape, p);
    assert_eq!(
        jac.shape(),
        (2 * shape.n_points(), p.len()),
        "Jacobian shape (rows: 2 per landmark, columns: one per parameter)"
    );
}

fn project(shape: &ShapeModel, p: &Params, out: &mut [f64]) {
    check_params(shape, p);
    assert_eq!(out.len(), 2 * shape.n_points(), "projection buffer length");
    let r = rotation(p.pitch(), p.yaw(), p.roll());
    let (s, tx, ty) = (p.s(), p.tx(), p.ty());
    for (i, uv) in out.chunks_exact_mut(2).enumerate() {
        let rq = r * shape.point(i, p.id(), p.exp());
        uv[0] = s * rq.x + tx;
        uv[1] = -s * rq.y + ty;
    }
}

fn points_3d(shape: &ShapeModel, p: &Params, out: &mut [f64]) {
    check_params(shape, p);
    assert_eq!(out.len(), 3 * shape.n_points(), "3D point buffer length");
    let r = rotation(p.pitch(), p.yaw(), p.roll());
    let (s, tx, ty) = (p.s(), p.tx(), p.ty());
    for (i, uvz) in out.chunks_exact_mut(3).enumerate() {
        let rq = r * shape.point(i, p.id(), p.exp());
        uvz[0] = s * rq.x + tx;
        uvz[1] = -s * rq.y + ty;
        uvz[2] = s * rq.z;
    }
}

fn jacobian(shape: &ShapeModel, p: &Params, mut jac: DMatrixViewMut<'_, f64>) {
    check_jacobian(shape, p, &jac);
    let rd = RotationDerivatives::new(p.pitch(), p.yaw(), p.roll());
    for i in 0..shape.n_points() {
        let q = shape.point(i, p.id(), p.exp());
        jacobian_rows(shape, p, &rd, i, q, &mut jac);
    }
}

/// Rows `2i` (u) and `2i + 1` (v) of the Jacobian, `q` being the model-space point `S_i(α)`.
#[inline]
fn jacobian_rows(
    shape: &ShapeModel,
    p: &Params,
    rd: &RotationDerivatives,
    i: usize,
    q: Vector3<f64>,
    jac: &mut DMatrixViewMut<'_, f64>,
) {
    let s = p.s();
    let (ru, rv) = (2 * i, 2 * i + 1);
    let rq = rd.r * q;
    jac[(ru, Params::S)] = rq.x;
    jac[(rv, Params::S)] = -rq.y;
    for (col, d) in [
        (Params::PITCH, &rd.d_pitch),
        (Params::YAW, &rd.d_yaw),
        (Params::ROLL, &rd.d_roll),
    ] {
        let dq = d * q;
        jac[(ru, col)] = s * dq.x;
        jac[(rv, col)] = -s * dq.y;
    }
    jac[(ru, Params::TX)] = 1.0;
    jac[(rv, Params::TX)] = 0.0;
    jac[(ru, Params::TY)] = 0.0;
    jac[(rv, Params::TY)] = 1.0;
    // ∂(R S_i)/∂α_j = R · (column j of the basis at point i): only the first two rows of R matter,
    // pre-scaled by s and by the image's y flip.
    let a = scaled_rows(&rd.r, s);
    coefficient_columns(
        [
            shape.identity_row(3 * i),
            shape.identity_row(3 * i + 1),
            shape.identity_row(3 * i + 2),
        ],
        p.n_id(),
        Params::N_POSE,
        &a,
        ru,
        jac,
    );
    coefficient_columns(
        [
            shape.expression_row(3 * i),
            shape.expression_row(3 * i + 1),
            shape.expression_row(3 * i + 2),
        ],
        p.n_exp(),
        p.exp_start(),
        &a,
        ru,
        jac,
    );
}

/// `[s·R₀; −s·R₁]`: the rows that map a model-space displacement to `(du, dv)`.
#[inline]
fn scaled_rows(r: &Matrix3<f64>, s: f64) -> [[f64; 3]; 2] {
    [
        [s * r[(0, 0)], s * r[(0, 1)], s * r[(0, 2)]],
        [-s * r[(1, 0)], -s * r[(1, 1)], -s * r[(1, 2)]],
    ]
}

#[inline]
fn coefficient_columns(
    rows: [&[f32]; 3],
    n: usize,
    first_col: usize,
    a: &[[f64; 3]; 2],
    ru: usize,
    jac: &mut DMatrixViewMut<'_, f64>,
) {
    let [bx, by, bz] = rows;
    for j in 0..n {
        let (x, y, z) = (f64::from(bx[j]), f64::from(by[j]), f64::from(bz[j]));
        jac[(ru, first_col + j)] = a[0][0] * x + a[0][1] * y + a[0][2] * z;
        jac[(ru + 1, first_col + j)] = a[1][0] * x + a[1][1] * y + a[1][2] * z;
    }
}
