//! Two-sample tests, effect size, robust location and scale, and linear trend.
//!
//! Distributions come from `statrs`; every function is checked against SciPy's values
//! (`tests/fixtures/detect_reference.json`, made by `scripts/reference_values.py`).

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Count, mean and sample variance (n - 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Sample variance (n - 1 in the denominator).
    pub variance: f64,
}

/// The summary of `xs` (variance 0 for fewer than two values).
pub fn summary(xs: &[f64]) -> Summary {
    let n = xs.len();
    if n == 0 {
        return Summary {
            n,
            mean: f64::NAN,
            variance: f64::NAN,
        };
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let variance = if n < 2 {
        0.0
    } else {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    };
    Summary { n, mean, variance }
}

/// Welch's two-sample t-test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TTest {
    /// The t statistic (mean of `a` minus mean of `b`).
    pub t: f64,
    /// Welch-Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// Welch's t-test of `a` against `b`; `None` with fewer than two values in either or no variance.
pub fn welch_t_test(a: &[f64], b: &[f64]) -> Option<TTest> {
    let (sa, sb) = (summary(a), summary(b));
    if sa.n < 2 || sb.n < 2 {
        return None;
    }
    let (va, vb) = (sa.variance / sa.n as f64, sb.variance / sb.n as f64);
    let se2 = va + vb;
    if se2 <= 0.0 || !se2.is_finite() {
        return None;
    }
    let t = (sa.mean - sb.mean) / se2.sqrt();
    let df = se2 * se2 / (va * va / (sa.n - 1) as f64 + vb * vb / (sb.n - 1) as f64);
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let p_value = (2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0);
    Some(TTest { t, df, p_value })
}

/// Cohen's d of `b` relative to `a` (pooled standard deviation).
pub fn cohens_d(a: &[f64], b: &[f64]) -> Option<f64> {
    let (sa, sb) = (summary(a), summary(b));
    if sa.n < 2 || sb.n < 2 {
        return None;
    }
    let pooled = (((sa.n - 1) as f64 * sa.variance + (sb.n - 1) as f64 * sb.variance)
        / (sa.n + sb.n - 2) as f64)
        .sqrt();
    (pooled > 0.0).then(|| (sb.mean - sa.mean) / pooled)
}

/// The Mann-Whitney U test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UTest {
    /// U of the first sample.
    pub u: f64,
    /// The normal approximation's z (continuity-corrected).
    pub z: f64,
    /// Two-sided p-value (normal approximation, tie-corrected, continuity-corrected).
    pub p_value: f64,
}

/// Ranks 1..=n with ties given their average rank; also returns sum(t^3 - t) over tie groups.
fn ranks(values: &[f64]) -> (Vec<f64>, f64) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut ties = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    (ranks, ties)
}

/// The Mann-Whitney U test of `a` against `b`, two-sided, by the normal approximation with tie and
/// continuity corrections (SciPy's `method="asymptotic"`).
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> Option<UTest> {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let all: Vec<f64> = a.iter().chain(b).copied().collect();
    let (ranks, ties) = ranks(&all);
    let r1: f64 = ranks[..a.len()].iter().sum();
    let u1 = r1 - n1 * (n1 + 1.0) / 2.0;
    let u2 = n1 * n2 - u1;
    let n = n1 + n2;
    let mu = n1 * n2 / 2.0;
    let sigma = (n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)))).sqrt();
    if sigma <= 0.0 || !sigma.is_finite() {
        return None;
    }
    let z = (u1.max(u2) - mu - 0.5) / sigma;
    let normal = Normal::new(0.0, 1.0).ok()?;
    let p_value = (2.0 * (1.0 - normal.cdf(z))).clamp(0.0, 1.0);
    Some(UTest { u: u1, z, p_value })
}

/// The median (`NaN` for none).
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    }
}

/// The median absolute deviation, scaled by 1.4826 to estimate a normal standard deviation.
pub fn mad(xs: &[f64]) -> f64 {
    let m = median(xs);
    let dev: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
    1.4826 * median(&dev)
}

/// How many robust standard deviations `value` lies from the median of `reference`.
pub fn robust_z(value: f64, reference: &[f64]) -> Option<f64> {
    let scale = mad(reference);
    (scale > 0.0 && scale.is_finite()).then(|| (value - median(reference)) / scale)
}

/// A least-squares line through points `(x, y)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trend {
    /// Change of `y` per unit of `x`.
    pub slope: f64,
    /// `y` at `x` = 0.
    pub intercept: f64,
    /// Coefficient of determination.
    pub r_squared: f64,
}

impl Trend {
    /// The `x` at which the line reaches `threshold`, if it is heading there after `from`.
    pub fn crossing(&self, threshold: f64, from: f64) -> Option<f64> {
        if self.slope == 0.0 {
            return None;
        }
        let x = (threshold - self.intercept) / self.slope;
        (x > from).then_some(x)
    }
}

/// The least-squares line through `points`; `None` for fewer than three or no spread in `x`.
pub fn linear_trend(points: &[(f64, f64)]) -> Option<Trend> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let r_squared = if syy > 0.0 {
        (sxy * sxy / (sxx * syy)).clamp(0.0, 1.0)
    } else {
        1.0
    };
    Some(Trend {
        slope,
        intercept: my - slope * mx,
        r_squared,
    })
}

/// Which way a CUSUM saw the mean move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shift {
    /// Up.
    Up,
    /// Down.
    Down,
}

/// Two-sided tabular CUSUM against a target mean and standard deviation: `k` (allowance) and `h`
/// (decision interval) in standard deviations. Resets after each detected change.
#[derive(Clone, Debug, PartialEq)]
pub struct Cusum {
    target: f64,
    sd: f64,
    k: f64,
    h: f64,
    high: f64,
    low: f64,
}

impl Cusum {
    /// A CUSUM around `target` with standard deviation `sd`.
    pub fn new(target: f64, sd: f64, k: f64, h: f64) -> Self {
        Cusum {
            target,
            sd: sd.max(f64::MIN_POSITIVE),
            k,
            h,
            high: 0.0,
            low: 0.0,
        }
    }

    /// The upper and lower sums so far.
    pub fn sums(&self) -> (f64, f64) {
        (self.high, self.low)
    }

    /// Adds `x`; reports a shift (and resets) when a sum passes `h`.
    pub fn update(&mut self, x: f64) -> Option<Shift> {
        let z = (x - self.target) / self.sd;
        self.high = (self.high + z - self.k).max(0.0);
        self.low = (self.low - z - self.k).max(0.0);
        let shift = if self.high > self.h {
            Some(Shift::Up)
        } else if self.low > self.h {
            Some(Shift::Down)
        } else {
            None
        };
        if shift.is_some() {
            self.high = 0.0;
            self.low = 0.0;
        }
        shift
    }
}
