//! The errors the runtime's public API returns.

use std::time::Duration;

use watchkeeper_actors::AskError;

use crate::config::ConfigError;

/// What went wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The configuration could not be loaded or is invalid.
    Config(ConfigError),
    /// The configuration has errors; the runtime did not start.
    Invalid(crate::config::Validation),
    /// The actor system did not start.
    Start(String),
    /// An actor did not answer.
    Ask(AskError),
    /// The runtime has already stopped.
    Stopped,
    /// Shutdown did not finish within its deadline; the system thread was left to finish on its own.
    ShutdownTimedOut(Duration),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Config(e) => write!(f, "configuration: {e}"),
            Error::Invalid(v) => write!(f, "invalid configuration:\n{v}"),
            Error::Start(e) => write!(f, "cannot start the runtime: {e}"),
            Error::Ask(e) => e.fmt(f),
            Error::Stopped => f.write_str("the runtime has stopped"),
            Error::ShutdownTimedOut(d) => write!(f, "shutdown did not finish within {d:?}"),
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
