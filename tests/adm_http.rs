//! The admin HTTP server: probes, health, the Prometheus exposition (checked by `promtool`), token-guarded
//! mutation, and hostile requests. Everything over real HTTP on 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::host::{eventually, test_config};
use common::http::{get, request, Response};
use watchkeeper::actors::alerting::{AlertSeverity, SetExternalAlert};
use watchkeeper::config::Secret;
use watchkeeper::Runtime;

#[test]
fn probes_and_health_answer_with_health_json() {
    let rt = Runtime::start(test_config()).unwrap();
    let addr = rt.admin_addr().unwrap();
    assert!(addr.ip().is_loopback(), "binds loopback by default");
    let live = get(addr, "/health/live");
    assert_eq!(live.status, 200);
    assert_eq!(live.headers["content-type"], "application/health+json");
    assert_eq!(get(addr, "/health/ready").status, 200);
    let health = get(addr, "/health");
    assert_eq!(health.status, 200, "{}", health.body);
    let doc: serde_json::Value = serde_json::from_str(&health.body).unwrap();
    assert_eq!(doc["status"], "pass", "{doc}");
    assert!(
        doc["details"]["process"]["stats"]["resident_bytes"]
            .as_u64()
            .unwrap()
            > 0
    );
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(),
        "the server stopped with the runtime"
    );
}

#[test]
fn an_escalated_runtime_is_not_ready_and_fails_health() {
    let mut c = test_config();
    c.supervisor.intensity.max_restarts = 0;
    let rt = Runtime::start(c).unwrap();
    let addr = rt.admin_addr().unwrap();
    let _ = rt
        .monitor("search")
        .unwrap()
        .actor()
        .tell(watchkeeper::actors::harness::InjectPanic);
    eventually("escalation", || rt.escalated().then_some(()));
    assert_eq!(
        get(addr, "/health/live").status,
        200,
        "liveness depends on nothing else"
    );
    let ready = get(addr, "/health/ready");
    assert_eq!(ready.status, 503, "{}", ready.body);
    let health = get(addr, "/health");
    assert_eq!(health.status, 503);
    let doc: serde_json::Value = serde_json::from_str(&health.body).unwrap();
    assert_eq!(doc["status"], "fail");
    assert!(
        doc["notes"][0]
            .as_str()
            .unwrap()
            .contains("restart intensity"),
        "{doc}"
    );
}

#[test]
fn metrics_follow_the_exposition_format_and_count_exactly() {
    let rt = Runtime::start(test_config()).unwrap();
    let addr = rt.admin_addr().unwrap();
    let search = rt.monitor("search").unwrap();
    for i in 0..1000u64 {
        search.record_query(Duration::from_micros(200 + i)); // 0.2 .. 1.2 ms
    }
    search.record_error(watchkeeper::OpKind::QUERY);
    search.counter("cache_misses").increment(2);
    search.gauge("queue_depth").set(3.0);
    // A monitor cannot take the name of another of the runtime's actors, whose series it would
    // share.
    for taken in ["alerting", "notifiers", "log", "webhook"] {
        let e = rt.monitor(taken).unwrap_err();
        assert!(e.to_string().contains("is the name of"), "{e}");
    }
    let text = eventually("samples exported", || {
        let r = get(addr, "/metrics");
        r.body.contains("watchkeeper_operation_duration_seconds_count{monitor=\"search\",kind=\"query\"} 1000").then_some(r)
    });
    assert_eq!(text.status, 200);
    assert_eq!(
        text.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = &text.body;
    assert!(body.contains("watchkeeper_operation_duration_seconds_bucket{monitor=\"search\",kind=\"query\",le=\"0.0005\"} 301"), "{body}");
    assert!(body.contains("watchkeeper_operation_duration_seconds_bucket{monitor=\"search\",kind=\"query\",le=\"0.001\"} 801"), "{body}");
    assert!(
        body.contains("watchkeeper_operation_errors_total{monitor=\"search\",kind=\"query\"} 1")
    );
    assert!(body.contains("watchkeeper_actor_restarts_total{actor=\"search\"} 0"));
    assert!(body.contains("watchkeeper_process_resident_memory_bytes "));
    // The process families as the Prometheus client libraries name them.
    for family in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_virtual_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(
            body.lines().any(|l| l.starts_with(family)),
            "{family}: {body}"
        );
    }
    assert!(body.contains(&format!(
        "watchkeeper_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
    for family in watchkeeper::exposition::FAMILIES {
        assert!(
            body.matches(&format!("# TYPE {} ", family.0)).count() <= 1,
            "{} typed once",
            family.0
        );
    }
    let mut seen = std::collections::HashMap::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let series = line.rsplit_once(' ').unwrap().0;
        *seen.entry(series.to_owned()).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(twice.is_empty(), "series written more than once: {twice:?}");
    assert!(
        body.contains("watchkeeper_count_total{monitor=\"search\",counter=\"cache_misses\"} 2"),
        "{body}"
    );
    match Command::new("promtool").arg("check").arg("metrics").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn() {
        Ok(mut child) => {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics: {said}");
        }
        Err(e) => eprintln!("SKIPPED: promtool check metrics (promtool not runnable: {e}); install the `prometheus` package"),
    }
}

#[test]
fn mutating_endpoints_need_the_token_and_bad_requests_get_json_errors() {
    std::env::set_var("WK_TEST_ADMIN_TOKEN", "s3cret-token");
    let mut c = test_config();
    c.deployment.admin_token = Some(Secret::Env("WK_TEST_ADMIN_TOKEN".into()));
    let rt = Runtime::start(c).unwrap();
    let addr = rt.admin_addr().unwrap();
    let json = [("Content-Type", "application/json")];
    let ok_auth = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer s3cret-token"),
    ];
    let bad_auth = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer wrong"),
    ];
    let body = br#"{"fraction": 0.25}"#;

    let r = request(addr, "POST", "/monitors/search/sampling", &json, body);
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    assert_eq!(
        request(addr, "POST", "/monitors/search/sampling", &bad_auth, body).status,
        401
    );
    let r = request(addr, "POST", "/monitors/search/sampling", &ok_auth, body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["fraction"],
        0.25
    );
    assert_eq!(
        rt.monitor("search")
            .unwrap()
            .stats_blocking()
            .unwrap()
            .sample_fraction,
        0.25
    );

    for (path, body, status) in [
        ("/monitors/search/sampling", &b"{not json"[..], 400),
        ("/monitors/search/sampling", br#"{"fraction": 7}"#, 400),
        (
            "/monitors/search/sampling",
            br#"{"fraction": 0.5, "extra": 1}"#,
            400,
        ),
        ("/monitors/nobody/sampling", br#"{"fraction": 0.5}"#, 404),
    ] {
        let r = request(addr, "POST", path, &ok_auth, body);
        assert_eq!(r.status, status, "{path} {}", r.body);
        assert!(
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["error"].is_string(),
            "{}",
            r.body
        );
    }
    let huge = vec![b' '; 100_000];
    assert_eq!(
        request(addr, "POST", "/monitors/search/sampling", &ok_auth, &huge).status,
        413
    );
    let r = get(addr, "/nope");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("no such endpoint"));
    let long_header = "x".repeat(256 * 1024);
    let r = request(
        addr,
        "GET",
        "/health/live",
        &[("X-Long", &long_header)],
        b"",
    );
    assert!(
        r.status == 0 || (400..500).contains(&r.status),
        "oversized headers are refused: {}",
        r.status
    );
    // The server and the runtime are still fine.
    assert_eq!(get(addr, "/health/live").status, 200);
    assert_eq!(get(addr, "/health").status, 200);
}

#[test]
fn without_a_configured_token_mutation_is_refused() {
    let rt = Runtime::start(test_config()).unwrap();
    let addr = rt.admin_addr().unwrap();
    let r = request(
        addr,
        "POST",
        "/monitors/search/sampling",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer anything"),
        ],
        br#"{"fraction": 0.5}"#,
    );
    assert_eq!(r.status, 403, "{}", r.body);
}

#[test]
fn alerts_can_be_listed_acknowledged_and_silenced_over_http() {
    std::env::set_var("WK_TEST_ALERTS_TOKEN", "tok-123");
    let mut c = test_config();
    c.deployment.admin_token = Some(Secret::Env("WK_TEST_ALERTS_TOKEN".into()));
    c.alerting.check_interval = Duration::from_millis(50);
    c.alerting.group_wait = Duration::ZERO;
    c.alerting.rules[0].for_ = Duration::ZERO;
    c.alerting.rules[0].warning = None;
    c.alerting.rules[0].critical = Some(0.05);
    let rt = Runtime::start(c).unwrap();
    let addr = rt.admin_addr().unwrap();
    let search = rt.monitor("search").unwrap();
    for _ in 0..50 {
        search.record_query(Duration::from_millis(80));
    }
    let listed: serde_json::Value = eventually("the alert fires", || {
        let doc: serde_json::Value = serde_json::from_str(&get(addr, "/alerts").body).ok()?;
        (doc["alerts"].as_array()?.first()?["state"] == "firing").then_some(doc)
    });
    let alert = &listed["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "SearchLatencyHigh");
    let fp = alert["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(fp.len(), 16);

    let json = ("Content-Type", "application/json");
    let auth = ("Authorization", "Bearer tok-123");
    let ack = format!("/alerts/{fp}/acknowledge");
    assert_eq!(
        request(addr, "POST", &ack, &[json], br#"{"by": "ana"}"#).status,
        401
    );
    let r = request(addr, "POST", &ack, &[json, auth], br#"{"by": "ana"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    for bad in ["zz", "+1", "00000000000000001"] {
        assert_eq!(
            request(
                addr,
                "POST",
                &format!("/alerts/{bad}/acknowledge"),
                &[json, auth],
                br#"{"by": "ana"}"#
            )
            .status,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        request(
            addr,
            "POST",
            "/alerts/00000000000000ff/acknowledge",
            &[json, auth],
            br#"{"by": "ana"}"#
        )
        .status,
        404
    );
    let doc: serde_json::Value = serde_json::from_str(&get(addr, "/alerts").body).unwrap();
    assert_eq!(doc["alerts"][0]["acknowledged_by"], "ana");

    // Silences through Alertmanager's API (tests/alr_amtool.rs drives it with the real amtool).
    let now = chrono::Utc::now();
    let silence = |ends: chrono::DateTime<chrono::Utc>, name: &str| {
        format!(
            r#"{{"matchers": [{{"name": "alertname", "value": "{name}", "isRegex": false, "isEqual": true}}], "startsAt": "{}", "endsAt": "{}", "createdBy": "ana", "comment": "deploy"}}"#,
            now.to_rfc3339(),
            ends.to_rfc3339()
        )
    };
    let body = silence(now + chrono::Duration::hours(1), "SearchLatencyHigh");
    assert_eq!(
        request(addr, "POST", "/api/v2/silences", &[json], body.as_bytes()).status,
        401,
        "the token is needed"
    );
    let r = request(
        addr,
        "POST",
        "/api/v2/silences",
        &[json, auth],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let id = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let silenced = eventually("the silence applies", || {
        let doc: serde_json::Value = serde_json::from_str(&get(addr, "/alerts").body).ok()?;
        (doc["alerts"][0]["silenced"] == true).then_some(doc)
    });
    assert_eq!(silenced["silences"][0]["comment"], "deploy");
    assert_eq!(silenced["alerts"][0]["silenced_by"][0], id.as_str());
    let bad = silence(now - chrono::Duration::minutes(30), "X");
    let r = request(
        addr,
        "POST",
        "/api/v2/silences",
        &[json, auth],
        bad.as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("end time"), "{}", r.body);
    let expire = format!("/api/v2/silence/{id}");
    assert_eq!(request(addr, "DELETE", &expire, &[], b"").status, 401);
    assert_eq!(request(addr, "DELETE", &expire, &[auth], b"").status, 200);
    assert_eq!(
        request(addr, "DELETE", &expire, &[auth], b"").status,
        200,
        "expiring again changes nothing"
    );
    let doc: serde_json::Value = serde_json::from_str(&get(addr, &expire).body).unwrap();
    assert_eq!(doc["status"]["state"], "expired");
    assert_eq!(
        request(addr, "DELETE", "/api/v2/silence/abc", &[auth], b"").status,
        404
    );

    let metrics = get(addr, "/metrics").body;
    assert!(
        metrics.contains("watchkeeper_alerts{state=\"firing\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("watchkeeper_notifications_total{channel=\"log\",outcome=\"delivered\"}")
    );
    let rule_value: f64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "watchkeeper_alert_rule_value{rule=\"SearchLatencyHigh\",kind=\"threshold\"} ",
            )
        })
        .unwrap_or_else(|| panic!("no rule value in {metrics}"))
        .parse()
        .unwrap();
    assert!((0.079..0.081).contains(&rule_value), "{rule_value}");
    let health: serde_json::Value = serde_json::from_str(&get(addr, "/health").body).unwrap();
    assert_eq!(health["details"]["alerting"]["active_alerts"], 1);
}

/// `POST /-/reload` reads the file again: with the token; 200 and what changed when valid; 400 with
/// the findings (field and position) when not, and then nothing changed.
#[test]
fn reload_over_http_applies_a_valid_file_and_refuses_an_invalid_one() {
    let dir = common::process::TempDir::new("adm-reload");
    let file = dir.path().join("config.ron");
    let text = |window: &str| {
        format!(
            "(\n    monitoring: (window: {window}),\n    deployment: (health_check_port: 0, admin_token: Value(\"s3cret\")),\n)\n"
        )
    };
    // The same with a rule of its own added.
    let with_rule = |window: &str| {
        format!(
            "(\n    monitoring: (window: {window}, tick: \"20ms\"),\n    alerting: (check_interval: \"50ms\", rules: [(name: \"IndexSlow\", monitor: Some(\"index\"), metric: p99, warning: Some(0.2))]),\n    deployment: (health_check_port: 0, admin_token: Value(\"s3cret\")),\n)\n"
        )
    };
    std::fs::write(&file, text("60")).unwrap();
    let rt = Runtime::builder().config_file(&file).start().unwrap();
    let addr = rt.admin_addr().unwrap();
    let auth = [("Authorization", "Bearer s3cret")];

    assert_eq!(request(addr, "POST", "/-/reload", &[], b"").status, 401);
    std::fs::write(&file, text("30")).unwrap();
    let r = request(addr, "POST", "/-/reload", &auth, b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["status"], "success");
    assert_eq!(rt.config().monitoring.window, 30);

    // A new rule takes effect: the alerting actor evaluates it from now on.
    std::fs::write(&file, with_rule("30")).unwrap();
    let r = request(addr, "POST", "/-/reload", &auth, b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(rt
        .config()
        .alerting
        .rules
        .iter()
        .any(|r| r.name == "IndexSlow"));
    let index = rt.monitor("index").unwrap();
    eventually("the new rule is evaluated", || {
        index.record_index(Duration::from_millis(300));
        get(addr, "/metrics")
            .body
            .contains("watchkeeper_alert_rule_value{rule=\"IndexSlow\",kind=\"threshold\"} 0.3")
            .then_some(())
    });

    std::fs::write(&file, text("0")).unwrap();
    let r = request(addr, "POST", "/-/reload", &auth, b"");
    assert_eq!(r.status, 400, "{}", r.body);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let finding = &body["findings"][0];
    assert_eq!(finding["field"], "monitoring.window", "{body}");
    assert_eq!(finding["severity"], "error");
    assert_eq!(finding["position"], serde_json::json!([2, 18]), "{body}");
    assert_eq!(rt.config().monitoring.window, 30, "nothing changed");
    assert!(get(addr, "/metrics")
        .body
        .contains("watchkeeper_config_last_reload_successful 0"));

    // A file that does not parse: 400 naming the line and field, nothing changed.
    std::fs::write(&file, "(monitoring: (windw: 3))").unwrap();
    let r = request(addr, "POST", "/-/reload", &auth, b"");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("windw"), "{}", r.body);
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

/// The edges: `HEAD` where `GET` is, the scheme's case, the token checked before the body is read,
/// Alertmanager's status, receivers and groups, an invalid regex, and acknowledging an alert that
/// is not firing (409).
#[test]
fn heads_schemes_tokens_before_bodies_and_alertmanagers_read_endpoints() {
    let mut c = test_config();
    c.deployment.admin_token = Some(Secret::Value("edge-token".into()));
    c.alerting.check_interval = Duration::from_millis(50);
    // The rule breaches at once but fires only after an hour: its alert stays pending.
    c.alerting.rules[0].for_ = Duration::from_secs(3600);
    c.alerting.rules[0].warning = None;
    c.alerting.rules[0].critical = Some(0.05);
    let rt = Runtime::start(c).unwrap();
    let addr = rt.admin_addr().unwrap();

    let head = request(addr, "HEAD", "/health/live", &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "{}", head.body);
    assert_eq!(request(addr, "HEAD", "/metrics", &[], b"").status, 200);

    // A body that would be a 400 (it names fields) is never read without the token.
    let json = ("Content-Type", "application/json");
    let garbage = br#"{"matchers": 7, "nonsense": true}"#;
    let r = request(addr, "POST", "/api/v2/silences", &[json], garbage);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!r.body.contains("matchers"), "{}", r.body);
    // The scheme is case-insensitive, as RFC 9110 says.
    let lower = ("Authorization", "bearer edge-token");
    let r = request(addr, "POST", "/api/v2/silences", &[json, lower], garbage);
    assert_eq!(
        r.status, 400,
        "past the token, the body is judged: {}",
        r.body
    );

    // An invalid regex is a 400 that says so.
    let now = chrono::Utc::now();
    let bad_regex = format!(
        r#"{{"matchers": [{{"name": "alertname", "value": "Search(", "isRegex": true, "isEqual": true}}], "startsAt": "{}", "endsAt": "{}", "createdBy": "ana", "comment": "x"}}"#,
        now.to_rfc3339(),
        (now + chrono::Duration::hours(1)).to_rfc3339()
    );
    let r = request(
        addr,
        "POST",
        "/api/v2/silences",
        &[json, lower],
        bad_regex.as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("Search("), "{}", r.body);

    let status: serde_json::Value =
        serde_json::from_str(&get(addr, "/api/v2/status").body).unwrap();
    assert_eq!(status["cluster"]["status"], "disabled");
    assert_eq!(status["versionInfo"]["version"], env!("CARGO_PKG_VERSION"));
    let original = status["config"]["original"].as_str().unwrap();
    assert!(original.contains("SearchLatencyHigh"), "{original}");
    assert!(!original.contains("edge-token"), "the token is redacted");
    let receivers: serde_json::Value =
        serde_json::from_str(&get(addr, "/api/v2/receivers").body).unwrap();
    assert!(
        receivers
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "log"),
        "{receivers}"
    );

    // A pending alert: listed in its group, and acknowledging it is a conflict.
    let search = rt.monitor("search").unwrap();
    for _ in 0..50 {
        search.record_query(Duration::from_millis(80));
    }
    let fp = eventually("the alert is pending", || {
        let doc: serde_json::Value = serde_json::from_str(&get(addr, "/alerts").body).ok()?;
        let alert = doc["alerts"].as_array()?.first()?.clone();
        (alert["state"] == "pending").then(|| alert["fingerprint"].as_str().unwrap().to_owned())
    });
    let r = request(
        addr,
        "POST",
        &format!("/alerts/{fp}/acknowledge"),
        &[json, lower],
        br#"{"by": "ana"}"#,
    );
    assert_eq!(r.status, 409, "{}", r.body);
    let groups: serde_json::Value =
        serde_json::from_str(&get(addr, "/api/v2/alerts/groups").body).unwrap();
    assert!(groups.is_array(), "{groups}");
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

/// `Accept: application/openmetrics-text` gets OpenMetrics: counter families named without
/// `_total`, exemplars (a recorded trace id) on the bucket they fall in, `# EOF` last; without it
/// the Prometheus text format, no exemplars.
#[test]
fn openmetrics_is_negotiated_and_carries_exemplars() {
    let rt = Runtime::start(test_config()).unwrap();
    let addr = rt.admin_addr().unwrap();
    let search = rt.monitor("search").unwrap();
    for _ in 0..10 {
        search.record_query(Duration::from_millis(3));
    }
    search.record_with_trace(
        watchkeeper::OpKind::QUERY,
        Duration::from_millis(7),
        "4bf92f3577b34da6a3ce929d0e0e4736",
    );
    search.record_error(watchkeeper::OpKind::QUERY);
    rt.flush_blocking().unwrap();
    let om = request(
        addr,
        "GET",
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
        b"",
    );
    assert_eq!(om.status, 200);
    assert_eq!(
        om.headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = &om.body;
    assert_eq!(body.lines().last(), Some("# EOF"), "{body}");
    assert!(
        body.contains("# TYPE watchkeeper_operation_errors counter\n"),
        "{body}"
    );
    assert!(
        body.contains("watchkeeper_operation_errors_total{monitor=\"search\",kind=\"query\"} 1")
    );
    assert!(
        !body.contains("# TYPE watchkeeper_operation_errors_total"),
        "{body}"
    );
    // 7 ms falls in the 10 ms bucket: the exemplar is there, with its value and a timestamp.
    let bucket = body
        .lines()
        .find(|l| {
            l.starts_with("watchkeeper_operation_duration_seconds_bucket{monitor=\"search\",kind=\"query\",le=\"0.01\"}")
        })
        .unwrap();
    assert!(
        bucket.contains(" 11 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.007 "),
        "{bucket}"
    );
    assert_eq!(body.matches("# {trace_id=").count(), 1, "{body}");
    // When the monitor's counts started from zero.
    for created in [
        "watchkeeper_operation_duration_seconds_created{monitor=\"search\",kind=\"query\"} ",
        "watchkeeper_operation_errors_created{monitor=\"search\",kind=\"query\"} ",
    ] {
        let line = body
            .lines()
            .find(|l| l.starts_with(created))
            .unwrap_or_else(|| panic!("{created} in {body}"));
        let at: f64 = line[created.len()..].parse().unwrap();
        let now = chrono::Utc::now().timestamp() as f64;
        assert!(at <= now + 1.0 && at > now - 60.0, "{line}");
    }

    let plain = get(addr, "/metrics");
    assert_eq!(
        plain.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        !plain.body.contains("# EOF")
            && !plain.body.contains("trace_id")
            && !plain.body.contains("_created")
    );
    assert!(plain
        .body
        .contains("# TYPE watchkeeper_operation_errors_total counter"));
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

/// A monitor's own export buckets: `/metrics` writes its bounds; kinds without operations are not
/// exported.
#[test]
fn a_monitor_exports_its_own_buckets() {
    let mut c = test_config();
    c.monitoring
        .monitor_buckets
        .insert("index".into(), vec![0.01, 0.1, 1.0, 60.0]);
    let rt = Runtime::start(c).unwrap();
    let index = rt.monitor("index").unwrap();
    for ms in [5, 50, 500, 5000] {
        index.record_index(Duration::from_millis(ms));
    }
    rt.flush_blocking().unwrap();
    let text = rt.render_metrics_blocking().unwrap();
    let buckets: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with(
                "watchkeeper_operation_duration_seconds_bucket{monitor=\"index\",kind=\"index\"",
            )
        })
        .collect();
    assert_eq!(
        buckets,
        [
            "watchkeeper_operation_duration_seconds_bucket{monitor=\"index\",kind=\"index\",le=\"0.01\"} 1",
            "watchkeeper_operation_duration_seconds_bucket{monitor=\"index\",kind=\"index\",le=\"0.1\"} 2",
            "watchkeeper_operation_duration_seconds_bucket{monitor=\"index\",kind=\"index\",le=\"1\"} 3",
            "watchkeeper_operation_duration_seconds_bucket{monitor=\"index\",kind=\"index\",le=\"60\"} 4",
            "watchkeeper_operation_duration_seconds_bucket{monitor=\"index\",kind=\"index\",le=\"+Inf\"} 4",
        ]
    );
    // Kinds that saw no operation (all of `search`, `query` of `index`) are no series at all.
    assert!(!text.contains("{monitor=\"search\""), "{text}");
    assert!(
        !text.contains("{monitor=\"index\",kind=\"query\""),
        "{text}"
    );
    let mut bad = test_config();
    bad.monitoring.buckets = vec![0.1, 0.05];
    assert!(bad
        .validate()
        .findings
        .iter()
        .any(|f| f.field == "monitoring.buckets" && f.message.contains("increase")));
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

/// A runtime whose routing tree sends `severity="critical"` to `pager` (with `continue`) and then
/// to `chat` (with `one_route`, one route to both), with one critical alert posted through
/// `POST /api/v2/alerts`.
fn two_receiver_runtime(one_route: bool) -> (Runtime, std::net::SocketAddr) {
    use watchkeeper::actors::alerting::{Matcher, RouteConfig};
    let mut c = test_config();
    c.deployment.admin_token = Some(Secret::Value("two-receivers".into()));
    let a = &mut c.alerting;
    a.check_interval = Duration::from_millis(50);
    a.receiver = Some(vec!["log".into()]);
    a.channels.named = [
        (
            "pager".to_owned(),
            watchkeeper::config::NamedChannel::Webhook {
                url: Secret::Value("http://127.0.0.1:9/pager".into()),
            },
        ),
        (
            "chat".to_owned(),
            watchkeeper::config::NamedChannel::Webhook {
                url: Secret::Value("http://127.0.0.1:9/chat".into()),
            },
        ),
    ]
    .into();
    a.routes = vec![
        RouteConfig {
            matchers: vec![Matcher::parse("severity=critical").unwrap()],
            receiver: Some(vec!["pager".into()]),
            continue_: true,
            ..Default::default()
        },
        RouteConfig {
            matchers: vec![Matcher::parse("severity=critical").unwrap()],
            receiver: Some(vec!["chat".into()]),
            ..Default::default()
        },
    ];
    if one_route {
        a.routes.truncate(1);
        a.routes[0].receiver = Some(vec!["pager".into(), "chat".into()]);
        a.routes[0].continue_ = false;
    }
    let v = c.validate();
    assert!(!v.has_errors(), "{v}");
    let rt = Runtime::start(c).unwrap();
    let addr = rt.admin_addr().unwrap();
    let json = ("Content-Type", "application/json");
    let auth = ("Authorization", "Bearer two-receivers");
    let r = request(
        addr,
        "POST",
        "/api/v2/alerts",
        &[json, auth],
        br#"[{"labels": {"alertname": "DiskFull", "severity": "critical"}}]"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    eventually("the posted alert is listed", || {
        let v: serde_json::Value = serde_json::from_str(&get(addr, "/api/v2/alerts").body).ok()?;
        (v.as_array()?.len() == 1).then_some(())
    });
    (rt, addr)
}

/// As in Alertmanager, `receiver` selects the groups whose own receiver matches; an alert's groups
/// for its other receivers are left out.
#[test]
fn the_groups_receiver_filter_selects_groups_by_their_own_receiver() {
    let (rt, addr) = two_receiver_runtime(false);
    let groups: serde_json::Value =
        serde_json::from_str(&get(addr, "/api/v2/alerts/groups?receiver=pager").body).unwrap();
    let receivers: Vec<String> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["receiver"]["name"].as_str().unwrap().to_owned())
        .collect();
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert_eq!(receivers, ["pager"], "groups listed for receiver=pager");
}

/// A route to two channels is one receiver in Alertmanager's terms, `pager+chat`, as `amtool
/// config routes` shows it: `receiver` picks its alerts and groups by that name as well as by each
/// channel's.
#[test]
fn the_receiver_filter_takes_a_routes_joined_name() {
    let (rt, addr) = two_receiver_runtime(true);
    let listed = |path: &str| -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(&get(addr, path).body).unwrap();
        v.as_array().unwrap().clone()
    };
    let alerts = listed("/api/v2/alerts?receiver=pager%5C%2Bchat");
    let groups = listed("/api/v2/alerts/groups?receiver=pager%5C%2Bchat");
    let by_channel = listed("/api/v2/alerts/groups?receiver=chat");
    let other = listed("/api/v2/alerts?receiver=pager%5C%2Blog");
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert_eq!(by_channel.len(), 1, "{by_channel:?}");
    assert!(other.is_empty(), "{other:?}");
}

/// Filters are bounded: at most 16 a request, and an expression that would compile to more than
/// a MiB (`\pL{200}` takes ten) is refused, each answered 400 in JSON; a request of as many
/// heavy expressions as are taken is answered.
#[test]
fn filters_that_would_cost_too_much_to_compile_are_refused() {
    let (rt, addr) = two_receiver_runtime(false);
    let query = |filters: &[&str]| {
        let q: Vec<String> = filters
            .iter()
            .map(|f| {
                format!(
                    "filter={}",
                    f.replace('\\', "%5C")
                        .replace('{', "%7B")
                        .replace('}', "%7D")
                )
            })
            .collect();
        get(addr, &format!("/api/v2/alerts?{}", q.join("&")))
    };
    let many = query(&["alertname=DiskFull"; 17]);
    let huge = query(&["alertname=~\\pL{200}"]);
    let heavy = query(&["alertname=~\\pL{5}DiskFull"; 16]);
    let silences = get(addr, "/api/v2/silences?filter=a=~%5CpL%7B200%7D");
    let receiver = get(addr, "/api/v2/alerts/groups?receiver=%5CpL%7B200%7D");
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert_eq!(many.status, 400, "{}", many.body);
    assert!(many.body.contains("at most 16 filters"), "{}", many.body);
    for refused in [&huge, &silences, &receiver] {
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(refused.body.contains("size limit"), "{}", refused.body);
    }
    assert_eq!(heavy.status, 200, "{}", heavy.body);
}

/// A runtime that takes at most `max_posted` posted alerts, posted with the token `posting`.
fn posting_runtime(max_posted: usize) -> (Runtime, std::net::SocketAddr) {
    let mut c = test_config();
    c.deployment.admin_token = Some(Secret::Value("posting".into()));
    c.alerting.max_posted_alerts = max_posted;
    let rt = Runtime::start(c).unwrap();
    let addr = rt.admin_addr().unwrap();
    (rt, addr)
}

/// `POST /api/v2/alerts` of `body` to a [`posting_runtime`].
fn post_alerts(addr: std::net::SocketAddr, body: &serde_json::Value) -> Response {
    request(
        addr,
        "POST",
        "/api/v2/alerts",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer posting"),
        ],
        body.to_string().as_bytes(),
    )
}

/// Has an actor of `rt` raise (or clear) a warning named `name`, as the memory manager does.
fn raise_inside(rt: &Runtime, name: &str, firing: bool) {
    rt.alerting()
        .ask_blocking(
            SetExternalAlert {
                name: name.into(),
                severity: AlertSeverity::Warning,
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
                value: Some(1.0),
                threshold: 0.0,
                firing,
            },
            Duration::from_secs(5),
        )
        .unwrap();
}

/// Alerts posted from outside are capped by `alerting.max_posted_alerts`: a post past it is
/// refused for the alerts it would add (400, naming the setting), the others are taken, and one
/// already active can still be posted again. Alerts the runtime's own actors raise do not count.
#[test]
fn posted_alerts_are_capped() {
    let (rt, addr) = posting_runtime(3);
    for name in ["RaisedInside1", "RaisedInside2"] {
        raise_inside(&rt, name, true);
    }
    let post = |names: &[&str]| {
        let body: Vec<serde_json::Value> = names
            .iter()
            .map(|n| serde_json::json!({ "labels": { "alertname": n } }))
            .collect();
        post_alerts(addr, &serde_json::Value::from(body))
    };
    let first = post(&["A", "B", "C", "D", "E"]);
    let again = post(&["A"]);
    let listed: serde_json::Value =
        serde_json::from_str(&get(addr, "/api/v2/alerts").body).unwrap();
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert_eq!(first.status, 400, "{}", first.body);
    assert!(
        first
            .body
            .contains("alert 3: 3 posted alerts are active already (alerting.max_posted_alerts)"),
        "{}",
        first.body
    );
    assert_eq!(again.status, 200, "{}", again.body);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 5, "two raised inside, three posted: {listed}");
    for name in ["A", "B", "C", "RaisedInside1", "RaisedInside2"] {
        assert!(names.contains(&name), "{name} missing: {listed}");
    }
}

/// An alert belongs to what raised it: a post cannot change or end an alert the runtime raises
/// itself; an actor raising an alert posted before takes it over (it no longer ends with its post,
/// and no longer takes a posted alert's place); an actor's clear leaves a posted alert alone.
#[test]
fn posts_and_actors_change_only_their_own_alerts() {
    let (rt, addr) = posting_runtime(1);
    let raise = |name: &str, firing: bool| raise_inside(&rt, name, firing);
    let post = |name: &str, ends: &str| {
        let body = serde_json::json!([{
            "labels": { "alertname": name, "severity": "warning" },
            "endsAt": ends,
        }]);
        post_alerts(addr, &body)
    };
    let listed = || -> BTreeMap<String, String> {
        let v: serde_json::Value = serde_json::from_str(&get(addr, "/api/v2/alerts").body).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let name = a["labels"]["alertname"].as_str().unwrap().to_owned();
                (name, a["endsAt"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    const FAR: &str = "2099-01-01T00:00:00.000Z";
    const PAST: &str = "2001-01-01T00:00:00.000Z";

    raise("Inside", true);
    // a post with the labels of the actor's alert, ending it: refused, the alert firing on
    let ended_from_outside = post("Inside", PAST);
    let after_refusal = listed();
    // posted, then raised by an actor: the actor's now, so the one posted place is free again
    let posted = post("Outside", FAR);
    let before_takeover = listed();
    raise("Outside", true);
    let after_takeover = listed();
    let second = post("Second", FAR);
    // an actor clearing a posted alert leaves it; clearing its own ends it
    raise("Second", false);
    raise("Outside", false);
    let last = listed();
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();

    assert_eq!(
        ended_from_outside.status, 400,
        "{}",
        ended_from_outside.body
    );
    assert!(
        ended_from_outside
            .body
            .contains("alert 0: an actor of the runtime raises an alert with these labels; a post cannot change it"),
        "{}",
        ended_from_outside.body
    );
    assert!(after_refusal.contains_key("Inside"), "{after_refusal:?}");
    assert_eq!(posted.status, 200, "{}", posted.body);
    assert_eq!(before_takeover["Outside"], FAR, "{before_takeover:?}");
    assert_ne!(after_takeover["Outside"], FAR, "{after_takeover:?}");
    assert_eq!(second.status, 200, "{}", second.body);
    let names: Vec<&str> = last.keys().map(String::as_str).collect();
    assert_eq!(names, ["Inside", "Second"], "{last:?}");
}

/// Boolean query parameters read as Alertmanager reads them (go-openapi's `ConvertBool`): `1`,
/// `yes`, `on`, `TRUE` ... are true, anything else (`0` and `FALSE` included) false, and an absent
/// or empty one keeps its default (true).
#[test]
fn boolean_filters_read_as_alertmanager_reads_them() {
    let (rt, addr) = two_receiver_runtime(false);
    let count = |query: &str| {
        let v: serde_json::Value =
            serde_json::from_str(&get(addr, &format!("/api/v2/alerts{query}")).body).unwrap();
        v.as_array().unwrap().len()
    };
    let listed: Vec<usize> = [
        "?active=0",
        "?active=FALSE",
        "?active=no",
        "?active=1",
        "?active=TRUE",
        "?active=on",
        "?active=",
        "",
    ]
    .iter()
    .map(|q| count(q))
    .collect();
    let groups: serde_json::Value =
        serde_json::from_str(&get(addr, "/api/v2/alerts/groups?receiver=pager|chat").body).unwrap();
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert_eq!(listed, [0, 0, 0, 1, 1, 1, 1, 1]);
    assert_eq!(groups.as_array().unwrap().len(), 2, "{groups}");
}

/// Blocks the actor it is sent to (the runtime's thread) for the given time: a stuck handler.
struct Wedge(Duration);
impl watchkeeper_actors::Message for Wedge {
    type Result = ();
}
impl watchkeeper_actors::Handles<Wedge> for watchkeeper_actors::process::ProcessMonitorActor {
    fn handle(&mut self, msg: Wedge, _: &mut watchkeeper_actors::ChildContext<'_, Self>) {
        std::thread::sleep(msg.0);
    }
}

/// Mounted on a host's server, the endpoints answer as the admin server's do while a handler holds
/// the runtime's thread: `/health/live` at once, the rest within the ask timeout.
#[test]
fn mounted_health_routes_answer_within_a_bound_while_an_actor_is_stuck() {
    let mut c = test_config();
    c.deployment.admin_enabled = false;
    let rt = Runtime::start(c).unwrap();
    let routes = rt.actix_routes();
    let wedged = rt.process_monitor().tell(Wedge(Duration::from_secs(5)));
    assert!(wedged.is_ok());
    std::thread::sleep(Duration::from_millis(200));
    let took = common::host::on_host_server(routes, |addr| {
        ["/health/live", "/health"].map(|path| {
            let t = std::time::Instant::now();
            let r = get(addr, path);
            (path, r.status, t.elapsed())
        })
    });
    for (path, status, elapsed) in took {
        assert!(
            elapsed < Duration::from_secs(3),
            "{path}: {status} after {elapsed:?} (the admin server: live at once, /health within the 2 s ask timeout)"
        );
    }
    rt.shutdown_blocking(Duration::from_secs(15)).unwrap();
}

/// Probes time out after a second (Kubernetes' default), and the runtime's thread answers them and
/// gathers `/health` alike: a flood of `/health` requests (1,000 monitors, hundreds of KB each) is
/// answered from one gathering a quarter second, and the probes still answer within the second.
#[test]
fn a_flood_of_health_reports_does_not_starve_the_probes() {
    let mut c = test_config();
    c.monitoring.tick = Duration::from_secs(1);
    c.monitoring.max_monitors = 1000;
    c.monitoring.monitors = (0..1000).map(|i| format!("m{i:04}")).collect();
    let rt = Runtime::start(c).unwrap();
    let addr = rt.admin_addr().unwrap();
    let size = get(addr, "/health").body.len();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = (0..32)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = common::http::try_request(addr, "GET", "/health", &[], b"");
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut slow = Vec::new();
    for i in 0..20 {
        let path = if i % 2 == 0 {
            "/health/live"
        } else {
            "/health/ready"
        };
        let t = std::time::Instant::now();
        let r = common::http::try_request(addr, "GET", path, &[], b"");
        let elapsed = t.elapsed();
        if elapsed > Duration::from_secs(1) || r.as_ref().map(|r| r.status) != Some(200) {
            slow.push(format!("{path} {:?} in {elapsed:?}", r.map(|r| r.status)));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in flood {
        t.join().unwrap();
    }
    assert!(
        slow.is_empty(),
        "/health is {size} bytes; probes over 1 s or failed during the flood: {slow:?}"
    );
    rt.shutdown_blocking(Duration::from_secs(10)).unwrap();
}

/// The health check format asks for a freshness lifetime on every answer.
#[test]
fn health_answers_carry_a_freshness_lifetime() {
    let rt = Runtime::start(test_config()).unwrap();
    let addr = rt.admin_addr().unwrap();
    for path in ["/health", "/health/ready", "/health/live"] {
        let r = get(addr, path);
        assert_eq!(r.status, 200, "{path}");
        let fresh = r.headers.contains_key("cache-control") || r.headers.contains_key("etag");
        assert!(fresh, "{path}: no Cache-Control or ETag: {:?}", r.headers);
    }
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

/// The dependency checks also in the health check format's own `checks` object.
#[test]
fn health_json_lists_dependency_checks_in_the_drafts_checks_object() {
    let rt = Runtime::start(test_config()).unwrap();
    let addr = rt.admin_addr().unwrap();
    rt.register_check("db", true, || async { Err("refused".to_owned()) });
    let doc: serde_json::Value = eventually("the check to fail", || {
        let r = get(addr, "/health");
        let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        (r.status == 503).then_some(doc)
    });
    assert_eq!(doc["status"], "fail");
    let checks = doc["checks"]
        .as_object()
        .unwrap_or_else(|| panic!("no top-level `checks` object: {}", doc["checks"]));
    let (key, entries) = checks
        .iter()
        .find(|(k, _)| k.split(':').next() == Some("db"))
        .unwrap_or_else(|| panic!("no `db:...` key in {checks:?}"));
    let entry = &entries
        .as_array()
        .unwrap_or_else(|| panic!("{key}: not an array"))[0];
    assert_eq!(entry["status"], "fail", "{entry}");
    assert!(entry["componentType"].is_string(), "{entry}");
    assert!(entry["time"].is_string(), "{entry}");
    assert!(
        entry["output"].as_str().unwrap_or("").contains("refused"),
        "{entry}"
    );
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}
