//! Least-squares similarity transform (scale, rotation, translation) between corresponding point
//! sets: Umeyama, "Least-squares estimation of transformation parameters between two point
//! patterns", IEEE TPAMI 13(4), 1991, Eqs. 40–42. Used to place the canonical mesh on the learned
//! mean face before the thin-plate spline takes over.

use nalgebra::{Matrix3, Vector3};

/// `x ↦ scale · rotation · x + translation`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub scale: f64,
    pub rotation: Matrix3<f64>,
    pub translation: Vector3<f64>,
}

impl Similarity {
    pub fn apply(&self, x: &Vector3<f64>) -> Vector3<f64> {
        self.scale * (self.rotation * x) + self.translation
    }
}

/// The similarity minimising `Σ ‖dst_i − T(src_i)‖²`, with a proper rotation (det = +1). `None` when
/// the sets differ in length, have fewer than three points, or `src` is a single point repeated.
pub fn fit_similarity(src: &[Vector3<f64>], dst: &[Vector3<f64>]) -> Option<Similarity> {
    if src.len() != dst.len() || src.len() < 3 {
        return None;
    }
    let n = src.len() as f64;
    let mu_s = src.iter().sum::<Vector3<f64>>() / n;
    let mu_d = dst.iter().sum::<Vector3<f64>>() / n;
    let var_s = src.iter().map(|s| (s - mu_s).norm_squared()).sum::<f64>() / n;
    if var_s.is_nan() || var_s <= 0.0 {
        return None;
    }
    let cov = src
        .iter()
        .zip(dst)
        .map(|(s, d)| (d - mu_d) * (s - mu_s).transpose())
        .sum::<Matrix3<f64>>()
        / n;
    let svd = cov.svd(true, true);
    let (u, v_t) = (svd.u?, svd.v_t?);
    // Singular values come sorted in decreasing order, so a reflection is undone on the smallest.
    let mut sign = Vector3::new(1.0, 1.0, 1.0);
    if u.determinant() * v_t.determinant() < 0.0 {
        sign.z = -1.0;
    }
    let rotation = u * Matrix3::from_diagonal(&sign) * v_t;
    let scale = svd.singular_values.dot(&sign) / var_s;
    let translation = mu_d - scale * (rotation * mu_s);
    Some(Similarity {
        scale,
        rotation,
        translation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rotation::rotation;

    #[test]
    fn recovers_a_known_similarity() {
        let src: Vec<Vector3<f64>> = (0..10)
            .map(|i| {
                let f = i as f64;
                Vector3::new(f.sin() * 3.0, (f * 0.7).cos(), f * 0.3 - 1.0)
            })
            .collect();
        let truth = Similarity {
            scale: 2.5,
            rotation: rotation(0.3, -1.2, 2.0),
            translation: Vector3::new(1.0, -2.0, 3.0),
        };
        let dst: Vec<_> = src.iter().map(|s| truth.apply(s)).collect();
        let fit = fit_similarity(&src, &dst).unwrap();
        assert!((fit.scale - truth.scale).abs() < 1e-12);
        assert!((fit.rotation - truth.rotation).abs().max() < 1e-12);
        assert!((fit.translation - truth.translation).abs().max() < 1e-12);
    }

    #[test]
    fn degenerate_input_gives_none() {
        let p = vec![Vector3::new(1.0, 2.0, 3.0); 4];
        assert!(fit_similarity(&p, &p).is_none());
        assert!(fit_similarity(&p[..2], &p[..2]).is_none());
    }
}
