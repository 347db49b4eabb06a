//! The Numenta Anomaly Benchmark's scoring (windows, profiles, one corpus-wide threshold) and its
//! Windowed Gaussian baseline, to compare detectors with.
//!
//! A row is a detection when its score is at or above the threshold. The first 15% of a file (at
//! most 750 rows) is probation and not scored. In a window `[l, r]` of width `w` only the earliest
//! detection `i` counts, `A_TP * s(-(r - i + 1) / w) / s(-1)`; a window without one costs `A_FN`.
//! A detection outside every window scores `A_FP * s((i - r') / (w' - 1))` against the last window
//! `[l', r']` before it (a negative number), or `-A_FP` before any window, where
//! `s(y) = 2 / (1 + e^(5y)) - 1`. Normalised: `100 * (S - S_null) / (S_perfect - S_null)`.

/// Weights of one NAB profile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Profile {
    /// Its name, as NAB prints it.
    pub name: &'static str,
    /// Weight of a true positive.
    pub tp: f64,
    /// Weight of a false positive.
    pub fp: f64,
    /// Weight of a missed window.
    pub fn_: f64,
}

/// NAB's three profiles: standard, reward low false positives, reward low false negatives.
pub const PROFILES: [Profile; 3] = [
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

/// NAB's scaled sigmoid.
fn sigmoid(y: f64) -> f64 {
    if y > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * y).exp()) - 1.0
    }
}

/// One file's raw score at `threshold`; `windows` are row ranges `[l, r]`, in order.
pub fn score_file(scores: &[f64], windows: &[(usize, usize)], threshold: f64, p: &Profile) -> f64 {
    let probation = ((scores.len() as f64 * 0.15) as usize).min(750);
    let detected = |i: usize| i >= probation && scores[i] >= threshold;
    let mut total = 0.0;
    for &(l, r) in windows {
        let width = (r - l + 1) as f64;
        match (l..=r.min(scores.len().saturating_sub(1))).find(|&i| detected(i)) {
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

/// One labelled file: its scores and its windows as row ranges `[l, r]`.
pub type Labelled<'a> = (&'a [f64], &'a [(usize, usize)]);

/// The best corpus-wide threshold for one profile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Best {
    /// The threshold.
    pub threshold: f64,
    /// The summed raw score there.
    pub raw: f64,
    /// The normalised score (null detector 0, perfect detector 100).
    pub normalized: f64,
}

/// The threshold that maximises the summed score of `files` (scores and windows) under `p`,
/// searched over hundredths up to 0.99, ten-thousandths above, and up to 2,000 of the distinct
/// scores above 0.99 (detectors put their decisions there).
pub fn best_threshold(files: &[Labelled<'_>], p: &Profile) -> Best {
    let mut high: Vec<f64> = files
        .iter()
        .flat_map(|(s, _)| s.iter().copied())
        .filter(|v| *v > 0.99)
        .collect();
    high.sort_by(f64::total_cmp);
    high.dedup();
    let stride = high.len().div_ceil(2000).max(1);
    let mut thresholds: Vec<f64> = (1..99)
        .map(|i| i as f64 / 100.0)
        .chain((0..=100).map(|i| 0.99 + i as f64 / 10_000.0))
        .chain(high.into_iter().step_by(stride))
        .collect();
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup();
    let windows: usize = files.iter().map(|(_, w)| w.len()).sum();
    let (mut threshold, mut raw) = (1.0, f64::NEG_INFINITY);
    for &t in &thresholds {
        let total: f64 = files.iter().map(|(s, w)| score_file(s, w, t, p)).sum();
        if total > raw {
            (threshold, raw) = (t, total);
        }
    }
    let null = -p.fn_ * windows as f64;
    let perfect = p.tp * windows as f64;
    Best {
        threshold,
        raw,
        normalized: 100.0 * (raw - null) / (perfect - null),
    }
}

/// NAB's Windowed Gaussian baseline (`nab/detectors/gaussian/windowedGaussian_detector.py`): a
/// Gaussian fitted to the last 6,400 values, refitted every 100 once the window is full; the score is
/// `1 - Q(|z|)`. A peer to compare detectors with on the same files and scorer, not a detector the
/// runtime uses.
#[derive(Clone, Debug)]
pub struct WindowedGaussian {
    window: Vec<f64>,
    step: Vec<f64>,
    mean: f64,
    sd: f64,
}

impl Default for WindowedGaussian {
    fn default() -> Self {
        WindowedGaussian {
            window: Vec::with_capacity(Self::WINDOW),
            step: Vec::with_capacity(Self::STEP),
            mean: 0.0,
            sd: 1.0,
        }
    }
}

impl WindowedGaussian {
    const WINDOW: usize = 6400;
    const STEP: usize = 100;

    /// Scores `value` against the fit so far, then adds it. Non-finite values score 0 and are not
    /// added.
    pub fn score(&mut self, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let score = if self.window.is_empty() {
            0.0
        } else {
            let z = (value - self.mean).abs() / self.sd;
            1.0 - 0.5 * statrs::function::erf::erfc(z / std::f64::consts::SQRT_2)
        };
        if self.window.len() < Self::WINDOW {
            self.window.push(value);
            self.refit();
        } else {
            self.step.push(value);
            if self.step.len() == Self::STEP {
                self.window.drain(..Self::STEP);
                self.window.append(&mut self.step);
                self.refit();
            }
        }
        score
    }

    fn refit(&mut self) {
        let n = self.window.len() as f64;
        self.mean = self.window.iter().sum::<f64>() / n;
        let var = self
            .window
            .iter()
            .map(|x| (x - self.mean).powi(2))
            .sum::<f64>()
            / n;
        self.sd = if var > 0.0 { var.sqrt() } else { 1e-6 };
    }
}
