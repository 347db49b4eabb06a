//! The `alerting` section: rules, grouping, channels, escalation tiers and rate limits.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rules::{AlertRule, Metric};
use crate::kernel::duration_serde;
use crate::kernel::validation::{self, Validation, A_DAY, A_WEEK, MAX_CAPACITY};
use crate::notify::{ChannelsConfig, ALERTMANAGER_CHANNEL};

/// Escalation of unacknowledged firing alerts through tiers of channels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationConfig {
    /// An unacknowledged firing alert moves on to the next tier's channels after this.
    #[serde(with = "duration_serde")]
    pub timeout: Duration,
    /// Channel names per tier, first tier first, e.g. `[["slack"], ["email"]]`. Empty: every
    /// enabled channel is one tier, notified of every alert.
    pub tiers: Vec<Vec<String>>,
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
    /// Labels added to every alert, e.g. `{"instance": "indexer-1"}` (Prometheus'
    /// `external_labels`), so alerts from many processes stay apart in Alertmanager.
    pub external_labels: BTreeMap<String, String>,
    /// The rules, each with a unique name.
    pub rules: Vec<AlertRule>,
    /// The channels notifications go to.
    pub channels: ChannelsConfig,
    /// Escalation tiers of channels.
    pub escalation: EscalationConfig,
    /// Rate limits per channel.
    pub rate_limit: RateLimitConfig,
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
            escalation: EscalationConfig::default(),
            rate_limit: RateLimitConfig::default(),
        }
    }
}

impl AlertingConfig {
    /// The channels of tiers `0..=tier`, Alertmanager excepted (it receives raw alert states).
    /// Without tiers, every enabled channel.
    pub fn tier_channels(&self, tier: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if self.escalation.tiers.is_empty() {
            out.extend(
                self.channels
                    .enabled()
                    .into_iter()
                    .filter(|c| *c != ALERTMANAGER_CHANNEL)
                    .map(str::to_owned),
            );
            return out;
        }
        for channels in self.escalation.tiers.iter().take(tier + 1) {
            for c in channels {
                if c != ALERTMANAGER_CHANNEL && !out.contains(c) {
                    out.push(c.clone());
                }
            }
        }
        out
    }

    /// The number of escalation tiers (1 without explicit tiers).
    pub fn tiers(&self) -> usize {
        self.escalation.tiers.len().max(1)
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
        for (ti, tier) in self.escalation.tiers.iter().enumerate() {
            if tier.is_empty() {
                v.error(format!("escalation.tiers[{ti}]"), "a tier needs a channel");
            }
            for name in tier {
                if !enabled.contains(&name.as_str()) {
                    v.error(
                        format!("escalation.tiers[{ti}]"),
                        format!("channel `{name}` is not enabled"),
                    );
                }
            }
        }
        if self.enabled && !self.escalation.tiers.is_empty() {
            for name in &enabled {
                let reached = *name == ALERTMANAGER_CHANNEL
                    || self.escalation.tiers.iter().flatten().any(|c| c == name);
                if !reached {
                    v.warning(
                        format!("channels.{name}.enabled"),
                        format!("`{name}` is enabled but no escalation tier names it: it is never notified"),
                    );
                }
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
