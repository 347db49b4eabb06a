//! [`AlertingActor`]: evaluates rules on a timer, keeps each alert's state, and sends notifications.
//!
//! Every `check_interval` it reads the statistics its rules name (monitors are asked with a timeout;
//! process memory comes from the OS; drops and restarts from the supervisor), moves each alert
//! (one per rule and severity, identified by the fingerprint of its labels) through
//! Pending -> Firing -> Recovering -> Resolved, or NoData when its monitor stops reporting, and routes:
//! inhibition (a firing critical mutes the warning with the same labels), silences, flap suppression,
//! Alertmanager-style grouping (`group_wait`, `group_interval`, `repeat_interval`) with immediate
//! resolved notices, escalation tiers for unacknowledged alerts, and per-channel rate limits whose
//! overflow is folded into one summary. Notifications go to [`NotifierActor`]s with `tell`: evaluation
//! never waits on a channel. All state lives in a store outside the actor, so a restart keeps it.

mod detection;
mod rules;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Local, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

pub use self::rules::{
    fingerprint, AlertRule, AlertSeverity, Comparison, Metric, RegressionSettings, RuleKind,
    TrendSettings,
};
use crate::notify::{
    AlertPayload, AlertStatus, Deliver, DeliveryOutcome, DeliveryReport, Notification,
    NotifierActor, ReportTo,
};
use crate::{
    ChildActor, ChildContext, ChildRef, Footprint, GetStats, Handles, Message, MonitorActor,
    Overflow, ProcessStats, SupervisorRef,
};

/// Escalation of unacknowledged firing alerts through tiers of channels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    /// An unacknowledged firing alert moves to the next tier after this.
    #[serde(with = "crate::duration_serde")]
    pub timeout: Duration,
    /// Channel names per tier, first tier first.
    pub tiers: Vec<Vec<String>>,
}

/// Notifications per channel; the overflow is folded into one summary notification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Per channel per minute.
    pub per_minute: u32,
    /// Per channel per hour.
    pub per_hour: u32,
}

/// How the alerting actor evaluates and routes.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertingSettings {
    /// How often rules are evaluated.
    pub check_interval: Duration,
    /// Labels that group alerts into one notification.
    pub group_by: Vec<String>,
    /// Wait before the first notification of a new group.
    pub group_wait: Duration,
    /// Wait before telling a group about changes.
    pub group_interval: Duration,
    /// Wait before repeating an unchanged firing group.
    pub repeat_interval: Duration,
    /// An alert that fires again within this of resolving is not notified again until it has
    /// fired this long (flap suppression).
    pub suppression_window: Duration,
    /// Resolved alerts kept in history.
    pub history_limit: usize,
    /// The rules.
    pub rules: Vec<AlertRule>,
    /// Escalation tiers.
    pub escalation: EscalationConfig,
    /// Rate limits.
    pub rate_limit: RateLimitConfig,
    /// The Alertmanager channel's re-send interval, when that channel is configured.
    pub alertmanager_resend: Option<Duration>,
    /// How long a question to another actor may take.
    pub ask_timeout: Duration,
    /// Labels added to every alert (e.g. `instance`), as Prometheus' `external_labels`.
    pub external_labels: BTreeMap<String, String>,
}

/// The name of the Alertmanager channel, which receives raw alert states rather than groups.
pub const ALERTMANAGER_CHANNEL: &str = "alertmanager";

/// Where rules read their values.
#[derive(Clone, Default)]
pub struct Sources {
    /// Monitors by name (the runtime adds to it as monitors are created).
    pub monitors: crate::MonitorDirectory,
    /// The supervisor whose restarts and mailbox drops rules may watch.
    pub supervisor: Option<SupervisorRef>,
}

/// Lifecycle of one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
    fn firing(self) -> bool {
        matches!(
            self,
            AlertState::Firing | AlertState::Recovering | AlertState::NoData
        )
    }
}

/// Something that happened to an alert.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub what: String,
}

/// One alert as the actor keeps it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
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
    /// Whether a firing critical alert with the same labels mutes it.
    pub inhibited: bool,
    /// Whether flap suppression holds its notifications back.
    pub suppressed: bool,
    /// What happened to it: state changes, notifications delivered or failed (the last 32).
    pub events: VecDeque<AlertEvent>,
    #[serde(skip)]
    pending_since: Option<Instant>,
    #[serde(skip)]
    fired_instant: Option<Instant>,
    #[serde(skip)]
    recovering_since: Option<Instant>,
    #[serde(skip)]
    tier_since: Option<Instant>,
    #[serde(skip)]
    suppressed_until: Option<Instant>,
    #[serde(skip)]
    notified_firing: bool,
}

impl Alert {
    fn log(&mut self, what: impl Into<String>) {
        if self.events.len() >= 32 {
            self.events.pop_front();
        }
        self.events.push_back(AlertEvent {
            at: Utc::now(),
            what: what.into(),
        });
    }

    fn payload(&self, status: AlertStatus) -> AlertPayload {
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

    fn bytes(&self) -> usize {
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

    /// The labels without `severity`: alerts equal in these are the same condition.
    fn condition(&self) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels.remove("severity");
        labels
    }
}

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

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
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
    fn active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.matchers.is_empty() && self.matchers.iter().all(|m| m.matches(labels))
    }
}

struct Group {
    labels: BTreeMap<String, String>,
    created: Instant,
    last_sent: Option<Instant>,
    last_hash: Option<u64>,
}

#[derive(Default)]
struct RateWindow {
    sent: VecDeque<Instant>,
    folded: u64,
    folded_names: BTreeSet<String>,
}

impl RateWindow {
    fn allows(&mut self, now: Instant, limits: &RateLimitConfig) -> bool {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(3600))
        {
            self.sent.pop_front();
        }
        let last_minute = self
            .sent
            .iter()
            .rev()
            .take_while(|t| now.duration_since(**t) < Duration::from_secs(60))
            .count();
        last_minute < limits.per_minute as usize && self.sent.len() < limits.per_hour as usize
    }
}

/// When alerts resolved, for flap suppression: expired in order and capped, so a flood of alerts
/// cannot grow it (or the time spent on it) without bound.
#[derive(Default)]
struct RecentlyResolved {
    at: HashMap<u64, Instant>,
    order: VecDeque<(u64, Instant)>,
}

impl RecentlyResolved {
    /// At most this many, however long the suppression window.
    const CAP: usize = 4096;

    fn get(&self, fp: &u64) -> Option<&Instant> {
        self.at.get(fp)
    }

    fn insert(&mut self, fp: u64, now: Instant) {
        self.at.insert(fp, now);
        self.order.push_back((fp, now));
    }

    /// Forgets what resolved longer than `window` ago, and the oldest beyond `cap`.
    fn expire(&mut self, now: Instant, window: Duration, cap: usize) {
        while let Some(&(fp, t)) = self.order.front() {
            if now.duration_since(t) < window && self.order.len() <= cap {
                break;
            }
            self.order.pop_front();
            if self.at.get(&fp) == Some(&t) {
                self.at.remove(&fp);
            }
        }
    }
}

#[derive(Default)]
struct Book {
    alerts: BTreeMap<u64, Alert>,
    groups: HashMap<String, Group>,
    silences: Vec<Silence>,
    next_silence: u64,
    history: VecDeque<Alert>,
    recently_resolved: RecentlyResolved,
    rate: HashMap<String, RateWindow>,
    channels_delivered: BTreeMap<String, u64>,
    channels_failed: BTreeMap<String, u64>,
    channels_rate_limited: BTreeMap<String, u64>,
    fired_total: u64,
    today: Option<(NaiveDate, u64)>,
    last_evaluation: Option<DateTime<Utc>>,
    last_evaluation_took: Duration,
    evaluations: u64,
    alertmanager_pushed: Option<Instant>,
    alertmanager_dirty: bool,
    /// Thresholds set at run time (by the tuner), by rule name: (warning, critical).
    overrides: HashMap<String, (Option<f64>, Option<f64>)>,
    /// The detector state of `regression`, `anomaly` and `trend` rules, by rule index.
    detectors: BTreeMap<usize, detection::Detector>,
    /// What each rule last compared with its thresholds, by rule index.
    readings: BTreeMap<usize, f64>,
}

/// Everything the alerting actor knows; outlives its restarts.
pub struct AlertStore {
    book: Mutex<Book>,
}

impl Default for AlertStore {
    fn default() -> Self {
        AlertStore {
            book: Mutex::new(Book::default()),
        }
    }
}

impl AlertStore {
    /// An empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The alerting actor's counters and state, for health and metrics.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertingStatus {
    /// Whether it evaluates (it answered, so yes).
    pub is_running: bool,
    /// Alerts firing now (including recovering and no-data).
    pub active_alerts: usize,
    /// Alerts pending now.
    pub pending_alerts: usize,
    /// Firing alerts held back by a silence.
    pub silenced_alerts: usize,
    /// Firing alerts muted by inhibition.
    pub inhibited_alerts: usize,
    /// Alerts that started firing today (local time; resets at midnight).
    pub alerts_today: u64,
    /// Alerts that started firing since start.
    pub fired_total: u64,
    /// Notifications delivered, per channel.
    pub delivered: BTreeMap<String, u64>,
    /// Notifications given up on, per channel.
    pub failed: BTreeMap<String, u64>,
    /// Notifications folded into summaries by rate limits, per channel.
    pub rate_limited: BTreeMap<String, u64>,
    /// Active silences.
    pub silences: usize,
    /// Resolved alerts in history.
    pub history: usize,
    /// Rules evaluated.
    pub rules: usize,
    /// Evaluations since start.
    pub evaluations: u64,
    /// When the last evaluation ran.
    pub last_evaluation: Option<DateTime<Utc>>,
    /// How long the last evaluation's state update and routing took.
    pub last_evaluation_took: Duration,
    /// What each rule last compared with its thresholds, for rules that had a value.
    pub rule_values: Vec<RuleValue>,
}

/// What one rule last compared with its thresholds: the metric's value, a regression's effect size,
/// an anomaly score, or a trend's forecast.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleValue {
    /// The rule's name.
    pub rule: String,
    /// Its kind.
    pub kind: RuleKind,
    /// The value.
    pub value: f64,
}

fn hex<S: serde::Serializer>(fp: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{fp:016x}"))
}

/// A value per rule: `Some` observed, `None` no data.
type Observations = Vec<Option<f64>>;

/// The alerting actor; see the module docs.
pub struct AlertingActor {
    settings: Arc<AlertingSettings>,
    store: Arc<AlertStore>,
    sources: Sources,
    channels: Arc<HashMap<String, ChildRef<NotifierActor>>>,
    evaluating: bool,
}

impl AlertingActor {
    /// An actor over `store` (a restart builds a new one over the same store).
    pub fn new(
        settings: Arc<AlertingSettings>,
        store: Arc<AlertStore>,
        sources: Sources,
        channels: Arc<HashMap<String, ChildRef<NotifierActor>>>,
    ) -> Self {
        AlertingActor {
            settings,
            store,
            sources,
            channels,
            evaluating: false,
        }
    }

    /// Starts an evaluation: gathers every rule's value, then applies them.
    fn evaluate(&mut self, ctx: &mut ChildContext<'_, Self>) {
        if self.evaluating {
            return;
        }
        self.evaluating = true;
        let gather = gather(self.settings.clone(), self.sources.clone());
        ctx.spawn_then(gather, |act, observations, ctx| {
            act.evaluating = false;
            let report_to = act.report_to(ctx);
            act.apply(&observations, Instant::now(), &report_to);
        });
    }

    fn report_to(&self, ctx: &ChildContext<'_, Self>) -> ReportTo {
        let me = ctx.myself();
        Arc::new(move |report| {
            let _ = me.tell(report);
        })
    }

    /// Updates every alert from `observations` and sends what routing decides, at `now`.
    fn apply(&mut self, observations: &Observations, now: Instant, report_to: &ReportTo) {
        let started = std::time::Instant::now();
        let settings = self.settings.clone();
        let mut book = self.store.lock();
        let wall = Utc::now();
        for (index, (rule, value)) in settings.rules.iter().zip(observations).enumerate() {
            let reading = detection::read(&mut book.detectors, index, rule, *value, now);
            if let Some(v) = reading.value {
                book.readings.insert(index, v);
            }
            let (warning, critical) = book
                .overrides
                .get(&rule.name)
                .copied()
                .unwrap_or((rule.warning, rule.critical));
            for (severity, threshold) in rules::thresholds(warning, critical) {
                let mut labels = settings.external_labels.clone();
                labels.extend(rule.alert_labels(severity));
                let fp = fingerprint(&labels);
                let annotations = rule.render_annotations(
                    reading.value,
                    threshold,
                    reading.evidence_for(threshold),
                );
                let breach = reading.breach(rule, threshold);
                step(
                    &mut book,
                    &settings,
                    rule,
                    Judged {
                        severity,
                        threshold,
                        labels,
                        annotations,
                        fp,
                        value: reading.value,
                        breach,
                    },
                    now,
                    wall,
                );
            }
        }
        let mut outgoing = Vec::new();
        mark(&mut book, &settings, now, wall, &mut outgoing);
        route(&mut book, &settings, now, &mut outgoing);
        push_alertmanager(&mut book, &settings, now, &self.channels, &mut outgoing);
        retire_resolved(&mut book, &settings, now);
        book.evaluations += 1;
        book.last_evaluation = Some(wall);
        book.last_evaluation_took = started.elapsed();
        send(
            &mut book,
            &settings,
            now,
            &self.channels,
            outgoing,
            report_to,
        );
        flush_summaries(&mut book, &settings, now, &self.channels, report_to);
    }
}

/// Reads every rule's value: monitors asked concurrently with the ask timeout.
async fn gather(settings: Arc<AlertingSettings>, sources: Sources) -> Observations {
    let wanted: BTreeSet<String> = settings
        .rules
        .iter()
        .filter(|r| r.metric.per_monitor())
        .filter_map(|r| r.monitor.clone())
        .collect();
    let refs: Vec<(String, ChildRef<MonitorActor>)> = wanted
        .iter()
        .filter_map(|m| sources.monitors.get(m).map(|r| (m.clone(), r)))
        .collect();
    let asks = refs
        .iter()
        .map(|(_, r)| r.ask(GetStats, settings.ask_timeout));
    let answers = futures_util::future::join_all(asks).await;
    let stats: HashMap<&str, crate::PerformanceStats> = refs
        .iter()
        .zip(answers)
        .filter_map(|((name, _), a)| a.ok().map(|s| (name.as_str(), s)))
        .collect();
    let needs_supervisor = settings
        .rules
        .iter()
        .any(|r| matches!(r.metric, Metric::MailboxDrops | Metric::Restarts));
    let supervision = match (&sources.supervisor, needs_supervisor) {
        (Some(s), true) => s.status(settings.ask_timeout).await,
        _ => None,
    };
    let resident = settings
        .rules
        .iter()
        .any(|r| r.metric == Metric::ProcessMemoryBytes)
        .then(ProcessStats::read)
        .and_then(|p| p.resident_bytes);
    settings
        .rules
        .iter()
        .map(|rule| match rule.metric {
            Metric::ProcessMemoryBytes => resident.map(|b| b as f64),
            Metric::MailboxDrops => supervision.as_ref().map(|s| {
                s.all_children()
                    .iter()
                    .filter_map(|c| c.mailbox.as_ref())
                    .map(|m| m.drops())
                    .sum::<u64>() as f64
            }),
            Metric::Restarts => supervision.as_ref().map(|s| s.restarts_in_window as f64),
            metric => rule
                .monitor
                .as_deref()
                .and_then(|m| stats.get(m))
                .and_then(|s| metric.of(s)),
        })
        .collect()
}

/// One alert's verdict from one evaluation.
struct Judged {
    severity: AlertSeverity,
    threshold: f64,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    fp: u64,
    value: Option<f64>,
    breach: Option<bool>,
}

/// Moves one alert through its states.
fn step(
    book: &mut Book,
    settings: &AlertingSettings,
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
            let mut alert = Alert {
                fingerprint: fp,
                labels,
                annotations,
                state: AlertState::Pending,
                severity,
                value,
                threshold,
                fired_at: None,
                resolved_at: None,
                acknowledged_by: None,
                tier: 0,
                silenced: false,
                inhibited: false,
                suppressed: false,
                events: VecDeque::new(),
                pending_since: Some(now),
                fired_instant: None,
                recovering_since: None,
                tier_since: None,
                suppressed_until: None,
                notified_firing: false,
            };
            alert.log(format!(
                "pending: value {} breaches {threshold}",
                value.unwrap_or(f64::NAN)
            ));
            book.alerts.insert(fp, alert);
            if rule.for_.is_zero() {
                fire(book, settings, fp, now, wall);
            }
        }
        return;
    };
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
            if rule.keep_firing_for.is_zero() {
                resolve(alert, wall);
            } else {
                alert.state = AlertState::Recovering;
                alert.recovering_since = Some(now);
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
        Then::Fire => fire(book, settings, fp, now, wall),
        Then::Forget => {
            book.alerts.remove(&fp);
        }
        Then::Nothing => {}
    }
    if resolved {
        book.alertmanager_dirty = true;
    }
}

fn fire(book: &mut Book, settings: &AlertingSettings, fp: u64, now: Instant, wall: DateTime<Utc>) {
    let flapped = book
        .recently_resolved
        .get(&fp)
        .is_some_and(|t| now.duration_since(*t) < settings.suppression_window);
    let Some(alert) = book.alerts.get_mut(&fp) else {
        return;
    };
    alert.state = AlertState::Firing;
    alert.fired_at = Some(wall);
    alert.fired_instant = Some(now);
    alert.tier_since = Some(now);
    if flapped {
        alert.suppressed_until = Some(now + settings.suppression_window);
        alert.log("firing (flapping: notifications held for the suppression window)");
    } else {
        alert.log("firing");
    }
    book.fired_total += 1;
    let today = Local::now().date_naive();
    book.today = Some(match book.today {
        Some((day, n)) if day == today => (day, n + 1),
        _ => (today, 1),
    });
    book.alertmanager_dirty = true;
}

fn resolve(alert: &mut Alert, wall: DateTime<Utc>) {
    alert.state = AlertState::Resolved;
    alert.resolved_at = Some(wall);
    alert.log("resolved");
}

/// Silences, inhibition, flap suppression and escalation; escalations produce notifications.
fn mark(
    book: &mut Book,
    settings: &AlertingSettings,
    now: Instant,
    wall: DateTime<Utc>,
    outgoing: &mut Vec<Notification>,
) {
    book.silences.retain(|s| s.ends_at > wall);
    let critical: BTreeSet<u64> = book
        .alerts
        .values()
        .filter(|a| a.severity == AlertSeverity::Critical && a.state.firing())
        .map(|a| fingerprint(&a.condition()))
        .collect();
    let silences = book.silences.clone();
    for alert in book.alerts.values_mut() {
        alert.silenced = silences
            .iter()
            .any(|s| s.active(wall) && s.matches(&alert.labels));
        alert.inhibited = alert.severity == AlertSeverity::Warning
            && critical.contains(&fingerprint(&alert.condition()));
        alert.suppressed = alert.suppressed_until.is_some_and(|t| now < t);
        let tiers = settings.escalation.tiers.len();
        if alert.state.firing()
            && alert.acknowledged_by.is_none()
            && !alert.silenced
            && !alert.inhibited
            && alert.tier + 1 < tiers
            && alert
                .tier_since
                .is_some_and(|t| now.duration_since(t) >= settings.escalation.timeout)
        {
            alert.tier += 1;
            alert.tier_since = Some(now);
            alert.log(format!("escalated to tier {}", alert.tier + 1));
            let channels = &settings.escalation.tiers[alert.tier];
            for channel in channels.iter().filter(|c| *c != ALERTMANAGER_CHANNEL) {
                outgoing.push(Notification {
                    id: Notification::next_id(),
                    channel: channel.clone(),
                    group_key: format!("escalation/{:016x}", alert.fingerprint),
                    group_labels: alert.labels.clone(),
                    status: AlertStatus::Firing,
                    alerts: vec![alert.payload(AlertStatus::Firing)],
                    summary: Some(format!(
                        "Escalated: unacknowledged for {}",
                        crate::duration_serde::format(settings.escalation.timeout)
                    )),
                    created_at: wall,
                });
            }
        }
    }
}

fn group_key(
    labels: &BTreeMap<String, String>,
    by: &[String],
) -> (String, BTreeMap<String, String>) {
    let group: BTreeMap<String, String> = by
        .iter()
        .filter_map(|l| labels.get(l).map(|v| (l.clone(), v.clone())))
        .collect();
    let key = group
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(",");
    (format!("{{{key}}}"), group)
}

/// Grouping, dedup, repeat, and immediate resolved notices.
fn route(
    book: &mut Book,
    settings: &AlertingSettings,
    now: Instant,
    outgoing: &mut Vec<Notification>,
) {
    let mut members: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for alert in book.alerts.values() {
        if alert.state == AlertState::Pending {
            continue;
        }
        let (key, labels) = group_key(&alert.labels, &settings.group_by);
        book.groups.entry(key.clone()).or_insert_with(|| Group {
            labels,
            created: now,
            last_sent: None,
            last_hash: None,
        });
        members.entry(key).or_default().push(alert.fingerprint);
    }
    book.groups.retain(|k, _| members.contains_key(k));
    let wall = Utc::now();
    for (key, fps) in members {
        let notifiable = |a: &Alert| !a.silenced && !a.inhibited && !a.suppressed;
        // Resolved notices go out at once, to every tier the alert reached.
        let resolved: Vec<&Alert> = fps
            .iter()
            .filter_map(|fp| book.alerts.get(fp))
            .filter(|a| a.state == AlertState::Resolved && a.notified_firing && !a.silenced)
            .collect();
        let group_labels = book.groups[&key].labels.clone();
        if !resolved.is_empty() {
            // The group's content changed: what fires next is news, not a repeat.
            if let Some(group) = book.groups.get_mut(&key) {
                group.last_hash = None;
            }
            let tier = resolved.iter().map(|a| a.tier).max().unwrap_or(0);
            for channel in tier_channels(settings, tier) {
                outgoing.push(Notification {
                    id: Notification::next_id(),
                    channel,
                    group_key: key.clone(),
                    group_labels: group_labels.clone(),
                    status: AlertStatus::Resolved,
                    alerts: resolved
                        .iter()
                        .map(|a| a.payload(AlertStatus::Resolved))
                        .collect(),
                    summary: None,
                    created_at: wall,
                });
            }
        }
        let firing: Vec<&Alert> = fps
            .iter()
            .filter_map(|fp| book.alerts.get(fp))
            .filter(|a| a.state.firing() && notifiable(a))
            .collect();
        if firing.is_empty() {
            continue;
        }
        let hash = fingerprint(
            &firing
                .iter()
                .map(|a| (format!("{:016x}", a.fingerprint), String::new()))
                .collect(),
        );
        let group = &book.groups[&key];
        let due = match (group.last_sent, group.last_hash) {
            (None, _) => now.duration_since(group.created) >= settings.group_wait,
            (Some(sent), Some(h)) if h == hash => {
                now.duration_since(sent) >= settings.repeat_interval
            }
            (Some(sent), _) => now.duration_since(sent) >= settings.group_interval,
        };
        if !due {
            continue;
        }
        let tier = firing.iter().map(|a| a.tier).max().unwrap_or(0);
        let payloads: Vec<AlertPayload> = firing
            .iter()
            .map(|a| a.payload(AlertStatus::Firing))
            .collect();
        let fired: Vec<u64> = firing.iter().map(|a| a.fingerprint).collect();
        for channel in tier_channels(settings, tier) {
            outgoing.push(Notification {
                id: Notification::next_id(),
                channel,
                group_key: key.clone(),
                group_labels: group_labels.clone(),
                status: AlertStatus::Firing,
                alerts: payloads.clone(),
                summary: None,
                created_at: wall,
            });
        }
        if let Some(group) = book.groups.get_mut(&key) {
            group.last_sent = Some(now);
            group.last_hash = Some(hash);
        }
        for fp in fired {
            if let Some(a) = book.alerts.get_mut(&fp) {
                a.notified_firing = true;
            }
        }
    }
}

/// The channels of tiers `0..=tier` (Alertmanager excepted: it receives raw alert states).
fn tier_channels(settings: &AlertingSettings, tier: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for channels in settings.escalation.tiers.iter().take(tier + 1) {
        for c in channels {
            if c != ALERTMANAGER_CHANNEL && !out.contains(c) {
                out.push(c.clone());
            }
        }
    }
    out
}

/// Every firing alert to Alertmanager each `resend` (or at once on a change); resolved ones once.
fn push_alertmanager(
    book: &mut Book,
    settings: &AlertingSettings,
    now: Instant,
    channels: &HashMap<String, ChildRef<NotifierActor>>,
    outgoing: &mut Vec<Notification>,
) {
    let Some(resend) = settings.alertmanager_resend else {
        return;
    };
    if !channels.contains_key(ALERTMANAGER_CHANNEL) {
        return;
    }
    let due = book.alertmanager_dirty
        || book
            .alertmanager_pushed
            .is_none_or(|t| now.duration_since(t) >= resend);
    let alerts: Vec<AlertPayload> = book
        .alerts
        .values()
        .filter(|a| a.state.firing() || a.state == AlertState::Resolved)
        .map(|a| {
            a.payload(if a.state == AlertState::Resolved {
                AlertStatus::Resolved
            } else {
                AlertStatus::Firing
            })
        })
        .collect();
    if !due || alerts.is_empty() {
        return;
    }
    book.alertmanager_pushed = Some(now);
    book.alertmanager_dirty = false;
    let status = if alerts.iter().any(|a| a.status == AlertStatus::Firing) {
        AlertStatus::Firing
    } else {
        AlertStatus::Resolved
    };
    outgoing.push(Notification {
        id: Notification::next_id(),
        channel: ALERTMANAGER_CHANNEL.into(),
        group_key: "{}".into(),
        group_labels: BTreeMap::new(),
        status,
        alerts,
        summary: None,
        created_at: Utc::now(),
    });
}

fn retire_resolved(book: &mut Book, settings: &AlertingSettings, now: Instant) {
    let resolved: Vec<u64> = book
        .alerts
        .values()
        .filter(|a| a.state == AlertState::Resolved)
        .map(|a| a.fingerprint)
        .collect();
    for fp in resolved {
        if let Some(alert) = book.alerts.remove(&fp) {
            book.recently_resolved.insert(fp, now);
            book.history.push_back(alert);
        }
    }
    let cap = RecentlyResolved::CAP.max(settings.history_limit * 4);
    book.recently_resolved
        .expire(now, settings.suppression_window, cap);
    while book.history.len() > settings.history_limit {
        book.history.pop_front();
    }
}

/// Sends notifications within each channel's rate limit; the rest is folded for a summary.
fn send(
    book: &mut Book,
    settings: &AlertingSettings,
    now: Instant,
    channels: &HashMap<String, ChildRef<NotifierActor>>,
    outgoing: Vec<Notification>,
    report_to: &ReportTo,
) {
    for n in outgoing {
        let window = book.rate.entry(n.channel.clone()).or_default();
        if n.channel != ALERTMANAGER_CHANNEL && !window.allows(now, &settings.rate_limit) {
            window.folded += 1;
            for a in &n.alerts {
                if let Some(name) = a.labels.get("alertname") {
                    window.folded_names.insert(name.clone());
                }
            }
            *book
                .channels_rate_limited
                .entry(n.channel.clone())
                .or_default() += 1;
            continue;
        }
        window.sent.push_back(now);
        dispatch(book, channels, n, report_to);
    }
}

fn dispatch(
    book: &mut Book,
    channels: &HashMap<String, ChildRef<NotifierActor>>,
    n: Notification,
    report_to: &ReportTo,
) {
    let channel = n.channel.clone();
    let fps: Vec<u64> = n.alerts.iter().map(|a| a.fingerprint).collect();
    let id = n.id;
    let refused = match channels.get(&channel) {
        None => Some(format!("no channel named `{channel}` is running")),
        Some(notifier) => notifier
            .tell(Deliver {
                notification: n,
                report_to: report_to.clone(),
            })
            .err()
            .map(|e| e.to_string()),
    };
    if let Some(error) = refused {
        record(
            book,
            &DeliveryReport {
                id,
                channel,
                fingerprints: fps,
                outcome: DeliveryOutcome::Failed,
                attempts: 0,
                error: Some(error),
            },
        );
    }
}

fn flush_summaries(
    book: &mut Book,
    settings: &AlertingSettings,
    now: Instant,
    channels: &HashMap<String, ChildRef<NotifierActor>>,
    report_to: &ReportTo,
) {
    let ready: Vec<String> = book
        .rate
        .iter_mut()
        .filter(|(_, w)| w.folded > 0)
        .filter_map(|(c, w)| w.allows(now, &settings.rate_limit).then(|| c.clone()))
        .collect();
    for channel in ready {
        let Some(window) = book.rate.get_mut(&channel) else {
            continue;
        };
        let names: Vec<String> = std::mem::take(&mut window.folded_names)
            .into_iter()
            .collect();
        let count = std::mem::take(&mut window.folded);
        window.sent.push_back(now);
        let n = Notification {
            id: Notification::next_id(),
            channel: channel.clone(),
            group_key: "{rate_limit}".into(),
            group_labels: BTreeMap::new(),
            status: AlertStatus::Firing,
            alerts: Vec::new(),
            summary: Some(format!(
                "{count} notifications were held back by the rate limit ({} per minute, {} per hour); alerts: {}",
                settings.rate_limit.per_minute,
                settings.rate_limit.per_hour,
                names.join(", ")
            )),
            created_at: Utc::now(),
        };
        dispatch(book, channels, n, report_to);
    }
}

fn record(book: &mut Book, report: &DeliveryReport) {
    let counter = match report.outcome {
        DeliveryOutcome::Delivered => &mut book.channels_delivered,
        DeliveryOutcome::Failed => &mut book.channels_failed,
    };
    *counter.entry(report.channel.clone()).or_default() += 1;
    let what = match (&report.outcome, &report.error) {
        (DeliveryOutcome::Delivered, _) => format!(
            "notification {} delivered to {} after {} attempt(s)",
            report.id, report.channel, report.attempts
        ),
        (DeliveryOutcome::Failed, e) => format!(
            "notification {} to {} failed after {} attempt(s): {}",
            report.id,
            report.channel,
            report.attempts,
            e.as_deref().unwrap_or("unknown error")
        ),
    };
    for fp in &report.fingerprints {
        if let Some(alert) = book.alerts.get_mut(fp) {
            alert.log(what.clone());
        } else if let Some(alert) = book.history.iter_mut().rev().find(|a| a.fingerprint == *fp) {
            alert.log(what.clone());
        }
    }
}

impl ChildActor for AlertingActor {
    fn started(&mut self, ctx: &mut ChildContext<'_, Self>) {
        ctx.run_interval(self.settings.check_interval, |act, ctx| act.evaluate(ctx));
    }
}

/// Evaluate the rules now (besides the timer).
#[derive(Debug)]
pub struct Evaluate;
impl Message for Evaluate {
    type Result = ();
    const OVERFLOW: Overflow = Overflow::DropNewest;
}
impl Handles<Evaluate> for AlertingActor {
    fn handle(&mut self, _: Evaluate, ctx: &mut ChildContext<'_, Self>) {
        self.evaluate(ctx);
    }
}

/// Apply these observations (one per rule, in rule order) now, without reading the sources.
#[derive(Debug)]
pub struct Observe(pub Vec<Option<f64>>);
impl Message for Observe {
    type Result = ();
}
impl Handles<Observe> for AlertingActor {
    fn handle(&mut self, msg: Observe, ctx: &mut ChildContext<'_, Self>) {
        let report_to = self.report_to(ctx);
        self.apply(&msg.0, Instant::now(), &report_to);
    }
}

impl Message for DeliveryReport {
    type Result = ();
    const OVERFLOW: Overflow = Overflow::DropOldest;
}
impl Handles<DeliveryReport> for AlertingActor {
    fn handle(&mut self, report: DeliveryReport, _: &mut ChildContext<'_, Self>) {
        record(&mut self.store.lock(), &report);
    }
}

/// Ask for the active alerts (pending, firing, recovering, no data), by fingerprint.
#[derive(Debug)]
pub struct GetAlerts;
impl Message for GetAlerts {
    type Result = Vec<Alert>;
}
impl Handles<GetAlerts> for AlertingActor {
    fn handle(&mut self, _: GetAlerts, _: &mut ChildContext<'_, Self>) -> Vec<Alert> {
        self.store.lock().alerts.values().cloned().collect()
    }
}

/// Ask for resolved alerts, oldest first.
#[derive(Debug)]
pub struct GetAlertHistory;
impl Message for GetAlertHistory {
    type Result = Vec<Alert>;
}
impl Handles<GetAlertHistory> for AlertingActor {
    fn handle(&mut self, _: GetAlertHistory, _: &mut ChildContext<'_, Self>) -> Vec<Alert> {
        self.store.lock().history.iter().cloned().collect()
    }
}

/// Ask for the status.
#[derive(Debug)]
pub struct GetAlertingStatus;
impl Message for GetAlertingStatus {
    type Result = AlertingStatus;
}
impl Handles<GetAlertingStatus> for AlertingActor {
    fn handle(&mut self, _: GetAlertingStatus, _: &mut ChildContext<'_, Self>) -> AlertingStatus {
        let book = self.store.lock();
        let firing = || book.alerts.values().filter(|a| a.state.firing());
        let today = Local::now().date_naive();
        AlertingStatus {
            is_running: true,
            active_alerts: firing().count(),
            pending_alerts: book
                .alerts
                .values()
                .filter(|a| a.state == AlertState::Pending)
                .count(),
            silenced_alerts: firing().filter(|a| a.silenced).count(),
            inhibited_alerts: firing().filter(|a| a.inhibited).count(),
            alerts_today: book
                .today
                .filter(|(d, _)| *d == today)
                .map_or(0, |(_, n)| n),
            fired_total: book.fired_total,
            delivered: book.channels_delivered.clone(),
            failed: book.channels_failed.clone(),
            rate_limited: book.channels_rate_limited.clone(),
            silences: book
                .silences
                .iter()
                .filter(|s| s.active(Utc::now()))
                .count(),
            history: book.history.len(),
            rules: self.settings.rules.len(),
            evaluations: book.evaluations,
            last_evaluation: book.last_evaluation,
            last_evaluation_took: book.last_evaluation_took,
            rule_values: book
                .readings
                .iter()
                .filter_map(|(&i, &value)| {
                    let rule = self.settings.rules.get(i)?;
                    Some(RuleValue {
                        rule: rule.name.clone(),
                        kind: rule.kind,
                        value,
                    })
                })
                .collect(),
        }
    }
}

/// Add a silence; replies with its id, or why it was refused.
#[derive(Debug)]
pub struct AddSilence(pub Silence);
impl Message for AddSilence {
    type Result = Result<u64, String>;
}
impl Handles<AddSilence> for AlertingActor {
    fn handle(&mut self, msg: AddSilence, _: &mut ChildContext<'_, Self>) -> Result<u64, String> {
        let mut silence = msg.0;
        if silence.matchers.is_empty() {
            return Err("a silence needs at least one matcher".into());
        }
        if silence.ends_at <= silence.starts_at {
            return Err("a silence must end after it starts".into());
        }
        let mut book = self.store.lock();
        book.next_silence += 1;
        silence.id = book.next_silence;
        book.silences.push(silence);
        Ok(book.next_silence)
    }
}

/// Remove a silence; replies whether it existed.
#[derive(Debug)]
pub struct RemoveSilence(pub u64);
impl Message for RemoveSilence {
    type Result = bool;
}
impl Handles<RemoveSilence> for AlertingActor {
    fn handle(&mut self, msg: RemoveSilence, _: &mut ChildContext<'_, Self>) -> bool {
        let mut book = self.store.lock();
        let before = book.silences.len();
        book.silences.retain(|s| s.id != msg.0);
        book.silences.len() != before
    }
}

/// Ask for the silences not yet expired.
#[derive(Debug)]
pub struct GetSilences;
impl Message for GetSilences {
    type Result = Vec<Silence>;
}
impl Handles<GetSilences> for AlertingActor {
    fn handle(&mut self, _: GetSilences, _: &mut ChildContext<'_, Self>) -> Vec<Silence> {
        self.store.lock().silences.clone()
    }
}

/// Acknowledge a firing alert: its escalation stops.
#[derive(Debug)]
pub struct Acknowledge {
    /// The alert.
    pub fingerprint: u64,
    /// Who.
    pub by: String,
}
impl Message for Acknowledge {
    type Result = Result<(), String>;
}
impl Handles<Acknowledge> for AlertingActor {
    fn handle(&mut self, msg: Acknowledge, _: &mut ChildContext<'_, Self>) -> Result<(), String> {
        let mut book = self.store.lock();
        let alert = book
            .alerts
            .get_mut(&msg.fingerprint)
            .ok_or_else(|| format!("no active alert {:016x}", msg.fingerprint))?;
        if !alert.state.firing() {
            return Err("only a firing alert can be acknowledged".into());
        }
        alert.acknowledged_by = Some(msg.by.clone());
        alert.log(format!("acknowledged by {}", msg.by));
        Ok(())
    }
}

/// Drop resolved history beyond the newest `keep`; replies with the bytes freed.
#[derive(Debug)]
pub struct TrimHistory {
    /// Resolved alerts to keep.
    pub keep: usize,
}
impl Message for TrimHistory {
    type Result = usize;
}
impl Handles<TrimHistory> for AlertingActor {
    fn handle(&mut self, msg: TrimHistory, _: &mut ChildContext<'_, Self>) -> usize {
        let mut book = self.store.lock();
        let before: usize = book.history.iter().map(Alert::bytes).sum::<usize>()
            + book.history.capacity() * std::mem::size_of::<Alert>();
        while book.history.len() > msg.keep {
            book.history.pop_front();
        }
        book.history.shrink_to_fit();
        let after: usize = book.history.iter().map(Alert::bytes).sum::<usize>()
            + book.history.capacity() * std::mem::size_of::<Alert>();
        before.saturating_sub(after)
    }
}

/// Ask for the bytes the alerting state holds.
#[derive(Debug)]
pub struct GetAlertingFootprint;
impl Message for GetAlertingFootprint {
    type Result = Footprint;
}
impl Handles<GetAlertingFootprint> for AlertingActor {
    fn handle(&mut self, _: GetAlertingFootprint, _: &mut ChildContext<'_, Self>) -> Footprint {
        let book = self.store.lock();
        let history = book.history.iter().map(Alert::bytes).sum::<usize>()
            + book.history.capacity() * std::mem::size_of::<Alert>();
        let active: usize = book.alerts.values().map(Alert::bytes).sum();
        let rate: usize = book
            .rate
            .values()
            .map(|w| w.sent.capacity() * std::mem::size_of::<Instant>())
            .sum();
        let detectors: usize = book.detectors.values().map(|d| d.bytes()).sum();
        Footprint {
            component: "alerting".into(),
            bytes: history + active + rate + detectors,
            recorder_bytes: 0,
            history_bytes: history,
            threads: 0,
        }
    }
}

/// Makes the actor panic (fault injection).
#[derive(Debug)]
pub struct InjectAlertingPanic;
impl Message for InjectAlertingPanic {
    type Result = ();
}
impl Handles<InjectAlertingPanic> for AlertingActor {
    fn handle(&mut self, _: InjectAlertingPanic, _: &mut ChildContext<'_, Self>) {
        panic!("injected fault in the alerting actor");
    }
}

/// Raise or clear an alert that no rule computes (another actor observed the condition itself, as
/// the memory manager does for memory staying over its limit). It is routed like any other alert.
#[derive(Clone, Debug)]
pub struct SetExternalAlert {
    /// The alert's name (its `alertname` label).
    pub name: String,
    /// Its severity.
    pub severity: AlertSeverity,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// The observed value.
    pub value: Option<f64>,
    /// The threshold it crossed.
    pub threshold: f64,
    /// Firing (true) or resolved (false).
    pub firing: bool,
}

impl Message for SetExternalAlert {
    type Result = ();
}

impl Handles<SetExternalAlert> for AlertingActor {
    fn handle(&mut self, msg: SetExternalAlert, ctx: &mut ChildContext<'_, Self>) {
        let now = Instant::now();
        let wall = Utc::now();
        {
            let mut book = self.store.lock();
            let mut labels = self.settings.external_labels.clone();
            labels.extend(msg.labels);
            labels.insert("alertname".into(), msg.name);
            labels.insert("severity".into(), msg.severity.label().into());
            let fp = fingerprint(&labels);
            match (book.alerts.get_mut(&fp), msg.firing) {
                (Some(alert), true) => {
                    alert.value = msg.value;
                    alert.annotations = msg.annotations;
                    if !alert.state.firing() {
                        alert.state = AlertState::Firing;
                    }
                }
                (Some(alert), false) => {
                    if alert.state != AlertState::Resolved {
                        resolve(alert, wall);
                        book.alertmanager_dirty = true;
                    }
                }
                (None, true) => {
                    let mut alert = Alert {
                        fingerprint: fp,
                        labels,
                        annotations: msg.annotations,
                        state: AlertState::Pending,
                        severity: msg.severity,
                        value: msg.value,
                        threshold: msg.threshold,
                        fired_at: None,
                        resolved_at: None,
                        acknowledged_by: None,
                        tier: 0,
                        silenced: false,
                        inhibited: false,
                        suppressed: false,
                        events: VecDeque::new(),
                        pending_since: Some(now),
                        fired_instant: None,
                        recovering_since: None,
                        tier_since: None,
                        suppressed_until: None,
                        notified_firing: false,
                    };
                    alert.log("raised by another actor");
                    book.alerts.insert(fp, alert);
                    let settings = self.settings.clone();
                    fire(&mut book, &settings, fp, now, wall);
                }
                (None, false) => {}
            }
        }
        // Route at once: no rule is evaluated, everything after the rules is.
        let report_to = self.report_to(ctx);
        self.apply(&Vec::new(), now, &report_to);
    }
}

/// Set a rule's thresholds at run time (the tuner does, for rules with `auto_threshold`); replies
/// with the thresholds in force before.
#[derive(Clone, Debug)]
pub struct SetRuleThresholds {
    /// The rule.
    pub rule: String,
    /// New warning threshold.
    pub warning: Option<f64>,
    /// New critical threshold.
    pub critical: Option<f64>,
}

impl Message for SetRuleThresholds {
    type Result = Result<(Option<f64>, Option<f64>), String>;
}

impl Handles<SetRuleThresholds> for AlertingActor {
    fn handle(
        &mut self,
        msg: SetRuleThresholds,
        _: &mut ChildContext<'_, Self>,
    ) -> Result<(Option<f64>, Option<f64>), String> {
        let Some(rule) = self.settings.rules.iter().find(|r| r.name == msg.rule) else {
            return Err(format!("no rule named `{}`", msg.rule));
        };
        if [msg.warning, msg.critical]
            .iter()
            .flatten()
            .any(|x| !x.is_finite())
        {
            return Err("thresholds must be numbers".into());
        }
        let mut book = self.store.lock();
        let before = book
            .overrides
            .get(&rule.name)
            .copied()
            .unwrap_or((rule.warning, rule.critical));
        book.overrides
            .insert(rule.name.clone(), (msg.warning, msg.critical));
        Ok(before)
    }
}
