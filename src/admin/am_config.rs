//! The routing tree as an Alertmanager configuration file, for `GET /api/v2/status`'s
//! `config.original`: `amtool config routes` (and `routes test`) parse that text as Alertmanager's
//! YAML. Each node is written with everything it inherits filled in; a receiver of several
//! channels is one receiver named by them joined with `+` (Alertmanager's receivers hold several
//! integrations the same way). Escalation tiers and rate limits have no Alertmanager form and are
//! left out; the whole configuration follows as comments, in RON with its secrets redacted.

use std::fmt::Write;
use std::time::Duration;

use watchkeeper_actors::alerting::{AlertingConfig, GroupBy, InhibitRule, Matcher, Route};
use watchkeeper_actors::duration_serde;
use watchkeeper_actors::notify::{CHANNEL_JOIN, NO_CHANNEL};

/// The name of a node's first tier in Alertmanager's terms.
pub(super) fn receiver_name(channels: &[String]) -> String {
    if channels.is_empty() {
        // Alertmanager needs a receiver on every node; this one notifies nobody, as the node does
        NO_CHANNEL.to_owned()
    } else {
        channels.join(&CHANNEL_JOIN.to_string())
    }
}

/// A YAML double-quoted scalar holding exactly `s`: printable ASCII as itself, everything else
/// escaped (YAML parsers refuse some control characters written out and fold Unicode line
/// breaks into spaces).
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = items.into_iter().map(quoted).collect();
    format!("[{}]", quoted.join(", "))
}

fn matchers(ms: &[Matcher]) -> String {
    let written: Vec<String> = ms.iter().map(ToString::to_string).collect();
    list(written.iter().map(String::as_str))
}

/// Prometheus' duration syntax (`1h30m`, `250ms`), which reads whole milliseconds: anything finer
/// rounds up, as Alertmanager refuses zero where a duration that small was meant.
fn duration(d: Duration) -> String {
    let ms = d.as_nanos().div_ceil(1_000_000);
    duration_serde::format(Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX)))
}

/// Writes `node` with its fields at `indent`, the first after `lead` (which opens a list item in
/// the parent's `routes`), and collects the receivers' names.
fn route(out: &mut String, node: &Route, lead: &str, indent: &str, names: &mut Vec<String>) {
    let name = receiver_name(node.tiers.first().map_or(&[][..], |t| &t[..]));
    let _ = writeln!(out, "{lead}receiver: {}", quoted(&name));
    if !names.contains(&name) {
        names.push(name);
    }
    if !node.matchers.is_empty() {
        let _ = writeln!(out, "{indent}matchers: {}", matchers(&node.matchers));
    }
    let group_by = match &node.group_by {
        GroupBy::All => list(["..."]),
        GroupBy::Labels(labels) => list(labels.iter().map(String::as_str)),
    };
    let _ = writeln!(out, "{indent}group_by: {group_by}");
    for (field, value) in [
        ("group_wait", node.group_wait),
        ("group_interval", node.group_interval),
        ("repeat_interval", node.repeat_interval),
    ] {
        let _ = writeln!(out, "{indent}{field}: {}", duration(value));
    }
    if node.continue_ {
        let _ = writeln!(out, "{indent}continue: true");
    }
    if !node.routes.is_empty() {
        let _ = writeln!(out, "{indent}routes:");
        let (lead, inner) = (format!("{indent}  - "), format!("{indent}    "));
        for child in &node.routes {
            route(out, child, &lead, &inner, names);
        }
    }
}

fn inhibit_rule(out: &mut String, rule: &InhibitRule) {
    let _ = writeln!(
        out,
        "  - source_matchers: {}",
        matchers(&rule.source_matchers)
    );
    let _ = writeln!(
        out,
        "    target_matchers: {}",
        matchers(&rule.target_matchers)
    );
    let _ = writeln!(
        out,
        "    equal: {}",
        list(rule.equal.iter().map(String::as_str))
    );
}

/// `alerting` as Alertmanager's configuration file (route, receivers, inhibit rules), followed by
/// `ron`, the whole configuration, as comments.
pub(super) fn alertmanager_config(alerting: &AlertingConfig, ron: &str) -> String {
    let mut out = String::from("route:\n");
    let mut names = Vec::new();
    route(&mut out, &alerting.route_tree(), "  ", "  ", &mut names);
    out.push_str("receivers:\n");
    for name in &names {
        let _ = writeln!(out, "  - name: {}", quoted(name));
    }
    if !alerting.inhibit_rules.is_empty() {
        out.push_str("inhibit_rules:\n");
        for rule in &alerting.inhibit_rules {
            inhibit_rule(&mut out, rule);
        }
    }
    out.push_str(
        "# watchkeeper's configuration, secrets redacted; escalation tiers and rate limits\n\
         # have no Alertmanager form and are only here\n",
    );
    for line in ron.lines() {
        let _ = writeln!(out, "# {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_so_that_yaml_reads_them_back_unchanged() {
        for (s, yaml) in [
            ("pager", r#""pager""#),
            (r#"a\.b|"q""#, r#""a\\.b|\"q\"""#),
            ("line\nbreak\u{7f}", r#""line\u000Abreak\u007F""#),
            (
                "caf\u{e9} \u{2028} \u{1F600}",
                r#""caf\u00E9 \u2028 \U0001F600""#,
            ),
        ] {
            assert_eq!(quoted(s), yaml);
        }
    }

    #[test]
    fn durations_are_written_as_prometheus_reads_them() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_micros(10), "1ms"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_millis(61_001), "61001ms"),
            (Duration::from_secs(90_000), "1d1h"),
        ] {
            assert_eq!(duration(d), text);
        }
    }
}
