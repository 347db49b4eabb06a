//! Counters, gauges and one operation kind as rule inputs, through the facade: exact under
//! concurrent writers, in stats and `/metrics` after a flush, and alertable — a rule on a gauge,
//! on a counter's rate and on one kind's p99 each fire and resolve, on virtual time.

use std::time::Duration;

use watchkeeper::actors::alerting::{AlertState, GetAlerts};
use watchkeeper::actors::Severity;
use watchkeeper::config::{AlertRule, Metric};
use watchkeeper::{Config, Runtime};

const ASK: Duration = Duration::from_secs(5);
const SEC: Duration = Duration::from_secs(1);

/// One monitor ticking every second, rules evaluated every second, no admin server.
fn config(rules: Vec<AlertRule>) -> Config {
    let mut c = Config::default();
    c.deployment.admin_enabled = false;
    c.monitoring.monitors = vec!["search".into()];
    c.monitoring.tick = SEC;
    c.monitoring.window = 10;
    c.alerting.check_interval = SEC;
    c.alerting.group_wait = Duration::ZERO;
    c.alerting.rules = rules;
    c
}

/// A runtime on virtual time.
fn paused(c: Config) -> Runtime {
    Runtime::builder().config(c).paused().start().unwrap()
}

/// The firing alerts' names.
fn firing(rt: &Runtime) -> Vec<String> {
    let mut names: Vec<String> = rt
        .alerting()
        .ask_blocking(GetAlerts, ASK)
        .unwrap()
        .into_iter()
        .filter(|a| a.state == AlertState::Firing)
        .filter_map(|a| a.rule)
        .collect();
    names.sort();
    names
}

#[test]
fn counters_and_gauges_are_exact_under_concurrent_writers() {
    let rt = paused(config(Vec::new()));
    let search = rt.monitor("search").unwrap();
    const THREADS: u64 = 4;
    const EACH: u64 = 100_000;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let search = search.clone();
            s.spawn(move || {
                // Each thread looks the series up itself: the same names are the same cells.
                let hits = search.counter("cache_hits");
                let depth = search.gauge("queue_depth");
                for i in 0..EACH {
                    hits.increment(1);
                    if i % 2 == t % 2 {
                        depth.increment(1.0);
                    } else {
                        depth.decrement(1.0);
                    }
                    depth.increment(0.5);
                }
            });
        }
    });
    rt.flush_blocking().unwrap();
    let stats = search.stats_blocking().unwrap();
    assert_eq!(stats.counter("cache_hits").unwrap().total, THREADS * EACH);
    // Every +1 has its -1; the halves add up exactly in binary floating point.
    assert_eq!(
        stats.gauge("queue_depth"),
        Some(0.5 * (THREADS * EACH) as f64)
    );

    // A set wins over what came before; NaN changes nothing.
    let depth = search.gauge("queue_depth");
    depth.set(7.0);
    depth.set(f64::NAN);
    assert_eq!(depth.value(), 7.0);

    let text = rt.render_metrics_blocking().unwrap();
    assert!(
        text.contains(&format!(
            "watchkeeper_count_total{{monitor=\"search\",counter=\"cache_hits\"}} {}",
            THREADS * EACH
        )),
        "{text}"
    );
    assert!(
        text.contains("watchkeeper_level{monitor=\"search\",gauge=\"queue_depth\"} 7"),
        "{text}"
    );
    assert_eq!(
        text.matches("# TYPE watchkeeper_count_total counter")
            .count(),
        1
    );
    assert_eq!(text.matches("# TYPE watchkeeper_level gauge").count(), 1);
    // The same scrape from a host's own async runtime.
    let from_async = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(rt.render_metrics())
        .unwrap();
    assert!(
        from_async.contains("watchkeeper_level{monitor=\"search\",gauge=\"queue_depth\"} 7"),
        "{from_async}"
    );
    let health = rt.health_blocking().unwrap();
    let m = &health.monitors[0];
    assert_eq!(
        m.figures.counters,
        [("cache_hits".to_owned(), THREADS * EACH)]
    );
    assert_eq!(m.figures.gauges, [("queue_depth".to_owned(), 7.0)]);
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_counter_rate_is_per_second_over_the_window_and_names_past_the_limit_are_refused() {
    let rt = paused(config(Vec::new()));
    let search = rt.monitor("search").unwrap();
    let misses = search.counter("cache_misses");
    for _ in 0..10 {
        misses.increment(30);
        rt.advance_blocking(SEC).unwrap();
    }
    let stats = search.stats_blocking().unwrap();
    let c = stats.counter("cache_misses").unwrap();
    assert_eq!(c.total, 300);
    assert_eq!(c.window_count, 300);
    assert!((c.per_second - 30.0).abs() < 1.0, "{c:?}");

    // 64 counters fit; the 65th name is refused (a no-op), counted, and the first still counts.
    for i in 1..64 {
        assert!(search.counter(&format!("c{i}")).is_registered());
    }
    let refused = search.counter("one_too_many");
    assert!(!refused.is_registered());
    refused.increment(5);
    misses.increment(1);
    rt.flush_blocking().unwrap();
    let stats = search.stats_blocking().unwrap();
    assert_eq!(stats.refused_names, 1);
    assert!(stats.counter("one_too_many").is_none());
    assert_eq!(stats.counter("cache_misses").unwrap().total, 301);

    // A counter stops at u64::MAX rather than wrap, which would read as a reset.
    let huge = search.counter("c1");
    huge.increment(u64::MAX - 1);
    rt.advance_blocking(SEC).unwrap();
    huge.increment(5);
    std::thread::spawn({
        let huge = huge.clone();
        move || huge.increment(7)
    })
    .join()
    .unwrap();
    rt.advance_blocking(SEC).unwrap();
    let c = search
        .stats_blocking()
        .unwrap()
        .counter("c1")
        .unwrap()
        .clone();
    assert_eq!((c.total, c.window_count), (u64::MAX, u64::MAX), "{c:?}");
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn rules_on_a_gauge_a_counter_rate_and_one_kind_fire_and_resolve() {
    let gauge_rule = AlertRule {
        series: Some("queue_depth".into()),
        critical: Some(100.0),
        ..AlertRule::new("QueueDeep", Some("search"), Metric::Gauge)
    };
    let rate_rule = AlertRule {
        series: Some("cache_misses".into()),
        warning: Some(50.0),
        ..AlertRule::new("CacheMissing", Some("search"), Metric::CounterRate)
    };
    // Slow queries next to many fast reranks: the monitor's p99 over both kinds stays low, the
    // query kind's alone does not.
    let query_rule = AlertRule {
        kind_of: Some("query".into()),
        warning: Some(0.050),
        ..AlertRule::new("QueryP99High", Some("search"), Metric::P99)
    };
    let mixed_rule = AlertRule {
        warning: Some(0.050),
        ..AlertRule::new("SearchP99High", Some("search"), Metric::P99)
    };
    let c = config(vec![gauge_rule, rate_rule, query_rule, mixed_rule]);
    assert!(!c.validate().has_errors(), "{:?}", c.validate());
    let rt = paused(c);
    let search = rt.monitor("search").unwrap();
    let depth = search.gauge("queue_depth");
    let misses = search.counter("cache_misses");
    let rerank = search.kind("rerank").unwrap();

    let traffic = |seconds: u32, depth_now: f64, misses_per_second: u64, query: Duration| {
        for _ in 0..seconds {
            depth.set(depth_now);
            misses.increment(misses_per_second);
            for _ in 0..2 {
                search.record_query(query);
            }
            for _ in 0..500 {
                search.record(rerank, Duration::from_micros(300));
            }
            rt.advance_blocking(SEC).unwrap();
        }
    };
    traffic(5, 10.0, 5, Duration::from_millis(5));
    assert!(firing(&rt).is_empty(), "{:?}", firing(&rt));

    traffic(12, 500.0, 200, Duration::from_millis(200));
    assert_eq!(firing(&rt), ["CacheMissing", "QueryP99High", "QueueDeep"]);

    // Back to normal: the gauge at once, the rate and the query p99 once the window has moved on.
    traffic(15, 10.0, 5, Duration::from_millis(5));
    assert!(firing(&rt).is_empty(), "{:?}", firing(&rt));
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn series_and_kind_of_are_checked_against_the_metric() {
    let findings = |rule: AlertRule| -> Vec<String> {
        let c = config(vec![rule]);
        c.validate()
            .of(Severity::Error)
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect()
    };
    let no_series = findings(AlertRule {
        critical: Some(1.0),
        ..AlertRule::new("G", Some("search"), Metric::Gauge)
    });
    assert!(
        no_series
            .iter()
            .any(|f| f.contains("series") && f.contains("name it")),
        "{no_series:?}"
    );
    let stray_series = findings(AlertRule {
        critical: Some(1.0),
        series: Some("x".into()),
        ..AlertRule::new("P", Some("search"), Metric::P99)
    });
    assert!(
        stray_series.iter().any(|f| f.contains("series")),
        "{stray_series:?}"
    );
    let gauge_of_kind = findings(AlertRule {
        critical: Some(1.0),
        series: Some("x".into()),
        kind_of: Some("query".into()),
        ..AlertRule::new("K", Some("search"), Metric::Gauge)
    });
    assert!(
        gauge_of_kind.iter().any(|f| f.contains("kind_of")),
        "{gauge_of_kind:?}"
    );

    // The same in a file: one line naming the field.
    let file = r#"(
    monitoring: (monitors: ["search"]),
    alerting: (rules: [
        (name: "QueueDeep", monitor: Some("search"), metric: gauge, series: Some("queue_depth"), critical: Some(100.0)),
        (name: "Q", monitor: Some("search"), metric: p99, kind_of: Some("query"), warning: Some(0.05)),
    ]),
)"#;
    let c = Config::from_ron(file).unwrap();
    assert!(!c.validate().has_errors(), "{:?}", c.validate());
    assert_eq!(c.alerting.rules[0].series.as_deref(), Some("queue_depth"));
    assert_eq!(c.alerting.rules[1].kind_of.as_deref(), Some("query"));
}

#[test]
fn a_host_reads_acknowledges_and_silences_alerts_through_the_facade() {
    use watchkeeper::actors::alerting::{AckError, Matcher, Silence, SilenceError};
    let rule = AlertRule {
        series: Some("queue_depth".into()),
        critical: Some(100.0),
        ..AlertRule::new("QueueDeep", Some("search"), Metric::Gauge)
    };
    let rt = paused(config(vec![rule]));
    let search = rt.monitor("search").unwrap();
    search.gauge("queue_depth").set(500.0);
    rt.advance_blocking(3 * SEC).unwrap();
    let alerts = rt.alerts_blocking().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].state, AlertState::Firing);
    let fp = alerts[0].fingerprint;

    rt.acknowledge_blocking(fp, "ana").unwrap();
    assert_eq!(
        rt.alerts_blocking().unwrap()[0].acknowledged_by.as_deref(),
        Some("ana")
    );
    assert!(matches!(
        rt.acknowledge_blocking(fp ^ 1, "ana"),
        Err(watchkeeper::Error::Acknowledge(AckError::NotFound(_)))
    ));

    let now = chrono::Utc::now();
    let silence = |matcher: &str| Silence {
        id: String::new(),
        matchers: vec![Matcher::parse(matcher).unwrap()],
        starts_at: now,
        ends_at: now + chrono::Duration::hours(1),
        created_by: "ana".into(),
        comment: "reindexing".into(),
        updated_at: now,
    };
    assert!(matches!(
        rt.add_silence_blocking(silence("alertname!=\"\"")),
        Err(watchkeeper::Error::Silence(SilenceError::MatchesEverything))
    ));
    let id = rt
        .add_silence_blocking(silence("alertname=~\"Queue.*\""))
        .unwrap();
    assert_eq!(rt.silences_blocking().unwrap()[0].id, id);
    // Silenced at once, as Alertmanager lists it, not at the next evaluation.
    let silenced = &rt.alerts_blocking().unwrap()[0];
    assert_eq!(
        silenced.silenced_by,
        std::slice::from_ref(&id),
        "{silenced:?}"
    );
    rt.advance_blocking(SEC).unwrap();
    let silenced = &rt.alerts_blocking().unwrap()[0];
    assert_eq!(
        silenced.silenced_by,
        std::slice::from_ref(&id),
        "{silenced:?}"
    );
    rt.expire_silence_blocking(&id).unwrap();
    let unsilenced = &rt.alerts_blocking().unwrap()[0];
    assert!(!unsilenced.silenced, "{unsilenced:?}");

    // The same from an async host, then the alert resolves into the history.
    search.gauge("queue_depth").set(1.0);
    rt.advance_blocking(3 * SEC).unwrap();
    let host = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (active, history) = host.block_on(async { (rt.alerts().await, rt.alert_history().await) });
    assert!(active.unwrap().is_empty());
    assert!(history.unwrap().iter().any(|a| a.fingerprint == fp));
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn expired_silences_are_kept_up_to_the_cap() {
    use watchkeeper::actors::alerting::{Matcher, Silence};
    let mut c = config(Vec::new());
    c.alerting.silences.max = 3;
    let rt = paused(c);
    let now = chrono::Utc::now();
    for i in 0..10 {
        let id = rt
            .add_silence_blocking(Silence {
                id: String::new(),
                matchers: vec![Matcher::parse(&format!("alertname=\"A{i}\"")).unwrap()],
                starts_at: now,
                ends_at: now + chrono::Duration::hours(1),
                created_by: "ana".into(),
                comment: String::new(),
                updated_at: now,
            })
            .unwrap();
        rt.expire_silence_blocking(&id).unwrap();
    }
    rt.advance_blocking(2 * SEC).unwrap();
    let kept = rt.silences_blocking().unwrap();
    assert_eq!(kept.len(), 3, "{kept:?}");
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}
