//! Supervision events: what the tree tells its host about failures, restarts, stalls and escalation.
//!
//! Every event is written once through [`EventBus::emit`], which logs it with `tracing` (structured
//! fields first) and broadcasts it to subscribers (the runtime's health state, tests, the host).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::panic::PanicReport;

/// Where in an actor a failure happened.
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

/// One thing that happened in the supervision tree.
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
    /// A child was stopped for good (temporary or transient child, shutdown, or escalation).
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

/// The broadcast channel of supervision events, shared by a whole tree.
#[derive(Clone, Debug)]
pub struct EventBus {
    tx: broadcast::Sender<SupervisionEvent>,
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
        EventBus { tx }
    }

    /// A new subscriber that sees every event emitted from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SupervisionEvent> {
        self.tx.subscribe()
    }

    /// Logs the event and broadcasts it.
    pub fn emit(&self, event: SupervisionEvent) {
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
