//! Writing RGB frames as a video file through FFmpeg (`--render FILE.mp4`): H.264 (libx264)
//! where this FFmpeg has the encoder, MPEG-4 Part 2 otherwise, in the container the file name
//! says. Frames keep the presentation times they came with, in the input's time base, so the
//! output has the input's frame rate and frame count, variable rate included.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::util::frame;
use ffmpeg::{Dictionary, Packet, Rational, codec, encoder};
use ffmpeg_next as ffmpeg;

use facetrack::capture::RgbImage;

/// How the input's frames are timed: the stream's time base and its average frame rate.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub time_base: (i32, i32),
    pub fps: f64,
}

impl Timing {
    /// Millisecond timestamps at `fps`: sources without a stream of their own (the demo, a
    /// camera, an image folder).
    pub fn millis(fps: f64) -> Self {
        Self {
            time_base: (1, 1000),
            fps,
        }
    }

    /// The timing of a video source, or 30 fps in milliseconds for a source without a stream.
    pub fn of(video: Option<&facetrack::capture::VideoInfo>) -> Self {
        video.map_or(Self::millis(30.0), |v| Self {
            time_base: v.time_base,
            fps: v.fps,
        })
    }
}

pub struct VideoWriter {
    path: PathBuf,
    output: ffmpeg::format::context::Output,
    encoder: encoder::Video,
    scaler: scaling::Context,
    rgb: frame::Video,
    yuv: frame::Video,
    packet: Packet,
    time_base: Rational,
    stream_time_base: Rational,
    /// The encoded size: even, as 4:2:0 needs.
    size: (u32, u32),
    /// The source picture's size the scaler was made for.
    source_size: (u32, u32),
    last_pts: Option<i64>,
    frames: u64,
}

// SAFETY: the FFmpeg contexts are owned by the writer alone and used through `&mut self` only,
// so never from two threads at once; none of them has thread affinity.
unsafe impl Send for VideoWriter {}

impl VideoWriter {
    /// Creates `path` for `width`×`height` RGB frames timed by `timing`.
    pub fn create(path: &Path, width: usize, height: usize, timing: Timing) -> Result<Self> {
        facetrack::capture::video::init_ffmpeg();
        let fail =
            |what: &str, e: ffmpeg::Error| anyhow!("cannot write {}: {what}: {e}", path.display());
        let mut output = ffmpeg::format::output(path).map_err(|e| {
            anyhow!(
                "cannot write {}: {e} (name it .mp4, .mkv, .mov or .avi)",
                path.display()
            )
        })?;
        let global_header = output
            .format()
            .flags()
            .contains(ffmpeg::format::Flags::GLOBAL_HEADER);
        let (codec, options) = match encoder::find_by_name("libx264") {
            Some(c) => {
                let mut o = Dictionary::new();
                // Fast enough to keep up with tracking, and a quality that shows the mesh's edges.
                o.set("preset", "veryfast");
                o.set("crf", "20");
                (c, o)
            }
            None => (
                encoder::find(codec::Id::MPEG4).with_context(|| {
                    format!(
                        "cannot write {}: no H.264 or MPEG-4 encoder in this FFmpeg",
                        path.display()
                    )
                })?,
                Dictionary::new(),
            ),
        };
        let size = ((width as u32 & !1).max(2), (height as u32 & !1).max(2));
        let time_base = Rational::new(timing.time_base.0, timing.time_base.1);
        let mut context = codec::context::Context::new_with_codec(codec);
        // SAFETY: the context is not opened yet; its thread count is a plain field.
        unsafe {
            (*context.as_mut_ptr()).thread_count = 0;
        }
        let mut video = context
            .encoder()
            .video()
            .map_err(|e| fail("the encoder", e))?;
        video.set_width(size.0);
        video.set_height(size.1);
        video.set_format(Pixel::YUV420P);
        video.set_time_base(time_base);
        if timing.fps > 0.0 {
            let rate = Rational::from(timing.fps);
            video.set_frame_rate(Some(rate));
        }
        if codec.id() == codec::Id::MPEG4 {
            video.set_bit_rate(4_000_000);
            video.set_quality(4);
        }
        if global_header {
            video.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let encoder = video
            .open_with(options)
            .map_err(|e| fail("opening the encoder", e))?;
        {
            let mut stream = output
                .add_stream(codec)
                .map_err(|e| fail("adding the video stream", e))?;
            stream.set_parameters(&encoder);
            stream.set_time_base(time_base);
            if timing.fps > 0.0 {
                stream.set_avg_frame_rate(Rational::from(timing.fps));
            }
        }
        output
            .write_header()
            .map_err(|e| fail("the container's header", e))?;
        let stream_time_base = output.stream(0).map(|s| s.time_base()).unwrap_or(time_base);
        let scaler = Self::scaler(width as u32, height as u32, size)
            .map_err(|e| fail("the colour converter", e))?;
        Ok(Self {
            path: path.to_owned(),
            output,
            encoder,
            scaler,
            rgb: frame::Video::new(Pixel::RGB24, width as u32, height as u32),
            yuv: frame::Video::new(Pixel::YUV420P, size.0, size.1),
            packet: Packet::empty(),
            time_base,
            stream_time_base,
            size,
            source_size: (width as u32, height as u32),
            last_pts: None,
            frames: 0,
        })
    }

    fn scaler(w: u32, h: u32, size: (u32, u32)) -> Result<scaling::Context, ffmpeg::Error> {
        scaling::Context::get(
            Pixel::RGB24,
            w,
            h,
            Pixel::YUV420P,
            size.0,
            size.1,
            scaling::Flags::BILINEAR,
        )
    }

    /// Encodes `image`, shown at `timestamp`.
    pub fn write(&mut self, image: &RgbImage, timestamp: Duration) -> Result<()> {
        let (w, h) = (image.width as u32, image.height as u32);
        if (w, h) != self.source_size {
            // A stream whose size changes mid-way: scaled to the size it started with.
            self.scaler = Self::scaler(w, h, self.size)
                .map_err(|e| anyhow!("cannot write {}: {e}", self.path.display()))?;
            self.rgb = frame::Video::new(Pixel::RGB24, w, h);
            self.source_size = (w, h);
        }
        let stride = self.rgb.stride(0);
        let row = image.width * 3;
        let dst = self.rgb.data_mut(0);
        for (y, src) in image.data.chunks_exact(row).enumerate() {
            dst[y * stride..y * stride + row].copy_from_slice(src);
        }
        self.scaler
            .run(&self.rgb, &mut self.yuv)
            .map_err(|e| anyhow!("cannot write {}: {e}", self.path.display()))?;
        let tb = self.time_base;
        let ticks =
            timestamp.as_secs_f64() * f64::from(tb.denominator()) / f64::from(tb.numerator());
        let mut pts = ticks.round() as i64;
        // Two frames at one time (a source without timestamps) would be refused by the muxer.
        if let Some(last) = self.last_pts
            && pts <= last
        {
            pts = last + 1;
        }
        self.last_pts = Some(pts);
        self.yuv.set_pts(Some(pts));
        self.encoder.send_frame(&self.yuv).map_err(|e| {
            anyhow!(
                "cannot write {}: encoding frame {}: {e}",
                self.path.display(),
                self.frames
            )
        })?;
        self.frames += 1;
        self.drain()
    }

    fn drain(&mut self) -> Result<()> {
        while self.encoder.receive_packet(&mut self.packet).is_ok() {
            self.packet.set_stream(0);
            self.packet
                .rescale_ts(self.time_base, self.stream_time_base);
            self.packet
                .write_interleaved(&mut self.output)
                .map_err(|e| anyhow!("cannot write {}: {e}", self.path.display()))?;
        }
        Ok(())
    }

    /// Flushes the encoder and writes the container's trailer; returns the frames written.
    pub fn finish(mut self) -> Result<u64> {
        self.encoder
            .send_eof()
            .map_err(|e| anyhow!("cannot write {}: {e}", self.path.display()))?;
        self.drain()?;
        self.output
            .write_trailer()
            .map_err(|e| anyhow!("cannot finish {}: {e}", self.path.display()))?;
        Ok(self.frames)
    }
}
