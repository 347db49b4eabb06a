//! Real receivers started by the tests: an SMTP server (Python's aiosmtpd), a real Alertmanager
//! (Debian `prometheus-alertmanager`), and the whole runtime from a recorded latency to a delivered
//! webhook. Each skips loudly when its server is missing, and fails instead under CI.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::get;
use common::process::{free_port, require, spawn, TempDir};
use common::receiver::{Receiver, Reply};
use tokio::sync::mpsc;
use watchkeeper::config::{AlertRule, Metric, Secret};
use watchkeeper::{Config, Runtime};
use watchkeeper_actors::notify::{
    AlertPayload, AlertStatus, AlertmanagerTransport, ChannelCounters, Deliver, DeliveryOutcome,
    DeliveryPolicy, EmailSettings, EmailTransport, Notification, NotifierActor, SmtpSecurity,
    Transport,
};
use watchkeeper_actors::ChildSpec;

fn alert(status: AlertStatus) -> Notification {
    let labels = BTreeMap::from([
        ("alertname".to_owned(), "SearchSlow".to_owned()),
        ("severity".to_owned(), "critical".to_owned()),
    ]);
    Notification {
        id: Notification::next_id(),
        channel: "test".into(),
        route: "{}".into(),
        group_key: "{}".into(),
        group_labels: BTreeMap::new(),
        status,
        alerts: vec![AlertPayload {
            fingerprint: 7,
            labels,
            annotations: BTreeMap::from([("summary".to_owned(), "p99 is 0.7s".to_owned())]),
            status,
            starts_at: chrono::Utc::now() - chrono::Duration::seconds(30),
            ends_at: (status == AlertStatus::Resolved).then(chrono::Utc::now),
            value: Some(0.7),
        }],
        summary: None,
        created_at: chrono::Utc::now(),
    }
}

/// Delivers `n` through `transport` from a notifier actor; returns the report.
fn deliver(
    transport: impl Fn() -> Box<dyn Transport> + Send + Sync + 'static,
    n: Notification,
) -> watchkeeper_actors::notify::DeliveryReport {
    deliver_all(transport, vec![n]).remove(0)
}

/// Delivers each of `ns` in turn through one notifier actor; returns their reports.
fn deliver_all(
    transport: impl Fn() -> Box<dyn Transport> + Send + Sync + 'static,
    ns: Vec<Notification>,
) -> Vec<watchkeeper_actors::notify::DeliveryReport> {
    common::with_root(|root| async move {
        let policy = DeliveryPolicy {
            backoff_min: Duration::from_millis(50),
            ..DeliveryPolicy::default()
        };
        let notifier = root.start_child(ChildSpec::new("channel", move || {
            NotifierActor::new(
                "channel",
                transport(),
                policy.clone(),
                Arc::new(ChannelCounters::default()),
            )
        }));
        let mut reports = Vec::new();
        for n in ns {
            let (tx, mut rx) = mpsc::unbounded_channel();
            notifier
                .tell(Deliver {
                    notification: n,
                    report_to: Arc::new(move |r| {
                        let _ = tx.send(r);
                    }),
                })
                .unwrap();
            let report = tokio::time::timeout(Duration::from_secs(15), rx.recv())
                .await
                .unwrap()
                .unwrap();
            reports.push(report);
        }
        // Stopped as the runtime stops it: a notifier's pooled SMTP connection is closed on the
        // runtime's executor, which must still be there.
        root.shutdown().await;
        reports
    })
}

/// A TCP relay in front of `target` that counts the connections made through it. It stops
/// accepting after 30 s or when dropped.
struct CountingRelay {
    port: u16,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl CountingRelay {
    fn start(target: u16) -> CountingRelay {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (connections.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !halt.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((client, _)) => {
                        count.fetch_add(1, Ordering::SeqCst);
                        client.set_nonblocking(false).unwrap();
                        let server = std::net::TcpStream::connect(("127.0.0.1", target)).unwrap();
                        for (mut from, mut to) in [
                            (client.try_clone().unwrap(), server.try_clone().unwrap()),
                            (server, client),
                        ] {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut from, &mut to);
                                let _ = to.shutdown(std::net::Shutdown::Write);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        CountingRelay {
            port,
            connections,
            stop,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for CountingRelay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn wait_for_port(port: u16, what: &str) {
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn email_is_delivered_to_a_real_smtp_server() {
    let dir = TempDir::new("smtp");
    let maildir = dir.path().join("mail");
    let Some((port, _server)) = aiosmtpd(
        &dir,
        &["aiosmtpd.handlers.Mailbox", maildir.to_str().unwrap()],
    ) else {
        return;
    };
    let relay = CountingRelay::start(port);
    let settings = plain_smtp(relay.port, &["oncall@example.com", "lead@example.com"]);
    let reports = deliver_all(
        move || Box::new(EmailTransport::new(settings.clone())),
        vec![alert(AlertStatus::Firing), alert(AlertStatus::Resolved)],
    );
    for report in &reports {
        assert_eq!(report.outcome, DeliveryOutcome::Delivered, "{report:?}");
    }
    assert_eq!(
        relay.connections(),
        1,
        "the second message goes over the first one's connection"
    );
    let files: Vec<_> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2);
    let mut mails: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    mails.sort_by_key(|m| m.contains("[RESOLVED:"));
    assert!(
        mails[1].contains("Subject: [RESOLVED:1] SearchSlow"),
        "{}",
        mails[1]
    );
    let mail = &mails[0];
    assert!(mail.contains("Subject: [FIRING:1] SearchSlow"), "{mail}");
    assert!(
        mail.contains("oncall@example.com") && mail.contains("lead@example.com"),
        "{mail}"
    );
    assert!(mail.contains("p99 is 0.7s"), "{mail}");
}

#[test]
fn alertmanager_accepts_firing_and_resolved_alerts_through_its_v2_api() {
    if !require("prometheus-alertmanager", "prometheus-alertmanager") {
        return;
    }
    let dir = TempDir::new("alertmanager");
    let (port, _am) = alertmanager(
        &dir,
        "route:\n  receiver: blackhole\n  group_by: ['alertname']\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
    );
    let api: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let base = format!("http://{api}");
    let b = base.clone();
    let report = deliver(
        move || {
            Box::new(AlertmanagerTransport::new(
                std::slice::from_ref(&b),
                Duration::from_secs(240),
            ))
        },
        alert(AlertStatus::Firing),
    );
    assert_eq!(report.outcome, DeliveryOutcome::Delivered, "{report:?}");
    let alerts: serde_json::Value = serde_json::from_str(&get(api, "/api/v2/alerts").body).unwrap();
    let ours = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "SearchSlow")
        .expect("Alertmanager lists our alert");
    assert_eq!(ours["status"]["state"], "active");
    assert_eq!(ours["annotations"]["summary"], "p99 is 0.7s");
    let labels: BTreeMap<String, String> = serde_json::from_value(ours["labels"].clone()).unwrap();
    assert_eq!(
        ours["fingerprint"].as_str().unwrap(),
        format!(
            "{:016x}",
            watchkeeper::actors::alerting::fingerprint(&labels)
        ),
        "the same labels have the same fingerprint here and in Alertmanager"
    );
    let ends: chrono::DateTime<chrono::Utc> = ours["endsAt"].as_str().unwrap().parse().unwrap();
    assert!(
        ends > chrono::Utc::now() + chrono::Duration::minutes(3),
        "a firing alert ends in the future: {ends}"
    );

    let b = base.clone();
    let report = deliver(
        move || {
            Box::new(AlertmanagerTransport::new(
                std::slice::from_ref(&b),
                Duration::from_secs(240),
            ))
        },
        alert(AlertStatus::Resolved),
    );
    assert_eq!(report.outcome, DeliveryOutcome::Delivered);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alerts: serde_json::Value =
            serde_json::from_str(&get(api, "/api/v2/alerts?active=true").body).unwrap();
        if !alerts
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["alertname"] == "SearchSlow")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the resolved alert is still active: {alerts}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_recorded_latency_breach_reaches_a_webhook_through_the_whole_runtime() {
    let rx = Receiver::start(vec![], Reply::Status(200, vec![]));
    let mut c = Config::default();
    c.deployment.health_check_port = 0;
    c.monitoring.tick = Duration::from_millis(50);
    let a = &mut c.alerting;
    a.check_interval = Duration::from_millis(100);
    a.group_wait = Duration::ZERO;
    a.rules = vec![AlertRule {
        critical: Some(0.05),
        labels: BTreeMap::from([("team".into(), "search".into())]),
        annotations: BTreeMap::from([("summary".into(), "search p99 is {value}s".into())]),
        ..AlertRule::new("SearchSlow", Some("search"), Metric::P99)
    }];
    a.channels.webhook.enabled = true;
    a.channels.webhook.url = Some(Secret::Value(rx.url("/alerts")));
    a.escalation.tiers = vec![vec!["log".into(), "webhook".into()]];
    let rt = Runtime::start(c).unwrap();
    let search = rt.monitor("search").unwrap();
    for _ in 0..100 {
        search.record_query(Duration::from_millis(80));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while rx.recorded().is_empty() {
        assert!(Instant::now() < deadline, "no webhook arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    let body = rx.recorded()[0].json();
    assert_eq!(body["status"], "firing");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "SearchSlow");
    assert_eq!(body["alerts"][0]["labels"]["monitor"], "search");
    assert_eq!(body["alerts"][0]["labels"]["team"], "search");
    assert!(
        body["alerts"][0]["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("search p99 is 0.08"),
        "{body}"
    );
    // The samples leave the window; the latency has no data, so the alert stays (NoData), not resolved.
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

/// A TCP relay in front of `target` that records every byte the client sends (the SMTP dialogue
/// and the message as sent in DATA).
struct RecordingRelay {
    port: u16,
    sent: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl RecordingRelay {
    fn start(target: u16) -> RecordingRelay {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
        let log = sent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let server = std::net::TcpStream::connect(("127.0.0.1", target)).unwrap();
                let (mut from, mut to) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                log.lock().unwrap().extend_from_slice(&buf[..n]);
                                if to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
                let (mut from, mut to) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        RecordingRelay { port, sent }
    }

    fn dialogue(&self) -> String {
        String::from_utf8_lossy(&self.sent.lock().unwrap()).into_owned()
    }
}

/// A real Alertmanager (Debian's `prometheus-alertmanager`) on 127.0.0.1 with `config` (YAML),
/// alone (no cluster), its files in `dir`: its port and process.
fn alertmanager(dir: &TempDir, config: &str) -> (u16, common::process::Running) {
    let port = free_port();
    let file = dir.path().join("alertmanager.yml");
    std::fs::write(&file, config).unwrap();
    let running = spawn(
        "prometheus-alertmanager",
        &[
            format!("--config.file={}", file.display()),
            format!("--storage.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".into(),
        ],
        &dir.path().join("alertmanager.log"),
    );
    wait_for_port(port, "alertmanager");
    (port, running)
}

/// A real SMTP server (Python's aiosmtpd) on 127.0.0.1 with `handler` (the class and its
/// arguments), logging into `dir`: its port and process; None, said loudly, when aiosmtpd is
/// missing (on CI that fails instead).
fn aiosmtpd(dir: &TempDir, handler: &[&str]) -> Option<(u16, common::process::Running)> {
    let present = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("aiosmtpd is missing on CI; .ci/run must `pip install aiosmtpd`");
        }
        eprintln!("SKIPPED: the SMTP test needs Python's aiosmtpd (`pip install aiosmtpd`)");
        return None;
    }
    let port = free_port();
    let mut args = vec!["-m", "aiosmtpd", "-n", "-l"];
    let listen = format!("127.0.0.1:{port}");
    args.push(&listen);
    args.push("-c");
    args.extend_from_slice(handler);
    let args: Vec<String> = args.into_iter().map(String::from).collect();
    let server = spawn("python3", &args, &dir.path().join("smtp.log"));
    wait_for_port(port, "aiosmtpd");
    Some((port, server))
}

/// Plain SMTP to 127.0.0.1:`port`, no login, from watchkeeper@example.com to `to`.
fn plain_smtp(port: u16, to: &[&str]) -> EmailSettings {
    EmailSettings {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        credentials: None,
        from: "watchkeeper@example.com".into(),
        to: to.iter().map(|t| t.to_string()).collect(),
    }
}

/// Sends `n` by email to a real aiosmtpd through a recording relay; returns the delivery report and
/// what the client sent, after the notifier has stopped (None when aiosmtpd is missing).
fn email_exchange(n: Notification) -> Option<(watchkeeper_actors::notify::DeliveryReport, String)> {
    let dir = TempDir::new("smtp-exchange");
    let (port, _server) = aiosmtpd(&dir, &["aiosmtpd.handlers.Sink"])?;
    let relay = RecordingRelay::start(port);
    let settings = plain_smtp(relay.port, &["oncall@example.com"]);
    let report = deliver(move || Box::new(EmailTransport::new(settings.clone())), n);
    // The pooled connection's QUIT crosses the relay's thread after the notifier has stopped.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !relay.dialogue().ends_with("QUIT\r\n") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((report, relay.dialogue()))
}

/// The message between `DATA` and the terminating `.`: (header block, body).
fn sent_message(dialogue: &str) -> (String, String) {
    let data = dialogue.split_once("DATA\r\n").expect("a DATA command").1;
    let message = data.split("\r\n.\r\n").next().unwrap();
    let (head, body) = message
        .split_once("\r\n\r\n")
        .expect("headers, a blank line, a body");
    (head.to_owned(), body.to_owned())
}

fn has_header(head: &str, name: &str) -> bool {
    head.split("\r\n").any(|l| {
        l.to_ascii_lowercase()
            .starts_with(&format!("{}:", name.to_ascii_lowercase()))
    })
}

/// An email as mail servers expect it: Message-ID, MIME-Version, Date, From, To, an encoded
/// non-ASCII subject, CRLF lines within 998 characters, EHLO first and QUIT last; a subject made
/// long by its group's labels is cut, not refused by the server.
#[test]
fn email_messages_carry_the_headers_the_rfcs_ask_for_in_short_lines() {
    let mut n = alert(AlertStatus::Firing);
    n.group_labels = BTreeMap::from([("team".to_owned(), "Suche – Müller".to_owned())]);
    n.alerts[0].annotations.insert(
        "summary".into(),
        format!("p99 is 0.7s {}", "y".repeat(1200)),
    );
    let Some((report, dialogue)) = email_exchange(n) else {
        return;
    };
    assert_eq!(
        report.outcome,
        DeliveryOutcome::Delivered,
        "{report:?}\n{dialogue}"
    );
    assert!(dialogue.starts_with("EHLO "), "{dialogue}");
    assert!(dialogue.trim_end().ends_with("QUIT"), "{dialogue}");
    let (head, body) = sent_message(&dialogue);
    for h in [
        "Message-ID",
        "Date",
        "From",
        "To",
        "Subject",
        "Content-Transfer-Encoding",
    ] {
        assert!(has_header(&head, h), "no {h}:\n{head}");
    }
    assert!(
        head.split("\r\n")
            .any(|l| l.eq_ignore_ascii_case("MIME-Version: 1.0")),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains("charset=utf-8"),
        "{head}"
    );
    assert!(head.to_ascii_lowercase().contains("=?utf-8?"), "{head}");
    assert!(head.is_ascii(), "raw 8-bit in headers:\n{head}");
    for line in head.split("\r\n").chain(body.split("\r\n")) {
        assert!(line.len() <= 998, "a line of {} characters", line.len());
        assert!(
            !line.contains('\n') && !line.contains('\r'),
            "a bare LF or CR"
        );
    }

    let mut n = alert(AlertStatus::Firing);
    n.group_labels = BTreeMap::from([("query".to_owned(), "q".repeat(1200))]);
    let Some((report, dialogue)) = email_exchange(n) else {
        return;
    };
    let longest = dialogue.split("\r\n").map(str::len).max().unwrap_or(0);
    assert_eq!(
        report.outcome,
        DeliveryOutcome::Delivered,
        "{report:?}; longest line {longest}"
    );
    assert!(longest <= 998, "a line of {longest} characters");
    let (head, _) = sent_message(&dialogue);
    assert!(head.contains("…") || head.contains("=?utf-8?"), "{head}");
}

/// The webhook payload has the shape a real Alertmanager posts to a webhook receiver for the same
/// alert: the same keys at the top and in each alert, the same JSON types, the same fingerprint
/// and `endsAt` of a firing alert.
#[test]
fn the_webhook_payload_has_the_shape_a_real_alertmanager_posts() {
    if !require("prometheus-alertmanager", "prometheus-alertmanager") {
        return;
    }
    let hook = Receiver::start(vec![], Reply::Status(200, vec![]));
    let dir = TempDir::new("alertmanager-hook");
    let (port, _am) = alertmanager(
        &dir,
        &format!(
            "route:\n  receiver: hook\n  group_by: ['alertname']\n  group_wait: 0s\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n",
            hook.url("/am")
        ),
    );
    let base = format!("http://127.0.0.1:{port}");
    let mut n = alert(AlertStatus::Firing);
    n.group_key = "{}:{alertname=\"SearchSlow\"}".into();
    n.group_labels = BTreeMap::from([("alertname".to_owned(), "SearchSlow".to_owned())]);
    let labels = n.alerts[0].labels.clone();
    n.alerts[0].fingerprint = watchkeeper::actors::alerting::fingerprint(&labels);
    let (to_am, to_hook) = (n.clone(), n);
    let report = deliver(
        move || {
            Box::new(AlertmanagerTransport::new(
                std::slice::from_ref(&base),
                Duration::from_secs(240),
            ))
        },
        to_am,
    );
    assert_eq!(report.outcome, DeliveryOutcome::Delivered, "{report:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while hook.recorded().is_empty() {
        assert!(Instant::now() < deadline, "Alertmanager posted no webhook");
        std::thread::sleep(Duration::from_millis(50));
    }
    let theirs = hook.recorded()[0].json();
    let ours_rx = Receiver::start(vec![], Reply::Status(200, vec![]));
    let url = ours_rx.url("/wk");
    let report = deliver(
        move || {
            Box::new(watchkeeper_actors::notify::WebhookTransport::new(
                "hook",
                url.clone(),
                watchkeeper_actors::notify::WebhookFormat::Alertmanager,
                None,
            ))
        },
        to_hook,
    );
    assert_eq!(report.outcome, DeliveryOutcome::Delivered, "{report:?}");
    let ours = ours_rx.recorded()[0].json();
    fn shape(v: &serde_json::Value) -> BTreeMap<String, &'static str> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let t = match v {
                    serde_json::Value::Null => "null",
                    serde_json::Value::Bool(_) => "bool",
                    serde_json::Value::Number(_) => "number",
                    serde_json::Value::String(_) => "string",
                    serde_json::Value::Array(_) => "array",
                    serde_json::Value::Object(_) => "object",
                };
                (k.clone(), t)
            })
            .collect()
    }
    assert_eq!(shape(&ours), shape(&theirs));
    assert_eq!(shape(&ours["alerts"][0]), shape(&theirs["alerts"][0]));
    for k in [
        "version",
        "status",
        "receiver",
        "groupKey",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "truncatedAlerts",
    ] {
        assert_eq!(ours[k], theirs[k], "{k}");
    }
    for k in ["status", "labels", "annotations", "endsAt", "fingerprint"] {
        assert_eq!(
            ours["alerts"][0][k], theirs["alerts"][0][k],
            "alerts[0].{k}"
        );
    }
    let starts = |v: &serde_json::Value| -> chrono::DateTime<chrono::Utc> {
        v["alerts"][0]["startsAt"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(starts(&ours), starts(&theirs));
}
