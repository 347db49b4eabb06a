//! Typed messages, the overflow policy each kind declares, and the errors a sender can see.
//!
//! A message type implements [`Message`]: its reply type and what a full mailbox does with it. Senders get
//! a [`Delivery`] or a [`SendError`] from `tell`, and the reply or an [`AskError`] from `ask`; nothing is
//! lost without the sender being told.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::kernel::panic::PanicReport;

/// What a full mailbox does with a message of a given kind.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::{Message, Overflow};
///
/// /// A reading only the latest of which matters: a full mailbox drops the oldest.
/// struct Reading(f64);
/// impl Message for Reading {
///     type Result = ();
///     const OVERFLOW: Overflow = Overflow::DropOldest;
/// }
/// assert_eq!(<Reading as Message>::OVERFLOW, Overflow::DropOldest);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Refuse the new message; the sender gets [`SendError::Full`].
    Reject,
    /// Accept the send but discard the new message; the sender gets [`Delivery::DroppedNewest`].
    DropNewest,
    /// Evict the oldest queued message of the same kind (its asker gets [`AskError::Evicted`]) and queue
    /// the new one; the sender gets [`Delivery::EvictedOldest`].
    DropOldest,
}

/// A typed message for a supervised actor.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::{Message, Overflow};
///
/// /// Asks for a count; refused when the mailbox is full (the default policy).
/// struct GetCount;
/// impl Message for GetCount {
///     type Result = u64;
/// }
/// assert_eq!(<GetCount as Message>::OVERFLOW, Overflow::Reject);
/// ```
pub trait Message: Send + 'static {
    /// The handler's reply.
    type Result: Send + 'static;
    /// What a full mailbox does with this kind of message.
    const OVERFLOW: Overflow = Overflow::Reject;
}

/// The outcome of a successful `tell`.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::{ChildActor, ChildContext, ChildSpec, Delivery, EventBus, Handles};
/// use watchkeeper_actors::{Message, Overflow, SupervisorConfig, SupervisorRef};
///
/// struct Sink;
/// impl ChildActor for Sink {}
/// struct Sample;
/// impl Message for Sample {
///     type Result = ();
///     const OVERFLOW: Overflow = Overflow::DropNewest;
/// }
/// impl Handles<Sample> for Sink {
///     fn handle(&mut self, _: Sample, _: &mut ChildContext<'_, Self>) {}
/// }
///
/// actix::System::new().block_on(async {
///     let bus = EventBus::default();
///     let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     let sink = root.start_child(ChildSpec::new("sink", || Sink).mailbox_capacity(1));
///     assert_eq!(sink.tell(Sample), Ok(Delivery::Queued));
///     assert_eq!(sink.tell(Sample), Ok(Delivery::DroppedNewest));
///     root.shutdown().await;
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The message is queued.
    Queued,
    /// The mailbox was full and the policy discarded this message.
    DroppedNewest,
    /// The mailbox was full; the oldest message of this kind was evicted to queue this one.
    EvictedOldest,
}

/// Why a `tell` failed.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::SendError;
///
/// let e = SendError::Full { child: "alerting".into(), capacity: 1024 };
/// assert_eq!(e.to_string(), "mailbox of `alerting` is full (1024 messages)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The mailbox is at capacity and the message kind's policy is [`Overflow::Reject`].
    Full {
        /// The child addressed.
        child: Arc<str>,
        /// The mailbox capacity.
        capacity: usize,
    },
    /// The child has stopped for good (shut down, retired, or its supervisor escalated).
    Stopped {
        /// The child addressed.
        child: Arc<str>,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full { child, capacity } => {
                write!(f, "mailbox of `{child}` is full ({capacity} messages)")
            }
            SendError::Stopped { child } => write!(f, "`{child}` has stopped"),
        }
    }
}

impl std::error::Error for SendError {}

/// Why an `ask` got no reply.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{AskError, SendError};
///
/// let e = AskError::from(SendError::Stopped { child: "tuner".into() });
/// assert_eq!(e.to_string(), "`tuner` has stopped");
/// let e = AskError::Timeout { child: "tuner".into(), after: Duration::from_secs(2) };
/// assert_eq!(e.to_string(), "`tuner` did not answer within 2s");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AskError {
    /// The message could not be queued.
    Send(SendError),
    /// The mailbox was full and the message was discarded under [`Overflow::DropNewest`].
    Dropped {
        /// The child addressed.
        child: Arc<str>,
    },
    /// The message was evicted by a newer one under [`Overflow::DropOldest`].
    Evicted {
        /// The child addressed.
        child: Arc<str>,
    },
    /// No reply within the timeout; the child is reported as not responding.
    Timeout {
        /// The child addressed.
        child: Arc<str>,
        /// The timeout that passed.
        after: Duration,
    },
    /// The handler panicked while handling this message; the child is being restarted.
    Panicked {
        /// The child addressed.
        child: Arc<str>,
        /// What the panic said.
        panic: PanicReport,
    },
    /// The child stopped before handling this message.
    Undelivered {
        /// The child addressed.
        child: Arc<str>,
    },
    /// A blocking ask came from the thread the child runs on (an actor or timer of the same tree),
    /// where it could only wait on itself; nothing was sent.
    OwnThread {
        /// The child addressed.
        child: Arc<str>,
    },
}

impl fmt::Display for AskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AskError::Send(e) => e.fmt(f),
            AskError::Dropped { child } => {
                write!(f, "mailbox of `{child}` was full; message dropped")
            }
            AskError::Evicted { child } => {
                write!(f, "message to `{child}` was evicted by a newer one")
            }
            AskError::Timeout { child, after } => {
                write!(f, "`{child}` did not answer within {after:?}")
            }
            AskError::Panicked { child, panic } => {
                write!(f, "`{child}` panicked while handling the message: {panic}")
            }
            AskError::Undelivered { child } => {
                write!(f, "`{child}` stopped before handling the message")
            }
            AskError::OwnThread { child } => write!(
                f,
                "`{child}` runs on this thread, so a blocking ask would wait on itself: use the async form"
            ),
        }
    }
}

impl std::error::Error for AskError {}

impl From<SendError> for AskError {
    fn from(e: SendError) -> Self {
        AskError::Send(e)
    }
}

/// Where a reply goes: an async asker or a blocking one.
pub(crate) enum Responder<R> {
    Async(tokio::sync::oneshot::Sender<Result<R, AskError>>),
    Blocking(std::sync::mpsc::SyncSender<Result<R, AskError>>),
}

impl<R> Responder<R> {
    pub(crate) fn send(self, reply: Result<R, AskError>) {
        // An asker that gave up (timed out) has dropped its receiver; nothing to tell it.
        match self {
            Responder::Async(tx) => {
                let _ = tx.send(reply);
            }
            Responder::Blocking(tx) => {
                let _ = tx.try_send(reply);
            }
        }
    }
}
