//! [`AlertingActor`]: evaluates rules on a timer, keeps each alert's state, and sends notifications.
//!
//! Every `check_interval` it reads the statistics its rules name (monitors are asked with a timeout;
//! process memory comes from the OS; drops and restarts from the supervisor), then runs one
//! evaluation through its stages, each in a file of its own:
//!
//! | stage | file | what it does |
//! | --- | --- | --- |
//! | read | `detection.rs` | a detection rule's value (effect size, anomaly score, forecast) |
//! | state machine | `state.rs` | Pending -> Firing -> Recovering -> Resolved, or NoData |
//! | muting | `silences.rs` | silences, inhibition (a firing critical mutes its warning), flap suppression |
//! | routing | `routing.rs` | Alertmanager-style groups, resolved notices at once, escalation tiers |
//! | delivery | `delivery.rs` | rate limits folding the overflow into a summary; Alertmanager; reports |
//!
//! Notifications go to [`NotifierActor`](crate::notify::NotifierActor)s with `tell`: evaluation never
//! waits on a channel. All state lives in an [`AlertStore`] outside the actor, so a restart keeps it;
//! the configuration is [`Live`], so a reload reaches the running actor: an unchanged rule keeps its
//! alerts, a changed or removed rule's alerts that no longer apply resolve. Messages are in
//! `messages.rs`.

mod config;
mod delivery;
#[cfg(feature = "detect")]
mod detection;
#[cfg(not(feature = "detect"))]
#[path = "no_detection.rs"]
mod detection;
mod matchers;
mod messages;
mod routes;
mod routing;
mod rules;
mod saved;
mod silences;
mod state;
mod store;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

pub use self::config::{AlertingConfig, EscalationConfig, RateLimitConfig, SilencesConfig};
pub use self::matchers::{valid_label_name, MatchOp, Matcher, MatcherError};
pub use self::messages::{
    AckError, Acknowledge, AddSilence, Evaluate, ExpireSilence, FiringAlert, GetAlertHistory,
    GetAlertingStatus, GetAlerts, GetFiring, GetSilences, Observe, PostAlerts, PostedAlert,
    Reconfigured, RuleError, SetExternalAlert, SetRuleThresholds,
};
pub use self::routes::{GroupBy, Route, RouteConfig};
pub use self::rules::{
    fingerprint, AlertRule, AlertSeverity, Comparison, Metric, RegressionSettings, RuleKind,
    TrendSettings,
};
pub use self::saved::{SavedAlert, SavedAlerting, SavedDetector, SavedGroup, SAVED_FORMAT};
pub use self::silences::{InhibitRule, Silence, SilenceError, SilenceState};
pub use self::state::{Alert, AlertEvent, AlertState};
pub use self::store::{AlertStore, AlertingState, AlertingStatus, RuleValue};
use crate::monitor::{GetStats, MonitorActor, MonitorDirectory, PerformanceStats};
use crate::notify::{NotifierDirectory, ReportTo};
use crate::process::ProcessStats;
use crate::{
    ChildActor, ChildContext, ChildRef, Event, EventBus, Live, SupervisorRef, TimerHandle,
};

/// What the alerting actor reads and sends to: monitors, the supervisor whose restarts and drops
/// rules may watch, and the channels' notifiers.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::alerting::{AlertingActor, AlertingConfig, AlertingState, Peers};
/// use watchkeeper_actors::{Live, Store};
///
/// // No monitors, supervisor or channels yet: the runtime fills the directories as it starts them.
/// let peers = Peers { ask_timeout: Duration::from_secs(2), ..Peers::default() };
/// assert!(peers.monitors.is_empty() && peers.channels.is_empty());
/// let config = Live::new(AlertingConfig::default());
/// let _alerting = AlertingActor::new(config, Store::new(AlertingState::default()), peers);
/// ```
#[derive(Clone, Default)]
pub struct Peers {
    /// Monitors by name (the runtime adds to it as monitors are created).
    pub monitors: MonitorDirectory,
    /// The supervisor whose restarts and mailbox drops rules may watch.
    pub supervisor: Option<SupervisorRef>,
    /// The notifiers by channel name (the runtime changes it when a reload changes channels).
    pub channels: NotifierDirectory,
    /// How long a question to another actor may take.
    pub ask_timeout: Duration,
}

/// A value per rule: `Some` observed, `None` no data.
type Observations = Vec<Option<f64>>;

/// What happened in an evaluation that is worth an event.
#[derive(Debug)]
pub(crate) enum Happened {
    Fired {
        alert: String,
        severity: AlertSeverity,
        fingerprint: u64,
    },
    Resolved {
        alert: String,
        severity: AlertSeverity,
        fingerprint: u64,
    },
    Refused {
        channel: String,
        error: String,
    },
}

/// An alert started firing.
#[derive(Debug)]
pub struct AlertFired<'a> {
    /// Its name.
    pub alert: &'a str,
    /// Its severity.
    pub severity: AlertSeverity,
    /// Its fingerprint.
    pub fingerprint: u64,
}

impl Event for AlertFired<'_> {
    const NAME: &'static str = "alert_fired";
    fn log(&self) {
        tracing::info!(alert = self.alert, severity = self.severity.label(), fingerprint = %format!("{:016x}", self.fingerprint), "Alert firing");
    }
}

/// An alert resolved (its breach ended, or its rule was removed or changed by a reload).
#[derive(Debug)]
pub struct AlertResolved<'a> {
    /// Its name.
    pub alert: &'a str,
    /// Its severity.
    pub severity: AlertSeverity,
    /// Its fingerprint.
    pub fingerprint: u64,
}

impl Event for AlertResolved<'_> {
    const NAME: &'static str = "alert_resolved";
    fn log(&self) {
        tracing::info!(alert = self.alert, severity = self.severity.label(), fingerprint = %format!("{:016x}", self.fingerprint), "Alert resolved");
    }
}

/// A notification could not be handed to its channel's notifier.
#[derive(Debug)]
pub struct NotificationRefused<'a> {
    /// The channel.
    pub channel: &'a str,
    /// Why.
    pub error: &'a str,
}

impl Event for NotificationRefused<'_> {
    const NAME: &'static str = "notification_refused";
    fn log(&self) {
        tracing::warn!(
            channel = self.channel,
            error = self.error,
            "Notification refused"
        );
    }
}

fn record(bus: &EventBus, happened: Vec<Happened>) {
    for h in happened {
        match h {
            Happened::Fired {
                alert,
                severity,
                fingerprint,
            } => bus.record(AlertFired {
                alert: &alert,
                severity,
                fingerprint,
            }),
            Happened::Resolved {
                alert,
                severity,
                fingerprint,
            } => bus.record(AlertResolved {
                alert: &alert,
                severity,
                fingerprint,
            }),
            Happened::Refused { channel, error } => bus.record(NotificationRefused {
                channel: &channel,
                error: &error,
            }),
        }
    }
}

/// The alerting actor; see the module docs.
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
/// assert_eq!(alerts[0].state, AlertState::Firing);
/// alerting.ask(Observe(vec![Some(0.05)]), t).await?;
/// assert!(alerting.ask(GetAlerts, t).await?.is_empty());
/// assert_eq!(alerting.ask(GetAlertHistory, t).await?.len(), 1);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
pub struct AlertingActor {
    config: Live<AlertingConfig>,
    store: Arc<AlertStore>,
    peers: Peers,
    evaluating: bool,
    timer: Option<TimerHandle>,
}

impl AlertingActor {
    /// An actor over `store` (a restart builds a new one over the same store and configuration).
    pub fn new(config: Live<AlertingConfig>, store: Arc<AlertStore>, peers: Peers) -> Self {
        AlertingActor {
            config,
            store,
            peers,
            evaluating: false,
            timer: None,
        }
    }

    fn arm(&mut self, ctx: &mut ChildContext<'_, Self>) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel(timer);
        }
        let every = self.config.get().check_interval;
        self.timer = Some(ctx.run_interval(every, |act, ctx| act.evaluate(ctx)));
    }

    /// Starts an evaluation: gathers every rule's value, then applies them.
    fn evaluate(&mut self, ctx: &mut ChildContext<'_, Self>) {
        let config = self.config.get();
        if self.evaluating || !config.enabled {
            return;
        }
        self.evaluating = true;
        let gather = gather(config.clone(), self.peers.clone());
        ctx.spawn_then(gather, move |act, observations, ctx| {
            act.evaluating = false;
            act.apply(&config, &observations, Instant::now(), ctx);
        });
    }

    fn report_to(&self, ctx: &ChildContext<'_, Self>) -> ReportTo {
        let me = ctx.myself();
        Arc::new(move |report| {
            let _ = me.tell(report);
        })
    }

    /// Updates every alert from `observations` (one per rule of `config`, in order) and sends
    /// what routing decides, at `now`.
    fn apply(
        &mut self,
        config: &Arc<AlertingConfig>,
        observations: &Observations,
        now: Instant,
        ctx: &mut ChildContext<'_, Self>,
    ) {
        let report_to = self.report_to(ctx);
        let happened = {
            let mut book = self.store.lock();
            evaluate_rules(&mut book, config, observations, now);
            let tree = book.tree(config);
            let mut outgoing = Vec::new();
            let wall = Utc::now();
            silences::mute(
                &mut book,
                &config.inhibit_rules,
                config.silences.kept(),
                now,
                wall,
            );
            routing::escalate(&mut book, &tree, now, wall, &mut outgoing);
            routing::route(&mut book, &tree, now, &mut outgoing);
            delivery::push_alertmanager(
                &mut book,
                config,
                now,
                &self.peers.channels,
                &mut outgoing,
            );
            state::retire_resolved(&mut book, config, now);
            delivery::send(
                &mut book,
                &tree,
                now,
                &self.peers.channels,
                outgoing,
                &report_to,
            );
            delivery::flush_summaries(&mut book, &tree, now, &self.peers.channels, &report_to);
            std::mem::take(&mut book.happened)
        };
        record(ctx.events(), happened);
    }
}

/// Moves every rule's alerts through their states from this evaluation's observations.
fn evaluate_rules(
    book: &mut AlertingState,
    config: &Arc<AlertingConfig>,
    observations: &Observations,
    now: Instant,
) {
    let started = std::time::Instant::now();
    let wall = Utc::now();
    reconcile(book, config, wall);
    // Alerts posted from outside resolve when their end passes without being posted again.
    for alert in book.alerts.values_mut() {
        if alert.state.firing() && alert.expires_at.is_some_and(|t| t <= wall) {
            alert.log("resolved: its end passed without a new post");
            state::resolve(alert, wall);
            book.alertmanager_dirty = true;
        }
    }
    for (rule, value) in config.rules.iter().zip(observations) {
        let reading = detection::read(&mut book.detectors, rule, *value, now);
        if let Some(v) = reading.value {
            book.readings.insert(rule.name.clone(), v);
        }
        let (warning, critical) = book
            .overrides
            .get(&rule.name)
            .copied()
            .unwrap_or((rule.warning, rule.critical));
        for (severity, threshold) in rules::thresholds(warning, critical) {
            let mut labels = config.external_labels.clone();
            labels.extend(rule.alert_labels(severity));
            let fp = fingerprint(&labels);
            let annotations =
                rule.render_annotations(reading.value, threshold, reading.evidence_for(threshold));
            let breach = reading.breach(rule, threshold);
            state::step(
                book,
                config,
                rule,
                state::Judged {
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
    if !observations.is_empty() {
        book.evaluations += 1;
        book.last_evaluation = Some(wall);
        book.last_evaluation_took = started.elapsed();
    }
}

/// After a reload (or a restart with a changed configuration): a removed rule's alerts resolve, a
/// changed rule starts its detector afresh, and an alert whose labels no rule gives any more (its
/// severity or the external labels changed) resolves. Unchanged rules keep everything.
fn reconcile(book: &mut AlertingState, config: &Arc<AlertingConfig>, wall: DateTime<Utc>) {
    if book
        .applied
        .as_ref()
        .is_some_and(|seen| Arc::ptr_eq(seen, config))
    {
        return;
    }
    book.applied = Some(config.clone());
    let current: BTreeMap<&str, &AlertRule> =
        config.rules.iter().map(|r| (r.name.as_str(), r)).collect();
    let changed: Vec<String> = book
        .rules_seen
        .iter()
        .filter(|(name, old)| current.get(name.as_str()) != Some(old))
        .map(|(name, _)| name.clone())
        .collect();
    for name in &changed {
        book.detectors.remove(name);
        book.readings.remove(name);
        book.overrides.remove(name);
    }
    book.rules_seen = config
        .rules
        .iter()
        .map(|r| (r.name.clone(), r.clone()))
        .collect();
    let mut live: BTreeSet<u64> = BTreeSet::new();
    for rule in &config.rules {
        let (warning, critical) = book
            .overrides
            .get(&rule.name)
            .copied()
            .unwrap_or((rule.warning, rule.critical));
        for (severity, _) in rules::thresholds(warning, critical) {
            let mut labels = config.external_labels.clone();
            labels.extend(rule.alert_labels(severity));
            live.insert(fingerprint(&labels));
        }
    }
    for alert in book.alerts.values_mut() {
        let orphaned = alert.rule.is_some() && !live.contains(&alert.fingerprint);
        if orphaned && alert.state != AlertState::Resolved {
            let why = match &alert.rule {
                Some(r) if !current.contains_key(r.as_str()) => "its rule was removed",
                _ => "its rule no longer gives these labels",
            };
            alert.log(format!("resolved: {why}"));
            state::resolve(alert, wall);
            book.alertmanager_dirty = true;
        }
    }
}

/// Reads every rule's value: monitors asked concurrently with the ask timeout.
async fn gather(config: Arc<AlertingConfig>, peers: Peers) -> Observations {
    let timeout = peers.ask_timeout;
    let wanted: BTreeSet<String> = config
        .rules
        .iter()
        .filter(|r| r.metric.per_monitor())
        .filter_map(|r| r.monitor.clone())
        .collect();
    let refs: Vec<(String, ChildRef<MonitorActor>)> = wanted
        .iter()
        .filter_map(|m| peers.monitors.get(m).map(|r| (m.clone(), r)))
        .collect();
    let asks = refs.iter().map(|(_, r)| r.ask(GetStats, timeout));
    let answers = futures_util::future::join_all(asks).await;
    let stats: HashMap<&str, PerformanceStats> = refs
        .iter()
        .zip(answers)
        .filter_map(|((name, _), a)| a.ok().map(|s| (name.as_str(), s)))
        .collect();
    let needs_supervisor = config
        .rules
        .iter()
        .any(|r| matches!(r.metric, Metric::MailboxDrops | Metric::Restarts));
    let supervision = match (&peers.supervisor, needs_supervisor) {
        (Some(s), true) => s.status(timeout).await,
        _ => None,
    };
    let resident = config
        .rules
        .iter()
        .any(|r| r.metric == Metric::ProcessMemoryBytes)
        .then(ProcessStats::read)
        .and_then(|p| p.resident_bytes);
    config
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
            _ => rule
                .monitor
                .as_deref()
                .and_then(|m| stats.get(m))
                .and_then(|s| rule.value_in(s)),
        })
        .collect()
}

impl ChildActor for AlertingActor {
    fn started(&mut self, ctx: &mut ChildContext<'_, Self>) {
        self.arm(ctx);
    }
}
