//! Muting: silences (label matchers over a time range, as Alertmanager keeps them), inhibition rules
//! (a firing source alert mutes target alerts that share the `equal` labels) and flap suppression.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::matchers::Matcher;
use super::store::AlertingState;

/// Where a silence is in its life.
///
/// # Examples
///
/// ```
/// use chrono::{Duration, Utc};
/// use watchkeeper_actors::alerting::{Matcher, Silence, SilenceState};
///
/// let now = Utc::now();
/// let silence = Silence {
///     id: String::new(),
///     matchers: vec![Matcher::equal("alertname", "SearchSlow")],
///     starts_at: now + Duration::hours(1),
///     ends_at: now + Duration::hours(2),
///     created_by: "ana".into(),
///     comment: "maintenance".into(),
///     updated_at: now,
/// };
/// assert_eq!(silence.state(now), SilenceState::Pending);
/// assert_eq!(silence.state(now + Duration::minutes(90)), SilenceState::Active);
/// assert_eq!(silence.state(now + Duration::hours(3)), SilenceState::Expired);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SilenceState {
    /// It starts later.
    Pending,
    /// It mutes the alerts it matches.
    Active,
    /// It ended (kept a while, then forgotten).
    Expired,
}

/// A silence: alerts matching every matcher are not notified between `starts_at` and `ends_at`.
///
/// # Examples
///
/// ```
/// use chrono::{Duration, Utc};
/// use watchkeeper_actors::alerting::{Matcher, Silence, SilenceError};
///
/// let now = Utc::now();
/// let silence = Silence {
///     id: String::new(),
///     matchers: vec![Matcher::parse(r#"alertname=~"Search.*""#).unwrap()],
///     starts_at: now,
///     ends_at: now + Duration::hours(1),
///     created_by: "ana".into(),
///     comment: "reindexing".into(),
///     updated_at: now,
/// };
/// assert_eq!(silence.problem(now), None);
/// assert!(silence.active(now + Duration::minutes(5)));
/// let everything = Silence { matchers: vec![Matcher::parse(r#"team=~".*""#).unwrap()], ..silence };
/// assert_eq!(everything.problem(now), Some(SilenceError::MatchesEverything));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// A UUID, assigned when it is added.
    #[serde(default)]
    pub id: String,
    /// All must match.
    pub matchers: Vec<Matcher>,
    /// From.
    pub starts_at: DateTime<Utc>,
    /// Until.
    pub ends_at: DateTime<Utc>,
    /// Who added it.
    #[serde(default)]
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// When it last changed.
    #[serde(default = "Utc::now")]
    pub updated_at: DateTime<Utc>,
}

/// Why a silence was refused.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::SilenceError;
///
/// assert_eq!(SilenceError::EndsBeforeStart.to_string(), "start time must be before end time");
/// assert_eq!(SilenceError::NotFound("42".into()).to_string(), "silence 42 not found");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SilenceError {
    /// It has no matcher.
    NoMatchers,
    /// Its end is not after its start.
    EndsBeforeStart,
    /// It ends in the past.
    EndsInThePast,
    /// No `=` or `=~` matcher selects anything: it would mute every alert.
    MatchesEverything,
    /// `silences.max` silences are active or pending already.
    TooMany(usize),
    /// No silence has this id.
    NotFound(String),
}

impl std::fmt::Display for SilenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SilenceError::NoMatchers => f.write_str("a silence needs at least one matcher"),
            SilenceError::EndsBeforeStart => f.write_str("start time must be before end time"),
            SilenceError::EndsInThePast => f.write_str("end time can't be in the past"),
            SilenceError::MatchesEverything => f.write_str(
                "at least one = or =~ matcher must not match the empty string: this silence would mute every alert",
            ),
            SilenceError::TooMany(max) => write!(
                f,
                "{max} silences are active or pending already (alerting.silences.max)"
            ),
            SilenceError::NotFound(id) => write!(f, "silence {id} not found"),
        }
    }
}

impl std::error::Error for SilenceError {}

impl Silence {
    /// Its state at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether it is in force at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.state(now) == SilenceState::Active
    }

    pub(super) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.matchers.is_empty() && Matcher::all_match(&self.matchers, labels)
    }

    /// Why it cannot be added at `now`, if it cannot. Alertmanager's rules, and one more: a
    /// silence made only of `!=`, `!~` and matchers that match the empty string would mute
    /// every alert, so it is refused.
    pub fn problem(&self, now: DateTime<Utc>) -> Option<SilenceError> {
        if self.matchers.is_empty() {
            Some(SilenceError::NoMatchers)
        } else if self.ends_at <= self.starts_at {
            Some(SilenceError::EndsBeforeStart)
        } else if self.ends_at < now {
            Some(SilenceError::EndsInThePast)
        } else if !self
            .matchers
            .iter()
            .any(|m| m.op.is_equal() && !m.matches_value(""))
        {
            Some(SilenceError::MatchesEverything)
        } else {
            None
        }
    }
}

/// A new silence id: a random UUID (version 4).
pub(super) fn new_id() -> String {
    let bits = fastrand::u128(..);
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// One inhibition rule: a firing alert matching `source_matchers` mutes every alert matching
/// `target_matchers` that has the same values (a missing label counting as empty) of the `equal`
/// labels. An alert that matches both sides never mutes itself, nor another that does.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::{AlertingConfig, InhibitRule, Matcher};
///
/// // A firing critical alert of a monitor mutes every warning of that monitor.
/// let rule = InhibitRule {
///     source_matchers: vec![Matcher::equal("severity", "critical")],
///     target_matchers: vec![Matcher::equal("severity", "warning")],
///     equal: vec!["monitor".into()],
/// };
/// let config = AlertingConfig { inhibit_rules: vec![rule], ..Default::default() };
/// assert!(!config.validate().has_errors());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InhibitRule {
    /// What a muting (source) alert looks like, e.g. `["severity=\"critical\""]`.
    pub source_matchers: Vec<Matcher>,
    /// What a muted (target) alert looks like, e.g. `["severity=\"warning\""]`.
    pub target_matchers: Vec<Matcher>,
    /// Labels both must share, e.g. `["alertname", "monitor"]`.
    pub equal: Vec<String>,
}

impl Default for InhibitRule {
    /// A firing critical mutes the warning of the same rule.
    fn default() -> Self {
        InhibitRule {
            source_matchers: vec![Matcher::equal("severity", "critical")],
            target_matchers: vec![Matcher::equal("severity", "warning")],
            equal: vec!["alertname".into(), "monitor".into()],
        }
    }
}

/// One rule's firing sources by their `equal` label values: each source's fingerprint and whether it
/// also matches the rule's target side.
type SourceIndex = HashMap<Vec<String>, Vec<(u64, bool)>>;

fn equal_values(labels: &BTreeMap<String, String>, equal: &[String]) -> Vec<String> {
    equal
        .iter()
        .map(|l| labels.get(l).cloned().unwrap_or_default())
        .collect()
}

/// Marks every alert silenced, inhibited or suppressed as of `now`, naming the silences and
/// source alerts that mute it. Expired silences are forgotten after `retention`, and past
/// `keep_expired` of them the earliest ended go first.
pub(super) fn mute(
    book: &mut AlertingState,
    rules: &[InhibitRule],
    (retention, keep_expired): (chrono::Duration, usize),
    now: Instant,
    wall: DateTime<Utc>,
) {
    // An end as late as a time can be (a silence posted to end in the year 262142) is kept for
    // ever rather than overflow.
    book.silences.retain(|s| {
        s.ends_at
            .checked_add_signed(retention)
            .is_none_or(|t| t > wall)
    });
    let mut ended: Vec<DateTime<Utc>> = book
        .silences
        .iter()
        .filter(|s| s.ends_at <= wall)
        .map(|s| s.ends_at)
        .collect();
    if ended.len() > keep_expired {
        ended.sort_unstable();
        let last_forgotten = ended[ended.len() - keep_expired - 1];
        book.silences
            .retain(|s| s.ends_at > wall || s.ends_at > last_forgotten);
    }
    // Per rule, the firing sources by their values of the `equal` labels, each noted with whether it
    // also matches the target side (such a source cannot mute an alert that matches both sides).
    let sources: Vec<SourceIndex> = rules
        .iter()
        .map(|rule| {
            let mut index = SourceIndex::new();
            for a in book.alerts.values().filter(|a| a.state.firing()) {
                if Matcher::all_match(&rule.source_matchers, &a.labels) {
                    let both = Matcher::all_match(&rule.target_matchers, &a.labels);
                    index
                        .entry(equal_values(&a.labels, &rule.equal))
                        .or_default()
                        .push((a.fingerprint, both));
                }
            }
            index
        })
        .collect();
    let active: Vec<&super::Silence> = book.silences.iter().filter(|s| s.active(wall)).collect();
    for alert in book.alerts.values_mut() {
        alert.silenced_by = active
            .iter()
            .filter(|s| s.matches(&alert.labels))
            .map(|s| s.id.clone())
            .collect();
        alert.silenced = !alert.silenced_by.is_empty();
        alert.inhibited_by.clear();
        for (rule, index) in rules.iter().zip(&sources) {
            if !Matcher::all_match(&rule.target_matchers, &alert.labels) {
                continue;
            }
            let both_sides = Matcher::all_match(&rule.source_matchers, &alert.labels);
            let found = index
                .get(&equal_values(&alert.labels, &rule.equal))
                .and_then(|candidates| {
                    candidates
                        .iter()
                        .find(|(fp, source_both)| {
                            *fp != alert.fingerprint && !(both_sides && *source_both)
                        })
                        .map(|(fp, _)| *fp)
                });
            if let Some(fp) = found {
                alert.inhibited_by.push(format!("{fp:016x}"));
                break;
            }
        }
        alert.inhibited = !alert.inhibited_by.is_empty();
        alert.suppressed = alert.suppressed_until.is_some_and(|t| now < t);
    }
}

/// Whether the operators of two matcher lists are the same matchers, in order (Alertmanager's test
/// for updating a silence in place).
pub(super) fn same_matchers(a: &[Matcher], b: &[Matcher]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}
