//! How the per-monitor cost of a collect tick, the health report and a `/metrics` render moves as
//! monitors grow past where `cargo bench --bench scale` stops: 1,000 to 20,000 monitors with one
//! sample each, each operation timed 20 times in a row, in a fresh runtime per size. The collect
//! tick is timed twice: with nothing new (idle), and after one new sample into every monitor
//! (active; the recording is not timed).
//!
//!     cargo run --release --example monitor_scale -- [1000,2000,5000,10000,20000]

use std::time::{Duration, Instant};

const REPEATS: u32 = 20;

fn timed(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..REPEATS {
        f();
    }
    start.elapsed() / REPEATS
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = match std::env::args().nth(1) {
        Some(list) => list
            .split(',')
            .map(|n| n.trim().parse())
            .collect::<Result<_, _>>()?,
        None => vec![1_000, 2_000, 5_000, 10_000, 20_000],
    };
    println!(
        "monitors | collect tick, idle | collect tick, active | health | /metrics   (per monitor in brackets)"
    );
    for n in sizes {
        let mut config = watchkeeper::Config::default();
        config.deployment.admin_enabled = false;
        config.monitoring.monitors = Vec::new();
        config.monitoring.max_monitors = n;
        let rt = watchkeeper::Runtime::start(config)?;
        let handles = (0..n)
            .map(|i| rt.monitor(&format!("m{i}")))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, h) in handles.iter().enumerate() {
            h.record_query(Duration::from_micros(100 + i as u64));
        }
        rt.flush_blocking()?;
        let tick = timed(|| rt.flush_blocking().expect("flush"));
        let mut active = Duration::ZERO;
        for round in 0..REPEATS {
            for (i, h) in handles.iter().enumerate() {
                h.record_query(Duration::from_micros(
                    200 + (i as u64 * 7 + u64::from(round)) % 5_000,
                ));
            }
            let start = Instant::now();
            rt.flush_blocking()?;
            active += start.elapsed();
        }
        let active = active / REPEATS;
        let health = timed(|| drop(rt.health_blocking().expect("health")));
        let metrics = timed(|| drop(rt.render_metrics_blocking().expect("metrics")));
        let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        println!(
            "{n:>8} | {tick:>9.2?} ({:.2} µs) | {active:>9.2?} ({:.2} µs) | {health:>9.2?} ({:.2} µs) | {metrics:>9.2?} ({:.2} µs)",
            per(tick),
            per(active),
            per(health),
            per(metrics),
        );
        drop(handles);
        rt.shutdown_blocking(Duration::from_secs(60))?;
    }
    Ok(())
}
