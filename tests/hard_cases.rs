//! The hard cases: the shared real clips made harder (every 4th and every 6th frame, cuts between
//! clips with face-free stretches, small faces, 45° in the image plane) by
//! `scripts/hard_cases.py`, tracked with `facetrack track` and scored against the moved reference
//! tracks by `scripts/score_cases.py`. One test a group; each fails with the whole table of its group.
//!
//! Needs `python3` and `ffmpeg` on PATH (the test passes with a note on stderr without them) and
//! the shared clips (`../shared/data/video/`, or `$FACETRACK_SHARED`). The cases are made once
//! into `target/hard_cases/` and kept while their recipe is unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Share of the frames with a reference face that must be tracked (success=1).
const MIN_TRACKED: f64 = 0.99;
/// Share of the consensus frames (both references agree) over 10 % NME must be below this.
const MAX_FAIL10: f64 = 0.01;
/// Frames from a face segment's first frame (cuts) to its first frame tracked within 10 % NME.
const MAX_REFIND_FRAMES: u64 = 3;
/// The tracker's threshold (`facetrack::track::CONFIDENCE_THRESHOLD`).
const CONFIDENCE_THRESHOLD: f64 = facetrack::track::CONFIDENCE_THRESHOLD;
/// The tracking method every case is run with.
const METHOD: &str = "parm";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/hard_cases`: beside `CARGO_TARGET_TMPDIR` (`target/tmp`), kept between runs.
fn cache_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("hard_cases")
}

/// Why the tests cannot run here, if a tool is missing.
fn missing_tool() -> Option<String> {
    for (tool, arg) in [("python3", "--version"), ("ffmpeg", "-version")] {
        match Command::new(tool).arg(arg).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => return Some(format!("`{tool} {arg}` exited with {}", o.status)),
            Err(e) => return Some(format!("`{tool}` cannot be run: {e}")),
        }
    }
    None
}

/// Makes the group's cases (or keeps them), tracks and scores them; the JSON report and the
/// printed table.
fn score(group: &str) -> (serde_json::Value, String) {
    let cache = cache_dir();
    let made = Command::new("python3")
        .arg(repo().join("scripts/hard_cases.py"))
        .arg(&cache)
        .args(["--only", group])
        .output()
        .expect("run python3 scripts/hard_cases.py");
    assert!(
        made.status.success(),
        "scripts/hard_cases.py {} --only {group} failed ({}):\n{}{}",
        cache.display(),
        made.status,
        String::from_utf8_lossy(&made.stdout),
        String::from_utf8_lossy(&made.stderr)
    );
    eprint!("{}", String::from_utf8_lossy(&made.stdout));

    let json_path = cache.join(format!("score_{group}.json"));
    let _ = std::fs::remove_file(&json_path);
    let scored = Command::new("python3")
        .arg(repo().join("scripts/score_cases.py"))
        .args(["--facetrack", env!("CARGO_BIN_EXE_facetrack")])
        .arg(&cache)
        .args(["--method", METHOD, "--cases", group, "--json"])
        .arg(&json_path)
        .output()
        .expect("run python3 scripts/score_cases.py");
    let table = format!(
        "{}{}",
        String::from_utf8_lossy(&scored.stdout),
        String::from_utf8_lossy(&scored.stderr)
    );
    assert!(
        scored.status.success(),
        "scripts/score_cases.py failed ({}):\n{table}",
        scored.status
    );
    let text = std::fs::read_to_string(&json_path).unwrap_or_else(|e| {
        panic!(
            "scripts/score_cases.py wrote no {}: {e}\n{table}",
            json_path.display()
        )
    });
    let report: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", json_path.display()));
    (report, table)
}

/// What a case misses of the bars, one line each.
fn misses(case: &serde_json::Value, cuts: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = case["error"].as_str() {
        out.push(format!("no result: {e}"));
    }
    match case["tracked"].as_f64() {
        Some(t) if t >= MIN_TRACKED => {}
        Some(t) => out.push(format!("tracked {t:.3} < {MIN_TRACKED}")),
        None => out.push("tracked: no figure".to_owned()),
    }
    let consensus_frames = case["consensus_frames"].as_u64().unwrap_or(0);
    match case["fail10"].as_f64() {
        Some(f) if f < MAX_FAIL10 => {}
        Some(f) => out.push(format!("fail10 {f:.3} >= {MAX_FAIL10}")),
        None if consensus_frames == 0 => {}
        None => out.push("fail10: no frame tracked to measure".to_owned()),
    }
    match case["tracked_without_ref"].as_u64() {
        // Not one frame may be reported tracked where there is no face.
        Some(0) => {}
        Some(n) => out.push(format!("tracked_without_ref {n} > 0")),
        None => out.push("tracked_without_ref: no figure".to_owned()),
    }
    // No frame is reported tracked below the tracker's confidence threshold.
    if let Some(c) = case["confidence_tracked_min"].as_f64()
        && c < CONFIDENCE_THRESHOLD
    {
        out.push(format!(
            "a tracked frame's confidence {c:.3} < {CONFIDENCE_THRESHOLD}"
        ));
    }
    if cuts {
        match case["refind"].as_u64() {
            Some(n) if n <= MAX_REFIND_FRAMES => {}
            Some(n) => out.push(format!("refind {n} frames > {MAX_REFIND_FRAMES}")),
            None => out.push("refind: no figure (segments.json?)".to_owned()),
        }
    }
    out
}

fn check(group: &str, expected_cases: usize) {
    if let Some(why) = missing_tool() {
        // CI installs both (scripts/setup.sh): there a missing tool is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "hard cases `{group}`: {why}; scripts/setup.sh installs them"
        );
        eprintln!("hard cases `{group}` skipped: {why}");
        return;
    }
    let (report, table) = score(group);
    let cases = report["cases"]
        .as_array()
        .expect("the report's `cases` is a list");
    assert_eq!(
        cases.len(),
        expected_cases,
        "{group}: {} cases scored, {expected_cases} expected\n{table}",
        cases.len()
    );
    let mut failed = Vec::new();
    for case in cases {
        let name = case["case"].as_str().unwrap_or("?");
        for m in misses(case, group == "cuts") {
            failed.push(format!("{name}: {m}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{group}: {} of the bars missed (tracked >= {MIN_TRACKED}, fail10 < {MAX_FAIL10}, \
         tracked_without_ref = 0, refind <= {MAX_REFIND_FRAMES}):\n{}\n\n{table}",
        failed.len(),
        failed.join("\n")
    );
    eprintln!("{table}");
}

#[test]
fn clean_clips_are_tracked_throughout() {
    check("clean", 10);
}

#[test]
fn every_fourth_frame_is_tracked() {
    check("fast", 10);
}

#[test]
fn every_sixth_frame_is_tracked() {
    check("faster", 5);
}

#[test]
fn cuts_lose_the_face_on_face_free_stretches_and_find_the_next_one() {
    check("cuts", 1);
}

#[test]
fn small_faces_in_large_frames_are_tracked() {
    check("small", 2);
}

#[test]
fn faces_turned_45_degrees_in_the_image_are_tracked() {
    check("rotated", 2);
}
