//! dlib's 68-point shape predictor read and evaluated by facetrack, checked against dlib's own
//! output (`../shared/data/reference/dlib68.jsonl`, dlib 20.0.1 on Pillow-decoded images), and
//! the reader's handling of damaged model files.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use facetrack::align::{DlibModelError, ErtScratch, FaceBox, Point2, ShapePredictor, dlib_round};
use facetrack::capture::load_rgb;
use facetrack::image::GrayImage;
use facetrack::locate::{DLIB_HINT, DLIB_SHAPE_PREDICTOR, DLIB_SYSTEM_DIR, find_model};

/// Counts the allocations made by threads that ask for it, to show that evaluation makes none.
struct CountingAlloc;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn model_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let path = find_model(None, DLIB_SHAPE_PREDICTOR, &[DLIB_SYSTEM_DIR], DLIB_HINT)
            .unwrap_or_else(|e| panic!("{e} (on Debian/Ubuntu: `apt-get install libdlib-data`)"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    })
}

fn model() -> &'static ShapePredictor {
    static MODEL: OnceLock<ShapePredictor> = OnceLock::new();
    MODEL.get_or_init(|| {
        let t = std::time::Instant::now();
        let m =
            ShapePredictor::from_dlib_bytes(model_bytes()).expect("dlib's 68-point model loads");
        eprintln!("model parsed in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
        m
    })
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

struct Row {
    image: PathBuf,
    rect: FaceBox,
    points: Vec<[i64; 2]>,
}

fn reference_rows() -> Vec<Row> {
    let path = data_dir().join("reference/dlib68.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("reference line is JSON");
            let rect: [i64; 4] = serde_json::from_value(v["rect"].clone()).expect("rect");
            let points: Vec<[i64; 2]> =
                serde_json::from_value(v["points"].clone()).expect("points");
            Row {
                image: data_dir().join(v["image"].as_str().expect("image")),
                rect: FaceBox::from_dlib(rect),
                points,
            }
        })
        .collect()
}

fn gray(path: &Path) -> GrayImage {
    let rgb = load_rgb(path).expect("reference image decodes");
    let mut g = GrayImage::default();
    g.set_from_rgb(rgb.width, rgb.height, &rgb.data);
    g
}

#[test]
fn reproduces_dlib_on_the_reference_set() {
    let model = model();
    assert_eq!((model.num_stages(), model.num_landmarks()), (15, 68));
    let rows = reference_rows();
    assert!(rows.len() >= 1600, "{} reference rows", rows.len());

    let mut scratch = model.scratch();
    let mut out = [[0.0; 2]; 68];
    let (mut same, mut total, mut max_err, mut faces_exact) = (0usize, 0usize, 0f64, 0usize);
    let mut worst = String::new();
    for row in &rows {
        let img = gray(&row.image);
        model
            .predict(&img, &row.rect, &mut out, &mut scratch)
            .unwrap();
        let mut exact = true;
        for (j, (p, r)) in out.iter().zip(&row.points).enumerate() {
            let q = dlib_round(*p);
            total += 1;
            if q == *r {
                same += 1;
            } else {
                exact = false;
            }
            let err = ((q[0] - r[0]) as f64).hypot((q[1] - r[1]) as f64);
            if err > max_err {
                max_err = err;
                worst = format!("{} point {j}: ours {q:?} dlib {r:?}", row.image.display());
            }
        }
        faces_exact += usize::from(exact);
    }
    let pct = 100.0 * same as f64 / total as f64;
    eprintln!(
        "dlib reference: {same}/{total} points identical ({pct:.3} %), {faces_exact}/{} faces exact, max error {max_err:.2} px {worst}",
        rows.len()
    );
    assert!(pct >= 99.0, "only {pct:.3} % of points identical");
    assert!(max_err <= 1.5, "max error {max_err:.2} px ({worst})");
}

#[test]
fn chained_stages_reproduce_predict() {
    let model = model();
    let rows = reference_rows();
    let mut scratch = model.scratch();
    let mut full = [[0.0; 2]; 68];
    let mut current = [[0.0; 2]; 68];
    let mut delta = [[0.0; 2]; 68];
    let mut max_diff = 0f64;
    // Every 40th row: the three `faces/` photos and AFLW images across the set.
    for row in rows.iter().step_by(40) {
        let img = gray(&row.image);
        model
            .predict(&img, &row.rect, &mut full, &mut scratch)
            .unwrap();
        model.initial_shape_in(&row.rect, &mut current).unwrap();
        for k in 0..model.num_stages() {
            model
                .stage(k, &img, &row.rect, &current, &mut delta, &mut scratch)
                .unwrap();
            for (c, d) in current.iter_mut().zip(&delta) {
                c[0] += d[0];
                c[1] += d[1];
            }
        }
        max_diff = max_diff.max(max_abs_diff(&full, &current));
    }
    eprintln!("stage chain vs predict: max difference {max_diff:e} px");
    assert!(
        max_diff < 1e-3,
        "stage chain differs from predict by {max_diff} px"
    );
}

fn max_abs_diff(a: &[Point2], b: &[Point2]) -> f64 {
    a.iter()
        .zip(b)
        .flat_map(|(p, q)| [(p[0] - q[0]).abs(), (p[1] - q[1]).abs()])
        .fold(0.0, f64::max)
}

#[test]
fn evaluation_allocates_nothing() {
    let model = model();
    let row = &reference_rows()[5];
    let img = gray(&row.image);
    let mut scratch = model.scratch();
    let mut out = [[0.0; 2]; 68];
    let mut delta = [[0.0; 2]; 68];
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    for _ in 0..3 {
        model
            .predict(&img, &row.rect, &mut out, &mut scratch)
            .unwrap();
        model.initial_shape_in(&row.rect, &mut out).unwrap();
        for k in 0..model.num_stages() {
            model
                .stage(k, &img, &row.rect, &out, &mut delta, &mut scratch)
                .unwrap();
        }
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "allocations during evaluation"
    );
}

#[test]
fn stage_misuse_is_an_error() {
    let model = model();
    let img = GrayImage::from_raw(8, 8, vec![0; 64]).unwrap();
    let rect = FaceBox::new(0.0, 0.0, 7.0, 7.0);
    let mut scratch = ErtScratch::default();
    let cur = [[0.0; 2]; 68];
    let mut delta = [[0.0; 2]; 68];
    assert!(
        model
            .stage(15, &img, &rect, &cur, &mut delta, &mut scratch)
            .is_err()
    );
    assert!(
        model
            .stage(0, &img, &rect, &cur[..5], &mut delta, &mut scratch)
            .is_err()
    );
    let flat = FaceBox::new(3.0, 0.0, 3.0, 7.0);
    assert!(
        model
            .stage(0, &img, &flat, &cur, &mut delta, &mut scratch)
            .is_err()
    );
    let mut short = [[0.0; 2]; 5];
    assert!(
        model
            .predict(&img, &rect, &mut short, &mut scratch)
            .is_err()
    );
    // A face box far outside the image reads only zeros and still answers.
    let away = FaceBox::new(1e6, 1e6, 1e6 + 90.0, 1e6 + 90.0);
    let mut out = [[0.0; 2]; 68];
    model.predict(&img, &away, &mut out, &mut scratch).unwrap();
    assert!(out.iter().flatten().all(|v| v.is_finite()));
}

#[test]
fn truncated_model_is_an_error() {
    let bytes = model_bytes();
    let dir = tempfile::tempdir().unwrap();
    for cut in [0, 1, 5, 1000, bytes.len() / 2, bytes.len() - 1] {
        let path = dir.path().join("truncated.dat");
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = ShapePredictor::from_dlib_bytes(&std::fs::read(&path).unwrap()).unwrap_err();
        eprintln!("cut at {cut}: {err}");
        assert!(
            matches!(
                err,
                DlibModelError::Truncated { .. } | DlibModelError::BeyondEnd { .. }
            ),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn damaged_model_is_an_error() {
    let bytes = model_bytes();
    let dir = tempfile::tempdir().unwrap();
    // Bytes 0–1 are the version, byte 3 the mean shape's row count (136 → 137, odd), byte 827 the
    // header of stage 0 tree 0's split count, the second last byte the header of the last
    // exponent. The model carries no checksum, so a flip inside a number's magnitude would go
    // unnoticed here, as it would by dlib; these flips break the structure.
    for (at, mask) in [
        (0usize, 0xFF),
        (1, 0x04),
        (3, 0x01),
        (827, 0x70),
        (bytes.len() - 2, 0x0E),
    ] {
        let mut copy = bytes.to_vec();
        copy[at] ^= mask;
        let path = dir.path().join("flipped.dat");
        std::fs::write(&path, &copy).unwrap();
        let err = ShapePredictor::from_dlib_bytes(&std::fs::read(&path).unwrap()).unwrap_err();
        eprintln!("byte {at} ^ {mask:#x}: {err}");
        assert!(!err.to_string().is_empty());
    }
    // Extra bytes after the model.
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(ShapePredictor::from_dlib_bytes(&longer).is_err());
}
