//! Records 100 million samples from two threads, then floods the alerting actor with 100,000 alerts
//! (each raised and resolved), and shows resident memory, and after the samples the bytes glibc
//! counts as allocated, before and after each phase's warm-up.
//! `cargo run --release --example memory_soak -- [--samples N] [--alerts N]`
//!
//! The monitors collect every 10 ms with a 60-interval window, so the window is full long before the
//! warm-up ends; after it, nothing the runtime holds should grow.

use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use watchkeeper::actors::alerting::{AlertSeverity, GetAlertingStatus, SetExternalAlert};
use watchkeeper::actors::memory::GetFootprint;
use watchkeeper::actors::process::ProcessStats;
use watchkeeper::actors::SendError;
use watchkeeper::{Config, Runtime};

fn rss() -> u64 {
    ProcessStats::read().resident_bytes.unwrap_or(0)
}

/// Bytes the program holds allocated, by glibc's count over all its arenas (`mallinfo2`: in use
/// in the arenas plus in blocks mapped on their own); `None` off glibc. Beside resident memory it
/// tells memory the program holds from memory the allocator keeps after it was freed.
fn allocated() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's statistics.
        let m = unsafe { libc::mallinfo2() };
        Some((m.uordblks + m.hblkhd) as u64)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

fn main() {
    let mut samples: u64 = 100_000_000;
    let mut alerts: u64 = 100_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--samples" => samples = args.next().and_then(|v| v.parse().ok()).unwrap_or(samples),
            "--alerts" => alerts = args.next().and_then(|v| v.parse().ok()).unwrap_or(alerts),
            _ => {}
        }
    }
    let mut config = Config::default();
    config.monitoring.tick = Duration::from_millis(10);
    config.deployment.admin_enabled = false;
    // Every flood alert is its own group, notified at once: the notification path (rate limit and
    // its folding included) is flooded too.
    config.alerting.group_by = vec!["alertname".into(), "n".into()];
    config.alerting.group_wait = Duration::ZERO;
    let rt = Runtime::start(config).expect("runtime starts");
    let search = rt.monitor("search").expect("a monitor");
    let threads = 2u64;
    let per_thread = samples / threads;
    let warmup = per_thread / 10;

    let record = |from: u64, to: u64| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let h = search.clone();
                std::thread::spawn(move || {
                    for i in from..to {
                        // Latencies spread over 1 µs .. ~4.3 s, touching many buckets.
                        let nanos = 1_000 + ((i ^ t).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32);
                        h.record_query(Duration::from_nanos(nanos));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("recording thread");
        }
    };

    // Warm-up: every bucket touched, the window filled.
    record(0, warmup);
    std::thread::sleep(Duration::from_millis(800));
    let before = rss();
    let allocated_before = allocated();
    let footprint_before = search
        .actor()
        .ask_blocking(GetFootprint, Duration::from_secs(2))
        .expect("footprint");
    let start = Instant::now();
    // Same threads' work continues on new threads: their slots are reused.
    record(warmup, per_thread);
    let elapsed = start.elapsed();
    std::thread::sleep(Duration::from_millis(800));
    let after = rss();
    let allocated_after = allocated();
    let footprint_after = search
        .actor()
        .ask_blocking(GetFootprint, Duration::from_secs(2))
        .expect("footprint");
    let stats = search.stats_blocking().expect("stats");

    println!("samples recorded:      {}", stats.total_queries);
    println!(
        "recording rate:        {:.0} M samples/s ({threads} threads)",
        (per_thread - warmup) as f64 * threads as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!(
        "monitor footprint:     {} -> {} bytes",
        footprint_before.bytes, footprint_after.bytes
    );
    println!(
        "resident memory:       {} -> {} bytes after warm-up",
        before, after
    );
    println!(
        "growth after warm-up:  {} bytes ({:.3} MiB)",
        after as i64 - before as i64,
        (after as f64 - before as f64) / 1048576.0
    );
    if let (Some(b), Some(a)) = (allocated_before, allocated_after) {
        println!(
            "allocated (glibc):     {b} -> {a} bytes after warm-up, {} bytes ({:.3} MiB)",
            a as i64 - b as i64,
            (a as f64 - b as f64) / 1048576.0
        );
    }
    // The alert flood: every alert raised and resolved; history is bounded, notifications beyond the
    // rate limit are folded, and a full outbox is counted, never queued without bound.
    let alerting = rt.alerting().clone();
    let flood = |from: u64, to: u64| {
        for i in from..to {
            for firing in [true, false] {
                let mut msg = SetExternalAlert {
                    name: "Flood".into(),
                    severity: AlertSeverity::Warning,
                    labels: BTreeMap::from([("n".to_owned(), i.to_string())]),
                    annotations: BTreeMap::new(),
                    value: Some(i as f64),
                    threshold: 0.0,
                    firing,
                };
                // A full mailbox refuses at once; wait for room.
                while let Err(SendError::Full { .. }) = alerting.tell(msg.clone()) {
                    std::thread::sleep(Duration::from_micros(200));
                    msg.value = Some(i as f64);
                }
            }
        }
    };
    let warm = alerts / 10;
    flood(0, warm);
    std::thread::sleep(Duration::from_millis(500));
    let before_flood = rss();
    let start = Instant::now();
    flood(warm, alerts);
    let flood_took = start.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let after_flood = rss();
    let status = alerting
        .ask_blocking(GetAlertingStatus, Duration::from_secs(5))
        .expect("alerting status");
    println!(
        "alerts raised:         {} ({:.0} alerts/s, each raised and resolved)",
        status.fired_total,
        (alerts - warm) as f64 / flood_took.as_secs_f64()
    );
    println!("alert history kept:    {} (bounded)", status.history);
    println!(
        "notifications:         {:?} delivered, {:?} failed, {:?} folded by the rate limit",
        status.delivered, status.failed, status.rate_limited
    );
    println!(
        "resident memory:       {} -> {} bytes after the alert warm-up",
        before_flood, after_flood
    );
    println!(
        "growth after warm-up:  {} bytes ({:.3} MiB)",
        after_flood as i64 - before_flood as i64,
        (after_flood as f64 - before_flood as f64) / 1048576.0
    );
    let _ = rt.shutdown_blocking(Duration::from_secs(5));
    if stats.total_queries != per_thread * threads {
        eprintln!("count mismatch: expected {}", per_thread * threads);
        std::process::exit(1);
    }
}
