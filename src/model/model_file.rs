//! The binary model file (`models/face_model.bin`): everything a [`MorphableModel`] holds, in a
//! fixed little-endian layout, checked on reading so that a damaged file gives an error rather
//! than a panic or a huge allocation.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "FT3DMM\r\n" (the CR LF catches text-mode transfers)
//!      8     4  format version, u32 = 1
//!     12    20  u32 each: n_landmarks L, n_vertices V, n_triangles T, n_id, n_exp
//!     32        f32: σ_id [n_id], σ_exp [n_exp]
//!               f32: landmark mean [3L], identity basis [3L × n_id], expression basis [3L × n_exp]
//!               u32: landmark vertices [L]
//!               f32: dense mean [3V], identity basis [3V × n_id], expression basis [3V × n_exp]
//!               u32: triangles [3T]
//!               f32: texture coordinates [2V]
//!   end−4     4  CRC-32 (IEEE) of every byte before it
//! ```
//!
//! Bases are row-major (one row per coordinate of a point, `[x0, y0, z0, x1, …]`) and already
//! multiplied by σ, so they take unit-variance coefficients.

use thiserror::Error;

use super::morphable_model::{ModelError, ModelParts, MorphableModel, ShapeModel};

pub const MAGIC: &[u8; 8] = b"FT3DMM\r\n";
pub const VERSION: u32 = 1;
/// The name the model is committed and searched under.
pub const MODEL_FILE_NAME: &str = "face_model.bin";
/// What to tell a user whose model file is missing or damaged.
pub const MODEL_HINT: &str = "the committed models/face_model.bin is the one to use; rebuild it with \
     `facetrack build-model --data ../shared/data --out models/`";

const HEADER_LEN: usize = 32;
const CRC_LEN: usize = 4;

#[derive(Debug, Error, PartialEq)]
pub enum ModelFileError {
    #[error("not a facetrack model file (it does not start with the model file signature)")]
    BadMagic,
    #[error("model file format version {found}, this program reads version {VERSION}")]
    UnsupportedVersion { found: u32 },
    #[error("model file is truncated: {found} bytes, at least {needed} needed")]
    Truncated { found: usize, needed: u64 },
    #[error("model file has {found} bytes, but its header describes {expected}")]
    WrongLength { found: usize, expected: u64 },
    #[error("model file is corrupt: checksum {computed:08x}, stored {stored:08x}")]
    Checksum { stored: u32, computed: u32 },
    #[error("model file header gives absurd dimensions ({0})")]
    AbsurdDimensions(String),
    #[error("model file content is inconsistent: {0}")]
    Inconsistent(#[from] ModelError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dims {
    n_lm: usize,
    n_v: usize,
    n_tri: usize,
    n_id: usize,
    n_exp: usize,
}

impl Dims {
    fn of(model: &MorphableModel) -> Self {
        Self {
            n_lm: model.n_landmarks(),
            n_v: model.n_vertices(),
            n_tri: model.triangles().len(),
            n_id: model.n_id(),
            n_exp: model.n_exp(),
        }
    }

    /// Number of 4-byte words in the payload, computed without overflow.
    fn payload_words(&self) -> Option<u64> {
        let (l, v, t, i, e) = (
            self.n_lm as u64,
            self.n_v as u64,
            self.n_tri as u64,
            self.n_id as u64,
            self.n_exp as u64,
        );
        let per_point = 1u64.checked_add(i)?.checked_add(e)?.checked_mul(3)?;
        let landmark = l.checked_mul(per_point)?.checked_add(l)?;
        let dense = v.checked_mul(per_point)?.checked_add(v.checked_mul(2)?)?;
        i.checked_add(e)?
            .checked_add(landmark)?
            .checked_add(dense)?
            .checked_add(t.checked_mul(3)?)
    }

    fn file_len(&self) -> Option<u64> {
        self.payload_words()?
            .checked_mul(4)?
            .checked_add((HEADER_LEN + CRC_LEN) as u64)
    }
}

impl MorphableModel {
    /// The file's bytes; the same model always gives the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let d = Dims::of(self);
        let len = d.file_len().unwrap_or(0) as usize;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(MAGIC);
        for v in [
            VERSION,
            d.n_lm as u32,
            d.n_v as u32,
            d.n_tri as u32,
            d.n_id as u32,
            d.n_exp as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let f32s = |out: &mut Vec<u8>, v: &[f32]| {
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()))
        };
        let u32s = |out: &mut Vec<u8>, v: &[u32]| {
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()))
        };
        f32s(&mut out, self.sigma_id());
        f32s(&mut out, self.sigma_exp());
        let shape = |out: &mut Vec<u8>, s: &ShapeModel| {
            f32s(out, s.mean());
            f32s(out, s.identity_basis());
            f32s(out, s.expression_basis());
        };
        shape(&mut out, self.landmarks());
        u32s(&mut out, self.landmark_vertices());
        shape(&mut out, self.dense());
        u32s(&mut out, self.triangles().as_flattened());
        f32s(&mut out, self.uv().as_flattened());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a model file's bytes, checking signature, version, length, checksum and content.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelFileError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(ModelFileError::BadMagic);
        }
        if bytes.len() < HEADER_LEN + CRC_LEN {
            return Err(ModelFileError::Truncated {
                found: bytes.len(),
                needed: (HEADER_LEN + CRC_LEN) as u64,
            });
        }
        let word =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let version = word(8);
        if version != VERSION {
            return Err(ModelFileError::UnsupportedVersion { found: version });
        }
        let d = Dims {
            n_lm: word(12) as usize,
            n_v: word(16) as usize,
            n_tri: word(20) as usize,
            n_id: word(24) as usize,
            n_exp: word(28) as usize,
        };
        // Every array is at least as long as its dimension, so a length that matches the file's
        // bounds all allocations by the file's own size.
        let expected = d.file_len().ok_or_else(|| {
            ModelFileError::AbsurdDimensions(format!(
                "{} landmarks, {} vertices, {} triangles, {} identity and {} expression dimensions",
                d.n_lm, d.n_v, d.n_tri, d.n_id, d.n_exp
            ))
        })?;
        if (bytes.len() as u64) < expected {
            return Err(ModelFileError::Truncated {
                found: bytes.len(),
                needed: expected,
            });
        }
        if bytes.len() as u64 != expected {
            return Err(ModelFileError::WrongLength {
                found: bytes.len(),
                expected,
            });
        }
        let body = bytes.len() - CRC_LEN;
        let stored = word(body);
        let computed = crc32fast::hash(&bytes[..body]);
        if stored != computed {
            return Err(ModelFileError::Checksum { stored, computed });
        }

        let mut r = Reader {
            bytes: &bytes[..body],
            at: HEADER_LEN,
        };
        let sigma_id = r.f32s(d.n_id);
        let sigma_exp = r.f32s(d.n_exp);
        let landmarks = r.shape(d.n_lm, d.n_id, d.n_exp)?;
        let landmark_vertices = r.u32s(d.n_lm);
        let dense = r.shape(d.n_v, d.n_id, d.n_exp)?;
        let triangles = r
            .u32s(3 * d.n_tri)
            .chunks_exact(3)
            .map(|t| [t[0], t[1], t[2]])
            .collect();
        let uv = r
            .f32s(2 * d.n_v)
            .chunks_exact(2)
            .map(|t| [t[0], t[1]])
            .collect();
        Ok(MorphableModel::new(ModelParts {
            landmarks,
            dense,
            landmark_vertices,
            triangles,
            uv,
            sigma_id,
            sigma_exp,
        })?)
    }
}

/// Sequential reads over a buffer whose length was checked against the header beforehand.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn words(&mut self, n: usize) -> impl Iterator<Item = [u8; 4]> + '_ {
        let slice = &self.bytes[self.at..self.at + 4 * n];
        self.at += 4 * n;
        slice.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]])
    }
    fn f32s(&mut self, n: usize) -> Vec<f32> {
        self.words(n).map(f32::from_le_bytes).collect()
    }
    fn u32s(&mut self, n: usize) -> Vec<u32> {
        self.words(n).map(u32::from_le_bytes).collect()
    }
    fn shape(
        &mut self,
        n_points: usize,
        n_id: usize,
        n_exp: usize,
    ) -> Result<ShapeModel, ModelError> {
        let mean = self.f32s(3 * n_points);
        let identity = self.f32s(3 * n_points * n_id);
        let expression = self.f32s(3 * n_points * n_exp);
        ShapeModel::new(n_points, n_id, n_exp, mean, identity, expression)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> MorphableModel {
        let lm = ShapeModel::new(
            2,
            1,
            1,
            vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            vec![0.5; 6],
            vec![-0.5; 6],
        )
        .unwrap();
        let dense = ShapeModel::new(
            3,
            1,
            1,
            vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            vec![0.5; 9],
            vec![-0.5; 9],
        )
        .unwrap();
        MorphableModel::new(ModelParts {
            landmarks: lm,
            dense,
            landmark_vertices: vec![0, 1],
            triangles: vec![[0, 1, 2]],
            uv: vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
            sigma_id: vec![2.0],
            sigma_exp: vec![3.0],
        })
        .unwrap()
    }

    #[test]
    fn round_trips() {
        let m = tiny();
        let bytes = m.to_bytes();
        assert_eq!(bytes.len() as u64, Dims::of(&m).file_len().unwrap());
        assert_eq!(MorphableModel::from_bytes(&bytes).unwrap(), m);
    }

    #[test]
    fn damaged_files_are_errors() {
        let bytes = tiny().to_bytes();
        assert_eq!(
            MorphableModel::from_bytes(&[]),
            Err(ModelFileError::BadMagic)
        );
        assert!(matches!(
            MorphableModel::from_bytes(&bytes[..bytes.len() - 1]),
            Err(ModelFileError::Truncated { .. })
        ));
        assert!(matches!(
            MorphableModel::from_bytes(&bytes[..20]),
            Err(ModelFileError::Truncated { .. })
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            MorphableModel::from_bytes(&longer),
            Err(ModelFileError::WrongLength { .. })
        ));
        let mut flipped = bytes.clone();
        flipped[40] ^= 0x10;
        assert!(matches!(
            MorphableModel::from_bytes(&flipped),
            Err(ModelFileError::Checksum { .. })
        ));
        let mut version = bytes.clone();
        version[8] = 7;
        assert_eq!(
            MorphableModel::from_bytes(&version),
            Err(ModelFileError::UnsupportedVersion { found: 7 })
        );
        // Every count at u32::MAX: the implied size overflows.
        let mut absurd = bytes[..HEADER_LEN].to_vec();
        absurd[12..32].fill(0xff);
        absurd.extend_from_slice(&[0; 4]);
        assert!(matches!(
            MorphableModel::from_bytes(&absurd),
            Err(ModelFileError::AbsurdDimensions(_))
        ));
        // A billion vertices: checked against the file's length before anything is allocated.
        absurd[12..32].fill(0);
        absurd[16..20].copy_from_slice(&1_000_000_000u32.to_le_bytes());
        assert!(matches!(
            MorphableModel::from_bytes(&absurd),
            Err(ModelFileError::Truncated { .. })
        ));
    }

    #[test]
    fn inconsistent_content_is_an_error_after_a_valid_checksum() {
        let mut bytes = tiny().to_bytes();
        // The last triangle index comes just before the six texture coordinates.
        let at = bytes.len() - CRC_LEN - 4 * 6 - 4;
        bytes[at..at + 4].copy_from_slice(&9u32.to_le_bytes());
        let crc = crc32fast::hash(&bytes[..bytes.len() - CRC_LEN]);
        let n = bytes.len();
        bytes[n - CRC_LEN..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            MorphableModel::from_bytes(&bytes),
            Err(ModelFileError::Inconsistent(ModelError::VertexOutOfRange {
                vertex: 9,
                ..
            }))
        ));
    }
}
