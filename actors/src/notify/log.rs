//! The log channel: each notification becomes one `tracing` event.

use std::time::Duration;

use futures_util::future::LocalBoxFuture;

use super::{AlertStatus, Notification, SendFailure, Transport};

/// Writes notifications as `tracing` events (WARN when firing, INFO when resolved).
#[derive(Debug, Default)]
pub struct LogTransport;

impl Transport for LogTransport {
    fn send(
        &self,
        n: &Notification,
        _timeout: Duration,
    ) -> LocalBoxFuture<'static, Result<(), SendFailure>> {
        let names: Vec<&str> = n
            .alerts
            .iter()
            .filter_map(|a| a.labels.get("alertname").map(String::as_str))
            .collect();
        // A rate-limit summary says what was folded; otherwise the alerts' own summary annotation.
        let summary = n.summary.clone().unwrap_or_else(|| {
            let summaries: Vec<&str> = n
                .alerts
                .iter()
                .filter_map(|a| a.annotations.get("summary").map(String::as_str))
                .collect();
            summaries.join("; ")
        });
        match n.status {
            AlertStatus::Firing => {
                tracing::warn!(group = %n.group_key, alerts = ?names, summary = %summary, "{}", n.text())
            }
            AlertStatus::Resolved => {
                tracing::info!(group = %n.group_key, alerts = ?names, "{}", n.text())
            }
        }
        Box::pin(async { Ok(()) })
    }
}
