//! The demo sequence (issue 5) built from the embedded portrait with the committed models:
//! determinism, the ground truth's range and behaviour, the still segment, the loop, and the
//! fitted pose giving the photo's face back. Prints the render rate.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use facetrack::align::ShapePredictor;
use facetrack::align::detect::FaceDetector;
use facetrack::capture::demo::{
    DEMO_HEIGHT, DEMO_WIDTH, DemoSequence, LOOP_FRAMES, STILL_FRAMES, astronaut_photo, fit_photo,
};
use facetrack::capture::{DemoError, RgbImage};
use facetrack::fit::{Cascade, ParamUpdate, RegressorCascade};
use facetrack::model::MorphableModel;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn sequence() -> DemoSequence {
    static S: OnceLock<DemoSequence> = OnceLock::new();
    S.get_or_init(|| {
        let models = root().join("models");
        let model =
            MorphableModel::from_bytes(&std::fs::read(models.join("face_model.bin")).unwrap())
                .unwrap();
        let bytes = std::fs::read("/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
            .expect("dlib's shape predictor: apt-get install libdlib-data");
        let predictor = ShapePredictor::from_dlib_bytes(&bytes).unwrap();
        let load = |name: &str| {
            ParamUpdate::Regression(
                RegressorCascade::from_bytes(&std::fs::read(models.join(name)).unwrap()).unwrap(),
            )
        };
        let (cold, track) = (load("parm.bin"), load("parm_track.bin"));
        let photo = astronaut_photo().unwrap();
        let fitted = fit_photo(
            &photo,
            &mut FaceDetector::new().unwrap(),
            &Cascade::new(&model, &predictor, &cold),
            Some(&Cascade::new(&model, &predictor, &track)),
        )
        .unwrap();
        DemoSequence::new(model, photo, &fitted).unwrap()
    })
    .clone()
}

#[test]
fn the_same_index_gives_the_same_frame() {
    let (mut a, mut b) = (sequence(), sequence());
    let (mut fa, mut fb) = (RgbImage::default(), RgbImage::default());
    let (mut ta, mut tb) = (a.truth_buffer(), b.truth_buffer());
    for index in [0, 200, 437, 199, 200] {
        a.frame(index, &mut fa, &mut ta);
        // b renders other frames in between: nothing may leak from one frame into the next.
        b.frame(index + 123, &mut fb, &mut tb);
        b.frame(index, &mut fb, &mut tb);
        assert_eq!(fa, fb, "frame {index}");
        assert_eq!(ta, tb, "truth {index}");
        assert_eq!((fa.width, fa.height), (DEMO_WIDTH, DEMO_HEIGHT));
    }
}

#[test]
fn the_still_segment_is_still_and_the_sequence_loops() {
    let mut s = sequence();
    let (mut f, mut g) = (RgbImage::default(), RgbImage::default());
    let (mut t, mut u) = (s.truth_buffer(), s.truth_buffer());
    s.frame(40, &mut f, &mut t);
    s.frame(41, &mut g, &mut u);
    assert_eq!(f, g);
    assert_eq!(t.params, u.params);
    assert!(u.timestamp > t.timestamp);
    s.frame(41 + LOOP_FRAMES, &mut g, &mut u);
    assert_eq!(f, g);
    assert_eq!(t.params, u.params);
    // Motion starts after the still segment.
    s.frame(STILL_FRAMES + 15, &mut g, &mut u);
    assert_ne!(t.params, u.params);
}

#[test]
fn the_truth_covers_the_scripted_range_and_stays_in_the_frame() {
    let s = sequence();
    let mut t = s.truth_buffer();
    let deg = 180.0 / std::f64::consts::PI;
    let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    let (mut exp_lo, mut exp_hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    for index in 0..LOOP_FRAMES {
        s.params_at(index, &mut t.params);
        let p = &t.params;
        for (k, a) in [p.pitch(), p.yaw(), p.roll()].into_iter().enumerate() {
            lo[k] = lo[k].min(a * deg);
            hi[k] = hi[k].max(a * deg);
        }
        for k in 0..3 {
            exp_lo[k] = exp_lo[k].min(p.exp()[k]);
            exp_hi[k] = exp_hi[k].max(p.exp()[k]);
        }
        s.model().project_landmarks(p, &mut t.landmarks);
        for c in t.landmarks.chunks_exact(2) {
            assert!(
                (0.0..DEMO_WIDTH as f64).contains(&c[0])
                    && (0.0..DEMO_HEIGHT as f64).contains(&c[1]),
                "frame {index}: landmark at {c:?}"
            );
        }
    }
    eprintln!("angles {lo:?}..{hi:?} (pitch, yaw, roll, degrees); exp {exp_lo:?}..{exp_hi:?}");
    for (k, amplitude) in [(0, 20.0), (1, 45.0), (2, 15.0)] {
        assert!(
            lo[k] < -0.95 * amplitude && hi[k] > 0.95 * amplitude,
            "angle {k}: {}..{}",
            lo[k],
            hi[k]
        );
    }
    // The first three expression modes swing by 1–2 σ either side (from wherever the fit left
    // them), and stay within a plausible range.
    for k in 0..3 {
        assert!(
            exp_hi[k] - exp_lo[k] > 2.0,
            "exp {k}: {}..{}",
            exp_lo[k],
            exp_hi[k]
        );
        assert!(
            exp_lo[k] > -3.5 && exp_hi[k] < 3.5,
            "exp {k}: {}..{}",
            exp_lo[k],
            exp_hi[k]
        );
    }
}

#[test]
fn the_landmarks_follow_the_yaw() {
    let s = sequence();
    let mut t = s.truth_buffer();
    // The nose tip (landmark 30) against the middle of the jaw's ends (0 and 16), at the frames
    // of the most positive and most negative yaw.
    let (mut at_min, mut at_max) = ((f64::INFINITY, 0.0), (f64::NEG_INFINITY, 0.0));
    for index in 0..LOOP_FRAMES {
        s.params_at(index, &mut t.params);
        s.model().project_landmarks(&t.params, &mut t.landmarks);
        let x = &t.landmarks;
        let nose = x[60] - (x[0] + x[32]) / 2.0;
        let yaw = t.params.yaw();
        if yaw < at_min.0 {
            at_min = (yaw, nose);
        }
        if yaw > at_max.0 {
            at_max = (yaw, nose);
        }
    }
    eprintln!(
        "nose offset {:.1} px at the lowest yaw, {:.1} px at the highest",
        at_min.1, at_max.1
    );
    assert!(at_min.1 * at_max.1 < 0.0, "{at_min:?} {at_max:?}");
    assert!((at_max.1 - at_min.1).abs() > 40.0, "{at_min:?} {at_max:?}");
}

#[test]
fn the_fitted_pose_gives_the_photo_back() {
    let mut s = sequence();
    let mut f = RgbImage::default();
    let mut t = s.truth_buffer();
    s.frame(0, &mut f, &mut t);
    assert_eq!(&t.params, s.base_params());
    let (c, o) = s.photo_to_frame();
    let photo = s.photo();
    // The inner face: the bounding box of landmarks 17..68 (brows to chin), inside the jaw.
    let x = &t.landmarks;
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in x.chunks_exact(2).skip(17) {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let (mut diff_photo, mut diff_background, mut n) = (0.0, 0.0, 0usize);
    let bg = s.background();
    for y in lo[1].ceil() as usize..=hi[1].floor() as usize {
        for xx in lo[0].ceil() as usize..=hi[0].floor() as usize {
            let (px, py) = ((xx as f64 - o[0]) / c, (y as f64 - o[1]) / c);
            let i = 3 * (y * DEMO_WIDTH + xx);
            let want = bilinear(photo, px, py);
            for (k, want) in want.iter().enumerate() {
                diff_photo += (f.data[i + k] as f64 - want).abs();
                diff_background += (f.data[i + k] as f64 - bg.data[i + k] as f64).abs();
            }
            n += 3;
        }
    }
    let (diff_photo, diff_background) = (diff_photo / n as f64, diff_background / n as f64);
    eprintln!(
        "inner face ({n} values): mean |frame − photo| {diff_photo:.2}, |frame − filled background| {diff_background:.2}"
    );
    // Rounding and the affine interpolation of texture coordinates only.
    assert!(diff_photo < 1.0, "{diff_photo}");
    // The face really is drawn: the background there has been filled in.
    assert!(diff_background > 10.0, "{diff_background}");
}

/// The photo at a point between pixel centres, interpolated linearly in x and y.
fn bilinear(img: &RgbImage, x: f64, y: f64) -> [f64; 3] {
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let px = |xx: usize, yy: usize, k: usize| img.data[3 * (yy * img.width + xx) + k] as f64;
    std::array::from_fn(|k| {
        (1.0 - fy) * ((1.0 - fx) * px(x0, y0, k) + fx * px(x0 + 1, y0, k))
            + fy * ((1.0 - fx) * px(x0, y0 + 1, k) + fx * px(x0 + 1, y0 + 1, k))
    })
}

#[test]
fn render_rate() {
    let mut s = sequence();
    let mut f = RgbImage::default();
    let mut t = s.truth_buffer();
    s.frame(0, &mut f, &mut t);
    let n = 300;
    let t0 = Instant::now();
    for index in STILL_FRAMES..STILL_FRAMES + n {
        s.frame(index, &mut f, &mut t);
    }
    let secs = t0.elapsed().as_secs_f64();
    // A print, not an assertion: timings on a shared machine are not a test.
    eprintln!(
        "demo render: {:.3} ms a frame, {:.0} fps (one thread, {n} frames of motion)",
        secs * 1e3 / n as f64,
        n as f64 / secs
    );
}

#[test]
fn a_face_outside_the_photo_or_too_many_coefficients_is_an_error() {
    let s = sequence();
    let photo = s.photo().clone();
    let mut p = s.base_params().clone();
    p.set_tx(-1e4);
    assert!(matches!(
        DemoSequence::new(s.model().clone(), photo.clone(), &p),
        Err(DemoError::FaceOutside)
    ));
    p.set_tx(f64::NAN);
    assert!(matches!(
        DemoSequence::new(s.model().clone(), photo.clone(), &p),
        Err(DemoError::FaceOutside)
    ));
    let too_many = s
        .base_params()
        .with_dims(s.model().n_id() + 1, s.model().n_exp());
    assert!(matches!(
        DemoSequence::new(s.model().clone(), photo, &too_many),
        Err(DemoError::Dimensions { .. })
    ));
}
