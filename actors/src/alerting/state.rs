//! One alert's lifecycle: Pending -> Firing -> Recovering -> Resolved, or NoData when its source
//! stops reporting, moved by each evaluation's verdict.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Local, Utc};
use serde::Serialize;
use tokio::time::Instant;

use super::config::AlertingConfig;
use super::rules::{AlertRule, AlertSeverity, RuleKind};
use super::store::AlertingState;
use super::Happened;
use crate::notify::{AlertPayload, AlertStatus};

/// Lifecycle of one alert.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::AlertState;
///
/// assert!(AlertState::Recovering.firing());
/// assert!(AlertState::NoData.firing());
/// assert!(!AlertState::Pending.firing());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Breaching, for less than the rule's `for`.
    Pending,
    /// Breaching long enough: firing.
    Firing,
    /// No longer breaching; firing on for `keep_firing_for`.
    Recovering,
    /// Over.
    Resolved,
    /// Firing, but its source stopped reporting.
    NoData,
}

impl AlertState {
    /// Whether the alert counts as firing (recovering and no-data included).
    pub fn firing(self) -> bool {
        matches!(
            self,
            AlertState::Firing | AlertState::Recovering | AlertState::NoData
        )
    }
}

/// Something that happened to an alert.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::alerting::*;
/// # use watchkeeper_actors::{ChildSpec, EventBus, Live, Store, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// let rule = AlertRule { warning: Some(0.1), ..AlertRule::new("SearchSlow", Some("search"), Metric::P99) };
/// let config = Live::new(AlertingConfig { rules: vec![rule], ..Default::default() });
/// let store = Store::new(AlertingState::default());
/// let state = store.clone();
/// let alerting = root.start_child(ChildSpec::new("alerting", move || {
///     AlertingActor::new(config.clone(), state.clone(), Peers::default())
/// }));
/// let t = Duration::from_secs(1);
/// // A p99 of 250 ms against a 100 ms warning threshold: the alert fires at once.
/// alerting.ask(Observe(vec![Some(0.25)]), t).await?;
/// let alerts = alerting.ask(GetAlerts, t).await?;
/// let events = &alerts[0].events;
/// assert_eq!(events[0].what, "pending: value 0.25 breaches 0.1");
/// assert!(events[0].at <= events[1].at);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct AlertEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub what: String,
}

/// One alert as the actor keeps it.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::alerting::*;
/// # use watchkeeper_actors::{ChildSpec, EventBus, Live, Store, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// let rule = AlertRule { warning: Some(0.1), ..AlertRule::new("SearchSlow", Some("search"), Metric::P99) };
/// let config = Live::new(AlertingConfig { rules: vec![rule], ..Default::default() });
/// let store = Store::new(AlertingState::default());
/// let state = store.clone();
/// let alerting = root.start_child(ChildSpec::new("alerting", move || {
///     AlertingActor::new(config.clone(), state.clone(), Peers::default())
/// }));
/// let t = Duration::from_secs(1);
/// // A p99 of 250 ms against a 100 ms warning threshold: the alert fires at once.
/// alerting.ask(Observe(vec![Some(0.25)]), t).await?;
/// let alerts = alerting.ask(GetAlerts, t).await?;
/// let alert = &alerts[0];
/// assert_eq!(alert.rule.as_deref(), Some("SearchSlow"));
/// assert_eq!((alert.state, alert.severity), (AlertState::Firing, AlertSeverity::Warning));
/// assert_eq!((alert.value, alert.threshold), (Some(0.25), 0.1));
/// assert_eq!(alert.fingerprint, fingerprint(&alert.labels));
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    /// The rule that raised it; `None` for an alert another actor raised.
    pub rule: Option<String>,
    /// Fingerprint of its labels (serialized as 16 hex digits).
    #[serde(serialize_with = "hex")]
    pub fingerprint: u64,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations, rendered with the last value.
    pub annotations: BTreeMap<String, String>,
    /// Its state.
    pub state: AlertState,
    /// Its severity.
    pub severity: AlertSeverity,
    /// The last observed value.
    pub value: Option<f64>,
    /// The threshold it compares against.
    pub threshold: f64,
    /// When it started firing.
    pub fired_at: Option<DateTime<Utc>>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// Its escalation tier (0 = first).
    pub tier: usize,
    /// Whether a silence matches it.
    pub silenced: bool,
    /// The active silences that match it.
    pub silenced_by: Vec<String>,
    /// Whether an inhibition rule mutes it.
    pub inhibited: bool,
    /// The fingerprint of the alert that mutes it.
    pub inhibited_by: Vec<String>,
    /// When it last changed or was seen again.
    pub updated_at: DateTime<Utc>,
    /// For an alert posted from outside: when it resolves unless posted again.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether flap suppression holds its notifications back.
    pub suppressed: bool,
    /// What happened to it: state changes, notifications delivered or failed (the last 32).
    pub events: VecDeque<AlertEvent>,
    #[serde(skip)]
    pub(super) pending_since: Option<Instant>,
    #[serde(skip)]
    pub(super) fired_instant: Option<Instant>,
    #[serde(skip)]
    pub(super) recovering_since: Option<Instant>,
    #[serde(skip)]
    pub(super) tier_since: Option<Instant>,
    #[serde(skip)]
    pub(super) suppressed_until: Option<Instant>,
    #[serde(skip)]
    pub(super) notified_firing: bool,
}

/// What a new alert is made of.
pub(super) struct NewAlert {
    pub rule: Option<String>,
    pub fingerprint: u64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub severity: AlertSeverity,
    pub value: Option<f64>,
    pub threshold: f64,
}

/// What raised an alert, and so what may change or end it ([`Alert::owner`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owner<'a> {
    /// A rule, by name.
    Rule(&'a str),
    /// An actor of the runtime ([`super::SetExternalAlert`]).
    Actor,
    /// A post from outside (`POST /api/v2/alerts`).
    Post,
}

impl std::fmt::Display for Owner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Rule(rule) => write!(f, "rule {rule:?}"),
            Owner::Actor => f.write_str("an actor of the runtime"),
            Owner::Post => f.write_str("a post"),
        }
    }
}

impl Alert {
    /// What raised it, and so what may change or end it: its rule; else a post from outside,
    /// which set when it expires; else an actor of the runtime.
    pub(super) fn owner(&self) -> Owner<'_> {
        match (&self.rule, self.expires_at) {
            (Some(rule), _) => Owner::Rule(rule),
            (None, Some(_)) => Owner::Post,
            (None, None) => Owner::Actor,
        }
    }

    /// Whether it was posted from outside (`POST /api/v2/alerts`). `alerting.max_posted_alerts`
    /// counts these, not the alerts rules or other actors raise.
    pub(super) fn posted(&self) -> bool {
        self.owner() == Owner::Post
    }

    /// A pending alert, breaching since `now`.
    pub(super) fn pending(new: NewAlert, now: Instant) -> Self {
        Alert {
            rule: new.rule,
            fingerprint: new.fingerprint,
            labels: new.labels,
            annotations: new.annotations,
            state: AlertState::Pending,
            severity: new.severity,
            value: new.value,
            threshold: new.threshold,
            fired_at: None,
            resolved_at: None,
            acknowledged_by: None,
            tier: 0,
            silenced: false,
            silenced_by: Vec::new(),
            inhibited: false,
            inhibited_by: Vec::new(),
            updated_at: Utc::now(),
            expires_at: None,
            suppressed: false,
            events: VecDeque::new(),
            pending_since: Some(now),
            fired_instant: None,
            recovering_since: None,
            tier_since: None,
            suppressed_until: None,
            notified_firing: false,
        }
    }

    pub(super) fn log(&mut self, what: impl Into<String>) {
        if self.events.len() >= 32 {
            self.events.pop_front();
        }
        self.events.push_back(AlertEvent {
            at: Utc::now(),
            what: what.into(),
        });
    }

    pub(super) fn payload(&self, status: AlertStatus) -> AlertPayload {
        AlertPayload {
            fingerprint: self.fingerprint,
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            status,
            starts_at: self.fired_at.unwrap_or_else(Utc::now),
            ends_at: self.resolved_at,
            value: self.value,
        }
    }

    pub(super) fn bytes(&self) -> usize {
        let map = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| std::mem::size_of::<(String, String)>() + k.capacity() + v.capacity())
                .sum::<usize>()
        };
        std::mem::size_of::<Self>()
            + map(&self.labels)
            + map(&self.annotations)
            + self
                .events
                .iter()
                .map(|e| std::mem::size_of::<AlertEvent>() + e.what.capacity())
                .sum::<usize>()
    }
}

pub(super) fn hex<S: serde::Serializer>(fp: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{fp:016x}"))
}

/// One alert's verdict from one evaluation.
pub(super) struct Judged {
    pub severity: AlertSeverity,
    pub threshold: f64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub fp: u64,
    pub value: Option<f64>,
    pub breach: Option<bool>,
}

/// Moves one alert through its states.
pub(super) fn step(
    book: &mut AlertingState,
    config: &AlertingConfig,
    rule: &AlertRule,
    judged: Judged,
    now: Instant,
    wall: DateTime<Utc>,
) {
    let Judged {
        severity,
        threshold,
        labels,
        annotations,
        fp,
        value,
        breach,
    } = judged;
    let Some(alert) = book.alerts.get_mut(&fp) else {
        if breach == Some(true) {
            let mut alert = Alert::pending(
                NewAlert {
                    rule: Some(rule.name.clone()),
                    fingerprint: fp,
                    labels,
                    annotations,
                    severity,
                    value,
                    threshold,
                },
                now,
            );
            alert.log(format!(
                "pending: value {} breaches {threshold}",
                value.unwrap_or(f64::NAN)
            ));
            book.alerts.insert(fp, alert);
            if rule.for_.is_zero() {
                fire(book, config, fp, now, wall);
            }
        }
        return;
    };
    match alert.owner() {
        Owner::Rule(_) => {}
        Owner::Post if breach == Some(true) => {
            // posted from outside with the labels of this breaching rule: the rule's now, so it
            // ends when the rule says, not with its post
            alert.rule = Some(rule.name.clone());
            alert.expires_at = None;
            (alert.severity, alert.threshold) = (severity, threshold);
            alert.log("taken over by its rule, which breaches");
        }
        owner => {
            // an actor's alert with this rule's labels, or a post of them while the rule does
            // not breach: left to what raised it
            tracing::debug!(rule = %rule.name, %owner, "An alert with the rule's labels was raised elsewhere");
            return;
        }
    }
    // Seen again (`updatedAt` in Alertmanager's API).
    alert.updated_at = wall;
    // A detection's evidence is what made it fire: recovering readings (an anomaly score held
    // down after the event, say) do not overwrite it.
    let evidence_holds = rule.kind != RuleKind::Threshold && breach != Some(true);
    if value.is_some() && !evidence_holds {
        alert.value = value;
        alert.annotations = annotations;
    }
    enum Then {
        Nothing,
        Fire,
        Forget,
    }
    let then = match (alert.state, breach) {
        (AlertState::Pending, Some(true)) => {
            if alert
                .pending_since
                .is_some_and(|t| now.duration_since(t) >= rule.for_)
            {
                Then::Fire
            } else {
                Then::Nothing
            }
        }
        (AlertState::Pending, _) => Then::Forget,
        (AlertState::Firing, Some(false)) | (AlertState::NoData, Some(false)) => {
            // `keep_firing_for` counts from the first value that no longer breached, through a
            // gap in the data (Recovering, then NoData, then Recovering again), as in Prometheus.
            let since = match alert.state {
                AlertState::NoData => alert.recovering_since.unwrap_or(now),
                _ => now,
            };
            if now.duration_since(since) >= rule.keep_firing_for {
                resolve(alert, wall);
            } else {
                alert.state = AlertState::Recovering;
                alert.recovering_since = Some(since);
                alert.log("recovering");
            }
            Then::Nothing
        }
        (AlertState::Recovering, Some(false)) => {
            if alert
                .recovering_since
                .is_some_and(|t| now.duration_since(t) >= rule.keep_firing_for)
            {
                resolve(alert, wall);
            }
            Then::Nothing
        }
        (AlertState::Recovering, Some(true)) | (AlertState::NoData, Some(true)) => {
            alert.state = AlertState::Firing;
            alert.recovering_since = None;
            alert.log("firing again");
            Then::Nothing
        }
        (AlertState::Firing | AlertState::Recovering, None) => {
            alert.state = AlertState::NoData;
            alert.log("no data: the source stopped reporting");
            Then::Nothing
        }
        _ => Then::Nothing,
    };
    let resolved = alert.state == AlertState::Resolved;
    match then {
        Then::Fire => fire(book, config, fp, now, wall),
        Then::Forget => {
            book.alerts.remove(&fp);
        }
        Then::Nothing => {}
    }
    if resolved {
        book.alertmanager_dirty = true;
    }
}

pub(super) fn fire(
    book: &mut AlertingState,
    config: &AlertingConfig,
    fp: u64,
    now: Instant,
    wall: DateTime<Utc>,
) {
    let flapped = book
        .recently_resolved
        .get(&fp)
        .is_some_and(|t| now.duration_since(*t) < config.suppression_window);
    let Some(alert) = book.alerts.get_mut(&fp) else {
        return;
    };
    alert.state = AlertState::Firing;
    alert.fired_at = Some(wall);
    alert.fired_instant = Some(now);
    alert.tier_since = Some(now);
    if flapped {
        alert.suppressed_until = Some(now + config.suppression_window);
        alert.log("firing (flapping: notifications held for the suppression window)");
    } else {
        alert.log("firing");
    }
    book.fired_total += 1;
    book.happened.push(Happened::Fired {
        alert: alert.labels.get("alertname").cloned().unwrap_or_default(),
        severity: alert.severity,
        fingerprint: fp,
    });
    let today = Local::now().date_naive();
    book.today = Some(match book.today {
        Some((day, n)) if day == today => (day, n + 1),
        _ => (today, 1),
    });
    book.alertmanager_dirty = true;
}

pub(super) fn resolve(alert: &mut Alert, wall: DateTime<Utc>) {
    alert.state = AlertState::Resolved;
    alert.resolved_at = Some(wall);
    alert.log("resolved");
}

/// Moves resolved alerts into the bounded history.
pub(super) fn retire_resolved(book: &mut AlertingState, config: &AlertingConfig, now: Instant) {
    let resolved: Vec<u64> = book
        .alerts
        .values()
        .filter(|a| a.state == AlertState::Resolved)
        .map(|a| a.fingerprint)
        .collect();
    for fp in resolved {
        if let Some(alert) = book.alerts.remove(&fp) {
            book.happened.push(Happened::Resolved {
                alert: alert.labels.get("alertname").cloned().unwrap_or_default(),
                severity: alert.severity,
                fingerprint: fp,
            });
            book.recently_resolved.insert(fp, now);
            book.history.push_back(alert);
        }
    }
    let cap = super::store::RecentlyResolved::CAP.max(config.history_limit * 4);
    book.recently_resolved
        .expire(now, config.suppression_window, cap);
    while book.history.len() > config.history_limit {
        book.history.pop_front();
    }
}
