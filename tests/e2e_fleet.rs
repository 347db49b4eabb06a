//! A fleet: three runtime processes on 127.0.0.1 (different admin ports), a real Prometheus scraping
//! all three and a real Alertmanager receiving their alerts. Asserted through their HTTP APIs: every
//! instance's series are scraped, and the same alert from the three instances arrives as one
//! notification group. Every process started is stopped.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http::get;
use common::process::{encode, free_port, require, spawn, Running, TempDir};
use watchkeeper::config::DEFAULT_RON;
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
    rt.shutdown(Duration::from_secs(5)).unwrap();
}

fn member_config(instance: &str, alertmanager: &str) -> String {
    DEFAULT_RON
        .replace("health_check_port: 8080", "health_check_port: 0")
        .replace("tick: \"1s\"", "tick: \"100ms\"")
        .replace("check_interval: \"10s\"", "check_interval: \"200ms\"")
        .replace("external_labels: {}", &format!("external_labels: {{\"instance\": \"{instance}\"}}"))
        .replace("                for: \"1m\",", "                for: \"0s\",")
        .replace(
            "alertmanager: (enabled: false, urls: [], resend_interval: \"1m\")",
            &format!("alertmanager: (enabled: true, urls: [\"{alertmanager}\"], resend_interval: \"1s\")"),
        )
}

#[test]
fn prometheus_and_alertmanager_see_a_fleet_of_three() {
    if !require("prometheus", "prometheus")
        || !require("prometheus-alertmanager", "prometheus-alertmanager")
    {
        return;
    }
    let dir = TempDir::new("fleet");
    let am_port = free_port();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        "route:\n  receiver: blackhole\n  group_by: ['alertname']\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let _alertmanager = spawn(
        "prometheus-alertmanager",
        &[
            format!("--config.file={}", am_config.display()),
            format!("--storage.path={}", dir.path().join("am-data").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".into(),
        ],
        &dir.path().join("alertmanager.log"),
    );

    let mut members = Vec::new();
    let mut targets = Vec::new();
    for i in 1..=3 {
        let config = dir.path().join(format!("indexer-{i}.ron"));
        std::fs::write(
            &config,
            member_config(
                &format!("indexer-{i}"),
                &format!("http://127.0.0.1:{am_port}"),
            ),
        )
        .unwrap();
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
    let am: std::net::SocketAddr = format!("127.0.0.1:{am_port}").parse().unwrap();
    let up = |addr: std::net::SocketAddr| {
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
    };
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

    let deadline = Instant::now() + Duration::from_secs(60);
    let group = loop {
        let groups: serde_json::Value = if up(am) {
            serde_json::from_str(&get(am, "/api/v2/alerts/groups").body).unwrap_or_default()
        } else {
            Default::default()
        };
        let ours: Vec<&serde_json::Value> = groups
            .as_array()
            .map(|g| {
                g.iter()
                    .filter(|g| g["labels"]["alertname"] == "SearchLatencyHigh")
                    .collect()
            })
            .unwrap_or_default();
        if ours.len() == 1 && ours[0]["alerts"].as_array().is_some_and(|a| a.len() >= 3) {
            break ours[0].clone();
        }
        assert!(Instant::now() < deadline, "Alertmanager groups: {groups}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let mut instances: Vec<String> = group["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["severity"] == "critical" || a["labels"]["severity"] == "warning")
        .filter_map(|a| a["labels"]["instance"].as_str().map(str::to_owned))
        .collect();
    instances.sort();
    instances.dedup();
    assert_eq!(
        instances,
        ["indexer-1", "indexer-2", "indexer-3"],
        "{group}"
    );
    drop(members);
}
