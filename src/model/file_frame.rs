//! The frame of facetrack's trained model files (the regressor cascades, the fit confidence):
//! 8 magic bytes, a u32 format version, the payload, and a CRC-32 (IEEE) of every byte before
//! it. The frame is checked — in that order — before any payload is read.

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
