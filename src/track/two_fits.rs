//! The mean of two warm fits of one frame. A landmark cascade's answer depends on which pixels its
//! features land on (each tree compares two pixels against a threshold), so sensor noise moves it
//! from frame to frame, and so does a start a pixel away. Two fits from starts a little apart
//! sample different pixels; where both are confident and agree, their mean carries less of that
//! noise than either (on the shared clips, PARM's landmark jitter fell by a tenth at the same
//! error). Where they disagree, one of them has lost the face or lags a fast head, and the tracker
//! keeps the more confident instead.

use crate::model::Params;

/// Two fits agree when their landmarks are this far apart on average, or less, as a share of the
/// face's size. A fast head's prediction and last fit are 1–4 % apart; past 2 % the mean drags
/// the answer towards the one that lags (on the shared clips' fast cases the error rose with
/// every pair averaged, and fell with pairs within 2 %).
pub const AGREEMENT: f64 = 0.02;

/// The mean distance between corresponding points of two landmark vectors (`x0, y0, x1, y1, …`).
pub fn mean_distance(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) / 2;
    if n == 0 {
        return 0.0;
    }
    let total: f64 = a
        .chunks_exact(2)
        .zip(b.chunks_exact(2))
        .map(|(p, q)| (p[0] - q[0]).hypot(p[1] - q[1]))
        .sum();
    total / n as f64
}

/// Writes the mean of `a` and `b` into `out` (all of the same dimensions). The angles are
/// averaged the short way round, so that two fits of a head turned past ±180° do not average to
/// an upright one.
pub fn mean_into(a: &Params, b: &Params, out: &mut Params) {
    for ((o, x), y) in out
        .as_mut_slice()
        .iter_mut()
        .zip(a.as_slice())
        .zip(b.as_slice())
    {
        *o = 0.5 * (x + y);
    }
    out.set_pitch(step_angle(a.pitch(), b.pitch(), 0.5));
    out.set_yaw(step_angle(a.yaw(), b.yaw(), 0.5));
    out.set_roll(step_angle(a.roll(), b.roll(), 0.5));
}

/// Moves `p` the share `w` (0 to 1) of the way to `target` (of the same dimensions), the angles
/// the short way round.
pub fn move_toward(p: &mut Params, target: &Params, w: f64) {
    let angles = [
        step_angle(p.pitch(), target.pitch(), w),
        step_angle(p.yaw(), target.yaw(), w),
        step_angle(p.roll(), target.roll(), w),
    ];
    for (x, y) in p.as_mut_slice().iter_mut().zip(target.as_slice()) {
        *x += w * (y - *x);
    }
    p.set_pitch(angles[0]);
    p.set_yaw(angles[1]);
    p.set_roll(angles[2]);
}

/// The angle the share `w` of the way from `a` to `b` (radians), the short way round from `a`.
fn step_angle(a: f64, b: f64, w: f64) -> f64 {
    use std::f64::consts::{PI, TAU};
    let d = (b - a + PI).rem_euclid(TAU) - PI;
    a + w * d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_of_two_fits_is_halfway_and_its_angles_go_the_short_way() {
        let mut a = Params::zeros(2, 1);
        let mut b = Params::zeros(2, 1);
        a.set_s(1.0);
        b.set_s(3.0);
        a.set_tx(10.0);
        b.set_tx(20.0);
        a.id_mut()[1] = 0.5;
        b.id_mut()[1] = 1.5;
        a.exp_mut()[0] = -1.0;
        b.exp_mut()[0] = 1.0;
        a.set_yaw(0.1);
        b.set_yaw(0.3);
        a.set_roll(179f64.to_radians());
        b.set_roll(-177f64.to_radians());
        let mut m = Params::zeros(2, 1);
        mean_into(&a, &b, &mut m);
        assert!((m.s() - 2.0).abs() < 1e-12);
        assert!((m.tx() - 15.0).abs() < 1e-12);
        assert!((m.id()[1] - 1.0).abs() < 1e-12);
        assert!(m.exp()[0].abs() < 1e-12);
        assert!((m.yaw() - 0.2).abs() < 1e-12);
        // 179° and -177° are 4° apart across the half turn: their mean is 181°, not 1°.
        let roll = m.roll().to_degrees().rem_euclid(360.0);
        assert!((roll - 181.0).abs() < 1e-9, "{roll}");
    }

    #[test]
    fn a_fit_moved_a_quarter_of_the_way_keeps_three_quarters_of_itself() {
        let mut p = Params::zeros(1, 1);
        let mut target = Params::zeros(1, 1);
        p.set_tx(8.0);
        p.exp_mut()[0] = 1.0;
        p.set_roll(170f64.to_radians());
        target.set_roll(-170f64.to_radians());
        move_toward(&mut p, &target, 0.25);
        assert!((p.tx() - 6.0).abs() < 1e-12);
        assert!((p.exp()[0] - 0.75).abs() < 1e-12);
        // 20° apart across the half turn: a quarter of the way is 175°, not 85°.
        let roll = p.roll().to_degrees().rem_euclid(360.0);
        assert!((roll - 175.0).abs() < 1e-9, "{roll}");
        let before = p.clone();
        move_toward(&mut p, &target, 0.0);
        assert_eq!(p.as_slice(), before.as_slice());
    }

    #[test]
    fn the_distance_between_landmarks_is_the_mean_over_points() {
        let a = [0.0, 0.0, 10.0, 10.0];
        let b = [3.0, 4.0, 10.0, 10.0];
        assert!((mean_distance(&a, &b) - 2.5).abs() < 1e-12);
        assert_eq!(mean_distance(&[], &[]), 0.0);
    }
}
