//! Parameters normalised by the face box (PARM paper §4.2): scale and translation are divided by
//! the box size √(w·h), translation taken from the box centre, so that one regressor serves faces
//! of every size and place. Angles and the unit-variance coefficients are left as they are.
//!
//! The scale is also multiplied by the size of the model's mean face, so that the normalised
//! scale reads as "face size / box size" (about 1) instead of the dataset's 1e-5.

use crate::align::FaceBox;
use crate::model::Params;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxFrame {
    pub cx: f64,
    pub cy: f64,
    /// √(w·h) of the box.
    pub size: f64,
    /// The model's face size in its own units.
    pub model_size: f64,
}

impl BoxFrame {
    pub fn new(b: &FaceBox, model_size: f64) -> Self {
        let (w, h) = (b.right - b.left, b.bottom - b.top);
        Self {
            cx: (b.left + b.right) / 2.0,
            cy: (b.top + b.bottom) / 2.0,
            size: (w * h).abs().sqrt(),
            model_size,
        }
    }

    /// Writes the normalised parameter vector (same layout as `p`).
    pub fn normalise(&self, p: &[f64], out: &mut [f64]) {
        out.copy_from_slice(p);
        out[Params::S] = p[Params::S] * self.model_size / self.size;
        out[Params::TX] = (p[Params::TX] - self.cx) / self.size;
        out[Params::TY] = (p[Params::TY] - self.cy) / self.size;
    }

    /// The inverse of [`Self::normalise`].
    pub fn denormalise(&self, pn: &[f64], out: &mut [f64]) {
        out.copy_from_slice(pn);
        out[Params::S] = pn[Params::S] * self.size / self.model_size;
        out[Params::TX] = pn[Params::TX] * self.size + self.cx;
        out[Params::TY] = pn[Params::TY] * self.size + self.cy;
    }

    /// A normalised update turned into one in image units (no centre offset: it is a difference).
    pub fn denormalise_delta(&self, dpn: &[f64], out: &mut [f64]) {
        out.copy_from_slice(dpn);
        out[Params::S] = dpn[Params::S] * self.size / self.model_size;
        out[Params::TX] = dpn[Params::TX] * self.size;
        out[Params::TY] = dpn[Params::TY] * self.size;
    }
}

/// The cold start (PARM paper §4.2): the mean face, no rotation, and the training means of the
/// normalised scale and translation. Kept by every update method; PCLM's settings file names the
/// three values `init_scale`, `init_tx`, `init_ty`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ColdStart {
    #[serde(rename = "init_scale")]
    pub scale: f64,
    #[serde(rename = "init_tx")]
    pub tx: f64,
    #[serde(rename = "init_ty")]
    pub ty: f64,
}

impl ColdStart {
    /// The starting parameters in `face_box`, with `n_id` and `n_exp` (zero) coefficients.
    pub fn params(&self, face_box: &FaceBox, n_id: usize, n_exp: usize, model_size: f64) -> Params {
        let mut p = Params::zeros(n_id, n_exp);
        self.write(face_box, n_id, n_exp, model_size, &mut p);
        p
    }

    /// The same into `p`, reusing its allocation.
    pub fn write(
        &self,
        face_box: &FaceBox,
        n_id: usize,
        n_exp: usize,
        model_size: f64,
        p: &mut Params,
    ) {
        p.set_zeros(n_id, n_exp);
        let mut pose_n = [0.0; Params::N_POSE];
        pose_n[Params::S] = self.scale;
        pose_n[Params::TX] = self.tx;
        pose_n[Params::TY] = self.ty;
        BoxFrame::new(face_box, model_size)
            .denormalise(&pose_n, &mut p.as_mut_slice()[..Params::N_POSE]);
    }
}

/// The size of a model's mean landmark shape: the RMS distance of its points from their centroid
/// in the x–y plane, in model units.
pub fn model_face_size(model: &crate::model::MorphableModel) -> f64 {
    let mean = model.landmarks().mean();
    let n = mean.len() / 3;
    let (mut cx, mut cy) = (0.0, 0.0);
    for p in mean.chunks_exact(3) {
        cx += f64::from(p[0]);
        cy += f64::from(p[1]);
    }
    cx /= n as f64;
    cy /= n as f64;
    let ss: f64 = mean
        .chunks_exact(3)
        .map(|p| (f64::from(p[0]) - cx).powi(2) + (f64::from(p[1]) - cy).powi(2))
        .sum();
    (ss / n as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_round_trips() {
        let f = BoxFrame::new(&FaceBox::new(100.0, 50.0, 300.0, 250.0), 5e4);
        let p = [0.002, 0.1, -0.2, 0.3, 210.0, 140.0, 0.5, -1.0];
        let mut n = [0.0; 8];
        let mut back = [0.0; 8];
        f.normalise(&p, &mut n);
        assert!((n[Params::S] - 0.5).abs() < 1e-12);
        assert!((n[Params::TX] - 0.05).abs() < 1e-12 && (n[Params::TY] + 0.05).abs() < 1e-12);
        f.denormalise(&n, &mut back);
        for (a, b) in p.iter().zip(back) {
            assert!((a - b).abs() < 1e-9);
        }
    }
}
