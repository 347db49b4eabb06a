//! Spawns the full actor tree inside a process that does real work, records every operation, injects a
//! crash of one monitor actor, and shows the restart, a live status line and the final health report.
//!
//! `cargo run --release --example demo -- [--seconds N] [--threads N] [--config FILE]`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use watchkeeper::actors::InjectPanic;
use watchkeeper::{Config, Runtime, SupervisionEvent};

struct Options {
    seconds: u64,
    threads: usize,
    config: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        seconds: 6,
        threads: 2,
        config: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => o.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--threads" => o.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--config" => o.config = Some(value()?),
            "--help" | "-h" => {
                return Err("usage: demo [--seconds N] [--threads N] [--config FILE]".into())
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(o)
}

/// Real work: nearest neighbour of a query among `n` 64-dimensional vectors, by brute force.
fn nearest(vectors: &[[f32; 64]], query: &[f32; 64]) -> usize {
    let mut best = (f32::MAX, 0);
    for (i, v) in vectors.iter().enumerate() {
        let d: f32 = v.iter().zip(query).map(|(a, b)| (a - b) * (a - b)).sum();
        if d < best.0 {
            best = (d, i);
        }
    }
    best.1
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let opts = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let config = match &opts.config {
        Some(path) => match Config::from_file(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        },
        None => Config::default(),
    };
    let rt = Runtime::start(config).expect("runtime starts");
    let mut events = rt.events();
    let search = rt.monitor("search");
    let index = rt.monitor("index");
    let stop = Arc::new(AtomicBool::new(false));

    let workers: Vec<_> = (0..opts.threads)
        .map(|t| {
            let (search, index, stop) = (search.clone(), index.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t as u64);
                let mut vectors: Vec<[f32; 64]> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    for _ in 0..64 {
                        vectors.push(std::array::from_fn(|_| rng.f32()));
                    }
                    if vectors.len() > 20_000 {
                        vectors.drain(..64);
                    }
                    index.record_index(start.elapsed());
                    for _ in 0..8 {
                        let query: [f32; 64] = std::array::from_fn(|_| rng.f32());
                        let start = Instant::now();
                        std::hint::black_box(nearest(&vectors, &query));
                        search.record_query(start.elapsed());
                    }
                }
            })
        })
        .collect();

    let started = Instant::now();
    let mut crashed = false;
    while started.elapsed() < Duration::from_secs(opts.seconds) {
        std::thread::sleep(Duration::from_secs(1));
        if !crashed && started.elapsed() >= Duration::from_secs(2) {
            println!("-- injecting a panic into the `search` monitor actor");
            let _ = search.actor().tell(InjectPanic);
            crashed = true;
        }
        while let Ok(event) = events.try_recv() {
            match event {
                SupervisionEvent::ChildFailed { child, panic, .. } => {
                    println!("-- {child} failed: {panic}")
                }
                SupervisionEvent::ChildStarted {
                    child, restarts, ..
                } if restarts > 0 => {
                    println!("-- {child} restarted (restart {restarts}); its samples were kept")
                }
                _ => {}
            }
        }
        if let (Ok(s), Ok(i)) = (search.stats_blocking(), index.stats_blocking()) {
            println!(
                "[{:>3}s] queries {:>8} ({:>7.0}/s, p99 {:>9.3?})  batches {:>6} ({:>5.0}/s)  rss {} MiB",
                started.elapsed().as_secs(),
                s.total_queries,
                s.queries_per_second,
                s.latency.p99,
                i.total_indexes,
                i.indexes_per_second,
                watchkeeper::actors::ProcessStats::read().resident_bytes.unwrap_or(0) >> 20,
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    match rt.health_blocking() {
        Ok(report) => {
            println!("\nhealth: {:?} (score {})", report.status, report.score);
            for issue in &report.issues {
                println!("  issue: {issue}");
            }
            if let Some(sup) = &report.supervision {
                for c in &sup.children {
                    println!(
                        "  {:<8} {:?} restarts {} last failure {:?}",
                        c.name, c.state, c.restarts, c.last_failure
                    );
                }
            }
            for m in &report.monitors {
                println!(
                    "  monitor {:<8} ops {:>9} mean {:?}",
                    m.name, m.total_operations, m.mean
                );
            }
        }
        Err(e) => println!("health: {e}"),
    }
    match rt.shutdown(Duration::from_secs(5)) {
        Ok(report) => println!("shut down: {} actors stopped", report.children.len()),
        Err(e) => println!("shutdown: {e}"),
    }
}
