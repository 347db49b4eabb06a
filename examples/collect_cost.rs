//! What one collection of a monitor costs after many threads' samples: each of `--threads` threads
//! records `--samples` latencies (log-uniform over 0.2-20 ms, a seeded generator per thread) into
//! one kind of one monitor, all wait, and `MonitorStore::collect` is timed; `--rounds` times, with
//! the threads kept alive throughout (a thread's slot and cells are its own while it lives). Past
//! 2,176 samples a thread's cells are dense, and each collection reads them a last time and gives
//! them back; below, the collector takes its samples out of the ring and the overflow.
//!
//!     cargo run --release --example collect_cost -- [--threads 16] [--samples 10000] [--rounds 30]

use std::sync::Barrier;
use std::time::{Duration, Instant};

use watchkeeper::actors::monitor::{MonitorStore, MonitoringConfig, OpKind};

mod support;
use support::latencies;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut threads, mut samples, mut rounds) = (16usize, 10_000u64, 30usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--threads" => threads = value()?.parse()?,
            "--samples" => samples = value()?.parse()?,
            "--rounds" => rounds = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if threads == 0 || rounds == 0 {
        return Err("--threads and --rounds must be at least 1".into());
    }
    let store = MonitorStore::new("collect_cost", &MonitoringConfig::default())?;
    // Every thread and the timer meet twice a round: once all have recorded, and once the
    // collection is done.
    let (recorded, collected) = (Barrier::new(threads + 1), Barrier::new(threads + 1));
    let mut times: Vec<Duration> = std::thread::scope(|scope| {
        for t in 0..threads {
            let (store, recorded, collected) = (&store, &recorded, &collected);
            scope.spawn(move || {
                let mut next = latencies(t as u64 + 1);
                for _ in 0..rounds {
                    for _ in 0..samples {
                        let nanos = next();
                        store
                            .recorder()
                            .record(OpKind::QUERY, Duration::from_nanos(nanos));
                    }
                    recorded.wait();
                    collected.wait();
                }
            });
        }
        (0..rounds)
            .map(|_| {
                recorded.wait();
                let started = Instant::now();
                store.collect();
                let took = started.elapsed();
                collected.wait();
                took
            })
            .collect()
    });
    times.sort_unstable();
    println!(
        "collect after {samples} samples in each of {threads} threads: median {:?} (min {:?}, max {:?}, {rounds} rounds)",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
    );
    Ok(())
}
