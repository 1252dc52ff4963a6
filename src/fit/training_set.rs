//! The images a cascade is trained and checked on: each with its face box, its ground-truth
//! parameters and landmarks, and — for training — its mirror image (PARM paper §4.2 trains on
//! flipped images too), whose ground truth follows from the original's.

use nalgebra::{DMatrix, DVector};

use crate::align::FaceBox;
use crate::align::detect::square_box_around;
use crate::image::GrayImage;
use crate::model::{MorphableModel, Params};

/// The iBUG 68-point index of each point's mirror partner.
pub const IBUG68_MIRROR: [usize; 68] = [
    16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, // jaw
    26, 25, 24, 23, 22, 21, 20, 19, 18, 17, // brows
    27, 28, 29, 30, // nose bridge
    35, 34, 33, 32, 31, // nostrils
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40, // eyes
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, // outer lips
    64, 63, 62, 61, 60, 67, 66, 65, // inner lips
];

/// One face to train or validate on.
#[derive(Debug, Clone)]
pub struct FaceSample {
    pub name: String,
    pub image: GrayImage,
    /// The square box around the ground-truth landmarks (the evaluation protocol's box).
    pub face_box: FaceBox,
    /// Ground truth with all the model's coefficients.
    pub truth: Params,
    /// Ground-truth 2D landmarks, `x(p*)`: the reference of the NME.
    pub points: Vec<[f64; 2]>,
    /// √(w·h) of the ground-truth landmarks' bounding box: the NME's normaliser.
    pub norm: f64,
}

impl FaceSample {
    pub fn new(
        name: String,
        image: GrayImage,
        truth: Params,
        model: &MorphableModel,
    ) -> Option<Self> {
        let mut x = vec![0.0; 2 * model.n_landmarks()];
        model.project_landmarks(&truth, &mut x);
        let points: Vec<[f64; 2]> = crate::align::detect::points(&x).collect();
        let face_box = square_box_around(points.iter().copied())?;
        let norm = bbox_norm(&points);
        Some(Self {
            name,
            image,
            face_box,
            truth,
            points,
            norm,
        })
    }

    /// This face as a landmark cascade learns from it: picture, box and true landmarks.
    pub fn ert_face(&self) -> crate::align::ert_training::ErtFace<'_> {
        crate::align::ert_training::ErtFace {
            image: &self.image,
            rect: self.face_box,
            target: &self.points,
        }
    }

    /// Which of `k` folds the face falls in, from its image's name, so that a face's mirror image
    /// (named after it) falls in the same one. Deterministic, and spread evenly over the folds.
    pub fn fold(&self, k: usize) -> usize {
        let base = self.name.split('#').next().unwrap_or(&self.name);
        // FNV-1a: the same on every machine and every run, unlike the standard library's hasher.
        let hash = base.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        (hash % k.max(1) as u64) as usize
    }

    /// Mean landmark error over all points, divided by [`Self::norm`] (the paper's NMEA for one
    /// face).
    pub fn nme(&self, x: &[f64]) -> f64 {
        nme(&self.points, x, self.norm)
    }
}

/// √(w·h) of the bounding box of some points.
pub fn bbox_norm(points: &[[f64; 2]]) -> f64 {
    let (lo, hi) = crate::align::detect::bounds(points.iter().copied());
    ((hi[0] - lo[0]) * (hi[1] - lo[1])).sqrt()
}

/// Mean distance between true points and fitted ones (`[u0, v0, …]`), divided by `norm`: the
/// paper's NMEA for one face.
pub fn nme(truth: &[[f64; 2]], fit: &[f64], norm: f64) -> f64 {
    let sum: f64 = truth
        .iter()
        .zip(fit.chunks_exact(2))
        .map(|(g, p)| ((p[0] - g[0]).powi(2) + (p[1] - g[1]).powi(2)).sqrt())
        .sum();
    sum / truth.len() as f64 / norm
}

/// The weight of the coefficients' unit-variance prior with which [`Mirror`] fits a mirror
/// image's coefficients to its mirrored 68 points, relative to the mean diagonal of the landmark
/// bases' normal matrix: a ridge this small reproduces the points almost exactly (0.07 % of the
/// mean shape's size). The committed regressors were trained with it, all but `parm_ert3d.bin`
/// (3e-2, below).
///
/// The model's bases are not closed under mirroring, and the coefficients that reproduce a
/// mirrored face's points exactly have identities 3.5 times the originals' size (a norm of 21 over
/// the first 40, against 6). PRM and PARM trained on them from boxes give every face an
/// exaggerated identity (a norm of 7–10 on the shared clips, which a PARM track then keeps). A
/// prior of 3e-2 keeps the mirrored identities at the originals' size (5.3) with the points 0.6 %
/// of the mean shape's size off; `models/README.md` gives what it changed.
pub const EXACT_MIRROR_PRIOR: f64 = 1e-6;

/// Turns ground truth into that of the horizontally flipped image.
#[derive(Debug, Clone)]
pub struct Mirror {
    /// Regularised least-squares map from a mirrored, re-ordered landmark shape (minus the mean)
    /// to coefficients: the model's bases are not symmetric, so the mirrored face's coefficients
    /// are fitted, not permuted.
    solve: DMatrix<f64>,
    mean: DVector<f64>,
}

impl Mirror {
    /// `prior`: see [`EXACT_MIRROR_PRIOR`].
    pub fn new(model: &MorphableModel, prior: f64) -> Self {
        let lm = model.landmarks();
        let (n3, n_id, n_exp) = (3 * lm.n_points(), lm.n_id(), lm.n_exp());
        let a = DMatrix::from_fn(n3, n_id + n_exp, |r, c| {
            if c < n_id {
                f64::from(lm.identity_basis()[r * n_id + c])
            } else {
                f64::from(lm.expression_basis()[r * n_exp + c - n_id])
            }
        });
        let mut ata = a.tr_mul(&a);
        let prior = prior * ata.trace() / ata.nrows() as f64;
        for i in 0..ata.nrows() {
            ata[(i, i)] += prior;
        }
        let solve = ata
            .cholesky()
            .map(|c| c.solve(&a.transpose()))
            .unwrap_or_else(|| DMatrix::zeros(n_id + n_exp, n3));
        let mean = DVector::from_iterator(n3, lm.mean().iter().map(|&v| f64::from(v)));
        Self { solve, mean }
    }

    /// The identity and expression coefficients (the model's all) of the mirror image of the
    /// face with coefficients `id`, `exp`.
    pub fn coefficients(&self, model: &MorphableModel, id: &[f64], exp: &[f64]) -> Vec<f64> {
        let lm = model.landmarks();
        let mut shape = vec![0.0; 3 * lm.n_points()];
        lm.shape_into(id, exp, &mut shape);
        // S'_j = M · S_mirror(j), M = diag(−1, 1, 1).
        let flipped = DVector::from_fn(shape.len(), |r, _| {
            let (j, c) = (r / 3, r % 3);
            let v = shape[3 * IBUG68_MIRROR[j] + c];
            if c == 0 { -v } else { v }
        });
        (&self.solve * (flipped - &self.mean))
            .iter()
            .copied()
            .collect()
    }

    /// The flipped face: image mirrored left–right, ground truth mirrored, landmarks re-ordered.
    pub fn flip(&self, face: &FaceSample, model: &MorphableModel) -> Option<FaceSample> {
        let (w, h) = (face.image.width(), face.image.height());
        let mut px = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                px[y * w + x] = face.image.get(w - 1 - x, y);
            }
        }
        let image = GrayImage::from_raw(w, h, px)?;
        let t = &face.truth;
        let coef = self.coefficients(model, t.id(), t.exp());
        let mut values = Vec::with_capacity(t.len());
        // R' = M R M: pitch stays, yaw and roll change sign; u' = (w − 1) − u.
        values.extend([
            t.s(),
            t.pitch(),
            -t.yaw(),
            -t.roll(),
            (w as f64 - 1.0) - t.tx(),
            t.ty(),
        ]);
        values.extend(coef);
        let truth = Params::from_values(values, t.n_id(), t.n_exp()).ok()?;
        let mut out = FaceSample::new(format!("{}#mirror", face.name), image, truth, model)?;
        // The reference landmarks are the original's, mirrored: exact, where the refitted
        // coefficients are only close.
        out.points = IBUG68_MIRROR
            .iter()
            .map(|&j| [(w as f64 - 1.0) - face.points[j][0], face.points[j][1]])
            .collect();
        out.norm = bbox_norm(&out.points);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::training::normal;
    use rand::SeedableRng;

    fn model() -> MorphableModel {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/face_model.bin");
        MorphableModel::from_bytes(&std::fs::read(path).unwrap()).unwrap()
    }

    /// Faces drawn from the model's prior, mirrored: a prior of 3e-2 keeps their identities at
    /// the prior's size, with their landmarks on the mirrored originals' to well under a percent
    /// of the face; the exact fit puts the landmarks there to a thousandth, with far larger
    /// identities.
    #[test]
    fn mirrored_faces_keep_plausible_coefficients() {
        let m = model();
        let lm = m.landmarks();
        let (n_id, n_exp, n3) = (lm.n_id(), lm.n_exp(), 3 * lm.n_points());
        let mirror = |prior| {
            let mirror = Mirror::new(&m, prior);
            let mut rng = rand::rngs::StdRng::seed_from_u64(3);
            let norm40 = |v: &[f64]| v[..40].iter().map(|x| x * x).sum::<f64>().sqrt();
            let (mut before, mut after, mut residual) = (0.0, 0.0, 0.0);
            let size =
                (lm.mean().iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / n3 as f64).sqrt();
            let n = 100;
            for _ in 0..n {
                let id: Vec<f64> = (0..n_id).map(|_| normal(&mut rng)).collect();
                let exp: Vec<f64> = (0..n_exp).map(|_| 0.5 * normal(&mut rng)).collect();
                let c = mirror.coefficients(&m, &id, &exp);
                let (mid, mexp) = c.split_at(n_id);
                let (mut s, mut t) = (vec![0.0; n3], vec![0.0; n3]);
                lm.shape_into(&id, &exp, &mut s);
                lm.shape_into(mid, mexp, &mut t);
                let mut sq = 0.0;
                for (j, &k) in IBUG68_MIRROR.iter().enumerate() {
                    sq += (t[3 * j] + s[3 * k]).powi(2)
                        + (t[3 * j + 1] - s[3 * k + 1]).powi(2)
                        + (t[3 * j + 2] - s[3 * k + 2]).powi(2);
                }
                residual += (sq / n3 as f64).sqrt() / size;
                before += norm40(&id);
                after += norm40(mid);
            }
            let n = n as f64;
            (before / n, after / n, residual / n)
        };
        let (before, after, residual) = mirror(3e-2);
        assert!(
            after < 1.3 * before && after > 0.5 * before,
            "mirrored identities {after:.2} against {before:.2}"
        );
        assert!(
            residual < 0.01,
            "mirrored landmarks off by {:.2} % of the face",
            100.0 * residual
        );
        let (before, after, residual) = mirror(EXACT_MIRROR_PRIOR);
        assert!(after > 2.0 * before, "{after:.2} against {before:.2}");
        assert!(residual < 1e-3, "{:.3} % of the face", 100.0 * residual);
    }

    /// A face and its mirror image fall in one fold, so that a cascade trained without the fold
    /// has seen neither; the folds share the faces out about evenly.
    #[test]
    fn a_face_and_its_mirror_image_share_a_fold() {
        let m = model();
        let truth = Params::zeros(m.landmarks().n_id(), m.landmarks().n_exp());
        let face = |name: String| {
            let mut p = truth.clone();
            p.set_s(0.001);
            p.set_tx(50.0);
            p.set_ty(50.0);
            FaceSample::new(
                name,
                GrayImage::from_raw(100, 100, vec![0; 10_000]).unwrap(),
                p,
                &m,
            )
            .unwrap()
        };
        let k = 5;
        let mut counts = [0usize; 5];
        for i in 0..1000 {
            let name = format!("image{i:05}.jpg");
            let fold = face(name.clone()).fold(k);
            assert_eq!(face(format!("{name}#mirror")).fold(k), fold, "{name}");
            counts[fold] += 1;
        }
        assert!(
            counts.iter().all(|&c| (150..=250).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(face("image00001.jpg".into()).fold(1), 0);
    }

    #[test]
    fn mirror_permutation_is_an_involution() {
        for (i, &j) in IBUG68_MIRROR.iter().enumerate() {
            assert_eq!(IBUG68_MIRROR[j], i);
        }
    }
}
