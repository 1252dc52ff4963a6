//! Which landmarks the camera sees (PARM paper §4.2: "invisible landmarks detected from the
//! average surface normal around each landmark of the deformed shape"). A landmark is visible when
//! the mean normal of the dense-mesh triangles around its vertex, rotated by the head pose, faces
//! the camera (+z, the dataset's depth axis, points towards it).

use nalgebra::Vector3;

use crate::model::MorphableModel;
use crate::model::rotation::rotation;

#[derive(Debug, Clone)]
pub struct LandmarkVisibility {
    /// Triangles around each landmark's vertex, flattened; `ring_start[i]..ring_start[i + 1]`.
    rings: Vec<[u32; 3]>,
    ring_start: Vec<usize>,
    /// Normals of the shape last given to [`Self::set_shape`], in model space.
    normals: Vec<Vector3<f64>>,
    /// +1 or −1: makes the normals point out of the face whatever the mesh's winding.
    outward: f64,
}

impl LandmarkVisibility {
    pub fn new(model: &MorphableModel) -> Self {
        let mut rings = Vec::new();
        let mut ring_start = vec![0];
        for &v in model.landmark_vertices() {
            rings.extend(model.triangles().iter().filter(|t| t.contains(&v)));
            ring_start.push(rings.len());
        }
        let mut vis = Self {
            rings,
            ring_start,
            normals: vec![Vector3::zeros(); model.n_landmarks()],
            outward: 1.0,
        };
        vis.set_shape(model, &[], &[]);
        // The mean face seen from the front: most of its landmark normals face the camera.
        let facing: f64 = vis.normals.iter().map(|n| n.z.signum()).sum();
        vis.outward = if facing < 0.0 { -1.0 } else { 1.0 };
        vis.set_shape(model, &[], &[]);
        vis
    }

    /// Recomputes the normals for the shape with these coefficients (as many as given; the rest 0).
    pub fn set_shape(&mut self, model: &MorphableModel, id: &[f64], exp: &[f64]) {
        let dense = model.dense();
        for (i, n) in self.normals.iter_mut().enumerate() {
            let mut sum = Vector3::zeros();
            for t in &self.rings[self.ring_start[i]..self.ring_start[i + 1]] {
                let a = dense.point(t[0] as usize, id, exp);
                let b = dense.point(t[1] as usize, id, exp);
                let c = dense.point(t[2] as usize, id, exp);
                sum += (b - a).cross(&(c - a));
            }
            *n = sum * self.outward;
        }
    }

    /// Visibility of each landmark under the rotation `(pitch, yaw, roll)`.
    pub fn visible(&self, pitch: f64, yaw: f64, roll: f64, out: &mut [bool]) {
        let r = rotation(pitch, yaw, roll);
        let row_z = r.row(2);
        for (o, n) in out.iter_mut().zip(&self.normals) {
            *o = (row_z * n)[0] > 0.0;
        }
    }
}
