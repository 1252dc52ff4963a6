//! Pacing a video's results like a player: each result is shown when its frame's presentation
//! time comes, on a clock anchored at the first frame shown and run at the chosen speed, so every
//! frame is shown at the clip's own pace. When fitting falls behind the clock, the clock waits
//! for it (re-anchored at the late frame) rather than skipping frames. "As fast as it fits" shows
//! the newest result whenever one comes, the rest handed back unshown: fitting is never held up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Results queued ahead of the one shown: enough to hide the tracker's jitter, few enough that
/// a seek or a speed change takes effect at once.
const QUEUE: usize = 4;
/// A frame this late re-anchors the clock: the rest play at pace after it.
const LATE: Duration = Duration::from_millis(60);

/// Playback speeds the panel offers.
pub const SPEEDS: [f64; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Times the clip's own pace.
    Rate(f64),
    AsFastAsItFits,
}

impl Speed {
    pub fn label(self) -> String {
        match self {
            Self::Rate(r) => format!("{r}×"),
            Self::AsFastAsItFits => "as fast as it fits".into(),
        }
    }
}

/// Something shown at a time of the media.
pub trait Timed {
    fn media_time(&self) -> Duration;
}

impl Timed for facetrack::track::TrackResult {
    fn media_time(&self) -> Duration {
        self.frame.timestamp
    }
}

pub struct Player<T> {
    queue: VecDeque<T>,
    /// The wall-clock instant a media time was shown at.
    anchor: Option<(Instant, Duration)>,
    speed: Speed,
    paused: bool,
    steps: u32,
}

impl<T: Timed> Player<T> {
    pub fn new(speed: Speed) -> Self {
        Self {
            queue: VecDeque::with_capacity(QUEUE),
            anchor: None,
            speed,
            paused: false,
            steps: 0,
        }
    }

    pub fn wants_more(&self) -> bool {
        self.queue.len() < QUEUE
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn push(&mut self, item: T) {
        self.queue.push_back(item);
    }

    pub fn speed(&self) -> Speed {
        self.speed
    }

    pub fn set_speed(&mut self, speed: Speed) {
        self.speed = speed;
        self.anchor = None;
    }

    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        self.steps = 0;
        self.anchor = None;
    }

    /// Shows the next frame while paused.
    pub fn step(&mut self) {
        if self.paused {
            self.steps += 1;
        }
    }

    /// The result to show now, if one is due; results passed over (as fast as it fits) go to
    /// `recycle`.
    pub fn due(&mut self, now: Instant, mut recycle: impl FnMut(T)) -> Option<T> {
        if self.paused {
            if self.steps > 0 && !self.queue.is_empty() {
                self.steps -= 1;
                return self.queue.pop_front();
            }
            return None;
        }
        let rate = match self.speed {
            Speed::AsFastAsItFits => {
                let newest = self.queue.pop_back();
                self.queue.drain(..).for_each(&mut recycle);
                return newest;
            }
            Speed::Rate(r) => r.max(1e-3),
        };
        let t = self.queue.front()?.media_time();
        match self.anchor {
            Some((wall, media)) if t >= media => {
                let due = wall + (t - media).div_f64(rate);
                if now < due {
                    return None;
                }
                if now - due > LATE {
                    self.anchor = Some((now, t));
                }
            }
            // The first frame, or time went back (a new source): the clock starts here.
            _ => self.anchor = Some((now, t)),
        }
        self.queue.pop_front()
    }

    /// When the next queued result is due, if it waits on the clock.
    pub fn next_due(&self) -> Option<Instant> {
        let Speed::Rate(rate) = self.speed else {
            return None;
        };
        if self.paused {
            return None;
        }
        let t = self.queue.front()?.media_time();
        let (wall, media) = self.anchor?;
        Some(wall + t.saturating_sub(media).div_f64(rate.max(1e-3)))
    }

    /// Empties the queue (a seek, a new source).
    pub fn clear(&mut self, recycle: impl FnMut(T)) {
        self.queue.drain(..).for_each(recycle);
        self.anchor = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Timed for u64 {
        fn media_time(&self) -> Duration {
            Duration::from_millis(*self)
        }
    }

    #[test]
    fn frames_come_out_at_their_times_and_speed() {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let mut p = Player::new(Speed::Rate(1.0));
        for t in [0, 40, 80] {
            p.push(t);
        }
        assert_eq!(p.due(ms(0), drop), Some(0));
        assert_eq!(p.due(ms(20), drop), None);
        assert_eq!(p.next_due(), Some(ms(40)));
        assert_eq!(p.due(ms(41), drop), Some(40));
        p.set_speed(Speed::Rate(2.0));
        p.push(120);
        // The speed change re-anchors at the next frame; then 40 ms of media take 20.
        assert_eq!(p.due(ms(50), drop), Some(80));
        assert_eq!(p.due(ms(65), drop), None);
        assert_eq!(p.due(ms(70), drop), Some(120));
    }

    #[test]
    fn a_late_frame_is_shown_and_the_clock_waits_for_it() {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let mut p = Player::new(Speed::Rate(1.0));
        p.push(0);
        assert_eq!(p.due(ms(0), drop), Some(0));
        p.push(33);
        p.push(66);
        // Fitting fell 200 ms behind: frame 33 is shown, and 66 comes 33 ms after it.
        assert_eq!(p.due(ms(233), drop), Some(33));
        assert_eq!(p.due(ms(250), drop), None);
        assert_eq!(p.due(ms(266), drop), Some(66));
    }

    #[test]
    fn paused_it_steps_and_fastest_shows_the_newest() {
        let now = Instant::now();
        let mut p = Player::new(Speed::Rate(1.0));
        p.set_paused(true);
        p.push(0);
        p.push(40);
        assert_eq!(p.due(now, drop), None);
        p.step();
        assert_eq!(p.due(now, drop), Some(0));
        assert_eq!(p.due(now, drop), None);
        p.set_paused(false);
        p.set_speed(Speed::AsFastAsItFits);
        p.push(80);
        let mut passed = Vec::new();
        assert_eq!(p.due(now, |t| passed.push(t)), Some(80));
        assert_eq!(passed, [40]);
    }
}
