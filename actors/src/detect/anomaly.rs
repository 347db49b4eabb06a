//! [`AnomalyDetector`]: an online anomaly score in [0, 1] for one metric, in bounded memory.
//!
//! A conformal k-nearest-neighbour detector (Burnaev and Ishimtsev's KNN-CAD, which NAB scores at
//! 58.0 on its full corpus). The last `shape` values form a point; its *strangeness* is the sum of
//! squared distances to its `neighbours` nearest points among the `reference` points before it. The
//! score is the fraction of the last `reference` strangeness values that the new one exceeds — a
//! conformal rank, so it needs no scale, works the same for milliseconds and bytes, and follows daily
//! shapes as well as levels. Beyond every past value the score keeps rising within the top 1/n so
//! thresholds near 1 can still be told apart. After a detection (a score at or above `fire_at`) the
//! next `refractory` scores are 0, so one event fires once, not once per sample.

use super::AnomalySettings;

/// The detector's state for one metric.
#[derive(Clone, Debug)]
pub struct AnomalyDetector {
    settings: AnomalySettings,
    /// The newest values, oldest first; compacted when it reaches twice the span it needs.
    values: Vec<f64>,
    /// Squared distance from the newest point to the point `k + 1` values before it, for each lag.
    by_lag: Vec<f64>,
    /// Values since `by_lag` was last computed in full (updates accumulate rounding).
    since_exact: usize,
    /// Strangeness of the last `reference` points, a ring.
    calibration: Vec<f64>,
    next: usize,
    scratch: Vec<f64>,
    quiet_for: usize,
}

impl AnomalyDetector {
    /// A detector with `settings`; invalid settings are replaced by the defaults, with a warning
    /// (see [`AnomalySettings::problem`]).
    pub fn new(settings: AnomalySettings) -> Self {
        let settings = match settings.problem() {
            Some(problem) => {
                tracing::warn!(%problem, "Invalid anomaly settings; the defaults are used");
                AnomalySettings::default()
            }
            None => settings,
        };
        AnomalyDetector {
            values: Vec::with_capacity(2 * Self::span(&settings)),
            by_lag: Vec::with_capacity(settings.reference),
            since_exact: 0,
            calibration: Vec::with_capacity(settings.reference),
            next: 0,
            scratch: Vec::with_capacity(settings.reference),
            settings,
            quiet_for: 0,
        }
    }

    /// Values kept: the newest point, the reference points before it, and one more for updates.
    fn span(settings: &AnomalySettings) -> usize {
        settings.reference + settings.shape + 1
    }

    /// The settings in use.
    pub fn settings(&self) -> AnomalySettings {
        self.settings
    }

    /// Bytes this detector holds.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + (self.values.capacity()
                + self.by_lag.capacity()
                + self.calibration.capacity()
                + self.scratch.capacity())
                * std::mem::size_of::<f64>()
    }

    /// Scores `value` against the history so far, then adds it. Non-finite values score 0 and are
    /// not added.
    pub fn score(&mut self, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let AnomalySettings {
            shape, reference, ..
        } = self.settings;
        let span = Self::span(&self.settings);
        if self.values.len() == 2 * span {
            self.values.drain(..span);
        }
        self.values.push(value);
        if self.values.len() < reference + shape {
            return 0.0;
        }
        if self.by_lag.is_empty() || self.since_exact >= reference {
            self.exact_distances();
        } else {
            self.update_distances();
        }
        let strangeness = self.nearest(None);
        if self.calibration.is_empty() {
            self.calibrate();
        }
        let n = self.calibration.len();
        let below = self
            .calibration
            .iter()
            .filter(|&&c| c < strangeness)
            .count();
        let mut score = if below == n {
            let max = self.calibration.iter().copied().fold(0.0, f64::max);
            1.0 - max / strangeness / n as f64
        } else {
            below as f64 / n as f64
        };
        self.calibration[self.next] = strangeness;
        self.next = (self.next + 1) % n;
        if self.quiet_for > 0 {
            self.quiet_for -= 1;
            score = 0.0;
        } else if score >= self.settings.fire_at {
            self.quiet_for = self.settings.refractory;
        }
        score
    }

    /// The squared distance between the points (of `shape` values) that start at `a` and `b`.
    fn distance(&self, a: usize, b: usize) -> f64 {
        let shape = self.settings.shape;
        self.values[a..a + shape]
            .iter()
            .zip(&self.values[b..b + shape])
            .map(|(x, y)| (x - y) * (x - y))
            .sum()
    }

    /// `by_lag` for the newest point, computed in full.
    fn exact_distances(&mut self) {
        let AnomalySettings {
            shape, reference, ..
        } = self.settings;
        let newest = self.values.len() - shape;
        self.by_lag.clear();
        for lag in 1..=reference {
            let d = self.distance(newest, newest - lag);
            self.by_lag.push(d);
        }
        self.since_exact = 0;
    }

    /// `by_lag` moved on by one value: each distance gains the newest pair of values and loses the
    /// pair that left the points. Where that cancels (the result tiny next to its terms, as when a
    /// spike leaves a point or a flat stretch begins) the distance is computed in full, so equal
    /// points stay exactly 0 apart and ties rank as ties.
    fn update_distances(&mut self) {
        let shape = self.settings.shape;
        let last = self.values.len() - 1;
        let newest = last + 1 - shape;
        let (values, by_lag) = (&self.values, &mut self.by_lag);
        for (k, d) in by_lag.iter_mut().enumerate() {
            let lag = k + 1;
            let entered = values[last] - values[last - lag];
            let left = values[newest - 1] - values[newest - 1 - lag];
            let (gain, loss) = (entered * entered, left * left);
            let next = *d + gain - loss;
            *d = if next < 1e-6 * (*d + gain + loss) {
                values[newest..=last]
                    .iter()
                    .zip(&values[newest - lag..=last - lag])
                    .map(|(x, y)| (x - y) * (x - y))
                    .sum()
            } else {
                next
            };
        }
        self.since_exact += 1;
    }

    /// The sum of the `neighbours` smallest of `by_lag`, or, with `of`, of the distances from the
    /// reference point starting at `of` to the other reference points.
    fn nearest(&mut self, of: Option<usize>) -> f64 {
        let AnomalySettings {
            shape,
            reference,
            neighbours,
            ..
        } = self.settings;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        match of {
            None => scratch.extend_from_slice(&self.by_lag),
            Some(at) => {
                let first = self.values.len() - shape - reference;
                for start in (first..first + reference).filter(|&s| s != at) {
                    scratch.push(self.distance(at, start));
                }
            }
        }
        let k = neighbours.min(scratch.len());
        if k > 0 && k < scratch.len() {
            scratch.select_nth_unstable_by(k - 1, f64::total_cmp);
        }
        let sum = scratch[..k].iter().sum();
        self.scratch = scratch;
        sum
    }

    /// Fills the calibration ring with each reference point's leave-one-out strangeness.
    fn calibrate(&mut self) {
        let AnomalySettings {
            shape, reference, ..
        } = self.settings;
        let first = self.values.len() - shape - reference;
        for start in first..first + reference {
            let s = self.nearest(Some(start));
            self.calibration.push(s);
        }
        self.next = 0;
    }
}
