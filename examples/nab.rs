//! Runs the runtime's anomaly detector online over NAB-format CSVs and scores it the way the
//! Numenta Anomaly Benchmark does.
//!
//! `cargo run --release --example nab -- --data DIR --out DIR [--windows FILE] [--cross-validate
//! [--choose-settings]] [--rank-settings] [--sensitivity] [--settings RON] [--resample K] [--flat-top] [--peer
//! windowed-gaussian]`
//!
//! Every `*.csv` under `--data` (recursively, columns `timestamp,value`) is scored value by value by a
//! fresh [`NoveltyDetector`] with the default settings — the same detector and settings as the
//! alerting actor's `anomaly` rules; one configuration for every file. Each result is written under
//! `--out` at the same relative path with columns `timestamp,value,anomaly_score`. With `--windows`
//! (NAB's `combined_windows.json`) it prints the standard, reward-low-FP and reward-low-FN scores,
//! each at the one corpus-wide threshold that maximises it.
//!
//! `--cross-validate` also scores the files with thresholds that were not chosen on them: for each
//! fold the three thresholds are chosen on the training files and carried to the test files, whose
//! raw scores are pooled. Folds: leave one file out; artificial files to real ones and back; five
//! random halvings (seeds 1 to 5), each used both ways.
//!
//! `--choose-settings` (with `--cross-validate`) lets each fold choose the settings too: among the
//! candidates of [`candidates`] (81 with the default settings), the one whose best threshold
//! scores highest on the training files, carried with that threshold to the test files. It prints
//! the same three rows, how often each candidate was chosen, and for leave-one-out (standard
//! profile) the settings each file's training set chose and the file's raw score with them and
//! with the settings given.
//!
//! `--settings RON` replaces some of the detector's settings, e.g. `"(coarse: 0)"` to score without
//! the coarse scale: what each part of the design is worth (README, "Detection").
//!
//! `--resample K` reads every file as the means of each `K` consecutive values (stamped with the
//! first one's time; a last, incomplete group is left out): the same series at a `K` times coarser
//! sampling, scored against the same windows.
//!
//! `--rank-settings` scores each of the candidates of [`candidates`] at its best corpus-wide
//! threshold (standard profile) on the files as read and resampled by 2 and by 3, and prints the
//! ten with the best mean of the three, where the settings given stand, and the best candidate
//! of each column and of the mean of the two resamplings alone: settings that hold on series
//! sampled differently are less likely to be fitted to these files' sampling. It reads the files
//! as they are (not with `--resample`).
//!
//! `--sensitivity` changes one setting at a time by -20 %, -10 %, +10 % and +20 % (whole numbers
//! rounded; a change of `calibration` moves `fire_at` with it, so the rest starts at the same
//! share of ranks) and prints, for each, the standard score at its best threshold and with
//! thresholds carried leave-one-out: how far the figures move when a setting moves a little, so
//! how much of them the files' particulars decide.
//!
//! `--flat-top` counts every score in the detector's top bin (above 0.999, where it grades how far a
//! value goes past the ordinary) as 1, as the lab's version of the detector scored: at thresholds
//! up to 0.999 that changes no detection.
//!
//! `--peer windowed-gaussian` scores with NAB's own baseline instead (a Gaussian over the last 6,400
//! values, refitted every 100; score 1 - Q(|z|)), to compare both on the same files and scorer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use watchkeeper::actors::detect::nab::{
    best_threshold, score_file, Labelled, Profile, WindowedGaussian, PROFILES,
};
use watchkeeper::actors::detect::{NoveltyDetector, NoveltySettings};

const USAGE: &str = "usage: nab --data DIR --out DIR [--windows FILE] [--cross-validate [--choose-settings]] [--rank-settings] [--sensitivity] [--settings RON] [--resample K] [--flat-top] [--peer windowed-gaussian]";

enum Detector {
    Runtime(Box<NoveltyDetector>),
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

struct Args {
    data: PathBuf,
    out: PathBuf,
    windows: Option<PathBuf>,
    cross_validate: bool,
    choose_settings: bool,
    rank_settings: bool,
    sensitivity: bool,
    settings: NoveltySettings,
    resample: usize,
    flat_top: bool,
    peer: bool,
}

struct Series {
    name: String,
    timestamps: Vec<String>,
    values: Vec<f64>,
    scores: Vec<f64>,
}

/// A labelled series: one detector's scores of it and its windows as row ranges.
#[derive(Clone)]
struct LabelledSeries<'a> {
    name: &'a str,
    values: &'a [f64],
    scores: &'a [f64],
    windows: Vec<(usize, usize)>,
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let (mut data, mut out, mut windows) = (None, None, None);
    let (mut cross_validate, mut flat_top, mut peer) = (false, false, false);
    let (mut choose_settings, mut rank_settings, mut resample) = (false, false, 1);
    let mut sensitivity = false;
    let mut settings = NoveltySettings::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            "--windows" => windows = args.next().map(PathBuf::from),
            "--cross-validate" => cross_validate = true,
            "--choose-settings" => choose_settings = true,
            "--rank-settings" => rank_settings = true,
            "--sensitivity" => sensitivity = true,
            "--resample" => {
                let text = args.next().unwrap_or_default();
                resample = text.parse().ok().filter(|&k| k >= 1).unwrap_or_else(|| {
                    fail(&format!(
                        "--resample {text}: must be a whole number, 1 or more"
                    ))
                });
            }
            "--flat-top" => flat_top = true,
            "--settings" => {
                let text = args.next().unwrap_or_default();
                settings = ron::from_str(&text)
                    .unwrap_or_else(|e| fail(&format!("--settings {text}: {e}")));
                if let Some(problem) = settings.problem() {
                    fail(&format!("--settings {text}: {problem}"));
                }
            }
            "--peer" => match args.next().as_deref() {
                Some("windowed-gaussian") => peer = true,
                other => fail(&format!(
                    "unknown peer {other:?}; the one there is: windowed-gaussian"
                )),
            },
            other => fail(&format!("unknown argument `{other}`; {USAGE}")),
        }
    }
    let (Some(data), Some(out)) = (data, out) else {
        fail(USAGE)
    };
    if cross_validate && windows.is_none() {
        fail("--cross-validate needs --windows");
    }
    if choose_settings && !cross_validate {
        fail("--choose-settings needs --cross-validate");
    }
    if rank_settings && (windows.is_none() || peer || resample > 1) {
        fail(
            "--rank-settings ranks the runtime detector's settings on the files as they are and \
             resampled: it needs --windows, and takes no peer and no --resample",
        );
    }
    if sensitivity && (windows.is_none() || peer) {
        fail("--sensitivity changes the runtime detector's settings: it needs --windows, and takes no peer");
    }
    if choose_settings && peer {
        fail("--choose-settings chooses the runtime detector's settings; it has no peer");
    }
    Args {
        data,
        out,
        windows,
        cross_validate,
        choose_settings,
        rank_settings,
        sensitivity,
        settings,
        resample,
        flat_top,
        peer,
    }
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

/// The means of each `k` consecutive values; a last, incomplete group is left out.
fn means(values: &[f64], k: usize) -> Vec<f64> {
    values
        .chunks_exact(k)
        .map(|group| group.iter().sum::<f64>() / k as f64)
        .collect()
}

/// Which of `0..n` scores highest, the first of equals: candidates list the settings given first,
/// so a tie keeps them.
fn first_best(n: usize, score: impl Fn(usize) -> f64) -> usize {
    (0..n).fold(0, |best, c| if score(c) > score(best) { c } else { best })
}

/// A fresh detector's scores of `values` with `settings` (the top bin counted as 1 with
/// `flat_top`): how the candidates of `--choose-settings` and `--rank-settings` are scored.
fn scores_with(settings: NoveltySettings, values: &[f64], flat_top: bool) -> Vec<f64> {
    let mut detector = NoveltyDetector::new(settings);
    let mut scores: Vec<f64> = values.iter().map(|&v| detector.score(v)).collect();
    if flat_top {
        flatten_top(&mut scores, settings.top_bin());
    }
    scores
}

/// `labelled` with other scores of the same values, one per file.
fn rescored<'a>(
    labelled: &[LabelledSeries<'a>],
    scores: &'a [Vec<f64>],
) -> Vec<LabelledSeries<'a>> {
    labelled
        .iter()
        .zip(scores)
        .map(|(l, s)| LabelledSeries {
            scores: s,
            ..l.clone()
        })
        .collect()
}

/// Counts every score above `top` (the detector's top bin) as 1 (`--flat-top`).
fn flatten_top(scores: &mut [f64], top: f64) {
    scores
        .iter_mut()
        .filter(|s| **s > top)
        .for_each(|s| *s = 1.0);
}

/// `2014-04-01 00:00:00(.000000)` cut to seconds, comparable as text.
fn second(ts: &str) -> &str {
    &ts[..ts.len().min(19)]
}

/// Scores every file with a fresh detector, writes the results, and prints the cost.
fn score_files(args: &Args, files: &[PathBuf]) -> Vec<Series> {
    let mut all = Vec::new();
    let (mut values, mut elapsed, mut bytes) = (0usize, 0.0, 0);
    for path in files {
        let rel = path
            .strip_prefix(&args.data)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rows: Vec<(&str, f64)> = text
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(','))
            .map(|(ts, value)| (ts, value.trim().parse().unwrap_or(f64::NAN)))
            .collect();
        let rows: Vec<(&str, f64)> = if args.resample > 1 {
            let values: Vec<f64> = rows.iter().map(|&(_, v)| v).collect();
            rows.iter()
                .step_by(args.resample)
                .zip(means(&values, args.resample))
                .map(|(&(ts, _), mean)| (ts, mean))
                .collect()
        } else {
            rows
        };
        let mut detector = if args.peer {
            Detector::WindowedGaussian(WindowedGaussian::default())
        } else {
            Detector::Runtime(Box::new(NoveltyDetector::new(args.settings)))
        };
        // only the detector is timed: parsing and writing are not what a rule pays
        let started = Instant::now();
        let mut scores: Vec<f64> = rows.iter().map(|&(_, v)| detector.score(v)).collect();
        elapsed += started.elapsed().as_secs_f64();
        if let (true, Detector::Runtime(d)) = (args.flat_top, &detector) {
            flatten_top(&mut scores, d.settings().top_bin());
        }
        values += rows.len();
        if let Detector::Runtime(d) = &detector {
            bytes = bytes.max(d.bytes());
        }
        let mut lines = vec!["timestamp,value,anomaly_score".to_owned()];
        lines.extend(
            rows.iter()
                .zip(&scores)
                .map(|((ts, value), score)| format!("{ts},{value},{score:.6}")),
        );
        let target = args.out.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&target, lines.join("\n") + "\n").unwrap();
        all.push(Series {
            name: rel,
            timestamps: rows.iter().map(|(ts, _)| second(ts).to_owned()).collect(),
            values: rows.iter().map(|&(_, v)| v).collect(),
            scores,
        });
    }
    let memory = if args.peer {
        String::new()
    } else {
        format!("; detector memory per metric {bytes} bytes")
    };
    println!(
        "{} files, {values} values scored in {elapsed:.3} s ({:.2} µs per value){memory}",
        files.len(),
        elapsed * 1e6 / values.max(1) as f64
    );
    println!("results written under {}", args.out.display());
    all
}

/// The series that have windows in `windows_file`, with the windows as row ranges.
fn label<'a>(all: &'a [Series], windows_file: &Path) -> Vec<LabelledSeries<'a>> {
    let text = std::fs::read_to_string(windows_file)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", windows_file.display())));
    let labels: BTreeMap<String, Vec<(String, String)>> = serde_json::from_str(&text)
        .unwrap_or_else(|e| {
            fail(&format!(
                "{}: not NAB's windows JSON: {e}",
                windows_file.display()
            ))
        });
    let mut labelled = Vec::new();
    for s in all {
        let Some(ws) = labels.get(&s.name) else {
            eprintln!("{}: no labels; not scored", s.name);
            continue;
        };
        let windows = ws
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
        labelled.push(LabelledSeries {
            name: &s.name,
            values: &s.values,
            scores: &s.scores,
            windows,
        });
    }
    labelled
}

fn scored<'a>(labelled: &'a [LabelledSeries<'_>], pick: &[usize]) -> Vec<Labelled<'a>> {
    pick.iter()
        .map(|&i| {
            let l = &labelled[i];
            (l.scores, l.windows.as_slice())
        })
        .collect()
}

/// A fold: the files thresholds are chosen on, and the files scored with them.
struct Fold {
    train: Vec<usize>,
    test: Vec<usize>,
}

/// SplitMix64, for the random halvings.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const LEAVE_ONE_OUT: &str = "leave one out";

/// Each of `n` files scored with thresholds chosen on the others.
fn leave_one_out(n: usize) -> Vec<Fold> {
    (0..n)
        .map(|i| Fold {
            train: (0..n).filter(|&j| j != i).collect(),
            test: vec![i],
        })
        .collect()
}

/// Leave one out; artificial to real and back; five halvings (seeds 1 to 5), both ways.
fn schemes(labelled: &[LabelledSeries<'_>]) -> Vec<(&'static str, Vec<Fold>)> {
    let n = labelled.len();
    let all: Vec<usize> = (0..n).collect();
    let (art, real): (Vec<usize>, Vec<usize>) = all
        .iter()
        .partition(|&&i| labelled[i].name.starts_with("artificial"));
    let across = vec![
        Fold {
            train: art.clone(),
            test: real.clone(),
        },
        Fold {
            train: real,
            test: art,
        },
    ];
    let mut halvings = Vec::new();
    for seed in 1..=5u64 {
        let mut state = seed;
        let mut order = all.clone();
        for i in (1..n).rev() {
            let j = (splitmix(&mut state) % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let (a, b) = order.split_at(n / 2);
        halvings.push(Fold {
            train: a.to_vec(),
            test: b.to_vec(),
        });
        halvings.push(Fold {
            train: b.to_vec(),
            test: a.to_vec(),
        });
    }
    vec![
        (LEAVE_ONE_OUT, leave_one_out(n)),
        ("artificial <-> real", across),
        ("5 halvings x 2", halvings),
    ]
}

/// The normalised score of the test files of `folds`, each at its fold's training threshold.
fn carried(labelled: &[LabelledSeries<'_>], folds: &[Fold], p: &Profile) -> f64 {
    let (mut raw, mut windows) = (0.0, 0usize);
    for fold in folds {
        if fold.train.is_empty() || fold.test.is_empty() {
            continue;
        }
        let threshold = best_threshold(&scored(labelled, &fold.train), p).threshold;
        for (scores, w) in scored(labelled, &fold.test) {
            raw += score_file(scores, w, threshold, p);
            windows += w.len();
        }
    }
    normalised(raw, windows, p)
}

fn main() {
    let args = parse_args();
    let mut files = Vec::new();
    csv_files(&args.data, &mut files);
    if files.is_empty() {
        fail(&format!("no CSV files under {}", args.data.display()));
    }
    let all = score_files(&args, &files);
    let Some(windows_file) = &args.windows else {
        return;
    };
    let labelled = label(&all, windows_file);
    let windows: usize = labelled.iter().map(|l| l.windows.len()).sum();
    println!(
        "{} labelled files, {windows} anomaly windows",
        labelled.len()
    );
    let every: Vec<usize> = (0..labelled.len()).collect();
    for p in &PROFILES {
        let best = best_threshold(&scored(&labelled, &every), p);
        println!(
            "{:<14} score {:6.2}  (threshold {:.6}, raw {:.3})",
            p.name, best.normalized, best.threshold, best.raw
        );
    }
    if args.cross_validate {
        cross_validate(&args, &labelled);
    }
    if args.rank_settings {
        rank_settings(&args, &labelled);
    }
    if args.sensitivity {
        sensitivity(&args, &labelled);
    }
}

/// `--cross-validate`: the scores with thresholds (and with `--choose-settings` settings) chosen on
/// other files than those scored.
fn cross_validate(args: &Args, labelled: &[LabelledSeries<'_>]) {
    println!(
        "cross-validated, thresholds chosen on the training files (standard, low FP, low FN):"
    );
    for (name, folds) in schemes(labelled) {
        let scores: Vec<String> = PROFILES
            .iter()
            .map(|p| format!("{:6.2}", carried(labelled, &folds, p)))
            .collect();
        println!("{name:<20} {}", scores.join(" "));
    }
    if args.choose_settings {
        choose_settings(args, labelled);
    }
}

/// The settings `--choose-settings` chooses among: the four that decide what the detector compares
/// (the stretch's length, the neighbours summed, the coarse step with 0 for no coarse scale, the
/// range tolerance with 0 for no range check), each at the default and on either side of it; the
/// rest as `--settings` (or the defaults) give them. The given settings come first, so a tie keeps
/// them: 81 candidates with the defaults, one more when the given settings are off the grid, fewer
/// when some combinations need more than a detector may hold.
fn candidates(base: NoveltySettings) -> Vec<NoveltySettings> {
    let mut all = vec![base];
    for shape in [8, 12, 16] {
        for neighbours in [3, 5, 10] {
            for coarse in [0, 12, 24] {
                for spatial_tolerance in [0.0, 0.02, 0.05] {
                    let s = NoveltySettings {
                        shape,
                        neighbours,
                        coarse,
                        spatial_tolerance,
                        ..base
                    };
                    // settings the detector would refuse (and replace by the defaults) are left
                    // out, as with a large `reference` from `--settings`
                    if !all.contains(&s) && s.problem().is_none() {
                        all.push(s);
                    }
                }
            }
        }
    }
    all
}

fn describe(s: &NoveltySettings) -> String {
    format!(
        "(shape: {}, neighbours: {}, coarse: {}, spatial_tolerance: {})",
        s.shape, s.neighbours, s.coarse, s.spatial_tolerance
    )
}

/// `f(0)` to `f(n - 1)`, on as many threads as the machine has cores.
fn parallel_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(n))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= n {
                            return mine;
                        }
                        mine.push((i, f(i)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, t)| t).collect()
}

/// What one fold chose on its training files, and what its test files scored (raw) with that
/// choice and with the given settings at their own training threshold.
struct Choice {
    fold: usize,
    candidate: usize,
    raw: f64,
    given_raw: f64,
}

/// The normalised score of the test files of `folds` when each fold chooses the settings as well
/// as the threshold on its training files (the candidate whose best threshold scores highest
/// there), with each fold's choice.
fn chosen(
    by_candidate: &[Vec<LabelledSeries<'_>>],
    folds: &[Fold],
    p: &Profile,
) -> (f64, Vec<Choice>) {
    let (mut total, mut windows, mut choices) = (0.0, 0usize, Vec::new());
    let raw = |c: usize, fold: &Fold, threshold: f64| -> f64 {
        scored(&by_candidate[c], &fold.test)
            .into_iter()
            .map(|(scores, w)| score_file(scores, w, threshold, p))
            .sum()
    };
    for (i, fold) in folds.iter().enumerate() {
        if fold.train.is_empty() || fold.test.is_empty() {
            continue;
        }
        let bests = parallel_map(by_candidate.len(), |c| {
            best_threshold(&scored(&by_candidate[c], &fold.train), p)
        });
        let candidate = first_best(bests.len(), |c| bests[c].raw);
        let best = bests[candidate];
        let choice = Choice {
            fold: i,
            candidate,
            raw: raw(candidate, fold, best.threshold),
            given_raw: raw(0, fold, bests[0].threshold),
        };
        total += choice.raw;
        windows += fold
            .test
            .iter()
            .map(|&t| by_candidate[0][t].windows.len())
            .sum::<usize>();
        choices.push(choice);
    }
    (normalised(total, windows, p), choices)
}

/// A raw score over files holding `windows` windows, scaled so that the null detector scores 0
/// and the perfect one 100.
fn normalised(raw: f64, windows: usize, p: &Profile) -> f64 {
    let (null, perfect) = (-p.fn_ * windows as f64, p.tp * windows as f64);
    100.0 * (raw - null) / (perfect - null)
}

/// `--choose-settings`: every fold of every scheme chooses the settings among [`candidates`] and
/// the threshold on its training files, and the test files are scored with both; no choice sees
/// the files it is scored on.
fn choose_settings(args: &Args, labelled: &[LabelledSeries<'_>]) {
    let candidates = candidates(args.settings);
    let started = Instant::now();
    let scores: Vec<Vec<Vec<f64>>> = parallel_map(candidates.len(), |c| {
        labelled
            .iter()
            .map(|l| scores_with(candidates[c], l.values, args.flat_top))
            .collect()
    });
    let by_candidate: Vec<Vec<LabelledSeries<'_>>> = scores
        .iter()
        .map(|files| rescored(labelled, files))
        .collect();
    println!(
        "settings chosen on the training files too, among {} candidates (standard, low FP, low FN):",
        candidates.len()
    );
    let mut picks = vec![0usize; candidates.len()];
    let mut leave_one_out = Vec::new();
    for (name, folds) in schemes(labelled) {
        let mut scores = Vec::new();
        for (k, p) in PROFILES.iter().enumerate() {
            let (score, choices) = chosen(&by_candidate, &folds, p);
            choices.iter().for_each(|c| picks[c.candidate] += 1);
            if name == LEAVE_ONE_OUT && k == 0 {
                leave_one_out = choices
                    .into_iter()
                    .map(|c| (folds[c.fold].test[0], c))
                    .collect();
            }
            scores.push(format!("{score:6.2}"));
        }
        println!("{name:<20} {}", scores.join(" "));
    }
    let choices: usize = picks.iter().sum();
    let mut order: Vec<usize> = (0..candidates.len()).filter(|&c| picks[c] > 0).collect();
    order.sort_by_key(|&c| std::cmp::Reverse(picks[c]));
    println!(
        "chosen in {choices} folds and profiles (in {:.0} s):",
        started.elapsed().as_secs_f64()
    );
    for c in order {
        let given = if c == 0 { "  (the settings given)" } else { "" };
        println!("{:>4} x {}{given}", picks[c], describe(&candidates[c]));
    }
    println!("leave one out, standard profile: the file left out, the settings chosen without it, its raw score with them (with the settings given)");
    for (file, c) in leave_one_out {
        let settings = if c.candidate == 0 {
            "the settings given".to_owned()
        } else {
            describe(&candidates[c.candidate])
        };
        println!(
            "{:<56} {settings:<66} {:7.3} ({:.3})",
            labelled[file].name, c.raw, c.given_raw
        );
    }
}

/// The resamplings `--rank-settings` scores every candidate on: the files as read, and the means of
/// each 2 and each 3 of their values.
const RESAMPLINGS: [usize; 3] = [1, 2, 3];

/// A labelled series resampled: the means of each `k` consecutive values, and its windows as
/// row ranges of them.
struct Resampled {
    values: Vec<f64>,
    windows: Vec<(usize, usize)>,
}

/// `labelled` as the means of each `k` consecutive values, each window the groups whose first
/// value lies in it (as `--resample` finds them by time).
fn resampled(labelled: &[LabelledSeries<'_>], k: usize) -> Vec<Resampled> {
    labelled
        .iter()
        .map(|l| {
            let values = means(l.values, k);
            let windows = match values.len().checked_sub(1) {
                Some(last) => l
                    .windows
                    .iter()
                    .map(|&(start, end)| (start.div_ceil(k), (end / k).min(last)))
                    .filter(|(start, end)| start <= end)
                    .collect(),
                None => Vec::new(),
            };
            Resampled { values, windows }
        })
        .collect()
}

/// `--rank-settings`: each candidate's standard score at its best threshold, on the files as read
/// and resampled; the ten best by the mean, the place of the settings given, and the best of each
/// column and of the resamplings' mean.
fn rank_settings(args: &Args, labelled: &[LabelledSeries<'_>]) {
    let candidates = candidates(args.settings);
    let started = Instant::now();
    let standard = &PROFILES[0];
    let sets: Vec<_> = RESAMPLINGS
        .iter()
        .map(|&k| resampled(labelled, k))
        .collect();
    let table: Vec<Vec<f64>> = parallel_map(candidates.len(), |c| {
        sets.iter()
            .map(|files| {
                let scores: Vec<Vec<f64>> = files
                    .iter()
                    .map(|r| scores_with(candidates[c], &r.values, args.flat_top))
                    .collect();
                let scored: Vec<Labelled<'_>> = scores
                    .iter()
                    .zip(files)
                    .map(|(s, r)| (s.as_slice(), r.windows.as_slice()))
                    .collect();
                best_threshold(&scored, standard).normalized
            })
            .collect()
    });
    let mean = |c: usize| table[c].iter().sum::<f64>() / table[c].len() as f64;
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    // stable: a tie keeps the settings given first
    order.sort_by(|&a, &b| mean(b).total_cmp(&mean(a)));
    let columns: Vec<String> = RESAMPLINGS
        .iter()
        .map(|k| format!("{:>7}", format!("x{k}")))
        .collect();
    println!(
        "{} candidates, standard score at each one's best threshold, the files as read (x1) and as means of 2 and 3 values (in {:.0} s):",
        candidates.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:>4}  {:<66} {}    mean",
        "rank",
        "settings",
        columns.join("")
    );
    let place_given = order
        .iter()
        .position(|&c| c == 0)
        .expect("the settings given are the first candidate");
    for (place, &c) in order.iter().enumerate() {
        if place >= 10 && place != place_given {
            continue;
        }
        let scores: Vec<String> = table[c].iter().map(|s| format!("{s:7.2}")).collect();
        let given = if c == 0 { "  (the settings given)" } else { "" };
        println!(
            "{:>4}  {:<66} {}  {:6.2}{given}",
            place + 1,
            describe(&candidates[c]),
            scores.join(""),
            mean(c)
        );
    }
    let resampled_mean = |c: usize| table[c][1..].iter().sum::<f64>() / (table[c].len() - 1) as f64;
    println!("best of each:");
    for (i, k) in RESAMPLINGS.iter().enumerate() {
        let c = first_best(candidates.len(), |c| table[c][i]);
        println!(
            "  x{k:<22} {:6.2}  {}",
            table[c][i],
            describe(&candidates[c])
        );
    }
    let c = first_best(candidates.len(), resampled_mean);
    println!(
        "  mean of x2 and x3       {:6.2}  {}  (the settings given: {:.2})",
        resampled_mean(c),
        describe(&candidates[c]),
        resampled_mean(0)
    );
}

/// A setting's field: a whole number or not, or `calibration`, which moves `fire_at` with it.
enum Field<'a> {
    Whole(&'a mut usize),
    Real(&'a mut f64),
    Ranks {
        calibration: &'a mut usize,
        fire_at: &'a mut f64,
    },
}

/// A setting `--sensitivity` changes: its name, and its field in the settings.
type Sensitive = (&'static str, fn(&mut NoveltySettings) -> Field<'_>);

/// The settings `--sensitivity` changes, one at a time, and the factors it changes them by.
const SENSITIVE: [Sensitive; 8] = [
    ("shape", |s| Field::Whole(&mut s.shape)),
    ("neighbours", |s| Field::Whole(&mut s.neighbours)),
    ("reference", |s| Field::Whole(&mut s.reference)),
    ("gap", |s| Field::Whole(&mut s.gap)),
    ("calibration", |s| Field::Ranks {
        calibration: &mut s.calibration,
        fire_at: &mut s.fire_at,
    }),
    ("coarse", |s| Field::Whole(&mut s.coarse)),
    ("spatial_tolerance", |s| {
        Field::Real(&mut s.spatial_tolerance)
    }),
    ("refractory", |s| Field::Whole(&mut s.refractory)),
];
const FACTORS: [f64; 4] = [0.8, 0.9, 1.1, 1.2];

/// `base` with `setting` times `factor` (whole numbers rounded, half away from zero;
/// `calibration` moves `fire_at` with it, keeping `(1 - fire_at) * calibration`) and the value
/// tried as printed, or `None` where that changes nothing or gives settings the detector refuses.
fn changed(
    base: NoveltySettings,
    (_, field): Sensitive,
    factor: f64,
) -> Option<(NoveltySettings, String)> {
    let whole = |v: usize| (v as f64 * factor).round() as usize;
    let mut s = base;
    let value = match field(&mut s) {
        Field::Whole(v) => {
            *v = whole(*v);
            v.to_string()
        }
        Field::Real(v) => {
            *v *= factor;
            format!("{v:.3}")
        }
        Field::Ranks {
            calibration,
            fire_at,
        } => {
            let was = *calibration;
            *calibration = whole(was);
            *fire_at = 1.0 - (1.0 - *fire_at) * was as f64 / *calibration as f64;
            calibration.to_string()
        }
    };
    (s != base && s.problem().is_none()).then_some((s, value))
}

/// `--sensitivity`: the standard score at the best threshold and leave-one-out, with each of
/// [`SENSITIVE`] changed by each of [`FACTORS`], the rest as given.
fn sensitivity(args: &Args, labelled: &[LabelledSeries<'_>]) {
    let started = Instant::now();
    let standard = &PROFILES[0];
    let leave_one_out = leave_one_out(labelled.len());
    let figures = |files: &[LabelledSeries<'_>]| {
        let every: Vec<usize> = (0..files.len()).collect();
        (
            best_threshold(&scored(files, &every), standard).normalized,
            carried(files, &leave_one_out, standard),
        )
    };
    // each setting changed by each factor, once: a factor that rounds to an earlier one is left
    // out; `grid` places each change in the table
    let mut cells: Vec<(NoveltySettings, String)> = Vec::new();
    let mut grid = [[None; FACTORS.len()]; SENSITIVE.len()];
    for (i, &setting) in SENSITIVE.iter().enumerate() {
        for (j, &factor) in FACTORS.iter().enumerate() {
            if let Some((s, value)) = changed(args.settings, setting, factor) {
                if !cells.iter().any(|c| c.0 == s) {
                    grid[i][j] = Some(cells.len());
                    cells.push((s, value));
                }
            }
        }
    }
    let results: Vec<(f64, f64)> = parallel_map(cells.len(), |c| {
        let scores: Vec<Vec<f64>> = labelled
            .iter()
            .map(|l| scores_with(cells[c].0, l.values, args.flat_top))
            .collect();
        figures(&rescored(labelled, &scores))
    });
    // the files' own scores are the settings given
    let (best, carried_given) = figures(labelled);
    println!("settings as given: {best:.2} ({carried_given:.2})");
    println!(
        "standard score at the best threshold (leave one out) with one setting changed, the rest as given (in {:.0} s):",
        started.elapsed().as_secs_f64()
    );
    let header: Vec<String> = FACTORS
        .iter()
        .map(|f| format!("{:>22}", format!("x{f}")))
        .collect();
    println!("{:<18}{}", "setting", header.join(""));
    for ((name, _), row) in SENSITIVE.iter().zip(&grid) {
        let row: Vec<String> = row
            .iter()
            .map(|cell| match *cell {
                Some(c) => format!(
                    "{:>22}",
                    format!("{}: {:.2} ({:.2})", cells[c].1, results[c].0, results[c].1)
                ),
                None => format!("{:>22}", "-"),
            })
            .collect();
        println!("{name:<18}{}", row.join(""));
    }
    let moved: Vec<String> = cells
        .iter()
        .filter(|(s, _)| s.fire_at != args.settings.fire_at)
        .map(|(s, _)| format!("{} at {:.6}", s.calibration, s.fire_at))
        .collect();
    println!("each calibration with its fire_at: {}", moved.join(", "));
    let n = results.len().max(1) as f64;
    let (lowest, highest) = results.iter().fold((f64::MAX, f64::MIN), |(lo, hi), r| {
        (lo.min(r.0), hi.max(r.0))
    });
    println!(
        "{} changes: mean {:.2} ({:.2}), from {lowest:.2} to {highest:.2}",
        results.len(),
        results.iter().map(|r| r.0).sum::<f64>() / n,
        results.iter().map(|r| r.1).sum::<f64>() / n,
    );
}
