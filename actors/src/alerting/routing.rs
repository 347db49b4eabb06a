//! Routing: alerts into groups (Alertmanager's `group_by`, `group_wait`, `group_interval`,
//! `repeat_interval`), resolved notices at once, and escalation through tiers of channels.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::config::AlertingConfig;
use super::rules::fingerprint;
use super::state::{Alert, AlertState};
use super::store::{AlertingState, Group};
use crate::notify::{AlertPayload, AlertStatus, Notification, ALERTMANAGER_CHANNEL};

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
pub(super) fn route(
    book: &mut AlertingState,
    config: &AlertingConfig,
    now: Instant,
    outgoing: &mut Vec<Notification>,
) {
    let mut members: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for alert in book.alerts.values() {
        if alert.state == AlertState::Pending {
            continue;
        }
        let (key, labels) = group_key(&alert.labels, &config.group_by);
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
            for channel in config.tier_channels(tier) {
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
            (None, _) => now.duration_since(group.created) >= config.group_wait,
            (Some(sent), Some(h)) if h == hash => {
                now.duration_since(sent) >= config.repeat_interval
            }
            (Some(sent), _) => now.duration_since(sent) >= config.group_interval,
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
        for channel in config.tier_channels(tier) {
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

/// Moves every unacknowledged, unmuted firing alert that has waited `escalation.timeout` in its
/// tier to the next one; the next tier's channels are told at once.
pub(super) fn escalate(
    book: &mut AlertingState,
    config: &AlertingConfig,
    now: Instant,
    wall: DateTime<Utc>,
    outgoing: &mut Vec<Notification>,
) {
    let tiers = config.tiers();
    for alert in book.alerts.values_mut() {
        if alert.state.firing()
            && alert.acknowledged_by.is_none()
            && !alert.silenced
            && !alert.inhibited
            && alert.tier + 1 < tiers
            && alert
                .tier_since
                .is_some_and(|t| now.duration_since(t) >= config.escalation.timeout)
        {
            alert.tier += 1;
            alert.tier_since = Some(now);
            alert.log(format!("escalated to tier {}", alert.tier + 1));
            let channels = &config.escalation.tiers[alert.tier];
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
                        crate::kernel::duration_serde::format(config.escalation.timeout)
                    )),
                    created_at: wall,
                });
            }
        }
    }
}
