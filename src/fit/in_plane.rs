//! Fitting a face rolled far in the image plane (a phone held sideways, a rotated video) in an
//! upright copy of the region around it. The copy is the image turned about the face by a
//! similarity and resampled bilinearly. The parameters follow the image: turning it by θ in its
//! plane left-multiplies the head rotation by a rotation about the view axis, `R' = Rz(−θ)·R`,
//! whose angles in the `Rx·Ry·Rz` convention are found again from the matrix
//! ([`euler_angles`]), and carries the translation along with the pixels. The landmark cascade,
//! trained on faces near upright, runs in the copy, and its result is carried back.

use super::cascade::{Cascade, FitError, FitScratch};
use crate::align::FaceBox;
use crate::align::detect::{points, square_box_around};
use crate::image::GrayImage;
use crate::model::rotation::{euler_angles, rotation};
use crate::model::{MorphableModel, Params};

/// The view's side as a multiple of the face's landmark box: room for the face to move between
/// frames. dlib's cascade reads its feature pixels inside the current shape's box, so a larger
/// view changes nothing while the fit stays in it: on 120 AFLW2000-3D faces, 1.5 and 2 give the
/// same NME to the last digit, and 1.5 resamples 44 % fewer pixels (`tests/in_plane.rs`).
pub const VIEW_FACE_RATIO: f64 = 1.5;

/// View sides are rounded up to a multiple of this, so a face that changes size a little reuses
/// the buffer without growing it.
const VIEW_STEP: usize = 32;
const MIN_VIEW_SIDE: usize = 64;
/// Bounds the buffer when diverged parameters claim an enormous face.
const MAX_VIEW_SIDE: usize = 4096;

/// The similarity from an image to a view of it, `q = k·M(θ)·(x − c) + o` in pixel coordinates
/// (y down), with `M(θ) = [[cos θ, sin θ], [−sin θ, cos θ]]`: a head rolled by θ in the image
/// (top towards image right for θ > 0, as the roll angle counts) stands upright in the view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaneTransform {
    centre: [f64; 2],
    angle: f64,
    scale: f64,
    view_centre: [f64; 2],
    cos: f64,
    sin: f64,
}

impl Default for PlaneTransform {
    fn default() -> Self {
        Self::new([0.0; 2], 0.0, 1.0, [0.0; 2])
    }
}

impl PlaneTransform {
    /// Takes the image point `centre` to the view point `view_centre`, turning by `angle` (radians)
    /// and scaling by `scale` about it.
    pub fn new(centre: [f64; 2], angle: f64, scale: f64, view_centre: [f64; 2]) -> Self {
        let (sin, cos) = angle.sin_cos();
        Self {
            centre,
            angle,
            scale,
            view_centre,
            cos,
            sin,
        }
    }

    /// Unscaled, with `centre` at the middle of a `width × height` view.
    pub fn about(centre: [f64; 2], angle: f64, width: usize, height: usize) -> Self {
        Self::new(centre, angle, 1.0, middle(width, height))
    }

    /// The view that holds the whole of a `width × height` image turned by `angle` and scaled by
    /// `scale`, and that view's size.
    pub fn whole_image(
        width: usize,
        height: usize,
        angle: f64,
        scale: f64,
    ) -> (Self, usize, usize) {
        let (s, c) = angle.sin_cos();
        let (w, h) = ((width.max(1) - 1) as f64, (height.max(1) - 1) as f64);
        // Less a hair, so that a quarter turn's cos(π/2) ≈ 6e-17 does not add a column.
        let span = |a: f64| (scale * a - 1e-9).ceil().max(0.0) as usize + 1;
        let (vw, vh) = (
            span(c.abs() * w + s.abs() * h),
            span(s.abs() * w + c.abs() * h),
        );
        let t = Self::new(middle(width, height), angle, scale, middle(vw, vh));
        (t, vw, vh)
    }

    pub fn centre(&self) -> [f64; 2] {
        self.centre
    }

    pub fn angle(&self) -> f64 {
        self.angle
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    pub fn view_centre(&self) -> [f64; 2] {
        self.view_centre
    }

    /// An image point's place in the view.
    pub fn to_view(&self, x: [f64; 2]) -> [f64; 2] {
        let (du, dv) = (x[0] - self.centre[0], x[1] - self.centre[1]);
        [
            self.scale * (self.cos * du + self.sin * dv) + self.view_centre[0],
            self.scale * (-self.sin * du + self.cos * dv) + self.view_centre[1],
        ]
    }

    /// A view point's place in the image.
    pub fn from_view(&self, q: [f64; 2]) -> [f64; 2] {
        let (du, dv) = (
            (q[0] - self.view_centre[0]) / self.scale,
            (q[1] - self.view_centre[1]) / self.scale,
        );
        [
            self.cos * du - self.sin * dv + self.centre[0],
            self.sin * du + self.cos * dv + self.centre[1],
        ]
    }

    /// The parameters whose projection into the view is the view of `p`'s projection (written
    /// into `out`, which takes `p`'s dimensions, reusing its allocation).
    ///
    /// With `u = s·(R S)ₓ + tx`, `v = −s·(R S)ᵧ + ty`, the flip of y turns the image's `M(θ)`
    /// into `Rz(−θ)` on the model's x–y plane, so `R' = Rz(−θ)·R`, `s' = k·s` and
    /// `t' = k·M(θ)·(t − c) + o`; the shape coefficients do not change.
    pub fn params_to_view(&self, p: &Params, out: &mut Params) {
        self.carry(p, out, -self.angle, self.scale, |t| self.to_view(t));
    }

    /// The inverse of [`Self::params_to_view`].
    pub fn params_from_view(&self, q: &Params, out: &mut Params) {
        self.carry(q, out, self.angle, 1.0 / self.scale, |t| self.from_view(t));
    }

    fn carry(
        &self,
        p: &Params,
        out: &mut Params,
        turn: f64,
        scale: f64,
        place: impl Fn([f64; 2]) -> [f64; 2],
    ) {
        out.clone_from(p);
        let r = rotation(0.0, 0.0, turn) * rotation(p.pitch(), p.yaw(), p.roll());
        let (pitch, yaw, roll) = euler_angles(&r);
        let t = place([p.tx(), p.ty()]);
        out.set_s(p.s() * scale);
        out.set_pitch(pitch);
        out.set_yaw(yaw);
        out.set_roll(roll);
        out.set_tx(t[0]);
        out.set_ty(t[1]);
    }
}

/// The centre of a `width × height` image (pixel centres at whole coordinates).
pub(crate) fn middle(width: usize, height: usize) -> [f64; 2] {
    [
        (width.max(1) - 1) as f64 / 2.0,
        (height.max(1) - 1) as f64 / 2.0,
    ]
}

/// How far the face of `p` is turned in the image plane: the angle of its head's up axis in the
/// image from the image's up direction, positive when the top of the head leans to image right.
/// It equals the roll when pitch and yaw are zero and is zero whenever the roll is, whatever the
/// pitch and yaw; the view at this angle shows the head upright.
pub fn in_plane_angle(p: &Params) -> f64 {
    let r = rotation(p.pitch(), p.yaw(), p.roll());
    r[(0, 1)].atan2(r[(1, 1)])
}

/// `angle` plus the whole turn that brings it nearest `reference`.
fn unwrap_towards(angle: f64, reference: f64) -> f64 {
    use std::f64::consts::TAU;
    if !reference.is_finite() {
        return angle;
    }
    angle + ((reference - angle) / TAU).round() * TAU
}

/// A view of an image through a [`PlaneTransform`], kept in a buffer that is reused from call to
/// call (it allocates only to grow).
#[derive(Debug, Clone, Default)]
pub struct UprightView {
    transform: PlaneTransform,
    image: GrayImage,
}

impl UprightView {
    /// Fills the `width × height` view of `source` through `transform`: bilinear samples, 0 where
    /// the view looks outside `source` (as the landmark cascade reads the original there).
    pub fn set(
        &mut self,
        source: &GrayImage,
        transform: PlaneTransform,
        width: usize,
        height: usize,
    ) {
        self.transform = transform;
        self.image.resize(width, height);
        resample(source, &transform, width, self.image.pixels_mut());
    }

    pub fn image(&self) -> &GrayImage {
        &self.image
    }

    pub fn transform(&self) -> &PlaneTransform {
        &self.transform
    }
}

/// Fixed-point positions: 32 fractional bits keep a row of thousands of steps within 1e-6 px of
/// the exact position, and integer steps make the per-pixel work a few additions.
const FRAC: u32 = 32;

fn to_fixed(v: f64) -> i64 {
    if !v.is_finite() {
        return i64::MIN;
    }
    (v.clamp(-1e9, 1e9) * (1u64 << FRAC) as f64).round() as i64
}

fn resample(source: &GrayImage, t: &PlaneTransform, width: usize, out: &mut [u8]) {
    let (sw, sh) = (source.width(), source.height());
    if width == 0 || sw == 0 || sh == 0 {
        out.fill(0);
        return;
    }
    let px = source.pixels();
    // One view column moves the source position by Mᵀ·(1, 0)/k.
    let (step_x, step_y) = (to_fixed(t.cos / t.scale), to_fixed(t.sin / t.scale));
    // Positions are kept half a pixel ahead, so that the image's extent, [−½, w − ½) (a pixel
    // covers half a pixel either side of its centre), becomes [0, w).
    let (end_x, end_y) = ((sw as i64) << FRAC, (sh as i64) << FRAC);
    let half = 1i64 << (FRAC - 1);
    for (j, row) in out.chunks_exact_mut(width).enumerate() {
        // Each row starts from its own exact position, so rounding does not drift down the view.
        let start = t.from_view([0.0, j as f64]);
        let (mut x, mut y) = (to_fixed(start[0] + 0.5), to_fixed(start[1] + 0.5));
        for dst in row {
            *dst = if (0..end_x).contains(&x) && (0..end_y).contains(&y) {
                bilinear(px, sw, sh, (x - half).max(0), (y - half).max(0))
            } else {
                0
            };
            x = x.saturating_add(step_x);
            y = y.saturating_add(step_y);
        }
    }
}

/// The bilinear sample at the fixed-point `(x, y)`, within `[0, w − ½) × [0, h − ½)`; beyond the
/// last pixel centre the edge repeats. Weights in 1/256 px.
#[inline]
fn bilinear(px: &[u8], w: usize, h: usize, x: i64, y: i64) -> u8 {
    let (x0, y0) = ((x >> FRAC) as usize, (y >> FRAC) as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let fx = ((x >> (FRAC - 8)) & 255) as u32;
    let fy = ((y >> (FRAC - 8)) & 255) as u32;
    let at = |xx: usize, yy: usize| u32::from(px[yy * w + xx]);
    let top = at(x0, y0) * (256 - fx) + at(x1, y0) * fx;
    let bottom = at(x0, y1) * (256 - fx) + at(x1, y1) * fx;
    ((top * (256 - fy) + bottom * fy + (1 << 15)) >> 16) as u8
}

/// A face's square landmark box standing at an angle in the image: its centre (image pixels), its
/// side, and the angle its head is rolled by (the view at that angle shows it upright).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnedBox {
    pub centre: [f64; 2],
    pub side: f64,
    pub angle: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum InPlaneError {
    #[error("the parameters place no face in the image")]
    NoFace,
    #[error("the face box has no size ({0})")]
    EmptyBox(f64),
    #[error(transparent)]
    Fit(#[from] FitError),
}

/// Fits faces in an upright view of the image. Holds the view, the parameters carried into it
/// and a landmark buffer; once they have grown to the largest face seen, a fit allocates nothing.
///
/// The steps are open for methods other than [`Cascade::fit`] (the joint refinement, say):
/// [`Self::enter`], then fit [`Self::parts_mut`]'s parameters in its image and box, then
/// [`Self::leave`].
#[derive(Debug, Clone)]
pub struct UprightFit {
    view: UprightView,
    upright: Params,
    x: Vec<f64>,
}

impl UprightFit {
    pub fn new(model: &MorphableModel) -> Self {
        Self {
            view: UprightView::default(),
            upright: Params::zeros(0, 0),
            x: vec![0.0; 2 * model.n_landmarks()],
        }
    }

    pub fn view(&self) -> &UprightView {
        &self.view
    }

    /// The parameters in the view (after [`Self::enter`]).
    pub fn upright(&self) -> &Params {
        &self.upright
    }

    /// The view's image, and the parameters in the view to fit there.
    pub fn parts_mut(&mut self) -> (&GrayImage, &mut Params) {
        (&self.view.image, &mut self.upright)
    }

    /// Turns the region around `p`'s face by `angle` into the view, about the centre of its
    /// landmark box and [`VIEW_FACE_RATIO`] times its size, and carries `p` there. Returns the
    /// square box around the carried landmarks: the box a warm start fits in.
    pub fn enter(
        &mut self,
        model: &MorphableModel,
        image: &GrayImage,
        p: &Params,
        angle: f64,
    ) -> Result<FaceBox, InPlaneError> {
        // The landmark box as the view will see it, from a view about the origin.
        model.project_landmarks(p, &mut self.x);
        let probe = PlaneTransform::new([0.0; 2], angle, 1.0, [0.0; 2]);
        let turned = square_box_around(points(&self.x).map(|x| probe.to_view(x)))
            .ok_or(InPlaneError::NoFace)?;
        let centre = probe.from_view([
            (turned.left + turned.right) / 2.0,
            (turned.top + turned.bottom) / 2.0,
        ]);
        self.set_view(image, centre, turned.right - turned.left, angle)?;
        self.view.transform.params_to_view(p, &mut self.upright);
        model.project_landmarks(&self.upright, &mut self.x);
        square_box_around(points(&self.x)).ok_or(InPlaneError::NoFace)
    }

    /// Turns the region around a face found at `face` into the view, and returns its box in the
    /// view: the box a cold start fits in. The parameters in the view are left for the caller to
    /// set.
    pub fn enter_box(
        &mut self,
        image: &GrayImage,
        face: &TurnedBox,
    ) -> Result<FaceBox, InPlaneError> {
        self.set_view(image, face.centre, face.side, face.angle)?;
        let c = self.view.transform.view_centre();
        let half = face.side / 2.0;
        Ok(FaceBox::new(
            c[0] - half,
            c[1] - half,
            c[0] + half,
            c[1] + half,
        ))
    }

    fn set_view(
        &mut self,
        image: &GrayImage,
        centre: [f64; 2],
        side: f64,
        angle: f64,
    ) -> Result<(), InPlaneError> {
        if !(side > 0.0 && side.is_finite()) {
            return Err(InPlaneError::EmptyBox(side));
        }
        if !(centre[0].is_finite() && centre[1].is_finite() && angle.is_finite()) {
            return Err(InPlaneError::NoFace);
        }
        let n = view_side(side);
        self.view
            .set(image, PlaneTransform::about(centre, angle, n, n), n, n);
        Ok(())
    }

    /// Carries the parameters in the view back to the image, into `p`, with pitch and roll
    /// taken by whole turns nearest `p`'s present values so that a temporal filter sees no jump
    /// of 2π.
    pub fn leave(&self, p: &mut Params) {
        let (pitch, roll) = (p.pitch(), p.roll());
        self.view.transform.params_from_view(&self.upright, p);
        p.set_pitch(unwrap_towards(p.pitch(), pitch));
        p.set_roll(unwrap_towards(p.roll(), roll));
    }

    /// A warm-start fit of `p` (image frame, updated in place) in the view turned by `angle`:
    /// [`Self::enter`], `stages` stages of `cascade` from the carried parameters in the square
    /// box around their landmarks, [`Self::leave`]. Returns the box used, in the view.
    pub fn fit(
        &mut self,
        cascade: &Cascade<'_>,
        scratch: &mut FitScratch,
        image: &GrayImage,
        p: &mut Params,
        angle: f64,
        stages: usize,
    ) -> Result<FaceBox, InPlaneError> {
        let face_box = self.enter(cascade.model, image, p, angle)?;
        cascade.fit(
            &self.view.image,
            &face_box,
            &mut self.upright,
            stages,
            scratch,
            |_, _, _| {},
        )?;
        self.leave(p);
        Ok(face_box)
    }

    /// A cold-start fit of a face found at `face` (what
    /// [`crate::align::face_search::FoundFace::turned_box`] gives): the cascade's cold start in
    /// the box of [`Self::enter_box`], `stages` stages, and the result carried back to the image.
    /// Allocates the returned parameters (a cold start is once per detection).
    pub fn fit_cold(
        &mut self,
        cascade: &Cascade<'_>,
        scratch: &mut FitScratch,
        image: &GrayImage,
        face: &TurnedBox,
        stages: usize,
    ) -> Result<Params, InPlaneError> {
        let face_box = self.enter_box(image, face)?;
        self.upright = cascade.cold_start(&face_box);
        cascade.fit(
            &self.view.image,
            &face_box,
            &mut self.upright,
            stages,
            scratch,
            |_, _, _| {},
        )?;
        let mut p = self.upright.clone();
        // The whole turn to unwrap to: the face's roll is about its angle.
        p.set_roll(face.angle);
        self.leave(&mut p);
        Ok(p)
    }
}

/// The side of the square view for a face box of side `side`.
fn view_side(side: f64) -> usize {
    let want = (VIEW_FACE_RATIO * side).ceil().min(MAX_VIEW_SIDE as f64) as usize;
    want.div_ceil(VIEW_STEP)
        .saturating_mul(VIEW_STEP)
        .clamp(MIN_VIEW_SIDE, MAX_VIEW_SIDE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_maps_are_inverse() {
        let t = PlaneTransform::new([120.5, 80.0], 0.7, 1.6, [50.0, 40.0]);
        for x in [[0.0, 0.0], [120.5, 80.0], [300.0, -20.0]] {
            let back = t.from_view(t.to_view(x));
            assert!((back[0] - x[0]).abs() < 1e-12 && (back[1] - x[1]).abs() < 1e-12);
        }
        assert_eq!(t.to_view([120.5, 80.0]), [50.0, 40.0]);
    }

    #[test]
    fn a_rolled_heads_up_axis_points_up_in_the_view() {
        // Roll θ > 0: the top of the head (model +y) lies towards image right and up.
        let theta = 0.6f64;
        let up = [theta.sin(), -theta.cos()];
        let t = PlaneTransform::new([0.0; 2], theta, 1.0, [0.0; 2]);
        let q = t.to_view(up);
        assert!(q[0].abs() < 1e-15 && (q[1] + 1.0).abs() < 1e-15);
    }

    #[test]
    fn quarter_turn_resamples_exactly() {
        // 3 × 2 image turned by a quarter: a 2 × 3 view whose pixels are the source's exactly.
        let src = GrayImage::from_raw(3, 2, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let (t, w, h) = PlaneTransform::whole_image(3, 2, std::f64::consts::FRAC_PI_2, 1.0);
        assert_eq!((w, h), (2, 3));
        let mut view = UprightView::default();
        view.set(&src, t, w, h);
        // Turning the image by −90° (view = M(π/2)·image): the right column becomes the top row.
        assert_eq!(view.image().pixels(), &[3, 6, 2, 5, 1, 4]);
    }

    #[test]
    fn identity_copies_and_outside_is_black() {
        let src = GrayImage::from_raw(3, 2, vec![10, 20, 30, 40, 50, 60]).unwrap();
        let mut view = UprightView::default();
        view.set(&src, PlaneTransform::default(), 4, 3);
        assert_eq!(
            view.image().pixels(),
            &[10, 20, 30, 0, 40, 50, 60, 0, 0, 0, 0, 0]
        );
        // Half a pixel across: the mean of the neighbours.
        view.set(
            &src,
            PlaneTransform::new([0.5, 0.0], 0.0, 1.0, [0.0; 2]),
            2,
            1,
        );
        assert_eq!(view.image().pixels(), &[15, 25]);
    }

    #[test]
    fn resampling_matches_exact_bilinear_interpolation() {
        let (w, h) = (37usize, 23usize);
        let src =
            GrayImage::from_raw(w, h, (0..w * h).map(|i| (i * 97 % 256) as u8).collect()).unwrap();
        let t = PlaneTransform::new([17.3, 9.8], 0.83, 1.7, [30.0, 25.0]);
        let (vw, vh) = (60, 50);
        let mut view = UprightView::default();
        view.set(&src, t, vw, vh);
        let mut inside = 0;
        for j in 0..vh {
            for i in 0..vw {
                let [x, y] = t.from_view([i as f64, j as f64]);
                let got = view.image().get(i, j);
                if !(x > -0.49 && y > -0.49 && x < w as f64 - 0.51 && y < h as f64 - 0.51) {
                    // Outside, or too near the extent's edge to tell which side rounding puts it.
                    if x < -0.51 || y < -0.51 || x > w as f64 - 0.49 || y > h as f64 - 0.49 {
                        assert_eq!(got, 0);
                    }
                    continue;
                }
                inside += 1;
                let (x, y) = (x.clamp(0.0, (w - 1) as f64), y.clamp(0.0, (h - 1) as f64));
                let (x0, y0) = (x.floor() as usize, y.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                let (fx, fy) = (x - x0 as f64, y - y0 as f64);
                let at = |a: usize, b: usize| f64::from(src.get(a, b));
                let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
                let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
                let want = top * (1.0 - fy) + bottom * fy;
                // 1/256-pixel weights on a pattern with steps of up to 255 between neighbours.
                assert!(
                    (f64::from(got) - want).abs() <= 2.0,
                    "{i},{j}: {got} vs {want}"
                );
            }
        }
        assert!(inside > 1000);
    }

    #[test]
    fn view_sides_are_rounded_and_bounded() {
        assert_eq!(view_side(100.0), 160);
        assert_eq!(view_side(1.0), MIN_VIEW_SIDE);
        assert_eq!(view_side(1e9), MAX_VIEW_SIDE);
        assert_eq!(view_side(f64::INFINITY), MAX_VIEW_SIDE);
    }

    #[test]
    fn unwrapping_keeps_the_nearest_turn() {
        use std::f64::consts::PI;
        assert!((unwrap_towards(-PI + 0.1, PI - 0.1) - (PI + 0.1)).abs() < 1e-12);
        assert_eq!(unwrap_towards(0.3, 0.2), 0.3);
    }
}
