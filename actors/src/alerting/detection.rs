//! What `regression`, `anomaly` and `trend` rules compare with their thresholds, and the evidence
//! they put in the alert's annotations. Each such rule keeps its detector state in the alert store,
//! fed once per evaluation with the rule's value.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, VecDeque};

use tokio::time::Instant;

use super::rules::{short, AlertRule, RuleKind};
use crate::detect::stats::{cohens_d, linear_trend, mann_whitney_u, summary, welch_t_test, Trend};
use crate::detect::{Baseline, NoveltyDetector, NoveltyEvidence, NoveltySettings};

/// One rule's detector state.
#[derive(Clone, Debug)]
pub(super) enum Detector {
    Regression(Baseline),
    Anomaly(Box<NoveltyDetector>),
    Trend {
        origin: Instant,
        points: VecDeque<(f64, f64)>,
    },
}

impl Detector {
    fn new(rule: &AlertRule, now: Instant) -> Option<Self> {
        Some(match rule.kind {
            RuleKind::Threshold => return None,
            RuleKind::Regression => Detector::Regression(Baseline::new(
                rule.regression.reference,
                rule.regression.recent,
                rule.regression.stable_p_value,
            )),
            RuleKind::Anomaly => {
                // The refractory period follows a detection the rule alerts on: a weaker one
                // below its thresholds must not hold down the scores of a real event after it.
                let mut settings = rule.anomaly;
                let lowest = super::rules::thresholds(rule.warning, rule.critical)
                    .into_iter()
                    .map(|(_, t)| t)
                    .fold(f64::INFINITY, f64::min);
                if lowest > 0.0 && lowest <= 1.0 {
                    settings.fire_at = lowest;
                }
                Detector::Anomaly(Box::new(NoveltyDetector::new(settings)))
            }
            RuleKind::Trend => Detector::Trend {
                origin: now,
                points: VecDeque::with_capacity(rule.trend.points + 1),
            },
        })
    }

    /// Bytes the state holds.
    pub(super) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + match self {
                Detector::Regression(b) => b.bytes(),
                Detector::Anomaly(d) => d.bytes(),
                Detector::Trend { points, .. } => {
                    points.capacity() * std::mem::size_of::<(f64, f64)>()
                }
            }
    }
}

/// What one evaluation of a rule found.
pub(super) struct Reading {
    /// What the thresholds apply to; `None` is no data (or not enough yet).
    pub value: Option<f64>,
    /// False when a precondition of the kind fails (p-value, R², direction): no breach then.
    gate: bool,
    /// Facts for the annotations.
    pub evidence: BTreeMap<String, String>,
    trend: Option<(Trend, f64)>,
}

impl Reading {
    /// Whether the reading breaches `threshold`; `None` without data.
    pub fn breach(&self, rule: &AlertRule, threshold: f64) -> Option<bool> {
        let value = self.value?;
        Some(
            self.gate
                && match rule.kind {
                    RuleKind::Threshold | RuleKind::Trend => {
                        rule.comparison.breaches(value, threshold)
                    }
                    RuleKind::Regression | RuleKind::Anomaly => value >= threshold,
                },
        )
    }

    /// The evidence for `threshold`: for a trend, also when its line reaches it.
    pub fn evidence_for(&self, threshold: f64) -> BTreeMap<String, String> {
        let mut evidence = self.evidence.clone();
        if let Some((trend, now_x)) = self.trend {
            if let Some(x) = trend.crossing(threshold, now_x) {
                evidence.insert("crosses_in".into(), format!("{}s", (x - now_x).round()));
            }
        }
        evidence
    }
}

/// Feeds `value` to the rule's detector (created on first use) and reads it.
pub(super) fn read(
    detectors: &mut BTreeMap<String, Detector>,
    rule: &AlertRule,
    value: Option<f64>,
    now: Instant,
) -> Reading {
    let plain = |value| Reading {
        value,
        gate: true,
        evidence: BTreeMap::new(),
        trend: None,
    };
    if rule.kind == RuleKind::Threshold {
        return plain(value);
    }
    let detector = match detectors.entry(rule.name.clone()) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => match Detector::new(rule, now) {
            Some(d) => e.insert(d),
            None => return plain(value),
        },
    };
    let Some(v) = value.filter(|v| v.is_finite()) else {
        return plain(None);
    };
    match detector {
        Detector::Anomaly(d) => {
            let score = d.score(v);
            Reading {
                evidence: anomaly_evidence(&d.last_evidence(), &d.settings()),
                ..plain(Some(score))
            }
        }
        Detector::Regression(baseline) => {
            baseline.push(v);
            if !baseline.ready() {
                return plain(None);
            }
            regression(rule, baseline)
        }
        Detector::Trend { origin, points } => {
            let x = now.duration_since(*origin).as_secs_f64();
            points.push_back((x, v));
            while points.len() > rule.trend.points.max(3) {
                points.pop_front();
            }
            if points.len() < rule.trend.points.max(3) {
                return plain(None);
            }
            trend(rule, points.make_contiguous(), x)
        }
    }
}

/// An anomaly score's evidence: `anomaly_score`, `observed`, `expected` (the value at the same
/// place in the most similar past stretch; `unknown` before the detector scores), `seen_range`
/// (`lo..hi` of the values before it), `fine_rank` and `coarse_rank` (the conformal ranks: the
/// share of recent stretches less strange; one minus a rank is the detector's tail probability)
/// and `reason`, a sentence naming the signal that decided the score.
fn anomaly_evidence(e: &NoveltyEvidence, s: &NoveltySettings) -> BTreeMap<String, String> {
    let mut evidence = BTreeMap::from([
        ("anomaly_score".to_owned(), short(e.score)),
        ("observed".to_owned(), short(e.value)),
    ]);
    // Present from the first value, so an annotation naming them always reads as a sentence.
    let expected = e.expected.map_or_else(|| "unknown".to_owned(), short);
    evidence.insert("expected".into(), expected);
    let range = e.range.map_or_else(
        || "nothing".to_owned(),
        |(lo, hi)| format!("{}..{}", short(lo), short(hi)),
    );
    evidence.insert("seen_range".into(), range);
    if let Some(rank) = e.fine {
        evidence.insert("fine_rank".into(), format!("{rank:.4}"));
    }
    if let Some(rank) = e.coarse {
        evidence.insert("coarse_rank".into(), format!("{rank:.4}"));
    }
    let percent = |rank: f64| format!("{:.1}%", 100.0 * rank);
    let reason = match (e.refractory, e.spatial, e.fine, e.coarse) {
        (true, ..) => "held at 0 after a recent detection".to_owned(),
        (_, true, ..) => format!(
            "beyond the range seen so far by more than {} of its width",
            percent(s.spatial_tolerance)
        ),
        (_, _, fine, Some(coarse)) if coarse >= fine.unwrap_or(0.0) => format!(
            "the last {} means of {} values each are stranger than {} of recent ones",
            s.shape,
            s.coarse,
            percent(coarse)
        ),
        (_, _, Some(fine), _) => format!(
            "its last {} values are stranger than {} of recent stretches",
            s.shape,
            percent(fine)
        ),
        _ => "not scored yet: too few values".to_owned(),
    };
    evidence.insert("reason".into(), reason);
    evidence
}

fn regression(rule: &AlertRule, baseline: &Baseline) -> Reading {
    let (reference, recent) = baseline.windows();
    let (before, after) = (summary(&reference), summary(&recent));
    let welch = welch_t_test(&reference, &recent);
    let mwu = mann_whitney_u(&reference, &recent);
    // Positive in the rule's bad direction.
    let sign = match rule.comparison {
        super::Comparison::Above => 1.0,
        super::Comparison::Below => -1.0,
    };
    let d = cohens_d(&reference, &recent).map(|d| sign * d);
    let max_p = rule.regression.max_p_value;
    let gate = welch.is_some_and(|t| t.p_value <= max_p) && mwu.is_some_and(|u| u.p_value <= max_p);
    let mut evidence = BTreeMap::from([
        ("baseline_mean".to_owned(), short(before.mean)),
        ("recent_mean".to_owned(), short(after.mean)),
        (
            "samples".to_owned(),
            format!("{} baseline, {} recent", before.n, after.n),
        ),
    ]);
    if before.mean != 0.0 {
        evidence.insert(
            "change".into(),
            format!(
                "{:+.1}%",
                100.0 * (after.mean - before.mean) / before.mean.abs()
            ),
        );
    }
    if let Some(t) = welch {
        evidence.insert("p_value".into(), format!("{:.3e}", t.p_value));
    }
    if let Some(u) = mwu {
        evidence.insert("mann_whitney_p_value".into(), format!("{:.3e}", u.p_value));
    }
    if let Some(d) = d {
        evidence.insert("effect_size".into(), format!("{d:.2}"));
    }
    Reading {
        value: d,
        gate,
        evidence,
        trend: None,
    }
}

fn trend(rule: &AlertRule, points: &[(f64, f64)], now_x: f64) -> Reading {
    let Some(line) = linear_trend(points) else {
        return Reading {
            value: None,
            gate: false,
            evidence: BTreeMap::new(),
            trend: None,
        };
    };
    let horizon = rule.trend.horizon.as_secs_f64();
    let forecast = line.intercept + line.slope * (now_x + horizon);
    let heading = match rule.comparison {
        super::Comparison::Above => line.slope > 0.0,
        super::Comparison::Below => line.slope < 0.0,
    };
    let evidence = BTreeMap::from([
        ("forecast".to_owned(), short(forecast)),
        ("horizon".to_owned(), format!("{horizon}s")),
        ("slope_per_second".to_owned(), format!("{:.3e}", line.slope)),
        ("r_squared".to_owned(), format!("{:.3}", line.r_squared)),
    ]);
    Reading {
        value: Some(forecast),
        gate: heading && line.r_squared >= rule.trend.min_r_squared,
        evidence,
        trend: Some((line, now_x)),
    }
}
