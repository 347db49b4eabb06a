//! A real Prometheus server (Debian `prometheus`) scrapes the runtime on 127.0.0.1; our series are
//! read back through Prometheus' query API. Prometheus asks for OpenMetrics first, so it scrapes
//! that format; with its exemplar storage on, the trace id recorded with one query is read back
//! through `/api/v1/query_exemplars`.

mod common;

use std::time::{Duration, Instant};

use common::http::get;
use common::process::{encode, free_port, require, spawn, TempDir};
use watchkeeper::{Config, Runtime};

#[test]
fn prometheus_scrapes_our_series() {
    if !require("prometheus", "prometheus") {
        return;
    }
    let mut c = Config::default();
    c.monitoring.tick = Duration::from_millis(50);
    c.deployment.health_check_port = 0;
    let rt = Runtime::start(c).unwrap();
    let target = rt.admin_addr().unwrap();
    let search = rt.monitor("search").unwrap();
    for i in 0..999u64 {
        search.record_query(Duration::from_micros(100 + i));
    }
    search.record_with_trace(
        watchkeeper::OpKind::QUERY,
        Duration::from_micros(1099),
        "4bf92f3577b34da6a3ce929d0e0e4736",
    );

    let dir = TempDir::new("prometheus");
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: watchkeeper\n    static_configs:\n      - targets: ['{target}']\n"),
    )
    .unwrap();
    let _prometheus = spawn(
        "prometheus",
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--enable-feature=exemplar-storage".to_owned(),
        ],
        &dir.path().join("prometheus.log"),
    );
    let api: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let query = |q: &str| -> Option<serde_json::Value> {
        if std::net::TcpStream::connect_timeout(&api, Duration::from_millis(100)).is_err() {
            return None;
        }
        let r = get(api, &format!("/api/v1/query?query={}", encode(q)));
        let doc: serde_json::Value = serde_json::from_str(&r.body).ok()?;
        let result = doc["data"]["result"].as_array()?.first()?.clone();
        Some(result)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let count = loop {
        if let Some(r) =
            query(r#"watchkeeper_operation_duration_seconds_count{monitor="search",kind="query"}"#)
        {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never showed our series; log:\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(count["value"][1], "1000", "{count}");
    let up = query(r#"up{job="watchkeeper"}"#).unwrap();
    assert_eq!(up["value"][1], "1");
    let p99 = query(r#"histogram_quantile(0.99, watchkeeper_operation_duration_seconds_bucket{monitor="search",kind="query"})"#).unwrap();
    let p99: f64 = p99["value"][1].as_str().unwrap().parse().unwrap();
    assert!(
        p99 > 0.0005 && p99 <= 0.0025,
        "Prometheus computes a p99 within our buckets: {p99}"
    );

    // The exemplar, as Prometheus stored it from the OpenMetrics scrape.
    let now = chrono::Utc::now().timestamp();
    let exemplars = get(
        api,
        &format!(
            "/api/v1/query_exemplars?query={}&start={}&end={}",
            encode(
                r#"watchkeeper_operation_duration_seconds_bucket{monitor="search",kind="query"}"#
            ),
            now - 600,
            now + 60
        ),
    );
    let doc: serde_json::Value = serde_json::from_str(&exemplars.body).unwrap();
    let found: Vec<&serde_json::Value> = doc["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"))
        .iter()
        .flat_map(|series| series["exemplars"].as_array().into_iter().flatten())
        .collect();
    assert!(
        found.iter().any(
            |e| e["labels"]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
                && e["value"] == "0.001099"
        ),
        "{doc}"
    );
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}
