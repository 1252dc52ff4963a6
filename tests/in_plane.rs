//! Fitting in an upright view: parameters carried into a turned, scaled view project where the
//! view puts the original landmarks, and faces turned by 45° fit as well in the upright view as
//! unturned ones do — and better than in the turned image itself.

use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};
use std::path::Path;
use std::sync::OnceLock;

use facetrack::align::ShapePredictor;
use facetrack::align::detect::{points, square_box_around};
use facetrack::eval::faces::{Split, load_faces};
use facetrack::fit::training_set::FaceSample;
use facetrack::fit::warm_start::fit_from_previous;
use facetrack::fit::{
    Cascade, ParamUpdate, PlaneTransform, RegressorCascade, TurnedBox, UprightFit, UprightView,
    in_plane_angle,
};
use facetrack::image::GrayImage;
use facetrack::model::{MorphableModel, Params};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn model() -> &'static MorphableModel {
    static M: OnceLock<MorphableModel> = OnceLock::new();
    M.get_or_init(|| {
        MorphableModel::from_bytes(&std::fs::read(root().join("models/face_model.bin")).unwrap())
            .unwrap()
    })
}

fn predictor() -> &'static ShapePredictor {
    static P: OnceLock<ShapePredictor> = OnceLock::new();
    P.get_or_init(|| {
        let bytes = std::fs::read("/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
            .expect("dlib's shape predictor: apt-get install libdlib-data");
        ShapePredictor::from_dlib_bytes(&bytes).unwrap()
    })
}

fn update(name: &str) -> ParamUpdate {
    ParamUpdate::Regression(
        RegressorCascade::from_bytes(&std::fs::read(root().join("models").join(name)).unwrap())
            .unwrap(),
    )
}

fn random_params(rng: &mut StdRng, near_gimbal: bool) -> Params {
    let mut p = Params::for_model(model());
    p.set_s(rng.random_range(5e-4..5e-3));
    p.set_pitch(rng.random_range(-PI..PI));
    let yaw = if near_gimbal {
        (FRAC_PI_2 - 10f64.powf(rng.random_range(-9.0..-3.0)))
            * if rng.random() { 1.0 } else { -1.0 }
    } else {
        rng.random_range(-FRAC_PI_2..FRAC_PI_2)
    };
    p.set_yaw(yaw);
    p.set_roll(rng.random_range(-PI..PI));
    p.set_tx(rng.random_range(-200.0..900.0));
    p.set_ty(rng.random_range(-200.0..900.0));
    for a in &mut p.as_mut_slice()[Params::N_POSE..] {
        *a = rng.random_range(-2.0..2.0);
    }
    p
}

#[test]
fn carried_params_project_where_the_view_puts_the_landmarks() {
    let mut rng = StdRng::seed_from_u64(5);
    let n = model().n_landmarks();
    let (mut x, mut xv, mut back) = (vec![0.0; 2 * n], vec![0.0; 2 * n], vec![0.0; 2 * n]);
    let (mut q, mut r) = (Params::zeros(0, 0), Params::zeros(0, 0));
    let mut worst: f64 = 0.0;
    for i in 0..2000 {
        let p = random_params(&mut rng, i % 5 == 0);
        let t = PlaneTransform::new(
            [rng.random_range(0.0..800.0), rng.random_range(0.0..600.0)],
            rng.random_range(-PI..PI),
            rng.random_range(0.5..2.0),
            [rng.random_range(0.0..400.0), rng.random_range(0.0..400.0)],
        );
        model().project_landmarks(&p, &mut x);
        t.params_to_view(&p, &mut q);
        model().project_landmarks(&q, &mut xv);
        t.params_from_view(&q, &mut r);
        model().project_landmarks(&r, &mut back);
        for j in 0..n {
            let want = t.to_view([x[2 * j], x[2 * j + 1]]);
            let e = (want[0] - xv[2 * j]).hypot(want[1] - xv[2 * j + 1]);
            let e_back = (x[2 * j] - back[2 * j]).hypot(x[2 * j + 1] - back[2 * j + 1]);
            worst = worst.max(e).max(e_back);
        }
        assert_eq!(
            q.as_slice()[Params::N_POSE..],
            p.as_slice()[Params::N_POSE..]
        );
    }
    println!("largest landmark difference: {worst:.2e} px");
    assert!(worst < 1e-6, "{worst}");
}

#[test]
fn the_in_plane_angle_is_what_the_view_undoes() {
    let mut rng = StdRng::seed_from_u64(9);
    let mut q = Params::zeros(0, 0);
    for _ in 0..1000 {
        let mut p = random_params(&mut rng, false);
        // Poses a face takes: the up axis must not point at the camera.
        p.set_pitch(rng.random_range(-1.2..1.2));
        p.set_yaw(rng.random_range(-1.4..1.4));
        let angle = in_plane_angle(&p);
        PlaneTransform::new([10.0, 20.0], angle, 1.0, [0.0; 2]).params_to_view(&p, &mut q);
        assert!(in_plane_angle(&q).abs() < 1e-12);
        p.set_roll(0.0);
        assert!(in_plane_angle(&p).abs() < 1e-12);
    }
}

fn validation() -> &'static [FaceSample] {
    static V: OnceLock<Vec<FaceSample>> = OnceLock::new();
    V.get_or_init(|| {
        load_faces(
            &root().join("../shared/data/aflw2000-3d"),
            model(),
            Split::Validation,
            || {},
        )
        .unwrap()
    })
}

/// Mean landmark distance to `truth` over the face's (unturned) normaliser.
fn nme(x: &[f64], truth: &[[f64; 2]], norm: f64) -> f64 {
    points(x)
        .zip(truth)
        .map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1]))
        .sum::<f64>()
        / truth.len() as f64
        / norm
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// 45° is far past the ±30° or so of roll the landmark cascade was trained on; fitted upright,
/// a turned face does as well as the unturned one.
#[test]
fn faces_turned_45_degrees_fit_upright_as_unturned_ones() {
    let faces = &validation()[..120];
    let m = model();
    let (cold_u, warm_u) = (update("parm.bin"), update("parm_track.bin"));
    let cold = Cascade::new(m, predictor(), &cold_u);
    let warm = Cascade::new(m, predictor(), &warm_u);
    let (mut cs, mut ws) = (cold.scratch(), warm.scratch());
    let mut upright = UprightFit::new(m);
    let mut turned = UprightView::default();
    let mut image = GrayImage::default();
    let mut x = vec![0.0; 2 * m.n_landmarks()];
    // Columns: unturned image, turned image, turned image fitted upright.
    let (mut cold_nme, mut warm_nme) = ([vec![], vec![], vec![]], [vec![], vec![], vec![]]);
    for f in faces {
        // The whole image turned so that the head rolls by a further 45°.
        let (t, w, h) =
            PlaneTransform::whole_image(f.image.width(), f.image.height(), -FRAC_PI_4, 1.0);
        turned.set(&f.image, t, w, h);
        image.clone_from(turned.image());
        let truth_t: Vec<[f64; 2]> = f.points.iter().map(|&p| t.to_view(p)).collect();
        let start = f.truth.with_dims(warm.update.n_id(), warm.update.n_exp());
        let mut start_t = Params::zeros(0, 0);
        t.params_to_view(&start, &mut start_t);

        // Cold: the detector's box convention, the square box around the truth.
        let mut p = cold.cold_start(&f.face_box);
        cold.fit(
            &f.image,
            &f.face_box,
            &mut p,
            usize::MAX,
            &mut cs,
            |_, _, _| {},
        )
        .unwrap();
        m.project_landmarks(&p, &mut x);
        cold_nme[0].push(nme(&x, &f.points, f.norm));
        let box_t = square_box_around(truth_t.iter().copied()).unwrap();
        let mut p = cold.cold_start(&box_t);
        cold.fit(&image, &box_t, &mut p, usize::MAX, &mut cs, |_, _, _| {})
            .unwrap();
        m.project_landmarks(&p, &mut x);
        cold_nme[1].push(nme(&x, &truth_t, f.norm));
        let b = &f.face_box;
        let centre = t.to_view([(b.left + b.right) / 2.0, (b.top + b.bottom) / 2.0]);
        let p = upright
            .fit_cold(
                &cold,
                &mut cs,
                &image,
                &TurnedBox {
                    centre,
                    side: b.right - b.left,
                    angle: FRAC_PI_4,
                },
                usize::MAX,
            )
            .unwrap();
        m.project_landmarks(&p, &mut x);
        cold_nme[2].push(nme(&x, &truth_t, f.norm));

        // Warm: from the ground truth, as a tracker starts from the previous frame.
        let mut p = start.clone();
        fit_from_previous(&warm, &f.image, &mut p, usize::MAX, &mut ws, &mut x).unwrap();
        m.project_landmarks(&p, &mut x);
        warm_nme[0].push(nme(&x, &f.points, f.norm));
        let mut p = start_t.clone();
        fit_from_previous(&warm, &image, &mut p, usize::MAX, &mut ws, &mut x).unwrap();
        m.project_landmarks(&p, &mut x);
        warm_nme[1].push(nme(&x, &truth_t, f.norm));
        let mut p = start_t.clone();
        let angle = in_plane_angle(&p);
        upright
            .fit(&warm, &mut ws, &image, &mut p, angle, usize::MAX)
            .unwrap();
        m.project_landmarks(&p, &mut x);
        warm_nme[2].push(nme(&x, &truth_t, f.norm));
        assert!((p.roll() - start_t.roll()).abs() < 1.0, "roll unwrapped");
    }
    let c = cold_nme.each_ref().map(|v| 100.0 * mean(v));
    let w = warm_nme.each_ref().map(|v| 100.0 * mean(v));
    println!(
        "{} validation faces, mean NME %: unturned / turned 45° / turned, fitted upright\n  \
         cold (parm.bin, truth box):    {:.2} / {:.2} / {:.2}\n  \
         warm (parm_track.bin, truth):  {:.2} / {:.2} / {:.2}",
        faces.len(),
        c[0],
        c[1],
        c[2],
        w[0],
        w[1],
        w[2]
    );
    assert!(c[2] < c[0] + 0.3 && c[2] < c[1], "cold {c:?}");
    assert!(w[2] < w[0] + 0.3 && w[2] < w[1], "warm {w:?}");
}

/// Mean NME (%) of fits in the turned image and in the upright view, by how far the image is
/// turned, and the time of a warm fit each way: when a tracker should fit upright.
#[test]
#[ignore = "a measurement: cargo test --release --test in_plane -- --ignored --nocapture"]
fn nme_by_in_plane_angle() {
    use facetrack::fit::training::{WARM_PERTURBATION, perturb};
    use std::time::Instant;

    let faces = &validation()[..120];
    let m = model();
    let (cold_u, warm_u) = (update("parm.bin"), update("parm_track.bin"));
    let cold = Cascade::new(m, predictor(), &cold_u);
    let warm = Cascade::new(m, predictor(), &warm_u);
    let (mut cs, mut ws) = (cold.scratch(), warm.scratch());
    let mut upright = UprightFit::new(m);
    let mut turned = UprightView::default();
    let mut image = GrayImage::default();
    let mut x = vec![0.0; 2 * m.n_landmarks()];
    let mut start_t = Params::zeros(0, 0);
    println!(
        "{} validation faces; warm: parm_track.bin from the truth moved by a typical frame's \
         motion; cold: parm.bin from the square box around the truth",
        faces.len()
    );
    println!(
        "| turned by | warm, in the image | warm, upright | cold, in the image | cold, upright | warm ms, image / upright |"
    );
    println!("|---|---|---|---|---|---|");
    for deg in [0.0f64, 15.0, 22.5, 30.0, 45.0, 60.0, 90.0, 180.0] {
        let a = deg.to_radians();
        let mut rng = StdRng::seed_from_u64(3);
        let mut sums = [0.0; 4];
        let mut ms = [0.0; 2];
        for f in faces {
            let (t, w, h) = PlaneTransform::whole_image(f.image.width(), f.image.height(), -a, 1.0);
            turned.set(&f.image, t, w, h);
            image.clone_from(turned.image());
            let truth_t: Vec<[f64; 2]> = f.points.iter().map(|&p| t.to_view(p)).collect();
            let start = perturb(
                &f.truth,
                WARM_PERTURBATION,
                f.norm,
                warm.update.n_id(),
                warm.update.n_exp(),
                &mut rng,
            );
            t.params_to_view(&start, &mut start_t);

            let mut p = start_t.clone();
            let clock = Instant::now();
            let ok = fit_from_previous(&warm, &image, &mut p, usize::MAX, &mut ws, &mut x).is_ok();
            ms[0] += clock.elapsed().as_secs_f64() * 1e3;
            m.project_landmarks(&p, &mut x);
            sums[0] += if ok { nme(&x, &truth_t, f.norm) } else { 1.0 };
            let mut p = start_t.clone();
            let clock = Instant::now();
            let angle = in_plane_angle(&p);
            let ok = upright
                .fit(&warm, &mut ws, &image, &mut p, angle, usize::MAX)
                .is_ok();
            ms[1] += clock.elapsed().as_secs_f64() * 1e3;
            m.project_landmarks(&p, &mut x);
            sums[1] += if ok { nme(&x, &truth_t, f.norm) } else { 1.0 };

            let box_t = square_box_around(truth_t.iter().copied()).unwrap();
            let mut p = cold.cold_start(&box_t);
            let ok = cold
                .fit(&image, &box_t, &mut p, usize::MAX, &mut cs, |_, _, _| {})
                .is_ok();
            m.project_landmarks(&p, &mut x);
            sums[2] += if ok { nme(&x, &truth_t, f.norm) } else { 1.0 };
            let b = &f.face_box;
            let centre = t.to_view([(b.left + b.right) / 2.0, (b.top + b.bottom) / 2.0]);
            let face = TurnedBox {
                centre,
                side: b.right - b.left,
                angle: a,
            };
            let fitted = upright.fit_cold(&cold, &mut cs, &image, &face, usize::MAX);
            sums[3] += match fitted {
                Ok(p) => {
                    m.project_landmarks(&p, &mut x);
                    nme(&x, &truth_t, f.norm)
                }
                Err(_) => 1.0,
            };
        }
        let n = faces.len() as f64;
        println!(
            "| {deg}° | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} / {:.2} |",
            100.0 * sums[0] / n,
            100.0 * sums[1] / n,
            100.0 * sums[2] / n,
            100.0 * sums[3] / n,
            ms[0] / n,
            ms[1] / n
        );
    }
}

/// A clip turned by `expr` (ffmpeg's `rotate`, clockwise on screen), every frame, extracted once.
fn turned_clip(clip: &str, expr: &str, folder: &str) -> Vec<std::path::PathBuf> {
    let out = std::env::temp_dir()
        .join("facetrack-in-plane")
        .join(clip)
        .join(folder);
    if !out.join("done").exists() {
        std::fs::create_dir_all(&out).unwrap();
        let filter = if expr.is_empty() {
            "null".to_string()
        } else {
            format!("rotate={expr}:ow=hypot(iw\\,ih):oh=ow")
        };
        let status = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-i"])
            .arg(root().join(format!("../shared/data/video/{clip}/{clip}.mp4")))
            .args(["-vf", &filter, "-start_number", "0"])
            .arg(out.join("%05d.png"))
            .status()
            .expect("ffmpeg (apt-get install -y ffmpeg)");
        assert!(status.success());
        std::fs::write(out.join("done"), b"").unwrap();
    }
    let mut frames: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    frames.sort();
    frames
}

/// Tracking a clip turned by 45° and 90° with a bare loop (search and cold fit once, then warm
/// fits from the previous frame, no loss detection, no filter): fitting in the image against
/// fitting upright at the face's in-plane angle. NME against the turned 3DDFA reference, in % of
/// √(w·h) of the unturned reference's 68-point box.
#[test]
#[ignore = "a measurement, needs ffmpeg: cargo test --release --test in_plane -- --ignored --nocapture"]
fn tracking_turned_clips() {
    use facetrack::align::face_search::{FaceSearch, SearchPasses};
    use facetrack::capture::load_rgb;

    let m = model();
    let (cold_u, warm_u) = (update("parm.bin"), update("parm_track.bin"));
    let cold = Cascade::new(m, predictor(), &cold_u);
    let warm = Cascade::new(m, predictor(), &warm_u);
    let (mut cs, mut ws) = (cold.scratch(), warm.scratch());
    let mut upright = UprightFit::new(m);
    let mut search = FaceSearch::new(SearchPasses::TURNED).unwrap();
    let mut x = vec![0.0; 2 * m.n_landmarks()];
    println!(
        "| clip | turned by | frames | in the image: median NME, > 10 % | upright: median NME, > 10 % | found at |"
    );
    println!("|---|---|---|---|---|---|");
    for (clip, deg, expr, folder) in [
        ("d3", 0.0f64, "", "all0"),
        ("d3", 45.0, "PI/4", "all45"),
        ("d9", -45.0, "-PI/4", "all-45"),
        ("d3", 90.0, "PI/2", "all90"),
        ("s18", 90.0, "PI/2", "all90"),
    ] {
        let frames = turned_clip(clip, expr, folder);
        let dir = root().join(format!("../shared/data/video/{clip}"));
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("info.json")).unwrap()).unwrap();
        let (iw, ih) = (
            info["width"].as_f64().unwrap(),
            info["height"].as_f64().unwrap(),
        );
        let refs: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("ref_3ddfa.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut gray = GrayImage::default();
        let mut nmes: [Vec<f64>; 2] = [vec![], vec![]];
        let mut found_at = String::new();
        for (way, nme_way) in nmes.iter_mut().enumerate() {
            let mut p: Option<Params> = None;
            for (n, path) in frames.iter().enumerate() {
                let rgb = load_rgb(path).unwrap();
                gray.set_from_rgb(rgb.width, rgb.height, &rgb.data);
                let (ow, oh) = (rgb.width as f64, rgb.height as f64);
                let a = deg.to_radians();
                // ffmpeg's rotate: clockwise on screen about the centres.
                let place = |q: [f64; 2]| {
                    let (s, c) = a.sin_cos();
                    let (du, dv) = (q[0] - (iw - 1.0) / 2.0, q[1] - (ih - 1.0) / 2.0);
                    [
                        c * du - s * dv + (ow - 1.0) / 2.0,
                        s * du + c * dv + (oh - 1.0) / 2.0,
                    ]
                };
                let Some(r) = refs.get(n).filter(|r| r["found"].as_bool() == Some(true)) else {
                    continue;
                };
                let pts: Vec<[f64; 2]> = r["landmarks_2d"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|q| [q[0].as_f64().unwrap(), q[1].as_f64().unwrap()])
                    .collect();
                let (lo, hi) = facetrack::align::detect::bounds(pts.iter().copied());
                let norm = ((hi[0] - lo[0]) * (hi[1] - lo[1])).sqrt();
                let truth: Vec<[f64; 2]> = pts.iter().map(|&q| place(q)).collect();
                let fitted = match p.as_mut() {
                    None => search.find(&gray).and_then(|f| {
                        if way == 0 {
                            found_at = format!("{:.1}°", f.angle().to_degrees());
                        }
                        upright
                            .fit_cold(&cold, &mut cs, &gray, &f.turned_box(), usize::MAX)
                            .ok()
                            .map(|q| q.with_dims(warm.update.n_id(), warm.update.n_exp()))
                    }),
                    Some(q) => {
                        let ok = if way == 0 {
                            fit_from_previous(&warm, &gray, q, usize::MAX, &mut ws, &mut x).is_ok()
                        } else {
                            let angle = in_plane_angle(q);
                            upright
                                .fit(&warm, &mut ws, &gray, q, angle, usize::MAX)
                                .is_ok()
                        };
                        ok.then(|| q.clone())
                    }
                };
                p = fitted;
                let e = match &p {
                    Some(q) => {
                        m.project_landmarks(q, &mut x);
                        nme(&x, &truth, norm)
                    }
                    None => 1.0,
                };
                nme_way.push(100.0 * e);
            }
        }
        let summary = |v: &mut Vec<f64>| {
            let over = v.iter().filter(|&&e| e > 10.0).count() as f64 / v.len() as f64;
            v.sort_by(f64::total_cmp);
            format!("{:.2} %, {:.1} %", v[v.len() / 2], 100.0 * over)
        };
        let n = nmes[0].len();
        let [a, b] = &mut nmes;
        println!(
            "| {clip} | {deg}° | {n} | {} | {} | {found_at} |",
            summary(a),
            summary(b)
        );
    }
}
