//! The desktop app end to end: the built binary runs the demo in a window under Xvfb (software
//! rendering), exits after a number of frames, and its screenshot and recording are checked —
//! the frame where it belongs, the mesh over the face, the panel drawn, a CSV row for every
//! fitted frame. And with no display it says so, with a hint, instead of panicking.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_facetrack");
/// Frames the window runs: inside the demo's still segment (its first 90 frames), so that every
/// frame shown is the same picture.
const FRAMES: u64 = 60;
const TIMEOUT: Duration = Duration::from_secs(240);

/// One window at a time: each renders in software on every core, and two at once halve each
/// other's frame rate, which the pace test measures.
static ONE_WINDOW: Mutex<()> = Mutex::new(());

fn one_window() -> MutexGuard<'static, ()> {
    ONE_WINDOW.lock().unwrap_or_else(PoisonError::into_inner)
}

fn xvfb_run() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("xvfb-run"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("xvfb-run is not installed: run scripts/setup.sh (it installs xvfb, xauth and Mesa's software drivers)")
        })
}

/// Runs `cmd` to its end or kills it at the deadline.
fn run_with_timeout(mut cmd: Command, what: &str) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(out) => out.unwrap_or_else(|e| panic!("{what}: {e}")),
        Err(_) => {
            // SIGTERM lets xvfb-run take its X server down with it.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            panic!("{what} did not finish in {TIMEOUT:?}");
        }
    }
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary folder")
}

#[derive(Debug)]
struct Rgb {
    w: u32,
    h: u32,
    data: Vec<u8>,
}

impl Rgb {
    fn open(path: &Path) -> Self {
        let img = image::open(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
            .to_rgb8();
        Self {
            w: img.width(),
            h: img.height(),
            data: img.into_raw(),
        }
    }

    fn at(&self, x: u32, y: u32) -> [f64; 3] {
        let i = 3 * (y.min(self.h - 1) * self.w + x.min(self.w - 1)) as usize;
        [
            f64::from(self.data[i]),
            f64::from(self.data[i + 1]),
            f64::from(self.data[i + 2]),
        ]
    }
}

/// Mean absolute difference per channel between the screenshot's view of frame pixels
/// `[x0, x1) × [y0, y1)` and the plain frame.
fn difference(shot: &Rgb, vp: [f64; 4], frame: &Rgb, x0: u32, x1: u32, y0: u32, y1: u32) -> f64 {
    let (sx, sy) = (vp[2] / f64::from(frame.w), vp[3] / f64::from(frame.h));
    let (mut sum, mut n) = (0.0, 0.0);
    for y in y0..y1 {
        for x in x0..x1 {
            let a = frame.at(x, y);
            let px = (vp[0] + (f64::from(x) + 0.5) * sx) as u32;
            let py = (vp[1] + (f64::from(y) + 0.5) * sy) as u32;
            let b = shot.at(px, py);
            sum += (0..3).map(|k| (a[k] - b[k]).abs()).sum::<f64>() / 3.0;
            n += 1.0;
        }
    }
    sum / n
}

#[test]
fn the_window_runs_the_demo_and_its_screenshot_and_recording_are_right() {
    let _window = one_window();
    let xvfb = xvfb_run();
    let dir = temp_dir();
    let shot_path = dir.path().join("shot.png");
    let csv_path = dir.path().join("gui.csv");
    let mut cmd = Command::new(&xvfb);
    cmd.args([
        "-a",
        "-s",
        "-screen 0 1280x800x24",
        BIN,
        "run",
        "--source",
        "demo",
    ])
    .args(["--exit-after-frames", &FRAMES.to_string()])
    .arg("--screenshot")
    .arg(&shot_path)
    .arg("--record")
    .arg(&csv_path);
    let t0 = Instant::now();
    let out = run_with_timeout(cmd, "facetrack run under xvfb-run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "facetrack run failed ({}):\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    eprintln!("ran in {:.1} s: {stderr}", t0.elapsed().as_secs_f64());

    // The summary line.
    let line = stdout.lines().last().expect("a summary line on stdout");
    let summary: serde_json::Value = serde_json::from_str(line).expect("the summary is JSON");
    let frames = summary["frames"].as_u64().expect("frames");
    let rows = summary["rows"].as_u64().expect("rows");
    assert!(frames >= FRAMES, "{summary}");
    assert!(
        summary["window_fps"].as_f64().is_some_and(|f| f > 0.0),
        "{summary}"
    );
    assert!(
        summary["fit_fps"].as_f64().is_some_and(|f| f > 0.0),
        "{summary}"
    );
    let vp: Vec<f64> = summary["viewport"]
        .as_array()
        .expect("the frame's viewport")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect();
    let vp = [vp[0], vp[1], vp[2], vp[3]];
    let window = &summary["window"];

    // The recording: DESIGN.md's header, a row for every fitted frame, in order.
    let mut csv = csv::Reader::from_path(&csv_path).expect("the recording");
    let header: Vec<String> = csv
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let expected = [
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
        "lambda_3d",
        "id_0",
    ];
    assert_eq!(&header[..expected.len()], &expected, "{header:?}");
    assert!(header.iter().any(|h| h == "exp_0") && header.last().is_some_and(|h| h == "y_67"));
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (c_frame, c_x, c_y) = (col("frame"), col("x_0"), col("y_0"));
    let records: Vec<csv::StringRecord> = csv.records().map(|r| r.expect("a row")).collect();
    assert_eq!(
        records.len() as u64,
        rows,
        "rows in the file vs the summary"
    );
    assert!(rows >= frames, "{rows} rows for {frames} frames fitted");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r[c_frame].parse::<u64>().ok(), Some(i as u64), "row {i}");
        assert_eq!(r.len(), header.len(), "row {i}");
    }

    // The screenshot: the window, the frame in its letterbox, the mesh over the face.
    let shot = Rgb::open(&shot_path);
    assert_eq!(
        [u64::from(shot.w), u64::from(shot.h)],
        [
            window[0].as_u64().unwrap_or(0),
            window[1].as_u64().unwrap_or(0)
        ]
    );
    assert!(shot.w >= 800 && shot.h >= 480, "{}×{}", shot.w, shot.h);
    let plain_dir = dir.path().join("plain");
    let mut demo = Command::new(BIN);
    demo.args(["demo", "--frames", "1", "--out"])
        .arg(&plain_dir);
    let d = run_with_timeout(demo, "facetrack demo");
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
    let plain = Rgb::open(&plain_dir.join("demo_00000.png"));
    assert!(
        (vp[2] / vp[3] - f64::from(plain.w) / f64::from(plain.h)).abs() < 0.01,
        "{vp:?}"
    );

    // The face: the landmarks' box of the last frame shown (all frames are alike here).
    let last = &records[(frames - 1) as usize];
    let xs: Vec<f64> = (0..68).map(|k| last[c_x + k].parse().expect("x")).collect();
    let ys: Vec<f64> = (0..68).map(|k| last[c_y + k].parse().expect("y")).collect();
    let (x0, x1) = (
        xs.iter().copied().fold(f64::MAX, f64::min),
        xs.iter().copied().fold(f64::MIN, f64::max),
    );
    let (y0, y1) = (
        ys.iter().copied().fold(f64::MAX, f64::min),
        ys.iter().copied().fold(f64::MIN, f64::max),
    );
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let (hw, hh) = ((x1 - x0) / 4.0, (y1 - y0) / 4.0);
    let face = difference(
        &shot,
        vp,
        &plain,
        (cx - hw) as u32,
        (cx + hw) as u32,
        (cy - hh) as u32,
        (cy + hh) as u32,
    );
    // A corner of the frame, away from the face: the frame itself, drawn where it belongs.
    let corner = difference(&shot, vp, &plain, 8, 88, 8, 88);
    eprintln!("difference from the plain frame: face {face:.1}, corner {corner:.1}");
    assert!(face > 12.0, "no overlay on the face (difference {face:.1})");
    assert!(
        corner < 10.0,
        "the frame is not where it should be (difference {corner:.1})"
    );

    // The panel, left of the view: text on a plain background.
    let panel_w = vp[0] as u32;
    assert!(panel_w >= 200, "{vp:?}");
    let (mut bright, mut n) = (0u32, 0u32);
    for y in (0..shot.h).step_by(2) {
        for x in (4..panel_w - 4).step_by(2) {
            let [r, g, b] = shot.at(x, y);
            n += 1;
            if r + g + b > 400.0 {
                bright += 1;
            }
        }
    }
    let share = f64::from(bright) / f64::from(n);
    assert!(
        share > 0.005 && share < 0.5,
        "the panel looks blank ({share:.4} bright)"
    );
}

#[test]
fn without_a_display_it_says_so_and_names_the_headless_command() {
    let dir = temp_dir();
    let out = Command::new(BIN)
        .args(["run", "--source", "demo", "--exit-after-frames", "1"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_RUNTIME_DIR", dir.path())
        .output()
        .expect("facetrack runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot open a window"), "{stderr}");
    assert!(stderr.contains("facetrack track"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Runs the window on `video` until it ends; its summary and the wall time it took.
fn play(video: &Path, speed: &str, extra: &[&str]) -> (serde_json::Value, Duration) {
    let mut cmd = Command::new(xvfb_run());
    cmd.args(["-a", "-s", "-screen 0 1280x800x24", BIN, "run", "--source"])
        .arg(format!("video:{}", video.display()))
        .args(["--exit-after-frames", "1000", "--speed", speed])
        .args(extra);
    let t0 = Instant::now();
    let out = run_with_timeout(cmd, "facetrack run on a video");
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("a summary line")
        .to_owned();
    (serde_json::from_str(&line).expect("JSON"), took)
}

#[test]
fn the_window_plays_a_video_at_its_own_pace_showing_every_frame() {
    let _window = one_window();
    let dir = temp_dir();
    // Three seconds of the demo at 30 fps.
    let frames = dir.path().join("frames");
    let status = Command::new(BIN)
        .args(["demo", "--frames", "90", "--out"])
        .arg(&frames)
        .status()
        .expect("facetrack demo");
    assert!(status.success());
    let video = dir.path().join("demo.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-framerate", "30", "-i"])
        .arg(frames.join("demo_%05d.png"))
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&video)
        .status()
        .expect("ffmpeg on PATH");
    assert!(status.success());

    let (summary, took) = play(&video, "1", &[]);
    eprintln!("at its pace: {summary} in {took:?}");
    assert_eq!(summary["shown"], 90, "{summary}");
    assert_eq!(summary["frames"], 90, "{summary}");
    // The results are shown over the clip's 3 s (first to last frame: 89/30 s).
    let fit_fps = summary["fit_fps"].as_f64().unwrap();
    // (Under 30 only when the machine is too busy to fit 30 frames a second: playback then
    // waits for the fits rather than skipping frames.)
    assert!((25.0..=33.0).contains(&fit_fps), "{summary}");

    // Twice as fast: clearly faster, never faster than twice.
    let (summary, _) = play(&video, "2", &[]);
    assert_eq!(summary["shown"], 90, "{summary}");
    let fit_fps = summary["fit_fps"].as_f64().unwrap();
    assert!((36.0..=66.0).contains(&fit_fps), "{summary}");

    // As fast as it fits: every frame fitted, faster than the clip's pace.
    let (summary, _) = play(&video, "fastest", &[]);
    assert_eq!(summary["frames"], 90, "{summary}");
    assert!(summary["fit_fps"].as_f64().unwrap() > 33.0, "{summary}");

    // Started 2 s in (a seek): the last 30 frames, with their own numbers.
    let (summary, _) = play(&video, "1", &["--start", "2"]);
    assert_eq!(summary["frames"], 90, "{summary}");
    let shown = summary["shown"].as_u64().unwrap();
    assert!((29..=31).contains(&shown), "{summary}");
}

/// The pid of the running facetrack binary started under `parent`.
fn child_facetrack(parent: u32) -> Option<i32> {
    let bin = std::fs::canonicalize(BIN).ok()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let exe = std::fs::read_link(e.path().join("exe")).ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        // ppid is the second field after the parenthesised command name.
        let ppid: u32 = stat
            .rsplit(')')
            .next()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (exe == bin && ppid == parent).then_some(pid)
    })
}

#[test]
fn sigterm_closes_the_window_as_its_close_button_does() {
    let _window = one_window();
    let xvfb = xvfb_run();
    let dir = temp_dir();
    let csv_path = dir.path().join("gui.csv");
    let mut cmd = Command::new(&xvfb);
    cmd.args([
        "-a",
        "-s",
        "-screen 0 1280x800x24",
        BIN,
        "run",
        "--source",
        "demo",
        "--record",
    ])
    .arg(&csv_path);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xvfb-run starts");
    let t0 = Instant::now();
    let pid = loop {
        let rows = std::fs::read_to_string(&csv_path).map_or(0, |t| t.lines().count());
        if rows > 20
            && let Some(pid) = child_facetrack(child.id())
        {
            break pid;
        }
        assert!(t0.elapsed() < TIMEOUT, "the window recorded no rows");
        std::thread::sleep(Duration::from_millis(200));
    };
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let out = child.wait_with_output().expect("xvfb-run ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a summary");
    assert_eq!(summary["interrupted"], true);
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let fields = text.lines().next().unwrap().split(',').count();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert!(rows.iter().all(|r| r.split(',').count() == fields));
    assert_eq!(summary["rows"], rows.len() as u64);
}

#[test]
fn the_window_sends_every_fitted_frame_over_osc() {
    let _window = one_window();
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let port = receiver.local_addr().unwrap().port();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let drain = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match receiver.recv(&mut buf) {
                Ok(n) => got.push(buf[..n].to_vec()),
                Err(_) if flag.load(std::sync::atomic::Ordering::SeqCst) => return got,
                Err(_) => {}
            }
        }
    });
    let mut cmd = Command::new(xvfb_run());
    cmd.args(["-a", "-s", "-screen 0 1280x800x24", BIN, "run"])
        .args([
            "--source",
            "demo",
            "--exit-after-frames",
            &FRAMES.to_string(),
        ])
        .args(["--osc", &format!("127.0.0.1:{port}")]);
    let out = run_with_timeout(cmd, "facetrack run --osc under xvfb-run");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let datagrams = drain.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Every frame up to the last one shown was fitted, and so sent; later ones may be too.
    assert!(
        datagrams.len() as u64 >= FRAMES,
        "{} datagrams for {FRAMES} frames",
        datagrams.len()
    );
    let mut heads = 0;
    for d in &datagrams {
        let (_, packet) = rosc::decoder::decode_udp(d).expect("an OSC packet");
        let rosc::OscPacket::Bundle(b) = packet else {
            panic!("not a bundle: {packet:?}")
        };
        heads += b
            .content
            .iter()
            .filter(|p| matches!(p, rosc::OscPacket::Message(m) if m.addr == "/VMC/Ext/Bone/Pos"))
            .count();
    }
    // The still segment's face is tracked from its first frames.
    assert!(heads as u64 >= FRAMES - 5, "{heads} head bones");
}
