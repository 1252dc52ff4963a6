//! facetrack's own landmark cascade as a file, and its expansion into the evaluator.
//!
//! The file keeps each leaf as 16-bit coefficients in its stage's residual basis (see
//! `ert_training`): about a twentieth of dlib's float leaves. Loading multiplies them out into
//! full leaf vectors, so evaluation runs the same code, at the same speed, as dlib's model.
//!
//! Layout (little-endian, inside the frame of `model::file_frame`): landmarks, stages, depth
//! (u32); the mean shape (f32 × 2·landmarks); then per stage: feature pixels P, trees T, basis
//! dimensions B (u32); the leaf scale (f32); P anchors (u16); P offsets (f32 × 2); the basis
//! (f32 × B × 2·landmarks); T × (2^depth − 1) splits (u16, u16, f32); T × 2^depth × B leaf
//! coefficients (i16).

use thiserror::Error;

use super::ert::{ShapePredictor, StageParts};
use crate::model::file_frame::{FrameError, PastEnd, PayloadReader, check_frame, frame};

pub const MAGIC: &[u8; 8] = b"FTERT3D\n";
pub const VERSION: u32 = 1;

/// A split node, `(idx1, idx2, thresh)`: go left when `f[idx1] − f[idx2] > thresh`.
pub type TreeSplit = (u16, u16, f32);

/// A trained cascade as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedErt {
    pub n_landmarks: usize,
    /// The mean shape, box-normalised, interleaved x, y.
    pub initial: Vec<f32>,
    pub depth: usize,
    pub stages: Vec<TrainedStage>,
}

/// One stage as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedStage {
    pub anchors: Vec<u16>,
    pub deltas: Vec<[f32; 2]>,
    /// `B × 2·landmarks`, row-major: the directions the leaves move the shape along.
    pub basis: Vec<f32>,
    /// A leaf coefficient `q` means `q · scale` along its basis direction.
    pub scale: f32,
    pub splits: Vec<TreeSplit>,
    pub leaves: Vec<i16>,
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ErtFileError {
    #[error("not a facetrack landmark cascade (wrong magic bytes)")]
    Magic,
    #[error("truncated: {0} bytes")]
    Truncated(usize),
    #[error("format version {0}; this program reads version {VERSION}")]
    Version(u32),
    #[error("checksum mismatch: the file is damaged")]
    Checksum,
    #[error("inconsistent cascade: {0}")]
    Inconsistent(String),
}

impl From<PastEnd> for ErtFileError {
    fn from(e: PastEnd) -> Self {
        Self::Truncated(e.len)
    }
}

impl TrainedStage {
    fn dims(&self, coords: usize) -> usize {
        self.basis.len() / coords.max(1)
    }
}

impl TrainedErt {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        let u32_ = |b: &mut Vec<u8>, v: usize| b.extend_from_slice(&(v as u32).to_le_bytes());
        let coords = 2 * self.n_landmarks;
        u32_(&mut b, self.n_landmarks);
        u32_(&mut b, self.stages.len());
        u32_(&mut b, self.depth);
        for v in &self.initial {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let spt = (1usize << self.depth) - 1;
        for s in &self.stages {
            u32_(&mut b, s.anchors.len());
            u32_(&mut b, s.splits.len() / spt.max(1));
            u32_(&mut b, s.dims(coords));
            b.extend_from_slice(&s.scale.to_le_bytes());
            for a in &s.anchors {
                b.extend_from_slice(&a.to_le_bytes());
            }
            for v in s.deltas.iter().flatten().chain(&s.basis) {
                b.extend_from_slice(&v.to_le_bytes());
            }
            for &(i, j, t) in &s.splits {
                b.extend_from_slice(&i.to_le_bytes());
                b.extend_from_slice(&j.to_le_bytes());
                b.extend_from_slice(&t.to_le_bytes());
            }
            for q in &s.leaves {
                b.extend_from_slice(&q.to_le_bytes());
            }
        }
        frame(MAGIC, VERSION, &b)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ErtFileError> {
        let body = check_frame(bytes, MAGIC, VERSION).map_err(|e| match e {
            FrameError::Magic => ErtFileError::Magic,
            FrameError::Short { len } => ErtFileError::Truncated(len),
            FrameError::Version(v) => ErtFileError::Version(v),
            FrameError::Checksum => ErtFileError::Checksum,
        })?;
        let mut r = PayloadReader::new(body);
        let n_landmarks = r.count(2)?;
        let n_stages = r.count(12)?;
        let depth = r.u32()? as usize;
        if !(1..=10).contains(&depth) || n_landmarks < 2 || n_landmarks > usize::from(u16::MAX) {
            return Err(ErtFileError::Inconsistent(format!(
                "{n_landmarks} landmarks, trees of depth {depth}"
            )));
        }
        let coords = 2 * n_landmarks;
        let initial = r.f32s(coords)?;
        let spt = (1usize << depth) - 1;
        let mut stages = Vec::with_capacity(n_stages);
        for _ in 0..n_stages {
            let p = r.count(10)?;
            let trees = r.count(8 * spt)?;
            let dims = r.count(4 * coords)?;
            let scale = r.f32()?;
            let anchors = (0..p).map(|_| r.u16()).collect::<Result<Vec<_>, _>>()?;
            let flat = r.f32s(2 * p)?;
            let deltas = flat.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
            let basis = r.f32s(dims * coords)?;
            let splits = (0..trees * spt)
                .map(|_| Ok((r.u16()?, r.u16()?, r.f32()?)))
                .collect::<Result<Vec<_>, ErtFileError>>()?;
            r.need(2 * trees * (spt + 1) * dims)?;
            let leaves = (0..trees * (spt + 1) * dims)
                .map(|_| r.i16())
                .collect::<Result<Vec<_>, _>>()?;
            if !(scale.is_finite() && basis.iter().all(|v| v.is_finite())) {
                return Err(ErtFileError::Inconsistent(
                    "a stage's basis or scale is not finite".into(),
                ));
            }
            stages.push(TrainedStage {
                anchors,
                deltas,
                basis,
                scale,
                splits,
                leaves,
            });
        }
        if r.remaining() != 0 {
            return Err(ErtFileError::Inconsistent(format!(
                "{} bytes after the last stage",
                r.remaining()
            )));
        }
        let ert = Self {
            n_landmarks,
            initial,
            depth,
            stages,
        };
        // Refuse here what expansion would refuse, so a loaded file always expands.
        ert.predictor()?;
        Ok(ert)
    }

    /// The cascade with its leaves multiplied out, ready to evaluate.
    pub fn predictor(&self) -> Result<ShapePredictor, ErtFileError> {
        let coords = 2 * self.n_landmarks;
        let expanded: Vec<Vec<f32>> = self
            .stages
            .iter()
            .map(|s| {
                let dims = s.dims(coords);
                let mut out = Vec::with_capacity(s.leaves.len() / dims.max(1) * coords);
                for q in s.leaves.chunks_exact(dims.max(1)) {
                    let mut leaf = vec![0.0f32; coords];
                    add_along(
                        &s.basis,
                        q.iter().map(|&qd| f32::from(qd) * s.scale),
                        &mut leaf,
                    );
                    out.extend_from_slice(&leaf);
                }
                out
            })
            .collect();
        let parts: Vec<StageParts<'_>> = self
            .stages
            .iter()
            .zip(&expanded)
            .map(|(s, leaves)| StageParts {
                anchors: &s.anchors,
                deltas: &s.deltas,
                splits: &s.splits,
                leaves,
            })
            .collect();
        ShapePredictor::from_parts(self.initial.clone(), self.depth, &parts)
            .map_err(ErtFileError::Inconsistent)
    }
}

/// `shape += Σ_d coefs[d] · basis[d]`: a move given in a stage's basis (`basis` row-major, one
/// row a direction), as training applies it and as a leaf is multiplied out.
pub(crate) fn add_along(basis: &[f32], coefs: impl IntoIterator<Item = f32>, shape: &mut [f32]) {
    let coords = shape.len();
    for (row, c) in basis.chunks_exact(coords).zip(coefs) {
        for (v, &b) in shape.iter_mut().zip(row) {
            *v += c * b;
        }
    }
}

/// Reads facetrack's landmark cascade file straight into an evaluator.
pub fn read_cascade(bytes: &[u8]) -> Result<ShapePredictor, ErtFileError> {
    TrainedErt::from_bytes(bytes)?.predictor()
}
