//! Motion-JPEG AVI files as a frame source (`--source video:FILE.avi`), read in pure Rust, and a
//! writer for such files.
//!
//! MJPEG in AVI is what webcams record and what `ffmpeg -c:v mjpeg` writes; each frame is a
//! whole JPEG, so frames decode through the same libjpeg-turbo path as still images
//! ([`JpegDecoder`]) and a video of stills gives the tracker exactly the pixels the stills give.
//! Uncompressed 24-bit RGB (`BI_RGB`) AVIs are read too.
//!
//! The reader needs only the headers (`hdrl`: `avih`, and the video stream's `strh` and `strf`)
//! and the `movi` list, which it streams from disk one chunk at a time: the video stream's `##dc`
//! / `##db` chunks are its frames, other streams' chunks and `JUNK` are skipped, `LIST rec `
//! groups are entered, and after the first `RIFF AVI ` the OpenDML `RIFF AVIX` extensions of files
//! over 1 GB are followed. The `idx1` index is never read, so files whose recording was cut off
//! before it was written play too. A frame's index is its number in the file (every video chunk
//! counts, an empty one too: AVI writers use those for dropped frames), so a skipped frame leaves
//! a gap, and its timestamp is that number times the stream's frame period.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::image_file::JpegDecoder;
use super::{CaptureError, Frame, FrameSource, Next, RgbImage};

/// The `hdrl` list is read whole; real ones are a few kB (an OpenDML super index included).
const MAX_HEADER_BYTES: u64 = 16 << 20;

/// How a video stream's frames are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// Each frame a JPEG image.
    Mjpeg,
    /// Uncompressed 24-bit BGR rows padded to 4 bytes, bottom row first unless `top_down`.
    Rgb24 { top_down: bool },
}

/// What a video file's headers say.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub width: usize,
    pub height: usize,
    /// Frames a second.
    pub fps: f64,
    /// The number of frames the headers declare; short of the truth, or 0, when the recording
    /// was cut off before the headers were finished.
    pub frames: u64,
    pub codec: VideoCodec,
}

/// A Motion-JPEG (or uncompressed RGB) AVI file, read frame by frame.
pub struct VideoSource {
    path: PathBuf,
    reader: BufReader<File>,
    /// Offset of `reader` in the file.
    pos: u64,
    file_len: u64,
    /// Where the current `RIFF` chunk ends: the next `RIFF AVIX` starts there.
    riff_end: u64,
    /// Where the lists being read end, innermost last: a `movi` list and any `rec ` lists in it.
    lists: Vec<u64>,
    info: VideoInfo,
    /// The video stream's chunk id prefix: its number as two decimal digits.
    stream: [u8; 2],
    /// The frame period as a fraction of seconds, `scale / rate`.
    scale: u64,
    rate: u64,
    /// Number of the next video chunk.
    frame_number: u64,
    /// The current chunk's bytes, kept to reuse the allocation.
    payload: Vec<u8>,
    jpeg: JpegDecoder,
    done: bool,
}

fn fourcc(b: &[u8]) -> [u8; 4] {
    let mut f = [0; 4];
    f.copy_from_slice(&b[..4]);
    f
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

/// The sub-chunks of an in-memory list body: `(id, data)`, padding skipped. A chunk that claims
/// more bytes than there are is cut to what there is.
fn sub_chunks(mut body: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        if body.len() < 8 {
            return None;
        }
        let id = fourcc(body);
        let size = u32_at(body, 4)? as usize;
        let data = &body[8..];
        let n = size.min(data.len());
        let chunk = &data[..n];
        body = &data[(n + (size & 1)).min(data.len())..];
        Some((id, chunk))
    })
}

/// A `LIST` chunk's type and body.
fn as_list(id: [u8; 4], data: &[u8]) -> Option<([u8; 4], &[u8])> {
    (id == *b"LIST" && data.len() >= 4).then(|| (fourcc(data), &data[4..]))
}

fn printable(f: [u8; 4]) -> String {
    if f.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        String::from_utf8_lossy(&f).into_owned()
    } else {
        format!("0x{:08x}", u32::from_le_bytes(f))
    }
}

/// The video stream found in `hdrl`.
struct StreamHeader {
    number: usize,
    info: VideoInfo,
    scale: u64,
    rate: u64,
}

fn parse_hdrl(hdrl: &[u8]) -> Result<StreamHeader, String> {
    let mut avih: Option<&[u8]> = None;
    let mut total_frames = 0u64;
    let mut found = None;
    let mut n_streams = 0;
    for (id, data) in sub_chunks(hdrl) {
        if id == *b"avih" {
            avih = Some(data);
            continue;
        }
        let Some((kind, body)) = as_list(id, data) else {
            continue;
        };
        if kind == *b"odml" {
            for (id, data) in sub_chunks(body) {
                if id == *b"dmlh" {
                    total_frames = total_frames.max(u32_at(data, 0).unwrap_or(0).into());
                }
            }
        }
        if kind != *b"strl" {
            continue;
        }
        let number = n_streams;
        n_streams += 1;
        if found.is_some() {
            continue;
        }
        let mut strh = None;
        let mut strf = None;
        for (id, data) in sub_chunks(body) {
            match &id {
                b"strh" => strh = Some(data),
                b"strf" => strf = Some(data),
                _ => {}
            }
        }
        if let Some(strh) = strh.filter(|h| h.len() >= 36 && h[..4] == *b"vids") {
            found = Some((number, strh, strf));
        }
    }
    let Some((number, strh, strf)) = found else {
        return Err("the file has no video stream".into());
    };
    if number > 99 {
        return Err(format!(
            "the video is stream {number}; AVI numbers at most 100"
        ));
    }
    let strf = strf.ok_or("the video stream has no format (strf) chunk")?;
    if strf.len() < 20 {
        return Err("the video stream's format (strf) chunk is too short".into());
    }
    let bi_width = u32_at(strf, 4).unwrap_or(0) as i32;
    let bi_height = u32_at(strf, 8).unwrap_or(0) as i32;
    let bit_count = u16_at(strf, 14).unwrap_or(0);
    let compression = fourcc(&strf[16..20]);
    let codec = match compression.to_ascii_uppercase().as_slice() {
        b"MJPG" | b"JPEG" | b"AVRN" | b"DMB1" => VideoCodec::Mjpeg,
        b"\0\0\0\0" | b"DIB " | b"RGB " if bit_count == 24 => VideoCodec::Rgb24 {
            top_down: bi_height < 0,
        },
        b"\0\0\0\0" | b"DIB " | b"RGB " => {
            return Err(format!(
                "the video is uncompressed {bit_count}-bit; facetrack reads 24-bit uncompressed \
                 and Motion-JPEG AVI files"
            ));
        }
        _ => {
            return Err(format!(
                "the video is compressed as {}; facetrack reads Motion-JPEG and 24-bit \
                 uncompressed AVI files (convert with `ffmpeg -i IN -c:v mjpeg -q:v 3 OUT.avi`)",
                printable(compression)
            ));
        }
    };
    let avih = avih.unwrap_or(&[]);
    let mut width = bi_width.unsigned_abs() as usize;
    let mut height = bi_height.unsigned_abs() as usize;
    if width == 0 || height == 0 {
        width = u32_at(avih, 32).unwrap_or(0) as usize;
        height = u32_at(avih, 36).unwrap_or(0) as usize;
    }
    if width == 0 || height == 0 {
        return Err("the headers give the video no size".into());
    }

    // `dwRate / dwScale` is exact (30000/1001 for NTSC rates); `avih`'s whole microseconds are
    // the fallback.
    let (mut scale, mut rate) = (
        u64::from(u32_at(strh, 20).unwrap_or(0)),
        u64::from(u32_at(strh, 24).unwrap_or(0)),
    );
    if scale == 0 || rate == 0 {
        scale = u64::from(u32_at(avih, 0).unwrap_or(0));
        rate = 1_000_000;
    }
    if scale == 0 {
        return Err("the headers give the video no frame rate".into());
    }
    total_frames = total_frames
        .max(u32_at(strh, 32).unwrap_or(0).into())
        .max(u32_at(avih, 16).unwrap_or(0).into());
    Ok(StreamHeader {
        number,
        info: VideoInfo {
            width,
            height,
            fps: rate as f64 / scale as f64,
            frames: total_frames,
            codec,
        },
        scale,
        rate,
    })
}

impl VideoSource {
    /// Opens an AVI file and reads its headers; frames are read as they are asked for.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let err = |reason: String| CaptureError::File {
            path: path.to_owned(),
            reason,
        };
        let io = |e: std::io::Error| err(e.to_string());
        let file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let mut reader = BufReader::with_capacity(1 << 16, file);

        let mut head = [0u8; 12];
        let not_avi = || err("not an AVI file (it does not start with a RIFF AVI header)".into());
        reader.read_exact(&mut head).map_err(|_| not_avi())?;
        if head[..4] != *b"RIFF" || head[8..] != *b"AVI " {
            return Err(not_avi());
        }
        let riff_end = declared_end(0, u32_at(&head, 4).unwrap_or(0), file_len);

        // Walk the RIFF's top-level chunks to `hdrl`, then to `movi`.
        let mut pos = 12u64;
        let mut header = None;
        let movi_end = loop {
            let mut ch = [0u8; 12];
            let got = read_up_to(&mut reader, &mut ch).map_err(io)?;
            if got < 8 {
                return Err(err(if header.is_some() {
                    "the file has no frames (no movi list)".into()
                } else {
                    "the file has no AVI header (hdrl) list".into()
                }));
            }
            let size = u32_at(&ch, 4).unwrap_or(0);
            let next = pos + 8 + u64::from(size) + u64::from(size & 1);
            let is_list = ch[..4] == *b"LIST" && got == 12;
            if is_list && ch[8..] == *b"hdrl" {
                let body_len = u64::from(size).saturating_sub(4);
                if body_len > MAX_HEADER_BYTES {
                    return Err(err(format!("its header list claims {body_len} bytes")));
                }
                let mut body = vec![0; body_len as usize];
                reader
                    .read_exact(&mut body)
                    .map_err(|_| err("the file ends inside its header list (truncated)".into()))?;
                header = Some(parse_hdrl(&body).map_err(err)?);
            } else if is_list && ch[8..] == *b"movi" {
                if header.is_none() {
                    return Err(err(
                        "the file has no AVI header (hdrl) before its frames".into()
                    ));
                }
                pos += 12;
                break declared_end(pos - 12, size, file_len);
            }
            reader.seek(SeekFrom::Start(next)).map_err(io)?;
            pos = next;
        };
        let Some(header) = header else {
            return Err(err("the file has no AVI header (hdrl) list".into()));
        };
        let digits = format!("{:02}", header.number);
        let d = digits.as_bytes();
        let jpeg = JpegDecoder::new().map_err(err)?;
        Ok(Self {
            path: path.to_owned(),
            reader,
            pos,
            file_len,
            riff_end,
            lists: vec![movi_end],
            info: header.info,
            stream: [d[0], d[1]],
            scale: header.scale,
            rate: header.rate,
            frame_number: 0,
            payload: Vec::new(),
            jpeg,
            done: false,
        })
    }

    /// What the headers say.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// Frame `n`'s timestamp: `n` frame periods.
    pub fn timestamp(&self, n: u64) -> Duration {
        let nanos = u128::from(n) * u128::from(self.scale) * 1_000_000_000 / u128::from(self.rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn seek_to(&mut self, target: u64) -> std::io::Result<()> {
        if target != self.pos {
            let delta = i64::try_from(target).unwrap_or(i64::MAX)
                - i64::try_from(self.pos).unwrap_or(i64::MAX);
            self.reader.seek_relative(delta)?;
            self.pos = target;
        }
        Ok(())
    }

    /// Moves on to the `movi` list of the next `RIFF AVIX` chunk; false when there is none.
    fn next_riff(&mut self) -> std::io::Result<bool> {
        let start = self.riff_end;
        if start + 12 > self.file_len {
            return Ok(false);
        }
        self.seek_to(start)?;
        let mut head = [0u8; 12];
        self.reader.read_exact(&mut head)?;
        self.pos += 12;
        if head[..4] != *b"RIFF" || head[8..] != *b"AVIX" {
            return Ok(false);
        }
        self.riff_end = declared_end(start, u32_at(&head, 4).unwrap_or(0), self.file_len);
        while self.pos + 12 <= self.riff_end.min(self.file_len) {
            let mut ch = [0u8; 12];
            self.reader.read_exact(&mut ch)?;
            let at = self.pos;
            self.pos += 12;
            let size = u32_at(&ch, 4).unwrap_or(0);
            if ch[..4] == *b"LIST" && ch[8..] == *b"movi" {
                self.lists.push(declared_end(at, size, self.file_len));
                return Ok(true);
            }
            self.seek_to(at + 8 + u64::from(size) + u64::from(size & 1))?;
        }
        Ok(false)
    }

    fn decode(&mut self, image: &mut RgbImage) -> Result<(), String> {
        match self.info.codec {
            VideoCodec::Mjpeg => self.jpeg.decode_into(&self.payload, image),
            VideoCodec::Rgb24 { top_down } => {
                let (w, h) = (self.info.width, self.info.height);
                bgr_rows_into(&self.payload, w, h, top_down, image)
            }
        }
    }

    fn truncated(&mut self) -> Next {
        self.done = true;
        Next::Skipped(format!(
            "{} is cut short at byte {}: frames from {} on are missing",
            self.path.display(),
            self.file_len,
            self.frame_number
        ))
    }

    fn read_next(&mut self, frame: &mut Frame) -> std::io::Result<Next> {
        loop {
            if self.done {
                return Ok(Next::End);
            }
            while let Some(&end) = self.lists.last() {
                if self.pos + 8 <= end {
                    break;
                }
                self.lists.pop();
                if self.pos < end && end <= self.file_len {
                    self.seek_to(end)?;
                }
            }
            if self.lists.is_empty() {
                if !self.next_riff()? {
                    self.done = true;
                    return Ok(Next::End);
                }
                continue;
            }
            // A list still open here claims bytes past the end of the file.
            if self.pos + 8 > self.file_len {
                return Ok(self.truncated());
            }
            let mut ch = [0u8; 8];
            self.reader.read_exact(&mut ch)?;
            let at = self.pos;
            self.pos += 8;
            let size = u64::from(u32_at(&ch, 4).unwrap_or(0));
            let end = at + 8 + size;
            let padded_end = end + (size & 1);
            let id = fourcc(&ch);

            if id == *b"LIST" {
                if self.pos + 4 > self.file_len {
                    return Ok(self.truncated());
                }
                let mut kind = [0u8; 4];
                self.reader.read_exact(&mut kind)?;
                self.pos += 4;
                if kind == *b"rec " {
                    self.lists.push(end);
                } else {
                    self.seek_to(padded_end)?;
                }
                continue;
            }
            let is_video = id[..2] == self.stream && (id[2..] == *b"dc" || id[2..] == *b"db");
            if !is_video {
                self.seek_to(padded_end)?;
                continue;
            }

            let n = self.frame_number;
            if end > self.file_len {
                return Ok(self.truncated());
            }
            self.frame_number += 1;
            if size == 0 {
                continue;
            }
            self.payload.resize(size as usize, 0);
            self.reader.read_exact(&mut self.payload)?;
            self.pos = end;
            if padded_end <= self.file_len {
                self.seek_to(padded_end)?;
            }
            let captured = Instant::now();
            match self.decode(&mut frame.image) {
                Ok(()) => {
                    frame.index = n;
                    frame.timestamp = self.timestamp(n);
                    frame.captured = captured;
                    return Ok(Next::Frame);
                }
                Err(why) => {
                    return Ok(Next::Skipped(format!(
                        "skipped frame {n} of {}: {why}",
                        self.path.display()
                    )));
                }
            }
        }
    }
}

/// Where a chunk starting at `start` and declaring `size` bytes ends. A size of 0 on a list is
/// what a recorder that was cut off leaves behind: the list runs to the end of the file.
fn declared_end(start: u64, size: u32, file_len: u64) -> u64 {
    if size == 0 {
        file_len
    } else {
        start + 8 + u64::from(size)
    }
}

/// Reads as many bytes as there are, up to `buf.len()`.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Converts an uncompressed 24-bit DIB (BGR, rows padded to 4 bytes) into `out`.
fn bgr_rows_into(
    data: &[u8],
    width: usize,
    height: usize,
    top_down: bool,
    out: &mut RgbImage,
) -> Result<(), String> {
    let stride = (width * 3).next_multiple_of(4);
    let needed = stride * height;
    if data.len() < needed {
        return Err(format!(
            "it holds {} bytes; a {width}×{height} 24-bit frame needs {needed}",
            data.len()
        ));
    }
    out.width = width;
    out.height = height;
    out.data.resize(width * height * 3, 0);
    for (y, dst) in out.data.chunks_exact_mut(width * 3).enumerate() {
        let row = if top_down { y } else { height - 1 - y };
        let src = &data[row * stride..row * stride + width * 3];
        for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(3)) {
            d[0] = s[2];
            d[1] = s[1];
            d[2] = s[0];
        }
    }
    Ok(())
}

impl FrameSource for VideoSource {
    fn next_frame(&mut self, frame: &mut Frame) -> Result<Next, CaptureError> {
        self.read_next(frame).map_err(|e| {
            self.done = true;
            CaptureError::File {
                path: self.path.clone(),
                reason: e.to_string(),
            }
        })
    }

    fn describe(&self) -> String {
        format!(
            "video: {} ({}×{} @ {:.2} fps)",
            self.path.display(),
            self.info.width,
            self.info.height,
            self.info.fps
        )
    }
}

/// Writes a Motion-JPEG AVI file (AVI 1.0 with an `idx1` index, one video stream), as webcams
/// and `ffmpeg -c:v mjpeg` do: test material for [`VideoSource`], and a way to keep frames in
/// a file other programs play.
pub struct MjpegAviWriter {
    path: PathBuf,
    out: BufWriter<File>,
    width: usize,
    height: usize,
    compressor: turbojpeg::Compressor,
    /// Each frame's chunk: offset from the `movi` fourcc, and size.
    index: Vec<(u32, u32)>,
    /// Offset of the `movi` fourcc in the file.
    movi: u64,
    pos: u64,
}

// Offsets in the header `MjpegAviWriter` writes, patched when it is finished.
const RIFF_SIZE_AT: u64 = 4;
const AVIH_FRAMES_AT: u64 = 12 + 12 + 8 + 16;
const STRH_LENGTH_AT: u64 = 12 + 12 + 64 + 12 + 8 + 32;
const MOVI_SIZE_AT: u64 = 12 + 12 + 64 + 12 + 64 + 48 + 4;
/// The JPEG chunks are AVI 1.0's: the whole file must stay under 4 GiB.
const MAX_AVI_BYTES: u64 = u32::MAX as u64;

impl MjpegAviWriter {
    /// Creates `path` for `width`×`height` frames at `fps` frames a second, JPEG `quality`
    /// 1–100 (4:2:0 chroma, as cameras' MJPEG mostly is).
    pub fn create(
        path: &Path,
        width: usize,
        height: usize,
        fps: u32,
        quality: i32,
    ) -> Result<Self, CaptureError> {
        let invalid = |what: String| Err(CaptureError::Invalid(what));
        let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height)) else {
            return invalid(format!("a video cannot be {width}×{height} pixels"));
        };
        if w == 0 || h == 0 || w > 65535 || h > 65535 {
            return invalid(format!("a video cannot be {width}×{height} pixels"));
        }
        if fps == 0 {
            return invalid("a video needs a frame rate above 0".into());
        }
        if !(1..=100).contains(&quality) {
            return invalid(format!("JPEG quality runs from 1 to 100, not {quality}"));
        }
        let err = |e: String| CaptureError::File {
            path: path.to_owned(),
            reason: e,
        };
        let mut compressor = turbojpeg::Compressor::new().map_err(|e| err(e.to_string()))?;
        compressor
            .set_quality(quality)
            .and_then(|()| compressor.set_subsamp(turbojpeg::Subsamp::Sub2x2))
            .map_err(|e| err(e.to_string()))?;

        let mut head = Vec::with_capacity(MOVI_SIZE_AT as usize + 8);
        let put = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_le_bytes());
        head.extend_from_slice(b"RIFF");
        put(&mut head, 0);
        head.extend_from_slice(b"AVI LIST");
        put(&mut head, 4 + 64 + 12 + 64 + 48);
        head.extend_from_slice(b"hdrlavih");
        put(&mut head, 56);
        put(&mut head, (1_000_000 + fps / 2) / fps); // dwMicroSecPerFrame
        put(&mut head, 0); // dwMaxBytesPerSec
        put(&mut head, 0); // dwPaddingGranularity
        put(&mut head, 0x10); // dwFlags: AVIF_HASINDEX
        put(&mut head, 0); // dwTotalFrames, patched
        put(&mut head, 0); // dwInitialFrames
        put(&mut head, 1); // dwStreams
        put(&mut head, 0); // dwSuggestedBufferSize
        put(&mut head, w);
        put(&mut head, h);
        head.extend_from_slice(&[0; 16]);
        head.extend_from_slice(b"LIST");
        put(&mut head, 4 + 64 + 48);
        head.extend_from_slice(b"strlstrh");
        put(&mut head, 56);
        head.extend_from_slice(b"vidsMJPG");
        put(&mut head, 0); // dwFlags
        put(&mut head, 0); // wPriority, wLanguage
        put(&mut head, 0); // dwInitialFrames
        put(&mut head, 1); // dwScale
        put(&mut head, fps); // dwRate
        put(&mut head, 0); // dwStart
        put(&mut head, 0); // dwLength, patched
        put(&mut head, 0); // dwSuggestedBufferSize
        put(&mut head, u32::MAX); // dwQuality: default
        put(&mut head, 0); // dwSampleSize
        head.extend_from_slice(&[0; 4]);
        head.extend_from_slice(&(w as u16).to_le_bytes());
        head.extend_from_slice(&(h as u16).to_le_bytes());
        head.extend_from_slice(b"strf");
        put(&mut head, 40);
        put(&mut head, 40); // biSize
        put(&mut head, w);
        put(&mut head, h);
        head.extend_from_slice(&1u16.to_le_bytes()); // biPlanes
        head.extend_from_slice(&24u16.to_le_bytes()); // biBitCount
        head.extend_from_slice(b"MJPG");
        put(&mut head, w * h * 3); // biSizeImage
        head.extend_from_slice(&[0; 16]);
        head.extend_from_slice(b"LIST");
        put(&mut head, 4);
        head.extend_from_slice(b"movi");
        debug_assert_eq!(head.len() as u64, MOVI_SIZE_AT + 8);

        let file = File::create(path).map_err(|e| err(e.to_string()))?;
        let mut out = BufWriter::new(file);
        out.write_all(&head).map_err(|e| err(e.to_string()))?;
        Ok(Self {
            path: path.to_owned(),
            out,
            width,
            height,
            compressor,
            index: Vec::new(),
            movi: MOVI_SIZE_AT + 4,
            pos: head.len() as u64,
        })
    }

    fn error(&self, reason: impl std::fmt::Display) -> CaptureError {
        CaptureError::File {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    /// Encodes `image` (of the size given to [`Self::create`]) and appends it.
    pub fn write_frame(&mut self, image: &RgbImage) -> Result<(), CaptureError> {
        if image.width != self.width
            || image.height != self.height
            || image.data.len() != image.width * image.height * 3
        {
            return Err(CaptureError::Invalid(format!(
                "a {}×{} frame ({} bytes) cannot go into a {}×{} video",
                image.width,
                image.height,
                image.data.len(),
                self.width,
                self.height
            )));
        }
        let jpeg = self
            .compressor
            .compress_to_vec(turbojpeg::Image {
                pixels: image.data.as_slice(),
                width: image.width,
                pitch: image.width * 3,
                height: image.height,
                format: turbojpeg::PixelFormat::RGB,
            })
            .map_err(|e| self.error(e))?;
        self.write_jpeg(&jpeg)
    }

    /// Appends a frame that is already a JPEG, its bytes as they are.
    pub fn write_jpeg(&mut self, jpeg: &[u8]) -> Result<(), CaptureError> {
        let size = u32::try_from(jpeg.len()).map_err(|_| self.error("a frame over 4 GiB"))?;
        let padded = u64::from(size) + u64::from(size & 1);
        // The frame, the index entry it adds and the index header must fit.
        let after = self.pos + 8 + padded + 16 * (self.index.len() as u64 + 1) + 8;
        if after > MAX_AVI_BYTES {
            return Err(self.error("the video would pass AVI 1.0's 4 GiB"));
        }
        let offset = (self.pos - self.movi) as u32;
        let mut write = || -> std::io::Result<()> {
            self.out.write_all(b"00dc")?;
            self.out.write_all(&size.to_le_bytes())?;
            self.out.write_all(jpeg)?;
            if size & 1 == 1 {
                self.out.write_all(&[0])?;
            }
            Ok(())
        };
        write().map_err(|e| self.error(e))?;
        self.pos += 8 + padded;
        self.index.push((offset, size));
        Ok(())
    }

    /// Writes the index and the frame counts; returns the number of frames.
    pub fn finish(mut self) -> Result<u64, CaptureError> {
        let frames = self.index.len() as u32;
        let movi_size = (self.pos - self.movi) as u32;
        let result = (|| -> std::io::Result<()> {
            self.out.write_all(b"idx1")?;
            self.out.write_all(&(16 * frames).to_le_bytes())?;
            for &(offset, size) in &self.index {
                self.out.write_all(b"00dc")?;
                self.out.write_all(&0x10u32.to_le_bytes())?; // AVIIF_KEYFRAME
                self.out.write_all(&offset.to_le_bytes())?;
                self.out.write_all(&size.to_le_bytes())?;
            }
            let end = self.pos + 8 + 16 * u64::from(frames);
            for (at, value) in [
                (RIFF_SIZE_AT, (end - 8) as u32),
                (AVIH_FRAMES_AT, frames),
                (STRH_LENGTH_AT, frames),
                (MOVI_SIZE_AT, movi_size),
            ] {
                self.out.seek(SeekFrom::Start(at))?;
                self.out.write_all(&value.to_le_bytes())?;
            }
            self.out.flush()
        })();
        result.map_err(|e| self.error(e))?;
        Ok(u64::from(frames))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::decode_jpeg_into;

    fn chunk(id: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = id.to_vec();
        c.extend_from_slice(&(data.len() as u32).to_le_bytes());
        c.extend_from_slice(data);
        if data.len() % 2 == 1 {
            c.push(0);
        }
        c
    }

    fn list(id: &[u8; 4], kind: &[u8; 4], parts: &[Vec<u8>]) -> Vec<u8> {
        let mut body = kind.to_vec();
        for p in parts {
            body.extend_from_slice(p);
        }
        chunk(id, &body)
    }

    fn strl(kind: &[u8; 4], scale: u32, rate: u32, strf: Vec<u8>) -> Vec<u8> {
        let mut strh = kind.to_vec();
        strh.extend_from_slice(&[0; 16]);
        strh.extend_from_slice(&scale.to_le_bytes());
        strh.extend_from_slice(&rate.to_le_bytes());
        strh.extend_from_slice(&[0; 24]);
        list(
            b"LIST",
            b"strl",
            &[chunk(b"strh", &strh), chunk(b"strf", &strf)],
        )
    }

    fn bitmap_info(width: i32, height: i32, bits: u16, compression: &[u8; 4]) -> Vec<u8> {
        let mut b = 40u32.to_le_bytes().to_vec();
        b.extend_from_slice(&width.to_le_bytes());
        b.extend_from_slice(&height.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b.extend_from_slice(compression);
        b.extend_from_slice(&[0; 20]);
        b
    }

    fn jpeg(width: usize, height: usize, seed: u8) -> Vec<u8> {
        let pixels: Vec<u8> = (0..width * height * 3)
            .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
            .collect();
        let image = turbojpeg::Image {
            pixels: pixels.as_slice(),
            width,
            pitch: width * 3,
            height,
            format: turbojpeg::PixelFormat::RGB,
        };
        turbojpeg::compress(image, 90, turbojpeg::Subsamp::Sub2x2)
            .unwrap()
            .to_vec()
    }

    fn read_all(path: &Path) -> Vec<(Next, Frame)> {
        let mut source = VideoSource::open(path).unwrap();
        let mut out = Vec::new();
        loop {
            let mut frame = Frame::default();
            let next = source.next_frame(&mut frame).unwrap();
            if next == Next::End {
                return out;
            }
            out.push((next, frame));
        }
    }

    #[test]
    fn rec_lists_other_streams_odd_sizes_and_avix_extensions_are_followed() {
        // Stream 0 is audio, so the video's chunks are `01dc`; no idx1 anywhere.
        let jpegs: Vec<Vec<u8>> = (0..5u8).map(|k| jpeg(16, 8, 3 + 2 * k)).collect();
        let mut odd = jpegs[1].clone();
        if odd.len().is_multiple_of(2) {
            odd.push(0); // libjpeg ignores what follows the end-of-image marker
        }
        let hdrl = list(
            b"LIST",
            b"hdrl",
            &[
                chunk(b"avih", &[0; 56]),
                strl(b"auds", 1, 44100, vec![0; 16]),
                strl(b"vids", 1001, 30000, bitmap_info(16, 8, 24, b"MJPG")),
            ],
        );
        let movi = list(
            b"LIST",
            b"movi",
            &[
                chunk(b"00wb", &[1, 2, 3]),
                chunk(b"01dc", &jpegs[0]),
                chunk(b"JUNK", &[0; 5]),
                list(
                    b"LIST",
                    b"rec ",
                    &[chunk(b"01dc", &odd), chunk(b"00wb", &[7; 9])],
                ),
                chunk(b"01dc", &[]),
                chunk(b"01db", &jpegs[2]),
            ],
        );
        let mut file = list(b"RIFF", b"AVI ", &[hdrl, movi]);
        let avix_movi = list(
            b"LIST",
            b"movi",
            &[chunk(b"01dc", &jpegs[3]), chunk(b"01dc", &jpegs[4])],
        );
        file.extend(list(
            b"RIFF",
            b"AVIX",
            &[chunk(b"JUNK", &[0; 3]), avix_movi],
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.avi");
        std::fs::write(&path, &file).unwrap();

        let source = VideoSource::open(&path).unwrap();
        assert_eq!(
            *source.info(),
            VideoInfo {
                width: 16,
                height: 8,
                fps: 30000.0 / 1001.0,
                frames: 0,
                codec: VideoCodec::Mjpeg
            }
        );
        let frames = read_all(&path);
        // Frame 2 is the empty chunk: a dropped frame, counted but not delivered.
        let indices: Vec<u64> = frames.iter().map(|(_, f)| f.index).collect();
        assert_eq!(indices, [0, 1, 3, 4, 5]);
        for ((next, frame), bytes) in frames
            .iter()
            .zip([&jpegs[0], &odd, &jpegs[2], &jpegs[3], &jpegs[4]])
        {
            assert_eq!(*next, Next::Frame);
            let mut expected = RgbImage::default();
            decode_jpeg_into(bytes, &mut expected).unwrap();
            assert_eq!(frame.image, expected, "frame {}", frame.index);
            assert_eq!(
                frame.timestamp,
                Duration::from_nanos(frame.index * 1001 * 1_000_000_000 / 30000)
            );
        }
    }

    #[test]
    fn uncompressed_frames_are_read_bottom_up_or_top_down() {
        // 3×2 pixels: rows of 9 bytes padded to 12, BGR.
        let rows: [[u8; 12]; 2] = [
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0],
            [11, 12, 13, 14, 15, 16, 17, 18, 19, 0, 0, 0],
        ];
        let data = [rows[0], rows[1]].concat();
        for (height, codec, top_down) in [(2, *b"\0\0\0\0", false), (-2, *b"DIB ", true)] {
            let hdrl = list(
                b"LIST",
                b"hdrl",
                &[
                    chunk(b"avih", &[0; 56]),
                    strl(b"vids", 1, 10, bitmap_info(3, height, 24, &codec)),
                ],
            );
            let movi = list(
                b"LIST",
                b"movi",
                &[chunk(b"00db", &data), chunk(b"00db", &data[..20])],
            );
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("rgb.avi");
            std::fs::write(&path, list(b"RIFF", b"AVI ", &[hdrl, movi])).unwrap();
            let frames = read_all(&path);
            assert_eq!(frames.len(), 2);
            let image = &frames[0].1.image;
            assert_eq!((image.width, image.height), (3, 2));
            // The first row shown is the file's last row when the height is positive.
            let first = if top_down { &rows[0] } else { &rows[1] };
            assert_eq!(image.data[..3], [first[2], first[1], first[0]]);
            let Next::Skipped(why) = &frames[1].0 else {
                panic!("a short frame was not skipped")
            };
            assert!(why.contains("frame 1") && why.contains("needs 24"), "{why}");
        }
    }

    #[test]
    fn unsupported_codecs_and_missing_video_are_errors() {
        for (strls, expected) in [
            (
                vec![strl(b"vids", 1, 25, bitmap_info(8, 8, 24, b"H264"))],
                "H264",
            ),
            (
                vec![strl(b"vids", 1, 25, bitmap_info(8, 8, 16, b"\0\0\0\0"))],
                "16-bit",
            ),
            (vec![strl(b"auds", 1, 25, vec![0; 16])], "no video stream"),
            (
                vec![strl(b"vids", 0, 0, bitmap_info(8, 8, 24, b"MJPG"))],
                "no frame rate",
            ),
        ] {
            let mut parts = vec![chunk(b"avih", &[0; 56])];
            parts.extend(strls);
            let hdrl = list(b"LIST", b"hdrl", &parts);
            let movi = list(b"LIST", b"movi", &[]);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.avi");
            std::fs::write(&path, list(b"RIFF", b"AVI ", &[hdrl, movi])).unwrap();
            let err = VideoSource::open(&path).err().expect(expected).to_string();
            assert!(err.contains(expected) && err.contains("x.avi"), "{err}");
        }
    }
}
