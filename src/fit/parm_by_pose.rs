//! PARM with a pose-gated landmark term: `Δpᵏ = Rᵏ [Δxᵏ; g₊(θ)·Δxᵏ; g₋(θ)·Δxᵏ; pᵏ; 1]`, where
//! `θ` is the current yaw and `g±` ramp from 0 at 30° to 1 at 60° on either side.
//!
//! PARM's Eq. 12 is one linear map for every pose. Which landmarks a turned face hides, and how
//! far the cascade's update of the others can be trusted, change with the yaw, and with a face in
//! seven beyond 45° the frontal faces set the map. The gated copies let each stage learn how the
//! update of a face turned to either side differs from a frontal one's, as a continuous function
//! of the yaw (no switch between maps, which a tracked head would feel as a jump); a face within
//! 30° of frontal gives exactly PARM's input, the copies zero.

use super::box_frame::BoxFrame;
use super::prm::prm_features;

/// Yaw (radians) at which the gated copies start to count: 30°.
const GATE_FROM: f64 = std::f64::consts::FRAC_PI_6;
/// Yaw (radians) from which they count fully: 60°.
const GATE_TO: f64 = std::f64::consts::FRAC_PI_3;

/// How far a face at `yaw` is turned to the positive and to the negative side, each 0–1.
pub fn yaw_gates(yaw: f64) -> (f64, f64) {
    let ramp = |a: f64| ((a - GATE_FROM) / (GATE_TO - GATE_FROM)).clamp(0.0, 1.0);
    if yaw.is_nan() {
        return (0.0, 0.0);
    }
    (ramp(yaw), ramp(-yaw))
}

/// Length of the input for `n_dx` landmark coordinates and `n_params` parameters.
pub fn n_features(n_dx: usize, n_params: usize) -> usize {
    3 * n_dx + n_params
}

/// The regressor input: the box-normalised landmark update, the same scaled by each of the yaw's
/// gates, then the normalised current parameters. Allocates nothing.
pub fn parm_by_pose_features(dx: &[f64], p: &[f64], yaw: f64, frame: &BoxFrame, out: &mut [f64]) {
    let n = dx.len();
    let (lead, rest) = out.split_at_mut(n);
    let (plus, rest) = rest.split_at_mut(n);
    let (minus, params) = rest.split_at_mut(n);
    prm_features(dx, frame, lead);
    let (g_plus, g_minus) = yaw_gates(yaw);
    for ((a, b), c) in plus.iter_mut().zip(minus.iter_mut()).zip(lead.iter()) {
        *a = g_plus * c;
        *b = g_minus * c;
    }
    frame.normalise(p, params);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::parm::parm_features;

    #[test]
    fn gates_open_between_30_and_60_degrees_on_one_side_only() {
        let deg = f64::to_radians;
        assert_eq!(yaw_gates(0.0), (0.0, 0.0));
        assert_eq!(yaw_gates(deg(29.0)), (0.0, 0.0));
        assert_eq!(yaw_gates(deg(-29.0)), (0.0, 0.0));
        let (plus, minus) = yaw_gates(deg(45.0));
        assert!((plus - 0.5).abs() < 1e-12 && minus == 0.0);
        let (plus, minus) = yaw_gates(deg(-45.0));
        assert!((minus - 0.5).abs() < 1e-12 && plus == 0.0);
        assert_eq!(yaw_gates(deg(80.0)), (1.0, 0.0));
        assert_eq!(yaw_gates(deg(-80.0)), (0.0, 1.0));
        assert_eq!(yaw_gates(f64::NAN), (0.0, 0.0));
        // Continuous: a tracked head turning through the ramp never sees its input jump.
        let mut last = yaw_gates(deg(-90.0));
        for i in 1..=1800 {
            let now = yaw_gates(deg(-90.0 + 0.1 * f64::from(i)));
            assert!((now.0 - last.0).abs() < 0.01 && (now.1 - last.1).abs() < 0.01);
            last = now;
        }
    }

    #[test]
    fn a_frontal_face_gets_parms_own_input_and_a_turned_face_its_gated_copy() {
        let frame = BoxFrame {
            cx: 100.0,
            cy: 120.0,
            size: 80.0,
            model_size: 2.0,
        };
        let dx: Vec<f64> = (0..136).map(|i| f64::from(i) * 0.1 - 3.0).collect();
        let p: Vec<f64> = (0..56).map(|i| f64::from(i) * 0.01).collect();
        let mut parm = vec![0.0; 136 + 56];
        parm_features(&dx, &p, &frame, &mut parm);
        let mut out = vec![f64::NAN; n_features(136, 56)];
        parm_by_pose_features(&dx, &p, 0.2, &frame, &mut out);
        assert_eq!(&out[..136], &parm[..136]);
        assert!(out[136..3 * 136].iter().all(|&v| v == 0.0));
        assert_eq!(&out[3 * 136..], &parm[136..]);
        parm_by_pose_features(&dx, &p, -std::f64::consts::FRAC_PI_2, &frame, &mut out);
        assert!(out[136..2 * 136].iter().all(|&v| v == 0.0));
        assert_eq!(&out[2 * 136..3 * 136], &parm[..136]);
    }
}
