//! Without the `detect` feature, `regression`, `anomaly` and `trend` rules have no value (validation
//! refuses them); threshold rules read their metric as it is.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::rules::{AlertRule, RuleKind};

/// No detector state exists without the feature.
#[derive(Clone, Debug)]
pub(super) enum Detector {}

impl Detector {
    pub(super) fn bytes(&self) -> usize {
        match *self {}
    }
}

/// What one evaluation of a rule found.
pub(super) struct Reading {
    pub value: Option<f64>,
}

impl Reading {
    pub fn breach(&self, rule: &AlertRule, threshold: f64) -> Option<bool> {
        Some(rule.comparison.breaches(self.value?, threshold))
    }

    pub fn evidence_for(&self, _threshold: f64) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

pub(super) fn read(
    _detectors: &mut BTreeMap<String, Detector>,
    rule: &AlertRule,
    value: Option<f64>,
    _now: Instant,
) -> Reading {
    Reading {
        value: value.filter(|_| rule.kind == RuleKind::Threshold),
    }
}
