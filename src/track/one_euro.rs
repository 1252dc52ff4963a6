//! The One Euro filter (Casiez, Roussel & Vogel, CHI 2012) for the tracked parameters: a
//! first-order low-pass filter whose cutoff rises with the signal's speed, so a still head stops
//! jittering while a turning head is followed with little lag. Cutoff `f_c = f_min + β·|ẋ|`,
//! smoothing factor `α = 1 / (1 + τ/Tₑ)` with `τ = 1/(2π f_c)` and `Tₑ` the time since the last
//! sample; the speed `ẋ` is itself low-passed at a fixed cutoff.

use std::f64::consts::TAU;

/// Settings, per value (all channels share them; give values in comparable units).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneEuroSettings {
    /// Cutoff at rest, Hz: lower is smoother when still.
    pub min_cutoff: f64,
    /// How fast the cutoff rises with speed (1/units): higher is less lag when moving.
    pub beta: f64,
    /// Cutoff of the speed estimate, Hz.
    pub d_cutoff: f64,
}

impl Default for OneEuroSettings {
    fn default() -> Self {
        Self {
            min_cutoff: 1.0,
            beta: 0.5,
            d_cutoff: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Channel {
    value: f64,
    speed: f64,
}

/// A One Euro filter over a vector of values, filtered in place.
#[derive(Debug, Clone)]
pub struct OneEuroFilter {
    settings: OneEuroSettings,
    channels: Vec<Channel>,
    last_t: Option<f64>,
}

fn alpha(cutoff: f64, dt: f64) -> f64 {
    let tau = 1.0 / (TAU * cutoff);
    1.0 / (1.0 + tau / dt)
}

impl OneEuroFilter {
    pub fn new(settings: OneEuroSettings) -> Self {
        Self {
            settings,
            channels: Vec::new(),
            last_t: None,
        }
    }

    pub fn settings(&self) -> OneEuroSettings {
        self.settings
    }

    pub fn set_settings(&mut self, settings: OneEuroSettings) {
        self.settings = settings;
    }

    /// Forgets the past: the next sample passes unchanged (after a lost face, a new detection).
    pub fn reset(&mut self) {
        self.last_t = None;
    }

    /// Filters `values`, sampled at time `t` seconds, in place. A different number of values than
    /// before, or a time that does not move forward, restarts the filter from this sample; a sample
    /// with a NaN or infinity is left as it is and the filter restarts from the next one.
    pub fn filter(&mut self, t: f64, values: &mut [f64]) {
        // A broken sample says nothing about the signal; the next good one starts afresh.
        if values.iter().any(|v| !v.is_finite()) || !t.is_finite() {
            self.last_t = None;
            return;
        }
        let dt = self.last_t.map(|last| t - last);
        let restart = values.len() != self.channels.len() || !matches!(dt, Some(d) if d > 0.0);
        if restart {
            // Reuses the allocation when the size is unchanged.
            self.channels.resize(values.len(), Channel::default());
            for (c, &v) in self.channels.iter_mut().zip(values.iter()) {
                *c = Channel {
                    value: v,
                    speed: 0.0,
                };
            }
            self.last_t = Some(t);
            return;
        }
        let dt = dt.unwrap_or(1.0);
        let s = self.settings;
        let a_d = alpha(s.d_cutoff, dt);
        for (c, v) in self.channels.iter_mut().zip(values.iter_mut()) {
            let speed = a_d * (*v - c.value) / dt + (1.0 - a_d) * c.speed;
            let a = alpha(s.min_cutoff + s.beta * speed.abs(), dt);
            c.value = a * *v + (1.0 - a) * c.value;
            c.speed = speed;
            *v = c.value;
        }
        self.last_t = Some(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repeatable pseudo-random sequence in [−1, 1].
    fn noise(i: u64) -> f64 {
        let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0xD1B5_4A32_D192_ED03;
        (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn std_dev(v: &[f64]) -> f64 {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    }

    #[test]
    fn a_constant_passes_unchanged() {
        let mut f = OneEuroFilter::new(OneEuroSettings::default());
        for i in 0..100 {
            let mut v = [3.0, -1.5];
            f.filter(i as f64 / 30.0, &mut v);
            assert!(
                (v[0] - 3.0).abs() < 1e-12 && (v[1] + 1.5).abs() < 1e-12,
                "{v:?}"
            );
        }
    }

    #[test]
    fn jitter_on_a_still_signal_shrinks() {
        let mut f = OneEuroFilter::new(OneEuroSettings {
            min_cutoff: 0.5,
            beta: 0.1,
            d_cutoff: 1.0,
        });
        let (mut raw, mut out) = (Vec::new(), Vec::new());
        for i in 0..300 {
            let x = 10.0 + 0.2 * noise(i);
            let mut v = [x];
            f.filter(i as f64 / 30.0, &mut v);
            raw.push(x);
            out.push(v[0]);
        }
        let (r, o) = (std_dev(&raw[60..]), std_dev(&out[60..]));
        assert!(o < r / 3.0, "raw {r}, filtered {o}");
    }

    #[test]
    fn a_fast_turn_is_followed_with_little_lag() {
        // A ramp of 60 units a second: the speed term opens the filter.
        let lag = |beta: f64| {
            let mut f = OneEuroFilter::new(OneEuroSettings {
                min_cutoff: 0.5,
                beta,
                d_cutoff: 1.0,
            });
            let mut last = 0.0;
            for i in 0..90 {
                let t = i as f64 / 30.0;
                let mut v = [60.0 * t];
                f.filter(t, &mut v);
                last = 60.0 * t - v[0];
            }
            last
        };
        assert!(lag(1.0) < 0.25 * lag(0.0), "{} vs {}", lag(1.0), lag(0.0));
        assert!(lag(1.0) < 3.0);
    }

    #[test]
    fn time_going_backwards_or_nan_restarts_instead_of_poisoning() {
        let mut f = OneEuroFilter::new(OneEuroSettings::default());
        let mut v = [1.0];
        f.filter(1.0, &mut v);
        let mut v = [5.0];
        f.filter(1.0, &mut v);
        assert_eq!(v, [5.0]);
        let mut v = [f64::NAN];
        f.filter(2.0, &mut v);
        let mut v = [2.0];
        f.filter(2.1, &mut v);
        assert_eq!(v, [2.0]);
    }
}
