//! The actors of watchkeeper and the supervision they run under.
//!
//! Start here: a [`SupervisorRef`] owns children described by [`ChildSpec`]s; each child is plain state
//! implementing [`ChildActor`] and one [`Handles<M>`] per [`Message`] kind, and callers reach it through
//! a [`ChildRef`] that stays valid across restarts. Every call into a child is panic-contained, every
//! mailbox is bounded with an explicit [`Overflow`] policy, and every ask has a timeout. This crate knows
//! nothing of configuration files, HTTP or the command line; the `watchkeeper` crate wires those.
#![warn(missing_docs)]

pub mod alerting;
mod child;
mod child_ref;
mod context;
pub mod detect;
pub mod duration_serde;
mod events;
#[cfg(feature = "harness")]
pub mod harness;
mod host;
mod mailbox;
pub mod memory;
mod message;
mod monitor;
pub mod notify;
pub mod panic;
mod process;
mod recorder;
mod supervisor;
pub mod tuner;
mod watchdog;

pub use self::child::{ChildActor, Handles};
pub use self::child_ref::ChildRef;
pub use self::context::{ChildContext, TimerHandle};
pub use self::events::{EventBus, Site, SupervisionEvent};
pub use self::host::ActorHost;
pub use self::mailbox::{KindCounters, MailboxStats};
pub use self::message::{AskError, Delivery, Message, Overflow, SendError};
pub use self::monitor::{
    Collect, Exposition, Footprint, GetFootprint, GetStats, HistogramBounds, InjectPanic,
    KindExposition, KindStats, MonitorActor, MonitorDirectory, MonitorSettings, MonitorStore,
    PerformanceStats, Quantiles, Recorder, SetSampling, SetWindow, Trim, EXPORT_BUCKETS,
};
pub use self::process::{
    GetProcessStats, InjectProcessPanic, ProcessMonitorActor, ProcessReport, ProcessStats,
};
pub use self::recorder::{Layout, OpKind};
pub use self::supervisor::{
    Backoff, ChildShutdown, ChildSpec, ChildState, ChildStatus, GetSupervisorStatus, HostAlarm,
    RestartIntensity, RestartType, Shutdown, ShutdownReport, Strategy, SupervisorActor,
    SupervisorConfig, SupervisorRef, SupervisorState, SupervisorStatus,
};
pub use self::watchdog::{Watchdog, WatchdogActor};
