//! Latency statistics: an HDR histogram of microseconds per reader thread, merged at the end of the run
//! into the percentiles the report prints.

use hdrhistogram::Histogram;
use serde::Serialize;

/// The largest latency recorded exactly; longer ones are clamped to it (and still counted).
const MAX_MICROS: u64 = 60_000_000;

pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Latency {
        Latency::new()
    }
}

impl Latency {
    pub fn new() -> Latency {
        // 3 significant digits from 1 µs to 60 s: the bounds are valid constants, so this cannot fail.
        let histogram = Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds");
        Latency { histogram }
    }

    /// Records one latency given in nanoseconds.
    pub fn record_ns(&mut self, nanos: u64) {
        self.histogram.saturating_record((nanos / 1_000).clamp(1, MAX_MICROS));
    }

    pub fn merge(&mut self, other: &Latency) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    pub fn summary(&self) -> LatencySummary {
        let h = &self.histogram;
        let empty = h.is_empty();
        let at = |q: f64| if empty { 0 } else { h.value_at_quantile(q) };
        LatencySummary {
            samples: h.len(),
            mean_us: if empty { 0.0 } else { (h.mean() * 10.0).round() / 10.0 },
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: if empty { 0 } else { h.max() },
        }
    }
}

/// Latency percentiles in microseconds (1 µs resolution; an HDR bucket's upper edge, 3 significant digits).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencySummary {
    pub samples: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_microseconds() {
        let mut a = Latency::new();
        let mut b = Latency::new();
        for us in 1..=1_000u64 {
            a.record_ns(us * 1_000);
        }
        b.record_ns(5_000_000_000);
        a.merge(&b);
        let s = a.summary();
        assert_eq!(s.samples, 1_001);
        assert_eq!(s.p50_us, 501); // the 501st of 1001 samples
        assert_eq!(s.p90_us, 901);
        assert!((999..=1_000).contains(&s.p999_us), "{}", s.p999_us);
        assert!(s.max_us >= 5_000_000 && s.max_us < 5_010_000, "{}", s.max_us);
        assert_eq!(Latency::new().summary().p99_us, 0);
    }
}
