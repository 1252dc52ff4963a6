//! A frame in the VMC protocol (Virtual Motion Capture Protocol, v2.x: OSC over UDP, the
//! protocol VSeeFace, VNyan, Warudo and VMagicMirror receive an avatar's motion with), one bundle
//! a frame so that a receiver applies it whole:
//!
//! - `/VMC/Ext/OK` (int loaded = 1, int calibrationState = 3 "calibrated", int calibrationMode
//!   = 0 "normal", int trackingStatus = 1 tracked or 0 not);
//! - `/VMC/Ext/T` (float time): the frame's capture time, seconds from the sender's start;
//! - `/VMC/Ext/Bone/Pos` (string "Head", float px, py, pz, qx, qy, qz, qw);
//! - `/VMC/Ext/Blend/Val` (string name, float value) for each of the named controls, then
//!   `/VMC/Ext/Blend/Apply`.
//!
//! A frame with no tracked face is `/VMC/Ext/OK` with trackingStatus 0 and `/VMC/Ext/T` alone:
//! a guessed pose would make the avatar jump, so the receiver keeps the last one (or goes to its
//! rest pose, as it chooses).
//!
//! **Axes.** VMC's are Unity's: left-handed, x right, y up, z forward, metres; the avatar faces +z,
//! its right is +x. The fit's rotation `R = Rx(pitch)·Ry(yaw)·Rz(roll)` works in the camera's
//! axes (x to the image's right, y up, z out of the image towards the camera, the face looking
//! along +z at rest). Taking those same numbers in Unity's axes makes the avatar the person's
//! **mirror image** — what a person facing the avatar on a screen expects, as in a mirror: the
//! person turns to their right (yaw > 0, nose towards the image's left), the avatar turns to its
//! left, towards the same side of the screen; the person's left eye closes, the avatar's right
//! one does (each Left/Right control's message carries its other side's value). Without the
//! mirror the avatar does what the person does (their right is its right): the rotation is
//! `P·R·P` with `P = diag(−1, 1, 1)`, the reflection between the two handednesses, and every
//! control carries its own value.
//!
//! The Head bone's position is where the middle of the face is, in metres, relative to a rest
//! point 0.6 m in front of the camera on its axis (a person at a desk), in the same axes: near
//! zero for a seated person, it follows them leaning and moving. The distance comes from the
//! face's size under an assumed field of view
//! ([`super::osc::ASSUMED_FOV_DEG`]).

use std::time::Instant;

use nalgebra::{Matrix3, Rotation3, UnitQuaternion};
use rosc::{OscPacket, OscType};

use super::osc::{bundle, head_position, message, set_floats};
use crate::controls::{CONTROL_NAMES, N_CONTROLS};
use crate::model::Params;
use crate::model::rotation::rotation;
use crate::track::{TrackResult, TrackStatus};

/// The rest point of the Head bone's position: this far in front of the camera, metres.
pub const REST_DISTANCE_M: f64 = 0.6;

/// The name VMC (Unity's `HumanBodyBones`) gives the head.
pub const HEAD_BONE: &str = "Head";

/// The Head bone in VMC's axes: its rotation as a unit quaternion `[x, y, z, w]` (w ≥ 0) and its
/// position in metres; `mirror` as the module says.
pub fn head_bone(
    params: &Params,
    width: usize,
    height: usize,
    mirror: bool,
) -> ([f64; 4], [f64; 3]) {
    let [mut x, y, distance] = head_position(params, width, height);
    // `P·R·P` with `P = diag(−1, 1, 1)` is the same rotation with yaw and roll negated: the
    // reflection keeps Rx and turns Ry and Rz the other way.
    let r = if mirror {
        rotation(params.pitch(), params.yaw(), params.roll())
    } else {
        x = -x;
        rotation(params.pitch(), -params.yaw(), -params.roll())
    };
    let position = [x, y, REST_DISTANCE_M - distance];
    (quaternion(&r), position)
}

/// The unit quaternion `[x, y, z, w]` of a rotation matrix (acting on column vectors), w ≥ 0.
fn quaternion(r: &Matrix3<f64>) -> [f64; 4] {
    let q = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(*r));
    let c = q.coords;
    let sign = if c.w < 0.0 { -1.0 } else { 1.0 };
    [sign * c.x, sign * c.y, sign * c.z, sign * c.w]
}

/// Positions of the messages in the tracked bundle (`/VMC/Ext/OK` is the first).
const TIME: usize = 1;
const BONE: usize = 2;
const FIRST_BLEND: usize = 3;

/// A VMC frame's two bundles, built once; each frame writes its numbers into them in place.
pub struct VmcPackets {
    mirror: bool,
    /// The control each Blend/Val message carries, in the order of [`CONTROL_NAMES`]: itself, or
    /// with the mirror its other side.
    sources: [usize; N_CONTROLS],
    tracked: OscPacket,
    untracked: OscPacket,
}

impl VmcPackets {
    pub fn new(mirror: bool) -> Self {
        let ok = |tracking: i32| {
            message(
                "/VMC/Ext/OK",
                vec![
                    OscType::Int(1),
                    OscType::Int(3),
                    OscType::Int(0),
                    OscType::Int(tracking),
                ],
            )
        };
        let time = || message("/VMC/Ext/T", vec![OscType::Float(0.0)]);
        let mut content = vec![ok(1), time()];
        let mut bone = vec![OscType::String(HEAD_BONE.into())];
        bone.extend([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0].map(OscType::Float));
        content.push(message("/VMC/Ext/Bone/Pos", bone));
        for name in CONTROL_NAMES {
            content.push(message(
                "/VMC/Ext/Blend/Val",
                vec![OscType::String(name.into()), OscType::Float(0.0)],
            ));
        }
        content.push(message("/VMC/Ext/Blend/Apply", Vec::new()));
        let sources = std::array::from_fn(|i| match mirror {
            true => other_side(CONTROL_NAMES[i]).unwrap_or(i),
            false => i,
        });
        Self {
            mirror,
            sources,
            tracked: bundle(content),
            untracked: bundle(vec![ok(0), time()]),
        }
    }

    /// The bundle `result` is sent as, its numbers written in; `started` is time 0.
    pub fn fill(&mut self, result: &TrackResult, started: Instant) -> &OscPacket {
        let time = result
            .frame
            .captured
            .saturating_duration_since(started)
            .as_secs_f32();
        if result.status != TrackStatus::Tracking {
            set_floats(&mut self.untracked, TIME, 0, &[time]);
            return &self.untracked;
        }
        set_floats(&mut self.tracked, TIME, 0, &[time]);
        let image = &result.frame.image;
        let (q, p) = head_bone(&result.params, image.width, image.height, self.mirror);
        let bone = [p[0], p[1], p[2], q[0], q[1], q[2], q[3]].map(|v| v as f32);
        set_floats(&mut self.tracked, BONE, 1, &bone);
        for (i, &source) in self.sources.iter().enumerate() {
            // Controls are 0–1 and finite by construction (`Calibration::apply`), as a
            // receiver's blendshape weight must be.
            let v = result.controls.values[source];
            set_floats(&mut self.tracked, FIRST_BLEND + i, 1, &[v]);
        }
        &self.tracked
    }
}

/// The index of the control on the other side of `name`'s face (`eyeBlinkLeft` ↔
/// `eyeBlinkRight`), if it has one.
fn other_side(name: &str) -> Option<usize> {
    let (stem, other) = match name.strip_suffix("Left") {
        Some(stem) => (stem, "Right"),
        None => (name.strip_suffix("Right")?, "Left"),
    };
    CONTROL_NAMES.iter().position(|n| {
        n.len() == stem.len() + other.len() && n.starts_with(stem) && n.ends_with(other)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Quaternion, Vector3};

    fn pose(pitch: f64, yaw: f64, roll: f64) -> Params {
        let mut p = Params::zeros(0, 0);
        p.set_s(0.001);
        p.set_pitch(pitch.to_radians());
        p.set_yaw(yaw.to_radians());
        p.set_roll(roll.to_radians());
        p.set_tx(319.5);
        p.set_ty(239.5);
        p
    }

    fn close(a: [f64; 4], b: [f64; 4]) -> bool {
        a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    /// `v` turned by the quaternion `[x, y, z, w]`, as Unity's `q * v` does.
    fn turn(q: [f64; 4], v: [f64; 3]) -> [f64; 3] {
        let q = UnitQuaternion::from_quaternion(Quaternion::new(q[3], q[0], q[1], q[2]));
        let r = q * Vector3::new(v[0], v[1], v[2]);
        [r.x, r.y, r.z]
    }

    #[test]
    fn yaw_to_the_persons_right() {
        let (s, c) = 15f64.to_radians().sin_cos();
        // Not mirrored: Unity's Quaternion.Euler(0, 30, 0), the avatar's nose towards +x, its
        // right, as the person turned to theirs.
        let (q, _) = head_bone(&pose(0.0, 30.0, 0.0), 640, 480, false);
        assert!(close(q, [0.0, s, 0.0, c]), "{q:?}");
        assert!(turn(q, [0.0, 0.0, 1.0])[0] > 0.49);
        // Mirrored: Euler(0, −30, 0), towards the avatar's left.
        let (q, _) = head_bone(&pose(0.0, 30.0, 0.0), 640, 480, true);
        assert!(close(q, [0.0, -s, 0.0, c]), "{q:?}");
        assert!(turn(q, [0.0, 0.0, 1.0])[0] < -0.49);
    }

    #[test]
    fn pitch_up_and_roll() {
        // Looking up is a negative turn about Unity's x (positive pitches the nose down), mirror
        // or not.
        let (s, c) = 10f64.to_radians().sin_cos();
        for mirror in [false, true] {
            let (q, _) = head_bone(&pose(20.0, 0.0, 0.0), 640, 480, mirror);
            assert!(close(q, [-s, 0.0, 0.0, c]), "{q:?}");
            assert!(turn(q, [0.0, 0.0, 1.0])[1] > 0.34);
        }
        // Roll > 0 tips the top of the head towards the image's right: the person's left, the
        // avatar's left unmirrored (−x), its right mirrored (+x).
        let (s, c) = 7.5f64.to_radians().sin_cos();
        let (q, _) = head_bone(&pose(0.0, 0.0, 15.0), 640, 480, false);
        assert!(close(q, [0.0, 0.0, s, c]), "{q:?}");
        assert!(turn(q, [0.0, 1.0, 0.0])[0] < -0.25);
        let (q, _) = head_bone(&pose(0.0, 0.0, 15.0), 640, 480, true);
        assert!(close(q, [0.0, 0.0, -s, c]), "{q:?}");
        assert!(turn(q, [0.0, 1.0, 0.0])[0] > 0.25);
    }

    #[test]
    fn any_pose_is_a_unit_quaternion_that_turns_as_the_fit() {
        for (pitch, yaw, roll) in [(12.0, -37.0, 8.0), (-25.0, 80.0, -30.0), (5.0, 95.0, 170.0)] {
            let p = pose(pitch, yaw, roll);
            let r = rotation(p.pitch(), p.yaw(), p.roll());
            let (q, _) = head_bone(&p, 640, 480, true);
            let norm = q.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-12 && q[3] >= 0.0, "{q:?}");
            for v in [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]] {
                let want = r * Vector3::from(v);
                let got = turn(q, v);
                for k in 0..3 {
                    assert!((got[k] - want[k]).abs() < 1e-9, "{v:?}: {got:?} {want:?}");
                }
            }
        }
    }

    #[test]
    fn position_follows_the_person() {
        // 100 px to the image's right (the person's left) of the middle, at the rest distance.
        let mut p = pose(0.0, 0.0, 0.0);
        let focal = 320.0 / 30f64.to_radians().tan();
        p.set_s(focal / (REST_DISTANCE_M * 1e6));
        p.set_tx(319.5 + 100.0);
        let (_, mirrored) = head_bone(&p, 640, 480, true);
        let (_, plain) = head_bone(&p, 640, 480, false);
        assert!(
            mirrored[0] > 0.05 && plain[0] == -mirrored[0],
            "{mirrored:?} {plain:?}"
        );
        assert!(
            mirrored[1].abs() < 1e-12 && mirrored[2].abs() < 1e-9,
            "{mirrored:?}"
        );
        // Closer to the camera (a larger face) is forward: +z.
        p.set_s(p.s() * 1.2);
        assert!(head_bone(&p, 640, 480, true).1[2] > 0.09);
    }

    #[test]
    fn the_mirror_trades_left_and_right() {
        let index = |n: &str| CONTROL_NAMES.iter().position(|c| *c == n).unwrap();
        assert_eq!(other_side("eyeBlinkLeft"), Some(index("eyeBlinkRight")));
        assert_eq!(other_side("mouthSmileRight"), Some(index("mouthSmileLeft")));
        assert_eq!(other_side("jawOpen"), None);
        let mirrored = VmcPackets::new(true);
        let plain = VmcPackets::new(false);
        for (i, name) in CONTROL_NAMES.iter().enumerate() {
            assert_eq!(plain.sources[i], i);
            let j = mirrored.sources[i];
            let sided = name.ends_with("Left") || name.ends_with("Right");
            assert_eq!(j != i, sided, "{name}");
            assert_eq!(mirrored.sources[j], i, "{name}");
        }
    }
}
