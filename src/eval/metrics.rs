//! The PARM paper's evaluation (§4): NMEA — per face, the mean 2D error over all 68 landmarks
//! (visible or not) against `x(p*)`, divided by √(w·h) of the ground-truth landmarks' box,
//! averaged over faces — overall, by |yaw|, after each stage (Fig. 2), as a cumulative error
//! distribution (Fig. 3), and the mean error norm per parameter group (Table 1).

use serde::Serialize;

use crate::fit::box_frame::BoxFrame;
use crate::fit::training_set::FaceSample;
use crate::model::Params;

/// The |yaw| buckets of the report, in degrees: [0, 30), [30, 60), [60, 90].
pub const YAW_BUCKETS: [(f64, f64); 3] = [(0.0, 30.0), (30.0, 60.0), (60.0, 90.0)];

/// One face's result.
#[derive(Debug, Clone)]
pub struct FaceResult {
    /// NME after each stage.
    pub stage_nme: Vec<f64>,
    /// NME of the starting point.
    pub start_nme: f64,
    /// |yaw| of the ground truth, degrees.
    pub yaw_deg: f64,
    /// Error norms of the pose, identity and expression groups (model-based methods only).
    pub param_errors: Option<[f64; 3]>,
    pub time_ms: f64,
}

impl FaceResult {
    pub fn final_nme(&self) -> f64 {
        self.stage_nme.last().copied().unwrap_or(f64::NAN)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub yaw_deg: (f64, f64),
    pub faces: usize,
    pub nme: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub method: String,
    pub faces: usize,
    /// NMEA after the last stage, as a fraction (×100 for %).
    pub nme: f64,
    pub by_yaw: Vec<Bucket>,
    pub nme_per_stage: Vec<f64>,
    pub start_nme: f64,
    /// Mean error norms: pose (box-normalised scale and translation, angles in radians), identity
    /// and expression (unit-variance coefficients, all the model's dimensions).
    pub param_error: Option<ParamError>,
    pub ms_per_face_median: f64,
    pub ms_per_face_mean: f64,
    /// Faces whose fit failed (counted with NME 1 in the figures).
    pub failures: usize,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ParamError {
    pub pose: f64,
    pub identity: f64,
    pub expression: f64,
}

/// Error norms of the three parameter groups of a fit against the truth; the fit may hold fewer
/// coefficients (the rest count as zero).
pub fn param_errors(fit: &Params, truth: &Params, frame: &BoxFrame) -> [f64; 3] {
    let mut a = vec![0.0; Params::N_POSE];
    let mut b = vec![0.0; Params::N_POSE];
    frame.normalise(fit.pose(), &mut a);
    frame.normalise(truth.pose(), &mut b);
    let pose = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let group = |f: &[f64], t: &[f64]| {
        t.iter()
            .enumerate()
            .map(|(i, tv)| (f.get(i).copied().unwrap_or(0.0) - tv).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    [
        pose,
        group(fit.id(), truth.id()),
        group(fit.exp(), truth.exp()),
    ]
}

/// |yaw| of a face's ground truth in degrees.
pub fn yaw_deg(face: &FaceSample) -> f64 {
    face.truth.yaw().abs().to_degrees()
}

/// The 3D landmark error of one face (joint paper's ablation, on AFLW2000-3D): the mean distance
/// between fitted and true `(x, y, z)` landmarks at image scale, each set's z less its own mean z
/// (a weak-perspective camera cannot observe depth offsets), divided by `norm` (√(w·h) of the
/// ground-truth 2D box). `fit` and `truth` are `[u0, v0, z0, …]`.
pub fn landmark_3d_error(fit: &[f64], truth: &[f64], norm: f64) -> f64 {
    let n = fit.len().min(truth.len()) / 3;
    if n == 0 {
        return f64::NAN;
    }
    let mean_z = |v: &[f64]| v.chunks_exact(3).take(n).map(|c| c[2]).sum::<f64>() / n as f64;
    let (zf, zt) = (mean_z(fit), mean_z(truth));
    let sum: f64 = fit
        .chunks_exact(3)
        .zip(truth.chunks_exact(3))
        .map(|(a, b)| {
            ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + ((a[2] - zf) - (b[2] - zt)).powi(2))
                .sqrt()
        })
        .sum();
    sum / n as f64 / norm
}

pub fn summarise(method: &str, results: &[FaceResult], failures: usize) -> Report {
    let n = results.len().max(1) as f64;
    let stages = results.iter().map(|r| r.stage_nme.len()).max().unwrap_or(0);
    let nme_per_stage = (0..stages)
        .map(|k| {
            results
                .iter()
                .map(|r| {
                    r.stage_nme
                        .get(k)
                        .or(r.stage_nme.last())
                        .copied()
                        .unwrap_or(1.0)
                })
                .sum::<f64>()
                / n
        })
        .collect();
    let by_yaw = YAW_BUCKETS
        .iter()
        .map(|&(lo, hi)| {
            let inside: Vec<f64> = results
                .iter()
                .filter(|r| {
                    r.yaw_deg >= lo && (r.yaw_deg < hi || (hi == 90.0 && r.yaw_deg <= 90.0))
                })
                .map(FaceResult::final_nme)
                .collect();
            Bucket {
                yaw_deg: (lo, hi),
                faces: inside.len(),
                nme: mean(&inside),
            }
        })
        .collect();
    let with_params: Vec<[f64; 3]> = results.iter().filter_map(|r| r.param_errors).collect();
    let param_error = (!with_params.is_empty()).then(|| {
        let m = |i: usize| with_params.iter().map(|e| e[i]).sum::<f64>() / with_params.len() as f64;
        ParamError {
            pose: m(0),
            identity: m(1),
            expression: m(2),
        }
    });
    let mut times: Vec<f64> = results.iter().map(|r| r.time_ms).collect();
    times.sort_by(f64::total_cmp);
    Report {
        method: method.to_owned(),
        faces: results.len(),
        nme: mean(
            &results
                .iter()
                .map(FaceResult::final_nme)
                .collect::<Vec<_>>(),
        ),
        by_yaw,
        nme_per_stage,
        start_nme: mean(&results.iter().map(|r| r.start_nme).collect::<Vec<_>>()),
        param_error,
        ms_per_face_median: times.get(times.len() / 2).copied().unwrap_or(f64::NAN),
        ms_per_face_mean: mean(&times),
        failures,
    }
}

/// The cumulative error distribution: for each threshold, the fraction of faces whose final NME
/// is at most that.
pub fn ced(results: &[FaceResult], thresholds: &[f64]) -> Vec<(f64, f64)> {
    let mut e: Vec<f64> = results.iter().map(FaceResult::final_nme).collect();
    e.sort_by(f64::total_cmp);
    thresholds
        .iter()
        .map(|&t| {
            (
                t,
                e.partition_point(|&v| v <= t) as f64 / e.len().max(1) as f64,
            )
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(nme: f64, yaw: f64) -> FaceResult {
        FaceResult {
            stage_nme: vec![nme * 2.0, nme],
            start_nme: 0.5,
            yaw_deg: yaw,
            param_errors: None,
            time_ms: 1.0,
        }
    }

    #[test]
    fn summary_buckets_and_ced() {
        let res = [r(0.05, 10.0), r(0.07, 45.0), r(0.09, 75.0), r(0.03, 90.0)];
        let rep = summarise("x", &res, 0);
        assert!((rep.nme - 0.06).abs() < 1e-12);
        assert_eq!(
            rep.by_yaw.iter().map(|b| b.faces).collect::<Vec<_>>(),
            vec![1, 1, 2]
        );
        assert!((rep.nme_per_stage[0] - 0.12).abs() < 1e-12);
        let c = ced(&res, &[0.0, 0.05, 0.1]);
        assert_eq!(c, vec![(0.0, 0.0), (0.05, 0.5), (0.1, 1.0)]);
    }
}
