//! The frame of facetrack's trained model files (the regressor cascades, the fit confidence, the
//! landmark cascade): 8 magic bytes, a u32 format version, the payload, and a CRC-32 (IEEE) of
//! every byte before it. The frame is checked — in that order — before any payload is read, and
//! the payload is read by [`PayloadReader`].

/// What is wrong with a file's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The file does not start with the magic bytes.
    Magic,
    /// The file is shorter than the magic, version and checksum together.
    Short {
        len: usize,
    },
    /// Another format version.
    Version(u32),
    Checksum,
}

/// Bytes of the magic and the version: where the payload starts.
pub const PAYLOAD_START: usize = 12;

/// Checks the frame of `bytes`; returns the file less its checksum, the payload starting at
/// [`PAYLOAD_START`].
pub fn check_frame<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    version: u32,
) -> Result<&'a [u8], FrameError> {
    if bytes.len() < magic.len() || &bytes[..magic.len()] != magic {
        return Err(FrameError::Magic);
    }
    if bytes.len() < magic.len() + 8 {
        return Err(FrameError::Short { len: bytes.len() });
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let found = u32::from_le_bytes([body[8], body[9], body[10], body[11]]);
    if found != version {
        return Err(FrameError::Version(found));
    }
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(FrameError::Checksum);
    }
    Ok(body)
}

/// `payload` framed: magic, version, payload, checksum.
pub fn frame(magic: &[u8; 8], version: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(PAYLOAD_START + payload.len() + 4);
    b.extend_from_slice(magic);
    b.extend_from_slice(&version.to_le_bytes());
    b.extend_from_slice(payload);
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

/// A read past the end of a payload: at offset `at` of a payload of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastEnd {
    pub at: usize,
    pub len: usize,
}

/// Little-endian reads from a checked frame's payload, each refused past its end.
pub struct PayloadReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> PayloadReader<'a> {
    /// Reads `body` (what [`check_frame`] returns) from [`PAYLOAD_START`].
    pub fn new(body: &'a [u8]) -> Self {
        Self {
            bytes: body,
            at: PAYLOAD_START,
        }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn past_end(&self) -> PastEnd {
        PastEnd {
            at: self.at,
            len: self.bytes.len(),
        }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], PastEnd> {
        let s = self
            .bytes
            .get(self.at..self.at + N)
            .ok_or(self.past_end())?;
        self.at += N;
        let mut out = [0; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Refused unless `bytes` more are left.
    pub fn need(&self, bytes: usize) -> Result<(), PastEnd> {
        if self.remaining() < bytes {
            Err(self.past_end())
        } else {
            Ok(())
        }
    }

    /// A count (u32) of things taking at least `bytes` each: refused when the rest cannot hold
    /// them, so a damaged count never allocates.
    pub fn count(&mut self, bytes: usize) -> Result<usize, PastEnd> {
        let n = self.u32()? as usize;
        self.need(n.saturating_mul(bytes))?;
        Ok(n)
    }

    pub fn u16(&mut self) -> Result<u16, PastEnd> {
        self.take().map(u16::from_le_bytes)
    }

    pub fn i16(&mut self) -> Result<i16, PastEnd> {
        self.take().map(i16::from_le_bytes)
    }

    pub fn u32(&mut self) -> Result<u32, PastEnd> {
        self.take().map(u32::from_le_bytes)
    }

    pub fn f32(&mut self) -> Result<f32, PastEnd> {
        self.take().map(f32::from_le_bytes)
    }

    /// `n` f32 values, checked against the bytes left before anything is allocated.
    pub fn f32s(&mut self, n: usize) -> Result<Vec<f32>, PastEnd> {
        self.need(n.saturating_mul(4))?;
        (0..n).map(|_| self.f32()).collect()
    }
}
