//! The raw measurement behind each named control: a displacement of the face's landmarks in the
//! model's own frame — rotation, scale and position removed — from the same person's neutral
//! shape (their identity, expression zero), in units of that neutral shape's eye-corner distance.
//! Rotation-free and size-free by construction, so a head turn or a step back is not a smile.
//!
//! Landmarks are the 68 points of the iBUG scheme (0-based): jaw 0–16, brows 17–26 (17 and 26
//! the outer ends), eyes 36–47, outer lips 48–59, inner lips 60–67. The model's x points to the
//! person's left, y up.

use super::N_CONTROLS;

/// Indices into the raw measurements and the controls (the order of `CONTROL_NAMES`).
pub mod index {
    pub const JAW_OPEN: usize = 0;
    pub const MOUTH_CLOSE: usize = 1;
    pub const SMILE_LEFT: usize = 2;
    pub const SMILE_RIGHT: usize = 3;
    pub const FROWN_LEFT: usize = 4;
    pub const FROWN_RIGHT: usize = 5;
    pub const PUCKER: usize = 6;
    pub const FUNNEL: usize = 7;
    pub const BLINK_LEFT: usize = 8;
    pub const BLINK_RIGHT: usize = 9;
    pub const WIDE_LEFT: usize = 10;
    pub const WIDE_RIGHT: usize = 11;
    pub const BROW_INNER_UP: usize = 12;
    pub const BROW_DOWN_LEFT: usize = 13;
    pub const BROW_DOWN_RIGHT: usize = 14;
    pub const BROW_OUTER_UP_LEFT: usize = 15;
    pub const BROW_OUTER_UP_RIGHT: usize = 16;
    pub const CHEEK_PUFF: usize = 17;
}

/// The eyelid points (upper, lower) whose gaps give an eye's opening: the person's right eye
/// (36–41, on the image's left), then the left (42–47).
const RIGHT_EYE: [(usize, usize); 2] = [(37, 41), (38, 40)];
const LEFT_EYE: [(usize, usize); 2] = [(43, 47), (44, 46)];
/// Inner-lip pairs (upper, lower) across the mouth.
const INNER_LIPS: [(usize, usize); 3] = [(61, 67), (62, 66), (63, 65)];
/// Mouth corners: the person's right (48) and left (54).
const CORNER_RIGHT: usize = 48;
const CORNER_LEFT: usize = 54;
const CHIN: usize = 8;
/// Cheek contour points either side, below the cheekbones.
const CHEEK_RIGHT: [usize; 3] = [2, 3, 4];
const CHEEK_LEFT: [usize; 3] = [12, 13, 14];

/// The landmark points whose image evidence the measurements read: the eyelids and the inner
/// lips. The eye and mouth corners stay the fit's: lifted, they move with a head turn (the far
/// corner follows the visible outline), and the brows are measured against the eye corners.
pub const EVIDENCE_POINTS: [usize; 16] = [
    37, 38, 40, 41, 43, 44, 46, 47, 60, 61, 62, 63, 64, 65, 66, 67,
];

/// One frame's raw measurements, one a control, in the order of `CONTROL_NAMES`. Each grows with
/// its control; the eyes' are the opening relative to the neutral shape's (1 = as open as the
/// model's neutral eye), the rest displacements in eye-corner distances.
pub type Raw = [f32; N_CONTROLS];

fn pt(shape: &[f64], i: usize) -> [f64; 3] {
    [shape[3 * i], shape[3 * i + 1], shape[3 * i + 2]]
}

fn gap(shape: &[f64], pairs: &[(usize, usize)]) -> f64 {
    pairs
        .iter()
        .map(|&(up, down)| shape[3 * up + 1] - shape[3 * down + 1])
        .sum::<f64>()
        / pairs.len() as f64
}

/// The raw measurements of `shape` (the observed face, model frame, `3·68`) against `neutral`
/// (the same person's neutral shape); `None` when the neutral shape is degenerate.
pub fn measure(shape: &[f64], neutral: &[f64]) -> Option<Raw> {
    use index::*;
    let (l, r) = (pt(neutral, 45), pt(neutral, 36));
    let unit = ((l[0] - r[0]).powi(2) + (l[1] - r[1]).powi(2) + (l[2] - r[2]).powi(2)).sqrt();
    if !(unit.is_finite() && unit > 0.0) {
        return None;
    }
    // Displacement of point i from neutral, in eye-corner distances.
    let d = |i: usize| {
        let (a, b) = (pt(shape, i), pt(neutral, i));
        [
            (a[0] - b[0]) / unit,
            (a[1] - b[1]) / unit,
            (a[2] - b[2]) / unit,
        ]
    };
    let mut raw = [0.0f32; N_CONTROLS];

    let lips = (gap(shape, &INNER_LIPS) - gap(neutral, &INNER_LIPS)) / unit;
    raw[JAW_OPEN] = lips as f32;
    // Lips held together while the jaw drops: the chin's drop the lips' gap does not follow.
    raw[MOUTH_CLOSE] = (-d(CHIN)[1] - lips) as f32;

    let (cl, cr) = (d(CORNER_LEFT), d(CORNER_RIGHT));
    // A smile pulls a corner outwards and up; a frown pulls it down.
    raw[SMILE_LEFT] = (cl[0] + cl[1]) as f32;
    raw[SMILE_RIGHT] = (-cr[0] + cr[1]) as f32;
    raw[FROWN_LEFT] = (-cl[1]) as f32;
    raw[FROWN_RIGHT] = (-cr[1]) as f32;
    // Both corners drawn in: a pucker with the lips closed, a funnel with them apart.
    let narrowing = -(cl[0] - cr[0]);
    raw[PUCKER] = (narrowing - lips.max(0.0)) as f32;
    raw[FUNNEL] = narrowing.min(lips) as f32;

    let opening = |pairs: &[(usize, usize)]| {
        let n = gap(neutral, pairs);
        if n > 0.0 { gap(shape, pairs) / n } else { 1.0 }
    };
    let (open_l, open_r) = (opening(&LEFT_EYE), opening(&RIGHT_EYE));
    raw[BLINK_LEFT] = -open_l as f32;
    raw[BLINK_RIGHT] = -open_r as f32;
    raw[WIDE_LEFT] = open_l as f32;
    raw[WIDE_RIGHT] = open_r as f32;

    // Brows against the eye corners below them: a fit that trades a little pitch for the upper
    // face's modes moves both, a brow raise only the brow.
    let up = |idx: &[usize]| idx.iter().map(|&i| d(i)[1]).sum::<f64>() / idx.len() as f64;
    let (eye_l, eye_r) = (up(&[42, 45]), up(&[36, 39]));
    raw[BROW_INNER_UP] = (up(&[21, 22]) - 0.5 * (eye_l + eye_r)) as f32;
    raw[BROW_DOWN_LEFT] = (eye_l - up(&[22, 23])) as f32;
    raw[BROW_DOWN_RIGHT] = (eye_r - up(&[21, 20])) as f32;
    raw[BROW_OUTER_UP_LEFT] = (up(&[25, 26]) - eye_l) as f32;
    raw[BROW_OUTER_UP_RIGHT] = (up(&[17, 18]) - eye_r) as f32;

    let out = |idx: &[usize], sign: f64| idx.iter().map(|&i| sign * d(i)[0]).sum::<f64>();
    raw[CHEEK_PUFF] = ((out(&CHEEK_LEFT, 1.0) + out(&CHEEK_RIGHT, -1.0)) / 6.0) as f32;
    Some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A face of 68 points on a grid, eyes 1 apart, lids and lips a little open.
    fn neutral() -> Vec<f64> {
        let mut s = vec![0.0; 3 * 68];
        for i in 0..68 {
            s[3 * i] = (i % 10) as f64 * 0.1;
            s[3 * i + 1] = (i / 10) as f64 * 0.1;
        }
        s[3 * 36] = -0.5;
        s[3 * 45] = 0.5;
        s[3 * 36 + 1] = 0.0;
        s[3 * 45 + 1] = 0.0;
        for (up, down) in RIGHT_EYE.iter().chain(&LEFT_EYE).chain(&INNER_LIPS) {
            s[3 * up + 1] = s[3 * down + 1] + 0.1;
        }
        s
    }

    #[test]
    fn the_neutral_face_reads_no_displacement_and_open_eyes() {
        let n = neutral();
        let raw = measure(&n, &n).unwrap();
        for (k, v) in raw.iter().enumerate() {
            let expected = match k {
                index::BLINK_LEFT | index::BLINK_RIGHT => -1.0,
                index::WIDE_LEFT | index::WIDE_RIGHT => 1.0,
                _ => 0.0,
            };
            assert!((v - expected).abs() < 1e-6, "{k}: {v}");
        }
    }

    #[test]
    fn each_movement_reads_on_its_own_control() {
        let n = neutral();
        // The jaw drops: the lower inner lip goes down by 0.2 eye-corner distances.
        let mut s = n.clone();
        for (_, down) in INNER_LIPS {
            s[3 * down + 1] -= 0.2;
        }
        let raw = measure(&s, &n).unwrap();
        assert!((raw[index::JAW_OPEN] - 0.2).abs() < 1e-6);
        assert!(raw[index::SMILE_LEFT].abs() < 1e-6);
        // The left eye closes: its lids meet; the right stays as it was.
        let mut s = n.clone();
        for (up, down) in LEFT_EYE {
            s[3 * up + 1] = s[3 * down + 1];
        }
        let raw = measure(&s, &n).unwrap();
        assert!(raw[index::BLINK_LEFT].abs() < 1e-6);
        assert!((raw[index::BLINK_RIGHT] + 1.0).abs() < 1e-6);
        // The person's left corner (54) goes out (+x) and up: a left smile, no right one.
        let mut s = n.clone();
        s[3 * CORNER_LEFT] += 0.05;
        s[3 * CORNER_LEFT + 1] += 0.05;
        let raw = measure(&s, &n).unwrap();
        assert!((raw[index::SMILE_LEFT] - 0.1).abs() < 1e-6);
        assert!(raw[index::SMILE_RIGHT].abs() < 1e-6);
        // A degenerate neutral shape gives nothing rather than infinities.
        assert!(measure(&n, &vec![0.0; 3 * 68]).is_none());
    }
}
