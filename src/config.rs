//! Configuration: RON files with human durations; validation and a deployment checklist.
//!
//! [`Config::default`] equals the embedded `config/default.ron` (which documents every field);
//! [`Config::from_file`] loads another and names the file, line, column and field path of anything it
//! cannot parse. [`Config::validate`] sorts what it finds into errors (the runtime refuses to start),
//! warnings and recommendations; [`Config::checklist`] marks deployment items already satisfied.
//! Sections: `monitoring`, `alerting`, `optimization`, `supervisor`, `deployment`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
pub use watchkeeper_actors::alerting::{
    AlertRule, Comparison, EscalationConfig, Metric, RateLimitConfig, RegressionSettings, RuleKind,
    TrendSettings,
};
use watchkeeper_actors::duration_serde;
pub use watchkeeper_actors::notify::{DeliveryPolicy, SmtpSecurity};
pub use watchkeeper_actors::{
    Backoff, HistogramBounds, RestartIntensity, Strategy, SupervisorConfig,
};

/// The embedded default configuration file.
pub const DEFAULT_RON: &str = include_str!("../config/default.ron");

/// The whole runtime configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Monitors, collection and mailboxes.
    pub monitoring: MonitoringConfig,
    /// Alert rules and notification channels.
    pub alerting: AlertingConfig,
    /// Memory housekeeping and automatic tuning.
    pub optimization: OptimizationConfig,
    /// How the root supervisor restarts failed actors.
    pub supervisor: SupervisorConfig,
    /// Where the runtime runs and listens.
    pub deployment: DeploymentConfig,
}

/// Monitors, collection and mailboxes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Monitors started with the runtime (more are created on first use).
    pub monitors: Vec<String>,
    /// The most monitors the runtime will hold.
    pub max_monitors: usize,
    /// How often each monitor collects recorded samples.
    #[serde(with = "duration_serde")]
    pub tick: Duration,
    /// Ticks kept in the rolling window.
    pub window: usize,
    /// Latency histogram bounds and precision.
    pub histogram: HistogramBounds,
    /// Messages each actor's mailbox holds.
    pub mailbox_capacity: usize,
    /// How long a question to an actor may take.
    #[serde(with = "duration_serde")]
    pub ask_timeout: Duration,
    /// A handler running longer than this is reported by the watchdog.
    #[serde(with = "duration_serde")]
    pub watchdog_budget: Duration,
}

/// A secret: given in the file, or read from an environment variable when used. Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Secret {
    /// The value itself.
    Value(String),
    /// The name of the environment variable holding it.
    Env(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Value(_) => f.write_str("Secret(<redacted>)"),
            Secret::Env(name) => write!(f, "Secret(env {name})"),
        }
    }
}

impl Secret {
    /// The secret's value.
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            Secret::Value(v) => Ok(v.clone()),
            Secret::Env(name) => {
                std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
            }
        }
    }
}

/// The log channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogChannel {
    /// Whether alerts are logged.
    pub enabled: bool,
}

/// A generic webhook (Alertmanager webhook format, version 4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannel {
    /// Whether it is used.
    pub enabled: bool,
    /// Where to POST.
    pub url: Option<Secret>,
}

/// A Slack incoming webhook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackChannel {
    /// Whether it is used.
    pub enabled: bool,
    /// The incoming-webhook URL.
    pub webhook_url: Option<Secret>,
    /// Channel override.
    pub channel: Option<String>,
}

/// Email over SMTP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChannel {
    /// Whether it is used.
    pub enabled: bool,
    /// SMTP server host.
    pub smtp_host: String,
    /// SMTP server port.
    pub smtp_port: u16,
    /// `none` (a local relay), `starttls` or `tls`.
    pub security: SmtpSecurity,
    /// SMTP user name.
    pub username: Option<Secret>,
    /// SMTP password.
    pub password: Option<Secret>,
    /// Sender address.
    pub from: String,
    /// Recipient addresses.
    pub recipients: Vec<String>,
}

/// Alertmanager's v2 API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerChannel {
    /// Whether it is used.
    pub enabled: bool,
    /// Base URL, e.g. `http://127.0.0.1:9093`.
    pub url: Option<String>,
    /// Firing alerts are re-sent this often.
    #[serde(with = "duration_serde")]
    pub resend_interval: Duration,
}

/// Notification channels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsConfig {
    /// Retries, deadline and circuit breaker, for every channel.
    pub delivery: DeliveryPolicy,
    /// The log.
    pub log: LogChannel,
    /// A generic webhook.
    pub webhook: WebhookChannel,
    /// Slack.
    pub slack: SlackChannel,
    /// Email.
    pub email: EmailChannel,
    /// Alertmanager.
    pub alertmanager: AlertmanagerChannel,
}

impl ChannelsConfig {
    /// Names of the enabled channels.
    pub fn enabled(&self) -> Vec<&'static str> {
        [
            ("log", self.log.enabled),
            ("webhook", self.webhook.enabled),
            ("slack", self.slack.enabled),
            ("email", self.email.enabled),
            ("alertmanager", self.alertmanager.enabled),
        ]
        .into_iter()
        .filter_map(|(n, on)| on.then_some(n))
        .collect()
    }
}

/// Alert rules and notification channels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Whether rules are evaluated.
    pub enabled: bool,
    /// How often rules are evaluated.
    #[serde(with = "duration_serde")]
    pub check_interval: Duration,
    /// Labels that group alerts into one notification.
    pub group_by: Vec<String>,
    /// Wait before the first notification of a new group.
    #[serde(with = "duration_serde")]
    pub group_wait: Duration,
    /// Wait before notifying a group about new alerts.
    #[serde(with = "duration_serde")]
    pub group_interval: Duration,
    /// Wait before re-sending an unchanged firing group.
    #[serde(with = "duration_serde")]
    pub repeat_interval: Duration,
    /// An alert firing again within this of resolving is not notified until it has fired this long.
    #[serde(with = "duration_serde")]
    pub suppression_window: Duration,
    /// Resolved alerts kept in history.
    pub history_limit: usize,
    /// Labels added to every alert, e.g. `{"instance": "indexer-1"}` (Prometheus' external_labels),
    /// so alerts from many processes stay apart in Alertmanager.
    pub external_labels: BTreeMap<String, String>,
    /// The rules.
    pub rules: Vec<AlertRule>,
    /// The channels.
    pub channels: ChannelsConfig,
    /// Escalation tiers.
    pub escalation: EscalationConfig,
    /// Rate limits.
    pub rate_limit: RateLimitConfig,
}

/// Memory housekeeping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// The process's memory budget, MiB.
    pub max_memory_usage_mb: u64,
    /// Fraction of the budget at which actors are asked to trim (0 to 1).
    pub gc_trigger_threshold: f64,
    /// How often memory is measured.
    #[serde(with = "duration_serde")]
    pub memory_cleanup_interval: Duration,
    /// Intervals of history monitors keep when trimmed.
    pub trim_keep_intervals: usize,
    /// Resolved alerts and tuning actions kept when trimmed.
    pub trim_keep_history: usize,
    /// Checks over the limit in a row before the `MemoryOverLimit` alert fires.
    pub alert_after_checks: u32,
}

/// Automatic tuning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningConfig {
    /// Whether tuning actions are applied (suggestions are made either way).
    pub enabled: bool,
    /// How often profiles are rebuilt.
    #[serde(with = "duration_serde")]
    pub performance_analysis_interval: Duration,
    /// Sampling is reduced when the latency's coefficient of variation is below this.
    pub adaptive_sampling_threshold: f64,
    /// Sampling is reduced above this many operations per second.
    pub high_throughput_per_second: f64,
    /// The smallest sampling fraction tuning may set.
    pub min_sample_fraction: f64,
    /// Latency samples per second tuning aims to keep when it reduces sampling.
    pub target_samples_per_second: f64,
    /// A window holding fewer operations than this is lengthened.
    pub min_window_operations: u64,
    /// The longest window tuning sets, in ticks.
    pub max_window: usize,
    /// How long after an action its effect is measured (then kept or rolled back).
    #[serde(with = "duration_serde")]
    pub effect_delay: Duration,
}

/// Memory housekeeping and automatic tuning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizationConfig {
    /// Memory.
    pub memory: MemoryConfig,
    /// Tuning.
    pub tuning: TuningConfig,
}

/// Where the runtime runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// A developer's machine.
    Development,
    /// Pre-production.
    Staging,
    /// Production.
    Production,
}

/// Where the runtime runs and listens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// The environment.
    pub environment: Environment,
    /// Log level for the `watchkeeper run` command (`error` to `trace`).
    pub log_level: String,
    /// Whether the admin HTTP server runs.
    pub admin_enabled: bool,
    /// Admin HTTP address.
    pub bind_address: String,
    /// Admin HTTP port (0 picks a free one).
    pub health_check_port: u16,
    /// Whether `/metrics` is served.
    pub metrics_enabled: bool,
    /// Bearer token the mutating admin endpoints require.
    pub admin_token: Option<Secret>,
}

impl Default for Config {
    fn default() -> Self {
        let secs = Duration::from_secs;
        Config {
            monitoring: MonitoringConfig {
                monitors: vec!["search".into(), "index".into()],
                max_monitors: 64,
                tick: secs(1),
                window: 60,
                histogram: HistogramBounds::default(),
                mailbox_capacity: 1024,
                ask_timeout: secs(2),
                watchdog_budget: Duration::from_millis(250),
            },
            alerting: AlertingConfig {
                enabled: true,
                check_interval: secs(10),
                group_by: vec!["alertname".into(), "monitor".into()],
                group_wait: secs(30),
                group_interval: secs(300),
                repeat_interval: secs(4 * 3600),
                suppression_window: secs(300),
                history_limit: 1000,
                external_labels: BTreeMap::new(),
                rules: vec![AlertRule {
                    warning: Some(0.1),
                    critical: Some(0.5),
                    for_: secs(60),
                    labels: BTreeMap::from([("team".into(), "search".into())]),
                    annotations: BTreeMap::from([(
                        "summary".into(),
                        "search p99 latency is {value}s (threshold {threshold}s)".into(),
                    )]),
                    ..AlertRule::new("SearchLatencyHigh", Some("search"), Metric::P99)
                }],
                channels: ChannelsConfig {
                    delivery: DeliveryPolicy {
                        retries: 3,
                        backoff_min: Duration::from_millis(500),
                        backoff_max: secs(30),
                        attempt_timeout: secs(10),
                        deadline: secs(300),
                        breaker_failures: 5,
                        breaker_reset: secs(60),
                        outbox_capacity: 256,
                    },
                    log: LogChannel { enabled: true },
                    webhook: WebhookChannel {
                        enabled: false,
                        url: None,
                    },
                    slack: SlackChannel {
                        enabled: false,
                        webhook_url: None,
                        channel: None,
                    },
                    email: EmailChannel {
                        enabled: false,
                        smtp_host: "127.0.0.1".into(),
                        smtp_port: 25,
                        security: SmtpSecurity::None,
                        username: None,
                        password: None,
                        from: "watchkeeper@localhost".into(),
                        recipients: vec![],
                    },
                    alertmanager: AlertmanagerChannel {
                        enabled: false,
                        url: None,
                        resend_interval: secs(60),
                    },
                },
                escalation: EscalationConfig {
                    timeout: secs(900),
                    tiers: vec![vec!["log".into()]],
                },
                rate_limit: RateLimitConfig {
                    per_minute: 10,
                    per_hour: 100,
                },
            },
            optimization: OptimizationConfig {
                memory: MemoryConfig {
                    max_memory_usage_mb: 512,
                    gc_trigger_threshold: 0.8,
                    memory_cleanup_interval: secs(300),
                    trim_keep_intervals: 10,
                    trim_keep_history: 100,
                    alert_after_checks: 3,
                },
                tuning: TuningConfig {
                    enabled: true,
                    performance_analysis_interval: secs(60),
                    adaptive_sampling_threshold: 0.1,
                    high_throughput_per_second: 1000.0,
                    min_sample_fraction: 0.01,
                    target_samples_per_second: 1000.0,
                    min_window_operations: 100,
                    max_window: 600,
                    effect_delay: secs(10),
                },
            },
            supervisor: SupervisorConfig::default(),
            deployment: DeploymentConfig {
                environment: Environment::Development,
                log_level: "info".into(),
                admin_enabled: true,
                bind_address: "127.0.0.1".into(),
                health_check_port: 8080,
                metrics_enabled: true,
                admin_token: None,
            },
        }
    }
}

/// A configuration that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when it came from one.
    pub file: Option<PathBuf>,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The field, as a path from the top (`alerting.rules[0].for`), when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = self
            .file
            .as_ref()
            .map_or_else(|| "<config>".to_owned(), |p| p.display().to_string());
        match self.position {
            Some((line, col)) => write!(f, "{file}:{line}:{col}: ")?,
            None => write!(f, "{file}: ")?,
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something to consider.
    Recommendation,
    /// Works, but probably not as intended.
    Warning,
    /// Unusable: the runtime refuses to start.
    Error,
}

/// One thing validation found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// The field path.
    pub field: String,
    /// What and why.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Recommendation => "recommendation",
        };
        write!(f, "{label}: {}: {}", self.field, self.message)
    }
}

/// Everything validation found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Validation {
    /// Findings, most serious first.
    pub findings: Vec<Finding>,
}

impl Validation {
    /// Findings of one severity.
    pub fn of(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity == severity)
    }

    /// Whether there is any error.
    pub fn has_errors(&self) -> bool {
        self.of(Severity::Error).next().is_some()
    }

    fn push(&mut self, severity: Severity, field: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            severity,
            field: field.into(),
            message: message.into(),
        });
    }
}

impl std::fmt::Display for Validation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        Ok(())
    }
}

/// One item of the deployment checklist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChecklistItem {
    /// What to do.
    pub item: String,
    /// Whether the configuration already does it.
    pub complete: bool,
}

/// Errors in the settings of `regression`, `anomaly` and `trend` rules and in what their
/// thresholds may be.
fn rule_kind_problems(rule: &AlertRule, field: &dyn Fn(&str) -> String, v: &mut Validation) {
    let thresholds = [("warning", rule.warning), ("critical", rule.critical)];
    let unit = |x: f64| x > 0.0 && x < 1.0;
    match rule.kind {
        RuleKind::Threshold => {}
        RuleKind::Regression => {
            let r = &rule.regression;
            if r.reference < 5 || r.recent < 5 {
                v.push(
                    Severity::Error,
                    field("regression"),
                    format!(
                        "reference ({}) and recent ({}) need at least 5 values each",
                        r.reference, r.recent
                    ),
                );
            }
            for (name, p) in [
                ("max_p_value", r.max_p_value),
                ("stable_p_value", r.stable_p_value),
            ] {
                if !unit(p) {
                    v.push(
                        Severity::Error,
                        field(&format!("regression.{name}")),
                        format!("a p-value in (0, 1), not {p}"),
                    );
                }
            }
            for (which, x) in thresholds {
                if x.is_some_and(|x| x.is_finite() && x <= 0.0) {
                    v.push(Severity::Error, field(which), "a regression rule's thresholds are effect sizes (Cohen's d) above 0, e.g. 0.8 and 2");
                }
            }
        }
        RuleKind::Anomaly => {
            if !rule.for_.is_zero() {
                v.push(Severity::Warning, field("for"), "an anomaly score is held down after a detection, so it breaches for one evaluation: with `for` above 0 the rule never fires (use keep_firing_for to keep the alert up)");
            }
            if let Some(problem) = rule.anomaly.problem() {
                v.push(Severity::Error, field("anomaly"), problem);
            }
            for (which, x) in thresholds {
                if x.is_some_and(|x| x.is_finite() && !(x > 0.0 && x <= 1.0)) {
                    v.push(
                        Severity::Error,
                        field(which),
                        "an anomaly rule's thresholds are scores in (0, 1]",
                    );
                }
            }
        }
        RuleKind::Trend => {
            let t = &rule.trend;
            if t.points < 3 {
                v.push(
                    Severity::Error,
                    field("trend.points"),
                    format!("a line needs at least 3 points, not {}", t.points),
                );
            }
            if t.horizon.is_zero() {
                v.push(
                    Severity::Error,
                    field("trend.horizon"),
                    "a forecast needs a horizon above 0",
                );
            }
            if !(0.0..=1.0).contains(&t.min_r_squared) {
                v.push(
                    Severity::Error,
                    field("trend.min_r_squared"),
                    format!("R² is in [0, 1], not {}", t.min_r_squared),
                );
            }
        }
    }
}

fn valid_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

fn valid_email(address: &str) -> bool {
    matches!(address.split_once('@'), Some((user, host)) if !user.is_empty() && !host.is_empty() && !address.contains(char::is_whitespace))
}

impl Config {
    /// Parses RON text; errors name the line, column and field path.
    pub fn from_ron(text: &str) -> Result<Config, ConfigError> {
        let mut de = ron::Deserializer::from_str(text).map_err(|e| ConfigError {
            file: None,
            position: Some((e.position.line, e.position.col)),
            field: None,
            message: e.code.to_string(),
        })?;
        let parsed: Result<Config, _> = serde_path_to_error::deserialize(&mut de);
        let config = parsed.map_err(|e| {
            let path = e.path().to_string();
            let spanned = de.span_error(e.into_inner());
            ConfigError {
                file: None,
                position: Some((spanned.position.line, spanned.position.col)),
                field: (path != ".").then_some(path),
                message: spanned.code.to_string(),
            }
        })?;
        de.end().map_err(|e| {
            let spanned = de.span_error(e);
            ConfigError {
                file: None,
                position: Some((spanned.position.line, spanned.position.col)),
                field: None,
                message: spanned.code.to_string(),
            }
        })?;
        Ok(config)
    }

    /// Loads a RON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_owned()),
            position: None,
            field: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::from_ron(&text).map_err(|e| ConfigError {
            file: Some(path.to_owned()),
            ..e
        })
    }

    /// Pretty RON text of this configuration.
    pub fn to_ron(&self) -> String {
        let pretty = ron::ser::PrettyConfig::default().struct_names(false);
        ron::ser::to_string_pretty(self, pretty)
            .unwrap_or_else(|e| format!("// cannot serialize: {e}"))
    }

    /// Writes this configuration as pretty RON.
    pub fn save(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_ron())
    }

    /// Checks the configuration: errors (the runtime refuses to start), warnings, recommendations.
    pub fn validate(&self) -> Validation {
        use Severity::{Error, Recommendation, Warning};
        let mut v = Validation::default();
        let m = &self.monitoring;
        let production = self.deployment.environment == Environment::Production;

        if let Err(e) = m.histogram.layout() {
            v.push(Error, "monitoring.histogram", e);
        }
        if m.monitors.is_empty() {
            v.push(Error, "monitoring.monitors", "no monitors configured");
        } else if m.monitors.len() > 10 {
            v.push(
                Recommendation,
                "monitoring.monitors",
                format!(
                    "{} monitors; more than 10 costs memory on every recording thread",
                    m.monitors.len()
                ),
            );
        }
        if m.max_monitors == 0 {
            v.push(Error, "monitoring.max_monitors", "must be at least 1");
        } else if m.monitors.len() > m.max_monitors {
            v.push(
                Error,
                "monitoring.max_monitors",
                format!(
                    "{} monitors configured but at most {} allowed",
                    m.monitors.len(),
                    m.max_monitors
                ),
            );
        }
        if m.window == 0 {
            v.push(Error, "monitoring.window", "must be at least 1");
        }
        if m.mailbox_capacity == 0 {
            v.push(Error, "monitoring.mailbox_capacity", "must be at least 1");
        } else if m.mailbox_capacity < 1000 {
            v.push(
                Warning,
                "monitoring.mailbox_capacity",
                format!(
                    "{} is small; bursts will be refused (at least 1000 suggested)",
                    m.mailbox_capacity
                ),
            );
        }

        let mut durations = vec![
            ("monitoring.tick", m.tick),
            ("monitoring.ask_timeout", m.ask_timeout),
            ("monitoring.watchdog_budget", m.watchdog_budget),
            (
                "supervisor.intensity.within",
                self.supervisor.intensity.within,
            ),
            (
                "optimization.memory.memory_cleanup_interval",
                self.optimization.memory.memory_cleanup_interval,
            ),
            (
                "optimization.tuning.performance_analysis_interval",
                self.optimization.tuning.performance_analysis_interval,
            ),
        ];
        let a = &self.alerting;
        durations.extend([
            ("alerting.check_interval", a.check_interval),
            ("alerting.group_interval", a.group_interval),
            ("alerting.repeat_interval", a.repeat_interval),
            ("alerting.escalation.timeout", a.escalation.timeout),
            (
                "alerting.channels.delivery.deadline",
                a.channels.delivery.deadline,
            ),
            (
                "alerting.channels.alertmanager.resend_interval",
                a.channels.alertmanager.resend_interval,
            ),
        ]);
        for (field, d) in durations {
            if d.is_zero() {
                v.push(Error, field, "must be positive");
            }
        }

        let b = &self.supervisor.backoff;
        if !(0.0..=1.0).contains(&b.jitter) {
            v.push(
                Error,
                "supervisor.backoff.jitter",
                format!("must be within 0 and 1, not {}", b.jitter),
            );
        }
        if b.min > b.max {
            v.push(Error, "supervisor.backoff", "min must not exceed max");
        }
        if self.supervisor.intensity.max_restarts == 0 {
            v.push(
                Warning,
                "supervisor.intensity.max_restarts",
                "0: the first failure escalates",
            );
        }

        let mem = &self.optimization.memory;
        let limit = mem.max_memory_usage_mb;
        if limit < 64 {
            v.push(
                Error,
                "optimization.memory.max_memory_usage_mb",
                format!("{limit} MB is below the 64 MB minimum"),
            );
        } else if limit < 128 || (production && limit < 256) {
            let floor = if production { 256 } else { 128 };
            v.push(
                Warning,
                "optimization.memory.max_memory_usage_mb",
                format!("{limit} MB is below {floor} MB"),
            );
        }
        if !(mem.gc_trigger_threshold > 0.0 && mem.gc_trigger_threshold <= 1.0) {
            v.push(
                Error,
                "optimization.memory.gc_trigger_threshold",
                format!("must be within (0, 1], not {}", mem.gc_trigger_threshold),
            );
        }
        if !mem.memory_cleanup_interval.is_zero()
            && mem.memory_cleanup_interval < Duration::from_secs(60)
        {
            v.push(
                Warning,
                "optimization.memory.memory_cleanup_interval",
                "under one minute: measuring costs more than it saves",
            );
        }
        let t = &self.optimization.tuning;
        if !t.enabled {
            v.push(
                Recommendation,
                "optimization.tuning.enabled",
                "tuning is disabled; enable it to adapt sampling and windows to the load",
            );
        }
        if t.effect_delay < m.tick * 2 {
            v.push(
                Warning,
                "optimization.tuning.effect_delay",
                "shorter than two monitor ticks: effects are measured before they show",
            );
        }
        if t.max_window == 0 {
            v.push(
                Error,
                "optimization.tuning.max_window",
                "must be at least 1",
            );
        }
        if !(t.min_sample_fraction > 0.0 && t.min_sample_fraction <= 1.0) {
            v.push(
                Error,
                "optimization.tuning.min_sample_fraction",
                format!("must be within (0, 1], not {}", t.min_sample_fraction),
            );
        }
        for (field, x) in [
            (
                "optimization.tuning.adaptive_sampling_threshold",
                t.adaptive_sampling_threshold,
            ),
            (
                "optimization.tuning.high_throughput_per_second",
                t.high_throughput_per_second,
            ),
        ] {
            if !x.is_finite() || x < 0.0 {
                v.push(
                    Error,
                    field,
                    format!("must be a non-negative number, not {x}"),
                );
            }
        }

        if !a.enabled {
            v.push(
                Warning,
                "alerting.enabled",
                "alerting is disabled: nobody will hear of breaches",
            );
        }
        let channels = a.channels.enabled();
        if a.enabled && channels.is_empty() {
            v.push(
                Error,
                "alerting.channels",
                "alerting is enabled but no channel is",
            );
        }
        for (i, rule) in a.rules.iter().enumerate() {
            let field = |f: &str| format!("alerting.rules[{i}].{f}");
            if rule.name.trim().is_empty() {
                v.push(Error, field("name"), "empty");
            }
            if rule.metric.per_monitor() {
                match &rule.monitor {
                    None => v.push(Error, field("monitor"), format!("{:?} is read from a monitor; name one", rule.metric)),
                    Some(name) if !m.monitors.contains(name) => v.push(Warning, field("monitor"), format!("`{name}` is not among monitoring.monitors; it alerts only once the host creates it")),
                    Some(_) => {}
                }
            }
            for (which, x) in [("warning", rule.warning), ("critical", rule.critical)] {
                if let Some(x) = x {
                    if !x.is_finite() {
                        v.push(
                            Error,
                            field(which),
                            format!("threshold must be a number, not {x}"),
                        );
                    }
                }
            }
            rule_kind_problems(rule, &field, &mut v);
            if rule.auto_threshold
                && rule.kind == RuleKind::Threshold
                && !(rule.metric.is_latency()
                    && rule.comparison == Comparison::Above
                    && rule.monitor.is_some())
            {
                v.push(Warning, field("auto_threshold"), "only latency rules compared `above` on a monitor follow a baseline; this one keeps its thresholds");
            }
            match (rule.warning, rule.critical) {
                (None, None) => v.push(
                    Error,
                    field("critical"),
                    "a rule needs a warning or a critical threshold",
                ),
                (Some(w), Some(c)) if w.is_finite() && c.is_finite() => {
                    // Effect sizes and anomaly scores grow with badness whatever the comparison.
                    let ordered = match (rule.kind, rule.comparison) {
                        (RuleKind::Regression | RuleKind::Anomaly, _) | (_, Comparison::Above) => {
                            w < c
                        }
                        (_, Comparison::Below) => w > c,
                    };
                    if !ordered {
                        v.push(
                            Error,
                            field("warning"),
                            format!(
                                "warning {w} must come before critical {c} ({:?})",
                                rule.comparison
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        for (ti, tier) in a.escalation.tiers.iter().enumerate() {
            for name in tier {
                if !channels.contains(&name.as_str()) {
                    v.push(
                        Error,
                        format!("alerting.escalation.tiers[{ti}]"),
                        format!("channel `{name}` is not enabled"),
                    );
                }
            }
        }
        if a.rate_limit.per_minute == 0 || a.rate_limit.per_hour == 0 {
            v.push(Error, "alerting.rate_limit", "limits must be at least 1");
        } else if a.rate_limit.per_hour < a.rate_limit.per_minute {
            v.push(
                Warning,
                "alerting.rate_limit",
                "per_hour is below per_minute",
            );
        }
        let ch = &a.channels;
        if ch.email.enabled {
            if ch.email.recipients.is_empty() {
                v.push(
                    Error,
                    "alerting.channels.email.recipients",
                    "email is enabled without recipients",
                );
            }
            for r in &ch.email.recipients {
                if !valid_email(r) {
                    v.push(
                        Error,
                        "alerting.channels.email.recipients",
                        format!("`{r}` is not an email address"),
                    );
                }
            }
            if !valid_email(&ch.email.from) {
                v.push(
                    Error,
                    "alerting.channels.email.from",
                    format!("`{}` is not an email address", ch.email.from),
                );
            }
        }
        if ch.slack.enabled && ch.slack.webhook_url.is_none() {
            v.push(
                Error,
                "alerting.channels.slack.webhook_url",
                "Slack is enabled without a webhook URL",
            );
        }
        if ch.webhook.enabled && ch.webhook.url.is_none() {
            v.push(
                Error,
                "alerting.channels.webhook.url",
                "the webhook is enabled without a URL",
            );
        }
        for (field, secret) in [
            ("alerting.channels.webhook.url", &ch.webhook.url),
            ("alerting.channels.slack.webhook_url", &ch.slack.webhook_url),
        ] {
            if let Some(Secret::Value(url)) = secret {
                if !valid_http_url(url) {
                    v.push(Error, field, "not an http(s) URL");
                }
            }
        }
        if ch.alertmanager.enabled {
            match &ch.alertmanager.url {
                Some(url) if valid_http_url(url) => {}
                _ => v.push(
                    Error,
                    "alerting.channels.alertmanager.url",
                    "Alertmanager is enabled without an http(s) URL",
                ),
            }
        }

        let d = &self.deployment;
        match d.bind_address.parse::<IpAddr>() {
            Err(_) => v.push(
                Error,
                "deployment.bind_address",
                format!("`{}` is not an IP address", d.bind_address),
            ),
            Ok(ip) if !ip.is_loopback() && d.admin_token.is_none() => v.push(
                if production { Error } else { Warning },
                "deployment.admin_token",
                format!("the admin server listens on {ip} without a token"),
            ),
            Ok(_) => {}
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&d.log_level.as_str()) {
            v.push(
                Error,
                "deployment.log_level",
                format!(
                    "`{}` is not one of error, warn, info, debug, trace",
                    d.log_level
                ),
            );
        } else if production && matches!(d.log_level.as_str(), "debug" | "trace") {
            v.push(
                Warning,
                "deployment.log_level",
                "debug logging in production",
            );
        }
        v.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        v
    }

    /// The deployment checklist, each item marked complete when this configuration satisfies it.
    pub fn checklist(&self) -> Vec<ChecklistItem> {
        let a = &self.alerting;
        let ip_loopback = self
            .deployment
            .bind_address
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
        let secrets = [
            &a.channels.webhook.url,
            &a.channels.slack.webhook_url,
            &a.channels.email.password,
            &self.deployment.admin_token,
        ];
        let items = [
            (
                "Memory limit of at least 256 MB",
                self.optimization.memory.max_memory_usage_mb >= 256,
            ),
            (
                "Memory measured at most every minute or less often",
                self.optimization.memory.memory_cleanup_interval >= Duration::from_secs(60),
            ),
            (
                "Alerting enabled with at least one rule",
                a.enabled && !a.rules.is_empty(),
            ),
            (
                "A notification channel other than the log",
                a.channels.enabled().iter().any(|c| *c != "log"),
            ),
            ("Escalation beyond one tier", a.escalation.tiers.len() > 1),
            ("Automatic tuning enabled", self.optimization.tuning.enabled),
            (
                "Prometheus metrics served",
                self.deployment.admin_enabled && self.deployment.metrics_enabled,
            ),
            (
                "Admin server on loopback or protected by a token",
                ip_loopback || self.deployment.admin_token.is_some(),
            ),
            (
                "Secrets read from environment variables",
                secrets.iter().all(|s| !matches!(s, Some(Secret::Value(_)))),
            ),
            (
                "Environment set to production",
                self.deployment.environment == Environment::Production,
            ),
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
