//! The memory manager and the tuner on virtual time: profiles and suggestions from observed numbers,
//! tuning actions really applied and measured (and rolled back when harmful), cleanups with real freed
//! bytes, bounded history, the over-limit alert, and restarts that keep configuration and records.

use std::time::Duration;

use watchkeeper_actors::alerting::{self, AlertRule, AlertStore, AlertingActor, AlertingConfig};
use watchkeeper_actors::harness::{self, Harness, InjectPanic};
use watchkeeper_actors::memory::{
    self, CheckMemory, Component, Components, GetFootprint, GetMemoryConfig, GetMemoryReport,
    MemoryConfig, MemoryManagerActor, MemoryStore, MEMORY_HISTORY,
};
use watchkeeper_actors::monitor::{
    GetStats, MonitorActor, MonitorDirectory, MonitorStore, MonitoringConfig, OpKind, Recorder,
    SetWindow,
};
use watchkeeper_actors::notify::{ChannelsConfig, LogChannel};
use watchkeeper_actors::tuner::{
    self, optimize_monitor_configurations, ActionOutcome, GetProfiles, GetTuningConfig,
    GetTuningHistory, OptimizeNow, SuggestionKind, TunerActor, TunerStore, TuningConfig,
    TuningKind,
};
use watchkeeper_actors::{ChildRef, ChildSpec, Live, SupervisionEvent, SupervisorConfig};

const ASK: Duration = Duration::from_secs(5);

/// The monitors the tuner reads, and the components the memory manager measures.
#[derive(Clone, Default)]
struct Monitors {
    directory: MonitorDirectory,
    components: Components,
}

fn monitor(h: &Harness, monitors: &Monitors, name: &str) -> (Recorder, ChildRef<MonitorActor>) {
    let store = MonitorStore::new(name, &MonitoringConfig::default()).unwrap();
    let recorder = store.recorder().clone();
    let actor = h.root().start_child(ChildSpec::new(name, move || {
        MonitorActor::new(store.clone())
    }));
    monitors.directory.insert(name, actor.clone());
    monitors.components.add(Component::of(actor.clone()));
    (recorder, actor)
}

fn tuner_config() -> TuningConfig {
    TuningConfig {
        performance_analysis_interval: Duration::from_secs(86_400),
        target_samples_per_second: 500.0,
        max_window: 300,
        effect_delay: Duration::from_secs(2),
        ..TuningConfig::default()
    }
}

fn tuner(h: &Harness, monitors: &Monitors, s: TuningConfig) -> ChildRef<TunerActor> {
    tuner_with(h, monitors, s, None)
}

fn tuner_with(
    h: &Harness,
    monitors: &Monitors,
    s: TuningConfig,
    alerting: Option<(ChildRef<AlertingActor>, Live<AlertingConfig>)>,
) -> ChildRef<TunerActor> {
    let peers = tuner::Peers {
        monitors: monitors.directory.clone(),
        alerting: alerting.as_ref().map(|(a, _)| a.clone()),
        rules: alerting.map(|(_, live)| live).unwrap_or_default(),
        ask_timeout: ASK,
    };
    let (s, store) = (Live::new(s), TunerStore::new(Default::default()));
    let t = h.root().start_child(ChildSpec::new("tuner", move || {
        TunerActor::new(s.clone(), store.clone(), peers.clone())
    }));
    monitors.components.add(Component::of(t.clone()));
    t
}

/// Records `per_second` samples of `latency` for each of `seconds` virtual seconds.
async fn traffic(
    h: &Harness,
    rec: &Recorder,
    per_second: u64,
    latency: impl Fn(u64) -> Duration,
    seconds: u64,
) {
    for _ in 0..seconds {
        for i in 0..per_second {
            rec.record(OpKind::QUERY, latency(i));
        }
        h.advance(Duration::from_secs(1)).await;
    }
}

#[test]
fn a_monitor_averaging_150_ms_gets_a_larger_batches_suggestion_with_its_numbers() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let monitors = Monitors::default();
        let (slow, _) = monitor(&h, &monitors, "index");
        let (fine, _) = monitor(&h, &monitors, "search");
        let mut s = tuner_config();
        s.enabled = false;
        let t = tuner(&h, &monitors, s);
        traffic(&h, &slow, 20, |_| Duration::from_millis(150), 3).await;
        traffic(&h, &fine, 50, |_| Duration::from_millis(2), 3).await;
        optimize_monitor_configurations(&t, ASK).await.unwrap();
        let profiles = t.ask(GetProfiles, ASK).await.unwrap();
        let index = profiles.iter().find(|p| p.component == "index").unwrap();
        assert_eq!(index.mean, Duration::from_millis(150));
        let s = &index.suggestions[0];
        assert_eq!(s.kind, SuggestionKind::LargerBatches);
        assert!(s.reason.contains("150.0 ms"), "{}", s.reason);
        // 60 queries at 20 per second over a 6 s window (the slow monitor idled 3 s): under 10/s? No:
        // only 60 queries, under the 100 that make throughput meaningful.
        assert!(!index
            .suggestions
            .iter()
            .any(|s| s.kind == SuggestionKind::MoreParallelism));
        let search = profiles.iter().find(|p| p.component == "search").unwrap();
        assert_eq!(
            search.suggestions[0].kind,
            SuggestionKind::NoChangeNeeded,
            "{:?}",
            search.suggestions
        );
        assert!(search.footprint_bytes > 0);
        assert!(
            t.ask(GetTuningHistory, ASK).await.unwrap().is_empty(),
            "tuning disabled: nothing applied"
        );
    });
}

#[test]
fn low_throughput_after_real_traffic_and_a_long_tail_are_named() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let monitors = Monitors::default();
        let (rec, _) = monitor(&h, &monitors, "search");
        let mut s = tuner_config();
        s.enabled = false;
        let t = tuner(&h, &monitors, s);
        // 120 queries over 60 s: 2 per second; one in 50 takes 100x longer.
        for n in 0..120u64 {
            rec.record(
                OpKind::QUERY,
                if n % 50 == 0 {
                    Duration::from_millis(100)
                } else {
                    Duration::from_millis(1)
                },
            );
            if n % 2 == 1 {
                h.advance(Duration::from_secs(1)).await;
            }
        }
        optimize_monitor_configurations(&t, ASK).await.unwrap();
        let p = t.ask(GetProfiles, ASK).await.unwrap().remove(0);
        let kinds: Vec<_> = p.suggestions.iter().map(|s| s.kind).collect();
        assert!(
            kinds.contains(&SuggestionKind::MoreParallelism),
            "{:?}",
            p.suggestions
        );
        assert!(
            kinds.contains(&SuggestionKind::InvestigateTail),
            "{:?}",
            p.suggestions
        );
    });
}

#[test]
fn a_high_throughput_monitor_gets_a_sampling_action_that_the_monitor_really_applies() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let monitors = Monitors::default();
        let (rec, m) = monitor(&h, &monitors, "search");
        let t = tuner(&h, &monitors, tuner_config());
        traffic(&h, &rec, 5000, |_| Duration::from_millis(1), 5).await;
        let actions = optimize_monitor_configurations(&t, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(actions.len(), 1, "{actions:#?}");
        let a = &actions[0];
        assert_eq!(
            (a.kind, a.component.as_str()),
            (TuningKind::SamplingRate, "search")
        );
        assert_eq!(
            a.parameters_changed["sample_fraction"],
            ("1".to_owned(), "0.1".to_owned())
        );
        assert!(a.measured_before.operations_per_second > 1000.0);
        assert!(a.measured_after.is_some());
        assert_eq!(a.outcome, ActionOutcome::Kept);
        let stats = m.ask(GetStats, ASK).await.unwrap();
        assert_eq!(
            stats.sample_fraction, 0.1,
            "the monitor really samples one in ten now"
        );
        // Counts stay exact under sampling.
        traffic(&h, &rec, 5000, |_| Duration::from_millis(1), 1).await;
        assert_eq!(m.ask(GetStats, ASK).await.unwrap().total_queries, 30_000);
        assert_eq!(t.ask(GetTuningHistory, ASK).await.unwrap().len(), 1);
    });
}

#[test]
fn a_sampling_action_whose_measured_effect_is_harmful_is_rolled_back() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let monitors = Monitors::default();
        let (rec, m) = monitor(&h, &monitors, "search");
        let mut s = tuner_config();
        s.effect_delay = Duration::from_secs(3);
        let t = tuner(&h, &monitors, s);
        m.ask(SetWindow(3), ASK).await.unwrap();
        traffic(&h, &rec, 5000, |_| Duration::from_millis(1), 3).await;
        let (tx, rx) = tokio::sync::oneshot::channel();
        t.tell(OptimizeNow(tx)).unwrap();
        h.settle().await;
        // While the effect is measured, the same load comes with a tail the sample now misses.
        traffic(
            &h,
            &rec,
            5000,
            |i| {
                if i % 20 == 0 {
                    Duration::from_millis(40)
                } else {
                    Duration::from_millis(1)
                }
            },
            3,
        )
        .await;
        let actions = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .unwrap()
            .unwrap();
        let a = &actions[0];
        assert_eq!(a.kind, TuningKind::SamplingRate);
        assert!(
            matches!(&a.outcome, ActionOutcome::RolledBack { reason } if reason.contains("under the same load")),
            "{a:#?}"
        );
        assert_eq!(
            m.ask(GetStats, ASK).await.unwrap().sample_fraction,
            1.0,
            "sampling restored"
        );
    });
}

#[test]
fn a_window_holding_too_few_operations_is_lengthened() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let monitors = Monitors::default();
        let (rec, m) = monitor(&h, &monitors, "ingest");
        m.ask(SetWindow(10), ASK).await.unwrap();
        let t = tuner(&h, &monitors, tuner_config());
        traffic(&h, &rec, 3, |_| Duration::from_millis(5), 10).await;
        let (tx, rx) = tokio::sync::oneshot::channel();
        t.tell(OptimizeNow(tx)).unwrap();
        h.settle().await;
        traffic(&h, &rec, 3, |_| Duration::from_millis(5), 3).await;
        let actions = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .unwrap()
            .unwrap();
        let a = &actions[0];
        assert_eq!(a.kind, TuningKind::WindowLength);
        assert_eq!(
            a.parameters_changed["window_intervals"],
            ("10".to_owned(), "20".to_owned())
        );
        assert_eq!(a.outcome, ActionOutcome::Kept, "{a:#?}");
        assert_eq!(m.ask(GetStats, ASK).await.unwrap().window_intervals, 20);
    });
}

fn memory_config(limit_mb: u64) -> MemoryConfig {
    MemoryConfig {
        max_memory_usage_mb: limit_mb,
        memory_cleanup_interval: Duration::from_secs(86_400),
        trim_keep_intervals: 1,
        trim_keep_history: 10,
        alert_after_checks: 2,
        ..MemoryConfig::default()
    }
}

fn memory(
    h: &Harness,
    config: MemoryConfig,
    components: Components,
    alerting: Option<ChildRef<AlertingActor>>,
) -> ChildRef<MemoryManagerActor> {
    let peers = memory::Peers {
        components,
        alerting,
        ask_timeout: ASK,
    };
    let (s, store) = (Live::new(config), MemoryStore::new(Default::default()));
    h.root().start_child(ChildSpec::new("memory", move || {
        MemoryManagerActor::new(s.clone(), store.clone(), peers.clone())
    }))
}

#[test]
fn cleanups_under_pressure_count_real_cleanups_and_the_bytes_really_freed() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let monitors = Monitors::default();
        let (rec, m) = monitor(&h, &monitors, "search");
        traffic(
            &h,
            &rec,
            2000,
            |i| Duration::from_nanos(1_000 + i * 7_919 % 40_000_000),
            30,
        )
        .await;
        let before = m.ask(GetFootprint, ASK).await.unwrap();
        // A 1 MiB budget: the process is far over it, so the check trims.
        let mm = memory(&h, memory_config(1), monitors.components.clone(), None);
        mm.ask(CheckMemory, ASK).await.unwrap();
        let report = loop {
            let r = mm.ask(GetMemoryReport, ASK).await.unwrap();
            if r.cleanup.total_cleanups > 0 {
                break r;
            }
            h.settle().await;
        };
        let after = m.ask(GetFootprint, ASK).await.unwrap();
        assert_eq!(report.cleanup.total_cleanups, 1);
        assert_eq!(
            report.cleanup.bytes_freed,
            (before.bytes - after.bytes) as u64,
            "freed bytes are the monitor's measured release"
        );
        assert!(report.cleanup.bytes_freed > 10_000, "{:?}", report.cleanup);
        assert!(
            report.last.as_ref().unwrap().resident_bytes.unwrap() > 1 << 20,
            "resident memory from the OS"
        );
        assert_eq!(report.footprints[0].component, "search");
        assert_eq!(
            m.ask(GetStats, ASK).await.unwrap().total_queries,
            60_000,
            "trimming keeps totals"
        );

        // Nothing left to free: a cleanup runs and records zero.
        mm.ask(CheckMemory, ASK).await.unwrap();
        for _ in 0..10 {
            h.settle().await;
        }
        let r = mm.ask(GetMemoryReport, ASK).await.unwrap();
        assert_eq!(r.cleanup.total_cleanups, 2);
        assert_eq!(r.cleanup.bytes_freed, report.cleanup.bytes_freed);
    });
}

#[test]
fn no_pressure_no_cleanup_and_history_stays_bounded() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let mm = memory(&h, memory_config(1 << 20), Components::default(), None);
        for _ in 0..MEMORY_HISTORY + 50 {
            mm.ask(CheckMemory, ASK).await.unwrap();
            h.settle().await;
        }
        let r = mm.ask(GetMemoryReport, ASK).await.unwrap();
        assert_eq!(r.history.len(), MEMORY_HISTORY);
        assert_eq!(r.cleanup.total_cleanups, 0);
        assert!(!r.over_limit_alert);
    });
}

/// An alerting actor over `rules` that evaluates only when told (`Observe`), with no channels.
fn alerting(h: &Harness, rules: Vec<AlertRule>) -> (ChildRef<AlertingActor>, Live<AlertingConfig>) {
    let config = Live::new(AlertingConfig {
        check_interval: Duration::from_secs(86_400),
        group_by: vec!["alertname".into()],
        group_wait: Duration::ZERO,
        group_interval: Duration::from_secs(60),
        repeat_interval: Duration::from_secs(3600),
        suppression_window: Duration::ZERO,
        history_limit: 10,
        rules,
        channels: ChannelsConfig {
            log: LogChannel { enabled: false },
            ..ChannelsConfig::default()
        },
        ..AlertingConfig::default()
    });
    let (live, store) = (config.clone(), AlertStore::new(Default::default()));
    let peers = alerting::Peers {
        ask_timeout: ASK,
        ..Default::default()
    };
    let actor = h.root().start_child(ChildSpec::new("alerting", move || {
        AlertingActor::new(live.clone(), store.clone(), peers.clone())
    }));
    (actor, config)
}

#[test]
fn memory_over_the_limit_raises_an_alert_through_the_alerting_actor() {
    use watchkeeper_actors::alerting::GetAlerts;
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let (alerting, _) = alerting(&h, vec![]);
        let mm = memory(
            &h,
            memory_config(1),
            Components::default(),
            Some(alerting.clone()),
        );
        mm.ask(CheckMemory, ASK).await.unwrap();
        for _ in 0..20 {
            h.settle().await;
        }
        assert!(
            alerting.ask(GetAlerts, ASK).await.unwrap().is_empty(),
            "one check over is not yet an alert"
        );
        mm.ask(CheckMemory, ASK).await.unwrap();
        for _ in 0..20 {
            h.settle().await;
        }
        let alerts = alerting.ask(GetAlerts, ASK).await.unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].labels["alertname"], "MemoryOverLimit");
        assert!(
            alerts[0].annotations["summary"].contains("over the 1.0 MiB limit"),
            "{:?}",
            alerts[0].annotations
        );
        assert!(mm.ask(GetMemoryReport, ASK).await.unwrap().over_limit_alert);
    });
}

#[test]
fn both_actors_restart_after_injected_panics_and_keep_their_configuration_and_records() {
    harness::run(SupervisorConfig::default(), |mut h: Harness| async move {
        let monitors = Monitors::default();
        let (rec, _) = monitor(&h, &monitors, "search");
        let t = tuner(&h, &monitors, tuner_config());
        let mm = memory(&h, memory_config(1), monitors.components.clone(), None);
        traffic(&h, &rec, 5000, |_| Duration::from_millis(1), 3).await;
        optimize_monitor_configurations(&t, Duration::from_secs(30))
            .await
            .unwrap();
        mm.ask(CheckMemory, ASK).await.unwrap();
        for _ in 0..20 {
            h.settle().await;
        }
        let cleanups = mm
            .ask(GetMemoryReport, ASK)
            .await
            .unwrap()
            .cleanup
            .total_cleanups;
        assert_eq!(cleanups, 1);

        let _ = t.ask(InjectPanic, ASK).await;
        h.expect_event("tuner restarted", ASK, |e| matches!(e, SupervisionEvent::ChildStarted { child, restarts: 1, .. } if &**child == "tuner")).await;
        let _ = mm.ask(InjectPanic, ASK).await;
        h.expect_event("memory manager restarted", ASK, |e| matches!(e, SupervisionEvent::ChildStarted { child, restarts: 1, .. } if &**child == "memory")).await;

        assert_eq!(t.ask(GetTuningConfig, ASK).await.unwrap(), tuner_config());
        assert_eq!(
            t.ask(GetTuningHistory, ASK).await.unwrap().len(),
            1,
            "tuning history survives"
        );
        assert_eq!(
            mm.ask(GetMemoryConfig, ASK).await.unwrap(),
            memory_config(1)
        );
        assert_eq!(
            mm.ask(GetMemoryReport, ASK)
                .await
                .unwrap()
                .cleanup
                .total_cleanups,
            cleanups,
            "statistics survive"
        );
    });
}

#[test]
fn auto_threshold_rules_follow_a_stable_baseline_and_a_harmful_change_is_rolled_back() {
    use watchkeeper_actors::alerting::{GetAlerts, Metric, Observe, SetRuleThresholds};
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let rule = AlertRule {
            warning: Some(1.0),
            critical: Some(2.0),
            auto_threshold: true,
            ..AlertRule::new("SearchSlow", Some("search"), Metric::P99)
        };
        let (alerting, rules) = alerting(&h, vec![rule]);
        let monitors = Monitors::default();
        let (rec, m) = monitor(&h, &monitors, "search");
        m.ask(SetWindow(2), ASK).await.unwrap();
        let s = tuner_config();
        let t = tuner_with(&h, &monitors, s, Some((alerting.clone(), rules)));
        // Five steady profiles: p99 10 ms each time.
        let mut applied = Vec::new();
        for _ in 0..5 {
            traffic(&h, &rec, 200, |_| Duration::from_millis(10), 2).await;
            applied.extend(
                optimize_monitor_configurations(&t, Duration::from_secs(30))
                    .await
                    .unwrap(),
            );
        }
        let a = applied
            .iter()
            .find(|a| a.kind == TuningKind::AlertThresholds)
            .expect("a threshold action after five steady profiles");
        assert_eq!(a.outcome, ActionOutcome::Kept, "{a:#?}");
        let (w, c) = &a.parameters_changed["SearchSlow.warning"];
        assert_eq!(w, "1");
        let new_warning: f64 = c.parse().unwrap();
        assert!(
            (new_warning - 0.02).abs() < 0.0001,
            "2x the 10 ms baseline: {new_warning}"
        );
        // The alerting actor really uses it: 30 ms now breaches the warning (it did not at 1 s).
        alerting.ask(Observe(vec![Some(0.03)]), ASK).await.unwrap();
        let alerts = alerting.ask(GetAlerts, ASK).await.unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].threshold, new_warning);
        // Unknown rules are refused.
        assert!(alerting
            .ask(
                SetRuleThresholds {
                    rule: "nope".into(),
                    warning: None,
                    critical: None
                },
                ASK
            )
            .await
            .unwrap()
            .is_err());
        // A change that would alert on normal load is rolled back: a new, steady 5 ms baseline,
        // then the load slows to 40 ms while the effect is measured.
        let mut rolled = None;
        for _ in 0..6 {
            traffic(&h, &rec, 200, |_| Duration::from_millis(5), 2).await;
            let (tx, rx) = tokio::sync::oneshot::channel();
            t.tell(OptimizeNow(tx)).unwrap();
            h.settle().await;
            traffic(&h, &rec, 200, |_| Duration::from_millis(40), 2).await;
            let actions = tokio::time::timeout(Duration::from_secs(30), rx)
                .await
                .unwrap()
                .unwrap();
            if let Some(a) = actions
                .into_iter()
                .find(|a| a.kind == TuningKind::AlertThresholds)
            {
                rolled = Some(a);
                break;
            }
        }
        let a = rolled.expect("a second threshold action");
        assert!(
            matches!(&a.outcome, ActionOutcome::RolledBack { reason } if reason.contains("would alert on normal load")),
            "{a:#?}"
        );
    });
}
