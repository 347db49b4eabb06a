//! The `probes` section: the host's dependencies checked for readiness (TCP connects and HTTP
//! GETs), how often, and how long each may take.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kernel::duration_serde;
use crate::kernel::validation::{self, Validation, A_DAY};

/// What one configured check does.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::probe::{ProbeDef, ProbeTarget, ProbesConfig};
///
/// let db = ProbeDef { name: "db".into(), target: ProbeTarget::Tcp("127.0.0.1:5432".into()), critical: true };
/// let bad = ProbeDef { name: "api".into(), target: ProbeTarget::Http("ftp://example.com".into()), critical: false };
/// let config = ProbesConfig { checks: vec![db, bad], ..Default::default() };
/// assert_eq!(config.validate().findings[0].field, "checks[1].target");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeTarget {
    /// Connects to `host:port`; passes when the connection is accepted.
    Tcp(String),
    /// `GET`s an `http://` URL; passes on a 2xx or 3xx answer.
    Http(String),
}

/// One dependency check.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::probe::{ProbeDef, ProbeTarget, ProbesConfig};
///
/// let index = ProbeDef {
///     name: "index-store".into(),
///     target: ProbeTarget::Http("http://127.0.0.1:9200/_cluster/health".into()),
///     critical: true,
/// };
/// let config = ProbesConfig { checks: vec![index], ..Default::default() };
/// assert!(!config.validate().has_errors());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeDef {
    /// Its name, as `/health` shows it.
    pub name: String,
    /// What it checks.
    pub target: ProbeTarget,
    /// Whether its failure makes the process not ready (`/health/ready` 503); otherwise it makes
    /// `/health` warn.
    #[serde(default = "yes")]
    pub critical: bool,
}

fn yes() -> bool {
    true
}

/// Dependency checks.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::probe::ProbesConfig;
///
/// let config = ProbesConfig { timeout: Duration::from_secs(30), ..Default::default() };
/// let v = config.validate();
/// assert!(!v.has_errors());
/// assert_eq!(v.findings[0].field, "timeout");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbesConfig {
    /// How often every check runs.
    #[serde(with = "duration_serde")]
    pub interval: Duration,
    /// How long one check may take before it counts as failed.
    #[serde(with = "duration_serde")]
    pub timeout: Duration,
    /// Failures in a row before a check that was up counts as failing (one lost packet is not an
    /// outage); a check never reached yet is down at its first failure.
    pub failures_before_down: u32,
    /// The checks (the host registers more with `Runtime::register_check`).
    pub checks: Vec<ProbeDef>,
}

impl Default for ProbesConfig {
    fn default() -> Self {
        ProbesConfig {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            failures_before_down: 1,
            checks: Vec::new(),
        }
    }
}

impl ProbesConfig {
    /// Checks the section; field paths are relative to it.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        v.duration("interval", self.interval, A_DAY);
        v.duration("timeout", self.timeout, A_DAY);
        if self.timeout > self.interval {
            v.warning(
                "timeout",
                "longer than the interval: a slow check delays the next round",
            );
        }
        v.count(
            "failures_before_down",
            self.failures_before_down.into(),
            1000,
        );
        v.count("checks", (self.checks.len() as u64).max(1), 1000);
        for (i, check) in self.checks.iter().enumerate() {
            if let Some(problem) = validation::name_problem(&check.name) {
                v.error(format!("checks[{i}].name"), format!("the name {problem}"));
            }
            if self.checks[..i].iter().any(|c| c.name == check.name) {
                v.error(
                    format!("checks[{i}].name"),
                    format!("`{}` is the name of an earlier check", check.name),
                );
            }
            if let Err(e) = super::check::parse_target(&check.target) {
                v.error(format!("checks[{i}].target"), e);
            }
        }
        v
    }
}
