//! Configuration: RON files with human durations, validated on load.
//!
//! [`Config::default`] is the embedded `config/default.ron`; [`Config::from_file`] loads another and
//! names the file, line and column of anything wrong. Sections: monitoring, supervisor, deployment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use watchkeeper_actors::duration_serde;
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
    /// How the root supervisor restarts failed actors.
    pub supervisor: SupervisorConfig,
    /// Where the runtime runs and listens.
    pub deployment: DeploymentConfig,
}

/// Monitors, collection and mailboxes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Monitors started with the runtime.
    pub monitors: Vec<String>,
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

/// Where the runtime runs and listens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// `development`, `staging` or `production`.
    pub environment: String,
    /// Admin HTTP address.
    pub bind_address: String,
    /// Admin HTTP port.
    pub health_check_port: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            monitoring: MonitoringConfig {
                monitors: vec!["search".into(), "index".into()],
                tick: Duration::from_secs(1),
                window: 60,
                histogram: HistogramBounds::default(),
                mailbox_capacity: 1024,
                ask_timeout: Duration::from_secs(2),
                watchdog_budget: Duration::from_millis(250),
            },
            supervisor: SupervisorConfig::default(),
            deployment: DeploymentConfig {
                environment: "development".into(),
                bind_address: "127.0.0.1".into(),
                health_check_port: 8080,
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
            Some((line, col)) => write!(f, "{file}:{line}:{col}: {}", self.message),
            None => write!(f, "{file}: {}", self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses RON text.
    pub fn from_ron(text: &str) -> Result<Config, ConfigError> {
        let config: Config = ron::from_str(text).map_err(|e| ConfigError {
            file: None,
            position: Some((e.position.line, e.position.col)),
            message: e.code.to_string(),
        })?;
        config.check().map_err(|message| ConfigError {
            file: None,
            position: None,
            message,
        })?;
        Ok(config)
    }

    /// Loads and checks a RON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_owned()),
            position: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::from_ron(&text).map_err(|e| ConfigError {
            file: Some(path.to_owned()),
            ..e
        })
    }

    /// Pretty RON text of this configuration.
    pub fn to_ron(&self) -> String {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default())
            .unwrap_or_else(|e| format!("// cannot serialize: {e}"))
    }

    /// Errors that make the configuration unusable.
    fn check(&self) -> Result<(), String> {
        let m = &self.monitoring;
        m.histogram
            .layout()
            .map_err(|e| format!("monitoring.histogram: {e}"))?;
        for (field, d) in [
            ("monitoring.tick", m.tick),
            ("monitoring.ask_timeout", m.ask_timeout),
            ("monitoring.watchdog_budget", m.watchdog_budget),
            (
                "supervisor.intensity.within",
                self.supervisor.intensity.within,
            ),
        ] {
            if d.is_zero() {
                return Err(format!("{field} must be positive"));
            }
        }
        if m.window == 0 {
            return Err("monitoring.window must be at least 1".into());
        }
        if m.mailbox_capacity == 0 {
            return Err("monitoring.mailbox_capacity must be at least 1".into());
        }
        let b = &self.supervisor.backoff;
        if !(0.0..=1.0).contains(&b.jitter) {
            return Err(format!(
                "supervisor.backoff.jitter must be within 0..=1, not {}",
                b.jitter
            ));
        }
        if b.min > b.max {
            return Err("supervisor.backoff.min must not exceed supervisor.backoff.max".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_file_is_config_default() {
        assert_eq!(Config::from_ron(DEFAULT_RON).unwrap(), Config::default());
    }

    #[test]
    fn round_trips_through_pretty_ron() {
        let c = Config::default();
        assert_eq!(Config::from_ron(&c.to_ron()).unwrap(), c);
    }

    #[test]
    fn errors_name_the_position_and_the_field() {
        let bad = DEFAULT_RON.replace("window: 60,", "window: 60,\n        windw: 3,");
        let e = Config::from_ron(&bad).unwrap_err();
        assert!(e.message.contains("windw"), "{e}");
        assert!(e.position.unwrap().0 > 1);
        let bad = DEFAULT_RON.replace("tick: \"1s\"", "tick: \"1 fortnight\"");
        let e = Config::from_ron(&bad).unwrap_err();
        assert!(e.message.contains("unknown unit"), "{e}");
        let bad = DEFAULT_RON.replace("jitter: 0.2", "jitter: 7.0");
        assert!(Config::from_ron(&bad)
            .unwrap_err()
            .message
            .contains("jitter"));
    }
}
