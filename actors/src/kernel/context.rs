//! What a supervised actor sees of its host: timers, spawned futures, its own handle, and stop.
//!
//! Every closure registered here runs through the host's panic containment and only for the instance
//! that registered it: timers of a failed instance are cancelled and never reach its replacement.

use std::future::Future;
use std::time::Duration;

use actix::fut::{wrap_future, ActorFutureExt};
use actix::{AsyncContext, SpawnHandle};

use crate::kernel::child::ChildActor;
use crate::kernel::child_ref::ChildRef;
use crate::kernel::events::Site;
use crate::kernel::host::{ActorHost, HostCore};

/// Identifies a timer or spawned future, for [`ChildContext::cancel`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{ChildActor, ChildContext, ChildSpec, EventBus, Handles, Message};
/// use watchkeeper_actors::{SupervisorConfig, SupervisorRef, TimerHandle};
///
/// struct Beacon { timer: Option<TimerHandle> }
/// impl ChildActor for Beacon {
///     fn started(&mut self, ctx: &mut ChildContext<'_, Self>) {
///         self.timer = Some(ctx.run_interval(Duration::from_secs(1), |_, _| {}));
///     }
/// }
/// /// Stops the beacon's timer; replies whether one was running.
/// struct Quiet;
/// impl Message for Quiet { type Result = bool; }
/// impl Handles<Quiet> for Beacon {
///     fn handle(&mut self, _: Quiet, ctx: &mut ChildContext<'_, Self>) -> bool {
///         self.timer.take().map(|t| ctx.cancel(t)).is_some()
///     }
/// }
///
/// actix::System::new().block_on(async {
///     let bus = EventBus::default();
///     let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     let beacon = root.start_child(ChildSpec::new("beacon", || Beacon { timer: None }));
///     assert_eq!(beacon.ask(Quiet, Duration::from_secs(1)).await, Ok(true));
///     assert_eq!(beacon.ask(Quiet, Duration::from_secs(1)).await, Ok(false));
///     root.shutdown().await;
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerHandle(SpawnHandle);

/// The context of one running instance of a supervised actor.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{ChildActor, ChildContext, ChildSpec, EventBus, Handles, Message};
/// use watchkeeper_actors::{SupervisorConfig, SupervisorRef};
///
/// struct Named;
/// impl ChildActor for Named {}
/// /// Replies with the child's name and restart count, as its context knows them.
/// struct WhoAmI;
/// impl Message for WhoAmI { type Result = (String, u32); }
/// impl Handles<WhoAmI> for Named {
///     fn handle(&mut self, _: WhoAmI, ctx: &mut ChildContext<'_, Self>) -> (String, u32) {
///         (ctx.name().to_owned(), ctx.restarts())
///     }
/// }
///
/// actix::System::new().block_on(async {
///     let bus = EventBus::default();
///     let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     let named = root.start_child(ChildSpec::new("named", || Named));
///     let who = named.ask(WhoAmI, Duration::from_secs(1)).await.unwrap();
///     assert_eq!(who, ("named".to_owned(), 0));
///     root.shutdown().await;
/// });
/// ```
pub struct ChildContext<'a, A: ChildActor> {
    pub(crate) ctx: &'a mut actix::Context<ActorHost<A>>,
    pub(crate) core: &'a mut HostCore<A>,
}

impl<A: ChildActor> ChildContext<'_, A> {
    /// The child's name.
    pub fn name(&self) -> &str {
        &self.core.mailbox.child
    }

    /// The tree's event bus: typed events go through [`EventBus::record`](crate::EventBus::record).
    pub fn events(&self) -> &crate::kernel::events::EventBus {
        &self.core.events
    }

    /// A handle to this actor, valid across its restarts.
    pub fn myself(&self) -> ChildRef<A> {
        ChildRef::from_mailbox(self.core.mailbox.clone())
    }

    /// How many times this child has been restarted.
    pub fn restarts(&self) -> u32 {
        self.core.restarts
    }

    /// Calls `f` every `every`, first within one period. Ticks missed while the actor was busy are
    /// skipped, never replayed in a burst. Intervals of one period on one actor system's thread
    /// tick at the same instants (multiples of the period since its first interval started), so
    /// however many actors tick, they wake the thread together.
    pub fn run_interval<F>(&mut self, every: Duration, mut f: F) -> TimerHandle
    where
        F: FnMut(&mut A, &mut ChildContext<'_, A>) + 'static,
    {
        let generation = self.core.generation;
        let handle = crate::kernel::timers::spawn_skip_interval(
            self.ctx,
            every,
            move |host: &mut ActorHost<A>, ctx| {
                host.invoke(ctx, generation, Site::Timer, |act, c| f(act, c));
            },
        );
        self.core.timers.push(handle);
        TimerHandle(handle)
    }

    /// Calls `f` once after `after`.
    pub fn run_later<F>(&mut self, after: Duration, f: F) -> TimerHandle
    where
        F: FnOnce(&mut A, &mut ChildContext<'_, A>) + 'static,
    {
        let generation = self.core.generation;
        let fut = wrap_future::<_, ActorHost<A>>(tokio::time::sleep(after)).map(
            move |(), host: &mut ActorHost<A>, ctx| {
                host.invoke(ctx, generation, Site::Timer, f);
            },
        );
        let handle = self.ctx.spawn(fut);
        self.core.timers.push(handle);
        TimerHandle(handle)
    }

    /// Runs `fut` on the actor's thread and hands its output to `f` with the actor. The actor keeps
    /// handling messages meanwhile.
    pub fn spawn_then<Fut, F>(&mut self, fut: Fut, f: F) -> TimerHandle
    where
        Fut: Future + 'static,
        F: FnOnce(&mut A, Fut::Output, &mut ChildContext<'_, A>) + 'static,
    {
        let generation = self.core.generation;
        let fut =
            wrap_future::<_, ActorHost<A>>(fut).map(move |out, host: &mut ActorHost<A>, ctx| {
                host.invoke(ctx, generation, Site::Future, move |act, c| f(act, out, c));
            });
        let handle = self.ctx.spawn(fut);
        self.core.timers.push(handle);
        TimerHandle(handle)
    }

    /// Cancels a timer or spawned future.
    pub fn cancel(&mut self, handle: TimerHandle) {
        self.core.timers.retain(|h| *h != handle.0);
        self.ctx.cancel_future(handle.0);
    }

    /// Stops this instance normally once the current call returns. The supervisor restarts a
    /// permanent child and retires a transient or temporary one.
    pub fn stop(&mut self) {
        self.core.stop_requested = true;
    }
}
