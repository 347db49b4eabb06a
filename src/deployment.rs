//! The `deployment` section: where the runtime runs, how the command logs, and the admin server's
//! address and token.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use watchkeeper_actors::kernel::validation::Validation;
use watchkeeper_actors::notify::Secret;

/// Where the runtime runs.
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
            admin_token: None,
        }
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
        v
    }
}
