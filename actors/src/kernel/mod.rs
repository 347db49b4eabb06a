//! The supervision kernel: supervised actors, bounded mailboxes, restarts, timers, the watchdog.
//!
//! A [`SupervisorRef`] owns children described by [`ChildSpec`]s; each child is plain state
//! implementing [`ChildActor`] and one [`Handles<M>`] per [`Message`] kind, and callers reach it
//! through a [`ChildRef`] that stays valid across restarts. Every call into a child is
//! panic-contained, every mailbox is bounded with an explicit [`Overflow`] policy, and every ask has
//! a timeout. The kernel knows nothing of monitors, alerts or configuration files.

mod child;
mod child_ref;
mod context;
mod directory;
pub mod duration_serde;
mod events;
#[cfg(feature = "harness")]
pub mod harness;
mod host;
mod live;
mod mailbox;
mod message;
pub mod panic;
mod store;
mod supervisor;
mod timers;
pub mod validation;
mod watchdog;

pub use self::child::{ChildActor, Handles};
pub use self::child_ref::ChildRef;
pub use self::context::{ChildContext, TimerHandle};
pub use self::directory::Directory;
pub use self::events::{Event, EventBus, Site, SupervisionEvent};
pub use self::host::ActorHost;
pub use self::live::Live;
pub use self::mailbox::{KindCounters, MailboxStats};
pub use self::message::{AskError, Delivery, Message, Overflow, SendError};
pub use self::store::Store;
pub use self::supervisor::{
    Backoff, ChildShutdown, ChildSpec, ChildState, ChildStatus, GetSupervisorStatus, HostAlarm,
    RestartIntensity, RestartType, Shutdown, ShutdownReport, Strategy, SupervisorActor,
    SupervisorConfig, SupervisorRef, SupervisorState, SupervisorStatus,
};
pub use self::validation::{Finding, Severity, Validation};
pub use self::watchdog::{Watchdog, WatchdogActor};
