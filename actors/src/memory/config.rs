//! The `memory` section: the process's memory budget, when components are asked to trim, and when
//! the `MemoryOverLimit` alert fires.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kernel::duration_serde;
use crate::kernel::validation::{Validation, A_DAY, MAX_CAPACITY};

/// Memory housekeeping.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::memory::MemoryConfig;
///
/// let config = MemoryConfig { max_memory_usage_mb: 1024, gc_trigger_threshold: 0.5, ..Default::default() };
/// assert_eq!(config.limit_bytes(), 1 << 30);
/// assert_eq!(config.trigger_bytes(), 1 << 29);
/// assert!(!config.validate(true).has_errors());
/// let tiny = MemoryConfig { max_memory_usage_mb: 32, ..config };
/// assert!(tiny.validate(false).has_errors());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// The process's memory budget in MiB: resident memory above it for `alert_after_checks` checks
    /// in a row raises `MemoryOverLimit`.
    pub max_memory_usage_mb: u64,
    /// Share of the budget (0 to 1) at which every component is asked to trim its history, whether
    /// resident memory or the components' own footprints reach it.
    pub gc_trigger_threshold: f64,
    /// How often resident memory and every component's footprint are measured.
    #[serde(with = "duration_serde")]
    pub memory_cleanup_interval: Duration,
    /// Ticks of history a monitor keeps when trimmed (its recent statistics then cover only these).
    pub trim_keep_intervals: usize,
    /// Resolved alerts and tuning actions kept when trimmed.
    pub trim_keep_history: usize,
    /// Checks over the budget in a row before `MemoryOverLimit` fires (one check is a spike).
    pub alert_after_checks: u32,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            max_memory_usage_mb: 512,
            gc_trigger_threshold: 0.8,
            memory_cleanup_interval: Duration::from_secs(300),
            trim_keep_intervals: 10,
            trim_keep_history: 100,
            alert_after_checks: 3,
        }
    }
}

impl MemoryConfig {
    /// The budget in bytes.
    pub fn limit_bytes(&self) -> u64 {
        self.max_memory_usage_mb.saturating_mul(1 << 20)
    }

    /// The trim threshold in bytes.
    pub fn trigger_bytes(&self) -> u64 {
        (self.limit_bytes() as f64 * self.gc_trigger_threshold) as u64
    }

    /// Checks the section; `production` raises the floor of the budget.
    pub fn validate(&self, production: bool) -> Validation {
        let mut v = Validation::default();
        let limit = self.max_memory_usage_mb;
        if limit < 64 {
            v.error(
                "max_memory_usage_mb",
                format!("{limit} MB is below the 64 MB minimum"),
            );
        } else if limit > 16 << 20 {
            v.error(
                "max_memory_usage_mb",
                format!("{limit} MB is more than 16 TiB: surely a mistake"),
            );
        } else if limit < 128 || (production && limit < 256) {
            let floor = if production { 256 } else { 128 };
            v.warning(
                "max_memory_usage_mb",
                format!("{limit} MB is below {floor} MB"),
            );
        }
        if !(self.gc_trigger_threshold > 0.0 && self.gc_trigger_threshold <= 1.0) {
            v.error(
                "gc_trigger_threshold",
                format!("must be within (0, 1], not {}", self.gc_trigger_threshold),
            );
        }
        v.duration(
            "memory_cleanup_interval",
            self.memory_cleanup_interval,
            A_DAY,
        );
        if !self.memory_cleanup_interval.is_zero()
            && self.memory_cleanup_interval < Duration::from_secs(60)
        {
            v.warning(
                "memory_cleanup_interval",
                "under one minute: measuring costs more than it saves",
            );
        }
        v.count(
            "trim_keep_intervals",
            self.trim_keep_intervals as u64,
            MAX_CAPACITY,
        );
        if self.trim_keep_history as u64 > MAX_CAPACITY {
            v.error(
                "trim_keep_history",
                format!(
                    "{} is above the limit of {MAX_CAPACITY}",
                    self.trim_keep_history
                ),
            );
        }
        v.count(
            "alert_after_checks",
            u64::from(self.alert_after_checks),
            10_000,
        );
        v
    }
}
