//! Load: a flood at a bounded mailbox (senders never wait; every message is delivered or counted as
//! refused), and shutdown with the tree busy (within its deadline, no runtime thread left behind).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::host::thread_names;
use watchkeeper::actors::alerting::{AlertSeverity, SetExternalAlert};
use watchkeeper::actors::monitor::SetWindow;
use watchkeeper::actors::SendError;
use watchkeeper::{Config, Runtime};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn config() -> Config {
    let mut c = Config::default();
    c.deployment.health_check_port = 0;
    c.monitoring.tick = Duration::from_millis(10);
    c
}

#[test]
fn a_flood_at_a_bounded_mailbox_is_delivered_or_counted_never_queued_without_bound() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = Runtime::start(config()).unwrap();
    let search = rt.monitor("search").unwrap();
    let actor = search.actor().clone();
    let capacity = actor.mailbox_stats().capacity;
    const SENT: u64 = 1_000_000;
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let a = actor.clone();
            std::thread::spawn(move || {
                let mut refused = 0u64;
                for _ in 0..SENT / 2 {
                    match a.tell(SetWindow(60)) {
                        Ok(_) => {}
                        Err(SendError::Full { .. }) => refused += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                refused
            })
        })
        .collect();
    let refused: u64 = senders.into_iter().map(|s| s.join().unwrap()).sum();
    let deadline = Instant::now() + Duration::from_secs(10);
    while actor.mailbox_stats().depth > 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = actor.mailbox_stats();
    let kind = stats.kinds.iter().find(|k| k.kind == "SetWindow").unwrap();
    assert_eq!(
        kind.enqueued + kind.rejected,
        SENT,
        "every message delivered or counted"
    );
    assert_eq!(
        kind.rejected, refused,
        "the senders were told of every refusal"
    );
    assert!(
        stats.high_water <= capacity,
        "the bound held: {} > {capacity}",
        stats.high_water
    );
    assert!(
        refused > 0,
        "a million messages overflowed a {capacity}-message mailbox"
    );
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}

#[test]
fn shutdown_under_load_meets_its_deadline_and_leaves_no_thread_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = Runtime::start(config()).unwrap();
    assert!(thread_names().iter().any(|t| t == "watchkeeper"));
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for i in 0..3 {
        let (h, stop) = (
            rt.monitor(if i == 0 { "index" } else { "search" }).unwrap(),
            stop.clone(),
        );
        load.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..1000 {
                    h.record_query(Duration::from_millis(200));
                }
                std::thread::yield_now();
            }
        }));
    }
    let alerting = rt.alerting().clone();
    let flood_stop = stop.clone();
    load.push(std::thread::spawn(move || {
        let mut n = 0u64;
        while !flood_stop.load(Ordering::Relaxed) {
            n += 1;
            let _ = alerting.tell(SetExternalAlert {
                name: "Flood".into(),
                severity: AlertSeverity::Warning,
                labels: BTreeMap::from([("n".to_owned(), (n % 500).to_string())]),
                annotations: BTreeMap::new(),
                value: None,
                threshold: 0.0,
                firing: n.is_multiple_of(2),
            });
        }
    }));
    std::thread::sleep(Duration::from_millis(500));
    let deadline = Duration::from_secs(3);
    let started = Instant::now();
    let report = rt.shutdown_blocking(deadline).unwrap();
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.join().unwrap();
    }
    assert!(took < deadline, "{took:?}");
    assert_eq!(report.children.len(), 8);
    // Under load a child may be forced at the deadline; then what it still held is counted.
    for c in report.children.iter().filter(|c| c.timed_out) {
        eprintln!(
            "forced at the deadline: {} ({} messages failed back)",
            c.name, c.undelivered
        );
    }
    let left: Vec<String> = thread_names()
        .into_iter()
        .filter(|t| t == "watchkeeper" || t.starts_with("actix"))
        .collect();
    assert!(left.is_empty(), "threads left behind: {left:?}");
}
