//! Face profiling (Zhu et al., CVPR 2016, "Face Alignment Across Large Poses: A 3D Solution"): a
//! training face re-rendered at a larger yaw or pitch, the way 300W-LP was made from 300W, so that
//! the cascade sees large poses that photos rarely show.
//!
//! The dense mesh under the face's ground truth gives every vertex a texture coordinate (its
//! projection in the photo); the mesh is drawn again under the turned pose with those coordinates.
//! What the mesh does not cover (hair, ears, neck, background) follows a smooth displacement field
//! that takes the turned face's silhouette onto the photo's face outline and fades to no
//! displacement further out, so that the surroundings stay attached to the turned face without a
//! seam and without the photo's own face showing beside the turned one. The side of the head the
//! photo hides comes out as stretched texture (or, turning a face back towards the camera, as a
//! copy of what hid it): the method's accepted artefact, and why faces are turned further out.

use std::f64::consts::{PI, TAU};

use crate::align::detect::{bounds, points, square_box_around};
use crate::fit::training_set::{FaceSample, bbox_norm};
use crate::image::GrayImage;
use crate::model::{MorphableModel, Params};
use crate::raster::{raster_triangle, sample_gray, signed_area};

/// Spacing of the grid the background displacement is computed on, output pixels: the field is
/// smooth on the scale of the face, and evaluating it per pixel would cost most of a profile.
const GRID_STEP: usize = 8;
/// Directions around the face in which its outline's distance from the centre is measured: the
/// mesh outline has a few dozen vertices, so finer bins would see gaps between them.
const BINS: usize = 48;
/// Where the background displacement has faded to nothing, as a multiple of the face's radius in
/// that direction: near enough that the crop's corners keep the photo, far enough that hair and
/// ears, which sit within about half a face of the outline, are carried along.
const FADE_RADIUS: f64 = 2.0;
/// Largest crop side, pixels: a bound on the allocation for absurd requests.
const MAX_SIDE: usize = 4096;
/// How far out (as a fraction of the photo's outline radius in its direction) a silhouette
/// vertex's photo position must lie to count as on the outline, from "not at all" to "fully": in
/// between, its anchor blends towards the outline's.
const OUTLINE_DEPTH: [f64; 2] = [0.8, 0.95];
/// How far round the photo's outline (radians) a silhouette vertex may lie from the direction it
/// anchors, from "fully" to "not at all".
const ANCHOR_TURN: [f64; 2] = [0.35, 0.7];
/// Least area the drawn face must cover, as a fraction of the face box's: a frontal face covers
/// about 0.7 of it and a full profile about 0.4.
const MIN_COVERED: f64 = 0.1;
/// Fewest pixels the face box may span, in the source or the crop, for the result to be usable.
const MIN_FACE_PX: f64 = 8.0;

/// Source pixels → crop pixels: `q = c · (x − centre) + half`.
#[derive(Debug, Clone, Copy)]
struct Crop {
    c: f64,
    centre: [f64; 2],
    half: f64,
    side: usize,
}

impl Crop {
    /// The crop that puts the square box around `pts` in the middle at `face_px` pixels wide.
    fn around(pts: impl IntoIterator<Item = [f64; 2]>, face_px: f64) -> Option<Self> {
        if !(face_px.is_finite() && face_px >= MIN_FACE_PX) {
            return None;
        }
        let b = square_box_around(pts)?;
        let width = b.right - b.left;
        if !(width.is_finite() && width >= MIN_FACE_PX) {
            return None;
        }
        let side = (2.0 * face_px).round();
        if side > MAX_SIDE as f64 {
            return None;
        }
        let side = side as usize;
        Some(Self {
            c: face_px / width,
            centre: [(b.left + b.right) / 2.0, (b.top + b.bottom) / 2.0],
            half: (side as f64 - 1.0) / 2.0,
            side,
        })
    }

    fn to_crop(self, x: [f64; 2]) -> [f64; 2] {
        [
            self.c * (x[0] - self.centre[0]) + self.half,
            self.c * (x[1] - self.centre[1]) + self.half,
        ]
    }

    fn to_source(self, q: [f64; 2]) -> [f64; 2] {
        [
            (q[0] - self.half) / self.c + self.centre[0],
            (q[1] - self.half) / self.c + self.centre[1],
        ]
    }

    /// The same face in the crop's pixels: a weak-perspective camera scales and shifts linearly.
    fn params(&self, p: &Params) -> Params {
        let mut q = p.clone();
        q.set_s(self.c * p.s());
        q.set_tx(self.c * (p.tx() - self.centre[0]) + self.half);
        q.set_ty(self.c * (p.ty() - self.centre[1]) + self.half);
        q
    }

    /// The source resampled into the crop, black beyond the source's edges.
    fn resample(&self, src: &GrayImage) -> Vec<u8> {
        let mut out = vec![0u8; self.side * self.side];
        for (y, row) in out.chunks_exact_mut(self.side).enumerate() {
            for (x, px) in row.iter_mut().enumerate() {
                let s = self.to_source([x as f64, y as f64]);
                *px = sample_gray(src, s[0], s[1]);
            }
        }
        out
    }
}

/// Whether the parameters fit the model (projection panics otherwise) and are finite.
fn usable(p: &Params, model: &MorphableModel) -> bool {
    p.n_id() <= model.n_id()
        && p.n_exp() <= model.n_exp()
        && p.as_slice().iter().all(|v| v.is_finite())
}

/// `face` cropped and scaled so that its ground-truth box is about `face_px` pixels wide, centred
/// in a square image of side `2 · face_px`: the frame [`FaceProfiler::profile`] renders into, so
/// that original and profiled faces can be stored alike. `None` when the face is degenerate.
pub fn crop_face(face: &FaceSample, model: &MorphableModel, face_px: f64) -> Option<FaceSample> {
    if !usable(&face.truth, model) {
        return None;
    }
    let crop = Crop::around(face.points.iter().copied(), face_px)?;
    let image = GrayImage::from_raw(crop.side, crop.side, crop.resample(&face.image))?;
    let mut out = FaceSample::new(face.name.clone(), image, crop.params(&face.truth), model)?;
    // The reference points are the face's own, carried over: a mirrored face's are exact where
    // its refitted coefficients are only close.
    out.points = face.points.iter().map(|&x| crop.to_crop(x)).collect();
    out.norm = bbox_norm(&out.points);
    Some(out)
}

/// The absolute yaws (degrees) a training face is turned to, each at least [`PROFILE_STEP_DEG`]
/// beyond its own; 300W-LP went to 90° in finer steps, which costs more images than the
/// cascades gained here.
pub const PROFILE_YAWS_DEG: [f64; 4] = [30.0, 50.0, 70.0, 90.0];
/// The least a profile turns a face further out, degrees.
pub const PROFILE_STEP_DEG: f64 = 10.0;
/// Size of a profiled face's box in its crop, pixels: about the shared photos' own faces.
pub const PROFILE_FACE_PX: f64 = 160.0;

/// The yaws (radians) to turn a face of yaw `yaw` to: further out on its own side only — turned
/// back towards the camera, the side the photo hides would show a copy of what hid it — and to
/// both sides for a face that looks nearly straight on.
pub fn outward_yaws(yaw: f64) -> Vec<f64> {
    let own = yaw.abs().to_degrees();
    let sides: &[f64] = if own < PROFILE_STEP_DEG {
        &[1.0, -1.0]
    } else if yaw > 0.0 {
        &[1.0]
    } else {
        &[-1.0]
    };
    PROFILE_YAWS_DEG
        .iter()
        .filter(|&&t| t >= own + PROFILE_STEP_DEG)
        .flat_map(|&t| sides.iter().map(move |s| (s * t).to_radians()))
        .collect()
}

/// A turned face before it becomes a [`FaceSample`].
struct Rendered {
    pixels: Vec<u8>,
    /// Per pixel, whether the mesh was drawn there: what the face's edge is, for the tests.
    #[cfg_attr(not(test), allow(dead_code))]
    covered: Vec<bool>,
    crop: Crop,
    /// The turned parameters, in the photo's pixels.
    turned: Params,
}

/// Renders training faces turned further out.
#[derive(Debug, Clone)]
pub struct FaceProfiler<'a> {
    model: &'a MorphableModel,
}

impl<'a> FaceProfiler<'a> {
    pub fn new(model: &'a MorphableModel) -> Self {
        Self { model }
    }

    /// `face` turned to absolute yaw `yaw` and pitch `pitch` (radians, the dataset's Euler
    /// convention: only the yaw and pitch values in the params change; roll, scale, translation
    /// and coefficients stay), as a new FaceSample whose image is a crop around the turned face,
    /// scaled so that the square ground-truth box (FaceSample::face_box) is about `face_px` pixels
    /// wide, and whose truth (Params) is in that crop's pixels. None when the result is unusable
    /// (face leaves the picture, non-finite numbers, degenerate).
    pub fn profile(
        &self,
        face: &FaceSample,
        yaw: f64,
        pitch: f64,
        face_px: f64,
    ) -> Option<FaceSample> {
        let r = self.render(face, yaw, pitch, face_px)?;
        let image = GrayImage::from_raw(r.crop.side, r.crop.side, r.pixels)?;
        let mut name = format!("{}#yaw{:.0}", face.name, yaw.to_degrees());
        if (pitch - face.truth.pitch()).abs() > 0.5_f64.to_radians() {
            name.push_str(&format!("pitch{:.0}", pitch.to_degrees()));
        }
        let sample = FaceSample::new(name, image, r.crop.params(&r.turned), self.model)?;
        let side = r.crop.side as f64;
        let inside = sample
            .points
            .iter()
            .all(|x| (0.0..side - 1.0).contains(&x[0]) && (0.0..side - 1.0).contains(&x[1]));
        inside.then_some(sample)
    }

    /// The turned face's crop, and which of its pixels the mesh covers.
    fn render(&self, face: &FaceSample, yaw: f64, pitch: f64, face_px: f64) -> Option<Rendered> {
        let model = self.model;
        let p = &face.truth;
        if !(usable(p, model) && yaw.is_finite() && pitch.is_finite()) {
            return None;
        }
        let src = &face.image;
        let (sw, sh) = (src.width() as f64, src.height() as f64);
        let nv = model.n_vertices();

        // A face whose landmarks are largely outside the photo has no texture to turn.
        let mut lm = vec![0.0; 2 * model.n_landmarks()];
        model.project_landmarks(p, &mut lm);
        let outside = points(&lm)
            .filter(|x| !((-0.5..sw - 0.5).contains(&x[0]) && (-0.5..sh - 0.5).contains(&x[1])))
            .count();
        if outside * 10 > model.n_landmarks() {
            return None;
        }

        let mut tex = vec![0.0; 2 * nv];
        model.project_vertices(p, &mut tex);
        let mut turned = p.clone();
        turned.set_yaw(yaw);
        turned.set_pitch(pitch);
        let mut v3 = vec![0.0; 3 * nv];
        model.vertices_3d(&turned, &mut v3);
        model.project_landmarks(&turned, &mut lm);
        let crop = Crop::around(points(&lm), face_px)?;
        if !tex.iter().chain(&v3).all(|v| v.is_finite()) {
            return None;
        }

        let mut pixels = self.background(src, &crop, &tex, &v3)?;
        let covered = self.draw_face(src, &crop, &tex, &v3, &mut pixels);
        // A face turned away (or squashed to a sliver) leaves too little to learn from.
        let drawn = covered.iter().filter(|&&c| c).count() as f64;
        if drawn < MIN_COVERED * face_px * face_px {
            return None;
        }
        Some(Rendered {
            pixels,
            covered,
            crop,
            turned,
        })
    }

    /// Everything but the face: each crop pixel samples the photo where its content was before
    /// the turn. Along each direction from the face's centre, the turned silhouette maps onto the
    /// photo's face outline, and the radii from there to [`FADE_RADIUS`] times the face's radius
    /// stretch linearly onto those beyond the photo's outline, with no displacement further out:
    /// what lies just beyond the turned face is what lay just beyond the photo's face, so neither
    /// a seam nor a ghost of the photo's face appears. Inside the silhouette (pixels the mesh
    /// leaves uncovered) the photo's face is scaled into it.
    fn background(&self, src: &GrayImage, crop: &Crop, tex: &[f64], v3: &[f64]) -> Option<Vec<u8>> {
        let source = Silhouette::new(tex.chunks_exact(2).map(|t| [t[0], t[1]]))?;
        let turned = Silhouette::new(v3.chunks_exact(3).map(|v| [v[0], v[1]]))?;
        // A vertex seen from behind in the photo has, as texture, whatever hid it: no anchor.
        let mut seen = vec![false; tex.len() / 2];
        for tri in self.model.triangles() {
            let [a, b, c] = tri.map(|i| [tex[2 * i as usize], tex[2 * i as usize + 1]]);
            if signed_area(a, b, c) < 0.0 {
                for &i in tri {
                    seen[i as usize] = true;
                }
            }
        }
        let shifts = anchor_shifts(&turned, &source, tex, v3, &seen);
        let side = crop.side;
        let n = side.div_ceil(GRID_STEP) + 1;
        let mut field = vec![[0.0f64; 2]; n * n];
        for gy in 0..n {
            for gx in 0..n {
                let x = crop.to_source([(gx * GRID_STEP) as f64, (gy * GRID_STEP) as f64]);
                let (dx, dy) = (x[0] - turned.centre[0], x[1] - turned.centre[1]);
                let (r, angle) = (dx.hypot(dy), dy.atan2(dx));
                let dir = [angle.cos(), angle.sin()];
                let rt = turned.radius(angle);
                let a = anchor_at(&turned, &shifts, angle);
                let from = if r <= rt {
                    let k = r / rt;
                    [
                        source.centre[0] + k * (a[0] - source.centre[0]),
                        source.centre[1] + k * (a[1] - source.centre[1]),
                    ]
                } else {
                    // From the anchor straight out to the point where the displacement ends, so
                    // that nothing near the turned face samples inside the photo's.
                    let fade = FADE_RADIUS * rt.max(source.radius(angle));
                    let u = (r - rt) / (fade - rt);
                    if u >= 1.0 {
                        x
                    } else {
                        let end = |k: usize| turned.centre[k] + fade * dir[k];
                        [(1.0 - u) * a[0] + u * end(0), (1.0 - u) * a[1] + u * end(1)]
                    }
                };
                field[gy * n + gx] = [from[0] - x[0], from[1] - x[1]];
            }
        }

        let mut out = vec![0u8; side * side];
        let inv_step = 1.0 / GRID_STEP as f64;
        for (y, row) in out.chunks_exact_mut(side).enumerate() {
            let gy = y / GRID_STEP;
            let fy = (y % GRID_STEP) as f64 * inv_step;
            for (x, px) in row.iter_mut().enumerate() {
                let gx = x / GRID_STEP;
                let fx = (x % GRID_STEP) as f64 * inv_step;
                let at = |i: usize, j: usize, k: usize| field[j * n + i][k];
                let lerp = |k: usize| {
                    let top = at(gx, gy, k) * (1.0 - fx) + at(gx + 1, gy, k) * fx;
                    let bottom = at(gx, gy + 1, k) * (1.0 - fx) + at(gx + 1, gy + 1, k) * fx;
                    top * (1.0 - fy) + bottom * fy
                };
                let s = crop.to_source([x as f64, y as f64]);
                *px = sample_gray(src, s[0] + lerp(0), s[1] + lerp(1));
            }
        }
        Some(out)
    }

    /// The turned mesh's front faces, z-buffered, each pixel textured from the photo.
    /// Returns which pixels it drew.
    fn draw_face(
        &self,
        src: &GrayImage,
        crop: &Crop,
        tex: &[f64],
        v3: &[f64],
        out: &mut [u8],
    ) -> Vec<bool> {
        let side = crop.side;
        let mut depth = vec![f32::NEG_INFINITY; side * side];
        let vert = |i: u32| {
            let i = 3 * i as usize;
            let q = crop.to_crop([v3[i], v3[i + 1]]);
            [q[0], q[1], v3[i + 2]]
        };
        for tri in self.model.triangles() {
            let [a, b, c] = tri.map(vert);
            // Counter-clockwise from the front in the model's y-up frame is clockwise in the
            // image's y-down frame: a front face has a negative signed area here.
            if signed_area([a[0], a[1]], [b[0], b[1]], [c[0], c[1]]) >= 0.0 {
                continue;
            }
            let [ta, tb, tc] = tri.map(|i| [tex[2 * i as usize], tex[2 * i as usize + 1]]);
            let corners = [[a[0], a[1]], [b[0], b[1]], [c[0], c[1]]];
            raster_triangle(corners, side, side, |x, y, w| {
                let z = (w[0] * a[2] + w[1] * b[2] + w[2] * c[2]) as f32;
                let d = &mut depth[y * side + x];
                if z <= *d {
                    return;
                }
                *d = z;
                let u = w[0] * ta[0] + w[1] * tb[0] + w[2] * tc[0];
                let v = w[0] * ta[1] + w[1] * tb[1] + w[2] * tc[1];
                out[y * side + x] = sample_gray(src, u, v);
            });
        }
        depth.iter().map(|d| d.is_finite()).collect()
    }
}

/// A face's outline as its distance from the centre of its bounding box in [`BINS`] directions.
#[derive(Debug, Clone)]
struct Silhouette {
    centre: [f64; 2],
    radius: [f64; BINS],
    /// The vertex farthest out in each direction, if any falls in it.
    outermost: [Option<usize>; BINS],
}

impl Silhouette {
    /// The outline of the projected mesh vertices; `None` when they are degenerate.
    fn new(pts: impl Iterator<Item = [f64; 2]> + Clone) -> Option<Self> {
        let (lo, hi) = bounds(pts.clone());
        let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        if !(centre[0].is_finite() && centre[1].is_finite()) {
            return None;
        }
        let mut radius = [0.0f64; BINS];
        let mut outermost = [None; BINS];
        for (v, p) in pts.enumerate() {
            let (dx, dy) = (p[0] - centre[0], p[1] - centre[1]);
            let (b, r) = (bin(dy.atan2(dx)), dx.hypot(dy));
            if r > radius[b] {
                radius[b] = r;
                outermost[b] = Some(v);
            }
        }
        // A direction between two outline vertices may only catch interior ones: it takes at
        // least its neighbours' mean, then a light smoothing hides the bins' steps.
        let around = |r: &[f64; BINS], i: usize| (r[(i + BINS - 1) % BINS], r[(i + 1) % BINS]);
        let filled: [f64; BINS] = std::array::from_fn(|i| {
            let (a, b) = around(&radius, i);
            radius[i].max((a + b) / 2.0)
        });
        let smooth: [f64; BINS] = std::array::from_fn(|i| {
            let (a, b) = around(&filled, i);
            (a + 2.0 * filled[i] + b) / 4.0
        });
        smooth
            .iter()
            .all(|&r| r.is_finite() && r > 0.5)
            .then_some(Self {
                centre,
                radius: smooth,
                outermost,
            })
    }

    /// The outline's distance from the centre in direction `angle`, between bin centres linearly.
    fn radius(&self, angle: f64) -> f64 {
        let (i, j, f) = between_bins(angle);
        self.radius[i] * (1.0 - f) + self.radius[j] * f
    }

    /// The outline point in direction `angle`.
    fn point(&self, angle: f64) -> [f64; 2] {
        let r = self.radius(angle);
        [
            self.centre[0] + r * angle.cos(),
            self.centre[1] + r * angle.sin(),
        ]
    }
}

/// The two bins whose centres surround direction `angle`, and how far it lies from the first.
fn between_bins(angle: f64) -> (usize, usize, f64) {
    let t = angle.rem_euclid(TAU) / TAU * BINS as f64 - 0.5;
    let i = t.floor();
    let f = t - i;
    let i = (i as isize).rem_euclid(BINS as isize) as usize;
    (i, (i + 1) % BINS, f)
}

/// Where, in the photo, the turned silhouette lies in each direction, as a shift from where it
/// lies in the turned picture: where the silhouette is the mesh's own outline and the photo shows
/// it, the shift of the vertex that draws it (so the background continues exactly the texture at
/// the face's edge); where it is a contour the turn revealed (the nose's profile), the shift onto
/// the photo's outline in that direction, since the texture at such a contour comes from inside
/// the photo's face and the surroundings must not. Shifts, not positions, are smoothed and
/// interpolated between directions, so that a face at its own pose maps exactly onto itself.
fn anchor_shifts(
    turned: &Silhouette,
    source: &Silhouette,
    tex: &[f64],
    v3: &[f64],
    seen: &[bool],
) -> [[f64; 2]; BINS] {
    let raw: [[f64; 2]; BINS] = std::array::from_fn(|b| {
        let angle = (b as f64 + 0.5) / BINS as f64 * TAU;
        let (from, to) = (turned.point(angle), source.point(angle));
        let outline = [to[0] - from[0], to[1] - from[1]];
        let Some(v) = turned.outermost[b].filter(|&v| seen[v]) else {
            return outline;
        };
        let t = [tex[2 * v], tex[2 * v + 1]];
        let (dx, dy) = (t[0] - source.centre[0], t[1] - source.centre[1]);
        let depth = dx.hypot(dy) / source.radius(dy.atan2(dx));
        let on_outline =
            ((depth - OUTLINE_DEPTH[0]) / (OUTLINE_DEPTH[1] - OUTLINE_DEPTH[0])).clamp(0.0, 1.0);
        // The background runs straight from the anchor outwards: an anchor far round the outline
        // from this direction would drag that line across the photo's face.
        let turn = ((dy.atan2(dx) - angle + PI).rem_euclid(TAU) - PI).abs();
        let aligned = ((ANCHOR_TURN[1] - turn) / (ANCHOR_TURN[1] - ANCHOR_TURN[0])).clamp(0.0, 1.0);
        let w = on_outline * aligned;
        let shift = [t[0] - v3[3 * v], t[1] - v3[3 * v + 1]];
        [
            w * shift[0] + (1.0 - w) * outline[0],
            w * shift[1] + (1.0 - w) * outline[1],
        ]
    });
    std::array::from_fn(|i| {
        let (a, b) = (raw[(i + BINS - 1) % BINS], raw[(i + 1) % BINS]);
        [
            (a[0] + 2.0 * raw[i][0] + b[0]) / 4.0,
            (a[1] + 2.0 * raw[i][1] + b[1]) / 4.0,
        ]
    })
}

/// The photo position of the turned silhouette in direction `angle`.
fn anchor_at(turned: &Silhouette, shifts: &[[f64; 2]; BINS], angle: f64) -> [f64; 2] {
    let (i, j, f) = between_bins(angle);
    let p = turned.point(angle);
    [
        p[0] + shifts[i][0] * (1.0 - f) + shifts[j][0] * f,
        p[1] + shifts[i][1] * (1.0 - f) + shifts[j][1] * f,
    ]
}

/// The bin of direction `angle` (radians).
fn bin(angle: f64) -> usize {
    ((angle.rem_euclid(TAU) / TAU * BINS as f64) as usize).min(BINS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn model() -> &'static MorphableModel {
        static M: OnceLock<MorphableModel> = OnceLock::new();
        M.get_or_init(|| {
            let path =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/face_model.bin");
            MorphableModel::from_bytes(&std::fs::read(path).unwrap()).unwrap()
        })
    }

    /// A mean face about 120 px wide, turned slightly, on a smooth texture that never reaches
    /// black (so a black pixel in a result can only come from outside the photo).
    fn synthetic_face() -> FaceSample {
        let m = model();
        let (w, h) = (320usize, 320usize);
        let px = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                let v = 128.0
                    + 60.0 * (x / 9.0).sin() * (y / 11.0).cos()
                    + 30.0 * ((x + y) / 23.0).sin();
                v.round() as u8
            })
            .collect();
        let mut p = Params::for_model(m);
        let mut lm = vec![0.0; 2 * m.n_landmarks()];
        m.project_landmarks(&p, &mut lm);
        let (lo, hi) = bounds(points(&lm));
        p.set_s(120.0 / (hi[0] - lo[0]));
        p.set_yaw(0.15);
        p.set_pitch(-0.1);
        p.set_tx(160.0);
        p.set_ty(165.0);
        FaceSample::new(
            "synthetic".into(),
            GrayImage::from_raw(w, h, px).unwrap(),
            p,
            m,
        )
        .unwrap()
    }

    #[test]
    fn the_own_pose_reproduces_the_crop() {
        let face = synthetic_face();
        let crop = crop_face(&face, model(), 90.0).unwrap();
        let same = FaceProfiler::new(model())
            .profile(&face, face.truth.yaw(), face.truth.pitch(), 90.0)
            .unwrap();
        assert_eq!(same.image.width(), crop.image.width());
        for (a, b) in same.points.iter().zip(&crop.points) {
            assert!((a[0] - b[0]).abs() < 1e-6 && (a[1] - b[1]).abs() < 1e-6);
        }
        // Face and surroundings alike: the background's displacement vanishes at the own pose.
        let sum: u64 = (same.image.pixels().iter())
            .zip(crop.image.pixels())
            .map(|(&a, &b)| u64::from(a.abs_diff(b)))
            .sum();
        let mad = sum as f64 / crop.image.pixels().len() as f64;
        assert!(mad < 0.5, "mean abs difference {mad}");
    }

    #[test]
    fn a_profiled_face_has_the_requested_pose_and_a_textured_face() {
        let face = synthetic_face();
        let profiler = FaceProfiler::new(model());
        for deg in [-75.0f64, 50.0, 90.0] {
            let yaw = deg.to_radians();
            let s = profiler.profile(&face, yaw, 0.2, 80.0).unwrap();
            assert!((s.truth.yaw() - yaw).abs() < 1e-12 && (s.truth.pitch() - 0.2).abs() < 1e-12);
            assert_eq!(s.truth.roll(), face.truth.roll());
            let side = s.image.width() as f64;
            assert_eq!(s.image.width(), 160);
            assert!(
                s.points
                    .iter()
                    .all(|p| (0.0..side).contains(&p[0]) && (0.0..side).contains(&p[1]))
            );
            let width = s.face_box.right - s.face_box.left;
            assert!((width - 80.0).abs() <= 2.0, "face box {width} px");
            let b = &s.face_box;
            let v: Vec<f64> = (b.top as usize..b.bottom as usize)
                .flat_map(|y| (b.left as usize..b.right as usize).map(move |x| (x, y)))
                .map(|(x, y)| f64::from(s.image.get(x, y)))
                .collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / v.len() as f64;
            assert!(var.sqrt() > 15.0, "yaw {deg}°: face spread {}", var.sqrt());
        }
        assert!(profiler.profile(&face, f64::NAN, 0.0, 80.0).is_none());
        assert!(profiler.profile(&face, 0.3, 0.0, f64::INFINITY).is_none());
    }

    /// Along the drawn face's edge, the background pixel next to an edge pixel continues the
    /// face: closer to it than the photo left in place would be, and never the black of a gap.
    /// (Where the turn reveals a contour inside the photo's face, such as the nose's profile, the
    /// background rightly does not continue the texture, so the bar is a ratio, not near zero.)
    #[test]
    fn the_background_meets_the_face_without_a_seam() {
        let face = synthetic_face();
        let profiler = FaceProfiler::new(model());
        // Turns further out from the photo's yaw (8.6°), as profiling is used.
        for deg in [30.0f64, 45.0] {
            let r = profiler
                .render(&face, deg.to_radians(), face.truth.pitch(), 80.0)
                .unwrap();
            let side = r.crop.side;
            let (mut warped, mut still, mut n, mut black) = (0.0, 0.0, 0usize, 0usize);
            for y in 1..side - 1 {
                for x in 1..side - 1 {
                    let i = y * side + x;
                    if r.covered[i] {
                        continue;
                    }
                    for j in [i - 1, i + 1, i - side, i + side] {
                        if !r.covered[j] {
                            continue;
                        }
                        let edge = f64::from(r.pixels[j]);
                        let s = r.crop.to_source([x as f64, y as f64]);
                        warped += (f64::from(r.pixels[i]) - edge).abs();
                        still += (f64::from(sample_gray(&face.image, s[0], s[1])) - edge).abs();
                        n += 1;
                        black += usize::from(r.pixels[i] == 0);
                    }
                }
            }
            let (warped, still) = (warped / n as f64, still / n as f64);
            eprintln!("yaw {deg}°: {n} edge pairs, warped {warped:.1}, left in place {still:.1}");
            assert!(n > 100);
            assert_eq!(black, 0);
            assert!(
                warped < 0.5 * still,
                "yaw {deg}°: {warped:.1} against {still:.1}"
            );
        }
    }
}
