//! Monitors: exact counts and quantiles, rolling windows, many threads, restarts, clamping, sampling,
//! thread churn, footprint and trim — on paused virtual time.

use std::time::Duration;

use watchkeeper_actors::harness::{self, Harness, InjectPanic};
use watchkeeper_actors::memory::{GetFootprint, Trim};
use watchkeeper_actors::monitor::{
    Collect, GetStats, MonitorActor, MonitorStore, MonitoringConfig, OpKind, Recorder, SetSampling,
    SetWindow,
};
use watchkeeper_actors::{ChildRef, ChildSpec, SupervisionEvent, SupervisorConfig};

const ASK: Duration = Duration::from_secs(1);

fn monitor(h: &Harness, window: usize) -> (Recorder, ChildRef<MonitorActor>) {
    let config = MonitoringConfig {
        tick: Duration::from_secs(1),
        window,
        ..MonitoringConfig::default()
    };
    let store = MonitorStore::new("search", &config).unwrap();
    let recorder = store.recorder().clone();
    let actor = h.root().start_child(ChildSpec::new("search", move || {
        MonitorActor::new(store.clone())
    }));
    (recorder, actor)
}

/// Within the histogram's precision (3 significant digits: 0.1 %).
fn close(actual: Duration, expected: Duration) -> bool {
    let (a, e) = (actual.as_nanos() as f64, expected.as_nanos() as f64);
    (a - e).abs() <= e * 0.001 + 1.0
}

#[test]
fn a_known_latency_set_gives_exact_counts_and_quantiles() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let (rec, actor) = monitor(&h, 60);
        // 1,000 queries of 0.1 ms, 0.2 ms, ... 100 ms; 10 index batches of 5 ms.
        for i in 1..=1000u64 {
            rec.record(OpKind::QUERY, Duration::from_micros(100 * i));
        }
        for _ in 0..10 {
            rec.record(OpKind::INDEX, Duration::from_millis(5));
        }
        rec.record_error(OpKind::QUERY);
        h.advance(Duration::from_secs(1)).await;
        let s = actor.ask(GetStats, ASK).await.unwrap();
        assert_eq!(
            (
                s.total_queries,
                s.total_indexes,
                s.total_operations,
                s.errors
            ),
            (1000, 10, 1010, 1)
        );
        let q = &s.kinds[0];
        assert_eq!(q.kind, "query");
        assert_eq!(q.mean, Duration::from_micros(50_050), "the mean is exact");
        assert!(
            close(q.latency.p50, Duration::from_millis(50)),
            "{:?}",
            q.latency
        );
        assert!(
            close(q.latency.p90, Duration::from_millis(90)),
            "{:?}",
            q.latency
        );
        assert!(
            close(q.latency.p99, Duration::from_millis(99)),
            "{:?}",
            q.latency
        );
        assert!(
            close(q.latency.p999, Duration::from_micros(99_900)),
            "{:?}",
            q.latency
        );
        assert!(
            close(q.latency.max, Duration::from_millis(100)),
            "{:?}",
            q.latency
        );
        assert_eq!(
            q.lifetime_max,
            Duration::from_millis(100),
            "the lifetime max is exact"
        );
        assert_eq!(s.kinds[1].mean, Duration::from_millis(5));
        assert_eq!(s.window, Duration::from_secs(1));
        assert!((s.queries_per_second - 1000.0).abs() < 1e-9);
        assert!((s.indexes_per_second - 10.0).abs() < 1e-9);
        assert!((s.error_rate - 1.0 / 1011.0).abs() < 1e-12);
        assert!(s.last_sample_at.is_some());
    });
}

#[test]
fn the_window_rolls_as_time_advances_while_totals_stay() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let (rec, actor) = monitor(&h, 5);
        for _ in 0..100 {
            rec.record(OpKind::QUERY, Duration::from_millis(2));
        }
        h.advance(Duration::from_secs(1)).await;
        let first = actor.ask(GetStats, ASK).await.unwrap();
        assert_eq!(first.window_operations, 100);
        let seen_at = first.last_sample_at.unwrap();
        for _ in 0..6 {
            h.advance(Duration::from_secs(1)).await;
        }
        let later = actor.ask(GetStats, ASK).await.unwrap();
        assert_eq!(
            later.window_operations, 0,
            "the samples left the 5-tick window"
        );
        assert_eq!(later.window, Duration::from_secs(5));
        assert_eq!(later.total_queries, 100);
        assert_eq!(later.queries_per_second, 0.0);
        assert_eq!(
            later.last_sample_at,
            Some(seen_at),
            "the last sample time is real, not now"
        );
        // A shorter window applies at once.
        rec.record(OpKind::QUERY, Duration::from_millis(2));
        assert_eq!(actor.ask(SetWindow(2), ASK).await, Ok(5));
        h.advance(Duration::from_secs(1)).await;
        let s = actor.ask(GetStats, ASK).await.unwrap();
        assert_eq!((s.window, s.window_operations), (Duration::from_secs(2), 1));
    });
}

#[test]
fn many_threads_recording_at_once_give_exact_totals() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        // Every collection below is a window interval; keep them all.
        let (rec, actor) = monitor(&h, usize::MAX);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let rec = rec.clone();
                std::thread::spawn(move || {
                    for i in 0..250_000u64 {
                        rec.record(
                            OpKind::QUERY,
                            Duration::from_nanos(1_000 + (i * 7 + t) % 1_000_000),
                        );
                    }
                })
            })
            .collect();
        // Collect concurrently with the writers.
        while !threads.iter().all(|t| t.is_finished()) {
            actor.ask(Collect, ASK).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for t in threads {
            t.join().unwrap();
        }
        actor.ask(Collect, ASK).await.unwrap();
        let s = actor.ask(GetStats, ASK).await.unwrap();
        assert_eq!(s.total_queries, 1_000_000);
        assert_eq!(s.window_operations, 1_000_000);
        let fp = actor.ask(GetFootprint, ASK).await.unwrap();
        assert_eq!(fp.threads, 4);
    });
}

#[test]
fn samples_recorded_before_a_panic_are_counted_after_the_restart() {
    harness::run(SupervisorConfig::default(), |mut h: Harness| async move {
        let (rec, actor) = monitor(&h, 60);
        for _ in 0..1000 {
            rec.record(OpKind::QUERY, Duration::from_millis(1));
        }
        // Not yet collected when the actor dies.
        let _ = actor.ask(InjectPanic, ASK).await;
        h.expect_event("monitor restarted", ASK, |e| {
            matches!(e, SupervisionEvent::ChildStarted { restarts: 1, .. })
        })
        .await;
        for _ in 0..500 {
            rec.record(OpKind::QUERY, Duration::from_millis(1));
        }
        h.advance(Duration::from_secs(1)).await;
        let s = actor.ask(GetStats, ASK).await.unwrap();
        assert_eq!(s.total_queries, 1500);
        assert_eq!(s.window_operations, 1500);
    });
}

#[test]
fn zero_and_out_of_range_latencies_are_clamped_and_counted() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let (rec, actor) = monitor(&h, 60);
        rec.record(OpKind::QUERY, Duration::ZERO);
        rec.record(OpKind::QUERY, Duration::from_secs(600));
        rec.record(OpKind::QUERY, Duration::MAX);
        rec.record(OpKind::QUERY, Duration::from_millis(3));
        h.advance(Duration::from_secs(1)).await;
        let s = actor.ask(GetStats, ASK).await.unwrap();
        assert_eq!((s.total_queries, s.clamped), (4, 3));
        assert!(
            s.latency.max <= Duration::from_secs(61),
            "clamped to the highest value: {:?}",
            s.latency.max
        );
        // Sum and maximum take the clamped values too: the mean stays within the histogram and
        // `Duration::MAX` does not wrap the sum.
        let query = &s.kinds[0];
        assert!(query.lifetime_max <= Duration::from_secs(61), "{query:?}");
        assert!(
            query.lifetime_mean > Duration::from_secs(20)
                && query.lifetime_mean <= query.lifetime_max,
            "{query:?}"
        );
        assert!(
            s.mean > Duration::from_secs(20) && s.mean <= s.latency.max,
            "{s:?}"
        );
    });
}

#[test]
fn sampling_keeps_counts_exact() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let (rec, actor) = monitor(&h, 60);
        assert_eq!(actor.ask(SetSampling(0.1), ASK).await, Ok(0.1));
        for i in 0..10_000u64 {
            rec.record(OpKind::QUERY, Duration::from_micros(100 + i % 100));
        }
        h.advance(Duration::from_secs(1)).await;
        let s = actor.ask(GetStats, ASK).await.unwrap();
        assert_eq!(s.total_queries, 10_000);
        assert_eq!(s.window_operations, 10_000);
        assert_eq!(s.sample_fraction, 0.1);
        assert_eq!(
            s.mean,
            Duration::from_nanos(149_500),
            "the mean comes from exact sums"
        );
        assert!(
            s.latency.p50 >= Duration::from_micros(100)
                && s.latency.p50 < Duration::from_micros(200)
        );
        // Absurd fractions are clamped, not obeyed.
        assert_eq!(actor.ask(SetSampling(f64::NAN), ASK).await, Ok(1.0));
        assert_eq!(actor.ask(SetSampling(7.0), ASK).await, Ok(1.0));
    });
}

#[test]
fn named_kinds_and_thread_churn_reuse_slots() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let (rec, actor) = monitor(&h, 60);
        let compaction = rec.kind("compaction").unwrap();
        assert_eq!(rec.kind("compaction"), Some(compaction));
        for round in 0..20 {
            let rec = rec.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    rec.record(compaction, Duration::from_micros(10 + round));
                }
            })
            .join()
            .unwrap();
        }
        h.advance(Duration::from_secs(1)).await;
        let s = actor.ask(GetStats, ASK).await.unwrap();
        let k = s.kinds.iter().find(|k| k.kind == "compaction").unwrap();
        assert_eq!(k.total, 20_000);
        let fp = actor.ask(GetFootprint, ASK).await.unwrap();
        assert_eq!(
            fp.threads, 1,
            "exited threads' slots were reused, not leaked"
        );
        // 64 kinds: query, index, compaction and 61 more; the last one records like the first.
        let kinds: Vec<OpKind> = (0..61)
            .map(|i| rec.kind(&format!("k{i}")).expect("room for 64 kinds"))
            .collect();
        let last = kinds[60];
        assert_eq!(rec.kind("one too many"), None);
        rec.record(last, Duration::from_micros(250));
        rec.record_error(last);
        h.advance(Duration::from_secs(1)).await;
        let s = actor.ask(GetStats, ASK).await.unwrap();
        let k60 = s.kinds.iter().find(|k| k.kind == "k60").unwrap();
        assert_eq!((k60.total, k60.errors), (1, 1));
        assert!(
            !s.kinds.iter().any(|k| k.kind == "k59"),
            "an unused kind is not reported"
        );
    });
}

#[test]
fn trim_releases_history_and_reports_the_measured_bytes() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let (rec, actor) = monitor(&h, 60);
        for t in 0..60u64 {
            for i in 0..2000u64 {
                rec.record(
                    OpKind::QUERY,
                    Duration::from_nanos(1_000 + (i * 7919 + t) % 50_000_000),
                );
            }
            h.advance(Duration::from_secs(1)).await;
        }
        let before = actor.ask(GetFootprint, ASK).await.unwrap();
        assert!(before.history_bytes > 100_000, "{before:?}");
        let freed = actor
            .ask(
                Trim {
                    keep_intervals: 1,
                    keep_history: 0,
                },
                ASK,
            )
            .await
            .unwrap();
        let after = actor.ask(GetFootprint, ASK).await.unwrap();
        assert!(freed > 0);
        assert_eq!(before.bytes - after.bytes, freed);
        assert!(after.history_bytes < before.history_bytes / 10, "{after:?}");
        let s = actor.ask(GetStats, ASK).await.unwrap();
        assert_eq!(s.total_queries, 120_000, "trim drops history, never totals");
    });
}

#[test]
fn the_process_monitor_reports_measured_resources_and_cpu_use() {
    use watchkeeper_actors::process::{GetProcessStats, ProcessMonitorActor};
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let process = h.root().start_child(ChildSpec::new("process", || {
            ProcessMonitorActor::new(Duration::from_secs(1))
        }));
        let first = process.ask(GetProcessStats, ASK).await.unwrap();
        assert!(first.stats.resident_bytes.unwrap() > 0);
        assert!(first.stats.threads.unwrap() >= 1);
        assert_eq!(first.cpu_percent, None, "no interval yet");
        // Burn real CPU on this thread, then let one (virtual) second pass: the figure is measured
        // CPU time over the interval, so it is positive.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_add(std::hint::black_box(3));
        }
        assert!(x > 0);
        h.advance(Duration::from_secs(1)).await;
        let second = process.ask(GetProcessStats, ASK).await.unwrap();
        assert!(second.cpu_percent.unwrap() > 0.0, "{second:?}");
        assert!(second.sampled_at > first.sampled_at);
        // Read when asked, at most once a period: an ask within it gets the same reading.
        h.advance(Duration::from_millis(500)).await;
        let third = process.ask(GetProcessStats, ASK).await.unwrap();
        assert_eq!(third, second);
        h.advance(Duration::from_millis(500)).await;
        let fourth = process.ask(GetProcessStats, ASK).await.unwrap();
        assert!(fourth.sampled_at > second.sampled_at);
    });
}
