//! The parameter stream as CSV (docs/csv.md): a header row, then one row a frame —
//! `frame, timestamp_ms, method, success, confidence, fit_ms, pitch_deg, yaw_deg, roll_deg, scale,
//! tx, ty, lambda_2d, lambda_3d, id_0…, exp_0…, jawOpen…cheekPuff (the named controls), x_0…x_67,
//! y_0…y_67`. Rows are written by a thread of their own, so the tracking thread never waits on the
//! disk, and flushed at least every half second and when the recorder is finished or dropped.
//!
//! The file only ever holds whole rows: each row is formatted in full before any of it is
//! written, the writer hands the file whole rows only, and when a write fails (a full disk) the
//! file is cut back to the end of the last row written whole. A reader of a file whose writer was
//! killed, or whose disk filled, sees fewer rows, never half of one.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};
use thiserror::Error;

use crate::controls::{CONTROL_NAMES, Controls, N_CONTROLS};
use crate::model::Params;
use crate::track::{ResultSink, SinkEnd, SinkError, TrackResult, TrackStatus};

const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Rows are handed to the file in pieces of about this size.
const WRITE_CHUNK: usize = 64 * 1024;

/// One frame's record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    pub frame: u64,
    pub timestamp_ms: f64,
    pub method: &'static str,
    pub success: bool,
    /// The fit confidence, 0–1; NaN (an empty cell) when no fit was made.
    pub confidence: f64,
    pub fit_ms: f64,
    pub params: Params,
    /// λ2d and λ3d of the joint refinement, when it ran.
    pub weights: Option<(f64, f64)>,
    /// The named expression controls, 0–1.
    pub controls: Controls,
    /// The 68 landmarks, image pixels.
    pub landmarks: Vec<[f64; 2]>,
}

#[derive(Debug, Error)]
pub enum RecordError {
    #[error("cannot create {path}: {cause}")]
    Create {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot write {path} after {rows} rows: {cause}")]
    Write {
        path: PathBuf,
        /// Rows in the file, whole.
        rows: u64,
        cause: std::io::Error,
    },
    #[error("the recorder of {0} has stopped (an earlier write failed)")]
    Stopped(PathBuf),
}

/// The header row for `n_id` identity and `n_exp` expression coefficients and `n_landmarks` points.
pub fn header(n_id: usize, n_exp: usize, n_landmarks: usize) -> Vec<String> {
    let mut h: Vec<String> = [
        "frame",
        "timestamp_ms",
        "method",
        "success",
        "confidence",
        "fit_ms",
        "pitch_deg",
        "yaw_deg",
        "roll_deg",
        "scale",
        "tx",
        "ty",
        "lambda_2d",
        "lambda_3d",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    h.extend((0..n_id).map(|i| format!("id_{i}")));
    h.extend((0..n_exp).map(|i| format!("exp_{i}")));
    h.extend(CONTROL_NAMES.iter().map(|n| n.to_string()));
    h.extend((0..n_landmarks).map(|i| format!("x_{i}")));
    h.extend((0..n_landmarks).map(|i| format!("y_{i}")));
    h
}

/// Writes rows on a thread of its own; `record` never blocks on the disk.
#[derive(Debug)]
pub struct CsvRecorder {
    path: PathBuf,
    tx: Option<Sender<RecordRow>>,
    /// Rows back from the writer, for reuse: a recorded frame allocates nothing.
    spare: Receiver<RecordRow>,
    thread: Option<JoinHandle<Result<(), RecordError>>>,
    /// Rows handed to the file so far (after a failed write: the rows the file holds).
    written: Arc<AtomicU64>,
    /// The writer's error, once it has been collected.
    failed: Option<RecordError>,
}

impl CsvRecorder {
    /// Creates the file (replacing one that exists) and writes the header.
    pub fn create(
        path: &Path,
        n_id: usize,
        n_exp: usize,
        n_landmarks: usize,
    ) -> Result<Self, RecordError> {
        let create = |cause| RecordError::Create {
            path: path.to_owned(),
            cause,
        };
        let mut file = File::create(path).map_err(create)?;
        let mut line = header(n_id, n_exp, n_landmarks).join(",");
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(create)?;
        let (tx, rx) = unbounded();
        let (spare_tx, spare) = unbounded();
        let written = Arc::new(AtomicU64::new(0));
        let writer = RowWriter {
            file,
            path: path.to_owned(),
            good_len: line.len() as u64,
            pending: Vec::with_capacity(2 * WRITE_CHUNK),
            pending_rows: 0,
            n_id,
            n_exp,
            written: written.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("csv-recorder".into())
            .spawn(move || writer.run(&rx, &spare_tx))
            .map_err(create)?;
        Ok(Self {
            path: path.to_owned(),
            tx: Some(tx),
            spare,
            thread: Some(thread),
            written,
            failed: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows written so far.
    pub fn rows_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Queues a row. Fails when the writer has stopped on an error, with that error.
    pub fn record(&mut self, row: RecordRow) -> Result<(), RecordError> {
        if let Some(tx) = &self.tx
            && tx.send(row).is_ok()
        {
            return Ok(());
        }
        // The writer is gone: its own error says why.
        match self.close() {
            Err(e) => Err(e),
            Ok(()) => Err(RecordError::Stopped(self.path.clone())),
        }
    }

    /// Writes every queued row, flushes and closes the file; returns the number of rows.
    pub fn finish(mut self) -> Result<u64, RecordError> {
        self.close()?;
        Ok(self.rows_written())
    }

    fn close(&mut self) -> Result<(), RecordError> {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let outcome = t
                .join()
                .unwrap_or_else(|_| Err(RecordError::Stopped(self.path.clone())));
            if let Err(e) = outcome {
                self.failed = Some(e);
            }
        }
        match self.failed.take() {
            Some(e) => {
                // Later calls still fail, though not with the cause again.
                self.failed = Some(RecordError::Stopped(self.path.clone()));
                Err(e)
            }
            None => Ok(()),
        }
    }
}

/// The recorder as a sink of the tracking thread: a row for every frame it fits, `success` 0
/// when no face was tracked in it.
impl ResultSink for CsvRecorder {
    fn record(&mut self, r: &TrackResult) -> Result<(), SinkError> {
        let mut row = self.spare.try_recv().unwrap_or_else(|_| RecordRow {
            frame: 0,
            timestamp_ms: 0.0,
            method: "",
            success: false,
            confidence: f64::NAN,
            fit_ms: 0.0,
            params: r.params.clone(),
            weights: None,
            controls: Controls::default(),
            landmarks: Vec::new(),
        });
        row.frame = r.frame.index;
        row.timestamp_ms = r.frame.timestamp.as_secs_f64() * 1e3;
        row.method = r.settings.method.label(r.settings.joint);
        row.success = r.status == TrackStatus::Tracking;
        row.confidence = r.confidence;
        row.fit_ms = r.fit_ms;
        row.params.clone_from(&r.params);
        row.weights = r.weights.map(|w| (w.lambda_2d, w.lambda_3d));
        row.controls = r.controls;
        row.landmarks.clear();
        row.landmarks
            .extend(crate::align::detect::points(&r.landmarks));
        CsvRecorder::record(self, row).map_err(Into::into)
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn rows(&self) -> u64 {
        self.rows_written()
    }

    fn finish(mut self: Box<Self>) -> SinkEnd {
        let error = self.close().err().map(Into::into);
        SinkEnd {
            rows: self.rows_written(),
            error,
        }
    }
}

impl Drop for CsvRecorder {
    fn drop(&mut self) {
        // Nothing to report to from a drop; `finish` is the way to see errors.
        let _ = self.close();
    }
}

/// The writer thread's side: formats rows and hands them to the file in whole rows.
struct RowWriter {
    file: File,
    path: PathBuf,
    /// The file's length up to the end of the last row written whole.
    good_len: u64,
    /// Formatted rows not yet handed to the file.
    pending: Vec<u8>,
    pending_rows: u64,
    n_id: usize,
    n_exp: usize,
    written: Arc<AtomicU64>,
}

impl RowWriter {
    fn run(
        mut self,
        rx: &Receiver<RecordRow>,
        spare: &Sender<RecordRow>,
    ) -> Result<(), RecordError> {
        let mut line = String::new();
        let mut last_flush = Instant::now();
        loop {
            match rx.recv_timeout(FLUSH_EVERY) {
                Ok(row) => {
                    line.clear();
                    format_row(&row, self.n_id, self.n_exp, &mut line);
                    self.pending.extend_from_slice(line.as_bytes());
                    self.pending_rows += 1;
                    let _ = spare.send(row);
                    if self.pending.len() >= WRITE_CHUNK {
                        self.flush()?;
                        last_flush = Instant::now();
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
            if last_flush.elapsed() >= FLUSH_EVERY {
                self.flush()?;
                last_flush = Instant::now();
            }
        }
        self.flush()
    }

    /// Hands the pending rows to the file in one write. On a failure the file is cut back to
    /// its last whole row and the pending rows are lost; the error says how many rows it holds.
    fn flush(&mut self) -> Result<(), RecordError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        match self.file.write_all(&self.pending) {
            Ok(()) => {
                self.good_len += self.pending.len() as u64;
                self.written.fetch_add(self.pending_rows, Ordering::Relaxed);
                self.pending.clear();
                self.pending_rows = 0;
                Ok(())
            }
            Err(cause) => {
                // Best effort: a file that cannot be cut keeps its partial row, and the error
                // is reported either way.
                let _ = self.file.set_len(self.good_len);
                Err(RecordError::Write {
                    path: self.path.clone(),
                    rows: self.written.load(Ordering::Relaxed),
                    cause,
                })
            }
        }
    }
}

/// One row, newline included, appended to `out`.
fn format_row(row: &RecordRow, n_id: usize, n_exp: usize, out: &mut String) {
    // Writing into a String cannot fail.
    let p = &row.params;
    let _ = write!(
        out,
        "{},{:.3},{},{},",
        row.frame,
        row.timestamp_ms,
        row.method,
        u8::from(row.success)
    );
    if row.confidence.is_finite() {
        let _ = write!(out, "{:.4}", row.confidence);
    }
    let _ = write!(out, ",{:.3}", row.fit_ms);
    if !row.success {
        // No face: nothing fitted to report (the numbers in hand belong to no face).
        let rest = 8 + n_id + n_exp + N_CONTROLS + 2 * row.landmarks.len();
        out.extend(std::iter::repeat_n(',', rest));
        out.push('\n');
        return;
    }
    for a in [p.pitch(), p.yaw(), p.roll()] {
        let _ = write!(out, ",{:.4}", a.to_degrees());
    }
    let _ = write!(out, ",{:e},{:.3},{:.3}", p.s(), p.tx(), p.ty());
    match row.weights {
        Some((l2, l3)) => {
            let _ = write!(out, ",{l2:.4},{l3:.4}");
        }
        None => out.push_str(",,"),
    }
    // A fit with fewer coefficients than the header leaves the rest empty.
    for (values, n) in [(p.id(), n_id), (p.exp(), n_exp)] {
        for i in 0..n {
            out.push(',');
            if let Some(v) = values.get(i) {
                let _ = write!(out, "{v:.5}");
            }
        }
    }
    for v in row.controls.values {
        let _ = write!(out, ",{v:.4}");
    }
    for k in 0..2 {
        for l in &row.landmarks {
            let _ = write!(out, ",{:.3}", l[k]);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(frame: u64) -> RecordRow {
        let mut params = Params::zeros(2, 1);
        params.set_yaw(0.5);
        params.set_s(0.0015);
        RecordRow {
            frame,
            timestamp_ms: frame as f64 * 33.3,
            method: "parm",
            success: true,
            confidence: 0.97,
            fit_ms: 0.5,
            params,
            weights: None,
            controls: Controls {
                values: std::array::from_fn(|k| k as f32 / 20.0),
            },
            landmarks: vec![[1.0, 2.0]; 68],
        }
    }

    #[test]
    fn header_and_rows_follow_the_design() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut rec = CsvRecorder::create(&path, 2, 1, 68).unwrap();
        for i in 0..50 {
            rec.record(row(i)).unwrap();
        }
        assert_eq!(rec.finish().unwrap(), 50);
        let mut r = csv::Reader::from_path(&path).unwrap();
        let h = r.headers().unwrap().clone();
        assert_eq!(&h[0], "frame");
        assert_eq!((&h[3], &h[4]), ("success", "confidence"));
        assert_eq!(&h[13], "lambda_3d");
        assert_eq!(
            (&h[14], &h[16], &h[17], &h[34], &h[35], &h[103]),
            ("id_0", "exp_0", "jawOpen", "cheekPuff", "x_0", "y_0")
        );
        assert_eq!(h.len(), 14 + 3 + 18 + 136);
        let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
        assert_eq!(rows.len(), 50);
        assert_eq!(&rows[49][0], "49");
        assert_eq!(&rows[0][4], "0.9700");
        assert_eq!(&rows[0][7], "28.6479");
        assert_eq!((&rows[0][17], &rows[0][34]), ("0.0000", "0.8500"));
        assert_eq!(rows[0].len(), h.len());
    }

    #[test]
    fn dropping_the_recorder_flushes_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        {
            let mut rec = CsvRecorder::create(&path, 2, 1, 68).unwrap();
            for i in 0..1000 {
                rec.record(row(i)).unwrap();
            }
        }
        let n = csv::Reader::from_path(&path).unwrap().records().count();
        assert_eq!(n, 1000);
    }

    #[test]
    fn an_unwritable_path_is_an_error() {
        let err = CsvRecorder::create(Path::new("/no/such/dir/r.csv"), 1, 1, 68).unwrap_err();
        assert!(err.to_string().contains("/no/such/dir/r.csv"));
    }

    #[test]
    fn a_full_disk_is_an_error_naming_the_os_reason_and_the_rows_kept() {
        // /dev/full takes the header's open and fails every write with ENOSPC.
        let path = Path::new("/dev/full");
        let Ok(mut rec) = CsvRecorder::create(path, 2, 1, 68) else {
            // The header write itself failed, which is the same error, earlier.
            let err = CsvRecorder::create(path, 2, 1, 68).unwrap_err();
            assert!(err.to_string().contains("No space left"), "{err}");
            return;
        };
        let mut failed = None;
        for i in 0..5000 {
            if let Err(e) = rec.record(row(i)) {
                failed = Some(e);
                break;
            }
        }
        let err = match failed {
            Some(e) => e,
            None => rec.finish().unwrap_err(),
        };
        let text = err.to_string();
        assert!(text.contains("/dev/full"), "{text}");
        assert!(text.contains("No space left"), "{text}");
        assert!(text.contains("after 0 rows"), "{text}");
    }

    #[test]
    fn every_row_is_written_in_one_piece_with_the_header_s_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.csv");
        let mut rec = CsvRecorder::create(&path, 2, 1, 68).unwrap();
        let mut r = row(0);
        r.success = false;
        rec.record(r).unwrap();
        rec.record(row(1)).unwrap();
        rec.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let fields = lines[0].split(',').count();
        assert!(lines.iter().all(|l| l.split(',').count() == fields));
        assert!(text.ends_with('\n'));
    }
}
