//! The admin surface: rendering `/metrics` for 100 monitors, and assembling the health report.
//! Run: `cargo bench --bench admin`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use watchkeeper::{Config, OpKind, Runtime};

fn admin(c: &mut Criterion) {
    let mut config = Config::default();
    config.deployment.health_check_port = 0;
    config.monitoring.max_monitors = 128;
    config.monitoring.tick = Duration::from_millis(100);
    let rt = Runtime::start(config).unwrap();
    for m in 0..100 {
        let h = rt.monitor(&format!("component-{m:03}")).unwrap();
        for i in 0..2_000u64 {
            h.record(
                if i % 4 == 0 {
                    OpKind::INDEX
                } else {
                    OpKind::QUERY
                },
                Duration::from_nanos(1_000 + i * 997 % 50_000_000),
            );
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let sample = rt.render_metrics_blocking().unwrap();
    assert!(
        sample.lines().count() > 100 * 2 * 19,
        "every monitor is rendered"
    );

    let mut group = c.benchmark_group("admin");
    group.bench_function("metrics_render_100_monitors", |b| {
        b.iter(|| rt.render_metrics_blocking().unwrap())
    });
    group.bench_function("health_report_100_monitors", |b| {
        b.iter(|| rt.health_blocking().unwrap())
    });
    group.finish();
    rt.shutdown(Duration::from_secs(5)).unwrap();
}

criterion_group!(benches, admin);
criterion_main!(benches);
