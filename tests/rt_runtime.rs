//! The embedding facade: start from a synchronous host and from a host's own Tokio runtime, record,
//! read statistics and health, and shut down with every thread joined.

mod common;

use std::time::Duration;

use common::host::{eventually, test_config, thread_names};
use watchkeeper::{Config, HealthStatus, Runtime};

/// The thread checks need no other runtime in the process: these tests run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn a_synchronous_host_records_reads_stats_and_health_and_shuts_down_cleanly() {
    let _serial = serial();
    let rt = Runtime::start(test_config()).unwrap();
    assert!(thread_names().iter().any(|n| n == "watchkeeper"));
    let search = rt.monitor("search").unwrap();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let h = search.clone();
            std::thread::spawn(move || {
                for i in 0..10_000u64 {
                    h.record_query(Duration::from_micros(50 + i % 50));
                }
                h.time(watchkeeper::OpKind::INDEX, || {
                    std::thread::sleep(Duration::from_millis(2))
                });
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let stats = eventually("samples collected", || {
        let s = search.stats_blocking().ok()?;
        (s.total_queries == 20_000 && s.total_indexes == 2).then_some(s)
    });
    assert!(stats.kinds[1].mean >= Duration::from_millis(2));
    let health = rt.health_blocking().unwrap();
    assert_eq!(health.status, HealthStatus::Healthy, "{:?}", health.issues);
    assert_eq!(health.score, 100);
    let names: Vec<_> = health.monitors.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["index", "search"]);
    assert!(health.monitors.iter().all(|m| m.responsive));
    assert!(
        health
            .process
            .as_ref()
            .unwrap()
            .stats
            .resident_bytes
            .unwrap()
            > 1 << 20
    );

    let report = rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    let stopped: Vec<_> = report.children.iter().map(|c| c.name.as_str()).collect();
    // The configured monitors start as "search" then "index"; they stop last-started first.
    assert_eq!(
        stopped,
        [
            "index",
            "search",
            "probe",
            "memory",
            "tuner",
            "alerting",
            "notifiers",
            "process"
        ]
    );
    assert!(
        !thread_names().iter().any(|n| n == "watchkeeper"),
        "{:?}",
        thread_names()
    );
    assert!(
        search.stats_blocking().is_err(),
        "a stopped runtime answers with an error"
    );
    search.record_query(Duration::from_millis(1)); // recording after shutdown is harmless
    assert!(matches!(
        rt.monitor("late"),
        Err(watchkeeper::MonitorError::Stopped)
    ));
    // Every question of the facade says so the same way, blocking or not.
    assert!(matches!(
        rt.alerts_blocking(),
        Err(watchkeeper::Error::Stopped)
    ));
    assert!(matches!(
        rt.silences_blocking(),
        Err(watchkeeper::Error::Stopped)
    ));
    assert!(matches!(
        rt.health_blocking(),
        Err(watchkeeper::Error::Stopped)
    ));
    let answered = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(rt.alerts());
    assert!(matches!(answered, Err(watchkeeper::Error::Stopped)));
}

#[test]
fn an_async_host_uses_the_runtime_from_its_own_tokio_runtime() {
    let _serial = serial();
    let host = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    host.block_on(async {
        let rt = Runtime::start(test_config()).unwrap();
        let index = rt.monitor("index").unwrap();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let h = index.clone();
                tokio::spawn(async move {
                    for _ in 0..1000 {
                        h.record_index(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let mut total = 0;
        for _ in 0..500 {
            total = index.stats().await.unwrap().total_indexes;
            if total == 4000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(total, 4000);
        let health = rt.health().await.unwrap();
        assert_eq!(health.status, HealthStatus::Healthy, "{:?}", health.issues);
        // Shutdown blocks; do it off the async workers.
        tokio::task::spawn_blocking(move || rt.shutdown_blocking(Duration::from_secs(5)))
            .await
            .unwrap()
            .unwrap();
    });
}

#[test]
fn dropping_the_runtime_shuts_it_down() {
    let _serial = serial();
    let rt = Runtime::start(test_config()).unwrap();
    let h = rt.monitor("search").unwrap();
    drop(rt);
    assert!(!thread_names().iter().any(|n| n == "watchkeeper"));
    assert!(h.stats_blocking().is_err());
}

#[test]
fn the_runtime_and_its_handles_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Runtime>();
    shareable::<watchkeeper::MonitorHandle>();
    shareable::<watchkeeper::SystemHealthReport>();
}

#[test]
fn several_runtimes_share_a_process_on_free_ports_and_a_taken_port_says_how_to_fix_it() {
    let _serial = serial();
    let mut c = Config::default();
    c.deployment.health_check_port = 0;
    let (a, b) = (
        Runtime::start(c.clone()).unwrap(),
        Runtime::start(c.clone()).unwrap(),
    );
    let (pa, pb) = (a.admin_addr().unwrap(), b.admin_addr().unwrap());
    assert_ne!(pa.port(), pb.port());
    assert_ne!(pa.port(), 0);
    c.deployment.health_check_port = pa.port();
    let Err(e) = Runtime::start(c) else {
        panic!("the port is taken")
    };
    let shown = e.to_string();
    assert!(
        shown.contains("health_check_port: 0") && shown.contains(&pa.port().to_string()),
        "{shown}"
    );
    a.shutdown_blocking(Duration::from_secs(5)).unwrap();
    b.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn monitors_past_the_limit_and_unusable_names_are_refused() {
    let _serial = serial();
    let mut c = Config::default();
    c.deployment.admin_enabled = false;
    c.monitoring.max_monitors = 3;
    let rt = Runtime::start(c).unwrap();
    // `search` and `index` start with the runtime.
    rt.monitor("ingest").unwrap();
    assert_eq!(
        rt.monitor("fourth").unwrap_err(),
        watchkeeper::MonitorError::TooMany { limit: 3 }
    );
    rt.monitor("search")
        .expect("an existing monitor is always handed out");
    assert!(matches!(
        rt.monitor(""),
        Err(watchkeeper::MonitorError::InvalidName { .. })
    ));
    let long = "x".repeat(10 << 20);
    let e = rt.monitor(&long).unwrap_err();
    assert!(
        e.to_string().len() < 200,
        "the error does not repeat the name"
    );
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

/// A host with its own actix-web server serves watchkeeper's `/metrics` and health endpoints from
/// it (no admin server of watchkeeper's), then stops the runtime it shares in an `Arc`: the async
/// shutdown from one holder, and a second call from another that gets the same report.
#[test]
fn a_host_serves_the_endpoints_on_its_own_actix_web_server_and_stops_a_shared_runtime() {
    use std::sync::Arc;
    use watchkeeper::endpoints::Endpoint;

    let _serial = serial();
    let mut c = test_config();
    c.deployment.admin_enabled = false;
    let rt = Arc::new(Runtime::start(c).unwrap());
    assert!(rt.admin_addr().is_none());
    let search = rt.monitor("search").unwrap();
    for _ in 0..10 {
        search.record_query(Duration::from_millis(3));
    }
    rt.flush_blocking().unwrap();

    let routes = rt.actix_routes();
    let answers = common::host::on_host_server(
        move |cfg: &mut actix_web::web::ServiceConfig| {
            cfg.route(
                "/",
                actix_web::web::get().to(|| async { "the host's own page" }),
            );
            routes(cfg);
        },
        |addr| {
            ["/", "/metrics", "/health", "/health/live", "/health/ready"]
                .map(|path| common::http::get(addr, path))
        },
    );
    assert_eq!(answers[0].body, "the host's own page");
    let metrics = &answers[1];
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.body.contains(
            "watchkeeper_operation_duration_seconds_count{monitor=\"search\",kind=\"query\"} 10"
        ),
        "{}",
        metrics.body
    );
    assert_eq!(
        metrics.headers["content-type"],
        watchkeeper::exposition::CONTENT_TYPE
    );
    for answer in &answers[2..] {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.headers["content-type"], "application/health+json");
    }
    // The same answers as plain values, for any other server.
    let ready = rt.endpoint_blocking(Endpoint::Ready).unwrap();
    assert_eq!(
        (ready.status, ready.content_type),
        (200, "application/health+json")
    );

    let other = rt.clone();
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(other.shutdown(Duration::from_secs(5)))
        .unwrap();
    assert!(report.children.iter().any(|c| c.name == "search"));
    assert_eq!(
        rt.shutdown_blocking(Duration::from_secs(5)).unwrap(),
        report
    );
    assert!(
        !thread_names().iter().any(|n| n == "watchkeeper"),
        "{:?}",
        thread_names()
    );
}
