//! The frame sources on files made here: image folders with bad files in them.

use std::path::Path;
use std::time::Duration;

use facetrack::capture::{
    CaptureError, Frame, FrameSource, ImageFolderSource, Next, RgbImage, load_rgb,
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
