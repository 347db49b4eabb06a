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

// ---- what a host relies on: the facades' contracts ----

use tracing::Instrument;
use watchkeeper::endpoints::Endpoint;

/// `CounterFn::absolute` from several callers syncing with one external counter (each reads the
/// external counter and sets it here): the counter may lag it, but never exceeds every value it
/// was ever given.
#[test]
fn counter_absolute_from_several_threads_never_passes_the_values_given() {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    let rt = Runtime::start(config()).unwrap();
    let recorder = rt.metrics_recorder();
    let mirror = rt
        .monitor("sync")
        .unwrap()
        .counter("upstream_requests_total");
    let external = AtomicU64::new(0);
    let worst = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (recorder, external, worst, mirror) =
                (recorder.clone(), &external, &worst, &mirror);
            s.spawn(move || {
                metrics::with_local_recorder(&recorder, || {
                    let upstream =
                        metrics::counter!("upstream_requests_total", "monitor" => "sync");
                    for _ in 0..50_000 {
                        let now = external.fetch_add(1, SeqCst) + 1;
                        upstream.absolute(now);
                        let value = mirror.value();
                        // Every value given so far is at most `external` read after it.
                        let largest_given = external.load(SeqCst);
                        worst.fetch_max(value.saturating_sub(largest_given), SeqCst);
                    }
                });
            });
        }
    });
    let worst = worst.into_inner();
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert_eq!(
        worst, 0,
        "the counter went {worst} above the largest value passed to absolute"
    );
}

/// A histogram described with `Unit::Milliseconds` (the facade's way to say what its values are).
#[test]
fn a_histogram_records_in_the_unit_describe_histogram_gave_it() {
    let rt = Runtime::start(config()).unwrap();
    let recorder = rt.metrics_recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_histogram!(
            "db_query_duration_ms",
            metrics::Unit::Milliseconds,
            "database query time"
        );
        metrics::histogram!("db_query_duration_ms", "monitor" => "db").record(25.0);
        metrics::describe_histogram!(
            "response_size_bytes",
            metrics::Unit::Bytes,
            "response body size"
        );
        metrics::histogram!("response_size_bytes", "monitor" => "db").record(5123.0);
    });
    rt.flush_blocking().unwrap();
    let db = rt.monitor("db").unwrap().stats_blocking().unwrap();
    let ms = db.kind("db_query_duration_ms").unwrap().lifetime_max;
    let bytes = db.kind("response_size_bytes").map(|k| k.lifetime_max);
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert_eq!(
        ms,
        Duration::from_millis(25),
        "25.0 described as milliseconds"
    );
    assert_eq!(bytes, None, "a histogram of bytes is not a latency");
}

/// A span entered on two threads at once (a cloned span, as `in_current_span` fan-out does): each
/// thread has it entered for 100 ms, so its busy time is at least 100 ms.
#[test]
fn a_span_entered_on_two_threads_at_once_keeps_its_busy_time() {
    let rt = Runtime::start(config()).unwrap();
    let subscriber = tracing_subscriber::registry().with(rt.tracing_layer());
    let span = tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("fanout", monitor = "search", kind = "fanout")
    });
    std::thread::scope(|s| {
        let a = span.clone();
        s.spawn(move || a.in_scope(|| std::thread::sleep(Duration::from_millis(100))));
        let b = span.clone();
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            b.in_scope(|| std::thread::sleep(Duration::from_millis(100)))
        });
    });
    drop(span);
    rt.flush_blocking().unwrap();
    let search = rt.monitor("search").unwrap().stats_blocking().unwrap();
    let took = search.kind("fanout").unwrap().lifetime_max;
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert!(took >= Duration::from_millis(100), "busy time {took:?}");
}

/// A span entered again while it is entered (a nested `in_scope`, or an `.instrument(span.clone())`
/// future polled inside it) is entered for the whole outer scope.
#[test]
fn a_span_entered_again_inside_itself_keeps_its_busy_time() {
    let rt = Runtime::start(config()).unwrap();
    let subscriber = tracing_subscriber::registry().with(rt.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("load", monitor = "index", kind = "load");
        span.in_scope(|| {
            std::thread::sleep(Duration::from_millis(40));
            span.in_scope(|| std::thread::sleep(Duration::from_millis(10)));
            std::thread::sleep(Duration::from_millis(40));
        });
    });
    rt.flush_blocking().unwrap();
    let index = rt.monitor("index").unwrap().stats_blocking().unwrap();
    let took = index.kind("load").unwrap().lifetime_max;
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert!(took >= Duration::from_millis(90), "busy time {took:?}");
}

/// The same in async code: a request span whose two sub-tasks run `.instrument(span.clone())` on a
/// multi-thread runtime, busy for 100 ms and 130 ms at the same time: at least 130 ms.
#[test]
fn a_request_span_shared_by_concurrent_tasks_keeps_its_busy_time() {
    let rt = Runtime::start(config()).unwrap();
    let subscriber = tracing_subscriber::registry().with(rt.tracing_layer());
    let dispatch = tracing::Dispatch::new(subscriber);
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        tokio_rt.block_on(async {
            let span = tracing::info_span!("request", monitor = "api", kind = "search");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let tasks: Vec<_> = (0..2u64)
                .map(|i| {
                    let barrier = barrier.clone();
                    tokio::spawn(
                        async move {
                            barrier.wait();
                            // CPU work: 100 ms in one task, 130 ms in the other
                            std::thread::sleep(Duration::from_millis(100 + 30 * i));
                            tokio::task::yield_now().await;
                        }
                        .instrument(span.clone()),
                    )
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        })
    });
    drop(tokio_rt);
    rt.flush_blocking().unwrap();
    let api = rt.monitor("api").unwrap().stats_blocking().unwrap();
    let took = api.kind("search").unwrap().lifetime_max;
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert!(took >= Duration::from_millis(130), "busy time {took:?}");
}

/// Fields declared `Empty` and recorded later (`Span::record`, `#[instrument(fields(kind))]`):
/// the kind, the monitor and the trace id are still the span's fields when it closes.
#[tracing::instrument(fields(monitor = "http", kind))]
fn handle_route(route: &str) {
    tracing::Span::current().record("kind", route);
    spin(Duration::from_millis(1));
}

#[test]
fn fields_recorded_after_creation_name_the_kind_monitor_and_trace() {
    let rt = Runtime::start(config()).unwrap();
    let subscriber = tracing_subscriber::registry().with(rt.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        handle_route("get_user");
        let job = tracing::info_span!("job", monitor = tracing::field::Empty);
        job.record("monitor", "batch");
        job.in_scope(|| spin(Duration::from_millis(1)));
        drop(job);
        let traced = tracing::info_span!(
            "query",
            monitor = "search",
            trace_id = tracing::field::Empty
        );
        traced.record("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
        traced.in_scope(|| spin(Duration::from_millis(1)));
        drop(traced);
        // Control: the same with the trace id given at creation.
        tracing::info_span!(
            "eager",
            monitor = "search",
            trace_id = "0af7651916cd43dd8448eb211c80319c"
        )
        .in_scope(|| spin(Duration::from_millis(1)));
    });
    rt.flush_blocking().unwrap();
    let http = rt.monitor("http").unwrap().stats_blocking().unwrap();
    let kinds: Vec<String> = http
        .kinds
        .iter()
        .filter(|k| k.total > 0)
        .map(|k| k.kind.clone())
        .collect();
    let batch = rt
        .monitor("batch")
        .unwrap()
        .stats_blocking()
        .unwrap()
        .total_operations;
    let body = rt.endpoint_blocking(Endpoint::OpenMetrics).unwrap().body;
    let exemplar = body.contains("# {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"}");
    let control = body.contains("# {trace_id=\"0af7651916cd43dd8448eb211c80319c\"}");
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert!(
        control,
        "the exemplar of a trace id given at creation is shown"
    );
    assert!(
        kinds == ["get_user"] && batch == 1 && exemplar,
        "http kinds {kinds:?} (want [\"get_user\"]); batch operations {batch} (want 1); exemplar {exemplar}"
    );
}

// ---- behaviours checked and expected to hold ----

#[tracing::instrument(fields(monitor = "store", kind = "put"), err)]
async fn put(fail: bool) -> Result<(), String> {
    spin(Duration::from_millis(5));
    tokio::time::sleep(Duration::from_millis(50)).await;
    tokio::task::yield_now().await;
    spin(Duration::from_millis(5));
    if fail {
        return Err("disk full".into());
    }
    Ok(())
}

#[test]
fn async_instrument_err_counts_busy_time_across_awaits_and_thread_hops() {
    let rt = Runtime::start(config()).unwrap();
    let subscriber = tracing_subscriber::registry().with(rt.tracing_layer());
    let dispatch = tracing::Dispatch::new(subscriber);
    let worker_dispatch = dispatch.clone();
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            std::mem::forget(tracing::dispatcher::set_default(&worker_dispatch));
        })
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        tokio_rt.block_on(async {
            let tasks: Vec<_> = (0..6).map(|i| tokio::spawn(put(i % 3 == 0))).collect();
            for t in tasks {
                let _ = t.await.unwrap();
            }
        })
    });
    drop(tokio_rt);
    rt.flush_blocking().unwrap();
    let store = rt.monitor("store").unwrap().stats_blocking().unwrap();
    let k = store.kind("put").unwrap();
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert_eq!((k.total, k.errors), (6, 2));
    assert!(
        k.mean >= Duration::from_millis(10) && k.lifetime_max < Duration::from_millis(45),
        "{:?} {:?}",
        k.mean,
        k.lifetime_max
    );
}

#[test]
fn a_filtered_layer_records_info_spans_and_the_errors_of_their_debug_children() {
    use tracing_subscriber::Layer as _;
    let rt = Runtime::start(config()).unwrap();
    let subscriber = tracing_subscriber::registry().with(
        rt.tracing_layer()
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
    );
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("answer", monitor = "search", kind = "query").in_scope(|| {
            tracing::debug_span!("decode").in_scope(|| tracing::error!("bad vector"));
        });
        tracing::debug_span!("probe", monitor = "search", kind = "probe").in_scope(|| {});
    });
    rt.flush_blocking().unwrap();
    let search = rt.monitor("search").unwrap().stats_blocking().unwrap();
    let q = search.kind("query").unwrap();
    assert_eq!((q.total, q.errors), (1, 1));
    assert!(search.kind("probe").is_none_or(|k| k.total == 0));
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn gauges_from_threads_label_order_and_histograms_from_threads_are_exact() {
    let rt = Runtime::start(config()).unwrap();
    let recorder = rt.metrics_recorder();
    std::thread::scope(|s| {
        for t in 0..4 {
            let recorder = recorder.clone();
            s.spawn(move || {
                metrics::with_local_recorder(&recorder, || {
                    for i in 0..10_000u32 {
                        metrics::gauge!("in_flight", "monitor" => "api").increment(1.0);
                        if i % 2 == 0 {
                            metrics::gauge!("in_flight", "monitor" => "api").decrement(1.0);
                        }
                        let h = if t % 2 == 0 {
                            metrics::histogram!("lat_seconds", "monitor" => "api", "region" => "eu", "shard" => "1")
                        } else {
                            metrics::histogram!("lat_seconds", "shard" => "1", "monitor" => "api", "region" => "eu")
                        };
                        h.record(0.002);
                    }
                });
            });
        }
    });
    rt.flush_blocking().unwrap();
    let api = rt.monitor("api").unwrap().stats_blocking().unwrap();
    assert_eq!(api.gauge("in_flight"), Some(20_000.0));
    let kinds: Vec<(String, u64)> = api
        .kinds
        .iter()
        .filter(|k| k.total > 0)
        .map(|k| (k.kind.clone(), k.total))
        .collect();
    assert_eq!(kinds.len(), 1, "{kinds:?}");
    assert_eq!(kinds[0].1, 40_000);
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn many_span_kinds_and_label_values_are_bounded_and_counted() {
    let mut c = config();
    c.instrumentation.max_series = 100;
    let rt = Runtime::start(c).unwrap();
    let subscriber = tracing_subscriber::registry().with(rt.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..500 {
            tracing::info_span!("op", monitor = "wide", kind = %format!("k{i}")).in_scope(|| {});
        }
    });
    let recorder = rt.metrics_recorder();
    metrics::with_local_recorder(&recorder, || {
        for i in 0..5_000 {
            metrics::counter!("req_total", "monitor" => "wide2", "user" => i.to_string())
                .increment(1);
        }
    });
    rt.flush_blocking().unwrap();
    let wide = rt.monitor("wide").unwrap().stats_blocking().unwrap();
    let wide2 = rt.monitor("wide2").unwrap().stats_blocking().unwrap();
    let text = rt.render_metrics_blocking().unwrap();
    let dropped = text
        .lines()
        .find(|l| l.starts_with("watchkeeper_instrumentation_dropped_total "))
        .unwrap()
        .to_owned();
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert!(
        wide.kinds.len() <= 64 && wide2.counters.len() <= 64,
        "{} {}",
        wide.kinds.len(),
        wide2.counters.len()
    );
    eprintln!(
        "kinds {} counters {} {dropped}",
        wide.kinds.len(),
        wide2.counters.len()
    );
}
