//! The watchdog: sees a handler that blocks its actor's thread longer than a budget.
//!
//! `send(..).timeout(..)` cannot fire while a handler blocks the arbiter it runs on, so the watchdog runs
//! on an arbiter of its own. Each actor host marks itself busy with the watchdog's current tick (one
//! relaxed store, no clock read) when a handler starts and idle when it returns; the [`WatchdogActor`]
//! advances the tick on a timer and reports every busy mark older than the budget once, as
//! [`SupervisionEvent::HandlerStalled`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use actix::{Actor, Context};

use crate::kernel::events::{EventBus, SupervisionEvent};

/// One actor's busy mark: 0 when idle, else the watchdog tick at which its current call started, plus 1.
#[derive(Debug, Default)]
pub(crate) struct BusyMark {
    since: AtomicU64,
    reported: AtomicU64,
}

/// The watchdog's clock and the marks it watches; shared with every host of the tree.
#[derive(Debug)]
pub struct Watchdog {
    tick: AtomicU64,
    period: Duration,
    budget_ticks: u64,
    marks: Mutex<Vec<(Arc<str>, Weak<BusyMark>)>>,
}

impl Watchdog {
    /// A watchdog that reports calls running longer than `budget`, checked every `period`.
    pub fn new(budget: Duration, period: Duration) -> Arc<Self> {
        let period = period.max(Duration::from_millis(1));
        let budget_ticks = (budget.as_nanos() / period.as_nanos()).max(1) as u64;
        Arc::new(Watchdog {
            tick: AtomicU64::new(0),
            period,
            budget_ticks,
            marks: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn register(&self, child: Arc<str>) -> Arc<BusyMark> {
        let mark = Arc::new(BusyMark::default());
        let mut marks = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        marks.retain(|(_, w)| w.strong_count() > 0);
        marks.push((child, Arc::downgrade(&mark)));
        mark
    }

    #[inline]
    pub(crate) fn enter(&self, mark: &BusyMark) {
        mark.since
            .store(self.tick.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Marks the call finished; returns how long it ran if the watchdog saw it stall.
    #[inline]
    pub(crate) fn exit(&self, mark: &BusyMark) -> Option<Duration> {
        let since = mark.since.swap(0, Ordering::Relaxed);
        if since != 0 && mark.reported.load(Ordering::Relaxed) == since {
            let ticks = self.tick.load(Ordering::Relaxed) + 1 - since;
            Some(self.period * ticks as u32)
        } else {
            None
        }
    }

    /// Advances the clock one tick and reports every newly stalled call.
    pub fn check(&self, events: &EventBus) {
        let now = self.tick.fetch_add(1, Ordering::Relaxed) + 1;
        let marks = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        for (child, mark) in marks.iter() {
            let Some(mark) = mark.upgrade() else { continue };
            let since = mark.since.load(Ordering::Relaxed);
            if since == 0 || mark.reported.load(Ordering::Relaxed) == since {
                continue;
            }
            let running = now + 1 - since;
            if running > self.budget_ticks {
                mark.reported.store(since, Ordering::Relaxed);
                events.emit(SupervisionEvent::HandlerStalled {
                    child: child.clone(),
                    running_for: self.period * running as u32,
                });
            }
        }
    }
}

/// Drives a [`Watchdog`] from its own arbiter.
pub struct WatchdogActor {
    watchdog: Arc<Watchdog>,
    events: EventBus,
}

impl WatchdogActor {
    /// Starts the watchdog on `arbiter`.
    pub fn start_on(
        arbiter: &actix::ArbiterHandle,
        watchdog: Arc<Watchdog>,
        events: EventBus,
    ) -> actix::Addr<Self> {
        WatchdogActor::start_in_arbiter(arbiter, move |_| WatchdogActor { watchdog, events })
    }
}

impl Actor for WatchdogActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let period = self.watchdog.period;
        crate::kernel::timers::spawn_skip_interval(ctx, period, |act: &mut Self, _ctx| {
            act.watchdog.check(&act.events);
        });
    }
}
