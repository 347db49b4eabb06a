//! Detection costs per value. Run: `cargo bench --bench detection`.
//!
//! - `anomaly_score/novelty`: one [`NoveltyDetector::score`] with the default settings (the
//!   detector `anomaly` rules and the NAB evaluator use), in the steady state: past 15,000 values,
//!   both scales' references full. Its memory per metric is asserted at most 64 KiB and unchanged
//!   by the run.
//! - `anomaly_score/windowed_gaussian`: the peer NAB lists at 39.6 (`detect::nab::WindowedGaussian`,
//!   the one `examples/nab.rs --peer windowed-gaussian` runs), in the same run.
//! - `regression_verdict`: Welch's t-test, Mann-Whitney U and Cohen's d on a 120-value baseline
//!   and 30 recent values, as a `regression` rule evaluates each time.
//! - `trend_fit`: a least-squares line through 60 points, as a `trend` rule evaluates each time.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use watchkeeper_actors::detect::nab::WindowedGaussian;
use watchkeeper_actors::detect::stats::{cohens_d, linear_trend, mann_whitney_u, welch_t_test};
use watchkeeper_actors::detect::{NoveltyDetector, NoveltySettings, MAX_DETECTOR_BYTES};

/// Values with a daily-like shape and noise, the same every run.
fn series(n: usize) -> Vec<f64> {
    let mut state = 42u64;
    (0..n)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let noise = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            50.0 + 20.0 * (i as f64 * std::f64::consts::TAU / 288.0).sin() + 3.0 * noise
        })
        .collect()
}

fn anomaly(c: &mut Criterion) {
    const WARM: usize = 15_000;
    let values = series(60_000);
    let mut group = c.benchmark_group("anomaly_score");
    let mut detector = NoveltyDetector::new(NoveltySettings::default());
    let bytes = detector.bytes();
    for v in &values[..WARM] {
        detector.score(*v);
    }
    let mut i = WARM;
    group.bench_function("novelty", |b| {
        b.iter(|| {
            i = if i + 1 == values.len() { WARM } else { i + 1 };
            black_box(detector.score(values[i]))
        })
    });
    assert!(bytes <= MAX_DETECTOR_BYTES, "{bytes} bytes per metric");
    assert_eq!(detector.bytes(), bytes, "memory per metric grew");
    // Past its 6,400-value warm-up, when it refits every 100 values.
    let mut gaussian = WindowedGaussian::default();
    for v in &values[..7_000] {
        gaussian.score(*v);
    }
    let mut j = 7_000;
    group.bench_function("windowed_gaussian", |b| {
        b.iter(|| {
            j = if j + 1 == values.len() { 7_000 } else { j + 1 };
            black_box(gaussian.score(values[j]))
        })
    });
    group.finish();
}

fn verdicts(c: &mut Criterion) {
    let values = series(150);
    let (reference, recent) = values.split_at(120);
    c.bench_function("regression_verdict", |b| {
        b.iter(|| {
            black_box((
                welch_t_test(black_box(reference), black_box(recent)),
                mann_whitney_u(reference, recent),
                cohens_d(reference, recent),
            ))
        })
    });
    let points: Vec<(f64, f64)> = series(60)
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as f64 * 10.0, v))
        .collect();
    c.bench_function("trend_fit", |b| {
        b.iter(|| black_box(linear_trend(black_box(&points))))
    });
}

criterion_group!(benches, anomaly, verdicts);
criterion_main!(benches);
