//! The grey-level image the landmark cascade and the detector read.

/// An 8-bit single-channel image, row-major, tightly packed.
///
/// Kept as a plain reusable buffer so that converting a new frame into it allocates nothing once
/// the buffer has grown to the frame size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrayImage {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl GrayImage {
    /// Wraps existing pixels; `None` when the buffer does not hold `width * height` bytes.
    pub fn from_raw(width: usize, height: usize, data: Vec<u8>) -> Option<Self> {
        (data.len() == width.checked_mul(height)?).then_some(Self {
            width,
            height,
            data,
        })
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn pixels(&self) -> &[u8] {
        &self.data
    }

    /// Pixel at column `x`, row `y`; the caller has checked the bounds.
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> u8 {
        self.data[y * self.width + x]
    }

    /// Replaces the contents with the intensity of an interleaved RGB buffer, reusing the
    /// allocation. Intensity is dlib's `get_pixel_intensity` for `rgb_pixel`: the integer mean of
    /// the three channels, so that the landmark cascade sees exactly the values dlib sees.
    pub fn set_from_rgb(&mut self, width: usize, height: usize, rgb: &[u8]) {
        assert_eq!(rgb.len(), width * height * 3, "RGB buffer size");
        self.resize(width, height);
        for (dst, px) in self.data.iter_mut().zip(rgb.chunks_exact(3)) {
            *dst = ((px[0] as u32 + px[1] as u32 + px[2] as u32) / 3) as u8;
        }
    }

    /// Replaces the contents with a copy of grey pixels, reusing the allocation.
    pub fn set_from_gray(&mut self, width: usize, height: usize, gray: &[u8]) {
        assert_eq!(gray.len(), width * height, "grey buffer size");
        self.resize(width, height);
        self.data.copy_from_slice(gray);
    }

    /// Replaces the contents with `src` mirrored left–right (column `x` becomes `w − 1 − x`),
    /// reusing the allocation.
    pub fn set_mirrored(&mut self, src: &GrayImage) {
        self.resize(src.width, src.height);
        if src.width == 0 {
            return;
        }
        for (dst, row) in self
            .data
            .chunks_exact_mut(src.width)
            .zip(src.data.chunks_exact(src.width))
        {
            for (d, s) in dst.iter_mut().zip(row.iter().rev()) {
                *d = *s;
            }
        }
    }

    /// Makes the image `width × height` for the caller to fill through [`Self::pixels_mut`],
    /// reusing the allocation (pixel values are left as they were, not cleared).
    pub fn resize(&mut self, width: usize, height: usize) {
        self.width = width;
        self.height = height;
        self.data.resize(width * height, 0);
    }

    pub fn pixels_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_intensity_is_the_truncated_channel_mean() {
        let mut g = GrayImage::default();
        g.set_from_rgb(2, 1, &[255, 255, 254, 1, 1, 0]);
        assert_eq!(g.pixels(), &[254, 0]);
    }

    #[test]
    fn mirroring_reverses_each_row() {
        let src = GrayImage::from_raw(3, 2, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let mut m = GrayImage::default();
        m.set_mirrored(&src);
        assert_eq!(m.pixels(), &[3, 2, 1, 6, 5, 4]);
        assert_eq!((m.width(), m.height()), (3, 2));
    }

    #[test]
    fn from_raw_checks_the_size() {
        assert!(GrayImage::from_raw(3, 2, vec![0; 6]).is_some());
        assert!(GrayImage::from_raw(3, 2, vec![0; 5]).is_none());
    }
}
