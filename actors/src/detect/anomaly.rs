//! [`AnomalyDetector`]: an online anomaly score in [0, 1] for one metric, in bounded memory.
//!
//! Each value is compared with a trailing window of the metric's recent history by robust statistics
//! (median and MAD, so the outliers it looks for do not widen its own yardstick): how far the value
//! itself lies out, and how far the mean of the last few values does (a level shift shows there
//! before single values stand out). The larger distance, in robust standard deviations, becomes a
//! score through `1 - exp(-z^2 / (2 s^2))`. After a detection (a score at or above `fire_at`) the
//! score is held down for `refractory` values, so one event fires once, not once per sample.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::stats::{mad, median};

/// How the detector scores.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalySettings {
    /// Values in the trailing window (the memory per metric is about 8 bytes per value, twice).
    pub window: usize,
    /// Values averaged for the level-shift score.
    pub short: usize,
    /// Values seen before any score above 0.
    pub warmup: usize,
    /// Robust standard deviations at which the score is about 0.39 (z = scale) .. 0.99 (z = 3 scale).
    pub scale: f64,
    /// A score at or above this is a detection; the next `refractory` scores are held down.
    pub fire_at: f64,
    /// Values after a detection during which scores are damped.
    pub refractory: usize,
}

impl Default for AnomalySettings {
    fn default() -> Self {
        AnomalySettings {
            window: 800,
            short: 6,
            warmup: 200,
            scale: 3.0,
            fire_at: 0.9,
            refractory: 600,
        }
    }
}

/// The detector's state for one metric.
#[derive(Clone, Debug)]
pub struct AnomalyDetector {
    settings: AnomalySettings,
    history: VecDeque<f64>,
    recent: VecDeque<f64>,
    seen: usize,
    quiet_for: usize,
    scratch: Vec<f64>,
}

impl AnomalyDetector {
    /// A detector with `settings`.
    pub fn new(settings: AnomalySettings) -> Self {
        AnomalyDetector {
            history: VecDeque::with_capacity(settings.window + 1),
            recent: VecDeque::with_capacity(settings.short + 1),
            scratch: Vec::with_capacity(settings.window),
            settings,
            seen: 0,
            quiet_for: 0,
        }
    }

    /// Bytes this detector holds.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + (self.history.capacity() + self.recent.capacity() + self.scratch.capacity())
                * std::mem::size_of::<f64>()
    }

    /// Scores `value` against the history so far, then adds it. Non-finite values score 0 and are
    /// not added.
    pub fn score(&mut self, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let s = self.settings;
        self.recent.push_back(value);
        if self.recent.len() > s.short.max(1) {
            self.recent.pop_front();
        }
        let mut score = 0.0;
        if self.seen >= s.warmup && self.history.len() >= 8 {
            self.scratch.clear();
            self.scratch.extend(self.history.iter());
            let center = median(&self.scratch);
            // The MAD alone is too tight on plateaus and integer-valued series: half the standard
            // deviation is its floor.
            let n = self.scratch.len() as f64;
            let mean = self.scratch.iter().sum::<f64>() / n;
            let sd = (self.scratch.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
            let mut spread = mad(&self.scratch).max(0.5 * sd);
            if spread <= 0.0 || !spread.is_finite() {
                // A flat history: any change is news; scale by the magnitude instead.
                spread = 1e-3 * center.abs().max(1e-9);
            }
            let z_point = (value - center).abs() / spread;
            let level = self.recent.iter().sum::<f64>() / self.recent.len() as f64;
            let z_level = (level - center).abs() / spread;
            let z = z_point.max(z_level);
            score = 1.0 - (-(z * z) / (2.0 * s.scale * s.scale)).exp();
        }
        if self.quiet_for > 0 {
            self.quiet_for -= 1;
            score *= 0.5;
        } else if score >= s.fire_at {
            self.quiet_for = s.refractory;
        }
        self.history.push_back(value);
        if self.history.len() > s.window.max(8) {
            self.history.pop_front();
        }
        self.seen += 1;
        score
    }
}
