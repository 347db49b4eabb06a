//! The actix actor that hosts one supervised child across its restarts.
//!
//! An [`ActorHost`] owns the child's mailbox, builds the child's state from its factory, and runs every
//! call into it (handlers, hooks, timers, futures) under panic containment. A panic drops the instance,
//! cancels its timers and reports [`ChildEvent::Failed`] to the supervisor; queued messages wait for the
//! replacement the supervisor orders with [`HostCommand::Resume`].

use std::sync::Arc;

use actix::fut::{wrap_future, wrap_stream, ActorFutureExt, ActorStreamExt};
use actix::{
    Actor, ActorContext, AsyncContext, Context, Handler, MessageResult, Recipient, SpawnHandle,
};

use crate::kernel::child::ChildActor;
use crate::kernel::context::ChildContext;
use crate::kernel::events::{EventBus, Site, SupervisionEvent};
use crate::kernel::mailbox::Mailbox;
use crate::kernel::panic::{self, PanicReport};
use crate::kernel::watchdog::{BusyMark, Watchdog};

/// How many messages a host handles before yielding to its timers and to other actors.
const DRAIN_BATCH: usize = 64;

/// What a child tells its supervisor.
#[derive(Debug)]
pub(crate) struct ChildEvent {
    pub(crate) id: u64,
    pub(crate) kind: ChildEventKind,
}

#[derive(Debug)]
pub(crate) enum ChildEventKind {
    Failed { site: Site, panic: PanicReport },
    Exited,
}

impl actix::Message for ChildEvent {
    type Result = ();
}

/// What a supervisor tells a child's host.
#[derive(Debug)]
pub(crate) enum HostCommand {
    /// Drop the running instance (its `stopping` hook runs) and hold messages until `Resume`.
    Suspend,
    /// Build a fresh instance from the factory and resume handling messages.
    Resume { restarts: u32 },
    /// Stop for good without handling what is queued: queued messages fail back to their senders.
    Retire,
}

impl actix::Message for HostCommand {
    type Result = ();
}

/// Stop for good after handling what is already queued, until `deadline`; what is left then is failed
/// back to its senders.
#[derive(Debug)]
pub(crate) struct StopGracefully {
    pub(crate) deadline: std::time::Instant,
}

/// How a graceful stop went: messages failed back, and whether the deadline cut the drain short.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stopped {
    pub(crate) undelivered: usize,
    pub(crate) forced: bool,
}

impl actix::Message for StopGracefully {
    type Result = Stopped;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostState {
    Running,
    Suspended,
    Stopped,
}

/// Everything of a host except the child instance, so the instance can be borrowed beside it.
pub(crate) struct HostCore<A> {
    pub(crate) id: u64,
    pub(crate) supervisor: Arc<str>,
    pub(crate) mailbox: Arc<Mailbox<A>>,
    pub(crate) generation: u64,
    pub(crate) timers: Vec<SpawnHandle>,
    pub(crate) stop_requested: bool,
    pub(crate) restarts: u32,
    pub(crate) events: EventBus,
    pub(crate) link: Recipient<ChildEvent>,
    pub(crate) watchdog: Option<(Arc<Watchdog>, Arc<BusyMark>)>,
}

pub(crate) type Factory<A> = Arc<dyn Fn() -> A + Send + Sync>;

/// Hosts one supervised child; see the module docs.
pub struct ActorHost<A: ChildActor> {
    core: HostCore<A>,
    instance: Option<A>,
    factory: Factory<A>,
    state: HostState,
}

impl<A: ChildActor> ActorHost<A> {
    pub(crate) fn new(core: HostCore<A>, factory: Factory<A>) -> Self {
        ActorHost {
            core,
            instance: None,
            factory,
            state: HostState::Suspended,
        }
    }

    fn child(&self) -> Arc<str> {
        self.core.mailbox.child.clone()
    }

    /// Runs `f` on the current instance with panic containment, if `generation` is still current.
    pub(crate) fn invoke<R>(
        &mut self,
        ctx: &mut Context<Self>,
        generation: u64,
        site: Site,
        f: impl FnOnce(&mut A, &mut ChildContext<'_, A>) -> R,
    ) -> Option<R> {
        self.invoke_inner(ctx, generation, site, false, f)
    }

    fn invoke_inner<R>(
        &mut self,
        ctx: &mut Context<Self>,
        generation: u64,
        site: Site,
        contained: bool,
        f: impl FnOnce(&mut A, &mut ChildContext<'_, A>) -> R,
    ) -> Option<R> {
        if generation != self.core.generation {
            return None;
        }
        let mut instance = self.instance.take()?;
        self.enter();
        let result = {
            let core = &mut self.core;
            let mut cctx = ChildContext { ctx, core };
            if contained {
                // The closure contains its own panics (message envelopes do, to answer the asker).
                Ok(f(&mut instance, &mut cctx))
            } else {
                panic::catch(|| f(&mut instance, &mut cctx))
            }
        };
        self.exit(&site);
        match result {
            Ok(value) => {
                self.instance = Some(instance);
                if self.core.stop_requested {
                    self.exit_normally(ctx);
                }
                Some(value)
            }
            Err(report) => {
                self.fail(ctx, instance, site, report);
                None
            }
        }
    }

    fn enter(&self) {
        if let Some((dog, mark)) = &self.core.watchdog {
            dog.enter(mark);
        }
    }

    fn exit(&self, site: &Site) {
        if let Some((dog, mark)) = &self.core.watchdog {
            if let Some(took) = dog.exit(mark) {
                self.core.events.emit(SupervisionEvent::SlowHandler {
                    child: self.child(),
                    site: site.clone(),
                    took,
                });
            }
        }
    }

    /// Drops the instance, cancels its timers and futures, and moves to a new generation.
    fn discard(&mut self, ctx: &mut Context<Self>, instance: A) {
        // A Drop impl may panic as well; the instance is gone either way.
        let _ = panic::catch(move || drop(instance));
        for handle in self.core.timers.drain(..) {
            ctx.cancel_future(handle);
        }
        self.core.generation += 1;
        self.core.stop_requested = false;
        self.state = HostState::Suspended;
    }

    fn fail(&mut self, ctx: &mut Context<Self>, instance: A, site: Site, report: PanicReport) {
        self.discard(ctx, instance);
        self.report_failure(site, report);
    }

    fn report_failure(&mut self, site: Site, report: PanicReport) {
        self.core.events.emit(SupervisionEvent::ChildFailed {
            supervisor: self.core.supervisor.clone(),
            child: self.child(),
            site: site.clone(),
            panic: report.clone(),
            restarts: self.core.restarts,
        });
        self.core.link.do_send(ChildEvent {
            id: self.core.id,
            kind: ChildEventKind::Failed {
                site,
                panic: report,
            },
        });
    }

    /// Runs the `stopping` hook and drops the instance; true if the hook returned normally.
    fn stop_instance(&mut self, ctx: &mut Context<Self>) -> bool {
        let generation = self.core.generation;
        let clean = self
            .invoke(ctx, generation, Site::Stopping, |act, c| act.stopping(c))
            .is_some();
        if let Some(instance) = self.instance.take() {
            self.discard(ctx, instance);
        }
        clean
    }

    fn exit_normally(&mut self, ctx: &mut Context<Self>) {
        self.core.stop_requested = false;
        if self.stop_instance(ctx) {
            self.core.link.do_send(ChildEvent {
                id: self.core.id,
                kind: ChildEventKind::Exited,
            });
        }
    }

    fn resume(&mut self, ctx: &mut Context<Self>, restarts: u32) {
        if self.state != HostState::Suspended || self.instance.is_some() {
            return;
        }
        self.core.restarts = restarts;
        let factory = self.factory.clone();
        match panic::catch(|| factory()) {
            Ok(instance) => {
                self.instance = Some(instance);
                self.state = HostState::Running;
            }
            Err(report) => {
                self.core.generation += 1;
                self.report_failure(Site::Factory, report);
                return;
            }
        }
        let generation = self.core.generation;
        if self
            .invoke(ctx, generation, Site::Started, |act, c| act.started(c))
            .is_some()
        {
            self.core.events.emit(SupervisionEvent::ChildStarted {
                supervisor: self.core.supervisor.clone(),
                child: self.child(),
                restarts,
            });
            self.drain(ctx, DRAIN_BATCH);
        }
    }

    /// Handles up to `budget` queued messages; asks to be woken again if more remain.
    fn drain(&mut self, ctx: &mut Context<Self>, budget: usize) {
        let mut more = false;
        for _ in 0..budget {
            if self.state != HostState::Running {
                return;
            }
            let (envelope, rest) = self.core.mailbox.pop();
            more = rest;
            let Some(envelope) = envelope else {
                return;
            };
            let generation = self.core.generation;
            let site = Site::Handler(envelope.kind());
            let delivered = self.invoke_inner(ctx, generation, site.clone(), true, |act, c| {
                envelope.deliver(act, c)
            });
            if let Some(Err(report)) = delivered {
                // The handler panicked; the envelope already told the asker.
                if let Some(instance) = self.instance.take() {
                    self.fail(ctx, instance, site, report);
                }
            }
            if !more {
                // What arrives from now on notifies the host again.
                return;
            }
        }
        if self.state == HostState::Running && more {
            // Give the thread back before the next batch: actix re-polls a ready future within the same
            // wake-up, so re-notifying ourselves would starve every other actor on this arbiter.
            ctx.spawn(
                wrap_future::<_, Self>(tokio::task::yield_now())
                    .map(|(), host, ctx| host.drain(ctx, DRAIN_BATCH)),
            );
        }
    }

    fn retire(&mut self, ctx: &mut Context<Self>) -> usize {
        if self.instance.is_some() {
            self.stop_instance(ctx);
        }
        self.state = HostState::Stopped;
        let undelivered = self.core.mailbox.close_and_fail();
        ctx.stop();
        undelivered
    }
}

impl<A: ChildActor> Actor for ActorHost<A> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let _ = self.core.mailbox.home.set(std::thread::current().id());
        let notify = self.core.mailbox.notify.clone();
        let wakeups = futures_util::stream::poll_fn(move |cx| notify.poll_wait(cx).map(Some));
        ctx.spawn(
            wrap_stream::<_, Self>(wakeups)
                .map(|(), host: &mut Self, ctx: &mut Context<Self>| host.drain(ctx, DRAIN_BATCH))
                .finish(),
        );
        self.resume(ctx, 0);
    }
}

impl<A: ChildActor> Handler<HostCommand> for ActorHost<A> {
    type Result = ();

    fn handle(&mut self, cmd: HostCommand, ctx: &mut Self::Context) {
        match (cmd, self.state) {
            (_, HostState::Stopped) => {}
            (HostCommand::Suspend, HostState::Running) => {
                self.stop_instance(ctx);
            }
            (HostCommand::Suspend, HostState::Suspended) => {}
            // A retire closes the mailbox before its command arrives: a restart queued ahead of it
            // must not build an instance that would only be stopped again.
            (HostCommand::Resume { .. }, _) if self.core.mailbox.is_closed() => {}
            (HostCommand::Resume { restarts }, _) => self.resume(ctx, restarts),
            (HostCommand::Retire, _) => {
                self.retire(ctx);
            }
        }
    }
}

impl<A: ChildActor> Handler<StopGracefully> for ActorHost<A> {
    type Result = MessageResult<StopGracefully>;

    fn handle(&mut self, msg: StopGracefully, ctx: &mut Self::Context) -> Self::Result {
        if self.state == HostState::Stopped {
            return MessageResult(Stopped {
                undelivered: 0,
                forced: false,
            });
        }
        self.core.mailbox.close();
        // Handle what was queued before the close, one message at a time so the deadline is seen
        // between messages; a handler that fails ends the drain.
        let mut forced = false;
        while self.state == HostState::Running && !self.core.mailbox.is_empty() {
            if std::time::Instant::now() >= msg.deadline {
                forced = true;
                break;
            }
            self.drain(ctx, 1);
        }
        let undelivered = self.retire(ctx);
        MessageResult(Stopped {
            undelivered,
            forced,
        })
    }
}
