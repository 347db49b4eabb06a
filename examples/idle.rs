//! What an idle runtime costs: the default configuration (admin server on a free port), a few
//! threads that record a burst and then stop, and the process's own CPU time read from
//! `/proc/self/stat` over a quiet stretch.
//!
//!     cargo run --release --example idle -- [--seconds 60] [--config FILE]

use std::time::{Duration, Instant};

use watchkeeper::{Config, Runtime};

/// The process's user plus system CPU time, as the process monitor reads it (`/proc/self/stat`).
fn cpu_time() -> Duration {
    watchkeeper::actors::process::ProcessStats::read()
        .cpu_time
        .expect("CPU time from /proc/self/stat")
}

/// Each thread's name and CPU clock ticks so far, from `/proc/self/task`.
fn thread_ticks() -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = task.path();
        let (Ok(stat), Ok(name)) = (
            std::fs::read_to_string(path.join("stat")),
            std::fs::read_to_string(path.join("comm")),
        ) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks = fields
            .get(11)
            .and_then(|u| u.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
        out.push((
            format!("{} ({})", name.trim(), task.file_name().to_string_lossy()),
            ticks,
        ));
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut seconds = 60u64;
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().ok_or("--seconds needs a value")?.parse()?,
            "--config" => {
                let path = args.next().ok_or("--config needs a file")?;
                config = Config::from_file(&path)?;
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    config.deployment.health_check_port = 0;
    let rt = Runtime::start(config)?;
    // A burst of work on two threads, then nothing: the threads keep their cells.
    std::thread::scope(|s| {
        for name in ["search", "index"] {
            let handle = rt.monitor(name).unwrap();
            s.spawn(move || {
                for i in 0..100_000u64 {
                    handle.record_query(Duration::from_micros(100 + i % 900));
                }
            });
        }
    });
    std::thread::sleep(Duration::from_secs(5));
    let (cpu_before, wall_before, threads_before) = (cpu_time(), Instant::now(), thread_ticks());
    std::thread::sleep(Duration::from_secs(seconds));
    let (cpu, wall) = (cpu_time() - cpu_before, wall_before.elapsed());
    for (name, ticks) in thread_ticks() {
        let before = threads_before
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, t)| *t);
        if ticks > before {
            println!("  thread {name}: {} clock ticks", ticks - before);
        }
    }
    println!(
        "idle for {:.1} s: {:.1} ms of CPU, {:.3} % of one core",
        wall.as_secs_f64(),
        cpu.as_secs_f64() * 1000.0,
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
    );
    rt.shutdown_blocking(Duration::from_secs(5))?;
    Ok(())
}
