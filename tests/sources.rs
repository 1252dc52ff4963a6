//! The frame sources on files made here: image folders with bad files in them, videos written by
//! the `ffmpeg` command in several containers and codecs (whole, damaged, cut short, turned, at a
//! variable frame rate), and the camera on a machine that has none.

use std::path::Path;
use std::time::Duration;

use facetrack::capture::{
    CameraRequest, CameraSource, CaptureError, Frame, FrameSource, ImageFolderSource, Next,
    RgbImage, VideoSource, list_cameras, load_rgb,
};

/// A smooth test picture that moves with `t`: JPEG keeps it close.
fn picture(width: usize, height: usize, t: usize) -> RgbImage {
    let mut data = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            data.push((x * 255 / width) as u8);
            data.push((y * 255 / height) as u8);
            data.push(((x + y + 4 * t) * 2 % 256) as u8 / 2 + 64);
        }
    }
    RgbImage {
        width,
        height,
        data,
    }
}

fn save_png(image: &RgbImage, path: &Path) {
    image::RgbImage::from_raw(image.width as u32, image.height as u32, image.data.clone())
        .unwrap()
        .save(path)
        .unwrap();
}

fn jpeg_bytes(image: &RgbImage) -> Vec<u8> {
    let img = turbojpeg::Image {
        pixels: image.data.as_slice(),
        width: image.width,
        pitch: image.width * 3,
        height: image.height,
        format: turbojpeg::PixelFormat::RGB,
    };
    turbojpeg::compress(img, 90, turbojpeg::Subsamp::Sub2x2)
        .unwrap()
        .to_vec()
}

/// Reads a source to its end: each read's result with the frame it filled.
fn read_all(source: &mut dyn FrameSource) -> Vec<(Next, Frame)> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let mut frame = Frame::default();
        let next = source.next_frame(&mut frame).unwrap();
        if next == Next::End {
            // The end stays the end.
            assert_eq!(source.next_frame(&mut frame).unwrap(), Next::End);
            return out;
        }
        out.push((next, frame));
    }
    panic!("the source never ended");
}

fn skipped(results: &[(Next, Frame)]) -> Vec<&str> {
    results
        .iter()
        .filter_map(|(n, _)| match n {
            Next::Skipped(why) | Next::Lost { why, .. } => Some(why.as_str()),
            _ => None,
        })
        .collect()
}

fn frames(results: &[(Next, Frame)]) -> Vec<&Frame> {
    results
        .iter()
        .filter(|(n, _)| *n == Next::Frame)
        .map(|(_, f)| f)
        .collect()
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let sum: u64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    sum as f64 / a.data.len() as f64
}

#[test]
fn a_folder_yields_its_good_images_in_name_order_and_skips_the_corrupt_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = ["f0.png", "f1.jpg", "f3.png", "f4.JPEG"];
    for (t, name) in good.iter().enumerate() {
        let image = picture(40, 30, t);
        let path = dir.path().join(name);
        if name.ends_with(".png") {
            save_png(&image, &path);
        } else {
            std::fs::write(&path, jpeg_bytes(&image)).unwrap();
        }
    }
    // A JPEG cut short in its entropy-coded data, and a file that is not an image at all.
    let jpeg = jpeg_bytes(&picture(40, 30, 9));
    std::fs::write(dir.path().join("f2.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a frame").unwrap();
    std::fs::create_dir(dir.path().join("sub.png")).unwrap();

    let mut source = ImageFolderSource::open(dir.path(), 10.0).unwrap();
    assert_eq!(source.len(), 5);
    assert!(!source.is_live());
    let results = read_all(&mut source);
    assert_eq!(results.len(), 5);

    let why = skipped(&results);
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].contains("f2.jpg"), "{}", why[0]);
    assert!(matches!(results[2].0, Next::Skipped(_)));

    let got = frames(&results);
    assert_eq!(got.len(), good.len());
    let indices: Vec<u64> = got.iter().map(|f| f.index).collect();
    assert_eq!(indices, [0, 1, 3, 4]);
    for (frame, name) in got.iter().zip(good) {
        assert_eq!(frame.timestamp, Duration::from_millis(100 * frame.index));
        // Bit-identical to the still-image path.
        assert_eq!(
            frame.image,
            load_rgb(&dir.path().join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn garbage_named_png_is_skipped_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    for t in 0..3 {
        save_png(&picture(8, 6, t), &dir.path().join(format!("{t}.png")));
    }
    std::fs::write(dir.path().join("1b.png"), b"\x89PNG\r\n\x1a\n garbage").unwrap();
    let results = read_all(&mut ImageFolderSource::open(dir.path(), 30.0).unwrap());
    let why = skipped(&results);
    assert_eq!(why.len(), 1);
    assert!(why[0].contains("1b.png"), "{}", why[0]);
    assert_eq!(frames(&results).len(), 3);
}

#[test]
fn a_folder_reuses_the_frame_buffer() {
    let dir = tempfile::tempdir().unwrap();
    for t in 0..4 {
        save_png(&picture(32, 24, t), &dir.path().join(format!("{t}.png")));
    }
    let mut source = ImageFolderSource::open(dir.path(), 30.0).unwrap();
    let mut frame = Frame::default();
    assert_eq!(source.next_frame(&mut frame).unwrap(), Next::Frame);
    let buffer = frame.image.data.as_ptr();
    while source.next_frame(&mut frame).unwrap() == Next::Frame {
        assert_eq!(frame.image.data.as_ptr(), buffer);
    }
}

#[test]
fn recorded_timestamps_replace_the_frame_rate() {
    let dir = tempfile::tempdir().unwrap();
    for t in 0..3 {
        save_png(&picture(8, 6, t), &dir.path().join(format!("{t:06}.png")));
    }
    let stamps = vec![
        Duration::from_millis(5),
        Duration::from_millis(38),
        Duration::from_millis(80),
    ];
    let mut source =
        ImageFolderSource::with_timestamps(dir.path(), 30.0, Some(stamps.clone())).unwrap();
    let got: Vec<Duration> = frames(&read_all(&mut source))
        .iter()
        .map(|f| f.timestamp)
        .collect();
    assert_eq!(got, stamps);

    let err = ImageFolderSource::with_timestamps(dir.path(), 30.0, Some(stamps[..2].to_vec()))
        .err()
        .unwrap();
    assert!(matches!(err, CaptureError::Invalid(_)), "{err}");
    let backwards = vec![stamps[1], stamps[0], stamps[2]];
    assert!(ImageFolderSource::with_timestamps(dir.path(), 30.0, Some(backwards)).is_err());
}

#[test]
fn an_empty_or_missing_folder_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "x").unwrap();
    for path in [dir.path().to_owned(), dir.path().join("missing")] {
        let err = ImageFolderSource::open(&path, 30.0).err().unwrap();
        assert!(matches!(err, CaptureError::File { .. }), "{err}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }
    assert!(ImageFolderSource::open(dir.path(), 0.0).is_err());
}

/// Encodes `pictures` with the `ffmpeg` command (`args` choose the codec, `path` the container)
/// at `fps`; `filter` is an `-vf` chain applied on the way.
fn encode(path: &Path, pictures: &[RgbImage], fps: u32, args: &[&str]) {
    use std::io::Write;
    let (w, h) = (pictures[0].width, pictures[0].height);
    let mut child = std::process::Command::new("ffmpeg")
        .args([
            "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
        ])
        .arg(format!("{w}x{h}"))
        .args(["-r", &fps.to_string(), "-i", "-"])
        .args(args)
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("ffmpeg on PATH (scripts/setup.sh installs it)");
    let mut stdin = child.stdin.take().unwrap();
    for p in pictures {
        stdin.write_all(&p.data).unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success(), "ffmpeg {args:?} failed");
}

const MJPEG: &[&str] = &["-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p"];

/// Writes `n` moving pictures as an MJPEG AVI; returns them.
fn write_video(path: &Path, n: usize, fps: u32) -> Vec<RgbImage> {
    let pictures: Vec<RgbImage> = (0..n).map(|t| picture(64, 48, t)).collect();
    encode(path, &pictures, fps, MJPEG);
    pictures
}

#[test]
fn every_container_and_codec_reads_back_with_its_frames_times() {
    let dir = tempfile::tempdir().unwrap();
    let pictures: Vec<RgbImage> = (0..12).map(|t| picture(64, 48, t)).collect();
    let cases: [(&str, &[&str]); 5] = [
        ("clip.avi", MJPEG),
        (
            "clip.mp4",
            &["-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv444p"],
        ),
        ("clip.mov", &["-c:v", "libx264", "-crf", "10", "-bf", "2"]),
        ("clip.mkv", &["-c:v", "ffv1"]),
        ("clip.webm", &["-c:v", "libvpx-vp9", "-lossless", "1"]),
    ];
    for (name, args) in cases {
        let path = dir.path().join(name);
        encode(&path, &pictures, 25, args);
        let mut source = VideoSource::open(&path).unwrap();
        let info = source.info().clone();
        assert_eq!((info.width, info.height), (64, 48), "{name}");
        assert_eq!(info.fps, 25.0, "{name}");
        assert_eq!(info.rotation, 0);
        let results = read_all(&mut source);
        assert!(
            skipped(&results).is_empty(),
            "{name}: {:?}",
            skipped(&results)
        );
        let got = frames(&results);
        assert_eq!(got.len(), 12, "{name}");
        for (i, (frame, picture)) in got.iter().zip(&pictures).enumerate() {
            assert_eq!(frame.index, i as u64, "{name}");
            assert_eq!(frame.timestamp.as_millis(), 40 * i as u128, "{name}");
            let diff = mean_abs_diff(&frame.image, picture);
            assert!(diff < 4.0, "{name}: frame {i} differs by {diff} on average");
        }
        // Each frame is told apart from its neighbour: the reader does not repeat one.
        assert!(mean_abs_diff(&got[0].image, &got[6].image) > 5.0, "{name}");
    }
}

#[test]
fn a_variable_frame_rate_keeps_each_frames_presentation_time() {
    let dir = tempfile::tempdir().unwrap();
    let pictures: Vec<RgbImage> = (0..30).map(|t| picture(64, 48, t)).collect();
    for name in ["vfr.mp4", "vfr.mkv"] {
        let path = dir.path().join(name);
        // Frames 0, 3, 4, 6, 9, 10, 12…: kept at their times, 100 and 33 ms apart.
        encode(
            &path,
            &pictures,
            30,
            &[
                "-vf",
                "select='not(mod(n\\,3))+eq(mod(n\\,3)\\,1)*not(mod(n\\,2))'",
                "-vsync",
                "vfr",
                "-c:v",
                "libx264",
            ],
        );
        let results = read_all(&mut VideoSource::open(&path).unwrap());
        // MKV declares a duration and no count: fewer frames than duration × rate is no loss.
        assert!(
            skipped(&results).is_empty(),
            "{name}: {:?}",
            skipped(&results)
        );
        let got: Vec<u128> = frames(&results)
            .iter()
            .map(|f| f.timestamp.as_millis())
            .collect();
        let want: Vec<u128> = (0..30u128)
            .filter(|n| n % 3 == 0 || (n % 3 == 1 && n % 2 == 0))
            .map(|n| n * 1000 / 30)
            .collect();
        assert_eq!(got.len(), want.len(), "{name}: {got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(g.abs_diff(*w) <= 1, "{name}: {got:?} against {want:?}");
        }
    }
}

#[test]
fn a_rotation_tag_turns_the_picture_upright() {
    let dir = tempfile::tempdir().unwrap();
    let pictures: Vec<RgbImage> = (0..3).map(|t| picture(64, 48, t)).collect();
    // Stored turned a quarter counter-clockwise, as a phone held upright stores it, then tagged
    // (remuxed, as the encoder drops the tag) with the display matrix phones write, which
    // `ffprobe` shows as `rotation=-90`: turn a quarter clockwise to show.
    let stored = dir.path().join("stored.mp4");
    encode(
        &stored,
        &pictures,
        30,
        &[
            "-vf",
            "transpose=2",
            "-c:v",
            "libx264",
            "-crf",
            "10",
            "-pix_fmt",
            "yuv444p",
        ],
    );
    let path = dir.path().join("phone.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&stored)
        .args(["-c", "copy", "-metadata:s:v:0", "rotate=270"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let mut source = VideoSource::open(&path).unwrap();
    assert_eq!(source.info().rotation, 90);
    assert_eq!((source.info().width, source.info().height), (64, 48));
    let results = read_all(&mut source);
    let got = frames(&results);
    assert_eq!(got.len(), 3);
    for (frame, picture) in got.iter().zip(&pictures) {
        let diff = mean_abs_diff(&frame.image, picture);
        assert!(diff < 4.0, "upright frame differs by {diff}");
    }
}

#[test]
fn a_video_reuses_the_frame_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.avi");
    write_video(&path, 4, 30);
    let mut source = VideoSource::open(&path).unwrap();
    let mut frame = Frame::default();
    assert_eq!(source.next_frame(&mut frame).unwrap(), Next::Frame);
    let buffer = frame.image.data.as_ptr();
    let mut n = 1;
    while source.next_frame(&mut frame).unwrap() == Next::Frame {
        assert_eq!(frame.image.data.as_ptr(), buffer);
        n += 1;
    }
    assert_eq!(n, 4);
}

#[test]
fn a_seek_starts_at_the_frame_on_screen_at_that_time_with_its_own_number() {
    let dir = tempfile::tempdir().unwrap();
    let pictures: Vec<RgbImage> = (0..60).map(|t| picture(64, 48, t)).collect();
    let path = dir.path().join("clip.mp4");
    encode(
        &path,
        &pictures,
        30,
        &["-c:v", "libx264", "-g", "10", "-bf", "2"],
    );
    let mut source = VideoSource::open(&path).unwrap();
    source.seek(Duration::from_millis(1050)).unwrap();
    let results = read_all(&mut source);
    assert!(skipped(&results).is_empty(), "{:?}", skipped(&results));
    let got = frames(&results)
        .iter()
        .map(|f| (f.index, f.timestamp.as_millis()))
        .collect::<Vec<_>>();
    // Decoding starts at the key frame at 1 s; the first frame given is the one on screen at
    // 1.05 s, frame 31 (1.033 s).
    assert_eq!(got.first(), Some(&(31, 1033)), "{got:?}");
    assert_eq!(got.last().unwrap().0, 59);
    assert_eq!(got.len(), 29);
    for (index, ms) in got {
        assert!(ms.abs_diff(u128::from(index) * 1000 / 30) <= 1);
    }
}

/// Offsets of an MJPEG AVI's frame chunks (`00dc`), in order.
fn frame_chunks(avi: &[u8]) -> Vec<usize> {
    let movi = find(avi, b"movi");
    let idx1 = find(avi, b"idx1");
    (movi..idx1)
        .filter(|&i| &avi[i..i + 4] == b"00dc")
        .collect()
}

/// Overwrites frame `n`'s JPEG bytes in an MJPEG AVI with noise.
fn damage_frame(avi: &mut [u8], n: usize) {
    let at = frame_chunks(avi)[n];
    let size = u32::from_le_bytes(avi[at + 4..at + 8].try_into().unwrap()) as usize;
    for b in &mut avi[at + 8..at + 8 + size] {
        *b = 0x55;
    }
}

#[test]
fn a_corrupt_frame_is_skipped_and_the_others_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.avi");
    write_video(&path, 6, 30);
    let mut bytes = std::fs::read(&path).unwrap();
    damage_frame(&mut bytes, 3);
    std::fs::write(&path, &bytes).unwrap();
    let results = read_all(&mut VideoSource::open(&path).unwrap());
    let why = skipped(&results);
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].contains("frame 3"), "{}", why[0]);
    let indices: Vec<u64> = frames(&results).iter().map(|f| f.index).collect();
    assert_eq!(indices, [0, 1, 2, 4, 5]);
}

#[test]
fn a_damaged_h264_stream_never_panics_and_keeps_its_good_frames() {
    let dir = tempfile::tempdir().unwrap();
    let pictures: Vec<RgbImage> = (0..40).map(|t| picture(64, 48, t)).collect();
    let path = dir.path().join("clip.mp4");
    encode(
        &path,
        &pictures,
        30,
        &["-c:v", "libx264", "-g", "10", "-movflags", "+faststart"],
    );
    let whole = std::fs::read(&path).unwrap();
    let mdat = find(&whole, b"mdat") + 4;
    let bad = dir.path().join("bad.mp4");
    // Noise over a stretch of the middle of the picture data.
    let mut bytes = whole.clone();
    let mid = mdat + (whole.len() - mdat) / 2;
    for b in &mut bytes[mid..mid + 200] {
        *b ^= 0xA7;
    }
    std::fs::write(&bad, &bytes).unwrap();
    let results = read_all(&mut VideoSource::open(&bad).unwrap());
    assert!(frames(&results).len() + skipped(&results).len() >= 30);
    assert!(frames(&results).len() >= 20);
}

#[test]
fn a_truncated_video_ends_with_a_warning_counting_the_lost_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.avi");
    write_video(&path, 5, 30);
    let whole = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.avi");

    // Every cut, from the header on: an error on opening or an end, never a panic.
    for len in (0..whole.len()).step_by(37) {
        std::fs::write(&cut, &whole[..len]).unwrap();
        if let Ok(mut source) = VideoSource::open(&cut) {
            let results = read_all(&mut source);
            assert!(frames(&results).len() <= 5);
        }
    }

    // Cut inside frame 3: frames 0–2 (and perhaps what is left of 3), then a warning.
    let frame_3 = frame_chunks(&whole)[3];
    std::fs::write(&cut, &whole[..frame_3 + 20]).unwrap();
    let results = read_all(&mut VideoSource::open(&cut).unwrap());
    assert_eq!(frames(&results).len(), 3);
    let why = skipped(&results);
    let last = why.last().unwrap();
    assert!(
        last.contains("ended after") && last.contains("of the 5") && last.contains("lost"),
        "{why:?}"
    );
    // Frames 3 and 4 never came (3, cut, may be counted as damaged rather than lost).
    assert!(
        matches!(results.last(), Some((Next::Lost { frames: 1..=2, .. }, _))),
        "{why:?}"
    );

    // Cut where the index would start: an AVI without idx1, whole otherwise.
    let idx1 = find(&whole, b"idx1");
    std::fs::write(&cut, &whole[..idx1]).unwrap();
    let results = read_all(&mut VideoSource::open(&cut).unwrap());
    assert_eq!(frames(&results).len(), 5);
    assert!(skipped(&results).is_empty(), "{:?}", skipped(&results));

    // An MP4 whose index comes first, cut in its picture data: the frames before the cut, and
    // the loss counted.
    let pictures: Vec<RgbImage> = (0..30).map(|t| picture(64, 48, t)).collect();
    let mp4 = dir.path().join("whole.mp4");
    encode(
        &mp4,
        &pictures,
        30,
        &["-c:v", "libx264", "-movflags", "+faststart"],
    );
    let whole = std::fs::read(&mp4).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &whole[..whole.len() * 2 / 3]).unwrap();
    let results = read_all(&mut VideoSource::open(&cut).unwrap());
    let n = frames(&results).len();
    assert!((5..30).contains(&n), "{n} frames");
    let why = skipped(&results);
    assert!(
        why.last()
            .is_some_and(|w| w.contains("of the 30") && w.contains("lost")),
        "{why:?}"
    );

    // An MKV (a duration, no count) cut short: the loss is told from where the frames stop.
    let mkv = dir.path().join("whole.mkv");
    encode(&mkv, &pictures, 30, &["-c:v", "libx264"]);
    let whole = std::fs::read(&mkv).unwrap();
    let cut = dir.path().join("cut.mkv");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let results = read_all(&mut VideoSource::open(&cut).unwrap());
    let n = frames(&results).len();
    assert!((3..28).contains(&n), "{n} frames");
    let why = skipped(&results);
    assert!(
        why.last()
            .is_some_and(|w| w.contains("of the 1.00 s") && w.contains("frames lost")),
        "{why:?}"
    );
}

#[test]
fn damaged_bytes_anywhere_give_an_error_or_warnings_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let pictures: Vec<RgbImage> = (0..30).map(|t| picture(64, 48, t)).collect();
    for (name, args) in [
        (
            "clip.mp4",
            &["-c:v", "libx264", "-movflags", "+faststart"][..],
        ),
        (
            "clip.mkv",
            &["-c:v", "libvpx-vp9", "-deadline", "realtime"][..],
        ),
        ("clip.avi", MJPEG),
    ] {
        let path = dir.path().join(name);
        encode(&path, &pictures, 30, args);
        let whole = std::fs::read(&path).unwrap();
        let bad = dir.path().join(format!("bad_{name}"));
        // A small deterministic generator: the same damage on every run.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..12 {
            let mut bytes = whole.clone();
            for _ in 0..(4 + round * 4) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % bytes.len() as u64) as usize;
                bytes[at] ^= (state >> 32) as u8 | 1;
            }
            std::fs::write(&bad, &bytes).unwrap();
            if let Ok(mut source) = VideoSource::open(&bad) {
                let results = read_all(&mut source);
                assert!(frames(&results).len() <= 30, "{name} round {round}");
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

#[test]
fn a_file_that_is_not_a_video_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("sound.wav");
    std::fs::write(&wav, b"RIFF\x04\0\0\0WAVE").unwrap();
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let noise = dir.path().join("noise.mp4");
    std::fs::write(
        &noise,
        (0..5000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for path in [wav, empty, noise, dir.path().join("missing.avi")] {
        let err = VideoSource::open(&path).err().unwrap();
        assert!(matches!(err, CaptureError::File { .. }), "{err}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }

    // A file with sound and no picture.
    let path = dir.path().join("audio.wav");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=0.2"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let err = VideoSource::open(&path).err().unwrap();
    assert!(err.to_string().contains("no video stream"), "{err}");
}

fn has_video_devices() -> bool {
    std::fs::read_dir("/dev").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("video"))
    })
}

#[test]
fn without_a_camera_the_error_says_so_and_lists_the_other_sources() {
    // Must not panic anywhere, camera or not.
    let listed = list_cameras();
    let opened = CameraSource::open(None, CameraRequest::default());
    if cfg!(target_os = "linux") && !has_video_devices() {
        for result in [listed.map(|_| ()), opened.map(|_| ())] {
            let err = result.unwrap_err();
            let CaptureError::NoCamera(msg) = &err else {
                panic!("expected NoCamera, got {err}");
            };
            assert!(msg.contains("no camera found"), "{msg}");
            for other in ["video:FILE", "images:DIR", "demo", "replay:DIR"] {
                assert!(msg.contains(other), "{msg}");
            }
        }
        let err = CameraSource::open(Some("1"), CameraRequest::default())
            .err()
            .unwrap();
        assert!(matches!(err, CaptureError::NoCamera(_)), "{err}");
    }
}
