//! The tracking pipeline (issue 5): the tracker on the demo sequence, losing the face and finding
//! it again, commands taking effect at the next frame, and `facetrack track` — its CSV, Ctrl-C,
//! replay of a recorded session, the choice of source.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use facetrack::align::detect::FaceDetector;
use facetrack::align::{FitConfidence, ShapePredictor};
use facetrack::capture::demo::{DemoSequence, astronaut_photo, fit_photo};
use facetrack::capture::{DemoSource, Frame, FrameSource, Next, RgbImage, Take};
use facetrack::fit::joint::{JointConfig, JointSolver};
use facetrack::fit::training_set::{bbox_norm, nme};
use facetrack::fit::{Cascade, ParamUpdate, Pclm, RegressorCascade};
use facetrack::model::MorphableModel;
use facetrack::record::csv_recorder::header;
use facetrack::track::identity_lock::{EASE_FRAMES, LOCK_FRAMES, LockState};

#[path = "../examples/shared/reference.rs"]
mod reference;
use facetrack::track::{
    Pipeline, ResultDelivery, TrackCommand, TrackMethod, TrackOutput, TrackSettings, TrackStatus,
    Tracker, TrackerModels,
};

struct Counting;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a thread-local `Cell` of a `usize`,
// which neither allocates nor can fail.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(std::cell::Cell::get)
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn models() -> Arc<TrackerModels> {
    static M: OnceLock<Arc<TrackerModels>> = OnceLock::new();
    M.get_or_init(|| Arc::new(load_models("parm_track_held.bin")))
        .clone()
}

/// The committed models, with `held` as the tracking cascade for a held identity.
fn load_models(held: &str) -> TrackerModels {
    let dir = root().join("models");
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let model = MorphableModel::from_bytes(&read("face_model.bin")).unwrap();
    let bytes = std::fs::read("/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
        .expect("dlib's shape predictor: run scripts/setup.sh");
    let predictor = ShapePredictor::from_dlib_bytes(&bytes).unwrap();
    let regressors =
        |name: &str| ParamUpdate::Regression(RegressorCascade::from_bytes(&read(name)).unwrap());
    let parm = regressors("parm_track.bin");
    let joint = JointSolver::new(&model, parm.n_id(), parm.n_exp(), JointConfig::default());
    let pclm: Pclm = serde_json::from_slice(&read("pclm.json")).unwrap();
    TrackerModels {
        pclm: ParamUpdate::Pclm(pclm),
        prm: regressors("prm_track.bin"),
        acquire: regressors("parm.bin"),
        parm,
        parm_held: regressors(held),
        joint,
        confidence: FitConfidence::from_bytes(&read("confidence.bin")).unwrap(),
        model,
        predictor,
        aligner_2d: None,
    }
}

#[test]
fn a_held_identity_cascade_of_another_kind_is_an_error_naming_both() {
    let err = Tracker::new(
        Arc::new(load_models("prm_track.bin")),
        TrackSettings::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("held identity") && msg.contains("PRM") && msg.contains("PARM"),
        "{msg}"
    );
}

fn sequence() -> DemoSequence {
    static S: OnceLock<DemoSequence> = OnceLock::new();
    S.get_or_init(|| {
        let m = models();
        let photo = astronaut_photo().unwrap();
        let fitted = fit_photo(
            &photo,
            &mut FaceDetector::new().unwrap(),
            &Cascade::new(&m.model, &m.predictor, &m.acquire),
            Some(&Cascade::new(&m.model, &m.predictor, &m.parm)),
        )
        .unwrap();
        DemoSequence::new(m.model.clone(), photo, &fitted).unwrap()
    })
    .clone()
}

#[test]
fn a_lost_face_is_noticed_and_found_again() {
    let models = models();
    let mut tracker = Tracker::new(models.clone(), TrackSettings::default()).unwrap();
    let mut out = TrackOutput::new(&models);
    let mut source = DemoSource::new(sequence(), 100);
    let mut frame = Frame::default();
    let mut track =
        |image: &RgbImage, t: f64, out: &mut TrackOutput| tracker.track(image, t, out).unwrap();

    let mut statuses = Vec::new();
    for _ in 0..20 {
        assert_eq!(source.next_frame(&mut frame).unwrap(), Next::Frame);
        statuses.push(track(&frame.image, frame.timestamp.as_secs_f64(), &mut out));
    }
    assert!(
        statuses.iter().all(|s| *s == TrackStatus::Tracking),
        "the demo face is tracked from the first frame: {statuses:?}"
    );
    assert!(out.detected || statuses.len() > 1);

    // The face goes: a grey frame. The fit must be judged lost at once, then the tracker searches.
    let mut blank = frame.image.clone();
    blank.data.fill(128);
    let t = frame.timestamp.as_secs_f64();
    let lost = track(&blank, t + 0.033, &mut out);
    assert_eq!(
        lost,
        TrackStatus::Lost,
        "a face on a blank frame: {:?}",
        out.lost
    );
    for k in 2..5 {
        let s = track(&blank, t + 0.033 * k as f64, &mut out);
        assert_eq!(s, TrackStatus::Searching);
        assert!(out.detected, "searching runs the detector");
    }

    // It comes back: found again by the detector, then tracked.
    let mut back = Vec::new();
    for _ in 0..5 {
        source.next_frame(&mut frame).unwrap();
        back.push(track(&frame.image, frame.timestamp.as_secs_f64(), &mut out));
    }
    assert!(back.iter().all(|s| *s == TrackStatus::Tracking), "{back:?}");
}

#[test]
fn a_tracked_frame_allocates_nothing() {
    let models = models();
    let mut out = TrackOutput::new(&models);
    let mut frame = Frame::default();
    for method in TrackMethod::ALL {
        for (joint, lock_identity) in [(false, false), (true, false), (false, true)] {
            let mut source = DemoSource::new(sequence(), 150);
            let settings = TrackSettings {
                method,
                joint,
                lock_identity,
                ..TrackSettings::default()
            };
            let mut tracker = Tracker::new(models.clone(), settings).unwrap();
            // The first frames detect and size every buffer.
            for _ in 0..3 {
                source.next_frame(&mut frame).unwrap();
                tracker
                    .track(&frame.image, frame.timestamp.as_secs_f64(), &mut out)
                    .unwrap();
            }
            let mut allocated = 0;
            // With the lock, the frames it keeps, its solve and the easing in are among those
            // measured.
            let frames = if lock_identity {
                LOCK_FRAMES + EASE_FRAMES + 5
            } else {
                10
            };
            for _ in 0..frames {
                source.next_frame(&mut frame).unwrap();
                let before = allocations();
                let s = tracker
                    .track(&frame.image, frame.timestamp.as_secs_f64(), &mut out)
                    .unwrap();
                allocated += allocations() - before;
                assert_eq!(s, TrackStatus::Tracking);
            }
            assert_eq!(
                tracker.identity_lock() == LockState::Held,
                lock_identity,
                "{}",
                method.label(joint)
            );
            assert_eq!(
                allocated,
                0,
                "{} allocates (lock {lock_identity})",
                method.label(joint)
            );
        }
    }
}

#[test]
fn commands_take_effect_at_the_next_frame_and_every_frame_is_delivered() {
    let models = models();
    let source = Box::new(Take::new(Box::new(DemoSource::new(sequence(), 0)), 40));
    let pipeline = Pipeline::start(
        source,
        models,
        TrackSettings::default(),
        ResultDelivery::Every,
        Vec::new(),
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut switched_at = None;
    while let Ok(r) = pipeline.results().recv_timeout(Duration::from_secs(30)) {
        seen.push((r.frame.index, r.settings.method, r.settings.joint, r.status));
        if r.frame.index == 19 {
            pipeline.send(TrackCommand::Settings(TrackSettings {
                method: TrackMethod::Prm,
                joint: true,
                ..TrackSettings::default()
            }));
            switched_at = Some(Instant::now());
        }
        pipeline.recycle(r);
    }
    pipeline.stop().unwrap();
    assert!(switched_at.is_some());
    let indices: Vec<u64> = seen.iter().map(|s| s.0).collect();
    assert_eq!(
        indices,
        (0..40).collect::<Vec<_>>(),
        "every frame, in order"
    );
    // Frames already queued when the command was sent (at most the channel's two) keep PARM.
    let first_prm = seen
        .iter()
        .position(|s| s.1 == TrackMethod::Prm)
        .expect("the switch took effect");
    assert!(
        (20..=23).contains(&first_prm),
        "switched at frame {first_prm}"
    );
    assert!(
        seen[first_prm..]
            .iter()
            .all(|s| s.1 == TrackMethod::Prm && s.2)
    );
    assert!(
        seen.iter().all(|s| s.3 == TrackStatus::Tracking),
        "{seen:?}"
    );
}

fn facetrack() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_facetrack"));
    c.current_dir(root());
    c
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (h, rows)
}

fn summary(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: stdout {text:?}"))
}

/// `facetrack track` on the demo's first `frames` frames, writing `csv`; it must succeed.
fn track_demo(frames: u32, csv: &Path) -> std::process::Output {
    let out = facetrack()
        .args([
            "track",
            "--source",
            "demo",
            "--frames",
            &frames.to_string(),
            "--csv",
        ])
        .arg(csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn track_writes_the_design_csv_and_follows_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let out = track_demo(120, &csv);
    let s = summary(&out.stdout);
    for key in [
        "frames",
        "fps",
        "latency_ms_p50",
        "latency_ms_p99",
        "gt_yaw_err_deg_median",
        "gt_nme",
    ] {
        assert!(s[key].is_number(), "{key} missing: {s}");
    }
    assert_eq!(s["frames"], 120);
    assert!(s["gt_nme"].as_f64().unwrap() < 4.0, "{s}");
    assert!(s["gt_yaw_err_deg_median"].as_f64().unwrap() < 4.0, "{s}");

    let (h, rows) = read_csv(&csv);
    assert_eq!(h, header(40, 10, 68));
    assert_eq!(
        &h[..14],
        [
            "frame",
            "timestamp_ms",
            "method",
            "success",
            "confidence",
            "fit_ms",
            "pitch_deg",
            "yaw_deg",
            "roll_deg",
            "scale",
            "tx",
            "ty",
            "lambda_2d",
            "lambda_3d"
        ]
    );
    assert_eq!(rows.len(), 120);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), h.len());
        assert_eq!(row[0], i.to_string());
        assert_eq!(row[2], "parm");
        assert_eq!(row[3], "1");
        // Every frame of the demo is a clear face: confident.
        let confidence: f64 = row[4].parse().unwrap();
        assert!(confidence > 0.9, "confidence {confidence} of frame {i}");
        let t: f64 = row[1].parse().unwrap();
        assert!(
            (t - i as f64 * 1000.0 / 30.0).abs() < 1e-2,
            "timestamp {t} of frame {i}"
        );
        let yaw: f64 = row[7].parse().unwrap();
        assert!(yaw.abs() < 60.0);
        // No joint refinement: no weights.
        assert_eq!(row[12], "");
        let x0: f64 = row[14 + 50].parse().unwrap();
        assert!((0.0..640.0).contains(&x0));
    }
}

/// The demo's first three seconds hold the face still under a webcam's sensor noise: what a
/// streamer sees of a still head is how far its landmarks and angles wander. Measured after the
/// first half second, as the track summary's still jitter is. With one fit a frame PARM's
/// landmarks wandered 0.27 px and its angles 0.078° here; the two fits' mean holds them to 0.21 px
/// and 0.051°.
#[test]
fn a_still_face_is_held_still() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("still.csv");
    track_demo(90, &csv);
    let (h, rows) = read_csv(&csv);
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let still: Vec<&Vec<String>> = rows.iter().skip(15).collect();
    assert_eq!(still.len(), 75);
    let sd = |k: usize| {
        let v: Vec<f64> = still.iter().map(|r| r[k].parse().unwrap()).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    let points: Vec<usize> = (0..68)
        .flat_map(|i| [col(&format!("x_{i}")), col(&format!("y_{i}"))])
        .collect();
    let px = points.iter().map(|&k| sd(k)).sum::<f64>() / points.len() as f64;
    let degrees = ["pitch_deg", "yaw_deg", "roll_deg"]
        .iter()
        .map(|n| sd(col(n)))
        .sum::<f64>()
        / 3.0;
    assert!(px < 0.24, "the landmarks wander {px:.3} px on a still face");
    assert!(
        degrees < 0.065,
        "the angles wander {degrees:.3}° on a still face"
    );
}

#[test]
fn ctrl_c_loses_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("int.csv");
    let child = facetrack()
        .args([
            "track",
            "--source",
            "demo",
            "--method",
            "parm+joint",
            "--csv",
        ])
        .arg(&csv)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt while rows are streaming.
    let start = Instant::now();
    loop {
        let lines = std::fs::read_to_string(&csv)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines > 50 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no rows written");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = i32::try_from(child.id()).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {:?}", out.status);
    let s = summary(&out.stdout);
    assert_eq!(s["interrupted"], true);
    let frames = s["frames"].as_u64().unwrap();
    let (h, rows) = read_csv(&csv);
    // Every frame fitted has its row, whole — those the reader had not counted yet included.
    assert!(
        rows.len() as u64 >= frames && rows.len() as u64 <= frames + 3,
        "{} rows, {frames} frames",
        rows.len()
    );
    assert_eq!(s["csv_rows"].as_u64().unwrap(), rows.len() as u64);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), h.len(), "row {i} is cut short");
        assert_eq!(row[0], i.to_string());
        assert_eq!(row[2], "parm+joint");
        assert!(!row[12].is_empty(), "the joint's weights");
    }
}

#[test]
fn a_replayed_session_gives_the_same_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("session");
    let out = facetrack()
        .args([
            "track",
            "--source",
            "demo",
            "--frames",
            "45",
            "--record-session",
        ])
        .arg(&session)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replay_csv = dir.path().join("replay.csv");
    let out = facetrack()
        .args(["track", "--source"])
        .arg(format!("replay:{}", session.display()))
        .arg("--csv")
        .arg(&replay_csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary(&out.stdout)["frames"], 45);
    let (h1, a) = read_csv(&session.join("session.csv"));
    let (h2, b) = read_csv(&replay_csv);
    assert_eq!(h1, h2);
    assert_eq!(a.len(), 45);
    assert_eq!(a.len(), b.len());
    let fit_ms = h1.iter().position(|c| c == "fit_ms").unwrap();
    for (ra, rb) in a.iter().zip(&b) {
        for (k, (x, y)) in ra.iter().zip(rb).enumerate() {
            if k != fit_ms {
                assert_eq!(x, y, "column {} of frame {}", h1[k], ra[0]);
            }
        }
    }
}

#[test]
fn a_broken_session_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = facetrack()
        .args(["track", "--source"])
        .arg(format!("replay:{}", dir.path().display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("frames.csv") && err.contains("--record-session"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A camera stand-in: one demo frame copied out as fast as it is asked for, on a live clock.
struct FastLive {
    image: RgbImage,
    next: u64,
    produced: Arc<std::sync::atomic::AtomicU64>,
}

impl FrameSource for FastLive {
    fn next_frame(&mut self, frame: &mut Frame) -> Result<Next, facetrack::capture::CaptureError> {
        if self.next == 3000 {
            return Ok(Next::End);
        }
        frame.image.clone_from(&self.image);
        frame.index = self.next;
        frame.timestamp = Duration::from_millis(self.next);
        frame.captured = Instant::now();
        self.next += 1;
        self.produced
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Next::Frame)
    }

    fn describe(&self) -> String {
        "fast live".into()
    }

    fn is_live(&self) -> bool {
        true
    }
}

#[test]
fn a_live_source_drops_stale_frames_and_the_newest_wins() {
    let mut demo = DemoSource::new(sequence(), 0);
    let mut frame = Frame::default();
    demo.next_frame(&mut frame).unwrap();
    let produced = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let source = Box::new(FastLive {
        image: frame.image.clone(),
        next: 0,
        produced: produced.clone(),
    });
    let settings = TrackSettings {
        method: TrackMethod::Parm,
        joint: true,
        stages: 15,
        filter: true,
        lock_identity: true,
    };
    let pipeline = Pipeline::start(
        source,
        models(),
        settings,
        ResultDelivery::Every,
        Vec::new(),
    )
    .unwrap();
    let mut indices = Vec::new();
    while let Ok(r) = pipeline.results().recv_timeout(Duration::from_secs(30)) {
        indices.push(r.frame.index);
        pipeline.recycle(r);
    }
    pipeline.stop().unwrap();
    let produced = produced.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(produced, 3000);
    assert!(indices.windows(2).all(|w| w[0] < w[1]), "in order");
    // A fit takes far longer than a copy: most frames were stale before the tracker was free.
    assert!(
        (indices.len() as u64) < produced / 2,
        "{} of {produced} frames fitted",
        indices.len()
    );
    assert_eq!(
        *indices.last().unwrap(),
        2999,
        "the last frame is the newest"
    );
}

fn no_camera() -> bool {
    !Path::new("/dev/video0").exists()
}

#[test]
fn without_a_camera_the_error_lists_the_sources_and_the_default_is_the_demo() {
    if !no_camera() {
        eprintln!("a camera is present; the no-camera behaviour cannot be checked here");
        return;
    }
    let out = facetrack()
        .args(["track", "--source", "camera", "--frames", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no camera found"), "{err}");
    for source in ["video:", "images:", "demo", "replay:"] {
        assert!(err.contains(source), "{source} not listed: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");

    let out = facetrack()
        .args(["track", "--frames", "5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no camera") && err.contains("running the demo"),
        "{err}"
    );
    assert_eq!(summary(&out.stdout)["frames"], 5);
}

/// Demo frames 0..n as images.
fn demo_frames(n: u64) -> Vec<RgbImage> {
    let mut source = DemoSource::new(sequence(), 0).without_noise();
    let mut frame = Frame::default();
    (0..n)
        .map(|_| {
            source.next_frame(&mut frame).unwrap();
            frame.image.clone()
        })
        .collect()
}

#[test]
fn a_corrupt_image_in_a_folder_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    for (i, f) in demo_frames(6).iter().enumerate() {
        let img =
            image::RgbImage::from_raw(f.width as u32, f.height as u32, f.data.clone()).unwrap();
        img.save(dir.path().join(format!("f{i:03}.png"))).unwrap();
    }
    // Frame 3 is cut short.
    let bad = dir.path().join("f003.png");
    let bytes = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 3]).unwrap();
    let csv = dir.path().join("out.csv");
    let out = facetrack()
        .args(["track", "--source"])
        .arg(format!("images:{}", dir.path().display()))
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Every good frame is tracked and written, and the lost one makes the exit status say so.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("warning") && err.contains("f003.png"), "{err}");
    assert!(
        err.contains("1 frame could not be decoded and has no row"),
        "{err}"
    );
    assert_eq!(summary(&out.stdout)["skipped_frames"], 1);
    assert_eq!(summary(&out.stdout)["frames"], 5);
    let (_, rows) = read_csv(&csv);
    let frames: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(frames, ["0", "1", "2", "4", "5"]);
    assert!(
        rows.iter().all(|r| r[3] == "1"),
        "every good frame is tracked"
    );
}

#[test]
fn render_writes_every_frame_at_the_inputs_rate_with_the_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.avi");
    let frames = demo_frames(12);
    write_mjpeg_avi(&path, &frames);
    let out_path = dir.path().join("tracked.mp4");
    let out = facetrack()
        .args(["track", "--source"])
        .arg(format!("video:{}", path.display()))
        .arg("--render")
        .arg(&out_path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("rendered 12 frames"), "{err}");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=nb_read_frames,avg_frame_rate,width,height",
        ])
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(&out_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout);
    for want in [
        "nb_read_frames=12",
        "avg_frame_rate=30/1",
        "width=640",
        "height=480",
    ] {
        assert!(text.contains(want), "{want} not in {text}");
    }
    // The overlay is drawn: the rendered frames differ from the input where the face is.
    let rendered = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&out_path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(rendered.len(), frames[0].data.len());
    let changed = rendered
        .iter()
        .zip(&frames[0].data)
        .filter(|(a, b)| a.abs_diff(**b) > 40)
        .count();
    assert!(changed > 2000, "only {changed} bytes changed: no overlay?");
}

#[test]
fn several_videos_each_get_their_csv_and_a_summary_line() {
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir(&videos).unwrap();
    let frames = demo_frames(10);
    write_mjpeg_avi(&videos.join("a.avi"), &frames[..6]);
    write_mjpeg_avi(&videos.join("b.avi"), &frames[2..]);
    std::fs::write(videos.join("readme.txt"), "not a video").unwrap();
    let out_dir = dir.path().join("out");
    let out = facetrack()
        .args(["track", "--jobs", "2", "--source"])
        .arg(format!("video:{}", videos.display()))
        .arg("--csv")
        .arg(&out_dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (name, n) in [("a", 6), ("b", 8)] {
        let (_, rows) = read_csv(&out_dir.join(format!("{name}.csv")));
        assert_eq!(rows.len(), n, "{name}");
        let line = lines
            .iter()
            .find(|l| {
                l["video"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("{name}.avi"))
            })
            .unwrap();
        assert_eq!(line["frames"], n);
        assert_eq!(line["ok"], true);
    }

    // A list file, one of whose videos is missing: the others are tracked, the command fails.
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "videos/a.avi\n# a comment\nvideos/missing.mp4\n").unwrap();
    let out = facetrack()
        .args(["track", "--list"])
        .arg(&list)
        .arg("--csv")
        .arg(dir.path().join("out2"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("missing.mp4") && stdout.contains("\"ok\":false"),
        "{stdout}"
    );
    assert_eq!(read_csv(&dir.path().join("out2/a.csv")).1.len(), 6);
}

/// Encodes `frames` as an MJPEG AVI at 30 fps with the `ffmpeg` command.
fn write_mjpeg_avi(path: &Path, frames: &[RgbImage]) {
    use std::io::Write;
    let mut child = Command::new("ffmpeg")
        .args([
            "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
        ])
        .arg(format!("{}x{}", frames[0].width, frames[0].height))
        .args(["-r", "30", "-i", "-", "-c:v", "mjpeg", "-q:v", "2"])
        .args(["-pix_fmt", "yuvj420p"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("ffmpeg on PATH (scripts/setup.sh installs it)");
    let mut stdin = child.stdin.take().unwrap();
    for f in frames {
        stdin.write_all(&f.data).unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_corrupt_video_frame_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.avi");
    write_mjpeg_avi(&path, &demo_frames(8));
    // Frame 5's JPEG overwritten with noise: the decoder finds no picture in it.
    let mut bytes = std::fs::read(&path).unwrap();
    let movi = bytes.windows(4).position(|w| w == b"movi").unwrap();
    let chunk = (movi..bytes.len() - 4)
        .filter(|&i| &bytes[i..i + 4] == b"00dc")
        .nth(5)
        .unwrap();
    let size = u32::from_le_bytes(bytes[chunk + 4..chunk + 8].try_into().unwrap()) as usize;
    bytes[chunk + 8..chunk + 8 + size].fill(0x55);
    std::fs::write(&path, &bytes).unwrap();
    let csv = dir.path().join("out.csv");
    let out = facetrack()
        .args(["track", "--source"])
        .arg(format!("video:{}", path.display()))
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("warning") && err.contains('5'), "{err}");
    assert!(
        err.contains("1 frame could not be decoded and has no row"),
        "{err}"
    );
    let (_, rows) = read_csv(&csv);
    let frames: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(frames, ["0", "1", "2", "3", "4", "6", "7"]);
    assert!(
        rows.iter().all(|r| r[3] == "1"),
        "every good frame is tracked"
    );
}

#[test]
fn a_head_turn_with_a_neutral_face_moves_no_control_far() {
    use facetrack::controls::CONTROL_NAMES;
    let models = models();
    let mut seq = sequence();
    let base = seq.base_params().clone();
    let mut tracker = Tracker::new(models.clone(), TrackSettings::default()).unwrap();
    // The demo's face smiles: calibrated on it, the controls start from 0, where a move shows
    // (a control held at 1 would hide one).
    tracker.calibrate_neutral(20);
    let mut out = TrackOutput::new(&models);
    let mut image = RgbImage::default();
    let (mut lo, mut hi) = ([f32::INFINITY; 18], [f32::NEG_INFINITY; 18]);
    let mut p = base.clone();
    // Still for a second (the eyes' resting level settles), then the head turns to +30°, back
    // to −30° and to the front over four seconds, the expression held.
    let still: u32 = 30;
    let turn = 120;
    for i in 0..still + turn {
        let t = i as f64 / 30.0;
        let phase = (i.saturating_sub(still)) as f64 / turn as f64;
        let yaw = 30f64.to_radians() * (2.0 * std::f64::consts::PI * phase).sin();
        p.set_yaw(base.yaw() + yaw);
        seq.render(&p, &mut image);
        let status = tracker.track(&image, t, &mut out).unwrap();
        assert_eq!(status, TrackStatus::Tracking, "frame {i}");
        if i >= still {
            for (k, v) in out.controls.values.iter().enumerate() {
                lo[k] = lo[k].min(*v);
                hi[k] = hi[k].max(*v);
            }
        }
    }
    let moved: Vec<(&str, f32)> = CONTROL_NAMES
        .iter()
        .enumerate()
        .map(|(k, n)| (*n, hi[k] - lo[k]))
        .collect();
    for (name, range) in moved {
        assert!(range <= 0.15, "{name} moved by {range:.3} over a ±30° turn");
    }
}

#[test]
fn a_neutral_face_calibration_from_the_command_line_zeroes_the_controls_on_that_face() {
    use facetrack::controls::CONTROL_NAMES;
    let dir = tempfile::tempdir().unwrap();
    // The demo's first three seconds hold the portrait's face still: it smiles.
    let controls = |calibrate: bool| -> Vec<Vec<f64>> {
        let csv = dir.path().join(format!("c{calibrate}.csv"));
        let mut cmd = facetrack();
        cmd.args(["track", "--source", "demo", "--frames", "80", "--csv"])
            .arg(&csv);
        if calibrate {
            cmd.args(["--calibrate-neutral", "20"]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (h, rows) = read_csv(&csv);
        let cols: Vec<usize> = CONTROL_NAMES
            .iter()
            .map(|n| h.iter().position(|c| c == n).unwrap())
            .collect();
        rows[30..]
            .iter()
            .map(|r| cols.iter().map(|&c| r[c].parse().unwrap()).collect())
            .collect()
    };
    let smile = CONTROL_NAMES
        .iter()
        .position(|n| *n == "mouthSmileLeft")
        .unwrap();
    let plain = controls(false);
    assert!(plain.iter().all(|r| r[smile] > 0.5), "the portrait smiles");
    let calibrated = controls(true);
    for row in &calibrated {
        for (name, v) in CONTROL_NAMES.iter().zip(row) {
            assert!(
                *v <= 0.1,
                "{name} reads {v} on the face it was calibrated on"
            );
        }
    }
}

/// The mean distance of the tracked landmarks (`x_i`, `y_i`) from the reference track's (3DDFA_V2),
/// over the square root of the reference landmarks' bounding box, in %.
fn nme_against_reference(headers: &[String], rows: &[Vec<String>], clip: &Path) -> f64 {
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let reference = reference::reference_landmarks(clip).unwrap();
    let (frame, success, x0) = (col("frame"), col("success"), col("x_0"));
    let y0 = col("y_0");
    let mut fit = vec![0.0; 136];
    let (mut sum, mut n) = (0.0, 0);
    for row in rows.iter().filter(|r| r[success] == "1") {
        let Some(truth) = reference.get(&row[frame].parse::<u64>().unwrap()) else {
            continue;
        };
        for (i, xy) in fit.chunks_exact_mut(2).enumerate() {
            xy[0] = row[x0 + i].parse().unwrap();
            xy[1] = row[y0 + i].parse().unwrap();
        }
        sum += 100.0 * nme(truth, &fit, bbox_norm(truth));
        n += 1;
    }
    assert!(n > 0, "no frame with both tracks");
    sum / n as f64
}

/// On a real clip, the locked identity is fitted to the first second and then held (the CSV's
/// identity columns stop changing), and the fit follows the face more closely than with the
/// cold fit's identity that a PARM track otherwise keeps.
#[test]
fn a_locked_identity_is_held_and_fits_a_real_face_better() {
    let clip = root().join("../shared/data/video/d0");
    let run = |lock: bool| {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("d0.csv");
        let mut args = vec![
            "track".to_owned(),
            "--source".into(),
            format!("video:{}", clip.join("d0.mp4").display()),
            "--csv".into(),
            csv.display().to_string(),
        ];
        if lock {
            args.push("--lock-identity".into());
        }
        let out = facetrack().args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        read_csv(&csv)
    };
    let (headers, free) = run(false);
    let (_, locked) = run(true);
    let id0 = headers.iter().position(|h| h == "id_0").unwrap();
    let change = |rows: &[Vec<String>], a: usize, b: usize| {
        (id0..id0 + 40)
            .map(|c| {
                let v = |k: usize| rows[k][c].parse::<f64>().unwrap();
                (v(a) - v(b)).abs()
            })
            .fold(0.0, f64::max)
    };
    // Tracked from the first frame, the lock has its 30 frames by the 31st and eases the identity
    // in over the next EASE_FRAMES. (The CSV's values are also filtered, which smooths the last
    // of it over a few frames more.)
    let settled = LOCK_FRAMES + EASE_FRAMES + 10;
    assert!(
        change(&locked, 5, settled) > 0.05,
        "the identity was fitted again"
    );
    assert!(
        (settled..locked.len()).all(|k| change(&locked, k, settled) < 1e-3),
        "held from then on"
    );
    let (nme_free, nme_locked) = (
        nme_against_reference(&headers, &free, &clip),
        nme_against_reference(&headers, &locked, &clip),
    );
    // Measured: 1.91 against 2.10 %, as video_score.py gives them.
    assert!(
        nme_locked < nme_free,
        "NME {nme_locked} % locked against {nme_free} % free"
    );
}

/// Whether the identity lock holds an identity, easing in or settled.
fn is_held(state: LockState) -> bool {
    matches!(state, LockState::Easing { .. } | LockState::Held)
}

/// The demo's face at its starting pose and expression, as one still picture.
fn still_demo_face() -> RgbImage {
    let mut seq = sequence();
    let base = seq.base_params().clone();
    let mut image = RgbImage::default();
    seq.render(&base, &mut image);
    image
}

/// When the lock takes the identity it fitted, a still face's fit is carried there over several
/// frames instead of stepping at once: an avatar driven by it would twitch.
#[test]
fn taking_the_held_identity_moves_the_fit_gradually() {
    let models = models();
    let settings = TrackSettings {
        lock_identity: true,
        filter: false,
        ..TrackSettings::default()
    };
    let mut tracker = Tracker::new(models.clone(), settings).unwrap();
    let mut out = TrackOutput::new(&models);
    let image = still_demo_face();
    let mut frames = Vec::new();
    let mut held_at = None;
    for i in 0..LOCK_FRAMES + EASE_FRAMES + 10 {
        assert_eq!(
            tracker.track(&image, i as f64 / 30.0, &mut out).unwrap(),
            TrackStatus::Tracking,
            "frame {i}"
        );
        if is_held(tracker.identity_lock()) && held_at.is_none() {
            held_at = Some(i);
        }
        frames.push(out.landmarks.clone());
    }
    let held_at = held_at.expect("the identity is held");
    let moved = |a: &[f64], b: &[f64]| {
        (a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum::<f64>() / 68.0).sqrt()
    };
    let (before, after) = (held_at - 1, held_at + EASE_FRAMES + 5);
    let total = moved(&frames[before], &frames[after]);
    let at_lock = moved(&frames[before], &frames[held_at]);
    let largest_step = |from: usize, to: usize| {
        (from..to)
            .map(|k| moved(&frames[k], &frames[k + 1]))
            .fold(0.0, f64::max)
    };
    let largest = largest_step(before, after);
    // The still face's own frame-to-frame noise, once the track has settled.
    let noise = largest_step(10, before);
    // Measured: the whole move 1.95 px, 0.19 px on the frame the identity is taken; the largest
    // step from there on 0.56 px, against 0.74 px before the lock. With the tracking cascade for
    // held identities taking over at once instead of fading in with the identity, the step on the
    // next frame was 1.16 px (it settles on this face 1.1 px from where the ordinary one does).
    assert!(total > 0.5, "the held identity moves the fit ({total} px)");
    assert!(
        at_lock < 0.25 * total,
        "{at_lock} px on the frame the identity is taken, of {total} px"
    );
    assert!(
        largest <= noise,
        "largest step after the lock {largest} px, before it {noise} px"
    );
}

/// With the identity lock on, a neutral-face calibration asked for at the start waits until the
/// identity is held and eased in (the controls are measured against the held identity's neutral
/// face), then takes its frames, and the controls read about 0 on that face.
#[test]
fn a_neutral_calibration_waits_for_the_identity_lock() {
    let models = models();
    let settings = TrackSettings {
        lock_identity: true,
        ..TrackSettings::default()
    };
    let mut tracker = Tracker::new(models.clone(), settings).unwrap();
    tracker.calibrate_neutral(10);
    let mut out = TrackOutput::new(&models);
    let image = still_demo_face();
    let mut held_at = None;
    for i in 0..LOCK_FRAMES + EASE_FRAMES + 20 {
        let status = tracker.track(&image, i as f64 / 30.0, &mut out).unwrap();
        assert_eq!(status, TrackStatus::Tracking, "frame {i}");
        if tracker.identity_lock() != LockState::Held {
            assert_eq!(tracker.calibrating(), Some((0, 10)), "frame {i}: waiting");
        }
        if is_held(tracker.identity_lock()) && held_at.is_none() {
            held_at = Some(i);
        }
    }
    let held_at = held_at.expect("the identity is held");
    assert!(held_at < LOCK_FRAMES + 5, "held at frame {held_at}");
    assert_eq!(tracker.calibrating(), None, "calibrated after the lock");
    let largest = out
        .controls
        .values
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(largest < 0.1, "{:?}", out.controls.values);
}

/// A head shaken fast (the demo's face turning ±25° in yaw and back four times a second, up to
/// 20° between frames at 30 fps, its expression held) stays tracked, and the reported landmarks
/// stay on the face (no frame over 10 % NME, the hard cases' bar): what a user shaking their head
/// in front of the camera sees.
#[test]
fn a_head_shaken_fast_is_followed() {
    let models = models();
    let mut seq = sequence();
    let base = seq.base_params().clone();
    let mut tracker = Tracker::new(models.clone(), TrackSettings::default()).unwrap();
    let mut out = TrackOutput::new(&models);
    let mut image = RgbImage::default();
    let mut p = base.clone();
    let mut truth = vec![0.0; 2 * models.model.n_landmarks()];
    let mut errors = Vec::new();
    let still: u32 = 15;
    for i in 0..still + 90 {
        let phase = i.saturating_sub(still) as f64 / 7.5;
        let yaw = 25f64.to_radians() * (2.0 * std::f64::consts::PI * phase).sin();
        p.set_yaw(base.yaw() + yaw);
        seq.render(&p, &mut image);
        let status = tracker.track(&image, i as f64 / 30.0, &mut out).unwrap();
        assert_eq!(status, TrackStatus::Tracking, "frame {i}");
        if i >= still {
            models.model.project_landmarks(&p, &mut truth);
            let points: Vec<[f64; 2]> = truth.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
            errors.push(100.0 * nme(&points, &out.landmarks, bbox_norm(&points)));
        }
    }
    errors.sort_by(f64::total_cmp);
    let worst = errors[errors.len() - 1];
    // Measured: mean 2.35 %, worst 6.42 %. Without the cold start in the box around a fast
    // head's warm fit, mean 4.25 % and worst 15.26 %: the warm starts lag and the fit lands
    // beside the face, confidently.
    assert!(
        worst < 10.0,
        "a frame of the shake {worst:.2} % off the true landmarks (NME)"
    );
}
