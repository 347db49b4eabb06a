//! Alert rules: which statistic, which side of which thresholds, for how long.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A statistic a rule watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Mean latency over the window, seconds.
    Mean,
    /// Median latency, seconds.
    P50,
    /// 90th percentile latency, seconds.
    P90,
    /// 95th percentile latency, seconds.
    P95,
    /// 99th percentile latency, seconds.
    P99,
    /// 99.9th percentile latency, seconds.
    P999,
    /// Largest latency in the window, seconds.
    Max,
    /// Queries per second.
    QueriesPerSecond,
    /// Index operations per second.
    IndexesPerSecond,
    /// Operations of every kind per second.
    OperationsPerSecond,
    /// Failed over all operations, 0 to 1.
    ErrorRate,
    /// Resident memory of the process, bytes.
    ProcessMemoryBytes,
    /// Messages dropped or refused by mailboxes, all actors.
    MailboxDrops,
    /// Restarts within the supervisor's intensity window.
    Restarts,
}

impl Metric {
    /// Whether the metric is read from one monitor (rules on it name the monitor).
    pub fn per_monitor(self) -> bool {
        !matches!(
            self,
            Metric::ProcessMemoryBytes | Metric::MailboxDrops | Metric::Restarts
        )
    }

    /// Whether the metric is a latency, which has no value while the monitor sees no operations.
    pub fn is_latency(self) -> bool {
        matches!(
            self,
            Metric::Mean
                | Metric::P50
                | Metric::P90
                | Metric::P95
                | Metric::P99
                | Metric::P999
                | Metric::Max
        )
    }

    /// The metric's value in `stats`, in base units; `None` when a latency has no samples in the window.
    pub fn of(self, stats: &crate::PerformanceStats) -> Option<f64> {
        let secs = |d: Duration| d.as_secs_f64();
        if self.is_latency() && stats.window_operations == 0 {
            return None;
        }
        Some(match self {
            Metric::Mean => secs(stats.mean),
            Metric::P50 => secs(stats.latency.p50),
            Metric::P90 => secs(stats.latency.p90),
            Metric::P95 => secs(stats.latency.p95),
            Metric::P99 => secs(stats.latency.p99),
            Metric::P999 => secs(stats.latency.p999),
            Metric::Max => secs(stats.latency.max),
            Metric::QueriesPerSecond => stats.queries_per_second,
            Metric::IndexesPerSecond => stats.indexes_per_second,
            Metric::OperationsPerSecond => stats.operations_per_second,
            Metric::ErrorRate => stats.error_rate,
            Metric::ProcessMemoryBytes | Metric::MailboxDrops | Metric::Restarts => return None,
        })
    }
}

/// Which side of the threshold is bad.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Values above the threshold breach it.
    #[default]
    Above,
    /// Values below the threshold breach it.
    Below,
}

impl Comparison {
    /// Whether `value` breaches `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Above => value > threshold,
            Comparison::Below => value < threshold,
        }
    }
}

/// How bad an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSeverity {
    /// The warning threshold is breached.
    Warning,
    /// The critical threshold is breached.
    Critical,
}

impl AlertSeverity {
    /// The `severity` label value.
    pub fn label(self) -> &'static str {
        match self {
            AlertSeverity::Warning => "warning",
            AlertSeverity::Critical => "critical",
        }
    }
}

/// One alert rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// The alert's name (its `alertname` label).
    pub name: String,
    /// The monitor it reads, for per-monitor metrics.
    #[serde(default)]
    pub monitor: Option<String>,
    /// The statistic.
    pub metric: Metric,
    /// Which side of the thresholds is bad.
    #[serde(default)]
    pub comparison: Comparison,
    /// The warning threshold.
    #[serde(default)]
    pub warning: Option<f64>,
    /// The critical threshold.
    #[serde(default)]
    pub critical: Option<f64>,
    /// How long a breach must last before the alert fires.
    #[serde(rename = "for", with = "crate::duration_serde")]
    pub for_: Duration,
    /// How long the alert keeps firing after the breach ends.
    #[serde(with = "crate::duration_serde")]
    pub keep_firing_for: Duration,
    /// Extra labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations; `{value}` and `{threshold}` in them are replaced.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Let the tuner set the thresholds from the metric's stable baseline (latency metrics, `above`).
    #[serde(default)]
    pub auto_threshold: bool,
}

impl AlertRule {
    /// The thresholds this rule has, most severe first.
    pub fn thresholds(&self) -> Vec<(AlertSeverity, f64)> {
        thresholds(self.warning, self.critical)
    }

    /// The labels of this rule's alert of `severity`.
    pub fn alert_labels(&self, severity: AlertSeverity) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels.insert("alertname".into(), self.name.clone());
        labels.insert("severity".into(), severity.label().into());
        if let Some(m) = &self.monitor {
            labels.insert("monitor".into(), m.clone());
        }
        labels
    }

    /// The annotations with `{value}` and `{threshold}` filled in.
    pub fn render_annotations(
        &self,
        value: Option<f64>,
        threshold: f64,
    ) -> BTreeMap<String, String> {
        let shown = value.map_or_else(
            || "no data".to_owned(),
            |v| {
                format!("{v:.6}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_owned()
            },
        );
        self.annotations
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.replace("{value}", &shown)
                        .replace("{threshold}", &threshold.to_string()),
                )
            })
            .collect()
    }
}

/// Finite thresholds, most severe first.
pub(crate) fn thresholds(warning: Option<f64>, critical: Option<f64>) -> Vec<(AlertSeverity, f64)> {
    let mut t = Vec::new();
    if let Some(c) = critical.filter(|c| c.is_finite()) {
        t.push((AlertSeverity::Critical, c));
    }
    if let Some(w) = warning.filter(|w| w.is_finite()) {
        t.push((AlertSeverity::Warning, w));
    }
    t
}

/// A stable fingerprint of a label set.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> u64 {
    // FNV-1a over `name=value\xff` pairs in name order: stable across runs and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([b'=']).chain(v.bytes()).chain([0xff]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}
