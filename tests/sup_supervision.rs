//! Supervision: strategies, restart intensity and escalation, backoff, a panic at every site, messages
//! sent during a restart, restart types, and shutdown order — all scripted on paused virtual time.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use watchkeeper_actors::harness::{self, Harness};
use watchkeeper_actors::{
    AskError, Backoff, ChildRef, ChildSpec, ChildState, RestartIntensity, RestartType, SendError,
    Site, Strategy, SupervisionEvent, SupervisorConfig,
};

fn config(strategy: Strategy) -> SupervisorConfig {
    SupervisorConfig {
        strategy,
        intensity: RestartIntensity {
            max_restarts: 100,
            within: Duration::from_secs(60),
        },
        backoff: Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(5),
            jitter: 0.0,
            reset_after: Duration::from_secs(30),
        },
        ..SupervisorConfig::default()
    }
}
/// Children running scripted probes under the root, started in the order given, each answering.
async fn start_probes<const N: usize>(
    h: &Harness,
    script: &Arc<ProbeScript>,
    names: [&'static str; N],
) -> [ChildRef<Probe>; N] {
    let children = names.map(|n| {
        h.root()
            .start_child(ChildSpec::new(n, probe(n, script.clone())))
    });
    for child in &children {
        child.ask(Ping, ASK).await.unwrap();
    }
    children
}

fn failed(child: &'static str) -> impl Fn(&SupervisionEvent) -> bool {
    move |e| matches!(e, SupervisionEvent::ChildFailed { child: c, .. } if &**c == child)
}

fn stopped(child: &'static str, undelivered: usize) -> impl Fn(&SupervisionEvent) -> bool {
    move |e| {
        matches!(e, SupervisionEvent::ChildStopped { child: c, undelivered: u, timed_out: false, .. }
            if &**c == child && *u == undelivered)
    }
}

fn started(child: &'static str, restarts: u32) -> impl Fn(&SupervisionEvent) -> bool {
    move |e| matches!(e, SupervisionEvent::ChildStarted { child: c, restarts: r, .. } if &**c == child && *r == restarts)
}

const SEC: Duration = Duration::from_secs(1);

#[test]
fn one_for_one_restarts_only_the_failed_child_with_fresh_state() {
    harness::run(config(Strategy::OneForOne), |mut h: Harness| async move {
        let (sa, sb) = (
            Arc::new(ProbeScript::default()),
            Arc::new(ProbeScript::default()),
        );
        let a = h
            .root()
            .start_child(ChildSpec::new("a", probe("a", sa.clone())));
        let b = h
            .root()
            .start_child(ChildSpec::new("b", probe("b", sb.clone())));
        assert_eq!(a.ask(Ping, ASK).await, Ok(1));
        assert_eq!(b.ask(Ping, ASK).await, Ok(1));

        let err = a.ask(Crash, ASK).await.unwrap_err();
        let AskError::Panicked { child, panic } = err else {
            panic!("{err:?}")
        };
        assert_eq!(&*child, "a");
        assert_eq!(panic.message, "handler of a crashed");
        assert!(panic
            .location
            .as_deref()
            .unwrap_or("")
            .contains("common/mod.rs"));

        let event = h.expect_event("a's failure", SEC, failed("a")).await;
        let SupervisionEvent::ChildFailed { site, restarts, .. } = event else {
            unreachable!()
        };
        assert_eq!(site, Site::Handler("Crash"));
        assert_eq!(restarts, 0);
        h.expect_event("a restarted", SEC, started("a", 1)).await;

        assert_eq!(a.ask(Ping, ASK).await, Ok(2), "a is a fresh instance");
        assert_eq!(b.ask(Ping, ASK).await, Ok(1), "b was not disturbed");
        assert_eq!(sb.log(), vec!["start b"]);
    });
}

#[test]
fn one_for_all_stops_the_others_in_reverse_order_and_restarts_all_in_start_order() {
    harness::run(config(Strategy::OneForAll), |mut h: Harness| async move {
        let script = Arc::new(ProbeScript::default());
        let [a, b, c] = start_probes(&h, &script, ["a", "b", "c"]).await;
        script.log.lock().unwrap().clear();

        let _ = b.ask(Crash, ASK).await;
        h.expect_event("c restarted", SEC, started("c", 1)).await;
        assert_eq!(
            script.log(),
            vec!["stop c", "stop a", "start a", "start b", "start c"]
        );
        // Six instances were built before; every child now runs a fresh one.
        let mut now: Vec<u64> = vec![];
        for x in [&a, &b, &c] {
            now.push(x.ask(Ping, ASK).await.unwrap());
        }
        assert!(now.iter().all(|&i| i > 3), "{now:?}");
    });
}

#[test]
fn rest_for_one_restarts_the_failed_child_and_those_started_after_it() {
    harness::run(config(Strategy::RestForOne), |mut h: Harness| async move {
        let script = Arc::new(ProbeScript::default());
        let a = h
            .root()
            .start_child(ChildSpec::new("a", probe("a", script.clone())));
        let b = h
            .root()
            .start_child(ChildSpec::new("b", probe("b", script.clone())));
        let c = h
            .root()
            .start_child(ChildSpec::new("c", probe("c", script.clone())));
        let first: Vec<u64> = vec![
            a.ask(Ping, ASK).await.unwrap(),
            b.ask(Ping, ASK).await.unwrap(),
            c.ask(Ping, ASK).await.unwrap(),
        ];
        script.log.lock().unwrap().clear();

        let _ = b.ask(Crash, ASK).await;
        h.expect_event("c restarted", SEC, started("c", 1)).await;
        assert_eq!(script.log(), vec!["stop c", "start b", "start c"]);
        assert_eq!(a.ask(Ping, ASK).await.unwrap(), first[0], "a untouched");
        assert_ne!(b.ask(Ping, ASK).await.unwrap(), first[1]);
        assert_ne!(c.ask(Ping, ASK).await.unwrap(), first[2]);
    });
}

#[test]
fn exceeding_the_intensity_stops_children_and_escalates_to_the_host() {
    let mut cfg = config(Strategy::OneForOne);
    cfg.intensity = RestartIntensity {
        max_restarts: 3,
        within: Duration::from_secs(10),
    };
    cfg.backoff.min = Duration::ZERO;
    harness::run(cfg, |mut h: Harness| async move {
        let script = Arc::new(ProbeScript::default());
        let a = h
            .root()
            .start_child(ChildSpec::new("a", probe("a", script.clone())));
        let b = h
            .root()
            .start_child(ChildSpec::new("b", probe("b", script.clone())));
        for n in 1..=3 {
            let _ = a.ask(Crash, ASK).await;
            h.expect_event("restart", SEC, started("a", n)).await;
        }
        assert!(!h.alarm().escalated());
        let _ = a.ask(Crash, ASK).await;
        // Each child is reported stopped for good, the last started first, then the escalation.
        h.expect_event("b stopped", SEC, stopped("b", 0)).await;
        h.expect_event("a stopped", SEC, stopped("a", 0)).await;
        h.expect_event("escalation", SEC, |e| {
            matches!(e, SupervisionEvent::Escalated { restarts: 4, .. })
        })
        .await;
        assert!(h.alarm().escalated());
        assert!(h.alarm().reason().unwrap().contains("4 restarts"));
        harness::eventually("both children stopped", SEC, || {
            a.is_stopped() && b.is_stopped()
        })
        .await;
        assert!(matches!(
            b.ask(Ping, ASK).await,
            Err(AskError::Send(SendError::Stopped { .. }))
        ));
        let status = h.root().status(SEC).await.unwrap();
        assert!(status
            .children
            .iter()
            .all(|c| c.state == ChildState::Stopped));
        assert_eq!(status.escalations, 1);
    });
}

#[test]
fn restarts_older_than_the_window_do_not_count() {
    let mut cfg = config(Strategy::OneForOne);
    cfg.intensity = RestartIntensity {
        max_restarts: 3,
        within: Duration::from_secs(10),
    };
    cfg.backoff.min = Duration::ZERO;
    harness::run(cfg, |mut h: Harness| async move {
        let a = h
            .root()
            .start_child(ChildSpec::new("a", probe("a", Default::default())));
        for n in 1..=6 {
            let _ = a.ask(Crash, ASK).await;
            h.expect_event("restart", SEC, started("a", n)).await;
            if n == 3 {
                h.advance(Duration::from_secs(11)).await;
            }
        }
        assert!(!h.alarm().escalated());
        assert_eq!(a.ask(Ping, ASK).await, Ok(7));
    });
}

#[test]
fn backoff_grows_exponentially_and_resets_after_a_quiet_period() {
    harness::run(config(Strategy::OneForOne), |mut h: Harness| async move {
        let a = h
            .root()
            .start_child(ChildSpec::new("a", probe("a", Default::default())));
        let mut delays = vec![];
        for _ in 0..5 {
            let _ = a.ask(Crash, ASK).await;
            let e = h
                .expect_event("restart scheduled", SEC, |e| {
                    matches!(e, SupervisionEvent::RestartScheduled { .. })
                })
                .await;
            let SupervisionEvent::RestartScheduled { backoff, .. } = e else {
                unreachable!()
            };
            delays.push(backoff);
            // The restart really waits for the backoff, on the timer.
            let t = tokio::time::Instant::now();
            a.ask(Ping, Duration::from_secs(10)).await.unwrap();
            assert!(t.elapsed() >= backoff, "{:?} < {backoff:?}", t.elapsed());
        }
        let ms: Vec<u128> = delays.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![0, 100, 200, 400, 800]);

        h.advance(Duration::from_secs(31)).await;
        let _ = a.ask(Crash, ASK).await;
        let e = h
            .expect_event("restart scheduled", SEC, |e| {
                matches!(e, SupervisionEvent::RestartScheduled { .. })
            })
            .await;
        assert!(
            matches!(e, SupervisionEvent::RestartScheduled { backoff, .. } if backoff.is_zero())
        );
    });
}

#[test]
fn backoff_jitter_stays_within_its_spread_and_the_maximum() {
    let mut cfg = config(Strategy::OneForOne);
    cfg.backoff.jitter = 0.5;
    cfg.backoff.max = Duration::from_millis(300);
    harness::run(cfg, |mut h: Harness| async move {
        let a = h
            .root()
            .start_child(ChildSpec::new("a", probe("a", Default::default())));
        let mut seen = vec![];
        for _ in 0..12 {
            let _ = a.ask(Crash, ASK).await;
            let e = h
                .expect_event("restart scheduled", SEC, |e| {
                    matches!(e, SupervisionEvent::RestartScheduled { .. })
                })
                .await;
            let SupervisionEvent::RestartScheduled { backoff, .. } = e else {
                unreachable!()
            };
            seen.push(backoff);
            a.ask(Ping, Duration::from_secs(10)).await.unwrap();
        }
        let attempt1 = seen[1].as_millis();
        assert!((50..=150).contains(&attempt1), "{attempt1}");
        assert!(seen.iter().all(|d| *d <= Duration::from_millis(300)));
        let distinct: std::collections::HashSet<_> = seen[3..].iter().collect();
        assert!(distinct.len() > 1, "jitter spreads the delays: {seen:?}");
    });
}

#[test]
fn a_panic_at_every_site_is_contained_and_restarts_the_child() {
    harness::run(config(Strategy::OneForOne), |mut h: Harness| async move {
        let script = Arc::new(ProbeScript::default());
        script.factory_panics.store(1, Ordering::SeqCst);
        let a = h
            .root()
            .start_child(ChildSpec::new("a", probe("a", script.clone())));
        let other = h
            .root()
            .start_child(ChildSpec::new("other", probe("other", Default::default())));

        // Factory.
        let e = h.expect_event("factory failure", SEC, failed("a")).await;
        assert!(matches!(
            e,
            SupervisionEvent::ChildFailed {
                site: Site::Factory,
                ..
            }
        ));
        assert_eq!(a.ask(Ping, SEC).await, Ok(1));

        // `started` hook.
        script.started_panics.store(1, Ordering::SeqCst);
        let _ = a.ask(Crash, ASK).await;
        let e = h
            .expect_event("started-hook failure", SEC, |e| {
                matches!(
                    e,
                    SupervisionEvent::ChildFailed {
                        site: Site::Started,
                        ..
                    }
                )
            })
            .await;
        let SupervisionEvent::ChildFailed { panic, .. } = e else {
            unreachable!()
        };
        assert_eq!(panic.message, "started hook of a failed");
        assert!(a.ask(Ping, Duration::from_secs(5)).await.is_ok());

        // `stopping` hook (on a normal stop of a permanent child).
        script.stopping_panics.store(1, Ordering::SeqCst);
        a.ask(StopNormally, ASK).await.unwrap();
        h.expect_event("stopping-hook failure", SEC, |e| {
            matches!(
                e,
                SupervisionEvent::ChildFailed {
                    site: Site::Stopping,
                    ..
                }
            )
        })
        .await;
        assert!(a.ask(Ping, Duration::from_secs(5)).await.is_ok());

        // Interval timer: panics on its third tick; the replacement does not inherit the timer.
        let ticks = Arc::new(AtomicU64::new(0));
        a.ask(
            StartTicking {
                every: SEC,
                panic_on: 3,
                ticks: ticks.clone(),
            },
            ASK,
        )
        .await
        .unwrap();
        h.expect_event("timer failure", Duration::from_secs(10), |e| {
            matches!(
                e,
                SupervisionEvent::ChildFailed {
                    site: Site::Timer,
                    ..
                }
            )
        })
        .await;
        assert_eq!(ticks.load(Ordering::SeqCst), 3);
        h.advance(Duration::from_secs(10)).await;
        assert_eq!(
            ticks.load(Ordering::SeqCst),
            3,
            "the failed instance's timer is cancelled"
        );
        assert!(a.ask(Ping, Duration::from_secs(5)).await.is_ok());

        // Nobody else was disturbed.
        assert_eq!(other.ask(Ping, ASK).await, Ok(1));
        let status = h.root().status(SEC).await.unwrap();
        let a_status = &status.children[0];
        assert_eq!(a_status.state, ChildState::Running);
        assert!(a_status.restarts >= 4, "{a_status:?}");
        let last_failure = a_status.last_failure.as_deref().unwrap();
        assert!(
            last_failure.starts_with("timer tick 3 failed (in a timer, at tests/"),
            "{last_failure}"
        );
    });
}

#[test]
fn messages_sent_during_a_restart_reach_the_new_instance() {
    let mut cfg = config(Strategy::OneForOne);
    cfg.backoff.min = Duration::from_secs(2);
    harness::run(cfg, |mut h: Harness| async move {
        let a = h
            .root()
            .start_child(ChildSpec::new("a", probe("a", Default::default())));
        let _ = a.ask(Crash, ASK).await;
        h.expect_event("first restart", SEC, started("a", 1)).await;
        let _ = a.ask(Crash, ASK).await; // second failure: a 2 s backoff
        h.expect_event("restart scheduled", SEC, |e| {
            matches!(e, SupervisionEvent::RestartScheduled { backoff, .. } if *backoff == Duration::from_secs(2))
        })
        .await;

        // An ask shorter than the backoff times out with a clear error ...
        let err = a.ask(Ping, Duration::from_millis(500)).await.unwrap_err();
        assert!(matches!(err, AskError::Timeout { .. }), "{err:?}");
        assert!(err.to_string().contains("did not answer within 500ms"));
        // ... and the ones that wait are answered, in order, by instance 3.
        let replies =
            futures_util::future::join_all((0..5).map(|_| a.ask(Ping, Duration::from_secs(5))))
                .await;
        assert_eq!(replies, vec![Ok(3); 5]);
        let stats = a.mailbox_stats();
        assert_eq!(stats.drops(), 0);
    });
}

#[test]
fn restart_types_decide_what_happens_after_a_failure_or_a_normal_exit() {
    let mut cfg = config(Strategy::OneForOne);
    cfg.backoff.min = Duration::ZERO;
    harness::run(cfg, |mut h: Harness| async move {
        let temp = h.root().start_child(
            ChildSpec::new("temp", probe("temp", Default::default()))
                .restart(RestartType::Temporary),
        );
        let trans = h.root().start_child(
            ChildSpec::new("trans", probe("trans", Default::default()))
                .restart(RestartType::Transient),
        );
        let perm = h
            .root()
            .start_child(ChildSpec::new("perm", probe("perm", Default::default())));

        // Two messages queued behind the failure are failed back to their senders.
        temp.tell(Crash).unwrap();
        let behind = [temp.ask(Ping, ASK), temp.ask(Ping, ASK)];
        let behind = futures_util::future::join_all(behind).await;
        assert!(
            behind
                .iter()
                .all(|r| matches!(r, Err(AskError::Undelivered { .. }))),
            "{behind:?}"
        );
        h.expect_event("temporary child stopped", SEC, stopped("temp", 2))
            .await;
        harness::eventually("temporary child retired", SEC, || temp.is_stopped()).await;
        assert!(matches!(
            temp.ask(Ping, ASK).await,
            Err(AskError::Send(SendError::Stopped { .. }))
        ));

        let _ = trans.ask(Crash, ASK).await;
        assert_eq!(
            trans.ask(Ping, ASK).await,
            Ok(2),
            "transient restarts after a failure"
        );
        trans.ask(StopNormally, ASK).await.unwrap();
        h.expect_event("transient child stopped", SEC, stopped("trans", 0))
            .await;
        harness::eventually("transient child retired after a normal exit", SEC, || {
            trans.is_stopped()
        })
        .await;

        perm.ask(StopNormally, ASK).await.unwrap();
        h.expect_event(
            "permanent restarted after a normal exit",
            SEC,
            started("perm", 1),
        )
        .await;
        assert_eq!(perm.ask(Ping, ASK).await, Ok(2));
    });
}

#[test]
fn shutdown_stops_children_last_started_first_and_drains_their_mailboxes() {
    harness::run(config(Strategy::OneForOne), |h: Harness| async move {
        let script = Arc::new(ProbeScript::default());
        let [a, _b, _c] = start_probes(&h, &script, ["a", "b", "c"]).await;
        // Queued before shutdown: handled, not lost.
        for _ in 0..10 {
            a.tell(Rejecting(1)).unwrap();
        }
        let report = h.root().shutdown().await;
        let order: Vec<&str> = report.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(order, vec!["c", "b", "a"]);
        assert!(report
            .children
            .iter()
            .all(|c| c.undelivered == 0 && !c.timed_out));
        assert_eq!(script.log()[3..], ["stop c", "stop b", "stop a"]);
        assert_eq!(a.mailbox_stats().delivered, 11);
        assert!(matches!(a.tell(Ping), Err(SendError::Stopped { .. })));
    });
}

#[test]
fn shutdown_forces_a_child_that_overruns_its_timeout_and_reports_what_it_dropped() {
    harness::run(config(Strategy::OneForOne), |h: Harness| async move {
        let slow = h.root().start_child(
            ChildSpec::new("slow", probe("slow", Default::default()))
                .shutdown_timeout(Duration::from_millis(50)),
        );
        slow.ask(Ping, ASK).await.unwrap();
        // 200 ms of work queued; the host handles at most one drain batch (64) before the stop
        // arrives, and must give up 50 ms into the rest.
        for _ in 0..200 {
            slow.tell(Block(Duration::from_millis(1))).unwrap();
        }
        let report = h.root().shutdown().await;
        let r = &report.children[0];
        assert!(r.timed_out, "{r:?}");
        assert!(r.undelivered > 0 && r.undelivered < 200, "{r:?}");
        let stats = slow.mailbox_stats();
        assert_eq!(
            stats
                .kinds
                .iter()
                .find(|k| k.kind == "Block")
                .unwrap()
                .undelivered as usize,
            r.undelivered
        );
    });
}

#[test]
fn a_nested_supervisor_escalates_to_its_parent_which_restarts_the_group() {
    let mut parent_cfg = config(Strategy::OneForOne);
    parent_cfg.backoff.min = Duration::ZERO;
    harness::run(parent_cfg, |mut h: Harness| async move {
        let mut child_cfg = config(Strategy::OneForOne);
        child_cfg.intensity.max_restarts = 1;
        child_cfg.backoff.min = Duration::ZERO;
        let nested = h
            .root()
            .start_supervisor("notifiers", child_cfg)
            .await
            .unwrap();
        let n = nested.start_child(ChildSpec::new(
            "webhook",
            probe("webhook", Default::default()),
        ));
        assert_eq!(n.ask(Ping, ASK).await, Ok(1));
        let _ = n.ask(Crash, ASK).await;
        assert_eq!(n.ask(Ping, ASK).await, Ok(2));
        let _ = n.ask(Crash, ASK).await; // second restart in the window: the nested supervisor escalates
        h.expect_event("nested escalation", SEC, |e| matches!(e, SupervisionEvent::Escalated { supervisor, .. } if &**supervisor == "notifiers")).await;
        h.expect_event(
            "webhook restarted by the parent",
            SEC,
            started("webhook", 2),
        )
        .await;
        assert_eq!(n.ask(Ping, ASK).await, Ok(3));
        assert!(!h.alarm().escalated(), "the root absorbed it");
        let status = h.root().status(SEC).await.unwrap();
        assert_eq!(status.restarts_total, 1);
        let nested_status = status.children[0].nested.as_ref().unwrap();
        assert_eq!(nested_status.escalations, 1);
        assert_eq!(status.all_children().len(), 2);
    });
}

#[test]
fn ticks_missed_during_a_stall_are_skipped_not_replayed() {
    harness::run(config(Strategy::OneForOne), |h: Harness| async move {
        let a = h
            .root()
            .start_child(ChildSpec::new("a", probe("a", Default::default())));
        let ticks = Arc::new(AtomicU64::new(0));
        a.ask(
            StartTicking {
                every: SEC,
                panic_on: 0,
                ticks: ticks.clone(),
            },
            ASK,
        )
        .await
        .unwrap();
        for step in [1000, 1000, 500] {
            h.advance(Duration::from_millis(step)).await;
        }
        assert_eq!(ticks.load(Ordering::SeqCst), 2);
        // One jump of 10 s (the arbiter was stalled): one tick, not ten.
        h.advance(Duration::from_secs(10)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 3);
        h.advance(Duration::from_secs(1)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 4);
    });
}

#[test]
fn intervals_of_one_period_tick_together_whenever_they_started() {
    harness::run(config(Strategy::OneForOne), |h: Harness| async move {
        let start = |name: &'static str| {
            h.root()
                .start_child(ChildSpec::new(name, probe(name, Default::default())))
        };
        let (a, b, c) = (start("a"), start("b"), start("c"));
        let ticks: [Arc<AtomicU64>; 3] = Default::default();
        let ticking = |every, n: usize| StartTicking {
            every,
            panic_on: 0,
            ticks: ticks[n].clone(),
        };
        let count = |n: usize| ticks[n].load(Ordering::SeqCst);
        a.ask(ticking(SEC, 0), ASK).await.unwrap();
        // 300 ms later, one more of the same period and one of ten times it.
        h.advance(Duration::from_millis(300)).await;
        b.ask(ticking(SEC, 1), ASK).await.unwrap();
        c.ask(ticking(10 * SEC, 2), ASK).await.unwrap();
        h.advance(Duration::from_millis(699)).await;
        assert_eq!((count(0), count(1)), (0, 0));
        // The second ticks with the first, 700 ms after it started.
        h.advance(Duration::from_millis(1)).await;
        assert_eq!((count(0), count(1)), (1, 1));
        // (A step at a time: a jump over several ticks is one tick.)
        for _ in 0..8 {
            h.advance(SEC).await;
        }
        h.advance(Duration::from_millis(999)).await;
        assert_eq!((count(0), count(1), count(2)), (9, 9, 0));
        // The ten-second one with the tenth tick of the others.
        h.advance(Duration::from_millis(1)).await;
        assert_eq!((count(0), count(1), count(2)), (10, 10, 1));
    });
}

#[test]
fn a_shutdown_deadline_cuts_a_longer_child_timeout() {
    harness::run(config(Strategy::OneForOne), |h: Harness| async move {
        let slow = h.root().start_child(
            ChildSpec::new("slow", probe("slow", Default::default()))
                .shutdown_timeout(Duration::from_secs(60)),
        );
        slow.ask(Ping, ASK).await.unwrap();
        for _ in 0..500 {
            slow.tell(Block(Duration::from_millis(1))).unwrap();
        }
        let started = std::time::Instant::now();
        let report = h
            .root()
            .shutdown_by(Some(started + Duration::from_millis(50)))
            .await;
        assert!(
            started.elapsed() < Duration::from_millis(400),
            "{:?}",
            started.elapsed()
        );
        let r = &report.children[0];
        assert!(r.timed_out && r.undelivered > 0, "{r:?}");
    });
}

// ---- OTP's semantics in the corners: pending restarts, simultaneous failures, nested groups ----

fn scheduled(child: &'static str) -> impl Fn(&SupervisionEvent) -> bool {
    move |e| matches!(e, SupervisionEvent::RestartScheduled { child: c, .. } if &**c == child)
}

/// rest_for_one: c depends on b. A pending backoff restart of c must not start c while b is down;
/// c must come back after b (OTP: "restarted in start order").
#[test]
fn rest_for_one_a_pending_restart_of_a_later_child_waits_for_the_failed_one() {
    harness::run(config(Strategy::RestForOne), |mut h: Harness| async move {
        let script = Arc::new(ProbeScript::default());
        let [_a, b, c] = start_probes(&h, &script, ["a", "b", "c"]).await;
        // b fails twice (its next restart will wait 200 ms); each restart takes c along.
        let _ = b.ask(Crash, ASK).await;
        h.expect_event("b restarted", SEC, started("b", 1)).await;
        let _ = b.ask(Crash, ASK).await;
        h.expect_event("b restarted", SEC, started("b", 2)).await;
        h.expect_event("c restarted", SEC, started("c", 2)).await;
        // c fails twice: its second restart waits 100 ms.
        let _ = c.ask(Crash, ASK).await;
        h.expect_event("c restarted", SEC, started("c", 3)).await;
        let _ = c.ask(Crash, ASK).await;
        h.expect_event("c's restart scheduled", SEC, scheduled("c"))
            .await;
        script.log.lock().unwrap().clear();
        // b fails while c's restart is pending: b (200 ms) then c must start, in that order.
        let _ = b.ask(Crash, ASK).await;
        h.expect_event("b's restart scheduled", SEC, scheduled("b"))
            .await;
        h.expect_event("b restarted", SEC, started("b", 3)).await;
        h.advance(Duration::from_millis(10)).await;
        assert_eq!(script.log(), vec!["start b", "start c"]);
    });
}

/// one_for_all with a nested supervisor in the group: "others stop last-started first, each
/// awaited; restarts happen in start order, each awaited" (README, Supervision).
#[test]
fn one_for_all_with_a_nested_supervisor_stops_and_restarts_in_order() {
    harness::run(config(Strategy::OneForAll), |h: Harness| async move {
        let script = Arc::new(ProbeScript::default());
        let w = h
            .root()
            .start_child(ChildSpec::new("w", probe("w", script.clone())));
        let nested = h
            .root()
            .start_supervisor("n", config(Strategy::OneForOne))
            .await
            .unwrap();
        let x = nested.start_child(ChildSpec::new("x", probe("x", script.clone())));
        let f = h
            .root()
            .start_child(ChildSpec::new("f", probe("f", script.clone())));
        for r in [&w, &x, &f] {
            r.ask(Ping, ASK).await.unwrap();
        }
        script.log.lock().unwrap().clear();
        let _ = f.ask(Crash, ASK).await;
        harness::eventually("the group restarted", SEC, || script.log().len() >= 5).await;
        h.advance(Duration::from_millis(10)).await;
        // Start order w, n(x), f: stop x (inside n) then w; start w, then x, then f.
        assert_eq!(
            script.log(),
            vec!["stop x", "stop w", "start w", "start x", "start f"]
        );
    });
}

/// one_for_all: two children fail at once. OTP terminates the second as part of the first's
/// restart (its EXIT is flushed): one restart, counted once. With max_restarts 1 that is within
/// the intensity.
#[test]
fn one_for_all_two_simultaneous_failures_are_one_group_restart() {
    let mut cfg = config(Strategy::OneForAll);
    cfg.intensity.max_restarts = 1;
    cfg.backoff.min = Duration::ZERO;
    harness::run(cfg, |mut h: Harness| async move {
        let script = Arc::new(ProbeScript::default());
        let [a, b] = start_probes(&h, &script, ["a", "b"]).await;
        a.tell(Crash).unwrap();
        b.tell(Crash).unwrap();
        h.expect_event("a restarted", SEC, started("a", 1)).await;
        h.advance(Duration::from_millis(10)).await;
        let status = h.root().status(SEC).await.unwrap();
        assert!(
            !h.alarm().escalated(),
            "escalated: {:?}",
            h.alarm().reason()
        );
        assert_eq!(status.restarts_in_window, 1, "{status:?}");
    });
}

/// one_for_all: b fails; c's `stopping` hook panics while the supervisor stops it for that
/// restart. One failure: every child restarted once, one restart counted.
#[test]
fn one_for_all_a_stopping_panic_during_the_group_restart_counts_one_restart() {
    harness::run(config(Strategy::OneForAll), |mut h: Harness| async move {
        let script = Arc::new(ProbeScript::default());
        let [_a, b, _c] = start_probes(&h, &script, ["a", "b", "c"]).await;
        script.log.lock().unwrap().clear();
        script.stopping_panics.store(1, Ordering::SeqCst);
        let _ = b.ask(Crash, ASK).await;
        h.expect_event("c restarted", SEC, started("c", 1)).await;
        h.advance(Duration::from_secs(5)).await;
        let status = h.root().status(SEC).await.unwrap();
        let restarts: Vec<u32> = status.children.iter().map(|c| c.restarts).collect();
        assert_eq!(
            (script.log(), restarts, status.restarts_in_window),
            (
                vec!["stop c", "stop a", "start a", "start b", "start c"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                vec![1, 1, 1],
                1
            )
        );
    });
}

/// one_for_all with a temporary sibling: OTP terminates a temporary child as part of the group
/// restart and does not restart it ("a temporary child is never restarted").
#[test]
fn one_for_all_stops_a_temporary_sibling_for_good() {
    harness::run(config(Strategy::OneForAll), |mut h: Harness| async move {
        let a = h
            .root()
            .start_child(ChildSpec::new("a", probe("a", Default::default())));
        let t = h.root().start_child(
            ChildSpec::new("t", probe("t", Default::default())).restart(RestartType::Temporary),
        );
        a.ask(Ping, ASK).await.unwrap();
        t.ask(Ping, ASK).await.unwrap();
        let _ = a.ask(Crash, ASK).await;
        h.expect_event("a restarted", SEC, started("a", 1)).await;
        h.advance(Duration::from_millis(10)).await;
        let status = h.root().status(SEC).await.unwrap();
        assert_eq!(status.children[1].state, ChildState::Stopped, "{status:?}");
        assert!(t.is_stopped());
    });
}
