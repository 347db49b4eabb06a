//! The settings of the anomaly detector, part of a rule's configuration whether or not the
//! detectors are built (feature `detect`).

use serde::{Deserialize, Serialize};

/// How the detector scores.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalySettings {
    /// Consecutive values that form one point.
    pub shape: usize,
    /// Nearest neighbours whose squared distances make a point's strangeness.
    pub neighbours: usize,
    /// Past points compared with, and past strangeness values ranked against. The first score above
    /// 0 can be that of value number `reference + shape`.
    pub reference: usize,
    /// A score at or above this is a detection.
    pub fire_at: f64,
    /// Values after a detection whose scores are 0.
    pub refractory: usize,
}

impl Default for AnomalySettings {
    fn default() -> Self {
        AnomalySettings {
            shape: 19,
            neighbours: 27,
            reference: 1000,
            fire_at: 0.9965,
            refractory: 200,
        }
    }
}

impl AnomalySettings {
    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.shape == 0 {
            return Some("shape must be at least 1".into());
        }
        if self.neighbours == 0 || self.neighbours >= self.reference {
            return Some(format!(
                "neighbours ({}) must be at least 1 and below reference ({})",
                self.neighbours, self.reference
            ));
        }
        if self.reference > 100_000 {
            return Some(format!("reference ({}) above 100000", self.reference));
        }
        if !(self.fire_at > 0.0 && self.fire_at <= 1.0) {
            return Some(format!("fire_at ({}) must be in (0, 1]", self.fire_at));
        }
        None
    }
}
