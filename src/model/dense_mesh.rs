//! The dense mesh of the morphable model: the learned landmark model carried onto the 468-vertex
//! canonical face mesh through the 68 landmark correspondences (DESIGN.md, "the morphable model").
//!
//! 1. Place the mesh on the learned mean face: the similarity that best maps the 68 landmark
//!    vertices onto the mean landmarks (Umeyama, [`super::similarity`]).
//! 2. Warp it onto the mean with a 3D thin-plate spline ([`super::thin_plate_spline`]) so that the
//!    68 landmark vertices land exactly on the mean landmarks: this is the dense mean face.
//! 3. Carry the mean and every basis vector onto all vertices with one thin-plate spline built on
//!    the dense mean face's geometry — a matrix `M` (vertices × landmarks) applied to each
//!    coordinate. Building it on the mean face rather than the canonical one matters at the mouth:
//!    the canonical mesh has its lips shut, so upper-lip vertices would sit as close to the lower
//!    lip's landmarks as to their own and follow both; the mean face's lips are apart.
//!
//! Since `M` is linear and its landmark rows are unit vectors, the dense model is exactly `M`
//! applied to the landmark model, and the landmark vertices reproduce the landmark model exactly.

use nalgebra::{DMatrix, Vector3};
use thiserror::Error;

use super::canonical_mesh::CanonicalMesh;
use super::similarity::{Similarity, fit_similarity};
use super::thin_plate_spline::{SplineError, interpolation_matrix};
use super::{MorphableModel, Params};

#[derive(Debug, Error, PartialEq)]
pub enum DenseMeshError {
    #[error("{found} landmark vertices for {expected} landmarks")]
    Count { expected: usize, found: usize },
    #[error("landmark vertex {vertex} is not a vertex of the {n_vertices}-vertex mesh")]
    VertexOutOfRange { vertex: u32, n_vertices: usize },
    #[error(
        "the landmark vertices do not determine a similarity transform (too few or coincident)"
    )]
    NoSimilarity,
    #[error("thin-plate spline: {0}")]
    Spline(#[from] SplineError),
}

/// How the mesh was carried onto the landmark model.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseTransfer {
    /// `vertices × landmarks`: dense value = `M ·` landmark values, per coordinate.
    pub matrix: DMatrix<f64>,
    /// The canonical mesh placed on the mean face (step 1), model units.
    pub aligned: Vec<Vector3<f64>>,
    pub similarity: Similarity,
    /// Distance between the placed landmark vertices and the mean landmarks, before the warp.
    pub alignment_rms: f64,
    pub alignment_max: f64,
    /// Round-off of the spline solves (see [`super::thin_plate_spline::SplineInterpolation`]).
    pub control_row_error: f64,
}

/// Steps 1–3 of the module documentation; `mean` is the landmark mean, interleaved `[x, y, z]`.
pub fn dense_transfer(
    mesh: &CanonicalMesh,
    landmark_vertices: &[u32],
    mean: &[f64],
) -> Result<DenseTransfer, DenseMeshError> {
    let n_lm = mean.len() / 3;
    if landmark_vertices.len() != n_lm {
        return Err(DenseMeshError::Count {
            expected: n_lm,
            found: landmark_vertices.len(),
        });
    }
    let n_vertices = mesh.vertices.len();
    if let Some(&vertex) = landmark_vertices
        .iter()
        .find(|&&v| v as usize >= n_vertices)
    {
        return Err(DenseMeshError::VertexOutOfRange { vertex, n_vertices });
    }
    let controls: Vec<usize> = landmark_vertices.iter().map(|&v| v as usize).collect();
    let targets: Vec<Vector3<f64>> = mean
        .chunks_exact(3)
        .map(|c| Vector3::new(c[0], c[1], c[2]))
        .collect();
    let sources: Vec<Vector3<f64>> = controls.iter().map(|&c| mesh.vertices[c]).collect();

    let similarity = fit_similarity(&sources, &targets).ok_or(DenseMeshError::NoSimilarity)?;
    let aligned: Vec<Vector3<f64>> = mesh.vertices.iter().map(|v| similarity.apply(v)).collect();
    let errors: Vec<f64> = controls
        .iter()
        .zip(&targets)
        .map(|(&c, t)| (aligned[c] - t).norm())
        .collect();
    let alignment_rms = (errors.iter().map(|e| e * e).sum::<f64>() / n_lm as f64).sqrt();
    let alignment_max = errors.iter().fold(0.0, |a: f64, &b| a.max(b));

    let warp = interpolation_matrix(&aligned, &controls)?;
    let dense_mean = carry_points(&warp.matrix, &targets);
    let spline = interpolation_matrix(&dense_mean, &controls)?;
    Ok(DenseTransfer {
        matrix: spline.matrix,
        aligned,
        similarity,
        alignment_rms,
        alignment_max,
        control_row_error: warp.control_row_error.max(spline.control_row_error),
    })
}

fn carry_points(m: &DMatrix<f64>, points: &[Vector3<f64>]) -> Vec<Vector3<f64>> {
    (0..m.nrows())
        .map(|v| points.iter().enumerate().map(|(k, p)| m[(v, k)] * p).sum())
        .collect()
}

/// `M` applied per coordinate to a landmark-space matrix (`3·landmarks × n`, interleaved rows),
/// giving `3·vertices × n`.
pub fn carry(m: &DMatrix<f64>, landmark_values: &DMatrix<f64>) -> DMatrix<f64> {
    let (n_v, n_lm) = m.shape();
    let n = landmark_values.ncols();
    let mut out = DMatrix::<f64>::zeros(3 * n_v, n);
    for c in 0..3 {
        let rows: Vec<usize> = (0..n_lm).map(|k| 3 * k + c).collect();
        let dense = m * landmark_values.select_rows(&rows);
        for v in 0..n_v {
            out.row_mut(3 * v + c).copy_from(&dense.row(v));
        }
    }
    out
}

/// Triangle flips counted over a set of shapes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlipCount {
    pub shapes: usize,
    /// Shapes with at least one triangle whose normal turned against the mean face's.
    pub with_flips: usize,
    /// The same, not counting the triangles that fill the mouth opening (they flip whenever the
    /// landmark model's lips cross, which the linear model does at the extremes).
    pub with_flips_outside_mouth: usize,
    /// Largest fraction of all triangles flipped in one shape.
    pub max_fraction: f64,
    pub max_fraction_outside_mouth: f64,
    /// Fraction of triangles flipped, averaged over the shapes.
    pub mean_fraction: f64,
    /// Shapes whose landmark model has an inner upper-lip point below the lower lip.
    pub lips_crossed: usize,
}

/// Checks of a built dense model.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseMeshReport {
    /// Largest distance, model units, between a landmark vertex of the dense model and the landmark
    /// model's point, over the shapes checked (exact: 0).
    pub landmark_max_difference: f64,
    /// Triangles of the dense mean whose normal points against the canonical mesh's.
    pub mean_flips_vs_canonical: usize,
    /// Triangles in the mouth opening of the mean face (centroid inside the inner-lip polygon).
    pub mouth_triangles: usize,
    /// Each coefficient alone at ±3 (unit-variance units), the others zero.
    pub per_dimension: FlipCount,
    /// The shapes of the given faces (their own coefficients).
    pub faces: FlipCount,
}

/// Checks a model's dense mesh against its landmark model and for triangle flips (a flip: the
/// normal of a deformed triangle has a negative dot product with the mean face's). `canonical` is
/// the canonical mesh placed on the mean (to check the mean itself); `faces` are real coefficient
/// vectors. `progress` is called after each shape with (done, total).
pub fn check_dense_model(
    model: &MorphableModel,
    canonical: &[Vector3<f64>],
    faces: &[Params],
    progress: &mut dyn FnMut(usize, usize),
) -> DenseMeshReport {
    let (n_id, n_exp) = (model.n_id(), model.n_exp());
    let dense = model.dense();
    let mut mean = vec![0.0; 3 * dense.n_points()];
    dense.shape_into(&[], &[], &mut mean);
    let mean_normals = normals(&mean, model.triangles());
    let canonical_flat: Vec<f64> = canonical.iter().flat_map(|v| [v.x, v.y, v.z]).collect();
    let mean_flips_vs_canonical = if canonical.len() == dense.n_points() {
        count_flips(
            &normals(&canonical_flat, model.triangles()),
            &mean_normals,
            None,
        )
    } else {
        0
    };
    let mouth = mouth_triangles(model, &mean);

    let total = 2 * (n_id + n_exp) + faces.len();
    let mut done = 0;
    let mut scratch = CheckScratch {
        dense: vec![0.0; 3 * dense.n_points()],
        landmarks: vec![0.0; 3 * model.n_landmarks()],
        landmark_max_difference: 0.0,
    };
    let mut per_dimension = FlipCount::default();
    let (mut id, mut exp) = (vec![0.0; n_id], vec![0.0; n_exp]);
    for j in 0..n_id + n_exp {
        for sign in [3.0, -3.0] {
            id.fill(0.0);
            exp.fill(0.0);
            if j < n_id {
                id[j] = sign;
            } else {
                exp[j - n_id] = sign;
            }
            scratch.add(model, &id, &exp, &mean_normals, &mouth, &mut per_dimension);
            done += 1;
            progress(done, total);
        }
    }
    let mut face_counts = FlipCount::default();
    for p in faces {
        scratch.add(
            model,
            p.id(),
            p.exp(),
            &mean_normals,
            &mouth,
            &mut face_counts,
        );
        done += 1;
        progress(done, total);
    }
    for c in [&mut per_dimension, &mut face_counts] {
        if c.shapes > 0 {
            c.mean_fraction /= c.shapes as f64;
        }
    }
    DenseMeshReport {
        landmark_max_difference: scratch.landmark_max_difference,
        mean_flips_vs_canonical,
        mouth_triangles: mouth.iter().filter(|&&m| m).count(),
        per_dimension,
        faces: face_counts,
    }
}

struct CheckScratch {
    dense: Vec<f64>,
    landmarks: Vec<f64>,
    landmark_max_difference: f64,
}

impl CheckScratch {
    fn add(
        &mut self,
        model: &MorphableModel,
        id: &[f64],
        exp: &[f64],
        mean_normals: &[Vector3<f64>],
        mouth: &[bool],
        count: &mut FlipCount,
    ) {
        model.dense().shape_into(id, exp, &mut self.dense);
        model.landmarks().shape_into(id, exp, &mut self.landmarks);
        for (k, &v) in model.landmark_vertices().iter().enumerate() {
            let v = v as usize;
            for c in 0..3 {
                let d = (self.dense[3 * v + c] - self.landmarks[3 * k + c]).abs();
                self.landmark_max_difference = self.landmark_max_difference.max(d);
            }
        }
        let n = normals(&self.dense, model.triangles());
        let n_tri = mean_normals.len().max(1) as f64;
        let all = count_flips(&n, mean_normals, None);
        let outside = count_flips(&n, mean_normals, Some(mouth));
        count.shapes += 1;
        count.with_flips += usize::from(all > 0);
        count.with_flips_outside_mouth += usize::from(outside > 0);
        count.max_fraction = count.max_fraction.max(all as f64 / n_tri);
        count.max_fraction_outside_mouth =
            count.max_fraction_outside_mouth.max(outside as f64 / n_tri);
        count.mean_fraction += all as f64 / n_tri;
        count.lips_crossed += usize::from(lips_crossed(&self.landmarks));
    }
}

fn normals(points: &[f64], triangles: &[[u32; 3]]) -> Vec<Vector3<f64>> {
    let p = |i: u32| {
        let i = 3 * i as usize;
        Vector3::new(points[i], points[i + 1], points[i + 2])
    };
    triangles
        .iter()
        .map(|t| (p(t[1]) - p(t[0])).cross(&(p(t[2]) - p(t[0]))))
        .collect()
}

fn count_flips(
    normals: &[Vector3<f64>],
    reference: &[Vector3<f64>],
    skip: Option<&[bool]>,
) -> usize {
    normals
        .iter()
        .zip(reference)
        .enumerate()
        .filter(|&(i, (n, r))| n.dot(r) <= 0.0 && !skip.is_some_and(|s| s[i]))
        .count()
}

/// iBUG-68 inner lip: 60 and 64 the corners, 61–63 upper, 65–67 lower (from the subject's right).
const INNER_LIP: std::ops::Range<usize> = 60..68;
const UPPER_INNER: [usize; 3] = [61, 62, 63];
const LOWER_INNER: [usize; 3] = [67, 66, 65];

/// Triangles whose centroid, seen from the front, lies inside the mean face's inner-lip polygon.
/// Only for 68-landmark models; otherwise none.
fn mouth_triangles(model: &MorphableModel, dense_mean: &[f64]) -> Vec<bool> {
    let n_tri = model.triangles().len();
    if model.n_landmarks() != 68 {
        return vec![false; n_tri];
    }
    let mut lm = vec![0.0; 3 * 68];
    model.landmarks().shape_into(&[], &[], &mut lm);
    let polygon: Vec<[f64; 2]> = INNER_LIP.map(|k| [lm[3 * k], lm[3 * k + 1]]).collect();
    model
        .triangles()
        .iter()
        .map(|t| {
            let c = t.iter().fold([0.0; 2], |a, &v| {
                let v = 3 * v as usize;
                [a[0] + dense_mean[v] / 3.0, a[1] + dense_mean[v + 1] / 3.0]
            });
            inside(&polygon, c)
        })
        .collect()
}

/// Even-odd rule.
fn inside(polygon: &[[f64; 2]], p: [f64; 2]) -> bool {
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let (a, b) = (polygon[i], polygon[j]);
        if (a[1] > p[1]) != (b[1] > p[1])
            && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0]
        {
            inside = !inside;
        }
        j = i;
    }
    inside
}

fn lips_crossed(landmarks: &[f64]) -> bool {
    landmarks.len() == 3 * 68
        && UPPER_INNER
            .iter()
            .zip(LOWER_INNER)
            .any(|(&u, l)| landmarks[3 * u + 1] < landmarks[3 * l + 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_in_polygon() {
        let square = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        assert!(inside(&square, [0.5, 0.5]));
        assert!(!inside(&square, [1.5, 0.5]));
    }

    #[test]
    fn carry_applies_the_matrix_per_coordinate() {
        // Two vertices, two landmarks: vertex 0 is landmark 1, vertex 1 the average.
        let m = DMatrix::from_row_slice(2, 2, &[0.0, 1.0, 0.5, 0.5]);
        let values = DMatrix::from_row_slice(6, 1, &[1.0, 2.0, 3.0, 5.0, 6.0, 7.0]);
        let out = carry(&m, &values);
        assert_eq!(out.as_slice(), &[5.0, 6.0, 7.0, 3.0, 4.0, 5.0]);
    }
}
