//! Training pictures seen through other cameras: the same face with another contrast, gamma, light
//! falling from one side, sensor noise, blur and resolution. Each split of the landmark cascade
//! (Kazemi & Sullivan, CVPR 2014) compares the difference of two pixels with a threshold; learned
//! from one collection of photographs, those thresholds fit its exposure and sharpness, and a phone
//! or webcam frame (compressed, softer, lit otherwise) may read past them. The face's landmarks
//! do not move, so a jittered copy trains with the original's targets.

use rand::Rng;
use rand::rngs::StdRng;

use crate::image::GrayImage;

/// How far the jitter goes. Each change is drawn independently for every copy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AppearanceJitter {
    /// Contrast about the picture's mean: a factor drawn from this range.
    pub contrast: (f32, f32),
    /// Gamma: exp of a value drawn uniformly in ±this.
    pub log_gamma: f32,
    /// Brightness shift, grey levels, drawn in ±this.
    pub brightness: f32,
    /// Light from one side: a linear ramp across the picture whose ends differ by up to this many
    /// grey levels, in a random direction; applied to half the copies.
    pub side_light: f32,
    /// Gaussian blur's σ in pixels, drawn in this range; applied to half the copies.
    pub blur_sigma: (f32, f32),
    /// Resolution: the picture shrunk by a factor in this range and enlarged back; applied to a
    /// third of the copies.
    pub rescale: (f32, f32),
    /// Sensor noise σ in grey levels, drawn up to this; applied to half the copies.
    pub noise: f32,
}

impl Default for AppearanceJitter {
    fn default() -> Self {
        Self {
            contrast: (0.55, 1.3),
            log_gamma: 0.4,
            brightness: 30.0,
            side_light: 80.0,
            blur_sigma: (0.6, 2.0),
            rescale: (0.35, 0.8),
            noise: 8.0,
        }
    }
}

impl AppearanceJitter {
    /// A copy of `src` seen through another camera, drawn from `rng`.
    pub fn apply(&self, src: &GrayImage, rng: &mut StdRng) -> GrayImage {
        let (w, h) = (src.width(), src.height());
        if w == 0 || h == 0 {
            return src.clone();
        }
        let mut px: Vec<f32> = src.pixels().iter().map(|&v| v as f32).collect();
        if rng.random::<f32>() < 1.0 / 3.0 {
            let s = rng.random_range(self.rescale.0..=self.rescale.1);
            px = rescaled(&px, w, h, s);
        }
        if rng.random::<f32>() < 0.5 {
            let sigma = rng.random_range(self.blur_sigma.0..=self.blur_sigma.1);
            gaussian_blur(&mut px, w, h, sigma);
        }
        let gamma = rng.random_range(-self.log_gamma..=self.log_gamma).exp();
        let contrast = rng.random_range(self.contrast.0..=self.contrast.1);
        let shift = rng.random_range(-self.brightness..=self.brightness);
        let mean = px.iter().sum::<f32>() / px.len() as f32;
        let mean_toned = 255.0 * (mean / 255.0).powf(gamma);
        let (ramp_x, ramp_y) = if rng.random::<f32>() < 0.5 {
            let a = rng.random_range(0.0..std::f32::consts::TAU);
            let amp = rng.random_range(0.0..=self.side_light);
            let diag = ((w * w + h * h) as f32).sqrt();
            (amp * a.cos() / diag, amp * a.sin() / diag)
        } else {
            (0.0, 0.0)
        };
        let noise = if rng.random::<f32>() < 0.5 {
            rng.random_range(0.0..=self.noise)
        } else {
            0.0
        };
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        let mut out = vec![0u8; w * h];
        for (i, (o, &v)) in out.iter_mut().zip(&px).enumerate() {
            let (x, y) = ((i % w) as f32 - cx, (i / w) as f32 - cy);
            let toned = 255.0 * (v.max(0.0) / 255.0).powf(gamma);
            let mut t =
                contrast * (toned - mean_toned) + mean_toned + shift + ramp_x * x + ramp_y * y;
            if noise > 0.0 {
                t += noise * standard_normal(rng);
            }
            *o = t.round().clamp(0.0, 255.0) as u8;
        }
        GrayImage::from_raw(w, h, out).unwrap_or_else(|| src.clone())
    }
}

/// A normal draw by Box–Muller (the `rand` crate alone has no normal distribution).
fn standard_normal(rng: &mut StdRng) -> f32 {
    let u: f32 = rng.random_range(f32::EPSILON..1.0);
    let v: f32 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

/// `px` shrunk by `s` (area averaging) and enlarged back (bilinear): the detail a smaller sensor
/// would not have had.
fn rescaled(px: &[f32], w: usize, h: usize, s: f32) -> Vec<f32> {
    let (sw, sh) = (
        ((w as f32 * s).round() as usize).max(2),
        ((h as f32 * s).round() as usize).max(2),
    );
    let mut small = vec![0.0f32; sw * sh];
    let mut count = vec![0.0f32; sw * sh];
    for y in 0..h {
        let sy = (y * sh / h).min(sh - 1);
        for x in 0..w {
            let sx = (x * sw / w).min(sw - 1);
            small[sy * sw + sx] += px[y * w + x];
            count[sy * sw + sx] += 1.0;
        }
    }
    for (v, c) in small.iter_mut().zip(&count) {
        *v /= c.max(1.0);
    }
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        let fy = ((y as f32 + 0.5) * sh as f32 / h as f32 - 0.5).clamp(0.0, (sh - 1) as f32);
        let (y0, ty) = (fy.floor() as usize, fy.fract());
        let y1 = (y0 + 1).min(sh - 1);
        for x in 0..w {
            let fx = ((x as f32 + 0.5) * sw as f32 / w as f32 - 0.5).clamp(0.0, (sw - 1) as f32);
            let (x0, tx) = (fx.floor() as usize, fx.fract());
            let x1 = (x0 + 1).min(sw - 1);
            let top = small[y0 * sw + x0] * (1.0 - tx) + small[y0 * sw + x1] * tx;
            let bottom = small[y1 * sw + x0] * (1.0 - tx) + small[y1 * sw + x1] * tx;
            out[y * w + x] = top * (1.0 - ty) + bottom * ty;
        }
    }
    out
}

/// Separable Gaussian blur in place, the kernel cut at 3σ and the edges clamped.
fn gaussian_blur(px: &mut [f32], w: usize, h: usize, sigma: f32) {
    let r = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let mut tmp = vec![0.0f32; px.len()];
    blur_pass(px, &mut tmp, w, h, &kernel, true);
    blur_pass(&tmp, px, w, h, &kernel, false);
}

/// One direction of [`gaussian_blur`]: along the rows, or down the columns.
fn blur_pass(src: &[f32], dst: &mut [f32], w: usize, h: usize, kernel: &[f32], rows: bool) {
    let r = (kernel.len() / 2) as isize;
    let total: f32 = kernel.iter().sum();
    let last = if rows { w - 1 } else { h - 1 };
    for y in 0..h {
        for x in 0..w {
            let at = if rows { x } else { y };
            let mut acc = 0.0;
            for (k, &kv) in kernel.iter().enumerate() {
                let i = (at as isize + k as isize - r).clamp(0, last as isize) as usize;
                acc += kv * if rows { src[y * w + i] } else { src[i * w + x] };
            }
            dst[y * w + x] = acc / total;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn picture() -> GrayImage {
        let (w, h) = (64, 48);
        let px = (0..w * h)
            .map(|i| (((i % w) * 4 + (i / w) * 2) % 256) as u8)
            .collect();
        GrayImage::from_raw(w, h, px).expect("size")
    }

    #[test]
    fn copies_keep_the_size_and_differ_from_the_original_and_each_other() {
        let src = picture();
        let mut rng = StdRng::seed_from_u64(3);
        let j = AppearanceJitter::default();
        let a = j.apply(&src, &mut rng);
        let b = j.apply(&src, &mut rng);
        assert_eq!((a.width(), a.height()), (src.width(), src.height()));
        let diff = |p: &GrayImage, q: &GrayImage| {
            p.pixels()
                .iter()
                .zip(q.pixels())
                .map(|(&x, &y)| (x as f32 - y as f32).abs())
                .sum::<f32>()
                / p.pixels().len() as f32
        };
        assert!(diff(&a, &src) > 1.0 && diff(&b, &src) > 1.0 && diff(&a, &b) > 1.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_copy() {
        let src = picture();
        let j = AppearanceJitter::default();
        let a = j.apply(&src, &mut StdRng::seed_from_u64(9));
        let b = j.apply(&src, &mut StdRng::seed_from_u64(9));
        assert_eq!(a, b);
    }

    #[test]
    fn blur_and_rescale_keep_a_flat_picture_flat() {
        let mut px = vec![100.0f32; 30 * 20];
        gaussian_blur(&mut px, 30, 20, 1.5);
        assert!(px.iter().all(|&v| (v - 100.0).abs() < 1e-3));
        let r = rescaled(&px, 30, 20, 0.5);
        assert!(r.iter().all(|&v| (v - 100.0).abs() < 1e-3));
    }

    #[test]
    fn blur_softens_an_edge() {
        let (w, h) = (20, 4);
        let mut px: Vec<f32> = (0..w * h)
            .map(|i| if i % w < 10 { 0.0 } else { 200.0 })
            .collect();
        gaussian_blur(&mut px, w, h, 1.5);
        assert!(px[9] > 20.0 && px[10] < 180.0 && px[0] < 1.0 && px[19] > 199.0);
    }
}
