//! Statistics for regression and anomaly detection, online and in bounded memory.
//!
//! [`stats`]: Welch's t-test, Mann-Whitney U, Cohen's d, median and MAD, robust z-scores, linear
//! trends with a threshold-crossing forecast, and CUSUM change detection. [`AnomalyDetector`]: the
//! anomaly score the alerting actor's `anomaly` rules and the NAB evaluator (`examples/nab.rs`) use.
//! [`Baseline`]: a reference window that moves only while the metric is stable. [`nab`]: the
//! Numenta Anomaly Benchmark's scoring, which `examples/nab.rs` uses.

mod anomaly;
mod baseline;
pub mod nab;
pub mod stats;

pub use self::anomaly::{AnomalyDetector, AnomalySettings};
pub use self::baseline::Baseline;
