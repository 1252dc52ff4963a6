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
    let mut out = RgbImage::default();
    ImageDecoder::new()?.decode_into(bytes, &mut out)?;
    Ok(out)
}

/// Larger images are refused rather than allocated: a corrupt header (a damaged video frame, a
/// file that is not what its name says) can claim 65535×65535 pixels, 12 GB of RGB, and a PNG of
/// a few hundred kilobytes can hold 16000×16000. 50 megapixels takes a 48-megapixel phone photo;
/// decoding one and fitting it holds about 20 bytes a pixel, 1 GB, at most.
pub const MAX_PIXELS: usize = 50_000_000;

/// Decodes JPEG frames into a caller's buffer, one after another, with one libjpeg-turbo handle.
///
/// The same library call with the same (default) settings as [`load_rgb`], so a frame of a video
/// or a camera decodes bit-identically to the same JPEG read as a still image.
pub struct JpegDecoder {
    inner: turbojpeg::Decompressor,
}

impl JpegDecoder {
    pub fn new() -> Result<Self, String> {
        let inner = turbojpeg::Decompressor::new().map_err(|e| e.to_string())?;
        Ok(Self { inner })
    }

    /// Decodes `bytes` into `out`, resizing it to the JPEG's size; `out`'s buffer is reused, so
    /// nothing is allocated once it has held a frame this large. On an error `out`'s pixels are
    /// unspecified, and the decoder is ready for the next frame.
    pub fn decode_into(&mut self, bytes: &[u8], out: &mut RgbImage) -> Result<(), String> {
        let outcome = self.decode(bytes, out);
        if outcome.is_err() {
            // After some errors (a damaged start-of-frame marker, a 0×0 header) libjpeg-turbo's
            // handle refuses every later image, valid or not; a damaged frame of a webcam's
            // MJPEG stream must cost that frame alone.
            self.inner = turbojpeg::Decompressor::new().map_err(|e| e.to_string())?;
        }
        outcome
    }

    fn decode(&mut self, bytes: &[u8], out: &mut RgbImage) -> Result<(), String> {
        let header = self.inner.read_header(bytes).map_err(|e| e.to_string())?;
        let (width, height) = (header.width, header.height);
        if width == 0 || height == 0 {
            return Err("image has no pixels".into());
        }
        if width.saturating_mul(height) > MAX_PIXELS {
            return Err(format!(
                "{width}×{height} pixels is more than this program reads"
            ));
        }
        out.width = width;
        out.height = height;
        out.data.resize(width * height * 3, 0);
        let image = turbojpeg::Image {
            pixels: out.data.as_mut_slice(),
            width,
            pitch: width * 3,
            height,
            format: turbojpeg::PixelFormat::RGB,
        };
        // libjpeg-turbo reports a truncated or damaged stream as a warning after filling in what
        // it could; TurboJPEG 3 returns that as an error, which is what a frame source wants.
        self.inner
            .decompress(bytes, image)
            .map_err(|e| e.to_string())
    }
}

/// Decodes one JPEG into `out`, reusing its buffer (a [`JpegDecoder`] made for the call).
pub fn decode_jpeg_into(bytes: &[u8], out: &mut RgbImage) -> Result<(), String> {
    JpegDecoder::new()?.decode_into(bytes, out)
}

/// Decodes image files of any supported format into a caller's buffer, one after another: JPEG
/// through [`JpegDecoder`], the rest through the `image` crate into a scratch buffer that is kept
/// between calls, so an image folder or a recorded session reads its frames without allocating
/// a frame's worth of memory each time.
pub struct ImageDecoder {
    jpeg: JpegDecoder,
    scratch: Vec<u8>,
}

impl ImageDecoder {
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            jpeg: JpegDecoder::new()?,
            scratch: Vec::new(),
        })
    }

    /// Decodes an image file's bytes into `out`. The result equals [`load_rgb`]'s.
    pub fn decode_into(&mut self, bytes: &[u8], out: &mut RgbImage) -> Result<(), String> {
        use image::ImageDecoder as _;
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return self.jpeg.decode_into(bytes, out);
        }
        let decoder = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| e.to_string())?
            .into_decoder()
            .map_err(|e| e.to_string())?;
        let (w, h) = decoder.dimensions();
        let (width, height) = (w as usize, h as usize);
        if width == 0 || height == 0 {
            return Err("image has no pixels".into());
        }
        if width.saturating_mul(height) > MAX_PIXELS {
            return Err(format!(
                "{width}×{height} pixels is more than this program reads"
            ));
        }
        let channels = match decoder.color_type() {
            image::ColorType::L8 => 1,
            image::ColorType::La8 => 2,
            image::ColorType::Rgb8 => 3,
            image::ColorType::Rgba8 => 4,
            _ => {
                // 16-bit and float images are rare here; the `image` crate's own conversion
                // keeps them identical to `load_rgb`, at the cost of an allocation.
                let rgb = image::DynamicImage::from_decoder(decoder)
                    .map_err(|e| e.to_string())?
                    .to_rgb8();
                out.width = width;
                out.height = height;
                out.data.clear();
                out.data.extend_from_slice(rgb.as_raw());
                return Ok(());
            }
        };
        let total = usize::try_from(decoder.total_bytes()).map_err(|e| e.to_string())?;
        self.scratch.resize(total, 0);
        decoder
            .read_image(&mut self.scratch)
            .map_err(|e| e.to_string())?;
        out.width = width;
        out.height = height;
        out.data.resize(width * height * 3, 0);
        let src = &self.scratch[..width * height * channels];
        // The same conversions as `image`'s `to_rgb8`: grey is copied to all three channels and
        // alpha is dropped, not composited.
        for (dst, px) in out.data.chunks_exact_mut(3).zip(src.chunks_exact(channels)) {
            if channels < 3 {
                dst.fill(px[0]);
            } else {
                dst.copy_from_slice(&px[..3]);
            }
        }
        Ok(())
    }
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

    /// A small valid JPEG, and the offset of its start-of-frame marker's height field.
    fn jpeg() -> (Vec<u8>, usize) {
        let (w, h) = (32, 24);
        let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        let image = turbojpeg::Image {
            pixels: pixels.as_slice(),
            width: w,
            pitch: w * 3,
            height: h,
            format: turbojpeg::PixelFormat::RGB,
        };
        let bytes = turbojpeg::compress(image, 90, turbojpeg::Subsamp::Sub2x2)
            .unwrap()
            .to_vec();
        let sof = bytes
            .windows(2)
            .position(|m| m == [0xFF, 0xC0])
            .expect("a baseline JPEG has a SOF0 marker");
        (bytes, sof + 5)
    }

    #[test]
    fn one_damaged_jpeg_costs_one_frame_and_no_more() {
        let (good, height_at) = jpeg();
        let mut zero = good.clone();
        zero[height_at..height_at + 4].fill(0);
        let mut bad_marker = good.clone();
        bad_marker[height_at - 4] = 0xC7;
        let mut truncated = good.clone();
        truncated.truncate(good.len() / 2);
        let mut decoder = JpegDecoder::new().unwrap();
        let mut out = RgbImage::default();
        decoder.decode_into(&good, &mut out).unwrap();
        let reference = out.clone();
        for (what, bad) in [
            ("0×0", &zero),
            ("damaged SOF", &bad_marker),
            ("truncated", &truncated),
        ] {
            assert!(decoder.decode_into(bad, &mut out).is_err(), "{what}");
            decoder
                .decode_into(&good, &mut out)
                .unwrap_or_else(|e| panic!("a valid frame after a {what} one: {e}"));
            assert_eq!(out, reference, "{what}");
        }
    }
}
