//! The real `amtool` (Debian's `prometheus-alertmanager`) against a running runtime's admin server:
//! it lists the alerts, filters them, adds a silence with a regex matcher, lists and expires it,
//! and the silence really holds the alert's notifications back. A routing tree sends a critical
//! and a warning to different real receivers. `amtool config routes` shows a runtime's routing
//! tree and `routes test` picks the receivers watchkeeper picks.

mod common;

use std::process::Command;
use std::time::Duration;

use common::host::{eventually, test_config};
use common::process::{require, TempDir};
use common::receiver::{Receiver, Reply};
use watchkeeper::config::{AlertRule, Metric, RouteConfig, Secret};
use watchkeeper::{Config, Runtime};

const TOKEN: &str = "amtool-s3cret";

fn rule(name: &str, critical: Option<f64>, warning: Option<f64>) -> AlertRule {
    AlertRule {
        warning,
        critical,
        annotations: [("summary".to_owned(), format!("{name} is slow"))].into(),
        ..AlertRule::new(name, Some("search"), Metric::P99)
    }
}

fn config(rules: Vec<AlertRule>, hook: &Receiver) -> Config {
    let mut c = test_config();
    let a = &mut c.alerting;
    a.check_interval = Duration::from_millis(100);
    a.group_wait = Duration::ZERO;
    a.group_interval = Duration::from_millis(200);
    a.rules = rules;
    a.channels.webhook.enabled = true;
    a.channels.webhook.url = Some(Secret::Value(hook.url("/hook")));
    c.deployment.admin_token = Some(Secret::Value(TOKEN.into()));
    c
}

struct Amtool {
    url: String,
    http_config: std::path::PathBuf,
    dir: TempDir,
}

impl Amtool {
    fn new(addr: std::net::SocketAddr) -> Amtool {
        let dir = TempDir::new("amtool");
        // amtool passes the admin token with Prometheus' HTTP client configuration.
        let http_config = dir.path().join("http.yml");
        std::fs::write(
            &http_config,
            format!("authorization:\n  type: Bearer\n  credentials: {TOKEN}\n"),
        )
        .unwrap();
        Amtool {
            url: format!("http://{addr}"),
            http_config,
            dir,
        }
    }

    /// Runs amtool; its exit success and standard output.
    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("amtool")
            .arg(format!("--alertmanager.url={}", self.url))
            .arg(format!("--http.config.file={}", self.http_config.display()))
            .args(args)
            .env("HOME", self.dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            eprintln!("amtool {args:?} failed: {stdout}{stderr}");
        }
        (out.status.success(), stdout)
    }
}

#[test]
fn amtool_lists_alerts_and_adds_queries_and_expires_silences() {
    if !require("amtool", "prometheus-alertmanager") {
        return;
    }
    let hook = Receiver::start(vec![], Reply::Status(200, vec![]));
    let rules = vec![
        rule("SearchLatencyHigh", Some(0.05), None),
        rule("SearchTailHigh", None, Some(0.06)),
        rule("IndexSlow", None, Some(0.07)),
    ];
    let rt = Runtime::start(config(rules, &hook)).unwrap();
    let addr = rt.admin_addr().unwrap();
    let search = rt.monitor("search").unwrap();
    let am = Amtool::new(addr);
    for _ in 0..50 {
        search.record_query(Duration::from_millis(80));
    }
    let listed = eventually("amtool lists the three alerts", || {
        let (ok, out) = am.run(&["alert", "query"]);
        (ok && out.contains("SearchLatencyHigh")
            && out.contains("SearchTailHigh")
            && out.contains("IndexSlow"))
        .then_some(out)
    });
    assert!(listed.contains("SearchLatencyHigh is slow"), "{listed}");
    let (ok, one) = am.run(&["alert", "query", "alertname=IndexSlow"]);
    assert!(ok);
    assert!(
        one.contains("IndexSlow") && !one.contains("SearchLatencyHigh"),
        "{one}"
    );

    // A silence with a regex matcher: both Search alerts, not IndexSlow.
    let (ok, id) = am.run(&[
        "silence",
        "add",
        "alertname=~\"Search.*\"",
        "--comment=deploying the new index",
        "--duration=1h",
        "--author=ana",
    ]);
    assert!(ok);
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 36, "a silence id: {id}");
    let (ok, silences) = am.run(&["silence", "query"]);
    assert!(ok);
    assert!(
        silences.contains(&id) && silences.contains("deploying the new index"),
        "{silences}"
    );
    let (ok, by_matcher) = am.run(&["silence", "query", "alertname=~\"Search.*\""]);
    assert!(ok && by_matcher.contains(&id), "{by_matcher}");
    eventually("watchkeeper applies the silence", || {
        let doc: serde_json::Value =
            serde_json::from_str(&common::http::get(addr, "/alerts").body).ok()?;
        let alerts = doc["alerts"].as_array()?;
        let silenced = |name: &str| {
            alerts
                .iter()
                .find(|a| a["labels"]["alertname"] == name)
                .map(|a| a["silenced"] == true)
        };
        (silenced("SearchLatencyHigh")? && silenced("SearchTailHigh")? && !silenced("IndexSlow")?)
            .then_some(())
    });
    // Silenced alerts are hidden from amtool's default query, as Alertmanager's are.
    let (_, visible) = am.run(&["alert", "query"]);
    assert!(
        visible.contains("IndexSlow") && !visible.contains("SearchLatencyHigh"),
        "{visible}"
    );

    // A new alert matching the silence is not notified; one that does not match is.
    let mut c = (*rt.config()).clone();
    c.alerting
        .rules
        .push(rule("SearchMeanHigh", None, Some(0.01)));
    c.alerting.rules[0]
        .annotations
        .insert("note".into(), "changed".into());
    rt.reload_blocking(c).unwrap();
    for _ in 0..50 {
        search.record_query(Duration::from_millis(80));
    }
    eventually("the new alert fires", || {
        let (_, out) = am.run(&["alert", "query", "-s", "alertname=SearchMeanHigh"]);
        out.contains("SearchMeanHigh").then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let notified: Vec<String> = hook
        .recorded()
        .iter()
        .flat_map(|r| {
            r.json()["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|a| a["labels"]["alertname"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    assert!(
        !notified.iter().any(|n| n == "SearchMeanHigh"),
        "a silenced alert was notified: {notified:?}"
    );

    let (ok, _) = am.run(&["silence", "expire", &id]);
    assert!(ok);
    let (ok, after) = am.run(&["silence", "query"]);
    assert!(ok && !after.contains(&id), "{after}");
    let (ok, expired) = am.run(&["silence", "query", "--expired"]);
    assert!(ok && expired.contains(&id), "{expired}");
    eventually("the alert is notified once the silence is gone", || {
        hook.recorded()
            .iter()
            .any(|r| r.body.contains("SearchMeanHigh"))
            .then_some(())
    });
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_routing_tree_sends_a_critical_and_a_warning_to_different_receivers() {
    let pager = Receiver::start(vec![], Reply::Status(200, vec![]));
    let chat = Receiver::start(vec![], Reply::Status(200, vec![]));
    let mut c = test_config();
    let a = &mut c.alerting;
    a.check_interval = Duration::from_millis(100);
    a.group_wait = Duration::ZERO;
    a.rules = vec![
        rule("SearchDown", Some(0.05), None),
        rule("SearchSlow", None, Some(0.05)),
    ];
    a.channels.named = [
        (
            "pager".to_owned(),
            watchkeeper::config::NamedChannel::Webhook {
                url: Secret::Value(pager.url("/pager")),
            },
        ),
        (
            "chat".to_owned(),
            watchkeeper::config::NamedChannel::Webhook {
                url: Secret::Value(chat.url("/chat")),
            },
        ),
    ]
    .into();
    a.routes = vec![
        RouteConfig {
            matchers: vec![watchkeeper::config::Matcher::parse("severity=critical").unwrap()],
            receiver: Some(vec!["pager".into()]),
            ..Default::default()
        },
        RouteConfig {
            matchers: vec![watchkeeper::config::Matcher::parse("severity=~\"warn.*\"").unwrap()],
            receiver: Some(vec!["chat".into()]),
            ..Default::default()
        },
    ];
    let v = c.validate();
    assert!(!v.has_errors(), "{v}");
    let rt = Runtime::start(c).unwrap();
    let search = rt.monitor("search").unwrap();
    for _ in 0..50 {
        search.record_query(Duration::from_millis(80));
    }
    let names = |r: &Receiver| -> Vec<String> {
        r.recorded()
            .iter()
            .flat_map(|x| {
                x.json()["alerts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| a["labels"]["alertname"].as_str().unwrap_or("").to_owned())
            })
            .collect()
    };
    eventually("both receivers are notified", || {
        (!names(&pager).is_empty() && !names(&chat).is_empty()).then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        names(&pager).iter().all(|n| n == "SearchDown"),
        "{:?}",
        names(&pager)
    );
    assert!(
        names(&chat).iter().all(|n| n == "SearchSlow"),
        "{:?}",
        names(&chat)
    );
    let body = pager.recorded()[0].json();
    assert_eq!(body["receiver"], "pager");
    assert_eq!(
        body["groupKey"],
        "{}/{severity=\"critical\"}:{alertname=\"SearchDown\", monitor=\"search\"}"
    );
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn alerts_posted_from_outside_are_routed_notified_and_resolved() {
    if !require("amtool", "prometheus-alertmanager") {
        return;
    }
    let hook = Receiver::start(vec![], Reply::Status(200, vec![]));
    let rt = Runtime::start(config(Vec::new(), &hook)).unwrap();
    let addr = rt.admin_addr().unwrap();
    let am = Amtool::new(addr);
    // A script's alert through amtool's `alert add` (POST /api/v2/alerts).
    let (ok, _) = am.run(&[
        "alert",
        "add",
        "alertname=BackupFailed",
        "severity=critical",
        "job=backup",
        "--annotation=summary=the nightly backup failed",
    ]);
    assert!(ok);
    let delivered = eventually("the posted alert is notified", || {
        hook.recorded()
            .into_iter()
            .map(|r| r.json())
            .find(|b| b["alerts"][0]["labels"]["alertname"] == "BackupFailed")
    });
    assert_eq!(delivered["status"], "firing", "{delivered}");
    assert_eq!(
        delivered["alerts"][0]["annotations"]["summary"],
        "the nightly backup failed"
    );
    let (ok, listed) = am.run(&["alert", "query", "job=backup"]);
    assert!(ok && listed.contains("BackupFailed"), "{listed}");

    // Invalid alerts are refused as Alertmanager refuses them; the valid one beside them is taken.
    let auth = format!("Bearer {TOKEN}");
    let post = |body: &str, auth: Option<&str>| {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        common::http::request(addr, "POST", "/api/v2/alerts", &headers, body.as_bytes())
    };
    let refused = post(r#"[{"labels": {"alertname": "X"}}]"#, None);
    assert_eq!(refused.status, 401, "{}", refused.body);
    let mixed = post(
        r#"[{"labels": {}}, {"labels": {"0bad": "x"}}, {"labels": {"alertname": "DiskFull"}}]"#,
        Some(&auth),
    );
    assert_eq!(mixed.status, 400, "{}", mixed.body);
    assert!(
        mixed.body.contains("at least one label pair required")
            && mixed.body.contains("invalid name"),
        "{}",
        mixed.body
    );
    let (_, listed) = am.run(&["alert", "query"]);
    assert!(listed.contains("DiskFull"), "{listed}");
    let garbage = post("{not json", Some(&auth));
    assert_eq!(garbage.status, 400, "{}", garbage.body);

    // Posting it again with an end in the past resolves it, and the receiver hears so.
    let ended = (chrono::Utc::now() - chrono::Duration::seconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let resolved = post(
        &format!(
            r#"[{{"labels": {{"alertname": "BackupFailed", "severity": "critical", "job": "backup"}}, "endsAt": "{ended}"}}]"#
        ),
        Some(&auth),
    );
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    eventually("the resolution is notified", || {
        hook.recorded().into_iter().map(|r| r.json()).find(|b| {
            b["status"] == "resolved" && b["alerts"][0]["labels"]["alertname"] == "BackupFailed"
        })
    });
    let (_, listed) = am.run(&["alert", "query", "job=backup"]);
    assert!(!listed.contains("BackupFailed"), "{listed}");
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn amtool_reads_the_routing_tree_and_tests_labels_against_it() {
    if !require("amtool", "prometheus-alertmanager") {
        return;
    }
    let hook = Receiver::start(vec![], Reply::Status(200, vec![]));
    let mut c = config(Vec::new(), &hook);
    let hook_url = Secret::Value(hook.url("/other"));
    let a = &mut c.alerting;
    a.channels.named = [
        (
            "pager".to_owned(),
            watchkeeper::config::NamedChannel::Webhook {
                url: hook_url.clone(),
            },
        ),
        (
            "chat".to_owned(),
            watchkeeper::config::NamedChannel::Webhook { url: hook_url },
        ),
    ]
    .into();
    let matcher = |m: &str| watchkeeper::config::Matcher::parse(m).unwrap();
    a.routes = vec![
        RouteConfig {
            matchers: vec![matcher("severity=critical")],
            receiver: Some(vec!["pager".into()]),
            continue_: true,
            group_by: Some(vec!["...".into()]),
            ..Default::default()
        },
        RouteConfig {
            matchers: vec![matcher("team=~\"search|index\"")],
            receiver: Some(vec!["chat".into(), "pager".into()]),
            repeat_interval: Some(Duration::from_secs(5400)),
            routes: vec![RouteConfig {
                matchers: vec![matcher("severity!=critical")],
                receiver: Some(vec!["chat".into()]),
                ..Default::default()
            }],
            ..Default::default()
        },
        // Quotes, a backslash, accents, a Unicode line break and DEL survive Alertmanager's parser.
        RouteConfig {
            matchers: vec![watchkeeper::config::Matcher::equal(
                "note",
                "caf\u{e9} \"q\" a\\b\u{2028}\u{7f}",
            )],
            receiver: Some(vec!["chat".into()]),
            ..Default::default()
        },
    ];
    let v = c.validate();
    assert!(!v.has_errors(), "{v}");
    let rt = Runtime::start(c).unwrap();
    let am = Amtool::new(rt.admin_addr().unwrap());

    // The text amtool parses is a configuration Alertmanager itself accepts.
    let (ok, status) = am.run(&["config", "show", "--output=json"]);
    assert!(ok, "{status}");
    let original = serde_json::from_str::<serde_json::Value>(&status).unwrap()["config"]
        ["original"]
        .as_str()
        .unwrap_or_else(|| panic!("no config.original in {status}"))
        .to_owned();
    let file = am.dir.path().join("alertmanager.yml");
    std::fs::write(&file, &original).unwrap();
    let checked = Command::new("amtool")
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{original}\n{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let (ok, tree) = am.run(&["config", "routes"]);
    assert!(ok, "{tree}");
    for shown in [
        "severity=\"critical\"",
        "chat+pager",
        "severity!=\"critical\"",
    ] {
        assert!(tree.contains(shown), "{shown} in {tree}");
    }
    // Labels tested against the tree: the receivers Alertmanager would pick, as watchkeeper does.
    for (labels, receivers) in [
        (
            &["severity=critical", "team=search"][..],
            "pager,chat+pager",
        ),
        (&["severity=warning", "team=index"][..], "chat"),
        // the root: every enabled channel (the test configuration's log and webhook, and both
        // named ones)
        (
            &["severity=warning", "team=other"][..],
            "log+webhook+chat+pager",
        ),
    ] {
        let mut args = vec!["config", "routes", "test"];
        args.extend(labels);
        let (ok, out) = am.run(&args);
        assert!(ok, "{labels:?}: {out}");
        assert_eq!(out.trim(), receivers, "{labels:?}\n{original}");
        let labels: std::collections::BTreeMap<String, String> = labels
            .iter()
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let tree = rt.config().alerting.route_tree();
        let ours: Vec<String> = tree
            .matching(&labels)
            .iter()
            .map(|r| r.receivers().join("+"))
            .collect();
        assert_eq!(ours.join(","), receivers, "watchkeeper's own routing");
    }
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}
