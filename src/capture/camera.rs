//! The webcam as a frame source (`--source camera[:N|:NAME]`), through the `nokhwa` crate (V4L2
//! on Linux, Media Foundation on Windows, AVFoundation on macOS).
//!
//! `nokhwa::Camera` is not `Send`, and reading a frame blocks until the camera delivers one, so
//! the camera lives on a thread of its own: it opens the camera, takes frames as they come,
//! decodes them into RGB buffers and hands them over a channel of one place. When the consumer
//! is slower than the camera the queued frame is replaced by the newer one (a live source's
//! newest frame wins), and buffers go back to the camera thread once read, so nothing is
//! allocated per frame after the first few. Frames are taken raw and decoded here rather than by
//! `nokhwa`: MJPEG through the same libjpeg-turbo path as still images ([`JpegDecoder`]), YUYV by
//! [`yuyv_to_rgb`].
//!
//! A frame's index counts the frames the camera delivered since it was opened, so frames dropped
//! for a slow consumer or a bad JPEG leave gaps; its timestamp is the time since the stream was
//! opened, on the monotonic clock, taken when the frame arrived.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError, bounded};
use nokhwa::Camera;
use nokhwa::utils::{CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};

use super::image_file::JpegDecoder;
use super::{CaptureError, Frame, FrameSource, Next, RgbImage, SOURCE_SYNTAX};

/// A camera the system offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    /// The backend's index: on Linux `N` of `/dev/videoN`. `camera:N` selects it.
    pub index: u32,
    pub name: String,
    pub description: String,
}

/// The format asked of the camera; the closest one it offers is taken. A 0 means no preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CameraRequest {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl Default for CameraRequest {
    fn default() -> Self {
        Self {
            width: 640,
            height: 480,
            fps: 30,
        }
    }
}

/// The pixel formats this module decodes.
const DECODABLE: &[FrameFormat] = &[FrameFormat::MJPEG, FrameFormat::YUYV];

/// Consecutive failed reads after which the camera counts as gone (unplugged, taken).
const MAX_READ_FAILURES: u32 = 50;

/// How long a read waits for the camera before it reports the wait as a skipped frame, so
/// that a camera that stalls shows up as a warning rather than a silent hang.
const FRAME_WAIT: Duration = Duration::from_secs(5);

/// How long dropping a [`CameraSource`] waits for its thread to close the camera, so that it can
/// be opened again at once. Reading a frame cannot be interrupted, and a camera that stopped
/// delivering would hold the caller for ever; after this the thread is left to finish alone.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The text of [`CaptureError::NoCamera`]: what was looked for and which other sources exist.
fn no_camera(where_: &str) -> CaptureError {
    let others: Vec<&str> = SOURCE_SYNTAX
        .split(", ")
        .filter(|s| !s.starts_with("camera"))
        .collect();
    CaptureError::NoCamera(format!(
        "no camera found ({where_}); other sources: {}",
        others.join(", ")
    ))
}

/// The cameras the system offers, in the backend's order; [`CaptureError::NoCamera`] when there
/// are none.
pub fn list_cameras() -> Result<Vec<CameraInfo>, CaptureError> {
    // Looked for here first, for a message that says where, and because the V4L2 listing
    // unwraps on odd device names.
    #[cfg(target_os = "linux")]
    if !linux_has_video_devices() {
        return Err(no_camera("checked /dev/video*"));
    }
    let Some(backend) = nokhwa::native_api_backend() else {
        return Err(no_camera("this platform has no camera support"));
    };
    let found = std::panic::catch_unwind(|| nokhwa::query(backend))
        .map_err(|_| CaptureError::Camera("listing the cameras failed inside nokhwa".into()))?
        .map_err(|e| CaptureError::Camera(format!("cannot list the cameras: {e}")))?;
    let cameras: Vec<CameraInfo> = found
        .iter()
        .filter_map(|c| {
            Some(CameraInfo {
                index: c.index().as_index().ok()?,
                name: c.human_name(),
                description: c.description().to_owned(),
            })
        })
        .collect();
    if cameras.is_empty() {
        return Err(no_camera(&format!("asked {backend}")));
    }
    Ok(cameras)
}

#[cfg(target_os = "linux")]
fn linux_has_video_devices() -> bool {
    std::fs::read_dir("/dev").is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n.strip_prefix("video")
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()))
            })
        })
    })
}

/// The cameras `selector` names: an index, or else a case-insensitive part of the name.
fn select<'a>(
    cameras: &'a [CameraInfo],
    selector: &str,
) -> Result<Vec<&'a CameraInfo>, CaptureError> {
    let s = selector.trim();
    let chosen: Vec<&CameraInfo> = match s.parse::<u32>() {
        Ok(n) => cameras.iter().filter(|c| c.index == n).collect(),
        Err(_) => {
            let s = s.to_lowercase();
            cameras
                .iter()
                .filter(|c| c.name.to_lowercase().contains(&s))
                .collect()
        }
    };
    if chosen.is_empty() {
        let list: Vec<String> = cameras
            .iter()
            .map(|c| format!("{} ({})", c.index, c.name))
            .collect();
        return Err(CaptureError::Camera(format!(
            "no camera matches `{selector}`; the cameras are {}",
            list.join(", ")
        )));
    }
    Ok(chosen)
}

/// The offered format closest to `want`: the least sum of the ratios' logarithms of width,
/// height and frame rate, so that half the wanted size counts as much as double. On a tie YUYV
/// wins over MJPEG: it carries no compression artefacts and converts faster than JPEG decodes.
fn choose_format(offered: &[CameraFormat], want: CameraRequest) -> Option<CameraFormat> {
    let off = |have: u32, want: u32| {
        if want == 0 {
            0.0
        } else {
            (f64::from(have.max(1)) / f64::from(want)).ln().abs()
        }
    };
    let cost = |f: &CameraFormat| {
        off(f.width(), want.width) + off(f.height(), want.height) + off(f.frame_rate(), want.fps)
    };
    offered
        .iter()
        .filter(|f| DECODABLE.contains(&f.format()) && f.width() > 0 && f.height() > 0)
        .min_by(|a, b| {
            cost(a).total_cmp(&cost(b)).then_with(|| {
                (a.format() != FrameFormat::YUYV).cmp(&(b.format() != FrameFormat::YUYV))
            })
        })
        .copied()
}

/// Converts packed YUYV 4:2:2 (`Y0 U Y1 V` for each pair of pixels) into `out`, with the BT.601
/// limited-range matrix webcams use (Y in 16–235, U and V in 16–240), in 8-bit fixed point.
pub fn yuyv_to_rgb(
    data: &[u8],
    width: usize,
    height: usize,
    out: &mut RgbImage,
) -> Result<(), String> {
    if width == 0 || height == 0 || !width.is_multiple_of(2) {
        return Err(format!("a YUYV frame cannot be {width}×{height}"));
    }
    let needed = width * height * 2;
    if data.len() < needed {
        return Err(format!(
            "the frame holds {} bytes; {width}×{height} YUYV needs {needed}",
            data.len()
        ));
    }
    out.width = width;
    out.height = height;
    out.data.resize(width * height * 3, 0);
    let clamp = |v: i32| (v >> 8).clamp(0, 255) as u8;
    for (src, dst) in data[..needed]
        .chunks_exact(4)
        .zip(out.data.chunks_exact_mut(6))
    {
        let d = i32::from(src[1]) - 128;
        let e = i32::from(src[3]) - 128;
        let (r, g, b) = (409 * e + 128, -100 * d - 208 * e + 128, 516 * d + 128);
        for (k, y) in [src[0], src[2]].into_iter().enumerate() {
            let c = 298 * (i32::from(y) - 16);
            dst[3 * k] = clamp(c + r);
            dst[3 * k + 1] = clamp(c + g);
            dst[3 * k + 2] = clamp(c + b);
        }
    }
    Ok(())
}

/// What the camera thread hands over.
enum Captured {
    Frame {
        image: RgbImage,
        index: u64,
        timestamp: Duration,
        captured: Instant,
    },
    Skipped(String),
    Failed(String),
}

/// A camera, read on a thread of its own.
pub struct CameraSource {
    frames: Receiver<Captured>,
    recycle: Sender<RgbImage>,
    stop: Arc<AtomicBool>,
    /// Disconnected when the camera thread has ended.
    finished: Receiver<()>,
    description: String,
}

impl CameraSource {
    /// Opens the camera `selector` names (its index, or a part of its name; `None`: the first
    /// that opens) in the format closest to `want`, and starts reading it.
    pub fn open(selector: Option<&str>, want: CameraRequest) -> Result<Self, CaptureError> {
        let cameras = list_cameras()?;
        let candidates = match selector {
            Some(s) => select(&cameras, s)?,
            None => cameras.iter().collect(),
        };
        let mut failures = Vec::new();
        for camera in candidates {
            match Self::start(camera, want) {
                Ok(source) => return Ok(source),
                Err(why) => {
                    failures.push(format!("camera {} ({}): {why}", camera.index, camera.name))
                }
            }
        }
        Err(CaptureError::Camera(format!(
            "no camera could be opened: {}",
            failures.join("; ")
        )))
    }

    fn start(camera: &CameraInfo, want: CameraRequest) -> Result<Self, String> {
        let (ready_tx, ready_rx) = bounded(1);
        let (frame_tx, frames) = bounded(1);
        // Room for every buffer in flight: the queued one, the consumer's and the spare.
        let (recycle, recycle_rx) = bounded(4);
        let (finished_tx, finished) = bounded::<()>(0);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = CaptureThread {
            index: camera.index,
            name: camera.name.clone(),
            frames: frame_tx,
            queued: frames.clone(),
            recycle: recycle_rx,
            stop: Arc::clone(&stop),
        };
        std::thread::Builder::new()
            .name(format!("camera {}", camera.index))
            .spawn(move || {
                let _finished = finished_tx;
                thread.run(want, ready_tx);
            })
            .map_err(|e| format!("cannot start its thread: {e}"))?;
        let description = match ready_rx.recv() {
            Ok(Ok(d)) => d,
            Ok(Err(why)) => return Err(why),
            Err(_) => return Err("its thread ended while opening it".into()),
        };
        Ok(Self {
            frames,
            recycle,
            stop,
            finished,
            description,
        })
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self, frame: &mut Frame) -> Result<Next, CaptureError> {
        match self.frames.recv_timeout(FRAME_WAIT) {
            Ok(Captured::Frame {
                mut image,
                index,
                timestamp,
                captured,
            }) => {
                std::mem::swap(&mut frame.image, &mut image);
                // Full only if the camera thread is gone, and then the buffer is not needed.
                let _ = self.recycle.try_send(image);
                frame.index = index;
                frame.timestamp = timestamp;
                frame.captured = captured;
                Ok(Next::Frame)
            }
            Ok(Captured::Skipped(why)) => Ok(Next::Skipped(why)),
            Ok(Captured::Failed(why)) => Err(CaptureError::Camera(why)),
            Err(RecvTimeoutError::Timeout) => Ok(Next::Skipped(format!(
                "no frame from the camera for {} s",
                FRAME_WAIT.as_secs()
            ))),
            Err(RecvTimeoutError::Disconnected) => Err(CaptureError::Camera(
                "the camera stopped delivering frames".into(),
            )),
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn is_live(&self) -> bool {
        true
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Frees the thread if it waits to deliver; then waits until it has closed the camera.
        while self.frames.try_recv().is_ok() {}
        let _ = self.finished.recv_timeout(CLOSE_WAIT);
    }
}

/// The camera thread's end of the channels.
struct CaptureThread {
    index: u32,
    name: String,
    frames: Sender<Captured>,
    /// The receiving end too, to take a stale frame out of the queue when a newer one comes.
    queued: Receiver<Captured>,
    recycle: Receiver<RgbImage>,
    stop: Arc<AtomicBool>,
}

impl CaptureThread {
    fn run(self, want: CameraRequest, ready: Sender<Result<String, String>>) {
        let opened = open_camera(self.index, want).and_then(|(camera, format)| {
            let jpeg = JpegDecoder::new()?;
            Ok((camera, format, jpeg))
        });
        let (mut camera, format, mut jpeg) = match opened {
            Ok(o) => o,
            Err(why) => {
                let _ = ready.send(Err(why));
                return;
            }
        };
        let description = format!(
            "camera {}: {} {}×{} @ {} fps {}",
            self.index,
            self.name,
            format.width(),
            format.height(),
            format.frame_rate(),
            format.format()
        );
        if ready.send(Ok(description)).is_err() {
            return;
        }
        let (w, h) = (format.width() as usize, format.height() as usize);
        let opened_at = Instant::now();
        let mut spare: Vec<RgbImage> = Vec::new();
        let mut count = 0u64;
        let mut failures = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let raw = match camera.frame_raw() {
                Ok(raw) => raw,
                Err(why) => {
                    failures += 1;
                    if failures >= MAX_READ_FAILURES {
                        self.deliver(
                            Captured::Failed(format!("camera {}: {why}", self.index)),
                            &mut spare,
                        );
                        return;
                    }
                    continue;
                }
            };
            let captured = Instant::now();
            failures = 0;
            let index = count;
            count += 1;
            let mut image = match self.recycle.try_recv() {
                Ok(image) => image,
                Err(_) => spare.pop().unwrap_or_default(),
            };
            let decoded = match format.format() {
                FrameFormat::MJPEG => jpeg.decode_into(&raw, &mut image),
                FrameFormat::YUYV => yuyv_to_rgb(&raw, w, h, &mut image),
                other => Err(format!(
                    "the camera sends {other}, which is not decoded here"
                )),
            };
            drop(raw);
            let message = match decoded {
                Ok(()) => Captured::Frame {
                    image,
                    index,
                    timestamp: captured.duration_since(opened_at),
                    captured,
                },
                Err(why) => {
                    spare.push(image);
                    Captured::Skipped(format!("skipped camera frame {index}: {why}"))
                }
            };
            self.deliver(message, &mut spare);
        }
    }

    /// Queues `message`, replacing a frame still waiting there.
    fn deliver(&self, mut message: Captured, spare: &mut Vec<RgbImage>) {
        loop {
            match self.frames.try_send(message) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(m)) => {
                    message = m;
                    match self.queued.try_recv() {
                        Ok(Captured::Frame { image, .. }) => spare.push(image),
                        Ok(_) | Err(TryRecvError::Empty) => {}
                        Err(TryRecvError::Disconnected) => return,
                    }
                }
            }
        }
    }
}

/// Opens camera `index` in the decodable format closest to `want` and starts its stream.
fn open_camera(index: u32, want: CameraRequest) -> Result<(Camera, CameraFormat), String> {
    let any = RequestedFormat::with_formats(RequestedFormatType::None, DECODABLE);
    let mut camera = Camera::new(CameraIndex::Index(index), any).map_err(|e| e.to_string())?;
    let offered = camera
        .compatible_camera_formats()
        .map_err(|e| e.to_string())?;
    let chosen = choose_format(&offered, want)
        .ok_or("it offers neither MJPEG nor YUYV frames, the formats read here")?;
    if camera.camera_format() != chosen {
        let exact = RequestedFormat::with_formats(RequestedFormatType::Exact(chosen), DECODABLE);
        camera
            .set_camera_requset(exact)
            .map_err(|e| e.to_string())?;
    }
    camera.open_stream().map_err(|e| e.to_string())?;
    // The driver may have adjusted what was asked for; decode what it says it sends.
    let format = camera.refresh_camera_format().unwrap_or(chosen);
    if !DECODABLE.contains(&format.format()) {
        return Err(format!("it sends {} frames after all", format.format()));
    }
    Ok((camera, format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nokhwa::utils::Resolution;

    fn rgb_of(y: u8, u: u8, v: u8) -> [u8; 3] {
        let mut out = RgbImage::default();
        yuyv_to_rgb(&[y, u, y, v], 2, 1, &mut out).unwrap();
        assert_eq!(out.data[..3], out.data[3..]);
        [out.data[0], out.data[1], out.data[2]]
    }

    #[test]
    fn yuyv_converts_with_the_bt601_limited_range_matrix() {
        // Black, white and grey, then the studio-range codes of the full-strength primaries.
        assert_eq!(rgb_of(16, 128, 128), [0, 0, 0]);
        assert_eq!(rgb_of(235, 128, 128), [255, 255, 255]);
        assert_eq!(rgb_of(126, 128, 128), [128, 128, 128]);
        assert_eq!(rgb_of(81, 90, 240), [255, 0, 0]);
        assert_eq!(rgb_of(145, 54, 34), [0, 255, 1]);
        assert_eq!(rgb_of(41, 240, 110), [0, 0, 255]);
        // Out-of-range codes clamp instead of wrapping.
        assert_eq!(rgb_of(255, 255, 255), [255, 125, 255]);
        assert_eq!(rgb_of(0, 0, 0), [0, 135, 0]);
    }

    #[test]
    fn yuyv_pairs_share_their_chroma_and_rows_follow_each_other() {
        let data = [16, 128, 235, 128, 235, 128, 16, 128];
        let mut out = RgbImage::default();
        yuyv_to_rgb(&data, 2, 2, &mut out).unwrap();
        assert_eq!((out.width, out.height), (2, 2));
        assert_eq!(out.data, [0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0]);
    }

    #[test]
    fn short_or_odd_yuyv_frames_are_errors() {
        let mut out = RgbImage::default();
        assert!(yuyv_to_rgb(&[0; 7], 2, 2, &mut out).is_err());
        assert!(yuyv_to_rgb(&[0; 12], 3, 2, &mut out).is_err());
        assert!(yuyv_to_rgb(&[], 0, 0, &mut out).is_err());
    }

    fn mode(format: FrameFormat, w: u32, h: u32, fps: u32) -> CameraFormat {
        CameraFormat::new(Resolution::new(w, h), format, fps)
    }

    #[test]
    fn the_closest_format_is_chosen() {
        let offered = [
            mode(FrameFormat::MJPEG, 1280, 720, 30),
            mode(FrameFormat::YUYV, 1280, 720, 10),
            mode(FrameFormat::MJPEG, 640, 480, 30),
            mode(FrameFormat::YUYV, 640, 480, 30),
            mode(FrameFormat::YUYV, 320, 240, 30),
            mode(FrameFormat::NV12, 640, 480, 30),
        ];
        let want = |width, height, fps| CameraRequest { width, height, fps };
        assert_eq!(
            choose_format(&offered, want(640, 480, 30)),
            Some(offered[3])
        );
        assert_eq!(
            choose_format(&offered, want(1280, 720, 30)),
            Some(offered[0])
        );
        assert_eq!(
            choose_format(&offered, want(1920, 1080, 30)),
            Some(offered[0])
        );
        assert_eq!(
            choose_format(&offered, want(300, 200, 25)),
            Some(offered[4])
        );
        assert_eq!(choose_format(&offered[5..], want(640, 480, 30)), None);
    }

    #[test]
    fn cameras_are_selected_by_index_or_name() {
        let cams = [
            CameraInfo {
                index: 0,
                name: "Integrated Camera".into(),
                description: String::new(),
            },
            CameraInfo {
                index: 2,
                name: "Logitech BRIO".into(),
                description: String::new(),
            },
        ];
        assert_eq!(select(&cams, "2").unwrap(), [&cams[1]]);
        assert_eq!(select(&cams, "brio").unwrap(), [&cams[1]]);
        assert_eq!(select(&cams, "camera").unwrap(), [&cams[0]]);
        let err = select(&cams, "1").unwrap_err().to_string();
        assert!(
            err.contains("0 (Integrated Camera), 2 (Logitech BRIO)"),
            "{err}"
        );
    }

    #[test]
    fn the_no_camera_message_lists_the_other_sources() {
        let msg = no_camera("checked /dev/video*").to_string();
        assert_eq!(
            msg,
            "no camera found (checked /dev/video*); other sources: video:FILE, images:DIR, demo, replay:DIR"
        );
    }
}
