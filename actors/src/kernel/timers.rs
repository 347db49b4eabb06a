//! Timers with the semantics periodic work wants: missed ticks are skipped, never replayed.

use std::time::Duration;

use actix::fut::{wrap_stream, ActorStreamExt};
use actix::{Actor, AsyncContext, SpawnHandle};

/// Spawns `f` every `every` on an actix context, skipping missed ticks (actix's own `run_interval`
/// replays them in a burst after a stall).
pub(crate) fn spawn_skip_interval<T, F>(
    ctx: &mut <T as Actor>::Context,
    every: Duration,
    mut f: F,
) -> SpawnHandle
where
    T: Actor<Context = actix::Context<T>>,
    F: FnMut(&mut T, &mut actix::Context<T>) + 'static,
{
    let every = every.max(Duration::from_micros(1));
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let ticks = futures_util::stream::unfold(interval, |mut interval| async move {
        interval.tick().await;
        Some(((), interval))
    });
    ctx.spawn(
        wrap_stream::<_, T>(ticks)
            .map(move |(), act: &mut T, ctx: &mut actix::Context<T>| f(act, ctx))
            .finish(),
    )
}
