//! Which action the numbers call for, and whether its measured effect is harmful.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::alerting::{
    AlertingActor, AlertingConfig, Comparison, Metric, RuleKind, SetRuleThresholds,
};
use crate::monitor::PerformanceStats;
use crate::tuner::{Measurement, TunerState, TuningConfig, TuningKind};
use crate::ChildRef;

/// A rule whose thresholds the tuner sets from its metric's stable baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoThresholdRule {
    /// The rule.
    pub rule: String,
    /// The monitor it reads.
    pub monitor: String,
    /// The latency metric it watches.
    pub metric: Metric,
    /// Its configured warning threshold.
    pub warning: Option<f64>,
    /// Its configured critical threshold.
    pub critical: Option<f64>,
}

/// Profiles a baseline must hold steady for (coefficient of variation under 0.1).
pub const BASELINE_PROFILES: usize = 5;

/// The rules of `alerting` whose thresholds follow their metric's stable baseline.
pub fn auto_threshold_rules(alerting: &AlertingConfig) -> Vec<AutoThresholdRule> {
    alerting
        .rules
        .iter()
        .filter(|r| {
            r.auto_threshold
                && r.kind == RuleKind::Threshold
                && r.metric.is_latency()
                && r.comparison == Comparison::Above
        })
        .filter_map(|r| {
            Some(AutoThresholdRule {
                rule: r.name.clone(),
                monitor: r.monitor.clone()?,
                metric: r.metric,
                warning: r.warning,
                critical: r.critical,
            })
        })
        .collect()
}

#[derive(Clone, Debug)]
pub(crate) enum Plan {
    Sampling {
        from: f64,
        to: f64,
    },
    Window {
        from: usize,
        to: usize,
    },
    Thresholds {
        rule: String,
        metric: Metric,
        from: (Option<f64>, Option<f64>),
        to: (f64, f64),
    },
}

impl Plan {
    pub(crate) fn kind(&self) -> TuningKind {
        match self {
            Plan::Sampling { .. } => TuningKind::SamplingRate,
            Plan::Window { .. } => TuningKind::WindowLength,
            Plan::Thresholds { .. } => TuningKind::AlertThresholds,
        }
    }

    pub(crate) fn parameters(&self) -> BTreeMap<String, (String, String)> {
        match self {
            Plan::Sampling { from, to } => BTreeMap::from([(
                "sample_fraction".to_owned(),
                (format!("{from}"), format!("{to}")),
            )]),
            Plan::Window { from, to } => BTreeMap::from([(
                "window_intervals".to_owned(),
                (from.to_string(), to.to_string()),
            )]),
            Plan::Thresholds { rule, from, to, .. } => {
                let shown =
                    |x: Option<f64>| x.map_or_else(|| "none".to_owned(), |x| format!("{x}"));
                BTreeMap::from([
                    (
                        format!("{rule}.warning"),
                        (shown(from.0), format!("{}", to.0)),
                    ),
                    (
                        format!("{rule}.critical"),
                        (shown(from.1), format!("{}", to.1)),
                    ),
                ])
            }
        }
    }
}

pub(crate) async fn set_thresholds(
    alerting: &Option<ChildRef<AlertingActor>>,
    rule: &str,
    warning: Option<f64>,
    critical: Option<f64>,
    timeout: Duration,
) -> bool {
    let Some(alerting) = alerting else {
        return false;
    };
    let msg = SetRuleThresholds {
        rule: rule.to_owned(),
        warning,
        critical,
    };
    matches!(alerting.ask(msg, timeout).await, Ok(Ok(_)))
}

/// Thresholds for auto-threshold rules on `component` whose metric has held steady.
pub(crate) fn baseline_plans(
    rules: &[AutoThresholdRule],
    state: &mut TunerState,
    component: &str,
    stats: &PerformanceStats,
) -> Vec<Plan> {
    let mut plans = Vec::new();
    for auto in rules.iter().filter(|r| r.monitor == component) {
        let Some(value) = auto.metric.of(stats) else {
            continue;
        };
        let values = state.baselines.entry(auto.rule.clone()).or_default();
        values.push_back(value);
        while values.len() > BASELINE_PROFILES {
            values.pop_front();
        }
        if values.len() < BASELINE_PROFILES {
            continue;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        if mean <= 0.0 || sd / mean >= 0.1 {
            continue;
        }
        let to = (mean * 2.0, mean * 4.0);
        let from = state
            .thresholds
            .get(&auto.rule)
            .copied()
            .unwrap_or((auto.warning, auto.critical));
        let far = |old: Option<f64>, new: f64| old.is_none_or(|o| (new / o - 1.0).abs() > 0.2);
        if far(from.0, to.0) || far(from.1, to.1) {
            state
                .thresholds
                .insert(auto.rule.clone(), (Some(to.0), Some(to.1)));
            plans.push(Plan::Thresholds {
                rule: auto.rule.clone(),
                metric: auto.metric,
                from,
                to,
            });
        }
    }
    plans
}

/// The action the numbers call for, if any.
pub(crate) fn plan_for(
    s: &TuningConfig,
    stats: &PerformanceStats,
    cv: Option<f64>,
) -> Option<Plan> {
    let ops = stats.operations_per_second;
    let steady =
        cv.is_some_and(|cv| cv < s.adaptive_sampling_threshold) && stats.window_operations >= 1000;
    if ops > s.high_throughput_per_second || steady {
        let target = (s.target_samples_per_second / ops.max(1.0))
            .clamp(s.min_sample_fraction.clamp(1e-6, 1.0), 1.0);
        // Only a change of at least 2x is worth an action.
        if target <= stats.sample_fraction / 2.0 {
            let every = (1.0 / target).round().max(1.0);
            return Some(Plan::Sampling {
                from: stats.sample_fraction,
                to: 1.0 / every,
            });
        }
    }
    if stats.total_operations > 0
        && stats.window_operations < s.min_window_operations
        && stats.window_intervals < s.max_window
    {
        let to = (stats.window_intervals * 2).clamp(1, s.max_window);
        return Some(Plan::Window {
            from: stats.window_intervals,
            to,
        });
    }
    None
}

/// Why an applied action's measured effect is harmful, if it is.
pub(crate) fn harm(
    plan: &Plan,
    before: &Measurement,
    after: &Measurement,
    stats: &PerformanceStats,
) -> Option<String> {
    match plan {
        Plan::Thresholds { metric, to, .. } => metric.of(stats).filter(|v| *v > to.0).map(|v| {
            format!("the metric is {v:.6} now, above the new warning threshold {:.6}: it would alert on normal load", to.0)
        }),
        Plan::Sampling { .. } => {
            // The load is what it was, yet the tail moved: the sample no longer represents it.
            let same_load = before.operations_per_second > 0.0
                && (after.operations_per_second / before.operations_per_second - 1.0).abs() < 0.5;
            let (b, a) = (before.p99.as_secs_f64(), after.p99.as_secs_f64());
            (same_load && b > 0.0 && (a / b - 1.0).abs() > 0.25).then(|| {
                format!("p99 moved from {:.3} ms to {:.3} ms under the same load: the sample misses the tail", b * 1e3, a * 1e3)
            })
        }
        Plan::Window { .. } => (after.window_operations <= before.window_operations).then(|| {
            format!(
                "the longer window holds {} operations, no more than the {} before",
                after.window_operations, before.window_operations
            )
        }),
    }
}
