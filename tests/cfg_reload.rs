//! Live reload on virtual time: the runtime is started paused and driven with `advance`, so each
//! case runs minutes of monitor ticks and evaluations in milliseconds. Notifications go to a real
//! webhook receiver on 127.0.0.1.
//!
//! Cases: a new rule takes effect while an unchanged one keeps its firing alert (not notified again),
//! a removed rule's alert resolves, a changed threshold applies, an invalid reload changes nothing,
//! channels start, change and stop, intervals, memory and tuning change at once, and monitors are
//! added.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::receiver::{Receiver, Recorded, Reply};
use watchkeeper::actors::alerting::{AlertState, GetAlertingStatus, GetAlerts};
use watchkeeper::actors::memory::{GetMemoryConfig, GetMemoryReport};
use watchkeeper::actors::monitor::GetStats;
use watchkeeper::actors::notify::Secret;
use watchkeeper::actors::tuner::GetTuningConfig;
use watchkeeper::config::{AlertRule, Metric};
use watchkeeper::{Config, Error, Runtime};

const ASK: Duration = Duration::from_secs(5);
const SEC: Duration = Duration::from_secs(1);

fn rule(name: &str, metric: Metric, warning: f64) -> AlertRule {
    AlertRule {
        warning: Some(warning),
        ..AlertRule::new(name, Some("search"), metric)
    }
}
/// A runtime on a paused clock with `config`.
fn paused(config: Config) -> Runtime {
    Runtime::builder().config(config).paused().start().unwrap()
}

/// Whether `report` names `word` among what it applied or what waits for a restart.
fn mentions(report: &watchkeeper::ReloadReport, word: &str) -> bool {
    report
        .applied
        .iter()
        .chain(&report.needs_restart)
        .any(|l| l.contains(word))
}

/// One monitor ticking every second, rules evaluated every second, groups notified at once, and
/// a webhook at `url` when given.
fn config(rules: Vec<AlertRule>, url: Option<String>) -> Config {
    let mut c = Config::default();
    c.deployment.admin_enabled = false;
    c.monitoring.monitors = vec!["search".into()];
    c.monitoring.tick = SEC;
    c.monitoring.window = 10;
    let a = &mut c.alerting;
    a.check_interval = SEC;
    a.group_wait = Duration::ZERO;
    a.group_interval = Duration::from_secs(5);
    a.suppression_window = Duration::ZERO;
    a.rules = rules;
    if let Some(url) = url {
        a.channels.webhook.enabled = true;
        a.channels.webhook.url = Some(Secret::Value(url));
    }
    c
}

/// Records slow queries (200 ms) and lets `seconds` of virtual time pass, one second at a time.
fn slow_traffic(rt: &Runtime, seconds: u32) {
    let search = rt.monitor("search").unwrap();
    for _ in 0..seconds {
        for _ in 0..20 {
            search.record_query(Duration::from_millis(200));
        }
        rt.advance_blocking(SEC).unwrap();
    }
}

/// The webhook notifications received so far, as (status, alertname) of each alert in them.
fn received(rx: &Receiver) -> Vec<(String, String)> {
    rx.recorded()
        .iter()
        .flat_map(|r: &Recorded| {
            let body = r.json();
            body["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|a| {
                    (
                        a["status"].as_str().unwrap_or("").to_owned(),
                        a["labels"]["alertname"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn count(rx: &Receiver, status: &str, name: &str) -> usize {
    received(rx)
        .iter()
        .filter(|(s, n)| s == status && n == name)
        .count()
}

/// Polls (real time) until `f` holds; HTTP deliveries finish on their own schedule.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what}: not within 5 s");
}

fn firing(rt: &Runtime) -> BTreeMap<String, watchkeeper::actors::alerting::Alert> {
    rt.alerting()
        .ask_blocking(GetAlerts, ASK)
        .unwrap()
        .into_iter()
        .filter(|a| a.state == AlertState::Firing)
        .map(|a| (a.labels["alertname"].clone(), a))
        .collect()
}

#[test]
fn a_new_rule_takes_effect_and_an_unchanged_rule_keeps_its_firing_alert_unnotified() {
    let rx = Receiver::start(vec![], Reply::Status(200, vec![]));
    let a = rule("SearchP99High", Metric::P99, 0.1);
    let rt = paused(config(vec![a.clone()], Some(rx.url("/hook"))));
    slow_traffic(&rt, 3);
    eventually("the first rule notified", || {
        count(&rx, "firing", "SearchP99High") == 1
    });
    let before = firing(&rt)["SearchP99High"].clone();

    let b = rule("SearchMeanHigh", Metric::Mean, 0.1);
    let report = rt
        .reload_blocking(config(vec![a, b], Some(rx.url("/hook"))))
        .unwrap();
    assert!(
        report.applied.iter().any(|l| l.contains("rules")),
        "{report:?}"
    );
    slow_traffic(&rt, 3);
    eventually("the new rule notified", || {
        count(&rx, "firing", "SearchMeanHigh") == 1
    });
    let after = firing(&rt);
    assert_eq!(
        after["SearchP99High"].fired_at, before.fired_at,
        "the unchanged rule's alert kept its state"
    );
    assert_eq!(
        count(&rx, "firing", "SearchP99High"),
        1,
        "and was not notified again: {:?}",
        received(&rx)
    );
    assert_eq!(rt.reload_status().reloads, 1);
    rt.shutdown_blocking(ASK).unwrap();
}

#[test]
fn a_removed_rule_resolves_and_a_changed_threshold_applies() {
    let rx = Receiver::start(vec![], Reply::Status(200, vec![]));
    let keep = rule("SearchP99High", Metric::P99, 0.1);
    let drop = rule("SearchMeanHigh", Metric::Mean, 0.1);
    let rt = paused(config(
        vec![keep.clone(), drop.clone()],
        Some(rx.url("/hook")),
    ));
    slow_traffic(&rt, 3);
    assert_eq!(firing(&rt).len(), 2);

    // Removed: its alert resolves at the next evaluation, with a resolved notice.
    rt.reload_blocking(config(vec![keep.clone()], Some(rx.url("/hook"))))
        .unwrap();
    slow_traffic(&rt, 2);
    assert!(!firing(&rt).contains_key("SearchMeanHigh"));
    assert!(firing(&rt).contains_key("SearchP99High"));
    eventually("the removed rule's alert resolved", || {
        count(&rx, "resolved", "SearchMeanHigh") == 1
    });
    let history = rt
        .alerting()
        .ask_blocking(watchkeeper::actors::alerting::GetAlertHistory, ASK)
        .unwrap();
    let removed = history
        .iter()
        .find(|a| a.labels["alertname"] == "SearchMeanHigh")
        .unwrap();
    assert!(
        removed
            .events
            .iter()
            .any(|e| e.what.contains("its rule was removed")),
        "{:?}",
        removed.events
    );

    // Changed: the 200 ms queries no longer breach a 1 s threshold, so the alert resolves.
    let raised = AlertRule {
        warning: Some(1.0),
        ..keep
    };
    rt.reload_blocking(config(vec![raised], Some(rx.url("/hook"))))
        .unwrap();
    slow_traffic(&rt, 2);
    assert!(firing(&rt).is_empty(), "{:?}", firing(&rt).keys());
    eventually("the changed rule's alert resolved", || {
        count(&rx, "resolved", "SearchP99High") == 1
    });
    rt.shutdown_blocking(ASK).unwrap();
}

#[test]
fn an_invalid_reload_changes_nothing_and_says_why() {
    let rx = Receiver::start(vec![], Reply::Status(200, vec![]));
    let a = rule("SearchP99High", Metric::P99, 0.1);
    let good = config(vec![a.clone()], Some(rx.url("/hook")));
    let rt = paused(good.clone());
    slow_traffic(&rt, 3);
    eventually("notified", || count(&rx, "firing", "SearchP99High") == 1);

    let mut bad = good.clone();
    bad.alerting.rules[0].critical = Some(0.05); // below its warning
    bad.alerting.rules.push(rule("Second", Metric::P50, 0.1));
    bad.monitoring.window = 0;
    let Err(Error::Invalid(findings)) = rt.reload_blocking(bad) else {
        panic!("an invalid configuration must be refused")
    };
    let fields: Vec<&str> = findings.findings.iter().map(|f| f.field.as_str()).collect();
    assert!(fields.contains(&"alerting.rules[0].warning"), "{fields:?}");
    assert!(fields.contains(&"monitoring.window"), "{fields:?}");
    assert_eq!(*rt.config(), good, "nothing changed");
    let status = rt.reload_status();
    assert!(!status.successful);
    assert!(status.last_error.unwrap().contains("monitoring.window"));
    let metrics = rt.render_metrics_blocking().unwrap();
    assert!(
        metrics.contains("watchkeeper_config_last_reload_successful 0"),
        "{metrics}"
    );
    assert!(metrics.contains("watchkeeper_events_total{event=\"config_reload_failed\"} 1"));
    // The running rule is untouched: still firing, not notified again, no second rule.
    slow_traffic(&rt, 3);
    assert_eq!(firing(&rt).keys().collect::<Vec<_>>(), ["SearchP99High"]);
    assert_eq!(count(&rx, "firing", "SearchP99High"), 1);
    let stats = rt
        .monitor("search")
        .unwrap()
        .actor()
        .ask_blocking(GetStats, ASK)
        .unwrap();
    assert_eq!(
        stats.window_intervals, 10,
        "the invalid window was not applied"
    );

    rt.reload_blocking(good).unwrap();
    assert!(rt.reload_status().successful);
    assert!(rt
        .render_metrics_blocking()
        .unwrap()
        .contains("watchkeeper_config_last_reload_successful 1"));
    rt.shutdown_blocking(ASK).unwrap();
}

#[test]
fn channels_start_change_and_stop_with_a_reload() {
    let first = Receiver::start(vec![], Reply::Status(200, vec![]));
    let second = Receiver::start(vec![], Reply::Status(200, vec![]));
    let rt = paused(config(vec![rule("A", Metric::P99, 0.1)], None));
    let names =
        |rt: &Runtime| -> Vec<String> { rt.channels().into_iter().map(|(n, _)| n).collect() };
    assert_eq!(names(&rt), ["log"]);

    // Enabled with no tiers written: every enabled channel is notified.
    let rules = vec![rule("A", Metric::P99, 0.1)];
    let report = rt
        .reload_blocking(config(rules.clone(), Some(first.url("/one"))))
        .unwrap();
    assert!(report
        .applied
        .contains(&"alerting: channel webhook started".to_owned()));
    assert_eq!(names(&rt), ["log", "webhook"]);
    slow_traffic(&rt, 3);
    eventually("the new channel got the alert", || {
        count(&first, "firing", "A") == 1
    });

    // Its URL changed: the channel restarts and the next alert goes to the new address.
    let mut rules = rules;
    rules.push(rule("B", Metric::Mean, 0.1));
    let report = rt
        .reload_blocking(config(rules.clone(), Some(second.url("/two"))))
        .unwrap();
    assert!(report
        .applied
        .contains(&"alerting: channel webhook stopped".to_owned()));
    assert!(report
        .applied
        .contains(&"alerting: channel webhook started".to_owned()));
    slow_traffic(&rt, 3);
    eventually("the changed channel got the new alert", || {
        count(&second, "firing", "B") == 1
    });
    assert_eq!(count(&first, "firing", "B"), 0);

    // Disabled: stopped.
    rt.reload_blocking(config(rules, None)).unwrap();
    assert_eq!(names(&rt), ["log"]);
    rt.shutdown_blocking(ASK).unwrap();
}

#[test]
fn intervals_memory_and_tuning_change_at_once_and_monitors_are_added() {
    let rt = paused(config(vec![rule("A", Metric::P99, 0.1)], None));
    slow_traffic(&rt, 3);
    let evaluations = |rt: &Runtime| {
        rt.alerting()
            .ask_blocking(GetAlertingStatus, ASK)
            .unwrap()
            .evaluations
    };
    let before = evaluations(&rt);
    assert!(before >= 2);

    let mut c = (*rt.config()).clone();
    c.alerting.check_interval = Duration::from_secs(3600);
    c.memory.max_memory_usage_mb = 1024;
    c.tuning.performance_analysis_interval = Duration::from_secs(7200);
    c.monitoring.window = 30;
    c.monitoring.monitors.push("ingest".into());
    let report = rt.reload_blocking(c).unwrap();
    assert!(report
        .applied
        .contains(&"monitoring: monitor ingest started".to_owned()));
    slow_traffic(&rt, 5);
    assert_eq!(
        evaluations(&rt),
        before,
        "an hourly evaluation did not run in 5 s"
    );
    rt.advance_blocking(Duration::from_secs(3600)).unwrap();
    assert_eq!(evaluations(&rt), before + 1);

    let memory = rt
        .memory_manager()
        .ask_blocking(GetMemoryConfig, ASK)
        .unwrap();
    assert_eq!(memory.max_memory_usage_mb, 1024);
    let report = rt
        .memory_manager()
        .ask_blocking(GetMemoryReport, ASK)
        .unwrap();
    assert_eq!(report.limit_bytes, 1024 << 20);
    let tuning = rt.tuner().ask_blocking(GetTuningConfig, ASK).unwrap();
    assert_eq!(
        tuning.performance_analysis_interval,
        Duration::from_secs(7200)
    );
    let search = rt.monitor("search").unwrap();
    assert_eq!(
        search
            .actor()
            .ask_blocking(GetStats, ASK)
            .unwrap()
            .window_intervals,
        30
    );
    let ingest = rt.monitor("ingest").unwrap();
    ingest.record_query(Duration::from_millis(3));
    rt.advance_blocking(SEC).unwrap();
    assert_eq!(ingest.stats_blocking().unwrap().total_queries, 1);
    rt.shutdown_blocking(ASK).unwrap();
}

#[test]
fn a_runtime_not_started_paused_refuses_to_advance() {
    let mut c = config(vec![], None);
    c.alerting.rules.push(rule("A", Metric::P99, 0.1));
    let rt = Runtime::start(c).unwrap();
    assert_eq!(rt.advance_blocking(SEC), Err(Error::NotPaused));
    rt.shutdown_blocking(ASK).unwrap();
}

#[test]
fn a_routing_change_applies_to_the_next_notification() {
    let hook = Receiver::start(vec![], Reply::Status(200, vec![]));
    let rules = vec![rule("A", Metric::P99, 0.1), rule("B", Metric::Mean, 0.1)];
    // No receiver written: every enabled channel (log and the webhook) is notified.
    let rt = paused(config(vec![rules[0].clone()], Some(hook.url("/hook"))));
    slow_traffic(&rt, 3);
    eventually("A reached the webhook", || count(&hook, "firing", "A") == 1);

    // A routing tree: the root goes to the log only, alerts named B to the webhook.
    let mut c = config(rules, Some(hook.url("/hook")));
    c.alerting.receiver = Some(vec!["log".into()]);
    c.alerting.routes = vec![watchkeeper::config::RouteConfig {
        matchers: vec![watchkeeper::config::Matcher::parse("alertname=\"B\"").unwrap()],
        receiver: Some(vec!["webhook".into()]),
        ..Default::default()
    }];
    let report = rt.reload_blocking(c.clone()).unwrap();
    assert!(
        report.applied.iter().any(|a| a.contains("rout")),
        "{:?}",
        report.applied
    );
    slow_traffic(&rt, 3);
    eventually("B reached the webhook", || count(&hook, "firing", "B") == 1);
    // A stays firing (not notified again), and its resolution goes by the new tree: the log only.
    assert_eq!(count(&hook, "firing", "A"), 1);
    c.alerting.rules.retain(|r| r.name != "A");
    rt.reload_blocking(c).unwrap();
    rt.advance_blocking(SEC * 3).unwrap();
    assert_eq!(count(&hook, "resolved", "A"), 0, "{:?}", received(&hook));
    rt.shutdown_blocking(ASK).unwrap();
}

#[test]
fn settings_a_restart_applies_keep_their_running_values_and_are_named_at_every_reload() {
    let dir = common::process::TempDir::new("reload-restart");
    let file = dir.0.join("watchkeeper.ron");
    let write = |text: &str| std::fs::write(&file, text).unwrap();
    let as_started = r#"(
        deployment: (admin_enabled: false, health_check_port: 8080, log_level: "info"),
        storage: (path: Some("watchkeeper-data"), interval: "5s"),
    )"#;
    write(as_started);
    // As `watchkeeper run` starts it: the data directory chosen beside the file.
    let data = dir.0.join("watchkeeper-data");
    let rt = Runtime::builder()
        .config_file(&file)
        .data_dir(Some(data.clone()))
        .paused()
        .start()
        .unwrap();
    let started = rt.config();
    // The relative path as written is what the file still says: nothing to restart.
    let report = rt.reload_file_blocking().unwrap();
    assert!(report.needs_restart.is_empty(), "{report:?}");

    write(
        r#"(
        deployment: (admin_enabled: false, health_check_port: 8081, log_level: "debug"),
        storage: (path: Some("watchkeeper-data"), interval: "1s"),
        supervisor: (ask_timeout: "9s"),
        monitoring: (window: 30),
    )"#,
    );
    let needs_restart = [
        "storage: the data directory and how often it is written",
        "supervisor: strategy, intensity, backoff, mailboxes and timeouts",
        "deployment: the admin server's address, port and admin_enabled",
        "deployment: environment and log_level",
    ];
    for reload in 1..=2 {
        let report = rt.reload_file_blocking().unwrap();
        assert_eq!(report.needs_restart, needs_restart, "reload {reload}");
        let running = rt.config();
        assert_eq!(running.deployment.health_check_port, 8080);
        assert_eq!(running.deployment.log_level, "info");
        assert_eq!(running.storage, started.storage);
        assert_eq!(running.supervisor, started.supervisor);
        // What a reload does apply is in force.
        assert_eq!(running.monitoring.window, 30);
    }
    rt.shutdown_blocking(ASK).unwrap();
}

// ---- review: live reload against the README's "Live reload" table ----

/// Histogram bounds apply to monitors created after the reload: applied, not waiting for a
/// restart.
#[test]
fn histogram_bounds_apply_to_later_monitors_without_a_restart() {
    let rt = paused(config(vec![], None));
    let mut c = (*rt.config()).clone();
    c.monitoring.histogram.highest = Duration::from_secs(120);
    let report = rt.reload_blocking(c).unwrap();
    assert!(
        report.needs_restart.is_empty(),
        "histogram bounds apply to monitors created after, not at the next start: {report:?}"
    );
    rt.shutdown_blocking(ASK).unwrap();
}

/// Only what changed is applied: a reload that only adds a monitor leaves the window of a running
/// monitor alone (here lengthened as the tuner does with `SetWindow`), and keeps its samples.
#[test]
fn a_reload_that_only_adds_a_monitor_keeps_the_windows_and_samples_of_the_others() {
    let rt = paused(config(vec![], None));
    let search = rt.monitor("search").unwrap();
    search
        .actor()
        .ask_blocking(watchkeeper::actors::monitor::SetWindow(30), ASK)
        .unwrap();
    slow_traffic(&rt, 20);
    let before = search.actor().ask_blocking(GetStats, ASK).unwrap();
    assert_eq!(before.window_intervals, 30);

    let mut c = (*rt.config()).clone();
    c.monitoring.monitors.push("ingest".into());
    rt.reload_blocking(c).unwrap();
    let after = search.actor().ask_blocking(GetStats, ASK).unwrap();
    assert_eq!(
        (after.window_intervals, after.window_operations),
        (before.window_intervals, before.window_operations),
        "the unchanged monitor's window and samples"
    );
    rt.shutdown_blocking(ASK).unwrap();
}

/// Changed export buckets are for monitors created after the reload, and the report says so.
#[test]
fn changed_export_buckets_are_reported() {
    let rt = paused(config(vec![], None));
    let search = rt.monitor("search").unwrap();
    search.record_query(Duration::from_millis(200));
    rt.advance_blocking(SEC).unwrap();
    let mut c = (*rt.config()).clone();
    c.monitoring.buckets = vec![0.3, 3.0];
    let report = rt.reload_blocking(c).unwrap();
    search.record_query(Duration::from_millis(200));
    rt.advance_blocking(SEC).unwrap();
    let metrics = rt.render_metrics_blocking().unwrap();
    let applied = metrics.contains("le=\"0.3\"");
    let named = mentions(&report, "buckets");
    assert!(
        applied || named,
        "buckets [0.3, 3.0] neither exported by the running monitor nor named in {report:?}"
    );
    rt.shutdown_blocking(ASK).unwrap();
}

/// The recorder and span layers take the `instrumentation` section when they are made: a changed
/// one keeps its running value until the next start, named under `needs_restart`.
#[test]
fn a_changed_instrumentation_section_waits_for_a_restart_and_says_so() {
    let rt = paused(config(vec![], None));
    let mut c = (*rt.config()).clone();
    c.instrumentation.monitor_label = "component".into();
    c.instrumentation.max_series = 10;
    let report = rt.reload_blocking(c).unwrap();
    assert_eq!(rt.config().instrumentation.monitor_label, "monitor");
    assert!(
        report
            .needs_restart
            .iter()
            .any(|l| l.contains("instrumentation")),
        "{report:?}"
    );
    rt.shutdown_blocking(ASK).unwrap();
}

/// A monitor removed from `monitoring.monitors` keeps running until the next start, and the report
/// of every reload says so.
#[test]
fn a_monitor_removed_from_the_file_is_reported_as_running_until_a_restart() {
    let mut start = config(vec![], None);
    start.monitoring.monitors.push("ingest".into());
    let rt = paused(start);
    let ingest = rt.monitor("ingest").unwrap();
    let mut c = (*rt.config()).clone();
    c.monitoring.monitors.retain(|m| m != "ingest");
    let report = rt.reload_blocking(c.clone()).unwrap();
    rt.advance_blocking(SEC).unwrap();
    ingest.record_query(Duration::from_millis(3));
    rt.advance_blocking(SEC).unwrap();
    assert_eq!(
        ingest.stats_blocking().map(|s| s.total_queries),
        Ok(1),
        "ingest runs on"
    );
    assert!(mentions(&report, "ingest"), "{report:?}");
    // The same file again: ingest still runs, and is named again.
    let again = rt.reload_blocking(c).unwrap();
    assert!(mentions(&again, "ingest"), "the second reload: {again:?}");
    rt.shutdown_blocking(ASK).unwrap();
}

/// The admin server takes `deployment.admin_limits` when it starts: a changed one is named under
/// `needs_restart`.
#[test]
fn changed_admin_limits_wait_for_a_restart_and_say_so() {
    let rt = paused(config(vec![], None));
    let mut c = (*rt.config()).clone();
    c.deployment.admin_limits.max_connections = 3;
    c.deployment.admin_limits.keep_alive = Duration::from_secs(1);
    let report = rt.reload_blocking(c).unwrap();
    assert!(
        report
            .needs_restart
            .iter()
            .any(|l| l.contains("admin_limits")),
        "{report:?}"
    );
    rt.shutdown_blocking(ASK).unwrap();
}

/// `deployment.health` is read by every health report: a change is applied, and reported so.
#[test]
fn a_changed_health_section_is_reported_as_applied() {
    let rt = paused(config(vec![], None));
    let mut c = (*rt.config()).clone();
    c.deployment.health.warning_alerts = watchkeeper::config::AlertEffect::Fail;
    let report = rt.reload_blocking(c).unwrap();
    assert!(!report.applied.is_empty(), "{report:?}");
    rt.shutdown_blocking(ASK).unwrap();
}

/// Probes changed while a round of checks is under way (a slow registered check) apply when it
/// ends: the removed check's result of that round is not recorded, and the added check runs in a
/// round that follows at once, not at the next interval.
#[test]
fn probes_changed_during_a_round_apply_when_it_ends() {
    use watchkeeper::actors::probe::{ProbeDef, ProbeTarget};
    let mut start = config(vec![], None);
    start.probes.interval = Duration::from_secs(60);
    start.probes.timeout = Duration::from_secs(10);
    start.probes.checks = vec![ProbeDef {
        name: "db".into(),
        target: ProbeTarget::Tcp("127.0.0.1:1".into()),
        critical: true,
    }];
    let rt = paused(start);
    // The first round (db alone) is over; registering starts a round of db and slow, 5 s long.
    rt.advance_blocking(SEC).unwrap();
    rt.register_check("slow", false, || async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(())
    });
    rt.advance_blocking(SEC).unwrap();

    let mut c = (*rt.config()).clone();
    c.probes.checks = vec![ProbeDef {
        name: "cache".into(),
        target: ProbeTarget::Tcp("127.0.0.1:1".into()),
        critical: false,
    }];
    let report = rt.reload_blocking(c).unwrap();
    assert!(report.applied.contains(&"probes".to_owned()), "{report:?}");
    rt.advance_blocking(Duration::from_secs(10)).unwrap();
    let mut names: Vec<String> = rt
        .health_blocking()
        .unwrap()
        .checks
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["cache", "slow"],
        "10 s after the reload (interval 60 s)"
    );
    rt.shutdown_blocking(ASK).unwrap();
}
