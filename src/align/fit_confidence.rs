//! The fit confidence: a learned verdict, 0–1, on whether 68 fitted landmarks sit on a face,
//! judged from the image at the fitted shape. Gradient-boosted regression trees on the logistic
//! loss (Friedman, "Greedy function approximation", 2001, with Newton leaf values) over
//! shape-indexed pixel-difference features — the features of the ERT cascade (Kazemi & Sullivan,
//! CVPR 2014, §2.3), which joint cascade detection and alignment (Chen et al., ECCV 2014) showed
//! tell faces from non-faces once the shape is placed.
//!
//! Sample points hang off the landmarks: each is a landmark plus an offset in the frame of a
//! reference shape, carried into the image by the similarity transform from the reference to the
//! fitted landmarks. A fit on a face puts every point on the part of the face it was trained on;
//! a fit beside the face, too large or small, turned wrongly, or on a logo does not. Grey levels
//! are normalised by their mean and spread over the points, so the verdict does not depend on
//! exposure or contrast. A frame costs a few microseconds: some hundred pixel reads and a few
//! hundred comparisons.

use thiserror::Error;

use crate::model::file_frame::{FrameError, PastEnd, PayloadReader, check_frame, frame};

use crate::image::GrayImage;

pub const MAGIC: &[u8; 8] = b"FTCONF\r\n";
pub const VERSION: u32 = 1;

/// Added to the grey-level spread before dividing by it: a nearly uniform patch keeps small
/// normalised differences instead of amplified noise.
const SPREAD_FLOOR: f32 = 4.0;

/// A feature pixel: a landmark and an offset from it in the reference shape's frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplePoint {
    pub anchor: u16,
    pub offset: [f32; 2],
}

/// A split node: goes left when `v[a] − v[b] < threshold` (normalised grey levels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    pub a: u16,
    pub b: u16,
    pub threshold: f32,
}

/// A complete binary tree of `depth` levels of splits, stored breadth first, and its leaves.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub splits: Vec<Split>,
    pub leaves: Vec<f32>,
}

impl Tree {
    /// The leaf value for the normalised sample values `v`.
    #[inline]
    pub fn eval(&self, v: &[f32]) -> f32 {
        let mut node = 0;
        let n_splits = self.splits.len();
        while node < n_splits {
            let s = &self.splits[node];
            let f = v[s.a as usize] - v[s.b as usize];
            node = 2 * node + if f < s.threshold { 1 } else { 2 };
        }
        self.leaves[node - n_splits]
    }
}

/// The trained classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct FitConfidence {
    /// The reference shape, centred, RMS distance from its centre 1, `[x, y]` per landmark.
    pub reference: Vec<[f32; 2]>,
    pub points: Vec<SamplePoint>,
    pub depth: usize,
    /// The log-odds before any tree.
    pub bias: f32,
    pub trees: Vec<Tree>,
}

/// Buffers for [`FitConfidence::score`], grown once.
#[derive(Debug, Clone, Default)]
pub struct ConfidenceScratch {
    values: Vec<f32>,
}

#[derive(Debug, Error, PartialEq)]
pub enum ConfidenceFileError {
    #[error("not a facetrack confidence file (wrong magic bytes)")]
    Magic,
    #[error("confidence file version {0}, this build reads version {VERSION}")]
    Version(u32),
    #[error("the file is truncated at byte {0}")]
    Truncated(usize),
    #[error("checksum mismatch: the file is corrupt")]
    Checksum,
    #[error("inconsistent content: {0}")]
    Invalid(String),
}

/// Largest sizes a file may declare: far above what training makes, far below what would exhaust
/// memory, so a damaged header is refused before anything is allocated.
const MAX_LANDMARKS: usize = 1024;
const MAX_POINTS: usize = 65_535;
const MAX_DEPTH: usize = 12;
const MAX_TREES: usize = 100_000;

impl FitConfidence {
    pub fn n_landmarks(&self) -> usize {
        self.reference.len()
    }

    /// The log-odds that `landmarks` (`[u0, v0, …]`, image pixels) sit on a face in `image`.
    /// Non-finite landmarks or a degenerate shape give `-inf`. Allocates nothing once `scratch`
    /// has grown.
    pub fn log_odds(
        &self,
        image: &GrayImage,
        landmarks: &[f64],
        scratch: &mut ConfidenceScratch,
    ) -> f32 {
        if !self.sample(image, landmarks, &mut scratch.values) {
            return f32::NEG_INFINITY;
        }
        self.log_odds_of(&scratch.values)
    }

    /// The confidence, 0–1: the logistic of [`Self::log_odds`].
    pub fn score(
        &self,
        image: &GrayImage,
        landmarks: &[f64],
        scratch: &mut ConfidenceScratch,
    ) -> f64 {
        logistic(self.log_odds(image, landmarks, scratch))
    }

    /// The log-odds of already sampled, normalised values (training and tests).
    pub fn log_odds_of(&self, values: &[f32]) -> f32 {
        self.bias + self.trees.iter().map(|t| t.eval(values)).sum::<f32>()
    }

    /// Reads the normalised grey levels at the sample points into `values`; `false` when the shape
    /// is unusable (wrong length, not finite, collapsed to a point).
    pub fn sample(&self, image: &GrayImage, landmarks: &[f64], values: &mut Vec<f32>) -> bool {
        sample_points(&self.reference, &self.points, image, landmarks, values)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [
            self.reference.len(),
            self.points.len(),
            self.depth,
            self.trees.len(),
        ] {
            b.extend_from_slice(&(v as u32).to_le_bytes());
        }
        b.extend_from_slice(&self.bias.to_le_bytes());
        for r in &self.reference {
            b.extend_from_slice(&r[0].to_le_bytes());
            b.extend_from_slice(&r[1].to_le_bytes());
        }
        for p in &self.points {
            b.extend_from_slice(&p.anchor.to_le_bytes());
            b.extend_from_slice(&p.offset[0].to_le_bytes());
            b.extend_from_slice(&p.offset[1].to_le_bytes());
        }
        for t in &self.trees {
            for s in &t.splits {
                b.extend_from_slice(&s.a.to_le_bytes());
                b.extend_from_slice(&s.b.to_le_bytes());
                b.extend_from_slice(&s.threshold.to_le_bytes());
            }
            for l in &t.leaves {
                b.extend_from_slice(&l.to_le_bytes());
            }
        }
        frame(MAGIC, VERSION, &b)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ConfidenceFileError> {
        let body = check_frame(bytes, MAGIC, VERSION).map_err(|e| match e {
            FrameError::Magic => ConfidenceFileError::Magic,
            FrameError::Short { len } => ConfidenceFileError::Truncated(len),
            FrameError::Version(v) => ConfidenceFileError::Version(v),
            FrameError::Checksum => ConfidenceFileError::Checksum,
        })?;
        let mut r = PayloadReader::new(body);
        let n_landmarks = r.u32()? as usize;
        let n_points = r.u32()? as usize;
        let depth = r.u32()? as usize;
        let n_trees = r.u32()? as usize;
        let invalid = |what: String| Err(ConfidenceFileError::Invalid(what));
        if !(2..=MAX_LANDMARKS).contains(&n_landmarks) {
            return invalid(format!("{n_landmarks} landmarks"));
        }
        if !(2..=MAX_POINTS).contains(&n_points) {
            return invalid(format!("{n_points} sample points"));
        }
        if !(1..=MAX_DEPTH).contains(&depth) || n_trees > MAX_TREES {
            return invalid(format!("{n_trees} trees of depth {depth}"));
        }
        let n_splits = (1 << depth) - 1;
        let n_leaves = 1 << depth;
        let needed = 8 * n_landmarks + 10 * n_points + n_trees * (8 * n_splits + 4 * n_leaves);
        if r.need(4 + needed).is_err() {
            return Err(ConfidenceFileError::Truncated(body.len()));
        }
        let bias = r.f32()?;
        let mut reference = Vec::with_capacity(n_landmarks);
        for _ in 0..n_landmarks {
            reference.push([r.f32()?, r.f32()?]);
        }
        let mut points = Vec::with_capacity(n_points);
        for _ in 0..n_points {
            let anchor = r.u16()?;
            if anchor as usize >= n_landmarks {
                return invalid(format!("a sample point hangs off landmark {anchor}"));
            }
            points.push(SamplePoint {
                anchor,
                offset: [r.f32()?, r.f32()?],
            });
        }
        let mut trees = Vec::with_capacity(n_trees);
        for _ in 0..n_trees {
            let mut splits = Vec::with_capacity(n_splits);
            for _ in 0..n_splits {
                let (a, b, threshold) = (r.u16()?, r.u16()?, r.f32()?);
                if a as usize >= n_points || b as usize >= n_points {
                    return invalid(format!("a split reads sample point {}", a.max(b)));
                }
                splits.push(Split { a, b, threshold });
            }
            let mut leaves = Vec::with_capacity(n_leaves);
            for _ in 0..n_leaves {
                leaves.push(r.f32()?);
            }
            trees.push(Tree { splits, leaves });
        }
        let finite = bias.is_finite()
            && reference.iter().flatten().all(|v| v.is_finite())
            && points
                .iter()
                .all(|p| p.offset.iter().all(|v| v.is_finite()))
            && trees.iter().all(|t| {
                t.leaves.iter().all(|v| v.is_finite())
                    && t.splits.iter().all(|s| !s.threshold.is_nan())
            });
        if !finite {
            return invalid("a value is not finite".into());
        }
        if r.remaining() != 0 {
            return invalid(format!("{} unexpected bytes at the end", r.remaining()));
        }
        Ok(Self {
            reference,
            points,
            depth,
            bias,
            trees,
        })
    }
}

pub fn logistic(x: f32) -> f64 {
    1.0 / (1.0 + (-f64::from(x)).exp())
}

/// The least-squares similarity `[a −b; b a]` (a rotation and a scale) from the centred
/// `reference` to the centred `landmarks`, and the landmarks' centre; `None` when degenerate.
fn similarity(reference: &[[f32; 2]], landmarks: &[f64]) -> Option<(f64, f64)> {
    let n = reference.len();
    let (mut cx, mut cy) = (0.0, 0.0);
    for c in landmarks.chunks_exact(2) {
        cx += c[0];
        cy += c[1];
    }
    cx /= n as f64;
    cy /= n as f64;
    let (mut num_a, mut num_b, mut den) = (0.0, 0.0, 0.0);
    for (r, c) in reference.iter().zip(landmarks.chunks_exact(2)) {
        let (rx, ry) = (f64::from(r[0]), f64::from(r[1]));
        let (x, y) = (c[0] - cx, c[1] - cy);
        num_a += rx * x + ry * y;
        num_b += rx * y - ry * x;
        den += rx * rx + ry * ry;
    }
    let (a, b) = (num_a / den, num_b / den);
    (a.is_finite() && b.is_finite() && a.hypot(b) > 1e-6).then_some((a, b))
}

/// Reads the grey levels at `points` placed on `landmarks` and normalises them by their mean and
/// spread. Points outside the image read the mean (0 after normalising).
pub fn sample_points(
    reference: &[[f32; 2]],
    points: &[SamplePoint],
    image: &GrayImage,
    landmarks: &[f64],
    values: &mut Vec<f32>,
) -> bool {
    values.clear();
    if landmarks.len() != 2 * reference.len() || landmarks.iter().any(|v| !v.is_finite()) {
        return false;
    }
    let Some((a, b)) = similarity(reference, landmarks) else {
        return false;
    };
    let (w, h) = (image.width() as f64, image.height() as f64);
    let pixels = image.pixels();
    let (mut sum, mut sum2, mut n) = (0.0f32, 0.0f32, 0u32);
    for p in points {
        let j = p.anchor as usize;
        let (dx, dy) = (f64::from(p.offset[0]), f64::from(p.offset[1]));
        let x = landmarks[2 * j] + a * dx - b * dy;
        let y = landmarks[2 * j + 1] + b * dx + a * dy;
        // NaN for a point outside: filled with the mean below.
        let v = if x >= -0.5 && y >= -0.5 && x < w - 0.5 && y < h - 0.5 {
            let at = (y + 0.5) as usize * image.width() + (x + 0.5) as usize;
            let g = f32::from(pixels[at]);
            sum += g;
            sum2 += g * g;
            n += 1;
            g
        } else {
            f32::NAN
        };
        values.push(v);
    }
    if n == 0 {
        values.iter_mut().for_each(|v| *v = 0.0);
        return true;
    }
    let mean = sum / n as f32;
    let spread = (sum2 / n as f32 - mean * mean).max(0.0).sqrt() + SPREAD_FLOOR;
    for v in values.iter_mut() {
        *v = if v.is_nan() {
            0.0
        } else {
            (*v - mean) / spread
        };
    }
    true
}

impl From<PastEnd> for ConfidenceFileError {
    fn from(e: PastEnd) -> Self {
        Self::Truncated(e.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> FitConfidence {
        FitConfidence {
            reference: vec![[-1.0, 0.0], [1.0, 0.0]],
            points: vec![
                SamplePoint {
                    anchor: 0,
                    offset: [0.0, 0.0],
                },
                SamplePoint {
                    anchor: 1,
                    offset: [0.0, 0.0],
                },
            ],
            depth: 1,
            bias: -1.0,
            trees: vec![Tree {
                splits: vec![Split {
                    a: 0,
                    b: 1,
                    threshold: 0.0,
                }],
                leaves: vec![3.0, -2.0],
            }],
        }
    }

    #[test]
    fn file_round_trips_and_refuses_damage() {
        let c = toy();
        let bytes = c.to_bytes();
        assert_eq!(FitConfidence::from_bytes(&bytes), Ok(c));
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert_eq!(
            FitConfidence::from_bytes(&flipped),
            Err(ConfidenceFileError::Checksum)
        );
        assert!(FitConfidence::from_bytes(&bytes[..bytes.len() - 6]).is_err());
        assert_eq!(
            FitConfidence::from_bytes(b"FTCASC\r\n\x01\0\0\0"),
            Err(ConfidenceFileError::Magic)
        );
    }

    #[test]
    fn a_dark_left_point_reads_as_the_first_leaf() {
        let c = toy();
        let mut px = vec![200u8; 100];
        px[5 * 10 + 2] = 10; // dark at (2, 5)
        let img = GrayImage::from_raw(10, 10, px).unwrap();
        let mut s = ConfidenceScratch::default();
        let dark_left = c.log_odds(&img, &[2.0, 5.0, 7.0, 5.0], &mut s);
        assert_eq!(dark_left, 2.0);
        // The same shape turned round puts the dark pixel on the right.
        let dark_right = c.log_odds(&img, &[7.0, 5.0, 2.0, 5.0], &mut s);
        assert_eq!(dark_right, -3.0);
        assert_eq!(
            c.log_odds(&img, &[f64::NAN, 5.0, 7.0, 5.0], &mut s),
            f32::NEG_INFINITY
        );
        assert_eq!(
            c.log_odds(&img, &[3.0, 3.0, 3.0, 3.0], &mut s),
            f32::NEG_INFINITY
        );
    }
}
