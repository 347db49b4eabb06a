//! Dependency checks against real listeners on 127.0.0.1: one that accepts, one that refuses, one
//! that accepts and never answers, one that answers 500, and a check the host registers. Each shows
//! in `/health` with its latency and last error; a failing critical one makes `/health/ready` 503
//! until it passes again. A registered check that blocks holds up neither the runtime nor its
//! timeout.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::host::{eventually, test_config};
use common::http::get;
use common::receiver::{Receiver, Refusing, Reply};
use watchkeeper::config::{ProbeDef, ProbeTarget};
use watchkeeper::Runtime;

fn def(name: &str, target: ProbeTarget, critical: bool) -> ProbeDef {
    ProbeDef {
        name: name.into(),
        target,
        critical,
    }
}

fn check<'a>(health: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    find(health, name)
        .unwrap_or_else(|| panic!("no check {name} in {}", health["details"]["checks"]))
}

fn find<'a>(health: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    health["details"]["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
}

#[test]
fn probes_report_each_dependency_and_critical_failures_make_the_process_unready() {
    let accepting = TcpListener::bind("127.0.0.1:0").unwrap();
    let refusing = Refusing::bind();
    let refused = refusing.addr;
    let ok = Receiver::start(vec![], Reply::Status(200, vec![]));
    let hanging = Receiver::start(vec![], Reply::Hang(Duration::from_secs(5)));
    let broken = Receiver::start(vec![], Reply::Status(500, vec![]));

    let mut c = test_config();
    c.probes.interval = Duration::from_millis(100);
    c.probes.timeout = Duration::from_millis(300);
    c.probes.checks = vec![
        def(
            "db",
            ProbeTarget::Tcp(accepting.local_addr().unwrap().to_string()),
            true,
        ),
        def("api", ProbeTarget::Http(ok.url("/health")), true),
        def("cache", ProbeTarget::Tcp(refused.to_string()), false),
        def("slow", ProbeTarget::Http(hanging.url("/health")), false),
        def("search-backend", ProbeTarget::Http(broken.url("/")), false),
    ];
    let rt = Runtime::start(c).unwrap();
    let addr = rt.admin_addr().unwrap();
    let store_up = Arc::new(AtomicBool::new(false));
    let flag = store_up.clone();
    rt.register_check("object-store", true, move || {
        let up = flag.load(Ordering::SeqCst);
        async move {
            if up {
                Ok(())
            } else {
                Err("bucket unreachable".to_owned())
            }
        }
    });

    let health = eventually("every check has run", || {
        let h: serde_json::Value = serde_json::from_str(&get(addr, "/health").body).ok()?;
        let checks = h["details"]["checks"].as_array()?;
        (checks.len() == 6 && checks.iter().all(|c| !c["checked_at"].is_null())).then_some(h)
    });
    for name in ["db", "api"] {
        let c = check(&health, name);
        assert_eq!(c["up"], true, "{c}");
        assert!(c["latency_seconds"].as_f64().unwrap() < 0.3, "{c}");
    }
    let cache = check(&health, "cache");
    assert_eq!(cache["up"], false);
    assert!(
        cache["last_error"].as_str().unwrap().contains("refused"),
        "{cache}"
    );
    let slow = check(&health, "slow");
    assert_eq!(slow["up"], false);
    assert!(
        slow["last_error"]
            .as_str()
            .unwrap()
            .contains("no answer within 300ms"),
        "{slow}"
    );
    assert!(slow["latency_seconds"].as_f64().unwrap() >= 0.3);
    assert_eq!(
        check(&health, "search-backend")["last_error"],
        "answered 500"
    );
    let store = check(&health, "object-store");
    assert_eq!(store["kind"], "registered");
    assert_eq!(store["last_error"], "bucket unreachable");

    // The registered check is critical and down: not ready, and /health fails naming it.
    let ready = get(addr, "/health/ready");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("object-store"), "{}", ready.body);
    assert_eq!(health["status"], "fail");
    let notes = health["notes"].to_string();
    assert!(
        notes.contains("critical dependency `object-store` is down: bucket unreachable"),
        "{notes}"
    );
    assert!(notes.contains("dependency `cache` is down"), "{notes}");

    // It recovers: ready again, and /health only warns (for the non-critical ones).
    store_up.store(true, Ordering::SeqCst);
    eventually("ready once the critical check passes", || {
        (get(addr, "/health/ready").status == 200).then_some(())
    });
    let health: serde_json::Value = serde_json::from_str(&get(addr, "/health").body).unwrap();
    assert_eq!(health["status"], "warn", "{}", health["notes"]);
    let store = check(&health, "object-store");
    assert_eq!(store["up"], true);
    assert_eq!(
        store["last_error"], "bucket unreachable",
        "the last error stays for the operator"
    );
    assert!(store["failures"].as_u64().unwrap() >= 1);
    drop(accepting);
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_panicking_registered_check_is_a_failure_and_the_runtime_carries_on() {
    let mut c = test_config();
    c.probes.interval = Duration::from_millis(50);
    let rt = Runtime::start(c).unwrap();
    let addr = rt.admin_addr().unwrap();
    rt.register_check("flaky", false, || async { panic!("the driver fell over") });
    let health = eventually("the check ran", || {
        let h: serde_json::Value = serde_json::from_str(&get(addr, "/health").body).ok()?;
        h["details"]["checks"]
            .as_array()?
            .iter()
            .any(|c| c["name"] == "flaky" && c["up"] == false)
            .then_some(h)
    });
    assert_eq!(
        check(&health, "flaky")["last_error"],
        "the check panicked: the driver fell over"
    );
    assert_eq!(get(addr, "/health/ready").status, 200, "not critical");
    assert_eq!(get(addr, "/health/live").status, 200);
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

/// A shutdown while a check awaits takes nothing from under it: the check runs on a runtime of
/// its own, so no timer of the runtime that stops is left for it to poll (it panicked inside
/// tokio, "A Tokio 1.x context was found, but it is being shutdown", which ends a host built with
/// `panic = "abort"`).
#[test]
fn a_shutdown_while_a_check_awaits_panics_nowhere() {
    use std::sync::atomic::AtomicUsize;
    static IN_TOKIO: AtomicUsize = AtomicUsize::new(0);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info
            .to_string()
            .contains("context was found, but it is being shutdown")
        {
            IN_TOKIO.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
    let mut c = test_config();
    c.deployment.admin_enabled = false;
    c.probes.interval = Duration::from_millis(50);
    c.probes.timeout = Duration::from_millis(400);
    let rt = Runtime::start(c).unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let mark = started.clone();
    rt.register_check("grpc", true, move || {
        let mark = mark.clone();
        async move {
            mark.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(())
        }
    });
    eventually("the check awaits", || {
        started.load(Ordering::SeqCst).then_some(())
    });
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    // Past the check's timeout, when its timer fires.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(IN_TOKIO.load(Ordering::SeqCst), 0);
}

/// What a check keeps from one run to the next (here a timer, as a connection pool keeps its
/// sockets) stays usable: its runs share one runtime.
#[test]
fn a_check_keeps_what_it_made_in_an_earlier_run() {
    let mut c = test_config();
    c.deployment.admin_enabled = false;
    c.probes.interval = Duration::from_millis(50);
    c.probes.timeout = Duration::from_secs(1);
    let rt = Runtime::start(c).unwrap();
    let kept: Arc<std::sync::Mutex<Option<tokio::time::Interval>>> = Arc::default();
    let passes: Arc<std::sync::Mutex<Vec<std::time::Instant>>> = Arc::default();
    let (keep, count) = (kept.clone(), passes.clone());
    rt.register_check("pooled", false, move || {
        let (keep, count) = (keep.clone(), count.clone());
        async move {
            let mut interval = keep
                .lock()
                .unwrap()
                .take()
                // A period longer than the rounds: each later run waits on the kept timer.
                .unwrap_or_else(|| tokio::time::interval(Duration::from_millis(200)));
            interval.tick().await;
            *keep.lock().unwrap() = Some(interval);
            count.lock().unwrap().push(std::time::Instant::now());
            Ok(())
        }
    });
    let passes = eventually("three runs passed on what the first made", || {
        let passes = passes.lock().unwrap();
        (passes.len() >= 3).then(|| passes.clone())
    });
    // The kept timer still keeps time: a timer of a runtime gone fired at once.
    let waited = passes[2] - passes[0];
    assert!(waited >= Duration::from_millis(350), "{waited:?}");
    let health = rt.health_blocking().unwrap();
    let check = health.checks.iter().find(|c| c.name == "pooled").unwrap();
    assert_eq!(check.up, Some(true), "{check:?}");
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_check_that_blocks_holds_up_neither_the_runtime_nor_its_timeout() {
    let mut c = test_config();
    c.probes.interval = Duration::from_millis(100);
    c.probes.timeout = Duration::from_millis(200);
    let rt = Runtime::start(c).unwrap();
    let addr = rt.admin_addr().unwrap();
    let search = rt.monitor("search").unwrap();
    // A synchronous call that takes 1.5 s, as a stuck file system or driver would.
    rt.register_check("slow-disk", false, || async {
        std::thread::sleep(Duration::from_millis(1500));
        Ok(())
    });
    // One that awaits forever is cancelled at its timeout, and every round runs it afresh.
    rt.register_check("hung", false, || async {
        std::future::pending::<()>().await;
        Ok(())
    });
    // A check may use the host's blocking calls: it does not run on the runtime's thread.
    let asked = search.clone();
    rt.register_check("stats", true, move || {
        let asked = asked.clone();
        async move {
            asked
                .stats_blocking()
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    });
    let health = eventually("the slow check timed out", || {
        let h: serde_json::Value = serde_json::from_str(&get(addr, "/health").body).ok()?;
        // A round that finds the run past its timeout says so; the rounds after it find it still
        // going, until it returns and the next run times out again.
        (find(&h, "slow-disk")?["last_error"] == "no answer within 200ms"
            && find(&h, "stats")?["up"] == true)
            .then_some(h)
    });
    assert_eq!(check(&health, "slow-disk")["up"], false);
    assert_eq!(
        check(&health, "slow-disk")["last_error"],
        "no answer within 200ms"
    );
    assert_eq!(check(&health, "stats")["up"], true, "{health}");
    // While the slow run goes on, the runtime answers at once, and the next rounds report the run
    // still going instead of starting more.
    let started = std::time::Instant::now();
    search.stats_blocking().unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    let health = eventually("a round found the run still going", || {
        let h: serde_json::Value = serde_json::from_str(&get(addr, "/health").body).ok()?;
        find(&h, "slow-disk")?["last_error"]
            .as_str()?
            .contains("earlier run is still going")
            .then_some(h)
    });
    assert_eq!(get(addr, "/health/ready").status, 200, "{health}");
    let hung = check(&health, "hung");
    assert_eq!(hung["last_error"], "no answer within 200ms", "{hung}");
    assert!(hung["runs"].as_u64().unwrap() >= 2, "{hung}");
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[cfg(feature = "test-util")]
#[test]
fn on_a_paused_clock_a_check_that_awaits_a_timer_runs_in_virtual_time() {
    let mut c = test_config();
    c.deployment.admin_enabled = false;
    c.probes.interval = Duration::from_secs(10);
    c.probes.timeout = Duration::from_secs(1);
    let rt = Runtime::builder().config(c).paused().start().unwrap();
    rt.register_check("timer", true, || async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    });
    // The check's sleep passes as the clock is moved, not held still by the check.
    rt.advance_blocking(Duration::from_secs(1)).unwrap();
    let report = rt.health_blocking().unwrap();
    let timer = report.checks.iter().find(|c| c.name == "timer").unwrap();
    assert_eq!(timer.up, Some(true), "{timer:?}");
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_critical_dependency_never_reached_is_down_at_its_first_failure() {
    let refusing = Refusing::bind();
    let mut c = test_config();
    c.probes.interval = Duration::from_secs(30);
    c.probes.timeout = Duration::from_secs(1);
    c.probes.failures_before_down = 3;
    c.probes.checks = vec![def("db", ProbeTarget::Tcp(refusing.addr.to_string()), true)];
    let rt = Runtime::start(c).unwrap();
    let addr = rt.admin_addr().unwrap();
    let health = eventually("the first round", || {
        let h: serde_json::Value = serde_json::from_str(&get(addr, "/health").body).ok()?;
        (find(&h, "db")?["runs"] == 1).then_some(h)
    });
    assert_eq!(check(&health, "db")["up"], false, "{health}");
    let ready = get(addr, "/health/ready");
    assert_eq!(ready.status, 503, "{}", ready.body);
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_probe_url_with_a_login_is_refused_without_showing_it() {
    let mut c = test_config();
    c.probes.checks = vec![def(
        "auth",
        ProbeTarget::Http("http://probe:hunter2-secret@127.0.0.1:1/health".into()),
        true,
    )];
    let v = c.validate();
    let finding = v
        .findings
        .iter()
        .find(|f| f.field == "probes.checks[0].target")
        .unwrap_or_else(|| panic!("{v}"));
    assert!(finding.message.contains("cannot carry a login"), "{v}");
    assert!(!v.to_string().contains("hunter2"), "{v}");
    let Err(e) = Runtime::start(c) else {
        panic!("a runtime started with a probe URL carrying a login");
    };
    assert!(!e.to_string().contains("hunter2"), "{e}");
}
