//! The operator assets: the Prometheus and Alertmanager configurations pass their own tools' checks,
//! the fleet alerting rules pass `promtool check rules` and their unit tests, and every query of the
//! Grafana dashboard and every rule expression name only metric families the runtime exports.

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

const RULES: &str = "config/prometheus-rules.yml";
const RULE_TESTS: &str = "config/prometheus-rules.test.yml";

/// The alert names of the rules file, in order.
fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- alert:"))
        .map(|name| name.trim().to_owned())
        .collect()
}

/// Every `expr` of a rules file: inline (`expr: up == 0`) or a block scalar (`expr: |`), whose
/// lines are those indented deeper than the `expr:` key.
fn rule_exprs(rules: &str) -> Vec<String> {
    let mut exprs = Vec::new();
    let mut lines = rules.lines().peekable();
    while let Some(line) = lines.next() {
        let indent = line.len() - line.trim_start().len();
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let rest = rest.trim();
        if !rest.starts_with(['|', '>']) {
            exprs.push(rest.to_owned());
            continue;
        }
        let mut block = String::new();
        while let Some(next) = lines.peek() {
            let deeper = next.len() - next.trim_start().len() > indent;
            if !(deeper || next.trim().is_empty()) {
                break;
            }
            block.push_str(next.trim());
            block.push('\n');
            lines.next();
        }
        exprs.push(block);
    }
    exprs
}

#[test]
fn the_fleet_rules_pass_promtool_and_their_unit_tests() {
    // The unit tests cover every rule: each alert name appears in an alert_rule_test.
    let rules = std::fs::read_to_string(RULES).unwrap();
    let tests = std::fs::read_to_string(RULE_TESTS).unwrap();
    let names = alert_names(&rules);
    assert_eq!(
        names,
        [
            "WatchkeeperInstanceDown",
            "WatchkeeperEscalated",
            "WatchkeeperChannelBreakerOpen",
            "WatchkeeperNotificationsFailing",
            "WatchkeeperMailboxDropsRising",
            "WatchkeeperRestartStorm",
            "WatchkeeperConfigReloadFailed",
        ]
    );
    for name in &names {
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "{RULE_TESTS} has no alert_rule_test for {name}"
        );
    }
    check("promtool", "prometheus", &["check", "rules", RULES]);
    check("promtool", "prometheus", &["test", "rules", RULE_TESTS]);
}

#[test]
fn the_fleet_rules_use_only_exported_metrics() {
    let rules = std::fs::read_to_string(RULES).unwrap();
    let exported: Vec<&str> = watchkeeper::exposition::FAMILIES
        .iter()
        .map(|f| f.0)
        .collect();
    let exprs = rule_exprs(&rules);
    assert_eq!(
        exprs.len(),
        alert_names(&rules).len(),
        "one expr per alert: {exprs:?}"
    );
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
    // Every rule but InstanceDown (Prometheus's own `up`) reads the runtime's families.
    for family in [
        "watchkeeper_supervisor_escalations_total",
        "watchkeeper_notifier_breaker_open",
        "watchkeeper_notifications_total",
        "watchkeeper_mailbox_dropped_messages_total",
        "watchkeeper_actor_restarts_total",
        "watchkeeper_config_last_reload_successful",
        "watchkeeper_config_last_reload_success_timestamp_seconds",
    ] {
        assert!(used.contains(family), "no rule reads {family}: {used:?}");
    }
}
