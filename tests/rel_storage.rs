//! State that survives a crash: a real `watchkeeper run` is killed with SIGKILL fifty times, each
//! time while an operator's changes are being written, and started again on the same data
//! directory. Its silence and its acknowledgement are there every time, the alert keeps the time
//! it fired, and its webhook hears of the alert once in all. A corrupt state file is moved aside
//! and the runtime starts fresh.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::{get, request};
use common::instance::Instance;
use common::process::TempDir;
use common::receiver::{Receiver, Reply};

const TOKEN: &str = "s3cret";

fn config(hook: &str) -> String {
    format!(
        r#"(
    monitoring: (monitors: ["search"], tick: "100ms"),
    alerting: (
        check_interval: "100ms",
        group_wait: "0s",
        repeat_interval: "1h",
        // Fires at once and stays firing: resident memory is more than a byte.
        rules: [(name: "MemoryHigh", metric: process_memory_bytes, warning: 1.0, for: "0s",
                 annotations: {{"summary": "resident memory is {{value}} bytes"}})],
        channels: (log: (enabled: false), webhook: (enabled: true, url: Value("{hook}"))),
    ),
    storage: (interval: "200ms"),
    deployment: (health_check_port: 0, admin_token: Value("{TOKEN}")),
)"#
    )
}

fn auth() -> String {
    format!("Bearer {TOKEN}")
}

fn post(addr: std::net::SocketAddr, path: &str, body: &str) -> common::http::Response {
    let auth = auth();
    request(
        addr,
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", auth.as_str()),
        ],
        body.as_bytes(),
    )
}

/// The alert `MemoryHigh` as `/alerts` shows it, once it fires.
fn firing(addr: std::net::SocketAddr) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let doc: serde_json::Value =
            serde_json::from_str(&get(addr, "/alerts").body).unwrap_or_default();
        if let Some(a) = doc["alerts"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["labels"]["alertname"] == "MemoryHigh"))
        {
            if a["state"] == "firing" {
                return a.clone();
            }
        }
        assert!(Instant::now() < deadline, "MemoryHigh did not fire: {doc}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The state of silence `id` as the instance lists it, if it lists it.
fn silence_state(addr: std::net::SocketAddr, id: &str) -> Option<String> {
    let silences: serde_json::Value =
        serde_json::from_str(&get(addr, "/api/v2/silences").body).unwrap();
    silences
        .as_array()?
        .iter()
        .find(|s| s["id"] == id)
        .and_then(|s| s["status"]["state"].as_str().map(str::to_owned))
}

fn notifications(hook: &Receiver) -> usize {
    hook.recorded()
        .iter()
        .filter(|r| r.json()["status"] == "firing" && r.body.contains("MemoryHigh"))
        .count()
}

#[test]
fn fifty_kills_lose_no_silence_or_acknowledgement_and_notify_once() {
    let hook = Receiver::start(vec![], Reply::Status(200, vec![]));
    let config = config(&hook.url("/hook"));
    let data = TempDir::new("storage-kill");
    let mut instance = Instance::start_in(data, &config);

    // First life: the alert fires and is notified; the operator acknowledges it and silences
    // something else for a day.
    let alert = firing(instance.addr);
    let fingerprint = alert["fingerprint"].as_str().unwrap().to_owned();
    let fired_at = alert["fired_at"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while notifications(&hook) == 0 {
        assert!(Instant::now() < deadline, "no notification");
        std::thread::sleep(Duration::from_millis(20));
    }
    let acked = post(
        instance.addr,
        &format!("/alerts/{fingerprint}/acknowledge"),
        r#"{"by": "ana"}"#,
    );
    assert_eq!(acked.status, 200, "{}", acked.body);
    let ends = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let starts = chrono::Utc::now().to_rfc3339();
    let silence = post(
        instance.addr,
        "/api/v2/silences",
        &format!(
            r#"{{"matchers": [{{"name": "alertname", "value": "Deploy.*", "isRegex": true, "isEqual": true}}], "startsAt": "{starts}", "endsAt": "{ends}", "createdBy": "ana", "comment": "rolling out"}}"#
        ),
    );
    assert_eq!(silence.status, 200, "{}", silence.body);
    let id: serde_json::Value = serde_json::from_str(&silence.body).unwrap();
    let id = id["silenceID"].as_str().unwrap().to_owned();

    for round in 0..50 {
        // Writes under way when the process dies: sampling changes (each written before it is
        // answered) from another thread, and the periodic writes.
        let stop = Arc::new(AtomicBool::new(false));
        let (addr, halt) = (instance.addr, stop.clone());
        let writer = std::thread::spawn(move || {
            let mut n = 0u32;
            while !halt.load(Ordering::Relaxed) && n < 1000 {
                let fraction = if n.is_multiple_of(2) { 0.5 } else { 1.0 };
                let auth = auth();
                let _ = common::http::try_request(
                    addr,
                    "POST",
                    "/monitors/search/sampling",
                    &[
                        ("Content-Type", "application/json"),
                        ("Authorization", auth.as_str()),
                    ],
                    format!(r#"{{"fraction": {fraction}}}"#).as_bytes(),
                );
                n += 1;
            }
            n
        });
        std::thread::sleep(Duration::from_millis(30 + (round * 37) % 170));
        let dir = instance.kill_keep_dir();
        stop.store(true, Ordering::Relaxed);
        let writes = writer.join().unwrap();
        assert!(writes > 0);
        let leftovers: Vec<String> = std::fs::read_dir(dir.path().join("watchkeeper-data"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("corrupt"))
            .collect();
        assert!(leftovers.is_empty(), "round {round}: {leftovers:?}");

        instance = Instance::start_in(dir, &config);
        assert_eq!(
            silence_state(instance.addr, &id).as_deref(),
            Some("active"),
            "round {round}: the silence is gone"
        );
        let alert = firing(instance.addr);
        assert_eq!(alert["acknowledged_by"], "ana", "round {round}: {alert}");
        assert_eq!(alert["fingerprint"], fingerprint.as_str());
        assert_eq!(
            alert["fired_at"].as_str().unwrap(),
            fired_at,
            "round {round}: the alert keeps when it fired"
        );
    }
    // Let the last life evaluate a while: nothing is notified again before repeat_interval.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        notifications(&hook),
        1,
        "notified again after a restart: {:#?}",
        hook.recorded()
            .iter()
            .map(|r| r.body.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_corrupt_state_file_is_moved_aside_and_the_runtime_starts_fresh() {
    let hook = Receiver::start(vec![], Reply::Status(200, vec![]));
    let data = TempDir::new("storage-corrupt");
    let dir = data.path().join("watchkeeper-data");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, junk) in [
        "(format: 1, saved_at: \"2026-12-0".to_owned(),
        String::from_utf8_lossy(&[0xff, 0xfe, 0x00, 0x12]).into_owned(),
        "(format: 99, saved_at: \"2026-12-01T00:00:00Z\", alerting: (format: 99, silences: [], alerts: [], groups: [], overrides: {}, detectors: {}, fired_total: 0), sampling: {})".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(dir.join("state.ron"), junk).unwrap();
        let instance = Instance::start_at(data.path(), &config(&hook.url("/hook")));
        assert_eq!(get(instance.addr, "/health/live").status, 200);
        let silences = get(instance.addr, "/api/v2/silences").body;
        assert_eq!(silences, "[]", "case {i}");
        let log = instance.log();
        assert!(
            log.contains("ERROR") && log.contains("moved aside"),
            "case {i}: {log}"
        );
        drop(instance);
        let aside = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("corrupt")
            })
            .count();
        assert_eq!(aside, i + 1, "case {i}: the file was kept aside");
    }
}

/// A clean restart (SIGTERM) keeps the silence, and the sampling an operator set comes back after
/// a clean stop and after a SIGKILL alike.
#[test]
fn a_clean_restart_keeps_silences_and_sampling_comes_back_after_either_stop() {
    let hook = Receiver::start(vec![], Reply::Status(200, vec![]));
    let config = config(&hook.url("/hook"));
    let instance = Instance::start_in(TempDir::new("storage-term"), &config);
    let sampling = |addr| -> f64 {
        let doc: serde_json::Value = serde_json::from_str(&get(addr, "/health").body).unwrap();
        doc["details"]["monitors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "search")
            .unwrap()["sample_fraction"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(sampling(instance.addr), 1.0);
    let set = post(
        instance.addr,
        "/monitors/search/sampling",
        r#"{"fraction": 0.25}"#,
    );
    assert_eq!(set.status, 200, "{}", set.body);
    let now = chrono::Utc::now();
    let silence = post(
        instance.addr,
        "/api/v2/silences",
        &format!(
            r#"{{"matchers": [{{"name": "alertname", "value": "Deploy", "isRegex": false, "isEqual": true}}], "startsAt": "{}", "endsAt": "{}", "createdBy": "ana", "comment": "deploy"}}"#,
            now.to_rfc3339(),
            (now + chrono::Duration::days(1)).to_rfc3339()
        ),
    );
    assert_eq!(silence.status, 200, "{}", silence.body);
    let id: serde_json::Value = serde_json::from_str(&silence.body).unwrap();
    let id = id["silenceID"].as_str().unwrap().to_owned();
    // The health report's checks hold the last write of the state (a report is shared for a
    // moment, so one made before the first write may answer first).
    let deadline = Instant::now() + Duration::from_secs(5);
    let doc = loop {
        let doc: serde_json::Value =
            serde_json::from_str(&get(instance.addr, "/health").body).unwrap();
        if doc["details"]["storage"]["writes"].as_u64() >= Some(1) || Instant::now() > deadline {
            break doc;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let written = &doc["checks"]["storage:lastWrite"][0];
    assert_eq!(written["status"], "pass", "{doc}");
    assert!(written["observedValue"].as_f64().unwrap() < 60.0, "{doc}");

    let instance = Instance::start_in(instance.stop_keep_dir(), &config);
    assert!(
        silence_state(instance.addr, &id).is_some(),
        "the silence is gone"
    );
    assert_eq!(sampling(instance.addr), 0.25);

    let instance = Instance::start_in(instance.kill_keep_dir(), &config);
    assert_eq!(sampling(instance.addr), 0.25);
}

/// A runtime on the data directory `dir` (admin server off), or why it did not start.
fn on_data_dir(dir: &std::path::Path) -> Result<watchkeeper::Runtime, watchkeeper::Error> {
    let mut c = watchkeeper::Config::default();
    c.deployment.admin_enabled = false;
    watchkeeper::Runtime::builder()
        .config(c)
        .data_dir(Some(dir.to_path_buf()))
        .start()
}

#[test]
fn a_data_directory_in_use_by_another_runtime_is_refused_and_freed_at_shutdown() {
    let dir = TempDir::new("storage-shared");
    let data = dir.path().join("data");
    let first = on_data_dir(&data).unwrap();
    let Err(e) = on_data_dir(&data) else {
        panic!("two runtimes ran on one data directory");
    };
    let said = e.to_string();
    assert!(said.contains("in use by another runtime"), "{said}");
    assert!(said.contains(&data.display().to_string()), "{said}");
    first.shutdown_blocking(Duration::from_secs(5)).unwrap();
    // Given up with the runtime: the next one takes it.
    let next = on_data_dir(&data).unwrap();
    next.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_data_directory_that_is_a_file_or_a_state_it_cannot_read_stops_the_start() {
    let dir = TempDir::new("storage-unusable");
    let file = dir.path().join("data");
    std::fs::write(&file, "not a directory").unwrap();
    let Err(e) = on_data_dir(&file) else {
        panic!("started on a data directory that is a file");
    };
    assert!(e.to_string().contains("cannot be made"), "{e}");

    // A state that cannot be read at all is not taken for a corrupt one: it stays where it is.
    let data = dir.path().join("unreadable");
    std::fs::create_dir_all(data.join("state.ron")).unwrap();
    let Err(e) = on_data_dir(&data) else {
        panic!("started past a state file it could not read");
    };
    assert!(e.to_string().contains("cannot be read"), "{e}");
    let names: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("corrupt")), "{names:?}");
    assert!(data.join("state.ron").is_dir());
}

/// A write the disk refuses: `state.ron.tmp` made a link to `/dev/full`, whose writes fail with
/// ENOSPC as a full disk's do. The silence stays in force; the health report, its `checks` and
/// `/metrics` say the state is not saved, and the next write that reaches the disk clears it.
#[test]
fn a_write_the_disk_refuses_shows_in_health_and_metrics_until_one_succeeds() {
    use watchkeeper::actors::alerting::{Matcher, Silence};
    let full = std::path::Path::new("/dev/full");
    if !full.exists() {
        eprintln!("SKIPPED: this machine has no /dev/full to stand for a full disk");
        return;
    }
    let dir = TempDir::new("storage-full");
    let data = dir.path().join("data");
    let mut c = watchkeeper::Config::default();
    c.deployment.admin_enabled = false;
    // Only the operator's changes write, so each write below is the one the test asks for.
    c.storage.interval = Duration::from_secs(3600);
    let rt = watchkeeper::Runtime::builder()
        .config(c)
        .data_dir(Some(data.clone()))
        .start()
        .unwrap();
    let now = chrono::Utc::now();
    let silence = |name: &str| Silence {
        id: String::new(),
        matchers: vec![Matcher::parse(&format!("alertname=\"{name}\"")).unwrap()],
        starts_at: now,
        ends_at: now + chrono::Duration::hours(1),
        created_by: "ana".into(),
        comment: String::new(),
        updated_at: now,
    };
    let first = rt.add_silence_blocking(silence("Deploy")).unwrap();
    let storage = rt.health_blocking().unwrap().storage.unwrap();
    assert_eq!(
        (storage.writes, storage.write_errors),
        (1, 0),
        "{storage:?}"
    );
    assert!(storage.bytes > 0 && storage.failing_since.is_none());

    std::os::unix::fs::symlink(full, data.join("state.ron.tmp")).unwrap();
    let Err(e) = rt.add_silence_blocking(silence("Reindex")) else {
        panic!("a write to a full disk was reported saved");
    };
    assert!(e.to_string().contains("No space left on device"), "{e}");
    assert_eq!(
        rt.silences_blocking().unwrap().len(),
        2,
        "the change stands"
    );
    let report = rt.health_blocking().unwrap();
    assert_eq!(report.status, watchkeeper::HealthStatus::Warning);
    let storage = report.storage.clone().unwrap();
    assert_eq!(
        (storage.writes, storage.write_errors),
        (1, 1),
        "{storage:?}"
    );
    assert!(storage.failing_since.is_some());
    assert!(
        report
            .issues
            .iter()
            .any(|i| i.contains("cannot be saved") && i.contains("No space left on device")),
        "{:?}",
        report.issues
    );
    let metrics = rt.render_metrics_blocking().unwrap();
    for line in [
        "watchkeeper_state_writes_total 1",
        "watchkeeper_state_write_errors_total 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in:\n{metrics}"
        );
    }
    // The old file is whole (one silence), and the link is gone with the failed write.
    let on_disk = std::fs::read_to_string(data.join("state.ron")).unwrap();
    assert!(on_disk.contains(&first) && !on_disk.contains("Reindex"));
    assert!(std::fs::symlink_metadata(data.join("state.ron.tmp")).is_err());

    // The next change is written, and with it the one that was not.
    rt.add_silence_blocking(silence("Backfill")).unwrap();
    let storage = rt.health_blocking().unwrap().storage.unwrap();
    assert_eq!(
        (storage.writes, storage.write_errors),
        (2, 1),
        "{storage:?}"
    );
    assert!(storage.failing_since.is_none() && storage.last_error.is_none());
    assert!(std::fs::read_to_string(data.join("state.ron"))
        .unwrap()
        .contains("Reindex"));
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

/// Restarts of every actor of the tree so far.
fn restarts(report: &watchkeeper::SystemHealthReport) -> u32 {
    let status = report.supervision.as_ref().expect("the root answered");
    status.all_children().iter().map(|c| c.restarts).sum()
}

/// A silence that ends as late as a time can (Alertmanager takes any end) neither stops the
/// alerting actor nor its restart from the saved state.
#[test]
fn a_silence_ending_in_the_last_representable_year_is_kept_and_restored() {
    use watchkeeper::actors::alerting::{Matcher, Silence};
    let dir = TempDir::new("storage-far");
    let data = dir.path().join("data");
    let start = || {
        let mut c = watchkeeper::Config::default();
        c.deployment.admin_enabled = false;
        c.alerting.check_interval = Duration::from_millis(50);
        watchkeeper::Runtime::builder()
            .config(c)
            .data_dir(Some(data.clone()))
            .start()
            .unwrap()
    };
    let rt = start();
    let now = chrono::Utc::now();
    let id = rt
        .add_silence_blocking(Silence {
            id: String::new(),
            matchers: vec![Matcher::parse("alertname=\"Deploy\"").unwrap()],
            starts_at: now,
            ends_at: chrono::DateTime::<chrono::Utc>::MAX_UTC,
            created_by: "ana".into(),
            comment: String::new(),
            updated_at: now,
        })
        .unwrap();
    // Evaluations go on: the actor neither panicked nor restarted.
    std::thread::sleep(Duration::from_millis(300));
    let report = rt.health_blocking().unwrap();
    assert_eq!(restarts(&report), 0, "{:?}", report.issues);
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();

    let rt = start();
    std::thread::sleep(Duration::from_millis(300));
    assert!(rt.silences_blocking().unwrap().iter().any(|s| s.id == id));
    let report = rt.health_blocking().unwrap();
    assert_eq!(restarts(&report), 0, "{:?}", report.issues);
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

/// A relative `storage.path` in a configuration file is beside the file, as `watchkeeper run`
/// has it, whatever the working directory.
#[test]
fn a_relative_data_directory_is_beside_the_configuration_file() {
    let dir = TempDir::new("storage-relative");
    let file = dir.path().join("wk.ron");
    std::fs::write(
        &file,
        r#"(storage: (path: "kept"), deployment: (admin_enabled: false))"#,
    )
    .unwrap();
    let rt = watchkeeper::Runtime::builder()
        .config_file(&file)
        .start()
        .unwrap();
    assert!(dir.path().join("kept").join("lock").exists());
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert!(!std::path::Path::new("kept").exists());
}

/// An idle runtime writes its state once, not at every interval: the time a state says it was
/// saved at is no change.
#[test]
fn an_unchanged_state_is_not_written_again() {
    let dir = TempDir::new("storage-idle");
    let mut c = watchkeeper::Config::default();
    c.deployment.admin_enabled = false;
    c.storage.interval = Duration::from_millis(50);
    c.alerting.rules.clear();
    let rt = watchkeeper::Runtime::builder()
        .config(c)
        .data_dir(Some(dir.path().join("data")))
        .start()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let storage = rt.health_blocking().unwrap().storage.unwrap();
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
    assert!(
        (1..=3).contains(&storage.writes),
        "{} writes in a second of nothing",
        storage.writes
    );
}
