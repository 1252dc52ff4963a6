//! The trained regressor cascades of PRM and PARM: one affine map per stage, and their file.

use nalgebra::{DMatrix, DVector};
use thiserror::Error;

use crate::model::file_frame::{FrameError, PAYLOAD_START, check_frame, frame};

use super::box_frame::ColdStart;

/// `y = W x + b`, `W` row-major in f32 (the map is applied every stage of every frame; f32 halves
/// the memory it streams and lets the dot products vectorise).
#[derive(Debug, Clone, PartialEq)]
pub struct AffineMap {
    n_in: usize,
    n_out: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl AffineMap {
    pub fn new(weights: DMatrix<f64>, bias: DVector<f64>) -> Self {
        let (n_out, n_in) = weights.shape();
        let mut w = Vec::with_capacity(n_out * n_in);
        for r in 0..n_out {
            w.extend(weights.row(r).iter().map(|&v| v as f32));
        }
        Self {
            n_in,
            n_out,
            weights: w,
            bias: bias.iter().map(|&v| v as f32).collect(),
        }
    }

    pub fn n_in(&self) -> usize {
        self.n_in
    }

    pub fn n_out(&self) -> usize {
        self.n_out
    }

    /// Writes `W x + b` into `out`.
    pub fn apply(&self, x: &[f64], out: &mut [f64]) {
        assert_eq!(x.len(), self.n_in, "regressor input length");
        assert_eq!(out.len(), self.n_out, "regressor output length");
        for ((o, row), &b) in out
            .iter_mut()
            .zip(self.weights.chunks_exact(self.n_in))
            .zip(&self.bias)
        {
            *o = f64::from(b) + dot(row, x);
        }
    }
}

#[inline]
fn dot(w: &[f32], x: &[f64]) -> f64 {
    // Eight independent partial sums let the compiler keep the lanes of a vector register busy.
    let mut acc = [0.0f64; 8];
    let (wc, wr) = w.split_at(w.len() / 8 * 8);
    let (xc, xr) = x.split_at(wc.len());
    for (wb, xb) in wc.chunks_exact(8).zip(xc.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += f64::from(wb[l]) * xb[l];
        }
    }
    let mut s: f64 = acc.iter().sum();
    for (a, b) in wr.iter().zip(xr) {
        s += f64::from(*a) * b;
    }
    s
}

/// PRM or PARM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegressorKind {
    Prm,
    Parm,
    /// PARM whose landmark term is gated by the yaw ([`super::parm_by_pose`]).
    ParmByPose,
}

/// What a cascade was trained to start from. Cascades of either role have the same shape, so the
/// file carries its role: a tracking cascade loaded where a box's first fit is expected (or the
/// other way round) would fit, badly, without a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegressorRole {
    /// From the cold start in a face box (a still image, a new detection).
    Acquire,
    /// From the previous frame's fit.
    Track,
}

impl RegressorKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Prm => "PRM",
            Self::Parm => "PARM",
            Self::ParmByPose => "PARM (by pose)",
        }
    }

    /// Whether it is PARM, of either form: both fit the same parameters from the same starts.
    pub fn is_parm(self) -> bool {
        matches!(self, Self::Parm | Self::ParmByPose)
    }
}

impl RegressorRole {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Acquire => "first fit in a face box",
            Self::Track => "tracking from the last frame's fit",
        }
    }
}

/// A trained PRM or PARM cascade: how many coefficients it fits, where it starts, and one map a
/// stage.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressorCascade {
    pub kind: RegressorKind,
    pub role: RegressorRole,
    pub n_id: usize,
    pub n_exp: usize,
    /// Whether the landmark updates of landmarks the model says are hidden are zeroed before
    /// regression (decided by validation at training time).
    pub hide_invisible: bool,
    /// The training means of the normalised scale and translation: the cold start (§4.2).
    pub cold: ColdStart,
    pub stages: Vec<AffineMap>,
}

impl RegressorCascade {
    pub fn n_params(&self) -> usize {
        crate::model::Params::N_POSE + self.n_id + self.n_exp
    }

    /// Length of a stage's input for `n_landmarks` landmarks.
    pub fn n_features(kind: RegressorKind, n_landmarks: usize, n_params: usize) -> usize {
        match kind {
            RegressorKind::Prm => 2 * n_landmarks,
            RegressorKind::Parm => 2 * n_landmarks + n_params,
            RegressorKind::ParmByPose => super::parm_by_pose::n_features(2 * n_landmarks, n_params),
        }
    }
}

pub const MAGIC: &[u8; 8] = b"FTCASC\r\n";
/// 2 added the role.
pub const VERSION: u32 = 2;

#[derive(Debug, Error, PartialEq)]
pub enum RegressorFileError {
    #[error("not a facetrack regressor file (wrong magic bytes)")]
    Magic,
    #[error("regressor file version {0}, this build reads version {VERSION}")]
    Version(u32),
    #[error("the file is truncated (needs {needed} bytes at offset {at}, has {len})")]
    Truncated {
        at: usize,
        needed: usize,
        len: usize,
    },
    #[error("checksum mismatch: the file is corrupt")]
    Checksum,
    #[error("inconsistent content: {0}")]
    Invalid(String),
}

impl RegressorCascade {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        let kind: u32 = match self.kind {
            RegressorKind::Prm => 0,
            RegressorKind::Parm => 1,
            RegressorKind::ParmByPose => 2,
        };
        let role: u32 = match self.role {
            RegressorRole::Acquire => 0,
            RegressorRole::Track => 1,
        };
        for v in [
            kind,
            role,
            self.n_id as u32,
            self.n_exp as u32,
            u32::from(self.hide_invisible),
            self.stages.len() as u32,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.cold.scale, self.cold.tx, self.cold.ty] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for s in &self.stages {
            b.extend_from_slice(&(s.n_in as u32).to_le_bytes());
            b.extend_from_slice(&(s.n_out as u32).to_le_bytes());
            for v in s.weights.iter().chain(&s.bias) {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        frame(MAGIC, VERSION, &b)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RegressorFileError> {
        let body = check_frame(bytes, MAGIC, VERSION).map_err(|e| match e {
            FrameError::Magic => RegressorFileError::Magic,
            FrameError::Short { len } => RegressorFileError::Truncated {
                at: MAGIC.len(),
                needed: 8,
                len,
            },
            FrameError::Version(v) => RegressorFileError::Version(v),
            FrameError::Checksum => RegressorFileError::Checksum,
        })?;
        let mut r = Reader {
            b: body,
            at: PAYLOAD_START,
        };
        let kind = match r.u32()? {
            0 => RegressorKind::Prm,
            1 => RegressorKind::Parm,
            2 => RegressorKind::ParmByPose,
            k => {
                return Err(RegressorFileError::Invalid(format!(
                    "unknown regressor kind {k}"
                )));
            }
        };
        let role = match r.u32()? {
            0 => RegressorRole::Acquire,
            1 => RegressorRole::Track,
            k => {
                return Err(RegressorFileError::Invalid(format!(
                    "unknown regressor role {k}"
                )));
            }
        };
        let n_id = r.u32()? as usize;
        let n_exp = r.u32()? as usize;
        let hide_invisible = r.u32()? != 0;
        let n_stages = r.u32()? as usize;
        let cold = ColdStart {
            scale: r.f64()?,
            tx: r.f64()?,
            ty: r.f64()?,
        };
        let mut stages = Vec::new();
        for _ in 0..n_stages {
            let n_in = r.u32()? as usize;
            let n_out = r.u32()? as usize;
            if n_out != crate::model::Params::N_POSE + n_id + n_exp {
                return Err(RegressorFileError::Invalid(format!(
                    "a stage gives {n_out} parameters, the cascade fits {}",
                    6 + n_id + n_exp
                )));
            }
            let weights = r.f32s(
                n_in.checked_mul(n_out)
                    .ok_or_else(|| RegressorFileError::Invalid("size overflow".into()))?,
            )?;
            let bias = r.f32s(n_out)?;
            stages.push(AffineMap {
                n_in,
                n_out,
                weights,
                bias,
            });
        }
        if r.at != body.len() {
            return Err(RegressorFileError::Invalid(format!(
                "{} unexpected bytes at the end",
                body.len() - r.at
            )));
        }
        Ok(Self {
            kind,
            role,
            n_id,
            n_exp,
            hide_invisible,
            cold,
            stages,
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], RegressorFileError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(RegressorFileError::Truncated {
                at: self.at,
                needed: n,
                len: self.b.len(),
            })?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, RegressorFileError> {
        Ok(u32::from_le_bytes(
            self.take(4)?
                .try_into()
                .map_err(|_| RegressorFileError::Magic)?,
        ))
    }
    fn f64(&mut self) -> Result<f64, RegressorFileError> {
        Ok(f64::from_le_bytes(
            self.take(8)?
                .try_into()
                .map_err(|_| RegressorFileError::Magic)?,
        ))
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, RegressorFileError> {
        // Checked against the bytes left before allocating, so a corrupt count cannot ask for gigabytes.
        let raw = self.take(n.checked_mul(4).ok_or(RegressorFileError::Truncated {
            at: self.at,
            needed: usize::MAX,
            len: self.b.len(),
        })?)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RegressorCascade {
        let map = AffineMap::new(
            DMatrix::from_fn(8, 3, |r, c| (r * 3 + c) as f64 * 0.5),
            DVector::from_element(8, 1.5),
        );
        RegressorCascade {
            kind: RegressorKind::Parm,
            role: RegressorRole::Track,
            n_id: 1,
            n_exp: 1,
            hide_invisible: true,
            cold: ColdStart {
                scale: 0.9,
                tx: 0.01,
                ty: 0.1,
            },
            stages: vec![map.clone(), map],
        }
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let c = sample();
        let bytes = c.to_bytes();
        assert_eq!(RegressorCascade::from_bytes(&bytes).unwrap(), c);
        for cut in [0, 5, 12, 40, bytes.len() - 1] {
            assert!(
                RegressorCascade::from_bytes(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut flipped = bytes.clone();
        flipped[60] ^= 0x10;
        assert_eq!(
            RegressorCascade::from_bytes(&flipped),
            Err(RegressorFileError::Checksum)
        );
    }

    #[test]
    fn affine_map_applies() {
        let c = sample();
        let mut out = [0.0; 8];
        c.stages[0].apply(&[1.0, 2.0, 3.0], &mut out);
        assert_eq!(out[1], 1.5 + 1.5 * 1.0 + 2.0 * 2.0 + 2.5 * 3.0);
    }
}
