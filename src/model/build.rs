//! Building the project's morphable model from the shared data (DESIGN.md, "the morphable model"):
//! learn the landmark model from AFLW2000-3D ([`super::learn`]), carry it onto the canonical mesh
//! ([`super::dense_mesh`]), round to the file's `f32`, and check the result. Deterministic: the same
//! inputs give the same model, bit for bit.

use nalgebra::DMatrix;
use thiserror::Error;

use super::canonical_mesh::{MeshError, parse_landmark_vertices, parse_obj};
use super::dense_mesh::{
    DenseMeshError, DenseMeshReport, carry, check_dense_model, dense_transfer,
};
use super::learn::{LearnError, LearnReport, LearnSample, learn_landmark_model};
use super::morphable_model::{ModelError, ModelParts, MorphableModel, ShapeModel};
use super::params::{Params, ParamsError};

/// The data a model is built from.
#[derive(Debug, Clone, Copy)]
pub struct BuildInputs<'a> {
    /// One sample per AFLW2000-3D image.
    pub faces: &'a [LearnSample<'a>],
    /// The canonical mesh, Wavefront OBJ text.
    pub mesh_obj: &'a str,
    /// `{"canonical_vertex_of_ibug68": [...]}`.
    pub landmark_vertices_json: &'a str,
}

/// Where the build is, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStep {
    Learning,
    CarryingOntoMesh,
    Checking { done: usize, total: usize },
}

#[derive(Debug, Error)]
pub enum BuildError {
    #[error("learning the landmark model: {0}")]
    Learn(#[from] LearnError),
    #[error("reading the canonical mesh: {0}")]
    Mesh(#[from] MeshError),
    #[error("carrying the model onto the mesh: {0}")]
    Dense(#[from] DenseMeshError),
    #[error("assembling the model: {0}")]
    Model(#[from] ModelError),
    #[error("converting a face's coefficients: {0}")]
    Params(#[from] ParamsError),
}

/// What the build measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildReport {
    pub learn: LearnReport,
    /// Scale of the similarity from the mesh's centimetres to model units.
    pub mesh_scale: f64,
    /// Distance of the similarity-placed landmark vertices from the mean landmarks, model units.
    pub alignment_rms: f64,
    pub alignment_max: f64,
    pub spline_round_off: f64,
    pub dense: DenseMeshReport,
}

/// Builds and checks the model; see the module documentation.
pub fn build_model(
    inputs: &BuildInputs<'_>,
    progress: &mut dyn FnMut(BuildStep),
) -> Result<(MorphableModel, BuildReport), BuildError> {
    progress(BuildStep::Learning);
    let learned = learn_landmark_model(inputs.faces)?;
    let (n_lm, n_id, n_exp) = (
        learned.n_landmarks,
        learned.identity.ncols(),
        learned.expression.ncols(),
    );

    progress(BuildStep::CarryingOntoMesh);
    let mesh = parse_obj(inputs.mesh_obj)?;
    let landmark_vertices =
        parse_landmark_vertices(inputs.landmark_vertices_json, n_lm, mesh.vertices.len())?;
    let transfer = dense_transfer(&mesh, &landmark_vertices, &learned.mean)?;
    let mean = DMatrix::from_column_slice(3 * n_lm, 1, &learned.mean);
    let n_v = mesh.vertices.len();
    let dense = ShapeModel::new(
        n_v,
        n_id,
        n_exp,
        to_f32(carry(&transfer.matrix, &mean).as_slice()),
        row_major_f32(&carry(&transfer.matrix, &learned.identity)),
        row_major_f32(&carry(&transfer.matrix, &learned.expression)),
    )?;
    let landmarks = ShapeModel::new(
        n_lm,
        n_id,
        n_exp,
        to_f32(&learned.mean),
        row_major_f32(&learned.identity),
        row_major_f32(&learned.expression),
    )?;
    let model = MorphableModel::new(ModelParts {
        landmarks,
        dense,
        landmark_vertices,
        triangles: mesh.triangles,
        uv: mesh.uv,
        sigma_id: to_f32(&learned.sigma_id),
        sigma_exp: to_f32(&learned.sigma_exp),
    })?;

    let faces = inputs
        .faces
        .iter()
        .map(|f| Params::from_dataset(f.pose, f.shape_para, f.exp_para, f.height, &model))
        .collect::<Result<Vec<_>, _>>()?;
    let dense_report = check_dense_model(&model, &transfer.aligned, &faces, &mut |done, total| {
        progress(BuildStep::Checking { done, total })
    });
    let report = BuildReport {
        learn: learned.report,
        mesh_scale: transfer.similarity.scale,
        alignment_rms: transfer.alignment_rms,
        alignment_max: transfer.alignment_max,
        spline_round_off: transfer.control_row_error,
        dense: dense_report,
    };
    Ok((model, report))
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// A column-major matrix's values row by row, as `f32`.
fn row_major_f32(m: &DMatrix<f64>) -> Vec<f32> {
    to_f32(m.transpose().as_slice())
}
