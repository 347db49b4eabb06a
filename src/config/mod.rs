//! Configuration: one section per subsystem, each owned by that subsystem; RON files with human
//! durations; validation and a deployment checklist.
//!
//! | section | type | owned by |
//! | --- | --- | --- |
//! | `monitoring` | [`MonitoringConfig`] | the monitors |
//! | `alerting` | [`AlertingConfig`] (with `channels`: [`ChannelsConfig`]) | the alerting actor and notifiers |
//! | `memory` | [`MemoryConfig`] | the memory manager |
//! | `tuning` | [`TuningConfig`] | the tuner |
//! | `probes` | [`ProbesConfig`] | the dependency checks |
//! | `instrumentation` | [`InstrumentationConfig`] | the host's `metrics` macros and `tracing` spans |
//! | `storage` | [`StorageConfig`] | what survives the process |
//! | `supervisor` | [`SupervisorConfig`] | the supervision kernel |
//! | `deployment` | [`DeploymentConfig`] | the runtime, its admin server and the command |
//!
//! A file may hold any subset of fields: what it leaves out takes its default, written once in the
//! section's `Default`. [`Config::default`] equals the embedded `config/default.ron`, the documented
//! reference. [`Config::from_file`] names the file, line, column and field path of anything it cannot
//! parse (an unknown field included). [`Config::validate`] runs each section's own checks, nests
//! their findings under the section's name, and adds the checks that span sections;
//! [`Config::checklist`] marks deployment items already satisfied.

mod load;
pub(crate) use load::locate;
mod locate;

use std::time::Duration;

use serde::{Deserialize, Serialize};
pub use watchkeeper_actors::alerting::{
    AlertRule, AlertingConfig, Comparison, EscalationConfig, InhibitRule, Matcher, Metric,
    RateLimitConfig, RegressionSettings, RouteConfig, RuleKind, SilencesConfig, TrendSettings,
};
pub use watchkeeper_actors::kernel::validation::{Finding, Severity, Validation};
pub use watchkeeper_actors::memory::MemoryConfig;
pub use watchkeeper_actors::monitor::{HistogramBounds, MonitoringConfig};
pub use watchkeeper_actors::notify::{
    AlertmanagerChannel, ChannelsConfig, DeliveryPolicy, EmailChannel, LogChannel, NamedChannel,
    Secret, SlackChannel, SmtpSecurity, WebhookChannel,
};
pub use watchkeeper_actors::probe::{ProbeDef, ProbeTarget, ProbesConfig};
pub use watchkeeper_actors::tuner::TuningConfig;
pub use watchkeeper_actors::{Backoff, RestartIntensity, Strategy, SupervisorConfig};

pub use self::load::ConfigError;
pub use crate::deployment::{
    AdminLimits, AlertEffect, DeploymentConfig, Environment, HealthConfig,
};
pub use crate::instrument::{InstrumentationConfig, SpanTime, TimeUnit};
pub use crate::storage::StorageConfig;

/// The embedded default configuration file, every field documented.
pub const DEFAULT_RON: &str = include_str!("../../config/default.ron");

/// The whole runtime configuration: one section per subsystem.
///
/// # Examples
///
/// ```
/// use watchkeeper::Config;
///
/// let config = Config::from_ron(r#"(
///     monitoring: (monitors: ["search"], tick: "500ms"),
///     deployment: (admin_enabled: false),
/// )"#)?;
/// assert_eq!(config.monitoring.tick, std::time::Duration::from_millis(500));
/// assert_eq!(config.alerting, Config::default().alerting);
/// assert!(!config.validate().has_errors());
/// # Ok::<(), watchkeeper::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Monitors, collection and histogram bounds.
    pub monitoring: MonitoringConfig,
    /// Alert rules, routing and notification channels.
    pub alerting: AlertingConfig,
    /// Memory housekeeping.
    pub memory: MemoryConfig,
    /// Automatic tuning.
    pub tuning: TuningConfig,
    /// The host's dependencies, checked for readiness.
    pub probes: ProbesConfig,
    /// How the host's `metrics` macros and `tracing` spans map onto monitors.
    pub instrumentation: InstrumentationConfig,
    /// Where the state that survives the process is kept.
    pub storage: StorageConfig,
    /// How the root supervisor restarts failed actors, and how actors are run.
    pub supervisor: SupervisorConfig,
    /// Where the runtime runs and listens.
    pub deployment: DeploymentConfig,
}

/// One item of the deployment checklist.
///
/// # Examples
///
/// ```
/// use watchkeeper::Config;
///
/// let mut config = Config::default();
/// config.deployment.environment = watchkeeper::config::Environment::Production;
/// let checklist = config.checklist();
/// let production = checklist.iter().find(|i| i.item == "Environment set to production").unwrap();
/// assert!(production.complete);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChecklistItem {
    /// What to do.
    pub item: String,
    /// Whether the configuration already does it.
    pub complete: bool,
}

impl Config {
    /// Checks the configuration: errors (the runtime refuses to start or reload with them),
    /// warnings and recommendations, most serious first, each naming its field path.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        let production = self.deployment.production();
        v.nest("monitoring", self.monitoring.validate());
        v.nest("alerting", self.alerting.validate());
        v.nest("memory", self.memory.validate(production));
        v.nest("tuning", self.tuning.validate());
        v.nest("probes", self.probes.validate());
        v.nest("instrumentation", self.instrumentation.validate());
        v.nest("storage", self.storage.validate());
        v.nest("supervisor", self.supervisor.validate());
        v.nest("deployment", self.deployment.validate());
        self.cross_checks(&mut v);
        v.sort();
        v
    }

    /// The checks that span sections.
    fn cross_checks(&self, v: &mut Validation) {
        let m = &self.monitoring;
        let a = &self.alerting;
        for (i, name) in m.monitors.iter().enumerate() {
            if let Some(problem) = crate::tree::taken_name(name, self) {
                v.error(
                    format!("monitoring.monitors[{i}]"),
                    format!("`{name}` {problem}; give the monitor another name"),
                );
            }
        }
        for (i, rule) in a.rules.iter().enumerate() {
            if let (true, Some(name)) = (rule.metric.per_monitor(), &rule.monitor) {
                if !m.monitors.contains(name) {
                    v.warning(
                        format!("alerting.rules[{i}].monitor"),
                        format!("`{name}` is not among monitoring.monitors; it alerts only once the host creates it"),
                    );
                }
            }
        }
        if a.enabled && !m.tick.is_zero() && a.check_interval < m.tick {
            v.warning(
                "alerting.check_interval",
                format!(
                    "shorter than monitoring.tick ({}): rules see new figures only once a tick",
                    watchkeeper_actors::duration_serde::format(m.tick)
                ),
            );
        }
        if self.tuning.effect_delay < m.tick * 2 {
            v.warning(
                "tuning.effect_delay",
                "shorter than two monitor ticks: effects are measured before they show",
            );
        }
        if self.memory.trim_keep_intervals > m.window && m.window > 0 {
            v.recommend(
                "memory.trim_keep_intervals",
                format!(
                    "{} is more than monitoring.window ({}): trims release no monitor history",
                    self.memory.trim_keep_intervals, m.window
                ),
            );
        }
    }

    /// This configuration with every secret given in place replaced by `<redacted>` (secrets read
    /// from the environment keep their variable's name), and the login and query of Alertmanager
    /// and HTTP probe URLs too, for showing it.
    pub fn redacted(&self) -> Config {
        let hide = |s: &mut Option<Secret>| {
            if let Some(Secret::Value(v)) = s {
                *v = "<redacted>".into();
            }
        };
        let hide_one = |s: &mut Secret| {
            if let Secret::Value(v) = s {
                *v = "<redacted>".into();
            }
        };
        let mut c = self.clone();
        let ch = &mut c.alerting.channels;
        hide(&mut ch.webhook.url);
        hide(&mut ch.slack.webhook_url);
        hide(&mut ch.email.username);
        hide(&mut ch.email.password);
        for named in ch.named.values_mut() {
            match named {
                NamedChannel::Webhook { url } => hide_one(url),
                NamedChannel::Slack { webhook_url, .. } => hide_one(webhook_url),
                NamedChannel::Email(e) => {
                    hide(&mut e.username);
                    hide(&mut e.password);
                }
            }
        }
        hide(&mut c.deployment.admin_token);
        // URLs written as plain text may still carry a login or a token
        for url in &mut c.alerting.channels.alertmanager.urls {
            *url = url_without_credentials(url);
        }
        for check in &mut c.probes.checks {
            if let ProbeTarget::Http(url) = &mut check.target {
                *url = url_without_credentials(url);
            }
        }
        c
    }

    /// The deployment checklist, each item marked complete when this configuration satisfies it.
    pub fn checklist(&self) -> Vec<ChecklistItem> {
        let a = &self.alerting;
        let d = &self.deployment;
        let ip_loopback = d
            .bind_address
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
        // a login's user name is not secret; its password is
        let in_env = a
            .channels
            .secrets()
            .iter()
            .filter(|s| !s.field.ends_with("username"))
            .map(|s| s.secret)
            .chain(&d.admin_token)
            .all(|s| !matches!(s, Secret::Value(_)));
        let items = [
            (
                "Memory limit of at least 256 MB",
                self.memory.max_memory_usage_mb >= 256,
            ),
            (
                "Memory measured at most every minute or less often",
                self.memory.memory_cleanup_interval >= Duration::from_secs(60),
            ),
            (
                "Alerting enabled with at least one rule",
                a.enabled && !a.rules.is_empty(),
            ),
            (
                "A notification channel other than the log",
                a.channels.enabled().iter().any(|c| *c != "log"),
            ),
            (
                "Escalation beyond the first receiver",
                !a.escalation.tiers.is_empty() || a.routes.iter().any(|r| r.escalation.is_some()),
            ),
            ("Automatic tuning enabled", self.tuning.enabled),
            (
                "Prometheus metrics served",
                d.admin_enabled && d.metrics_enabled,
            ),
            (
                "Admin server on loopback or protected by a token",
                ip_loopback || d.admin_token.is_some(),
            ),
            ("Secrets read from environment variables", in_env),
            ("Environment set to production", d.production()),
            (
                "No validation errors or warnings",
                self.validate()
                    .findings
                    .iter()
                    .all(|f| f.severity == Severity::Recommendation),
            ),
        ];
        items
            .into_iter()
            .map(|(item, complete)| ChecklistItem {
                item: item.into(),
                complete,
            })
            .collect()
    }
}

/// `url` with a login (`user:password@`) and a query (`?token=...`) replaced by `<redacted>`.
fn url_without_credentials(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = rest
        .find(['/', '?', '#'])
        .map_or((rest, ""), |i| rest.split_at(i));
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("<redacted>@{host}"),
        None => authority.to_owned(),
    };
    let path = match path.split_once('?') {
        Some((before, _)) => format!("{before}?<redacted>"),
        None => path.to_owned(),
    };
    let scheme = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    format!("{scheme}{authority}{path}")
}
