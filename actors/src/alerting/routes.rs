//! The routing tree, as Alertmanager's `route`: each node has matchers, a receiver (one or more
//! channels), grouping and timers, escalation tiers and rate limits; children inherit what they do
//! not set. An alert goes to the deepest matching node of each branch it enters: the first child
//! that matches wins unless it has `continue`; a node none of whose children match takes the alert
//! itself. The root is the `alerting` section's own settings.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::config::{AlertingConfig, EscalationConfig, RateLimitConfig};
use super::matchers::Matcher;
use crate::kernel::duration_serde;

/// One node of the routing tree below the root.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::{AlertingConfig, Matcher, RouteConfig};
///
/// let critical = RouteConfig {
///     matchers: vec![Matcher::equal("severity", "critical")],
///     receiver: Some(vec!["log".into()]),
///     ..Default::default()
/// };
/// let config = AlertingConfig { routes: vec![critical], ..Default::default() };
/// assert!(!config.validate().has_errors());
/// assert_eq!(config.route_tree().routes[0].key, r#"{}/{severity="critical"}"#);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteConfig {
    /// Alerts this node takes, e.g. `["severity=\"critical\"", "team=~\"search|index\""]`; all
    /// must match (a missing label reads as empty).
    pub matchers: Vec<Matcher>,
    /// The channel or channels notified first: `"pager"` or `["slack", "email"]`. Inherited.
    #[serde(
        deserialize_with = "one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub receiver: Option<Vec<String>>,
    /// Labels that group alerts into one notification; `["..."]` groups by every label. Inherited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    /// Wait before a new group's first notification. Inherited.
    #[serde(
        with = "duration_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_wait: Option<Duration>,
    /// Wait before telling a group about alerts added to it. Inherited.
    #[serde(
        with = "duration_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_interval: Option<Duration>,
    /// Wait before repeating an unchanged firing group. Inherited.
    #[serde(
        with = "duration_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub repeat_interval: Option<Duration>,
    /// Whether the sibling routes after this one are tried too once this one matched.
    #[serde(rename = "continue")]
    pub continue_: bool,
    /// Channels an unacknowledged alert moves on to after the receiver. Inherited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation: Option<EscalationConfig>,
    /// Notifications per channel of this route. Inherited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitConfig>,
    /// Child routes, tried in order.
    pub routes: Vec<RouteConfig>,
}

pub(super) fn one_or_many<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(name)) => Some(vec![name]),
        Some(OneOrMany::Many(names)) => Some(names),
    })
}

/// How a route groups alerts.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::{AlertingConfig, GroupBy};
///
/// let config = AlertingConfig { group_by: vec!["...".into()], ..Default::default() };
/// assert_eq!(config.route_tree().group_by, GroupBy::All);
/// let labels = AlertingConfig::default().route_tree().group_by;
/// assert_eq!(labels, GroupBy::Labels(vec!["alertname".into(), "monitor".into()]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// By these labels (absent ones are left out of the group's labels).
    Labels(Vec<String>),
    /// By every label: each distinct alert is a group.
    All,
}

impl GroupBy {
    fn of(names: &[String]) -> GroupBy {
        if names.len() == 1 && names[0] == "..." {
            GroupBy::All
        } else {
            GroupBy::Labels(names.to_vec())
        }
    }
}

/// A node of the routing tree with everything it inherits filled in.
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
/// use watchkeeper_actors::alerting::{AlertingConfig, Matcher, RouteConfig};
///
/// let pager = RouteConfig { matchers: vec![Matcher::equal("team", "search")], ..Default::default() };
/// let tree = AlertingConfig { routes: vec![pager], ..Default::default() }.route_tree();
/// let labels = BTreeMap::from([("team".to_owned(), "search".to_owned())]);
/// let taken = tree.matching(&labels);
/// assert_eq!(taken[0].key, r#"{}/{team="search"}"#);
/// assert_eq!(taken[0].receivers(), ["log"]);
/// assert_eq!(tree.walk().len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// Alertmanager's route key: the parent's key, `/`, this node's matchers (`{}` at the root).
    pub key: String,
    /// This node's own matchers.
    pub matchers: Vec<Matcher>,
    /// The channels of each tier: the receiver first, then the escalation tiers.
    pub tiers: Vec<Vec<String>>,
    /// How alerts are grouped.
    pub group_by: GroupBy,
    /// Wait before a new group's first notification.
    pub group_wait: Duration,
    /// Wait before telling a group about alerts added to it.
    pub group_interval: Duration,
    /// Wait before repeating an unchanged firing group.
    pub repeat_interval: Duration,
    /// An unacknowledged alert moves on a tier after this.
    pub escalation_timeout: Duration,
    /// Notifications per channel.
    pub rate_limit: RateLimitConfig,
    /// Whether later siblings are tried after this one matched.
    pub continue_: bool,
    /// Children, in order.
    pub routes: Vec<Route>,
}

/// Alertmanager's way of writing a list of matchers in a route key: sorted, `{a="1",b=~"x"}`.
fn matchers_key(matchers: &[Matcher]) -> String {
    let mut sorted: Vec<&Matcher> = matchers.iter().collect();
    sorted.sort_by(|a, b| (&a.name, &a.value, a.op).cmp(&(&b.name, &b.value, b.op)));
    let parts: Vec<String> = sorted.iter().map(ToString::to_string).collect();
    format!("{{{}}}", parts.join(","))
}

impl Route {
    /// The tree of `config`: its own settings at the root, `routes` below.
    pub fn tree(config: &AlertingConfig) -> Route {
        let mut first = config.receiver.clone().unwrap_or_else(|| {
            config
                .channels
                .enabled()
                .into_iter()
                .filter(|c| c != crate::notify::ALERTMANAGER_CHANNEL)
                .collect()
        });
        first.retain(|c| c != crate::notify::ALERTMANAGER_CHANNEL);
        let mut tiers = vec![first];
        tiers.extend(config.escalation.tiers.iter().cloned());
        let mut root = Route {
            key: "{}".into(),
            matchers: Vec::new(),
            tiers,
            group_by: GroupBy::of(&config.group_by),
            group_wait: config.group_wait,
            group_interval: config.group_interval,
            repeat_interval: config.repeat_interval,
            escalation_timeout: config.escalation.timeout,
            rate_limit: config.rate_limit.clone(),
            continue_: false,
            routes: Vec::new(),
        };
        root.routes = config.routes.iter().map(|r| root.child(r)).collect();
        root
    }

    fn child(&self, config: &RouteConfig) -> Route {
        let mut tiers = self.tiers.clone();
        if let Some(receiver) = &config.receiver {
            tiers = vec![receiver.clone()];
            if config.escalation.is_none() {
                tiers.extend(self.tiers.iter().skip(1).cloned());
            }
        }
        if let Some(escalation) = &config.escalation {
            tiers.truncate(1);
            tiers.extend(escalation.tiers.iter().cloned());
        }
        let mut route = Route {
            key: format!("{}/{}", self.key, matchers_key(&config.matchers)),
            matchers: config.matchers.clone(),
            tiers,
            group_by: config
                .group_by
                .as_deref()
                .map_or_else(|| self.group_by.clone(), GroupBy::of),
            group_wait: config.group_wait.unwrap_or(self.group_wait),
            group_interval: config.group_interval.unwrap_or(self.group_interval),
            repeat_interval: config.repeat_interval.unwrap_or(self.repeat_interval),
            escalation_timeout: config
                .escalation
                .as_ref()
                .map_or(self.escalation_timeout, |e| e.timeout),
            rate_limit: config
                .rate_limit
                .clone()
                .unwrap_or_else(|| self.rate_limit.clone()),
            continue_: config.continue_,
            routes: Vec::new(),
        };
        route.routes = config.routes.iter().map(|r| route.child(r)).collect();
        route
    }

    /// The nodes `labels` goes to, in order (deepest matching nodes; none when this node's own
    /// matchers do not match).
    pub fn matching(&self, labels: &BTreeMap<String, String>) -> Vec<&Route> {
        if !Matcher::all_match(&self.matchers, labels) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for child in &self.routes {
            let found = child.matching(labels);
            if found.is_empty() {
                continue;
            }
            out.extend(found);
            if !child.continue_ {
                break;
            }
        }
        if out.is_empty() {
            out.push(self);
        }
        out
    }

    /// Every node, depth first.
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for child in &self.routes {
            out.extend(child.walk());
        }
        out
    }

    /// The node with key `key`.
    pub fn find(&self, key: &str) -> Option<&Route> {
        if self.key == key {
            return Some(self);
        }
        self.routes.iter().find_map(|r| r.find(key))
    }

    /// The labels of `labels` this node groups by.
    pub fn group_labels(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|l| labels.get(l).map(|v| (l.clone(), v.clone())))
                .collect(),
        }
    }

    /// Alertmanager's group key: this node's key, `:`, the group labels as
    /// `{a="x", b="y"}`.
    pub fn group_key(&self, labels: &BTreeMap<String, String>) -> String {
        let group: Vec<String> = self
            .group_labels(labels)
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{}:{{{}}}", self.key, group.join(", "))
    }

    /// The first tier's channels, as this route's receivers.
    pub fn receivers(&self) -> &[String] {
        self.tiers.first().map_or(&[], Vec::as_slice)
    }

    /// The channels of tiers `0..=tier`, each once.
    pub fn channels_up_to(&self, tier: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for channels in self.tiers.iter().take(tier + 1) {
            for c in channels {
                if c != crate::notify::ALERTMANAGER_CHANNEL && !out.contains(c) {
                    out.push(c.clone());
                }
            }
        }
        out
    }
}
