//! From raw measurements to controls in 0–1: `(raw − neutral) / span`, clamped, where `neutral`
//! is what the measurement reads on the person's neutral face. By default that is the face model's
//! neutral shape (zero for every displacement); a neutral-face calibration replaces it with the
//! average over frames of the person holding a neutral face, which takes out what the fit reads
//! into their resting face (a mouth that rests open, brows that sit low).

use super::measure::{Raw, index};
use super::{Controls, N_CONTROLS};

/// An eye reads fully closed at this share of its resting opening.
const EYE_CLOSED_AT: f32 = 0.25;
/// An eye starts to read as closing past this share below its resting opening: the lids' own
/// wobble (see [`DEAD_ZONE`]).
const EYE_BLINK_FROM: f32 = 0.12;
/// An eye counts as wide past this share above its resting opening (the lids' own wobble), and
/// fully wide at [`EYE_WIDE_BY`] above it.
const EYE_WIDE_FROM: f32 = 0.19;
const EYE_WIDE_BY: f32 = 0.46;

/// What each raw measurement reads on a neutral face before any calibration: the median over
/// the tracked frames of the shared clips d0, d3, d9, d10, d14 and d18 (mostly neutral faces;
/// the two sides' medians averaged, but for the smiles, which take the lower side's so that a
/// smile reads as soon as a corner moves):
/// the fit reads resting lips a little closer together than the model's neutral shape has them,
/// and the mouth corners a little lower. The eyes' entry is the resting opening relative to the
/// model's neutral eye, which differs from person to person (0.8–1.35 on those clips):
/// [`EyeLevel`] learns it while tracking until a neutral-face calibration measures it.
const DEFAULT_NEUTRAL: Raw = [
    -0.02,  // jawOpen
    0.03,   // mouthClose
    -0.04,  // mouthSmileLeft
    -0.04,  // mouthSmileRight
    0.025,  // mouthFrownLeft
    0.025,  // mouthFrownRight
    0.013,  // mouthPucker
    -0.027, // mouthFunnel
    -1.0,   // eyeBlinkLeft
    -1.0,   // eyeBlinkRight
    1.0,    // eyeWideLeft
    1.0,    // eyeWideRight
    0.02,   // browInnerUp
    -0.015, // browDownLeft
    -0.015, // browDownRight
    0.005,  // browOuterUpLeft
    0.005,  // browOuterUpRight
    0.0,    // cheekPuff
];

/// The displacement (eye-corner distances) a control ignores past its neutral: the fit's own
/// wobble. The fit trades a little expression for pose, and the eyelids and lips read from the
/// image move with the view, so a head turned by 30° with the face held still moves the
/// measurements though nothing moved. Measured on 57 near-frontal faces of AFLW2000-3D's training
/// part turned ±30° after a neutral calibration (`examples/head_turn_faces.rs`): each dead zone
/// is at least what keeps nine faces in ten's wobble within 0.15 of its control's span (the
/// eyes' likewise, in [`EYE_BLINK_FROM`] and [`EYE_WIDE_FROM`]). The lids wobble most: by 21–25 %
/// of the eye's opening or more on one face in ten.
const DEAD_ZONE: Raw = [
    0.02,  // jawOpen
    0.02,  // mouthClose
    0.015, // mouthSmileLeft
    0.015, // mouthSmileRight
    0.01,  // mouthFrownLeft
    0.01,  // mouthFrownRight
    0.02,  // mouthPucker
    0.02,  // mouthFunnel
    0.0,   // eyeBlinkLeft (the eyes have their own, relative to their opening)
    0.0,   // eyeBlinkRight
    0.0,   // eyeWideLeft
    0.0,   // eyeWideRight
    0.011, // browInnerUp
    0.01,  // browDownLeft
    0.01,  // browDownRight
    0.004, // browOuterUpLeft
    0.004, // browOuterUpRight
    0.001, // cheekPuff
];

/// The displacement past the dead zone over which each control but the eyes' goes from 0 to 1:
/// about the range the shared clips' strongest expressions reach (a wide-open mouth parts the
/// inner lips by 0.45 eye-corner distances, a broad smile moves a corner out and up by 0.3).
const SPAN: Raw = [
    0.40, // jawOpen
    0.15, // mouthClose
    0.25, // mouthSmileLeft
    0.25, // mouthSmileRight
    0.12, // mouthFrownLeft
    0.12, // mouthFrownRight
    0.20, // mouthPucker
    0.12, // mouthFunnel
    1.0,  // eyeBlinkLeft (set from the resting opening)
    1.0,  // eyeBlinkRight
    1.0,  // eyeWideLeft
    1.0,  // eyeWideRight
    0.06, // browInnerUp
    0.05, // browDownLeft
    0.05, // browDownRight
    0.03, // browOuterUpLeft
    0.03, // browOuterUpRight
    0.01, // cheekPuff
];

/// Where each control reads 0, and the range over which it reaches 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    neutral: Raw,
    span: Raw,
}

impl Default for Calibration {
    /// The neutral face the shared clips read, and eyes as open as the model's.
    fn default() -> Self {
        Self::from_neutral(&DEFAULT_NEUTRAL)
    }
}

impl Calibration {
    /// The calibration whose neutral face reads `neutral`.
    pub fn from_neutral(neutral: &Raw) -> Self {
        let mut c = Self {
            neutral: *neutral,
            span: SPAN,
        };
        c.set_eyes_open([neutral[index::WIDE_LEFT], neutral[index::WIDE_RIGHT]]);
        c
    }

    /// Sets the eyes' resting openings (left, right; relative to the model's neutral eye).
    pub fn set_eyes_open(&mut self, open: [f32; 2]) {
        for ((blink, wide), open) in [
            (index::BLINK_LEFT, index::WIDE_LEFT),
            (index::BLINK_RIGHT, index::WIDE_RIGHT),
        ]
        .into_iter()
        .zip(open)
        {
            let open = open.max(0.05);
            self.neutral[blink] = -open * (1.0 - EYE_BLINK_FROM);
            self.span[blink] = open * (1.0 - EYE_CLOSED_AT - EYE_BLINK_FROM);
            self.neutral[wide] = open * (1.0 + EYE_WIDE_FROM);
            self.span[wide] = open * (EYE_WIDE_BY - EYE_WIDE_FROM);
        }
    }

    /// The controls of `raw`.
    pub fn apply(&self, raw: &Raw) -> Controls {
        let mut values = [0.0; N_CONTROLS];
        for (k, v) in values.iter_mut().enumerate() {
            let x = (raw[k] - self.neutral[k] - DEAD_ZONE[k]) / self.span[k];
            *v = if x.is_finite() {
                x.clamp(0.0, 1.0)
            } else {
                0.0
            };
        }
        Controls { values }
    }
}

/// Averages the raw measurements of the frames a neutral face is held for.
#[derive(Debug, Clone, PartialEq)]
pub struct NeutralCapture {
    sum: [f64; N_CONTROLS],
    frames: usize,
    needed: usize,
}

impl NeutralCapture {
    /// A capture that is complete after `frames` frames (at least one).
    pub fn new(frames: usize) -> Self {
        Self {
            sum: [0.0; N_CONTROLS],
            frames: 0,
            needed: frames.max(1),
        }
    }

    /// Adds a frame; the calibration once enough frames are in.
    pub fn add(&mut self, raw: &Raw) -> Option<Calibration> {
        for (s, r) in self.sum.iter_mut().zip(raw) {
            *s += f64::from(*r);
        }
        self.frames += 1;
        (self.frames >= self.needed).then(|| {
            let mut mean = [0.0f32; N_CONTROLS];
            for (m, s) in mean.iter_mut().zip(&self.sum) {
                *m = (*s / self.frames as f64) as f32;
            }
            Calibration::from_neutral(&mean)
        })
    }

    /// Frames added so far, and needed.
    pub fn progress(&self) -> (usize, usize) {
        (self.frames, self.needed)
    }
}

/// The eyes' resting opening, learned while tracking: eyes are open most of the time, so the
/// level follows openings above it quickly (most of the way within a second at 30 fps) and
/// those below it (a blink, a squint) three times slower, and settles near the upper quartile of
/// what it sees: a blink of a few frames moves it by a few per cent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EyeLevel {
    level: [f32; 2],
}

/// Per-frame rates at which the level follows an opening above and below it (at 30 fps).
const LEVEL_UP: f32 = 0.06;
const LEVEL_DOWN: f32 = 0.02;

impl Default for EyeLevel {
    fn default() -> Self {
        Self { level: [1.0; 2] }
    }
}

impl EyeLevel {
    /// Takes a frame's openings (left, right) and returns the level after it.
    pub fn update(&mut self, open: [f32; 2]) -> [f32; 2] {
        for (l, o) in self.level.iter_mut().zip(open) {
            if o.is_finite() {
                let rate = if o > *l { LEVEL_UP } else { LEVEL_DOWN };
                *l += rate * (o - *l);
            }
        }
        self.level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calibrated_neutral_face_reads_zero_and_a_movement_reads_past_its_dead_zone() {
        let mut neutral = [0.05f32; N_CONTROLS];
        neutral[index::WIDE_LEFT] = 1.2;
        neutral[index::WIDE_RIGHT] = 1.2;
        neutral[index::BLINK_LEFT] = -1.2;
        neutral[index::BLINK_RIGHT] = -1.2;
        let mut capture = NeutralCapture::new(3);
        assert!(capture.add(&neutral).is_none());
        assert!(capture.add(&neutral).is_none());
        let c = capture.add(&neutral).expect("three frames");
        assert_eq!(c.apply(&neutral).values, [0.0; N_CONTROLS]);
        let mut open = neutral;
        open[index::JAW_OPEN] += DEAD_ZONE[index::JAW_OPEN] + SPAN[index::JAW_OPEN] / 2.0;
        // A closed eye: opening a quarter of its resting one or less reads a full blink.
        open[index::BLINK_LEFT] = -0.2;
        let v = c.apply(&open).values;
        assert!((v[index::JAW_OPEN] - 0.5).abs() < 1e-5, "{v:?}");
        assert_eq!(v[index::BLINK_LEFT], 1.0);
        assert_eq!(v[index::BLINK_RIGHT], 0.0);
        // Not finite reads 0, not NaN.
        open[index::CHEEK_PUFF] = f32::NAN;
        assert_eq!(c.apply(&open).values[index::CHEEK_PUFF], 0.0);
    }

    #[test]
    fn the_eye_level_settles_near_open_eyes_and_a_blink_barely_moves_it() {
        let mut level = EyeLevel::default();
        for _ in 0..300 {
            level.update([1.3, 0.8]);
        }
        let settled = level.update([1.3, 0.8]);
        assert!((settled[0] - 1.3).abs() < 0.01 && (settled[1] - 0.8).abs() < 0.01);
        for _ in 0..4 {
            level.update([0.1, 0.1]);
        }
        let after = level.update([1.3, 0.8]);
        assert!(after[0] > 1.3 * 0.9, "{after:?}");
    }
}
