//! The hot paths — projection and Jacobian into caller buffers, demo frames into a reused
//! buffer, a live OSC frame into its prebuilt messages — allocate nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use facetrack::capture::{DemoSequence, RgbImage};
use facetrack::model::{MODEL_FILE_NAME, MorphableModel, Params};
use nalgebra::DMatrix;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a thread-local `Cell` of a `usize`,
// which neither allocates nor can fail.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn projection_and_jacobian_do_not_allocate() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(MODEL_FILE_NAME);
    let model = MorphableModel::from_bytes(&std::fs::read(path).unwrap()).unwrap();
    let mut p = Params::for_model(&model);
    p.set_s(0.002);
    p.set_yaw(0.3);
    p.id_mut()[0] = 1.0;
    let restricted = p.with_dims(40, 10);
    let mut x = vec![0.0; 2 * model.n_landmarks()];
    let mut x3 = vec![0.0; 3 * model.n_landmarks()];
    let mut v = vec![0.0; 2 * model.n_vertices()];
    let mut v3 = vec![0.0; 3 * model.n_vertices()];
    let mut jac = DMatrix::<f64>::zeros(x.len(), p.len());
    let mut jac_r = DMatrix::<f64>::zeros(x.len(), restricted.len());

    let before = allocations();
    model.project_landmarks(&p, &mut x);
    model.landmarks_3d(&p, &mut x3);
    model.project_vertices(&p, &mut v);
    model.vertices_3d(&p, &mut v3);
    model.landmark_jacobian(&p, &mut jac);
    model.project_landmarks_with_jacobian(&restricted, &mut x, &mut jac_r);
    assert_eq!(allocations() - before, 0);
    assert!(jac.iter().all(|v| v.is_finite()) && x.iter().all(|v| v.is_finite()));
}

#[test]
fn demo_frames_do_not_allocate() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(MODEL_FILE_NAME);
    let model = MorphableModel::from_bytes(&std::fs::read(path).unwrap()).unwrap();
    // A plain photo and a face placed by hand (160 px tall, centred): no fit needed here.
    let (w, h) = (400usize, 300usize);
    let photo = RgbImage {
        width: w,
        height: h,
        data: (0..w * h * 3).map(|i| (i % 251) as u8).collect(),
    };
    let mut p = Params::zeros(40, 10);
    p.set_s(1.0);
    let mut x = vec![0.0; 2 * model.n_landmarks()];
    model.project_landmarks(&p, &mut x);
    let ys = x.chunks_exact(2).map(|c| c[1]);
    let height = ys.clone().fold(f64::NEG_INFINITY, f64::max) - ys.fold(f64::INFINITY, f64::min);
    p.set_s(160.0 / height);
    model.project_landmarks(&p, &mut x);
    let mean = |k: usize| x.iter().skip(k).step_by(2).sum::<f64>() / model.n_landmarks() as f64;
    let (mx, my) = (mean(0), mean(1));
    p.set_tx(w as f64 / 2.0 - mx);
    p.set_ty(h as f64 / 2.0 - my);
    let mut seq = DemoSequence::new(model, photo, &p).unwrap();
    let mut frame = RgbImage::default();
    let mut truth = seq.truth_buffer();
    seq.frame(0, &mut frame, &mut truth);

    let before = allocations();
    for index in [1, 150, 300, 450] {
        seq.frame(index, &mut frame, &mut truth);
    }
    assert_eq!(allocations() - before, 0);
}

#[test]
fn an_upright_fit_does_not_allocate_once_grown() {
    use facetrack::align::ShapePredictor;
    use facetrack::capture::load_rgb;
    use facetrack::eval::aflw2000::read_annotations;
    use facetrack::fit::{Cascade, ParamUpdate, PlaneTransform, RegressorCascade, UprightFit};
    use facetrack::image::GrayImage;

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = MorphableModel::from_bytes(
        &std::fs::read(root.join("models").join(MODEL_FILE_NAME)).unwrap(),
    )
    .unwrap();
    let predictor = ShapePredictor::from_dlib_bytes(
        &std::fs::read("/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
            .expect("dlib's shape predictor: apt-get install libdlib-data"),
    )
    .unwrap();
    let update = ParamUpdate::Regression(
        RegressorCascade::from_bytes(&std::fs::read(root.join("models/parm_track.bin")).unwrap())
            .unwrap(),
    );
    let cascade = Cascade::new(&model, &predictor, &update);
    let aflw = root.join("../shared/data/aflw2000-3d");
    let a = &read_annotations(&aflw.join("annotations.jsonl")).unwrap()[0];
    let rgb = load_rgb(&aflw.join("images").join(&a.image)).unwrap();
    let mut gray = GrayImage::default();
    gray.set_from_rgb(rgb.width, rgb.height, &rgb.data);
    let truth = Params::from_dataset(&a.pose, &a.shape_para, &a.exp_para, a.height, &model)
        .unwrap()
        .with_dims(update.n_id(), update.n_exp());
    // The photo turned by 60°, and the face's parameters with it.
    let (t, w, h) = PlaneTransform::whole_image(gray.width(), gray.height(), -1.0, 1.0);
    let mut turned = facetrack::fit::UprightView::default();
    turned.set(&gray, t, w, h);
    let mut start = Params::zeros(0, 0);
    t.params_to_view(&truth, &mut start);

    let mut scratch = cascade.scratch();
    let mut fit = UprightFit::new(&model);
    let mut p = start.clone();
    let mut run = |p: &mut Params| {
        for angle in [1.0, 0.9, 1.1] {
            p.clone_from(&start);
            fit.fit(&cascade, &mut scratch, turned.image(), p, angle, 7)
                .unwrap();
        }
    };
    run(&mut p);

    let before = allocations();
    run(&mut p);
    assert_eq!(allocations() - before, 0);
}

/// Counts allocations on this thread only: FFmpeg's own (through `av_malloc`) are not the Rust
/// allocator's, and its frame threads are other threads — what is counted is this crate's side.
#[test]
fn video_frames_do_not_allocate_once_going() {
    use facetrack::capture::{Frame, FrameSource, Next, VideoSource};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=128x96:r=30:d=1",
        ])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&path)
        .status()
        .expect("ffmpeg on PATH (scripts/setup.sh installs it)");
    assert!(status.success());
    let mut source = VideoSource::open(&path).unwrap();
    let mut frame = Frame::default();
    for _ in 0..3 {
        assert_eq!(source.next_frame(&mut frame).unwrap(), Next::Frame);
    }
    let before = allocations();
    let mut n = 0;
    while source.next_frame(&mut frame).unwrap() == Next::Frame {
        n += 1;
    }
    assert_eq!(n, 27);
    assert_eq!(allocations() - before, 0, "allocations over {n} frames");
}

#[test]
fn live_osc_sends_do_not_allocate() {
    use facetrack::capture::Frame;
    use facetrack::controls::Controls;
    use facetrack::record::{OscFormat, OscOptions, OscSender};
    use facetrack::track::{LiveOutput, LiveSent, TrackResult, TrackSettings, TrackStatus};
    use std::time::Instant;

    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = receiver.local_addr().unwrap().to_string();
    let mut p = Params::zeros(40, 10);
    p.set_s(0.0012);
    p.set_yaw(0.3);
    p.set_tx(300.0);
    p.set_ty(200.0);
    let mut result = TrackResult {
        frame: Frame {
            image: RgbImage {
                width: 640,
                height: 480,
                data: Vec::new(),
            },
            ..Frame::default()
        },
        status: TrackStatus::Tracking,
        settings: TrackSettings::default(),
        params: p,
        landmarks: vec![0.0; 136],
        confidence: 0.9,
        weights: None,
        detected: false,
        controls: Controls::default(),
        calibrating: None,
        identity_lock: Default::default(),
        fit_ms: 1.0,
        fit_fps: 100.0,
        done: Instant::now(),
        recording: Vec::new(),
        live: None,
    };
    for format in OscFormat::ALL {
        let options = OscOptions {
            format,
            mirror: true,
        };
        let mut sender = OscSender::new(&address, options).unwrap();
        assert_eq!(sender.send(&result), LiveSent::Sent);
        let before = allocations();
        for i in 0..100 {
            result.status = if i % 10 == 9 {
                TrackStatus::Lost
            } else {
                TrackStatus::Tracking
            };
            result.controls.values[i % 18] = 0.5;
            sender.send(&result);
        }
        assert_eq!(allocations() - before, 0, "{format:?}");
    }
}
