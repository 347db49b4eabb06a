//! The host's instrumentation as input, beside its peers in the same run:
//! - `metrics::histogram!(..).record(..)` (the macro registers its key on every call) through
//!   `MetricsRecorder`, through `metrics-exporter-prometheus`, and `record_secs_f64` on a
//!   `MonitorHandle`; the same with the macro's handle kept outside the loop; 1 and 2 threads;
//! - the registration alone: `MetricsRecorder::register_histogram` (a thread-local cache) beside a
//!   `DashMap<Key, Histogram>` lookup, the concurrent map the alternative design would use;
//! - one span entered and closed under `tracing_subscriber::registry()` with `SpanLayer` and without.
//!
//! Run: `cargo bench --bench instrumentation --features metrics,tracing`.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use metrics::Recorder as _;
use tracing_subscriber::layer::SubscriberExt;

/// A latency in seconds spread over many buckets (20 µs .. 1.07 ms), unpredictable to the compiler.
#[inline(always)]
fn seconds(i: u64) -> f64 {
    (20_000 + (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 44)) as f64 * 1e-9
}

/// Runs `f(n)` on `threads` threads at once; the wall time of the slowest.
fn on_threads(threads: usize, n: u64, f: &(dyn Fn(u64) + Sync)) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                f(n);
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

/// The least any recorder can do for the macro: hand back a clone of one `Arc` without looking the
/// key up, and record nothing. The `metrics` API returns an `Arc`-counted handle from every
/// registration, so its two reference-count updates are in every macro call, whatever the recorder.
struct Floor(std::sync::Arc<NoOp>);
struct NoOp;
impl metrics::HistogramFn for NoOp {
    fn record(&self, value: f64) {
        black_box(value);
    }
}
impl metrics::Recorder for Floor {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::noop()
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::from_arc(self.0.clone())
    }
}

fn instrumentation(c: &mut Criterion) {
    let mut config = watchkeeper::Config::default();
    config.deployment.admin_enabled = false;
    let rt = watchkeeper::Runtime::start(config).unwrap();
    let ours = rt.metrics_recorder();
    let exporter = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = rt.monitor("search").unwrap();

    type Peer<'a> = (&'static str, Box<dyn Fn(u64) + Sync + 'a>);
    let macros: Vec<Peer> = vec![
        (
            "watchkeeper_record_secs_f64",
            Box::new(|n| {
                for i in 0..n {
                    handle.record_secs_f64(watchkeeper::OpKind::QUERY, black_box(seconds(i)));
                }
            }),
        ),
        (
            "metrics_macro_watchkeeper_recorder",
            Box::new(|n| {
                metrics::with_local_recorder(&ours, || {
                    for i in 0..n {
                        metrics::histogram!("latency_seconds", "monitor" => "search", "kind" => "query")
                            .record(black_box(seconds(i)));
                    }
                })
            }),
        ),
        (
            // Per thread, so the reference count stays on its core, as ours does.
            "metrics_macro_floor_no_lookup_no_record",
            Box::new(|n| {
                let floor = Floor(std::sync::Arc::new(NoOp));
                metrics::with_local_recorder(&floor, || {
                    for i in 0..n {
                        metrics::histogram!("latency_seconds", "monitor" => "search", "kind" => "query")
                            .record(black_box(seconds(i)));
                    }
                })
            }),
        ),
        (
            "metrics_handle_kept_watchkeeper_recorder",
            Box::new(|n| {
                let h = metrics::with_local_recorder(
                    &ours,
                    || metrics::histogram!("latency_seconds", "monitor" => "search", "kind" => "query"),
                );
                for i in 0..n {
                    h.record(black_box(seconds(i)));
                }
            }),
        ),
        (
            "metrics_handle_kept_prometheus_exporter",
            Box::new(|n| {
                let h = metrics::with_local_recorder(
                    &exporter,
                    || metrics::histogram!("latency_seconds", "monitor" => "search", "kind" => "query"),
                );
                for i in 0..n {
                    h.record(black_box(seconds(i)));
                }
            }),
        ),
        (
            "metrics_macro_prometheus_exporter",
            Box::new(|n| {
                metrics::with_local_recorder(&exporter, || {
                    for i in 0..n {
                        metrics::histogram!("latency_seconds", "monitor" => "search", "kind" => "query")
                            .record(black_box(seconds(i)));
                    }
                })
            }),
        ),
    ];
    for threads in [1usize, 2] {
        let mut group = c.benchmark_group(format!(
            "histogram_macro/{threads}_thread{}",
            if threads > 1 { "s" } else { "" }
        ));
        group.throughput(Throughput::Elements(threads as u64));
        group.measurement_time(Duration::from_secs(2));
        group.warm_up_time(Duration::from_millis(500));
        for (name, f) in &macros {
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| on_threads(threads, iters, f.as_ref()))
            });
        }
        group.finish();
    }

    // Registration alone, one thread: the key as the macro builds it.
    let key = metrics::Key::from_parts(
        "latency_seconds",
        vec![
            metrics::Label::new("monitor", "search"),
            metrics::Label::new("kind", "query"),
        ],
    );
    let meta = metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));
    let map: dashmap::DashMap<metrics::Key, metrics::Histogram> = dashmap::DashMap::new();
    map.insert(key.clone(), ours.register_histogram(&key, &meta));
    let mut group = c.benchmark_group("register");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.bench_function("watchkeeper_thread_local_cache", |b| {
        b.iter(|| black_box(ours.register_histogram(black_box(&key), &meta)))
    });
    group.bench_function("dashmap_get", |b| {
        b.iter(|| black_box(map.get(black_box(&key)).map(|h| h.value().clone())))
    });
    group.finish();

    // One span entered and closed.
    let mut group = c.benchmark_group("span");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        group.bench_function("registry", |b| {
            b.iter(|| {
                tracing::info_span!("query", monitor = "search").in_scope(|| black_box(1));
            })
        });
    });
    let layered = tracing_subscriber::registry().with(rt.tracing_layer());
    tracing::subscriber::with_default(layered, || {
        group.bench_function("registry_with_span_layer", |b| {
            b.iter(|| {
                tracing::info_span!("query", monitor = "search").in_scope(|| black_box(1));
            })
        });
    });
    group.finish();
    drop(rt);
}

criterion_group!(benches, instrumentation);
criterion_main!(benches);
