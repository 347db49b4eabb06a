//! [`NoveltySettings`]: the settings of the anomaly detector, part of an `anomaly` rule's
//! configuration (its `anomaly:` field) whether or not the detector is built (feature `detect`).
//! The defaults are the one configuration chosen on the NAB series for every metric.

use serde::{Deserialize, Serialize};

/// Most bytes one metric's detector may hold; [`NoveltySettings::problem`] refuses settings that
/// need more.
pub const MAX_DETECTOR_BYTES: usize = 64 * 1024;

/// The threshold recommended for `anomaly` rules. With the default calibration of 1,000 it is
/// in the detector's top bin: a value beyond the range seen by twice the tolerance, or stretches
/// twice as strange as the strangest of the last 1,000. Plain noise evaluated every 10 s stays
/// below it for days, where at NAB's scoring threshold (0.9981) it would alert several times a day.
pub const ALERT_THRESHOLD: f64 = 0.9995;

/// Most neighbours a strangeness may sum (the nearest are kept in a fixed array).
pub const MAX_NEIGHBOURS: usize = 64;

/// How the anomaly detector ([`crate::detect::NoveltyDetector`]) scores one metric.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::detect::NoveltySettings;
///
/// let settings = NoveltySettings { coarse: 0, ..Default::default() };
/// assert_eq!(settings.problem(), None);
/// assert!(!settings.has_coarse());
/// let huge = NoveltySettings { reference: 1 << 30, ..Default::default() };
/// assert!(huge.problem().is_some());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoveltySettings {
    /// Consecutive values (means, at the coarse scale) compared as one stretch: a value is judged
    /// by how unusual the stretch it ends is.
    pub shape: usize,
    /// How many of the most similar past stretches a stretch's strangeness sums the squared
    /// distances to; more makes a stretch that happened once or twice before still look new.
    pub neighbours: usize,
    /// Most past stretches a stretch is compared with (the newest ones, at least `gap` back).
    pub reference: usize,
    /// Stretches ending fewer than `gap` values before the newest are not compared with it: they
    /// share values with it, so they are near it whatever happens.
    pub gap: usize,
    /// Most past strangeness values a new one is ranked against; the score is its rank.
    pub calibration: usize,
    /// Past stretches and strangeness values needed before the detector scores at all (with the
    /// defaults the first score comes with value 135).
    pub warmup: usize,
    /// `warmup` for the coarse scale, whose stretches come `coarse` times slower.
    pub coarse_warmup: usize,
    /// The coarse scale sees the mean of each `coarse` values (an hour of 5-minute data with the
    /// default 12), so level shifts and missing daily peaks show; 0 or 1 turns it off.
    pub coarse: usize,
    /// A value beyond the range seen so far by more than this share of its width scores 1
    /// (0 turns the range check off).
    pub spatial_tolerance: f64,
    /// Values seen before the range check applies.
    pub spatial_after: usize,
    /// A score at or above this is a detection and starts the refractory period; in a rule it is
    /// the rule's lowest threshold.
    pub fire_at: f64,
    /// Values after a detection whose scores are 0, so one event is detected once.
    pub refractory: usize,
}

impl Default for NoveltySettings {
    /// The one configuration, for every metric (README, "Detection").
    fn default() -> Self {
        NoveltySettings {
            shape: 12,
            neighbours: 5,
            reference: 1000,
            gap: 24,
            calibration: 1000,
            warmup: 50,
            coarse_warmup: 25,
            coarse: 12,
            spatial_tolerance: 0.02,
            spatial_after: 100,
            fire_at: 0.9965,
            refractory: 150,
        }
    }
}

impl NoveltySettings {
    /// The lowest score of the top bin: every rank below the top is at most this, and values
    /// stranger than all recent ones (or beyond the range) score above it, graded by how much.
    pub fn top_bin(&self) -> f64 {
        1.0 - 1.0 / self.calibration.max(1) as f64
    }

    /// Whether the coarse scale is on.
    pub fn has_coarse(&self) -> bool {
        self.coarse > 1
    }

    /// Bytes of the buffers a detector with these settings holds: per scale a ring of
    /// `reference + gap + shape` values, `reference` distances and `calibration` strangeness
    /// values, all `f64`. The detector itself adds its fixed size
    /// ([`crate::detect::NoveltyDetector::bytes`]).
    pub fn buffer_bytes(&self) -> usize {
        let scales = if self.has_coarse() { 2 } else { 1 };
        let per_scale = self.reference + self.gap + self.shape + self.reference + self.calibration;
        scales * per_scale * std::mem::size_of::<f64>()
    }

    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.shape == 0 || self.shape > 256 {
            return Some(format!("shape ({}) must be in 1..=256", self.shape));
        }
        if self.neighbours == 0 || self.neighbours > MAX_NEIGHBOURS {
            return Some(format!(
                "neighbours ({}) must be in 1..={MAX_NEIGHBOURS}",
                self.neighbours
            ));
        }
        if self.reference < self.neighbours {
            return Some(format!(
                "reference ({}) must be at least neighbours ({})",
                self.reference, self.neighbours
            ));
        }
        if self.calibration == 0 {
            return Some("calibration must be at least 1".into());
        }
        for (name, w) in [
            ("warmup", self.warmup),
            ("coarse_warmup", self.coarse_warmup),
        ] {
            if w == 0 || w > self.reference.min(self.calibration) {
                return Some(format!(
                    "{name} ({w}) must be at least 1 and at most reference ({}) and calibration ({})",
                    self.reference, self.calibration
                ));
            }
        }
        if !(self.spatial_tolerance >= 0.0 && self.spatial_tolerance.is_finite()) {
            return Some(format!(
                "spatial_tolerance ({}) must be a number >= 0",
                self.spatial_tolerance
            ));
        }
        if !(self.fire_at > 0.0 && self.fire_at <= 1.0) {
            return Some(format!("fire_at ({}) must be in (0, 1]", self.fire_at));
        }
        // the buffers alone decide: the detector's own fields are a few hundred bytes
        let bytes = self.buffer_bytes();
        if bytes > MAX_DETECTOR_BYTES - 1024 {
            return Some(format!(
                "these settings hold {bytes} bytes of buffers per metric, above the {} allowed \
                 (64 KiB less 1 KiB for the detector itself); lower reference or calibration, \
                 or turn the coarse scale off (coarse: 0)",
                MAX_DETECTOR_BYTES - 1024
            ));
        }
        None
    }
}
