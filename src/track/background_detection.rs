//! Face detection beside tracking: every so often the tracker hands a copy of its grey frame to a
//! thread of its own, which runs the detector while the next frames are fitted. A cut to a face
//! elsewhere, or a face that comes back while the tracker sits on something it believes in, is
//! noticed without one frame paying the detector's tens of milliseconds.
//!
//! For a file or the demo the tracker waits for the answer a fixed number of frames after asking,
//! so a run gives the same results every time; for a camera it takes the answer when it is there.

use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TryRecvError, bounded};

use crate::align::detect::{Detection, FaceDetector};
use crate::image::GrayImage;

struct Job {
    image: GrayImage,
    detections: Vec<Detection>,
}

/// The detector thread and the two buffers that travel between it and the tracker.
pub struct BackgroundDetector {
    jobs: Option<Sender<Job>>,
    done: Receiver<Job>,
    /// The buffer not in flight, when one is free.
    idle: Option<Job>,
    /// Frames since the job in flight was sent, when one is.
    in_flight: Option<usize>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for BackgroundDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundDetector")
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

impl BackgroundDetector {
    /// Starts the thread with a detector of its own (made there: the detector cannot move between
    /// threads); `None` when the thread cannot be started (tracking goes on without background
    /// searches, as it does when the thread's detector cannot be made).
    pub fn start() -> Option<Self> {
        let (jobs_tx, jobs_rx) = bounded::<Job>(1);
        let (done_tx, done_rx) = bounded::<Job>(1);
        let thread = std::thread::Builder::new()
            .name("facetrack-detect".into())
            .spawn(move || {
                let Ok(mut detector) = FaceDetector::new() else {
                    return;
                };
                for mut job in jobs_rx {
                    job.detections = detector.detect(&job.image);
                    if done_tx.send(job).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(Self {
            jobs: Some(jobs_tx),
            done: done_rx,
            idle: Some(Job {
                image: GrayImage::default(),
                detections: Vec::new(),
            }),
            in_flight: None,
            thread: Some(thread),
        })
    }

    /// Whether a frame is being searched.
    pub fn busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Sends a copy of `image` to be searched; `false` when a search is already running.
    pub fn submit(&mut self, image: &GrayImage) -> bool {
        let (Some(mut job), Some(jobs)) = (self.idle.take(), self.jobs.as_ref()) else {
            return false;
        };
        job.image
            .set_from_gray(image.width(), image.height(), image.pixels());
        match jobs.try_send(job) {
            Ok(()) => {
                self.in_flight = Some(0);
                true
            }
            Err(e) => {
                self.idle = Some(e.into_inner());
                false
            }
        }
    }

    /// Counts a frame; returns the detections of the search in flight once it has finished —
    /// waiting for it when `wait_after` frames have passed since it was sent (`None`: never wait).
    /// `out` is refilled, reusing its allocation.
    pub fn poll(&mut self, wait_after: Option<usize>, out: &mut Vec<Detection>) -> bool {
        let Some(frames) = self.in_flight.as_mut() else {
            return false;
        };
        *frames += 1;
        let wait = wait_after.is_some_and(|n| *frames >= n);
        let job = if wait {
            self.done.recv().ok()
        } else {
            match self.done.try_recv() {
                Ok(job) => Some(job),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => None,
            }
        };
        self.in_flight = None;
        let Some(job) = job else {
            // The thread is gone: no more background searches.
            self.jobs = None;
            return false;
        };
        out.clear();
        out.extend_from_slice(&job.detections);
        self.idle = Some(job);
        true
    }

    /// Forgets a search in flight (its answer would be about a frame from before a reset).
    pub fn cancel(&mut self) {
        if self.in_flight.take().is_some() {
            if let Ok(job) = self.done.recv() {
                self.idle = Some(job);
            } else {
                self.jobs = None;
            }
        }
    }
}

impl Drop for BackgroundDetector {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            // The thread ends once the job channel closes and its answer (if any) is dropped.
            drop(self.done.try_recv());
            let _ = t.join();
        }
    }
}
