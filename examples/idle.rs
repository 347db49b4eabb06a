//! What an idle runtime costs: the default configuration (admin server on a free port), monitors
//! that two threads fill with a burst and then leave alone, and over a quiet stretch each thread's
//! time on a CPU and wake-ups (`/proc/self/task/*/schedstat` and `status`) beside the process's CPU
//! time from `/proc/self/stat`. The thread that measures (this one, asleep) is left out.
//!
//!     cargo run --release --example idle -- [--seconds 60] [--monitors 2] [--config FILE]

use std::time::{Duration, Instant};

use watchkeeper::{Config, Runtime};

/// The process's user plus system CPU time, as the process monitor reads it (`/proc/self/stat`).
fn cpu_time() -> Duration {
    watchkeeper::actors::process::ProcessStats::read()
        .cpu_time
        .expect("CPU time from /proc/self/stat")
}

/// What one thread has cost so far.
struct ThreadCost {
    name: String,
    /// Time on a CPU, nanoseconds: the scheduler's own count (`/proc/self/task/*/schedstat`),
    /// exact where `/proc/self/stat` counts whole clock ticks.
    run_ns: u64,
    /// Times it went to sleep of its own accord: its wake-ups.
    wakeups: u64,
}

/// Every thread's cost so far, from `/proc/self/task`, but the calling thread's.
fn thread_costs() -> Vec<ThreadCost> {
    let me = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_owned()));
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        if Some(task.file_name()) == me {
            continue;
        }
        let path = task.path();
        let (Ok(schedstat), Ok(status), Ok(name)) = (
            std::fs::read_to_string(path.join("schedstat")),
            std::fs::read_to_string(path.join("status")),
            std::fs::read_to_string(path.join("comm")),
        ) else {
            continue;
        };
        let run_ns = schedstat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let wakeups = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        out.push(ThreadCost {
            name: format!("{} ({})", name.trim(), task.file_name().to_string_lossy()),
            run_ns,
            wakeups,
        });
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut seconds, mut monitors) = (60u64, 2usize);
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().ok_or("--seconds needs a value")?.parse()?,
            "--monitors" => monitors = args.next().ok_or("--monitors needs a value")?.parse()?,
            "--config" => {
                let path = args.next().ok_or("--config needs a file")?;
                config = Config::from_file(&path)?;
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if monitors == 0 {
        return Err("--monitors needs at least 1".into());
    }
    config.deployment.health_check_port = 0;
    config.monitoring.max_monitors = config.monitoring.max_monitors.max(monitors + 8);
    let rt = Runtime::start(config)?;
    // A burst of work on two threads over every monitor, then nothing: the threads keep their
    // cells.
    let handles: Vec<_> = (0..monitors)
        .map(|i| rt.monitor(&format!("monitor_{i}")))
        .collect::<Result<_, _>>()?;
    std::thread::scope(|s| {
        for _ in 0..2 {
            let handles = &handles;
            s.spawn(move || {
                for i in 0..100_000u64 {
                    let handle = &handles[i as usize % handles.len()];
                    handle.record_query(Duration::from_micros(100 + i % 900));
                }
            });
        }
    });
    std::thread::sleep(Duration::from_secs(5));
    let (cpu_before, wall_before, threads_before) = (cpu_time(), Instant::now(), thread_costs());
    std::thread::sleep(Duration::from_secs(seconds));
    let (cpu, wall, threads) = (
        cpu_time() - cpu_before,
        wall_before.elapsed(),
        thread_costs(),
    );
    let secs = wall.as_secs_f64();
    let (mut run_ns, mut wakeups) = (0, 0);
    for t in &threads {
        let before = threads_before.iter().find(|b| b.name == t.name);
        let ran = t.run_ns - before.map_or(0, |b| b.run_ns);
        let woke = t.wakeups - before.map_or(0, |b| b.wakeups);
        (run_ns, wakeups) = (run_ns + ran, wakeups + woke);
        if ran > 0 {
            println!(
                "  thread {}: {:.3} ms on a CPU, {} wake-ups ({:.1} a second, {:.0} µs each)",
                t.name,
                ran as f64 / 1e6,
                woke,
                woke as f64 / secs,
                ran as f64 / 1e3 / woke.max(1) as f64
            );
        }
    }
    println!(
        "idle for {secs:.1} s: {:.3} ms on a CPU, {:.3} % of one core, {:.1} wake-ups a second (schedstat)",
        run_ns as f64 / 1e6,
        100.0 * run_ns as f64 / 1e9 / secs,
        wakeups as f64 / secs
    );
    println!(
        "idle for {secs:.1} s: {:.1} ms of CPU, {:.3} % of one core (/proc/self/stat, whole clock ticks)",
        cpu.as_secs_f64() * 1000.0,
        100.0 * cpu.as_secs_f64() / secs
    );
    rt.shutdown_blocking(Duration::from_secs(5))?;
    Ok(())
}
