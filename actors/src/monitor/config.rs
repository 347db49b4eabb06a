//! The `monitoring` section: which monitors start with the runtime, how they collect, and the
//! bounds of their latency histograms.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kernel::duration_serde;
use crate::kernel::validation::{self, Validation, A_DAY, A_WEEK, MAX_CAPACITY};
use crate::monitor::recorder::Layout;

/// Monitors, collection and histogram bounds.
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
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            monitors: vec!["search".into(), "index".into()],
            max_monitors: 64,
            tick: Duration::from_secs(1),
            window: 60,
            histogram: HistogramBounds::default(),
        }
    }
}

impl MonitoringConfig {
    /// Checks the section; field paths are relative to it.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
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

/// Histogram bounds and precision of a monitor. Memory per recording thread and operation kind is
/// [`Layout::bytes`]: 147,456 bytes for the default 1 µs..60 s at 3 significant digits.
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
