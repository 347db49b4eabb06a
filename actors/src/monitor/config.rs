//! The `monitoring` section: which monitors start with the runtime, how they collect, and the
//! bounds of their latency histograms.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kernel::duration_serde;
use crate::kernel::validation::{self, Validation, A_DAY, A_WEEK, MAX_CAPACITY};
use crate::monitor::recorder::Layout;
use crate::monitor::EXPORT_BUCKETS;

/// The most buckets a monitor exports.
pub const MAX_EXPORT_BUCKETS: usize = 64;

/// Monitors, collection and histogram bounds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::MonitoringConfig;
///
/// let config = MonitoringConfig {
///     monitors: vec!["search".into()],
///     tick: Duration::from_millis(500),
///     ..Default::default()
/// };
/// assert!(!config.validate().has_errors());
/// assert_eq!(config.buckets_of("search").len(), config.buckets.len());
/// let twice = MonitoringConfig { monitors: vec!["search".into(), "search".into()], ..config };
/// assert_eq!(twice.validate().findings[0].field, "monitors[1]");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Monitors started with the runtime, one per component watched; the host creates more with
    /// `Runtime::monitor`, up to `max_monitors`.
    pub monitors: Vec<String>,
    /// The most monitors the runtime holds; `Runtime::monitor` refuses a new one past it. Each costs
    /// memory on every thread that records into it.
    pub max_monitors: usize,
    /// How often each monitor collects what its threads recorded. Statistics, rules and `/metrics`
    /// see new samples at this resolution.
    #[serde(with = "duration_serde")]
    pub tick: Duration,
    /// How many ticks the rolling window of recent statistics (quantiles, rates) covers.
    pub window: usize,
    /// Bounds and precision of the latency histograms.
    pub histogram: HistogramBounds,
    /// Upper bounds (seconds, increasing) of the buckets `/metrics` exports for each kind;
    /// `+Inf` is implied. Quantiles in statistics and rules do not depend on them.
    pub buckets: Vec<f64>,
    /// Other buckets for some monitors, by name, e.g. {"index": [0.01, 0.1, 1.0, 10.0, 60.0]}.
    pub monitor_buckets: BTreeMap<String, Vec<f64>>,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            monitors: vec!["search".into(), "index".into()],
            max_monitors: 64,
            tick: Duration::from_secs(1),
            window: 60,
            histogram: HistogramBounds::default(),
            buckets: EXPORT_BUCKETS.to_vec(),
            monitor_buckets: BTreeMap::new(),
        }
    }
}

impl MonitoringConfig {
    /// The export buckets of monitor `name`: its own, else `buckets`.
    pub fn buckets_of(&self, name: &str) -> Arc<[f64]> {
        self.monitor_buckets
            .get(name)
            .unwrap_or(&self.buckets)
            .as_slice()
            .into()
    }

    /// Checks the section; field paths are relative to it.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        if let Some(problem) = bucket_problem(&self.buckets) {
            v.error("buckets", problem);
        }
        for (name, buckets) in &self.monitor_buckets {
            if let Some(problem) = bucket_problem(buckets) {
                v.error(format!("monitor_buckets.{name}"), problem);
            }
        }
        if let Err(e) = self.histogram.layout() {
            v.error("histogram", e);
        }
        for (i, name) in self.monitors.iter().enumerate() {
            if let Some(problem) = validation::name_problem(name) {
                v.error(
                    format!("monitors[{i}]"),
                    format!("a monitor name {problem}"),
                );
            }
            if self.monitors[..i].contains(name) {
                v.error(
                    format!("monitors[{i}]"),
                    format!("`{name}` is listed twice"),
                );
            }
        }
        if self.monitors.is_empty() {
            v.warning(
                "monitors",
                "no monitors start with the runtime; only those the host creates will record",
            );
        } else if self.monitors.len() > 10 {
            v.recommend(
                "monitors",
                format!(
                    "{} monitors; more than 10 costs memory on every recording thread",
                    self.monitors.len()
                ),
            );
        }
        v.count("max_monitors", self.max_monitors as u64, MAX_CAPACITY);
        if self.max_monitors > 0 && self.monitors.len() > self.max_monitors {
            v.error(
                "max_monitors",
                format!(
                    "{} monitors configured but at most {} allowed",
                    self.monitors.len(),
                    self.max_monitors
                ),
            );
        }
        v.duration("tick", self.tick, A_DAY);
        v.count("window", self.window as u64, MAX_CAPACITY);
        if !self.tick.is_zero() && self.tick.saturating_mul(self.window as u32) > A_WEEK.0 {
            v.warning(
                "window",
                format!(
                    "{} ticks of {:?} cover more than a week",
                    self.window, self.tick
                ),
            );
        }
        v
    }
}

/// What is wrong with a list of bucket bounds, if anything.
fn bucket_problem(buckets: &[f64]) -> Option<String> {
    if buckets.is_empty() || buckets.len() > MAX_EXPORT_BUCKETS {
        return Some(format!(
            "{} buckets; 1 to {MAX_EXPORT_BUCKETS} are exported",
            buckets.len()
        ));
    }
    if let Some(b) = buckets.iter().find(|b| !b.is_finite() || **b <= 0.0) {
        return Some(format!(
            "bucket bound {b} is not a positive number of seconds"
        ));
    }
    if buckets.windows(2).any(|w| w[0] >= w[1]) {
        return Some("bucket bounds must increase".into());
    }
    None
}

/// Histogram bounds and precision of a monitor. Memory per recording thread and operation kind is
/// [`Layout::bytes`]: 147,456 bytes for the default 1 µs..60 s at 3 significant digits.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::HistogramBounds;
///
/// let bounds = HistogramBounds::default();
/// assert_eq!(bounds.layout()?.bytes(), 147_456);
/// let inverted = HistogramBounds { highest: Duration::from_nanos(1), ..bounds };
/// assert!(inverted.layout().is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistogramBounds {
    /// The smallest latency told apart from zero.
    #[serde(with = "crate::duration_serde")]
    pub lowest: Duration,
    /// The largest latency recorded as itself; longer ones are clamped to it and counted.
    #[serde(with = "crate::duration_serde")]
    pub highest: Duration,
    /// Significant decimal digits kept (1 to 5).
    pub significant_digits: u8,
}

impl Default for HistogramBounds {
    fn default() -> Self {
        HistogramBounds {
            lowest: Duration::from_micros(1),
            highest: Duration::from_secs(60),
            significant_digits: 3,
        }
    }
}

impl HistogramBounds {
    /// The cell layout these bounds give.
    pub fn layout(&self) -> Result<Layout, String> {
        let low = u64::try_from(self.lowest.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        let high = u64::try_from(self.highest.as_nanos()).unwrap_or(u64::MAX);
        if high < 2 * low {
            return Err(format!(
                "histogram highest ({:?}) must be at least twice lowest ({:?})",
                self.highest, self.lowest
            ));
        }
        if !(1..=5).contains(&self.significant_digits) {
            return Err(format!(
                "histogram significant_digits must be 1 to 5, not {}",
                self.significant_digits
            ));
        }
        Layout::new(low, high, self.significant_digits)
    }
}
