//! The `deployment` section: where the runtime runs, how the command logs, and the admin server's
//! address and token.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use watchkeeper_actors::duration_serde;
use watchkeeper_actors::kernel::validation::{Validation, A_DAY};
use watchkeeper_actors::notify::Secret;

/// Where the runtime runs.
///
/// # Examples
///
/// ```
/// use watchkeeper::config::{DeploymentConfig, Environment};
///
/// // In production, an admin server off loopback without a token is an error, not a warning.
/// let open = DeploymentConfig { bind_address: "0.0.0.0".into(), ..Default::default() };
/// assert!(!open.validate().has_errors());
/// let production = DeploymentConfig { environment: Environment::Production, ..open };
/// assert!(production.production() && production.validate().has_errors());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// A developer's machine.
    #[default]
    Development,
    /// Pre-production.
    Staging,
    /// Production: stricter checks (a token off loopback, a larger memory floor).
    Production,
}

/// Where the runtime runs and listens.
///
/// # Examples
///
/// ```
/// use watchkeeper::config::{DeploymentConfig, Secret};
///
/// let deployment = DeploymentConfig {
///     health_check_port: 0,
///     admin_token: Some(Secret::Value("s3cret".into())),
///     ..Default::default()
/// };
/// assert!(deployment.validate().findings.is_empty());
/// let bad = DeploymentConfig { log_level: "loud".into(), ..deployment };
/// assert_eq!(bad.validate().findings[0].field, "log_level");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeploymentConfig {
    /// `development`, `staging` or `production`; production makes some warnings errors.
    pub environment: Environment,
    /// Log level of the `watchkeeper run` command: `error`, `warn`, `info`, `debug` or `trace`
    /// (`RUST_LOG` overrides it). An embedding host sets up its own logging.
    pub log_level: String,
    /// Whether the admin HTTP server (health, `/metrics`, alerts, silences) runs.
    pub admin_enabled: bool,
    /// The address the admin server binds; loopback unless it must be reached from elsewhere.
    pub bind_address: String,
    /// The admin server's port; 0 picks a free one (`Runtime::admin_addr` says which), so several
    /// runtimes can share a process or a machine.
    pub health_check_port: u16,
    /// Whether `/metrics` is served.
    pub metrics_enabled: bool,
    /// What the admin server lets one client cost it.
    pub admin_limits: AdminLimits,
    /// What the health report counts.
    pub health: HealthConfig,
    /// The bearer token the mutating admin endpoints require (`Authorization: Bearer ...`); without
    /// one they refuse every request. Best read from the environment, `Env("WATCHKEEPER_TOKEN")`.
    pub admin_token: Option<Secret>,
}

impl Default for DeploymentConfig {
    fn default() -> Self {
        DeploymentConfig {
            environment: Environment::Development,
            log_level: "info".into(),
            admin_enabled: true,
            bind_address: "127.0.0.1".into(),
            health_check_port: 8080,
            metrics_enabled: true,
            admin_limits: AdminLimits::default(),
            health: HealthConfig::default(),
            admin_token: None,
        }
    }
}

/// What a firing alert does to `/health`.
///
/// # Examples
///
/// ```
/// use watchkeeper::config::{AlertEffect, HealthConfig};
///
/// // A firing warning alert makes `/health` warn; a critical one makes it fail.
/// let health = HealthConfig { warning_alerts: AlertEffect::Warn, critical_alerts: AlertEffect::Fail, ..Default::default() };
/// assert_eq!(HealthConfig::default().warning_alerts, AlertEffect::Ignore);
/// # let _ = health;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertEffect {
    /// Nothing: the alert is the alerting pipeline's business only.
    Ignore,
    /// `/health` says `warn` (200) and names the alert.
    Warn,
    /// `/health` says `fail` (503) and names the alert.
    Fail,
}

/// What the health report counts. It reports what is true now: restarts within the supervisor's
/// intensity window, mailbox drops within `window`, alerts firing now (neither silenced nor
/// inhibited). Readiness (`/health/ready`) stays about the process itself and ignores alerts.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper::config::HealthConfig;
///
/// let health = HealthConfig { window: Duration::from_secs(90), ..Default::default() };
/// assert_eq!(health.window_minutes(), 2);
/// assert_eq!(HealthConfig::default().window_minutes(), 5);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// How far back mailbox drops count (to the minute, at most 15 minutes).
    #[serde(with = "duration_serde")]
    pub window: Duration,
    /// What a firing critical alert does: `ignore`, `warn` or `fail`.
    pub critical_alerts: AlertEffect,
    /// What a firing warning alert does.
    pub warning_alerts: AlertEffect,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            window: Duration::from_secs(300),
            critical_alerts: AlertEffect::Warn,
            warning_alerts: AlertEffect::Ignore,
        }
    }
}

impl HealthConfig {
    /// The window in whole minutes, as the mailboxes count drops.
    pub fn window_minutes(&self) -> usize {
        (self.window.as_secs().div_ceil(60) as usize).clamp(1, 15)
    }

    fn validate(&self) -> Validation {
        let mut v = Validation::default();
        v.duration(
            "window",
            self.window,
            (Duration::from_secs(15 * 60), "15 minutes"),
        );
        v
    }
}

/// What the admin server lets one client cost it: it holds at most `max_connections`, closing the
/// oldest when another arrives, and gives each request `request_timeout` to arrive whole.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper::config::AdminLimits;
///
/// let limits = AdminLimits { max_connections: 64, request_timeout: Duration::from_secs(5), ..Default::default() };
/// assert!(limits.validate().findings.is_empty());
/// let none = AdminLimits { max_connections: 0, ..limits };
/// assert_eq!(none.validate().findings[0].field, "max_connections");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminLimits {
    /// Connections held open at once; one more closes the oldest with no request under way (else
    /// the oldest). Kept below half the process's file-descriptor limit at start.
    pub max_connections: usize,
    /// How long a request's head and body may take to arrive, and its answer to be made.
    #[serde(with = "duration_serde")]
    pub request_timeout: Duration,
    /// How long an idle connection is kept for the next request.
    #[serde(with = "duration_serde")]
    pub keep_alive: Duration,
}

impl Default for AdminLimits {
    fn default() -> Self {
        AdminLimits {
            max_connections: 256,
            request_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(5),
        }
    }
}

impl AdminLimits {
    /// Checks the limits; field paths are relative to them.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        v.count("max_connections", self.max_connections as u64, 100_000);
        v.duration("request_timeout", self.request_timeout, A_DAY);
        v.duration("keep_alive", self.keep_alive, A_DAY);
        v
    }
}

impl DeploymentConfig {
    /// Whether this is a production deployment.
    pub fn production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Checks the section; field paths are relative to it.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        match self.bind_address.parse::<IpAddr>() {
            Err(_) => v.error(
                "bind_address",
                format!("`{}` is not an IP address", self.bind_address),
            ),
            Ok(ip) if !ip.is_loopback() && self.admin_token.is_none() => v.push(
                if self.production() {
                    watchkeeper_actors::Severity::Error
                } else {
                    watchkeeper_actors::Severity::Warning
                },
                "admin_token",
                format!("the admin server listens on {ip} without a token"),
            ),
            Ok(_) => {}
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&self.log_level.as_str()) {
            v.error(
                "log_level",
                format!(
                    "`{}` is not one of error, warn, info, debug, trace",
                    self.log_level
                ),
            );
        } else if self.production() && matches!(self.log_level.as_str(), "debug" | "trace") {
            v.warning("log_level", "debug logging in production");
        }
        v.nest("health", self.health.validate());
        if self.admin_enabled {
            v.nest("admin_limits", self.admin_limits.validate());
            self.check_token(&mut v);
        }
        v
    }

    /// Without a usable token every mutating endpoint (silences, acknowledgements, reload, posted
    /// alerts) refuses every request: say so before `run` does it on each call.
    fn check_token(&self, v: &mut Validation) {
        const REFUSED: &str =
            "silences, acknowledgements, posted alerts and reloads over HTTP are refused";
        match &self.admin_token {
            None => v.warning(
                "admin_token",
                format!("no token: {REFUSED}; set one, e.g. Env(\"WATCHKEEPER_TOKEN\")"),
            ),
            Some(Secret::Value(t)) if t.trim().is_empty() => {
                v.error("admin_token", format!("the token is empty: {REFUSED}"))
            }
            Some(secret @ Secret::Env(var)) => match secret.resolve() {
                Err(_) => v.warning(
                    "admin_token",
                    format!("the environment variable {var} is not set here: {REFUSED} unless the running process has it"),
                ),
                Ok(t) if t.trim().is_empty() => v.error(
                    "admin_token",
                    format!("the environment variable {var} is empty: {REFUSED}"),
                ),
                Ok(_) => {}
            },
            Some(Secret::Value(_)) => {}
        }
    }
}
