//! The alerting actor's messages: evaluation on demand, queries of alerts, silences and status,
//! acknowledgements, alerts raised by other actors, thresholds set by the tuner, reloads, and the
//! memory manager's footprint and trim.

use std::collections::BTreeMap;

use chrono::{Local, Utc};
use tokio::time::Instant;

use super::delivery;
use super::rules::{fingerprint, AlertSeverity};
use super::silences::{Silence, SilenceError};
use super::state::{fire, resolve, Alert, AlertState, NewAlert};
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

/// Add a silence; replies with its id, or why it was refused.
#[derive(Debug)]
pub struct AddSilence(pub Silence);
impl Message for AddSilence {
    type Result = Result<u64, SilenceError>;
}
impl Handles<AddSilence> for AlertingActor {
    fn handle(
        &mut self,
        msg: AddSilence,
        _: &mut ChildContext<'_, Self>,
    ) -> Result<u64, SilenceError> {
        let mut silence = msg.0;
        if let Some(problem) = silence.problem() {
            return Err(problem);
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
/// Why an acknowledgement was refused.
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
                (None, false) => {}
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
