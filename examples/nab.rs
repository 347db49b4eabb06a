//! Runs the runtime's anomaly detector online over NAB-format CSVs and scores it the way the
//! Numenta Anomaly Benchmark does.
//!
//! `cargo run --release --example nab -- --data DIR --out DIR [--windows FILE]`
//!
//! Every `*.csv` under `--data` (recursively, columns `timestamp,value`) is scored value by value by a
//! fresh [`AnomalyDetector`] with the default settings — the same detector and settings as the
//! alerting actor's `anomaly` rules; one configuration for every file. Each result is written under
//! `--out` at the same relative path with columns `timestamp,value,anomaly_score`. With `--windows`
//! (NAB's `combined_windows.json`) it prints the standard, reward-low-FP and reward-low-FN scores,
//! each at the one corpus-wide threshold that maximises it.
//!
//! `--peer windowed-gaussian` scores with NAB's own baseline instead (a Gaussian over the last 6,400
//! values, refitted every 100; score 1 - Q(|z|)), to compare both on the same files and scorer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use watchkeeper::actors::detect::nab::{best_threshold, Labelled, WindowedGaussian, PROFILES};
use watchkeeper::actors::detect::{AnomalyDetector, AnomalySettings};

enum Detector {
    Runtime(AnomalyDetector),
    WindowedGaussian(WindowedGaussian),
}

impl Detector {
    fn score(&mut self, value: f64) -> f64 {
        match self {
            Detector::Runtime(d) => d.score(value),
            Detector::WindowedGaussian(d) => d.score(value),
        }
    }
}

struct Series {
    name: String,
    timestamps: Vec<String>,
    scores: Vec<f64>,
}

fn csv_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            csv_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "csv") {
            out.push(path);
        }
    }
}

/// `2014-04-01 00:00:00(.000000)` cut to seconds, comparable as text.
fn second(ts: &str) -> &str {
    &ts[..ts.len().min(19)]
}

fn main() {
    let mut data = None;
    let mut out = None;
    let mut windows_file = None;
    let mut peer = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            "--windows" => windows_file = args.next().map(PathBuf::from),
            "--peer" => match args.next().as_deref() {
                Some("windowed-gaussian") => peer = true,
                other => {
                    eprintln!("unknown peer {other:?}; the one there is: windowed-gaussian");
                    std::process::exit(2);
                }
            },
            other => {
                eprintln!(
                    "unknown argument `{other}`; usage: nab --data DIR --out DIR [--windows FILE] [--peer windowed-gaussian]"
                );
                std::process::exit(2);
            }
        }
    }
    let (Some(data), Some(out)) = (data, out) else {
        eprintln!("usage: nab --data DIR --out DIR [--windows FILE] [--peer windowed-gaussian]");
        std::process::exit(2);
    };
    let mut files = Vec::new();
    csv_files(&data, &mut files);
    if files.is_empty() {
        eprintln!("no CSV files under {}", data.display());
        std::process::exit(2);
    }
    let settings = AnomalySettings::default();
    let mut all = Vec::new();
    let (mut samples, started) = (0usize, Instant::now());
    let mut bytes = 0;
    for path in &files {
        let rel = path
            .strip_prefix(&data)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut detector = if peer {
            Detector::WindowedGaussian(WindowedGaussian::default())
        } else {
            Detector::Runtime(AnomalyDetector::new(settings))
        };
        let mut lines = vec!["timestamp,value,anomaly_score".to_owned()];
        let mut series = Series {
            name: rel.clone(),
            timestamps: Vec::new(),
            scores: Vec::new(),
        };
        for line in text.lines().skip(1) {
            let Some((ts, value)) = line.split_once(',') else {
                continue;
            };
            let value: f64 = value.trim().parse().unwrap_or(f64::NAN);
            let score = detector.score(value);
            samples += 1;
            lines.push(format!("{ts},{value},{score:.6}"));
            series.timestamps.push(second(ts).to_owned());
            series.scores.push(score);
        }
        if let Detector::Runtime(d) = &detector {
            bytes = bytes.max(d.bytes());
        }
        let target = out.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&target, lines.join("\n") + "\n").unwrap();
        all.push(series);
    }
    let elapsed = started.elapsed();
    let memory = if peer {
        String::new()
    } else {
        format!("; detector memory per metric {bytes} bytes")
    };
    println!(
        "{} files, {samples} values scored in {:.3} s ({:.2} µs per value){memory}",
        files.len(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / samples.max(1) as f64
    );
    println!("results written under {}", out.display());

    let Some(windows_file) = windows_file else {
        return;
    };
    let labels: BTreeMap<String, Vec<(String, String)>> =
        serde_json::from_str(&std::fs::read_to_string(&windows_file).expect("the windows file"))
            .expect("NAB windows JSON");
    let mut labelled = Vec::new();
    for s in &all {
        let Some(ws) = labels.get(&s.name) else {
            eprintln!("{}: no labels; not scored", s.name);
            continue;
        };
        let rows: Vec<(usize, usize)> = ws
            .iter()
            .filter_map(|(start, end)| {
                let l = s
                    .timestamps
                    .iter()
                    .position(|t| t.as_str() >= second(start))?;
                let r = s
                    .timestamps
                    .iter()
                    .rposition(|t| t.as_str() <= second(end))?;
                (l <= r).then_some((l, r))
            })
            .collect();
        labelled.push((s, rows));
    }
    let windows: usize = labelled.iter().map(|(_, w)| w.len()).sum();
    println!(
        "{} labelled files, {windows} anomaly windows",
        labelled.len()
    );
    let files: Vec<Labelled<'_>> = labelled
        .iter()
        .map(|(s, w)| (s.scores.as_slice(), w.as_slice()))
        .collect();
    for p in &PROFILES {
        let best = best_threshold(&files, p);
        println!(
            "{:<14} score {:6.2}  (threshold {:.6}, raw {:.3})",
            p.name, best.normalized, best.threshold, best.raw
        );
    }
}
