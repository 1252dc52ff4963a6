//! The frame sources on files made here: image folders with bad files in them, MJPEG AVIs
//! written by the project's own writer (whole, damaged, cut short), and the camera on a machine
//! that has none.

use std::path::Path;
use std::time::Duration;

use facetrack::capture::{
    CameraRequest, CameraSource, CaptureError, Frame, FrameSource, ImageFolderSource,
    MjpegAviWriter, Next, RgbImage, VideoCodec, VideoSource, list_cameras, load_rgb,
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
            Next::Skipped(why) => Some(why.as_str()),
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

/// Writes `n` moving pictures as an MJPEG AVI; returns them.
fn write_video(path: &Path, n: usize, fps: u32) -> Vec<RgbImage> {
    let pictures: Vec<RgbImage> = (0..n).map(|t| picture(64, 48, t)).collect();
    let mut writer = MjpegAviWriter::create(path, 64, 48, fps, 95).unwrap();
    for p in &pictures {
        writer.write_frame(p).unwrap();
    }
    assert_eq!(writer.finish().unwrap(), n as u64);
    pictures
}

#[test]
fn an_avi_round_trips_through_the_writer_and_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.avi");
    let pictures = write_video(&path, 12, 25);

    let mut source = VideoSource::open(&path).unwrap();
    let info = source.info().clone();
    assert_eq!((info.width, info.height), (64, 48));
    assert_eq!(info.fps, 25.0);
    assert_eq!(info.frames, 12);
    assert_eq!(info.codec, VideoCodec::Mjpeg);
    let results = read_all(&mut source);
    assert!(skipped(&results).is_empty());
    let got = frames(&results);
    assert_eq!(got.len(), 12);
    for (i, (frame, picture)) in got.iter().zip(&pictures).enumerate() {
        assert_eq!(frame.index, i as u64);
        assert_eq!(frame.timestamp, Duration::from_millis(40 * i as u64));
        let diff = mean_abs_diff(&frame.image, picture);
        assert!(diff < 2.0, "frame {i} differs by {diff} on average");
    }
    // Each frame is told apart from its neighbour: the reader does not repeat one.
    assert!(mean_abs_diff(&got[0].image, &got[6].image) > 5.0);
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
fn video_frames_decode_bit_identically_to_the_same_jpeg_as_a_still() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = jpeg_bytes(&picture(64, 48, 3));
    let still = dir.path().join("still.jpg");
    std::fs::write(&still, &bytes).unwrap();
    let path = dir.path().join("one.avi");
    let mut writer = MjpegAviWriter::create(&path, 64, 48, 30, 90).unwrap();
    writer.write_jpeg(&bytes).unwrap();
    writer.finish().unwrap();
    let results = read_all(&mut VideoSource::open(&path).unwrap());
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].1.image, load_rgb(&still).unwrap());
}

#[test]
fn a_corrupt_frame_is_skipped_and_the_others_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.avi");
    let mut writer = MjpegAviWriter::create(&path, 64, 48, 30, 90).unwrap();
    for t in 0..6 {
        if t == 3 {
            // A JPEG whose data stops after its headers (odd-sized, to exercise the padding).
            let mut broken = jpeg_bytes(&picture(64, 48, t));
            broken.truncate((broken.len() / 3) | 1);
            writer.write_jpeg(&broken).unwrap();
        } else {
            writer.write_frame(&picture(64, 48, t)).unwrap();
        }
    }
    writer.finish().unwrap();
    let results = read_all(&mut VideoSource::open(&path).unwrap());
    let why = skipped(&results);
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].contains("frame 3"), "{}", why[0]);
    let indices: Vec<u64> = frames(&results).iter().map(|f| f.index).collect();
    assert_eq!(indices, [0, 1, 2, 4, 5]);
}

#[test]
fn a_truncated_avi_ends_with_a_warning_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.avi");
    write_video(&path, 5, 30);
    let whole = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.avi");

    // Every cut, from the header on: an error on opening or a clean end, never a panic.
    for len in (0..whole.len()).step_by(37) {
        std::fs::write(&cut, &whole[..len]).unwrap();
        if let Ok(mut source) = VideoSource::open(&cut) {
            let results = read_all(&mut source);
            assert!(frames(&results).len() <= 5);
        }
    }

    // Cut inside frame 3: frames 0–2, then a warning.
    let movi = find(&whole, b"movi") + 4;
    let frame_3 = movi + nth_chunk(&whole[movi..], 3);
    std::fs::write(&cut, &whole[..frame_3 + 20]).unwrap();
    let results = read_all(&mut VideoSource::open(&cut).unwrap());
    assert_eq!(frames(&results).len(), 3);
    let why = skipped(&results);
    assert_eq!(why.len(), 1);
    assert!(
        why[0].contains("cut short") && why[0].contains("frames from 3"),
        "{}",
        why[0]
    );

    // Cut where the index would start: an AVI without idx1, whole otherwise.
    let idx1 = find(&whole, b"idx1");
    std::fs::write(&cut, &whole[..idx1]).unwrap();
    let results = read_all(&mut VideoSource::open(&cut).unwrap());
    assert_eq!(frames(&results).len(), 5);
    assert!(skipped(&results).is_empty());
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

/// Offset of the `n`th chunk in a run of chunks.
fn nth_chunk(chunks: &[u8], n: usize) -> usize {
    let mut at = 0;
    for _ in 0..n {
        let size = u32::from_le_bytes(chunks[at + 4..at + 8].try_into().unwrap()) as usize;
        at += 8 + size + size % 2;
    }
    at
}

#[test]
fn a_file_that_is_not_an_avi_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("picture.png");
    save_png(&picture(8, 8, 0), &png);
    let wav = dir.path().join("sound.wav");
    std::fs::write(&wav, b"RIFF\x04\0\0\0WAVE").unwrap();
    let empty = dir.path().join("empty.avi");
    std::fs::write(&empty, b"").unwrap();
    for path in [png, wav, empty, dir.path().join("missing.avi")] {
        let err = VideoSource::open(&path).err().unwrap();
        assert!(matches!(err, CaptureError::File { .. }), "{err}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }

    // An AVI whose one stream is not video.
    let path = dir.path().join("audio.avi");
    write_video(&path, 2, 30);
    let mut bytes = std::fs::read(&path).unwrap();
    let vids = find(&bytes, b"vids");
    bytes[vids..vids + 4].copy_from_slice(b"auds");
    std::fs::write(&path, &bytes).unwrap();
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
            for other in ["video:FILE.avi", "images:DIR", "demo", "replay:DIR"] {
                assert!(msg.contains(other), "{msg}");
            }
        }
        let err = CameraSource::open(Some("1"), CameraRequest::default())
            .err()
            .unwrap();
        assert!(matches!(err, CaptureError::NoCamera(_)), "{err}");
    }
}
