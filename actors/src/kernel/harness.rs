//! A test harness: an actor tree on paused virtual time, driven by scripted messages.
//!
//! [`run`] starts an actix system whose Tokio clock is paused, with a root supervisor, and hands the
//! test a [`Harness`]. Timers fire as virtual time advances (explicitly with [`Harness::advance`], or
//! automatically whenever the tree is idle), so minutes of intervals and backoffs run in milliseconds
//! and every run is the same. [`Harness::expect_event`] waits for a supervision event and fails with
//! the events seen so far; [`eventually`] polls a condition instead of sleeping.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};

use crate::kernel::events::{EventBus, SupervisionEvent};
use crate::kernel::supervisor::{HostAlarm, SupervisorConfig, SupervisorRef};
use crate::kernel::watchdog::Watchdog;

/// The tree a test drives.
pub struct Harness {
    root: SupervisorRef,
    alarm: Arc<HostAlarm>,
    events: broadcast::Receiver<SupervisionEvent>,
    seen: Vec<SupervisionEvent>,
}

/// Runs `test` inside an actix system on paused Tokio time, with a root supervisor configured by
/// `config`.
pub fn run<F, Fut>(config: SupervisorConfig, test: F)
where
    F: FnOnce(Harness) -> Fut,
    Fut: Future<Output = ()>,
{
    run_with_watchdog(config, None, test)
}

/// Like [`run`], with a watchdog shared by every host of the tree (drive it from its own arbiter with
/// [`crate::WatchdogActor`]).
pub fn run_with_watchdog<F, Fut>(config: SupervisorConfig, watchdog: Option<Arc<Watchdog>>, test: F)
where
    F: FnOnce(Harness) -> Fut,
    Fut: Future<Output = ()>,
{
    let system = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("building a current-thread Tokio runtime")
    });
    system.block_on(async move {
        let bus = EventBus::new(1 << 16);
        let events = bus.subscribe();
        let (root, alarm) = SupervisorRef::start_root("root", config, bus, watchdog);
        test(Harness {
            root,
            alarm,
            events,
            seen: Vec::new(),
        })
        .await;
    });
}

impl Harness {
    /// The root supervisor.
    pub fn root(&self) -> &SupervisorRef {
        &self.root
    }

    /// The root's escalation to the host.
    pub fn alarm(&self) -> &HostAlarm {
        &self.alarm
    }

    /// Every event received so far, in order.
    pub fn seen(&self) -> &[SupervisionEvent] {
        &self.seen
    }

    /// Lets everything that is ready run, without moving the clock.
    pub async fn settle(&self) {
        for _ in 0..32 {
            tokio::task::yield_now().await;
        }
    }

    /// Moves virtual time forward by `d`, firing every timer due, then settles.
    pub async fn advance(&self, d: Duration) {
        self.settle().await;
        tokio::time::advance(d).await;
        self.settle().await;
    }

    /// Waits (in virtual time) up to `within` for an event matching `matches`; panics naming `what` and
    /// listing the events seen if none comes.
    pub async fn expect_event(
        &mut self,
        what: &str,
        within: Duration,
        matches: impl Fn(&SupervisionEvent) -> bool,
    ) -> SupervisionEvent {
        match self.wait_event(within, &matches).await {
            Some(event) => event,
            None => panic!(
                "expected {what} within {within:?}; events seen:\n{:#?}",
                self.seen
            ),
        }
    }

    /// Asserts that no event matching `matches` arrives within `within` (virtual time).
    pub async fn expect_no_event(
        &mut self,
        what: &str,
        within: Duration,
        matches: impl Fn(&SupervisionEvent) -> bool,
    ) {
        if let Some(event) = self.wait_event(within, &matches).await {
            panic!("expected no {what} within {within:?}, got {event:#?}");
        }
    }

    /// Every event that arrives within `within`, matching or not.
    pub async fn collect_events(&mut self, within: Duration) -> Vec<SupervisionEvent> {
        let start = self.seen.len();
        let _ = self.wait_event(within, &|_| false).await;
        self.seen[start..].to_vec()
    }

    async fn wait_event(
        &mut self,
        within: Duration,
        matches: &dyn Fn(&SupervisionEvent) -> bool,
    ) -> Option<SupervisionEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Ok(event)) => {
                    self.seen.push(event.clone());
                    if matches(&event) {
                        return Some(event);
                    }
                }
                Ok(Err(RecvError::Lagged(n))) => {
                    panic!("the harness missed {n} events; raise the bus capacity")
                }
                Ok(Err(RecvError::Closed)) | Err(_) => return None,
            }
        }
    }
}

/// Polls `condition` every millisecond of virtual time until it holds or `within` passes; panics
/// naming `what` otherwise.
pub async fn eventually(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !condition() {
        if tokio::time::Instant::now() >= deadline {
            panic!("{what}: not true within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Makes any supervised actor panic in its handler: fault injection for tests and the reliability
/// suite, only built with the `harness` feature.
#[derive(Debug)]
pub struct InjectPanic;

impl crate::Message for InjectPanic {
    type Result = ();
}

impl<A: crate::ChildActor> crate::Handles<InjectPanic> for A {
    fn handle(&mut self, _: InjectPanic, ctx: &mut crate::ChildContext<'_, Self>) {
        panic!("injected fault in `{}`", ctx.name());
    }
}
