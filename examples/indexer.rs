//! A simulated vector-indexing process that embeds watchkeeper: worker threads index batches of
//! random vectors and answer k-nearest-neighbour queries by brute force, recording every operation.
//! On a script it injects a latency regression (queries stall) and a crash of the `index` monitor
//! actor, so you see an alert fire and resolve and a restart happen, with a live status line; at the
//! end it prints the health report. The admin server runs throughout (health, /metrics, /alerts).
//!
//! `cargo run --release --example indexer -- [--config FILE] [--duration 20s] [--threads N]`
//! (durations are written as in the configuration: `"90s"`, `"2m"`)
//!
//! The script's timing follows the configuration: with `config/demo.ron` the whole story takes about
//! 20 s; with the default configuration (a 1 min `for`, 30 s group wait, 1 min window) about 4 min.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use watchkeeper::actors::alerting::{Alert, AlertState, GetAlerts};
use watchkeeper::actors::harness::InjectPanic;
use watchkeeper::{Config, HealthStatus, Runtime, SupervisionEvent};

const DIM: usize = 64;
const K: usize = 10;
const MAX_VECTORS: usize = 20_000;

struct Options {
    config: Option<String>,
    duration: Option<Duration>,
    threads: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        config: None,
        duration: None,
        threads: 2,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--config" => o.config = Some(value()?),
            "--duration" => {
                o.duration = Some(
                    watchkeeper::actors::duration_serde::parse(&value()?)
                        .map_err(|e| format!("--duration: {e}"))?,
                )
            }
            "--threads" => o.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--help" | "-h" => {
                return Err("usage: indexer [--config FILE] [--duration 20s] [--threads N]".into())
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(o)
}

/// The `K` nearest vectors to `query` by squared Euclidean distance, by brute force.
fn knn(vectors: &[[f32; DIM]], query: &[f32; DIM]) -> Vec<usize> {
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(K + 1);
    for (i, v) in vectors.iter().enumerate() {
        let d: f32 = v.iter().zip(query).map(|(a, b)| (a - b) * (a - b)).sum();
        if best.len() < K || d < best[best.len() - 1].0 {
            let at = best.partition_point(|(x, _)| *x <= d);
            best.insert(at, (d, i));
            best.truncate(K);
        }
    }
    best.into_iter().map(|(_, i)| i).collect()
}

/// When things happen, derived from the configuration's own timings.
struct Script {
    crash_at: Duration,
    regression: (Duration, Duration),
    end: Duration,
}

impl Script {
    fn for_config(c: &Config, duration: Option<Duration>) -> Script {
        let a = &c.alerting;
        let rule_for = a.rules.first().map_or(Duration::ZERO, |r| r.for_);
        let window = c.monitoring.tick * c.monitoring.window as u32;
        let start = Duration::from_secs(4).max(c.monitoring.tick * 3);
        // Long enough to fire and be notified: `for`, the group wait, and evaluations either side.
        let length = rule_for + a.group_wait + a.check_interval * 4 + c.monitoring.tick * 2;
        // Then the slow queries must leave the window and the rule must see it.
        let recovery = window + a.check_interval * 4 + Duration::from_secs(2);
        let end = duration.unwrap_or(start + length + recovery);
        Script {
            crash_at: start / 2,
            regression: (start, start + length),
            end,
        }
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,watchkeeper_actors::notify=info".into()),
        )
        .init();
    let opts = options().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let config = match &opts.config {
        Some(path) => Config::from_file(path).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        }),
        None => Config::default(),
    };
    let script = Script::for_config(&config, opts.duration);
    let rt = Runtime::start(config).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    if let Some(addr) = rt.admin_addr() {
        println!("admin: http://{addr}/health  http://{addr}/metrics  http://{addr}/alerts");
    }
    println!(
        "script: crash of the `index` monitor at {:?}; queries stall (150 ms) from {:?} to {:?}; end at {:?}",
        script.crash_at, script.regression.0, script.regression.1, script.end
    );
    let mut events = rt.events();
    let search = rt.monitor("search").expect("a monitor");
    let index = rt.monitor("index").expect("a monitor");
    let stop = Arc::new(AtomicBool::new(false));
    let stalled = Arc::new(AtomicBool::new(false));

    let workers: Vec<_> = (0..opts.threads)
        .map(|t| {
            let (search, index, stop, stalled) =
                (search.clone(), index.clone(), stop.clone(), stalled.clone());
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t as u64 + 1);
                let mut shard: Vec<[f32; DIM]> = Vec::with_capacity(MAX_VECTORS);
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    for _ in 0..64 {
                        if shard.len() == MAX_VECTORS {
                            shard.swap_remove(rng.usize(..MAX_VECTORS));
                        }
                        shard.push(std::array::from_fn(|_| rng.f32()));
                    }
                    index.record_index(started.elapsed());
                    for _ in 0..8 {
                        let query: [f32; DIM] = std::array::from_fn(|_| rng.f32());
                        let started = Instant::now();
                        let found = knn(&shard, &query);
                        if stalled.load(Ordering::Relaxed) {
                            // The injected regression: a stall on every query.
                            std::thread::sleep(Duration::from_millis(150));
                        }
                        std::hint::black_box(found);
                        search.record_query(started.elapsed());
                    }
                }
            })
        })
        .collect();

    let start = Instant::now();
    let (mut crashed, mut firing) = (false, BTreeMap::<u64, String>::new());
    while start.elapsed() < script.end {
        std::thread::sleep(Duration::from_secs(1));
        let now = start.elapsed();
        if !crashed && now >= script.crash_at {
            println!("-- injecting a crash into the `index` monitor actor");
            let _ = index.actor().tell(InjectPanic);
            crashed = true;
        }
        let stall = now >= script.regression.0 && now < script.regression.1;
        if stall != stalled.swap(stall, Ordering::Relaxed) {
            println!(
                "-- {}",
                if stall {
                    "latency regression starts: queries stall 150 ms"
                } else {
                    "latency regression ends"
                }
            );
        }
        while let Ok(event) = events.try_recv() {
            match event {
                SupervisionEvent::ChildFailed { child, panic, .. } => {
                    println!("-- `{child}` failed: {panic}")
                }
                SupervisionEvent::ChildStarted {
                    child, restarts, ..
                } if restarts > 0 => {
                    println!("-- `{child}` restarted (restart {restarts}); recorded samples kept")
                }
                _ => {}
            }
        }
        {
            if let Ok(alerts) = rt
                .alerting()
                .ask_blocking(GetAlerts, Duration::from_secs(2))
            {
                let now_firing: BTreeMap<u64, &Alert> = alerts
                    .iter()
                    .filter(|a| a.state == AlertState::Firing)
                    .map(|a| (a.fingerprint, a))
                    .collect();
                for (fp, a) in &now_firing {
                    if !firing.contains_key(fp) {
                        println!(
                            "-- ALERT firing: {} ({}) {}",
                            a.labels["alertname"],
                            a.labels["severity"],
                            a.annotations.get("summary").cloned().unwrap_or_default()
                        );
                    }
                }
                for (fp, name) in &firing {
                    if !now_firing.contains_key(fp) {
                        println!(
                            "-- alert resolved: {name} ({} firing now)",
                            now_firing.len()
                        );
                    }
                }
                firing = now_firing
                    .iter()
                    .map(|(fp, a)| (*fp, a.labels["alertname"].clone()))
                    .collect();
            }
        }
        if let (Ok(s), Ok(i), Ok(h)) = (
            search.stats_blocking(),
            index.stats_blocking(),
            rt.health_blocking(),
        ) {
            let restarts: u32 = h
                .supervision
                .as_ref()
                .map_or(0, |s| s.all_children().iter().map(|c| c.restarts).sum());
            println!(
                "[{:>4}s] queries {:>8} ({:>6.0}/s, p99 {:>8.2} ms)  batches {:>6} ({:>4.0}/s)  alerts firing {}  restarts {}  rss {} MiB",
                now.as_secs(),
                s.total_queries,
                s.queries_per_second,
                s.latency.p99.as_secs_f64() * 1e3,
                i.total_indexes,
                i.indexes_per_second,
                h.alerting.as_ref().map_or(0, |a| a.active_alerts),
                restarts,
                h.process.as_ref().and_then(|p| p.stats.resident_bytes).unwrap_or(0) >> 20,
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    match rt.health_blocking() {
        Ok(report) => {
            println!("\nfinal health report:");
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            let verdict = match report.status {
                HealthStatus::Healthy => "healthy",
                HealthStatus::Warning => "warning",
                HealthStatus::Critical => "critical",
            };
            println!(
                "health: {verdict} (score {}); issues: {:?}",
                report.score, report.issues
            );
        }
        Err(e) => println!("health: {e}"),
    }
    match rt.shutdown_blocking(Duration::from_secs(5)) {
        Ok(report) => println!("shut down: {} actors stopped", report.children.len()),
        Err(e) => println!("shutdown: {e}"),
    }
}
