//! [`SystemHealthReport`]: the runtime's view of itself, every actor asked with a timeout.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use watchkeeper_actors::alerting::{
    AlertSeverity, AlertingStatus, FiringAlert, GetAlertingStatus, GetFiring,
};
use watchkeeper_actors::memory::{GetMemoryReport, MemoryReport};
use watchkeeper_actors::monitor::{GetSummary, MonitorSummary};
use watchkeeper_actors::notify::{ChannelStatus, GetChannelStatus};
use watchkeeper_actors::probe::CheckStatus;
use watchkeeper_actors::process::{GetProcessStats, ProcessReport};
use watchkeeper_actors::tuner::{GetProfiles, GetTuningHistory, PerformanceProfile};
use watchkeeper_actors::{ChildState, SupervisorStatus};

use crate::deployment::AlertEffect;
use crate::tree::ActorTree;

/// Overall health.
///
/// # Examples
///
/// ```
/// # let mut config = watchkeeper::Config::default();
/// # config.deployment.admin_enabled = false;
/// # let rt = watchkeeper::Runtime::start(config)?;
/// let report = rt.health_blocking()?;
/// use watchkeeper::HealthStatus;
///
/// // A fresh runtime with no failing check and no firing alert is not critical.
/// assert_ne!(report.status, HealthStatus::Critical);
///
/// # rt.shutdown_blocking(std::time::Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum HealthStatus {
    /// Everything answers and nothing is failing.
    Healthy,
    /// Working, with something an operator should look at.
    Warning,
    /// Not doing its job: the root escalated or does not answer, the host raised its alarm, a
    /// critical dependency check fails, or an alert fires whose effect is `Fail`
    /// (`deployment.health.critical_alerts`, `warning_alerts`). `/health` answers 503.
    Critical,
}

/// One monitor in the report.
///
/// # Examples
///
/// ```
/// # let mut config = watchkeeper::Config::default();
/// # config.deployment.admin_enabled = false;
/// # let rt = watchkeeper::Runtime::start(config)?;
/// let report = rt.health_blocking()?;
/// let names: Vec<&str> = report.monitors.iter().map(|m| m.name.as_str()).collect();
/// assert_eq!(names, ["index", "search"]);
/// assert!(report.monitors.iter().all(|m| m.responsive && m.figures.total_operations == 0));
///
/// # rt.shutdown_blocking(std::time::Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonitorHealth {
    /// The monitor.
    pub name: String,
    /// Whether it answered within the ask timeout.
    pub responsive: bool,
    /// Its totals, the window's mean, counters and gauges (at their defaults when it did not
    /// answer); in JSON, fields of the monitor itself.
    #[serde(flatten)]
    pub figures: MonitorSummary,
}

/// Memory housekeeping and tuning, as the health report shows them.
///
/// # Examples
///
/// ```
/// # let mut config = watchkeeper::Config::default();
/// # config.deployment.admin_enabled = false;
/// # let rt = watchkeeper::Runtime::start(config)?;
/// let report = rt.health_blocking()?;
/// let optimization = &report.optimization;
/// assert_eq!(optimization.memory.as_ref().unwrap().limit_bytes, 512 << 20);
/// assert_eq!(optimization.tuning_actions, 0);
///
/// # rt.shutdown_blocking(std::time::Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OptimizationStatus {
    /// The memory manager's report; `None` if it did not answer.
    pub memory: Option<MemoryReport>,
    /// The tuner's profiles; empty if it did not answer.
    pub profiles: Vec<PerformanceProfile>,
    /// Tuning actions applied so far (kept, rolled back or pending).
    pub tuning_actions: usize,
}

/// The runtime's health.
///
/// # Examples
///
/// ```
/// # let mut config = watchkeeper::Config::default();
/// # config.deployment.admin_enabled = false;
/// # let rt = watchkeeper::Runtime::start(config)?;
/// let report = rt.health_blocking()?;
/// assert!(report.score > 25);
/// assert!(report.supervision.is_some() && report.alerting.is_some());
/// assert!(report.firing_alerts.is_empty());
/// assert_eq!(report.channels[0].channel, "log");
///
/// # rt.shutdown_blocking(std::time::Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SystemHealthReport {
    /// Overall.
    pub status: HealthStatus,
    /// 0 (down) to 100 (nothing to report).
    pub score: u8,
    /// What lowered the score.
    pub issues: Vec<String>,
    /// Since `Runtime::start`.
    #[serde(
        rename = "uptime_seconds",
        serialize_with = "watchkeeper_actors::duration_serde::seconds"
    )]
    pub uptime: Duration,
    /// Resource use of the process, from the operating system, with CPU use since the reading
    /// before (at least a tick earlier);
    /// `None` if the process monitor did not answer.
    pub process: Option<ProcessReport>,
    /// Supervision tree, restarts, failures; `None` if the root did not answer.
    pub supervision: Option<SupervisorStatus>,
    /// Monitors.
    pub monitors: Vec<MonitorHealth>,
    /// The alerting actor; `None` when alerting is disabled or it did not answer.
    pub alerting: Option<AlertingStatus>,
    /// Notification channels.
    pub channels: Vec<ChannelStatus>,
    /// Memory housekeeping and tuning.
    pub optimization: OptimizationStatus,
    /// Messages lost or refused by full or stopped mailboxes, all actors, since start.
    pub mailbox_drops: u64,
    /// The same within the health window (`deployment.health.window`, to the minute).
    pub recent_mailbox_drops: u64,
    /// Alerts firing now that nothing silences or inhibits.
    pub firing_alerts: Vec<FiringAlert>,
    /// The dependency checks (configured probes and the host's registered checks).
    pub checks: Vec<CheckStatus>,
    /// How the writes of the saved state have gone; `None` without a data directory
    /// (`storage.path`).
    pub storage: Option<crate::StorageStatus>,
    /// When this report was made.
    pub generated_at: DateTime<Utc>,
}

pub(crate) async fn assemble(tree: Arc<ActorTree>) -> SystemHealthReport {
    let timeout = tree.link.ask_timeout;
    let handles = tree.handles();
    let channels = tree.channels.entries();
    // Every actor is asked at once: the report takes as long as the slowest answer, not the sum.
    let health = tree.config.get().deployment.health.clone();
    let (
        supervision,
        answers,
        process,
        alerting,
        firing,
        channel_answers,
        memory,
        profiles,
        history,
    ) = futures_util::join!(
        tree.root.status(timeout),
        futures_util::future::join_all(handles.iter().map(|h| h.actor().ask(GetSummary, timeout))),
        tree.process.ask(GetProcessStats, timeout),
        tree.alerting.ask(GetAlertingStatus, timeout),
        tree.alerting.ask(GetFiring, timeout),
        futures_util::future::join_all(
            channels
                .iter()
                .map(|(_, c)| c.ask(GetChannelStatus, timeout))
        ),
        tree.memory.ask(GetMemoryReport, timeout),
        tree.tuner.ask(GetProfiles, timeout),
        tree.tuner.ask(GetTuningHistory, timeout),
    );
    let mut issues = Vec::new();
    let mut critical = 0u32;
    let mut warnings = 0u32;
    if let Some(reason) = tree.alarm.reason() {
        critical += 1;
        issues.push(reason);
    }
    let mut mailbox_drops = 0;
    let mut recent_drops: Vec<(String, u64)> = Vec::new();
    match &supervision {
        None => {
            critical += 1;
            issues.push(format!(
                "the root supervisor did not answer within {timeout:?}"
            ));
        }
        Some(status) => {
            for child in status.all_children() {
                if let Some(mb) = &child.mailbox {
                    mailbox_drops += mb.drops();
                    let recent = mb.drops_within(health.window_minutes());
                    if recent > 0 {
                        recent_drops.push((child.name.clone(), recent));
                    }
                }
                match child.state {
                    ChildState::Running => {}
                    ChildState::Restarting => {
                        warnings += 1;
                        issues.push(format!(
                            "`{}` is restarting after: {}",
                            child.name,
                            child.last_failure.as_deref().unwrap_or("a stop")
                        ));
                    }
                    ChildState::Stopped if !tree.alarm.escalated() => {
                        warnings += 1;
                        issues.push(format!("`{}` has stopped", child.name));
                    }
                    ChildState::Stopped => {}
                }
            }
            if status.restarts_in_window > 0 {
                warnings += 1;
                issues.push(format!(
                    "{} restarts within the intensity window",
                    status.restarts_in_window
                ));
            }
        }
    }
    let recent_mailbox_drops = recent_drops.iter().map(|(_, n)| n).sum();
    if recent_mailbox_drops > 0 {
        warnings += 1;
        let by: Vec<String> = recent_drops
            .iter()
            .map(|(child, n)| format!("`{child}` {n}"))
            .collect();
        issues.push(format!(
            "{recent_mailbox_drops} messages dropped or refused by full or stopped mailboxes within {} ({})",
            watchkeeper_actors::duration_serde::format(Duration::from_secs(
                60 * health.window_minutes() as u64
            )),
            by.join(", ")
        ));
    }
    let mut monitors = Vec::new();
    for (handle, answer) in handles.iter().zip(answers) {
        match answer {
            Ok(figures) => monitors.push(MonitorHealth {
                name: handle.name().to_owned(),
                responsive: true,
                figures,
            }),
            Err(e) => {
                warnings += 1;
                issues.push(format!(
                    "monitor `{}` is not responding: {e}",
                    handle.name()
                ));
                monitors.push(MonitorHealth {
                    name: handle.name().to_owned(),
                    responsive: false,
                    figures: MonitorSummary::default(),
                });
            }
        }
    }
    let process = match process {
        Ok(report) => Some(report),
        Err(e) => {
            warnings += 1;
            issues.push(format!("the process monitor is not responding: {e}"));
            None
        }
    };
    let alerting = match alerting {
        Ok(s) => Some(s),
        Err(e) => {
            warnings += 1;
            issues.push(format!("the alerting actor is not responding: {e}"));
            None
        }
    };
    let firing_alerts = firing.unwrap_or_default();
    for alert in &firing_alerts {
        let (effect, severity) = match alert.severity {
            AlertSeverity::Critical => (health.critical_alerts, "critical"),
            AlertSeverity::Warning => (health.warning_alerts, "warning"),
        };
        let place = ["instance", "monitor"]
            .iter()
            .filter_map(|k| alert.labels.get(*k).map(|v| format!("{k}={v}")))
            .collect::<Vec<_>>();
        let mut note = format!("{severity} alert `{}` is firing", alert.name);
        if !place.is_empty() {
            note.push_str(&format!(" ({})", place.join(", ")));
        }
        if let Some(by) = &alert.acknowledged_by {
            note.push_str(&format!("; acknowledged by {by}"));
        }
        match effect {
            AlertEffect::Ignore => continue,
            AlertEffect::Warn => warnings += 1,
            AlertEffect::Fail => critical += 1,
        }
        issues.push(note);
    }
    let checks: Vec<CheckStatus> = tree.probe_state.lock().status.values().cloned().collect();
    for c in &checks {
        if c.up != Some(false) {
            continue;
        }
        let error = c.last_error.as_deref().unwrap_or("failed");
        if c.critical {
            critical += 1;
            issues.push(format!("critical dependency `{}` is down: {error}", c.name));
        } else {
            warnings += 1;
            issues.push(format!("dependency `{}` is down: {error}", c.name));
        }
    }
    let storage = tree.storage_status();
    if let Some(s) = &storage {
        if let Some(since) = s.failing_since {
            warnings += 1;
            let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            issues.push(format!(
                "the state cannot be saved in {} since {}: {}; what changed since {} (silences, acknowledgements, alert states) is in force but would not survive a restart",
                s.path.display(),
                time(since),
                s.last_error.as_deref().unwrap_or("the write failed"),
                s.last_written_at.map_or("the start".to_owned(), time),
            ));
        }
    }
    let mut channel_status = Vec::new();
    for ((name, _), answer) in channels.iter().zip(channel_answers) {
        match answer {
            Ok(s) => {
                if s.breaker_open {
                    warnings += 1;
                    issues.push(format!(
                        "channel `{name}` is failing: its circuit breaker is open"
                    ));
                }
                channel_status.push(s);
            }
            Err(e) => {
                warnings += 1;
                issues.push(format!("channel `{name}` is not responding: {e}"));
            }
        }
    }
    let memory = memory.ok();
    match &memory {
        None => {
            warnings += 1;
            issues.push("the memory manager is not responding".to_owned());
        }
        Some(m) if m.over_limit_alert => {
            warnings += 1;
            issues.push(format!(
                "resident memory is over the {} MiB limit",
                m.limit_bytes >> 20
            ));
        }
        Some(_) => {}
    }
    if profiles.is_err() {
        warnings += 1;
        issues.push("the tuner is not responding".to_owned());
    }
    let optimization = OptimizationStatus {
        memory,
        profiles: profiles.unwrap_or_default(),
        tuning_actions: history.map_or(0, |h| h.len()),
    };
    let status = if critical > 0 {
        HealthStatus::Critical
    } else if warnings > 0 {
        HealthStatus::Warning
    } else {
        HealthStatus::Healthy
    };
    let score = 100u32.saturating_sub(50 * critical + 10 * warnings) as u8;
    SystemHealthReport {
        status,
        score: if critical > 0 { score.min(25) } else { score },
        issues,
        uptime: tree.started.elapsed(),
        process,
        supervision,
        monitors,
        alerting,
        channels: channel_status,
        optimization,
        mailbox_drops,
        recent_mailbox_drops,
        firing_alerts,
        checks,
        storage,
        generated_at: Utc::now(),
    }
}
