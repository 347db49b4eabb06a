//! Notification channels. One supervised [`NotifierActor`] per channel owns a bounded outbox and
//! delivers through a [`Transport`] (log, webhook, Slack, email, Alertmanager): one delivery in flight
//! at a time, retries with exponential backoff that honour `Retry-After`, a deadline per notification,
//! and a circuit breaker. Every outcome goes back to the sender as a [`DeliveryReport`]; nothing is
//! dropped without one. A slow or dead channel only ever delays its own outbox.

#[cfg(feature = "http-notify")]
mod alertmanager;
mod config;
#[cfg(feature = "email")]
mod email;
mod log;
#[cfg(feature = "http-notify")]
mod webhook;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

#[cfg(feature = "http-notify")]
pub use self::alertmanager::AlertmanagerTransport;
pub use self::config::{
    valid_http_url, AlertmanagerChannel, ChannelDef, ChannelSecret, ChannelsConfig, DeliveryPolicy,
    EmailChannel, LogChannel, NamedChannel, NotifierFactory, Secret, SlackChannel, SmtpSecurity,
    WebhookChannel, ALERTMANAGER_CHANNEL, BUILT_IN_CHANNELS, CHANNEL_JOIN, NO_CHANNEL,
};
#[cfg(feature = "email")]
pub use self::email::{EmailSettings, EmailTransport};
pub use self::log::LogTransport;
#[cfg(feature = "http-notify")]
pub use self::webhook::{WebhookFormat, WebhookTransport};
use crate::{ChildActor, ChildContext, Directory, Event, EventBus, Handles, Message, Overflow};

/// Notifiers by channel name, as the alerting actor sends to them.
pub type NotifierDirectory = Directory<NotifierActor>;

/// Whether an alert (or a notification) is firing or resolved.
///
/// # Examples
///
/// ```
/// # use std::collections::BTreeMap;
/// # use watchkeeper_actors::notify::{AlertPayload, AlertStatus, Notification};
/// # let labels = BTreeMap::from([("alertname".to_owned(), "SearchSlow".to_owned()), ("monitor".into(), "search".into())]);
/// # let annotations = BTreeMap::from([("summary".to_owned(), "p99 is 0.25s".to_owned())]);
/// # let (now, status) = (chrono::Utc::now(), AlertStatus::Firing);
/// # let alert = AlertPayload { fingerprint: 1, labels: labels.clone(), annotations, status, starts_at: now, ends_at: None, value: Some(0.25) };
/// # let notification = Notification { id: Notification::next_id(), channel: "log".into(), route: "{}".into(),
/// #     group_key: r#"{}:{alertname="SearchSlow", monitor="search"}"#.into(), group_labels: labels, status,
/// #     alerts: vec![alert], summary: None, created_at: now };
/// assert_eq!(notification.status, AlertStatus::Firing);
/// assert!(notification.title().starts_with("[FIRING:1]"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Firing.
    Firing,
    /// Resolved.
    Resolved,
}

/// One alert as a notification carries it.
///
/// # Examples
///
/// ```
/// # use std::collections::BTreeMap;
/// # use watchkeeper_actors::notify::{AlertPayload, AlertStatus, Notification};
/// # let labels = BTreeMap::from([("alertname".to_owned(), "SearchSlow".to_owned()), ("monitor".into(), "search".into())]);
/// # let annotations = BTreeMap::from([("summary".to_owned(), "p99 is 0.25s".to_owned())]);
/// # let (now, status) = (chrono::Utc::now(), AlertStatus::Firing);
/// # let alert = AlertPayload { fingerprint: 1, labels: labels.clone(), annotations, status, starts_at: now, ends_at: None, value: Some(0.25) };
/// # let notification = Notification { id: Notification::next_id(), channel: "log".into(), route: "{}".into(),
/// #     group_key: r#"{}:{alertname="SearchSlow", monitor="search"}"#.into(), group_labels: labels, status,
/// #     alerts: vec![alert], summary: None, created_at: now };
/// let alert = &notification.alerts[0];
/// assert_eq!(alert.labels["alertname"], "SearchSlow");
/// assert_eq!((alert.status, alert.value), (AlertStatus::Firing, Some(0.25)));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertPayload {
    /// The fingerprint of its labels.
    pub fingerprint: u64,
    /// Its labels (`alertname`, `severity`, `monitor`, the rule's own).
    pub labels: BTreeMap<String, String>,
    /// Its annotations, rendered.
    pub annotations: BTreeMap<String, String>,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// When it started firing.
    pub starts_at: DateTime<Utc>,
    /// When it resolved.
    pub ends_at: Option<DateTime<Utc>>,
    /// The observed value, when there is one.
    pub value: Option<f64>,
}

/// One message to one channel.
///
/// # Examples
///
/// ```
/// # use std::collections::BTreeMap;
/// # use watchkeeper_actors::notify::{AlertPayload, AlertStatus, Notification};
/// # let labels = BTreeMap::from([("alertname".to_owned(), "SearchSlow".to_owned()), ("monitor".into(), "search".into())]);
/// # let annotations = BTreeMap::from([("summary".to_owned(), "p99 is 0.25s".to_owned())]);
/// # let (now, status) = (chrono::Utc::now(), AlertStatus::Firing);
/// # let alert = AlertPayload { fingerprint: 1, labels: labels.clone(), annotations, status, starts_at: now, ends_at: None, value: Some(0.25) };
/// # let notification = Notification { id: Notification::next_id(), channel: "log".into(), route: "{}".into(),
/// #     group_key: r#"{}:{alertname="SearchSlow", monitor="search"}"#.into(), group_labels: labels, status,
/// #     alerts: vec![alert], summary: None, created_at: now };
/// assert_eq!(notification.title(), "[FIRING:1] SearchSlow (monitor=search)");
/// assert_eq!(notification.common_labels()["monitor"], "search");
/// assert!(notification.text().ends_with("monitor=search: p99 is 0.25s"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notification {
    /// Unique within the process.
    pub id: u64,
    /// The channel (receiver) it is for.
    pub channel: String,
    /// The key of the route it came through (`{}` for the root, `{}/{severity="critical"}` below).
    pub route: String,
    /// Its group's key, as Alertmanager writes it: the route key, `:`, the group labels.
    pub group_key: String,
    /// The group-by labels and their values.
    pub group_labels: BTreeMap<String, String>,
    /// Firing if any alert in it is firing.
    pub status: AlertStatus,
    /// The alerts.
    pub alerts: Vec<AlertPayload>,
    /// For a rate-limit summary: what was folded into it.
    pub summary: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

static NEXT_NOTIFICATION: AtomicU64 = AtomicU64::new(1);

impl Notification {
    /// A new notification id.
    pub fn next_id() -> u64 {
        NEXT_NOTIFICATION.fetch_add(1, Ordering::Relaxed)
    }

    /// The labels every alert in it shares.
    pub fn common_labels(&self) -> BTreeMap<String, String> {
        common(self.alerts.iter().map(|a| &a.labels))
    }

    /// The annotations every alert in it shares.
    pub fn common_annotations(&self) -> BTreeMap<String, String> {
        common(self.alerts.iter().map(|a| &a.annotations))
    }

    /// A one-line title: `[FIRING:2] SearchLatencyHigh (monitor=search)`.
    pub fn title(&self) -> String {
        let status = match self.status {
            AlertStatus::Firing => "FIRING",
            AlertStatus::Resolved => "RESOLVED",
        };
        let name = self
            .common_labels()
            .get("alertname")
            .cloned()
            .unwrap_or_else(|| "alerts".into());
        let group: Vec<String> = self
            .group_labels
            .iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut t = format!("[{status}:{}] {name}", self.alerts.len());
        if !group.is_empty() {
            t.push_str(&format!(" ({})", group.join(", ")));
        }
        t
    }

    /// A plain-text body listing every alert.
    pub fn text(&self) -> String {
        let mut out = self.title();
        if let Some(summary) = &self.summary {
            out.push_str(&format!("\n{summary}"));
        }
        for a in &self.alerts {
            let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("\n- {:?} {}", a.status, labels.join(" ")));
            if let Some(s) = a.annotations.get("summary") {
                out.push_str(&format!(": {s}"));
            }
        }
        out
    }
}

fn common<'a>(
    mut sets: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(first) = sets.next() else {
        return BTreeMap::new();
    };
    let mut shared = first.clone();
    for set in sets {
        shared.retain(|k, v| set.get(k) == Some(v));
    }
    shared
}

/// How a delivery ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The receiver accepted it.
    Delivered,
    /// Given up on: retries exhausted, deadline passed, refused, or the outbox was full.
    Failed,
}

/// What happened to one notification.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeliveryReport {
    /// The notification.
    pub id: u64,
    /// The channel.
    pub channel: String,
    /// The alerts it carried.
    pub fingerprints: Vec<u64>,
    /// How it ended.
    pub outcome: DeliveryOutcome,
    /// Attempts made.
    pub attempts: u32,
    /// The last error, when it failed.
    pub error: Option<String>,
}

/// Where delivery reports go.
pub type ReportTo = Arc<dyn Fn(DeliveryReport) + Send + Sync>;

/// Why one attempt failed.
///
/// # Examples
///
/// ```
/// # use std::collections::BTreeMap;
/// # use watchkeeper_actors::notify::{AlertPayload, AlertStatus, Notification};
/// # let labels = BTreeMap::from([("alertname".to_owned(), "SearchSlow".to_owned()), ("monitor".into(), "search".into())]);
/// # let annotations = BTreeMap::from([("summary".to_owned(), "p99 is 0.25s".to_owned())]);
/// # let (now, status) = (chrono::Utc::now(), AlertStatus::Firing);
/// # let alert = AlertPayload { fingerprint: 1, labels: labels.clone(), annotations, status, starts_at: now, ends_at: None, value: Some(0.25) };
/// # let notification = Notification { id: Notification::next_id(), channel: "log".into(), route: "{}".into(),
/// #     group_key: r#"{}:{alertname="SearchSlow", monitor="search"}"#.into(), group_labels: labels, status,
/// #     alerts: vec![alert], summary: None, created_at: now };
/// use std::time::Duration;
/// use watchkeeper_actors::notify::{SendFailure, Transport};
///
/// /// A receiver that asks to be tried again later.
/// struct Busy;
/// impl Transport for Busy {
///     fn send(&self, _: &Notification, _: Duration) -> futures_util::future::LocalBoxFuture<'static, Result<(), SendFailure>> {
///         Box::pin(async {
///             Err(SendFailure { retryable: true, retry_after: Some(Duration::from_secs(30)), message: "429 Too Many Requests".into() })
///         })
///     }
/// }
/// let failure = actix::System::new().block_on(Busy.send(&notification, Duration::from_secs(1))).unwrap_err();
/// assert!(failure.retryable);
/// assert_eq!(failure.retry_after, Some(Duration::from_secs(30)));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SendFailure {
    /// Whether trying again may help (connection errors, 429, 5xx).
    pub retryable: bool,
    /// The receiver's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
    /// What went wrong (never contains a secret).
    pub message: String,
}

/// A way to deliver notifications. Lives on its notifier's thread.
///
/// # Examples
///
/// ```
/// # use std::collections::BTreeMap;
/// # use watchkeeper_actors::notify::{AlertPayload, AlertStatus, Notification};
/// # let labels = BTreeMap::from([("alertname".to_owned(), "SearchSlow".to_owned()), ("monitor".into(), "search".into())]);
/// # let annotations = BTreeMap::from([("summary".to_owned(), "p99 is 0.25s".to_owned())]);
/// # let (now, status) = (chrono::Utc::now(), AlertStatus::Firing);
/// # let alert = AlertPayload { fingerprint: 1, labels: labels.clone(), annotations, status, starts_at: now, ends_at: None, value: Some(0.25) };
/// # let notification = Notification { id: Notification::next_id(), channel: "log".into(), route: "{}".into(),
/// #     group_key: r#"{}:{alertname="SearchSlow", monitor="search"}"#.into(), group_labels: labels, status,
/// #     alerts: vec![alert], summary: None, created_at: now };
/// use std::time::Duration;
/// use futures_util::future::LocalBoxFuture;
/// use watchkeeper_actors::notify::{SendFailure, Transport};
///
/// /// Accepts a notification only if it is firing.
/// struct FiringOnly;
/// impl Transport for FiringOnly {
///     fn send(&self, n: &Notification, _: Duration) -> LocalBoxFuture<'static, Result<(), SendFailure>> {
///         let firing = n.status == AlertStatus::Firing;
///         Box::pin(async move {
///             match firing {
///                 true => Ok(()),
///                 false => Err(SendFailure { retryable: false, retry_after: None, message: "resolved".into() }),
///             }
///         })
///     }
/// }
/// let sent = actix::System::new().block_on(FiringOnly.send(&notification, Duration::from_secs(1)));
/// assert_eq!(sent, Ok(()));
/// ```
pub trait Transport: 'static {
    /// Delivers one notification, within `timeout`.
    fn send(
        &self,
        notification: &Notification,
        timeout: Duration,
    ) -> LocalBoxFuture<'static, Result<(), SendFailure>>;
}

/// Counters of one channel; kept outside the actor so a restart loses none.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use std::collections::BTreeMap;
/// # use watchkeeper_actors::notify::{AlertPayload, AlertStatus, Notification};
/// # let labels = BTreeMap::from([("alertname".to_owned(), "SearchSlow".to_owned()), ("monitor".into(), "search".into())]);
/// # let annotations = BTreeMap::from([("summary".to_owned(), "p99 is 0.25s".to_owned())]);
/// # let (now, status) = (chrono::Utc::now(), AlertStatus::Firing);
/// # let alert = AlertPayload { fingerprint: 1, labels: labels.clone(), annotations, status, starts_at: now, ends_at: None, value: Some(0.25) };
/// # let notification = Notification { id: Notification::next_id(), channel: "log".into(), route: "{}".into(),
/// #     group_key: r#"{}:{alertname="SearchSlow", monitor="search"}"#.into(), group_labels: labels, status,
/// #     alerts: vec![alert], summary: None, created_at: now };
/// use std::sync::Arc;
/// use watchkeeper_actors::notify::*;
///
/// let counters = Arc::new(ChannelCounters::default());
/// let shared = counters.clone();
/// let log = root.start_child(ChildSpec::new("log", move || {
///     NotifierActor::new("log", Box::new(LogTransport), DeliveryPolicy::default(), shared.clone())
/// }));
/// let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
/// log.tell(Deliver { notification, report_to: Arc::new(move |r| { let _ = tx.send(r); }) })?;
/// let report = reports.recv().await.unwrap();
/// use std::sync::atomic::Ordering;
/// assert_eq!(report.outcome, DeliveryOutcome::Delivered);
/// // The counters are shared with the notifier's factory, so a restart keeps them.
/// assert_eq!(counters.delivered.load(Ordering::Relaxed), 1);
/// assert!(!counters.breaker_open.load(Ordering::Relaxed));
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct ChannelCounters {
    /// Notifications accepted by the receiver.
    pub delivered: AtomicU64,
    /// Notifications given up on.
    pub failed: AtomicU64,
    /// Attempts that failed and were retried.
    pub retried: AtomicU64,
    /// Times the breaker opened.
    pub breaker_opened: AtomicU64,
    /// Whether the breaker is open now (it stays open until a delivery succeeds).
    pub breaker_open: std::sync::atomic::AtomicBool,
}

/// A snapshot of a channel.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use std::collections::BTreeMap;
/// # use watchkeeper_actors::notify::{AlertPayload, AlertStatus, Notification};
/// # let labels = BTreeMap::from([("alertname".to_owned(), "SearchSlow".to_owned()), ("monitor".into(), "search".into())]);
/// # let annotations = BTreeMap::from([("summary".to_owned(), "p99 is 0.25s".to_owned())]);
/// # let (now, status) = (chrono::Utc::now(), AlertStatus::Firing);
/// # let alert = AlertPayload { fingerprint: 1, labels: labels.clone(), annotations, status, starts_at: now, ends_at: None, value: Some(0.25) };
/// # let notification = Notification { id: Notification::next_id(), channel: "log".into(), route: "{}".into(),
/// #     group_key: r#"{}:{alertname="SearchSlow", monitor="search"}"#.into(), group_labels: labels, status,
/// #     alerts: vec![alert], summary: None, created_at: now };
/// use std::sync::Arc;
/// use watchkeeper_actors::notify::*;
///
/// let counters = Arc::new(ChannelCounters::default());
/// let shared = counters.clone();
/// let log = root.start_child(ChildSpec::new("log", move || {
///     NotifierActor::new("log", Box::new(LogTransport), DeliveryPolicy::default(), shared.clone())
/// }));
/// let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
/// log.tell(Deliver { notification, report_to: Arc::new(move |r| { let _ = tx.send(r); }) })?;
/// let report = reports.recv().await.unwrap();
/// # let _ = report;
/// let status = log.ask(GetChannelStatus, t).await?;
/// assert_eq!((status.channel.as_str(), status.delivered, status.failed), ("log", 1, 0));
/// assert_eq!(status.queued, 0);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChannelStatus {
    /// The channel.
    pub channel: String,
    /// Notifications waiting in its outbox (including the one in flight).
    pub queued: usize,
    /// Whether its breaker is open.
    pub breaker_open: bool,
    /// Delivered so far.
    pub delivered: u64,
    /// Failed so far.
    pub failed: u64,
    /// Retried attempts so far.
    pub retried: u64,
}

struct Pending {
    notification: Notification,
    report_to: ReportTo,
    attempts: u32,
    deadline: Instant,
    not_before: Instant,
    last_error: Option<String>,
}

/// Delivers one channel's notifications; see the module docs.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use std::collections::BTreeMap;
/// # use watchkeeper_actors::notify::{AlertPayload, AlertStatus, Notification};
/// # let labels = BTreeMap::from([("alertname".to_owned(), "SearchSlow".to_owned()), ("monitor".into(), "search".into())]);
/// # let annotations = BTreeMap::from([("summary".to_owned(), "p99 is 0.25s".to_owned())]);
/// # let (now, status) = (chrono::Utc::now(), AlertStatus::Firing);
/// # let alert = AlertPayload { fingerprint: 1, labels: labels.clone(), annotations, status, starts_at: now, ends_at: None, value: Some(0.25) };
/// # let notification = Notification { id: Notification::next_id(), channel: "log".into(), route: "{}".into(),
/// #     group_key: r#"{}:{alertname="SearchSlow", monitor="search"}"#.into(), group_labels: labels, status,
/// #     alerts: vec![alert], summary: None, created_at: now };
/// use std::sync::Arc;
/// use watchkeeper_actors::notify::*;
///
/// let counters = Arc::new(ChannelCounters::default());
/// let shared = counters.clone();
/// let log = root.start_child(ChildSpec::new("log", move || {
///     NotifierActor::new("log", Box::new(LogTransport), DeliveryPolicy::default(), shared.clone())
/// }));
/// let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
/// log.tell(Deliver { notification, report_to: Arc::new(move |r| { let _ = tx.send(r); }) })?;
/// let report = reports.recv().await.unwrap();
/// assert_eq!((report.channel.as_str(), report.outcome, report.attempts), ("log", DeliveryOutcome::Delivered, 1));
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
pub struct NotifierActor {
    channel: String,
    transport: Box<dyn Transport>,
    policy: DeliveryPolicy,
    counters: Arc<ChannelCounters>,
    queue: VecDeque<Pending>,
    in_flight: bool,
    wake: Option<crate::TimerHandle>,
    consecutive_failures: u32,
    open_until: Option<Instant>,
    events: Option<EventBus>,
    rng: fastrand::Rng,
}

impl NotifierActor {
    /// A notifier for `channel` delivering through `transport`.
    pub fn new(
        channel: impl Into<String>,
        transport: Box<dyn Transport>,
        policy: DeliveryPolicy,
        counters: Arc<ChannelCounters>,
    ) -> Self {
        NotifierActor {
            channel: channel.into(),
            transport,
            policy,
            counters,
            queue: VecDeque::new(),
            in_flight: false,
            wake: None,
            consecutive_failures: 0,
            open_until: None,
            events: None,
            rng: fastrand::Rng::new(),
        }
    }

    fn finish(&mut self, pending: Pending, outcome: DeliveryOutcome, error: Option<String>) {
        let counter = match outcome {
            DeliveryOutcome::Delivered => &self.counters.delivered,
            DeliveryOutcome::Failed => &self.counters.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if outcome == DeliveryOutcome::Failed {
            self.record(NotificationFailed {
                channel: &self.channel,
                id: pending.notification.id,
                attempts: pending.attempts,
                error: error.as_deref().unwrap_or(""),
            });
        }
        (pending.report_to)(DeliveryReport {
            id: pending.notification.id,
            channel: self.channel.clone(),
            fingerprints: pending
                .notification
                .alerts
                .iter()
                .map(|a| a.fingerprint)
                .collect(),
            outcome,
            attempts: pending.attempts,
            error,
        });
    }

    fn wake_at(&mut self, at: Instant, ctx: &mut ChildContext<'_, Self>) {
        if let Some(handle) = self.wake.take() {
            ctx.cancel(handle);
        }
        let delay = at.saturating_duration_since(Instant::now());
        self.wake = Some(ctx.run_later(delay, |act, ctx| {
            act.wake = None;
            act.pump(ctx);
        }));
    }

    /// Starts the next delivery if nothing is in flight.
    fn pump(&mut self, ctx: &mut ChildContext<'_, Self>) {
        while !self.in_flight {
            let now = Instant::now();
            let Some(front) = self.queue.front() else {
                return;
            };
            if now >= front.deadline {
                if let Some(p) = self.queue.pop_front() {
                    let error = p
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "not delivered before its deadline".into());
                    self.finish(
                        p,
                        DeliveryOutcome::Failed,
                        Some(format!("deadline passed: {error}")),
                    );
                }
                continue;
            }
            if let Some(until) = self.open_until {
                if now < until {
                    let at = until.min(front.deadline);
                    self.wake_at(at, ctx);
                    return;
                }
            }
            if now < front.not_before {
                let at = front.not_before.min(front.deadline);
                self.wake_at(at, ctx);
                return;
            }
            let timeout = self.policy.attempt_timeout.min(front.deadline - now);
            let send = self.transport.send(&front.notification, timeout);
            self.in_flight = true;
            ctx.spawn_then(send, |act, result, ctx| {
                act.in_flight = false;
                act.on_result(result);
                act.pump(ctx);
            });
            return;
        }
    }

    fn on_result(&mut self, result: Result<(), SendFailure>) {
        let Some(mut p) = self.queue.pop_front() else {
            return;
        };
        p.attempts += 1;
        match result {
            Ok(()) => {
                self.consecutive_failures = 0;
                self.open_until = None;
                self.counters.breaker_open.store(false, Ordering::Relaxed);
                self.finish(p, DeliveryOutcome::Delivered, None);
            }
            Err(failure) => {
                self.consecutive_failures += 1;
                let now = Instant::now();
                if self.consecutive_failures >= self.policy.breaker_failures.max(1) {
                    if self.open_until.is_none_or(|t| now >= t) {
                        self.counters.breaker_opened.fetch_add(1, Ordering::Relaxed);
                        self.record(BreakerOpened {
                            channel: &self.channel,
                            failures: self.consecutive_failures,
                            reset: self.policy.breaker_reset,
                        });
                    }
                    self.open_until = Some(now + self.policy.breaker_reset);
                    self.counters.breaker_open.store(true, Ordering::Relaxed);
                }
                if !failure.retryable || p.attempts > self.policy.retries {
                    self.finish(p, DeliveryOutcome::Failed, Some(failure.message));
                    return;
                }
                let backoff = backoff(&self.policy, p.attempts, self.rng.f64());
                let delay = failure.retry_after.map_or(backoff, |r| r.max(backoff));
                p.not_before = now + delay;
                p.last_error = Some(failure.message);
                self.counters.retried.fetch_add(1, Ordering::Relaxed);
                // Retries keep their place at the head: notifications leave in order.
                self.queue.push_front(p);
            }
        }
    }
}

impl NotifierActor {
    fn record<E: Event>(&self, event: E) {
        match &self.events {
            Some(bus) => bus.record(event),
            None => event.log(),
        }
    }
}

/// A notification was given up on: retries exhausted, deadline passed, refused, or the outbox full.
#[derive(Debug)]
pub struct NotificationFailed<'a> {
    /// The channel.
    pub channel: &'a str,
    /// The notification.
    pub id: u64,
    /// Attempts made.
    pub attempts: u32,
    /// The last error (never a secret).
    pub error: &'a str,
}

impl Event for NotificationFailed<'_> {
    const NAME: &'static str = "notification_failed";
    fn log(&self) {
        tracing::warn!(
            channel = self.channel,
            id = self.id,
            attempts = self.attempts,
            error = self.error,
            "Notification failed"
        );
    }
}

/// A channel's circuit breaker opened after consecutive failures.
#[derive(Debug)]
pub struct BreakerOpened<'a> {
    /// The channel.
    pub channel: &'a str,
    /// Consecutive failures.
    pub failures: u32,
    /// How long it stays open before a trial delivery.
    pub reset: Duration,
}

impl Event for BreakerOpened<'_> {
    const NAME: &'static str = "breaker_opened";
    fn log(&self) {
        tracing::warn!(
            channel = self.channel,
            failures = self.failures,
            reset = ?self.reset,
            "Circuit breaker opened"
        );
    }
}

impl ChildActor for NotifierActor {
    fn started(&mut self, ctx: &mut ChildContext<'_, Self>) {
        self.events = Some(ctx.events().clone());
    }
}

impl Drop for NotifierActor {
    /// Runs when the notifier stops and when a failed instance is discarded: whatever is still queued
    /// is reported as failed, never lost silently.
    fn drop(&mut self) {
        while let Some(p) = self.queue.pop_front() {
            self.finish(
                p,
                DeliveryOutcome::Failed,
                Some("the notifier stopped before delivering it".into()),
            );
        }
    }
}

/// Deliver a notification; the report goes to `report_to`.
pub struct Deliver {
    /// The notification.
    pub notification: Notification,
    /// Where the outcome goes.
    pub report_to: ReportTo,
}

impl Message for Deliver {
    type Result = ();
    const OVERFLOW: Overflow = Overflow::Reject;
}

impl Handles<Deliver> for NotifierActor {
    fn handle(&mut self, msg: Deliver, ctx: &mut ChildContext<'_, Self>) {
        let now = Instant::now();
        let pending = Pending {
            notification: msg.notification,
            report_to: msg.report_to,
            attempts: 0,
            deadline: now + self.policy.deadline,
            not_before: now,
            last_error: None,
        };
        if self.queue.len() >= self.policy.outbox_capacity.max(1) {
            self.finish(
                pending,
                DeliveryOutcome::Failed,
                Some("the channel's outbox is full".into()),
            );
            return;
        }
        self.queue.push_back(pending);
        self.pump(ctx);
    }
}

/// Ask for the channel's status.
#[derive(Debug)]
pub struct GetChannelStatus;

impl Message for GetChannelStatus {
    type Result = ChannelStatus;
}

impl Handles<GetChannelStatus> for NotifierActor {
    fn handle(&mut self, _: GetChannelStatus, _: &mut ChildContext<'_, Self>) -> ChannelStatus {
        ChannelStatus {
            channel: self.channel.clone(),
            queued: self.queue.len(),
            breaker_open: self.open_until.is_some_and(|t| Instant::now() < t),
            delivered: self.counters.delivered.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            retried: self.counters.retried.load(Ordering::Relaxed),
        }
    }
}

/// The wait before the retry after `attempts` attempts: `backoff_min` doubled per attempt, at most
/// `backoff_max`, spread by ±20 % with `unit` (in [0, 1)), so that a fleet that failed together
/// does not retry in lockstep.
fn backoff(policy: &DeliveryPolicy, attempts: u32, unit: f64) -> Duration {
    let exp = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
    policy
        .backoff_min
        .saturating_mul(exp)
        .min(policy.backoff_max)
        .mul_f64(0.8 + 0.4 * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_the_maximum_and_spread_by_a_fifth() {
        let policy = DeliveryPolicy {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            ..DeliveryPolicy::default()
        };
        let nominal = |attempts| backoff(&policy, attempts, 0.5);
        assert_eq!(nominal(1), Duration::from_millis(100));
        assert_eq!(nominal(2), Duration::from_millis(200));
        assert_eq!(nominal(4), Duration::from_millis(800));
        assert_eq!(nominal(9), Duration::from_secs(1));
        // Ten processes that failed at once: their first retries spread over 80..120 ms.
        let mut rng = fastrand::Rng::with_seed(7);
        let waits: Vec<Duration> = (0..10).map(|_| backoff(&policy, 1, rng.f64())).collect();
        let (lo, hi) = (waits.iter().min().unwrap(), waits.iter().max().unwrap());
        assert!(*lo >= Duration::from_millis(80) && *hi < Duration::from_millis(120));
        assert!(*hi - *lo >= Duration::from_millis(20), "{waits:?}");
    }
}
