//! Named expression controls for driving avatars: ARKit's blendshape names, each 0–1 a frame,
//! measured from the fit in the model's own frame (pose removed, the person's neutral shape
//! subtracted) so that a head turn is not a smile.

/// How many controls a frame carries.
pub const N_CONTROLS: usize = 18;

/// The controls' names, ARKit's (and MediaPipe's) spelling; `Left`/`Right` are the person's own
/// sides, as ARKit's are (the person's left eye is on the image's right).
pub const CONTROL_NAMES: [&str; N_CONTROLS] = [
    "jawOpen",
    "mouthClose",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthPucker",
    "mouthFunnel",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeWideLeft",
    "eyeWideRight",
    "browInnerUp",
    "browDownLeft",
    "browDownRight",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
];

/// One frame's controls, in the order of [`CONTROL_NAMES`], each in 0–1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Controls {
    pub values: [f32; N_CONTROLS],
}

impl Controls {
    /// `(name, value)` for every control, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f32)> + '_ {
        CONTROL_NAMES
            .iter()
            .copied()
            .zip(self.values.iter().copied())
    }

    /// The value of the control called `name`.
    pub fn get(&self, name: &str) -> Option<f32> {
        CONTROL_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| self.values[i])
    }
}
