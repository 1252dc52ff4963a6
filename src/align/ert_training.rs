//! Training an ensemble-of-regression-trees landmark cascade (Kazemi & Sullivan, "One Millisecond
//! Face Alignment with an Ensemble of Regression Trees", CVPR 2014): each stage a gradient-boosted
//! sum of depth-d trees on shape-indexed pixel differences, the feature pixels anchored at the
//! nearest mean-shape landmark and carried by the similarity transform to the current shape, and
//! split pairs drawn with the paper's exponential prior on their distance, exp(−‖u − v‖/λ).
//!
//! This is facetrack's own M1, and it differs from dlib's in what it is taught and how it stores
//! it. Its targets are the 68 landmarks of the 3D model projected, the jaw where the model puts
//! it whether hidden or not (the landmarks the PARM cascade fits), not a hand-annotated visible
//! contour. Each stage regresses its residuals in their own principal basis (the PCA of the
//! stage's residuals): the splits are scored on the basis coefficients, and each leaf holds
//! coefficients quantised to 16 bits, so a leaf is a few dozen numbers instead of 136 floats.
//! Training applies the quantised leaves, so the cascade it trains is the one the file holds.

use nalgebra::{DMatrix, SymmetricEigen};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use thiserror::Error;

use super::ert::{FaceBox, Point2};
use super::ert_file::{TrainedErt, TrainedStage, TreeSplit, add_along};
use crate::image::GrayImage;

/// The cascade's shape and the boosting's settings.
#[derive(Debug, Clone)]
pub struct ErtTrainConfig {
    pub stages: usize,
    /// Trees a stage.
    pub trees: usize,
    pub depth: usize,
    /// Shrinkage: each leaf adds this fraction of its samples' mean residual.
    pub nu: f32,
    /// Starting shapes per face: the mean shape, then other faces' shapes.
    pub oversampling: usize,
    /// Feature pixels a stage.
    pub feature_pool: usize,
    /// Random splits tried at each node.
    pub split_tests: usize,
    /// The split prior's length, in box widths.
    pub lambda: f64,
    /// How far beyond the mean shape's bounds feature pixels may fall, in box widths.
    pub padding: f64,
    /// Dimensions of each stage's residual basis.
    pub basis: usize,
    /// Of each face's starting shapes, how many are its own landmarks moved by a random
    /// similarity transform, as a tracked face starts from the last frame's fit.
    pub tracking_starts: usize,
    /// The standard deviations of that move.
    pub tracking_motion: StartMotion,
    pub seed: u64,
}

impl Default for ErtTrainConfig {
    fn default() -> Self {
        Self {
            stages: 10,
            trees: 500,
            depth: 4,
            nu: 0.1,
            oversampling: 20,
            feature_pool: 400,
            split_tests: 20,
            lambda: 0.1,
            padding: 0.1,
            basis: 40,
            tracking_starts: 8,
            tracking_motion: StartMotion::default(),
            seed: 11,
        }
    }
}

/// How far a tracking start is moved from the truth: standard deviations of the shift (box
/// widths), of the log scale and of the rotation (radians).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StartMotion {
    pub shift: f64,
    pub log_scale: f64,
    pub rotation: f64,
}

impl Default for StartMotion {
    /// About a fast head's motion between two frames.
    fn default() -> Self {
        Self {
            shift: 0.05,
            log_scale: 0.05,
            rotation: 5f64.to_radians(),
        }
    }
}

/// `shape` moved about its centre by a random rotation, scale and shift, appended to `out`.
fn moved_shape(shape: &[f32], motion: &StartMotion, rng: &mut StdRng, out: &mut Vec<f32>) {
    let mut normal = || {
        // Box–Muller: one standard normal from two uniforms.
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        let v: f64 = rng.random();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let (angle, scale) = (
        motion.rotation * normal(),
        (motion.log_scale * normal()).exp(),
    );
    let (dx, dy) = (motion.shift * normal(), motion.shift * normal());
    let n = (shape.len() / 2) as f64;
    let (mut cx, mut cy) = (0.0f64, 0.0f64);
    for q in shape.chunks_exact(2) {
        cx += f64::from(q[0]) / n;
        cy += f64::from(q[1]) / n;
    }
    let (c, sn) = (scale * angle.cos(), scale * angle.sin());
    for q in shape.chunks_exact(2) {
        let (x, y) = (f64::from(q[0]) - cx, f64::from(q[1]) - cy);
        out.push((c * x - sn * y + cx + dx) as f32);
        out.push((sn * x + c * y + cy + dy) as f32);
    }
}

/// A face to learn from: its picture, its box and its landmarks (image pixels).
#[derive(Debug, Clone, Copy)]
pub struct ErtFace<'a> {
    pub image: &'a GrayImage,
    pub rect: FaceBox,
    pub target: &'a [Point2],
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ErtTrainError {
    #[error("no faces to train on")]
    NoFaces,
    #[error("face {index} has {got} landmarks where the first has {expected}")]
    Landmarks {
        index: usize,
        expected: usize,
        got: usize,
    },
    #[error("face {index} has an empty or non-finite box or landmarks")]
    BadFace { index: usize },
    #[error("unusable settings: {0}")]
    Config(String),
}

/// What a stage did: the mean landmark error over the training starts after it, in box widths.
#[derive(Debug, Clone, Copy)]
pub struct StageReport {
    pub stage: usize,
    pub error_before: f64,
    pub error_after: f64,
}

/// The training starts: for each, the face it belongs to and its current shape (box-normalised,
/// interleaved x, y).
struct Starts {
    face: Vec<u32>,
    shape: Vec<f32>,
}

/// Trains the cascade. `tick` is called once a tree (from one thread at a time), `on_stage` once
/// a stage; both are for progress.
pub fn train_ert(
    faces: &[ErtFace<'_>],
    cfg: &ErtTrainConfig,
    mut on_stage: impl FnMut(StageReport),
    tick: impl Fn() + Sync,
) -> Result<TrainedErt, ErtTrainError> {
    check(faces, cfg)?;
    let n_lm = faces[0].target.len();
    let coords = 2 * n_lm;
    let targets: Vec<f32> = faces
        .iter()
        .flat_map(|f| {
            let (w, h) = (f.rect.right - f.rect.left, f.rect.bottom - f.rect.top);
            f.target.iter().flat_map(move |p| {
                [
                    ((p[0] - f.rect.left) / w) as f32,
                    ((p[1] - f.rect.top) / h) as f32,
                ]
            })
        })
        .collect();
    let mut mean = vec![0.0f64; coords];
    for t in targets.chunks_exact(coords) {
        for (m, &v) in mean.iter_mut().zip(t) {
            *m += f64::from(v);
        }
    }
    let mean: Vec<f32> = mean
        .iter()
        .map(|m| (m / faces.len() as f64) as f32)
        .collect();

    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut starts = Starts {
        face: Vec::with_capacity(faces.len() * cfg.oversampling),
        shape: Vec::with_capacity(faces.len() * cfg.oversampling * coords),
    };
    for i in 0..faces.len() {
        for j in 0..cfg.oversampling {
            starts.face.push(i as u32);
            if j == 0 || faces.len() == 1 {
                starts.shape.extend_from_slice(&mean);
            } else if j > cfg.oversampling - 1 - cfg.tracking_starts {
                let own = &targets[i * coords..(i + 1) * coords];
                moved_shape(own, &cfg.tracking_motion, &mut rng, &mut starts.shape);
            } else {
                let mut k = rng.random_range(0..faces.len() - 1);
                if k >= i {
                    k += 1;
                }
                starts
                    .shape
                    .extend_from_slice(&targets[k * coords..(k + 1) * coords]);
            }
        }
    }

    let mut stages = Vec::with_capacity(cfg.stages);
    for k in 0..cfg.stages {
        let error_before = mean_error(&starts, &targets, coords);
        let stage = train_stage(faces, &targets, &mean, &mut starts, cfg, k, &tick);
        stages.push(stage);
        on_stage(StageReport {
            stage: k,
            error_before,
            error_after: mean_error(&starts, &targets, coords),
        });
    }
    Ok(TrainedErt {
        n_landmarks: n_lm,
        initial: mean,
        depth: cfg.depth,
        stages,
    })
}

fn check(faces: &[ErtFace<'_>], cfg: &ErtTrainConfig) -> Result<(), ErtTrainError> {
    let first = faces.first().ok_or(ErtTrainError::NoFaces)?;
    let n = first.target.len();
    for (index, f) in faces.iter().enumerate() {
        if f.target.len() != n {
            return Err(ErtTrainError::Landmarks {
                index,
                expected: n,
                got: f.target.len(),
            });
        }
        let (w, h) = (f.rect.right - f.rect.left, f.rect.bottom - f.rect.top);
        let finite = f.target.iter().flatten().all(|v| v.is_finite());
        if !(w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite() && finite) {
            return Err(ErtTrainError::BadFace { index });
        }
    }
    let bad = |what: &str| Err(ErtTrainError::Config(what.into()));
    if n < 2 || n > usize::from(u16::MAX) {
        return bad("the faces need 2 to 65,535 landmarks");
    }
    if cfg.depth == 0 || cfg.depth > 10 {
        return bad("tree depth must be 1 to 10");
    }
    if cfg.feature_pool < 2 || cfg.feature_pool > usize::from(u16::MAX) {
        return bad("the feature pool needs 2 to 65,535 pixels");
    }
    if cfg.oversampling == 0 || cfg.split_tests == 0 || cfg.basis == 0 {
        return bad("oversampling, split tests and basis must be at least 1");
    }
    if cfg.tracking_starts >= cfg.oversampling {
        return bad("the tracking starts must leave the mean shape its start");
    }
    if !(cfg.nu > 0.0 && cfg.nu <= 1.0 && cfg.lambda > 0.0 && cfg.padding >= 0.0) {
        return bad("nu must be in (0, 1], lambda positive, padding not negative");
    }
    Ok(())
}

/// Mean landmark distance between the starts' current shapes and their targets, box widths.
fn mean_error(starts: &Starts, targets: &[f32], coords: usize) -> f64 {
    let total: f64 = starts
        .shape
        .par_chunks_exact(coords)
        .zip(starts.face.par_iter())
        .map(|(s, &f)| {
            let t = &targets[f as usize * coords..(f as usize + 1) * coords];
            s.chunks_exact(2)
                .zip(t.chunks_exact(2))
                .map(|(a, b)| f64::from((a[0] - b[0]).hypot(a[1] - b[1])))
                .sum::<f64>()
        })
        .sum();
    total / (starts.face.len() * coords / 2) as f64
}

/// One stage: its feature pixels, its residual basis and its trees, and the starts moved by it.
fn train_stage(
    faces: &[ErtFace<'_>],
    targets: &[f32],
    mean: &[f32],
    starts: &mut Starts,
    cfg: &ErtTrainConfig,
    k: usize,
    tick: &(impl Fn() + Sync),
) -> TrainedStage {
    let coords = mean.len();
    let n = starts.face.len();
    let p = cfg.feature_pool;
    let mut rng =
        StdRng::seed_from_u64(cfg.seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(k as u64 + 1)));
    let (anchors, deltas, pool) = feature_pool(mean, cfg, &mut rng);

    // Grey levels at the feature pixels of every start.
    let mut features = vec![0u8; n * p];
    features
        .par_chunks_exact_mut(p)
        .zip(starts.shape.par_chunks_exact(coords))
        .zip(starts.face.par_iter())
        .for_each(|((out, shape), &f)| {
            read_features(&faces[f as usize], mean, shape, &anchors, &deltas, out);
        });

    // Residuals and their principal basis.
    let residual: Vec<f32> = starts
        .shape
        .par_chunks_exact(coords)
        .zip(starts.face.par_iter())
        .flat_map_iter(|(s, &f)| {
            let t = &targets[f as usize * coords..(f as usize + 1) * coords];
            t.iter().zip(s).map(|(a, b)| a - b).collect::<Vec<_>>()
        })
        .collect();
    let dims = cfg.basis.min(coords);
    let basis = principal_basis(&residual, coords, dims);
    let mut coef = vec![0.0f32; n * dims];
    coef.par_chunks_exact_mut(dims)
        .zip(residual.par_chunks_exact(coords))
        .for_each(|(c, r)| project(&basis, r, c));
    drop(residual);
    let largest = coef.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = if largest > 0.0 {
        cfg.nu * largest / f32::from(i16::MAX)
    } else {
        1.0
    };

    let splits_per_tree = (1usize << cfg.depth) - 1;
    let leaves_per_tree = splits_per_tree + 1;
    let mut splits = Vec::with_capacity(cfg.trees * splits_per_tree);
    let mut leaves = Vec::with_capacity(cfg.trees * leaves_per_tree * dims);
    let mut moved = vec![0.0f32; n * dims];
    let mut order: Vec<u32> = (0..n as u32).collect();
    for _ in 0..cfg.trees {
        let mut tree_rng = StdRng::seed_from_u64(rng.random());
        let tree = TreeFit {
            features: &features,
            pool_size: p,
            pool: &pool,
            dims,
            cfg,
        };
        let (tree_splits, ranges) = tree.grow(&mut order, &coef, &mut tree_rng);
        splits.extend(tree_splits);
        for &(start, end) in &ranges {
            let members = &order[start..end];
            let mut sum = vec![0.0f64; dims];
            for &s in members {
                for (a, &c) in sum
                    .iter_mut()
                    .zip(&coef[s as usize * dims..(s as usize + 1) * dims])
                {
                    *a += f64::from(c);
                }
            }
            let count = members.len().max(1) as f64;
            let q: Vec<i16> = sum
                .iter()
                .map(|a| {
                    let v = f64::from(cfg.nu) * a / count / f64::from(scale);
                    v.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
                })
                .collect();
            for &s in members {
                let s = s as usize;
                for (d, &qd) in q.iter().enumerate() {
                    let v = f32::from(qd) * scale;
                    coef[s * dims + d] -= v;
                    moved[s * dims + d] += v;
                }
            }
            leaves.extend_from_slice(&q);
        }
        tick();
    }

    // The starts after the stage: shape += basisᵀ · moved.
    starts
        .shape
        .par_chunks_exact_mut(coords)
        .zip(moved.par_chunks_exact(dims))
        .for_each(|(s, m)| add_along(&basis, m.iter().copied(), s));

    TrainedStage {
        anchors,
        deltas,
        basis,
        scale,
        splits,
        leaves,
    }
}

/// A stage's feature pixels: uniformly in the mean shape's bounds (padded), each anchored at its
/// nearest landmark. Returns the anchors, the offsets and the pixels' mean-shape positions.
fn feature_pool(
    mean: &[f32],
    cfg: &ErtTrainConfig,
    rng: &mut StdRng,
) -> (Vec<u16>, Vec<[f32; 2]>, Vec<[f32; 2]>) {
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for q in mean.chunks_exact(2) {
        for c in 0..2 {
            lo[c] = lo[c].min(q[c]);
            hi[c] = hi[c].max(q[c]);
        }
    }
    let pad = cfg.padding as f32;
    let mut anchors = Vec::with_capacity(cfg.feature_pool);
    let mut deltas = Vec::with_capacity(cfg.feature_pool);
    let mut pool = Vec::with_capacity(cfg.feature_pool);
    for _ in 0..cfg.feature_pool {
        let x = rng.random_range(lo[0] - pad..=hi[0] + pad);
        let y = rng.random_range(lo[1] - pad..=hi[1] + pad);
        let (a, q) = mean
            .chunks_exact(2)
            .enumerate()
            .min_by(|(_, a), (_, b)| {
                let da = (a[0] - x).powi(2) + (a[1] - y).powi(2);
                let db = (b[0] - x).powi(2) + (b[1] - y).powi(2);
                da.total_cmp(&db)
            })
            .map(|(j, q)| (j, [q[0], q[1]]))
            .unwrap_or((0, [0.0, 0.0]));
        anchors.push(a as u16);
        deltas.push([x - q[0], y - q[1]]);
        pool.push([x, y]);
    }
    (anchors, deltas, pool)
}

/// The similarity transform (rotation and scale, `[a −b; b a]`) that best maps the mean shape,
/// centred, onto `shape`, centred: the one the evaluator carries feature pixels by.
fn similarity(mean: &[f32], shape: &[f32]) -> [f32; 4] {
    let n = (mean.len() / 2) as f64;
    let centre = |s: &[f32]| {
        let (mut x, mut y) = (0.0f64, 0.0f64);
        for q in s.chunks_exact(2) {
            x += f64::from(q[0]);
            y += f64::from(q[1]);
        }
        (x / n, y / n)
    };
    let (fx, fy) = centre(mean);
    let (tx, ty) = centre(shape);
    let (mut a, mut b, mut sigma) = (0.0f64, 0.0f64, 0.0f64);
    for (f, t) in mean.chunks_exact(2).zip(shape.chunks_exact(2)) {
        let (ux, uy) = (f64::from(f[0]) - fx, f64::from(f[1]) - fy);
        let (vx, vy) = (f64::from(t[0]) - tx, f64::from(t[1]) - ty);
        a += vx * ux + vy * uy;
        b += vy * ux - vx * uy;
        sigma += ux * ux + uy * uy;
    }
    if sigma == 0.0 {
        return [1.0, 0.0, 0.0, 1.0];
    }
    let (a, b) = ((a / sigma) as f32, (b / sigma) as f32);
    [a, -b, b, a]
}

/// The grey levels at a stage's feature pixels for one start (0 outside the picture, as the
/// evaluator reads them).
fn read_features(
    face: &ErtFace<'_>,
    mean: &[f32],
    shape: &[f32],
    anchors: &[u16],
    deltas: &[[f32; 2]],
    out: &mut [u8],
) {
    let [t00, t01, t10, t11] = similarity(mean, shape);
    let (w, h) = (
        face.rect.right - face.rect.left,
        face.rect.bottom - face.rect.top,
    );
    let (iw, ih) = (face.image.width() as i64, face.image.height() as i64);
    for ((o, &a), d) in out.iter_mut().zip(anchors).zip(deltas) {
        let a = usize::from(a);
        let x = t00 * d[0] + t01 * d[1] + shape[2 * a];
        let y = t10 * d[0] + t11 * d[1] + shape[2 * a + 1];
        let px = (face.rect.left + f64::from(x) * w + 0.5).floor() as i64;
        let py = (face.rect.top + f64::from(y) * h + 0.5).floor() as i64;
        *o = if (0..iw).contains(&px) && (0..ih).contains(&py) {
            face.image.get(px as usize, py as usize)
        } else {
            0
        };
    }
}

/// The top `dims` principal directions of the rows of `residual` (uncentred: the residuals'
/// mean is itself a direction the stage must move along), as `dims × coords` rows.
fn principal_basis(residual: &[f32], coords: usize, dims: usize) -> Vec<f32> {
    const CHUNK: usize = 4096;
    let partial: Vec<Vec<f64>> = residual
        .par_chunks(CHUNK * coords)
        .map(|rows| {
            let mut c = vec![0.0f64; coords * coords];
            for r in rows.chunks_exact(coords) {
                for i in 0..coords {
                    let ri = f64::from(r[i]);
                    let row = &mut c[i * coords..(i + 1) * coords];
                    for (cj, &rj) in row[i..].iter_mut().zip(&r[i..]) {
                        *cj += ri * f64::from(rj);
                    }
                }
            }
            c
        })
        .collect();
    let mut cov = DMatrix::<f64>::zeros(coords, coords);
    for c in &partial {
        for i in 0..coords {
            for j in i..coords {
                cov[(i, j)] += c[i * coords + j];
            }
        }
    }
    for i in 0..coords {
        for j in 0..i {
            cov[(i, j)] = cov[(j, i)];
        }
    }
    let eig = SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..coords).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let mut basis = Vec::with_capacity(dims * coords);
    for &d in &order[..dims] {
        let v = eig.eigenvectors.column(d);
        // A fixed sign, so that the same data gives the same file.
        let sign = if v.iter().fold(0.0f64, |s, x| s + x) < 0.0 {
            -1.0
        } else {
            1.0
        };
        basis.extend(v.iter().map(|&x| (sign * x) as f32));
    }
    basis
}

/// `c = basis · r`.
fn project(basis: &[f32], r: &[f32], c: &mut [f32]) {
    let coords = r.len();
    for (d, cd) in c.iter_mut().enumerate() {
        *cd = basis[d * coords..(d + 1) * coords]
            .iter()
            .zip(r)
            .map(|(b, x)| b * x)
            .sum();
    }
}

/// One tree's fit: the stage's features and the split prior.
struct TreeFit<'a> {
    features: &'a [u8],
    pool_size: usize,
    pool: &'a [[f32; 2]],
    dims: usize,
    cfg: &'a ErtTrainConfig,
}

impl TreeFit<'_> {
    /// Grows a tree on the residual coefficients `coef` (`dims` a start), breadth first in dlib's
    /// convention (node i's children are 2i + 1, taken when `f[idx1] − f[idx2] > thresh`, and
    /// 2i + 2). Reorders `order` so that each leaf's starts are contiguous; returns the splits
    /// and each leaf's range in `order`.
    fn grow(
        &self,
        order: &mut [u32],
        coef: &[f32],
        rng: &mut StdRng,
    ) -> (Vec<TreeSplit>, Vec<(usize, usize)>) {
        let mut ranges = vec![(0usize, order.len())];
        let mut splits = Vec::with_capacity((1 << self.cfg.depth) - 1);
        for _ in 0..self.cfg.depth {
            let mut next = Vec::with_capacity(2 * ranges.len());
            for &(start, end) in &ranges {
                let members = &mut order[start..end];
                let candidates: Vec<TreeSplit> = (0..self.cfg.split_tests)
                    .map(|_| self.random_split(rng))
                    .collect();
                let best = self.best_split(members, coef, &candidates);
                let (a, b, th) = best;
                // Left (the comparison holds) first.
                let mut i = 0;
                for j in 0..members.len() {
                    if self.goes_left(members[j], a, b, th) {
                        members.swap(i, j);
                        i += 1;
                    }
                }
                splits.push(best);
                next.push((start, start + i));
                next.push((start + i, end));
            }
            ranges = next;
        }
        (splits, ranges)
    }

    #[inline]
    fn goes_left(&self, s: u32, a: u16, b: u16, th: f32) -> bool {
        let f = &self.features[s as usize * self.pool_size..(s as usize + 1) * self.pool_size];
        f32::from(f[usize::from(a)]) - f32::from(f[usize::from(b)]) > th
    }

    /// A random pair of feature pixels, near pairs preferred (the distance prior), and a
    /// threshold.
    fn random_split(&self, rng: &mut StdRng) -> TreeSplit {
        let p = self.pool_size;
        loop {
            let a = rng.random_range(0..p);
            let b = rng.random_range(0..p);
            if a == b {
                continue;
            }
            let (u, v) = (self.pool[a], self.pool[b]);
            let dist = f64::from((u[0] - v[0]).hypot(u[1] - v[1]));
            if (-dist / self.cfg.lambda).exp() > rng.random::<f64>() {
                let th = (rng.random::<f32>() * 256.0 - 128.0) / 2.0;
                return (a as u16, b as u16, th);
            }
        }
    }

    /// The candidate that most reduces the squared residual: the largest
    /// `‖Σ_left‖²/n_left + ‖Σ_right‖²/n_right`.
    fn best_split(&self, members: &[u32], coef: &[f32], candidates: &[TreeSplit]) -> TreeSplit {
        let dims = self.dims;
        let mut total = vec![0.0f64; dims];
        for &s in members {
            for (t, &c) in total
                .iter_mut()
                .zip(&coef[s as usize * dims..(s as usize + 1) * dims])
            {
                *t += f64::from(c);
            }
        }
        let scores: Vec<f64> = candidates
            .par_iter()
            .map(|&(a, b, th)| {
                let mut left = vec![0.0f32; dims];
                let mut n_left = 0usize;
                for &s in members {
                    if self.goes_left(s, a, b, th) {
                        n_left += 1;
                        for (l, &c) in left
                            .iter_mut()
                            .zip(&coef[s as usize * dims..(s as usize + 1) * dims])
                        {
                            *l += c;
                        }
                    }
                }
                let n_right = members.len() - n_left;
                let mut score = 0.0;
                if n_left > 0 {
                    score +=
                        left.iter().map(|&l| f64::from(l).powi(2)).sum::<f64>() / n_left as f64;
                }
                if n_right > 0 {
                    score += total
                        .iter()
                        .zip(&left)
                        .map(|(&t, &l)| (t - f64::from(l)).powi(2))
                        .sum::<f64>()
                        / n_right as f64;
                }
                score
            })
            .collect();
        let mut best = 0;
        for (i, &s) in scores.iter().enumerate() {
            if s > scores[best] {
                best = i;
            }
        }
        candidates[best]
    }
}
