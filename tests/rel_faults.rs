//! Fault injection under load: 1,000 panics across every actor kind (monitors, alerting, tuner,
//! memory manager, process monitor, a notifier under the nested supervisor) while four host threads record
//! samples. Every restart stays within the configured intensity, recorded counts stay exact, active
//! alerts survive, and the host keeps running. (Escalation exactly at the intensity is scripted in
//! `sup_supervision.rs`; panics in hooks and timers too.)

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use watchkeeper::actors::alerting::{
    AlertSeverity, GetAlertingStatus, GetAlerts, SetExternalAlert,
};
use watchkeeper::actors::harness::InjectPanic;
use watchkeeper::actors::memory::GetMemoryReport;
use watchkeeper::actors::monitor::{Collect, GetStats};
use watchkeeper::actors::notify::GetChannelStatus;
use watchkeeper::actors::process::GetProcessStats;
use watchkeeper::actors::tuner::GetProfiles;
use watchkeeper::{Config, Runtime};

const PANICS: usize = 1000;
const PER_THREAD: u64 = 250_000;

#[test]
fn a_thousand_panics_under_load_lose_nothing() {
    let mut c = Config::default();
    c.deployment.admin_enabled = false;
    c.monitoring.tick = Duration::from_millis(10);
    c.supervisor.intensity.max_restarts = 2 * PANICS as u32;
    c.supervisor.backoff.min = Duration::from_millis(1);
    c.supervisor.backoff.max = Duration::from_millis(4);
    let rt = Runtime::start(c).unwrap();
    let t = Duration::from_secs(5);
    let (search, index) = (rt.monitor("search").unwrap(), rt.monitor("index").unwrap());
    let alerting = rt.alerting().clone();
    alerting
        .ask_blocking(
            SetExternalAlert {
                name: "HeldThroughTheStorm".into(),
                severity: AlertSeverity::Critical,
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
                value: Some(1.0),
                threshold: 0.0,
                firing: true,
            },
            t,
        )
        .unwrap();

    let recorders: Vec<_> = (0..4)
        .map(|i| {
            let h = if i % 2 == 0 {
                search.clone()
            } else {
                index.clone()
            };
            std::thread::spawn(move || {
                for n in 0..PER_THREAD {
                    h.record_query(Duration::from_micros(100 + n % 1000));
                    if n % 50_000 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();

    let log = rt
        .channels()
        .into_iter()
        .find(|(name, _)| name == "log")
        .map(|(_, c)| c)
        .unwrap();
    let started = Instant::now();
    for n in 0..PANICS {
        match n % 7 {
            5 => {
                let _ = rt.process_monitor().tell(InjectPanic);
                rt.process_monitor()
                    .ask_blocking(GetProcessStats, t)
                    .unwrap();
            }
            6 => {
                let _ = log.tell(InjectPanic);
                log.ask_blocking(GetChannelStatus, t).unwrap();
            }
            0 => {
                let _ = search.actor().tell(InjectPanic);
                search.actor().ask_blocking(GetStats, t).unwrap();
            }
            1 => {
                let _ = index.actor().tell(InjectPanic);
                index.actor().ask_blocking(GetStats, t).unwrap();
            }
            2 => {
                let _ = alerting.tell(InjectPanic);
                alerting.ask_blocking(GetAlertingStatus, t).unwrap();
            }
            3 => {
                let _ = rt.tuner().tell(InjectPanic);
                rt.tuner().ask_blocking(GetProfiles, t).unwrap();
            }
            _ => {
                let _ = rt.memory_manager().tell(InjectPanic);
                rt.memory_manager()
                    .ask_blocking(GetMemoryReport, t)
                    .unwrap();
            }
        }
    }
    let storm = started.elapsed();
    for r in recorders {
        r.join().unwrap();
    }
    search.actor().ask_blocking(Collect, t).unwrap();
    index.actor().ask_blocking(Collect, t).unwrap();
    let recorded = search.stats_blocking().unwrap().total_queries
        + index.stats_blocking().unwrap().total_queries;
    let lost = 4 * PER_THREAD - recorded;

    let health = rt.health_blocking().unwrap();
    let supervision = health.supervision.unwrap();
    let restarts: u64 = supervision
        .all_children()
        .iter()
        .map(|c| u64::from(c.restarts))
        .sum();
    assert_eq!(
        restarts, PANICS as u64,
        "every panic restarted exactly one actor, nested ones included"
    );
    assert_eq!(supervision.escalations, 0);
    assert!(!rt.escalated());
    let alerts = alerting.ask_blocking(GetAlerts, t).unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a.labels["alertname"] == "HeldThroughTheStorm"),
        "the active alert survived 200 restarts"
    );
    eprintln!(
        "fault soak: {PANICS} restarts in {:.3} s ({:.0} restarts/s survived), {recorded} samples recorded, {lost} lost",
        storm.as_secs_f64(),
        PANICS as f64 / storm.as_secs_f64()
    );
    assert_eq!(lost, 0, "recorded counts stay exact");
    rt.shutdown_blocking(Duration::from_secs(5)).unwrap();
}
