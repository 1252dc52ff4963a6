//! What `docs/reliability.md` promises, checked on the built binary: signals end a run with every
//! row whole and the summary printed; a killed run leaves whole rows; a full disk, a damaged
//! frame or a closed pipe is reported and makes the exit status non-zero, never a panic; outputs
//! never overwrite inputs or a user's files; model files that do not belong where they are put
//! are refused.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn data_dir() -> PathBuf {
    root().join("../shared/data")
}

fn facetrack() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_facetrack"));
    c.current_dir(root()).env_remove("FACETRACK_MODELS");
    c
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn summary(stdout: &[u8]) -> serde_json::Value {
    let t = text(stdout);
    let line = t.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: stdout {t:?}"))
}

/// The CSV's lines, each checked to have the header's number of fields: a row cut in the middle
/// fails here.
fn whole_rows(path: &Path) -> Vec<String> {
    let t = std::fs::read_to_string(path).unwrap();
    assert!(
        t.is_empty() || t.ends_with('\n'),
        "the file ends inside a row"
    );
    let mut lines = t.lines();
    let fields = lines.next().expect("a header").split(',').count();
    let rows: Vec<String> = lines.map(str::to_owned).collect();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.split(',').count(), fields, "row {i} is not whole: {r:?}");
    }
    rows
}

fn wait(child: Child, limit: Duration) -> Output {
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("facetrack did not end within {limit:?}");
        }
    }
}

/// Starts an endless demo run recording to `csv`, and waits until rows are on disk.
fn start_demo_run(csv: &Path) -> Child {
    let child = facetrack()
        .args(["track", "--source", "demo", "--csv"])
        .arg(csv)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while std::fs::metadata(csv).map_or(0, |m| m.len()) < 100_000 {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no rows after two minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

#[test]
fn sigterm_sighup_and_sigint_end_track_with_the_summary_and_every_row() {
    for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("out.csv");
        let child = start_demo_run(&csv);
        unsafe { libc::kill(child.id() as i32, signal) };
        let out = wait(child, Duration::from_secs(60));
        let err = text(&out.stderr);
        assert!(out.status.success(), "signal {signal}: {err}");
        let s = summary(&out.stdout);
        assert_eq!(s["interrupted"], true);
        let rows = whole_rows(&csv);
        // Every frame fitted is counted and has its row.
        assert_eq!(s["frames"], rows.len() as u64, "signal {signal}");
        assert_eq!(s["csv_rows"], rows.len() as u64, "signal {signal}");
        assert_eq!(s["lost_rows"], 0);
    }
}

#[test]
fn a_killed_run_leaves_only_whole_rows() {
    for wait_ms in [300, 1700] {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("out.csv");
        let mut child = start_demo_run(&csv);
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!whole_rows(&csv).is_empty());
    }
}

#[test]
fn a_full_disk_keeps_whole_rows_and_fails_the_run_naming_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let mut cmd = facetrack();
    cmd.args(["track", "--source", "demo", "--frames", "300", "--csv"])
        .arg(&csv);
    // A file-size limit fails the writes past 200 KB as a full disk would (EFBIG, not ENOSPC).
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 200_000,
                rlim_max: 200_000,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let rows = whole_rows(&csv);
    assert!(!rows.is_empty() && rows.len() < 300, "{} rows", rows.len());
    let s = summary(&out.stdout);
    assert_eq!(s["frames"], 300);
    assert_eq!(s["csv_rows"], rows.len() as u64);
    assert_eq!(s["lost_rows"], 300 - rows.len() as u64);
    let lost = format!("{} of 300 frames have no row in", 300 - rows.len());
    assert!(err.contains(&lost), "{err}");
    // The operating system's reason, once in the closing line.
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("facetrack: "), "{err}");
    assert_eq!(last.matches("File too large").count(), 1, "{err}");
}

#[test]
fn a_closed_stdout_is_an_error_not_a_panic_and_the_rows_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let mut child = facetrack()
        .args(["track", "--source", "demo", "--frames", "40", "--csv"])
        .arg(&csv)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("standard output"), "{err}");
    assert_eq!(whole_rows(&csv).len(), 40);
}

/// Copies of the committed models in a folder of their own, for `$FACETRACK_MODELS`.
fn models_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root().join("models")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    dir
}

fn face_image(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(data_dir().join("faces/takeo.ppm"), &p).unwrap();
    p
}

#[test]
fn a_closed_stderr_does_not_stop_fit() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs");
    std::fs::create_dir(&imgs).unwrap();
    for i in 0..4 {
        face_image(&imgs, &format!("face{i}.ppm"));
        // Each bad image writes a warning to the closed stderr.
        std::fs::write(imgs.join(format!("bad{i}.jpg")), b"\xFF\xD8\xFF\xE0 no").unwrap();
    }
    let out_path = dir.path().join("out.jsonl");
    let mut child = facetrack()
        .args(["fit", "--images"])
        .arg(&imgs)
        .arg("--out")
        .arg(&out_path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let lines = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(lines.lines().count(), 8, "{lines}");
}

#[test]
fn outputs_never_overwrite_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let img = face_image(dir.path(), "face.ppm");
    let before = std::fs::read(&img).unwrap();
    let out = facetrack()
        .args(["fit", "--images"])
        .arg(&img)
        .arg("--out")
        .arg(&img)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is an input"),
        "{}",
        text(&out.stderr)
    );
    // Another name of the same file, in a folder run.
    let out = facetrack()
        .args(["fit", "--images"])
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join(".").join("face.ppm"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(&img).unwrap(), before);

    // A failed single fit leaves a file already at --out as it was.
    let results = dir.path().join("results.jsonl");
    std::fs::write(&results, b"the user's file\n").unwrap();
    let bad = dir.path().join("bad.jpg");
    std::fs::write(&bad, b"\xFF\xD8\xFF\xE0 no").unwrap();
    let out = facetrack()
        .args(["fit", "--images"])
        .arg(&bad)
        .arg("--out")
        .arg(&results)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(&results).unwrap(), b"the user's file\n");

    // track: the CSV cannot be a frame of the source.
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    let frame = face_image(&frames, "f0.ppm");
    let out = facetrack()
        .args(["track", "--source"])
        .arg(format!("images:{}", frames.display()))
        .arg("--csv")
        .arg(&frame)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(&frame).unwrap(), before);
}

#[test]
fn a_session_is_never_recorded_over_a_user_s_files() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("session");
    std::fs::create_dir_all(session.join("frames")).unwrap();
    std::fs::write(session.join("frames/00000000.png"), b"mine").unwrap();
    std::fs::write(session.join("session.csv"), b"mine too").unwrap();
    let out = facetrack()
        .args([
            "track",
            "--source",
            "demo",
            "--frames",
            "5",
            "--record-session",
        ])
        .arg(&session)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already holds files"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read(session.join("frames/00000000.png")).unwrap(),
        b"mine"
    );
    assert_eq!(
        std::fs::read(session.join("session.csv")).unwrap(),
        b"mine too"
    );
}

#[test]
fn model_files_that_do_not_belong_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let img = face_image(dir.path(), "face.ppm");
    let out_path = dir.path().join("out.jsonl");
    let run = |models: &Path, method: &str| {
        facetrack()
            .env("FACETRACK_MODELS", models)
            .args(["fit", "--method", method, "--images"])
            .arg(&img)
            .arg("--out")
            .arg(&out_path)
            .output()
            .unwrap()
    };
    // PRM's file where PARM's is expected, and the tracking cascade where the first fit's is.
    for (from, to) in [("prm.bin", "parm.bin"), ("parm_track.bin", "parm.bin")] {
        let models = models_copy();
        std::fs::copy(models.path().join(from), models.path().join(to)).unwrap();
        let out = run(models.path(), "parm");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{from} as {to}: {err}");
        assert!(err.contains("is expected"), "{err}");
    }
    // A hand-edited PCLM file asking for a trillion coefficients.
    let models = models_copy();
    let pclm = models.path().join("pclm.json");
    let text_before = std::fs::read_to_string(&pclm).unwrap();
    let edited = text_before.replace("\"n_id\": 40", "\"n_id\": 1000000000000");
    assert_ne!(edited, text_before);
    std::fs::write(&pclm, edited).unwrap();
    let out = run(models.path(), "pclm");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("pclm.json does not fit the face model"),
        "{err}"
    );
}

#[test]
fn a_fit_that_diverges_is_an_error_line_never_null_landmarks() {
    let dir = tempfile::tempdir().unwrap();
    let img = face_image(dir.path(), "face.ppm");
    let boxes = dir.path().join("boxes.jsonl");
    std::fs::write(
        &boxes,
        "{\"image\": \"face.ppm\", \"box\": [-1e308, -1e308, 1e308, 1e308]}\n",
    )
    .unwrap();
    let out_path = dir.path().join("out.jsonl");
    let out = facetrack()
        .args(["fit", "--method", "ert", "--images"])
        .arg(&img)
        .arg("--boxes")
        .arg(&boxes)
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    if let Ok(written) = std::fs::read_to_string(&out_path) {
        assert!(!written.contains("null"), "{written}");
    }
}

#[test]
fn file_names_that_are_not_utf8_stay_apart() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs");
    std::fs::create_dir(&imgs).unwrap();
    for name in [&b"face\xff.ppm"[..], &b"face\xfe.ppm"[..]] {
        let plain = face_image(dir.path(), "plain.ppm");
        std::fs::rename(plain, imgs.join(std::ffi::OsStr::from_bytes(name))).unwrap();
    }
    let out_path = dir.path().join("out.jsonl");
    let out = facetrack()
        .args(["fit", "--images"])
        .arg(&imgs)
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let names: Vec<String> = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["image"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["face\\xFE.ppm", "face\\xFF.ppm"]);
}

/// A PNG whose header claims `w`×`h` grey pixels, with a token of image data.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        c.extend_from_slice(&body);
        c.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        c
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

#[test]
fn a_huge_image_is_refused_before_it_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("huge.png");
    std::fs::write(&img, png_header_only(16000, 16000)).unwrap();
    let t0 = Instant::now();
    let out = facetrack()
        .args(["fit", "--images"])
        .arg(&img)
        .arg("--out")
        .arg(dir.path().join("out.jsonl"))
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("16000×16000 pixels is more than"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(30));
}

#[test]
fn warnings_of_the_last_frames_are_printed_and_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    for i in 0..3 {
        face_image(&frames, &format!("f{i}.ppm"));
    }
    // The last two frames cannot be decoded: their warnings come after the last fitted frame.
    for i in 3..5 {
        std::fs::write(frames.join(format!("f{i}.ppm")), b"P6\n").unwrap();
    }
    let out = facetrack()
        .args(["track", "--source"])
        .arg(format!("images:{}", frames.display()))
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("f3.ppm") && err.contains("f4.ppm"), "{err}");
    assert_eq!(summary(&out.stdout)["skipped_frames"], 2);
}
