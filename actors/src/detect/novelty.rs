//! [`NoveltyDetector`]: the online anomaly score in [0, 1] of one metric, in fixed memory (49,120
//! bytes with the defaults; settings needing more than 64 KiB are refused) and about 3 µs per
//! value. `anomaly` rules feed it one value per evaluation; `examples/nab.rs` scores NAB's series
//! with it; [`NoveltyEvidence`] says why a value scored what it did.
//!
//! Three signals, each the idea of a published NAB detector, written afresh here:
//!
//! 1. **Conformal k-NN novelty at the value's own scale** (KNN-CAD, Burnaev and Ishimtsev). The last
//!    `shape` values form a stretch; its *strangeness* is the sum of squared Euclidean distances to
//!    its `neighbours` nearest past stretches; its score is the share of the last `calibration`
//!    strangeness values strictly below it — a conformal rank, scale-free and about uniform on
//!    ordinary data, near 1 only for stretches stranger than nearly all recent ones. The past
//!    stretches start at least `gap` values back (those sharing values with the newest are near it
//!    whatever happens), and scoring starts once `warmup` past stretches and strangeness values
//!    exist (value 135 with the defaults), so windows early in short series are not missed.
//! 2. **The same at a coarse scale** (ARTime's downsampled windows): the detector also sees the mean
//!    of each `coarse` values, once per `coarse` values, so a coarse stretch of 12 means spans 144
//!    values. Level shifts, missing daily peaks and slow drifts that look ordinary value by value
//!    show there. The two ranks combine by their maximum.
//! 3. **Range novelty** (the "spatial anomaly" of Numenta's HTM detector): a value beyond the range
//!    seen so far by more than `spatial_tolerance` of its width scores in the top bin.
//!
//! The top bin, above every rank below it, is graded by how far the value goes past the ordinary:
//! with the default calibration of 1,000 it is (0.999, 1], and 0.9995 is twice as strange as the
//! strangest recent stretch (or twice the tolerance beyond the range). At thresholds up to 0.999
//! this changes no detection, so NAB's scores are those of a flat top score of 1; above it, a rule
//! alerts on clear events only, where a flat top would fire on about one value in 1,000 of any
//! noise (a conformal rank cannot say more than "stranger than all 1,000").
//!
//! After a detection (a score at or above `fire_at`) the next `refractory` scores are 0, so one
//! event is detected once (KNN-CAD and CAD OSE rest the same way).
//!
//! Cost per value and scale: `reference` distance updates (each distance gains the newest pair of
//! values and loses the oldest; recomputed in full where that cancels and every `reference`
//! values), a scan for the `neighbours` smallest, and a rank among `calibration` values; the coarse
//! scale does this once per `coarse` values. Every buffer is allocated in [`NoveltyDetector::new`];
//! nothing grows with the series.
//!
//! Non-finite values score 0 and leave the state as it was; finite values beyond ±1e150 are
//! clamped to it. Scores depend only on the values so far, in order (no timestamps, no randomness):
//! the same values give bit-identical scores.

use super::settings::{NoveltySettings, MAX_NEIGHBOURS};

/// Values are clamped to `[-LIMIT, LIMIT]`, so squared differences summed over a stretch stay
/// finite.
const LIMIT: f64 = 1e150;

/// Strangeness values within this share of each other rank as ties: the incremental distance
/// updates drift by rounding, and an exact repeat must not look stranger than its earlier copies.
const TIE: f64 = 1e-6;

/// The score of a value in the top bin, above every rank below it: `1 - share / calibration`,
/// where `share` (below 1) is how small the biggest ordinary deviation is next to this one — the
/// strangest recent strangeness over this one, or the range tolerance over how far beyond the
/// range the value lies. With the default calibration of 1,000 the top bin is (0.999, 1]: 0.9995
/// is twice as strange as the strangest recent stretch (or beyond the range by twice the
/// tolerance), 0.9999 ten times. Every rank below the top is at most `1 - 1 / calibration`, so at
/// thresholds up to 0.999 the detections are the same as with a flat top score of 1.
fn top_score(calibration: usize, share: f64) -> f64 {
    1.0 - share.clamp(0.0, 1.0) / calibration as f64
}

/// Why the last value scored what it did.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::detect::{NoveltyDetector, NoveltySettings};
///
/// let mut detector = NoveltyDetector::new(NoveltySettings::default());
/// detector.score(0.02);
/// let evidence = detector.last_evidence();
/// assert_eq!((evidence.score, evidence.value), (0.0, 0.02));
/// // Still warming up: no rank, and no range before the first value.
/// assert_eq!((evidence.fine, evidence.range), (None, None));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NoveltyEvidence {
    /// The score returned.
    pub score: f64,
    /// The value scored (as given, so non-finite for a value that was skipped).
    pub value: f64,
    /// What was expected: the value at the same place in the most similar past stretch (`None`
    /// before the detector scores).
    pub expected: Option<f64>,
    /// The range of the values seen before this one (`None` before the first).
    pub range: Option<(f64, f64)>,
    /// Conformal rank at the value's own scale: the share of recent strangeness values below this
    /// stretch's, graded in the top bin (`None` while warming up).
    pub fine: Option<f64>,
    /// Conformal rank at the coarse scale, on the values that complete a coarse mean.
    pub coarse: Option<f64>,
    /// The value lies beyond the range seen so far (by more than the tolerance).
    pub spatial: bool,
    /// The score was held at 0 because of a recent detection.
    pub refractory: bool,
}

impl NoveltyEvidence {
    fn skipped(value: f64) -> Self {
        NoveltyEvidence {
            score: 0.0,
            value,
            expected: None,
            range: None,
            fine: None,
            coarse: None,
            spatial: false,
            refractory: false,
        }
    }
}

/// Conformal k-nearest-neighbour scoring of one series: the fine scale, or the coarse one on means.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Scale {
    shape: usize,
    neighbours: usize,
    reference: usize,
    gap: usize,
    warmup: usize,
    /// The newest values, a ring of `reference + gap + shape`; `head` is the next write.
    ring: Vec<f64>,
    head: usize,
    seen: usize,
    /// Squared distance from the newest stretch to the stretch `gap + j` values back, for each `j`.
    by_lag: Vec<f64>,
    /// Values since `by_lag` was last computed in full.
    since_exact: usize,
    /// Recent strangeness values, a ring of at most `calibration`.
    calibration: Vec<f64>,
    calibration_len: usize,
    calibration_next: usize,
}

impl Scale {
    fn new(s: &NoveltySettings, warmup: usize) -> Self {
        Scale {
            shape: s.shape,
            neighbours: s.neighbours,
            reference: s.reference,
            gap: s.gap,
            warmup,
            ring: vec![0.0; s.reference + s.gap + s.shape],
            head: 0,
            seen: 0,
            by_lag: Vec::with_capacity(s.reference),
            since_exact: 0,
            calibration: Vec::with_capacity(s.calibration),
            calibration_len: s.calibration,
            calibration_next: 0,
        }
    }

    fn bytes(&self) -> usize {
        (self.ring.capacity() + self.by_lag.capacity() + self.calibration.capacity())
            * std::mem::size_of::<f64>()
    }

    /// The ring position of the value `age` values back (0 = newest; `age` below the ring's length).
    #[inline]
    fn index(&self, age: usize) -> usize {
        let n = self.ring.len();
        let newest = if self.head == 0 { n - 1 } else { self.head - 1 };
        if newest >= age {
            newest - age
        } else {
            newest + n - age
        }
    }

    /// The value `age` values back.
    #[inline]
    fn at(&self, age: usize) -> f64 {
        self.ring[self.index(age)]
    }

    /// The squared distance between the newest stretch and the one `lag` values before it.
    fn distance(&self, lag: usize) -> f64 {
        (0..self.shape)
            .map(|i| {
                let d = self.at(i) - self.at(i + lag);
                d * d
            })
            .sum()
    }

    /// Adds `value`; returns its conformal rank and the expected value, once warm.
    fn push(&mut self, value: f64) -> (Option<f64>, Option<f64>) {
        let n = self.ring.len();
        self.ring[self.head] = value;
        self.head = (self.head + 1) % n;
        self.seen += 1;
        let stretches = self.seen.min(n).saturating_sub(self.shape - 1);
        let available = stretches.saturating_sub(self.gap).min(self.reference);
        if available == 0 {
            return (None, None);
        }
        if self.by_lag.is_empty() || self.since_exact >= self.reference {
            self.exact_distances(available);
        } else {
            self.update_distances(available);
        }
        if available < self.warmup {
            return (None, None);
        }
        let (strangeness, nearest_lag) = self.nearest(available);
        let expected = self.at(nearest_lag);
        let rank = self.rank(strangeness);
        self.remember(strangeness);
        (rank, Some(expected))
    }

    /// `by_lag` for the newest stretch, computed in full.
    fn exact_distances(&mut self, available: usize) {
        self.by_lag.clear();
        for j in 0..available {
            let d = self.distance(self.gap + j);
            self.by_lag.push(d);
        }
        self.since_exact = 0;
    }

    /// `by_lag` moved on by one value: each distance gains the newest pair of values and loses the
    /// pair that left the stretches. Where that cancels (the result tiny next to its terms, as when
    /// a spike leaves or a flat stretch begins) the distance is computed in full, so equal
    /// stretches stay exactly 0 apart.
    fn update_distances(&mut self, available: usize) {
        let n = self.ring.len();
        let have = self.by_lag.len();
        let (x0, xs) = (self.at(0), self.at(self.shape));
        // ring positions of ages `gap + j` and `shape + gap + j`, walked back without `%`
        let (mut a, mut b) = (self.index(self.gap), self.index(self.shape + self.gap));
        for j in 0..have {
            let entered = x0 - self.ring[a];
            let left = xs - self.ring[b];
            let (gain, loss) = (entered * entered, left * left);
            let d = self.by_lag[j];
            let next = d + gain - loss;
            self.by_lag[j] = if next < 1e-6 * (d + gain + loss) {
                self.distance(self.gap + j)
            } else {
                next
            };
            a = if a == 0 { n - 1 } else { a - 1 };
            b = if b == 0 { n - 1 } else { b - 1 };
        }
        for j in have..available {
            let d = self.distance(self.gap + j);
            self.by_lag.push(d);
        }
        self.since_exact += 1;
    }

    /// The strangeness (sum of the `neighbours` smallest distances, kept in a fixed array) and the
    /// lag of the nearest stretch.
    fn nearest(&self, available: usize) -> (f64, usize) {
        let k = self.neighbours.min(available);
        let mut best = [f64::INFINITY; MAX_NEIGHBOURS];
        let (mut worst, mut worst_at) = (f64::INFINITY, 0);
        let (mut nearest, mut nearest_lag) = (f64::INFINITY, self.gap);
        for (j, &d) in self.by_lag.iter().enumerate() {
            if d < nearest {
                (nearest, nearest_lag) = (d, self.gap + j);
            }
            if d < worst {
                best[worst_at] = d;
                (worst, worst_at) = (f64::NEG_INFINITY, 0);
                for (i, &b) in best[..k].iter().enumerate() {
                    if b > worst {
                        (worst, worst_at) = (b, i);
                    }
                }
            }
        }
        (best[..k].iter().sum(), nearest_lag)
    }

    /// The share of recent strangeness values below `strangeness` (ties within [`TIE`] not
    /// below), once `warmup` of them exist; above all of them, graded by how much (see
    /// [`top_score`]).
    fn rank(&self, strangeness: f64) -> Option<f64> {
        let m = self.calibration.len();
        (m >= self.warmup).then(|| {
            let bar = strangeness * (1.0 - TIE);
            let below = self.calibration.iter().filter(|&&c| c < bar).count();
            if below < m {
                return below as f64 / m as f64;
            }
            let strangest = self.calibration.iter().copied().fold(0.0, f64::max);
            top_score(self.calibration_len, strangest / strangeness)
        })
    }

    fn remember(&mut self, strangeness: f64) {
        if self.calibration.len() < self.calibration_len {
            self.calibration.push(strangeness);
        } else {
            self.calibration[self.calibration_next] = strangeness;
            self.calibration_next = (self.calibration_next + 1) % self.calibration_len;
        }
    }
}

/// The anomaly detector's state for one metric; it serializes whole (to be saved and restored).
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::detect::{NoveltyDetector, NoveltySettings};
///
/// let mut detector = NoveltyDetector::new(NoveltySettings { warmup: 20, ..Default::default() });
/// for i in 0..300 {
///     detector.score(10.0 + (i % 7) as f64 * 0.1);
/// }
/// // Far beyond every value seen: the top score.
/// assert!(detector.score(50.0) > 0.999);
/// assert!(detector.last_evidence().spatial);
/// assert!(detector.bytes() <= watchkeeper_actors::detect::MAX_DETECTOR_BYTES);
/// ```
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NoveltyDetector {
    settings: NoveltySettings,
    fine: Scale,
    coarse: Option<Scale>,
    /// Sum and count of the values toward the next coarse mean.
    coarse_sum: f64,
    coarse_count: usize,
    seen: usize,
    min: f64,
    max: f64,
    quiet_for: usize,
    last: NoveltyEvidence,
}

impl NoveltyDetector {
    /// A detector with `settings`; invalid settings are replaced by the defaults, with a warning
    /// (see [`NoveltySettings::problem`]).
    pub fn new(settings: NoveltySettings) -> Self {
        let settings = match settings.problem() {
            Some(problem) => {
                tracing::warn!(%problem, "Invalid anomaly settings; the defaults are used");
                NoveltySettings::default()
            }
            None => settings,
        };
        NoveltyDetector {
            fine: Scale::new(&settings, settings.warmup),
            coarse: settings
                .has_coarse()
                .then(|| Scale::new(&settings, settings.coarse_warmup)),
            coarse_sum: 0.0,
            coarse_count: 0,
            seen: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            quiet_for: 0,
            last: NoveltyEvidence::skipped(f64::NAN),
            settings,
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> NoveltySettings {
        self.settings
    }

    /// Bytes this detector holds: fixed at creation, never growing with the series.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.fine.bytes()
            + self.coarse.as_ref().map_or(0, Scale::bytes)
    }

    /// Why the last value scored what it did.
    pub fn last_evidence(&self) -> NoveltyEvidence {
        self.last
    }

    /// Scores `value` against the history so far, then adds it. Non-finite values score 0 and
    /// leave the state as it was.
    pub fn score(&mut self, value: f64) -> f64 {
        if !value.is_finite() {
            self.last = NoveltyEvidence::skipped(value);
            return 0.0;
        }
        let value = value.clamp(-LIMIT, LIMIT);
        let s = self.settings;
        self.seen += 1;
        let range = (self.seen > 1).then_some((self.min, self.max));
        let beyond = self.beyond_range(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        let (fine, expected) = self.fine.push(value);
        let coarse = self.push_coarse(value);
        let spatial = beyond.is_some();
        let mut score = fine
            .unwrap_or(0.0)
            .max(coarse.unwrap_or(0.0))
            .max(beyond.unwrap_or(0.0));
        let refractory = self.quiet_for > 0;
        if refractory {
            self.quiet_for -= 1;
            score = 0.0;
        } else if score >= s.fire_at {
            self.quiet_for = s.refractory;
        }
        self.last = NoveltyEvidence {
            score,
            value,
            expected,
            range,
            fine,
            coarse,
            spatial,
            refractory,
        };
        score
    }

    /// The top-bin score of `value` when it lies beyond the range seen so far by more than the
    /// tolerance (see [`top_score`]).
    fn beyond_range(&self, value: f64) -> Option<f64> {
        let s = &self.settings;
        if s.spatial_tolerance <= 0.0 || self.seen <= s.spatial_after || self.max <= self.min {
            return None;
        }
        let tolerance = (self.max - self.min) * s.spatial_tolerance;
        let outside = value > self.max + tolerance || value < self.min - tolerance;
        let beyond = (value - self.max).max(self.min - value);
        outside.then(|| top_score(s.calibration, tolerance / beyond))
    }

    /// Adds `value` to the coarse mean; returns the coarse rank when the mean is complete.
    fn push_coarse(&mut self, value: f64) -> Option<f64> {
        let scale = self.coarse.as_mut()?;
        self.coarse_sum += value;
        self.coarse_count += 1;
        if self.coarse_count < self.settings.coarse {
            return None;
        }
        let mean = self.coarse_sum / self.settings.coarse as f64;
        (self.coarse_sum, self.coarse_count) = (0.0, 0);
        scale.push(mean).0
    }
}

#[cfg(test)]
mod tests {
    use super::super::settings::MAX_DETECTOR_BYTES;
    use super::*;

    /// Deterministic noise in [-0.5, 0.5) (xorshift64).
    fn noise(seed: u64) -> impl FnMut() -> f64 {
        let mut x = seed.max(1);
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        }
    }

    /// A daily cycle of 288 values (5-minute data) with noise.
    fn daily(n: usize, seed: u64) -> Vec<f64> {
        let mut r = noise(seed);
        (0..n)
            .map(|i| 50.0 + 10.0 * (i as f64 * std::f64::consts::TAU / 288.0).sin() + 2.0 * r())
            .collect()
    }

    #[test]
    fn the_defaults_are_valid_and_partial_settings_keep_them() {
        let s = NoveltySettings::default();
        assert_eq!(s.problem(), None);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<NoveltySettings>(&text).unwrap(), s);
        let partial: NoveltySettings = serde_json::from_str(r#"{"refractory": 99}"#).unwrap();
        assert_eq!(partial.refractory, 99);
        assert_eq!(partial.shape, s.shape);
    }

    #[test]
    fn invalid_settings_are_named_and_replaced_by_the_defaults() {
        let d = NoveltySettings::default;
        for bad in [
            NoveltySettings { shape: 0, ..d() },
            NoveltySettings {
                neighbours: 0,
                ..d()
            },
            NoveltySettings {
                neighbours: MAX_NEIGHBOURS + 1,
                ..d()
            },
            NoveltySettings {
                reference: 3,
                ..d()
            },
            NoveltySettings { warmup: 0, ..d() },
            NoveltySettings {
                coarse_warmup: 5000,
                ..d()
            },
            NoveltySettings {
                fire_at: 0.0,
                ..d()
            },
            NoveltySettings {
                spatial_tolerance: f64::NAN,
                ..d()
            },
            NoveltySettings {
                reference: 2000,
                calibration: 2000,
                ..d()
            },
        ] {
            assert!(bad.problem().is_some(), "{bad:?}");
            assert_eq!(NoveltyDetector::new(bad).settings(), d());
        }
        let big = NoveltySettings {
            reference: 2000,
            calibration: 2000,
            ..d()
        };
        let problem = big.problem().unwrap();
        assert!(
            problem.contains("bytes") && problem.contains("64 KiB"),
            "{problem}"
        );
    }

    #[test]
    fn the_largest_allowed_settings_fit_in_64_kib() {
        // the detector's own fields stay within the 1 KiB the settings check leaves for them
        assert!(std::mem::size_of::<NoveltyDetector>() <= 1024);
        let fits = NoveltySettings {
            reference: 1300,
            calibration: 1389,
            ..Default::default()
        };
        assert_eq!(fits.problem(), None, "{}", fits.buffer_bytes());
        assert!(NoveltyDetector::new(fits).bytes() <= MAX_DETECTOR_BYTES);
    }

    #[test]
    fn scores_are_bit_identical_run_to_run() {
        let values = daily(6000, 7);
        let run = || {
            let mut d = NoveltyDetector::new(NoveltySettings::default());
            values
                .iter()
                .map(|&v| d.score(v).to_bits())
                .collect::<Vec<u64>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn memory_per_metric_is_at_most_64_kib_and_fixed_after_warm_up() {
        let mut d = NoveltyDetector::new(NoveltySettings::default());
        let bytes = d.bytes();
        assert!(bytes <= MAX_DETECTOR_BYTES, "{bytes} bytes");
        assert_eq!(
            bytes,
            std::mem::size_of::<NoveltyDetector>() + NoveltySettings::default().buffer_bytes()
        );
        let mut r = noise(3);
        for (i, v) in daily(60_000, 11).into_iter().enumerate() {
            // a level shift, a spike and a flat stretch along the way
            let v = match i {
                20_000..=25_000 => v + 30.0,
                40_000 => v * 10.0,
                50_000..=51_000 => 42.0,
                _ => v + r() * 0.1,
            };
            let s = d.score(v);
            assert!((0.0..=1.0).contains(&s), "score {s} at {i}");
            if i == 20_000 {
                assert_eq!(d.bytes(), bytes, "memory grew during warm-up");
            }
        }
        assert_eq!(d.bytes(), bytes, "memory grew");
    }

    #[test]
    fn a_spike_scores_high_and_its_evidence_says_why() {
        let mut d = NoveltyDetector::new(NoveltySettings::default());
        for v in daily(3000, 5) {
            d.score(v);
        }
        let s = d.score(120.0);
        assert!(s >= 0.99, "spike scored {s}");
        let e = d.last_evidence();
        assert!(e.spatial && !e.refractory);
        assert_eq!((e.score, e.value), (s, 120.0));
        let expected = e.expected.unwrap();
        assert!((30.0..=70.0).contains(&expected), "expected {expected}");
        let (lo, hi) = e.range.unwrap();
        assert!(lo < 41.0 && (59.0..61.0).contains(&hi), "range {lo}..{hi}");
        assert!(e.fine.is_some());
    }

    #[test]
    fn a_spike_within_the_range_scores_high() {
        // a one-value jump to a value seen before, but never at this point of the cycle
        let settings = NoveltySettings {
            spatial_tolerance: 0.0,
            ..Default::default()
        };
        let mut d = NoveltyDetector::new(settings);
        let mut top: f64 = 0.0;
        for (i, v) in daily(3000, 9).into_iter().enumerate() {
            let s = d.score(if i == 2900 { v + 12.0 } else { v });
            if (2900..2912).contains(&i) {
                top = top.max(s);
            }
        }
        assert!(top >= 0.99, "in-range spike scored at most {top}");
    }

    #[test]
    fn on_noise_detections_are_rare() {
        let mut d = NoveltyDetector::new(NoveltySettings::default());
        let mut r = noise(21);
        let scores: Vec<f64> = (0..20_000).map(|_| d.score(100.0 + r())).collect();
        let scored = &scores[1000..];
        // conformal ranks of exchangeable stretches are about uniform: about 1% reach 0.99 (at
        // either scale); detections, each followed by a refractory period, are rarer still
        let high = scored.iter().filter(|&&s| s >= 0.99).count();
        assert!((high as f64) < 0.015 * scored.len() as f64, "{high} high");
        let fire_at = NoveltySettings::default().fire_at;
        let fired = scored.iter().filter(|&&s| s >= fire_at).count();
        assert!(
            (fired as f64) < 0.003 * scored.len() as f64,
            "{fired} detections"
        );
        let mean = scored.iter().sum::<f64>() / scored.len() as f64;
        assert!(mean < 0.75, "mean score {mean}");
    }

    #[test]
    fn scoring_starts_within_200_values() {
        let mut d = NoveltyDetector::new(NoveltySettings::default());
        let first = daily(1000, 13).into_iter().position(|v| {
            d.score(v);
            d.last_evidence().fine.is_some()
        });
        assert!(
            first.is_some_and(|i| i < 200),
            "first scored value {first:?}"
        );
    }

    #[test]
    fn non_finite_values_neither_panic_nor_change_the_scores() {
        let values = daily(5000, 17);
        let mut clean = NoveltyDetector::new(NoveltySettings::default());
        let mut dirty = NoveltyDetector::new(NoveltySettings::default());
        for (i, &v) in values.iter().enumerate() {
            if i % 97 == 0 {
                for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                    assert_eq!(dirty.score(bad), 0.0);
                    assert!(!dirty.last_evidence().value.is_finite());
                }
            }
            assert_eq!(clean.score(v).to_bits(), dirty.score(v).to_bits(), "at {i}");
        }
        let mut huge = NoveltyDetector::new(NoveltySettings::default());
        for i in 0..3000 {
            let s = huge.score(if i % 500 == 0 { 1e300 } else { -1e300 });
            assert!((0.0..=1.0).contains(&s), "{s}");
        }
    }

    #[test]
    fn exact_repeats_and_flat_lines_do_not_fire() {
        // a noiseless daily cycle repeats exactly; rounding drift must not make a copy look new
        let mut d = NoveltyDetector::new(NoveltySettings::default());
        let tau = std::f64::consts::TAU;
        for i in 0..20_000 {
            let s = d.score(50.0 + 30.0 * ((i % 288) as f64 * tau / 288.0).sin());
            assert!(i < 600 || s < 0.99, "score {s} at {i}");
        }
        let mut flat = NoveltyDetector::new(NoveltySettings::default());
        for i in 0..5000 {
            assert_eq!(flat.score(20.0), 0.0, "flat line scored at {i}");
        }
    }

    #[test]
    fn the_refractory_period_holds_scores_down_after_a_detection() {
        let mut d = NoveltyDetector::new(NoveltySettings::default());
        for v in daily(3000, 19) {
            d.score(v);
        }
        assert!(d.score(500.0) >= NoveltySettings::default().fire_at);
        for _ in 0..NoveltySettings::default().refractory {
            assert_eq!(d.score(900.0), 0.0);
            assert!(d.last_evidence().refractory);
        }
    }
}
