//! The traits a supervised actor implements.
//!
//! An actor is plain state plus handlers: [`ChildActor`] for its lifecycle hooks and one
//! [`Handles<M>`] per message kind. The supervisor builds it from a factory on every (re)start, so
//! configuration lives in the factory and everything in the struct is rebuilt after a failure.

use crate::kernel::context::ChildContext;
use crate::kernel::message::Message;

/// A supervised actor's state and lifecycle hooks. Panics in either hook are contained and restart it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{ChildActor, ChildContext, ChildSpec, EventBus, Handles, Message};
/// use watchkeeper_actors::{SupervisorConfig, SupervisorRef};
///
/// /// Counts its ticks: `started` arms a timer on every (re)start.
/// struct Ticker(u32);
/// impl ChildActor for Ticker {
///     fn started(&mut self, ctx: &mut ChildContext<'_, Self>) {
///         ctx.run_interval(Duration::from_millis(5), |act, _| act.0 += 1);
///     }
/// }
/// struct Ticks;
/// impl Message for Ticks { type Result = u32; }
/// impl Handles<Ticks> for Ticker {
///     fn handle(&mut self, _: Ticks, _: &mut ChildContext<'_, Self>) -> u32 { self.0 }
/// }
///
/// actix::System::new().block_on(async {
///     let bus = EventBus::default();
///     let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     let ticker = root.start_child(ChildSpec::new("ticker", || Ticker(0)));
///     tokio::time::sleep(Duration::from_millis(30)).await;
///     assert!(ticker.ask(Ticks, Duration::from_secs(1)).await.unwrap() > 0);
///     root.shutdown().await;
/// });
/// ```
pub trait ChildActor: Sized + Unpin + 'static {
    /// Called once the instance is built, before it handles any message. Start timers here.
    fn started(&mut self, _ctx: &mut ChildContext<'_, Self>) {}

    /// Called before the instance is dropped: on shutdown, on a sibling's restart, or after `ctx.stop()`.
    fn stopping(&mut self, _ctx: &mut ChildContext<'_, Self>) {}
}

/// Handling of one message kind.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{ChildActor, ChildContext, ChildSpec, EventBus, Handles, Message};
/// use watchkeeper_actors::{SupervisorConfig, SupervisorRef};
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
///     tally.tell(Add(2)).unwrap();
///     assert_eq!(tally.ask(Add(3), Duration::from_secs(1)).await, Ok(5));
///     root.shutdown().await;
/// });
/// ```
pub trait Handles<M: Message>: ChildActor {
    /// Handles `msg` and returns the reply.
    fn handle(&mut self, msg: M, ctx: &mut ChildContext<'_, Self>) -> M::Result;
}
