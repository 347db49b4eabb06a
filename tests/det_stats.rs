//! Every statistic against reference values from SciPy/NumPy (`scripts/reference_values.py`).

mod common;

use watchkeeper_actors::detect::stats::{
    cohens_d, linear_trend, mad, mann_whitney_u, median, robust_z, welch_t_test, Cusum, Shift,
};
use watchkeeper_actors::detect::{
    Baseline, NoveltyDetector, NoveltySettings, ALERT_THRESHOLD, MAX_DETECTOR_BYTES,
};

fn fixtures() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string("tests/fixtures/detect_reference.json").unwrap())
        .unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(actual: f64, expected: f64, rel: f64, what: &str) {
    let tolerance = rel * expected.abs().max(1e-300);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} vs SciPy {expected}"
    );
}

#[test]
fn two_sample_statistics_match_scipy() {
    let f = fixtures();
    for (name, case) in f["two_sample"].as_object().unwrap() {
        let (a, b) = (floats(&case["a"]), floats(&case["b"]));
        let t = welch_t_test(&a, &b).unwrap();
        close(
            t.t,
            case["welch_t"].as_f64().unwrap(),
            1e-9,
            &format!("{name} t"),
        );
        close(
            t.df,
            case["welch_df"].as_f64().unwrap(),
            1e-9,
            &format!("{name} df"),
        );
        close(
            t.p_value,
            case["welch_p"].as_f64().unwrap(),
            1e-6,
            &format!("{name} Welch p"),
        );
        let u = mann_whitney_u(&a, &b).unwrap();
        close(
            u.u,
            case["u"].as_f64().unwrap(),
            1e-12,
            &format!("{name} U"),
        );
        close(
            u.p_value,
            case["u_p"].as_f64().unwrap(),
            1e-6,
            &format!("{name} U p"),
        );
        close(
            cohens_d(&a, &b).unwrap(),
            case["cohens_d"].as_f64().unwrap(),
            1e-9,
            &format!("{name} d"),
        );
    }
}

#[test]
fn robust_statistics_and_trend_match_scipy() {
    let f = fixtures();
    let values = floats(&f["robust"]["values"]);
    close(
        median(&values),
        f["robust"]["median"].as_f64().unwrap(),
        1e-12,
        "median",
    );
    close(
        mad(&values),
        f["robust"]["mad_normal"].as_f64().unwrap(),
        1e-4,
        "MAD (normal scale; 1.4826 vs 1/Phi^-1(3/4))",
    );
    let z = robust_z(130.0, &values).unwrap();
    let expected = (130.0 - f["robust"]["median"].as_f64().unwrap())
        / f["robust"]["mad_normal"].as_f64().unwrap();
    close(z, expected, 1e-4, "robust z");

    let t = &f["trend"];
    let points: Vec<(f64, f64)> = floats(&t["x"]).into_iter().zip(floats(&t["y"])).collect();
    let trend = linear_trend(&points).unwrap();
    close(trend.slope, t["slope"].as_f64().unwrap(), 1e-9, "slope");
    close(
        trend.intercept,
        t["intercept"].as_f64().unwrap(),
        1e-9,
        "intercept",
    );
    close(
        trend.r_squared,
        t["r_squared"].as_f64().unwrap(),
        1e-9,
        "r squared",
    );
    let at = trend.crossing(50.0, 29.0).unwrap();
    close(
        at,
        (50.0 - trend.intercept) / trend.slope,
        1e-12,
        "crossing",
    );
    assert_eq!(
        trend.crossing(0.0, 29.0),
        None,
        "a rising line does not come back down"
    );
}

#[test]
fn cusum_alarms_where_the_reference_implementation_does() {
    let f = fixtures();
    let c = &f["cusum"];
    let mut cusum = Cusum::new(
        c["target"].as_f64().unwrap(),
        c["sd"].as_f64().unwrap(),
        c["k"].as_f64().unwrap(),
        c["h"].as_f64().unwrap(),
    );
    let alarms: Vec<(usize, &str)> = floats(&c["values"])
        .into_iter()
        .enumerate()
        .filter_map(|(i, x)| {
            cusum
                .update(x)
                .map(|s| (i, if s == Shift::Up { "up" } else { "down" }))
        })
        .collect();
    let expected: Vec<(usize, &str)> = c["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a[0].as_u64().unwrap() as usize, a[1].as_str().unwrap()))
        .collect();
    assert_eq!(alarms, expected);
}

#[test]
fn degenerate_inputs_give_none_not_nonsense() {
    assert!(welch_t_test(&[1.0], &[2.0, 3.0]).is_none());
    assert!(welch_t_test(&[1.0, 1.0], &[1.0, 1.0]).is_none());
    assert!(cohens_d(&[2.0, 2.0], &[2.0, 2.0]).is_none());
    assert!(mann_whitney_u(&[], &[1.0]).is_none());
    assert!(
        mann_whitney_u(&[1.0, 1.0], &[1.0, 1.0]).is_none(),
        "all tied: no variance"
    );
    assert!(linear_trend(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]).is_none());
    assert!(robust_z(5.0, &[1.0, 1.0, 1.0]).is_none());
}

#[test]
fn the_anomaly_detector_fires_once_for_a_spike_and_keeps_its_memory_fixed() {
    let mut d = NoveltyDetector::new(NoveltySettings::default());
    let bytes = d.bytes();
    let mut noise = common::noise(1);
    let scores: Vec<f64> = (0..2000)
        .map(|i| {
            let spike = if (1500..1503).contains(&i) { 40.0 } else { 0.0 };
            d.score(100.0 + noise() + spike)
        })
        .collect();
    let detections: Vec<usize> = (0..2000)
        .filter(|&i| scores[i] >= ALERT_THRESHOLD)
        .collect();
    assert_eq!(
        detections,
        vec![1500],
        "one detection for a three-sample spike"
    );
    assert!(
        scores[..100].iter().all(|s| *s == 0.0),
        "nothing is scored before the warm-up"
    );
    assert!(
        scores[..200].iter().any(|s| *s > 0.0),
        "scoring starts within 200 values"
    );
    let refractory = NoveltySettings::default().refractory;
    assert!(
        scores[1501..1501 + refractory].iter().all(|s| *s == 0.0),
        "held down for the refractory period"
    );
    for _ in 0..20_000 {
        d.score(100.0 + noise());
    }
    assert_eq!(d.bytes(), bytes, "memory per metric is fixed");
    assert!(bytes <= MAX_DETECTOR_BYTES, "{bytes}");
    assert_eq!(d.score(f64::NAN), 0.0);
}

#[test]
fn on_noise_alone_the_anomaly_score_is_a_calibrated_rank() {
    // Without a refractory period, the coarse scale or the range check, a conformal rank reaches
    // q in about 1 - q of the values.
    let settings = NoveltySettings {
        refractory: 0,
        coarse: 0,
        spatial_tolerance: 0.0,
        ..NoveltySettings::default()
    };
    let mut d = NoveltyDetector::new(settings);
    let mut noise = common::noise(2);
    let scores: Vec<f64> = (0..12_000).map(|_| d.score(noise())).skip(2000).collect();
    for q in [0.5, 0.9, 0.99] {
        let share = scores.iter().filter(|s| **s >= q).count() as f64 / scores.len() as f64;
        assert!(
            share > 0.5 * (1.0 - q) && share < 2.0 * (1.0 - q),
            "{share} of scores at or above {q}"
        );
    }
    // The top bin (above 0.999) holds about one value in 1,000, almost all of them close to its
    // bottom: noise is never twice as strange as the strangest of the last 1,000.
    let top = scores.iter().filter(|s| **s > 0.999).count();
    assert!((3..=30).contains(&top), "{top} values in the top bin");
    assert!(scores.iter().all(|s| *s < ALERT_THRESHOLD));
}

#[test]
fn the_baseline_does_not_absorb_a_regression() {
    let mut b = Baseline::new(50, 20, 0.01);
    for i in 0..200 {
        b.push(10.0 + (i % 7) as f64 * 0.1);
    }
    let before = b.reference_mean();
    for i in 0..100 {
        b.push(20.0 + (i % 7) as f64 * 0.1);
    }
    assert!(
        (b.reference_mean() - before).abs() < 0.2,
        "the reference stayed put: {} vs {before}",
        b.reference_mean()
    );
    assert!(b.ready());
}

/// The fine scale computed directly from its definition, every distance in full: the stretch of
/// `shape` values ending at `t` against the stretches ending `gap` to `gap + reference - 1` values
/// before it, ranked against the last `calibration` strangeness values (ties within a millionth).
fn fine_scale_by_definition(values: &[f64], s: NoveltySettings) -> Vec<f64> {
    let dist = |a: usize, b: usize| -> f64 {
        (0..s.shape)
            .map(|i| (values[a - i] - values[b - i]).powi(2))
            .sum()
    };
    let mut calibration: Vec<f64> = Vec::new();
    let mut scores = Vec::new();
    for t in 0..values.len() {
        let stretches = (t + 1).saturating_sub(s.shape - 1);
        let available = stretches.saturating_sub(s.gap).min(s.reference);
        if available == 0 || available < s.warmup {
            scores.push(0.0);
            continue;
        }
        let mut d: Vec<f64> = (s.gap..s.gap + available)
            .map(|lag| dist(t, t - lag))
            .collect();
        d.sort_by(f64::total_cmp);
        let x: f64 = d[..s.neighbours.min(available)].iter().sum();
        let m = calibration.len();
        let score = if m < s.warmup {
            0.0
        } else {
            let below = calibration
                .iter()
                .filter(|&&c| c < x * (1.0 - 1e-6))
                .count();
            if below < m {
                below as f64 / m as f64
            } else {
                let max = calibration.iter().copied().fold(0.0, f64::max);
                1.0 - (max / x).clamp(0.0, 1.0) / s.calibration as f64
            }
        };
        calibration.push(x);
        if calibration.len() > s.calibration {
            calibration.remove(0);
        }
        scores.push(score);
    }
    scores
}

#[test]
fn the_anomaly_detector_matches_its_definition_through_spikes_and_flat_stretches() {
    let settings = NoveltySettings {
        shape: 5,
        neighbours: 4,
        reference: 60,
        gap: 10,
        calibration: 80,
        warmup: 20,
        coarse: 0,
        spatial_tolerance: 0.0,
        refractory: 0,
        ..NoveltySettings::default()
    };
    let mut noise = common::noise(5);
    // Noise, a spike, a flat stretch, integer steps, large magnitudes with small differences.
    let values: Vec<f64> = (0..1500)
        .map(|i| match i {
            0..300 => 10.0 + noise(),
            300..303 => 500.0,
            303..600 => 10.0 + noise(),
            600..900 => 7.0,
            900..1200 => ((i / 7) % 3) as f64,
            _ => 1e9 + (noise() * 8.0).round(),
        })
        .collect();
    let expected = fine_scale_by_definition(&values, settings);
    let mut d = NoveltyDetector::new(settings);
    for (i, v) in values.iter().enumerate() {
        let got = d.score(*v);
        // Equal up to rounding: at most one rank where a strangeness ties a calibration value.
        assert!(
            (got - expected[i]).abs() <= 1.0 / 80.0 + 1e-9,
            "value {i}: {got} vs {}",
            expected[i]
        );
        if i == 300 {
            assert!(got > 0.999, "the spike is in the top bin: {got}");
        }
        if (650..900).contains(&i) {
            assert_eq!(got, expected[i], "a flat stretch is scored exactly");
        }
    }
    assert!(expected[300] > 0.999, "the spike is in the top bin");
}
