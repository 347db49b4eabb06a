//! Alerting costs. Run: `cargo bench --bench alerting`.
//!
//! - `breach_to_webhook`: a latency breach recorded by the host to the firing notification arriving at
//!   a webhook receiver on 127.0.0.1, through the whole runtime (monitor tick 5 ms, evaluation every
//!   100 ms, no group wait). Target: within one evaluation interval plus 10 ms.
//! - `evaluate_rules/1000` and `/10000`: one evaluation of 1,000 and 10,000 rules in steady state
//!   (state machine, inhibition, silences, grouping), measured as an `Observe` round trip to the
//!   alerting actor.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use watchkeeper::config::{AlertRule, Metric, Secret};
use watchkeeper::{Config, Runtime};
use watchkeeper_actors::alerting::{
    self, AlertStore, AlertingActor, AlertingConfig, Observe, RateLimitConfig,
};
use watchkeeper_actors::{ChildSpec, EventBus, Live, SupervisorConfig, SupervisorRef};

/// A webhook receiver that reports when each request's status line arrives.
fn receiver() -> (String, mpsc::Receiver<(Instant, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            let arrived = Instant::now();
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let body = String::from_utf8_lossy(&got).into_owned();
            if tx.send((arrived, body)).is_err() {
                break;
            }
        }
    });
    (url, rx)
}

fn breach_to_webhook(c: &mut Criterion) {
    let (url, arrivals) = receiver();
    let mut config = Config::default();
    config.deployment.admin_enabled = false;
    config.monitoring.tick = Duration::from_millis(5);
    // The window must cover the evaluation interval, or a short breach leaves it unseen.
    config.monitoring.window = 30;
    let a = &mut config.alerting;
    a.check_interval = Duration::from_millis(100);
    a.group_wait = Duration::ZERO;
    a.group_interval = Duration::from_millis(1);
    a.suppression_window = Duration::ZERO;
    a.rate_limit = RateLimitConfig {
        per_minute: 100_000,
        per_hour: 1_000_000,
    };
    a.rules = vec![AlertRule {
        critical: Some(0.05),
        ..AlertRule::new("SearchSlow", Some("search"), Metric::Max)
    }];
    a.channels.log.enabled = false;
    a.channels.webhook.enabled = true;
    a.channels.webhook.url = Some(Secret::Value(url));
    a.escalation.tiers = vec![vec!["webhook".into()]];
    let rt = Runtime::start(config).unwrap();
    let search = rt.monitor("search").unwrap();
    let wait_for = |status: &str| loop {
        let (at, body) = arrivals
            .recv_timeout(Duration::from_secs(10))
            .expect("a webhook arrives");
        if body.contains(&format!("\"status\":\"{status}\"")) {
            return at;
        }
    };
    let mut group = c.benchmark_group("alerting");
    group.sample_size(20);
    group.bench_function("breach_to_webhook", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Healthy traffic until the window is clean and the alert resolved.
                let calm = Instant::now();
                while calm.elapsed() < Duration::from_millis(20) {
                    search.record_query(Duration::from_millis(1));
                    std::thread::sleep(Duration::from_millis(1));
                }
                let breach = Instant::now();
                search.record_query(Duration::from_millis(80));
                total += wait_for("firing").duration_since(breach);
                let healthy = Instant::now();
                while healthy.elapsed() < Duration::from_millis(300) {
                    search.record_query(Duration::from_millis(1));
                    std::thread::sleep(Duration::from_millis(2));
                }
                wait_for("resolved");
            }
            total
        })
    });
    group.finish();
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

fn evaluate_rules(c: &mut Criterion) {
    let mut group = c.benchmark_group("alerting");
    group.sample_size(20);
    for n in [1000usize, 10_000] {
        evaluate_n_rules(&mut group, n);
    }
    group.finish();
}

/// One evaluation of `n` rules in steady state over 50 monitors' figures, a quarter breaching.
fn evaluate_n_rules(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
) {
    let system = actix::System::new();
    let rules: Vec<AlertRule> = (0..n)
        .map(|i| AlertRule {
            warning: Some(0.1),
            critical: Some(0.5),
            for_: Duration::from_secs(60),
            labels: BTreeMap::from([("team".into(), format!("t{}", i % 7))]),
            annotations: BTreeMap::from([("summary".into(), "p99 is {value}s".into())]),
            ..AlertRule::new(
                format!("Rule{i}"),
                Some(&format!("m{}", i % 50)),
                Metric::P99,
            )
        })
        .collect();
    let config = Live::new(AlertingConfig {
        check_interval: Duration::from_secs(86_400),
        group_by: vec!["alertname".into()],
        rules,
        ..AlertingConfig::default()
    });
    // A quarter of the rules breach (pending, then firing), the rest are healthy.
    let values: Vec<Option<f64>> = (0..n)
        .map(|i| Some(if i % 4 == 0 { 0.3 } else { 0.01 }))
        .collect();
    let alerting = system.block_on(async {
        let (root, _) = SupervisorRef::start_root(
            "bench",
            SupervisorConfig::default(),
            EventBus::default(),
            None,
        );
        let (s, store) = (config.clone(), AlertStore::new(Default::default()));
        let peers = alerting::Peers {
            ask_timeout: Duration::from_secs(1),
            ..Default::default()
        };
        let alerting = root.start_child(
            ChildSpec::new("alerting", move || {
                AlertingActor::new(s.clone(), store.clone(), peers.clone())
            })
            .mailbox_capacity(16),
        );
        alerting
            .ask(Observe(values.clone()), Duration::from_secs(5))
            .await
            .unwrap();
        alerting
    });
    group.bench_function(BenchmarkId::new("evaluate_rules", n), |b| {
        b.iter(|| {
            system
                .block_on(alerting.ask(Observe(values.clone()), Duration::from_secs(5)))
                .unwrap()
        })
    });
}

criterion_group!(benches, breach_to_webhook, evaluate_rules);
criterion_main!(benches);
