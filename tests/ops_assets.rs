//! The operator assets: the Prometheus and Alertmanager configurations pass their own tools' checks,
//! and every query of the Grafana dashboard names only metric families the runtime exports.

mod common;

use std::process::Command;

use common::process::require;

fn check(tool: &str, package: &str, args: &[&str]) {
    if !require(tool, package) {
        return;
    }
    let out = Command::new(tool).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn prometheus_and_alertmanager_accept_the_shipped_configurations() {
    check(
        "promtool",
        "prometheus",
        &["check", "config", "config/prometheus.yml"],
    );
    check(
        "amtool",
        "prometheus-alertmanager",
        &["check-config", "config/alertmanager.yml"],
    );
}

#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("config/grafana/watchkeeper.json").unwrap())
            .unwrap();
    let exported: Vec<&str> = watchkeeper::exposition::FAMILIES
        .iter()
        .map(|f| f.0)
        .collect();
    let mut exprs: Vec<String> = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    for var in dash["templating"]["list"].as_array().unwrap() {
        if let Some(q) = var["query"].as_str() {
            if q.starts_with("label_values") {
                exprs.push(q.to_owned());
            }
        }
    }
    assert!(exprs.len() >= 14);
    let mut used = std::collections::BTreeSet::new();
    for expr in &exprs {
        for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("watchkeeper_") {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .fold(word, |w, s| w.strip_suffix(s).unwrap_or(w));
                assert!(
                    exported.contains(&family),
                    "`{word}` in `{expr}` is not exported"
                );
                used.insert(family.to_owned());
            }
        }
    }
    assert!(
        used.len() >= 12,
        "the dashboard covers the families: {used:?}"
    );
}
