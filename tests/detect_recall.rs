//! The face detector's recall, alone and with the wider search's passes (enlarged 2×, turned by
//! ±45° and ±90°): on the shared clips (every 10th frame), on clips turned in the image plane, on
//! clips padded and shrunk to small faces, and on AFLW2000-3D by |yaw| and by the in-plane angle
//! of the head; and the detector's time per frame for each pass at 512×512 and 1280×720. A frame
//! is a hit when the best face's landmark-box centre lies inside the reference's 68-point box and
//! its side is within a factor 2 of the reference's (the larger side of that box).
//!
//! Needs ffmpeg (frames are extracted to PNG once, into `$FACETRACK_RECALL_CACHE` or the temp
//! folder) and takes about ten minutes on two cores:
//!
//!     cargo test --release --test detect_recall -- --ignored --nocapture

use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, FRAC_PI_8};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use facetrack::align::detect::{FaceDetector, bounds};
use facetrack::align::face_search::{
    CONFIDENT_SCORE, FaceSearch, FoundFace, SearchPass, SearchPasses,
};
use facetrack::capture::load_rgb;
use facetrack::fit::in_plane_angle;
use facetrack::image::GrayImage;
use facetrack::model::Params;
use rayon::prelude::*;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn cache() -> PathBuf {
    std::env::var_os("FACETRACK_RECALL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("facetrack-detect-recall"))
}

fn gray(path: &Path) -> GrayImage {
    let rgb = load_rgb(path).unwrap_or_else(|e| panic!("{e}"));
    let mut g = GrayImage::default();
    g.set_from_rgb(rgb.width, rgb.height, &rgb.data);
    g
}

/// How a clip is changed before detection.
#[derive(Debug, Clone, Copy)]
enum Variant {
    Plain,
    /// ffmpeg's `rotate` by this angle (clockwise on screen), onto a square of the diagonal.
    Turned(f64, &'static str),
    /// Padded to 4× its size, then scaled by 1/k.
    Small(u32),
}

impl Variant {
    fn name(&self) -> String {
        match self {
            Variant::Plain => "plain".into(),
            Variant::Turned(a, _) => format!("turned {:+.1}°", a.to_degrees()),
            Variant::Small(k) => format!("pad 4×, scale 1/{k}"),
        }
    }

    fn filter(&self) -> String {
        let select = "select=not(mod(n\\,10))";
        match self {
            Variant::Plain => select.into(),
            Variant::Turned(_, expr) => format!("{select},rotate={expr}:ow=hypot(iw\\,ih):oh=ow"),
            Variant::Small(k) => {
                format!("{select},pad=4*iw:4*ih:(ow-iw)/2:(oh-ih)/2,scale=iw/{k}:ih/{k}")
            }
        }
    }

    fn folder(&self) -> String {
        match self {
            Variant::Plain => "plain".into(),
            Variant::Turned(a, _) => format!("turn{:.0}", a.to_degrees() * 10.0),
            Variant::Small(k) => format!("small{k}"),
        }
    }

    /// Where a point of the original clip lands, for an input `iw × ih` and output `ow × oh`.
    fn place(&self, p: [f64; 2], input: [f64; 2], output: [f64; 2]) -> [f64; 2] {
        match *self {
            Variant::Plain => p,
            Variant::Turned(a, _) => {
                let (s, c) = a.sin_cos();
                let (du, dv) = (p[0] - (input[0] - 1.0) / 2.0, p[1] - (input[1] - 1.0) / 2.0);
                [
                    c * du - s * dv + (output[0] - 1.0) / 2.0,
                    s * du + c * dv + (output[1] - 1.0) / 2.0,
                ]
            }
            Variant::Small(k) => {
                let k = f64::from(k);
                [
                    (p[0] + 1.5 * input[0] + 0.5) / k - 0.5,
                    (p[1] + 1.5 * input[1] + 0.5) / k - 0.5,
                ]
            }
        }
    }

    /// How far the clip's heads are rolled further.
    fn turn(&self) -> f64 {
        match *self {
            Variant::Turned(a, _) => a,
            _ => 0.0,
        }
    }

    fn scale(&self) -> f64 {
        match *self {
            Variant::Small(k) => 1.0 / f64::from(k),
            _ => 1.0,
        }
    }
}

/// One image and where its face is.
struct Frame {
    path: PathBuf,
    lo: [f64; 2],
    hi: [f64; 2],
    side: f64,
    /// The head's in-plane angle (radians, `in_plane_angle` of the reference pose).
    angle: f64,
    /// The row of the table it counts in.
    group: String,
}

fn pose_angle(pitch: f64, yaw: f64, roll: f64) -> f64 {
    let mut pose = Params::zeros(0, 0);
    pose.set_pitch(pitch);
    pose.set_yaw(yaw);
    pose.set_roll(roll);
    in_plane_angle(&pose)
}

/// Every 10th frame of a clip, changed by `variant`, extracted once.
fn clip_frames(clip: &str, variant: Variant) -> Vec<Frame> {
    let dir = data().join("video").join(clip);
    let out = cache().join(clip).join(variant.folder());
    let done = out.join("done");
    if !done.exists() {
        std::fs::create_dir_all(&out).unwrap();
        let status = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-i"])
            .arg(dir.join(format!("{clip}.mp4")))
            .args([
                "-vf",
                &variant.filter(),
                "-vsync",
                "vfr",
                "-start_number",
                "0",
            ])
            .arg(out.join("%05d.png"))
            .status()
            .expect("ffmpeg (apt-get install -y ffmpeg)");
        assert!(status.success(), "ffmpeg failed on {clip}");
        std::fs::write(&done, b"").unwrap();
    }
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("info.json")).unwrap()).unwrap();
    let input = [
        info["width"].as_f64().unwrap(),
        info["height"].as_f64().unwrap(),
    ];
    let refs = std::fs::read_to_string(dir.join("ref_3ddfa.jsonl")).unwrap();
    let mut frames = Vec::new();
    for line in refs.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let n = v["frame"].as_u64().unwrap();
        if !n.is_multiple_of(10) || !v["found"].as_bool().unwrap_or(false) {
            continue;
        }
        let path = out.join(format!("{:05}.png", n / 10));
        if !path.exists() {
            continue;
        }
        let (w, h) = image::image_dimensions(&path).unwrap();
        let output = [f64::from(w), f64::from(h)];
        let pts: Vec<[f64; 2]> = v["landmarks_2d"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
            .collect();
        let (lo0, hi0) = bounds(pts.iter().copied());
        let deg = |k: &str| v["pose_deg"][k].as_f64().unwrap().to_radians();
        let (lo, hi) = bounds(pts.iter().map(|&p| variant.place(p, input, output)));
        frames.push(Frame {
            path,
            lo,
            hi,
            side: (hi0[0] - lo0[0]).max(hi0[1] - lo0[1]) * variant.scale(),
            angle: pose_angle(deg("pitch"), deg("yaw"), deg("roll")) + variant.turn(),
            group: format!("{clip} {}", variant.name()),
        });
    }
    frames
}

/// `label [lo, hi)` for the edges around `deg`; the last bucket is `last`.
fn bucket(deg: f64, edges: &[f64], label: &str, last: &str) -> String {
    let k = edges.iter().take_while(|&&e| deg >= e).count();
    match edges.get(k) {
        Some(hi) if k > 0 => format!("{label} [{:.0}, {hi:.0})", edges[k - 1]),
        _ => format!("{label} {last}"),
    }
}

/// The 1,600 AFLW2000-3D images, grouped by |yaw|, and the groups by in-plane angle.
fn aflw_frames() -> (Vec<Frame>, Vec<String>) {
    let dir = data().join("aflw2000-3d");
    let text = std::fs::read_to_string(dir.join("annotations.jsonl")).unwrap();
    let mut frames = Vec::new();
    let mut roll_groups = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let pts = v["pt3d_68"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()]);
        let (lo, hi) = bounds(pts);
        let yaw = v["pose"]["yaw"].as_f64().unwrap().to_degrees().abs();
        let angle = pose_angle(
            v["pose"]["pitch"].as_f64().unwrap(),
            v["pose"]["yaw"].as_f64().unwrap(),
            v["pose"]["roll"].as_f64().unwrap(),
        );
        let roll = angle.to_degrees().abs();
        frames.push(Frame {
            path: dir.join("images").join(v["image"].as_str().unwrap()),
            lo,
            hi,
            side: (hi[0] - lo[0]).max(hi[1] - lo[1]),
            angle,
            group: bucket(yaw, &[0.0, 30.0, 60.0], "|yaw|", "[60, 90]"),
        });
        roll_groups.push(bucket(roll, &[0.0, 15.0, 30.0, 45.0], "|in-plane|", "≥ 45"));
    }
    (frames, roll_groups)
}

#[derive(Debug, Clone, Copy)]
struct Found {
    centre: [f64; 2],
    side: f64,
    score: f64,
    /// The angle of the view it was found in.
    angle: f64,
}

impl From<FoundFace> for Found {
    fn from(f: FoundFace) -> Self {
        Self {
            centre: f.centre(),
            side: f.side(),
            score: f.detection.score,
            angle: f.angle(),
        }
    }
}

/// Whether the view a face was found in shows it within 30° of upright: a cold fit there works
/// (`tests/in_plane.rs`: from 30° on, the fit's error grows fast).
fn upright_enough(f: &Frame, d: &Found) -> bool {
    use std::f64::consts::{PI, TAU};
    let off = (f.angle - d.angle + PI).rem_euclid(TAU) - PI;
    off.abs() <= 30f64.to_radians()
}

const PASSES: [SearchPass; 6] = [
    SearchPass::Plain,
    SearchPass::Enlarged,
    SearchPass::Turned(FRAC_PI_4),
    SearchPass::Turned(-FRAC_PI_4),
    SearchPass::Turned(FRAC_PI_2),
    SearchPass::Turned(-FRAC_PI_2),
];

/// The modes compared: groups of passes (indices into `PASSES`) tried in order, and the score
/// from which a face ends the search (below it the search goes on and the best face of all the
/// passes run wins). `FaceSearch::find` is the last three, less its orienting step; 0 is the
/// first face found.
const MODES: [(&str, &[&[usize]], f64); 7] = [
    ("plain", &[&[0]], 0.0),
    ("+2×, first", &[&[0], &[1]], 0.0),
    ("+±45°, first", &[&[0], &[2, 3]], 0.0),
    ("+±45°,±90°, first", &[&[0], &[2, 3], &[4, 5]], 0.0),
    ("find +2×", &[&[0], &[1]], CONFIDENT_SCORE),
    ("find TURNED", &[&[0], &[2, 3], &[4, 5]], CONFIDENT_SCORE),
    ("find ALL", &[&[0], &[1], &[2, 3], &[4, 5]], CONFIDENT_SCORE),
];

/// Where `search` puts what `FaceSearch::find` returns with `SearchPasses::TURNED` (oriented).
const FIND_TURNED: usize = PASSES.len();

/// Each pass's best face on one frame, `FaceSearch::find`'s with `TURNED`, and the plain pass's
/// with the minimum face size at 20.
fn search(
    frame: &Frame,
    search: &mut (FaceSearch, FaceDetector),
    min20: bool,
) -> Vec<Option<Found>> {
    let image = gray(&frame.path);
    search.0.set_passes(SearchPasses::ALL);
    let mut out: Vec<Option<Found>> = PASSES
        .iter()
        .map(|&pass| search.0.run(&image, pass).map(Found::from))
        .collect();
    search.0.set_passes(SearchPasses::TURNED);
    out.push(search.0.find(&image).map(Found::from));
    if min20 {
        out.push(search.1.detect_best(&image).map(|d| Found {
            centre: [
                (d.face_box.left + d.face_box.right) / 2.0,
                (d.face_box.top + d.face_box.bottom) / 2.0,
            ],
            side: d.face_box.right - d.face_box.left,
            score: d.score,
            angle: 0.0,
        }));
    }
    out
}

fn mode_result(found: &[Option<Found>], groups: &[&[usize]], confident: f64) -> Option<Found> {
    let mut best: Option<Found> = None;
    for g in groups {
        for d in g.iter().filter_map(|&i| found[i]) {
            if best.is_none_or(|b| d.score > b.score) {
                best = Some(d);
            }
        }
        if best.is_some_and(|b| b.score >= confident) {
            break;
        }
    }
    best
}

fn hit(f: &Frame, d: &Found) -> bool {
    let c = d.centre;
    let inside = c[0] >= f.lo[0] && c[0] <= f.hi[0] && c[1] >= f.lo[1] && c[1] <= f.hi[1];
    let ratio = d.side / f.side;
    inside && (0.5..=2.0).contains(&ratio)
}

/// Hits and wrong faces (a best face that is not a hit) by group, for each mode (and min 20).
/// Rows in the order groups first appear, or sorted.
fn table(
    title: &str,
    frames: &[Frame],
    groups: &[String],
    results: &[Vec<Option<Found>>],
    sort: bool,
) {
    let with_min20 = results.first().is_some_and(|r| r.len() > FIND_TURNED + 1);
    let mut names: Vec<&String> = Vec::new();
    for g in groups {
        if !names.contains(&g) {
            names.push(g);
        }
    }
    if sort {
        names.sort();
    }
    println!(
        "\n{title}: recall % (wrong faces %) and hits in a view within 30° of upright % by mode"
    );
    print!("| set | frames |");
    for (m, _, _) in MODES {
        print!(" {m} |");
    }
    print!(" find TURNED, oriented |");
    if with_min20 {
        print!(" plain, min face 20 |");
    }
    println!();
    println!(
        "|---|---|{}",
        "---|".repeat(MODES.len() + 1 + usize::from(with_min20))
    );
    let mut all_names = names.clone();
    let total = "all".to_string();
    if names.len() > 1 {
        all_names.push(&total);
    }
    for name in all_names {
        let idx: Vec<usize> = (0..frames.len())
            .filter(|&i| *name == total || groups[i] == *name)
            .collect();
        let n = idx.len() as f64;
        print!("| {name} | {} |", idx.len());
        let cell = |pick: &dyn Fn(usize) -> Option<Found>| {
            let (mut h, mut w, mut up) = (0, 0, 0);
            for &i in &idx {
                match pick(i) {
                    Some(d) if hit(&frames[i], &d) => {
                        h += 1;
                        up += usize::from(upright_enough(&frames[i], &d));
                    }
                    Some(_) => w += 1,
                    None => {}
                }
            }
            let pct = |k: usize| 100.0 * k as f64 / n;
            format!(" {:.1} ({:.1}) {:.1} |", pct(h), pct(w), pct(up))
        };
        for (_, m, confident) in MODES {
            print!("{}", cell(&|i| mode_result(&results[i], m, confident)));
        }
        print!("{}", cell(&|i| results[i][FIND_TURNED]));
        if with_min20 {
            print!("{}", cell(&|i| results[i][FIND_TURNED + 1]));
        }
        println!();
    }
}

/// The scores of each pass's best faces, hits and wrong ones apart: where a threshold for the
/// extra passes would fall.
fn scores(title: &str, frames: &[Frame], results: &[Vec<Option<Found>>]) {
    let names = ["plain", "2×", "+45°", "−45°", "+90°", "−90°"];
    println!(
        "\n{title}: scores of each pass's best face (hits | wrong faces: n, 10th pct, median, 90th pct)"
    );
    println!("| pass | hits | wrong |");
    println!("|---|---|---|");
    let q = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return "0".to_string();
        }
        let at = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
        format!(
            "{}: {:.1}, {:.1}, {:.1}",
            v.len(),
            at(0.1),
            at(0.5),
            at(0.9)
        )
    };
    for (k, name) in names.iter().enumerate() {
        let (mut hits, mut wrong) = (Vec::new(), Vec::new());
        for (f, r) in frames.iter().zip(results) {
            if let Some(d) = r[k] {
                if hit(f, &d) {
                    hits.push(d.score);
                } else {
                    wrong.push(d.score);
                }
            }
        }
        println!("| {name} | {} | {} |", q(&mut hits), q(&mut wrong));
    }
}

fn run_all(frames: &[Frame], min20: bool) -> Vec<Vec<Option<Found>>> {
    frames
        .par_iter()
        .map_init(
            || {
                let mut d = FaceDetector::new().unwrap();
                d.set_min_face_size(20);
                (FaceSearch::new(SearchPasses::ALL).unwrap(), d)
            },
            |s, f| search(f, s, min20),
        )
        .collect()
}

/// The fastest of 9 runs, ms: on a shared machine the other runs measure the neighbours.
fn fastest_ms(mut f: impl FnMut()) -> f64 {
    f();
    (0..9)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

/// The frame with its face painted over in grey: what a search pays while nobody is there.
fn without_face(frame: &Frame) -> GrayImage {
    let image = gray(&frame.path);
    let (w, h) = (image.width(), image.height());
    let c = [
        (frame.lo[0] + frame.hi[0]) / 2.0,
        (frame.lo[1] + frame.hi[1]) / 2.0,
    ];
    let half = frame.side;
    let mut px = image.pixels().to_vec();
    for (i, v) in px.iter_mut().enumerate() {
        let (x, y) = ((i % w) as f64, (i / w) as f64);
        if (x - c[0]).abs() < half && (y - c[1]).abs() < half {
            *v = 128;
        }
    }
    GrayImage::from_raw(w, h, px).unwrap()
}

#[test]
#[ignore = "a measurement: cargo test --release --test detect_recall -- --ignored --nocapture"]
fn detector_time() {
    let _serial = SERIAL.lock();
    println!("\nDetector time per pass, ms (fastest of 9, one thread), on a frame with its face:");
    println!(
        "| frame | plain | plain, min face 20 | 2× (faces 20–40 px) | +45° | −45° | +90° | −90° | orient |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut blank = Vec::new();
    for (clip, what) in [("d0", "512×512"), ("s18", "1280×720")] {
        let frames = clip_frames(clip, Variant::Plain);
        let image = gray(&frames[0].path);
        let mut search = FaceSearch::new(SearchPasses::ALL).unwrap();
        let mut min20 = FaceDetector::new().unwrap();
        min20.set_min_face_size(20);
        let mut ms: Vec<f64> = PASSES
            .iter()
            .map(|&pass| {
                fastest_ms(|| {
                    std::hint::black_box(search.run(&image, pass));
                })
            })
            .collect();
        ms.insert(
            1,
            fastest_ms(|| {
                std::hint::black_box(min20.detect_best(&image));
            }),
        );
        let face = search.run(&image, SearchPass::Plain).unwrap();
        ms.push(fastest_ms(|| {
            std::hint::black_box(search.orient(&image, &face));
        }));
        print!("| {clip} {what} |");
        for m in &ms {
            print!(" {m:.0} |");
        }
        println!();
        blank.push((clip, what, without_face(&frames[0])));
    }
    println!(
        "\nWhole search (`FaceSearch::find`, orienting its face but for plain), ms, on the same \
         frames with the face painted over (nothing found: every pass that is on runs):"
    );
    println!("| frame | plain | +2× | +±45° | +±45°, ±90° (TURNED) | all |");
    println!("|---|---|---|---|---|---|");
    let modes = [
        SearchPasses::PLAIN,
        SearchPasses {
            enlarged: true,
            orient: true,
            ..SearchPasses::PLAIN
        },
        SearchPasses {
            diagonal: true,
            orient: true,
            ..SearchPasses::PLAIN
        },
        SearchPasses::TURNED,
        SearchPasses::ALL,
    ];
    for (clip, what, image) in &blank {
        print!("| {clip} {what}, no face |");
        for passes in modes {
            let mut search = FaceSearch::new(passes).unwrap();
            let found = search.find(image).is_some();
            let ms = fastest_ms(|| {
                std::hint::black_box(search.find(image));
            });
            print!(" {ms:.0}{} |", if found { " (found one)" } else { "" });
        }
        println!();
    }
}

/// The measurements run one at a time: their times and tables would mix.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
#[ignore = "a measurement: cargo test --release --test detect_recall -- --ignored --nocapture"]
fn recall_on_the_shared_clips() {
    let _serial = SERIAL.lock();
    let clips = [
        "d0", "d3", "d9", "d10", "d11", "d14", "d18", "s18", "s20", "s29",
    ];
    let frames: Vec<Frame> = clips
        .iter()
        .flat_map(|c| clip_frames(c, Variant::Plain))
        .collect();
    let groups: Vec<String> = frames.iter().map(|f| f.group.clone()).collect();
    let results = run_all(&frames, false);
    table(
        "Shared clips, every 10th frame",
        &frames,
        &groups,
        &results,
        false,
    );
}

#[test]
#[ignore = "a measurement: cargo test --release --test detect_recall -- --ignored --nocapture"]
fn recall_on_turned_clips() {
    let _serial = SERIAL.lock();
    let turned = [
        ("d0", Variant::Turned(FRAC_PI_8, "PI/8")),
        ("d18", Variant::Turned(-FRAC_PI_8, "-PI/8")),
        ("d3", Variant::Turned(FRAC_PI_4, "PI/4")),
        ("d9", Variant::Turned(-FRAC_PI_4, "-PI/4")),
        ("d11", Variant::Turned(FRAC_PI_4, "PI/4")),
        ("s18", Variant::Turned(FRAC_PI_4, "PI/4")),
        ("d10", Variant::Turned(3.0 * FRAC_PI_8, "3*PI/8")),
        ("d14", Variant::Turned(FRAC_PI_2, "PI/2")),
        ("d3", Variant::Turned(-FRAC_PI_2, "-PI/2")),
        ("s18", Variant::Turned(FRAC_PI_2, "PI/2")),
        ("d9", Variant::Turned(3.0 * FRAC_PI_4, "3*PI/4")),
    ];
    let frames: Vec<Frame> = turned
        .iter()
        .flat_map(|&(c, v)| clip_frames(c, v))
        .collect();
    let groups: Vec<String> = frames.iter().map(|f| f.group.clone()).collect();
    let results = run_all(&frames, false);
    table(
        "Clips turned in the image plane",
        &frames,
        &groups,
        &results,
        false,
    );
    scores("Clips turned in the image plane", &frames, &results);
}

#[test]
#[ignore = "a measurement: cargo test --release --test detect_recall -- --ignored --nocapture"]
fn recall_on_small_faces() {
    let _serial = SERIAL.lock();
    let small = [
        ("s20", Variant::Small(2)),
        ("s20", Variant::Small(4)),
        ("s20", Variant::Small(6)),
        ("s29", Variant::Small(4)),
        ("s29", Variant::Small(8)),
        ("d0", Variant::Small(8)),
        ("d0", Variant::Small(12)),
    ];
    let frames: Vec<Frame> = small.iter().flat_map(|&(c, v)| clip_frames(c, v)).collect();
    // One row a variant, labelled with its median face size.
    let median_side = |group: &str| {
        let mut v: Vec<f64> = frames
            .iter()
            .filter(|f| f.group == group)
            .map(|f| f.side)
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let groups: Vec<String> = frames
        .iter()
        .map(|f| format!("{} (face {:.0} px)", f.group, median_side(&f.group)))
        .collect();
    let results = run_all(&frames, true);
    table("Small faces", &frames, &groups, &results, false);
}

#[test]
#[ignore = "a measurement: cargo test --release --test detect_recall -- --ignored --nocapture"]
fn recall_on_aflw2000() {
    let _serial = SERIAL.lock();
    let (frames, roll_groups) = aflw_frames();
    let groups: Vec<String> = frames.iter().map(|f| f.group.clone()).collect();
    let results = run_all(&frames, false);
    table(
        "AFLW2000-3D (1,600 images) by |yaw|",
        &frames,
        &groups,
        &results,
        true,
    );
    scores("AFLW2000-3D", &frames, &results);
    table(
        "AFLW2000-3D (1,600 images) by |in-plane angle| (of the head's up axis, degrees)",
        &frames,
        &roll_groups,
        &results,
        true,
    );
}
