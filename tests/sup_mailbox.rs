//! Bounded mailboxes: each overflow policy, counters by message kind, ask timeouts, blocking asks
//! from other threads and from the child's own, the watchdog.

mod common;

use std::time::Duration;

use common::*;
use watchkeeper_actors::harness::{self, Harness};
use watchkeeper_actors::{
    AskError, ChildSpec, Delivery, SendError, SupervisionEvent, SupervisorConfig, Watchdog,
    WatchdogActor,
};

fn spec(capacity: usize) -> ChildSpec<Probe> {
    ChildSpec::new("box", probe("box", Default::default())).mailbox_capacity(capacity)
}

#[test]
fn reject_refuses_past_capacity_and_counts_it() {
    harness::run(SupervisorConfig::default(), |_h: Harness| async move {
        let a = _h.root().start_child(spec(4));
        a.ask(Ping, ASK).await.unwrap();
        // Nothing runs between these sends: the mailbox fills.
        let outcomes: Vec<_> = (0..6).map(|i| a.tell(Rejecting(i))).collect();
        assert!(
            outcomes[..4].iter().all(|o| *o == Ok(Delivery::Queued)),
            "{outcomes:?}"
        );
        for o in &outcomes[4..] {
            assert!(
                matches!(o, Err(SendError::Full { capacity: 4, .. })),
                "{o:?}"
            );
        }
        let stats = a.mailbox_stats();
        assert_eq!((stats.depth, stats.high_water), (4, 4));
        let k = stats.kinds.iter().find(|k| k.kind == "Rejecting").unwrap();
        assert_eq!((k.enqueued, k.rejected), (4, 2));
        assert_eq!(stats.drops(), 2);
        // Still full: an ask is refused at once, not queued behind.
        assert!(matches!(
            a.ask(Ping, ASK).await,
            Err(AskError::Send(SendError::Full { .. }))
        ));
        // Once drained, sends are accepted again.
        harness::eventually("mailbox drained", ASK, || a.mailbox_stats().depth == 0).await;
        assert_eq!(a.tell(Rejecting(9)), Ok(Delivery::Queued));
    });
}

#[test]
fn drop_newest_discards_the_new_message_and_tells_its_asker() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let a = h.root().start_child(spec(2));
        a.ask(Ping, ASK).await.unwrap();
        a.tell(Newest(1)).unwrap();
        a.tell(Newest(2)).unwrap();
        assert_eq!(a.tell(Newest(3)), Ok(Delivery::DroppedNewest));
        assert!(matches!(
            a.ask(Newest(4), ASK).await,
            Err(AskError::Dropped { .. })
        ));
        let k = a
            .mailbox_stats()
            .kinds
            .into_iter()
            .find(|k| k.kind == "Newest")
            .unwrap();
        assert_eq!((k.enqueued, k.dropped_newest), (2, 2));
    });
}

#[test]
fn drop_oldest_evicts_the_oldest_of_the_same_kind_only() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let a = h.root().start_child(spec(4));
        a.ask(Ping, ASK).await.unwrap();
        // join_all polls in order: Oldest(1)..(4) fill the box, Oldest(5) evicts Oldest(1).
        let replies = futures_util::future::join_all((1..=5).map(|i| a.ask(Oldest(i), ASK))).await;
        assert!(
            matches!(replies[0], Err(AskError::Evicted { .. })),
            "{:?}",
            replies[0]
        );
        assert_eq!(replies[1..], [Ok(2), Ok(3), Ok(4), Ok(5)]);
        let k = a
            .mailbox_stats()
            .kinds
            .into_iter()
            .find(|k| k.kind == "Oldest")
            .unwrap();
        assert_eq!(k.evicted_oldest, 1);

        // A box full of other kinds: nothing of this kind to evict, so the new one is refused.
        for i in 0..4 {
            a.tell(Rejecting(i)).unwrap();
        }
        assert!(matches!(a.tell(Oldest(6)), Err(SendError::Full { .. })));
        assert_eq!(
            a.mailbox_stats()
                .kinds
                .iter()
                .find(|k| k.kind == "Rejecting")
                .unwrap()
                .enqueued,
            4
        );
    });
}

#[test]
fn asks_time_out_with_a_clear_error_and_a_late_reply_is_discarded() {
    let mut cfg = SupervisorConfig::default();
    cfg.backoff.min = Duration::from_secs(3);
    cfg.backoff.jitter = 0.0;
    harness::run(cfg, |h: Harness| async move {
        let a = h.root().start_child(spec(16));
        let _ = a.ask(Crash, ASK).await;
        a.ask(Ping, ASK).await.unwrap();
        let _ = a.ask(Crash, ASK).await; // now a 3 s backoff
        let started = tokio::time::Instant::now();
        let err = a.ask(Ping, Duration::from_millis(250)).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_millis(250));
        assert!(
            matches!(err, AskError::Timeout { ref child, after } if &**child == "box" && after == Duration::from_millis(250))
        );
        // The timed-out ask is still handled later; its reply goes nowhere and nothing breaks.
        assert_eq!(a.ask(Ping, Duration::from_secs(5)).await, Ok(3));
    });
}

#[test]
fn ask_blocking_works_from_a_plain_thread() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let a = h.root().start_child(spec(16));
        a.ask(Ping, ASK).await.unwrap();
        let remote = a.clone();
        let thread = std::thread::spawn(move || remote.ask_blocking(Ping, Duration::from_secs(5)));
        // Keep the actor's thread turning while the other thread waits.
        while !thread.is_finished() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(thread.join().unwrap(), Ok(1));
    });
}

#[test]
fn ask_blocking_from_the_childs_own_thread_is_refused_at_once() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let a = h.root().start_child(spec(16));
        a.ask(Ping, ASK).await.unwrap();
        // This body runs on the tree's thread: waiting there would hold up the child itself.
        let asked = std::time::Instant::now();
        let refused = a.ask_blocking(Ping, Duration::from_secs(5));
        assert!(
            matches!(&refused, Err(AskError::OwnThread { child }) if &**child == "box"),
            "{refused:?}"
        );
        assert!(asked.elapsed() < Duration::from_secs(1));
        assert!(refused
            .unwrap_err()
            .to_string()
            .contains("use the async form"));
        // Nothing was queued.
        assert_eq!(a.mailbox_stats().depth, 0);
        assert_eq!(a.ask(Ping, ASK).await, Ok(1));
    });
}

#[test]
fn asks_from_many_threads_at_once_are_all_answered() {
    // Senders on other threads race the host emptying its mailbox: a wake-up lost there would
    // leave an ask unanswered until its timeout.
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let a = h.root().start_child(spec(64));
        a.ask(Ping, ASK).await.unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let remote = a.clone();
                std::thread::spawn(move || {
                    (0..500)
                        .map(|_| remote.ask_blocking(Ping, Duration::from_secs(5)))
                        .filter(Result::is_ok)
                        .count()
                })
            })
            .collect();
        while !threads.iter().all(|t| t.is_finished()) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let answered: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(answered, 2000);
        let stats = a.mailbox_stats();
        assert_eq!((stats.delivered, stats.depth), (2001, 0));
    });
}

#[test]
fn the_watchdog_reports_a_handler_that_blocks_past_its_budget() {
    let dog = Watchdog::new(Duration::from_millis(50), Duration::from_millis(10));
    harness::run_with_watchdog(
        SupervisorConfig::default(),
        Some(dog.clone()),
        |mut h: Harness| async move {
            // The watchdog runs on a thread of its own, on real time.
            let arbiter = actix::Arbiter::new();
            WatchdogActor::start_on(&arbiter.handle(), dog, h.root().events().clone());
            let a = h.root().start_child(spec(16));
            a.ask(Ping, ASK).await.unwrap();
            a.tell(Block(Duration::from_millis(300))).unwrap();
            a.ask(Ping, ASK).await.unwrap();
            let stalled = h
                .expect_event("stall report", Duration::from_secs(1), |e| {
                    matches!(e, SupervisionEvent::HandlerStalled { .. })
                })
                .await;
            let SupervisionEvent::HandlerStalled { child, running_for } = stalled else {
                unreachable!()
            };
            assert_eq!(&*child, "box");
            assert!(running_for >= Duration::from_millis(50), "{running_for:?}");
            let slow = h
                .expect_event("slow handler", Duration::from_secs(1), |e| {
                    matches!(e, SupervisionEvent::SlowHandler { .. })
                })
                .await;
            let SupervisionEvent::SlowHandler { took, .. } = slow else {
                unreachable!()
            };
            assert!(took >= Duration::from_millis(200), "{took:?}");
            // A quick handler is not reported.
            a.ask(Ping, ASK).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
            assert_eq!(
                h.seen()
                    .iter()
                    .filter(|e| matches!(e, SupervisionEvent::HandlerStalled { .. }))
                    .count(),
                1
            );
            arbiter.stop();
        },
    );
}
