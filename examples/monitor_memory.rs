//! Resident memory per monitor, from the OS: a runtime with no monitors, then N monitors that each
//! record one sample (on this thread) and are collected; the growth of `VmRSS` divided by N.
//!
//!     cargo run --release --example monitor_memory -- [--monitors 1000] [--samples 1] [--settle SECONDS]

use std::time::Duration;

use watchkeeper::actors::process::ProcessStats;
use watchkeeper::{Config, Runtime};

fn resident() -> u64 {
    ProcessStats::read()
        .resident_bytes
        .expect("VmRSS from /proc/self/status")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut monitors = 1000usize;
    let mut settle = 0u64;
    let mut samples = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--monitors" => monitors = args.next().ok_or("--monitors needs a value")?.parse()?,
            "--settle" => settle = args.next().ok_or("--settle needs seconds")?.parse()?,
            "--samples" => samples = args.next().ok_or("--samples needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut config = Config::default();
    config.deployment.admin_enabled = false;
    config.monitoring.monitors = Vec::new();
    config.monitoring.max_monitors = monitors;
    let rt = Runtime::start(config)?;
    rt.flush_blocking()?;
    std::thread::sleep(Duration::from_millis(200));
    let before = resident();
    for i in 0..monitors {
        let handle = rt.monitor(&format!("m{i}"))?;
        for s in 0..samples {
            handle.record_query(Duration::from_micros(100 + i as u64 + s));
        }
    }
    rt.flush_blocking()?;
    // Statistics read once for every monitor, as rules and the status page do.
    for i in 0..monitors {
        rt.monitor(&format!("m{i}"))?.stats_blocking()?;
    }
    // With `--settle`, the monitors tick on (idle) until their windows are full.
    std::thread::sleep(Duration::from_millis(200) + Duration::from_secs(settle));
    let after = resident();
    let per = after.saturating_sub(before) / monitors as u64;
    println!(
        "{monitors} monitors with {samples} samples each, {settle} s after: resident {:.1} -> {:.1} MiB, {:.1} KiB per monitor",
        before as f64 / (1 << 20) as f64,
        after as f64 / (1 << 20) as f64,
        per as f64 / 1024.0
    );
    rt.shutdown_blocking(Duration::from_secs(10))?;
    Ok(())
}
