//! Alertmanager's v2 API: `POST /api/v2/alerts` with the alerts of a notification. Firing alerts carry
//! an `endsAt` in the future (the alerting actor re-sends them every `resend_interval`), resolved ones
//! `endsAt` = the time they resolved.

use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use serde_json::{json, Value};

use super::webhook::post_json;
use super::{AlertStatus, Notification, SendFailure, Transport};

/// Posts alerts to every Alertmanager of a cluster.
pub struct AlertmanagerTransport {
    client: awc::Client,
    urls: Vec<String>,
    firing_ttl: Duration,
}

impl AlertmanagerTransport {
    /// Posts to each of `base_urls` (e.g. `http://127.0.0.1:9093`); firing alerts expire after
    /// `firing_ttl` unless re-sent.
    pub fn new(base_urls: &[String], firing_ttl: Duration) -> Self {
        AlertmanagerTransport {
            client: awc::Client::builder().disable_redirects().finish(),
            urls: base_urls
                .iter()
                .map(|u| format!("{}/api/v2/alerts", u.trim_end_matches('/')))
                .collect(),
            firing_ttl,
        }
    }

    /// The v2 API body of a notification.
    pub fn body(&self, n: &Notification) -> Value {
        let now = chrono::Utc::now();
        let ttl =
            chrono::Duration::from_std(self.firing_ttl).unwrap_or(chrono::Duration::minutes(4));
        let alerts: Vec<Value> = n
            .alerts
            .iter()
            .map(|a| {
                let ends = match a.status {
                    AlertStatus::Firing => now + ttl,
                    AlertStatus::Resolved => a.ends_at.unwrap_or(now),
                };
                json!({
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": a.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "endsAt": ends.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "generatorURL": "",
                })
            })
            .collect();
        Value::Array(alerts)
    }
}

impl Transport for AlertmanagerTransport {
    fn send(
        &self,
        n: &Notification,
        timeout: Duration,
    ) -> LocalBoxFuture<'static, Result<(), SendFailure>> {
        // Every Alertmanager gets every alert; a failure at any is retried at all (alerts are
        // idempotent there: the same labels update the same alert).
        let body = self.body(n);
        let posts: Vec<_> = self
            .urls
            .iter()
            .map(|url| post_json(&self.client, url, body.clone(), timeout))
            .collect();
        Box::pin(async move {
            let results = futures_util::future::join_all(posts).await;
            let failures: Vec<SendFailure> = results.into_iter().filter_map(Result::err).collect();
            match failures.len() {
                0 => Ok(()),
                _ => Err(SendFailure {
                    retryable: failures.iter().any(|f| f.retryable),
                    retry_after: failures.iter().filter_map(|f| f.retry_after).max(),
                    message: failures
                        .iter()
                        .map(|f| f.message.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                }),
            }
        })
    }
}
