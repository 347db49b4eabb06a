//! The alerting actor's messages: evaluation on demand, queries of alerts, silences and status,
//! acknowledgements, alerts raised by other actors, thresholds set by the tuner, reloads, and the
//! memory manager's footprint and trim.

use std::collections::BTreeMap;

use chrono::{Local, Utc};
use tokio::time::Instant;

use super::delivery;
use super::matchers::valid_label_name;
use super::rules::{fingerprint, AlertSeverity};
use super::silences::{new_id, same_matchers, Silence, SilenceError, SilenceState};
use super::state::{fire, resolve, Alert, AlertState, NewAlert, Owner};
use super::store::{AlertingStatus, RuleValue};
use super::AlertingActor;
use crate::memory::{Footprint, GetFootprint, Trim};
use crate::notify::DeliveryReport;
use crate::{ChildContext, Handles, Message, Overflow};

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
        let config = self.config.get();
        self.apply(&config, &msg.0, Instant::now(), ctx);
    }
}

impl Message for DeliveryReport {
    type Result = ();
    const OVERFLOW: Overflow = Overflow::DropOldest;
}
impl Handles<DeliveryReport> for AlertingActor {
    fn handle(&mut self, report: DeliveryReport, _: &mut ChildContext<'_, Self>) {
        delivery::record(&mut self.store.lock(), &report);
    }
}

/// One alert that fires and is neither silenced nor inhibited, in brief.
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
/// let firing = alerting.ask(GetFiring, t).await?;
/// assert_eq!((firing[0].name.as_str(), firing[0].severity), ("SearchSlow", AlertSeverity::Warning));
/// assert_eq!(firing[0].labels["monitor"], "search");
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FiringAlert {
    /// Its `alertname` label.
    pub name: String,
    /// Its severity.
    pub severity: AlertSeverity,
    /// Its fingerprint.
    pub fingerprint: u64,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// When it fired.
    pub fired_at: Option<chrono::DateTime<Utc>>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
}

/// Ask for the alerts that fire and that nothing mutes: what the health report names.
#[derive(Debug)]
pub struct GetFiring;
impl Message for GetFiring {
    type Result = Vec<FiringAlert>;
}
impl Handles<GetFiring> for AlertingActor {
    fn handle(&mut self, _: GetFiring, _: &mut ChildContext<'_, Self>) -> Vec<FiringAlert> {
        self.store
            .lock()
            .alerts
            .values()
            .filter(|a| a.state.firing() && !a.silenced && !a.inhibited)
            .map(|a| FiringAlert {
                name: a.labels.get("alertname").cloned().unwrap_or_default(),
                severity: a.severity,
                fingerprint: a.fingerprint,
                labels: a.labels.clone(),
                fired_at: a.fired_at,
                acknowledged_by: a.acknowledged_by.clone(),
            })
            .collect()
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
        let config = self.config.get();
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
            rules: config.rules.len(),
            evaluations: book.evaluations,
            last_evaluation: book.last_evaluation,
            last_evaluation_took: book.last_evaluation_took,
            rule_values: book
                .readings
                .iter()
                .filter_map(|(name, &value)| {
                    let rule = config.rule(name)?;
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

/// Add a silence, or change one (`id` set), as Alertmanager does: a change that keeps the matchers
/// of an active or pending silence updates it in place; any other change expires it and adds a new
/// one. Replies with the id in force.
#[derive(Debug)]
pub struct AddSilence(pub Silence);
impl Message for AddSilence {
    type Result = Result<String, SilenceError>;
}
impl Handles<AddSilence> for AlertingActor {
    fn handle(
        &mut self,
        msg: AddSilence,
        _: &mut ChildContext<'_, Self>,
    ) -> Result<String, SilenceError> {
        let added = self.add_silence(msg.0);
        if added.is_ok() {
            self.remute();
        }
        added
    }
}

impl AlertingActor {
    /// Mutes the alerts again after the silences changed, so that the alerts the API lists are
    /// silenced (or no longer) at once, as Alertmanager's are, not at the next evaluation. Only
    /// that: what is routed and sent waits for the next evaluation, as ever.
    fn remute(&mut self) {
        let config = self.config.get();
        super::silences::mute(
            &mut self.store.lock(),
            &config.inhibit_rules,
            config.silences.kept(),
            Instant::now(),
            Utc::now(),
        );
    }

    fn add_silence(&mut self, mut silence: Silence) -> Result<String, SilenceError> {
        let now = Utc::now();
        if let Some(problem) = silence.problem(now) {
            return Err(problem);
        }
        let max = self.config.get().silences.max;
        let mut book = self.store.lock();
        silence.updated_at = now;
        if !silence.id.is_empty() {
            let Some(old) = book.silences.iter_mut().find(|s| s.id == silence.id) else {
                return Err(SilenceError::NotFound(silence.id));
            };
            let in_place = same_matchers(&old.matchers, &silence.matchers)
                && match old.state(now) {
                    SilenceState::Active => {
                        old.starts_at.timestamp() == silence.starts_at.timestamp()
                    }
                    SilenceState::Pending => silence.starts_at >= now,
                    SilenceState::Expired => false,
                };
            if in_place {
                *old = silence.clone();
                return Ok(silence.id);
            }
            if old.state(now) != SilenceState::Expired {
                expire(old, now);
            }
        }
        let live = book
            .silences
            .iter()
            .filter(|s| s.state(now) != SilenceState::Expired)
            .count();
        if live >= max {
            return Err(SilenceError::TooMany(max));
        }
        silence.id = new_id();
        silence.starts_at = silence.starts_at.max(now);
        let id = silence.id.clone();
        book.silences.push(silence);
        Ok(id)
    }
}

/// Ends a silence now: an active one ends, a pending one ends before it began.
fn expire(silence: &mut Silence, now: chrono::DateTime<Utc>) {
    if silence.state(now) == SilenceState::Pending {
        silence.starts_at = now;
    }
    silence.ends_at = now;
    silence.updated_at = now;
}

/// Expire a silence (Alertmanager's `DELETE /silence/{id}`); an already expired one stays so.
#[derive(Debug)]
pub struct ExpireSilence(pub String);
impl Message for ExpireSilence {
    type Result = Result<(), SilenceError>;
}
impl Handles<ExpireSilence> for AlertingActor {
    fn handle(
        &mut self,
        msg: ExpireSilence,
        _: &mut ChildContext<'_, Self>,
    ) -> Result<(), SilenceError> {
        let now = Utc::now();
        {
            let mut book = self.store.lock();
            let silence = book
                .silences
                .iter_mut()
                .find(|s| s.id == msg.0)
                .ok_or(SilenceError::NotFound(msg.0))?;
            if silence.state(now) == SilenceState::Expired {
                return Ok(());
            }
            expire(silence, now);
        }
        self.remute();
        Ok(())
    }
}

/// Ask for every silence kept: active, pending, and those expired within the retention.
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

/// One alert posted from outside (Alertmanager's `postableAlert`).
#[derive(Clone, Debug, PartialEq)]
pub struct PostedAlert {
    /// Its labels; empty values are dropped, and at least one must remain.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started; now when not given.
    pub starts_at: Option<chrono::DateTime<Utc>>,
    /// When it ends; `resolve_timeout` from now when not given (post it again to keep it firing).
    pub ends_at: Option<chrono::DateTime<Utc>>,
    /// Where it comes from.
    pub generator_url: String,
}

/// Alerts from outside (another process, a script) into the same pipeline: routed, silenced,
/// inhibited and notified like the rules' own. Validated as Alertmanager validates them; the valid
/// ones are taken even when others are not, and the reply lists what was wrong with the others.
#[derive(Debug)]
pub struct PostAlerts {
    /// The alerts.
    pub alerts: Vec<PostedAlert>,
    /// How long an alert posted without an end stays firing.
    pub resolve_timeout: std::time::Duration,
}
impl Message for PostAlerts {
    type Result = Result<(), Vec<String>>;
}
impl Handles<PostAlerts> for AlertingActor {
    fn handle(
        &mut self,
        msg: PostAlerts,
        ctx: &mut ChildContext<'_, Self>,
    ) -> Result<(), Vec<String>> {
        let now = Instant::now();
        let wall = Utc::now();
        let config = self.config.get();
        let timeout =
            chrono::Duration::from_std(msg.resolve_timeout).unwrap_or(chrono::Duration::minutes(5));
        let mut errors = Vec::new();
        {
            let mut book = self.store.lock();
            let mut posted_active = book
                .alerts
                .values()
                .filter(|a| a.posted() && a.state != AlertState::Resolved)
                .count();
            for (i, posted) in msg.alerts.into_iter().enumerate() {
                let mut labels = posted.labels;
                labels.retain(|_, v| !v.is_empty());
                let starts = posted
                    .starts_at
                    .unwrap_or_else(|| posted.ends_at.unwrap_or(wall));
                let ends = posted.ends_at.unwrap_or(wall + timeout);
                let problem = if ends < starts {
                    Some("start time must be before end time".to_owned())
                } else if let Some(bad) = labels.keys().find(|k| !valid_label_name(k)) {
                    Some(format!("invalid label set: invalid name {bad:?}"))
                } else if labels.is_empty() {
                    Some("at least one label pair required".to_owned())
                } else {
                    None
                };
                if let Some(problem) = problem {
                    errors.push(format!("alert {i}: {problem}"));
                    continue;
                }
                let fp = fingerprint(&labels);
                let severity = match labels.get("severity").map(String::as_str) {
                    Some("critical") => AlertSeverity::Critical,
                    _ => AlertSeverity::Warning,
                };
                let resolved = ends <= wall;
                match book.alerts.get_mut(&fp) {
                    // the runtime's own alerts end when what raised them says so
                    Some(alert) if !alert.posted() => {
                        errors.push(format!(
                            "alert {i}: {} raises an alert with these labels; a post cannot change it",
                            alert.owner()
                        ));
                    }
                    Some(alert) => {
                        alert.annotations = posted.annotations;
                        alert.expires_at = Some(ends);
                        alert.updated_at = wall;
                        if resolved && alert.state != AlertState::Resolved {
                            alert.log("resolved by a post");
                            resolve(alert, wall);
                            book.alertmanager_dirty = true;
                        }
                    }
                    None if !resolved && posted_active >= config.max_posted_alerts => {
                        errors.push(format!(
                            "alert {i}: {} posted alerts are active already (alerting.max_posted_alerts)",
                            config.max_posted_alerts
                        ));
                    }
                    None if !resolved => {
                        posted_active += 1;
                        let mut alert = Alert::pending(
                            NewAlert {
                                rule: None,
                                fingerprint: fp,
                                labels,
                                annotations: posted.annotations,
                                severity,
                                value: None,
                                threshold: f64::NAN,
                            },
                            now,
                        );
                        alert.expires_at = Some(ends);
                        alert.log("posted");
                        book.alerts.insert(fp, alert);
                        fire(&mut book, &config, fp, now, starts.min(wall));
                    }
                    None => {}
                }
            }
        }
        self.apply(&config, &Vec::new(), now, ctx);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
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
/// Why an acknowledgement was refused.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::AckError;
///
/// let e = AckError::NotFiring(0xfeed);
/// assert_eq!(e.to_string(), "alert 000000000000feed is not firing; only a firing alert can be acknowledged");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AckError {
    /// No active alert has this fingerprint.
    NotFound(u64),
    /// The alert is pending, not firing.
    NotFiring(u64),
}

impl std::fmt::Display for AckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AckError::NotFound(fp) => write!(f, "no active alert {fp:016x}"),
            AckError::NotFiring(fp) => write!(
                f,
                "alert {fp:016x} is not firing; only a firing alert can be acknowledged"
            ),
        }
    }
}

impl std::error::Error for AckError {}

impl Message for Acknowledge {
    type Result = Result<(), AckError>;
}
impl Handles<Acknowledge> for AlertingActor {
    fn handle(&mut self, msg: Acknowledge, _: &mut ChildContext<'_, Self>) -> Result<(), AckError> {
        let mut book = self.store.lock();
        let alert = book
            .alerts
            .get_mut(&msg.fingerprint)
            .ok_or(AckError::NotFound(msg.fingerprint))?;
        if !alert.state.firing() {
            return Err(AckError::NotFiring(msg.fingerprint));
        }
        alert.acknowledged_by = Some(msg.by.clone());
        alert.log(format!("acknowledged by {}", msg.by));
        Ok(())
    }
}

impl Handles<Trim> for AlertingActor {
    fn handle(&mut self, msg: Trim, _: &mut ChildContext<'_, Self>) -> usize {
        let mut book = self.store.lock();
        let before: usize = book.history.iter().map(Alert::bytes).sum::<usize>()
            + book.history.capacity() * std::mem::size_of::<Alert>();
        while book.history.len() > msg.keep_history {
            book.history.pop_front();
        }
        book.history.shrink_to_fit();
        let after: usize = book.history.iter().map(Alert::bytes).sum::<usize>()
            + book.history.capacity() * std::mem::size_of::<Alert>();
        before.saturating_sub(after)
    }
}

impl Handles<GetFootprint> for AlertingActor {
    fn handle(&mut self, _: GetFootprint, _: &mut ChildContext<'_, Self>) -> Footprint {
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
/// Raise or clear an alert that no rule computes (another actor observed the condition itself, as
/// the memory manager does for memory staying over its limit). It is routed like any other alert.
///
/// Raised over an alert posted from outside with the same labels, the alert becomes the actor's:
/// it no longer ends with its post. A clear leaves a posted alert as it is, and a rule's alert
/// with the same labels is left to its rule either way. Neither posts nor rules change the
/// actor's alert. It does not outlive the process: restored from a saved state, it resolves, and
/// the actor raises it again if what it observes still calls for it.
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
        let config = self.config.get();
        {
            let mut book = self.store.lock();
            let mut labels = config.external_labels.clone();
            labels.extend(msg.labels);
            labels.insert("alertname".into(), msg.name);
            labels.insert("severity".into(), msg.severity.label().into());
            let fp = fingerprint(&labels);
            match book.alerts.get_mut(&fp) {
                Some(alert) => match (alert.owner(), msg.firing) {
                    (Owner::Rule(rule), _) => {
                        tracing::warn!(
                            labels = ?alert.labels,
                            rule,
                            "An actor raised or cleared an alert with the labels of a rule's \
                             alert; the rule's alert is left as it is"
                        );
                    }
                    (owner, true) => {
                        let posted = owner == Owner::Post;
                        alert.value = msg.value;
                        alert.threshold = msg.threshold;
                        alert.annotations = msg.annotations;
                        alert.updated_at = wall;
                        if posted {
                            // the actor's observation holds it now, until the actor clears it
                            alert.expires_at = None;
                            alert.log("raised by another actor: it no longer ends with its post");
                        }
                        // resolved as a saved state was restored, and not retired yet
                        if !alert.state.firing() {
                            fire(&mut book, &config, fp, now, wall);
                        }
                    }
                    // an actor clears only what it raised, not an alert posted from outside
                    (Owner::Actor, false) => {
                        if alert.state != AlertState::Resolved {
                            resolve(alert, wall);
                            book.alertmanager_dirty = true;
                        }
                    }
                    (Owner::Post, false) => {}
                },
                None if msg.firing => {
                    let mut alert = Alert::pending(
                        NewAlert {
                            rule: None,
                            fingerprint: fp,
                            labels,
                            annotations: msg.annotations,
                            severity: msg.severity,
                            value: msg.value,
                            threshold: msg.threshold,
                        },
                        now,
                    );
                    alert.log("raised by another actor");
                    book.alerts.insert(fp, alert);
                    fire(&mut book, &config, fp, now, wall);
                }
                None => {}
            }
        }
        // Route at once: no rule is evaluated, everything after the rules is.
        self.apply(&config, &Vec::new(), now, ctx);
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

/// Why thresholds were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleError {
    /// No rule has this name.
    Unknown(String),
    /// A threshold is NaN or infinite.
    NotANumber,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleError::Unknown(name) => write!(f, "no rule named `{name}`"),
            RuleError::NotANumber => f.write_str("thresholds must be numbers"),
        }
    }
}

impl std::error::Error for RuleError {}

impl Message for SetRuleThresholds {
    type Result = Result<(Option<f64>, Option<f64>), RuleError>;
}

impl Handles<SetRuleThresholds> for AlertingActor {
    fn handle(
        &mut self,
        msg: SetRuleThresholds,
        _: &mut ChildContext<'_, Self>,
    ) -> Result<(Option<f64>, Option<f64>), RuleError> {
        let config = self.config.get();
        let Some(rule) = config.rule(&msg.rule) else {
            return Err(RuleError::Unknown(msg.rule));
        };
        if [msg.warning, msg.critical]
            .iter()
            .flatten()
            .any(|x| !x.is_finite())
        {
            return Err(RuleError::NotANumber);
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

/// The configuration was reloaded: re-arm the evaluation timer at the new interval. Rule changes
/// take effect at the next evaluation.
#[derive(Debug)]
pub struct Reconfigured;
impl Message for Reconfigured {
    type Result = ();
}
impl Handles<Reconfigured> for AlertingActor {
    fn handle(&mut self, _: Reconfigured, ctx: &mut ChildContext<'_, Self>) {
        self.arm(ctx);
    }
}
