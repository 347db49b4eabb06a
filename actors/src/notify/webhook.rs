//! HTTP channels: a generic webhook in Alertmanager's webhook format (version 4), and Slack's incoming
//! webhook format. The URL may be a secret: it never appears in errors or logs.

use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use serde_json::{json, Value};

use super::{AlertStatus, Notification, SendFailure, Transport};

/// Which body to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookFormat {
    /// Alertmanager's webhook payload, version 4.
    Alertmanager,
    /// Slack's incoming-webhook payload (`text`, optional `channel`).
    Slack {
        /// Whether to set `channel`.
        channel_override: bool,
    },
}

/// POSTs notifications as JSON.
pub struct WebhookTransport {
    client: awc::Client,
    url: String,
    format: WebhookFormat,
    channel: Option<String>,
    receiver: String,
}

impl WebhookTransport {
    /// A transport posting to `url` (built on the notifier's thread).
    pub fn new(
        receiver: impl Into<String>,
        url: String,
        format: WebhookFormat,
        channel: Option<String>,
    ) -> Self {
        WebhookTransport {
            client: awc::Client::builder().disable_redirects().finish(),
            url,
            format,
            channel,
            receiver: receiver.into(),
        }
    }

    fn body(&self, n: &Notification) -> Value {
        match self.format {
            WebhookFormat::Alertmanager => alertmanager_webhook(n, &self.receiver),
            WebhookFormat::Slack { channel_override } => {
                let mut body = json!({ "text": slack_text(&n.text()) });
                if let (true, Some(channel)) = (channel_override, &self.channel) {
                    body["channel"] = json!(channel);
                }
                body
            }
        }
    }
}

/// Most characters of a Slack message's `text`: Slack cuts longer ones.
const SLACK_MAX_CHARS: usize = 40_000;

/// `text` as Slack's `text` field takes it: `&`, `<` and `>` escaped (Slack reads `<...>` as a link
/// or a mention, so an annotation holding `<!channel>` would notify a whole channel), and cut
/// at a line, saying so, where it would pass Slack's 40,000 characters.
fn slack_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = 0;
    let mut last_line = 0;
    let mut cut = false;
    for c in text.chars() {
        if c == '\n' {
            last_line = out.len();
        }
        let escaped = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            _ => "",
        };
        let width = if escaped.is_empty() { 1 } else { escaped.len() };
        if chars + width > SLACK_MAX_CHARS - 100 {
            cut = true;
            break;
        }
        chars += width;
        if escaped.is_empty() {
            out.push(c);
        } else {
            out.push_str(escaped);
        }
    }
    if cut {
        let at = if last_line > 0 { last_line } else { out.len() };
        let left = text.lines().count() - out[..at].lines().count();
        out.truncate(at);
        out.push_str(&format!(
            "\n… {left} more lines, cut to keep within Slack's {SLACK_MAX_CHARS} characters"
        ));
    }
    out
}

/// The Alertmanager webhook payload (version 4) of a notification.
pub fn alertmanager_webhook(n: &Notification, receiver: &str) -> Value {
    let status = |s: AlertStatus| match s {
        AlertStatus::Firing => "firing",
        AlertStatus::Resolved => "resolved",
    };
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            json!({
                "status": status(a.status),
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": a.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "endsAt": a.ends_at.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                "generatorURL": "",
                "fingerprint": format!("{:016x}", a.fingerprint),
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": 0,
        "status": status(n.status),
        "receiver": receiver,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels(),
        "commonAnnotations": n.common_annotations(),
        "externalURL": "",
        "alerts": alerts,
    })
}

/// A `Retry-After` header: delay seconds or an HTTP date.
pub(crate) fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(24 * 3600)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

/// POSTs `body` to `url`; classifies the outcome for retries.
pub(crate) fn post_json(
    client: &awc::Client,
    url: &str,
    body: Value,
    timeout: Duration,
) -> LocalBoxFuture<'static, Result<(), SendFailure>> {
    let request = client
        .post(url)
        .timeout(timeout)
        .insert_header(("User-Agent", "watchkeeper"));
    Box::pin(async move {
        let response = request.send_json(&body).await.map_err(|e| {
            let message = match e {
                awc::error::SendRequestError::Timeout => {
                    "no answer within the attempt timeout".to_owned()
                }
                awc::error::SendRequestError::Connect(c) => format!("cannot connect: {c}"),
                other => format!(
                    "request failed: {}",
                    other.to_string().split(" for url").next().unwrap_or("")
                ),
            };
            SendFailure {
                retryable: true,
                retry_after: None,
                message,
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        Err(SendFailure {
            retryable: status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error(),
            retry_after,
            message: format!("the receiver answered {status}"),
        })
    })
}

impl Transport for WebhookTransport {
    fn send(
        &self,
        n: &Notification,
        timeout: Duration,
    ) -> LocalBoxFuture<'static, Result<(), SendFailure>> {
        post_json(&self.client, &self.url, self.body(n), timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_text_is_escaped_and_cut_at_a_line_within_slacks_limit() {
        assert_eq!(
            slack_text("p99 > 0.2s & queue < 5 <!channel>"),
            "p99 &gt; 0.2s &amp; queue &lt; 5 &lt;!channel&gt;"
        );
        let long: String = (0..1000)
            .map(|i| format!("- Firing shard=s{i:04}: {}\n", "x".repeat(70)))
            .collect();
        let text = slack_text(&long);
        assert!(text.chars().count() <= SLACK_MAX_CHARS, "{}", text.len());
        let (kept, note) = text.rsplit_once('\n').unwrap();
        assert!(kept.ends_with(&"x".repeat(70)), "cut at a line");
        let kept_lines = kept.lines().count();
        assert_eq!(
            note,
            format!(
                "… {} more lines, cut to keep within Slack's 40000 characters",
                1000 - kept_lines
            )
        );
        // One line longer than the limit is cut where the limit falls.
        let one = "y".repeat(50_000);
        assert!(slack_text(&one).starts_with(&"y".repeat(39_000)));
    }
}
