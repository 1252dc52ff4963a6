//! The head rotation of the PARM parameter vector (PARM paper §3.1): `R = Rx(pitch)·Ry(yaw)·Rz(roll)`
//! with the elementary matrices of AFLW2000-3D / 3DDFA (shared `data/README.md`), and its partial
//! derivatives for the analytic Jacobian.
//!
//! The elementary matrices are the transposes of the textbook ones (`Rx = [[1,0,0],[0,c,s],[0,−s,c]]`);
//! they are kept as the dataset defines them so that angles read from the dataset mean the same here.

use nalgebra::Matrix3;

/// `Rx(pitch)·Ry(yaw)·Rz(roll)`.
pub fn rotation(pitch: f64, yaw: f64, roll: f64) -> Matrix3<f64> {
    rx(pitch) * ry(yaw) * rz(roll)
}

/// The rotation and its derivatives with respect to each angle, all on the stack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotationDerivatives {
    pub r: Matrix3<f64>,
    pub d_pitch: Matrix3<f64>,
    pub d_yaw: Matrix3<f64>,
    pub d_roll: Matrix3<f64>,
}

impl RotationDerivatives {
    pub fn new(pitch: f64, yaw: f64, roll: f64) -> Self {
        let (x, y, z) = (rx(pitch), ry(yaw), rz(roll));
        let (dx, dy, dz) = (drx(pitch), dry(yaw), drz(roll));
        Self {
            r: x * y * z,
            d_pitch: dx * y * z,
            d_yaw: x * dy * z,
            d_roll: x * y * dz,
        }
    }
}

fn rx(a: f64) -> Matrix3<f64> {
    let (s, c) = a.sin_cos();
    Matrix3::new(1.0, 0.0, 0.0, 0.0, c, s, 0.0, -s, c)
}

fn ry(a: f64) -> Matrix3<f64> {
    let (s, c) = a.sin_cos();
    Matrix3::new(c, 0.0, -s, 0.0, 1.0, 0.0, s, 0.0, c)
}

fn rz(a: f64) -> Matrix3<f64> {
    let (s, c) = a.sin_cos();
    Matrix3::new(c, s, 0.0, -s, c, 0.0, 0.0, 0.0, 1.0)
}

fn drx(a: f64) -> Matrix3<f64> {
    let (s, c) = a.sin_cos();
    Matrix3::new(0.0, 0.0, 0.0, 0.0, -s, c, 0.0, -c, -s)
}

fn dry(a: f64) -> Matrix3<f64> {
    let (s, c) = a.sin_cos();
    Matrix3::new(-s, 0.0, -c, 0.0, 0.0, 0.0, c, 0.0, -s)
}

fn drz(a: f64) -> Matrix3<f64> {
    let (s, c) = a.sin_cos();
    Matrix3::new(-s, c, 0.0, -c, -s, 0.0, 0.0, 0.0, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_proper_rotation() {
        let r = rotation(0.3, -0.7, 1.1);
        assert!((r * r.transpose() - Matrix3::identity()).abs().max() < 1e-12);
        assert!((r.determinant() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn derivatives_match_central_differences() {
        let (p, y, r) = (0.3, -0.7, 1.1);
        let d = RotationDerivatives::new(p, y, r);
        let h = 1e-6;
        let fd = |f: &dyn Fn(f64) -> Matrix3<f64>| (f(h) - f(-h)) / (2.0 * h);
        assert!((fd(&|e| rotation(p + e, y, r)) - d.d_pitch).abs().max() < 1e-8);
        assert!((fd(&|e| rotation(p, y + e, r)) - d.d_yaw).abs().max() < 1e-8);
        assert!((fd(&|e| rotation(p, y, r + e)) - d.d_roll).abs().max() < 1e-8);
        assert_eq!(d.r, rotation(p, y, r));
    }

    #[test]
    fn follows_the_dataset_matrices() {
        // Yaw alone: Ry = [[c,0,−s],[0,1,0],[s,0,c]] (data/README.md), so +x turns towards +z.
        let r = rotation(0.0, 0.5, 0.0);
        let (s, c) = 0.5f64.sin_cos();
        assert!((r[(0, 2)] + s).abs() < 1e-15 && (r[(2, 0)] - s).abs() < 1e-15);
        assert!((r[(0, 0)] - c).abs() < 1e-15);
    }
}
