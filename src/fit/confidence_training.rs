//! Training the fit confidence ([`crate::align::fit_confidence`]): gradient boosting of
//! regression trees on the logistic loss (Friedman 2001, Newton leaf values as in his
//! "LogitBoost"-style two-class algorithm), over fits whose error is known.
//!
//! The examples come from faces with ground truth. Positives: the true landmarks and warm-started
//! tracking fits that landed within 5 % NME. Negatives (over 10 % NME, or no face at all): the
//! truth moved, scaled, rolled or turned by much more than a frame's motion; tracking fits run from
//! such starts (where a tracker that let go ends up); shapes placed and fitted on the image away
//! from the face; the face blurred beyond recognition or upside down under an upright shape; and
//! fits on synthetic face-free pictures (smooth noise, stripes, blobs). Fits between 5 and 10 %
//! are left out: the verdict is trained to separate the two ends, and the tracker's threshold is
//! chosen between them.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::cascade::Cascade;
use super::training::{Perturbation, WARM_PERTURBATION, normal, perturb};
use super::training_set::FaceSample;
use super::warm_start::fit_from_previous;
use crate::align::fit_confidence::{FitConfidence, SamplePoint, Split, Tree, sample_points};
use crate::image::GrayImage;
use crate::model::{MorphableModel, Params};

/// Below this NME a fit is a positive example.
pub const GOOD_NME: f64 = 0.05;
/// Above this NME a fit is a negative example.
pub const BAD_NME: f64 = 0.10;

#[derive(Debug, Clone)]
pub struct ConfidenceConfig {
    /// Sample points a landmark: one on it, the rest around it.
    pub points_per_landmark: usize,
    pub trees: usize,
    pub depth: usize,
    /// Shrinkage of each tree's leaves.
    pub learning_rate: f64,
    /// Feature pairs tried at each level of a tree.
    pub candidates: usize,
    /// Thresholds tried for each pair.
    pub thresholds: usize,
    /// Stages of the tracking fits made for examples.
    pub stages: usize,
    pub seed: u64,
}

impl Default for ConfidenceConfig {
    fn default() -> Self {
        Self {
            points_per_landmark: 6,
            trees: 200,
            depth: 4,
            learning_rate: 0.15,
            candidates: 150,
            thresholds: 12,
            stages: 7,
            seed: 11,
        }
    }
}

/// How an example was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExampleKind {
    Truth,
    Tracked,
    Moved,
    MovedFitted,
    Background,
    Blurred,
    UpsideDown,
    Texture,
}

impl ExampleKind {
    pub const ALL: [ExampleKind; 8] = [
        Self::Truth,
        Self::Tracked,
        Self::Moved,
        Self::MovedFitted,
        Self::Background,
        Self::Blurred,
        Self::UpsideDown,
        Self::Texture,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Truth => "truth",
            Self::Tracked => "tracked",
            Self::Moved => "moved",
            Self::MovedFitted => "moved+fitted",
            Self::Background => "background",
            Self::Blurred => "blurred",
            Self::UpsideDown => "upside-down",
            Self::Texture => "texture",
        }
    }
}

/// One labelled example: the normalised grey levels at the sample points.
#[derive(Debug, Clone)]
pub struct Example {
    pub values: Vec<f32>,
    pub positive: bool,
    /// The fit's NME against the truth (infinite where there is no face).
    pub nme: f64,
    pub kind: ExampleKind,
}

/// The reference shape of the sample points: the model's mean landmarks seen from the front,
/// image y down, centred, scaled to unit RMS radius.
pub fn reference_shape(model: &MorphableModel) -> Vec<[f32; 2]> {
    let mean = model.landmarks().mean();
    let pts: Vec<[f64; 2]> = mean
        .chunks_exact(3)
        .map(|p| [f64::from(p[0]), -f64::from(p[1])])
        .collect();
    let n = pts.len() as f64;
    let c = pts
        .iter()
        .fold([0.0, 0.0], |a, p| [a[0] + p[0] / n, a[1] + p[1] / n]);
    let rms = (pts
        .iter()
        .map(|p| (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    pts.iter()
        .map(|p| [((p[0] - c[0]) / rms) as f32, ((p[1] - c[1]) / rms) as f32])
        .collect()
}

/// The sample points: on each landmark, then around it — half close (σ 0.08 of the face's RMS
/// radius, the scale of an eye corner's neighbourhood), half further (σ 0.25, the scale of the
/// face's parts and its outline).
pub fn make_points(n_landmarks: usize, per_landmark: usize, rng: &mut StdRng) -> Vec<SamplePoint> {
    let mut pts = Vec::with_capacity(n_landmarks * per_landmark);
    for j in 0..n_landmarks {
        for k in 0..per_landmark {
            let sigma = if k == 0 {
                0.0
            } else if k % 2 == 1 {
                0.08
            } else {
                0.25
            };
            pts.push(SamplePoint {
                anchor: j as u16,
                offset: [(sigma * normal(rng)) as f32, (sigma * normal(rng)) as f32],
            });
        }
    }
    pts
}

/// What example making needs.
pub struct ExampleMaker<'a> {
    pub model: &'a MorphableModel,
    /// The tracking cascade, for fits made from perturbed starts.
    pub track: Cascade<'a>,
    pub reference: &'a [[f32; 2]],
    pub points: &'a [SamplePoint],
    pub stages: usize,
}

impl ExampleMaker<'_> {
    /// Every example of one face; `seed` makes them reproducible whatever the thread.
    pub fn examples(&self, face: &FaceSample, seed: u64) -> Vec<Example> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::new();
        let model = self.model;
        let (n_id, n_exp) = (self.track.update.n_id(), self.track.update.n_exp());
        let mut x = vec![0.0; 2 * model.n_landmarks()];
        let mut scratch = self.track.scratch();
        let side = face.norm;
        let truth = face.truth.with_dims(n_id, n_exp);
        // Half the faces are also turned in the image plane, beyond the dataset's rolls: a phone
        // held sideways, a rotated video. Fits are made on the upright picture and turned with it.
        let turn = if rng.random::<bool>() {
            let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
            let (w, h) = (face.image.width() as f64, face.image.height() as f64);
            Turn::new(
                sign * rng.random_range(20.0f64..70.0).to_radians(),
                [(w - 1.0) / 2.0, (h - 1.0) / 2.0],
            )
        } else {
            Turn::NONE
        };
        let face_image = turn.image(&face.image);

        // The truth, a little moved.
        let small = Perturbation {
            rotation_deg: 1.0,
            translation: 0.01,
            scale: 0.01,
            expression: 0.05,
        };
        let p = perturb(&truth, small, side, n_id, n_exp, &mut rng);
        model.project_landmarks(&p, &mut x);
        self.push(&mut out, face, &face_image, &turn, &x, ExampleKind::Truth);

        // Tracking fits from a frame's motion (twice the cascade's training spread, so some land
        // in between and some fail: all are what a tracker produces).
        for m in [1.0, 2.0, 3.0] {
            let start = Perturbation {
                rotation_deg: WARM_PERTURBATION.rotation_deg * m,
                translation: WARM_PERTURBATION.translation * m,
                scale: WARM_PERTURBATION.scale * m,
                expression: WARM_PERTURBATION.expression,
            };
            let mut p = perturb(&truth, start, side, n_id, n_exp, &mut rng);
            if self.fit(&face.image, &mut p, &mut scratch, &mut x) {
                self.push(&mut out, face, &face_image, &turn, &x, ExampleKind::Tracked);
            }
        }

        // Far from the truth, as is and after the tracker's fit from there.
        for fitted in [false, false, true, true, true] {
            let mut p = self.far(&truth, side, &mut rng);
            let ok = if fitted {
                self.fit(&face.image, &mut p, &mut scratch, &mut x)
            } else {
                model.project_landmarks(&p, &mut x);
                true
            };
            let kind = if fitted {
                ExampleKind::MovedFitted
            } else {
                ExampleKind::Moved
            };
            if ok {
                self.push(&mut out, face, &face_image, &turn, &x, kind);
            }
        }

        // Away from the face, in the same picture.
        for fitted in [false, true] {
            if let Some(mut p) = self.elsewhere(face, &truth, &mut rng) {
                let ok = if fitted {
                    self.fit(&face.image, &mut p, &mut scratch, &mut x)
                } else {
                    model.project_landmarks(&p, &mut x);
                    true
                };
                if ok && overlap(&x, &face.points) < 0.2 {
                    self.push_negative(&mut out, &face_image, &turn, &x, ExampleKind::Background);
                }
            }
        }

        // The face blurred out of recognition, under the true shape.
        let blurred = turn.image(&box_blur(
            &face.image,
            (0.12 * side).round().max(3.0) as usize,
        ));
        model.project_landmarks(&truth, &mut x);
        self.push_negative(&mut out, &blurred, &turn, &x, ExampleKind::Blurred);

        // The picture upside down under an upright shape where the face was.
        let flipped = turn.image(&upside_down(&face.image));
        let mut p = truth.clone();
        p.set_roll(0.0);
        p.set_pitch(0.0);
        p.set_ty((face.image.height() as f64 - 1.0) - p.ty());
        model.project_landmarks(&p, &mut x);
        self.push_negative(&mut out, &flipped, &turn, &x, ExampleKind::UpsideDown);

        // A face-free picture, the tracker's fit on it from a face-sized start.
        let texture = texture(face.image.width(), face.image.height(), &mut rng);
        let mut p = self
            .elsewhere(face, &truth, &mut rng)
            .unwrap_or(truth.clone());
        if self.fit(&texture, &mut p, &mut scratch, &mut x) {
            let texture = turn.image(&texture);
            self.push_negative(&mut out, &texture, &turn, &x, ExampleKind::Texture);
        }
        out
    }

    fn fit(
        &self,
        image: &GrayImage,
        p: &mut Params,
        scratch: &mut super::FitScratch,
        x: &mut [f64],
    ) -> bool {
        if fit_from_previous(&self.track, image, p, self.stages, scratch, x).is_err() {
            return false;
        }
        self.model.project_landmarks(p, x);
        x.iter().all(|v| v.is_finite())
    }

    /// The truth moved far: shifted, scaled, rolled, turned, or a little of each.
    fn far(&self, truth: &Params, side: f64, rng: &mut StdRng) -> Params {
        let mut p = truth.clone();
        let sign = |rng: &mut StdRng| if rng.random::<bool>() { 1.0 } else { -1.0 };
        match rng.random_range(0..6) {
            0 => {
                let a = rng.random_range(0.0..std::f64::consts::TAU);
                let d = rng.random_range(0.12..0.7) * side;
                p.set_tx(p.tx() + d * a.cos());
                p.set_ty(p.ty() + d * a.sin());
            }
            1 => p.set_s(p.s() * (sign(rng) * rng.random_range(0.2..0.7f64)).exp()),
            2 => p.set_roll(p.roll() + sign(rng) * rng.random_range(15.0f64..90.0).to_radians()),
            3 => p.set_yaw(p.yaw() + sign(rng) * rng.random_range(25.0f64..70.0).to_radians()),
            4 => p.set_pitch(p.pitch() + sign(rng) * rng.random_range(25.0f64..60.0).to_radians()),
            _ => {
                let a = rng.random_range(0.0..std::f64::consts::TAU);
                let d = rng.random_range(0.05..0.3) * side;
                p.set_tx(p.tx() + d * a.cos());
                p.set_ty(p.ty() + d * a.sin());
                p.set_s(p.s() * (0.2 * normal(rng)).exp());
                p.set_roll(p.roll() + (15.0 * normal(rng)).to_radians());
                p.set_yaw(p.yaw() + (20.0 * normal(rng)).to_radians());
            }
        }
        p
    }

    /// The truth's shape at another place and size in the picture, clear of the face; `None`
    /// when the picture has no room.
    fn elsewhere(&self, face: &FaceSample, truth: &Params, rng: &mut StdRng) -> Option<Params> {
        let (w, h) = (face.image.width() as f64, face.image.height() as f64);
        let mut x = vec![0.0; 2 * self.model.n_landmarks()];
        for _ in 0..20 {
            let mut p = truth.clone();
            let k = rng.random_range(0.3..1.0);
            p.set_s(p.s() * k);
            p.set_tx(rng.random_range(0.0..w));
            p.set_ty(rng.random_range(0.0..h));
            self.model.project_landmarks(&p, &mut x);
            if overlap(&x, &face.points) < 0.1 {
                return Some(p);
            }
        }
        None
    }

    /// Adds the fit `x` (on the upright picture) of `face`, labelled by its NME, sampled turned
    /// by `turn` on `image` (the picture already turned).
    #[allow(clippy::too_many_arguments)]
    fn push(
        &self,
        out: &mut Vec<Example>,
        face: &FaceSample,
        image: &GrayImage,
        turn: &Turn,
        x: &[f64],
        kind: ExampleKind,
    ) {
        let nme = face.nme(x);
        let positive = nme < GOOD_NME;
        if !positive && nme <= BAD_NME {
            return;
        }
        let x = turn.points(x);
        let mut values = Vec::new();
        if sample_points(self.reference, self.points, image, &x, &mut values) {
            out.push(Example {
                values,
                positive,
                nme,
                kind,
            });
        }
    }

    fn push_negative(
        &self,
        out: &mut Vec<Example>,
        image: &GrayImage,
        turn: &Turn,
        x: &[f64],
        kind: ExampleKind,
    ) {
        let x = turn.points(x);
        let mut values = Vec::new();
        if sample_points(self.reference, self.points, image, &x, &mut values) {
            out.push(Example {
                values,
                positive: false,
                nme: f64::INFINITY,
                kind,
            });
        }
    }
}

/// A turn of the picture in its plane about a centre; points turn with it.
#[derive(Debug, Clone, Copy)]
struct Turn {
    cos: f64,
    sin: f64,
    centre: [f64; 2],
}

impl Turn {
    const NONE: Turn = Turn {
        cos: 1.0,
        sin: 0.0,
        centre: [0.0, 0.0],
    };

    fn new(angle: f64, centre: [f64; 2]) -> Self {
        Self {
            cos: angle.cos(),
            sin: angle.sin(),
            centre,
        }
    }

    fn is_none(&self) -> bool {
        self.sin == 0.0 && self.cos == 1.0
    }

    fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        let (dx, dy) = (p[0] - self.centre[0], p[1] - self.centre[1]);
        [
            self.centre[0] + self.cos * dx - self.sin * dy,
            self.centre[1] + self.sin * dx + self.cos * dy,
        ]
    }

    fn points(&self, x: &[f64]) -> Vec<f64> {
        x.chunks_exact(2)
            .flat_map(|c| self.apply([c[0], c[1]]))
            .collect()
    }

    /// The picture turned, same size, bilinear, black where nothing was (as a rotated video's
    /// corners are).
    fn image(&self, src: &GrayImage) -> GrayImage {
        if self.is_none() {
            return src.clone();
        }
        let (w, h) = (src.width(), src.height());
        let back = Turn {
            sin: -self.sin,
            ..*self
        };
        let mut px = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let [sx, sy] = back.apply([x as f64, y as f64]);
                if sx < 0.0 || sy < 0.0 || sx > (w - 1) as f64 || sy > (h - 1) as f64 {
                    continue;
                }
                let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
                let g = |x: usize, y: usize| f64::from(src.get(x, y));
                let v = (1.0 - fy) * ((1.0 - fx) * g(x0, y0) + fx * g(x1, y0))
                    + fy * ((1.0 - fx) * g(x0, y1) + fx * g(x1, y1));
                px[y * w + x] = v.round() as u8;
            }
        }
        GrayImage::from_raw(w, h, px).unwrap_or_default()
    }
}

/// Intersection over the smaller of the two landmark boxes.
fn overlap(x: &[f64], truth: &[[f64; 2]]) -> f64 {
    let (a0, a1) = crate::align::detect::bounds(crate::align::detect::points(x));
    let (b0, b1) = crate::align::detect::bounds(truth.iter().copied());
    let iw = (a1[0].min(b1[0]) - a0[0].max(b0[0])).max(0.0);
    let ih = (a1[1].min(b1[1]) - a0[1].max(b0[1])).max(0.0);
    let area = |lo: [f64; 2], hi: [f64; 2]| (hi[0] - lo[0]) * (hi[1] - lo[1]);
    iw * ih / area(a0, a1).min(area(b0, b1)).max(1e-9)
}

/// A square box blur of radius `r`, edges clamped (three passes approximate a Gaussian).
pub fn box_blur(image: &GrayImage, r: usize) -> GrayImage {
    let (w, h) = (image.width(), image.height());
    let mut a: Vec<f32> = image.pixels().iter().map(|&v| f32::from(v)).collect();
    let mut b = vec![0.0f32; w * h];
    for _ in 0..3 {
        blur_pass(&a, &mut b, w, h, r, true);
        blur_pass(&b, &mut a, w, h, r, false);
    }
    let px = a
        .iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect();
    GrayImage::from_raw(w, h, px).unwrap_or_default()
}

fn blur_pass(src: &[f32], dst: &mut [f32], w: usize, h: usize, r: usize, horizontal: bool) {
    let (n, lines) = if horizontal { (w, h) } else { (h, w) };
    let at = |line: usize, i: usize| {
        if horizontal {
            line * w + i
        } else {
            i * w + line
        }
    };
    let ri = r as isize;
    for line in 0..lines {
        let get = |i: isize| src[at(line, i.clamp(0, n as isize - 1) as usize)];
        let mut sum: f32 = (-ri..=ri).map(get).sum();
        for i in 0..n {
            dst[at(line, i)] = sum / (2 * r + 1) as f32;
            sum += get(i as isize + ri + 1) - get(i as isize - ri);
        }
    }
}

fn upside_down(image: &GrayImage) -> GrayImage {
    let (w, h) = (image.width(), image.height());
    let mut px = Vec::with_capacity(w * h);
    for row in image.pixels().chunks_exact(w.max(1)).rev() {
        px.extend_from_slice(row);
    }
    GrayImage::from_raw(w, h, px).unwrap_or_default()
}

/// A face-free picture: smooth value noise, stripes or blobs, at a random contrast.
pub fn texture(w: usize, h: usize, rng: &mut StdRng) -> GrayImage {
    let kind = rng.random_range(0..3);
    let base = rng.random_range(40.0..200.0f32);
    let contrast = rng.random_range(10.0..80.0f32);
    let mut px = vec![0f32; w * h];
    match kind {
        0 => {
            // Value noise: a coarse random grid, bilinearly interpolated, at two scales.
            for (cell, amp) in [(rng.random_range(8..64usize), 1.0f32), (6, 0.3)] {
                let (gw, gh) = (w / cell + 2, h / cell + 2);
                let grid: Vec<f32> = (0..gw * gh).map(|_| rng.random_range(-1.0..1.0)).collect();
                for y in 0..h {
                    for x in 0..w {
                        let (fx, fy) = (x as f32 / cell as f32, y as f32 / cell as f32);
                        let (ix, iy) = (fx as usize, fy as usize);
                        let (tx, ty) = (fx - ix as f32, fy - iy as f32);
                        let g = |i: usize, j: usize| grid[j * gw + i];
                        let v = (1.0 - ty) * ((1.0 - tx) * g(ix, iy) + tx * g(ix + 1, iy))
                            + ty * ((1.0 - tx) * g(ix, iy + 1) + tx * g(ix + 1, iy + 1));
                        px[y * w + x] += amp * v;
                    }
                }
            }
        }
        1 => {
            let period = rng.random_range(6.0..80.0f32);
            let angle = rng.random_range(0.0..std::f32::consts::PI);
            let (c, s) = (angle.cos(), angle.sin());
            for y in 0..h {
                for x in 0..w {
                    let t = (x as f32 * c + y as f32 * s) / period;
                    px[y * w + x] = (t * std::f32::consts::TAU).sin();
                }
            }
        }
        _ => {
            // Dark and light ellipses: the blobs a detector takes for eyes and mouths.
            for _ in 0..rng.random_range(3..15) {
                let (cx, cy) = (
                    rng.random_range(0.0..w as f32),
                    rng.random_range(0.0..h as f32),
                );
                let (rx, ry) = (
                    rng.random_range(4.0..80.0f32),
                    rng.random_range(4.0..80.0f32),
                );
                let v = rng.random_range(-1.0..1.0f32);
                for y in 0..h {
                    for x in 0..w {
                        let (dx, dy) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
                        if dx * dx + dy * dy < 1.0 {
                            px[y * w + x] = v;
                        }
                    }
                }
            }
        }
    }
    let bytes = px
        .iter()
        .map(|v| (base + contrast * v + rng.random_range(-2.0..2.0f32)).clamp(0.0, 255.0) as u8)
        .collect();
    GrayImage::from_raw(w, h, bytes).unwrap_or_default()
}

/// The examples of many faces, in parallel, deterministic.
pub fn make_examples(
    maker: &ExampleMaker<'_>,
    faces: &[FaceSample],
    seed: u64,
    progress: impl Fn() + Sync,
) -> Vec<Example> {
    faces
        .par_iter()
        .enumerate()
        .map(|(i, f)| {
            let e = maker.examples(f, seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
            progress();
            e
        })
        .flatten()
        .collect()
}

/// Trains the boosted trees on `examples`, each class weighted to half the total. `progress(t)`
/// after each tree.
pub fn train_confidence(
    reference: Vec<[f32; 2]>,
    points: Vec<SamplePoint>,
    examples: &[Example],
    cfg: &ConfidenceConfig,
    progress: impl Fn(usize),
) -> FitConfidence {
    let n = examples.len();
    let n_points = points.len();
    // Column-major: a feature pair reads two contiguous columns.
    let mut cols = vec![vec![0f32; n]; n_points];
    for (i, e) in examples.iter().enumerate() {
        for (c, &v) in cols.iter_mut().zip(&e.values) {
            c[i] = v;
        }
    }
    let n_pos = examples.iter().filter(|e| e.positive).count().max(1) as f64;
    let n_neg = (n as f64 - n_pos).max(1.0);
    let weight: Vec<f64> = examples
        .iter()
        .map(|e| {
            if e.positive {
                n as f64 / (2.0 * n_pos)
            } else {
                n as f64 / (2.0 * n_neg)
            }
        })
        .collect();
    let y: Vec<f64> = examples
        .iter()
        .map(|e| f64::from(u8::from(e.positive)))
        .collect();
    let mut f = vec![0f64; n];
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut trees = Vec::with_capacity(cfg.trees);
    let (mut g, mut h) = (vec![0.0; n], vec![0.0; n]);
    let mut node = vec![0usize; n];
    const LAMBDA: f64 = 1.0;
    for t in 0..cfg.trees {
        for i in 0..n {
            let p = 1.0 / (1.0 + (-f[i]).exp());
            g[i] = weight[i] * (p - y[i]);
            h[i] = (weight[i] * p * (1.0 - p)).max(1e-12);
        }
        node.iter_mut().for_each(|v| *v = 0);
        let mut splits = Vec::new();
        for level in 0..cfg.depth {
            let n_nodes = 1 << level;
            let first = n_nodes - 1;
            // Candidate pairs: half from one landmark's neighbourhood, half from anywhere.
            let cands: Vec<(u16, u16, Vec<f32>)> = (0..cfg.candidates)
                .map(|c| {
                    let a = rng.random_range(0..n_points);
                    let b = if c % 2 == 0 {
                        let anchor = points[a].anchor;
                        let near: Vec<usize> = (0..n_points)
                            .filter(|&k| k != a && points[k].anchor.abs_diff(anchor) <= 2)
                            .collect();
                        if near.is_empty() {
                            (a + 1) % n_points
                        } else {
                            near[rng.random_range(0..near.len())]
                        }
                    } else {
                        let mut b = rng.random_range(0..n_points);
                        if b == a {
                            b = (b + 1) % n_points;
                        }
                        b
                    };
                    let mut d: Vec<f32> = (0..256)
                        .map(|_| {
                            let i = rng.random_range(0..n);
                            cols[a][i] - cols[b][i]
                        })
                        .collect();
                    d.sort_by(f32::total_cmp);
                    let th = (1..=cfg.thresholds)
                        .map(|k| d[k * d.len() / (cfg.thresholds + 1)])
                        .collect();
                    (a as u16, b as u16, th)
                })
                .collect();
            // Gradient and Hessian sums per node on the left of each threshold.
            let k_th = cfg.thresholds;
            let sums: Vec<Vec<[f64; 2]>> = cands
                .par_iter()
                .map(|(a, b, th)| {
                    let (ca, cb) = (&cols[*a as usize], &cols[*b as usize]);
                    let mut acc = vec![[0.0f64; 2]; n_nodes * k_th];
                    for i in 0..n {
                        let d = ca[i] - cb[i];
                        let base = (node[i] - first) * k_th;
                        for (k, &t) in th.iter().enumerate() {
                            if d < t {
                                acc[base + k][0] += g[i];
                                acc[base + k][1] += h[i];
                            }
                        }
                    }
                    acc
                })
                .collect();
            let mut total = vec![[0.0f64; 2]; n_nodes];
            for i in 0..n {
                total[node[i] - first][0] += g[i];
                total[node[i] - first][1] += h[i];
            }
            let score = |s: [f64; 2]| s[0] * s[0] / (s[1] + LAMBDA);
            let mut chosen = Vec::with_capacity(n_nodes);
            for (j, tot) in total.iter().enumerate() {
                let mut best = (
                    f64::NEG_INFINITY,
                    Split {
                        a: 0,
                        b: 0,
                        threshold: f32::NEG_INFINITY,
                    },
                );
                for (c, (a, b, th)) in cands.iter().enumerate() {
                    for (k, &t) in th.iter().enumerate() {
                        let l = sums[c][j * k_th + k];
                        let r = [tot[0] - l[0], tot[1] - l[1]];
                        let gain = score(l) + score(r);
                        if gain > best.0 {
                            best = (
                                gain,
                                Split {
                                    a: *a,
                                    b: *b,
                                    threshold: t,
                                },
                            );
                        }
                    }
                }
                chosen.push(best.1);
            }
            for i in 0..n {
                let s = &chosen[node[i] - first];
                let d = cols[s.a as usize][i] - cols[s.b as usize][i];
                node[i] = 2 * node[i] + if d < s.threshold { 1 } else { 2 };
            }
            splits.extend(chosen);
        }
        let n_leaves = 1 << cfg.depth;
        let first_leaf = n_leaves - 1;
        let mut acc = vec![[0.0f64; 2]; n_leaves];
        for i in 0..n {
            acc[node[i] - first_leaf][0] += g[i];
            acc[node[i] - first_leaf][1] += h[i];
        }
        let leaves: Vec<f32> = acc
            .iter()
            .map(|s| (-cfg.learning_rate * s[0] / (s[1] + LAMBDA)) as f32)
            .collect();
        for i in 0..n {
            f[i] += f64::from(leaves[node[i] - first_leaf]);
        }
        trees.push(Tree { splits, leaves });
        progress(t);
    }
    FitConfidence {
        reference,
        points,
        depth: cfg.depth,
        bias: 0.0,
        trees,
    }
}

/// The area under the ROC curve of scores for positives against negatives (Mann–Whitney, ties
/// counted half): the chance that a random positive scores above a random negative.
pub fn roc_auc(positives: &[f64], negatives: &[f64]) -> f64 {
    if positives.is_empty() || negatives.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f64, bool)> = positives
        .iter()
        .map(|&s| (s, true))
        .chain(negatives.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the positives' ranks, ties given their average rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let avg = (i + j + 1) as f64 / 2.0;
        rank_sum += avg * all[i..j].iter().filter(|e| e.1).count() as f64;
        i = j;
    }
    let (np, nn) = (positives.len() as f64, negatives.len() as f64);
    (rank_sum - np * (np + 1.0) / 2.0) / (np * nn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turned_point_lands_on_its_turned_pixel() {
        let mut px = vec![0u8; 21 * 21];
        px[10 * 21 + 16] = 200; // (16, 10): right of the centre
        let img = GrayImage::from_raw(21, 21, px).unwrap();
        let turn = Turn::new(std::f64::consts::FRAC_PI_2, [10.0, 10.0]);
        let [x, y] = turn.apply([16.0, 10.0]);
        assert!((x - 10.0).abs() < 1e-9 && (y - 16.0).abs() < 1e-9);
        assert_eq!(turn.image(&img).get(10, 16), 200);
    }

    #[test]
    fn auc_of_separated_and_mixed_scores() {
        assert_eq!(roc_auc(&[3.0, 4.0], &[1.0, 2.0]), 1.0);
        assert_eq!(roc_auc(&[1.0, 2.0], &[3.0, 4.0]), 0.0);
        assert_eq!(roc_auc(&[1.0], &[1.0]), 0.5);
        assert!((roc_auc(&[1.0, 3.0], &[2.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn boosting_learns_a_separable_pixel_rule() {
        // Positives: point 0 darker than point 1; negatives: the opposite.
        let mut rng = StdRng::seed_from_u64(1);
        let points = make_points(2, 2, &mut rng);
        let examples: Vec<Example> = (0..400)
            .map(|i| {
                let positive = i % 2 == 0;
                let mut values: Vec<f32> = (0..4).map(|_| rng.random_range(-1.0..1.0)).collect();
                values[0] = if positive { -1.0 } else { 1.0 } + rng.random_range(-0.5..0.5);
                Example {
                    values,
                    positive,
                    nme: 0.0,
                    kind: ExampleKind::Truth,
                }
            })
            .collect();
        let cfg = ConfidenceConfig {
            trees: 20,
            depth: 2,
            candidates: 8,
            ..ConfidenceConfig::default()
        };
        let c = train_confidence(vec![[0.0, 0.0]; 2], points, &examples, &cfg, |_| {});
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for e in &examples {
            let s = f64::from(c.log_odds_of(&e.values));
            if e.positive { pos.push(s) } else { neg.push(s) }
        }
        assert!(roc_auc(&pos, &neg) > 0.99, "{}", roc_auc(&pos, &neg));
    }
}
