//! The admin surface: rendering `/metrics` for 100 monitors, assembling the health report, and
//! the status page's documents (`/api/history`, `/api/status`) over HTTP.
//! Run: `cargo bench --bench admin`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
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
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

/// One GET over a fresh connection; the body's length.
fn get(addr: SocketAddr, path: &str) -> usize {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let head = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(raw.starts_with(b"HTTP/1.1 200"), "{path}");
    raw.len() - head - 4
}

/// 100 monitors whose windows hold 60 intervals of samples each (collected by `flush`, the tick
/// set far away so no empty interval pushes them out).
fn status_documents(c: &mut Criterion) {
    let mut config = Config::default();
    config.deployment.health_check_port = 0;
    config.monitoring.max_monitors = 128;
    config.monitoring.tick = Duration::from_secs(3600);
    config.monitoring.window = 60;
    let rt = Runtime::start(config).unwrap();
    let handles: Vec<_> = (0..100)
        .map(|m| rt.monitor(&format!("component-{m:03}")).unwrap())
        .collect();
    for interval in 0..60u64 {
        for h in &handles {
            for i in 0..200u64 {
                h.record(
                    if i % 4 == 0 {
                        OpKind::INDEX
                    } else {
                        OpKind::QUERY
                    },
                    Duration::from_nanos(1_000 + (i + interval) * 997 % 50_000_000),
                );
            }
        }
        rt.flush_blocking().unwrap();
    }
    let addr = rt.admin_addr().unwrap();
    eprintln!(
        "/api/history: {} bytes, /api/status: {} bytes (100 monitors, 2 kinds, 60 intervals)",
        get(addr, "/api/history"),
        get(addr, "/api/status")
    );
    let mut group = c.benchmark_group("admin");
    group.bench_function("history_http_100_monitors", |b| {
        b.iter(|| get(addr, "/api/history"))
    });
    group.bench_function("health_http_100_monitors", |b| {
        b.iter(|| get(addr, "/health"))
    });
    group.bench_function("status_http_100_monitors", |b| {
        b.iter(|| get(addr, "/api/status"))
    });
    group.finish();
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

criterion_group!(benches, admin, status_documents);
criterion_main!(benches);
