//! Alert rules: which statistic, which side of which thresholds, for how long.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::detect::NoveltySettings;
use crate::kernel::validation::{self, Validation, A_DAY, A_WEEK};

/// A statistic a rule watches.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::Metric;
///
/// assert!(Metric::P99.is_latency() && Metric::P99.per_monitor());
/// assert!(!Metric::ProcessMemoryBytes.per_monitor());
/// assert!(Metric::CounterRate.is_series());
/// ```
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
    /// The level of the monitor's gauge named in the rule's `series`.
    Gauge,
    /// The increase per second, over the window, of the monitor's counter named in `series`.
    CounterRate,
}

impl Metric {
    /// Its name in configuration.
    ///
    /// ```
    /// use watchkeeper_actors::alerting::Metric;
    ///
    /// assert_eq!(Metric::P99.name(), "p99");
    /// assert_eq!(Metric::CounterRate.name(), "counter_rate");
    /// ```
    pub fn name(self) -> String {
        let mut name = String::new();
        // The variant's name in snake case, as serde writes it.
        for (i, c) in format!("{self:?}").chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        }
        name
    }

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

    /// Whether the metric reads one counter or gauge, named in a rule's `series`.
    pub fn is_series(self) -> bool {
        matches!(self, Metric::Gauge | Metric::CounterRate)
    }

    /// Whether the metric can be read from one operation kind (a rule's `kind_of`).
    pub fn per_kind(self) -> bool {
        self.is_latency()
            || matches!(
                self,
                Metric::QueriesPerSecond
                    | Metric::IndexesPerSecond
                    | Metric::OperationsPerSecond
                    | Metric::ErrorRate
            )
    }

    /// The metric's value for one operation kind's statistics: latencies and rates of that kind
    /// alone (`queries_per_second` and `indexes_per_second` read as the kind's own rate).
    pub fn of_kind(self, kind: &crate::monitor::KindStats) -> Option<f64> {
        let secs = |d: Duration| d.as_secs_f64();
        if self.is_latency() && kind.window_count == 0 {
            return None;
        }
        Some(match self {
            Metric::Mean => secs(kind.mean),
            Metric::P50 => secs(kind.latency.p50),
            Metric::P90 => secs(kind.latency.p90),
            Metric::P95 => secs(kind.latency.p95),
            Metric::P99 => secs(kind.latency.p99),
            Metric::P999 => secs(kind.latency.p999),
            Metric::Max => secs(kind.latency.max),
            Metric::QueriesPerSecond | Metric::IndexesPerSecond | Metric::OperationsPerSecond => {
                kind.per_second
            }
            // Errors over the window are not kept per kind: the lifetime ratio of the kind.
            Metric::ErrorRate => {
                let all = kind.total + kind.errors;
                if all == 0 {
                    0.0
                } else {
                    kind.errors as f64 / all as f64
                }
            }
            _ => return None,
        })
    }

    /// The metric's value in `stats`, in base units; `None` when a latency has no samples in the window.
    pub fn of(self, stats: &crate::monitor::PerformanceStats) -> Option<f64> {
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
            Metric::ProcessMemoryBytes
            | Metric::MailboxDrops
            | Metric::Restarts
            | Metric::Gauge
            | Metric::CounterRate => return None,
        })
    }
}

/// Which side of the threshold is bad.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::Comparison;
///
/// assert!(Comparison::Above.breaches(0.3, 0.1));
/// assert!(Comparison::Below.breaches(5.0, 10.0));
/// assert!(!Comparison::Below.breaches(10.0, 10.0));
/// ```
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
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::{AlertRule, AlertSeverity, Metric};
///
/// let rule = AlertRule { warning: Some(0.1), critical: Some(0.5), ..AlertRule::new("SearchSlow", Some("search"), Metric::P99) };
/// assert_eq!(rule.thresholds(), [(AlertSeverity::Critical, 0.5), (AlertSeverity::Warning, 0.1)]);
/// assert_eq!(rule.alert_labels(AlertSeverity::Critical)["severity"], "critical");
/// ```
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

/// What a rule compares with its thresholds.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::{AlertRule, Metric, RuleKind};
///
/// let rule = AlertRule {
///     kind: RuleKind::Regression,
///     critical: Some(1.0),
///     ..AlertRule::new("SearchRegressed", Some("search"), Metric::Mean)
/// };
/// assert!(!rule.validate().has_errors());
/// assert_eq!(rule.kind.label(), "regression");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// The metric's value.
    #[default]
    Threshold,
    /// The effect size (Cohen's d, positive in the rule's bad direction) of the metric's recent
    /// values against its baseline; it breaches only where Welch's t-test and Mann-Whitney U both
    /// give a p-value at or below `regression.max_p_value`.
    Regression,
    /// The anomaly score in [0, 1] of each value ([`crate::detect::NoveltyDetector`]); one event
    /// fires once. The detector's `fire_at` is the rule's lowest threshold, so its refractory period
    /// starts at a detection the rule alerts on. 0.9995 alerts on clear events only (the top bin
    /// above 0.999 is graded by how far a value goes past the ordinary); the evidence gives the
    /// score, the observed and expected value, the range seen, the ranks and the reason.
    Anomaly,
    /// The metric's value `trend.horizon` ahead, forecast by a least-squares line through its
    /// recent values; it breaches only when the line heads the bad way with R² at or above
    /// `trend.min_r_squared`.
    Trend,
}

impl RuleKind {
    /// Its name in configuration and in the `kind` label.
    pub fn label(self) -> &'static str {
        match self {
            RuleKind::Threshold => "threshold",
            RuleKind::Regression => "regression",
            RuleKind::Anomaly => "anomaly",
            RuleKind::Trend => "trend",
        }
    }
}

/// How a `regression` rule compares.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::{AlertRule, Metric, RegressionSettings, RuleKind};
///
/// let regression = RegressionSettings { reference: 60, recent: 20, ..Default::default() };
/// let rule = AlertRule {
///     kind: RuleKind::Regression,
///     warning: Some(0.8),
///     regression,
///     ..AlertRule::new("SearchRegressed", Some("search"), Metric::P99)
/// };
/// assert!(!rule.validate().has_errors());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegressionSettings {
    /// Values in the baseline.
    pub reference: usize,
    /// Recent values compared with it.
    pub recent: usize,
    /// Both tests' p-values must be at or below this.
    pub max_p_value: f64,
    /// The baseline takes in a value only while the recent values do not differ from it at this
    /// Mann-Whitney p-value, so a regression never becomes its own baseline.
    pub stable_p_value: f64,
}

impl Default for RegressionSettings {
    fn default() -> Self {
        RegressionSettings {
            reference: 120,
            recent: 30,
            max_p_value: 0.001,
            stable_p_value: 0.05,
        }
    }
}

/// How a `trend` rule forecasts.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::alerting::{AlertRule, Metric, RuleKind, TrendSettings};
///
/// // Warn when memory is forecast past 400 MiB within 30 minutes.
/// let trend = TrendSettings { horizon: Duration::from_secs(1800), ..Default::default() };
/// let rule = AlertRule {
///     kind: RuleKind::Trend,
///     warning: Some(400.0 * 1024.0 * 1024.0),
///     trend,
///     ..AlertRule::new("MemoryGrowing", None, Metric::ProcessMemoryBytes)
/// };
/// assert!(!rule.validate().has_errors());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrendSettings {
    /// Recent values the line is fitted through.
    pub points: usize,
    /// How far ahead the forecast looks.
    #[serde(with = "crate::duration_serde")]
    pub horizon: Duration,
    /// The line must explain at least this share of the variance.
    pub min_r_squared: f64,
}

impl Default for TrendSettings {
    fn default() -> Self {
        TrendSettings {
            points: 60,
            horizon: Duration::from_secs(3600),
            min_r_squared: 0.6,
        }
    }
}

/// One alert rule. Every field but `name` and `metric` has a default.
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
/// use std::time::Duration;
/// use watchkeeper_actors::alerting::{AlertRule, Metric};
///
/// let rule = AlertRule {
///     warning: Some(0.2),
///     for_: Duration::from_secs(60),
///     annotations: BTreeMap::from([("summary".into(), "p99 is {value}s".into())]),
///     ..AlertRule::new("SearchSlow", Some("search"), Metric::P99)
/// };
/// assert!(!rule.validate().has_errors());
/// let shown = rule.render_annotations(Some(0.25), 0.2, BTreeMap::new());
/// assert_eq!(shown["summary"], "p99 is 0.25s");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertRule {
    /// The alert's name (its `alertname` label); unique among the rules.
    pub name: String,
    /// The monitor it reads, for per-monitor metrics.
    pub monitor: Option<String>,
    /// The statistic it watches.
    pub metric: Metric,
    /// For `gauge` and `counter_rate`: the name of the monitor's gauge or counter it reads.
    pub series: Option<String>,
    /// For latency and rate metrics: read one operation kind of the monitor (`"query"`, or a kind
    /// the host registered) instead of all kinds together.
    pub kind_of: Option<String>,
    /// Which side of the thresholds is bad.
    pub comparison: Comparison,
    /// The warning threshold.
    pub warning: Option<f64>,
    /// The critical threshold.
    pub critical: Option<f64>,
    /// How long a breach must last before the alert fires.
    #[serde(rename = "for", with = "crate::duration_serde")]
    pub for_: Duration,
    /// How long the alert keeps firing after the breach ends.
    #[serde(with = "crate::duration_serde")]
    pub keep_firing_for: Duration,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations; `{value}` and `{threshold}` in them are replaced, and so are the names of a
    /// detection rule's evidence (`{p_value}`, `{baseline_mean}`, `{forecast}`, ...).
    pub annotations: BTreeMap<String, String>,
    /// Let the tuner set the thresholds from the metric's stable baseline (latency metrics, `above`).
    pub auto_threshold: bool,
    /// What the thresholds apply to: the value (`threshold`), a regression's effect size, an
    /// anomaly score or a trend's forecast.
    pub kind: RuleKind,
    /// Settings of `regression` rules.
    pub regression: RegressionSettings,
    /// Settings of `anomaly` rules: the anomaly detector's, whose defaults are the one
    /// configuration chosen on NAB's series for every metric.
    pub anomaly: NoveltySettings,
    /// Settings of `trend` rules.
    pub trend: TrendSettings,
}

impl Default for AlertRule {
    /// An unnamed `p99` rule: a file must give at least `name` (and usually `metric`).
    fn default() -> Self {
        AlertRule::new("", None, Metric::P99)
    }
}

impl AlertRule {
    /// A `threshold` rule named `name` on `metric` (of `monitor`, for per-monitor metrics),
    /// compared `above`, with no thresholds yet, no `for` or `keep_firing_for`, no labels or
    /// annotations; set the rest with struct update syntax.
    pub fn new(name: impl Into<String>, monitor: Option<&str>, metric: Metric) -> Self {
        AlertRule {
            name: name.into(),
            monitor: monitor.map(str::to_owned),
            metric,
            series: None,
            kind_of: None,
            comparison: Comparison::Above,
            warning: None,
            critical: None,
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            auto_threshold: false,
            kind: RuleKind::Threshold,
            regression: RegressionSettings::default(),
            anomaly: NoveltySettings::default(),
            trend: TrendSettings::default(),
        }
    }

    /// The rule's value in `stats` (of its monitor): one kind's statistic under `kind_of`, a
    /// counter's or gauge's under `series`, else the monitor's; `None` when there is none yet.
    pub fn value_in(&self, stats: &crate::monitor::PerformanceStats) -> Option<f64> {
        match (self.metric, &self.kind_of, &self.series) {
            (Metric::Gauge, _, Some(name)) => stats.gauge(name),
            (Metric::CounterRate, _, Some(name)) => stats.counter(name).map(|c| c.per_second),
            (metric, Some(kind), _) => stats.kind(kind).and_then(|k| metric.of_kind(k)),
            (metric, None, _) => metric.of(stats),
        }
    }

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

    /// The annotations with `{value}`, `{threshold}` and the names of `evidence` filled in, and
    /// the evidence itself under its own names where the rule has no annotation of that name.
    pub fn render_annotations(
        &self,
        value: Option<f64>,
        threshold: f64,
        evidence: BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let shown = value.map_or_else(|| "no data".to_owned(), short);
        let mut rendered: BTreeMap<String, String> = self
            .annotations
            .iter()
            .map(|(k, v)| {
                let mut text = v
                    .replace("{value}", &shown)
                    .replace("{threshold}", &threshold.to_string());
                for (name, fact) in &evidence {
                    text = text.replace(&format!("{{{name}}}"), fact);
                }
                (k.clone(), text)
            })
            .collect();
        for (name, fact) in evidence {
            rendered.entry(name).or_insert(fact);
        }
        rendered
    }
}

/// A value for annotations: six decimals without trailing zeros.
pub(crate) fn short(v: f64) -> String {
    format!("{v:.6}")
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_owned()
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

/// The fingerprint of a label set, as Alertmanager computes it (so the same labels have the same
/// fingerprint in both): FNV-1a 64 over each `name 0xff value 0xff`, names in byte order.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

impl AlertRule {
    /// `series` and `kind_of` against the metric.
    fn series_problems(&self, v: &mut Validation) {
        match (&self.series, self.metric.is_series()) {
            (None, true) => v.error(
                "series",
                format!(
                    "{:?} reads one counter or gauge of the monitor; name it",
                    self.metric
                ),
            ),
            (Some(_), false) => v.error(
                "series",
                format!(
                    "only `gauge` and `counter_rate` read a series, not {:?}",
                    self.metric
                ),
            ),
            (Some(name), true) => {
                if let Some(problem) = validation::name_problem(name) {
                    v.error("series", format!("a series name {problem}"));
                }
            }
            (None, false) => {}
        }
        if let Some(kind) = &self.kind_of {
            if !self.metric.per_kind() {
                v.error(
                    "kind_of",
                    format!("{:?} is not read per operation kind", self.metric),
                );
            } else if let Some(problem) = validation::name_problem(kind) {
                v.error("kind_of", format!("an operation kind {problem}"));
            }
        }
    }

    /// Checks the rule; field paths are relative to it.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        if let Some(problem) = validation::name_problem(&self.name) {
            v.error("name", format!("a rule's name {problem}"));
        }
        if self.metric.per_monitor() {
            match &self.monitor {
                None => v.error(
                    "monitor",
                    format!("`{}` is read from a monitor; name one", self.metric.name()),
                ),
                Some(m) => {
                    if let Some(problem) = validation::name_problem(m) {
                        v.error("monitor", format!("a monitor name {problem}"));
                    }
                }
            }
        }
        self.series_problems(&mut v);
        for (field, d) in [
            ("for", self.for_),
            ("keep_firing_for", self.keep_firing_for),
        ] {
            if d > A_DAY.0 {
                v.duration(field, d, A_DAY);
            }
        }
        for (which, x) in [("warning", self.warning), ("critical", self.critical)] {
            if let Some(x) = x {
                if !x.is_finite() {
                    v.error(which, format!("threshold must be a number, not {x}"));
                }
            }
        }
        for name in self.labels.keys() {
            if !super::matchers::valid_label_name(name) {
                v.error(
                    format!("labels.{name}"),
                    format!("`{name}` is not a label name"),
                );
            }
        }
        self.kind_problems(&mut v);
        #[cfg(not(feature = "detect"))]
        if self.kind != RuleKind::Threshold {
            v.error(
                "kind",
                "built without the `detect` feature: only threshold rules",
            );
        }
        if self.auto_threshold
            && self.kind == RuleKind::Threshold
            && !(self.metric.is_latency()
                && self.comparison == Comparison::Above
                && self.monitor.is_some())
        {
            v.warning("auto_threshold", "only latency rules compared `above` on a monitor follow a baseline; this one keeps its thresholds");
        }
        match (self.warning, self.critical) {
            (None, None) => v.error("critical", "a rule needs a warning or a critical threshold"),
            (Some(w), Some(c)) if w.is_finite() && c.is_finite() => {
                // Effect sizes and anomaly scores grow with badness whatever the comparison.
                let ordered = match (self.kind, self.comparison) {
                    (RuleKind::Regression | RuleKind::Anomaly, _) | (_, Comparison::Above) => w < c,
                    (_, Comparison::Below) => w > c,
                };
                if !ordered {
                    v.error(
                        "warning",
                        format!(
                            "warning {w} must be {} critical {c}, which is the worse value",
                            match self.comparison {
                                Comparison::Below
                                    if !matches!(
                                        self.kind,
                                        RuleKind::Regression | RuleKind::Anomaly
                                    ) =>
                                {
                                    "above"
                                }
                                _ => "below",
                            }
                        ),
                    );
                }
            }
            _ => {}
        }
        v
    }

    /// Errors in the settings of `regression`, `anomaly` and `trend` rules and in what their
    /// thresholds may be.
    fn kind_problems(&self, v: &mut Validation) {
        let thresholds = [("warning", self.warning), ("critical", self.critical)];
        let unit = |x: f64| x > 0.0 && x < 1.0;
        match self.kind {
            RuleKind::Threshold => {}
            RuleKind::Regression => {
                let r = &self.regression;
                if r.reference < 5 || r.recent < 5 {
                    v.error(
                        "regression",
                        format!(
                            "reference ({}) and recent ({}) need at least 5 values each",
                            r.reference, r.recent
                        ),
                    );
                } else if r.reference > 100_000 || r.recent > 100_000 {
                    v.error(
                        "regression",
                        "reference and recent are at most 100000 values",
                    );
                }
                for (name, p) in [
                    ("max_p_value", r.max_p_value),
                    ("stable_p_value", r.stable_p_value),
                ] {
                    if !unit(p) {
                        v.error(
                            format!("regression.{name}"),
                            format!("a p-value in (0, 1), not {p}"),
                        );
                    }
                }
                for (which, x) in thresholds {
                    if x.is_some_and(|x| x.is_finite() && x <= 0.0) {
                        v.error(which, "a regression rule's thresholds are effect sizes (Cohen's d) above 0, e.g. 0.8 and 2");
                    }
                }
            }
            RuleKind::Anomaly => {
                if !self.for_.is_zero() {
                    v.warning("for", "an anomaly score is held down after a detection, so it breaches for one evaluation: with `for` above 0 the rule never fires (use keep_firing_for to keep the alert up)");
                }
                if let Some(problem) = self.anomaly.problem() {
                    v.error("anomaly", problem);
                }
                let top = self.anomaly.top_bin();
                for (which, x) in thresholds {
                    match x.filter(|x| x.is_finite()) {
                        Some(x) if !(x > 0.0 && x <= 1.0) => {
                            v.error(which, "an anomaly rule's thresholds are scores in (0, 1]")
                        }
                        Some(x) if x <= top => v.warning(
                            which,
                            format!("at {x} the rule alerts on values merely stranger than every recent one, about one in {} values of plain noise; above {top} it alerts only on clear events (0.9995 is twice as strange as the strangest recent stretch)", self.anomaly.calibration),
                        ),
                        _ => {}
                    }
                }
            }
            RuleKind::Trend => {
                let t = &self.trend;
                if t.points < 3 || t.points > 100_000 {
                    v.error(
                        "trend.points",
                        format!("a line needs 3 to 100000 points, not {}", t.points),
                    );
                }
                if t.horizon.is_zero() {
                    v.error("trend.horizon", "a forecast needs a horizon above 0");
                } else if t.horizon > A_WEEK.0 {
                    v.duration("trend.horizon", t.horizon, A_WEEK);
                }
                if !(0.0..=1.0).contains(&t.min_r_squared) {
                    v.error(
                        "trend.min_r_squared",
                        format!("R² is in [0, 1], not {}", t.min_r_squared),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_alertmanagers() {
        let set = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        // Values read back from a real Alertmanager 0.25 and from prometheus/common's own tests.
        assert_eq!(
            format!("{:016x}", fingerprint(&set(&[]))),
            "cbf29ce484222325"
        );
        assert_eq!(
            format!("{:016x}", fingerprint(&set(&[("alertname", "A")]))),
            "d2c6efc389df0927"
        );
        assert_eq!(
            format!(
                "{:016x}",
                fingerprint(&set(&[
                    ("alertname", "SearchLatencyHigh"),
                    ("severity", "critical"),
                    ("monitor", "search")
                ]))
            ),
            "da5919ff159a1b5a"
        );
        assert_eq!(
            format!(
                "{:016x}",
                fingerprint(&set(&[
                    ("name", "garland, briggs"),
                    ("fear", "love is not enough")
                ]))
            ),
            "507a62d79ee76c9a"
        );
    }
}
