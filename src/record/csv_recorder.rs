//! The parameter stream as CSV (DESIGN.md): a header row, then one row a frame —
//! `frame, timestamp_ms, method, success, confidence, fit_ms, pitch_deg, yaw_deg, roll_deg, scale, tx, ty,
//! lambda_2d, lambda_3d, id_0…, exp_0…, x_0…x_67, y_0…y_67`. Rows are written by a thread of
//! their own, so the tracking thread never waits on the disk, and flushed at least every half
//! second and when the recorder is finished or dropped.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};
use thiserror::Error;

use crate::model::Params;
use crate::track::{ResultSink, SinkError, TrackResult, TrackStatus};

const FLUSH_EVERY: Duration = Duration::from_millis(500);

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
    /// The 68 landmarks, image pixels.
    pub landmarks: Vec<[f64; 2]>,
}

#[derive(Debug, Error)]
pub enum RecordError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
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
    written: Arc<AtomicU64>,
}

impl CsvRecorder {
    /// Creates the file (replacing one that exists) and writes the header.
    pub fn create(
        path: &Path,
        n_id: usize,
        n_exp: usize,
        n_landmarks: usize,
    ) -> Result<Self, RecordError> {
        let io = |source| RecordError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::create(path).map_err(io)?;
        let mut w = csv::Writer::from_writer(BufWriter::new(file));
        w.write_record(header(n_id, n_exp, n_landmarks))
            .and_then(|_| w.flush().map_err(csv::Error::from))
            .map_err(|source| RecordError::Csv {
                path: path.to_owned(),
                source,
            })?;
        let (tx, rx) = unbounded();
        let (spare_tx, spare) = unbounded();
        let written = Arc::new(AtomicU64::new(0));
        let (p, count) = (path.to_owned(), written.clone());
        let thread = std::thread::Builder::new()
            .name("csv-recorder".into())
            .spawn(move || write_rows(w, rx, &spare_tx, &p, n_id, n_exp, &count))
            .map_err(io)?;
        Ok(Self {
            path: path.to_owned(),
            tx: Some(tx),
            spare,
            thread: Some(thread),
            written,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows on disk (or in the writer's buffer) so far.
    pub fn rows_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Queues a row. Fails only when the writer thread has stopped on an error.
    pub fn record(&self, row: RecordRow) -> Result<(), RecordError> {
        match &self.tx {
            Some(tx) => tx
                .send(row)
                .map_err(|_| RecordError::Stopped(self.path.clone())),
            None => Err(RecordError::Stopped(self.path.clone())),
        }
    }

    /// Writes every queued row, flushes and closes the file; returns the number of rows.
    pub fn finish(mut self) -> Result<u64, RecordError> {
        self.close()?;
        Ok(self.rows_written())
    }

    fn close(&mut self) -> Result<(), RecordError> {
        drop(self.tx.take());
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(RecordError::Stopped(self.path.clone()))),
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

    fn finish(self: Box<Self>) -> Result<u64, SinkError> {
        CsvRecorder::finish(*self).map_err(Into::into)
    }
}

impl Drop for CsvRecorder {
    fn drop(&mut self) {
        // Nothing to report to from a drop; `finish` is the way to see errors.
        let _ = self.close();
    }
}

fn write_rows(
    mut w: csv::Writer<BufWriter<File>>,
    rx: Receiver<RecordRow>,
    spare: &Sender<RecordRow>,
    path: &Path,
    n_id: usize,
    n_exp: usize,
    written: &AtomicU64,
) -> Result<(), RecordError> {
    let err = |source| RecordError::Csv {
        path: path.to_owned(),
        source,
    };
    let mut fields: Vec<String> = Vec::new();
    let mut last_flush = Instant::now();
    loop {
        match rx.recv_timeout(FLUSH_EVERY) {
            Ok(row) => {
                row_fields(&row, n_id, n_exp, &mut fields);
                w.write_record(&fields).map_err(err)?;
                written.fetch_add(1, Ordering::Relaxed);
                let _ = spare.send(row);
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            w.flush().map_err(|e| err(e.into()))?;
            last_flush = Instant::now();
        }
    }
    w.flush().map_err(|e| err(e.into()))
}

fn row_fields(row: &RecordRow, n_id: usize, n_exp: usize, out: &mut Vec<String>) {
    out.clear();
    let p = &row.params;
    out.push(row.frame.to_string());
    out.push(format!("{:.3}", row.timestamp_ms));
    out.push(row.method.to_owned());
    out.push(u8::from(row.success).to_string());
    if row.confidence.is_finite() {
        out.push(format!("{:.4}", row.confidence));
    } else {
        out.push(String::new());
    }
    out.push(format!("{:.3}", row.fit_ms));
    if !row.success {
        // No face: nothing fitted to report (the numbers in hand belong to no face).
        let rest = 8 + n_id + n_exp + 2 * row.landmarks.len();
        out.extend(std::iter::repeat_n(String::new(), rest));
        return;
    }
    for a in [p.pitch(), p.yaw(), p.roll()] {
        out.push(format!("{:.4}", a.to_degrees()));
    }
    out.push(format!("{:e}", p.s()));
    out.push(format!("{:.3}", p.tx()));
    out.push(format!("{:.3}", p.ty()));
    match row.weights {
        Some((l2, l3)) => {
            out.push(format!("{l2:.4}"));
            out.push(format!("{l3:.4}"));
        }
        None => out.extend([String::new(), String::new()]),
    }
    // A fit with fewer coefficients than the header leaves the rest empty.
    out.extend((0..n_id).map(|i| p.id().get(i).map_or(String::new(), |v| format!("{v:.5}"))));
    out.extend((0..n_exp).map(|i| p.exp().get(i).map_or(String::new(), |v| format!("{v:.5}"))));
    out.extend(row.landmarks.iter().map(|l| format!("{:.3}", l[0])));
    out.extend(row.landmarks.iter().map(|l| format!("{:.3}", l[1])));
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
            landmarks: vec![[1.0, 2.0]; 68],
        }
    }

    #[test]
    fn header_and_rows_follow_the_design() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let rec = CsvRecorder::create(&path, 2, 1, 68).unwrap();
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
            (&h[14], &h[16], &h[17], &h[85]),
            ("id_0", "exp_0", "x_0", "y_0")
        );
        assert_eq!(h.len(), 14 + 3 + 136);
        let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
        assert_eq!(rows.len(), 50);
        assert_eq!(&rows[49][0], "49");
        assert_eq!(&rows[0][4], "0.9700");
        assert_eq!(&rows[0][7], "28.6479");
        assert_eq!(rows[0].len(), h.len());
    }

    #[test]
    fn dropping_the_recorder_flushes_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        {
            let rec = CsvRecorder::create(&path, 2, 1, 68).unwrap();
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
}
