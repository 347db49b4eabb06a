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
use std::sync::Arc;
use std::time::Duration;

use actix::fut::{wrap_future, ActorFutureExt};
use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, ResponseActFuture};
use futures_util::future::LocalBoxFuture;
use tokio::time::Instant;

use crate::kernel::events::{EventBus, Site, SupervisionEvent};
use crate::kernel::host::{ChildEvent, ChildEventKind};
use crate::kernel::panic::PanicReport;
use crate::kernel::watchdog::Watchdog;

mod control;
mod handle;
mod spec;
mod status;

use self::control::{ChildControl, NestedControl, Parent, StartLink, Starter, TypedStarter};
pub use self::handle::SupervisorRef;
pub use self::spec::{
    Backoff, ChildSpec, RestartIntensity, RestartType, Strategy, SupervisorConfig,
};
pub use self::status::{
    ChildShutdown, ChildState, ChildStatus, HostAlarm, ShutdownReport, SupervisorState,
    SupervisorStatus,
};

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ChildShutdownOutcome {
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
    /// Counts the restarts it has been put in for: a restart scheduled before the latest one (a
    /// backoff timer of its own, overtaken by a group's restart) finds a newer count and builds
    /// nothing.
    epoch: u64,
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
            epoch: 0,
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
            // What went wrong first: a narrow column (`watchkeeper top`) shows the start.
            _ => match &panic.location {
                Some(at) => format!("{} (in {site}, at {at})", panic.message),
                None => format!("{} (in {site})", panic.message),
            },
        });
        if self.state != SupervisorState::Running {
            return;
        }
        // Already in a restart (a group's that stopped it as it failed, or a panic in the stop
        // that restart asked for): that restart rebuilds it, and counts once, as in OTP.
        if self.children[idx].state == ChildState::Restarting {
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

    /// Stops a child for good, failing what it had queued, and says so.
    fn retire_child(&mut self, idx: usize) {
        let entry = &mut self.children[idx];
        if entry.state != ChildState::Stopped {
            entry.state = ChildState::Stopped;
            let undelivered = entry.control.retire();
            self.events.emit(SupervisionEvent::ChildStopped {
                supervisor: self.name.clone(),
                child: entry.name.clone(),
                undelivered,
                timed_out: false,
            });
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
        // A temporary sibling is stopped for good, not restarted, as in OTP.
        let set: Vec<usize> = set
            .into_iter()
            .filter(|&j| {
                let temporary = j != idx && self.children[j].restart == RestartType::Temporary;
                if temporary {
                    self.retire_child(j);
                }
                !temporary
            })
            .collect();
        // The others stop last-started first, each before the next, as OTP does.
        let mut suspends = Vec::new();
        for &j in set.iter().rev() {
            let child = &mut self.children[j];
            if j != idx && child.state == ChildState::Running {
                suspends.push(child.control.suspend());
            }
            child.state = ChildState::Restarting;
            child.epoch += 1;
        }
        let delay = self.backoff_for(idx, now);
        self.events.emit(SupervisionEvent::RestartScheduled {
            supervisor: self.name.clone(),
            child: self.children[idx].name.clone(),
            backoff: delay,
        });
        let ids: Vec<(u64, u64)> = set
            .iter()
            .map(|&j| (self.children[j].id, self.children[j].epoch))
            .collect();
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

    /// Rebuilds the listed children (by id and the epoch of the restart that listed them) that
    /// still await that restart, in start order, each after the previous one has started.
    fn resume_in_order(&mut self, ctx: &mut Context<Self>, ids: &[(u64, u64)]) {
        let resumes = self.resumes(ids);
        ctx.spawn(wrap_future(resumes));
    }

    /// The rebuilding [`Self::resume_in_order`] does, as one future to await or spawn.
    fn resumes(&mut self, ids: &[(u64, u64)]) -> LocalBoxFuture<'static, ()> {
        if self.state != SupervisorState::Running {
            return Box::pin(async {});
        }
        let mut resumes = Vec::new();
        for child in self.children.iter_mut() {
            if ids.contains(&(child.id, child.epoch)) && child.state == ChildState::Restarting {
                child.restarts += 1;
                self.restarts_total += 1;
                child.state = ChildState::Running;
                resumes.push(child.control.resume(child.restarts));
            }
        }
        Box::pin(async move {
            for resume in resumes {
                resume.await;
            }
        })
    }

    fn escalate(&mut self) {
        self.state = SupervisorState::Escalated;
        self.escalations += 1;
        let restarts = self.window.len();
        let within = self.config.intensity.within;
        let to_host = matches!(self.parent, Parent::Host(_));
        for idx in (0..self.children.len()).rev() {
            let child = &mut self.children[idx];
            if child.state == ChildState::Stopped {
                continue;
            }
            if to_host {
                self.retire_child(idx);
            } else {
                if child.state == ChildState::Running {
                    // Fire and forget: the group waits for its parent's decision either way.
                    drop(child.control.suspend());
                }
                child.state = ChildState::Restarting;
                child.epoch += 1;
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
            // The window is pruned when a restart arrives; a quiet supervisor's is pruned here.
            restarts_in_window: self
                .window
                .iter()
                .filter(|&&at| at.elapsed() <= self.config.intensity.within)
                .count(),
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

/// Stop one child for good, gracefully within its shutdown timeout (sent by
/// [`SupervisorRef::stop_child`]); replies whether a running child had that name.
pub(crate) struct StopChild {
    pub(crate) name: String,
}

impl actix::Message for StopChild {
    type Result = bool;
}

impl Handler<StopChild> for SupervisorActor {
    type Result = ResponseActFuture<Self, bool>;

    fn handle(&mut self, msg: StopChild, _ctx: &mut Self::Context) -> Self::Result {
        let Some(idx) = self
            .children
            .iter()
            .position(|c| *c.name == *msg.name && c.state != ChildState::Stopped)
        else {
            return Box::pin(actix::fut::ready(false));
        };
        // Removed at once: its late events are ignored, and a new child may take its name.
        let entry = self.children.remove(idx);
        let events = self.events.clone();
        let supervisor = self.name.clone();
        Box::pin(wrap_future(async move {
            let outcome = entry.control.stop(entry.shutdown_timeout).await;
            if outcome.timed_out {
                entry.control.retire();
            }
            events.emit(SupervisionEvent::ChildStopped {
                supervisor,
                child: entry.name.clone(),
                undelivered: outcome.undelivered,
                timed_out: outcome.timed_out,
            });
            true
        }))
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
    /// Answered once the group's children have stopped (`Suspend`) or started (`Restart`).
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, cmd: Group, ctx: &mut Self::Context) -> Self::Result {
        match cmd {
            Group::Suspend => {
                let mut suspends = Vec::new();
                for child in self.children.iter_mut().rev() {
                    if child.state == ChildState::Running {
                        suspends.push(child.control.suspend());
                        child.state = ChildState::Restarting;
                    }
                    // A restart of its own still pending is overtaken by the group's.
                    if child.state == ChildState::Restarting {
                        child.epoch += 1;
                    }
                }
                Box::pin(wrap_future(async move {
                    for suspend in suspends {
                        suspend.await;
                    }
                }))
            }
            Group::Restart => {
                if matches!(
                    self.state,
                    SupervisorState::ShuttingDown | SupervisorState::Stopped
                ) {
                    return Box::pin(actix::fut::ready(()));
                }
                self.state = SupervisorState::Running;
                self.window.clear();
                let ids: Vec<(u64, u64)> = self.children.iter().map(|c| (c.id, c.epoch)).collect();
                Box::pin(wrap_future(self.resumes(&ids)))
            }
            Group::Retire => {
                for idx in (0..self.children.len()).rev() {
                    self.retire_child(idx);
                }
                self.state = SupervisorState::Stopped;
                ctx.stop();
                Box::pin(actix::fut::ready(()))
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
