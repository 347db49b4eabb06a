//! What a runtime costs as its monitors grow: 1, 10, 100 and 1,000 monitors, each with one
//! sample recorded — a collect tick of every monitor (`flush`), the health report and a `/metrics`
//! scrape. Run: `cargo bench --bench scale`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn scale(c: &mut Criterion) {
    for n in [1usize, 10, 100, 1000] {
        let mut config = watchkeeper::Config::default();
        config.deployment.admin_enabled = false;
        config.monitoring.monitors = Vec::new();
        config.monitoring.max_monitors = n;
        let rt = watchkeeper::Runtime::start(config).unwrap();
        for i in 0..n {
            rt.monitor(&format!("m{i}"))
                .unwrap()
                .record_query(Duration::from_micros(100 + i as u64));
        }
        rt.flush_blocking().unwrap();
        let mut group = c.benchmark_group("monitors");
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(3));
        group.warm_up_time(Duration::from_millis(500));
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
        rt.shutdown_blocking(Duration::from_secs(10)).unwrap();
    }
}

criterion_group!(benches, scale);
criterion_main!(benches);
