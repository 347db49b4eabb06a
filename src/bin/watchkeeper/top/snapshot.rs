//! What one answer of `/api/status` holds, as `watchkeeper top` shows it: the header, the actor
//! tree, the monitor rows with their sparkline series, and the alerts, every string cleaned.

use serde_json::Value;

#[derive(Default)]
pub(super) struct Header {
    pub(super) status: String,
    pub(super) score: u64,
    pub(super) uptime: f64,
    pub(super) issues: Vec<String>,
    pub(super) resident: Option<u64>,
    pub(super) cpu_percent: Option<f64>,
    pub(super) firing: usize,
    /// Firing, but muted by a silence or an inhibition rule (rows shown `silenced`, `inhibited`).
    pub(super) muted: usize,
    pub(super) pending: usize,
}

pub(super) struct TreeRow {
    pub(super) depth: usize,
    pub(super) name: String,
    pub(super) supervisor: bool,
    pub(super) state: String,
    pub(super) restarts: u64,
    pub(super) mailbox: Option<(u64, u64, u64)>,
    pub(super) last_failure: String,
}

pub(super) struct MonitorRow {
    pub(super) monitor: String,
    pub(super) kind: String,
    pub(super) rate: f64,
    pub(super) p50: Option<f64>,
    pub(super) p99: Option<f64>,
    pub(super) p999: Option<f64>,
    pub(super) total: u64,
    pub(super) p99s: Vec<Option<f64>>,
    pub(super) rates: Vec<Option<f64>>,
    pub(super) span: f64,
}

pub(super) struct AlertRow {
    pub(super) state: String,
    pub(super) severity: String,
    pub(super) name: String,
    pub(super) labels: String,
    pub(super) summary: String,
    pub(super) acknowledged_by: Option<String>,
}

#[derive(Default)]
pub(super) struct Snapshot {
    pub(super) header: Header,
    pub(super) tree: Vec<TreeRow>,
    pub(super) monitors: Vec<MonitorRow>,
    pub(super) alerts: Vec<AlertRow>,
    pub(super) alerts_total: usize,
}

/// `s` with every control character (escape, newline, ...) replaced, safe to print.
pub(super) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => clean(s),
        Value::Null => String::new(),
        other => clean(&other.to_string()),
    }
}

fn tree_rows(sup: &Value, depth: usize, out: &mut Vec<TreeRow>) {
    out.push(TreeRow {
        depth,
        name: format!("{} ({})", text(&sup["name"]), text(&sup["strategy"])),
        supervisor: true,
        state: text(&sup["state"]),
        restarts: sup["restarts_total"].as_u64().unwrap_or(0),
        mailbox: None,
        last_failure: match sup["escalations"].as_u64() {
            Some(n) if n > 0 => format!("{n} escalations"),
            _ => String::new(),
        },
    });
    for child in sup["children"].as_array().into_iter().flatten() {
        if child["nested"].is_object() {
            tree_rows(&child["nested"], depth + 1, out);
            continue;
        }
        let mb = &child["mailbox"];
        out.push(TreeRow {
            depth: depth + 1,
            name: text(&child["name"]),
            supervisor: false,
            state: text(&child["state"]),
            restarts: child["restarts"].as_u64().unwrap_or(0),
            mailbox: mb.is_object().then(|| {
                let n = |k: &str| mb[k].as_u64().unwrap_or(0);
                (n("depth"), n("capacity"), n("high_water"))
            }),
            last_failure: text(&child["last_failure"]),
        });
    }
}

pub(super) fn parse(doc: &Value) -> Snapshot {
    let h = &doc["health"];
    let mut snap = Snapshot::default();
    let alerts = doc["alerts"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    snap.alerts_total = doc["alerts"]["total"].as_u64().unwrap_or(0) as usize;
    snap.header = Header {
        status: text(&h["status"]),
        score: h["score"].as_u64().unwrap_or(0),
        uptime: h["uptime_seconds"].as_f64().unwrap_or(0.0),
        issues: h["issues"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect(),
        resident: h["process"]["stats"]["resident_bytes"].as_u64(),
        cpu_percent: h["process"]["cpu_percent"].as_f64(),
        // Counted from the rows below, so the header says what they show.
        firing: 0,
        muted: 0,
        pending: 0,
    };
    if h["supervision"].is_object() {
        tree_rows(&h["supervision"], 0, &mut snap.tree);
    }
    for m in doc["history"].as_array().into_iter().flatten() {
        let span = m["tick_seconds"].as_f64().unwrap_or(1.0)
            * m["window_intervals"].as_f64().unwrap_or(1.0);
        let kinds = m["kinds"].as_array().cloned().unwrap_or_default();
        let used: Vec<&Value> = kinds
            .iter()
            .filter(|k| k["total"].as_u64().unwrap_or(0) > 0)
            .collect();
        // A monitor that has recorded nothing still gets its row.
        let shown = if used.is_empty() {
            kinds.iter().take(1).collect()
        } else {
            used
        };
        for k in shown {
            let intervals = k["intervals"].as_array().cloned().unwrap_or_default();
            let latest = intervals.iter().rev().find(|i| !i["p50_seconds"].is_null());
            let q = |name: &str| latest.and_then(|i| i[name].as_f64());
            snap.monitors.push(MonitorRow {
                monitor: text(&m["monitor"]),
                kind: text(&k["kind"]),
                rate: intervals
                    .last()
                    .and_then(|i| i["per_second"].as_f64())
                    .unwrap_or(0.0),
                p50: q("p50_seconds"),
                p99: q("p99_seconds"),
                p999: q("p999_seconds"),
                total: k["total"].as_u64().unwrap_or(0),
                p99s: intervals
                    .iter()
                    .map(|i| i["p99_seconds"].as_f64())
                    .collect(),
                rates: intervals.iter().map(|i| i["per_second"].as_f64()).collect(),
                span,
            });
        }
    }
    for a in &alerts {
        let labels = a["labels"]
            .as_object()
            .map(|l| {
                l.iter()
                    .filter(|(k, _)| *k != "alertname" && *k != "severity")
                    .map(|(k, v)| format!("{}={}", clean(k), text(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        snap.alerts.push(AlertRow {
            state: shown_state(a),
            severity: text(&a["severity"]),
            name: text(&a["labels"]["alertname"]),
            labels,
            summary: text(&a["annotations"]["summary"]),
            acknowledged_by: a["acknowledged_by"].as_str().map(clean),
        });
    }
    let header = &mut snap.header;
    for row in &snap.alerts {
        match row.state.as_str() {
            "pending" => header.pending += 1,
            "silenced" | "inhibited" => header.muted += 1,
            _ => header.firing += 1,
        }
    }
    snap
}

/// What an operator acts on: a firing alert that a silence or an inhibition rule mutes is not one
/// to chase. Other states (pending, recovering, no data) say more than the silence does.
fn shown_state(alert: &Value) -> String {
    match (
        alert["state"].as_str(),
        alert["silenced"] == true,
        alert["inhibited"] == true,
    ) {
        (Some("firing"), true, _) => "silenced".into(),
        (Some("firing"), false, true) => "inhibited".into(),
        _ => text(&alert["state"]),
    }
}

// ---- formatting ----
