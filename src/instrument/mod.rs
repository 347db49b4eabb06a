//! The host's own instrumentation as input: the `metrics` facade's macros through
//! [`MetricsRecorder`] (feature `metrics`) and `tracing` spans through [`SpanLayer`] (feature
//! `tracing`), both landing in the same per-thread cells as `MonitorHandle`'s records.
//!
//! The `instrumentation` section ([`InstrumentationConfig`]) says how a metric's key or a span
//! names its monitor and operation kind; `Target` applies it. What does not fit (a monitor past
//! `monitoring.max_monitors`, a kind, counter or gauge past a monitor's room, a key past
//! `max_series`) is dropped and counted in `watchkeeper_instrumentation_dropped_total`.

#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "tracing")]
mod spans;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use watchkeeper_actors::kernel::validation::{self, Validation};

#[cfg(feature = "metrics")]
pub use self::metrics::MetricsRecorder;
#[cfg(feature = "tracing")]
pub use self::spans::SpanLayer;

/// How the host's metrics and spans map onto monitors and operation kinds.
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
/// use watchkeeper::config::{InstrumentationConfig, TimeUnit};
///
/// let config = InstrumentationConfig {
///     monitors: BTreeMap::from([("search_latency_ms".into(), "search".into())]),
///     histogram_unit: TimeUnit::Milliseconds,
///     ..Default::default()
/// };
/// assert!(config.validate().findings.is_empty());
/// let clash = InstrumentationConfig { kind_label: "monitor".into(), ..config };
/// assert_eq!(clash.validate().findings[0].field, "kind_label");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstrumentationConfig {
    /// The label (of a metric) or field (of a span) whose value names the monitor.
    pub monitor_label: String,
    /// The label or field whose value names a histogram's or span's operation kind; without it the
    /// kind is the metric's or span's name.
    pub kind_label: String,
    /// Metric and span names mapped to the monitor they belong to, for names that carry no
    /// monitor label, e.g. {"search_latency_seconds": "search"}.
    pub monitors: BTreeMap<String, String>,
    /// The unit a `metrics` histogram records in when `describe_histogram!` gave its name none:
    /// `seconds` (Prometheus' base unit), `milliseconds`, `microseconds` or `nanoseconds`.
    pub histogram_unit: TimeUnit,
    /// What a span's duration is: `busy` (the time it was entered) or `wall` (creation to close).
    pub span_time: SpanTime,
    /// Distinct metric keys the recorder takes (each name and label set is one); past this, new
    /// keys are dropped and counted, so a label with unbounded values cannot exhaust memory.
    pub max_series: usize,
}

impl Default for InstrumentationConfig {
    fn default() -> Self {
        InstrumentationConfig {
            monitor_label: "monitor".into(),
            kind_label: "kind".into(),
            monitors: BTreeMap::new(),
            histogram_unit: TimeUnit::Seconds,
            span_time: SpanTime::Busy,
            max_series: 1000,
        }
    }
}

/// The unit of a histogram's values.
///
/// # Examples
///
/// ```
/// use watchkeeper::config::TimeUnit;
///
/// assert_eq!(TimeUnit::Milliseconds.seconds(), 1e-3);
/// assert_eq!(4.0 * TimeUnit::Microseconds.seconds(), 4e-6);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// Seconds.
    #[default]
    Seconds,
    /// Milliseconds.
    Milliseconds,
    /// Microseconds.
    Microseconds,
    /// Nanoseconds.
    Nanoseconds,
}

impl TimeUnit {
    /// Seconds in one of this unit.
    pub fn seconds(self) -> f64 {
        match self {
            TimeUnit::Seconds => 1.0,
            TimeUnit::Milliseconds => 1e-3,
            TimeUnit::Microseconds => 1e-6,
            TimeUnit::Nanoseconds => 1e-9,
        }
    }
}

/// Which time of a span is its operation's latency.
///
/// # Examples
///
/// ```
/// use watchkeeper::config::SpanTime;
///
/// let config = watchkeeper::Config::from_ron("(instrumentation: (span_time: wall))")?;
/// assert_eq!(config.instrumentation.span_time, SpanTime::Wall);
/// assert_eq!(SpanTime::default(), SpanTime::Busy);
/// # Ok::<(), watchkeeper::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanTime {
    /// The time the span was entered (an async task's polls, not its waits).
    #[default]
    Busy,
    /// From the span's creation to its close.
    Wall,
}

impl InstrumentationConfig {
    /// Checks the section; field paths are relative to it.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        for (field, label) in [
            ("monitor_label", &self.monitor_label),
            ("kind_label", &self.kind_label),
        ] {
            if label.is_empty() {
                v.error(field, "a label name cannot be empty");
            }
        }
        if self.monitor_label == self.kind_label {
            v.error(
                "kind_label",
                "the same label cannot name both the monitor and the kind",
            );
        }
        for (name, monitor) in &self.monitors {
            if let Some(problem) = validation::name_problem(monitor) {
                v.error(
                    format!("monitors.{name}"),
                    format!("a monitor name {problem}"),
                );
            }
        }
        if self.max_series == 0 || self.max_series as u64 > validation::MAX_CAPACITY {
            v.error(
                "max_series",
                format!(
                    "{} is outside 1..={}",
                    self.max_series,
                    validation::MAX_CAPACITY
                ),
            );
        }
        v
    }
}

/// Counts one metric registration or span that could not be recorded, in
/// `watchkeeper_instrumentation_dropped_total`; warns for the first ten and then at powers of two,
/// so a label with unbounded values cannot flood the log.
#[cfg_attr(not(any(feature = "metrics", feature = "tracing")), allow(dead_code))]
pub(crate) fn count_drop(tree: &crate::tree::ActorTree, what: &'static str, name: &str, why: &str) {
    let before = tree
        .instrumentation_dropped
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if before < 10 || before.is_power_of_two() {
        tracing::warn!(
            what,
            name,
            reason = why,
            dropped = before + 1,
            "Instrumentation dropped"
        );
    }
}

/// Where one metric key or span lands: its monitor, and the name of its kind (histograms and
/// spans) or series (counters and gauges).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(not(any(feature = "metrics", feature = "tracing")), allow(dead_code))]
pub(crate) struct Target {
    pub(crate) monitor: String,
    pub(crate) name: String,
}

#[cfg_attr(not(any(feature = "metrics", feature = "tracing")), allow(dead_code))]
impl Target {
    /// Maps a metric's or span's `name` and its `labels`: the monitor is the monitor label's value,
    /// else the name's entry in `monitors`, else (when `default_to_name`) the name itself; the
    /// kind or series is the kind label's value, else the name; labels other than those two are
    /// appended as `{key=value,...}` in their order (a key or value that is empty or holds one of
    /// `,={}"\` written in double quotes, `"` and `\` escaped, so distinct label sets stay
    /// distinct). `None` when nothing names a monitor.
    pub(crate) fn of<'a>(
        config: &InstrumentationConfig,
        name: &str,
        labels: impl Iterator<Item = (&'a str, &'a str)>,
        default_to_name: bool,
    ) -> Option<Target> {
        let mut monitor = None;
        let mut kind = None;
        let mut rest = String::new();
        for (key, value) in labels {
            if key == config.monitor_label {
                monitor = Some(value.to_owned());
            } else if key == config.kind_label {
                kind = Some(value.to_owned());
            } else {
                rest.push(if rest.is_empty() { '{' } else { ',' });
                push_label_part(&mut rest, key);
                rest.push('=');
                push_label_part(&mut rest, value);
            }
        }
        if !rest.is_empty() {
            rest.push('}');
        }
        let monitor = monitor
            .or_else(|| config.monitors.get(name).cloned())
            .or_else(|| default_to_name.then(|| name.to_owned()))?;
        // A kind that holds braces is quoted, so `a{b=c}` named so and `a` with the label `b=c`
        // stay two series.
        let base = kind.unwrap_or_else(|| name.to_owned());
        let mut named = String::with_capacity(base.len() + rest.len() + 2);
        if base.contains(['{', '}', '"', '\\']) {
            quote(&mut named, &base);
        } else {
            named.push_str(&base);
        }
        named.push_str(&rest);
        Some(Target {
            monitor,
            name: named,
        })
    }
}

/// Appends a label's key or value, quoted where it could be read as more than one.
#[cfg_attr(not(any(feature = "metrics", feature = "tracing")), allow(dead_code))]
fn push_label_part(out: &mut String, text: &str) {
    if !text.is_empty() && !text.contains([',', '=', '{', '}', '"', '\\']) {
        out.push_str(text);
        return;
    }
    quote(out, text);
}

/// Appends `text` in double quotes, its quotes and backslashes escaped.
#[cfg_attr(not(any(feature = "metrics", feature = "tracing")), allow(dead_code))]
fn quote(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_then_the_map_then_the_name_names_the_monitor() {
        let mut c = InstrumentationConfig::default();
        c.monitors
            .insert("search_latency_seconds".into(), "search".into());
        let t = |name: &str, labels: &[(&str, &str)], by_name: bool| {
            Target::of(&c, name, labels.iter().copied(), by_name)
        };
        assert_eq!(
            t("latency", &[("monitor", "index"), ("kind", "merge")], true),
            Some(Target {
                monitor: "index".into(),
                name: "merge".into()
            })
        );
        assert_eq!(
            t("search_latency_seconds", &[("shard", "3")], true),
            Some(Target {
                monitor: "search".into(),
                name: "search_latency_seconds{shard=3}".into()
            })
        );
        assert_eq!(
            t("cache_hits", &[], true),
            Some(Target {
                monitor: "cache_hits".into(),
                name: "cache_hits".into()
            })
        );
        assert_eq!(t("unmapped_span", &[], false), None);
        // Values that could be read as more labels are quoted: two label sets, two series.
        let name = |labels: &[(&str, &str)]| t("hits", labels, true).unwrap().name;
        assert_eq!(name(&[("shard", "a,b=c")]), r#"hits{shard="a,b=c"}"#);
        assert_eq!(name(&[("shard", "a"), ("b", "c")]), "hits{shard=a,b=c}");
        assert_eq!(
            name(&[("q", r#"say "hi" \ bye"#), ("e", "")]),
            r#"hits{q="say \"hi\" \\ bye",e=""}"#
        );
        // So is a name or kind that holds braces: `a{b=c}` is not `a` with the label `b=c`.
        let braced = t("hits{shard=a}", &[], true).unwrap().name;
        assert_eq!(braced, r#""hits{shard=a}""#);
        assert_ne!(braced, name(&[("shard", "a")]));
        let kind = t("x", &[("monitor", "m"), ("kind", "q{1}")], true)
            .unwrap()
            .name;
        assert_eq!(kind, r#""q{1}""#);
    }

    #[test]
    fn the_defaults_are_valid_and_odd_values_are_found() {
        assert!(!InstrumentationConfig::default().validate().has_errors());
        let c = InstrumentationConfig {
            kind_label: "monitor".into(),
            max_series: 0,
            ..Default::default()
        };
        let v = c.validate();
        let fields: Vec<&str> = v.findings.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["kind_label", "max_series"]);
    }
}
