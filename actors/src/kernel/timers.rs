//! Timers with the semantics periodic work wants: missed ticks are skipped, never replayed, and
//! intervals of one period on one thread tick together.

use std::cell::Cell;
use std::time::Duration;

use actix::fut::{wrap_stream, ActorStreamExt};
use actix::{Actor, AsyncContext, SpawnHandle};

thread_local! {
    /// The actor system this thread's intervals belong to, and the instant they are aligned to.
    static GRID: Cell<Option<(usize, tokio::time::Instant)>> = const { Cell::new(None) };
}

/// The first tick of an interval of `every` started now: the first multiple of `every` after now,
/// counted from the first interval started on this thread by its actor system.
///
/// Every interval of one period on a thread then ticks at the same instants, so a thousand monitors
/// wake their thread together instead of a thousand times apart, and a period that divides another
/// (1 s and 10 s) wakes it with the other. The first tick comes within one period, and exactly one
/// period after the system's first interval started for the intervals started with it.
fn first_tick(every: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let system = actix::System::try_current().map(|s| s.id());
    let origin = GRID.with(|grid| match grid.get() {
        Some((id, origin)) if Some(id) == system && origin <= now => origin,
        _ => {
            grid.set(system.map(|id| (id, now)));
            now
        }
    });
    let (since, period) = ((now - origin).as_nanos(), every.as_nanos());
    let after = u64::try_from((since / period + 1) * period - since).unwrap_or(u64::MAX);
    now + Duration::from_nanos(after)
}

/// Spawns `f` every `every` on an actix context, skipping missed ticks (actix's own `run_interval`
/// replays them in a burst after a stall); see [`first_tick`] for when it first runs.
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
    let mut interval = tokio::time::interval_at(first_tick(every), every);
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
