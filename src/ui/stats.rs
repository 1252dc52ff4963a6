//! What the panel's readouts and plot show about speed: the window's frame rate, the fitting
//! rate and time as the tracking thread reports them, their recent history, and the run's totals
//! for the line printed at exit. Fixed-size buffers: a frame allocates nothing here.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use egui_plot::PlotPoint;

/// Seconds of history the plot shows.
pub const HISTORY_SECONDS: f64 = 30.0;
/// How often the history takes a sample.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// Samples kept.
const HISTORY_LEN: usize = (HISTORY_SECONDS * 4.0) as usize + 1;
/// How long the frame rate is counted over before it is shown.
const RATE_WINDOW: Duration = Duration::from_millis(500);

/// Events a second, counted over half-second windows.
#[derive(Debug, Clone)]
pub struct RateMeter {
    count: u32,
    since: Instant,
    rate: f64,
}

impl RateMeter {
    pub fn new(now: Instant) -> Self {
        Self {
            count: 0,
            since: now,
            rate: 0.0,
        }
    }

    pub fn tick(&mut self, now: Instant) {
        self.count += 1;
        self.refresh(now);
    }

    /// Closes the window when it is over, so that the rate falls when events stop.
    pub fn refresh(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.since);
        if dt >= RATE_WINDOW {
            self.rate = f64::from(self.count) / dt.as_secs_f64();
            self.count = 0;
            self.since = now;
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }
}

/// One plotted series: `(seconds since start, value)`.
pub struct Series {
    points: VecDeque<PlotPoint>,
}

impl Series {
    fn new() -> Self {
        Self {
            points: VecDeque::with_capacity(HISTORY_LEN),
        }
    }

    fn push(&mut self, x: f64, y: f64) {
        if self.points.len() == HISTORY_LEN {
            self.points.pop_front();
        }
        self.points.push_back(PlotPoint { x, y });
    }

    /// The points in order, as one slice (the ring is rotated in place, not copied).
    pub fn points(&mut self) -> &[PlotPoint] {
        self.points.make_contiguous()
    }
}

/// The speed figures of a run.
pub struct Stats {
    start: Instant,
    last_sample: Instant,
    pub window: RateMeter,
    /// Distinct fitted frames the window showed, a second.
    pub shown: RateMeter,
    /// The latest result's figures.
    pub fit_fps: f64,
    pub fit_ms: f64,
    pub window_fps: Series,
    pub fit_fps_series: Series,
    pub fit_ms_series: Series,
    totals: Totals,
}

/// The run from its first result on, for the summary at exit.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    first: Option<(Instant, u64)>,
    last: Option<(Instant, u64)>,
    presented: u64,
    results: u64,
    fit_ms_sum: f64,
    fit_fps_sum: f64,
}

/// What a run measured, printed at exit.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Summary {
    /// Frames fitted: the last shown frame's index + 1.
    pub frames: u64,
    /// Window frames presented a second, from the first result to the last.
    pub window_fps: f64,
    /// Frames fitted a second over the same span (from the frames' indices).
    pub fit_fps: f64,
    /// The mean of the tracking thread's own throughput figure over the results shown.
    pub fit_fps_reported: f64,
    /// Mean fit time of the results shown, ms.
    pub fit_ms: f64,
    /// Results the window showed.
    pub shown: u64,
}

impl Stats {
    pub fn new(now: Instant) -> Self {
        Self {
            start: now,
            last_sample: now,
            window: RateMeter::new(now),
            shown: RateMeter::new(now),
            fit_fps: 0.0,
            fit_ms: 0.0,
            window_fps: Series::new(),
            fit_fps_series: Series::new(),
            fit_ms_series: Series::new(),
            totals: Totals::default(),
        }
    }

    /// A new result reached the window.
    pub fn result(&mut self, now: Instant, index: u64, fit_ms: f64, fit_fps: f64) {
        self.shown.tick(now);
        self.fit_ms = fit_ms;
        self.fit_fps = fit_fps;
        let t = &mut self.totals;
        if t.first.is_none() {
            t.first = Some((now, index));
        }
        t.last = Some((now, index));
        t.results += 1;
        t.fit_ms_sum += fit_ms;
        t.fit_fps_sum += fit_fps;
    }

    /// A frame was presented.
    pub fn presented(&mut self, now: Instant) {
        self.window.tick(now);
        if self.totals.first.is_some() {
            self.totals.presented += 1;
        }
        self.sample(now);
    }

    fn sample(&mut self, now: Instant) {
        self.window.refresh(now);
        self.shown.refresh(now);
        if now.saturating_duration_since(self.last_sample) < SAMPLE_EVERY {
            return;
        }
        self.last_sample = now;
        let x = now.saturating_duration_since(self.start).as_secs_f64();
        self.window_fps.push(x, self.window.rate());
        self.fit_fps_series.push(x, self.fit_fps);
        self.fit_ms_series.push(x, 10.0 * self.fit_ms);
    }

    pub fn summary(&self) -> Summary {
        let t = &self.totals;
        let (Some((t0, i0)), Some((t1, i1))) = (t.first, t.last) else {
            return Summary::default();
        };
        let span = t1.saturating_duration_since(t0).as_secs_f64();
        let per_second = |n: f64| if span > 0.0 { n / span } else { 0.0 };
        let n = t.results.max(1) as f64;
        Summary {
            frames: i1 + 1,
            window_fps: per_second(t.presented.saturating_sub(1) as f64),
            fit_fps: per_second(i1.saturating_sub(i0) as f64),
            fit_fps_reported: t.fit_fps_sum / n,
            fit_ms: t.fit_ms_sum / n,
            shown: t.results,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_meter_counts_over_its_window() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(t0);
        for i in 1..=50 {
            m.tick(t0 + Duration::from_millis(10 * i));
        }
        assert!((m.rate() - 100.0).abs() < 1e-9, "{}", m.rate());
        m.refresh(t0 + Duration::from_millis(1500));
        assert_eq!(m.rate(), 0.0);
    }

    #[test]
    fn series_keeps_its_length_and_order() {
        let mut s = Series::new();
        for i in 0..(HISTORY_LEN + 10) {
            s.push(i as f64, 0.0);
        }
        let p = s.points();
        assert_eq!(p.len(), HISTORY_LEN);
        assert_eq!(p[0].x, 10.0);
        assert!(p.windows(2).all(|w| w[0].x < w[1].x));
    }
}
