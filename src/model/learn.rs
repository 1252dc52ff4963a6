//! Learning the 68-landmark morphable model of the PARM paper (§3.1, `S = S0 + A_id·α_id +
//! A_exp·α_exp`) from AFLW2000-3D ground truth.
//!
//! The dataset's landmarks are `P = scale·R·S + t` (shared `data/README.md`), so each image gives a
//! pose-normalised shape `S = Rᵀ(P − t)/scale` that is linear in its coefficients. Stacking the
//! images gives the least-squares problem `Y = X·C`, with `X = [1, shape_para/σ_id, exp_para/σ_exp]`
//! (one row an image) and `C = [S0; (A_id·σ_id)ᵀ; (A_exp·σ_exp)ᵀ]`, solved by Householder QR —
//! the raw coefficients span five orders of magnitude, scaling by `σ` brings the design matrix's
//! condition number to about 90, and QR avoids squaring it as the normal equations would.
//!
//! `σ` is the root mean square of each coefficient over the images, about zero rather than about
//! the sample mean: the prior `‖α‖²` is centred at zero (the intercept is the model's mean face),
//! and the dataset's coefficient means sit up to 0.65 σ away from zero.

use nalgebra::{DMatrix, DVector};
use thiserror::Error;

use super::DatasetPose;
use super::rotation::rotation;

/// What one image contributes.
#[derive(Debug, Clone, Copy)]
pub struct LearnSample<'a> {
    pub pose: &'a DatasetPose,
    pub height: u32,
    /// The dataset's `pt3d_68`: 0-based pixels, y down, and depth.
    pub pt3d: &'a [[f64; 3]],
    pub shape_para: &'a [f64],
    pub exp_para: &'a [f64],
}

#[derive(Debug, Error, PartialEq)]
pub enum LearnError {
    #[error("no images to learn from")]
    NoImages,
    #[error("image {index} has {found} {what}, the first image has {expected}")]
    Inconsistent {
        index: usize,
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error(
        "image {index} has scale {scale}; a pose-normalised shape needs a finite, non-zero scale"
    )]
    BadScale { index: usize, scale: f64 },
    #[error("{n_images} images cannot determine {n_unknowns} unknowns per coordinate")]
    TooFewImages { n_images: usize, n_unknowns: usize },
    #[error("{what} coefficient {index} is zero on every image, so its basis cannot be learned")]
    DeadCoefficient { what: &'static str, index: usize },
    #[error("the design matrix is rank-deficient (condition number {condition:.3e})")]
    RankDeficient { condition: f64 },
}

/// Root-mean-square and largest absolute residual, in model units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Residual {
    pub rms: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LearnReport {
    pub n_images: usize,
    /// Of the fit on all images.
    pub residual: Residual,
    /// Of a fit on four images in five (index mod 5 ≠ 0), measured on the fifth it did not see.
    pub holdout: Option<Residual>,
    /// Root mean square over the coordinates of each coordinate's standard deviation over images:
    /// how much the shapes vary, the scale against which the residual is small.
    pub spread: f64,
    /// Width (x extent) of the mean face, model units.
    pub face_width: f64,
    /// Condition number of the (σ-scaled) design matrix.
    pub condition: f64,
    /// Largest |mean / σ| of a coefficient over the images (why σ is taken about zero).
    pub max_mean_over_sigma: f64,
}

/// The learned landmark model, in `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedLandmarkModel {
    pub n_landmarks: usize,
    /// `S0`, interleaved `[x0, y0, z0, …]`.
    pub mean: Vec<f64>,
    /// `A_id·diag(σ_id)`, `3·n_landmarks × n_id`.
    pub identity: DMatrix<f64>,
    /// `A_exp·diag(σ_exp)`, `3·n_landmarks × n_exp`.
    pub expression: DMatrix<f64>,
    /// Already rounded to `f32`, as the model file stores them, so the bases match them exactly.
    pub sigma_id: Vec<f64>,
    pub sigma_exp: Vec<f64>,
    pub report: LearnReport,
}

/// `S = Rᵀ(P − t)/scale` with `P` in the dataset's y-up frame (`P_y = height + 1 − y`), written
/// interleaved into `out` (`3 · number of points`).
///
/// # Panics
/// If `out` has the wrong length.
pub fn pose_normalised_shape(sample: &LearnSample<'_>, out: &mut [f64]) -> Result<(), LearnError> {
    assert_eq!(out.len(), 3 * sample.pt3d.len(), "shape buffer length");
    let pose = sample.pose;
    if !(pose.scale.is_finite() && pose.scale != 0.0) {
        return Err(LearnError::BadScale {
            index: 0,
            scale: pose.scale,
        });
    }
    let rt = rotation(pose.pitch, pose.yaw, pose.roll).transpose();
    let top = f64::from(sample.height) + 1.0;
    for (p, s) in sample.pt3d.iter().zip(out.chunks_exact_mut(3)) {
        let d = nalgebra::Vector3::new(p[0] - pose.tx, top - p[1] - pose.ty, p[2] - pose.tz);
        let q = rt * d / pose.scale;
        s.copy_from_slice(q.as_slice());
    }
    Ok(())
}

/// Learns mean and bases from the images by least squares; see the module documentation.
pub fn learn_landmark_model(
    samples: &[LearnSample<'_>],
) -> Result<LearnedLandmarkModel, LearnError> {
    let first = samples.first().ok_or(LearnError::NoImages)?;
    let (n_lm, n_id, n_exp) = (
        first.pt3d.len(),
        first.shape_para.len(),
        first.exp_para.len(),
    );
    for (index, s) in samples.iter().enumerate() {
        for (what, expected, found) in [
            ("landmarks", n_lm, s.pt3d.len()),
            ("identity coefficients", n_id, s.shape_para.len()),
            ("expression coefficients", n_exp, s.exp_para.len()),
        ] {
            if found != expected {
                return Err(LearnError::Inconsistent {
                    index,
                    what,
                    expected,
                    found,
                });
            }
        }
    }
    let (n, k, m) = (samples.len(), 1 + n_id + n_exp, 3 * n_lm);
    if n <= k {
        return Err(LearnError::TooFewImages {
            n_images: n,
            n_unknowns: k,
        });
    }

    let sigma_id = rms_scales(samples.iter().map(|s| s.shape_para), n_id, "identity")?;
    let sigma_exp = rms_scales(samples.iter().map(|s| s.exp_para), n_exp, "expression")?;
    let max_mean_over_sigma = max_mean_over_sigma(samples, &sigma_id, &sigma_exp);

    let mut x = DMatrix::<f64>::zeros(n, k);
    let mut y = DMatrix::<f64>::zeros(n, m);
    let mut shape = vec![0.0; m];
    for (i, s) in samples.iter().enumerate() {
        pose_normalised_shape(s, &mut shape).map_err(|e| match e {
            LearnError::BadScale { scale, .. } => LearnError::BadScale { index: i, scale },
            other => other,
        })?;
        y.row_mut(i).copy_from_slice(&shape);
        x[(i, 0)] = 1.0;
        for (j, (&c, &sd)) in s.shape_para.iter().zip(&sigma_id).enumerate() {
            x[(i, 1 + j)] = c / sd;
        }
        for (j, (&c, &sd)) in s.exp_para.iter().zip(&sigma_exp).enumerate() {
            x[(i, 1 + n_id + j)] = c / sd;
        }
    }

    let (coef, condition) = least_squares(&x, &y)?;
    let residual = residual(&x, &y, &coef);
    let holdout = holdout_residual(&x, &y);

    let mean: Vec<f64> = coef.row(0).iter().copied().collect();
    let identity = coef.rows(1, n_id).transpose();
    let expression = coef.rows(1 + n_id, n_exp).transpose();
    let xs = mean.iter().step_by(3);
    let face_width = xs.clone().fold(f64::NEG_INFINITY, |a, &b| a.max(b))
        - xs.fold(f64::INFINITY, |a, &b| a.min(b));
    let spread = (y
        .column_iter()
        .map(|c| column_variance(&c.into_owned()))
        .sum::<f64>()
        / m as f64)
        .sqrt();

    Ok(LearnedLandmarkModel {
        n_landmarks: n_lm,
        mean,
        identity,
        expression,
        sigma_id,
        sigma_exp,
        report: LearnReport {
            n_images: n,
            residual,
            holdout,
            spread,
            face_width,
            condition,
            max_mean_over_sigma,
        },
    })
}

/// Root mean square of each coefficient, rounded to `f32` (the file's precision) so that the
/// learned bases correspond to the stored σ exactly.
fn rms_scales<'a>(
    rows: impl Iterator<Item = &'a [f64]>,
    dims: usize,
    what: &'static str,
) -> Result<Vec<f64>, LearnError> {
    let mut sum = vec![0.0; dims];
    let mut n = 0usize;
    for row in rows {
        for (acc, &c) in sum.iter_mut().zip(row) {
            *acc += c * c;
        }
        n += 1;
    }
    sum.iter()
        .enumerate()
        .map(|(index, &ss)| {
            let sigma = f64::from((ss / n as f64).sqrt() as f32);
            if sigma > 0.0 && sigma.is_finite() {
                Ok(sigma)
            } else {
                Err(LearnError::DeadCoefficient { what, index })
            }
        })
        .collect()
}

fn max_mean_over_sigma(samples: &[LearnSample<'_>], sigma_id: &[f64], sigma_exp: &[f64]) -> f64 {
    let n = samples.len() as f64;
    let mean_of = |get: &dyn Fn(&LearnSample<'_>) -> f64| samples.iter().map(get).sum::<f64>() / n;
    let id = (0..sigma_id.len()).map(|j| (mean_of(&|s| s.shape_para[j]) / sigma_id[j]).abs());
    let exp = (0..sigma_exp.len()).map(|j| (mean_of(&|s| s.exp_para[j]) / sigma_exp[j]).abs());
    id.chain(exp).fold(0.0, f64::max)
}

/// `argmin ‖X·C − Y‖` by Householder QR: `R·C = (Qᵀ Y)[..k]`. Also returns cond(X) = cond(R).
fn least_squares(x: &DMatrix<f64>, y: &DMatrix<f64>) -> Result<(DMatrix<f64>, f64), LearnError> {
    let k = x.ncols();
    let qr = x.clone().qr();
    let r = qr.r();
    let sv = r.singular_values();
    let (smax, smin) = (sv.max(), sv.min());
    let condition = smax / smin;
    if smin.is_nan() || smin <= smax * 1e-12 {
        return Err(LearnError::RankDeficient { condition });
    }
    let mut qty = y.clone();
    qr.q_tr_mul(&mut qty);
    let top = qty.rows(0, k).into_owned();
    let coef = r
        .solve_upper_triangular(&top)
        .ok_or(LearnError::RankDeficient { condition })?;
    Ok((coef, condition))
}

fn residual(x: &DMatrix<f64>, y: &DMatrix<f64>, coef: &DMatrix<f64>) -> Residual {
    let r = y - x * coef;
    Residual {
        rms: (r.norm_squared() / r.len() as f64).sqrt(),
        max: r.amax(),
    }
}

fn holdout_residual(x: &DMatrix<f64>, y: &DMatrix<f64>) -> Option<Residual> {
    let (train, test): (Vec<usize>, Vec<usize>) = (0..x.nrows()).partition(|i| i % 5 != 0);
    if train.len() <= x.ncols() || test.is_empty() {
        return None;
    }
    let (coef, _) = least_squares(&x.select_rows(&train), &y.select_rows(&train)).ok()?;
    Some(residual(
        &x.select_rows(&test),
        &y.select_rows(&test),
        &coef,
    ))
}

fn column_variance(c: &DVector<f64>) -> f64 {
    let mean = c.mean();
    c.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / c.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_shape_inverts_the_dataset_relation() {
        let pose = DatasetPose {
            pitch: 0.2,
            yaw: -0.4,
            roll: 0.1,
            tx: 200.0,
            ty: 180.0,
            tz: -50.0,
            scale: 0.002,
        };
        let s = nalgebra::Vector3::new(10_000.0, -20_000.0, 5_000.0);
        let p = rotation(pose.pitch, pose.yaw, pose.roll) * s * pose.scale
            + nalgebra::Vector3::new(pose.tx, pose.ty, pose.tz);
        let pt = [[p.x, 451.0 - p.y, p.z]];
        let sample = LearnSample {
            pose: &pose,
            height: 450,
            pt3d: &pt,
            shape_para: &[],
            exp_para: &[],
        };
        let mut out = [0.0; 3];
        pose_normalised_shape(&sample, &mut out).unwrap();
        assert!(
            (nalgebra::Vector3::from(out) - s).abs().max() < 1e-6,
            "{out:?}"
        );
    }

    #[test]
    fn recovers_an_exact_linear_model() {
        // 3 landmarks, 2 identity and 1 expression dimensions, 12 images with a known model.
        let truth_mean = [1.0, 2.0, 3.0, -1.0, 0.5, 2.0, 0.0, -2.0, 1.0];
        let b_id = [
            [0.5, 0.1],
            [0.0, 1.0],
            [0.2, 0.0],
            [1.0, 0.3],
            [0.0, 0.0],
            [0.4, -0.2],
            [0.1, 0.1],
            [0.7, 0.0],
            [0.0, 0.9],
        ];
        let b_exp = [0.3, 0.0, -0.1, 0.2, 0.5, 0.0, 0.0, 0.1, 0.4];
        let pose = DatasetPose {
            pitch: 0.0,
            yaw: 0.0,
            roll: 0.0,
            tx: 0.0,
            ty: 0.0,
            tz: 0.0,
            scale: 1.0,
        };
        let mut data = Vec::new();
        for i in 0..12 {
            let f = i as f64;
            let id = vec![(f * 0.7).sin() * 3.0, (f * 1.3).cos() * 2.0];
            let exp = vec![(f * 0.4).sin()];
            let pts: Vec<[f64; 3]> = (0..3)
                .map(|l| {
                    let c = |k: usize| {
                        truth_mean[k] + b_id[k][0] * id[0] + b_id[k][1] * id[1] + b_exp[k] * exp[0]
                    };
                    // y stored image-style: height + 1 − y with height 0.
                    [c(3 * l), 1.0 - c(3 * l + 1), c(3 * l + 2)]
                })
                .collect();
            data.push((pts, id, exp));
        }
        let samples: Vec<LearnSample<'_>> = data
            .iter()
            .map(|(pts, id, exp)| LearnSample {
                pose: &pose,
                height: 0,
                pt3d: pts,
                shape_para: id,
                exp_para: exp,
            })
            .collect();
        let m = learn_landmark_model(&samples).unwrap();
        assert!(m.report.residual.max < 1e-9, "{:?}", m.report);
        for k in 0..9 {
            assert!((m.mean[k] - truth_mean[k]).abs() < 1e-9);
            for (j, b) in b_id[k].iter().enumerate() {
                assert!((m.identity[(k, j)] / m.sigma_id[j] - b).abs() < 1e-9);
            }
            assert!((m.expression[(k, 0)] / m.sigma_exp[0] - b_exp[k]).abs() < 1e-9);
        }
    }

    #[test]
    fn too_few_images_is_an_error() {
        let pose = DatasetPose {
            pitch: 0.0,
            yaw: 0.0,
            roll: 0.0,
            tx: 0.0,
            ty: 0.0,
            tz: 0.0,
            scale: 1.0,
        };
        let pts = [[0.0; 3]];
        let s = LearnSample {
            pose: &pose,
            height: 0,
            pt3d: &pts,
            shape_para: &[1.0],
            exp_para: &[1.0],
        };
        assert!(matches!(
            learn_landmark_model(&[s, s]),
            Err(LearnError::TooFewImages { .. })
        ));
    }
}
