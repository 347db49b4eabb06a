//! Resident memory per recording thread and operation kind, from the OS, beside the peer that keeps
//! one `hdrhistogram::Histogram` per thread and kind (the same bounds and 3 significant digits).
//!
//! Each of `--threads` threads records `--samples` latencies into each of `--kinds` kinds of each of
//! `--monitors` monitors, log-uniform over 0.2-20 ms. With `--paced SECONDS` each thread instead
//! works for that long, one operation after another: it sleeps each latency, then records it into
//! the next of its series, as a thread whose operations take 0.2-20 ms would. Resident anonymous
//! memory (`RssAnon`) is read once every thread is running and has allocated, before any records,
//! and again with every thread still alive once all have recorded and every monitor has been
//! collected; then once more a collection later (the threads idle). A burst is also read once
//! recorded, before any collection (its monitors collect only when the example flushes them), which
//! is when a thread's cells hold the most: each collection that finds a thread between samples
//! takes its dense cells back. The growth is divided by threads x monitors x kinds. Each side runs in a process of its
//! own (this program starts itself once for each), so none sees another's memory, and so do the
//! same threads recording nothing, which shows that the threads' own memory is outside the
//! figures. The Prometheus client's cost per histogram series, which all threads share, is
//! measured the same way over 10,000 series.
//!
//!     cargo run --release --example thread_memory -- [--threads 16] [--monitors 4] [--kinds 2] [--samples 100000] [--paced SECONDS]

use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use watchkeeper::actors::process::ProcessStats;
use watchkeeper::{Config, Runtime};

mod support;
use support::latencies;

#[derive(Clone, Copy)]
struct Shape {
    threads: usize,
    monitors: usize,
    kinds: usize,
    samples: u64,
    /// Paced for this long instead of a burst of `samples`.
    paced: Option<Duration>,
}

/// Resident anonymous memory (`RssAnon`): what the program's allocations and mappings hold.
/// `VmRSS` also counts the pages of the program's code and libraries, which become resident as
/// code first runs (a third of a MiB here between two readings with nothing recorded in between).
fn resident() -> u64 {
    ProcessStats::read()
        .resident_anon_bytes
        .expect("RssAnon from /proc/self/status")
}

/// Drives one recording thread: `record(series, nanos)` for series `0..monitors x kinds`. In a
/// burst, `samples` rounds of one latency into every series; paced, for `paced` of wall time, one
/// operation after another, each sleeping its latency, then recorded into the next series in turn.
/// Returns the samples recorded.
fn drive(shape: Shape, thread: usize, mut record: impl FnMut(usize, u64)) -> u64 {
    let series = shape.monitors * shape.kinds;
    let mut next = latencies(thread as u64 + 1);
    let Some(run) = shape.paced else {
        for _ in 0..shape.samples {
            for s in 0..series {
                record(s, next());
            }
        }
        return shape.samples * series as u64;
    };
    let until = Instant::now() + run;
    let mut done = 0u64;
    while Instant::now() < until {
        let nanos = next();
        std::thread::sleep(Duration::from_nanos(nanos));
        record(done as usize % series, nanos);
        done += 1;
    }
    done
}

/// The growth of resident memory, and the samples recorded in all.
type Grown = (u64, u64);

/// The growth after the collection that reads the samples, the samples, the growth after the
/// next collection, and the growth before the first (a burst's samples all recorded, none
/// collected).
fn ours(shape: Shape) -> Result<(u64, u64, u64, u64), Box<dyn std::error::Error>> {
    let mut config = Config::default();
    config.deployment.admin_enabled = false;
    config.monitoring.monitors = Vec::new();
    if shape.paced.is_none() {
        // A burst is collected when the example says, not by the monitors' tick.
        config.monitoring.tick = Duration::from_secs(3600);
    }
    let rt = Runtime::start(config)?;
    let handles = (0..shape.monitors)
        .map(|m| rt.monitor(&format!("m{m}")))
        .collect::<Result<Vec<_>, _>>()?;
    let series = handles
        .iter()
        .flat_map(|h| (0..shape.kinds).map(move |k| (h, h.kind(&format!("k{k}")))))
        .map(|(h, k)| Ok((h, k.ok_or("kind refused")?)))
        .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
    rt.flush_blocking()?;
    std::thread::sleep(Duration::from_millis(200));
    let (before, read, samples) = run_threads(
        shape,
        |_| {
            |s, nanos| {
                let (h, k) = series[s];
                h.record(k, Duration::from_nanos(nanos));
            }
        },
        || -> Result<_, Box<dyn std::error::Error>> {
            let recorded = resident();
            rt.flush_blocking()?;
            let after = resident();
            // Nothing new since: whatever the collection before could not give back goes now.
            rt.flush_blocking()?;
            Ok((recorded, after, resident()))
        },
    );
    let (recorded, after, later) = read?;
    rt.shutdown_blocking(Duration::from_secs(10))?;
    Ok((
        after.saturating_sub(before),
        samples,
        later.saturating_sub(before),
        recorded.saturating_sub(before),
    ))
}

/// The same threads driven the same way, recording nothing: about nothing, which shows that the
/// threads' own memory is outside the other figures.
fn threads_alone(shape: Shape) -> Result<Grown, Box<dyn std::error::Error>> {
    let (before, after, samples) = run_threads(
        shape,
        |_| {
            |s, nanos| {
                std::hint::black_box((s, nanos));
            }
        },
        resident,
    );
    Ok((after.saturating_sub(before), samples))
}

/// Runs the shape's threads, each driven with the recorder `recorder(thread)` makes on it once
/// every thread has started, and reads resident memory while every thread is alive and waiting:
/// before any has made its recorder (each thread has allocated, as any working thread has), and
/// through `after` once all have recorded (a thread that ended first would leave its cells for a
/// later one to take over). Returns the first reading, what `after` returned, and the samples
/// recorded.
fn run_threads<R: FnMut(usize, u64), T>(
    shape: Shape,
    recorder: impl Fn(usize) -> R + Sync,
    after: impl FnOnce() -> T,
) -> (u64, T, u64) {
    let gate = || Barrier::new(shape.threads + 1);
    let (ready, go, done, end) = (gate(), gate(), gate(), gate());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..shape.threads)
            .map(|t| {
                let (recorder, ready, go, done, end) = (&recorder, &ready, &go, &done, &end);
                scope.spawn(move || {
                    std::hint::black_box(vec![t; 64]);
                    ready.wait();
                    go.wait();
                    let mut record = recorder(t);
                    let n = drive(shape, t, &mut record);
                    done.wait();
                    end.wait();
                    drop(record);
                    n
                })
            })
            .collect();
        ready.wait();
        let before = resident();
        go.wait();
        done.wait();
        let read = after();
        end.wait();
        let samples = workers
            .into_iter()
            .map(|w| w.join().expect("recording thread"))
            .sum();
        (before, read, samples)
    })
}

fn hdr(shape: Shape) -> Result<Grown, Box<dyn std::error::Error>> {
    let (before, after, samples) = run_threads(
        shape,
        |_| {
            let mut hists: Vec<hdrhistogram::Histogram<u64>> = (0..shape.monitors * shape.kinds)
                .map(|_| {
                    hdrhistogram::Histogram::new_with_bounds(1_000, 60_000_000_000, 3)
                        .expect("bounds")
                })
                .collect();
            move |s, nanos| hists[s].saturating_record(nanos)
        },
        resident,
    );
    Ok((after.saturating_sub(before), samples))
}

/// The Prometheus client's cost per histogram series (default buckets, one observation each), over
/// 10,000 series: it keeps one set of bucket counts per series, shared by every thread.
fn prometheus_series() -> Result<f64, Box<dyn std::error::Error>> {
    const SERIES: usize = 10_000;
    let before = resident();
    let series = (0..SERIES)
        .map(|i| {
            let h = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new(
                format!("latency_{i}_seconds"),
                "latency",
            ))?;
            h.observe(0.002);
            Ok(h)
        })
        .collect::<Result<Vec<_>, prometheus::Error>>()?;
    let after = resident();
    drop(series);
    Ok(after.saturating_sub(before) as f64 / SERIES as f64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut shape = Shape {
        threads: 16,
        monitors: 4,
        kinds: 2,
        samples: 100_000,
        paced: None,
    };
    let mut side = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--threads" => shape.threads = value()?.parse()?,
            "--monitors" => shape.monitors = value()?.parse()?,
            "--kinds" => shape.kinds = value()?.parse()?,
            "--samples" => shape.samples = value()?.parse()?,
            "--paced" => shape.paced = Some(Duration::from_secs(value()?.parse()?)),
            "--side" => side = Some(value()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let per =
        |grown: u64| grown as f64 / 1024.0 / (shape.threads * shape.monitors * shape.kinds) as f64;
    match side.as_deref() {
        Some("watchkeeper") => {
            let (grown, samples, later, recorded) = ours(shape)?;
            println!("{grown} {samples} {later} {recorded}");
        }
        Some("hdrhistogram") => {
            let (grown, samples) = hdr(shape)?;
            println!("{grown} {samples}");
        }
        Some("threads") => {
            let (grown, samples) = threads_alone(shape)?;
            println!("{grown} {samples}");
        }
        Some("prometheus") => println!("{}", prometheus_series()?),
        Some(other) => return Err(format!("unknown side {other}").into()),
        None => {
            let series = shape.threads * shape.monitors * shape.kinds;
            match shape.paced {
                None => println!(
                    "{} threads x {} monitors x {} kinds, {} samples each, log-uniform 0.2-20 ms:",
                    shape.threads, shape.monitors, shape.kinds, shape.samples
                ),
                Some(run) => println!(
                    "{} threads x {} monitors x {} kinds, paced for {} s (each thread sleeps each \
                     latency, log-uniform 0.2-20 ms, then records it into the next series):",
                    shape.threads,
                    shape.monitors,
                    shape.kinds,
                    run.as_secs()
                ),
            }
            for name in ["watchkeeper", "hdrhistogram", "threads"] {
                let mut side = Command::new(std::env::current_exe()?);
                side.args(["--side", name])
                    .args(["--threads", &shape.threads.to_string()])
                    .args(["--monitors", &shape.monitors.to_string()])
                    .args(["--kinds", &shape.kinds.to_string()])
                    .args(["--samples", &shape.samples.to_string()]);
                if let Some(run) = shape.paced {
                    side.args(["--paced", &run.as_secs().to_string()]);
                }
                let out = side.output()?;
                if !out.status.success() {
                    return Err(
                        format!("{name}: {}", String::from_utf8_lossy(&out.stderr).trim()).into(),
                    );
                }
                let text = String::from_utf8_lossy(&out.stdout);
                let mut fields = text.split_whitespace();
                let (Some(grown), Some(samples)) = (fields.next(), fields.next()) else {
                    return Err(format!("{name}: unexpected output {text:?}").into());
                };
                let (grown, samples): (u64, u64) = (grown.parse()?, samples.parse()?);
                let what = if name == "threads" {
                    "the same threads recording nothing: their own memory is outside the lines \
                     above"
                        .to_string()
                } else {
                    format!("{} samples each", samples / series as u64)
                };
                println!(
                    "  {:<13} resident +{:.1} MiB, {:.1} KiB per thread and kind ({what})",
                    if name == "threads" {
                        "threads alone"
                    } else {
                        name
                    },
                    grown as f64 / (1 << 20) as f64,
                    per(grown),
                );
                let recorded = if shape.paced.is_some() {
                    "once recorded, the monitors collecting every second"
                } else {
                    "recorded, before the first collection"
                };
                for what in ["a collection later, the threads idle", recorded] {
                    let Some(grown) = fields.next() else {
                        break;
                    };
                    let grown: u64 = grown.parse()?;
                    println!(
                        "  {:<13} resident +{:.1} MiB, {:.1} KiB per thread and kind ({what})",
                        "",
                        grown as f64 / (1 << 20) as f64,
                        per(grown),
                    );
                }
            }
            let out = Command::new(std::env::current_exe()?)
                .args(["--side", "prometheus"])
                .output()?;
            let per_series: f64 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
            println!(
                "  prometheus client histogram (default buckets, shared by all threads): {:.2} KiB per series",
                per_series / 1024.0
            );
        }
    }
    Ok(())
}
