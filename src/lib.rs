//! watchkeeper: an in-process performance-monitoring runtime on supervised actix actors.
//!
//! Embed it with [`Runtime::start`], record latencies from hot paths through a [`MonitorHandle`]
//! (per-thread cells: no lock, no message, no allocation per sample), and read statistics and health
//! from any thread. The actors themselves live in the [`actors`] crate (`watchkeeper-actors`);
//! this crate wires configuration, the runtime's threads, handles, the health report, the admin
//! HTTP server and Prometheus exposition.
//!
//! ```no_run
//! let rt = watchkeeper::Runtime::start(watchkeeper::Config::default())?;
//! let queries = rt.monitor("search")?;
//! let t = std::time::Instant::now();
//! /* answer a query */
//! queries.record_query(t.elapsed());
//! let stats = queries.stats_blocking()?;
//! let report = rt.health_blocking()?;
//! rt.shutdown_blocking(std::time::Duration::from_secs(5))?;
//! # Ok::<(), watchkeeper::Error>(())
//! ```
#![warn(missing_docs)]

#[cfg(feature = "admin")]
mod admin;
pub mod config;
mod deployment;
pub mod endpoints;
mod error;
pub mod exposition;
mod health;
pub mod instrument;
mod monitor_handle;
mod operate;
mod runtime;
mod storage;
mod tree;

pub use self::config::{Config, ConfigError};
pub use self::error::{Error, MonitorError};
pub use self::health::{HealthStatus, MonitorHealth, OptimizationStatus, SystemHealthReport};
pub use self::monitor_handle::{MonitorHandle, OperationTimer};
pub use self::runtime::{Runtime, RuntimeBuilder};
pub use self::storage::StorageStatus;
pub use self::tree::{ReloadReport, ReloadStatus};
#[doc(inline)]
pub use watchkeeper_actors as actors;
pub use watchkeeper_actors::monitor::{
    Counter, CounterStats, Gauge, GaugeStats, KindStats, MonitorSummary, OpKind, PerformanceStats,
    Quantiles,
};
pub use watchkeeper_actors::SupervisionEvent;
