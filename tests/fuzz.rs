//! A deterministic mutation fuzzer over everything facetrack reads from a user: image files (and
//! the JPEG decoder a video or camera reuses), MJPEG video, the model files (the morphable
//! model, the regressor cascades, the fit confidence, PCLM's settings, dlib's shape predictor),
//! `fit --boxes` lists and recorded sessions (`replay:`).
//!
//! Each target starts from valid seeds and applies seeded mutations (bit flips, boundary
//! values, 32-bit fields set to boundary counts, cuts, deleted, repeated and inserted runs); for
//! the checksummed model files half of the mutants get a fresh checksum, so that the content
//! checks behind it are reached. Whatever a mutant parses into is used (fitted, scored,
//! decoded) as the program would. Every case must end without a panic, within
//! [`CASE_LIMIT`], and without allocating more than [`ALLOCATION_CAP`] at once; a reused JPEG
//! or image decoder must still decode its seed after every mutant.
//!
//! The seeds are fixed: the same cases run every time, and a failure names its target and case.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use facetrack::align::box_list::read_box_list;
use facetrack::align::{ConfidenceScratch, FaceBox, FitConfidence, ShapePredictor};
use facetrack::capture::{Frame, FrameSource, ImageDecoder, Next, RgbImage, VideoSource};
use facetrack::fit::{Cascade, ParamUpdate, Pclm, RegressorCascade};
use facetrack::image::GrayImage;
use facetrack::model::MorphableModel;
use facetrack::record::session::ReplaySource;

/// The most one case may hold allocated at once, above what was allocated before it. The image
/// loader's own bound (50 megapixels: 150 MB of RGB and the decoder's buffer) fits under it.
const ALLOCATION_CAP: usize = 512 << 20;
/// A case that runs longer has hung.
const CASE_LIMIT: Duration = Duration::from_secs(10);

struct Peak;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let now = CURRENT.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Peak = Peak;

/// One target at a time, so that the allocation peak is the case's own.
static SERIAL: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cases` mutants of the seeds through `run`; panics at the end listing every failure.
fn fuzz(
    target: &str,
    seed: u64,
    cases: usize,
    seeds: &[Vec<u8>],
    checksummed: bool,
    mutate_text: Option<fn(&mut StdRng, &mut Vec<u8>)>,
    mut run: impl FnMut(usize, &[u8]),
) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = StdRng::seed_from_u64(seed);
    let mut failures = Vec::new();
    let started = Instant::now();
    for case in 0..cases {
        let which = case % seeds.len();
        let mut bytes = seeds[which].clone();
        match mutate_text {
            Some(m) if rng.random_bool(0.5) => m(&mut rng, &mut bytes),
            _ => mutate(&mut rng, &mut bytes),
        }
        if checksummed && bytes.len() > 4 && rng.random_bool(0.5) {
            let body = bytes.len() - 4;
            let crc = crc32fast::hash(&bytes[..body]);
            bytes[body..].copy_from_slice(&crc.to_le_bytes());
        }
        let base = CURRENT.load(Ordering::SeqCst);
        PEAK.store(base, Ordering::SeqCst);
        let t0 = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| run(which, &bytes)));
        let took = t0.elapsed();
        let peak = PEAK.load(Ordering::SeqCst).saturating_sub(base);
        if outcome.is_err() {
            failures.push(format!("{target} case {case}: panicked"));
        }
        if took > CASE_LIMIT {
            failures.push(format!("{target} case {case}: took {took:?}"));
        }
        if peak > ALLOCATION_CAP {
            failures.push(format!("{target} case {case}: allocated {} MB", peak >> 20));
        }
    }
    eprintln!(
        "{target}: {cases} cases in {:.1} s, {} failures",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Boundary values a corrupt field likes to hold.
const BYTES: [u8; 6] = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF];
const WORDS: [u32; 8] = [
    0,
    1,
    0xFF,
    0xFFFF,
    1 << 20,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
];

/// One to four mutations of `b`.
fn mutate(rng: &mut StdRng, b: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..=4) {
        if b.is_empty() {
            b.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..b.len());
        match rng.random_range(0..8) {
            0 => b[at] ^= 1 << rng.random_range(0..8),
            1 => b[at] = BYTES[rng.random_range(0..BYTES.len())],
            2 if at + 4 <= b.len() => {
                let w = WORDS[rng.random_range(0..WORDS.len())];
                b[at..at + 4].copy_from_slice(&w.to_le_bytes());
            }
            3 if at + 4 <= b.len() => {
                let w = WORDS[rng.random_range(0..WORDS.len())];
                b[at..at + 4].copy_from_slice(&w.to_be_bytes());
            }
            4 => b.truncate(at),
            5 => {
                let end = (at + rng.random_range(1..64)).min(b.len());
                b.drain(at..end);
            }
            6 => {
                let end = (at + rng.random_range(1..64)).min(b.len());
                let run: Vec<u8> = b[at..end].to_vec();
                b.splice(at..at, run);
            }
            _ => {
                let n = rng.random_range(1..16);
                let run: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                b.splice(at..at, run);
            }
        }
    }
}

/// Replaces a number of a text file with a boundary number.
fn mutate_number(rng: &mut StdRng, b: &mut Vec<u8>) {
    let starts: Vec<usize> = (0..b.len())
        .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
        .collect();
    if starts.is_empty() {
        return mutate(rng, b);
    }
    let at = starts[rng.random_range(0..starts.len())];
    let end = (at..b.len())
        .find(|&i| !(b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'e' || b[i] == b'-'))
        .unwrap_or(b.len());
    const NUMBERS: [&str; 10] = [
        "0",
        "-1",
        "1e308",
        "-1e308",
        "1e-320",
        "18446744073709551615",
        "4294967296",
        "1000000000000",
        "0.5",
        "NaN",
    ];
    let n = NUMBERS[rng.random_range(0..NUMBERS.len())];
    b.splice(at..end, n.bytes());
}

/// A small picture with a face-like structure: a bright oval on a gradient.
fn picture(w: usize, h: usize) -> RgbImage {
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (
                (x as f64 - w as f64 / 2.0) / (w as f64 / 3.0),
                (y as f64 - h as f64 / 2.0) / (h as f64 / 2.5),
            );
            let face = if dx * dx + dy * dy < 1.0 { 120.0 } else { 0.0 };
            let v = (40.0 + x as f64 + face).min(255.0) as u8;
            data.extend([v, v.saturating_sub(20), v / 2]);
        }
    }
    RgbImage {
        width: w,
        height: h,
        data,
    }
}

fn gray(img: &RgbImage) -> GrayImage {
    let mut g = GrayImage::default();
    g.set_from_rgb(img.width, img.height, &img.data);
    g
}

fn encode(img: &RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let buffer =
        image::RgbImage::from_raw(img.width as u32, img.height as u32, img.data.clone()).unwrap();
    match format {
        image::ImageFormat::Pnm => image::DynamicImage::ImageRgb8(buffer)
            .to_luma8()
            .write_to(&mut out, format)
            .unwrap(),
        _ => buffer.write_to(&mut out, format).unwrap(),
    }
    out.into_inner()
}

fn jpeg(img: &RgbImage) -> Vec<u8> {
    turbojpeg::compress(
        turbojpeg::Image {
            pixels: img.data.as_slice(),
            width: img.width,
            pitch: img.width * 3,
            height: img.height,
            format: turbojpeg::PixelFormat::RGB,
        },
        85,
        turbojpeg::Subsamp::Sub2x2,
    )
    .unwrap()
    .to_vec()
}

#[test]
fn image_files_and_the_reused_decoder() {
    let img = picture(48, 40);
    let seeds = vec![
        jpeg(&img),
        encode(&img, image::ImageFormat::Png),
        encode(&img, image::ImageFormat::Pnm),
        encode(&img, image::ImageFormat::Bmp),
    ];
    let mut decoder = ImageDecoder::new().unwrap();
    let references: Vec<RgbImage> = seeds
        .iter()
        .map(|s| {
            let mut out = RgbImage::default();
            decoder.decode_into(s, &mut out).unwrap();
            out
        })
        .collect();
    let mut out = RgbImage::default();
    fuzz("image", 1, 6000, &seeds, false, None, |which, bytes| {
        if decoder.decode_into(bytes, &mut out).is_ok() {
            assert_eq!(out.data.len(), out.width * out.height * 3);
        }
        // One bad file must not spoil the decoder for the next.
        decoder.decode_into(&seeds[which], &mut out).unwrap();
        assert_eq!(out, references[which]);
    });
}

#[test]
fn mjpeg_video() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.avi");
    // Four frames of MJPEG in AVI, written by the `ffmpeg` command.
    let mut child = std::process::Command::new("ffmpeg")
        .args([
            "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "48x40",
        ])
        .args([
            "-r", "30", "-i", "-", "-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p",
        ])
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("ffmpeg on PATH (scripts/setup.sh installs it)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for _ in 0..4 {
            stdin.write_all(&picture(48, 40).data).unwrap();
        }
    }
    assert!(child.wait().unwrap().success());
    let seeds = vec![std::fs::read(&path).unwrap()];
    let case_path = dir.path().join("case.avi");
    let mut frame = Frame::default();
    fuzz("video", 2, 1000, &seeds, false, None, |_, bytes| {
        std::fs::write(&case_path, bytes).unwrap();
        let Ok(mut source) = VideoSource::open(&case_path) else {
            return;
        };
        // A damaged file ends, errs or skips frames; it never yields more than it holds.
        for _ in 0..64 {
            match source.next_frame(&mut frame) {
                Ok(Next::Frame) => assert_eq!(
                    frame.image.data.len(),
                    frame.image.width * frame.image.height * 3
                ),
                Ok(Next::Skipped(_) | Next::Lost { .. }) => {}
                Ok(Next::End) | Err(_) => return,
            }
        }
        panic!("more reads than the file has frames, without an end");
    });
}

struct Models {
    model: MorphableModel,
    predictor: ShapePredictor,
    image: GrayImage,
}

fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        Models {
            model: MorphableModel::from_bytes(&read(&root().join("models/face_model.bin")))
                .unwrap(),
            predictor: ShapePredictor::from_dlib_bytes(&read(Path::new(
                "/usr/share/dlib/shape_predictor_68_face_landmarks.dat",
            )))
            .unwrap(),
            image: gray(&picture(160, 160)),
        }
    })
}

/// Fits the test picture with `update`, as `fit` would once the file has been accepted.
fn fit_with(update: &ParamUpdate) {
    let m = models();
    if update.check(&m.model).is_err() {
        return;
    }
    let cascade = Cascade::new(&m.model, &m.predictor, update);
    let face = FaceBox::new(40.0, 40.0, 120.0, 120.0);
    let mut params = cascade.cold_start(&face);
    let mut scratch = cascade.scratch();
    let stages = update.max_stages(&m.predictor).min(2);
    let _ = cascade.fit(
        &m.image,
        &face,
        &mut params,
        stages,
        &mut scratch,
        |_, _, _| {},
    );
}

#[test]
fn the_morphable_model_file() {
    let seeds = vec![std::fs::read(root().join("models/face_model.bin")).unwrap()];
    fuzz("face_model.bin", 3, 400, &seeds, true, None, |_, bytes| {
        if let Ok(model) = MorphableModel::from_bytes(bytes) {
            let params = facetrack::model::Params::zeros(model.n_id(), model.n_exp());
            let mut x = vec![0.0; 2 * model.n_landmarks()];
            model.project_landmarks(&params, &mut x);
        }
    });
}

#[test]
fn the_regressor_files() {
    let seeds = vec![
        std::fs::read(root().join("models/parm.bin")).unwrap(),
        std::fs::read(root().join("models/prm_track.bin")).unwrap(),
    ];
    fuzz("regressor", 4, 800, &seeds, true, None, |_, bytes| {
        if let Ok(cascade) = RegressorCascade::from_bytes(bytes) {
            fit_with(&ParamUpdate::Regression(cascade));
        }
    });
}

#[test]
fn the_fit_confidence_file() {
    let seeds = vec![std::fs::read(root().join("models/confidence.bin")).unwrap()];
    let image = gray(&picture(160, 160));
    let landmarks: Vec<f64> = (0..68)
        .flat_map(|i| [50.0 + (i % 10) as f64 * 6.0, 50.0 + (i / 10) as f64 * 8.0])
        .collect();
    fuzz("confidence.bin", 5, 3000, &seeds, true, None, |_, bytes| {
        if let Ok(c) = FitConfidence::from_bytes(bytes) {
            let mut scratch = ConfidenceScratch::default();
            let s = c.score(&image, &landmarks, &mut scratch);
            assert!((0.0..=1.0).contains(&s) || s.is_nan());
        }
    });
}

#[test]
fn the_pclm_settings() {
    let seeds = vec![std::fs::read(root().join("models/pclm.json")).unwrap()];
    fuzz(
        "pclm.json",
        6,
        2000,
        &seeds,
        false,
        Some(mutate_number),
        |_, bytes| {
            if let Ok(p) = serde_json::from_slice::<Pclm>(bytes) {
                fit_with(&ParamUpdate::Pclm(p));
            }
        },
    );
}

#[test]
fn dlib_shape_predictor_files() {
    let full = std::fs::read("/usr/share/dlib/shape_predictor_68_face_landmarks.dat").unwrap();
    // Mutants of the first 256 KB (the header, the mean shape, the first trees) end at the cut,
    // which keeps a case fast; a few whole-file mutants are then used to predict.
    let seeds = vec![full[..256 * 1024].to_vec()];
    fuzz("dlib prefix", 7, 2000, &seeds, false, None, |_, bytes| {
        let _ = ShapePredictor::from_dlib_bytes(bytes);
    });
    let image = gray(&picture(160, 160));
    let mut rng = StdRng::seed_from_u64(8);
    let mut full = full;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for case in 0..12 {
        // In place, and put back after: copying 100 MB a case would be the whole cost.
        let at: Vec<usize> = (0..3).map(|_| rng.random_range(0..full.len())).collect();
        let old: Vec<u8> = at.iter().map(|&i| full[i]).collect();
        for &i in &at {
            full[i] = BYTES[rng.random_range(0..BYTES.len())];
        }
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if let Ok(p) = ShapePredictor::from_dlib_bytes(&full) {
                let mut out = vec![[0.0; 2]; p.num_landmarks()];
                let mut scratch = p.scratch();
                let _ = p.predict(
                    &image,
                    &FaceBox::new(40.0, 40.0, 120.0, 120.0),
                    &mut out,
                    &mut scratch,
                );
            }
        }));
        assert!(outcome.is_ok(), "dlib whole file case {case} panicked");
        for (&i, &v) in at.iter().zip(&old) {
            full[i] = v;
        }
    }
}

#[test]
fn face_box_lists() {
    let seeds = vec![
        b"{\"image\": \"a.jpg\", \"box\": [10, 20, 110, 120]}\n\n{\"image\": \"dir/b.png\", \"box\": [0.5, 1.5, 40, 60.25]}\n".to_vec(),
    ];
    let m = models();
    fuzz(
        "boxes",
        9,
        4000,
        &seeds,
        false,
        Some(mutate_number),
        |_, bytes| {
            let Ok(boxes) = read_box_list(bytes) else {
                return;
            };
            let mut out = vec![[0.0; 2]; m.predictor.num_landmarks()];
            let mut scratch = m.predictor.scratch();
            for b in boxes.values() {
                if m.predictor
                    .predict(&m.image, b, &mut out, &mut scratch)
                    .is_ok()
                {
                    // A box the file accepts gives landmarks a user can write out.
                    assert!(out.iter().flatten().all(|v| v.is_finite()), "{b:?}");
                }
            }
        },
    );
}

#[test]
fn recorded_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let img = picture(48, 40);
    let png = encode(&img, image::ImageFormat::Png);
    let list = b"index,timestamp_ns,file\n0,0,frames/00000000.png\n3,100000000,frames/00000003.png\n4,133333333,frames/00000004.png\n".to_vec();
    // Seed 0 mutates the frame list, seed 1 a frame.
    let seeds = vec![list.clone(), png.clone()];
    let session = dir.path().join("s");
    let frames = session.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let mut frame = Frame::default();
    fuzz(
        "replay",
        10,
        1500,
        &seeds,
        false,
        Some(mutate_number),
        |which, bytes| {
            let (list_bytes, frame_bytes) = if which == 0 {
                (bytes, &png[..])
            } else {
                (&list[..], bytes)
            };
            std::fs::write(session.join("frames.csv"), list_bytes).unwrap();
            for (k, name) in ["00000000.png", "00000003.png", "00000004.png"]
                .iter()
                .enumerate()
            {
                let b = if k == 1 { frame_bytes } else { &png[..] };
                std::fs::write(frames.join(name), b).unwrap();
            }
            let Ok(mut source) = ReplaySource::open(&session) else {
                return;
            };
            for _ in 0..16 {
                match source.next_frame(&mut frame) {
                    Ok(Next::Frame | Next::Skipped(_) | Next::Lost { .. }) => {}
                    Ok(Next::End) | Err(_) => return,
                }
            }
            panic!("more reads than the session has frames, without an end");
        },
    );
}
