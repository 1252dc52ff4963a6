//! Still images from files.
//!
//! JPEG goes through libjpeg-turbo (the `turbojpeg` crate, built from its bundled source) rather
//! than a pure-Rust decoder: dlib's landmark cascade compares pairs of pixels against thresholds,
//! and the ±3 grey-level differences between JPEG decoders move its output by several pixels.
//! libjpeg-turbo's default decode (accurate integer IDCT, smooth chroma upsampling) is what Pillow
//! and dlib's own tools see. Other formats go through the `image` crate.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// An interleaved 8-bit RGB image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

#[derive(Debug, Error)]
pub enum ImageFileError {
    #[error("cannot read image {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot decode image {path}: {reason} (is it a valid JPEG, PNG, PPM/PGM or BMP file?)")]
    Decode { path: PathBuf, reason: String },
}

const EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "ppm", "pgm", "pnm", "bmp"];

/// Whether a path names a file this module can read, judged by its extension.
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Reads and decodes an image file into RGB.
pub fn load_rgb(path: &Path) -> Result<RgbImage, ImageFileError> {
    let bytes = std::fs::read(path).map_err(|source| ImageFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode_rgb(&bytes).map_err(|reason| ImageFileError::Decode {
        path: path.to_owned(),
        reason,
    })
}

fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, String> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return decode_jpeg(bytes);
    }
    let img = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    let rgb = img.to_rgb8();
    Ok(RgbImage {
        width: rgb.width() as usize,
        height: rgb.height() as usize,
        data: rgb.into_raw(),
    })
}

fn decode_jpeg(bytes: &[u8]) -> Result<RgbImage, String> {
    let img =
        turbojpeg::decompress(bytes, turbojpeg::PixelFormat::RGB).map_err(|e| e.to_string())?;
    if img.width == 0 || img.height == 0 {
        return Err("image has no pixels".into());
    }
    // turbojpeg pads rows only when asked to; with the default pitch they are tight.
    debug_assert_eq!(img.pitch, img.width * 3);
    Ok(RgbImage {
        width: img.width,
        height: img.height,
        data: img.pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [
            ("a.jpg", &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3][..]),
            ("b.png", b"\x89PNG\r\n\x1a\nnot really"),
            ("c.jpg", b""),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let err = load_rgb(&p).unwrap_err();
            assert!(
                matches!(err, ImageFileError::Decode { .. }),
                "{name}: {err}"
            );
            assert!(err.to_string().contains(name));
        }
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let err = load_rgb(Path::new("/no/such/face.jpg")).unwrap_err();
        assert!(matches!(err, ImageFileError::Io { .. }));
        assert!(err.to_string().contains("/no/such/face.jpg"));
    }
}
