//! Secrets stay secret: a known secret used as the webhook URL's path, the SMTP password and the admin
//! token never appears in logs (captured at TRACE), `Debug` output, the health report or `/metrics`,
//! while alerts are raised and delivered and requests are refused. The admin server binds loopback.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::http::{get, request};
use common::receiver::{Receiver, Reply};
use watchkeeper::config::Secret;
use watchkeeper::{Config, Runtime};

const SECRET: &str = "s3cr3t-7d1c0ffee-token";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_known_secret_appears_in_no_log_debug_health_or_metrics() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    // The runtime logs from its own threads: capture globally (this binary holds only this test).
    tracing::subscriber::set_global_default(subscriber).unwrap();

    // The receiver fails the first attempt, so errors and retries are logged too.
    let rx = Receiver::start(vec![Reply::Status(500, vec![])], Reply::Status(200, vec![]));
    std::env::set_var("WK_SEC_WEBHOOK", rx.url(&format!("/hooks/{SECRET}")));
    std::env::set_var("WK_SEC_PASSWORD", SECRET);
    std::env::set_var("WK_SEC_TOKEN", SECRET);
    let mut c = Config::default();
    c.deployment.health_check_port = 0;
    c.deployment.admin_token = Some(Secret::Env("WK_SEC_TOKEN".into()));
    c.monitoring.tick = Duration::from_millis(20);
    let a = &mut c.alerting;
    a.check_interval = Duration::from_millis(50);
    a.group_wait = Duration::ZERO;
    a.rules[0].for_ = Duration::ZERO;
    a.channels.delivery.backoff_min = Duration::from_millis(10);
    a.channels.webhook.enabled = true;
    a.channels.webhook.url = Some(Secret::Env("WK_SEC_WEBHOOK".into()));
    a.channels.email.enabled = true;
    a.channels.email.smtp_port = 9; // nothing listens: delivery fails and is logged
    a.channels.email.recipients = vec!["oncall@example.com".into()];
    a.channels.email.username = Some(Secret::Value("watchkeeper".into()));
    a.channels.email.password = Some(Secret::Env("WK_SEC_PASSWORD".into()));
    a.escalation.tiers = vec![vec!["log".into(), "webhook".into(), "email".into()]];
    let debug_config = format!("{c:?}");
    let rt = Runtime::start(c).unwrap();
    let addr = rt.admin_addr().unwrap();
    assert!(addr.ip().is_loopback());
    let search = rt.monitor("search").unwrap();
    for _ in 0..100 {
        search.record_query(Duration::from_millis(300));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !rx.recorded().iter().any(|r| r.json()["status"] == "firing") || rx.recorded().len() < 2 {
        assert!(Instant::now() < deadline, "the webhook was not delivered");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        rx.recorded()[0].path.contains(SECRET),
        "the secret really is in use"
    );
    // Refused requests with a wrong token, and a right one.
    let wrong = request(
        addr,
        "POST",
        "/monitors/search/sampling",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer nope"),
        ],
        br#"{"fraction": 0.5}"#,
    );
    assert_eq!(wrong.status, 401);
    let auth = format!("Bearer {SECRET}");
    let right = request(
        addr,
        "POST",
        "/monitors/search/sampling",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
        br#"{"fraction": 0.5}"#,
    );
    assert_eq!(right.status, 200);
    std::thread::sleep(Duration::from_millis(300));

    let health = get(addr, "/health").body;
    let metrics = get(addr, "/metrics").body;
    let alerts = get(addr, "/alerts").body;
    let status = get(addr, "/api/status").body;
    let history = get(addr, "/api/history").body;
    let health_debug = format!("{:?}", rt.health_blocking().unwrap());
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    // The log channel writes the rule's summary annotation with its value filled in.
    assert!(
        logs.contains("summary=search p99 latency is 0.3"),
        "{}",
        &logs[..logs.len().min(4000)]
    );
    assert!(
        logs.contains("Notification failed") || logs.contains("notification"),
        "the delivery path logged: {}",
        &logs[..logs.len().min(2000)]
    );
    for (what, text) in [
        ("logs", &logs),
        ("Debug of the configuration", &debug_config),
        ("Debug of the health report", &health_debug),
        ("/health", &health),
        ("/metrics", &metrics),
        ("/alerts", &alerts),
        ("/api/status", &status),
        ("/api/history", &history),
    ] {
        assert!(!text.contains(SECRET), "the secret leaked into {what}");
    }
}
