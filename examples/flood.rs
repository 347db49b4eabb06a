//! Ten million messages from two threads at one actor's bounded mailbox: senders never wait, every
//! message is delivered or counted as refused, and resident memory stays put.
//! `cargo run --release --example flood -- [--messages N]`

use std::time::{Duration, Instant};

use watchkeeper::actors::monitor::SetWindow;
use watchkeeper::actors::process::ProcessStats;
use watchkeeper::actors::SendError;
use watchkeeper::{Config, Runtime};

fn main() {
    let mut messages: u64 = 10_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--messages" {
            messages = args.next().and_then(|v| v.parse().ok()).unwrap_or(messages);
        }
    }
    let mut config = Config::default();
    config.deployment.admin_enabled = false;
    let rt = Runtime::start(config).expect("runtime starts");
    let actor = rt.monitor("search").expect("a monitor").actor().clone();
    let rss = || ProcessStats::read().resident_bytes.unwrap_or(0);
    let before = rss();
    let started = Instant::now();
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let a = actor.clone();
            std::thread::spawn(move || {
                let (mut refused, mut slowest) = (0u64, Duration::ZERO);
                for _ in 0..messages / 2 {
                    let t = Instant::now();
                    if let Err(SendError::Full { .. }) = a.tell(SetWindow(60)) {
                        refused += 1;
                    }
                    slowest = slowest.max(t.elapsed());
                }
                (refused, slowest)
            })
        })
        .collect();
    let results: Vec<(u64, Duration)> = senders
        .into_iter()
        .map(|s| s.join().expect("sender"))
        .collect();
    let sent_in = started.elapsed();
    while actor.mailbox_stats().depth > 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let after = rss();
    let stats = actor.mailbox_stats();
    let kind = stats
        .kinds
        .iter()
        .find(|k| k.kind == "SetWindow")
        .expect("counted");
    let refused: u64 = results.iter().map(|r| r.0).sum();
    let slowest = results.iter().map(|r| r.1).max().unwrap_or_default();
    println!(
        "messages sent:        {messages} in {:.3} s ({:.1} M/s from 2 threads)",
        sent_in.as_secs_f64(),
        messages as f64 / sent_in.as_secs_f64() / 1e6
    );
    println!("delivered:            {}", kind.enqueued);
    println!(
        "refused (counted):    {} (senders told: {refused})",
        kind.rejected
    );
    println!(
        "accounted for:        {}",
        kind.enqueued + kind.rejected == messages
    );
    println!(
        "mailbox high water:   {} of {}",
        stats.high_water, stats.capacity
    );
    println!("slowest single send:  {slowest:?}");
    println!(
        "resident memory:      {before} -> {after} bytes ({:+.3} MiB)",
        (after as f64 - before as f64) / 1048576.0
    );
    let _ = rt.shutdown_blocking(Duration::from_secs(5));
}
