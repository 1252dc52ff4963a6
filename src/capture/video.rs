//! Video files as a frame source (`--source video:FILE`), decoded by FFmpeg's libraries: every
//! container and codec the system's libavformat and libavcodec read (MP4, MOV, MKV, WebM, AVI…;
//! H.264, HEVC, VP9, AV1, MJPEG…).
//!
//! Each frame's timestamp is its presentation time (the best-effort timestamp FFmpeg gives, in
//! the stream's time base), so variable-frame-rate clips keep their real timing. The picture is
//! converted to RGB by swscale into a buffer allocated once, then turned upright when the stream
//! carries a display matrix (the rotation phones write) — rotation is done while copying into the
//! caller's frame, so an upright clip costs one row copy. A frame that fails to decode is skipped
//! with a warning naming it and decoding goes on; a file that ends before the frame count its
//! header declares ends with one warning saying how many frames were lost.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use ffmpeg::codec::threading;
use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::util::frame;
use ffmpeg::{Error as AvError, Packet, Rational, media};
use ffmpeg_next as ffmpeg;

use super::{CaptureError, Frame, FrameSource, Next, RgbImage, count_frames};

/// Consecutive read errors after which a damaged container is taken to have ended: the demuxer
/// resynchronises past a few bad bytes, but a file cut short fails every read.
const MAX_READ_ERRORS: u32 = 32;

/// What a video file's headers say.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// The picture as shown: after the rotation is applied.
    pub width: usize,
    pub height: usize,
    /// The stream's average frame rate (frames a second); its real timing is each frame's
    /// timestamp.
    pub fps: f64,
    /// The number of frames the headers declare, or estimate from the duration; 0 when unknown.
    pub frames: u64,
    /// The codec's short name ("h264", "vp9", "mjpeg"…).
    pub codec: String,
    /// Degrees clockwise the stored picture is turned to stand upright: 0, 90, 180 or 270.
    pub rotation: u32,
    /// The stream's duration, when the headers say.
    pub duration: Option<Duration>,
    /// The stream's time base (seconds a tick, as a fraction): timestamps are whole ticks of it.
    pub time_base: (i32, i32),
}

/// How many frames the headers promise and how exactly.
#[derive(Debug, Clone, Copy)]
struct Expected {
    frames: u64,
    /// Frames short of `frames` that are not reported: 0 for a counted header (MP4's sample
    /// table), a little for an estimate from the duration.
    slack: u64,
}

/// A video file, decoded frame by frame.
pub struct VideoSource {
    path: PathBuf,
    input: ffmpeg::format::context::Input,
    stream: usize,
    decoder: ffmpeg::decoder::Video,
    time_base: f64,
    /// Timestamp of the stream's first frame in its time base, for seeking.
    start_pts: i64,
    info: VideoInfo,
    expected: Option<Expected>,
    packet: Packet,
    decoded: frame::Video,
    rgb: frame::Video,
    scaler: Option<Scaler>,
    /// Index of the next frame out of the decoder (a skipped frame takes an index too).
    next_index: u64,
    /// Frames given or skipped so far, for the count check at the end.
    delivered: u64,
    /// Presentation time of the last frame, to extrapolate one without a timestamp.
    last_timestamp: Option<Duration>,
    draining: bool,
    done: bool,
    /// Why reading stopped early, when it did.
    read_error: Option<String>,
    /// After a seek: frames before this time are decoded (they are needed to decode the rest)
    /// but not given out.
    skip_before: Option<Duration>,
}

/// The RGB converter, owned by one source and used by whichever thread reads it.
struct Scaler(scaling::Context);

// SAFETY: an SwsContext has no thread affinity; this one is reached only through its
// source's `&mut self`, so never from two threads at once.
unsafe impl Send for Scaler {}

/// Sets FFmpeg up once for the process, for reading and writing video alike. Its own log lines
/// repeat what the warnings here say, without naming the frame; some (the MJPEG decoder's "No
/// JPEG data found") come at its fatal level, so all are silenced.
pub fn init_ffmpeg() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = ffmpeg::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Quiet);
    });
}

fn rational(r: Rational) -> f64 {
    if r.denominator() == 0 {
        0.0
    } else {
        f64::from(r.numerator()) / f64::from(r.denominator())
    }
}

/// Clockwise degrees (0, 90, 180, 270) a display matrix turns the stored picture by to show it,
/// as `ffmpeg`'s autorotate reads it; an angle between is taken to the nearest quarter turn.
fn display_rotation(matrix: &[u8]) -> Option<u32> {
    if matrix.len() < 36 {
        return None;
    }
    let mut m = [0i32; 9];
    for (i, v) in m.iter_mut().enumerate() {
        *v = i32::from_ne_bytes(matrix[4 * i..4 * i + 4].try_into().ok()?);
    }
    // SAFETY: the matrix is nine 32-bit integers, as av_display_rotation_get reads.
    let ccw = unsafe { ffmpeg::ffi::av_display_rotation_get(m.as_ptr()) };
    if !ccw.is_finite() {
        return None;
    }
    let cw = (-ccw).rem_euclid(360.0);
    Some(((cw / 90.0).round() as u32 % 4) * 90)
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> CaptureError {
    CaptureError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

impl VideoSource {
    /// Opens `path` and its best video stream. A file that is missing, is not a video or whose
    /// codec this FFmpeg cannot decode is an error naming the file.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        init_ffmpeg();
        match std::fs::metadata(path) {
            Err(e) => return Err(file_error(path, e)),
            Ok(m) if m.is_dir() => {
                return Err(file_error(
                    path,
                    "a folder, not a video (`track` takes a folder of videos)",
                ));
            }
            Ok(_) => {}
        }
        let input = ffmpeg::format::input(path).map_err(|e| {
            file_error(
                path,
                format!(
                    "FFmpeg cannot open it as a video ({e}): not a video, or damaged or cut short"
                ),
            )
        })?;
        let stream = input
            .streams()
            .best(media::Type::Video)
            .ok_or_else(|| file_error(path, "no video stream in it"))?;
        let index = stream.index();
        let time_base = stream.time_base();
        let mut context = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| file_error(path, format!("its video stream: {e}")))?;
        // Frame threads decode ahead while the tracker fits; two match the cores it runs on.
        context.set_threading(threading::Config {
            kind: threading::Type::Frame,
            count: 2,
            ..Default::default()
        });
        // SAFETY: the context is not opened yet; pkt_timebase is a plain field libavcodec reads
        // to put the frames' timestamps in the stream's time base.
        unsafe {
            (*context.as_mut_ptr()).pkt_timebase = time_base.into();
        }
        let decoder = context.decoder().video().map_err(|e| {
            file_error(
                path,
                format!(
                    "cannot decode its video stream ({e}; codec {:?})",
                    stream.parameters().id()
                ),
            )
        })?;
        if decoder.width() == 0 || decoder.height() == 0 {
            return Err(file_error(path, "its video stream has no picture size"));
        }

        let rotation = stream
            .side_data()
            .find(|s| s.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix)
            .and_then(|s| display_rotation(s.data()))
            .or_else(|| {
                stream
                    .metadata()
                    .get("rotate")
                    .and_then(|r| r.trim().parse::<i64>().ok())
                    .map(|r| (r.rem_euclid(360) as u32 + 45) / 90 % 4 * 90)
            })
            .unwrap_or(0);
        let (w, h) = (decoder.width() as usize, decoder.height() as usize);
        let (width, height) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
        let mut fps = rational(stream.avg_frame_rate());
        if !(fps.is_finite() && fps > 0.0) {
            fps = rational(stream.rate());
        }
        let tb = rational(time_base);
        let duration = if stream.duration() > 0 {
            Some(stream.duration() as f64 * tb)
        } else if input.duration() > 0 {
            Some(input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE))
        } else {
            None
        }
        .filter(|d| d.is_finite() && *d > 0.0);
        let expected = if stream.frames() > 0 {
            Some(Expected {
                frames: stream.frames() as u64,
                slack: 0,
            })
        } else {
            duration.filter(|_| fps > 0.0).map(|d| {
                let frames = (d * fps).round() as u64;
                Expected {
                    frames,
                    slack: 2.max(frames / 100),
                }
            })
        };
        let codec = decoder
            .codec()
            .map(|c| c.name().to_owned())
            .unwrap_or_else(|| format!("{:?}", stream.parameters().id()).to_lowercase());
        let start_pts = if stream.start_time() == ffmpeg::ffi::AV_NOPTS_VALUE {
            0
        } else {
            stream.start_time()
        };
        Ok(Self {
            path: path.to_owned(),
            stream: index,
            time_base: tb,
            start_pts,
            info: VideoInfo {
                width,
                height,
                fps,
                frames: expected.map_or(0, |e| e.frames),
                codec,
                rotation,
                duration: duration.map(Duration::from_secs_f64),
                time_base: (time_base.numerator(), time_base.denominator()),
            },
            expected,
            input,
            decoder,
            packet: Packet::empty(),
            decoded: frame::Video::empty(),
            rgb: frame::Video::empty(),
            scaler: None,
            next_index: 0,
            delivered: 0,
            last_timestamp: None,
            draining: false,
            done: false,
            read_error: None,
            skip_before: None,
        })
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// Moves to `t` (from the stream's start): decoding restarts at the key frame at or before
    /// it, and the first frame given is the one shown at `t`; frames are then indexed from their
    /// time times the frame rate.
    pub fn seek(&mut self, t: Duration) -> Result<(), CaptureError> {
        let target =
            self.start_pts + (t.as_secs_f64() / self.time_base.max(f64::MIN_POSITIVE)) as i64;
        // SAFETY: the input context is open; seeking in the video stream's own time base, to a
        // key frame at or before the target.
        let r = unsafe {
            ffmpeg::ffi::av_seek_frame(
                self.input.as_mut_ptr(),
                self.stream as i32,
                target,
                ffmpeg::ffi::AVSEEK_FLAG_BACKWARD,
            )
        };
        if r < 0 {
            return Err(file_error(
                &self.path,
                format!("cannot seek: {}", AvError::from(r)),
            ));
        }
        self.decoder.flush();
        self.draining = false;
        self.done = false;
        self.read_error = None;
        self.last_timestamp = None;
        // Frames counted from here on are not the whole file's: no count check at the end.
        self.expected = None;
        self.next_index = u64::MAX;
        // Half a frame early: the frame shown at `t` started up to a frame before it.
        let half_frame = Duration::from_secs_f64(0.5 / self.info.fps.max(1.0));
        self.skip_before = Some(
            Duration::from_secs_f64((self.start_pts as f64 * self.time_base).max(0.0))
                + t.saturating_sub(half_frame),
        );
        Ok(())
    }

    fn frame_name(&self, index: u64, at: Option<Duration>) -> String {
        match at {
            Some(t) => format!(
                "{}: frame {index} (at {:.3} s)",
                self.path.display(),
                t.as_secs_f64()
            ),
            None => format!("{}: frame {index}", self.path.display()),
        }
    }

    fn timestamp_of_decoded(&self) -> Option<Duration> {
        let pts = self.decoded.timestamp().or(self.decoded.pts())?;
        let secs = pts as f64 * self.time_base;
        (secs.is_finite()).then(|| Duration::from_secs_f64(secs.max(0.0)))
    }

    /// The loss of a file that ended before its declared count, once. Where the header
    /// counts the frames (MP4, MOV, AVI), the count is compared; where it gives only a duration
    /// (MKV, WebM, MPEG-TS), where the last frame ended is — a frame count from the duration
    /// would be wrong for a variable frame rate.
    fn end_warning(&mut self) -> Option<Next> {
        let expected = self.expected.take()?;
        let why = self
            .read_error
            .as_deref()
            .map(|e| format!(" (reading stopped: {e})"))
            .unwrap_or_default();
        let path = self.path.display();
        if expected.slack == 0 {
            let short = expected.frames.saturating_sub(self.delivered);
            if short == 0 {
                return None;
            }
            return Some(Next::Lost {
                frames: short,
                why: format!(
                    "{path}: the video ended after {} frames of the {} its header declares: {} lost — the file is cut short or damaged{why}",
                    self.delivered,
                    expected.frames,
                    count_frames(short)
                ),
            });
        }
        let duration = self.info.duration?.as_secs_f64();
        let period = 1.0 / self.info.fps.max(1.0);
        let start = self.start_pts as f64 * self.time_base;
        let ended = self
            .last_timestamp
            .map_or(0.0, |t| t.as_secs_f64() - start + period);
        let missing = duration - ended;
        if missing <= (2.0 * period).max(0.01 * duration) && self.read_error.is_none() {
            return None;
        }
        let lost = (missing.max(0.0) / period).round() as u64;
        if lost == 0 {
            return None;
        }
        Some(Next::Lost {
            frames: lost,
            why: format!(
                "{path}: the video ended after {} frames, at {ended:.2} s of the {duration:.2} s its header gives: about {} lost — the file is cut short or damaged{why}",
                self.delivered,
                count_frames(lost)
            ),
        })
    }

    /// Converts the decoded picture into `image`, upright.
    fn convert(&mut self, image: &mut RgbImage) -> Result<(), String> {
        let (w, h, format) = (
            self.decoded.width(),
            self.decoded.height(),
            self.decoded.format(),
        );
        let fits = self.scaler.as_ref().is_some_and(|s| {
            let i = s.0.input();
            i.width == w && i.height == h && i.format == format
        });
        if !fits {
            let scaler =
                scaling::Context::get(format, w, h, Pixel::RGB24, w, h, scaling::Flags::BILINEAR)
                    .map_err(|e| format!("cannot convert its {format:?} pictures to RGB: {e}"))?;
            self.scaler = Some(Scaler(scaler));
            self.rgb = frame::Video::new(Pixel::RGB24, w, h);
            self.set_color_range();
        }
        let Some(scaler) = self.scaler.as_mut() else {
            return Err("no converter".into());
        };
        scaler
            .0
            .run(&self.decoded, &mut self.rgb)
            .map_err(|e| format!("cannot convert it to RGB: {e}"))?;
        let stride = self.rgb.stride(0);
        let src = self.rgb.data(0);
        copy_rotated(
            src,
            stride,
            w as usize,
            h as usize,
            self.info.rotation,
            image,
        );
        Ok(())
    }

    /// Full-range YUV (most phone footage and every JPEG) decodes to full-range RGB, not a
    /// washed-out one: swscale assumes the broadcast range unless told.
    fn set_color_range(&mut self) {
        let full = self.decoded.color_range() == ffmpeg::util::color::Range::JPEG;
        let space = match self.decoded.color_space() {
            ffmpeg::util::color::Space::BT709 => ffmpeg::ffi::SWS_CS_ITU709,
            ffmpeg::util::color::Space::BT2020NCL | ffmpeg::util::color::Space::BT2020CL => {
                ffmpeg::ffi::SWS_CS_BT2020
            }
            _ => ffmpeg::ffi::SWS_CS_DEFAULT,
        };
        let Some(scaler) = self.scaler.as_mut() else {
            return;
        };
        // SAFETY: the scaler context is valid; the coefficient table is a static of libswscale
        // and the details only change how it converts colours.
        unsafe {
            let ctx = scaler.0.as_mut_ptr();
            let mut inv_table = std::ptr::null_mut();
            let mut table = std::ptr::null_mut();
            let (mut src_range, mut dst_range, mut brightness, mut contrast, mut saturation) =
                (0, 0, 0, 0, 0);
            if ffmpeg::ffi::sws_getColorspaceDetails(
                ctx,
                &mut inv_table,
                &mut src_range,
                &mut table,
                &mut dst_range,
                &mut brightness,
                &mut contrast,
                &mut saturation,
            ) < 0
            {
                return;
            }
            let coefficients = ffmpeg::ffi::sws_getCoefficients(space);
            ffmpeg::ffi::sws_setColorspaceDetails(
                ctx,
                coefficients,
                i32::from(full) | src_range,
                table,
                1,
                brightness,
                contrast,
                saturation,
            );
        }
    }

    fn skip(&mut self, index: u64, at: Option<Duration>, why: impl std::fmt::Display) -> Next {
        self.delivered += 1;
        if at.is_some() {
            self.last_timestamp = at;
        }
        Next::Skipped(format!(
            "{} could not be decoded and is skipped: {why}",
            self.frame_name(index, at)
        ))
    }

    fn take_index(&mut self, at: Option<Duration>) -> u64 {
        if self.next_index == u64::MAX {
            // After a seek: the index follows the time.
            let t = at.map_or(0.0, |t| {
                t.as_secs_f64() - self.start_pts as f64 * self.time_base
            });
            self.next_index = (t.max(0.0) * self.info.fps).round() as u64;
        }
        let i = self.next_index;
        self.next_index += 1;
        i
    }
}

/// Copies a packed RGB picture (`w`×`h`, rows `stride` bytes apart) into `image`, turned
/// clockwise by `rotation` degrees.
fn copy_rotated(
    src: &[u8],
    stride: usize,
    w: usize,
    h: usize,
    rotation: u32,
    image: &mut RgbImage,
) {
    let (dw, dh) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
    image.width = dw;
    image.height = dh;
    image.data.resize(dw * dh * 3, 0);
    let dst = &mut image.data;
    match rotation {
        0 => {
            for (y, row) in dst.chunks_exact_mut(w * 3).enumerate() {
                row.copy_from_slice(&src[y * stride..y * stride + w * 3]);
            }
        }
        180 => {
            for (dy, row) in dst.chunks_exact_mut(w * 3).enumerate() {
                let s = &src[(h - 1 - dy) * stride..][..w * 3];
                for (d, p) in row.chunks_exact_mut(3).zip(s.chunks_exact(3).rev()) {
                    d.copy_from_slice(p);
                }
            }
        }
        90 => {
            // The stored picture's left column becomes the top row, read bottom up.
            for (dy, row) in dst.chunks_exact_mut(dw * 3).enumerate() {
                for (dx, d) in row.chunks_exact_mut(3).enumerate() {
                    let at = (h - 1 - dx) * stride + dy * 3;
                    d.copy_from_slice(&src[at..at + 3]);
                }
            }
        }
        _ => {
            // 270: the stored picture's right column becomes the top row, read top down.
            for (dy, row) in dst.chunks_exact_mut(dw * 3).enumerate() {
                for (dx, d) in row.chunks_exact_mut(3).enumerate() {
                    let at = dx * stride + (w - 1 - dy) * 3;
                    d.copy_from_slice(&src[at..at + 3]);
                }
            }
        }
    }
}

fn is_again(e: &AvError) -> bool {
    matches!(e, AvError::Other { errno } if *errno == ffmpeg::util::error::EAGAIN)
}

impl FrameSource for VideoSource {
    fn next_frame(&mut self, frame: &mut Frame) -> Result<Next, CaptureError> {
        let mut read_errors = 0;
        loop {
            if self.done {
                return Ok(Next::End);
            }
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {
                    let at = self.timestamp_of_decoded().or_else(|| {
                        self.last_timestamp
                            .map(|t| t + Duration::from_secs_f64(1.0 / self.info.fps.max(1.0)))
                    });
                    if let (Some(before), Some(t)) = (self.skip_before, at) {
                        if t < before {
                            continue;
                        }
                        self.skip_before = None;
                    }
                    let index = self.take_index(at);
                    if self.decoded.is_corrupt() || self.decoded.has_decode_errors() {
                        return Ok(self.skip(index, at, "the decoder found damaged data in it"));
                    }
                    if let Err(why) = self.convert(&mut frame.image) {
                        return Ok(self.skip(index, at, why));
                    }
                    let at = at.unwrap_or_default();
                    self.last_timestamp = Some(at);
                    self.delivered += 1;
                    frame.index = index;
                    frame.timestamp = at;
                    frame.captured = Instant::now();
                    return Ok(Next::Frame);
                }
                Err(AvError::Eof) => {
                    self.done = true;
                    return Ok(self.end_warning().unwrap_or(Next::End));
                }
                Err(e) if is_again(&e) => {}
                Err(e) => {
                    let index = self.take_index(None);
                    return Ok(self.skip(index, None, e));
                }
            }
            if self.draining {
                // Nothing more will come out.
                self.done = true;
                return Ok(self.end_warning().unwrap_or(Next::End));
            }
            match self.packet.read(&mut self.input) {
                Ok(()) => {
                    read_errors = 0;
                    if self.packet.stream() != self.stream {
                        continue;
                    }
                    if let Err(e) = self.decoder.send_packet(&self.packet) {
                        if is_again(&e) {
                            continue;
                        }
                        let at = self
                            .packet
                            .pts()
                            .map(|p| Duration::from_secs_f64((p as f64 * self.time_base).max(0.0)));
                        let index = self.take_index(at);
                        return Ok(self.skip(index, at, e));
                    }
                }
                Err(AvError::Eof) => {
                    let _ = self.decoder.send_eof();
                    self.draining = true;
                }
                Err(e) => {
                    read_errors += 1;
                    if read_errors >= MAX_READ_ERRORS {
                        self.read_error = Some(e.to_string());
                        let _ = self.decoder.send_eof();
                        self.draining = true;
                    }
                }
            }
        }
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| [i as u8, (i >> 8) as u8, 7])
            .collect()
    }

    #[test]
    fn a_quarter_turn_puts_the_left_column_on_top() {
        let (w, h) = (3, 2);
        let src = picture(w, h);
        let px = |img: &RgbImage, x: usize, y: usize| img.data[(y * img.width + x) * 3];
        let s = |x: usize, y: usize| src[(y * w + x) * 3];
        let mut img = RgbImage::default();
        copy_rotated(&src, w * 3, w, h, 90, &mut img);
        assert_eq!((img.width, img.height), (2, 3));
        // Clockwise: the bottom-left pixel goes to the top-left.
        assert_eq!(px(&img, 0, 0), s(0, 1));
        assert_eq!(px(&img, 1, 0), s(0, 0));
        assert_eq!(px(&img, 0, 2), s(2, 1));
        copy_rotated(&src, w * 3, w, h, 270, &mut img);
        assert_eq!(px(&img, 0, 0), s(2, 0));
        assert_eq!(px(&img, 1, 2), s(0, 1));
        copy_rotated(&src, w * 3, w, h, 180, &mut img);
        assert_eq!(px(&img, 0, 0), s(2, 1));
        copy_rotated(&src, w * 3, w, h, 0, &mut img);
        assert_eq!(img.data, src);
    }

    #[test]
    fn display_matrices_read_as_ffmpeg_turns_them() {
        let matrix = |deg: f64| {
            let mut m = [0i32; 9];
            // SAFETY: a nine-integer matrix, as av_display_rotation_set writes; its angle is
            // clockwise, the opposite of what av_display_rotation_get (and ffprobe) report.
            unsafe { ffmpeg::ffi::av_display_rotation_set(m.as_mut_ptr(), deg) };
            m.iter().flat_map(|v| v.to_ne_bytes()).collect::<Vec<u8>>()
        };
        // A phone held upright writes a matrix that `ffprobe` shows as `rotation=-90`.
        assert_eq!(display_rotation(&matrix(90.0)), Some(90));
        assert_eq!(display_rotation(&matrix(-90.0)), Some(270));
        assert_eq!(display_rotation(&matrix(180.0)), Some(180));
        assert_eq!(display_rotation(&matrix(0.0)), Some(0));
        assert_eq!(display_rotation(&[0; 8]), None);
    }
}
