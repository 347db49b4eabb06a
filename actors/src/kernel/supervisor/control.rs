//! How a supervisor reaches the children it started: actor hosts and nested supervisors.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use futures_util::future::LocalBoxFuture;

use crate::kernel::child::ChildActor;
use crate::kernel::events::EventBus;
use crate::kernel::host::{ActorHost, ChildEvent, Factory, HostCommand, HostCore, StopGracefully};
use crate::kernel::mailbox::{Mailbox, MailboxStats};
use crate::kernel::watchdog::Watchdog;

use super::{ChildShutdownOutcome, Group, HostAlarm, Shutdown, SupervisorActor};

/// What a supervisor knows of how to reach a child it started.
pub(crate) trait ChildControl {
    /// Drops the running instance; resolves once it is gone.
    fn suspend(&self) -> LocalBoxFuture<'static, ()>;
    /// Builds a fresh instance; resolves once it has started (or failed to).
    fn resume(&self, restarts: u32) -> LocalBoxFuture<'static, ()>;
    /// Stops for good without handling what is queued; returns how many queued messages were
    /// failed back to their senders (a nested supervisor's children report their own).
    fn retire(&self) -> usize;
    /// Stops gracefully within `timeout`.
    fn stop(&self, timeout: Duration) -> LocalBoxFuture<'static, ChildShutdownOutcome>;
    fn mailbox(&self) -> Option<MailboxStats>;
    fn nested(&self) -> Option<Addr<SupervisorActor>>;
}

pub(crate) struct HostControl<A: ChildActor> {
    pub(crate) addr: Addr<ActorHost<A>>,
    pub(crate) mailbox: Arc<Mailbox<A>>,
}

impl<A: ChildActor> ChildControl for HostControl<A> {
    // Sent when first awaited, not when made: a supervisor that awaits its children's stops
    // one after another stops them in that order.
    fn suspend(&self) -> LocalBoxFuture<'static, ()> {
        let addr = self.addr.clone();
        Box::pin(async move {
            let _ = addr.send(HostCommand::Suspend).await;
        })
    }
    fn resume(&self, restarts: u32) -> LocalBoxFuture<'static, ()> {
        let addr = self.addr.clone();
        Box::pin(async move {
            let _ = addr.send(HostCommand::Resume { restarts }).await;
        })
    }
    fn retire(&self) -> usize {
        // Closed here, so the count is known now; the host's own close then finds nothing.
        let undelivered = self.mailbox.close_and_fail();
        self.addr.do_send(HostCommand::Retire);
        undelivered
    }
    fn stop(&self, timeout: Duration) -> LocalBoxFuture<'static, ChildShutdownOutcome> {
        let request = self.addr.send(StopGracefully {
            deadline: std::time::Instant::now() + timeout,
        });
        let mailbox = self.mailbox.clone();
        Box::pin(async move {
            // The host honours the deadline itself between messages; this timeout is the backstop for
            // a host whose arbiter is blocked.
            match tokio::time::timeout(timeout + Duration::from_millis(100), request).await {
                Ok(Ok(stopped)) => ChildShutdownOutcome {
                    undelivered: stopped.undelivered,
                    timed_out: stopped.forced,
                },
                // The host had already stopped.
                Ok(Err(_)) => ChildShutdownOutcome::default(),
                Err(_) => ChildShutdownOutcome {
                    undelivered: mailbox.close_and_fail(),
                    timed_out: true,
                },
            }
        })
    }
    fn mailbox(&self) -> Option<MailboxStats> {
        Some(self.mailbox.stats())
    }
    fn nested(&self) -> Option<Addr<SupervisorActor>> {
        None
    }
}

pub(crate) struct NestedControl {
    pub(crate) addr: Addr<SupervisorActor>,
}

impl ChildControl for NestedControl {
    // Sent when first awaited; the nested supervisor answers once its own children have stopped
    // (or started), so the group is awaited as one child.
    fn suspend(&self) -> LocalBoxFuture<'static, ()> {
        let addr = self.addr.clone();
        Box::pin(async move {
            let _ = addr.send(Group::Suspend).await;
        })
    }
    fn resume(&self, _restarts: u32) -> LocalBoxFuture<'static, ()> {
        let addr = self.addr.clone();
        Box::pin(async move {
            let _ = addr.send(Group::Restart).await;
        })
    }
    fn retire(&self) -> usize {
        self.addr.do_send(Group::Retire);
        0
    }
    fn stop(&self, timeout: Duration) -> LocalBoxFuture<'static, ChildShutdownOutcome> {
        let request = self.addr.send(Shutdown {
            deadline: Some(std::time::Instant::now() + timeout),
        });
        Box::pin(async move {
            match tokio::time::timeout(timeout, request).await {
                Ok(Ok(report)) => ChildShutdownOutcome {
                    undelivered: report.children.iter().map(|c| c.undelivered).sum(),
                    timed_out: report.children.iter().any(|c| c.timed_out),
                },
                Ok(Err(_)) => ChildShutdownOutcome::default(),
                Err(_) => ChildShutdownOutcome {
                    undelivered: 0,
                    timed_out: true,
                },
            }
        })
    }
    fn mailbox(&self) -> Option<MailboxStats> {
        None
    }
    fn nested(&self) -> Option<Addr<SupervisorActor>> {
        Some(self.addr.clone())
    }
}

/// Builds a child's host on the supervisor's arbiter. A starter dropped without starting (the supervisor
/// had stopped) closes the child's mailbox, so its senders are told instead of waiting.
pub(crate) trait Starter: Send {
    fn start(self: Box<Self>, link: StartLink) -> Rc<dyn ChildControl>;
}

pub(crate) struct StartLink {
    pub(crate) id: u64,
    pub(crate) supervisor: Arc<str>,
    pub(crate) recipient: actix::Recipient<ChildEvent>,
    pub(crate) events: EventBus,
    pub(crate) watchdog: Option<Arc<Watchdog>>,
}

pub(crate) struct TypedStarter<A: ChildActor> {
    pub(crate) factory: Option<Factory<A>>,
    pub(crate) mailbox: Arc<Mailbox<A>>,
}

impl<A: ChildActor> Drop for TypedStarter<A> {
    fn drop(&mut self) {
        if self.factory.is_some() {
            self.mailbox.close_and_fail();
        }
    }
}

impl<A: ChildActor> Starter for TypedStarter<A> {
    fn start(mut self: Box<Self>, link: StartLink) -> Rc<dyn ChildControl> {
        let factory = self.factory.take().expect("a starter starts once");
        let watchdog = link.watchdog.map(|dog| {
            let mark = dog.register(self.mailbox.child.clone());
            (dog, mark)
        });
        let core = HostCore {
            id: link.id,
            supervisor: link.supervisor,
            mailbox: self.mailbox.clone(),
            generation: 0,
            timers: Vec::new(),
            stop_requested: false,
            restarts: 0,
            events: link.events,
            link: link.recipient,
            watchdog,
        };
        let addr = ActorHost::new(core, factory).start();
        Rc::new(HostControl {
            addr,
            mailbox: self.mailbox.clone(),
        })
    }
}

/// Where a supervisor escalates.
pub(crate) enum Parent {
    /// The host process: a failed health state and an event, never an abort.
    Host(Arc<HostAlarm>),
    /// A parent supervisor, which sees the escalation as a failure of this child.
    Supervisor {
        recipient: actix::Recipient<ChildEvent>,
        id: u64,
    },
}
