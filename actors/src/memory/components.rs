//! The housekeeping protocol every component speaks: [`GetFootprint`] (the bytes it really holds)
//! and [`Trim`] (release history, reply with the bytes freed), and the [`Components`] the memory
//! manager measures.
//!
//! Monitors, the alerting actor and the tuner implement both messages; the runtime registers each as
//! it starts it, so the memory manager reaches them without knowing their types.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use serde::Serialize;

use crate::{ChildRef, Handles, Message, Overflow};

/// Bytes a component holds, counted from the sizes and capacities of what it keeps; the allocator's
/// own bookkeeping (and a map's internal nodes beyond its entries) is not included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Footprint {
    /// The component.
    pub component: String,
    /// All bytes it holds.
    pub bytes: usize,
    /// Bytes of recording cells (all threads).
    pub recorder_bytes: usize,
    /// Bytes of history that [`Trim`] can release.
    pub history_bytes: usize,
    /// Recording threads seen.
    pub threads: usize,
}

/// Ask for the bytes the component holds.
#[derive(Debug)]
pub struct GetFootprint;
impl Message for GetFootprint {
    type Result = Footprint;
}

/// Release history beyond what is kept; replies with the bytes freed, measured as the component's
/// footprint before minus after.
#[derive(Clone, Copy, Debug)]
pub struct Trim {
    /// Intervals of recent statistics a monitor keeps.
    pub keep_intervals: usize,
    /// Entries of history (resolved alerts, tuning actions) kept.
    pub keep_history: usize,
}
impl Message for Trim {
    type Result = usize;
    const OVERFLOW: Overflow = Overflow::DropNewest;
}

type FootprintAsk = dyn Fn(Duration) -> LocalBoxFuture<'static, Option<Footprint>> + Send + Sync;
type TrimAsk = dyn Fn(Trim, Duration) -> LocalBoxFuture<'static, Option<usize>> + Send + Sync;

/// One component, as the memory manager reaches it.
#[derive(Clone)]
pub struct Component {
    name: String,
    footprint: Arc<FootprintAsk>,
    trim: Arc<TrimAsk>,
}

impl std::fmt::Debug for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Component").field(&self.name).finish()
    }
}

impl Component {
    /// The component behind `actor`.
    pub fn of<A>(actor: ChildRef<A>) -> Self
    where
        A: Handles<GetFootprint> + Handles<Trim>,
    {
        let name = actor.name().to_owned();
        let (a, b) = (actor.clone(), actor);
        Component {
            name,
            footprint: Arc::new(move |timeout| {
                let a = a.clone();
                Box::pin(async move { a.ask(GetFootprint, timeout).await.ok() })
            }),
            trim: Arc::new(move |trim, timeout| {
                let b = b.clone();
                Box::pin(async move { b.ask(trim, timeout).await.ok() })
            }),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its footprint, or `None` when it does not answer within `timeout`.
    pub fn footprint(&self, timeout: Duration) -> LocalBoxFuture<'static, Option<Footprint>> {
        (self.footprint)(timeout)
    }

    /// Trims it; the bytes it freed, or `None` when it does not answer within `timeout`.
    pub fn trim(&self, trim: Trim, timeout: Duration) -> LocalBoxFuture<'static, Option<usize>> {
        (self.trim)(trim, timeout)
    }
}

/// The components the memory manager measures and trims; the runtime adds each as it starts it.
#[derive(Clone, Debug, Default)]
pub struct Components(Arc<Mutex<Vec<Component>>>);

impl Components {
    fn list(&self) -> MutexGuard<'_, Vec<Component>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a component (replacing one of the same name).
    pub fn add(&self, component: Component) {
        let mut list = self.list();
        list.retain(|c| c.name != component.name);
        list.push(component);
    }

    /// Removes the component named `name`.
    pub fn remove(&self, name: &str) {
        self.list().retain(|c| c.name != name);
    }

    /// Every component, in the order they were added.
    pub fn all(&self) -> Vec<Component> {
        self.list().clone()
    }
}
