//! Speed of dlib's ERT cascade (Kazemi & Sullivan 2014) as facetrack evaluates it, per face and per
//! stage, single-threaded, on the first 100 AFLW2000-3D faces of the dlib reference file with their
//! reference boxes; then dlib itself on the same faces (scripts/bench_dlib.py) for a side-by-side
//! figure. Images are decoded and converted before anything is timed.
//!
//!     cargo bench --bench ert

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use criterion::Criterion;
use facetrack::align::{FaceBox, ShapePredictor};
use facetrack::capture::load_rgb;
use facetrack::image::GrayImage;
use facetrack::locate::{DLIB_HINT, DLIB_SHAPE_PREDICTOR, DLIB_SYSTEM_DIR, find_model};

const FACES: usize = 100;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

struct Setup {
    model: ShapePredictor,
    faces: Vec<(GrayImage, FaceBox)>,
}

fn setup() -> Setup {
    let path = find_model(None, DLIB_SHAPE_PREDICTOR, &[DLIB_SYSTEM_DIR], DLIB_HINT)
        .unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&path).expect("model file reads");
    let t = Instant::now();
    let model = ShapePredictor::from_dlib_bytes(&bytes).expect("model parses");
    println!(
        "model {}: {:.1} MB parsed in {:.0} ms",
        path.display(),
        bytes.len() as f64 / 1e6,
        t.elapsed().as_secs_f64() * 1e3
    );

    let reference =
        std::fs::read_to_string(data_dir().join("reference/dlib68.jsonl")).expect("reference file");
    let faces = reference
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .filter(|v| {
            v["image"]
                .as_str()
                .is_some_and(|s| s.starts_with("aflw2000-3d/"))
        })
        .take(FACES)
        .map(|v| {
            let rect: [i64; 4] = serde_json::from_value(v["rect"].clone()).expect("rect");
            let rgb = load_rgb(&data_dir().join(v["image"].as_str().expect("image")))
                .expect("image decodes");
            let mut g = GrayImage::default();
            g.set_from_rgb(rgb.width, rgb.height, &rgb.data);
            (g, FaceBox::from_dlib(rect))
        })
        .collect();
    if let Ok(t) = std::fs::read_to_string("/proc/self/smaps_rollup") {
        for l in t.lines().filter(|l| l.contains("Huge")) {
            println!("{l}");
        }
    }
    Setup { model, faces }
}

fn bench(c: &mut Criterion, s: &Setup) {
    let model = &s.model;
    let mut scratch = model.scratch();
    let mut out = vec![[0.0; 2]; model.num_landmarks()];
    let mut i = 0;
    c.bench_function("ert_cascade_per_face", |b| {
        b.iter(|| {
            let (img, rect) = &s.faces[i % s.faces.len()];
            i += 1;
            model
                .predict(img, rect, &mut out, &mut scratch)
                .expect("predict");
            black_box(&out);
        })
    });

    // Each face's own initial shape, so the stage sees a realistic shape and box.
    let initial: Vec<Vec<[f64; 2]>> = s
        .faces
        .iter()
        .map(|(_, rect)| {
            let mut p = vec![[0.0; 2]; model.num_landmarks()];
            model.initial_shape_in(rect, &mut p).expect("initial shape");
            p
        })
        .collect();
    let mut delta = vec![[0.0; 2]; model.num_landmarks()];
    let mut i = 0;
    c.bench_function("ert_one_stage (all 15 in turn)", |b| {
        b.iter(|| {
            let f = i % s.faces.len();
            let k = (i / s.faces.len()) % model.num_stages();
            i += 1;
            let (img, rect) = &s.faces[f];
            model
                .stage(k, img, rect, &initial[f], &mut delta, &mut scratch)
                .expect("stage");
            black_box(&delta);
        })
    });
}

/// ms/face over all faces, the median of several repeats of several passes: the protocol of
/// scripts/bench_dlib.py, so the two figures compare like with like.
fn ms_per_face(s: &Setup) -> f64 {
    let model = &s.model;
    let mut scratch = model.scratch();
    let mut out = vec![[0.0; 2]; model.num_landmarks()];
    let (repeats, loops) = (7, 5);
    let mut run = || {
        for (img, rect) in &s.faces {
            model
                .predict(img, rect, &mut out, &mut scratch)
                .expect("predict");
            black_box(&out);
        }
    };
    run();
    let mut per_face: Vec<f64> = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..loops {
                run();
            }
            t.elapsed().as_secs_f64() * 1e3 / (loops * s.faces.len()) as f64
        })
        .collect();
    per_face.sort_by(f64::total_cmp);
    per_face[repeats / 2]
}

fn dlib_ms_per_face() -> Result<(f64, String), String> {
    let probe = Command::new("python3").args(["-c", "import dlib"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return Err("python3 with dlib not available (pip install dlib), dlib not timed".into());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_dlib.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg("--data")
        .arg(data_dir())
        .arg("--faces")
        .arg(FACES.to_string())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let v: serde_json::Value =
        serde_json::from_str(&line).map_err(|e| format!("bad output {line:?}: {e}"))?;
    let ms = v["ms_per_face"]
        .as_f64()
        .ok_or_else(|| format!("no ms_per_face in {line}"))?;
    Ok((ms, line))
}

fn main() {
    let s = setup();
    let mut c = Criterion::default()
        .sample_size(40)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(4))
        .configure_from_args();
    bench(&mut c, &s);
    c.final_summary();

    let ours = ms_per_face(&s);
    match dlib_ms_per_face() {
        Ok((dlib, detail)) => {
            println!("dlib: {detail}");
            println!(
                "facetrack {ours:.3} ms/face, dlib {dlib:.3} ms/face, ratio {:.2}× ({} faces, single thread)",
                dlib / ours,
                s.faces.len()
            );
        }
        Err(note) => println!("facetrack {ours:.3} ms/face; {note}"),
    }
}
