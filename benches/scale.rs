//! What a runtime costs as its monitors grow: 1, 10, 100, 1,000 and 10,000 monitors, each with one
//! sample recorded — creating them, recording one sample into each in turn from one thread, a
//! collect tick of every monitor (`flush`), the health report and a `/metrics` scrape.
//! Run: `cargo bench --bench scale`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn runtime(monitors: usize) -> watchkeeper::Runtime {
    let mut config = watchkeeper::Config::default();
    config.deployment.admin_enabled = false;
    config.monitoring.monitors = Vec::new();
    config.monitoring.max_monitors = monitors;
    watchkeeper::Runtime::start(config).unwrap()
}

fn scale(c: &mut Criterion) {
    for n in [1usize, 10, 100, 1000, 10_000] {
        let mut group = c.benchmark_group("monitors");
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(3));
        group.warm_up_time(Duration::from_millis(500));
        // Creating `n` monitors in a fresh runtime (its start and shutdown are not timed).
        group.bench_function(BenchmarkId::new("create", n), |b| {
            b.iter_custom(|iters| {
                let mut took = Duration::ZERO;
                for _ in 0..iters {
                    let rt = runtime(n);
                    let start = Instant::now();
                    for i in 0..n {
                        rt.monitor(&format!("m{i}")).unwrap();
                    }
                    took += start.elapsed();
                    rt.shutdown_blocking(Duration::from_secs(30)).unwrap();
                }
                took
            })
        });
        let rt = runtime(n);
        let handles: Vec<_> = (0..n)
            .map(|i| rt.monitor(&format!("m{i}")).unwrap())
            .collect();
        for (i, h) in handles.iter().enumerate() {
            h.record_query(Duration::from_micros(100 + i as u64));
        }
        rt.flush_blocking().unwrap();
        // One sample into each monitor in turn, one thread: criterion's time is for all `n`.
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("record_each", n), |b| {
            let mut i = 0u64;
            b.iter(|| {
                for h in &handles {
                    i = i.wrapping_add(7919);
                    h.record_query(Duration::from_nanos(20_000 + i % 1_000_000));
                }
            })
        });
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("collect_tick", n), |b| {
            b.iter(|| rt.flush_blocking().unwrap())
        });
        group.bench_function(BenchmarkId::new("health", n), |b| {
            b.iter(|| rt.health_blocking().unwrap())
        });
        group.bench_function(BenchmarkId::new("metrics", n), |b| {
            b.iter(|| rt.render_metrics_blocking().unwrap())
        });
        group.finish();
        let text = rt.render_metrics_blocking().unwrap();
        eprintln!("{n} monitors: /metrics {} bytes", text.len());
        drop(handles);
        rt.shutdown_blocking(Duration::from_secs(30)).unwrap();
    }
}

criterion_group!(benches, scale);
criterion_main!(benches);
