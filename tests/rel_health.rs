//! Health that tells the truth, on virtual time: each condition is driven in and out and the
//! report goes to `warn` (or `fail`, as configured) and back to `pass`. A restart counts while it
//! is within the supervisor's intensity window, mailbox drops while they are within the health
//! window, and a firing alert while it fires (named in the issues); readiness ignores alerts.

mod common;

use std::time::Duration;

use watchkeeper::actors::alerting::Evaluate;
use watchkeeper::actors::harness::InjectPanic;
use watchkeeper::config::AlertEffect;
use watchkeeper::config::{AlertRule, Metric};
use watchkeeper::{Config, HealthStatus, Runtime, SystemHealthReport};

const SEC: Duration = Duration::from_secs(1);

fn config() -> Config {
    let mut c = Config::default();
    c.deployment.admin_enabled = false;
    c.monitoring.monitors = vec!["search".into()];
    c.monitoring.tick = SEC;
    c.monitoring.window = 10;
    c.alerting.check_interval = SEC;
    c.alerting.group_wait = Duration::ZERO;
    c.alerting.rules = vec![AlertRule {
        critical: Some(0.1),
        for_: Duration::ZERO,
        ..AlertRule::new("SearchSlow", Some("search"), Metric::P99)
    }];
    c.supervisor.intensity.within = Duration::from_secs(60);
    c.supervisor.mailbox_capacity = 8;
    c.deployment.health.window = Duration::from_secs(120);
    c
}

fn health(rt: &Runtime) -> SystemHealthReport {
    rt.health_blocking().unwrap()
}

fn pass(rt: &Runtime) {
    let h = health(rt);
    assert_eq!(h.status, HealthStatus::Healthy, "{:?}", h.issues);
    assert_eq!(h.score, 100);
}

/// Lets `seconds` of virtual time pass, recording `latency` queries each second.
fn traffic(rt: &Runtime, seconds: u32, latency: Duration) {
    let search = rt.monitor("search").unwrap();
    for _ in 0..seconds {
        for _ in 0..20 {
            search.record_query(latency);
        }
        rt.advance_blocking(SEC).unwrap();
    }
}

#[test]
fn a_restart_counts_while_it_is_within_the_intensity_window() {
    let rt = Runtime::builder()
        .config(config())
        .paused()
        .start()
        .unwrap();
    traffic(&rt, 2, Duration::from_millis(5));
    pass(&rt);
    let _ = rt.alerting().tell(InjectPanic);
    rt.advance_blocking(SEC).unwrap();
    let h = health(&rt);
    assert_eq!(h.status, HealthStatus::Warning);
    assert!(
        h.issues.iter().any(|i| i.contains("1 restarts within")),
        "{:?}",
        h.issues
    );
    traffic(&rt, 30, Duration::from_millis(5));
    assert_eq!(health(&rt).status, HealthStatus::Warning, "30 s on");
    traffic(&rt, 35, Duration::from_millis(5));
    pass(&rt);
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn mailbox_drops_count_while_they_are_recent() {
    let rt = Runtime::builder()
        .config(config())
        .paused()
        .start()
        .unwrap();
    traffic(&rt, 2, Duration::from_millis(5));
    pass(&rt);
    // More evaluations than the alerting actor's mailbox holds: the overflow is dropped.
    for _ in 0..200 {
        let _ = rt.alerting().tell(Evaluate);
    }
    rt.advance_blocking(SEC).unwrap();
    let h = health(&rt);
    assert_eq!(h.status, HealthStatus::Warning);
    assert!(h.recent_mailbox_drops > 0);
    let issue = h
        .issues
        .iter()
        .find(|i| i.contains("dropped"))
        .unwrap_or_else(|| panic!("{:?}", h.issues));
    assert!(
        issue.contains("within 2m") && issue.contains("`alerting`"),
        "{issue}"
    );
    let lifetime = h.mailbox_drops;
    traffic(&rt, 90, Duration::from_millis(5));
    assert_eq!(health(&rt).status, HealthStatus::Warning, "90 s on");
    traffic(&rt, 60, Duration::from_millis(5));
    let h = health(&rt);
    assert_eq!(h.status, HealthStatus::Healthy, "{:?}", h.issues);
    assert_eq!(h.recent_mailbox_drops, 0);
    assert_eq!(h.mailbox_drops, lifetime, "the lifetime count stays");
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_firing_critical_alert_warns_or_fails_as_configured_and_passes_once_resolved() {
    for (effect, status) in [
        (AlertEffect::Warn, HealthStatus::Warning),
        (AlertEffect::Fail, HealthStatus::Critical),
        (AlertEffect::Ignore, HealthStatus::Healthy),
    ] {
        let mut c = config();
        c.deployment.health.critical_alerts = effect;
        let rt = Runtime::builder().config(c).paused().start().unwrap();
        traffic(&rt, 3, Duration::from_millis(5));
        pass(&rt);
        traffic(&rt, 5, Duration::from_millis(300));
        let h = health(&rt);
        assert_eq!(h.status, status, "{effect:?}: {:?}", h.issues);
        assert_eq!(h.firing_alerts.len(), 1);
        assert_eq!(h.firing_alerts[0].name, "SearchSlow");
        if effect != AlertEffect::Ignore {
            assert!(
                h.issues
                    .iter()
                    .any(|i| i.contains("critical alert `SearchSlow` is firing (monitor=search)")),
                "{:?}",
                h.issues
            );
        }
        // Readiness is about the process, not its alerts.
        assert!(!rt.escalated());
        traffic(&rt, 15, Duration::from_millis(5));
        let h = health(&rt);
        assert!(h.firing_alerts.is_empty(), "{:?}", h.firing_alerts);
        assert_eq!(h.status, HealthStatus::Healthy, "{:?}", h.issues);
        rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    }
}

#[test]
fn durations_in_the_report_are_seconds() {
    let rt = Runtime::builder()
        .config(config())
        .paused()
        .start()
        .unwrap();
    traffic(&rt, 3, Duration::from_millis(5));
    let json = serde_json::to_value(health(&rt)).unwrap();
    assert!(json["uptime_seconds"].as_f64().unwrap() > 0.0, "{json}");
    let mean = json["monitors"][0]["mean_seconds"].as_f64().unwrap();
    assert!((mean - 0.005).abs() < 0.001, "{mean}");
    let text = json.to_string();
    assert!(!text.contains("\"secs\""), "{text}");
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}
