//! The traits a supervised actor implements.
//!
//! An actor is plain state plus handlers: [`ChildActor`] for its lifecycle hooks and one
//! [`Handles<M>`] per message kind. The supervisor builds it from a factory on every (re)start, so
//! configuration lives in the factory and everything in the struct is rebuilt after a failure.

use crate::kernel::context::ChildContext;
use crate::kernel::message::Message;

/// A supervised actor's state and lifecycle hooks. Panics in either hook are contained and restart it.
pub trait ChildActor: Sized + Unpin + 'static {
    /// Called once the instance is built, before it handles any message. Start timers here.
    fn started(&mut self, _ctx: &mut ChildContext<'_, Self>) {}

    /// Called before the instance is dropped: on shutdown, on a sibling's restart, or after `ctx.stop()`.
    fn stopping(&mut self, _ctx: &mut ChildContext<'_, Self>) {}
}

/// Handling of one message kind.
pub trait Handles<M: Message>: ChildActor {
    /// Handles `msg` and returns the reply.
    fn handle(&mut self, msg: M, ctx: &mut ChildContext<'_, Self>) -> M::Result;
}
