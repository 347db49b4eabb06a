//! A fleet: three runtime processes on 127.0.0.1 (different admin ports), a real Prometheus scraping
//! all three and two real Alertmanagers clustered with each other (high availability) receiving
//! every alert from every member. Asserted through their HTTP APIs and a webhook receiver behind
//! the Alertmanagers: every instance's series are scraped, both Alertmanagers hold the alerts of all
//! three instances, and the receiver gets each group once although two Alertmanagers could send it.
//! Every process started is stopped.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http::get;
use common::process::{encode, free_port, require, spawn, Running, TempDir};
use common::receiver::{Receiver, Reply};
use watchkeeper::{Config, Runtime};

/// One fleet member: runs only when the fleet test starts it (`WK_FLEET_CONFIG` set), records slow
/// queries for at most two minutes, and prints its admin address.
#[test]
#[ignore = "started by prometheus_and_alertmanager_see_a_fleet_of_three"]
fn fleet_member() {
    let path =
        std::env::var("WK_FLEET_CONFIG").expect("started by the fleet test with WK_FLEET_CONFIG");
    let rt = Runtime::start(Config::from_file(path).unwrap()).unwrap();
    println!("ADMIN {}", rt.admin_addr().unwrap());
    let search = rt.monitor("search").unwrap();
    let until = Instant::now() + Duration::from_secs(120);
    while Instant::now() < until {
        for _ in 0..20 {
            search.record_query(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

/// A member's whole configuration: what differs from the defaults.
fn member_config(instance: &str, alertmanagers: &[String]) -> String {
    let urls: Vec<String> = alertmanagers.iter().map(|u| format!("{u:?}")).collect();
    format!(
        r#"(
    monitoring: (monitors: ["search"], tick: "100ms"),
    alerting: (
        check_interval: "200ms",
        external_labels: {{"instance": "{instance}"}},
        rules: [(name: "SearchLatencyHigh", monitor: "search", metric: p99, warning: 0.1, critical: 0.5, for: "0s")],
        channels: (alertmanager: (enabled: true, urls: [{}], resend_interval: "1s")),
    ),
    deployment: (health_check_port: 0),
)"#,
        urls.join(", ")
    )
}

/// Alertmanager's flags for node `i` of a two-node cluster on 127.0.0.1; gossip and the per-position
/// wait are shortened so the cluster settles in seconds.
fn alertmanager_args(
    dir: &std::path::Path,
    config: &std::path::Path,
    web: u16,
    cluster: u16,
    peer: Option<u16>,
) -> Vec<String> {
    let mut args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.path={}", dir.join(format!("am-{web}")).display()),
        format!("--web.listen-address=127.0.0.1:{web}"),
        format!("--cluster.listen-address=127.0.0.1:{cluster}"),
        "--cluster.gossip-interval=50ms".into(),
        "--cluster.peer-timeout=2s".into(),
        "--cluster.reconnect-interval=1s".into(),
        "--cluster.settle-timeout=10s".into(),
    ];
    if let Some(peer) = peer {
        args.push(format!("--cluster.peer=127.0.0.1:{peer}"));
    }
    args
}

#[test]
fn prometheus_and_alertmanager_see_a_fleet_of_three() {
    if !require("prometheus", "prometheus")
        || !require("prometheus-alertmanager", "prometheus-alertmanager")
    {
        return;
    }
    let dir = TempDir::new("fleet");
    let hook = Receiver::start(Vec::new(), Reply::Status(200, Vec::new()));
    let am_config = dir.path().join("alertmanager.yml");
    // One group per alert (`...`), so each group has one firing set and one notification is right.
    std::fs::write(
        &am_config,
        format!(
            "route:\n  receiver: hook\n  group_by: ['...']\n  group_wait: 1s\n  group_interval: 1m\n  repeat_interval: 4h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: '{}'\n        send_resolved: false\n",
            hook.url("/hook")
        ),
    )
    .unwrap();
    let (web_a, web_b) = (free_port(), free_port());
    let (cluster_a, cluster_b) = (free_port(), free_port());
    let _alertmanagers = [
        spawn(
            "prometheus-alertmanager",
            &alertmanager_args(dir.path(), &am_config, web_a, cluster_a, None),
            &dir.path().join("alertmanager-a.log"),
        ),
        spawn(
            "prometheus-alertmanager",
            &alertmanager_args(dir.path(), &am_config, web_b, cluster_b, Some(cluster_a)),
            &dir.path().join("alertmanager-b.log"),
        ),
    ];
    let ams: Vec<std::net::SocketAddr> = [web_a, web_b]
        .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
        .to_vec();
    let am_urls: Vec<String> = ams.iter().map(|a| format!("http://{a}")).collect();
    let am_logs = || {
        ["a", "b"]
            .map(|n| {
                std::fs::read_to_string(dir.path().join(format!("alertmanager-{n}.log")))
                    .unwrap_or_default()
            })
            .join("\n----\n")
    };
    let up = |addr: std::net::SocketAddr| {
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
    };
    // Both nodes see both as peers and have settled before any alert arrives.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = ams.iter().all(|&am| {
            up(am)
                && serde_json::from_str::<serde_json::Value>(&get(am, "/api/v2/status").body)
                    .is_ok_and(|s| {
                        s["cluster"]["status"] == "ready"
                            && s["cluster"]["peers"].as_array().map(Vec::len) == Some(2)
                    })
        });
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Alertmanagers did not form a cluster; logs:\n{}",
            am_logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let mut members = Vec::new();
    let mut targets = Vec::new();
    for i in 1..=3 {
        let config = dir.path().join(format!("indexer-{i}.ron"));
        std::fs::write(&config, member_config(&format!("indexer-{i}"), &am_urls)).unwrap();
        Config::from_file(&config).unwrap_or_else(|e| panic!("{e}"));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "fleet_member",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("WK_FLEET_CONFIG", &config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let member = Running(child);
        let addr = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // libtest prints `test fleet_member ... ` on the same line first.
            .find_map(|l| {
                l.split_once("ADMIN ")
                    .map(|(_, addr)| addr.trim().to_owned())
            })
            .expect("the member prints its admin address");
        targets.push(format!("'{addr}'"));
        members.push(member);
    }

    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: watchkeeper\n    static_configs:\n      - targets: [{}]\n", targets.join(", ")),
    )
    .unwrap();
    let _prometheus = spawn(
        "prometheus",
        &[
            format!("--config.file={}", prom_config.display()),
            format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom-data").display()
            ),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &dir.path().join("prometheus.log"),
    );
    let prom: std::net::SocketAddr = format!("127.0.0.1:{prom_port}").parse().unwrap();
    let scalar = |q: &str| -> Option<f64> {
        if !up(prom) {
            return None;
        }
        let doc: serde_json::Value =
            serde_json::from_str(&get(prom, &format!("/api/v1/query?query={}", encode(q))).body)
                .ok()?;
        doc["data"]["result"].as_array()?.first()?["value"][1]
            .as_str()?
            .parse()
            .ok()
    };

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let scraped = scalar(r#"count(up{job="watchkeeper"} == 1)"#);
        let series = scalar(
            r#"count(watchkeeper_operation_duration_seconds_count{monitor="search",kind="query"} > 0)"#,
        );
        if scraped == Some(3.0) && series == Some(3.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus saw {scraped:?} instances up and {series:?} with samples; log:\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // Each Alertmanager holds the alert of each of the three instances.
    let instances_at = |am: std::net::SocketAddr| -> Vec<String> {
        let alerts: serde_json::Value = if up(am) {
            serde_json::from_str(&get(am, "/api/v2/alerts?active=true").body).unwrap_or_default()
        } else {
            Default::default()
        };
        let mut instances: Vec<String> = alerts
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["alertname"] == "SearchLatencyHigh")
            .filter_map(|a| a["labels"]["instance"].as_str().map(str::to_owned))
            .collect();
        instances.sort();
        instances.dedup();
        instances
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ams
        .iter()
        .all(|&am| instances_at(am) == ["indexer-1", "indexer-2", "indexer-3"])
    {
        assert!(
            Instant::now() < deadline,
            "alerts at the Alertmanagers: {:?}; logs:\n{}",
            ams.iter().map(|&am| instances_at(am)).collect::<Vec<_>>(),
            am_logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // The receiver hears of every group; then, after both nodes have had time to send (the second
    // waits one peer timeout, 2 s, and finds the first one's send in the replicated log), it has
    // heard of each group once.
    let groups = || -> Vec<String> {
        hook.recorded()
            .iter()
            .filter(|r| r.path == "/hook")
            .filter_map(|r| r.json()["groupKey"].as_str().map(str::to_owned))
            .filter(|k| k.contains("SearchLatencyHigh"))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut seen = groups();
        seen.sort();
        seen.dedup();
        if seen.len() == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "groups notified: {seen:?}; logs:\n{}",
            am_logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(Duration::from_secs(8));
    let notified = groups();
    let mut distinct = notified.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{notified:?}");
    assert_eq!(
        notified.len(),
        3,
        "two clustered Alertmanagers notify each group once: {notified:#?}"
    );
    for instance in ["indexer-1", "indexer-2", "indexer-3"] {
        assert_eq!(
            distinct.iter().filter(|k| k.contains(instance)).count(),
            1,
            "one group per instance: {distinct:?}"
        );
    }
    drop(members);
}
