//! The errors the runtime's public API returns.

use std::time::Duration;

use watchkeeper_actors::alerting::{AckError, SilenceError};
use watchkeeper_actors::AskError;

use crate::config::ConfigError;

/// What went wrong.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper::{Config, Error, Runtime};
///
/// let mut config = Config::default();
/// config.monitoring.tick = Duration::ZERO;
/// match Runtime::start(config) {
///     Err(Error::Invalid(validation)) => assert_eq!(validation.findings[0].field, "monitoring.tick"),
///     _ => unreachable!("a zero tick is refused before anything starts"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The configuration could not be loaded.
    Config(ConfigError),
    /// The configuration has errors; the runtime did not start (or reload), and nothing changed.
    Invalid(crate::config::Validation),
    /// The actor system did not start.
    Start(String),
    /// A reload could not be applied (a channel's secret did not resolve, no file to read again);
    /// nothing changed.
    Reload(String),
    /// An actor did not answer.
    Ask(AskError),
    /// A question to the runtime was not answered within this.
    Timeout(Duration),
    /// A monitor could not be created.
    Monitor(MonitorError),
    /// The runtime has already stopped.
    Stopped,
    /// Time can be advanced only in a runtime started paused (`RuntimeBuilder::paused`).
    NotPaused,
    /// Shutdown did not finish within its deadline; the system thread was left to finish on its own.
    ShutdownTimedOut(Duration),
    /// An acknowledgement was refused: no such alert, or it is not firing.
    Acknowledge(AckError),
    /// A silence was refused (no matcher, matches everything, ends before it starts, unknown id,
    /// over `alerting.silences.max`).
    Silence(SilenceError),
    /// The change was made but could not be written to the data directory.
    Storage(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Config(e) => write!(f, "configuration: {e}"),
            Error::Invalid(v) => write!(f, "invalid configuration:\n{v}"),
            Error::Start(e) => write!(f, "cannot start the runtime: {e}"),
            Error::Reload(e) => write!(f, "cannot reload: {e}"),
            Error::Ask(e) => e.fmt(f),
            Error::Timeout(d) => write!(f, "no answer within {d:?}"),
            Error::Monitor(e) => e.fmt(f),
            Error::Stopped => f.write_str("the runtime has stopped"),
            Error::NotPaused => f.write_str("the runtime was not started paused"),
            Error::ShutdownTimedOut(d) => write!(f, "shutdown did not finish within {d:?}"),
            Error::Acknowledge(e) => e.fmt(f),
            Error::Silence(e) => e.fmt(f),
            Error::Storage(e) => write!(f, "not saved: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<AskError> for Error {
    fn from(e: AskError) -> Self {
        Error::Ask(e)
    }
}

impl From<MonitorError> for Error {
    fn from(e: MonitorError) -> Self {
        Error::Monitor(e)
    }
}

/// Why `Runtime::monitor` refused a new monitor.
///
/// # Examples
///
/// ```
/// # let mut config = watchkeeper::Config::default();
/// # config.deployment.admin_enabled = false;
/// # let rt = watchkeeper::Runtime::start(config)?;
/// use watchkeeper::MonitorError;
///
/// match rt.monitor("") {
///     Err(MonitorError::InvalidName { problem, .. }) => assert_eq!(problem, "must not be empty"),
///     other => unreachable!("{other:?}"),
/// }
/// // A control character is shown escaped, not written out.
/// let e = rt.monitor("a\nb").unwrap_err();
/// assert!(e.to_string().starts_with(r#"monitor name "a\nb": "#), "{e}");
///
/// # rt.shutdown_blocking(std::time::Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorError {
    /// `monitoring.max_monitors` monitors exist already.
    TooMany {
        /// The limit.
        limit: usize,
    },
    /// The name is empty, too long, or has control characters.
    InvalidName {
        /// The name (cut to 64 characters).
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The runtime has been shut down: it starts no monitor.
    Stopped,
}

impl std::fmt::Display for MonitorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MonitorError::TooMany { limit } => write!(
                f,
                "the runtime holds at most {limit} monitors (monitoring.max_monitors)"
            ),
            MonitorError::InvalidName { name, problem } => {
                // quoted and escaped: a name refused for its control characters shows them
                write!(f, "monitor name {name:?}: {problem}")
            }
            MonitorError::Stopped => f.write_str("the runtime has stopped"),
        }
    }
}

impl std::error::Error for MonitorError {}
