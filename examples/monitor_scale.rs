//! How the per-monitor cost of a collect tick, the health report and a `/metrics` render moves as
//! monitors grow past where `cargo bench --bench scale` stops: 1,000 to 20,000 monitors with one
//! sample each, each operation timed 20 times in a row, in a fresh runtime per size. The collect
//! tick is timed twice: with nothing new (idle), and after one new sample into every monitor
//! (active; the recording is not timed).
//!
//! Run back to back, the operations at 1,000 monitors find the monitors' state in the CPU's
//! caches, and at 10,000 they do not. `--cold` writes over 256 MiB before each timed operation
//! (not timed), so every size starts from memory, as a scrape every 15 s in a busy host does.
//!
//!     cargo run --release --example monitor_scale -- [1000,2000,5000,10000,20000] [--cold]

use std::time::{Duration, Instant};

const REPEATS: u32 = 20;

/// Before each timed operation: nothing, or (`--cold`) a write over more memory than the caches
/// hold.
struct Caches(Option<Vec<u8>>);

impl Caches {
    fn evict(&mut self) {
        if let Some(buf) = &mut self.0 {
            let round = buf[0].wrapping_add(1);
            // One write per cache line.
            for line in buf.chunks_mut(64) {
                line[0] = round;
            }
            std::hint::black_box(&buf);
        }
    }

    /// `f`'s mean time over `REPEATS` runs, each after `evict`.
    fn timed(&mut self, mut f: impl FnMut()) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..REPEATS {
            self.evict();
            let start = Instant::now();
            f();
            total += start.elapsed();
        }
        total / REPEATS
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cold = std::env::args().any(|a| a == "--cold");
    let mut caches = Caches(cold.then(|| vec![0u8; 256 << 20]));
    let sizes: Vec<usize> = match std::env::args().skip(1).find(|a| a != "--cold") {
        Some(list) => list
            .split(',')
            .map(|n| n.trim().parse())
            .collect::<Result<_, _>>()?,
        None => vec![1_000, 2_000, 5_000, 10_000, 20_000],
    };
    if cold {
        println!("each operation after a write over 256 MiB (--cold)");
    }
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
        let tick = caches.timed(|| rt.flush_blocking().expect("flush"));
        let mut active = Duration::ZERO;
        for round in 0..REPEATS {
            for (i, h) in handles.iter().enumerate() {
                h.record_query(Duration::from_micros(
                    200 + (i as u64 * 7 + u64::from(round)) % 5_000,
                ));
            }
            caches.evict();
            let start = Instant::now();
            rt.flush_blocking()?;
            active += start.elapsed();
        }
        let active = active / REPEATS;
        let health = caches.timed(|| drop(rt.health_blocking().expect("health")));
        let metrics = caches.timed(|| drop(rt.render_metrics_blocking().expect("metrics")));
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
