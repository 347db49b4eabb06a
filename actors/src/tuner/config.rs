//! The `tuning` section: whether and how the tuner changes monitors and rule thresholds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kernel::duration_serde;
use crate::kernel::validation::{Validation, A_DAY, MAX_CAPACITY};

/// Automatic tuning.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::tuner::TuningConfig;
///
/// let config = TuningConfig { performance_analysis_interval: Duration::from_secs(30), ..Default::default() };
/// assert!(config.validate().findings.is_empty());
/// let off = TuningConfig { enabled: false, ..config };
/// assert_eq!(off.validate().findings[0].field, "enabled");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TuningConfig {
    /// Whether tuning actions are applied; profiles and suggestions are made either way.
    pub enabled: bool,
    /// How often every monitor's profile is rebuilt and tuning considered.
    #[serde(with = "duration_serde")]
    pub performance_analysis_interval: Duration,
    /// Sampling is reduced when latency's coefficient of variation (stdev / mean) is below this:
    /// a steady latency is described as well by fewer samples.
    pub adaptive_sampling_threshold: f64,
    /// Sampling is reduced when a monitor sees more operations per second than this.
    pub high_throughput_per_second: f64,
    /// The smallest fraction of latency samples tuning may keep (counts stay exact regardless).
    pub min_sample_fraction: f64,
    /// Latency samples per second tuning aims to keep when it reduces sampling.
    pub target_samples_per_second: f64,
    /// A window holding fewer operations than this is doubled, up to `max_window` ticks, so its
    /// quantiles rest on enough samples.
    pub min_window_operations: u64,
    /// The longest window tuning sets, in ticks.
    pub max_window: usize,
    /// How long after an action its effect is measured; an action whose effect is harmful is
    /// rolled back then.
    #[serde(with = "duration_serde")]
    pub effect_delay: Duration,
    /// Tuning actions kept in the history.
    pub history_limit: usize,
}

impl Default for TuningConfig {
    fn default() -> Self {
        TuningConfig {
            enabled: true,
            performance_analysis_interval: Duration::from_secs(60),
            adaptive_sampling_threshold: 0.1,
            high_throughput_per_second: 1000.0,
            min_sample_fraction: 0.01,
            target_samples_per_second: 1000.0,
            min_window_operations: 100,
            max_window: 600,
            effect_delay: Duration::from_secs(10),
            history_limit: 1000,
        }
    }
}

impl TuningConfig {
    /// Checks the section; field paths are relative to it.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        if !self.enabled {
            v.recommend(
                "enabled",
                "tuning is disabled; enable it to adapt sampling and windows to the load",
            );
        }
        v.duration(
            "performance_analysis_interval",
            self.performance_analysis_interval,
            A_DAY,
        );
        v.duration("effect_delay", self.effect_delay, A_DAY);
        v.count("max_window", self.max_window as u64, MAX_CAPACITY);
        v.count("history_limit", self.history_limit as u64, MAX_CAPACITY);
        if !(self.min_sample_fraction > 0.0 && self.min_sample_fraction <= 1.0) {
            v.error(
                "min_sample_fraction",
                format!("must be within (0, 1], not {}", self.min_sample_fraction),
            );
        }
        for (field, x) in [
            (
                "adaptive_sampling_threshold",
                self.adaptive_sampling_threshold,
            ),
            (
                "high_throughput_per_second",
                self.high_throughput_per_second,
            ),
            ("target_samples_per_second", self.target_samples_per_second),
        ] {
            if !x.is_finite() || x < 0.0 {
                v.error(field, format!("must be a non-negative number, not {x}"));
            }
        }
        v
    }
}
