//! Events: what the tree tells its host about failures, restarts, stalls and escalation, and what
//! every subsystem logs.
//!
//! Supervision events are written once through [`EventBus::emit`], which logs them with `tracing`
//! (structured fields first) and broadcasts them to subscribers (the runtime's health state, tests,
//! the host). Every other thing an actor logs is a typed struct implementing [`Event`], written
//! through [`EventBus::record`]: one call writes the tracing event and counts it by its name, so
//! tests assert which events happened and `/metrics` exports the counts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::kernel::panic::PanicReport;

/// Where in an actor a failure happened.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{Site, SupervisionEvent};
///
/// let event = SupervisionEvent::SlowHandler {
///     child: "monitor-search".into(),
///     site: Site::Handler("GetStats"),
///     took: Duration::from_millis(400),
/// };
/// assert!(matches!(event, SupervisionEvent::SlowHandler { site: Site::Handler("GetStats"), .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Site {
    /// The factory that builds the actor's state.
    Factory,
    /// The `started` lifecycle hook.
    Started,
    /// The `stopping` lifecycle hook.
    Stopping,
    /// A message handler, with the message kind.
    Handler(&'static str),
    /// An interval or one-shot timer closure.
    Timer,
    /// The continuation of a future spawned by the actor.
    Future,
    /// A nested supervisor that exceeded its restart intensity.
    Escalation,
}

impl std::fmt::Display for Site {
    /// Where, in words: `the GetStats handler`, `a timer`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Site::Factory => f.write_str("the factory"),
            Site::Started => f.write_str("the started hook"),
            Site::Stopping => f.write_str("the stopping hook"),
            Site::Handler(kind) => write!(f, "the {kind} handler"),
            Site::Timer => f.write_str("a timer"),
            Site::Future => f.write_str("a future"),
            Site::Escalation => f.write_str("an escalation"),
        }
    }
}

/// One thing that happened in the supervision tree.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::SupervisionEvent;
///
/// let event = SupervisionEvent::RestartScheduled {
///     supervisor: "root".into(),
///     child: "tuner".into(),
///     backoff: Duration::from_millis(10),
/// };
/// assert_eq!(event.name(), "restart_scheduled");
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum SupervisionEvent {
    /// A child's instance was built and started.
    ChildStarted {
        /// The supervisor.
        supervisor: Arc<str>,
        /// The child.
        child: Arc<str>,
        /// How many times it was restarted before this start.
        restarts: u32,
    },
    /// A child failed: a panic at `site`, contained.
    ChildFailed {
        /// The supervisor.
        supervisor: Arc<str>,
        /// The child.
        child: Arc<str>,
        /// Where it failed.
        site: Site,
        /// What the panic said.
        panic: PanicReport,
        /// Restarts of this child before this failure.
        restarts: u32,
    },
    /// A restart of `child` is scheduled after `backoff`.
    RestartScheduled {
        /// The supervisor.
        supervisor: Arc<str>,
        /// The child.
        child: Arc<str>,
        /// The delay before the restart.
        backoff: Duration,
    },
    /// A child stopped by itself (`ctx.stop()`).
    ChildExited {
        /// The supervisor.
        supervisor: Arc<str>,
        /// The child.
        child: Arc<str>,
    },
    /// A child was stopped for good: a temporary child that failed, a temporary or transient one
    /// that exited, [`SupervisorRef::stop_child`](crate::SupervisorRef::stop_child), a shutdown,
    /// or the root escalating to the host. A shutdown or `stop_child` first handles what was
    /// queued, within the child's timeout; the others fail it back at once.
    ChildStopped {
        /// The supervisor.
        supervisor: Arc<str>,
        /// The child.
        child: Arc<str>,
        /// Messages that were still queued and were failed back to their senders.
        undelivered: usize,
        /// Whether it failed to stop within its shutdown timeout.
        timed_out: bool,
    },
    /// A handler has been running longer than the watchdog's budget.
    HandlerStalled {
        /// The child.
        child: Arc<str>,
        /// How long it had been running when seen (at the watchdog's resolution).
        running_for: Duration,
    },
    /// A stalled handler finally returned.
    SlowHandler {
        /// The child.
        child: Arc<str>,
        /// The message kind or site.
        site: Site,
        /// How long it ran.
        took: Duration,
    },
    /// The supervisor exceeded its restart intensity, stopped its children and escalated.
    Escalated {
        /// The supervisor.
        supervisor: Arc<str>,
        /// Restarts counted in the window.
        restarts: usize,
        /// The window.
        within: Duration,
    },
    /// The supervisor finished a shutdown of all its children.
    ShutdownComplete {
        /// The supervisor.
        supervisor: Arc<str>,
    },
}

/// Something a subsystem reports: a typed event with a stable name (`notification_failed`).
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::{Event, EventBus};
///
/// struct CacheCleared { entries: usize }
/// impl Event for CacheCleared {
///     const NAME: &'static str = "cache_cleared";
///     fn log(&self) {
///         tracing::info!(entries = self.entries, "Cache cleared");
///     }
/// }
///
/// let bus = EventBus::default();
/// bus.record(CacheCleared { entries: 12 });
/// assert_eq!(bus.count_of("cache_cleared"), 1);
/// ```
pub trait Event {
    /// The event's name, as counted and exported.
    const NAME: &'static str;
    /// Writes the tracing event: structured fields first, then a short capitalised message.
    fn log(&self);
}

impl SupervisionEvent {
    /// The event's name, as counted and exported.
    pub fn name(&self) -> &'static str {
        match self {
            SupervisionEvent::ChildStarted { .. } => "child_started",
            SupervisionEvent::ChildFailed { .. } => "child_failed",
            SupervisionEvent::RestartScheduled { .. } => "restart_scheduled",
            SupervisionEvent::ChildExited { .. } => "child_exited",
            SupervisionEvent::ChildStopped { .. } => "child_stopped",
            SupervisionEvent::HandlerStalled { .. } => "handler_stalled",
            SupervisionEvent::SlowHandler { .. } => "slow_handler",
            SupervisionEvent::Escalated { .. } => "escalated",
            SupervisionEvent::ShutdownComplete { .. } => "shutdown_complete",
        }
    }
}

/// The broadcast channel of supervision events and the counts of every typed event, shared by a
/// whole tree.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use watchkeeper_actors::{EventBus, SupervisionEvent};
///
/// let bus = EventBus::new(16);
/// let mut events = bus.subscribe();
/// bus.emit(SupervisionEvent::ShutdownComplete { supervisor: Arc::from("root") });
/// assert_eq!(events.try_recv().unwrap().name(), "shutdown_complete");
/// assert_eq!(bus.count_of("shutdown_complete"), 1);
/// assert_eq!(bus.counts().len(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct EventBus {
    tx: broadcast::Sender<SupervisionEvent>,
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl EventBus {
    /// A bus that keeps up to `capacity` unread events per subscriber (older ones are lost to slow
    /// subscribers, who are told how many they missed).
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus {
            tx,
            counts: Arc::default(),
        }
    }

    /// Logs a typed event and counts it.
    pub fn record<E: Event>(&self, event: E) {
        event.log();
        self.count(E::NAME);
    }

    fn count(&self, name: &'static str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name)
            .or_default() += 1;
    }

    /// How many times each event happened (supervision events under their own names too).
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many times the event named `name` happened.
    pub fn count_of(&self, name: &str) -> u64 {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    /// A new subscriber that sees every event emitted from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SupervisionEvent> {
        self.tx.subscribe()
    }

    /// Logs the supervision event, counts it and broadcasts it.
    pub fn emit(&self, event: SupervisionEvent) {
        self.count(event.name());
        match &event {
            SupervisionEvent::ChildStarted {
                supervisor,
                child,
                restarts,
            } => {
                tracing::debug!(%supervisor, %child, restarts, "Child started");
            }
            SupervisionEvent::ChildFailed {
                supervisor,
                child,
                site,
                panic,
                restarts,
            } => {
                tracing::warn!(%supervisor, %child, ?site, %panic, restarts, "Child failed");
            }
            SupervisionEvent::RestartScheduled {
                supervisor,
                child,
                backoff,
            } => {
                tracing::info!(%supervisor, %child, ?backoff, "Restart scheduled");
            }
            SupervisionEvent::ChildExited { supervisor, child } => {
                tracing::info!(%supervisor, %child, "Child exited");
            }
            SupervisionEvent::ChildStopped {
                supervisor,
                child,
                undelivered,
                timed_out,
            } => {
                tracing::info!(%supervisor, %child, undelivered, timed_out, "Child stopped");
            }
            SupervisionEvent::HandlerStalled { child, running_for } => {
                tracing::warn!(%child, ?running_for, "Handler stalled");
            }
            SupervisionEvent::SlowHandler { child, site, took } => {
                tracing::warn!(%child, ?site, ?took, "Slow handler returned");
            }
            SupervisionEvent::Escalated {
                supervisor,
                restarts,
                within,
            } => {
                tracing::error!(%supervisor, restarts, ?within, "Restart intensity exceeded; escalating");
            }
            SupervisionEvent::ShutdownComplete { supervisor } => {
                tracing::info!(%supervisor, "Shutdown complete");
            }
        }
        let _ = self.tx.send(event);
    }
}
