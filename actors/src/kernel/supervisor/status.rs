//! What a supervisor reports: its state, its children's, shutdown outcomes, the host's alarm.

use serde::Serialize;

use crate::kernel::mailbox::MailboxStats;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::Strategy;

/// The root's escalation, as the host sees it.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::HostAlarm;
///
/// let alarm = HostAlarm::default();
/// assert!(!alarm.escalated());
/// assert_eq!(alarm.reason(), None);
/// ```
#[derive(Debug, Default)]
pub struct HostAlarm {
    escalated: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl HostAlarm {
    /// Whether the root supervisor gave up on its children.
    pub fn escalated(&self) -> bool {
        self.escalated.load(Ordering::Acquire)
    }

    /// Why, when it did.
    pub fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn raise(&self, reason: String) {
        *self.reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
        self.escalated.store(true, Ordering::Release);
    }
}

/// Lifecycle of a child as its supervisor sees it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{ChildActor, ChildSpec, ChildState, EventBus, SupervisorConfig};
/// use watchkeeper_actors::SupervisorRef;
///
/// struct Idle;
/// impl ChildActor for Idle {}
///
/// actix::System::new().block_on(async {
///     let bus = EventBus::default();
///     let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     root.start_child(ChildSpec::new("idle", || Idle));
///     let status = root.status(Duration::from_secs(1)).await.unwrap();
///     assert_eq!(status.children[0].state, ChildState::Running);
///     root.shutdown().await;
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildState {
    /// Handling messages.
    Running,
    /// Failed or suspended; a restart is scheduled or awaited.
    Restarting,
    /// Stopped for good.
    Stopped,
}

/// Lifecycle of a supervisor.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{EventBus, SupervisorConfig, SupervisorRef, SupervisorState};
///
/// actix::System::new().block_on(async {
///     let bus = EventBus::default();
///     let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     let status = root.status(Duration::from_secs(1)).await.unwrap();
///     assert_eq!(status.state, SupervisorState::Running);
///     root.shutdown().await;
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisorState {
    /// Supervising.
    Running,
    /// Exceeded its restart intensity; children stopped (root) or suspended awaiting the parent.
    Escalated,
    /// Stopping its children.
    ShuttingDown,
    /// All children stopped.
    Stopped,
}

/// One child in a [`SupervisorStatus`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{ChildActor, ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
///
/// struct Idle;
/// impl ChildActor for Idle {}
///
/// actix::System::new().block_on(async {
///     let bus = EventBus::default();
///     let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     root.start_child(ChildSpec::new("idle", || Idle));
///     let status = root.status(Duration::from_secs(1)).await.unwrap();
///     let child = &status.children[0];
///     assert_eq!((child.name.as_str(), child.restarts), ("idle", 0));
///     assert_eq!(child.mailbox.as_ref().unwrap().capacity, 1024);
///     root.shutdown().await;
/// });
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChildStatus {
    /// The child's name.
    pub name: String,
    /// Its lifecycle state.
    pub state: ChildState,
    /// How many times it was restarted.
    pub restarts: u32,
    /// The last failure, `message (at file:line:col)`.
    pub last_failure: Option<String>,
    /// Its mailbox, for actor children.
    pub mailbox: Option<MailboxStats>,
    /// The status of a nested supervisor.
    pub nested: Option<Box<SupervisorStatus>>,
}

/// A supervisor's view of itself and its children.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{ChildActor, ChildSpec, EventBus, Strategy, SupervisorConfig};
/// use watchkeeper_actors::SupervisorRef;
///
/// struct Idle;
/// impl ChildActor for Idle {}
///
/// actix::System::new().block_on(async {
///     let bus = EventBus::default();
///     let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     root.start_child(ChildSpec::new("idle", || Idle));
///     let status = root.status(Duration::from_secs(1)).await.unwrap();
///     assert_eq!((status.name.as_str(), status.strategy), ("root", Strategy::OneForOne));
///     assert_eq!(status.all_children().len(), 1);
///     assert_eq!(status.restarts_total, 0);
///     root.shutdown().await;
/// });
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SupervisorStatus {
    /// The supervisor's name.
    pub name: String,
    /// Its lifecycle state.
    pub state: SupervisorState,
    /// Its strategy.
    pub strategy: Strategy,
    /// Restarts since it started.
    pub restarts_total: u64,
    /// Restarts inside the current intensity window.
    pub restarts_in_window: usize,
    /// Times it escalated.
    pub escalations: u64,
    /// Its children, in start order.
    pub children: Vec<ChildStatus>,
}

impl SupervisorStatus {
    /// Every child of this supervisor and of the supervisors below it, depth first.
    pub fn all_children(&self) -> Vec<&ChildStatus> {
        let mut out = Vec::new();
        for child in &self.children {
            out.push(child);
            if let Some(nested) = &child.nested {
                out.extend(nested.all_children());
            }
        }
        out
    }
}

/// How one child's graceful stop went.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::{ChildActor, ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
///
/// struct Idle;
/// impl ChildActor for Idle {}
///
/// actix::System::new().block_on(async {
///     let bus = EventBus::default();
///     let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     root.start_child(ChildSpec::new("idle", || Idle));
///     let report = root.shutdown().await;
///     let stopped = &report.children[0];
///     assert_eq!((stopped.name.as_str(), stopped.undelivered, stopped.timed_out), ("idle", 0, false));
/// });
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChildShutdown {
    /// The child.
    pub name: String,
    /// Messages still queued that were failed back to their senders.
    pub undelivered: usize,
    /// Whether it missed its shutdown timeout.
    pub timed_out: bool,
}

/// The result of [`Shutdown`](super::Shutdown): children in the order they were stopped (last started first).
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::{ChildActor, ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
///
/// struct Idle;
/// impl ChildActor for Idle {}
///
/// actix::System::new().block_on(async {
///     let bus = EventBus::default();
///     let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     root.start_child(ChildSpec::new("first", || Idle));
///     root.start_child(ChildSpec::new("second", || Idle));
///     let report = root.shutdown().await;
///     let order: Vec<&str> = report.children.iter().map(|c| c.name.as_str()).collect();
///     assert_eq!(order, ["second", "first"]);
/// });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShutdownReport {
    /// One entry per child stopped.
    pub children: Vec<ChildShutdown>,
}
