//! Face detection on the shared photos, and the detector→landmark box mapping refitted on them.

use std::path::{Path, PathBuf};

use facetrack::align::FaceBox;
use facetrack::align::detect::{BOX_MAP, BoxMap, FaceDetector, square_box_around};
use facetrack::capture::load_rgb;
use facetrack::image::GrayImage;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn gray(path: &Path) -> GrayImage {
    let rgb = load_rgb(path).unwrap_or_else(|e| panic!("{e}"));
    let mut g = GrayImage::default();
    g.set_from_rgb(rgb.width, rgb.height, &rgb.data);
    g
}

fn iou(a: &FaceBox, b: &FaceBox) -> f64 {
    let w = (a.right.min(b.right) - a.left.max(b.left)).max(0.0);
    let h = (a.bottom.min(b.bottom) - a.top.max(b.top)).max(0.0);
    let inter = w * h;
    let area = |r: &FaceBox| (r.right - r.left) * (r.bottom - r.top);
    inter / (area(a) + area(b) - inter)
}

/// Every eighth AFLW2000-3D image: (file, square box around its ground-truth 68 points).
fn aflw_subset() -> Vec<(PathBuf, FaceBox)> {
    let dir = data_dir().join("aflw2000-3d");
    let text = std::fs::read_to_string(dir.join("annotations.jsonl")).expect("annotations.jsonl");
    text.lines()
        .step_by(8)
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let pts = v["pt3d_68"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()]);
            (
                dir.join("images").join(v["image"].as_str().unwrap()),
                square_box_around(pts).unwrap(),
            )
        })
        .collect()
}

#[test]
fn box_mapping_matches_a_refit_on_aflw() {
    let mut det = FaceDetector::with_map(BoxMap::IDENTITY).unwrap();
    let subset = aflw_subset();
    let mut pairs = Vec::new();
    let mut found = 0;
    for (path, truth) in &subset {
        let Some(d) = det.detect_best(&gray(path)) else {
            continue;
        };
        found += 1;
        // A detection that misses the face says nothing about the mapping.
        if iou(&d.face_box, truth) > 0.3 {
            pairs.push((d.raw, [truth.left, truth.top, truth.right, truth.bottom]));
        }
    }
    let refit = BoxMap::fit(&pairs).expect("no detections");
    println!(
        "detected {found}/{} ({} on the face); refit dx {:.4} dy {:.4} scale {:.4}; committed {BOX_MAP:?}",
        subset.len(),
        pairs.len(),
        refit.dx,
        refit.dy,
        refit.scale
    );
    assert!(
        pairs.len() * 10 >= subset.len() * 7,
        "detector found too few faces"
    );
    assert!((refit.dx - BOX_MAP.dx).abs() < 0.01, "{refit:?}");
    assert!((refit.dy - BOX_MAP.dy).abs() < 0.01, "{refit:?}");
    assert!((refit.scale - BOX_MAP.scale).abs() < 0.01, "{refit:?}");

    // With the mapping, the detected box sits where the ground-truth box is.
    let mapped: Vec<f64> = pairs
        .iter()
        .map(|(d, t)| {
            let t = FaceBox::new(t[0], t[1], t[2], t[3]);
            iou(&BOX_MAP.apply(*d), &t)
        })
        .collect();
    let mean = mapped.iter().sum::<f64>() / mapped.len() as f64;
    println!("mean IoU of mapped boxes with the ground-truth box: {mean:.3}");
    assert!(mean > 0.7, "mean IoU {mean}");
}

#[test]
fn finds_the_face_in_each_shared_portrait() {
    let mut det = FaceDetector::new().unwrap();
    let refs = std::fs::read_to_string(data_dir().join("reference/dlib68.jsonl")).unwrap();
    for line in refs.lines().filter(|l| l.contains("\"faces/")) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let path = data_dir().join(v["image"].as_str().unwrap());
        let pts = v["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()]);
        let truth = square_box_around(pts).unwrap();
        let d = det
            .detect_best(&gray(&path))
            .unwrap_or_else(|| panic!("no face in {}", path.display()));
        assert!(
            iou(&d.face_box, &truth) > 0.5,
            "{}: {:?} vs {:?}",
            path.display(),
            d.face_box,
            truth
        );
    }
}
