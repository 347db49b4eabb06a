//! Delivery to real receivers on 127.0.0.1: the webhook (Alertmanager webhook v4) and Slack formats,
//! retries with backoff, `Retry-After`, refused connections, hung receivers and deadlines, the circuit
//! breaker, and one channel's outage not touching another. Real time, real sockets.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::receiver::{Receiver, Refusing, Reply};
use common::with_root;
use tokio::sync::mpsc;
use watchkeeper_actors::notify::{
    AlertPayload, AlertStatus, ChannelCounters, Deliver, DeliveryOutcome, DeliveryPolicy,
    DeliveryReport, GetChannelStatus, Notification, NotifierActor, ReportTo, WebhookFormat,
    WebhookTransport,
};
use watchkeeper_actors::{ChildRef, ChildSpec, SupervisorRef};

fn policy() -> DeliveryPolicy {
    DeliveryPolicy {
        retries: 3,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_secs(2),
        attempt_timeout: Duration::from_millis(500),
        deadline: Duration::from_secs(10),
        breaker_failures: 100,
        breaker_reset: Duration::from_secs(1),
        outbox_capacity: 16,
    }
}

fn notification(channel: &str) -> Notification {
    let labels = BTreeMap::from([
        ("alertname".to_owned(), "SearchSlow".to_owned()),
        ("severity".to_owned(), "warning".to_owned()),
        ("monitor".to_owned(), "search".to_owned()),
    ]);
    Notification {
        id: Notification::next_id(),
        channel: channel.into(),
        route: "{}".into(),
        group_key: "{}:{alertname=\"SearchSlow\"}".into(),
        group_labels: BTreeMap::from([("alertname".to_owned(), "SearchSlow".to_owned())]),
        status: AlertStatus::Firing,
        alerts: vec![AlertPayload {
            fingerprint: 0xfeed,
            labels,
            annotations: BTreeMap::from([("summary".to_owned(), "p99 is 0.2s".to_owned())]),
            status: AlertStatus::Firing,
            starts_at: chrono::Utc::now(),
            ends_at: None,
            value: Some(0.2),
        }],
        summary: None,
        created_at: chrono::Utc::now(),
    }
}

struct Channel {
    actor: ChildRef<NotifierActor>,
    counters: Arc<ChannelCounters>,
    reports: mpsc::UnboundedReceiver<DeliveryReport>,
    report_to: ReportTo,
}

impl Channel {
    /// A webhook channel in the Alertmanager format.
    fn webhook(
        root: &SupervisorRef,
        name: &'static str,
        url: String,
        policy: DeliveryPolicy,
    ) -> Channel {
        Channel::start(root, name, url, WebhookFormat::Alertmanager, None, policy)
    }

    fn start(
        root: &SupervisorRef,
        name: &'static str,
        url: String,
        format: WebhookFormat,
        channel: Option<String>,
        policy: DeliveryPolicy,
    ) -> Channel {
        let counters = Arc::new(ChannelCounters::default());
        let c = counters.clone();
        let actor = root.start_child(ChildSpec::new(name, move || {
            NotifierActor::new(
                name,
                Box::new(WebhookTransport::new(
                    name,
                    url.clone(),
                    format,
                    channel.clone(),
                )),
                policy.clone(),
                c.clone(),
            )
        }));
        let (tx, reports) = mpsc::unbounded_channel();
        Channel {
            actor,
            counters,
            reports,
            report_to: Arc::new(move |r| {
                let _ = tx.send(r);
            }),
        }
    }

    fn send(&self, n: Notification) {
        self.actor
            .tell(Deliver {
                notification: n,
                report_to: self.report_to.clone(),
            })
            .unwrap();
    }

    async fn report(&mut self, within: Duration) -> DeliveryReport {
        tokio::time::timeout(within, self.reports.recv())
            .await
            .expect("a delivery report in time")
            .unwrap()
    }
}

#[test]
fn the_webhook_posts_the_alertmanager_v4_payload() {
    with_root(|root| async move {
        let rx = Receiver::start(vec![], Reply::Status(200, vec![]));
        let mut ch = Channel::webhook(&root, "webhook", rx.url("/hook"), policy());
        ch.send(notification("webhook"));
        let report = ch.report(Duration::from_secs(5)).await;
        assert_eq!(
            (report.outcome, report.attempts, report.fingerprints.clone()),
            (DeliveryOutcome::Delivered, 1, vec![0xfeed])
        );
        let req = &rx.recorded()[0];
        assert_eq!(req.path, "/hook");
        assert!(req
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/json"));
        let body = req.json();
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["receiver"], "webhook");
        assert_eq!(body["groupKey"], "{}:{alertname=\"SearchSlow\"}");
        assert_eq!(body["groupLabels"]["alertname"], "SearchSlow");
        assert_eq!(body["commonLabels"]["monitor"], "search");
        assert_eq!(body["commonAnnotations"]["summary"], "p99 is 0.2s");
        assert_eq!(body["alerts"][0]["labels"]["severity"], "warning");
        assert_eq!(body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
        assert!(body["alerts"][0]["startsAt"]
            .as_str()
            .unwrap()
            .ends_with('Z'));
        assert_eq!(
            ch.counters
                .delivered
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    });
}

#[test]
fn slack_gets_its_incoming_webhook_format() {
    with_root(|root| async move {
        let rx = Receiver::start(vec![], Reply::Status(200, vec![]));
        let mut ch = Channel::start(
            &root,
            "slack",
            rx.url("/services/T0/B0/x"),
            WebhookFormat::Slack {
                channel_override: true,
            },
            Some("#oncall".into()),
            policy(),
        );
        ch.send(notification("slack"));
        assert_eq!(
            ch.report(Duration::from_secs(5)).await.outcome,
            DeliveryOutcome::Delivered
        );
        let body = rx.recorded()[0].json();
        assert_eq!(body["channel"], "#oncall");
        let text = body["text"].as_str().unwrap();
        assert!(text.starts_with("[FIRING:1] SearchSlow"), "{text}");
        assert!(text.contains("p99 is 0.2s"), "{text}");
    });
}

#[test]
fn server_errors_are_retried_with_growing_backoff_until_delivered() {
    with_root(|root| async move {
        let rx = Receiver::start(
            vec![Reply::Status(500, vec![]), Reply::Status(503, vec![])],
            Reply::Status(200, vec![]),
        );
        let mut ch = Channel::webhook(&root, "webhook", rx.url("/"), policy());
        ch.send(notification("webhook"));
        let report = ch.report(Duration::from_secs(5)).await;
        assert_eq!(
            (report.outcome, report.attempts),
            (DeliveryOutcome::Delivered, 3)
        );
        let at: Vec<Instant> = rx.recorded().iter().map(|r| r.at).collect();
        // 20 ms then 40 ms, each spread by the ±20 % jitter: at least 16 ms and 32 ms.
        assert!(
            at[1] - at[0] >= Duration::from_millis(16),
            "{:?}",
            at[1] - at[0]
        );
        assert!(
            at[2] - at[1] >= Duration::from_millis(32),
            "{:?}",
            at[2] - at[1]
        );
        assert_eq!(
            ch.counters
                .retried
                .load(std::sync::atomic::Ordering::Relaxed),
            2
        );
    });
}

#[test]
fn retry_after_on_429_is_honoured() {
    with_root(|root| async move {
        let rx = Receiver::start(
            vec![Reply::Status(429, vec![("Retry-After", "1".into())])],
            Reply::Status(200, vec![]),
        );
        let mut ch = Channel::webhook(&root, "webhook", rx.url("/"), policy());
        ch.send(notification("webhook"));
        let report = ch.report(Duration::from_secs(5)).await;
        assert_eq!(
            (report.outcome, report.attempts),
            (DeliveryOutcome::Delivered, 2)
        );
        let at: Vec<Instant> = rx.recorded().iter().map(|r| r.at).collect();
        assert!(
            at[1] - at[0] >= Duration::from_millis(990),
            "waited {:?}",
            at[1] - at[0]
        );
    });
}

#[test]
fn a_client_error_is_not_retried_and_a_refused_connection_fails_after_the_retries() {
    with_root(|root| async move {
        let rx = Receiver::start(vec![], Reply::Status(400, vec![]));
        let mut ch = Channel::webhook(&root, "webhook", rx.url("/"), policy());
        ch.send(notification("webhook"));
        let report = ch.report(Duration::from_secs(5)).await;
        assert_eq!(
            (report.outcome, report.attempts),
            (DeliveryOutcome::Failed, 1)
        );
        assert!(report.error.unwrap().contains("400"));

        let closed = Refusing::bind();
        let addr = closed.addr;
        let mut ch = Channel::webhook(&root, "refused", format!("http://{addr}/"), policy());
        ch.send(notification("refused"));
        let report = ch.report(Duration::from_secs(5)).await;
        assert_eq!(
            (report.outcome, report.attempts),
            (DeliveryOutcome::Failed, 4)
        );
        let error = report.error.unwrap();
        assert!(error.contains("cannot connect"), "{error}");
        assert!(
            !error.contains(&addr.port().to_string()),
            "the URL (possibly secret) is not in the error: {error}"
        );
    });
}

#[test]
fn the_breaker_opens_after_consecutive_failures_and_tries_again_after_its_reset() {
    with_root(|root| async move {
        let rx = Receiver::start(vec![], Reply::Status(500, vec![]));
        let mut p = policy();
        p.retries = 0;
        p.breaker_failures = 3;
        p.breaker_reset = Duration::from_millis(600);
        let mut ch = Channel::webhook(&root, "webhook", rx.url("/"), p);
        for _ in 0..5 {
            ch.send(notification("webhook"));
        }
        for _ in 0..3 {
            assert_eq!(
                ch.report(Duration::from_secs(5)).await.outcome,
                DeliveryOutcome::Failed
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let status = ch
            .actor
            .ask(GetChannelStatus, Duration::from_secs(1))
            .await
            .unwrap();
        assert!(status.breaker_open, "{status:?}");
        assert_eq!(
            rx.recorded().len(),
            3,
            "no attempt while the breaker is open"
        );
        assert_eq!(status.queued, 2, "held, not dropped");
        // After the reset one trial goes out; it fails and the breaker opens again.
        assert_eq!(
            ch.report(Duration::from_secs(5)).await.outcome,
            DeliveryOutcome::Failed
        );
        assert_eq!(rx.recorded().len(), 4);
        assert_eq!(
            ch.counters
                .breaker_opened
                .load(std::sync::atomic::Ordering::Relaxed),
            2
        );
    });
}

#[test]
fn a_hung_receiver_fails_at_the_deadline_without_delaying_another_channel() {
    with_root(|root| async move {
        let hung = Receiver::start(vec![], Reply::Hang(Duration::from_secs(5)));
        let healthy = Receiver::start(vec![], Reply::Status(200, vec![]));
        let mut p = policy();
        p.attempt_timeout = Duration::from_millis(200);
        p.deadline = Duration::from_millis(900);
        p.retries = 10;
        let mut slow = Channel::webhook(&root, "slow", hung.url("/"), p.clone());
        let mut fast = Channel::webhook(&root, "fast", healthy.url("/"), p);
        let started = Instant::now();
        slow.send(notification("slow"));
        slow.send(notification("slow"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        fast.send(notification("fast"));
        let report = fast.report(Duration::from_secs(5)).await;
        assert_eq!(report.outcome, DeliveryOutcome::Delivered);
        assert!(
            started.elapsed() < Duration::from_millis(400),
            "the other channel was not held up: {:?}",
            started.elapsed()
        );
        let report = slow.report(Duration::from_secs(5)).await;
        assert_eq!(report.outcome, DeliveryOutcome::Failed);
        assert!(
            report
                .error
                .as_deref()
                .unwrap()
                .starts_with("deadline passed"),
            "{report:?}"
        );
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(800) && elapsed < Duration::from_millis(2000),
            "{elapsed:?}"
        );
        assert!(report.attempts >= 2, "{report:?}");
        // The second one queued behind it is reported too, never dropped silently.
        assert_eq!(
            slow.report(Duration::from_secs(5)).await.outcome,
            DeliveryOutcome::Failed
        );
    });
}

#[test]
fn notifications_held_during_an_outage_are_delivered_when_it_ends() {
    with_root(|root| async move {
        let outage = vec![Reply::Status(503, vec![]); 4];
        let rx = Receiver::start(outage, Reply::Status(200, vec![]));
        let mut p = policy();
        p.retries = 10;
        let mut ch = Channel::webhook(&root, "webhook", rx.url("/"), p);
        for _ in 0..3 {
            ch.send(notification("webhook"));
        }
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            outcomes.push(ch.report(Duration::from_secs(10)).await.outcome);
        }
        assert_eq!(outcomes, vec![DeliveryOutcome::Delivered; 3]);
        assert_eq!(rx.recorded().len(), 4 + 3);
    });
}

#[test]
fn a_full_outbox_reports_the_overflow_as_failed() {
    with_root(|root| async move {
        let rx = Receiver::start(vec![], Reply::Hang(Duration::from_secs(3)));
        let mut p = policy();
        p.outbox_capacity = 2;
        p.deadline = Duration::from_millis(300);
        p.attempt_timeout = Duration::from_millis(300);
        let mut ch = Channel::webhook(&root, "webhook", rx.url("/"), p);
        for _ in 0..4 {
            ch.send(notification("webhook"));
        }
        let mut errors = Vec::new();
        for _ in 0..4 {
            errors.push(
                ch.report(Duration::from_secs(5))
                    .await
                    .error
                    .unwrap_or_default(),
            );
        }
        assert_eq!(
            errors
                .iter()
                .filter(|e| e.contains("outbox is full"))
                .count(),
            2,
            "{errors:?}"
        );
    });
}
