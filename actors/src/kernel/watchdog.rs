//! The watchdog: sees a handler that blocks its actor's thread longer than a budget.
//!
//! `send(..).timeout(..)` cannot fire while a handler blocks the arbiter it runs on, so the watchdog runs
//! on an arbiter of its own. Each actor host marks itself busy with the watchdog's clock (one relaxed
//! load and store, no clock read) when a handler starts and idle when it returns. The
//! [`WatchdogActor`] advances the clock on a timer and reports every call it has seen busy for longer
//! than the budget once, as [`SupervisionEvent::HandlerStalled`]. The timer runs every `period` while
//! a call is in progress and every two budgets while none is, so an idle tree costs two wakeups a
//! second at the default 250 ms budget; a call that starts during a long sleep is timed from the
//! check that first sees it, so nothing is ever reported early.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext, Context};

use crate::kernel::events::{EventBus, SupervisionEvent};

/// One actor's busy mark: 0 when idle, else the watchdog's clock when its current call started.
#[derive(Debug, Default)]
pub(crate) struct BusyMark {
    since: AtomicU64,
    /// The `since` of the call already reported.
    reported: AtomicU64,
    /// The `since` of the call the watchdog has seen busy, and the clock when it first saw it.
    seen: Mutex<(u64, u64)>,
}

/// The watchdog's clock and the marks it watches; shared with every host of the tree.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{EventBus, Watchdog};
///
/// let watchdog = Watchdog::new(Duration::from_millis(250), Duration::from_millis(50));
/// // Nothing registered, so no call is in progress and nothing is reported.
/// let bus = EventBus::default();
/// assert!(!watchdog.check(&bus));
/// assert_eq!(bus.count_of("handler_stalled"), 0);
/// ```
#[derive(Debug)]
pub struct Watchdog {
    started: Instant,
    /// Milliseconds since `started` at the last check, plus 1 (a mark's 0 means idle).
    clock: AtomicU64,
    period: Duration,
    budget: Duration,
    marks: Mutex<Marks>,
}

/// The marks the watchdog watches; those of stopped hosts are pruned once the list has doubled
/// since the last pruning, so registering stays constant time as actors come and go.
#[derive(Debug, Default)]
struct Marks {
    list: Vec<(Arc<str>, Weak<BusyMark>)>,
    prune_at: usize,
}

impl Watchdog {
    /// A watchdog that reports calls running longer than `budget`, checked every `period` while a
    /// call is in progress.
    pub fn new(budget: Duration, period: Duration) -> Arc<Self> {
        Arc::new(Watchdog {
            started: Instant::now(),
            clock: AtomicU64::new(1),
            period: period.max(Duration::from_millis(1)),
            budget,
            marks: Mutex::default(),
        })
    }

    /// How long the watchdog sleeps when no call is in progress.
    fn idle_period(&self) -> Duration {
        (self.budget * 2).max(self.period)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    pub(crate) fn register(&self, child: Arc<str>) -> Arc<BusyMark> {
        let mark = Arc::new(BusyMark::default());
        let mut marks = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        if marks.list.len() >= marks.prune_at {
            marks.list.retain(|(_, w)| w.strong_count() > 0);
            marks.prune_at = (marks.list.len() * 2).max(64);
        }
        marks.list.push((child, Arc::downgrade(&mark)));
        mark
    }

    #[inline]
    pub(crate) fn enter(&self, mark: &BusyMark) {
        mark.since
            .store(self.clock.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Marks the call finished; returns how long it ran if the watchdog reported it stalled.
    #[inline]
    pub(crate) fn exit(&self, mark: &BusyMark) -> Option<Duration> {
        // Only the host writes `since` (the watchdog reads it): a load and a store, no locked
        // instruction.
        let since = mark.since.load(Ordering::Relaxed);
        mark.since.store(0, Ordering::Relaxed);
        if since != 0 && mark.reported.load(Ordering::Relaxed) == since {
            Some(Duration::from_millis(self.now().saturating_sub(since)))
        } else {
            None
        }
    }

    /// Advances the clock and reports every call seen busy for longer than the budget; returns
    /// whether any call is in progress.
    pub fn check(&self, events: &EventBus) -> bool {
        let now = self.now();
        self.clock.store(now, Ordering::Relaxed);
        let budget = u64::try_from(self.budget.as_millis()).unwrap_or(u64::MAX);
        let marks = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        let mut busy = false;
        for (child, mark) in marks.list.iter() {
            let Some(mark) = mark.upgrade() else { continue };
            let since = mark.since.load(Ordering::Relaxed);
            if since == 0 {
                continue;
            }
            busy = true;
            if mark.reported.load(Ordering::Relaxed) == since {
                continue;
            }
            let first_seen = {
                let mut seen = mark.seen.lock().unwrap_or_else(|p| p.into_inner());
                if seen.0 != since {
                    *seen = (since, now);
                }
                seen.1
            };
            // The call began at or before the check that first saw it, and (the clock read at
            // its start being stale by at most a sleep) after `since`'s check.
            if now - first_seen > budget {
                mark.reported.store(since, Ordering::Relaxed);
                events.emit(SupervisionEvent::HandlerStalled {
                    child: child.clone(),
                    running_for: Duration::from_millis(now - first_seen),
                });
            }
        }
        busy
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

/// Checks, then sleeps `period` while a call is in progress, longer while none is; ends with the
/// actor.
async fn watch(watchdog: Arc<Watchdog>, events: EventBus) {
    let mut sleeper = Sleeper::new();
    let mut next = watchdog.period;
    loop {
        sleeper.sleep(next).await;
        next = if watchdog.check(&events) {
            watchdog.period
        } else {
            watchdog.idle_period()
        };
    }
}

impl Actor for WatchdogActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let fut = watch(self.watchdog.clone(), self.events.clone());
        ctx.spawn(actix::fut::wrap_future(fut));
    }
}

/// The watchdog's sleep. On Linux it is a timer of the kernel's own (`timerfd`), which wakes the
/// arbiter once at the deadline: Tokio's timer wheel files a deadline more than 64 ms away in a
/// coarser level and wakes at the start of its 64 ms slot to move it down before waking again at
/// the deadline, so each of the idle watchdog's checks would cost two wake-ups. The watchdog keeps
/// real time (never Tokio's paused clock), so nothing is lost by leaving the wheel. Elsewhere, or
/// if the kernel refuses a timer, Tokio's sleep.
struct Sleeper {
    #[cfg(target_os = "linux")]
    timer: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl Sleeper {
    fn new() -> Self {
        Sleeper {
            #[cfg(target_os = "linux")]
            timer: timerfd::create()
                .map_err(|e| tracing::debug!(error = %e, "The watchdog sleeps on Tokio's timer"))
                .ok(),
        }
    }

    async fn sleep(&mut self, period: Duration) {
        #[cfg(target_os = "linux")]
        if let Some(timer) = &self.timer {
            match timerfd::sleep(timer, period).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "The watchdog's kernel timer failed; it sleeps on Tokio's timer");
                    self.timer = None;
                }
            }
        }
        tokio::time::sleep(period).await;
    }
}

#[cfg(target_os = "linux")]
mod timerfd {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    /// A non-blocking timer on the monotonic clock, registered with the arbiter's reactor.
    pub(super) fn create() -> io::Result<AsyncFd<OwnedFd>> {
        // SAFETY: timerfd_create takes no pointers; a non-negative result is a new descriptor
        // that nothing else owns.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else; the `OwnedFd` keeps it open,
        // and the same, for as long as the `AsyncFd` holds it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: as above.
        Ok(unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?)
    }

    /// Arms `timer` to expire once after `period` (at least a nanosecond: zero would disarm it)
    /// and waits for the expiry.
    pub(super) async fn sleep(timer: &AsyncFd<OwnedFd>, period: Duration) -> io::Result<()> {
        let period = period.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: period.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: period.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: the descriptor is a timerfd owned by `timer`; `spec` is a valid itimerspec and
        // the old value is not asked for (null).
        let armed =
            unsafe { libc::timerfd_settime(timer.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if armed < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            let mut ready = timer.readable().await?;
            let read = ready.try_io(|fd| {
                let mut expirations = 0u64;
                // SAFETY: reads 8 bytes into a u64 the call owns; the descriptor is valid.
                let n = unsafe {
                    libc::read(
                        fd.as_raw_fd(),
                        (&mut expirations as *mut u64).cast(),
                        std::mem::size_of::<u64>(),
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            match read {
                Ok(result) => return result,
                // Not expired yet (a spurious readiness): wait again.
                Err(_would_block) => continue,
            }
        }
    }
}
