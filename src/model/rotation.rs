//! The head rotation of the PARM parameter vector (PARM paper §3.1): `R = Rx(pitch)·Ry(yaw)·Rz(roll)`
//! with the elementary matrices of AFLW2000-3D / 3DDFA (shared `data/README.md`), its partial
//! derivatives for the analytic Jacobian, and the angles of a given matrix.
//!
//! The elementary matrices are the transposes of the textbook ones (`Rx = [[1,0,0],[0,c,s],[0,−s,c]]`);
//! they are kept as the dataset defines them so that angles read from the dataset mean the same here.

use nalgebra::Matrix3;

/// `Rx(pitch)·Ry(yaw)·Rz(roll)`.
pub fn rotation(pitch: f64, yaw: f64, roll: f64) -> Matrix3<f64> {
    rx(pitch) * ry(yaw) * rz(roll)
}

/// The angles `(pitch, yaw, roll)` with `rotation(pitch, yaw, roll) = r`, for a proper rotation `r`:
/// yaw in [−π/2, π/2] (the branch a face's pose lives on), pitch and roll in (−π, π].
///
/// Pitch comes from the last column, `(r[1][2], r[2][2]) = cos yaw·(sin pitch, cos pitch)`; yaw and
/// roll from `Rx(pitch)ᵀ·r = Ry(yaw)·Rz(roll)`, whose middle row is `(−sin roll, cos roll, 0)`.
/// Taking them after pitch, not from `r` directly, keeps the rebuilt matrix exact near gimbal
/// lock (yaw → ±π/2), where pitch alone is ill-conditioned (its error grows as 1/cos yaw) and only
/// `roll ∓ pitch` is well defined; at the lock itself pitch is set to 0.
pub fn euler_angles(r: &Matrix3<f64>) -> (f64, f64, f64) {
    // Below this, the last column's (r[1][2], r[2][2]) is rounding noise.
    let pitch = if r[(1, 2)].hypot(r[(2, 2)]) < 1e-12 {
        0.0
    } else {
        r[(1, 2)].atan2(r[(2, 2)])
    };
    let m = rx(pitch).transpose() * r;
    let roll = (-m[(1, 0)]).atan2(m[(1, 1)]);
    let yaw = (-m[(0, 2)]).atan2(m[(2, 2)]);
    (pitch, yaw, roll)
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

    /// A small deterministic generator, so the test needs no seed handling.
    fn uniform(state: &mut u64, lo: f64, hi: f64) -> f64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (hi - lo) * ((*state >> 11) as f64 / (1u64 << 53) as f64)
    }

    #[test]
    fn euler_angles_round_trip() {
        use std::f64::consts::{FRAC_PI_2, PI};
        let mut state = 7;
        for i in 0..10_000 {
            let pitch = uniform(&mut state, -PI, PI);
            let roll = uniform(&mut state, -PI, PI);
            // Every fourth case within 1e-3 … 1e-9 of gimbal lock, on either side.
            let yaw = if i % 4 == 0 {
                let gap = 10f64.powf(uniform(&mut state, -9.0, -3.0));
                (FRAC_PI_2 - gap).copysign(uniform(&mut state, -1.0, 1.0))
            } else {
                uniform(&mut state, -FRAC_PI_2, FRAC_PI_2)
            };
            let r = rotation(pitch, yaw, roll);
            let (p, y, q) = euler_angles(&r);
            assert!(
                (rotation(p, y, q) - r).abs().max() < 1e-12,
                "{pitch} {yaw} {roll} → {p} {y} {q}"
            );
            assert!((y - yaw).abs() < 1e-7, "yaw {yaw} → {y}");
            let cos_yaw = yaw.cos();
            if cos_yaw > 1e-3 {
                let wrap = |a: f64| (a + PI).rem_euclid(2.0 * PI) - PI;
                let tol = 1e-13 / cos_yaw;
                assert!(wrap(p - pitch).abs() < tol, "pitch {pitch} → {p}");
                assert!(wrap(q - roll).abs() < tol, "roll {roll} → {q}");
            }
        }
    }

    #[test]
    fn euler_angles_at_gimbal_lock() {
        use std::f64::consts::FRAC_PI_2;
        for (pitch, yaw, roll) in [(0.4, FRAC_PI_2, -1.0), (-2.0, -FRAC_PI_2, 0.3)] {
            let r = rotation(pitch, yaw, roll);
            let (p, y, q) = euler_angles(&r);
            assert!((rotation(p, y, q) - r).abs().max() < 1e-12);
            assert_eq!(p, 0.0);
        }
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
