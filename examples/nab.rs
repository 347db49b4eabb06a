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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use watchkeeper::actors::detect::{AnomalyDetector, AnomalySettings};

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

/// NAB's scaled sigmoid.
fn sigmoid(y: f64) -> f64 {
    if y > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * y).exp()) - 1.0
    }
}

struct Profile {
    name: &'static str,
    tp: f64,
    fp: f64,
    fn_: f64,
}

const PROFILES: [Profile; 3] = [
    Profile {
        name: "standard",
        tp: 1.0,
        fp: 0.11,
        fn_: 1.0,
    },
    Profile {
        name: "reward_low_FP",
        tp: 1.0,
        fp: 0.22,
        fn_: 1.0,
    },
    Profile {
        name: "reward_low_FN",
        tp: 1.0,
        fp: 0.11,
        fn_: 2.0,
    },
];

/// One file's score at `threshold`: windows as row ranges `[l, r]`.
fn score_file(scores: &[f64], windows: &[(usize, usize)], threshold: f64, p: &Profile) -> f64 {
    let probation = ((scores.len() as f64 * 0.15) as usize).min(750);
    let detected = |i: usize| i >= probation && scores[i] >= threshold;
    let mut total = 0.0;
    for &(l, r) in windows {
        let width = (r - l + 1) as f64;
        match (l..=r).find(|&i| detected(i)) {
            Some(i) => total += p.tp * sigmoid(-((r - i + 1) as f64) / width) / sigmoid(-1.0),
            None => total -= p.fn_,
        }
    }
    for i in (0..scores.len()).filter(|&i| detected(i)) {
        if windows.iter().any(|&(l, r)| (l..=r).contains(&i)) {
            continue;
        }
        match windows.iter().rfind(|&&(_, r)| r < i) {
            Some(&(l, r)) => {
                let width = (r - l + 1) as f64;
                total += p.fp * sigmoid((i - r) as f64 / (width - 1.0).max(1.0));
            }
            None => total -= p.fp,
        }
    }
    total
}

fn main() {
    let mut data = None;
    let mut out = None;
    let mut windows_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            "--windows" => windows_file = args.next().map(PathBuf::from),
            other => {
                eprintln!(
                    "unknown argument `{other}`; usage: nab --data DIR --out DIR [--windows FILE]"
                );
                std::process::exit(2);
            }
        }
    }
    let (Some(data), Some(out)) = (data, out) else {
        eprintln!("usage: nab --data DIR --out DIR [--windows FILE]");
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
        let mut detector = AnomalyDetector::new(settings);
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
        bytes = bytes.max(detector.bytes());
        let target = out.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&target, lines.join("\n") + "\n").unwrap();
        all.push(series);
    }
    let elapsed = started.elapsed();
    println!(
        "{} files, {samples} values scored in {:.3} s ({:.2} µs per value); detector memory per metric {bytes} bytes",
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
    for p in &PROFILES {
        let mut best = (f64::NEG_INFINITY, 0.0);
        // Hundredths up to 0.99, then ten-thousandths: detectors that rank put their decisions there.
        let thresholds = (1..99)
            .map(|i| i as f64 / 100.0)
            .chain((0..=100).map(|i| 0.99 + i as f64 / 10_000.0));
        for threshold in thresholds {
            let total: f64 = labelled
                .iter()
                .map(|(s, w)| score_file(&s.scores, w, threshold, p))
                .sum();
            if total > best.0 {
                best = (total, threshold);
            }
        }
        let null = -p.fn_ * windows as f64;
        let perfect = p.tp * windows as f64;
        let normalized = 100.0 * (best.0 - null) / (perfect - null);
        println!(
            "{:<14} score {normalized:6.2}  (threshold {:.4}, raw {:.3})",
            p.name, best.1, best.0
        );
    }
}
