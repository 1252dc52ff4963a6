//! Speed of video decoding alone: the shared 512×512 H.264 clip `d3.mp4` (354 frames) read
//! through `VideoSource` into a reused RGB frame, as the tracker's capture thread reads it. Where
//! the shared data is not beside the repository, a 512×512 H.264 clip is made with `ffmpeg`.
//!
//!     cargo bench --bench decode

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use facetrack::capture::{Frame, FrameSource, Next, VideoSource};

fn clip(dir: &tempfile::TempDir) -> PathBuf {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/video/d3/d3.mp4");
    if shared.is_file() {
        return shared;
    }
    let path = dir.path().join("clip.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=512x512:r=30:d=11.8",
        ])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&path)
        .status()
        .expect("ffmpeg on PATH");
    assert!(status.success());
    path
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = clip(&dir);
    let frames = {
        let mut source = VideoSource::open(&path).expect("the clip");
        let mut frame = Frame::default();
        let mut n = 0;
        while source.next_frame(&mut frame).expect("a frame") == Next::Frame {
            n += 1;
        }
        n
    };
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(frames));
    group.bench_function("h264_512x512_clip", |b| {
        let mut frame = Frame::default();
        b.iter(|| {
            let mut source = VideoSource::open(&path).expect("the clip");
            while source.next_frame(&mut frame).expect("a frame") == Next::Frame {
                black_box(&frame.image.data[0]);
            }
        })
    });
    group.finish();
}
