//! Prometheus text exposition of the runtime: every monitor's latency histograms and counters, and the
//! runtime's own health (restarts, mailboxes, process resources, reloads, events).
//!
//! `snapshot.rs` gathers what one scrape shows (every actor asked with the ask timeout, at once);
//! this file renders it.
//!
//! Every family is named once in [`FAMILIES`] with its type and help; base units (`_seconds`,
//! `_bytes`), counters end in `_total`, histograms are cumulative `_bucket{le}` + `_sum` + `_count`.

use std::fmt::Write as _;

mod snapshot;

use watchkeeper_actors::alerting::AlertingStatus;
use watchkeeper_actors::monitor::{Exemplar, Exposition};
use watchkeeper_actors::process::ProcessReport;
use watchkeeper_actors::{ChildStatus, SupervisorStatus};

pub(crate) use self::snapshot::snapshot;
use crate::tree::ReloadStatus;
use crate::MonitorHandle;

/// The exposition's Content-Type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The Content-Type of the OpenMetrics exposition.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Which text format a scrape is written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Prometheus' text format 0.0.4 (the default).
    #[default]
    Prometheus,
    /// OpenMetrics 1.0: counter families named without `_total`, exemplars on histogram
    /// buckets, `# EOF` at the end.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for, as Prometheus' own client libraries choose it: of
    /// the media types it names that are served here (`application/openmetrics-text` of version
    /// 1.0.0 or 0.0.1, `text/plain`, `*/*`), the one of highest `q` (the more specific, then the
    /// first written, on a tie); `q=0` refuses one. Prometheus' text format otherwise.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let mut best: Option<(f64, u8, Format)> = None;
        for clause in accept.unwrap_or("").split(',') {
            let mut parts = clause.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let (mut q, mut version) = (1.0, None);
            for param in parts {
                let Some((key, value)) = param.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "q" => q = value.parse::<f64>().unwrap_or(0.0),
                    "version" => version = Some(value.to_owned()),
                    _ => {}
                }
            }
            let served = match media.as_str() {
                "application/openmetrics-text"
                    if matches!(version.as_deref(), None | Some("1.0.0" | "0.0.1")) =>
                {
                    Some((2, Format::OpenMetrics))
                }
                "text/plain" => Some((2, Format::Prometheus)),
                "text/*" => Some((1, Format::Prometheus)),
                "*/*" => Some((0, Format::Prometheus)),
                _ => None,
            };
            if let Some((specific, format)) = served {
                let better = best.is_none_or(|(bq, bs, _)| q > bq || (q == bq && specific > bs));
                if q > 0.0 && q.is_finite() && better {
                    best = Some((q, specific, format));
                }
            }
        }
        best.map_or(Format::Prometheus, |(_, _, format)| format)
    }

    /// Its Content-Type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

const OPERATION_DURATION: &str = "watchkeeper_operation_duration_seconds";
const OPERATION_ERRORS: &str = "watchkeeper_operation_errors_total";
const CLAMPED: &str = "watchkeeper_clamped_samples_total";
const HOST_COUNTER: &str = "watchkeeper_count_total";
const HOST_GAUGE: &str = "watchkeeper_level";
const RESTARTS: &str = "watchkeeper_actor_restarts_total";
const ACTOR_UP: &str = "watchkeeper_actor_up";
const MAILBOX_DEPTH: &str = "watchkeeper_mailbox_depth";
const MAILBOX_HIGH_WATER: &str = "watchkeeper_mailbox_high_water";
const MAILBOX_DROPS: &str = "watchkeeper_mailbox_dropped_messages_total";
const ESCALATIONS: &str = "watchkeeper_supervisor_escalations_total";
const RESIDENT: &str = "watchkeeper_process_resident_memory_bytes";
const CPU: &str = "watchkeeper_process_cpu_seconds_total";
const THREADS: &str = "watchkeeper_process_threads";
const FDS: &str = "watchkeeper_process_open_fds";
const UPTIME: &str = "watchkeeper_uptime_seconds";
const BUILD_INFO: &str = "watchkeeper_build_info";
// The process families as the Prometheus client libraries name them, so their dashboards work.
const P_CPU: &str = "process_cpu_seconds_total";
const P_RESIDENT: &str = "process_resident_memory_bytes";
const P_VIRTUAL: &str = "process_virtual_memory_bytes";
const P_FDS: &str = "process_open_fds";
const P_MAX_FDS: &str = "process_max_fds";
const P_START: &str = "process_start_time_seconds";
const NOTIFICATIONS: &str = "watchkeeper_notifications_total";
const ALERTS: &str = "watchkeeper_alerts";
const ALERTS_FIRED: &str = "watchkeeper_alerts_fired_total";
const RATE_LIMITED: &str = "watchkeeper_notifications_rate_limited_total";
const RULE_VALUE: &str = "watchkeeper_alert_rule_value";
const RELOAD_OK: &str = "watchkeeper_config_last_reload_successful";
const RELOAD_AT: &str = "watchkeeper_config_last_reload_success_timestamp_seconds";
const EVENTS: &str = "watchkeeper_events_total";
const BREAKER: &str = "watchkeeper_notifier_breaker_open";
const ADMIN_OPEN: &str = "watchkeeper_admin_connections";
const ADMIN_ACCEPTED: &str = "watchkeeper_admin_connections_accepted_total";
const ADMIN_EVICTED: &str = "watchkeeper_admin_connections_evicted_total";
const ADMIN_ACCEPT_ERRORS: &str = "watchkeeper_admin_accept_errors_total";
const INSTRUMENTATION_DROPPED: &str = "watchkeeper_instrumentation_dropped_total";
const STATE_WRITES: &str = "watchkeeper_state_writes_total";
const STATE_WRITE_ERRORS: &str = "watchkeeper_state_write_errors_total";
const STATE_WRITTEN_AT: &str = "watchkeeper_state_last_write_success_timestamp_seconds";
const STATE_BYTES: &str = "watchkeeper_state_bytes";

/// Every family the runtime exports: name, type, help.
pub const FAMILIES: &[(&str, &str, &str)] = &[
    (
        OPERATION_DURATION,
        "histogram",
        "Latency of operations recorded by the host, by monitor and kind.",
    ),
    (
        OPERATION_ERRORS,
        "counter",
        "Failed operations recorded by the host, by monitor and kind.",
    ),
    (
        CLAMPED,
        "counter",
        "Latency samples that were zero or above the histogram range, recorded clamped.",
    ),
    (
        HOST_COUNTER,
        "counter",
        "Counters incremented by the host, by monitor and counter name.",
    ),
    (
        HOST_GAUGE,
        "gauge",
        "Gauges set by the host, by monitor and gauge name.",
    ),
    (RESTARTS, "counter", "Restarts of each supervised actor."),
    (
        ACTOR_UP,
        "gauge",
        "1 while the actor is running, 0 while it restarts or after it stopped.",
    ),
    (
        MAILBOX_DEPTH,
        "gauge",
        "Messages waiting in each actor's mailbox.",
    ),
    (
        MAILBOX_HIGH_WATER,
        "gauge",
        "The largest depth each actor's mailbox has reached.",
    ),
    (
        MAILBOX_DROPS,
        "counter",
        "Messages refused, dropped, evicted or undelivered, by actor, message kind and reason.",
    ),
    (
        ESCALATIONS,
        "counter",
        "Times a supervisor exceeded its restart intensity.",
    ),
    (RESIDENT, "gauge", "Resident memory of the process."),
    (
        CPU,
        "counter",
        "CPU time used by the process, user and system.",
    ),
    (THREADS, "gauge", "Threads of the process."),
    (FDS, "gauge", "Open file descriptors of the process."),
    (UPTIME, "gauge", "Time since the runtime started."),
    (
        BUILD_INFO,
        "gauge",
        "Always 1; the version of watchkeeper in its label.",
    ),
    (P_CPU, "counter", "Total user and system CPU time spent in seconds."),
    (P_RESIDENT, "gauge", "Resident memory size in bytes."),
    (P_VIRTUAL, "gauge", "Virtual memory size in bytes."),
    (P_FDS, "gauge", "Number of open file descriptors."),
    (P_MAX_FDS, "gauge", "Maximum number of open file descriptors."),
    (
        P_START,
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    ),
    (
        NOTIFICATIONS,
        "counter",
        "Notifications by channel and outcome (delivered, failed; retried counts attempts).",
    ),
    (
        ALERTS,
        "gauge",
        "Alerts by state: firing, pending, silenced, inhibited.",
    ),
    (ALERTS_FIRED, "counter", "Alerts that started firing."),
    (
        RATE_LIMITED,
        "counter",
        "Notifications folded into summaries by the rate limit, by channel.",
    ),
    (
        RULE_VALUE,
        "gauge",
        "What each alert rule last compared with its thresholds: the metric's value, a regression's effect size, an anomaly score or a trend's forecast.",
    ),
    (
        RELOAD_OK,
        "gauge",
        "Whether the last configuration reload succeeded (1) or failed and changed nothing (0).",
    ),
    (
        RELOAD_AT,
        "gauge",
        "When the configuration in force was applied: the start or the last successful reload.",
    ),
    (
        BREAKER,
        "gauge",
        "1 while a channel's circuit breaker is open after consecutive failed deliveries.",
    ),
    (
        EVENTS,
        "counter",
        "Events of the runtime's subsystems by name: supervision, notifications, tuning, memory, alerts, reloads.",
    ),
    (
        ADMIN_OPEN,
        "gauge",
        "Connections the admin server holds open.",
    ),
    (
        ADMIN_ACCEPTED,
        "counter",
        "Connections the admin server accepted.",
    ),
    (
        ADMIN_EVICTED,
        "counter",
        "Connections the admin server closed to make room for a newer one (at admin_limits.max_connections).",
    ),
    (
        ADMIN_ACCEPT_ERRORS,
        "counter",
        "Connections the admin server could not accept (e.g. no file descriptor left).",
    ),
    (
        INSTRUMENTATION_DROPPED,
        "counter",
        "The host's metric registrations and spans not recorded: past instrumentation.max_series, a monitor's room or monitoring.max_monitors.",
    ),
    (
        STATE_WRITES,
        "counter",
        "Writes of the saved state (storage.path) that reached the disk.",
    ),
    (
        STATE_WRITE_ERRORS,
        "counter",
        "Writes of the saved state that failed (a full disk, a directory that cannot be written); the state in memory stands.",
    ),
    (
        STATE_WRITTEN_AT,
        "gauge",
        "When the saved state last reached the disk.",
    ),
    (
        STATE_BYTES,
        "gauge",
        "The size of the saved state last written.",
    ),
];

/// Escapes a label value.
fn label(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return value.into();
    }
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .into()
}

fn header(out: &mut String, format: Format, name: &str) {
    if let Some((_, kind, help)) = FAMILIES.iter().find(|(n, _, _)| *n == name) {
        // OpenMetrics names a counter family without the `_total` its samples carry.
        let family = match (format, *kind) {
            (Format::OpenMetrics, "counter") => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} {kind}");
    }
}

/// A sample value as the exposition formats write it: Rust's shortest round-trip decimal, or
/// `NaN`, `+Inf`, `-Inf`.
struct Float(f64);

impl std::fmt::Display for Float {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        if x.is_finite() {
            write!(f, "{x}")
        } else if x.is_nan() {
            f.write_str("NaN")
        } else if x > 0.0 {
            f.write_str("+Inf")
        } else {
            f.write_str("-Inf")
        }
    }
}

/// Appends `{family}{suffix}{{{labels}}} `: a sample's name and labels, ready for its value.
/// The per-monitor lines are written this way, without `format_args!`: there are tens of them
/// per monitor and a thousand monitors per scrape.
fn series(out: &mut String, family: &str, suffix: &str, labels: &str) {
    out.push_str(family);
    out.push_str(suffix);
    out.push('{');
    out.push_str(labels);
    out.push_str("} ");
}

/// Appends `v` in decimal and ends the line.
fn int_line(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
    out.push('\n');
}

/// What one scrape renders.
pub(crate) struct Snapshot {
    /// The monitors by name, each read as it is rendered.
    pub(crate) monitors: Vec<MonitorHandle>,
    pub(crate) supervision: Option<SupervisorStatus>,
    pub(crate) process: Option<ProcessReport>,
    pub(crate) uptime_seconds: f64,
    pub(crate) alerting: Option<AlertingStatus>,
    /// Per channel: delivered, failed, retried, and whether its breaker is open.
    pub(crate) channels: Vec<(String, u64, u64, u64, bool)>,
    pub(crate) reload: ReloadStatus,
    pub(crate) events: std::collections::BTreeMap<&'static str, u64>,
    /// The admin server's connections: open, accepted, evicted, accept errors.
    pub(crate) admin: [u64; 4],
    /// Metric keys and spans of the host that could not be recorded.
    pub(crate) instrumentation_dropped: u64,
    /// How the writes of the saved state have gone, when there is a data directory.
    pub(crate) storage: Option<crate::StorageStatus>,
}

/// Writes ` # {labels} value timestamp` after a bucket's count (OpenMetrics only).
fn exemplar(out: &mut String, format: Format, e: Option<&Exemplar>) {
    let Some(e) = e.filter(|_| format == Format::OpenMetrics) else {
        return;
    };
    let labels: Vec<String> = e
        .labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
        .collect();
    let _ = write!(
        out,
        " # {{{}}} {} {:.3}",
        labels.join(","),
        Float(e.value_seconds),
        e.timestamp.timestamp_millis() as f64 / 1000.0
    );
}

/// Writes `{family}_created{labels} {when}` (OpenMetrics only): when a counter or histogram of a
/// monitor started from zero. `family` is the family's name without `_total`.
fn created(out: &mut String, format: Format, family: &str, labels: &str, e: &Exposition) {
    if format == Format::OpenMetrics {
        let _ = writeln!(
            out,
            "{family}_created{{{labels}}} {:.3}",
            e.created.timestamp_millis() as f64 / 1000.0
        );
    }
}

/// Renders a scrape in `format`.
pub(crate) fn render(s: &Snapshot, format: Format) -> String {
    let mut out = String::with_capacity(4096 + s.monitors.len() * 3000);
    // Each monitor is read once, as it is written, into every family it has samples in: the
    // durations straight into `out`, the other families aside, appended after. (Reading every
    // monitor first and walking them once per family cost three times as much per monitor at
    // 10,000 monitors as at 1,000: the readings no longer fit in the caches.)
    let mut errors = String::new();
    let mut clamped = String::new();
    let mut counters = String::new();
    let mut gauges = String::new();
    // A kind's labels, and its bucket lines' name and labels up to the `le` value.
    let mut labels = String::new();
    let mut bucket = String::new();
    header(&mut out, format, OPERATION_DURATION);
    // The bounds written as `le` values, formatted again only when a monitor's differ.
    let mut les: (Vec<f64>, Vec<String>) = Default::default();
    for handle in &s.monitors {
        let m = handle.store().exposition();
        if les.0[..] != m.buckets[..] {
            les = (
                m.buckets.to_vec(),
                m.buckets.iter().map(|b| le(format, *b)).collect(),
            );
        }
        let monitor = label(&m.monitor);
        for k in &m.kinds {
            labels.clear();
            let _ = write!(labels, "monitor=\"{monitor}\",kind=\"{}\"", label(&k.kind));
            bucket.clear();
            let _ = write!(bucket, "{OPERATION_DURATION}_bucket{{{labels},le=\"");
            let les = les.1.iter().map(String::as_str).chain(["+Inf"]);
            let counts = k.cumulative_buckets.iter().chain([&k.count]);
            for (b, (le, n)) in les.zip(counts).enumerate() {
                out.push_str(&bucket);
                out.push_str(le);
                out.push_str("\"} ");
                out.push_str(itoa::Buffer::new().format(*n));
                // The `+Inf` bucket's exemplar is the last.
                let e = if b == k.cumulative_buckets.len() {
                    k.exemplars.last()
                } else {
                    k.exemplars.get(b)
                };
                exemplar(&mut out, format, e.and_then(Option::as_ref));
                out.push('\n');
            }
            series(&mut out, OPERATION_DURATION, "_sum", &labels);
            let _ = writeln!(out, "{}", Float(k.sum_seconds));
            series(&mut out, OPERATION_DURATION, "_count", &labels);
            int_line(&mut out, k.count);
            created(&mut out, format, OPERATION_DURATION, &labels, &m);
            for (family, v, to) in [
                (OPERATION_ERRORS, k.errors, &mut errors),
                (CLAMPED, k.clamped, &mut clamped),
            ] {
                series(to, family, "", &labels);
                int_line(to, v);
                created(to, format, family.trim_end_matches("_total"), &labels, &m);
            }
        }
        for (name, total) in &m.counters {
            let labels = format!("monitor=\"{monitor}\",counter=\"{}\"", label(name));
            let _ = writeln!(counters, "{HOST_COUNTER}{{{labels}}} {total}");
            created(
                &mut counters,
                format,
                HOST_COUNTER.trim_end_matches("_total"),
                &labels,
                &m,
            );
        }
        for (name, value) in &m.gauges {
            let _ = writeln!(
                gauges,
                "{HOST_GAUGE}{{monitor=\"{monitor}\",gauge=\"{}\"}} {}",
                label(name),
                Float(*value)
            );
        }
    }
    for (family, lines) in [(OPERATION_ERRORS, &errors), (CLAMPED, &clamped)] {
        header(&mut out, format, family);
        out.push_str(lines);
    }
    for (family, lines) in [(HOST_COUNTER, &counters), (HOST_GAUGE, &gauges)] {
        if !lines.is_empty() {
            header(&mut out, format, family);
            out.push_str(lines);
        }
    }
    if let Some(sup) = &s.supervision {
        let children = sup.all_children();
        // Each actor's label, written once for its five families.
        let actors: Vec<String> = children
            .iter()
            .map(|c| format!("actor=\"{}\"", label(&c.name)))
            .collect();
        // One sample per actor that has a value for the family.
        let mut per_actor = |family: &str, value: &dyn Fn(&ChildStatus) -> Option<u64>| {
            header(&mut out, format, family);
            for (c, actor) in children.iter().zip(&actors) {
                if let Some(v) = value(c) {
                    series(&mut out, family, "", actor);
                    int_line(&mut out, v);
                }
            }
        };
        per_actor(RESTARTS, &|c| Some(u64::from(c.restarts)));
        per_actor(ACTOR_UP, &|c| {
            Some(u64::from(
                c.state == watchkeeper_actors::ChildState::Running,
            ))
        });
        per_actor(MAILBOX_DEPTH, &|c| {
            c.mailbox.as_ref().map(|m| m.depth as u64)
        });
        per_actor(MAILBOX_HIGH_WATER, &|c| {
            c.mailbox.as_ref().map(|m| m.high_water as u64)
        });
        header(&mut out, format, MAILBOX_DROPS);
        for (c, actor) in children.iter().zip(&actors) {
            let Some(mb) = &c.mailbox else { continue };
            for k in &mb.kinds {
                labels.clear();
                let _ = write!(labels, "{actor},message=\"{}\",reason=\"", label(k.kind));
                let reasons = labels.len();
                for (reason, n) in [
                    ("rejected", k.rejected),
                    ("dropped_newest", k.dropped_newest),
                    ("evicted_oldest", k.evicted_oldest),
                    ("undelivered", k.undelivered),
                ] {
                    labels.truncate(reasons);
                    labels.push_str(reason);
                    labels.push('"');
                    series(&mut out, MAILBOX_DROPS, "", &labels);
                    int_line(&mut out, n);
                }
            }
        }
        header(&mut out, format, ESCALATIONS);
        let _ = writeln!(
            out,
            "{ESCALATIONS}{{supervisor=\"{}\"}} {}",
            label(&sup.name),
            sup.escalations
        );
    }
    if let Some(p) = &s.process {
        let st = &p.stats;
        for (family, value) in [
            (RESIDENT, st.resident_bytes.map(|v| v as f64)),
            (CPU, st.cpu_time.map(|d| d.as_secs_f64())),
            (THREADS, st.threads.map(|v| v as f64)),
            (FDS, st.open_fds.map(|v| v as f64)),
            (P_CPU, st.cpu_time.map(|d| d.as_secs_f64())),
            (P_RESIDENT, st.resident_bytes.map(|v| v as f64)),
            (P_VIRTUAL, st.virtual_bytes.map(|v| v as f64)),
            (P_FDS, st.open_fds.map(|v| v as f64)),
            (P_MAX_FDS, st.max_fds.map(|v| v as f64)),
            (P_START, st.start_time_seconds),
        ] {
            if let Some(v) = value {
                header(&mut out, format, family);
                let _ = writeln!(out, "{family} {}", Float(v));
            }
        }
    }
    if !s.channels.is_empty() {
        header(&mut out, format, NOTIFICATIONS);
        for (channel, delivered, failed, retried, _) in &s.channels {
            for (outcome, n) in [
                ("delivered", delivered),
                ("failed", failed),
                ("retried", retried),
            ] {
                let _ = writeln!(
                    out,
                    "{NOTIFICATIONS}{{channel=\"{}\",outcome=\"{outcome}\"}} {n}",
                    label(channel)
                );
            }
        }
    }
    if let Some(a) = &s.alerting {
        header(&mut out, format, ALERTS);
        for (state, n) in [
            ("firing", a.active_alerts),
            ("pending", a.pending_alerts),
            ("silenced", a.silenced_alerts),
            ("inhibited", a.inhibited_alerts),
        ] {
            let _ = writeln!(out, "{ALERTS}{{state=\"{state}\"}} {n}");
        }
        header(&mut out, format, ALERTS_FIRED);
        let _ = writeln!(out, "{ALERTS_FIRED} {}", a.fired_total);
        header(&mut out, format, RATE_LIMITED);
        for (channel, ..) in &s.channels {
            let n = a.rate_limited.get(channel).copied().unwrap_or(0);
            let _ = writeln!(out, "{RATE_LIMITED}{{channel=\"{}\"}} {n}", label(channel));
        }
        if !a.rule_values.is_empty() {
            header(&mut out, format, RULE_VALUE);
            for r in &a.rule_values {
                let _ = writeln!(
                    out,
                    "{RULE_VALUE}{{rule=\"{}\",kind=\"{}\"}} {}",
                    label(&r.rule),
                    r.kind.label(),
                    Float(r.value)
                );
            }
        }
    }
    if !s.channels.is_empty() {
        header(&mut out, format, BREAKER);
        for (channel, _, _, _, open) in &s.channels {
            let _ = writeln!(
                out,
                "{BREAKER}{{channel=\"{}\"}} {}",
                label(channel),
                u8::from(*open)
            );
        }
    }
    header(&mut out, format, RELOAD_OK);
    let _ = writeln!(out, "{RELOAD_OK} {}", u8::from(s.reload.successful));
    header(&mut out, format, RELOAD_AT);
    let _ = writeln!(
        out,
        "{RELOAD_AT} {}",
        Float(s.reload.last_success_at.timestamp_millis() as f64 / 1000.0)
    );
    header(&mut out, format, EVENTS);
    for (event, n) in &s.events {
        let _ = writeln!(out, "{EVENTS}{{event=\"{}\"}} {n}", label(event));
    }
    for (family, n) in [
        ADMIN_OPEN,
        ADMIN_ACCEPTED,
        ADMIN_EVICTED,
        ADMIN_ACCEPT_ERRORS,
    ]
    .into_iter()
    .zip(s.admin)
    {
        header(&mut out, format, family);
        let _ = writeln!(out, "{family} {n}");
    }
    header(&mut out, format, INSTRUMENTATION_DROPPED);
    let _ = writeln!(
        out,
        "{INSTRUMENTATION_DROPPED} {}",
        s.instrumentation_dropped
    );
    if let Some(st) = &s.storage {
        for (family, n) in [
            (STATE_WRITES, st.writes),
            (STATE_WRITE_ERRORS, st.write_errors),
        ] {
            header(&mut out, format, family);
            let _ = writeln!(out, "{family} {n}");
        }
        if let Some(at) = st.last_written_at {
            header(&mut out, format, STATE_WRITTEN_AT);
            let _ = writeln!(
                out,
                "{STATE_WRITTEN_AT} {}",
                Float(at.timestamp_millis() as f64 / 1000.0)
            );
            header(&mut out, format, STATE_BYTES);
            let _ = writeln!(out, "{STATE_BYTES} {}", st.bytes);
        }
    }
    header(&mut out, format, UPTIME);
    let _ = writeln!(out, "{UPTIME} {}", Float(s.uptime_seconds));
    header(&mut out, format, BUILD_INFO);
    let _ = writeln!(
        out,
        "{BUILD_INFO}{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// A bucket bound as an `le` value: OpenMetrics writes whole numbers as floats (`1.0`, as its
/// canonical numbers and Prometheus' Go client have them), the text format as they are (`1`).
fn le(format: Format, bound: f64) -> String {
    if format == Format::OpenMetrics && bound.fract() == 0.0 && bound.abs() < 1e15 {
        format!("{bound:.1}")
    } else {
        bound.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::Format;

    #[test]
    fn the_format_is_the_accepted_one_of_highest_q() {
        use Format::{OpenMetrics as Om, Prometheus as Text};
        for (accept, want) in [
            (None, Text),
            (Some(""), Text),
            // Prometheus' default scrape protocols.
            (Some("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"), Om),
            // The text format preferred, OpenMetrics also accepted.
            (Some("text/plain;version=0.0.4;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,*/*;q=0.4"), Text),
            (Some("application/openmetrics-text; version=1.0.0"), Om),
            (Some("application/openmetrics-text;q=0,text/plain"), Text),
            (Some("application/openmetrics-text;version=2.0.0"), Text),
            (Some("*/*;q=0.9,application/openmetrics-text;q=0.9"), Om),
            (Some("application/json"), Text),
            (Some("application/openmetrics-text;q=bogus"), Text),
        ] {
            assert_eq!(Format::negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn openmetrics_writes_whole_bounds_as_floats() {
        assert_eq!(super::le(Format::OpenMetrics, 1.0), "1.0");
        assert_eq!(super::le(Format::OpenMetrics, 10.0), "10.0");
        assert_eq!(super::le(Format::OpenMetrics, 0.005), "0.005");
        assert_eq!(super::le(Format::Prometheus, 1.0), "1");
        assert_eq!(super::le(Format::Prometheus, 0.25), "0.25");
    }
}
