//! The `alerting` section: rules, grouping, channels, escalation tiers and rate limits.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::routes::{Route, RouteConfig};
use super::rules::{AlertRule, Metric};
use super::silences::InhibitRule;
use crate::kernel::duration_serde;
use crate::kernel::validation::{self, Validation, A_DAY, A_WEEK, MAX_CAPACITY};
use crate::notify::{ChannelsConfig, ALERTMANAGER_CHANNEL, BUILT_IN_CHANNELS};

/// Escalation of unacknowledged firing alerts through tiers of channels, after the receiver.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::alerting::{AlertingConfig, EscalationConfig};
///
/// // Unacknowledged for 10 minutes, an alert goes on to a second tier of channels.
/// let escalation = EscalationConfig { timeout: Duration::from_secs(600), tiers: vec![vec!["log".into()]] };
/// let config = AlertingConfig { escalation, ..Default::default() };
/// assert!(!config.validate().has_errors());
/// assert_eq!(config.route_tree().tiers.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationConfig {
    /// An unacknowledged firing alert moves on to the next tier's channels after this.
    #[serde(with = "duration_serde")]
    pub timeout: Duration,
    /// Channel names per tier after the receiver, e.g. `[["pager"], ["email"]]`: unacknowledged for
    /// one timeout, an alert reaches the first; for two, the second. Empty: no escalation.
    pub tiers: Vec<Vec<String>>,
}

/// How many silences the runtime keeps, and for how long after they end.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::{AlertingConfig, SilencesConfig};
///
/// let config = AlertingConfig { silences: SilencesConfig { max: 0, ..Default::default() }, ..Default::default() };
/// assert_eq!(config.validate().findings[0].field, "silences.max");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SilencesConfig {
    /// The most silences active or pending at once; more are refused. Ended silences are listed
    /// (as expired) up to the same number, the earliest ended forgotten first.
    pub max: usize,
    /// How long an ended silence is still listed (as expired), within `max` of them.
    #[serde(with = "duration_serde")]
    pub retention: Duration,
}

impl SilencesConfig {
    /// How long an ended silence is kept, and how many ended ones at most (as
    /// `silences::mute` takes them).
    pub(super) fn kept(&self) -> (chrono::Duration, usize) {
        let retention =
            chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::days(1));
        (retention, self.max)
    }
}

impl Default for SilencesConfig {
    fn default() -> Self {
        SilencesConfig {
            max: 1000,
            retention: Duration::from_secs(86_400),
        }
    }
}

impl Default for EscalationConfig {
    fn default() -> Self {
        EscalationConfig {
            timeout: Duration::from_secs(900),
            tiers: Vec::new(),
        }
    }
}

/// Notifications per channel; the overflow is folded into one summary notification.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::{AlertingConfig, RateLimitConfig};
///
/// let rate_limit = RateLimitConfig { per_minute: 20, per_hour: 10 };
/// let config = AlertingConfig { rate_limit, ..Default::default() };
/// let v = config.validate();
/// assert!(!v.has_errors());
/// assert!(v.findings.iter().any(|f| f.field == "rate_limit"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// The most notifications one channel gets in a minute.
    pub per_minute: u32,
    /// The most notifications one channel gets in an hour.
    pub per_hour: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_minute: 10,
            per_hour: 100,
        }
    }
}

/// Alert rules, routing and notification channels.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::alerting::{AlertRule, AlertingConfig, Metric};
///
/// let errors = AlertRule { critical: Some(0.05), ..AlertRule::new("SearchErrors", Some("search"), Metric::ErrorRate) };
/// let mut config = AlertingConfig { check_interval: Duration::from_secs(5), ..Default::default() };
/// config.rules.push(errors);
/// assert!(!config.validate().has_errors());
/// assert_eq!(config.rule("SearchErrors").unwrap().metric, Metric::ErrorRate);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// Whether rules are evaluated and alerts notified.
    pub enabled: bool,
    /// How often every rule is evaluated.
    #[serde(with = "duration_serde")]
    pub check_interval: Duration,
    /// Alerts sharing the values of these labels go out as one notification (Alertmanager's
    /// `group_by`).
    pub group_by: Vec<String>,
    /// How long a new group waits for more alerts before its first notification.
    #[serde(with = "duration_serde")]
    pub group_wait: Duration,
    /// How long a notified group waits before telling of alerts added to it.
    #[serde(with = "duration_serde")]
    pub group_interval: Duration,
    /// How long before an unchanged firing group is notified again.
    #[serde(with = "duration_serde")]
    pub repeat_interval: Duration,
    /// An alert firing again within this of resolving is not notified until it has fired this
    /// long (flap suppression).
    #[serde(with = "duration_serde")]
    pub suppression_window: Duration,
    /// Resolved alerts kept in the history.
    pub history_limit: usize,
    /// Alerts posted from outside (`POST /api/v2/alerts`) that may be active at once; a post
    /// past it is refused for the alerts it would add. The alerts the runtime's rules and actors
    /// raise do not count.
    pub max_posted_alerts: usize,
    /// Labels added to every alert, e.g. `{"instance": "indexer-1"}` (Prometheus'
    /// `external_labels`), so alerts from many processes stay apart in Alertmanager.
    pub external_labels: BTreeMap<String, String>,
    /// The rules, each with a unique name.
    pub rules: Vec<AlertRule>,
    /// The channels notifications go to.
    pub channels: ChannelsConfig,
    /// The channel or channels notified of every alert no route takes: `"log"` or
    /// `["log", "pager"]`. Left out: every enabled channel.
    #[serde(
        deserialize_with = "super::routes::one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub receiver: Option<Vec<String>>,
    /// Routes below the root (this section's own receiver, grouping, timers, escalation and rate
    /// limits), as Alertmanager's `route`: the first matching route takes an alert unless it has
    /// `continue`; children inherit what they do not set.
    pub routes: Vec<RouteConfig>,
    /// Escalation tiers of channels after the receiver.
    pub escalation: EscalationConfig,
    /// Rate limits per channel.
    pub rate_limit: RateLimitConfig,
    /// Inhibition: a firing source alert mutes the targets that share its `equal` labels.
    pub inhibit_rules: Vec<InhibitRule>,
    /// How many silences are kept.
    pub silences: SilencesConfig,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            enabled: true,
            check_interval: Duration::from_secs(10),
            group_by: vec!["alertname".into(), "monitor".into()],
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            suppression_window: Duration::from_secs(300),
            history_limit: 1000,
            max_posted_alerts: 10_000,
            external_labels: BTreeMap::new(),
            rules: vec![AlertRule {
                warning: Some(0.1),
                critical: Some(0.5),
                for_: Duration::from_secs(60),
                labels: BTreeMap::from([("team".into(), "search".into())]),
                annotations: BTreeMap::from([(
                    "summary".into(),
                    "search p99 latency is {value}s (threshold {threshold}s)".into(),
                )]),
                ..AlertRule::new("SearchLatencyHigh", Some("search"), Metric::P99)
            }],
            channels: ChannelsConfig::default(),
            receiver: None,
            routes: Vec::new(),
            escalation: EscalationConfig::default(),
            rate_limit: RateLimitConfig::default(),
            inhibit_rules: vec![InhibitRule::default()],
            silences: SilencesConfig::default(),
        }
    }
}

/// Checks one route and its children; `at` is its path (`routes[0].routes[1]`).
fn validate_route(route: &RouteConfig, at: &str, known: &Known<'_>, v: &mut Validation) {
    let channels = route
        .receiver
        .iter()
        .map(|r| (format!("{at}.receiver"), r))
        .chain(
            route
                .escalation
                .iter()
                .flat_map(|e| e.tiers.iter().enumerate())
                .map(|(t, tier)| (format!("{at}.escalation.tiers[{t}]"), tier)),
        );
    for (field, names) in channels {
        check_channels(&field, names, known, v);
    }
    if let Some(group_by) = &route.group_by {
        check_group_by(&format!("{at}.group_by"), group_by, v);
    }
    for (field, d) in [
        ("group_interval", route.group_interval),
        ("repeat_interval", route.repeat_interval),
    ] {
        if let Some(d) = d {
            v.duration(&format!("{at}.{field}"), d, A_WEEK);
        }
    }
    for (i, child) in route.routes.iter().enumerate() {
        validate_route(child, &format!("{at}.routes[{i}]"), known, v);
    }
}

/// The channels a route or tier may name: the enabled ones, among those defined.
struct Known<'a> {
    enabled: &'a [String],
    channels: &'a ChannelsConfig,
}

fn check_channels(field: &str, names: &[String], known: &Known<'_>, v: &mut Validation) {
    if names.is_empty() {
        v.error(field, "names no channel");
    }
    for name in names {
        if known.enabled.contains(name) {
            continue;
        }
        let defined =
            BUILT_IN_CHANNELS.contains(&name.as_str()) || known.channels.named.contains_key(name);
        v.error(
            field,
            if defined {
                format!("channel `{name}` is not enabled")
            } else {
                format!(
                    "no channel is named `{name}`: the built-in ones are {}, others are defined under channels.named",
                    BUILT_IN_CHANNELS.join(", ")
                )
            },
        );
    }
}

fn check_group_by(field: &str, group_by: &[String], v: &mut Validation) {
    if group_by.len() > 1 && group_by.iter().any(|l| l == "...") {
        v.error(
            field,
            "`...` (every label) cannot be mixed with label names",
        );
    }
    for (i, label) in group_by.iter().enumerate() {
        if label != "..." && !super::matchers::valid_label_name(label) {
            v.error(
                format!("{field}[{i}]"),
                format!("`{label}` is not a label name"),
            );
        }
        if group_by[..i].contains(label) {
            v.error(
                format!("{field}[{i}]"),
                format!("`{label}` is listed twice"),
            );
        }
    }
}

impl AlertingConfig {
    fn validate_routes(&self, v: &mut Validation, enabled: &[String]) {
        let known = Known {
            enabled,
            channels: &self.channels,
        };
        if let Some(receiver) = &self.receiver {
            check_channels("receiver", receiver, &known, v);
        }
        for (t, tier) in self.escalation.tiers.iter().enumerate() {
            check_channels(&format!("escalation.tiers[{t}]"), tier, &known, v);
        }
        check_group_by("group_by", &self.group_by, v);
        for (i, route) in self.routes.iter().enumerate() {
            validate_route(route, &format!("routes[{i}]"), &known, v);
        }
        if self.enabled {
            let tree = self.route_tree();
            for name in enabled {
                let reached = *name == ALERTMANAGER_CHANNEL
                    || tree
                        .walk()
                        .iter()
                        .any(|r| r.tiers.iter().flatten().any(|c| c == name));
                if !reached {
                    v.warning(
                        format!("channels.{name}"),
                        format!("`{name}` is enabled but no receiver, route or escalation tier names it: it is never notified"),
                    );
                }
            }
        }
    }

    /// The routing tree.
    pub fn route_tree(&self) -> Route {
        Route::tree(self)
    }

    /// The rule named `name`.
    pub fn rule(&self, name: &str) -> Option<&AlertRule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// Checks the section; field paths are relative to it.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        if !self.enabled {
            v.warning(
                "enabled",
                "alerting is disabled: nobody will hear of breaches",
            );
        }
        v.duration("check_interval", self.check_interval, A_DAY);
        v.duration("group_interval", self.group_interval, A_DAY);
        v.duration("repeat_interval", self.repeat_interval, A_WEEK);
        v.duration("escalation.timeout", self.escalation.timeout, A_WEEK);
        for (field, d) in [
            ("group_wait", self.group_wait),
            ("suppression_window", self.suppression_window),
        ] {
            if d > A_DAY.0 {
                v.duration(field, d, A_DAY);
            }
        }
        v.count("history_limit", self.history_limit as u64, MAX_CAPACITY);
        v.count(
            "max_posted_alerts",
            self.max_posted_alerts as u64,
            MAX_CAPACITY,
        );
        for (i, label) in self.group_by.iter().enumerate() {
            if label.is_empty() {
                v.error(format!("group_by[{i}]"), "a label name must not be empty");
            }
        }
        for name in self.external_labels.keys() {
            if let Some(problem) = validation::name_problem(name) {
                v.error(
                    format!("external_labels.{name}"),
                    format!("a label name {problem}"),
                );
            }
        }
        v.nest("channels", self.channels.validate());
        let enabled = self.channels.enabled();
        if self.enabled && enabled.is_empty() {
            v.error("channels", "alerting is enabled but no channel is");
        }
        for (i, rule) in self.rules.iter().enumerate() {
            v.nest(&format!("rules[{i}]"), rule.validate());
            if self.rules[..i].iter().any(|r| r.name == rule.name) {
                v.error(
                    format!("rules[{i}].name"),
                    format!(
                        "`{}` is the name of an earlier rule; each rule's alerts are known by its name",
                        rule.name
                    ),
                );
            }
        }
        self.validate_routes(&mut v, &enabled);
        v.count("silences.max", self.silences.max as u64, MAX_CAPACITY);
        if self.silences.retention > A_WEEK.0 {
            v.duration("silences.retention", self.silences.retention, A_WEEK);
        }
        if self.enabled {
            // channels are built (their secrets resolved) only when alerting is on
            self.channels.check_environment(&mut v, "channels.");
        }
        for (i, rule) in self.inhibit_rules.iter().enumerate() {
            for (j, label) in rule.equal.iter().enumerate() {
                if !super::matchers::valid_label_name(label) {
                    v.error(
                        format!("inhibit_rules[{i}].equal[{j}]"),
                        format!("`{label}` is not a label name"),
                    );
                }
            }
            if rule.target_matchers.is_empty() {
                v.warning(
                    format!("inhibit_rules[{i}].target_matchers"),
                    "no target matchers: a matching source mutes every alert",
                );
            }
        }
        let r = &self.rate_limit;
        if r.per_minute == 0 || r.per_hour == 0 {
            v.error("rate_limit", "limits must be at least 1");
        } else if r.per_hour < r.per_minute {
            v.warning("rate_limit", "per_hour is below per_minute");
        }
        v
    }
}
