//! The overlay's geometry, made on the CPU from a fit: the dense mesh's vertices with per-vertex
//! normals, the 68 landmarks as dots and the head's axes as segments. Every buffer is sized once
//! for the model and refilled in place, so a frame allocates nothing.

use bytemuck::{Pod, Zeroable};
use glam::{DVec3, Vec3};

use facetrack::model::rotation::rotation;
use facetrack::model::{MorphableModel, Params};

/// One vertex of the mesh as the GPU reads it (`mesh.wgsl`'s `MeshIn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct MeshVertex {
    /// Image pixels `u, v` and the depth `z` toward the viewer, at image scale.
    pub position: [f32; 3],
    /// Unit normal in camera space: x right, y up, z toward the viewer.
    pub normal: [f32; 3],
}

/// One segment or dot (`marks.wgsl`'s `MarkIn`): image pixels, colour, half-width in window pixels.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct Mark {
    pub p0: [f32; 2],
    pub p1: [f32; 2],
    pub color: [f32; 4],
    pub radius: f32,
    pub outline: f32,
}

/// A cool blue that no skin has, so the fit stands out from the face under it.
pub const MESH_COLOR: [f32; 4] = [0.35, 0.65, 1.0, 1.0];
pub const MESH_ALPHA: f32 = 0.45;

/// Landmark dot colour and radius (window pixels).
const LANDMARK_COLOR: [f32; 4] = [0.35, 1.0, 0.45, 1.0];
const LANDMARK_RADIUS: f32 = 2.6;
/// The axes: x red, y green, z (the face's forward direction) blue.
const AXIS_COLORS: [[f32; 4]; 3] = [
    [1.0, 0.25, 0.2, 1.0],
    [0.3, 1.0, 0.3, 1.0],
    [0.3, 0.55, 1.0, 1.0],
];
const AXIS_RADIUS: f32 = 2.0;
/// Axis length as a fraction of the mean face's height.
const AXIS_LENGTH: f64 = 0.55;
/// The landmark the axes start from: the nose tip of the iBUG 68 points.
const NOSE_TIP: usize = 30;

/// The overlay of one fit, ready to upload.
pub struct Overlay {
    /// Line-list indices of the mesh's edges, each once.
    edges: Vec<u32>,
    /// The model's triangles.
    faces: Vec<[u32; 3]>,
    /// Triangle-list indices, nearest triangle first (see [`Self::update`]).
    triangles: Vec<u32>,
    /// Scratch for the sort: each triangle's depth and number.
    order: Vec<(f32, u32)>,
    /// Scratch: `vertices_3d` output and the accumulated normals.
    points: Vec<f64>,
    normals: Vec<DVec3>,
    vertices: Vec<MeshVertex>,
    marks: Vec<Mark>,
    /// Length of the axes in model units.
    axis_length: f64,
    /// Whether the last update had a mesh (a tracked face).
    has_mesh: bool,
}

impl Overlay {
    /// Buffers for `model`'s mesh and 68 landmarks.
    pub fn new(model: &MorphableModel) -> Self {
        let n = model.n_vertices();
        let triangles: Vec<u32> = model.triangles().iter().flatten().copied().collect();
        Self {
            edges: unique_edges(model.triangles()),
            faces: model.triangles().to_vec(),
            order: Vec::with_capacity(model.triangles().len()),
            triangles,
            points: vec![0.0; 3 * n],
            normals: vec![DVec3::ZERO; n],
            vertices: vec![MeshVertex::default(); n],
            marks: Vec::with_capacity(3 + model.n_landmarks()),
            axis_length: AXIS_LENGTH * mean_face_height(model),
            has_mesh: false,
        }
    }

    /// Triangle-list indices, nearest triangle first after an update.
    pub fn triangle_indices(&self) -> &[u32] {
        &self.triangles
    }

    pub fn edge_indices(&self) -> &[u32] {
        &self.edges
    }

    pub fn vertices(&self) -> &[MeshVertex] {
        &self.vertices
    }

    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    /// The most marks an update makes: the axes and the landmarks.
    pub fn max_marks(&self) -> usize {
        self.marks.capacity()
    }

    pub fn has_mesh(&self) -> bool {
        self.has_mesh
    }

    /// Clears the overlay: nothing is drawn over a frame without a face.
    pub fn clear(&mut self) {
        self.has_mesh = false;
        self.marks.clear();
    }

    /// Fills the overlay from a fit: the mesh at `params` and the dots at `landmarks`
    /// (interleaved `[u0, v0, …]`, image pixels).
    ///
    /// # Panics
    /// If `params` holds more coefficients than `model`.
    pub fn update(&mut self, model: &MorphableModel, params: &Params, landmarks: &[f64]) {
        model.vertices_3d(params, &mut self.points);
        mesh_normals(&self.points, model.triangles(), &mut self.normals);
        for ((v, p), n) in self
            .vertices
            .iter_mut()
            .zip(self.points.chunks_exact(3))
            .zip(&self.normals)
        {
            v.position = [p[0] as f32, p[1] as f32, p[2] as f32];
            v.normal = n.as_vec3().to_array();
        }
        self.has_mesh = true;
        self.sort_front_to_back();

        self.marks.clear();
        if let Some(origin) = landmarks.chunks_exact(2).nth(NOSE_TIP) {
            let r = rotation(params.pitch(), params.yaw(), params.roll());
            let len = params.s() * self.axis_length;
            for (k, color) in AXIS_COLORS.iter().enumerate() {
                // Column k of R is where the model's axis k points; image y runs down.
                let (dx, dy) = (r[(0, k)] * len, -r[(1, k)] * len);
                self.marks.push(Mark {
                    p0: [origin[0] as f32, origin[1] as f32],
                    p1: [(origin[0] + dx) as f32, (origin[1] + dy) as f32],
                    color: *color,
                    radius: AXIS_RADIUS,
                    outline: 0.0,
                });
            }
        }
        for p in landmarks.chunks_exact(2) {
            let p = [p[0] as f32, p[1] as f32];
            self.marks.push(Mark {
                p0: p,
                p1: p,
                color: LANDMARK_COLOR,
                radius: LANDMARK_RADIUS,
                outline: 1.0,
            });
        }
    }
}

impl Overlay {
    /// Orders the triangles nearest first. Drawn in this order with the depth test on, each
    /// pixel of the semi-transparent mesh is blended once, by its nearest triangle, in a single
    /// pass (a depth-only pass first would do the same at twice the cost on a software renderer).
    fn sort_front_to_back(&mut self) {
        let z = |i: u32| self.vertices[i as usize].position[2];
        self.order.clear();
        self.order.extend(
            self.faces
                .iter()
                .enumerate()
                .map(|(k, t)| (z(t[0]) + z(t[1]) + z(t[2]), k as u32)),
        );
        self.order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        for (dst, &(_, k)) in self.triangles.chunks_exact_mut(3).zip(&self.order) {
            dst.copy_from_slice(&self.faces[k as usize]);
        }
    }
}

/// Area-weighted vertex normals of the mesh at `points` (`[u, v, z]` a vertex, image y down),
/// in camera space (y up): there the model's counter-clockwise front faces face +z.
pub fn mesh_normals(points: &[f64], triangles: &[[u32; 3]], normals: &mut [DVec3]) {
    let at = |i: u32| {
        let i = 3 * i as usize;
        DVec3::new(points[i], -points[i + 1], points[i + 2])
    };
    normals.fill(DVec3::ZERO);
    for t in triangles {
        let (a, b, c) = (at(t[0]), at(t[1]), at(t[2]));
        let n = (b - a).cross(c - a);
        for &i in t {
            normals[i as usize] += n;
        }
    }
    for n in normals.iter_mut() {
        *n = n.try_normalize().unwrap_or(DVec3::Z);
    }
}

/// Each edge of the triangles once, as line-list indices.
fn unique_edges(triangles: &[[u32; 3]]) -> Vec<u32> {
    let mut pairs: Vec<(u32, u32)> = triangles
        .iter()
        .flat_map(|t| [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])])
        .map(|(a, b)| (a.min(b), a.max(b)))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs.into_iter().flat_map(|(a, b)| [a, b]).collect()
}

/// Height of the mean face's landmarks, in model units.
fn mean_face_height(model: &MorphableModel) -> f64 {
    let mut p = Params::for_model(model);
    p.set_s(1.0);
    let mut lm = vec![0.0; 2 * model.n_landmarks()];
    model.project_landmarks(&p, &mut lm);
    let ys = lm.chunks_exact(2).map(|c| c[1]);
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    if hi > lo { hi - lo } else { 1.0 }
}

/// Light from above left of the viewer, in camera space.
pub const LIGHT_DIR: Vec3 = Vec3::new(-0.35, 0.45, 1.0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_of_two_triangles_sharing_one() {
        let e = unique_edges(&[[0, 1, 2], [2, 1, 3]]);
        assert_eq!(e, vec![0, 1, 0, 2, 1, 2, 1, 3, 2, 3]);
    }

    #[test]
    fn a_front_facing_triangle_faces_the_viewer() {
        // Counter-clockwise in model space (y up) is clockwise in the image (y down).
        let points = [0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 10.0, 0.0, 0.0];
        let mut n = [DVec3::ZERO; 3];
        mesh_normals(&points, &[[0, 1, 2]], &mut n);
        for v in n {
            assert!((v - DVec3::Z).length() < 1e-12, "{v}");
        }
    }
}
