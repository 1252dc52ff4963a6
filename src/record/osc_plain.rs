//! A frame in facetrack's own OSC addresses, for programs that read OSC without knowing VMC
//! (Blender, TouchDesigner, Max, Pure Data): one bundle a frame holding
//!
//! - `/facetrack/tracking` (int 1 tracked, 0 not);
//! - `/facetrack/pose` (float yaw, pitch, roll in degrees — the CSV's `yaw_deg`, `pitch_deg`,
//!   `roll_deg`: yaw > 0 nose towards the image's left, pitch > 0 looking up, roll > 0 the top
//!   of the head towards the image's right — then x, y, distance in metres: the middle of the
//!   face relative to the camera, x towards the image's right, y up, and its distance from the
//!   camera, see [`super::osc::head_position`]);
//! - `/facetrack/blend/NAME` (float 0–1) for each named control (`/facetrack/blend/jawOpen`…).
//!
//! A frame with no tracked face is `/facetrack/tracking` 0 alone. Nothing is mirrored: these are
//! the tracker's own numbers, as the CSV has them.

use rosc::{OscPacket, OscType};

use super::osc::{bundle, head_position, message, set_floats};
use crate::controls::CONTROL_NAMES;
use crate::track::{TrackResult, TrackStatus};

const POSE: usize = 1;
const FIRST_BLEND: usize = 2;

/// A plain frame's two bundles, built once; each frame writes its numbers into them in place.
pub struct PlainPackets {
    tracked: OscPacket,
    untracked: OscPacket,
}

impl PlainPackets {
    pub fn new() -> Self {
        let tracking = |t: i32| message("/facetrack/tracking", vec![OscType::Int(t)]);
        let mut content = vec![
            tracking(1),
            message("/facetrack/pose", vec![OscType::Float(0.0); 6]),
        ];
        for name in CONTROL_NAMES {
            content.push(message(
                format!("/facetrack/blend/{name}"),
                vec![OscType::Float(0.0)],
            ));
        }
        Self {
            tracked: bundle(content),
            untracked: bundle(vec![tracking(0)]),
        }
    }

    /// The bundle `result` is sent as, its numbers written in.
    pub fn fill(&mut self, result: &TrackResult) -> &OscPacket {
        if result.status != TrackStatus::Tracking {
            return &self.untracked;
        }
        let p = &result.params;
        let image = &result.frame.image;
        let [x, y, d] = head_position(p, image.width, image.height);
        let pose = [
            p.yaw().to_degrees(),
            p.pitch().to_degrees(),
            p.roll().to_degrees(),
            x,
            y,
            d,
        ]
        .map(|v| v as f32);
        set_floats(&mut self.tracked, POSE, 0, &pose);
        for (i, &v) in result.controls.values.iter().enumerate() {
            set_floats(&mut self.tracked, FIRST_BLEND + i, 0, &[v]);
        }
        &self.tracked
    }
}

impl Default for PlainPackets {
    fn default() -> Self {
        Self::new()
    }
}
