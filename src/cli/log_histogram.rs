//! Quantiles of a long stream in constant memory: counts in logarithmic bins, each 0.5 % wide,
//! from 1e-4 to 1e6. A run of a million frames keeps its latency and fit-time figures without
//! keeping a million samples.

/// Ratio of a bin's upper to its lower edge.
const STEP: f64 = 1.005;
const LOW: f64 = 1e-4;
const HIGH: f64 = 1e6;

pub struct LogHistogram {
    counts: Vec<u64>,
    n: u64,
}

impl LogHistogram {
    pub fn new() -> Self {
        let bins = ((HIGH / LOW).ln() / STEP.ln()).ceil() as usize + 1;
        Self {
            counts: vec![0; bins],
            n: 0,
        }
    }

    /// Adds a sample; values under 1e-4 count as 1e-4, over 1e6 as 1e6; NaN is left out.
    pub fn add(&mut self, v: f64) {
        if v.is_nan() {
            return;
        }
        let v = v.clamp(LOW, HIGH);
        let bin = ((v / LOW).ln() / STEP.ln()) as usize;
        let last = self.counts.len() - 1;
        self.counts[bin.min(last)] += 1;
        self.n += 1;
    }

    /// The `q` quantile (nearest rank), to within half a bin (0.25 %); NaN when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        // The same rank as sorting the samples and taking index round((n − 1)·q).
        let rank = ((self.n - 1) as f64 * q.clamp(0.0, 1.0)).round() as u64;
        let mut seen = 0;
        for (bin, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen > rank {
                // The bin's geometric middle.
                return LOW * STEP.powf(bin as f64 + 0.5);
            }
        }
        HIGH
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_sorting_to_within_a_bin() {
        let mut h = LogHistogram::new();
        let mut v: Vec<f64> = (1..=10_000)
            .map(|i| 0.01 * f64::from(i).powf(1.3))
            .collect();
        for x in &v {
            h.add(*x);
        }
        h.add(f64::NAN);
        v.sort_by(f64::total_cmp);
        for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
            let exact = v[((v.len() - 1) as f64 * q).round() as usize];
            let got = h.quantile(q);
            assert!((got / exact - 1.0).abs() < 0.005, "q {q}: {got} vs {exact}");
        }
        assert!(LogHistogram::new().quantile(0.5).is_nan());
    }
}
