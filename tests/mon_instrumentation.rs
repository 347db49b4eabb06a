//! The host's own instrumentation as input: `metrics` macros through `Runtime::metrics_recorder`
//! and `tracing` spans through `Runtime::tracing_layer` land in monitors, in stats, in `/metrics`
//! and in rules that fire; what does not fit is dropped and counted. Two runtimes' layers share
//! one subscriber.

use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt;
use watchkeeper::actors::alerting::{AlertState, GetAlerts};
use watchkeeper::config::{AlertRule, Metric, SpanTime};
use watchkeeper::{Config, Runtime};

const SEC: Duration = Duration::from_secs(1);

fn config() -> Config {
    let mut c = Config::default();
    c.deployment.admin_enabled = false;
    c.monitoring.monitors = vec![];
    c.monitoring.tick = SEC;
    c.alerting.check_interval = SEC;
    c.alerting.group_wait = Duration::ZERO;
    c.alerting.rules = vec![];
    c
}

#[test]
fn metrics_macros_land_in_monitors_kinds_counters_and_gauges() {
    let mut c = config();
    c.instrumentation
        .monitors
        .insert("index_batch_seconds".into(), "index".into());
    let rt = Runtime::start(c).unwrap();
    let recorder = rt.metrics_recorder();
    metrics::with_local_recorder(&recorder, || {
        for i in 0..100u64 {
            let ms = 1.0 + i as f64 / 10.0;
            metrics::histogram!("latency_seconds", "monitor" => "search", "kind" => "query")
                .record(ms / 1000.0);
            metrics::histogram!("latency_seconds", "monitor" => "search", "kind" => "rerank")
                .record(0.0002);
        }
        metrics::histogram!("index_batch_seconds", "shard" => "3").record(0.5);
        metrics::counter!("cache_misses_total", "monitor" => "search").increment(7);
        metrics::counter!("cache_misses_total", "monitor" => "search").absolute(10);
        metrics::counter!("cache_misses_total", "monitor" => "search").absolute(4);
        metrics::gauge!("queue_depth", "monitor" => "index").set(12.0);
        metrics::gauge!("queue_depth", "monitor" => "index").decrement(2.0);
        metrics::counter!("requests_total").increment(3);
    });
    rt.flush_blocking().unwrap();

    let search = rt.monitor("search").unwrap().stats_blocking().unwrap();
    let query = search.kind("query").unwrap();
    assert_eq!(query.total, 100);
    let p50 = query.latency.p50.as_secs_f64() * 1000.0;
    assert!((5.9..6.1).contains(&p50), "p50 {p50} ms");
    assert_eq!(search.kind("rerank").unwrap().total, 100);
    // 7, then up to 10 (3 more); a lower absolute changes nothing.
    assert_eq!(search.counter("cache_misses_total").unwrap().total, 10);

    let index = rt.monitor("index").unwrap().stats_blocking().unwrap();
    assert_eq!(index.gauge("queue_depth"), Some(10.0));
    let batch = index.kind("index_batch_seconds{shard=3}").unwrap();
    assert_eq!(batch.total, 1);
    assert!(batch.mean >= Duration::from_millis(499), "{:?}", batch.mean);

    // Without a monitor label or mapping the name is the monitor.
    let requests = rt
        .monitor("requests_total")
        .unwrap()
        .stats_blocking()
        .unwrap();
    assert_eq!(requests.counter("requests_total").unwrap().total, 3);

    let text = rt.render_metrics_blocking().unwrap();
    for line in [
        "watchkeeper_operation_duration_seconds_count{monitor=\"search\",kind=\"query\"} 100",
        "watchkeeper_count_total{monitor=\"search\",counter=\"cache_misses_total\"} 10",
        "watchkeeper_level{monitor=\"index\",gauge=\"queue_depth\"} 10",
        "watchkeeper_instrumentation_dropped_total 0",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn counters_from_many_threads_are_exact_and_unbounded_labels_are_dropped_and_counted() {
    let mut c = config();
    c.instrumentation.max_series = 5;
    let rt = Runtime::start(c).unwrap();
    let recorder = rt.metrics_recorder();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let recorder = recorder.clone();
            s.spawn(move || {
                metrics::with_local_recorder(&recorder, || {
                    for _ in 0..50_000 {
                        metrics::counter!("hits_total", "monitor" => "search").increment(1);
                    }
                });
            });
        }
    });
    // A label with a new value each time: five keys fit (hits_total is one), the rest are dropped.
    metrics::with_local_recorder(&recorder, || {
        for id in 0..20 {
            metrics::counter!("per_request_total", "monitor" => "search", "request" => id.to_string())
                .increment(1);
        }
    });
    rt.flush_blocking().unwrap();
    let stats = rt.monitor("search").unwrap().stats_blocking().unwrap();
    assert_eq!(stats.counter("hits_total").unwrap().total, 200_000);
    assert_eq!(stats.counters.len(), 5, "{:?}", stats.counters);
    let text = rt.render_metrics_blocking().unwrap();
    assert!(
        text.contains("watchkeeper_instrumentation_dropped_total 16"),
        "{text}"
    );
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_rule_on_a_gauge_set_by_a_metrics_macro_fires_and_resolves() {
    let mut c = config();
    c.monitoring.monitors = vec!["index".into()];
    c.alerting.rules = vec![AlertRule {
        series: Some("queue_depth".into()),
        critical: Some(100.0),
        ..AlertRule::new("QueueDeep", Some("index"), Metric::Gauge)
    }];
    let rt = Runtime::builder().config(c).paused().start().unwrap();
    let recorder = rt.metrics_recorder();
    let firing = |rt: &Runtime| {
        rt.alerting()
            .ask_blocking(GetAlerts, Duration::from_secs(5))
            .unwrap()
            .into_iter()
            .any(|a| a.state == AlertState::Firing)
    };
    let depth = |value: f64| {
        metrics::with_local_recorder(&recorder, || {
            metrics::gauge!("queue_depth", "monitor" => "index").set(value);
        })
    };
    depth(500.0);
    rt.advance_blocking(3 * SEC).unwrap();
    assert!(firing(&rt));
    depth(3.0);
    rt.advance_blocking(3 * SEC).unwrap();
    assert!(!firing(&rt));
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

fn spin(d: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn spans_that_name_a_monitor_are_operations_with_their_errors() {
    let mut c = config();
    c.instrumentation
        .monitors
        .insert("compaction".into(), "index".into());
    let rt = Runtime::start(c).unwrap();
    let subscriber = tracing_subscriber::registry().with(rt.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..10 {
            let span = tracing::info_span!("answer", monitor = "search", kind = "query", id = i);
            span.in_scope(|| {
                spin(Duration::from_millis(2));
                if i % 5 == 0 {
                    // In a span inside it that names no monitor: the query takes the error.
                    tracing::info_span!("decode").in_scope(|| tracing::error!("bad vector"));
                }
            });
        }
        // Named by the mapping; its kind is its name. Entered for 2 ms, alive for 30 ms.
        let span = tracing::info_span!("compaction");
        span.in_scope(|| spin(Duration::from_millis(2)));
        std::thread::sleep(Duration::from_millis(30));
        drop(span);
        // A span that names no monitor is left alone.
        tracing::info_span!("unrelated").in_scope(|| spin(Duration::from_millis(1)));
    });
    rt.flush_blocking().unwrap();
    let search = rt.monitor("search").unwrap().stats_blocking().unwrap();
    let query = search.kind("query").unwrap();
    assert_eq!(query.total, 10);
    assert_eq!(query.errors, 2);
    assert!(query.mean >= Duration::from_millis(2), "{:?}", query.mean);
    let index = rt.monitor("index").unwrap().stats_blocking().unwrap();
    let compaction = index.kind("compaction").unwrap();
    assert_eq!(compaction.total, 1);
    assert!(
        compaction.mean < Duration::from_millis(25),
        "busy time, not wall: {:?}",
        compaction.mean
    );
    assert!(
        rt.monitor("unrelated")
            .unwrap()
            .stats_blocking()
            .unwrap()
            .total_operations
            == 0
    );
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();

    // Wall time on request.
    let mut c = config();
    c.instrumentation.span_time = SpanTime::Wall;
    let rt = Runtime::start(c).unwrap();
    let subscriber = tracing_subscriber::registry().with(rt.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("load", monitor = "index");
        span.in_scope(|| spin(Duration::from_millis(2)));
        std::thread::sleep(Duration::from_millis(30));
    });
    rt.flush_blocking().unwrap();
    let index = rt.monitor("index").unwrap().stats_blocking().unwrap();
    let load = index.kind("load").unwrap();
    assert!(
        load.mean >= Duration::from_millis(30),
        "wall time: {:?}",
        load.mean
    );
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn two_runtimes_layers_in_one_subscriber_each_record_every_span() {
    // Several runtimes in one process, one subscriber: each layer keeps its own timing of a span.
    let (a, b) = (
        Runtime::start(config()).unwrap(),
        Runtime::start(config()).unwrap(),
    );
    // `a` twice, through a layer and its clone: each is a layer of its own.
    let layer = a.tracing_layer();
    let subscriber = tracing_subscriber::registry()
        .with(layer.clone())
        .with(layer)
        .with(b.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..3 {
            tracing::info_span!("answer", monitor = "search", kind = "query").in_scope(|| {
                spin(Duration::from_millis(1));
                if i == 0 {
                    tracing::error!("bad vector");
                }
            });
        }
    });
    for (rt, layers) in [(&a, 2), (&b, 1)] {
        rt.flush_blocking().unwrap();
        let search = rt.monitor("search").unwrap().stats_blocking().unwrap();
        let query = search.kind("query").unwrap();
        assert_eq!((query.total, query.errors), (3 * layers, layers));
        assert!(query.mean >= Duration::from_millis(1), "{:?}", query.mean);
    }
    for rt in [a, b] {
        rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    }
}
