//! [`SupervisorActor`]: restarts failed children the way Erlang/OTP does, on top of actix.
//!
//! ```text
//! RootSupervisor (one_for_one; at most N restarts in T, then escalate to the host)
//!  ├─ child "search"      ActorHost<MonitorActor>   (permanent)
//!  ├─ child "alerting"    ActorHost<AlertingActor>  (permanent)
//!  │                      ...
//!  └─ supervisor "notifiers" (nested; escalates to its parent as a failure of one child)
//!      ├─ child "webhook" ActorHost<Notifier>
//!      └─ child "email"   ActorHost<Notifier>
//! ```
//!
//! Hosts report [`ChildEvent`]s (a contained panic, or a normal exit); the supervisor decides, per its
//! [`Strategy`] and each child's [`RestartType`], which children to suspend and rebuild, counts restarts
//! in a sliding window ([`RestartIntensity`]), waits a jittered exponential [`Backoff`] on a timer, and
//! escalates when the window overflows. actix's own `Supervisor` is not used: it does not see panics,
//! reuses the crashed struct and never stops restarting.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::fut::{wrap_future, ActorFutureExt};
use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, ResponseActFuture};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::child::ChildActor;
use crate::child_ref::ChildRef;
use crate::events::{EventBus, Site, SupervisionEvent};
use crate::host::{
    ActorHost, ChildEvent, ChildEventKind, Factory, HostCommand, HostCore, StopGracefully,
};
use crate::mailbox::{Mailbox, MailboxStats};
use crate::panic::PanicReport;
use crate::watchdog::Watchdog;

/// Which children restart when one fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Only the failed child.
    #[default]
    OneForOne,
    /// Every child: all are stopped (last started first) and restarted in start order.
    OneForAll,
    /// The failed child and every child started after it.
    RestForOne,
}

/// When a child is restarted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartType {
    /// Always: after a failure and after a normal exit.
    #[default]
    Permanent,
    /// After a failure only; a normal exit (`ctx.stop()`) retires it.
    Transient,
    /// Never: a failure or an exit retires it.
    Temporary,
}

/// At most `max_restarts` restarts within `within`; one more and the supervisor escalates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartIntensity {
    /// Restarts allowed in the window.
    pub max_restarts: u32,
    /// The sliding window.
    #[serde(with = "crate::duration_serde")]
    pub within: Duration,
}

impl Default for RestartIntensity {
    fn default() -> Self {
        RestartIntensity {
            max_restarts: 10,
            within: Duration::from_secs(60),
        }
    }
}

/// Delay before a restart: none for a child's first failure after a quiet period, then `min` doubling
/// up to `max`, each spread by `jitter` (a fraction, 0.2 = plus or minus 20 %).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// Delay before the second consecutive restart.
    #[serde(with = "crate::duration_serde")]
    pub min: Duration,
    /// The largest delay.
    #[serde(with = "crate::duration_serde")]
    pub max: Duration,
    /// Random spread of each delay, as a fraction of it (0 to 1).
    pub jitter: f64,
    /// A child quiet for this long starts again from no delay.
    #[serde(with = "crate::duration_serde")]
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(10),
            max: Duration::from_secs(10),
            jitter: 0.2,
            reset_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay before restart number `attempt` (0-based) of a burst of failures, before jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        if attempt == 0 {
            return Duration::ZERO;
        }
        let factor = 2u32.saturating_pow((attempt - 1).min(30));
        self.min.saturating_mul(factor).min(self.max)
    }
}

/// How a supervisor restarts its children.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorConfig {
    /// Which children restart when one fails.
    pub strategy: Strategy,
    /// Restarts allowed in a sliding window before escalating.
    pub intensity: RestartIntensity,
    /// Delay between restarts.
    pub backoff: Backoff,
}

/// How to build and run one child.
pub struct ChildSpec<A> {
    name: Arc<str>,
    factory: Factory<A>,
    restart: RestartType,
    shutdown_timeout: Duration,
    mailbox_capacity: usize,
}

impl<A: ChildActor> ChildSpec<A> {
    /// A permanent child named `name`, built by `factory` on every start and restart, with a
    /// 1,024-message mailbox and a 5 s shutdown timeout.
    pub fn new(name: impl Into<String>, factory: impl Fn() -> A + Send + Sync + 'static) -> Self {
        ChildSpec {
            name: name.into().into(),
            factory: Arc::new(factory),
            restart: RestartType::Permanent,
            shutdown_timeout: Duration::from_secs(5),
            mailbox_capacity: 1024,
        }
    }

    /// When the child is restarted.
    pub fn restart(mut self, restart: RestartType) -> Self {
        self.restart = restart;
        self
    }

    /// How long a graceful stop may take before the child is reported as timed out.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The mailbox capacity (at least 1).
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity.max(1);
        self
    }
}

/// What a supervisor knows of how to reach a child it started.
trait ChildControl {
    /// Drops the running instance; resolves once it is gone.
    fn suspend(&self) -> LocalBoxFuture<'static, ()>;
    /// Builds a fresh instance; resolves once it has started (or failed to).
    fn resume(&self, restarts: u32) -> LocalBoxFuture<'static, ()>;
    fn retire(&self);
    /// Stops gracefully within `timeout`.
    fn stop(&self, timeout: Duration) -> LocalBoxFuture<'static, ChildShutdownOutcome>;
    fn mailbox(&self) -> Option<MailboxStats>;
    fn nested(&self) -> Option<Addr<SupervisorActor>>;
}

struct HostControl<A: ChildActor> {
    addr: Addr<ActorHost<A>>,
    mailbox: Arc<Mailbox<A>>,
}

impl<A: ChildActor> ChildControl for HostControl<A> {
    fn suspend(&self) -> LocalBoxFuture<'static, ()> {
        let request = self.addr.send(HostCommand::Suspend);
        Box::pin(async move {
            let _ = request.await;
        })
    }
    fn resume(&self, restarts: u32) -> LocalBoxFuture<'static, ()> {
        let request = self.addr.send(HostCommand::Resume { restarts });
        Box::pin(async move {
            let _ = request.await;
        })
    }
    fn retire(&self) {
        self.addr.do_send(HostCommand::Retire);
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

struct NestedControl {
    addr: Addr<SupervisorActor>,
}

impl ChildControl for NestedControl {
    fn suspend(&self) -> LocalBoxFuture<'static, ()> {
        let request = self.addr.send(Group::Suspend);
        Box::pin(async move {
            let _ = request.await;
        })
    }
    fn resume(&self, _restarts: u32) -> LocalBoxFuture<'static, ()> {
        let request = self.addr.send(Group::Restart);
        Box::pin(async move {
            let _ = request.await;
        })
    }
    fn retire(&self) {
        self.addr.do_send(Group::Retire);
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
trait Starter: Send {
    fn start(self: Box<Self>, link: StartLink) -> Rc<dyn ChildControl>;
}

struct StartLink {
    id: u64,
    supervisor: Arc<str>,
    recipient: actix::Recipient<ChildEvent>,
    events: EventBus,
    watchdog: Option<Arc<Watchdog>>,
}

struct TypedStarter<A: ChildActor> {
    factory: Option<Factory<A>>,
    mailbox: Arc<Mailbox<A>>,
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
enum Parent {
    /// The host process: a failed health state and an event, never an abort.
    Host(Arc<HostAlarm>),
    /// A parent supervisor, which sees the escalation as a failure of this child.
    Supervisor {
        recipient: actix::Recipient<ChildEvent>,
        id: u64,
    },
}

/// The root's escalation, as the host sees it.
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

    fn raise(&self, reason: String) {
        *self.reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
        self.escalated.store(true, Ordering::Release);
    }
}

/// Lifecycle of a child as its supervisor sees it.
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChildShutdown {
    /// The child.
    pub name: String,
    /// Messages still queued that were failed back to their senders.
    pub undelivered: usize,
    /// Whether it missed its shutdown timeout.
    pub timed_out: bool,
}

/// The result of [`Shutdown`]: children in the order they were stopped (last started first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShutdownReport {
    /// One entry per child stopped.
    pub children: Vec<ChildShutdown>,
}

#[derive(Clone, Copy, Debug, Default)]
struct ChildShutdownOutcome {
    undelivered: usize,
    timed_out: bool,
}

struct ChildEntry {
    id: u64,
    name: Arc<str>,
    restart: RestartType,
    shutdown_timeout: Duration,
    control: Rc<dyn ChildControl>,
    state: ChildState,
    restarts: u32,
    attempts: u32,
    last_failure_at: Option<Instant>,
    last_failure: Option<String>,
}

/// The supervisor; see the module docs.
pub struct SupervisorActor {
    name: Arc<str>,
    config: SupervisorConfig,
    children: Vec<ChildEntry>,
    next_id: u64,
    window: VecDeque<Instant>,
    state: SupervisorState,
    restarts_total: u64,
    escalations: u64,
    parent: Parent,
    events: EventBus,
    watchdog: Option<Arc<Watchdog>>,
    rng: fastrand::Rng,
}

impl SupervisorActor {
    fn new(
        name: Arc<str>,
        config: SupervisorConfig,
        parent: Parent,
        events: EventBus,
        watchdog: Option<Arc<Watchdog>>,
    ) -> Self {
        SupervisorActor {
            name,
            config,
            children: Vec::new(),
            next_id: 0,
            window: VecDeque::new(),
            state: SupervisorState::Running,
            restarts_total: 0,
            escalations: 0,
            parent,
            events,
            watchdog,
            rng: fastrand::Rng::new(),
        }
    }

    fn link(&mut self, ctx: &mut Context<Self>) -> StartLink {
        self.next_id += 1;
        StartLink {
            id: self.next_id,
            supervisor: self.name.clone(),
            recipient: ctx.address().recipient(),
            events: self.events.clone(),
            watchdog: self.watchdog.clone(),
        }
    }

    fn add_child(
        &mut self,
        id: u64,
        name: Arc<str>,
        restart: RestartType,
        shutdown_timeout: Duration,
        control: Rc<dyn ChildControl>,
    ) {
        self.children.push(ChildEntry {
            id,
            name,
            restart,
            shutdown_timeout,
            control,
            state: ChildState::Running,
            restarts: 0,
            attempts: 0,
            last_failure_at: None,
            last_failure: None,
        });
    }

    fn backoff_for(&mut self, idx: usize, now: Instant) -> Duration {
        let backoff = self.config.backoff;
        let entry = &mut self.children[idx];
        if let Some(last) = entry.last_failure_at {
            if now.duration_since(last) >= backoff.reset_after {
                entry.attempts = 0;
            }
        }
        entry.last_failure_at = Some(now);
        let base = backoff.base_delay(entry.attempts);
        entry.attempts = entry.attempts.saturating_add(1);
        let jitter = backoff.jitter.clamp(0.0, 1.0);
        if base.is_zero() || jitter == 0.0 {
            return base;
        }
        let spread = 1.0 + jitter * (self.rng.f64() * 2.0 - 1.0);
        base.mul_f64(spread).min(backoff.max)
    }

    fn on_failure(&mut self, ctx: &mut Context<Self>, id: u64, site: Site, panic: PanicReport) {
        let Some(idx) = self.children.iter().position(|c| c.id == id) else {
            return;
        };
        self.children[idx].last_failure = Some(match site {
            Site::Escalation => panic.message.clone(),
            _ => format!("{site:?}: {panic}"),
        });
        if self.state != SupervisorState::Running {
            return;
        }
        if self.children[idx].restart == RestartType::Temporary {
            self.retire_child(idx);
            return;
        }
        self.restart_from(ctx, idx);
    }

    fn on_exit(&mut self, ctx: &mut Context<Self>, id: u64) {
        let Some(idx) = self.children.iter().position(|c| c.id == id) else {
            return;
        };
        self.events.emit(SupervisionEvent::ChildExited {
            supervisor: self.name.clone(),
            child: self.children[idx].name.clone(),
        });
        if self.state != SupervisorState::Running {
            return;
        }
        match self.children[idx].restart {
            RestartType::Permanent => self.restart_from(ctx, idx),
            RestartType::Transient | RestartType::Temporary => self.retire_child(idx),
        }
    }

    fn retire_child(&mut self, idx: usize) {
        let entry = &mut self.children[idx];
        if entry.state != ChildState::Stopped {
            entry.state = ChildState::Stopped;
            entry.control.retire();
        }
    }

    /// Counts a restart, then suspends and schedules the restart of the set the strategy names.
    fn restart_from(&mut self, ctx: &mut Context<Self>, idx: usize) {
        let now = Instant::now();
        let within = self.config.intensity.within;
        self.window.push_back(now);
        while let Some(&first) = self.window.front() {
            if now.duration_since(first) > within {
                self.window.pop_front();
            } else {
                break;
            }
        }
        if self.window.len() > self.config.intensity.max_restarts as usize {
            self.escalate();
            return;
        }
        let alive = |c: &ChildEntry| c.state != ChildState::Stopped;
        let set: Vec<usize> = match self.config.strategy {
            Strategy::OneForOne => vec![idx],
            Strategy::OneForAll => (0..self.children.len())
                .filter(|&j| j == idx || alive(&self.children[j]))
                .collect(),
            Strategy::RestForOne => (idx..self.children.len())
                .filter(|&j| j == idx || alive(&self.children[j]))
                .collect(),
        };
        // The others stop last-started first, each before the next, as OTP does.
        let mut suspends = Vec::new();
        for &j in set.iter().rev() {
            let child = &mut self.children[j];
            if j != idx && child.state == ChildState::Running {
                suspends.push(child.control.suspend());
            }
            child.state = ChildState::Restarting;
        }
        let delay = self.backoff_for(idx, now);
        self.events.emit(SupervisionEvent::RestartScheduled {
            supervisor: self.name.clone(),
            child: self.children[idx].name.clone(),
            backoff: delay,
        });
        let ids: Vec<u64> = set.iter().map(|&j| self.children[j].id).collect();
        let stop_then_wait = async move {
            for suspend in suspends {
                suspend.await;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        };
        ctx.spawn(
            wrap_future::<_, Self>(stop_then_wait)
                .map(move |(), act, ctx| act.resume_in_order(ctx, &ids)),
        );
    }

    /// Rebuilds the listed children that still await a restart, in start order, each after the
    /// previous one has started.
    fn resume_in_order(&mut self, ctx: &mut Context<Self>, ids: &[u64]) {
        if self.state != SupervisorState::Running {
            return;
        }
        let mut resumes = Vec::new();
        for child in self.children.iter_mut() {
            if ids.contains(&child.id) && child.state == ChildState::Restarting {
                child.restarts += 1;
                self.restarts_total += 1;
                child.state = ChildState::Running;
                resumes.push(child.control.resume(child.restarts));
            }
        }
        ctx.spawn(wrap_future(async move {
            for resume in resumes {
                resume.await;
            }
        }));
    }

    fn escalate(&mut self) {
        self.state = SupervisorState::Escalated;
        self.escalations += 1;
        let restarts = self.window.len();
        let within = self.config.intensity.within;
        let to_host = matches!(self.parent, Parent::Host(_));
        for child in self.children.iter_mut().rev() {
            if child.state == ChildState::Stopped {
                continue;
            }
            if to_host {
                child.control.retire();
                child.state = ChildState::Stopped;
            } else {
                if child.state == ChildState::Running {
                    // Fire and forget: the group waits for its parent's decision either way.
                    drop(child.control.suspend());
                }
                child.state = ChildState::Restarting;
            }
        }
        self.events.emit(SupervisionEvent::Escalated {
            supervisor: self.name.clone(),
            restarts,
            within,
        });
        let reason = format!(
            "supervisor `{}` exceeded its restart intensity: {restarts} restarts within {within:?}",
            self.name
        );
        match &self.parent {
            Parent::Host(alarm) => alarm.raise(reason),
            Parent::Supervisor { recipient, id } => recipient.do_send(ChildEvent {
                id: *id,
                kind: ChildEventKind::Failed {
                    site: Site::Escalation,
                    panic: PanicReport {
                        message: reason,
                        location: None,
                    },
                },
            }),
        }
    }

    fn status_now(&self) -> SupervisorStatus {
        SupervisorStatus {
            name: self.name.to_string(),
            state: self.state,
            strategy: self.config.strategy,
            restarts_total: self.restarts_total,
            restarts_in_window: self.window.len(),
            escalations: self.escalations,
            children: self
                .children
                .iter()
                .map(|c| ChildStatus {
                    name: c.name.to_string(),
                    state: c.state,
                    restarts: c.restarts,
                    last_failure: c.last_failure.clone(),
                    mailbox: c.control.mailbox(),
                    nested: None,
                })
                .collect(),
        }
    }
}

impl Actor for SupervisorActor {
    type Context = Context<Self>;
}

impl Handler<ChildEvent> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, event: ChildEvent, ctx: &mut Self::Context) {
        match event.kind {
            ChildEventKind::Failed { site, panic } => self.on_failure(ctx, event.id, site, panic),
            ChildEventKind::Exited => self.on_exit(ctx, event.id),
        }
    }
}

/// Start a child (sent by [`SupervisorRef::start_child`]).
struct StartChild {
    name: Arc<str>,
    restart: RestartType,
    shutdown_timeout: Duration,
    starter: Box<dyn Starter>,
}

impl actix::Message for StartChild {
    type Result = ();
}

impl Handler<StartChild> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, msg: StartChild, ctx: &mut Self::Context) {
        if self.state != SupervisorState::Running {
            return;
        }
        let link = self.link(ctx);
        let id = link.id;
        let control = msg.starter.start(link);
        self.add_child(id, msg.name, msg.restart, msg.shutdown_timeout, control);
    }
}

/// Start a nested supervisor (sent by [`SupervisorRef::start_supervisor`]).
struct StartSupervisor {
    name: Arc<str>,
    config: SupervisorConfig,
}

impl actix::Message for StartSupervisor {
    type Result = Option<Addr<SupervisorActor>>;
}

impl Handler<StartSupervisor> for SupervisorActor {
    type Result = Option<Addr<SupervisorActor>>;

    fn handle(&mut self, msg: StartSupervisor, ctx: &mut Self::Context) -> Self::Result {
        if self.state != SupervisorState::Running {
            return None;
        }
        let link = self.link(ctx);
        let nested = SupervisorActor::new(
            msg.name.clone(),
            msg.config,
            Parent::Supervisor {
                recipient: link.recipient,
                id: link.id,
            },
            self.events.clone(),
            self.watchdog.clone(),
        )
        .start();
        self.add_child(
            link.id,
            msg.name,
            RestartType::Permanent,
            Duration::from_secs(30),
            Rc::new(NestedControl {
                addr: nested.clone(),
            }),
        );
        Some(nested)
    }
}

/// Commands a parent gives a nested supervisor's whole group.
#[derive(Debug)]
enum Group {
    Suspend,
    Restart,
    Retire,
}

impl actix::Message for Group {
    type Result = ();
}

impl Handler<Group> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, cmd: Group, ctx: &mut Self::Context) {
        match cmd {
            Group::Suspend => {
                let mut suspends = Vec::new();
                for child in self.children.iter_mut().rev() {
                    if child.state == ChildState::Running {
                        suspends.push(child.control.suspend());
                        child.state = ChildState::Restarting;
                    }
                }
                ctx.spawn(wrap_future(async move {
                    for suspend in suspends {
                        suspend.await;
                    }
                }));
            }
            Group::Restart => {
                if matches!(
                    self.state,
                    SupervisorState::ShuttingDown | SupervisorState::Stopped
                ) {
                    return;
                }
                self.state = SupervisorState::Running;
                self.window.clear();
                let ids: Vec<u64> = self.children.iter().map(|c| c.id).collect();
                self.resume_in_order(ctx, &ids);
            }
            Group::Retire => {
                for idx in (0..self.children.len()).rev() {
                    self.retire_child(idx);
                }
                self.state = SupervisorState::Stopped;
                ctx.stop();
            }
        }
    }
}

/// Ask for the supervisor's status (nested supervisors included).
#[derive(Debug)]
pub struct GetSupervisorStatus;

impl actix::Message for GetSupervisorStatus {
    type Result = SupervisorStatus;
}

impl Handler<GetSupervisorStatus> for SupervisorActor {
    type Result = ResponseActFuture<Self, SupervisorStatus>;

    fn handle(&mut self, _: GetSupervisorStatus, _ctx: &mut Self::Context) -> Self::Result {
        let status = self.status_now();
        let nested: Vec<(usize, Addr<SupervisorActor>)> = self
            .children
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.control.nested().map(|a| (i, a)))
            .collect();
        Box::pin(wrap_future(async move {
            let mut status = status;
            for (i, addr) in nested {
                if let Ok(Ok(s)) =
                    tokio::time::timeout(Duration::from_secs(1), addr.send(GetSupervisorStatus))
                        .await
                {
                    status.children[i].nested = Some(Box::new(s));
                }
            }
            status
        }))
    }
}

/// Stop every child gracefully, last started first, each within its shutdown timeout and never past
/// `deadline` (a child left with no time is forced at once, its queued messages failed back).
#[derive(Debug, Default)]
pub struct Shutdown {
    /// When the whole shutdown must be over.
    pub deadline: Option<std::time::Instant>,
}

impl actix::Message for Shutdown {
    type Result = ShutdownReport;
}

impl Handler<Shutdown> for SupervisorActor {
    type Result = ResponseActFuture<Self, ShutdownReport>;

    fn handle(&mut self, msg: Shutdown, _ctx: &mut Self::Context) -> Self::Result {
        self.state = SupervisorState::ShuttingDown;
        let deadline = msg.deadline;
        let plan: Vec<(Arc<str>, Duration, Rc<dyn ChildControl>)> = self
            .children
            .iter()
            .rev()
            .filter(|c| c.state != ChildState::Stopped)
            .map(|c| (c.name.clone(), c.shutdown_timeout, c.control.clone()))
            .collect();
        let events = self.events.clone();
        let supervisor = self.name.clone();
        let stop_all = async move {
            let mut report = ShutdownReport::default();
            for (child, timeout, control) in plan {
                let timeout = deadline.map_or(timeout, |d| {
                    timeout.min(d.saturating_duration_since(std::time::Instant::now()))
                });
                let ChildShutdownOutcome {
                    undelivered,
                    timed_out,
                } = control.stop(timeout).await;
                if timed_out {
                    // Forced: whatever it still holds has been failed back to its senders.
                    control.retire();
                }
                events.emit(SupervisionEvent::ChildStopped {
                    supervisor: supervisor.clone(),
                    child: child.clone(),
                    undelivered,
                    timed_out,
                });
                report.children.push(ChildShutdown {
                    name: child.to_string(),
                    undelivered,
                    timed_out,
                });
            }
            report
        };
        Box::pin(wrap_future::<_, Self>(stop_all).map(|report, act, ctx| {
            for child in act.children.iter_mut() {
                child.state = ChildState::Stopped;
            }
            act.state = SupervisorState::Stopped;
            act.events.emit(SupervisionEvent::ShutdownComplete {
                supervisor: act.name.clone(),
            });
            ctx.stop();
            report
        }))
    }
}

/// A handle to a supervisor: start children under it, read its status, shut it down.
#[derive(Clone)]
pub struct SupervisorRef {
    addr: Addr<SupervisorActor>,
    name: Arc<str>,
    events: EventBus,
}

impl std::fmt::Debug for SupervisorRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorRef")
            .field("name", &self.name)
            .finish()
    }
}

impl SupervisorRef {
    /// Starts a root supervisor on the current actix arbiter. Its escalation raises the returned alarm.
    pub fn start_root(
        name: impl Into<String>,
        config: SupervisorConfig,
        events: EventBus,
        watchdog: Option<Arc<Watchdog>>,
    ) -> (SupervisorRef, Arc<HostAlarm>) {
        let name: Arc<str> = name.into().into();
        let alarm = Arc::new(HostAlarm::default());
        let addr = SupervisorActor::new(
            name.clone(),
            config,
            Parent::Host(alarm.clone()),
            events.clone(),
            watchdog,
        )
        .start();
        (SupervisorRef { addr, name, events }, alarm)
    }

    /// The supervisor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tree's event bus.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Starts a child from `spec`. The returned handle accepts messages at once; they are handled as
    /// soon as the child has started. Callable from any thread.
    pub fn start_child<A: ChildActor>(&self, spec: ChildSpec<A>) -> ChildRef<A> {
        let mailbox = Arc::new(Mailbox::new(spec.name.clone(), spec.mailbox_capacity));
        let starter = Box::new(TypedStarter {
            factory: Some(spec.factory),
            mailbox: mailbox.clone(),
        });
        let msg = StartChild {
            name: spec.name,
            restart: spec.restart,
            shutdown_timeout: spec.shutdown_timeout,
            starter,
        };
        // Control plane: one message per child started, so actix's unbounded `do_send` is bounded here.
        self.addr.do_send(msg);
        ChildRef::from_mailbox(mailbox)
    }

    /// Starts a nested supervisor under this one. Its escalation counts as a failure of one child here.
    pub async fn start_supervisor(
        &self,
        name: impl Into<String>,
        config: SupervisorConfig,
    ) -> Option<SupervisorRef> {
        let name: Arc<str> = name.into().into();
        let addr = self
            .addr
            .send(StartSupervisor {
                name: name.clone(),
                config,
            })
            .await
            .ok()??;
        Some(SupervisorRef {
            addr,
            name,
            events: self.events.clone(),
        })
    }

    /// The supervisor's status, or `None` if it does not answer within `timeout`.
    pub async fn status(&self, timeout: Duration) -> Option<SupervisorStatus> {
        tokio::time::timeout(timeout, self.addr.send(GetSupervisorStatus))
            .await
            .ok()?
            .ok()
    }

    /// Stops every child gracefully (last started first) and then the supervisor.
    pub async fn shutdown(&self) -> ShutdownReport {
        self.shutdown_by(None).await
    }

    /// Like [`SupervisorRef::shutdown`], with every child's timeout cut to what is left until `deadline`.
    pub async fn shutdown_by(&self, deadline: Option<std::time::Instant>) -> ShutdownReport {
        self.addr
            .send(Shutdown { deadline })
            .await
            .unwrap_or_default()
    }
}
