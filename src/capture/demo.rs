//! The demo sequence (issue 5): a deterministic synthetic video of a moving, textured 3D face with
//! its ground truth, rendered on the CPU — the default source when no camera exists, and a test
//! with known answers.
//!
//! Built once from a portrait and the model fitted to it: every dense-mesh vertex takes as texture
//! coordinate its projection in the photo under the fitted parameters, so rendering the fitted
//! pose gives the photo's face back. The frame (640×480) is the photo scaled to fill it with the
//! face about 200 px tall; the region the original face covered is filled in from its surroundings
//! (push-pull interpolation) so that a turned face does not leave a second face behind it. Each
//! frame re-renders the face at the parameters of a fixed motion script (z-buffered, back-face
//! culled triangles, affine texture mapping — exact for a weak-perspective camera) over that
//! background. Frame `i` is a pure function of `i`: its timestamp is `i / 30` s.

use std::f64::consts::PI;
use std::time::Duration;

use thiserror::Error;

use super::RgbImage;
use crate::align::detect::{FaceDetector, bounds, points};
use crate::fit::warm_start::{WarmStartError, fit_from_previous};
use crate::fit::{Cascade, FitError};
use crate::image::GrayImage;
use crate::model::{MorphableModel, Params};
use crate::raster::{self, signed_area};

/// Frame width in pixels.
pub const DEMO_WIDTH: usize = 640;
/// Frame height in pixels.
pub const DEMO_HEIGHT: usize = 480;
/// Frames a second of the sequence's clock.
pub const DEMO_FPS: u64 = 30;
/// Frames at the start of each loop in which the face holds the photo's own pose.
pub const STILL_FRAMES: u64 = 3 * DEMO_FPS;
/// Frames of motion after the still segment.
const MOTION_FRAMES: u64 = 17 * DEMO_FPS;
/// Length of the loop; frame `i` equals frame `i + LOOP_FRAMES`.
pub const LOOP_FRAMES: u64 = STILL_FRAMES + MOTION_FRAMES;
/// Seconds over which the motion eases in from, and back out to, the photo's pose, so that the
/// loop has no jump.
const RAMP_SECONDS: f64 = 1.5;
/// Height of the face (its 68 landmarks' bounding box) in the frame, in pixels.
const FACE_HEIGHT: f64 = 200.0;
/// How far beyond the fitted mesh (from its centre) the original face is erased: the fit is not
/// exact, and a sliver of the original jaw or brow left in the background shows as a ghost.
const ERASE_GROWTH: f64 = 1.06;
/// Expression coefficients the script moves (the model's first, strongest modes).
const SCRIPT_EXP: usize = 3;
/// Warm-start rounds that refine the photo's cold-start fit in [`fit_photo`].
const REFINE_ROUNDS: usize = 2;

/// The public-domain portrait the demo is made from (NASA, Eileen Collins; `assets/README.md`).
pub static ASTRONAUT_PNG: &[u8] = include_bytes!("../../assets/astronaut.png");

#[derive(Debug, Error)]
pub enum DemoError {
    #[error("cannot decode the demo photo: {0}")]
    Decode(String),
    #[error("the demo photo holds {found} bytes; {width}×{height} RGB needs {expected}")]
    PhotoSize {
        width: usize,
        height: usize,
        expected: usize,
        found: usize,
    },
    #[error(
        "the fitted parameters hold {n_id} identity and {n_exp} expression coefficients; the model has {model_id} and {model_exp}"
    )]
    Dimensions {
        n_id: usize,
        n_exp: usize,
        model_id: usize,
        model_exp: usize,
    },
    #[error("the fitted face does not lie in the photo")]
    FaceOutside,
    #[error("no face found in the demo photo")]
    NoFace,
    #[error("fitting the demo photo: {0}")]
    Fit(#[from] FitError),
    #[error("refining the fit of the demo photo: {0}")]
    Refine(#[from] WarmStartError),
}

/// What a demo frame shows: its index and timestamp, the true parameters (in the frame's pixels)
/// and the true 68 landmarks they project to, interleaved `[u0, v0, u1, v1, …]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoTruth {
    pub index: u64,
    pub timestamp: Duration,
    pub params: Params,
    pub landmarks: Vec<f64>,
}

/// The demo sequence: the textured face, the background and the motion script.
#[derive(Debug, Clone)]
pub struct DemoSequence {
    model: MorphableModel,
    /// The texture: the photo as given.
    photo: RgbImage,
    /// The photo scaled and cropped to the frame, the original face filled in.
    background: RgbImage,
    /// Each vertex's position in `photo` at the fitted parameters.
    tex: Vec<[f64; 2]>,
    /// The fitted parameters carried into the frame's pixels: the still segment's pose.
    base: Params,
    /// Photo → frame: `frame = scale · photo + offset`.
    scale: f64,
    offset: [f64; 2],
    /// Per-frame buffers: the vertices at the frame's parameters and the depth buffer.
    vertices: Vec<f64>,
    depth: Vec<f32>,
}

/// Decodes the embedded portrait.
pub fn astronaut_photo() -> Result<RgbImage, DemoError> {
    let img = image::load_from_memory(ASTRONAUT_PNG)
        .map_err(|e| DemoError::Decode(e.to_string()))?
        .to_rgb8();
    Ok(RgbImage {
        width: img.width() as usize,
        height: img.height() as usize,
        data: img.into_raw(),
    })
}

/// Fits the model to the face in `photo`: the detector's box, a cold-start fit with `cold`, then
/// (with `refine`, a cascade trained from warm starts) a few warm-start rounds from that fit, which
/// settle the pose the way the tracker would.
pub fn fit_photo(
    photo: &RgbImage,
    detector: &mut FaceDetector,
    cold: &Cascade<'_>,
    refine: Option<&Cascade<'_>>,
) -> Result<Params, DemoError> {
    check_photo(photo)?;
    let mut gray = GrayImage::default();
    gray.set_from_rgb(photo.width, photo.height, &photo.data);
    let detection = detector.detect_best(&gray).ok_or(DemoError::NoFace)?;
    let mut p = cold.cold_start(&detection.face_box);
    let mut scratch = cold.scratch();
    cold.fit(
        &gray,
        &detection.face_box,
        &mut p,
        usize::MAX,
        &mut scratch,
        |_, _, _| {},
    )?;
    if let Some(track) = refine {
        let mut q = p.with_dims(track.update.n_id(), track.update.n_exp());
        let mut scratch = track.scratch();
        let mut x = vec![0.0; 2 * track.model.n_landmarks()];
        for _ in 0..REFINE_ROUNDS {
            fit_from_previous(track, &gray, &mut q, usize::MAX, &mut scratch, &mut x)?;
        }
        p = q;
    }
    Ok(p)
}

fn check_photo(photo: &RgbImage) -> Result<(), DemoError> {
    let expected = photo.width.saturating_mul(photo.height).saturating_mul(3);
    if photo.width == 0 || photo.height == 0 || photo.data.len() != expected {
        return Err(DemoError::PhotoSize {
            width: photo.width,
            height: photo.height,
            expected,
            found: photo.data.len(),
        });
    }
    Ok(())
}

impl DemoSequence {
    /// Builds the sequence from a photo, the model and the parameters fitted to the photo's face
    /// (in the photo's pixels; [`fit_photo`] makes them).
    pub fn new(model: MorphableModel, photo: RgbImage, fitted: &Params) -> Result<Self, DemoError> {
        check_photo(&photo)?;
        if fitted.n_id() > model.n_id() || fitted.n_exp() > model.n_exp() {
            return Err(DemoError::Dimensions {
                n_id: fitted.n_id(),
                n_exp: fitted.n_exp(),
                model_id: model.n_id(),
                model_exp: model.n_exp(),
            });
        }
        let n_exp = fitted.n_exp().max(SCRIPT_EXP.min(model.n_exp()));
        let mut base = fitted.with_dims(fitted.n_id(), n_exp);

        let mut proj = vec![0.0; 2 * model.n_vertices()];
        model.project_vertices(&base, &mut proj);
        let tex: Vec<[f64; 2]> = proj.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
        let mut lm = vec![0.0; 2 * model.n_landmarks()];
        model.project_landmarks(&base, &mut lm);
        let (lo, hi) = bounds(points(&lm));
        let (pw, ph) = (photo.width as f64, photo.height as f64);
        let face_h = hi[1] - lo[1];
        let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        let inside = (0.0..pw).contains(&centre[0]) && (0.0..ph).contains(&centre[1]);
        if !(face_h.is_finite() && face_h > 4.0 && inside) {
            return Err(DemoError::FaceOutside);
        }

        // Photo → frame: a scale that fills the frame and makes the face FACE_HEIGHT tall, and the
        // shift that centres the face as far as the photo's edges allow.
        let (fw, fh) = (DEMO_WIDTH as f64, DEMO_HEIGHT as f64);
        let c = (fw / pw).max(fh / ph).max(FACE_HEIGHT / face_h);
        let ox = (fw / 2.0 - c * centre[0]).max(fw - c * pw).min(0.0);
        let oy = (fh / 2.0 - c * centre[1]).max(fh - c * ph).min(0.0);
        base.set_s(c * base.s());
        base.set_tx(c * base.tx() + ox);
        base.set_ty(c * base.ty() + oy);

        let mut background = RgbImage {
            width: DEMO_WIDTH,
            height: DEMO_HEIGHT,
            data: vec![0; DEMO_WIDTH * DEMO_HEIGHT * 3],
        };
        for y in 0..DEMO_HEIGHT {
            for x in 0..DEMO_WIDTH {
                let px = raster::sample_rgb(&photo, (x as f64 - ox) / c, (y as f64 - oy) / c);
                let i = 3 * (y * DEMO_WIDTH + x);
                background.data[i..i + 3].copy_from_slice(&px);
            }
        }
        erase_face(&model, &base, &mut background);

        Ok(Self {
            vertices: vec![0.0; 3 * model.n_vertices()],
            depth: vec![f32::NEG_INFINITY; DEMO_WIDTH * DEMO_HEIGHT],
            model,
            photo,
            background,
            tex,
            base,
            scale: c,
            offset: [ox, oy],
        })
    }

    pub fn model(&self) -> &MorphableModel {
        &self.model
    }

    /// The still segment's parameters: the photo's fit, in the frame's pixels.
    pub fn base_params(&self) -> &Params {
        &self.base
    }

    /// How the photo maps into the frame: `(scale, [ox, oy])`, `frame = scale · photo + offset`.
    pub fn photo_to_frame(&self) -> (f64, [f64; 2]) {
        (self.scale, self.offset)
    }

    /// The photo the face's texture comes from.
    pub fn photo(&self) -> &RgbImage {
        &self.photo
    }

    /// The background the face is drawn over (the photo with its face filled in).
    pub fn background(&self) -> &RgbImage {
        &self.background
    }

    /// A [`DemoTruth`] of the right sizes, to pass to [`Self::frame`] again and again.
    pub fn truth_buffer(&self) -> DemoTruth {
        DemoTruth {
            index: 0,
            timestamp: Duration::ZERO,
            params: self.base.clone(),
            landmarks: vec![0.0; 2 * self.model.n_landmarks()],
        }
    }

    /// Frame `index`'s timestamp on the sequence's clock: `index / 30` s.
    pub fn timestamp(index: u64) -> Duration {
        let nanos = u128::from(index) * 1_000_000_000 / u128::from(DEMO_FPS);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Renders frame `index` into `out` (resized to 640×480 on first use, then reused) and writes
    /// its ground truth into `truth` (from [`Self::truth_buffer`]). Allocates nothing once the
    /// buffers have their sizes.
    ///
    /// # Panics
    /// If `truth` was not made by [`Self::truth_buffer`] of this sequence.
    pub fn frame(&mut self, index: u64, out: &mut RgbImage, truth: &mut DemoTruth) {
        truth.index = index;
        truth.timestamp = Self::timestamp(index);
        self.params_at(index, &mut truth.params);
        self.model
            .project_landmarks(&truth.params, &mut truth.landmarks);
        self.render(&truth.params, out);
    }

    /// The motion script: frame `index`'s true parameters, written into `out` (of
    /// [`Self::base_params`]'s dimensions). A still segment at the photo's pose, then the head
    /// turns (yaw to ±45°, pitch ±20°, roll ±15°, sums of sines of unrelated periods) while the
    /// first expression modes swing by 1–2 σ, easing in and out so the loop is seamless.
    ///
    /// # Panics
    /// If `out` has other dimensions than [`Self::base_params`].
    pub fn params_at(&self, index: u64, out: &mut Params) {
        out.as_mut_slice().copy_from_slice(self.base.as_slice());
        let f = index % LOOP_FRAMES;
        if f < STILL_FRAMES {
            return;
        }
        let t = (f - STILL_FRAMES) as f64 / DEMO_FPS as f64;
        let end = MOTION_FRAMES as f64 / DEMO_FPS as f64;
        let e = smoothstep(t / RAMP_SECONDS) * smoothstep((end - t) / RAMP_SECONDS);
        let wave = |amplitude: f64, period: f64, phase: f64| {
            amplitude * (2.0 * PI * t / period + phase).sin()
        };
        let deg = PI / 180.0;
        let blend = |from: f64, to: f64| from + e * (to - from);
        out.set_yaw(blend(self.base.yaw(), wave(45.0 * deg, 6.0, 0.0)));
        out.set_pitch(blend(self.base.pitch(), wave(20.0 * deg, 4.25, 0.0)));
        out.set_roll(blend(self.base.roll(), wave(15.0 * deg, 5.3, 1.0)));
        const EXPRESSION: [(f64, f64, f64); SCRIPT_EXP] =
            [(1.8, 3.4, 0.0), (1.5, 2.6, 1.0), (1.2, 4.1, 2.0)];
        let base_exp = self.base.exp();
        for (k, (v, &(a, period, phase))) in out.exp_mut().iter_mut().zip(&EXPRESSION).enumerate() {
            *v = blend(base_exp[k], wave(a, period, phase));
        }
    }

    /// Draws the face at `p` over the background into `out`.
    pub fn render(&mut self, p: &Params, out: &mut RgbImage) {
        out.width = DEMO_WIDTH;
        out.height = DEMO_HEIGHT;
        out.data.resize(DEMO_WIDTH * DEMO_HEIGHT * 3, 0);
        out.data.copy_from_slice(&self.background.data);
        self.model.vertices_3d(p, &mut self.vertices);

        // Only the face's bounding box is drawn into, so only it needs a fresh depth buffer.
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for v in self.vertices.chunks_exact(3) {
            for k in 0..2 {
                lo[k] = lo[k].min(v[k]);
                hi[k] = hi[k].max(v[k]);
            }
        }
        let Some((x0, x1, y0, y1)) = raster::clip(lo, hi, DEMO_WIDTH, DEMO_HEIGHT) else {
            return;
        };
        for y in y0..=y1 {
            self.depth[y * DEMO_WIDTH + x0..=y * DEMO_WIDTH + x1].fill(f32::NEG_INFINITY);
        }

        let vert = |i: u32| {
            let i = 3 * i as usize;
            [self.vertices[i], self.vertices[i + 1], self.vertices[i + 2]]
        };
        let depth = &mut self.depth;
        for tri in self.model.triangles() {
            let [a, b, c] = tri.map(vert);
            // Counter-clockwise from the front in the model's y-up frame is clockwise in the
            // image's y-down frame: a front face has a negative signed area here.
            if signed_area([a[0], a[1]], [b[0], b[1]], [c[0], c[1]]) >= 0.0 {
                continue;
            }
            let [ta, tb, tc] = tri.map(|i| self.tex[i as usize]);
            raster::raster_triangle(
                [[a[0], a[1]], [b[0], b[1]], [c[0], c[1]]],
                DEMO_WIDTH,
                DEMO_HEIGHT,
                |x, y, w| {
                    let z = (w[0] * a[2] + w[1] * b[2] + w[2] * c[2]) as f32;
                    let d = &mut depth[y * DEMO_WIDTH + x];
                    if z <= *d {
                        return;
                    }
                    *d = z;
                    let u = w[0] * ta[0] + w[1] * tb[0] + w[2] * tc[0];
                    let v = w[0] * ta[1] + w[1] * tb[1] + w[2] * tc[1];
                    let i = 3 * (y * DEMO_WIDTH + x);
                    out.data[i..i + 3].copy_from_slice(&raster::sample_rgb(&self.photo, u, v));
                },
            );
        }
    }
}

/// The demo as a frame source: frames 0, 1, 2, … of the endless loop, as fast as they are taken,
/// each stamped with the sequence's own clock (`index / 30` s), so a run is the same every time.
#[derive(Debug, Clone)]
pub struct DemoSource {
    sequence: DemoSequence,
    truth: DemoTruth,
    next: u64,
    /// Sensor noise added to each frame, grey levels (a table replayed at a per-frame offset).
    noise: Vec<i8>,
}

/// Standard deviation of the sensor noise a demo source adds, grey levels: a webcam's in good
/// light. Without it the still segment's frames are identical and say nothing about jitter.
pub const DEMO_NOISE: f64 = 2.0;
/// Length of the noise table (a prime, so the per-frame offsets do not line up with rows).
const NOISE_TABLE: usize = 65_521;

impl DemoSource {
    /// Frames from `start` on, without end ([`super::Take`] limits them).
    pub fn new(sequence: DemoSequence, start: u64) -> Self {
        Self {
            truth: sequence.truth_buffer(),
            sequence,
            next: start,
            noise: noise_table(DEMO_NOISE),
        }
    }

    /// The same without sensor noise: frame `i` is exactly [`DemoSequence::frame`]'s.
    pub fn without_noise(mut self) -> Self {
        self.noise.clear();
        self
    }
}

/// Deterministic Gaussian noise (Box–Muller over a fixed linear congruential sequence).
fn noise_table(sigma: f64) -> Vec<i8> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..NOISE_TABLE)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            let g = (-2.0 * u.ln()).sqrt() * (2.0 * PI * v).cos();
            (sigma * g).round().clamp(-127.0, 127.0) as i8
        })
        .collect()
}

fn add_noise(data: &mut [u8], noise: &[i8], index: u64) {
    let n = noise.len();
    if n == 0 {
        return;
    }
    let mut k = (index.wrapping_mul(40_503) % n as u64) as usize;
    // Runs of the table against runs of pixels: a plain zip the compiler vectorises.
    let mut rest = data;
    while !rest.is_empty() {
        let take = (n - k).min(rest.len());
        let (run, tail) = rest.split_at_mut(take);
        for (px, z) in run.iter_mut().zip(&noise[k..k + take]) {
            *px = px.saturating_add_signed(*z);
        }
        rest = tail;
        k = 0;
    }
}

impl super::FrameSource for DemoSource {
    fn next_frame(&mut self, frame: &mut super::Frame) -> Result<super::Next, super::CaptureError> {
        self.sequence
            .frame(self.next, &mut frame.image, &mut self.truth);
        add_noise(&mut frame.image.data, &self.noise, self.next);
        frame.index = self.next;
        frame.timestamp = self.truth.timestamp;
        frame.captured = std::time::Instant::now();
        self.next += 1;
        Ok(super::Next::Frame)
    }

    fn describe(&self) -> String {
        format!("demo ({DEMO_WIDTH}×{DEMO_HEIGHT}, a synthetic face with ground truth)")
    }
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// Replaces the face of `p` (grown by [`ERASE_GROWTH`] about its centre) in `img` by colours
/// interpolated from around it.
fn erase_face(model: &MorphableModel, p: &Params, img: &mut RgbImage) {
    let mut proj = vec![0.0; 2 * model.n_vertices()];
    model.project_vertices(p, &mut proj);
    let (lo, hi) = bounds(points(&proj));
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let grown = |i: u32| {
        let i = 2 * i as usize;
        [
            centre[0] + ERASE_GROWTH * (proj[i] - centre[0]),
            centre[1] + ERASE_GROWTH * (proj[i + 1] - centre[1]),
        ]
    };
    let mut known = vec![true; img.width * img.height];
    for tri in model.triangles() {
        raster::raster_triangle(tri.map(grown), img.width, img.height, |x, y, _| {
            known[y * img.width + x] = false
        });
    }
    fill_unknown(img, &known);
}

/// Push-pull hole filling: average the known pixels down an image pyramid until every level-top
/// pixel has a value, then fill each level's gaps from the (bilinearly upsampled) level above. It
/// gives a smooth membrane that meets the surroundings' colours at the hole's edge.
fn fill_unknown(img: &mut RgbImage, known: &[bool]) {
    // Each level: width, height, and per pixel [r, g, b, confidence], colours not premultiplied.
    let mut levels: Vec<(usize, usize, Vec<[f32; 4]>)> = vec![(
        img.width,
        img.height,
        img.data
            .chunks_exact(3)
            .zip(known)
            .map(|(c, &k)| {
                if k {
                    [c[0] as f32, c[1] as f32, c[2] as f32, 1.0]
                } else {
                    [0.0; 4]
                }
            })
            .collect(),
    )];
    while let Some((w, h, px)) = levels.last().filter(|(w, h, _)| *w > 1 || *h > 1) {
        let (nw, nh) = (w.div_ceil(2), h.div_ceil(2));
        let mut next = vec![[0.0f32; 4]; nw * nh];
        for y in 0..nh {
            for x in 0..nw {
                let mut sum = [0.0f32; 4];
                for (cx, cy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let (xx, yy) = (2 * x + cx, 2 * y + cy);
                    if xx < *w && yy < *h {
                        let c = px[yy * w + xx];
                        for k in 0..3 {
                            sum[k] += c[k] * c[3];
                        }
                        sum[3] += c[3];
                    }
                }
                if sum[3] > 0.0 {
                    next[y * nw + x] = [
                        sum[0] / sum[3],
                        sum[1] / sum[3],
                        sum[2] / sum[3],
                        sum[3].min(1.0),
                    ];
                }
            }
        }
        levels.push((nw, nh, next));
    }
    for l in (0..levels.len() - 1).rev() {
        let (lower, upper) = levels.split_at_mut(l + 1);
        let (w, h, px) = &mut lower[l];
        let (uw, uh, up) = &upper[0];
        for y in 0..*h {
            for x in 0..*w {
                let c = &mut px[y * *w + x];
                if c[3] >= 1.0 {
                    continue;
                }
                // The centre of pixel (x, y) in the coarser level's pixel coordinates.
                let ux = ((x as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (*uw - 1) as f32);
                let uy = ((y as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (*uh - 1) as f32);
                let (x0, y0) = (ux as usize, uy as usize);
                let (x1, y1) = ((x0 + 1).min(*uw - 1), (y0 + 1).min(*uh - 1));
                let (fx, fy) = (ux - x0 as f32, uy - y0 as f32);
                let a = c[3];
                for k in 0..3 {
                    let at = |xx: usize, yy: usize| up[yy * uw + xx][k];
                    let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
                    let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
                    c[k] = a * c[k] + (1.0 - a) * (top * (1.0 - fy) + bottom * fy);
                }
                c[3] = 1.0;
            }
        }
    }
    for ((dst, c), &k) in img.data.chunks_exact_mut(3).zip(&levels[0].2).zip(known) {
        if !k {
            for i in 0..3 {
                dst[i] = c[i].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_monotonic_at_30_fps() {
        assert_eq!(DemoSequence::timestamp(0), Duration::ZERO);
        assert_eq!(DemoSequence::timestamp(30), Duration::from_secs(1));
        let mut last = Duration::ZERO;
        for i in 1..1000 {
            let t = DemoSequence::timestamp(i);
            assert!(t > last);
            last = t;
        }
    }

    #[test]
    fn holes_are_filled_from_their_surroundings() {
        let (w, h) = (9, 7);
        let mut img = RgbImage {
            width: w,
            height: h,
            data: vec![100; w * h * 3],
        };
        let mut known = vec![true; w * h];
        for y in 2..5 {
            for x in 3..6 {
                known[y * w + x] = false;
                img.data[3 * (y * w + x)..3 * (y * w + x) + 3].fill(0);
            }
        }
        fill_unknown(&mut img, &known);
        assert!(img.data.iter().all(|&v| v == 100));
    }

    #[test]
    fn a_triangle_covers_the_pixel_centres_inside_it() {
        let mut n = 0;
        // No pixel centre on an edge: the hypotenuse is x + y = 9.9.
        raster::raster_triangle(
            [[-0.3, -0.3], [10.2, -0.3], [-0.3, 10.2]],
            DEMO_WIDTH,
            DEMO_HEIGHT,
            |x, y, w| {
                assert!(x + y <= 9);
                assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                n += 1;
            },
        );
        assert_eq!(n, 55);
    }

    #[test]
    fn a_bad_photo_is_an_error() {
        let photo = RgbImage {
            width: 4,
            height: 4,
            data: vec![0; 5],
        };
        assert!(matches!(
            check_photo(&photo),
            Err(DemoError::PhotoSize { .. })
        ));
    }
}
