//! Statistics for regression and anomaly detection, online and in bounded memory.
//!
//! [`stats`]: Welch's t-test, Mann-Whitney U, Cohen's d, median and MAD, robust z-scores, linear
//! trends with a threshold-crossing forecast, and CUSUM change detection. [`AnomalyDetector`]: the
//! anomaly score the alerting actor's `anomaly` rules and the NAB evaluator (`examples/nab.rs`) use.
//! [`Baseline`]: a reference window that moves only while the metric is stable. [`nab`]: the
//! Numenta Anomaly Benchmark's scoring, which `examples/nab.rs` uses. Everything but the settings
//! of rules is built with the `detect` feature.

#[cfg(feature = "detect")]
mod anomaly;
#[cfg(feature = "detect")]
mod baseline;
#[cfg(feature = "detect")]
pub mod nab;
mod settings;
#[cfg(feature = "detect")]
pub mod stats;

#[cfg(feature = "detect")]
pub use self::anomaly::AnomalyDetector;
#[cfg(feature = "detect")]
pub use self::baseline::Baseline;
pub use self::settings::AnomalySettings;
