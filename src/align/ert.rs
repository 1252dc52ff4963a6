//! Kazemi & Sullivan 2014, One Millisecond Face Alignment with an Ensemble of Regression Trees;
//! dlib's `shape_predictor`, read from dlib's model file and evaluated stage by stage so that the
//! PARM cascade can ask any stage for its landmark update Δxᵏ at a shape of its own.
//!
//! [`ShapePredictor::predict`] reproduces dlib's `shape_predictor::operator()` to the rounding:
//! the same float/double choices at every step where a rounding could flip (see `run_stage`).
//!
//! Evaluation layout, chosen for speed (the model is ~65 MB of leaf vectors and a face reads
//! ~4 MB of them, so memory traffic dominates): each stage first places its feature pixels, then
//! walks all its trees, asking for each selected leaf as soon as it is known, and only then adds
//! the leaf vectors in tree order into the current shape. Leaf vectors are padded to whole
//! 64-byte blocks so that each starts on a cache line, and live on huge pages where Linux allows.
//! Tried and dropped: interleaving the additions a few trees behind the walk, and prefetching
//! split nodes ahead (both slower).

use thiserror::Error;

use super::dlib_format::{DlibModelError, MIN_FLOAT_BYTES, MIN_INT_BYTES, Reader};
use crate::image::GrayImage;

/// A face box as dlib's `rectangle` gives it: `left, top, right, bottom`, inclusive pixel
/// coordinates. The cascade maps its unit square onto `(left, top)–(right, bottom)`, i.e. onto a
/// span of `right − left` (not dlib's `width() = right − left + 1`). Integer boxes reproduce dlib
/// exactly; fractional boxes from a detector are accepted as they are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
}

impl FaceBox {
    pub fn new(left: f64, top: f64, right: f64, bottom: f64) -> Self {
        Self {
            left,
            top,
            right,
            bottom,
        }
    }

    /// From dlib's integer `[left, top, right, bottom]`.
    pub fn from_dlib(rect: [i64; 4]) -> Self {
        let [l, t, r, b] = rect.map(|v| v as f64);
        Self::new(l, t, r, b)
    }

    /// The normalised-shape → image mapping, as (scale x, scale y).
    fn span(&self) -> (f64, f64) {
        (self.right - self.left, self.bottom - self.top)
    }
}

/// A landmark position in image pixels (origin at the centre of the top-left pixel, y down).
pub type Point2 = [f64; 2];

/// Rounds an image position to a pixel the way dlib converts a `dpoint` to a `point`:
/// `floor(v + 0.5)`, so halves go up, −0.5 included.
pub fn dlib_round(p: Point2) -> [i64; 2] {
    p.map(|v| (v + 0.5).floor() as i64)
}

/// A misuse of the evaluator: wrong buffer size, a stage that does not exist, an empty box.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ErtError {
    #[error("the shape predictor has {stages} stages; stage {k} does not exist")]
    NoSuchStage { k: usize, stages: usize },
    #[error("{what} holds {got} points; the shape predictor has {expected} landmarks")]
    ShapeLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("face box [{}, {}, {}, {}] has no width or height", .0.left, .0.top, .0.right, .0.bottom)]
    EmptyBox(FaceBox),
}

/// Sixteen floats on their own cache line: the unit in which leaf vectors and the current shape
/// are stored, so the additions run over aligned, whole-line loads.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Block([f32; LANES]);

const LANES: usize = 16;

/// One split node: go left when `f[idx1] − f[idx2] > thresh`. Indices fit 16 bits (dlib's
/// default is 400–500 feature pixels a stage), keeping a 15-node tree in 120 bytes.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Split {
    idx1: u16,
    idx2: u16,
    thresh: f32,
}

/// The feature pixels of one stage, relative to the mean shape: pixel i sits at
/// `anchor_point[i] + delta[i]` after the similarity transform to the current shape.
#[derive(Debug, Clone)]
struct Stage {
    anchors: Vec<u16>,
    deltas: Vec<[f32; 2]>,
    num_trees: usize,
    /// First split of the stage's first tree in `ShapePredictor::splits`.
    split_offset: usize,
    /// First block of the stage's first leaf in `ShapePredictor::leaves`.
    leaf_offset: usize,
}

/// One stage of a cascade given in memory, for [`ShapePredictor::from_parts`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct StageParts<'a> {
    pub anchors: &'a [u16],
    pub deltas: &'a [[f32; 2]],
    /// Per tree, its `2^depth − 1` splits `(idx1, idx2, thresh)`, breadth first.
    pub splits: &'a [(u16, u16, f32)],
    /// Per tree, its `2^depth` leaves of `2 × landmarks` values each.
    pub leaves: &'a [f32],
}

/// An ERT shape predictor: dlib's 68-point model read from dlib's `.dat` file, or facetrack's own
/// (see `ert_file`).
#[derive(Debug, Clone)]
pub struct ShapePredictor {
    num_landmarks: usize,
    /// The mean shape in box-normalised coordinates, interleaved x, y.
    initial: Vec<f32>,
    /// The mean shape centred on its mean, in `f64`, and its mean squared norm: the "from" side
    /// of every similarity transform, computed once the way dlib computes it each time.
    initial_centred: Vec<[f64; 2]>,
    initial_sigma: f64,
    stages: Vec<Stage>,
    depth: usize,
    splits_per_tree: usize,
    leaves_per_tree: usize,
    blocks_per_leaf: usize,
    splits: Vec<Split>,
    leaves: Vec<Block>,
    max_features: usize,
    max_trees: usize,
}

/// Buffers reused across calls so that evaluation allocates nothing once they have grown.
#[derive(Debug, Clone, Default)]
pub struct ErtScratch {
    /// The current shape, box-normalised, interleaved x, y, padded to whole blocks.
    shape: Vec<Block>,
    features: Vec<f32>,
    /// Per feature pixel of a stage: its index in the image, `usize::MAX` outside.
    pixel_at: Vec<usize>,
    /// Per tree of a stage: first block of its selected leaf in `ShapePredictor::leaves`.
    leaf_blocks: Vec<u32>,
}

/// Where in the file a read happened, for error messages. Stages and trees count from 0.
#[derive(Debug, Clone, Copy)]
enum At {
    Version,
    InitialShape,
    StageCount,
    TreeCount { stage: usize },
    Splits { stage: usize, tree: usize },
    Leaves { stage: usize, tree: usize },
    AnchorCount,
    Anchors { stage: usize },
    DeltaCount,
    Deltas { stage: usize },
    End,
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            At::Version => write!(f, "the version number"),
            At::InitialShape => write!(f, "the initial (mean) shape"),
            At::StageCount => write!(f, "the number of cascade stages"),
            At::TreeCount { stage } => write!(f, "the tree count of stage {stage}"),
            At::Splits { stage, tree } => write!(f, "stage {stage} tree {tree} split nodes"),
            At::Leaves { stage, tree } => write!(f, "stage {stage} tree {tree} leaf values"),
            At::AnchorCount => write!(f, "the number of feature-pixel anchor lists"),
            At::Anchors { stage } => write!(f, "the feature-pixel anchors of stage {stage}"),
            At::DeltaCount => write!(f, "the number of feature-pixel offset lists"),
            At::Deltas { stage } => write!(f, "the feature-pixel offsets of stage {stage}"),
            At::End => write!(f, "the end of the model"),
        }
    }
}

/// `sizeof(unsigned long)` on the 64-bit systems dlib models are written on.
const ULONG_BYTES: u8 = 8;
/// Largest tree depth accepted: dlib's default is 4, and 2^16 leaves a tree is already absurd.
const MAX_DEPTH: usize = 16;

fn inconsistent(reason: String) -> DlibModelError {
    DlibModelError::Inconsistent { reason }
}

fn unsupported(reason: String) -> DlibModelError {
    DlibModelError::Unsupported { reason }
}

impl ShapePredictor {
    /// Reads a model serialized by dlib's `serialize(shape_predictor)`, e.g. the contents of
    /// `shape_predictor_68_face_landmarks.dat`.
    pub fn from_dlib_bytes(bytes: &[u8]) -> Result<Self, DlibModelError> {
        if bytes.starts_with(b"BZh") {
            return Err(DlibModelError::WrongType {
                reason: "the file is bzip2-compressed (as downloaded from dlib.net); decompress it with bunzip2 first"
                    .into(),
            });
        }
        let mut r = Reader::new(bytes);

        let version = r.int32(At::Version)?;
        if version != 1 {
            return Err(DlibModelError::WrongType {
                reason: format!("version {version} where dlib's shape_predictor writes 1"),
            });
        }

        let initial = read_initial_shape(&mut r)?;
        let coords = initial.len();
        let num_landmarks = coords / 2;
        let blocks_per_leaf = coords.div_ceil(LANES);

        let num_stages = r.vector_len(MIN_INT_BYTES, At::StageCount)?;
        let mut stages = Vec::with_capacity(num_stages);
        let mut splits = Vec::new();
        let mut leaves: Vec<Block> = Vec::new();
        // Fixed by the first tree; every tree must have the same shape.
        let mut tree_shape: Option<(usize, usize)> = None;
        for stage in 0..num_stages {
            let num_trees = r.vector_len(2 * MIN_INT_BYTES, At::TreeCount { stage })?;
            let split_offset = splits.len();
            let leaf_offset = leaves.len();
            for tree in 0..num_trees {
                let at = At::Splits { stage, tree };
                let start = r.position();
                let n_splits = r.vector_len(2 * MIN_INT_BYTES + MIN_FLOAT_BYTES, at)?;
                let (spt, _) = match tree_shape {
                    Some(shape) => shape,
                    None => {
                        let depth = (n_splits + 1).trailing_zeros() as usize;
                        if (n_splits + 1).count_ones() != 1 || depth > MAX_DEPTH {
                            return Err(unsupported(format!(
                                "{at}: {n_splits} split nodes is not a full binary tree of depth ≤ {MAX_DEPTH}"
                            )));
                        }
                        *tree_shape.insert((n_splits, depth))
                    }
                };
                if n_splits != spt {
                    return Err(r.corrupt(
                        start,
                        at,
                        format_args!("{n_splits} split nodes where the other trees have {spt}"),
                    ));
                }
                if tree == 0 {
                    // Reserve once a stage rather than growing 65 MB by doubling; the whole model
                    // at once, on huge pages, when the first stage tells its size. Bounded by what
                    // the remaining bytes can hold, so a corrupt count cannot reserve gigabytes.
                    let leaf_bytes = coords * MIN_FLOAT_BYTES + 2 * MIN_INT_BYTES;
                    let split_bytes = 2 * MIN_INT_BYTES + MIN_FLOAT_BYTES;
                    let most = |n: usize, bytes: usize| n.min(r.remaining() / bytes);
                    let stages_left = if stage == 0 { num_stages } else { 1 };
                    let tree_leaves = stages_left
                        .saturating_mul(num_trees)
                        .saturating_mul(spt + 1);
                    let tree_splits = stages_left.saturating_mul(num_trees).saturating_mul(spt);
                    splits.reserve(most(tree_splits, split_bytes));
                    let blocks = most(tree_leaves, leaf_bytes) * blocks_per_leaf;
                    if stage == 0 {
                        leaves = with_capacity_on_huge_pages(blocks);
                    } else {
                        leaves.reserve(blocks);
                    }
                }
                for _ in 0..n_splits {
                    let pos = r.position();
                    let idx1 = r.unsigned(ULONG_BYTES, at)?;
                    let idx2 = r.unsigned(ULONG_BYTES, at)?;
                    let thresh = r.float(at)?;
                    let (Ok(idx1), Ok(idx2)) = (u16::try_from(idx1), u16::try_from(idx2)) else {
                        return Err(r.corrupt(
                            pos,
                            at,
                            format_args!("feature index {} beyond 65535", idx1.max(idx2)),
                        ));
                    };
                    if thresh.is_nan() {
                        return Err(r.corrupt(pos, at, "NaN threshold"));
                    }
                    splits.push(Split { idx1, idx2, thresh });
                }

                let at = At::Leaves { stage, tree };
                let start = r.position();
                let n_leaves = r.vector_len(2 * MIN_INT_BYTES, at)?;
                if n_leaves != spt + 1 {
                    return Err(r.corrupt(
                        start,
                        at,
                        format_args!("{n_leaves} leaves for {spt} split nodes"),
                    ));
                }
                for _ in 0..n_leaves {
                    let start = r.position();
                    let (nr, nc) = r.matrix_dims(MIN_FLOAT_BYTES, at)?;
                    if nc != 1 || nr != coords {
                        return Err(r.corrupt(
                            start,
                            at,
                            format_args!("{nr}×{nc} leaf vector where the shape is {coords}×1"),
                        ));
                    }
                    read_blocks(&mut r, coords, blocks_per_leaf, &mut leaves, at)?;
                }
            }
            stages.push(Stage {
                anchors: Vec::new(),
                deltas: Vec::new(),
                num_trees,
                split_offset,
                leaf_offset,
            });
        }
        // A model without trees still has a (meaningless) shape; take depth 0.
        let (splits_per_tree, depth) = tree_shape.unwrap_or((0, 0));

        let n = r.vector_len(MIN_INT_BYTES, At::AnchorCount)?;
        if n != num_stages {
            return Err(inconsistent(format!(
                "{n} anchor lists for {num_stages} stages"
            )));
        }
        for (stage, s) in stages.iter_mut().enumerate() {
            let at = At::Anchors { stage };
            let count = r.vector_len(MIN_INT_BYTES, at)?;
            s.anchors.reserve_exact(count);
            for _ in 0..count {
                let pos = r.position();
                let a = r.unsigned(ULONG_BYTES, at)?;
                match u16::try_from(a) {
                    Ok(a) if (a as usize) < num_landmarks => s.anchors.push(a),
                    _ => {
                        return Err(r.corrupt(
                            pos,
                            at,
                            format_args!("anchor landmark {a} of {num_landmarks}"),
                        ));
                    }
                }
            }
        }

        let n = r.vector_len(MIN_INT_BYTES, At::DeltaCount)?;
        if n != num_stages {
            return Err(inconsistent(format!(
                "{n} offset lists for {num_stages} stages"
            )));
        }
        for (stage, s) in stages.iter_mut().enumerate() {
            let at = At::Deltas { stage };
            let start = r.position();
            let count = r.vector_len(2 * MIN_FLOAT_BYTES, at)?;
            if count != s.anchors.len() {
                return Err(r.corrupt(
                    start,
                    at,
                    format_args!("{count} offsets for {} anchors", s.anchors.len()),
                ));
            }
            s.deltas.reserve_exact(count);
            for _ in 0..count {
                let x = r.finite_float(at)?;
                let y = r.finite_float(at)?;
                s.deltas.push([x, y]);
            }
        }
        if r.remaining() != 0 {
            return Err(r.corrupt(
                r.position(),
                At::End,
                format_args!("{} bytes after the model", r.remaining()),
            ));
        }

        for (stage, s) in stages.iter().enumerate() {
            let nodes = &splits[s.split_offset..s.split_offset + s.num_trees * splits_per_tree];
            if let Some(bad) = nodes
                .iter()
                .map(|sp| sp.idx1.max(sp.idx2) as usize)
                .find(|&i| i >= s.anchors.len())
            {
                return Err(inconsistent(format!(
                    "stage {stage} compares feature pixel {bad} but has only {}",
                    s.anchors.len()
                )));
            }
        }

        Self::assemble(initial, stages, depth, blocks_per_leaf, splits, leaves).map_err(unsupported)
    }

    /// The evaluator over checked parts; the derived sizes are computed here. Refuses more leaf
    /// blocks than the evaluator's 32-bit offsets reach.
    fn assemble(
        initial: Vec<f32>,
        stages: Vec<Stage>,
        depth: usize,
        blocks_per_leaf: usize,
        splits: Vec<Split>,
        leaves: Vec<Block>,
    ) -> Result<Self, String> {
        if u32::try_from(leaves.len()).is_err() {
            return Err(format!("{} leaf blocks (more than 2^32)", leaves.len()));
        }
        let (initial_centred, initial_sigma) = centre(&initial);
        let splits_per_tree = (1usize << depth) - 1;
        Ok(Self {
            max_features: stages.iter().map(|s| s.anchors.len()).max().unwrap_or(0),
            max_trees: stages.iter().map(|s| s.num_trees).max().unwrap_or(0),
            num_landmarks: initial.len() / 2,
            initial,
            initial_centred,
            initial_sigma,
            stages,
            depth,
            splits_per_tree,
            leaves_per_tree: splits_per_tree + 1,
            blocks_per_leaf,
            splits,
            leaves,
        })
    }

    /// A cascade held in memory (facetrack's own, read from its file): the mean shape in
    /// box-normalised coordinates (interleaved x, y), the trees' depth, and each stage's feature
    /// pixels, splits and full leaf vectors, in dlib's tree convention. Checked as a dlib file is.
    pub(crate) fn from_parts(
        initial: Vec<f32>,
        depth: usize,
        parts: &[StageParts<'_>],
    ) -> Result<Self, String> {
        let coords = initial.len();
        if coords < 2 || !coords.is_multiple_of(2) || coords / 2 > usize::from(u16::MAX) {
            return Err(format!("a mean shape of {coords} coordinates"));
        }
        if !initial.iter().all(|v| v.is_finite()) {
            return Err("a mean shape that is not finite".into());
        }
        if depth > MAX_DEPTH {
            return Err(format!("trees of depth {depth}"));
        }
        let num_landmarks = coords / 2;
        let blocks_per_leaf = coords.div_ceil(LANES);
        let splits_per_tree = (1usize << depth) - 1;
        let leaves_per_tree = splits_per_tree + 1;
        let total_leaves: usize = parts.iter().map(|p| p.leaves.len() / coords).sum();
        let mut leaves = with_capacity_on_huge_pages(total_leaves * blocks_per_leaf);
        let mut splits = Vec::new();
        let mut stages = Vec::with_capacity(parts.len());
        for (k, p) in parts.iter().enumerate() {
            let n_feat = p.anchors.len();
            if p.deltas.len() != n_feat || n_feat > usize::from(u16::MAX) {
                return Err(format!(
                    "stage {k} has {n_feat} anchors and {} offsets",
                    p.deltas.len()
                ));
            }
            if p.anchors.iter().any(|&a| usize::from(a) >= num_landmarks)
                || !p.deltas.iter().flatten().all(|v| v.is_finite())
            {
                return Err(format!("stage {k} has a feature pixel off the shape"));
            }
            let num_trees = p.splits.len() / splits_per_tree.max(1);
            if p.splits.len() != num_trees * splits_per_tree
                || p.leaves.len() != num_trees * leaves_per_tree * coords
            {
                return Err(format!(
                    "stage {k}: {} splits and {} leaf values do not make whole trees of depth {depth}",
                    p.splits.len(),
                    p.leaves.len()
                ));
            }
            let split_offset = splits.len();
            let leaf_offset = leaves.len();
            for &(idx1, idx2, thresh) in p.splits {
                if usize::from(idx1.max(idx2)) >= n_feat || thresh.is_nan() {
                    return Err(format!("stage {k} has a split on no feature pixel"));
                }
                splits.push(Split { idx1, idx2, thresh });
            }
            for leaf in p.leaves.chunks_exact(coords) {
                if !leaf.iter().all(|v| v.is_finite()) {
                    return Err(format!("stage {k} has a leaf that is not finite"));
                }
                for b in 0..blocks_per_leaf {
                    let mut block = Block::default();
                    let n = LANES.min(coords - b * LANES);
                    block.0[..n].copy_from_slice(&leaf[b * LANES..b * LANES + n]);
                    leaves.push(block);
                }
            }
            stages.push(Stage {
                anchors: p.anchors.to_vec(),
                deltas: p.deltas.to_vec(),
                num_trees,
                split_offset,
                leaf_offset,
            });
        }
        Self::assemble(initial, stages, depth, blocks_per_leaf, splits, leaves)
    }

    /// Number of cascade stages (15 for dlib's 68-point model).
    pub fn num_stages(&self) -> usize {
        self.stages.len()
    }

    /// Number of landmarks (68 for dlib's 68-point model).
    pub fn num_landmarks(&self) -> usize {
        self.num_landmarks
    }

    /// Buffers sized for this model, to pass to every call.
    pub fn scratch(&self) -> ErtScratch {
        let mut s = ErtScratch::default();
        s.fit(self);
        s
    }

    /// The mean shape placed in `rect`: where dlib's cascade starts.
    pub fn initial_shape_in(&self, rect: &FaceBox, out: &mut [Point2]) -> Result<(), ErtError> {
        self.check_len("output", out.len())?;
        for (o, p) in out.iter_mut().zip(self.initial.chunks_exact(2)) {
            *o = unnormalise(rect, p[0], p[1]);
        }
        Ok(())
    }

    /// Runs the whole cascade from the mean shape, as dlib's `shape_predictor::operator()` does,
    /// and writes the landmarks in image pixels, unrounded; [`dlib_round`] gives dlib's points.
    pub fn predict(
        &self,
        image: &GrayImage,
        rect: &FaceBox,
        out: &mut [Point2],
        scratch: &mut ErtScratch,
    ) -> Result<(), ErtError> {
        self.check_len("output", out.len())?;
        scratch.fit(self);
        for (i, &v) in self.initial.iter().enumerate() {
            scratch.shape[i / LANES].0[i % LANES] = v;
        }
        for k in 0..self.stages.len() {
            self.run_stage(k, image, rect, scratch);
        }
        for (j, o) in out.iter_mut().enumerate() {
            let (x, y) = point(&scratch.shape, j);
            *o = unnormalise(rect, x, y);
        }
        Ok(())
    }

    /// Stage `k` (from 0) of the cascade evaluated at an arbitrary `current` shape in image
    /// pixels: writes the update Δx this stage proposes, so that `current + delta` is the shape
    /// after the stage. Feature pixels are placed through the similarity transform from the mean
    /// shape to `current`, as dlib places them. Chaining all stages from
    /// [`initial_shape_in`](Self::initial_shape_in), adding in `f64`, reproduces
    /// [`predict`](Self::predict) exactly for integer boxes.
    pub fn stage(
        &self,
        k: usize,
        image: &GrayImage,
        rect: &FaceBox,
        current: &[Point2],
        delta: &mut [Point2],
        scratch: &mut ErtScratch,
    ) -> Result<(), ErtError> {
        if k >= self.stages.len() {
            return Err(ErtError::NoSuchStage {
                k,
                stages: self.stages.len(),
            });
        }
        self.check_len("current shape", current.len())?;
        self.check_len("delta", delta.len())?;
        let (w, h) = rect.span();
        // Also refuses NaN spans.
        if !(w != 0.0 && h != 0.0 && w.is_finite() && h.is_finite()) {
            return Err(ErtError::EmptyBox(*rect));
        }
        scratch.fit(self);
        for (j, p) in current.iter().enumerate() {
            // For an integer box and a point that came from the box-normalised f32 shape, both
            // divisions are exact, so the stage sees the very shape `predict` would.
            let x = ((p[0] - rect.left) / w) as f32;
            let y = ((p[1] - rect.top) / h) as f32;
            let b = &mut scratch.shape[2 * j / LANES].0;
            b[2 * j % LANES] = x;
            b[2 * j % LANES + 1] = y;
        }
        self.run_stage(k, image, rect, scratch);
        for (j, (d, p)) in delta.iter_mut().zip(current).enumerate() {
            let (x, y) = point(&scratch.shape, j);
            let moved = unnormalise(rect, x, y);
            *d = [moved[0] - p[0], moved[1] - p[1]];
        }
        Ok(())
    }

    fn check_len(&self, what: &'static str, got: usize) -> Result<(), ErtError> {
        if got == self.num_landmarks {
            Ok(())
        } else {
            Err(ErtError::ShapeLength {
                what,
                expected: self.num_landmarks,
                got,
            })
        }
    }

    /// One stage of dlib's `shape_predictor::operator()` on the box-normalised shape in
    /// `scratch.shape`, updated in place.
    fn run_stage(&self, k: usize, image: &GrayImage, rect: &FaceBox, scratch: &mut ErtScratch) {
        let stage = &self.stages[k];
        let ErtScratch {
            shape,
            features,
            pixel_at,
            leaf_blocks,
        } = scratch;

        // dlib: matrix_cast<float>(find_similarity_transform(initial → current).get_m()).
        let [t00, t01, t10, t11] = self.similarity_to(shape);
        let (w, h) = rect.span();
        let (width, height) = (image.width() as i64, image.height() as i64);
        let pixels = image.pixels();
        for ((o, &a), d) in pixel_at.iter_mut().zip(&stage.anchors).zip(&stage.deltas) {
            let (ax, ay) = point(shape, a as usize);
            // In f32, in dlib's order: (tform · delta) + anchor point.
            let x = (t00 * d[0] + t01 * d[1]) + ax;
            let y = (t10 * d[0] + t11 * d[1]) + ay;
            // Then to the image in double and rounded as dlib's dpoint → point does.
            let px = round_half_up(rect.left + f64::from(x) * w);
            let py = round_half_up(rect.top + f64::from(y) * h);
            *o = if (0..width).contains(&px) && (0..height).contains(&py) {
                let at = (py * width + px) as usize;
                // Reading the pixel here would stall on each cache miss of a fresh frame; asking
                // for all of them first overlaps the misses (~10 % a face).
                prefetch(&pixels[at], Level::L1);
                at
            } else {
                usize::MAX
            };
        }
        // dlib reads 0 outside the image.
        for (f, &o) in features.iter_mut().zip(&pixel_at[..stage.anchors.len()]) {
            *f = pixels.get(o).map_or(0.0, |&v| f32::from(v));
        }

        let spt = self.splits_per_tree;
        let lpt = self.leaves_per_tree;
        let bpl = self.blocks_per_leaf;
        let nodes = &self.splits[stage.split_offset..stage.split_offset + stage.num_trees * spt];
        let features = &features[..stage.anchors.len()];
        let leaf_blocks = &mut leaf_blocks[..stage.num_trees];
        for (t, lb) in leaf_blocks.iter_mut().enumerate() {
            let tree = &nodes[t * spt..(t + 1) * spt];
            let mut i = 0;
            for _ in 0..self.depth {
                let s = tree[i];
                let left = features[s.idx1 as usize] - features[s.idx2 as usize] > s.thresh;
                i = 2 * i + 2 - usize::from(left);
            }
            let start = stage.leaf_offset + (t * lpt + (i - spt)) * bpl;
            // The leaves are far too many to stay cached. Asking for each as soon as it is known
            // keeps many fetches in flight while the other trees are walked, instead of paying
            // the memory latency tree by tree during the additions.
            for b in &self.leaves[start..start + bpl] {
                prefetch(b, Level::L2);
            }
            *lb = start as u32;
        }
        accumulate(shape, &self.leaves, leaf_blocks, bpl);
    }

    /// dlib's `find_similarity_transform` (Umeyama 1991) from the mean shape to `shape`, cast to
    /// `f32` as dlib casts it. In 2D the rotation that maximises tr(Rᵀ·Σ) has the closed form
    /// used here, which equals dlib's SVD route to within a few `f64` ulps, far below the `f32`
    /// cast; sums run in dlib's order and precision.
    fn similarity_to(&self, shape: &[Block]) -> [f32; 4] {
        let n = self.num_landmarks;
        if n == 1 {
            return [1.0, 0.0, 0.0, 1.0];
        }
        let (mut mx, mut my) = (0.0f64, 0.0f64);
        for j in 0..n {
            let (x, y) = point(shape, j);
            mx += f64::from(x);
            my += f64::from(y);
        }
        mx /= n as f64;
        my /= n as f64;
        let (mut c00, mut c01, mut c10, mut c11) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (j, f) in self.initial_centred.iter().enumerate() {
            let (x, y) = point(shape, j);
            let (tx, ty) = (f64::from(x) - mx, f64::from(y) - my);
            c00 += tx * f[0];
            c01 += tx * f[1];
            c10 += ty * f[0];
            c11 += ty * f[1];
        }
        let nf = n as f64;
        let (c00, c01, c10, c11) = (c00 / nf, c01 / nf, c10 / nf, c11 / nf);
        let (a, b) = (c00 + c11, c10 - c01);
        let (a, b) = if self.initial_sigma != 0.0 {
            (a / self.initial_sigma, b / self.initial_sigma)
        } else {
            // dlib then keeps the rotation alone (scale 1).
            let norm = a.hypot(b);
            if norm == 0.0 {
                (1.0, 0.0)
            } else {
                (a / norm, b / norm)
            }
        };
        [a as f32, -b as f32, b as f32, a as f32]
    }
}

/// Reads the mean shape, a column `matrix<float>` of interleaved x, y.
fn read_initial_shape(r: &mut Reader) -> Result<Vec<f32>, DlibModelError> {
    let at = At::InitialShape;
    let start = r.position();
    let (nr, nc) = r.matrix_dims(MIN_FLOAT_BYTES, at)?;
    if nc != 1 || nr < 2 || nr % 2 != 0 {
        return Err(r.corrupt(
            start,
            at,
            format_args!("{nr}×{nc} where a column of x, y pairs is expected"),
        ));
    }
    if nr / 2 > usize::from(u16::MAX) {
        return Err(unsupported(format!("{} landmarks", nr / 2)));
    }
    (0..nr).map(|_| r.finite_float(at)).collect()
}

/// Reads `coords` floats into whole blocks, zero-padding the last.
fn read_blocks(
    r: &mut Reader,
    coords: usize,
    blocks: usize,
    out: &mut Vec<Block>,
    at: At,
) -> Result<(), DlibModelError> {
    for b in 0..blocks {
        let mut block = Block::default();
        let n = LANES.min(coords - b * LANES);
        for v in &mut block.0[..n] {
            *v = r.finite_float(at)?;
        }
        out.push(block);
    }
    Ok(())
}

/// The mean shape centred on its mean, in `f64`, and its mean squared distance from the mean:
/// dlib's `mean_from` and `sigma_from`, summed in the same order.
fn centre(shape: &[f32]) -> (Vec<[f64; 2]>, f64) {
    let n = (shape.len() / 2) as f64;
    let (mut mx, mut my) = (0.0f64, 0.0f64);
    for p in shape.chunks_exact(2) {
        mx += f64::from(p[0]);
        my += f64::from(p[1]);
    }
    mx /= n;
    my /= n;
    let centred: Vec<[f64; 2]> = shape
        .chunks_exact(2)
        .map(|p| [f64::from(p[0]) - mx, f64::from(p[1]) - my])
        .collect();
    let sigma = centred
        .iter()
        .fold(0.0, |s, d| s + (d[0] * d[0] + d[1] * d[1]))
        / n;
    (centred, sigma)
}

/// Landmark `j` of a block-packed interleaved shape.
#[inline]
fn point(shape: &[Block], j: usize) -> (f32, f32) {
    let b = &shape[2 * j / LANES].0;
    (b[2 * j % LANES], b[2 * j % LANES + 1])
}

/// dlib's `unnormalizing_tform(rect)` applied to a box-normalised point, in double.
#[inline]
fn unnormalise(rect: &FaceBox, x: f32, y: f32) -> Point2 {
    let (w, h) = rect.span();
    [rect.left + f64::from(x) * w, rect.top + f64::from(y) * h]
}

/// `shape += leaf` for each selected leaf, in tree order: f32 additions in dlib's order, so the
/// sums are bit-identical; the lanes of a block are independent and vectorise.
fn accumulate(shape: &mut [Block], leaves: &[Block], leaf_blocks: &[u32], bpl: usize) {
    let shape = &mut shape[..bpl];
    for &start in leaf_blocks {
        let leaf = &leaves[start as usize..start as usize + bpl];
        for (s, l) in shape.iter_mut().zip(leaf) {
            // Through a local copy: in place, the compiler kept the additions scalar.
            let mut a = s.0;
            for (x, y) in a.iter_mut().zip(l.0) {
                *x += y;
            }
            s.0 = a;
        }
    }
}

/// Which cache a prefetch fills.
#[derive(Clone, Copy)]
enum Level {
    L1,
    /// Leaves go to L2 only: a stage's 500 leaves (288 kB) do not fit L1, and L2 keeps more
    /// fetches in flight; measured ~25 % faster than into L1 on Zen 4.
    L2,
}

/// Asks for the cache line holding `v` to be fetched ahead of use.
#[inline(always)]
fn prefetch<T>(v: &T, level: Level) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _MM_HINT_T1, _mm_prefetch};
        let p = (v as *const T).cast::<i8>();
        // SAFETY: a prefetch is only a hint; it never faults, and `p` points into a live value.
        unsafe {
            match level {
                Level::L1 => _mm_prefetch::<_MM_HINT_T0>(p),
                Level::L2 => _mm_prefetch::<_MM_HINT_T1>(p),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (v, level);
}

/// `floor(v + 0.5)`, dlib's rounding to a pixel, without a libm call: x86-64's baseline has no
/// SSE4.1 `roundsd`. Exact for |v| < 2^62; NaN gives 0, and a value beyond i64's range (a fit
/// thrown far off the image) saturates rather than wrapping.
#[inline]
fn round_half_up(v: f64) -> i64 {
    let v = v + 0.5;
    let t = v as i64;
    if (t as f64) > v {
        t.saturating_sub(1)
    } else {
        t
    }
}

impl ErtScratch {
    /// Grows the buffers to what `model` needs; allocates only when they are too small.
    fn fit(&mut self, model: &ShapePredictor) {
        if self.shape.len() < model.blocks_per_leaf {
            self.shape.resize(model.blocks_per_leaf, Block::default());
        }
        if self.features.len() < model.max_features {
            self.features.resize(model.max_features, 0.0);
            self.pixel_at.resize(model.max_features, usize::MAX);
        }
        if self.leaf_blocks.len() < model.max_trees {
            self.leaf_blocks.resize(model.max_trees, 0);
        }
    }
}

/// An empty buffer with room for `n` blocks, in memory the kernel may back with 2 MB pages (Linux
/// transparent huge pages, when set to `madvise` or `always`). Each tree reads one leaf of its
/// own, so a face touches 7,500 scattered leaves over 65 MB and, with 4 kB pages, misses the TLB
/// on nearly every one; measured 10–20 % faster per face.
fn with_capacity_on_huge_pages(n: usize) -> Vec<Block> {
    let v: Vec<Block> = Vec::with_capacity(n);
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let bytes = n * std::mem::size_of::<Block>();
        // The advice covers the whole 2 MB pages inside the allocation, and comes before any of
        // its pages is first touched.
        let first = start.next_multiple_of(HUGE);
        let end = (start + bytes) / HUGE * HUGE;
        if end > first {
            // SAFETY: madvise reads and writes no memory; it only tells the kernel how to back
            // pages of this process's own allocation, [first, end) lying inside `v`'s capacity.
            // Its failure (e.g. THP disabled) is harmless and ignored.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes dlib's integer encoding.
    fn int(out: &mut Vec<u8>, v: i64) {
        let mut mag = v.unsigned_abs();
        let mut bytes = Vec::new();
        loop {
            bytes.push(mag as u8);
            mag >>= 8;
            if mag == 0 {
                break;
            }
        }
        out.push(bytes.len() as u8 | if v < 0 { 0x80 } else { 0 });
        out.extend(bytes);
    }

    /// Writes a float as dlib does, up to the compaction of trailing zero bytes.
    fn float(out: &mut Vec<u8>, v: f32) {
        if v == 0.0 {
            int(out, 0);
            int(out, 0);
            return;
        }
        let bits = v.to_bits();
        let exp = ((bits >> 23) & 0xFF) as i64;
        let frac = i64::from(bits & 0x7F_FFFF);
        let (m, e) = if exp == 0 {
            (frac, -149)
        } else {
            (frac | 0x80_0000, exp - 150)
        };
        int(out, if v < 0.0 { -m } else { m });
        int(out, e);
    }

    /// A 3-landmark model with 2 stages of 2 depth-1 trees over 2 feature pixels each.
    fn tiny_model(thresh: [f32; 4]) -> Vec<u8> {
        let mut o = Vec::new();
        int(&mut o, 1);
        let initial = [0.2f32, 0.2, 0.8, 0.2, 0.5, 0.8];
        int(&mut o, -6);
        int(&mut o, -1);
        initial.iter().for_each(|&v| float(&mut o, v));
        int(&mut o, 2); // stages
        for stage in 0..2 {
            int(&mut o, 2); // trees
            for tree in 0..2 {
                int(&mut o, 1); // one split
                int(&mut o, 0);
                int(&mut o, 1);
                float(&mut o, thresh[2 * stage + tree]);
                int(&mut o, 2); // two leaves
                for leaf in 0..2 {
                    int(&mut o, -6);
                    int(&mut o, -1);
                    for c in 0..6 {
                        // Leaf 0 moves everything by +0.01·(tree+1), leaf 1 by −0.01 on x only.
                        let v = if leaf == 0 {
                            0.01 * (tree + 1) as f32
                        } else if c % 2 == 0 {
                            -0.01
                        } else {
                            0.0
                        };
                        float(&mut o, v);
                    }
                }
            }
        }
        int(&mut o, 2);
        for _ in 0..2 {
            int(&mut o, 2);
            int(&mut o, 0);
            int(&mut o, 2);
        }
        int(&mut o, 2);
        for _ in 0..2 {
            int(&mut o, 2);
            for d in [[0.0f32, 0.0], [0.05, -0.05]] {
                float(&mut o, d[0]);
                float(&mut o, d[1]);
            }
        }
        o
    }

    #[test]
    fn tiny_model_follows_dlib_tree_convention() {
        // On a flat image both feature pixels read the same value, so f1 − f2 = 0: a threshold
        // below 0 sends the tree left (leaf 0), one above 0 right (leaf 1).
        let m = ShapePredictor::from_dlib_bytes(&tiny_model([-1.0, 1.0, -1.0, 1.0])).unwrap();
        assert_eq!((m.num_stages(), m.num_landmarks()), (2, 3));
        let img = GrayImage::from_raw(100, 100, vec![7; 10_000]).unwrap();
        let rect = FaceBox::new(10.0, 20.0, 60.0, 70.0);
        let mut out = [[0.0; 2]; 3];
        let mut scratch = m.scratch();
        m.predict(&img, &rect, &mut out, &mut scratch).unwrap();
        // Each stage adds leaf 0 of tree 0 (+0.01, +0.01) and leaf 1 of tree 1 (−0.01, 0).
        let mut expect = [0.2f32, 0.2, 0.8, 0.2, 0.5, 0.8];
        for _ in 0..2 {
            for (i, v) in expect.iter_mut().enumerate() {
                *v += 0.01;
                *v += if i % 2 == 0 { -0.01 } else { 0.0 };
            }
        }
        for (o, e) in out.iter().zip(expect.chunks_exact(2)) {
            assert_eq!(*o, unnormalise(&rect, e[0], e[1]));
        }
    }

    #[test]
    fn every_damaged_byte_and_cut_is_an_error_or_a_usable_model() {
        let bytes = tiny_model([-1.0, 1.0, 0.5, -0.5]);
        assert!(ShapePredictor::from_dlib_bytes(&bytes).is_ok());
        let img = GrayImage::from_raw(16, 16, (0..=255).collect()).unwrap();
        let rect = FaceBox::new(2.0, 2.0, 13.0, 13.0);
        for cut in 0..bytes.len() {
            assert!(
                ShapePredictor::from_dlib_bytes(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        for at in 0..bytes.len() {
            for mask in [0x01, 0x02, 0x10, 0x40, 0x80, 0xFF] {
                let mut copy = bytes.clone();
                copy[at] ^= mask;
                // A flip inside a number's magnitude leaves a well-formed (different) model;
                // either way nothing may panic, evaluation included.
                if let Ok(m) = ShapePredictor::from_dlib_bytes(&copy) {
                    let mut out = vec![[0.0; 2]; m.num_landmarks()];
                    m.predict(&img, &rect, &mut out, &mut m.scratch()).unwrap();
                }
            }
        }
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        // A stage count of 2^40 followed by nothing: refused before any reservation.
        let mut o = tiny_model([0.0; 4])[..2].to_vec();
        int(&mut o, -2);
        int(&mut o, -1);
        float(&mut o, 0.5);
        float(&mut o, 0.5);
        int(&mut o, 1 << 40);
        let err = ShapePredictor::from_dlib_bytes(&o).unwrap_err();
        assert!(matches!(err, DlibModelError::BeyondEnd { .. }), "{err}");
    }

    #[test]
    fn rounding_matches_dlib_point_conversion() {
        assert_eq!(dlib_round([-0.5, 2.5]), [0, 3]);
        // The largest double below 0.5 plus 0.5 rounds to 1.0: dlib gives 1 as well.
        assert_eq!(dlib_round([-1.5, 0.49999999999999994]), [-1, 1]);
        for v in [-3.5, -2.5000001, -0.5, 0.0, 0.4999, 0.5, 1.5, 1e9 + 0.5] {
            assert_eq!(round_half_up(v), (v + 0.5f64).floor() as i64, "{v}");
        }
    }

    #[test]
    fn bzip2_file_is_named_as_such() {
        let err = ShapePredictor::from_dlib_bytes(b"BZh91AY&SY...").unwrap_err();
        assert!(err.to_string().contains("bunzip2"), "{err}");
    }
}
