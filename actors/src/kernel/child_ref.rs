//! [`ChildRef`]: the handle callers keep to a supervised actor, valid across its restarts.
//!
//! `tell` is fire-and-forget and returns the mailbox's verdict at once; `ask` waits for the reply with
//! a timeout (async from the actor runtime, or `ask_blocking` from a synchronous thread). Both go
//! through the bounded mailbox; neither can block on a full one.

use std::sync::Arc;
use std::time::Duration;

use crate::kernel::child::{ChildActor, Handles};
use crate::kernel::context::ChildContext;
use crate::kernel::mailbox::{short_type_name, Envelope, Mailbox, MailboxStats};
use crate::kernel::message::{AskError, Delivery, Message, Responder, SendError};
use crate::kernel::panic::{self, PanicReport};

/// A message in the mailbox, with where its reply goes.
struct Env<M: Message> {
    msg: M,
    reply: Option<Responder<M::Result>>,
}

impl<A, M> Envelope<A> for Env<M>
where
    A: Handles<M>,
    M: Message,
{
    fn kind(&self) -> &'static str {
        short_type_name::<M>()
    }

    fn deliver(
        self: Box<Self>,
        act: &mut A,
        ctx: &mut ChildContext<'_, A>,
    ) -> Result<(), PanicReport> {
        let Env { msg, reply } = *self;
        match panic::catch(|| act.handle(msg, ctx)) {
            Ok(value) => {
                if let Some(reply) = reply {
                    reply.send(Ok(value));
                }
                Ok(())
            }
            Err(report) => {
                if let Some(reply) = reply {
                    reply.send(Err(AskError::Panicked {
                        child: ctx.core.mailbox.child.clone(),
                        panic: report.clone(),
                    }));
                }
                Err(report)
            }
        }
    }

    fn fail(self: Box<Self>, error: AskError) {
        if let Some(reply) = self.reply {
            reply.send(Err(error));
        }
    }
}

/// A handle to a supervised actor. Cheap to clone, `Send + Sync`, and valid across restarts: messages
/// sent while the child restarts wait in its mailbox for the new instance.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{ChildActor, ChildContext, ChildSpec, Delivery, EventBus, Handles};
/// use watchkeeper_actors::{Message, SupervisorConfig, SupervisorRef};
///
/// struct Tally(u64);
/// impl ChildActor for Tally {}
/// struct Add(u64);
/// impl Message for Add { type Result = u64; }
/// impl Handles<Add> for Tally {
///     fn handle(&mut self, msg: Add, _: &mut ChildContext<'_, Self>) -> u64 {
///         self.0 += msg.0;
///         self.0
///     }
/// }
///
/// actix::System::new().block_on(async {
///     let bus = EventBus::default();
///     let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     let tally = root.start_child(ChildSpec::new("tally", || Tally(0)));
///     assert_eq!(tally.name(), "tally");
///     assert_eq!(tally.tell(Add(2)), Ok(Delivery::Queued));
///     assert_eq!(tally.ask(Add(3), Duration::from_secs(1)).await, Ok(5));
///     assert_eq!(tally.mailbox_stats().delivered, 2);
///     root.shutdown().await;
///     assert!(tally.is_stopped());
/// });
/// ```
pub struct ChildRef<A> {
    mailbox: Arc<Mailbox<A>>,
}

impl<A> Clone for ChildRef<A> {
    fn clone(&self) -> Self {
        ChildRef {
            mailbox: self.mailbox.clone(),
        }
    }
}

impl<A> std::fmt::Debug for ChildRef<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildRef")
            .field("child", &self.mailbox.child)
            .finish()
    }
}

impl<A> ChildRef<A> {
    pub(crate) fn from_mailbox(mailbox: Arc<Mailbox<A>>) -> Self {
        ChildRef { mailbox }
    }

    /// The child's name.
    pub fn name(&self) -> &str {
        &self.mailbox.child
    }

    /// Depth, high-water mark, deliveries and drops of the mailbox, per message kind.
    pub fn mailbox_stats(&self) -> MailboxStats {
        self.mailbox.stats()
    }

    /// Whether the child has stopped for good.
    pub fn is_stopped(&self) -> bool {
        self.mailbox.is_closed()
    }
}

impl<A: ChildActor> ChildRef<A> {
    /// Queues `msg` without waiting for a reply. A full mailbox applies `M::OVERFLOW`.
    pub fn tell<M>(&self, msg: M) -> Result<Delivery, SendError>
    where
        A: Handles<M>,
        M: Message,
    {
        self.mailbox
            .push(Box::new(Env { msg, reply: None }), M::OVERFLOW)
            .map_err(|(err, _)| err)
    }

    fn push_ask<M>(&self, msg: M, reply: Responder<M::Result>) -> Result<(), AskError>
    where
        A: Handles<M>,
        M: Message,
    {
        match self.mailbox.push(
            Box::new(Env {
                msg,
                reply: Some(reply),
            }),
            M::OVERFLOW,
        ) {
            Ok(_) => Ok(()),
            Err((err, _)) => Err(AskError::Send(err)),
        }
    }

    /// Sends `msg` and waits up to `timeout` for the reply. Must run inside a Tokio runtime with time
    /// enabled (every actor of the tree does).
    pub async fn ask<M>(&self, msg: M, timeout: Duration) -> Result<M::Result, AskError>
    where
        A: Handles<M>,
        M: Message,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        self.push_ask(msg, Responder::Async(tx))?;
        // An actor on this thread usually answers within one turn of the scheduler; a timer (a
        // registration in Tokio's wheel, most of an ask's cost) is armed only when it has not.
        tokio::task::yield_now().await;
        match rx.try_recv() {
            Ok(reply) => return reply,
            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                return Err(AskError::Undelivered {
                    child: self.mailbox.child.clone(),
                })
            }
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(AskError::Undelivered {
                child: self.mailbox.child.clone(),
            }),
            Err(_) => Err(AskError::Timeout {
                child: self.mailbox.child.clone(),
                after: timeout,
            }),
        }
    }

    /// Sends `msg` and blocks the calling thread up to `timeout` for the reply. For synchronous hosts;
    /// from the thread the child runs on (an actor of the tree) it would wait on itself, and is
    /// refused at once with [`AskError::OwnThread`].
    pub fn ask_blocking<M>(&self, msg: M, timeout: Duration) -> Result<M::Result, AskError>
    where
        A: Handles<M>,
        M: Message,
    {
        if self.mailbox.home.get() == Some(&std::thread::current().id()) {
            return Err(AskError::OwnThread {
                child: self.mailbox.child.clone(),
            });
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.push_ask(msg, Responder::Blocking(tx))?;
        match rx.recv_timeout(timeout) {
            Ok(reply) => reply,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(AskError::Undelivered {
                child: self.mailbox.child.clone(),
            }),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(AskError::Timeout {
                child: self.mailbox.child.clone(),
                after: timeout,
            }),
        }
    }
}
