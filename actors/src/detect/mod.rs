//! Statistics for regression and anomaly detection, online and in bounded memory.
//!
//! [`stats`]: Welch's t-test, Mann-Whitney U, Cohen's d, median and MAD, robust z-scores, linear
//! trends with a threshold-crossing forecast, and CUSUM change detection. [`NoveltyDetector`]: the
//! anomaly score the alerting actor's `anomaly` rules and the NAB evaluator (`examples/nab.rs`) use,
//! with [`NoveltySettings`] (a rule's `anomaly:` settings; the defaults are the one configuration).
//! [`Baseline`]: a reference window that moves only while the metric is stable. [`nab`]: the
//! Numenta Anomaly Benchmark's scoring and its Windowed Gaussian baseline. Everything but the
//! settings of rules is built with the `detect` feature.

#[cfg(feature = "detect")]
mod baseline;
#[cfg(feature = "detect")]
pub mod nab;
#[cfg(feature = "detect")]
mod novelty;
mod settings;
#[cfg(feature = "detect")]
pub mod stats;

#[cfg(feature = "detect")]
pub use self::baseline::Baseline;
#[cfg(feature = "detect")]
pub use self::novelty::{NoveltyDetector, NoveltyEvidence};
pub use self::settings::{NoveltySettings, ALERT_THRESHOLD, MAX_DETECTOR_BYTES, MAX_NEIGHBOURS};
