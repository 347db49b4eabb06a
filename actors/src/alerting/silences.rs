//! Muting: silences (label matchers over a time range), inhibition (a firing critical mutes the
//! warning with the same labels) and flap suppression.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::rules::{fingerprint, AlertSeverity};
use super::store::AlertingState;

/// How a silence matcher compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOp {
    /// The label equals the value.
    Equal,
    /// The label does not equal the value (a missing label counts as empty).
    NotEqual,
}

/// One label matcher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    /// The label.
    pub label: String,
    /// How to compare.
    pub op: MatchOp,
    /// The value.
    pub value: String,
}

impl Matcher {
    /// `label = value`.
    pub fn equal(label: &str, value: &str) -> Self {
        Matcher {
            label: label.into(),
            op: MatchOp::Equal,
            value: value.into(),
        }
    }

    pub(super) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let actual = labels.get(&self.label).map_or("", String::as_str);
        match self.op {
            MatchOp::Equal => actual == self.value,
            MatchOp::NotEqual => actual != self.value,
        }
    }
}

/// A silence: alerts matching every matcher are not notified between `starts_at` and `ends_at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Assigned when added.
    #[serde(default)]
    pub id: u64,
    /// All must match.
    pub matchers: Vec<Matcher>,
    /// From.
    pub starts_at: DateTime<Utc>,
    /// Until.
    pub ends_at: DateTime<Utc>,
    /// Who.
    #[serde(default)]
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

impl Silence {
    /// Whether it is in force at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    pub(super) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.matchers.is_empty() && self.matchers.iter().all(|m| m.matches(labels))
    }
}

/// Why a silence was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SilenceError {
    /// It has no matcher.
    NoMatchers,
    /// Its end is not after its start.
    EndsBeforeStart,
}

impl std::fmt::Display for SilenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SilenceError::NoMatchers => "a silence needs at least one matcher",
            SilenceError::EndsBeforeStart => "a silence must end after it starts",
        })
    }
}

impl std::error::Error for SilenceError {}

impl Silence {
    /// Why it cannot be added, if it cannot.
    pub fn problem(&self) -> Option<SilenceError> {
        if self.matchers.is_empty() {
            Some(SilenceError::NoMatchers)
        } else if self.ends_at <= self.starts_at {
            Some(SilenceError::EndsBeforeStart)
        } else {
            None
        }
    }
}

/// Marks every alert silenced, inhibited or suppressed as of `now`; expired silences are dropped.
pub(super) fn mute(book: &mut AlertingState, now: Instant, wall: DateTime<Utc>) {
    book.silences.retain(|s| s.ends_at > wall);
    let critical: BTreeSet<u64> = book
        .alerts
        .values()
        .filter(|a| a.severity == AlertSeverity::Critical && a.state.firing())
        .map(|a| fingerprint(&a.condition()))
        .collect();
    let silences = &book.silences;
    for alert in book.alerts.values_mut() {
        alert.silenced = silences
            .iter()
            .any(|s| s.active(wall) && s.matches(&alert.labels));
        alert.inhibited = alert.severity == AlertSeverity::Warning
            && critical.contains(&fingerprint(&alert.condition()));
        alert.suppressed = alert.suppressed_until.is_some_and(|t| now < t);
    }
}
