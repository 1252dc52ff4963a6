//! The 3D morphable model of the PARM paper (§3.1): `S = S0 + A_id·α_id + A_exp·α_exp`, once for the
//! 68 landmarks and once for the dense mesh, with the per-dimension scales `σ` that make the
//! coefficients unit-variance.
//!
//! Values are held as `f32`, exactly as the model file stores them, so a model in memory and the
//! same model read back from its file are equal; all arithmetic on them is done in `f64`.

use nalgebra::Vector3;
use thiserror::Error;

/// Why a set of arrays does not make a morphable model.
#[derive(Debug, Error, PartialEq)]
pub enum ModelError {
    #[error("{what} has {found} values, expected {expected}")]
    Length {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{what} holds a value that is not finite")]
    NotFinite { what: &'static str },
    #[error("{what} {index} is {value}, expected a positive value")]
    NotPositive {
        what: &'static str,
        index: usize,
        value: f32,
    },
    #[error("{what} {index} names vertex {vertex}, but the mesh has {n_vertices} vertices")]
    VertexOutOfRange {
        what: &'static str,
        index: usize,
        vertex: u32,
        n_vertices: usize,
    },
    #[error("landmarks {first} and {second} both sit on mesh vertex {vertex}")]
    SharedLandmarkVertex {
        first: usize,
        second: usize,
        vertex: u32,
    },
    #[error("the model has no landmarks")]
    NoLandmarks,
}

/// One linear shape model: `n_points` 3D points, interleaved `[x0, y0, z0, x1, …]`, in model units
/// (y up). The bases are row-major, `3·n_points` rows by `n_id` (`n_exp`) columns, so the
/// coefficients of one coordinate are contiguous (a dot product per coordinate, and a restricted
/// parameter vector reads a prefix of each row).
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeModel {
    n_points: usize,
    n_id: usize,
    n_exp: usize,
    mean: Vec<f32>,
    identity: Vec<f32>,
    expression: Vec<f32>,
}

impl ShapeModel {
    pub fn new(
        n_points: usize,
        n_id: usize,
        n_exp: usize,
        mean: Vec<f32>,
        identity: Vec<f32>,
        expression: Vec<f32>,
    ) -> Result<Self, ModelError> {
        check_len("mean shape", &mean, 3 * n_points)?;
        check_len("identity basis", &identity, 3 * n_points * n_id)?;
        check_len("expression basis", &expression, 3 * n_points * n_exp)?;
        for (what, v) in [
            ("mean shape", &mean),
            ("identity basis", &identity),
            ("expression basis", &expression),
        ] {
            if !v.iter().all(|x| x.is_finite()) {
                return Err(ModelError::NotFinite { what });
            }
        }
        Ok(Self {
            n_points,
            n_id,
            n_exp,
            mean,
            identity,
            expression,
        })
    }

    pub fn n_points(&self) -> usize {
        self.n_points
    }
    pub fn n_id(&self) -> usize {
        self.n_id
    }
    pub fn n_exp(&self) -> usize {
        self.n_exp
    }
    /// `S0`, `3·n_points` values.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }
    /// `A_id` (already multiplied by `σ_id`), row-major `3·n_points × n_id`.
    pub fn identity_basis(&self) -> &[f32] {
        &self.identity
    }
    /// `A_exp` (already multiplied by `σ_exp`), row-major `3·n_points × n_exp`.
    pub fn expression_basis(&self) -> &[f32] {
        &self.expression
    }

    /// Row `k` (coordinate `k % 3` of point `k / 3`) of the identity basis.
    pub fn identity_row(&self, k: usize) -> &[f32] {
        &self.identity[k * self.n_id..(k + 1) * self.n_id]
    }
    /// Row `k` of the expression basis.
    pub fn expression_row(&self, k: usize) -> &[f32] {
        &self.expression[k * self.n_exp..(k + 1) * self.n_exp]
    }

    /// Point `i` of `S0 + A_id·α_id + A_exp·α_exp`; `id` and `exp` may be shorter than the model's
    /// dimensions (the rest count as zero).
    ///
    /// # Panics
    /// If `i` is out of range or a coefficient slice is longer than the model's dimension.
    #[inline]
    pub fn point(&self, i: usize, id: &[f64], exp: &[f64]) -> Vector3<f64> {
        let mut q = Vector3::zeros();
        for c in 0..3 {
            let k = 3 * i + c;
            q[c] = f64::from(self.mean[k])
                + dot(&self.identity_row(k)[..id.len()], id)
                + dot(&self.expression_row(k)[..exp.len()], exp);
        }
        q
    }

    /// The whole shape into `out` (`3·n_points` values, model units, y up).
    ///
    /// # Panics
    /// If `out` has the wrong length or a coefficient slice is longer than the model's dimension.
    pub fn shape_into(&self, id: &[f64], exp: &[f64], out: &mut [f64]) {
        assert_eq!(out.len(), 3 * self.n_points, "shape buffer length");
        for i in 0..self.n_points {
            out[3 * i..3 * i + 3].copy_from_slice(self.point(i, id, exp).as_slice());
        }
    }
}

/// Four running sums rather than one, so the compiler may keep them in one vector register.
#[inline]
fn dot(row: &[f32], alpha: &[f64]) -> f64 {
    let n = row.len().min(alpha.len());
    let (row, alpha) = (&row[..n], &alpha[..n]);
    let mut acc = [0.0f64; 4];
    for (b, a) in row.chunks_exact(4).zip(alpha.chunks_exact(4)) {
        for k in 0..4 {
            acc[k] += f64::from(b[k]) * a[k];
        }
    }
    let tail = n - n % 4;
    let rest: f64 = row[tail..]
        .iter()
        .zip(&alpha[tail..])
        .map(|(&b, &a)| f64::from(b) * a)
        .sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + rest
}

fn check_len<T>(what: &'static str, v: &[T], expected: usize) -> Result<(), ModelError> {
    if v.len() == expected {
        Ok(())
    } else {
        Err(ModelError::Length {
            what,
            expected,
            found: v.len(),
        })
    }
}

/// Everything a [`MorphableModel`] is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelParts {
    /// The landmark model (68 iBUG points, in their usual order).
    pub landmarks: ShapeModel,
    /// The dense mesh model, same coefficients.
    pub dense: ShapeModel,
    /// The dense-mesh vertex of each landmark: there the two models agree exactly.
    pub landmark_vertices: Vec<u32>,
    pub triangles: Vec<[u32; 3]>,
    /// Texture coordinates of each dense vertex, as the source mesh gives them.
    pub uv: Vec<[f32; 2]>,
    /// Standard scale of each identity dimension: dataset coefficient = `σ·α`.
    pub sigma_id: Vec<f32>,
    pub sigma_exp: Vec<f32>,
}

/// The project's morphable model: landmark and dense shape models sharing one set of unit-variance
/// identity and expression coefficients.
#[derive(Debug, Clone, PartialEq)]
pub struct MorphableModel {
    parts: ModelParts,
}

impl MorphableModel {
    /// Checks that the parts agree with one another.
    pub fn new(parts: ModelParts) -> Result<Self, ModelError> {
        let (lm, dense) = (&parts.landmarks, &parts.dense);
        if lm.n_points() == 0 {
            return Err(ModelError::NoLandmarks);
        }
        for (what, expected, found) in [
            ("dense identity dimensions", lm.n_id(), dense.n_id()),
            ("dense expression dimensions", lm.n_exp(), dense.n_exp()),
            ("σ_id", lm.n_id(), parts.sigma_id.len()),
            ("σ_exp", lm.n_exp(), parts.sigma_exp.len()),
            (
                "landmark vertices",
                lm.n_points(),
                parts.landmark_vertices.len(),
            ),
            ("texture coordinates", dense.n_points(), parts.uv.len()),
        ] {
            if expected != found {
                return Err(ModelError::Length {
                    what,
                    expected,
                    found,
                });
            }
        }
        for (what, sigma) in [("σ_id", &parts.sigma_id), ("σ_exp", &parts.sigma_exp)] {
            if let Some((index, &value)) = sigma
                .iter()
                .enumerate()
                .find(|(_, s)| !(**s > 0.0 && s.is_finite()))
            {
                return Err(ModelError::NotPositive { what, index, value });
            }
        }
        if !parts.uv.iter().flatten().all(|x| x.is_finite()) {
            return Err(ModelError::NotFinite {
                what: "texture coordinates",
            });
        }
        let n_vertices = dense.n_points();
        let in_range = |what, index, vertex: u32| {
            if (vertex as usize) < n_vertices {
                Ok(())
            } else {
                Err(ModelError::VertexOutOfRange {
                    what,
                    index,
                    vertex,
                    n_vertices,
                })
            }
        };
        for (i, &v) in parts.landmark_vertices.iter().enumerate() {
            in_range("landmark", i, v)?;
            if let Some(first) = parts.landmark_vertices[..i].iter().position(|&w| w == v) {
                return Err(ModelError::SharedLandmarkVertex {
                    first,
                    second: i,
                    vertex: v,
                });
            }
        }
        for (i, t) in parts.triangles.iter().enumerate() {
            for &v in t {
                in_range("triangle", i, v)?;
            }
        }
        Ok(Self { parts })
    }

    pub fn parts(&self) -> &ModelParts {
        &self.parts
    }
    pub fn into_parts(self) -> ModelParts {
        self.parts
    }
    pub fn landmarks(&self) -> &ShapeModel {
        &self.parts.landmarks
    }
    pub fn dense(&self) -> &ShapeModel {
        &self.parts.dense
    }
    pub fn n_landmarks(&self) -> usize {
        self.parts.landmarks.n_points()
    }
    pub fn n_vertices(&self) -> usize {
        self.parts.dense.n_points()
    }
    pub fn n_id(&self) -> usize {
        self.parts.landmarks.n_id()
    }
    pub fn n_exp(&self) -> usize {
        self.parts.landmarks.n_exp()
    }
    /// Length of a full parameter vector, `6 + n_id + n_exp`.
    pub fn n_params(&self) -> usize {
        6 + self.n_id() + self.n_exp()
    }
    pub fn landmark_vertices(&self) -> &[u32] {
        &self.parts.landmark_vertices
    }
    /// Triangles of the dense mesh, counter-clockwise seen from the front in model space (y up), so
    /// clockwise once projected into the image (y down).
    pub fn triangles(&self) -> &[[u32; 3]] {
        &self.parts.triangles
    }
    pub fn uv(&self) -> &[[f32; 2]] {
        &self.parts.uv
    }
    pub fn sigma_id(&self) -> &[f32] {
        &self.parts.sigma_id
    }
    pub fn sigma_exp(&self) -> &[f32] {
        &self.parts.sigma_exp
    }
}
