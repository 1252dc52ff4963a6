//! Face detection for images and frames that come without a box: SeetaFace's funnel-structured
//! cascade (Wu et al. 2016) through the `rustface` crate and the model bundled in its package,
//! followed by a fixed mapping from its box to the box dlib's landmark cascade expects.
//!
//! The mapping targets the square box around the 68 ground-truth points (centre of their bounding
//! box, side the larger of its width and height) — the box `fit --boxes` and the evaluation use —
//! so that a detected face starts the cascade from where a given box would. Its three numbers
//! were fitted on the shared AFLW2000-3D images (`tests/detect.rs` refits them and checks these).

use rustface::ImageData;

use crate::align::FaceBox;
use crate::image::GrayImage;

static SEETA_MODEL: &[u8] = include_bytes!(env!("FACETRACK_SEETA_MODEL"));

/// Smallest face, in pixels, the detector looks for (its window cannot go below 20).
const MIN_FACE: u32 = 40;

/// How SeetaFace's box maps to the landmark box: centre shifted by a fraction of the box size,
/// side scaled by a factor of √(w·h).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxMap {
    pub dx: f64,
    pub dy: f64,
    pub scale: f64,
}

/// Fitted on every eighth AFLW2000-3D image (medians over the 166 of 200 where SeetaFace found
/// the face; `cargo test --test detect -- --nocapture` refits and prints them).
pub const BOX_MAP: BoxMap = BoxMap {
    dx: -0.0093,
    dy: 0.1316,
    scale: 0.9260,
};

/// A face found by the detector: its raw box `[x0, y0, x1, y1]`, its score, and the landmark box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub raw: [f64; 4],
    pub score: f64,
    pub face_box: FaceBox,
}

#[derive(Debug, thiserror::Error)]
#[error("the bundled face-detection model is unreadable: {0}")]
pub struct DetectorModelError(#[from] std::io::Error);

pub struct FaceDetector {
    inner: Box<dyn rustface::Detector>,
    map: BoxMap,
}

impl std::fmt::Debug for FaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceDetector")
            .field("map", &self.map)
            .finish_non_exhaustive()
    }
}

impl FaceDetector {
    pub fn new() -> Result<Self, DetectorModelError> {
        Self::with_map(BOX_MAP)
    }

    /// A detector whose boxes go through another mapping (the identity gives SeetaFace's own).
    pub fn with_map(map: BoxMap) -> Result<Self, DetectorModelError> {
        let model = rustface::read_model(SEETA_MODEL)?;
        let mut inner = rustface::create_detector_with_model(model);
        inner.set_min_face_size(MIN_FACE);
        inner.set_score_thresh(2.0);
        inner.set_pyramid_scale_factor(0.8);
        inner.set_slide_window_step(4, 4);
        Ok(Self { inner, map })
    }

    /// Faces larger than `px` pixels are not looked for (0: no limit), which spares the pyramid's
    /// coarse levels.
    pub fn set_max_face_size(&mut self, px: u32) {
        self.inner.set_max_face_size(px);
    }

    /// The detector's own minimum face size (20 at least: rustface refuses less). rustface 0.1.7
    /// does not act on it: its pyramid starts at 1×, so faces under its 40-pixel window go unseen
    /// whatever this says (`tests/detect_recall.rs` measures it).
    pub fn set_min_face_size(&mut self, px: u32) {
        self.inner.set_min_face_size(px.max(20));
    }

    /// Every face found, best score first.
    pub fn detect(&mut self, image: &GrayImage) -> Vec<Detection> {
        // rustface panics on images smaller than its window.
        if image.width() < MIN_FACE as usize || image.height() < MIN_FACE as usize {
            return Vec::new();
        }
        let data = ImageData::new(image.pixels(), image.width() as u32, image.height() as u32);
        let mut found: Vec<Detection> = self
            .inner
            .detect(&data)
            .into_iter()
            .map(|f| {
                let b = f.bbox();
                let raw = [
                    b.x() as f64,
                    b.y() as f64,
                    b.x() as f64 + b.width() as f64,
                    b.y() as f64 + b.height() as f64,
                ];
                Detection {
                    raw,
                    score: f.score(),
                    face_box: self.map.apply(raw),
                }
            })
            .collect();
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        found
    }

    /// The best-scoring face, if any.
    pub fn detect_best(&mut self, image: &GrayImage) -> Option<Detection> {
        self.detect(image).into_iter().next()
    }
}

impl BoxMap {
    pub const IDENTITY: BoxMap = BoxMap {
        dx: 0.0,
        dy: 0.0,
        scale: 1.0,
    };

    /// The landmark box for a detector box `[x0, y0, x1, y1]`, rounded to whole pixels as dlib's
    /// rectangles are.
    pub fn apply(&self, raw: [f64; 4]) -> FaceBox {
        let (w, h) = (raw[2] - raw[0], raw[3] - raw[1]);
        let cx = (raw[0] + raw[2]) / 2.0 + self.dx * w;
        let cy = (raw[1] + raw[3]) / 2.0 + self.dy * h;
        let half = self.scale * (w * h).sqrt() / 2.0;
        FaceBox::new(
            (cx - half).round(),
            (cy - half).round(),
            (cx + half).round(),
            (cy + half).round(),
        )
    }

    /// Fits the mapping from pairs of (detector box, target box), each `[x0, y0, x1, y1]`, with
    /// medians so that a few wrong detections do not pull it.
    pub fn fit(pairs: &[([f64; 4], [f64; 4])]) -> Option<BoxMap> {
        if pairs.is_empty() {
            return None;
        }
        let mut dx = Vec::with_capacity(pairs.len());
        let mut dy = Vec::with_capacity(pairs.len());
        let mut sc = Vec::with_capacity(pairs.len());
        for (d, t) in pairs {
            let (w, h) = (d[2] - d[0], d[3] - d[1]);
            dx.push(((t[0] + t[2]) - (d[0] + d[2])) / 2.0 / w);
            dy.push(((t[1] + t[3]) - (d[1] + d[3])) / 2.0 / h);
            sc.push(((t[2] - t[0]) * (t[3] - t[1])).sqrt() / (w * h).sqrt());
        }
        Some(BoxMap {
            dx: median(&mut dx),
            dy: median(&mut dy),
            scale: median(&mut sc),
        })
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The bounding box `(lo, hi)` of some points; infinite when there are none.
pub fn bounds(points: impl IntoIterator<Item = [f64; 2]>) -> ([f64; 2], [f64; 2]) {
    let mut lo = [f64::INFINITY; 2];
    let mut hi = [f64::NEG_INFINITY; 2];
    for p in points {
        for i in 0..2 {
            lo[i] = lo[i].min(p[i]);
            hi[i] = hi[i].max(p[i]);
        }
    }
    (lo, hi)
}

/// The points of an interleaved `[u0, v0, u1, v1, …]` buffer.
pub fn points(xy: &[f64]) -> impl Iterator<Item = [f64; 2]> + '_ {
    xy.chunks_exact(2).map(|c| [c[0], c[1]])
}

/// The square box around a set of points: centre of their bounding box, side the larger of its
/// width and height, each coordinate rounded (the convention of the shared reference data).
pub fn square_box_around(points: impl IntoIterator<Item = [f64; 2]>) -> Option<FaceBox> {
    let (lo, hi) = bounds(points);
    if !(lo[0].is_finite() && hi[0].is_finite() && lo[1].is_finite() && hi[1].is_finite()) {
        return None;
    }
    let c = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let half = (hi[0] - lo[0]).max(hi[1] - lo[1]) / 2.0;
    Some(FaceBox::new(
        (c[0] - half).round(),
        (c[1] - half).round(),
        (c[0] + half).round(),
        (c[1] + half).round(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_mapping() {
        let truth = BoxMap {
            dx: 0.05,
            dy: 0.12,
            scale: 1.3,
        };
        let pairs: Vec<_> = [
            [10.0, 20.0, 110.0, 120.0],
            [50.0, 40.0, 250.0, 240.0],
            [0.0, 0.0, 60.0, 60.0],
        ]
        .into_iter()
        .map(|d| {
            let (w, h) = (d[2] - d[0], d[3] - d[1]);
            let (cx, cy) = (
                (d[0] + d[2]) / 2.0 + 0.05 * w,
                (d[1] + d[3]) / 2.0 + 0.12 * h,
            );
            let half = 1.3 * w / 2.0;
            (d, [cx - half, cy - half, cx + half, cy + half])
        })
        .collect();
        let got = BoxMap::fit(&pairs).unwrap();
        assert!((got.dx - truth.dx).abs() < 1e-12 && (got.dy - truth.dy).abs() < 1e-12);
        assert!((got.scale - truth.scale).abs() < 1e-12);
    }

    #[test]
    fn tiny_images_find_nothing_instead_of_panicking() {
        let mut det = FaceDetector::new().unwrap();
        let img = GrayImage::from_raw(10, 10, vec![128; 100]).unwrap();
        assert!(det.detect(&img).is_empty());
    }

    #[test]
    fn square_box_matches_the_reference_convention() {
        let b = square_box_around([[10.0, 20.0], [50.0, 30.0]]).unwrap();
        assert_eq!(b, FaceBox::new(10.0, 5.0, 50.0, 45.0));
    }
}
