//! Delivery: notifications to each channel's notifier within its rate limit (the overflow folded
//! into one summary), alerts to Alertmanager, and the reports of what each delivery did.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::config::{AlertingConfig, RateLimitConfig};
use super::routes::Route;
use super::state::AlertState;
use super::store::AlertingState;
use super::Happened;
use crate::notify::{
    AlertPayload, AlertStatus, Deliver, DeliveryOutcome, DeliveryReport, Notification,
    NotifierDirectory, ReportTo, ALERTMANAGER_CHANNEL,
};

#[derive(Default)]
pub(super) struct RateWindow {
    pub(super) sent: VecDeque<Instant>,
    pub(super) folded: u64,
    /// The alerts the folded notifications carried, the latest of each (at most
    /// [`MAX_FOLDED_ALERTS`]); the summary carries them, so a receiver sees which they were.
    pub(super) folded_alerts: BTreeMap<u64, AlertPayload>,
    /// Alerts left out of `folded_alerts` for want of room.
    pub(super) folded_over: u64,
}

/// Most alerts a rate-limit summary carries; it names how many more were held back.
pub(super) const MAX_FOLDED_ALERTS: usize = 1000;

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

/// Every firing alert to Alertmanager each `resend` (or at once on a change); resolved ones once.
pub(super) fn push_alertmanager(
    book: &mut AlertingState,
    config: &AlertingConfig,
    now: Instant,
    channels: &NotifierDirectory,
    outgoing: &mut Vec<Notification>,
) {
    let Some(resend) = config.channels.alertmanager_resend() else {
        return;
    };
    if channels.get(ALERTMANAGER_CHANNEL).is_none() {
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
        route: "{}".into(),
        group_key: "{}".into(),
        group_labels: BTreeMap::new(),
        status,
        alerts,
        summary: None,
        created_at: Utc::now(),
    });
}

/// Sends notifications within each channel's rate limit; the rest is folded for a summary.
pub(super) fn send(
    book: &mut AlertingState,
    tree: &Route,
    now: Instant,
    channels: &NotifierDirectory,
    outgoing: Vec<Notification>,
    report_to: &ReportTo,
) {
    for n in outgoing {
        let limit = tree
            .find(&n.route)
            .map_or_else(|| tree.rate_limit.clone(), |r| r.rate_limit.clone());
        let window = book
            .rate
            .entry((n.route.clone(), n.channel.clone()))
            .or_default();
        if n.channel != ALERTMANAGER_CHANNEL && !window.allows(now, &limit) {
            window.folded += 1;
            for a in n.alerts {
                if window.folded_alerts.len() < MAX_FOLDED_ALERTS
                    || window.folded_alerts.contains_key(&a.fingerprint)
                {
                    window.folded_alerts.insert(a.fingerprint, a);
                } else {
                    window.folded_over += 1;
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
    book: &mut AlertingState,
    channels: &NotifierDirectory,
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
        book.happened.push(Happened::Refused {
            channel: channel.clone(),
            error: error.clone(),
        });
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

pub(super) fn flush_summaries(
    book: &mut AlertingState,
    tree: &Route,
    now: Instant,
    channels: &NotifierDirectory,
    report_to: &ReportTo,
) {
    let limit_of = |route: &str| {
        tree.find(route)
            .map_or_else(|| tree.rate_limit.clone(), |r| r.rate_limit.clone())
    };
    let ready: Vec<(String, String)> = book
        .rate
        .iter_mut()
        .filter(|(_, w)| w.folded > 0)
        .filter_map(|(key, w)| w.allows(now, &limit_of(&key.0)).then(|| key.clone()))
        .collect();
    for key in ready {
        let limit = limit_of(&key.0);
        let Some(window) = book.rate.get_mut(&key) else {
            continue;
        };
        let (route, channel) = key;
        let alerts: Vec<AlertPayload> = std::mem::take(&mut window.folded_alerts)
            .into_values()
            .collect();
        let over = std::mem::take(&mut window.folded_over);
        let count = std::mem::take(&mut window.folded);
        window.sent.push_back(now);
        let names: BTreeSet<&str> = alerts
            .iter()
            .filter_map(|a| a.labels.get("alertname").map(String::as_str))
            .collect();
        let mut summary = format!(
            "{count} notifications were held back by the rate limit ({} per minute, {} per hour); alerts: {}",
            limit.per_minute,
            limit.per_hour,
            names.into_iter().collect::<Vec<_>>().join(", ")
        );
        if over > 0 {
            summary.push_str(&format!(
                " (the latest state of {} alerts follows; {over} more were left out)",
                alerts.len()
            ));
        }
        // Firing while any of them fires, as a group's status is in Alertmanager's payload.
        let status = if alerts.iter().any(|a| a.status == AlertStatus::Firing) {
            AlertStatus::Firing
        } else {
            AlertStatus::Resolved
        };
        let n = Notification {
            id: Notification::next_id(),
            channel: channel.clone(),
            route,
            group_key: "{rate_limit}".into(),
            group_labels: BTreeMap::new(),
            status,
            alerts,
            summary: Some(summary),
            created_at: Utc::now(),
        };
        dispatch(book, channels, n, report_to);
    }
}

pub(super) fn record(book: &mut AlertingState, report: &DeliveryReport) {
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
