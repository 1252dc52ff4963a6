//! Triangle rasterisation and bilinear sampling shared by the CPU renderers (the demo sequence and
//! face profiling): both draw a textured mesh by scanning each triangle's pixel centres.

use crate::capture::RgbImage;
use crate::image::GrayImage;

/// Twice the signed area of triangle `abc`; in image coordinates (y down) it is negative when the
/// corners run counter-clockwise on screen.
#[inline]
pub(crate) fn signed_area(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// The pixel range (inclusive) a box covers in a `width × height` image; `None` when it misses the
/// image or is not finite.
pub(crate) fn clip(
    lo: [f64; 2],
    hi: [f64; 2],
    width: usize,
    height: usize,
) -> Option<(usize, usize, usize, usize)> {
    if width == 0 || height == 0 {
        return None;
    }
    let (w, h) = ((width - 1) as f64, (height - 1) as f64);
    if !(lo[0].is_finite() && lo[1].is_finite() && hi[0].is_finite() && hi[1].is_finite()) {
        return None;
    }
    if hi[0] < 0.0 || hi[1] < 0.0 || lo[0] > w || lo[1] > h {
        return None;
    }
    Some((
        lo[0].ceil().max(0.0) as usize,
        hi[0].floor().min(w) as usize,
        lo[1].ceil().max(0.0) as usize,
        hi[1].floor().min(h) as usize,
    ))
}

/// Calls `plot(x, y, barycentric weights)` for each pixel of a `width × height` image whose centre
/// lies in the triangle.
#[inline]
pub(crate) fn raster_triangle(
    p: [[f64; 2]; 3],
    width: usize,
    height: usize,
    mut plot: impl FnMut(usize, usize, [f64; 3]),
) {
    let area = signed_area(p[0], p[1], p[2]);
    if !area.is_finite() || area.abs() < 1e-12 {
        return;
    }
    let lo = [
        p[0][0].min(p[1][0]).min(p[2][0]),
        p[0][1].min(p[1][1]).min(p[2][1]),
    ];
    let hi = [
        p[0][0].max(p[1][0]).max(p[2][0]),
        p[0][1].max(p[1][1]).max(p[2][1]),
    ];
    let Some((x0, x1, y0, y1)) = clip(lo, hi, width, height) else {
        return;
    };
    let inv = 1.0 / area;
    for y in y0..=y1 {
        let q = [0.0, y as f64];
        for x in x0..=x1 {
            let q = [x as f64, q[1]];
            let w0 = signed_area(p[1], p[2], q) * inv;
            let w1 = signed_area(p[2], p[0], q) * inv;
            let w2 = 1.0 - w0 - w1;
            if w0 >= 0.0 && w1 >= 0.0 && w2 >= 0.0 {
                plot(x, y, [w0, w1, w2]);
            }
        }
    }
}

/// Bilinear sample of an RGB image at `(x, y)` (pixel centres at integers), clamped to its edges.
#[inline]
pub(crate) fn sample_rgb(img: &RgbImage, x: f64, y: f64) -> [u8; 3] {
    let x = x.clamp(0.0, (img.width - 1) as f64);
    let y = y.clamp(0.0, (img.height - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(img.width - 1), (y0 + 1).min(img.height - 1));
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let at = |xx: usize, yy: usize, k: usize| img.data[3 * (yy * img.width + xx) + k] as f64;
    let mut out = [0u8; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let top = at(x0, y0, k) * (1.0 - fx) + at(x1, y0, k) * fx;
        let bottom = at(x0, y1, k) * (1.0 - fx) + at(x1, y1, k) * fx;
        *o = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// Bilinear sample of a grey image at `(x, y)` (pixel centres at integers); pixels beyond the image
/// count as black, so a picture resampled from it fades to black past its edges instead of
/// smearing the border rows outward.
#[inline]
pub(crate) fn sample_gray(img: &GrayImage, x: f64, y: f64) -> u8 {
    let (w, h) = (img.width() as isize, img.height() as isize);
    if !(x.is_finite() && y.is_finite()) || x <= -1.0 || y <= -1.0 || x >= w as f64 || y >= h as f64
    {
        return 0;
    }
    let (fx0, fy0) = (x.floor(), y.floor());
    let (x0, y0) = (fx0 as isize, fy0 as isize);
    let (fx, fy) = (x - fx0, y - fy0);
    let at = |xx: isize, yy: isize| {
        if (0..w).contains(&xx) && (0..h).contains(&yy) {
            f64::from(img.get(xx as usize, yy as usize))
        } else {
            0.0
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
    (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_samples_interpolate_inside_and_fade_outside() {
        let img = GrayImage::from_raw(2, 1, vec![100, 200]).unwrap();
        assert_eq!(sample_gray(&img, 0.5, 0.0), 150);
        assert_eq!(sample_gray(&img, -0.5, 0.0), 50);
        assert_eq!(sample_gray(&img, 5.0, 0.0), 0);
        assert_eq!(sample_gray(&img, f64::NAN, 0.0), 0);
    }
}
