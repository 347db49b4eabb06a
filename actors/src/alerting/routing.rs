//! Routing: alerts into groups along the routing tree (Alertmanager's routes, `group_by`,
//! `group_wait`, `group_interval`, `repeat_interval`), resolved notices at once, and escalation
//! through each route's tiers of channels.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::routes::Route;
use super::state::{Alert, AlertState};
use super::store::{AlertingState, Group};
use crate::notify::{AlertPayload, AlertStatus, Notification, ALERTMANAGER_CHANNEL};

/// Grouping, dedup, repeat, and immediate resolved notices, along the routing tree: an alert is in
/// one group per route it matches.
pub(super) fn route(
    book: &mut AlertingState,
    tree: &Route,
    now: Instant,
    outgoing: &mut Vec<Notification>,
) {
    let mut members: BTreeMap<String, (&Route, Vec<u64>)> = BTreeMap::new();
    for alert in book.alerts.values() {
        if alert.state == AlertState::Pending {
            continue;
        }
        for route in tree.matching(&alert.labels) {
            let key = route.group_key(&alert.labels);
            book.groups.entry(key.clone()).or_insert_with(|| Group {
                labels: route.group_labels(&alert.labels),
                created: now,
                last_sent: None,
                notified: Vec::new(),
            });
            members
                .entry(key)
                .or_insert_with(|| (route, Vec::new()))
                .1
                .push(alert.fingerprint);
        }
    }
    book.groups.retain(|k, _| members.contains_key(k));
    let wall = Utc::now();
    for (key, (route, fps)) in members {
        let notifiable = |a: &Alert| !a.silenced && !a.inhibited && !a.suppressed;
        // Resolved notices go out at once, to every tier the alert reached.
        let resolved: Vec<&Alert> = fps
            .iter()
            .filter_map(|fp| book.alerts.get(fp))
            .filter(|a| a.state == AlertState::Resolved && a.notified_firing && !a.silenced)
            .collect();
        let group_labels = book.groups[&key].labels.clone();
        let notification = |channel: String, status, alerts: Vec<AlertPayload>| Notification {
            id: Notification::next_id(),
            channel,
            route: route.key.clone(),
            group_key: key.clone(),
            group_labels: group_labels.clone(),
            status,
            alerts,
            summary: None,
            created_at: wall,
        };
        if !resolved.is_empty() {
            let tier = resolved.iter().map(|a| a.tier).max().unwrap_or(0);
            let payloads: Vec<AlertPayload> = resolved
                .iter()
                .map(|a| a.payload(AlertStatus::Resolved))
                .collect();
            for channel in route.channels_up_to(tier) {
                outgoing.push(notification(
                    channel,
                    AlertStatus::Resolved,
                    payloads.clone(),
                ));
            }
            // Told resolved: should one fire again, it is news.
            if let Some(group) = book.groups.get_mut(&key) {
                group
                    .notified
                    .retain(|fp| !resolved.iter().any(|a| a.fingerprint == *fp));
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
        // As Alertmanager's dedup: only a firing alert the receivers were not told of is news; a
        // group whose firing set shrank (one resolved, silenced or inhibited) waits for the
        // repeat like an unchanged one.
        let group = &book.groups[&key];
        let news = firing
            .iter()
            .any(|a| group.notified.binary_search(&a.fingerprint).is_err());
        let due = match group.last_sent {
            None => now.duration_since(group.created) >= route.group_wait,
            Some(sent) if news => now.duration_since(sent) >= route.group_interval,
            Some(sent) => now.duration_since(sent) >= route.repeat_interval,
        };
        if !due {
            continue;
        }
        let tier = firing.iter().map(|a| a.tier).max().unwrap_or(0);
        let payloads: Vec<AlertPayload> = firing
            .iter()
            .map(|a| a.payload(AlertStatus::Firing))
            .collect();
        let mut fired: Vec<u64> = firing.iter().map(|a| a.fingerprint).collect();
        fired.sort_unstable();
        for channel in route.channels_up_to(tier) {
            outgoing.push(notification(channel, AlertStatus::Firing, payloads.clone()));
        }
        if let Some(group) = book.groups.get_mut(&key) {
            group.last_sent = Some(now);
            group.notified.clone_from(&fired);
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
    tree: &Route,
    now: Instant,
    wall: DateTime<Utc>,
    outgoing: &mut Vec<Notification>,
) {
    for alert in book.alerts.values_mut() {
        // An alert escalates along the first route it takes.
        let Some(route) = tree.matching(&alert.labels).into_iter().next() else {
            continue;
        };
        let tiers = route.tiers.len();
        if alert.state.firing()
            && alert.acknowledged_by.is_none()
            && !alert.silenced
            && !alert.inhibited
            && alert.tier + 1 < tiers
            && alert
                .tier_since
                .is_some_and(|t| now.duration_since(t) >= route.escalation_timeout)
        {
            alert.tier += 1;
            alert.tier_since = Some(now);
            alert.log(format!("escalated to tier {}", alert.tier + 1));
            let channels = &route.tiers[alert.tier];
            for channel in channels.iter().filter(|c| *c != ALERTMANAGER_CHANNEL) {
                outgoing.push(Notification {
                    id: Notification::next_id(),
                    channel: channel.clone(),
                    route: route.key.clone(),
                    group_key: format!("escalation/{:016x}", alert.fingerprint),
                    group_labels: alert.labels.clone(),
                    status: AlertStatus::Firing,
                    alerts: vec![alert.payload(AlertStatus::Firing)],
                    summary: Some(format!(
                        "Escalated: unacknowledged for {}",
                        crate::kernel::duration_serde::format(route.escalation_timeout)
                    )),
                    created_at: wall,
                });
            }
        }
    }
}
